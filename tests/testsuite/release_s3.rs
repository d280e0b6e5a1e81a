//! The `s3` release host against a real S3 (SeaweedFS on loopback, with signed requests): layout
//! and bytes, the manifest and `latest.json` written last, re-runs that send nothing, pre-releases,
//! multipart uploads, an outage in the middle of publishing and the resume from the state, wrong
//! credentials, a missing bucket, conflicting objects and the rollback; and two releases racing
//! into one APT repository on S3 (the `apt` host), both ending up listed.
//!
//! The host is driven in-process through the `Host` trait, the way `ops::publish` drives it:
//! `preflight`, `prepare`, `publish`, with a `save` callback — which is also where a test stops
//! the server "in the middle", right after a chosen step was recorded.

use std::path::Path;

use anyhow::Result;
use cargo_forge_release::hosts::s3::{S3Config, S3Credentials, S3Host, MULTIPART_THRESHOLD};
use cargo_forge_release::hosts::{Host, HostState, Progress};
use cargo_forge_release::stage::{Asset, AssetKind, Staged};
use forge_core::http::{HttpClient, RetryPolicy};
use forge_core::secret::Secret;
use forge_core::shell::{ColorChoice, MessageFormat, Verbosity};
use forge_core::Shell;
use forge_tests::s3::{require_weed, CountingProxy, SeaweedS3, ACCESS_KEY, BUCKET, SECRET_KEY};
use serde_json::Value;

fn shell() -> Shell {
    Shell::new(Verbosity::Quiet, ColorChoice::Never, MessageFormat::Human)
}

fn host_with(endpoint: &str, bucket: &str, prefix: &str, secret: &str, retries: u32) -> S3Host {
    let http = HttpClient::new(RetryPolicy::new(retries), vec![]);
    S3Host::new(
        S3Config {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
        },
        S3Credentials::new(ACCESS_KEY, Secret::new(secret), None),
        &http,
    )
    .expect("an s3 host")
}

fn host(endpoint: &str, prefix: &str) -> S3Host {
    host_with(endpoint, BUCKET, prefix, SECRET_KEY, 3)
}

/// Bytes that differ per name and size (so no two assets are alike).
fn content(seed: &str, len: usize) -> Vec<u8> {
    let mut x: u32 = seed
        .bytes()
        .fold(2166136261, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A staged release of `version` with the given files, in `dir`.
fn staged(dir: &Path, version: &str, files: &[(&str, usize)]) -> Staged {
    let prerelease = version.contains('-');
    let stage = dir.join(version);
    std::fs::create_dir_all(&stage).unwrap();
    let mut assets = Vec::new();
    for (name, len) in files {
        let path = stage.join(name);
        std::fs::write(&path, content(&format!("{version}/{name}"), *len)).unwrap();
        let kind = if name.ends_with(".deb") {
            AssetKind::Deb
        } else {
            AssetKind::Archive
        };
        assets.push(Asset::of_file(&path, kind, Some("x86_64-unknown-linux-gnu".into())).unwrap());
    }
    let sums: String = assets
        .iter()
        .map(|a| format!("{}  {}\n", a.sha256, a.name))
        .collect();
    let sums_path = stage.join("SHA256SUMS");
    std::fs::write(&sums_path, sums).unwrap();
    assets.push(Asset::of_file(&sums_path, AssetKind::Checksums, None).unwrap());
    Staged {
        package: "app".into(),
        version: version.into(),
        tag: format!("v{version}"),
        prerelease,
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        dir: stage,
        assets,
        image: None,
        notes: format!("Release {version}.\n"),
        packages: vec!["app".into()],
        tag_template: "v{{version}}".into(),
        latest: "latest".into(),
        target: None,
    }
}

fn files(version: &str) -> Vec<(String, usize)> {
    vec![
        (
            format!("app-{version}-x86_64-unknown-linux-gnu.tar.gz"),
            300_000,
        ),
        (format!("app_{version}_amd64.deb"), 120_000),
    ]
}

fn release(dir: &Path, version: &str) -> Staged {
    let f = files(version);
    let f: Vec<(&str, usize)> = f.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    staged(dir, version, &f)
}

/// What `ops::publish` does with one host: preflight, prepare, publish.
fn run(
    host: &S3Host,
    release: &Staged,
    state: &mut HostState,
    mut on_save: impl FnMut(&HostState),
) -> Result<()> {
    let shell = shell();
    let mut save = |s: &HostState| -> Result<()> {
        on_save(s);
        Ok(())
    };
    host.preflight(release, state, &shell)?;
    host.prepare(release, &mut Progress::new(state, &mut save), &shell)?;
    host.publish(release, &mut Progress::new(state, &mut save), &shell)
}

fn publish(host: &S3Host, release: &Staged) -> HostState {
    let mut state = HostState::default();
    run(host, release, &mut state, |_| {}).unwrap_or_else(|e| panic!("publishing failed: {e:#}"));
    state
}

fn json(s3: &SeaweedS3, key: &str) -> Value {
    let bytes = s3.get(key).unwrap_or_else(|| panic!("`{key}` is missing"));
    serde_json::from_slice(&bytes).unwrap()
}

/// Every asset `release.json` at `manifest` lists is there with its size and digest.
fn assert_complete(s3: &SeaweedS3, manifest: &str) {
    let m = json(s3, manifest);
    let dir = manifest.rsplit_once('/').unwrap().0;
    for a in m["assets"].as_array().unwrap() {
        let key = format!("{dir}/{}", a["name"].as_str().unwrap());
        let bytes = s3
            .get(&key)
            .unwrap_or_else(|| panic!("{manifest} lists {key}, which is missing"));
        assert_eq!(bytes.len() as u64, a["size"].as_u64().unwrap(), "{key}");
        assert_eq!(
            forge_core::digest::sha256_hex(&bytes),
            a["sha256"].as_str().unwrap(),
            "{key}"
        );
    }
}

fn latest_tag(s3: &SeaweedS3, key: &str) -> Option<String> {
    s3.get(key).map(|b| {
        let v: Value = serde_json::from_slice(&b).unwrap();
        v["tag"].as_str().unwrap().to_string()
    })
}

#[test]
fn publishes_assets_then_manifest_then_latest_and_a_rerun_sends_nothing() {
    if !require_weed() {
        return;
    }
    let s3 = SeaweedS3::start();
    let proxy = CountingProxy::start(&s3.host());
    let tmp = tempfile::tempdir().unwrap();
    let host = host(&proxy.endpoint(), "dist/app");
    let rel = release(tmp.path(), "1.0.0");

    let state = publish(&host, &rel);
    let mut steps: Vec<&str> = state.done.iter().map(String::as_str).collect();
    steps.sort();
    let mut expected: Vec<String> = rel
        .assets
        .iter()
        .map(|a| format!("upload:{}", a.name))
        .collect();
    expected.extend(["latest".to_string(), "manifest".to_string()]);
    expected.sort();
    assert_eq!(steps, expected);
    assert!(state.published);

    // Layout: <prefix>/<tag>/<asset>, the manifest beside them, latest.json under the prefix.
    let mut want: Vec<(String, u64)> = rel
        .assets
        .iter()
        .map(|a| (format!("dist/app/v1.0.0/{}", a.name), a.size))
        .collect();
    let listed = s3.list("dist/app");
    for k in ["dist/app/latest.json", "dist/app/v1.0.0/release.json"] {
        let size = listed
            .iter()
            .find(|(key, _)| key == k)
            .unwrap_or_else(|| panic!("{k} missing: {listed:?}"))
            .1;
        want.push((k.to_string(), size));
    }
    want.sort();
    assert_eq!(listed, want);
    for a in &rel.assets {
        let key = format!("dist/app/v1.0.0/{}", a.name);
        assert_eq!(
            s3.get(&key).unwrap(),
            std::fs::read(&a.path).unwrap(),
            "{key}"
        );
        assert_eq!(
            s3.metadata(&key, "sha256").as_deref(),
            Some(a.sha256.as_str())
        );
    }
    let manifest = json(&s3, "dist/app/v1.0.0/release.json");
    assert_eq!(manifest["version"], "1.0.0");
    assert_eq!(manifest["tag"], "v1.0.0");
    assert_eq!(
        manifest["assets"].as_array().unwrap().len(),
        rel.assets.len()
    );
    assert_complete(&s3, "dist/app/v1.0.0/release.json");
    let latest = json(&s3, "dist/app/latest.json");
    assert_eq!(latest["tag"], "v1.0.0");
    assert_eq!(latest["version"], "1.0.0");
    assert_eq!(latest["manifest"], "dist/app/v1.0.0/release.json");

    // The order: every asset PUT before the manifest, the manifest before latest.json.
    let puts: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT "))
        .collect();
    assert_eq!(puts.len(), rel.assets.len() + 2, "{puts:#?}");
    assert!(
        puts[puts.len() - 2].ends_with("/v1.0.0/release.json"),
        "{puts:#?}"
    );
    assert!(puts[puts.len() - 1].ends_with("/latest.json"), "{puts:#?}");

    let etags: Vec<Option<String>> = s3
        .list("dist/app")
        .iter()
        .map(|(k, _)| s3.e_tag(k))
        .collect();

    // A re-run from the state: nothing to send.
    proxy.clear();
    let mut resumed = state.clone();
    run(&host, &rel, &mut resumed, |_| {}).unwrap();
    assert_eq!(resumed, state);
    for method in ["PUT", "POST", "DELETE"] {
        assert_eq!(
            proxy.count(method, "/"),
            0,
            "{method}s on a re-run: {:#?}",
            proxy.requests()
        );
    }

    // A re-run that lost its state: everything is compared, nothing sent again.
    proxy.clear();
    let again = publish(&host, &rel);
    assert_eq!(again.done, state.done);
    assert!(
        again.data.keys().all(|k| !k.starts_with("created:")),
        "objects that were already there are not ours to roll back: {:?}",
        again.data
    );
    for method in ["PUT", "POST", "DELETE"] {
        assert_eq!(
            proxy.count(method, "/"),
            0,
            "{method}s on a re-run: {:#?}",
            proxy.requests()
        );
    }
    let after: Vec<Option<String>> = s3
        .list("dist/app")
        .iter()
        .map(|(k, _)| s3.e_tag(k))
        .collect();
    assert_eq!(after, etags);
}

#[test]
fn prereleases_never_move_latest_and_neither_do_older_versions() {
    if !require_weed() {
        return;
    }
    let s3 = SeaweedS3::start();
    let tmp = tempfile::tempdir().unwrap();
    let host = host(&s3.endpoint(), "");

    // A pre-release alone: published, no latest.json at all.
    let rc = release(tmp.path(), "1.0.0-rc.1");
    assert!(rc.prerelease);
    let state = publish(&host, &rc);
    assert!(state.published && !state.is_done("latest"));
    assert_complete(&s3, "v1.0.0-rc.1/release.json");
    assert_eq!(s3.get("latest.json"), None);

    // The stable release points latest.json at itself.
    publish(&host, &release(tmp.path(), "1.0.0"));
    assert_eq!(latest_tag(&s3, "latest.json").as_deref(), Some("v1.0.0"));
    let etag = s3.e_tag("latest.json");

    // A later pre-release does not touch it; an older fix release leaves it at the newest.
    let rc2 = release(tmp.path(), "1.1.0-rc.1");
    publish(&host, &rc2);
    assert_complete(&s3, "v1.1.0-rc.1/release.json");
    publish(&host, &release(tmp.path(), "0.9.1"));
    assert_complete(&s3, "v0.9.1/release.json");
    assert_eq!(s3.e_tag("latest.json"), etag);
    assert_eq!(latest_tag(&s3, "latest.json").as_deref(), Some("v1.0.0"));

    // A newer stable one moves it.
    publish(&host, &release(tmp.path(), "1.1.0"));
    assert_eq!(latest_tag(&s3, "latest.json").as_deref(), Some("v1.1.0"));
}

#[test]
fn large_files_are_uploaded_in_parts_and_verified() {
    if !require_weed() {
        return;
    }
    let s3 = SeaweedS3::start();
    let proxy = CountingProxy::start(&s3.host());
    let tmp = tempfile::tempdir().unwrap();
    let host = host(&proxy.endpoint(), "big");
    let size = MULTIPART_THRESHOLD as usize + 4 * 1024 * 1024 + 123;
    let rel = staged(
        tmp.path(),
        "2.0.0",
        &[("app-2.0.0-big.tar.gz", size), ("small.deb", 1000)],
    );
    publish(&host, &rel);

    let key = "big/v2.0.0/app-2.0.0-big.tar.gz";
    let big = &rel.assets[0];
    let bytes = s3.get(key).expect("the large object");
    assert_eq!(bytes.len(), size);
    assert_eq!(forge_core::digest::sha256_hex(&bytes), big.sha256);
    assert_eq!(
        s3.metadata(key, "sha256").as_deref(),
        Some(big.sha256.as_str())
    );
    // 16 MiB parts: create and complete are POSTs, each part a PUT.
    let parts = size.div_ceil(16 << 20);
    assert_eq!(proxy.count("POST", key), 2, "{:#?}", proxy.requests());
    assert_eq!(proxy.count("PUT", key), parts, "{:#?}", proxy.requests());
    assert_complete(&s3, "big/v2.0.0/release.json");

    // Lost state: the large object is compared by its metadata, not sent again.
    proxy.clear();
    publish(&host, &rel);
    assert_eq!(proxy.count("PUT", "/"), 0, "{:#?}", proxy.requests());
    assert_eq!(proxy.count("POST", "/"), 0, "{:#?}", proxy.requests());
}

#[test]
fn s3_down_mid_publish_fails_naming_the_endpoint_and_a_rerun_resumes() {
    if !require_weed() {
        return;
    }
    let mut s3 = SeaweedS3::start();
    let endpoint = s3.endpoint();
    let tmp = tempfile::tempdir().unwrap();
    let first = release(tmp.path(), "1.0.0");
    publish(&host(&endpoint, "rel"), &first);

    // 1. Down after the first asset of 1.1.0 was uploaded.
    let rel = release(tmp.path(), "1.1.0");
    let mut state = HostState::default();
    let err = {
        let host = host_with(&endpoint, BUCKET, "rel", SECRET_KEY, 2);
        let mut stopped = false;
        run(&host, &rel, &mut state, |s| {
            if !stopped && s.done.len() == 1 {
                s3.stop();
                stopped = true;
            }
        })
        .expect_err("publishing with S3 down must fail")
    };
    assert!(!s3.is_running());
    let text = format!("{err:#}");
    assert!(
        text.contains(&endpoint),
        "the endpoint is not named: {text}"
    );
    assert!(text.contains("could not be reached"), "{text}");
    assert_eq!(forge_core::exit::code_of(&err), 5, "{text}");
    assert!(
        forge_core::exit::hints(&err)
            .iter()
            .any(|h| h.contains("--retries")),
        "{:?}",
        forge_core::exit::hints(&err)
    );
    assert_eq!(state.done.len(), 1, "{:?}", state.done);
    assert!(!state.published);

    s3.restart();
    // Readers still see only complete releases: latest.json at 1.0.0, no manifest for 1.1.0.
    assert_eq!(
        latest_tag(&s3, "rel/latest.json").as_deref(),
        Some("v1.0.0")
    );
    assert_complete(&s3, "rel/v1.0.0/release.json");
    assert_eq!(s3.get("rel/v1.1.0/release.json"), None);
    // The resume (a new run, the state from the file) finishes it.
    let uploaded = state
        .done
        .iter()
        .next()
        .unwrap()
        .strip_prefix("upload:")
        .unwrap()
        .to_string();
    let etag = s3.e_tag(&format!("rel/v1.1.0/{uploaded}"));
    run(&host(&endpoint, "rel"), &rel, &mut state, |_| {}).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(state.published && state.is_done("latest"));
    assert_complete(&s3, "rel/v1.1.0/release.json");
    assert_eq!(
        latest_tag(&s3, "rel/latest.json").as_deref(),
        Some("v1.1.0")
    );
    assert_eq!(
        s3.e_tag(&format!("rel/v1.1.0/{uploaded}")),
        etag,
        "the finished upload was sent again"
    );

    // 2. Down right after the manifest of 1.2.0: latest.json keeps pointing at a complete release.
    let rel = release(tmp.path(), "1.2.0");
    let mut state = HostState::default();
    let err = {
        let host = host_with(&endpoint, BUCKET, "rel", SECRET_KEY, 2);
        let mut stopped = false;
        run(&host, &rel, &mut state, |s| {
            if !stopped && s.is_done("manifest") {
                s3.stop();
                stopped = true;
            }
        })
        .expect_err("pointing latest.json with S3 down must fail")
    };
    assert!(format!("{err:#}").contains(&endpoint), "{err:#}");
    assert!(state.is_done("manifest") && !state.is_done("latest") && !state.published);
    s3.restart();
    assert_complete(&s3, "rel/v1.2.0/release.json");
    assert_eq!(
        latest_tag(&s3, "rel/latest.json").as_deref(),
        Some("v1.1.0")
    );
    run(&host(&endpoint, "rel"), &rel, &mut state, |_| {}).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        latest_tag(&s3, "rel/latest.json").as_deref(),
        Some("v1.2.0")
    );
}

#[test]
fn wrong_credentials_are_a_clear_error_without_the_secret() {
    if !require_weed() {
        return;
    }
    let s3 = SeaweedS3::start();
    let tmp = tempfile::tempdir().unwrap();
    let rel = release(tmp.path(), "1.0.0");
    let secret = "wrong-secret-sentinel-7f3a9c";
    let host = host_with(&s3.endpoint(), BUCKET, "creds", secret, 3);
    let err = host
        .preflight(&rel, &HostState::default(), &shell())
        .expect_err("a wrong secret must be refused");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("refused access key `{ACCESS_KEY}`")),
        "{text}"
    );
    assert!(
        text.contains(&s3.endpoint()) && text.contains("bucket `forge`"),
        "{text}"
    );
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert_eq!(forge_core::exit::code_of(&err), 5);
    let hints = forge_core::exit::hints(&err);
    assert!(
        hints.iter().any(|h| h.contains("AWS_SECRET_ACCESS_KEY")),
        "{hints:?}"
    );
    for shown in [
        text.clone(),
        format!("{err:?}"),
        format!("{host:?}"),
        hints.join("\n"),
    ] {
        assert!(!shown.contains(secret), "the secret leaked: {shown}");
    }
    // Publishing fails the same way and writes nothing.
    let mut state = HostState::default();
    let shell = shell();
    let err = host
        .prepare(
            &rel,
            &mut Progress::new(&mut state, &mut |_: &HostState| Ok(())),
            &shell,
        )
        .unwrap_err();
    assert!(!format!("{err:#} {err:?}").contains(secret));
    assert!(state.done.is_empty());
    assert!(s3.list("creds").is_empty());
}

#[test]
fn a_missing_bucket_and_conflicting_objects_stop_the_preflight() {
    if !require_weed() {
        return;
    }
    let s3 = SeaweedS3::start();
    let tmp = tempfile::tempdir().unwrap();
    let rel = release(tmp.path(), "1.0.0");

    let missing = host_with(&s3.endpoint(), "no-such-bucket", "", SECRET_KEY, 2);
    let err = missing
        .preflight(&rel, &HostState::default(), &shell())
        .expect_err("a missing bucket");
    assert!(
        format!("{err:#}").contains("bucket `no-such-bucket` does not exist at `http://127.0.0.1:"),
        "{err:#}"
    );

    // An asset object with other bytes of the same size: named, and nothing is uploaded.
    let a = &rel.assets[0];
    let key = format!("c/v1.0.0/{}", a.name);
    let mut other = std::fs::read(&a.path).unwrap();
    other[0] ^= 0xff;
    s3.put(&key, &other);
    let host = host(&s3.endpoint(), "c");
    let err = host
        .preflight(&rel, &HostState::default(), &shell())
        .expect_err("a conflicting object");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!(
            "`s3://forge/{key}` already exists with other content"
        )),
        "{text}"
    );
    assert!(text.contains("never overwritten"), "{text}");
    assert_eq!(forge_core::exit::code_of(&err), 4);
    let mut state = HostState::default();
    assert!(run(&host, &rel, &mut state, |_| {}).is_err());
    assert_eq!(s3.list("c"), vec![(key.clone(), a.size)]);
    assert_eq!(
        s3.get(&key).unwrap(),
        other,
        "the planted object was overwritten"
    );

    // The same bytes written by another tool (no sha256 metadata): read back, accepted, kept.
    s3.put(&key, &std::fs::read(&a.path).unwrap());
    let etag = s3.e_tag(&key);
    let state = publish(&host, &rel);
    assert_eq!(s3.e_tag(&key), etag);
    assert!(!state.data.contains_key(&format!("created:{}", a.name)));
    assert_complete(&s3, "c/v1.0.0/release.json");

    // A release.json of other content for the tag is a conflict too.
    let mut changed = rel.clone();
    changed.commit = Some("ffffffffffffffffffffffffffffffffffffffff".into());
    let err = host
        .preflight(&changed, &HostState::default(), &shell())
        .expect_err("a different manifest");
    assert!(
        format!("{err:#}").contains(
            "`s3://forge/c/v1.0.0/release.json` already describes a different release v1.0.0"
        ),
        "{err:#}"
    );
}

#[test]
fn rollback_removes_only_what_this_release_wrote_and_only_while_unpublished() {
    if !require_weed() {
        return;
    }
    let s3 = SeaweedS3::start();
    let tmp = tempfile::tempdir().unwrap();
    let host = host(&s3.endpoint(), "rb");
    let rel = release(tmp.path(), "1.0.0");
    let shell = shell();
    // One asset was there before (identical), the others are ours.
    let kept = &rel.assets[0];
    let kept_key = format!("rb/v1.0.0/{}", kept.name);
    s3.put(&kept_key, &std::fs::read(&kept.path).unwrap());

    let mut state = HostState::default();
    host.preflight(&rel, &state, &shell).unwrap();
    host.prepare(
        &rel,
        &mut Progress::new(&mut state, &mut |_: &HostState| Ok(())),
        &shell,
    )
    .unwrap();
    assert_eq!(s3.list("rb/v1.0.0").len(), rel.assets.len());
    host.rollback(&rel, &mut state, &shell).unwrap();
    assert_eq!(s3.list("rb"), vec![(kept_key.clone(), kept.size)]);
    assert_eq!(
        state.done.iter().collect::<Vec<_>>(),
        [&format!("upload:{}", kept.name)]
    );
    assert!(state.data.is_empty());

    // After the rollback the release can still be published, and then nothing is removed.
    run(&host, &rel, &mut state, |_| {}).unwrap();
    let before = s3.list("rb");
    let latest = s3.e_tag("rb/latest.json");
    host.rollback(&rel, &mut state, &shell).unwrap();
    assert_eq!(s3.list("rb"), before);
    assert_eq!(s3.e_tag("rb/latest.json"), latest);
    // Nor when the state lags behind (release.json written, the step not recorded).
    let mut lagging = state.clone();
    lagging.done.remove("manifest");
    lagging.done.remove("latest");
    lagging.published = false;
    for a in &rel.assets[1..] {
        lagging.data.insert(
            format!("created:{}", a.name),
            format!("rb/v1.0.0/{}", a.name),
        );
    }
    host.rollback(&rel, &mut lagging, &shell).unwrap();
    assert_eq!(s3.list("rb"), before);
}

/// The conditional writes the APT host (and `latest.json`) rely on, against SeaweedFS:
/// `If-None-Match: *` on an object that exists and `If-Match` on a stale ETag both lose (`false`,
/// nothing written), `If-Match` on the current ETag wins.
#[test]
fn conditional_writes_lose_on_a_stale_etag() {
    if !require_weed() {
        return;
    }
    let s3 = SeaweedS3::start();
    let host = host(&s3.endpoint(), "cas");
    let store = host.store();
    let key = store.key("dists/stable/Release").unwrap();
    let put = |bytes: &str, expected| {
        store
            .put_if(
                &key,
                bytes.as_bytes().to_vec(),
                "text/plain",
                expected,
                "write",
            )
            .unwrap()
    };
    assert!(put("first", None), "created");
    assert!(
        !put("second", None),
        "If-None-Match: * on an existing object"
    );
    let (bytes, stale) = store.read_versioned(&key).unwrap().unwrap();
    assert_eq!(bytes, b"first");
    assert!(
        put("third", Some(stale.clone())),
        "If-Match on the current ETag"
    );
    assert!(!put("fourth", Some(stale)), "If-Match on a stale ETag");
    assert_eq!(store.read(&key).unwrap().unwrap(), b"third");
}

/// Two releases of different packages (the two binaries of a workspace), started at the same
/// moment as two processes, into one APT repository on S3. A rendezvous after staging
/// (`FORGE_TEST_APT_BARRIER`) makes both stage the same (empty) suite, so the race is real: one
/// loses a conditional write (412), says so, stages again and merges. Both finish; the Release
/// on S3 names indexes that are there and list both packages, each in the pool; and apt, reading
/// the bucket over plain HTTP, verifies the signed repository and downloads both.
#[test]
fn concurrent_releases_into_one_apt_repository_on_s3_are_both_listed() {
    use forge_tests::{assert_success, isolated_apt, require_tools, stderr, stdout};
    use std::process::{Command, Stdio};
    if !require_tools(&["git", "gpg", "apt-get", "dpkg-shlibdeps"]) || !require_weed() {
        return;
    }
    let store = SeaweedS3::start_public_read();
    let repo = crate::release::ReleaseRepo::of_workspace(
        "release-workspace",
        &format!(
            "tag-format = \"{{{{name}}}}-v{{{{version}}}}\"\nartifacts = [\"deb\"]\nhosts = [{{ kind = \"apt\", url = \"s3://{BUCKET}/apt\", endpoint = \"{}\", sign-key = \"release@example.com\" }}]",
            store.endpoint()
        ),
    );
    let barrier = tempfile::tempdir().unwrap();
    let packages = ["forge-ws-alpha", "forge-ws-beta"];
    let children: Vec<_> = packages
        .iter()
        .map(|pkg| {
            Command::new(forge_tests::bin("cargo-forge-release"))
                .arg("forge-release")
                .args(["1.0.0", "-p", pkg, "--yes", "--toolchain", "/usr"])
                .current_dir(repo.path())
                .env("NO_COLOR", "1")
                .env("GNUPGHOME", repo.gnupg.path())
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
                .env("FORGE_TEST_APT_BARRIER", barrier.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn cargo-forge-release")
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for cargo-forge-release"))
        .collect();
    for (pkg, out) in packages.iter().zip(&outs) {
        assert_success(out, &format!("release {pkg} to apt on s3, concurrently"));
    }
    // Both met at the rendezvous, so both staged the same suite: at least one lost a write and
    // merged again.
    assert_eq!(
        std::fs::read_dir(barrier.path()).unwrap().count(),
        2,
        "both releases reached the rendezvous"
    );
    let retried = outs
        .iter()
        .filter(|o| stderr(o).contains("was updated by another release meanwhile"))
        .count();
    assert!(
        retried >= 1,
        "no release lost the race:\n{}\n{}",
        stderr(&outs[0]),
        stderr(&outs[1])
    );

    // What a reader sees: InRelease names indexes that are there (by hash), which list both
    // packages, each in the pool.
    let inrelease =
        String::from_utf8(store.get("apt/dists/stable/InRelease").expect("InRelease")).unwrap();
    let mut listed = Vec::new();
    for line in inrelease.lines().filter(|l| l.starts_with(' ')) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [digest, _, path] = parts[..] else {
            continue;
        };
        if digest.len() != 64 || !path.ends_with("binary-amd64/Packages") {
            continue;
        }
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let key = format!("apt/dists/stable/{dir}/by-hash/SHA256/{digest}");
        let text =
            String::from_utf8(store.get(&key).unwrap_or_else(|| panic!("{key} missing"))).unwrap();
        for l in text.lines() {
            if let Some(f) = l.strip_prefix("Filename: ") {
                assert!(
                    store.get(&format!("apt/{f}")).is_some(),
                    "{f} not in the pool"
                );
            }
            if let Some(p) = l.strip_prefix("Package: ") {
                listed.push(p.to_string());
            }
        }
    }
    listed.sort();
    assert_eq!(listed, packages, "both packages are listed: {inrelease}");

    // apt over HTTP straight from the S3 endpoint, checking the signature.
    let key = repo.export_public_key();
    let aptdir = tempfile::tempdir().unwrap();
    let opts = isolated_apt(
        aptdir.path(),
        &format!(
            "deb [arch=amd64 signed-by={}] {}/{BUCKET}/apt stable main",
            key.display(),
            store.endpoint()
        ),
        &["amd64"],
    );
    let out = forge_tests::run(Command::new("apt-get").args(&opts).arg("update"));
    assert_success(&out, "apt-get update");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("W:") && !all.contains("E:"), "{all}");
    for pkg in packages {
        let out = forge_tests::run(
            Command::new("apt-get")
                .args(&opts)
                .arg("download")
                .arg(format!("{pkg}:amd64=1.0.0-1"))
                .current_dir(aptdir.path()),
        );
        assert_success(&out, &format!("apt-get download {pkg}"));
        assert!(aptdir
            .path()
            .join(format!("{pkg}_1.0.0-1_amd64.deb"))
            .is_file());
    }
}
