//! `cargo forge-release` features beyond the basic release: a signed git tag, an APT
//! repository on S3 served to apt over HTTP, CycloneDX SBOMs.

use std::process::Command;

use forge_tests::s3;
use forge_tests::*;

use crate::release::{git, ReleaseRepo};

/// `sign = { gpg = KEY, tag = true }` makes the tag with `git tag -s -u KEY`: the tag pushed to
/// the bare origin carries a signature that `git tag -v` accepts.
#[test]
fn signed_tag_verifies_on_origin() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new(
        "sign = { gpg = \"release@example.com\", tag = true }\nhosts = [{ kind = \"dir\", path = \"dist\" }]",
    );
    let out = repo.release(&["v0.1.0", "--yes"], &[]);
    assert_success(&out, "release with a signed tag");
    assert!(
        stderr(&out).contains("and the git tag"),
        "the plan says the tag is signed: {}",
        stderr(&out)
    );
    let origin = repo.origin.path();
    let raw = stdout(&git(origin, &["cat-file", "tag", "v0.1.0"]));
    assert!(raw.contains("-----BEGIN PGP SIGNATURE-----"), "{raw}");
    let verify = run(Command::new("git")
        .args(["tag", "-v", "v0.1.0"])
        .current_dir(origin)
        .env("GNUPGHOME", repo.gnupg.path()));
    assert_success(&verify, "git tag -v v0.1.0 in origin");
    assert!(
        stderr(&verify).contains("Good signature"),
        "{}",
        stderr(&verify)
    );

    // Without `tag = true` the tag is annotated only.
    let plain = ReleaseRepo::new(
        "sign = { gpg = \"release@example.com\" }\nhosts = [{ kind = \"dir\", path = \"dist\" }]",
    );
    assert_success(&plain.release(&["v0.1.0", "--yes"], &[]), "release");
    let raw = stdout(&git(plain.origin.path(), &["cat-file", "tag", "v0.1.0"]));
    assert!(!raw.contains("PGP SIGNATURE"), "{raw}");

    // `tag = true` without any key is refused before anything happens.
    let nokey =
        ReleaseRepo::new("sign = { tag = true }\nhosts = [{ kind = \"dir\", path = \"dist\" }]");
    let out = nokey.release(&["v0.1.0", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("user.signingkey"), "{}", stderr(&out));
    assert!(!nokey.path().join("dist").exists());
    assert!(nokey.remote_tags().is_empty());
}

/// The index of the first request line matching `method` and a path containing `fragment`
/// (`last`: of the last one).
fn position(requests: &[String], method: &str, fragment: &str, last: bool) -> usize {
    let matches = |r: &&String| {
        r.split_once(' ')
            .is_some_and(|(m, p)| m == method && p.contains(fragment))
    };
    let found = if last {
        requests.iter().rposition(|r| matches(&r))
    } else {
        requests.iter().position(|r| matches(&r))
    };
    found.unwrap_or_else(|| panic!("no {method} …{fragment}… in {requests:#?}"))
}

/// An APT repository on S3 (`url = "s3://forge/apt"`, SeaweedFS): two releases accumulate in it
/// (0.2.0 merges with the indexes 0.1.0 left), uploads go pool → by-hash → indexes → Release →
/// InRelease, and apt, reading the bucket over plain HTTP as from a public-read bucket, verifies
/// the signed repository and downloads both versions.
#[test]
fn apt_repository_on_s3_accumulates_versions_and_apt_installs_from_it() {
    if !require_tools(&["git", "gpg", "apt-get", "dpkg-shlibdeps"]) || !s3::require_weed() {
        return;
    }
    let store = s3::SeaweedS3::start_public_read();
    let proxy = s3::CountingProxy::start(&store.host());
    let repo = ReleaseRepo::new(&format!(
        "artifacts = [\"deb\"]\nhosts = [{{ kind = \"apt\", url = \"s3://{}/apt\", endpoint = \"{}\", sign-key = \"release@example.com\" }}]",
        s3::BUCKET,
        proxy.endpoint()
    ));
    let env = [
        ("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY),
    ];
    let first = repo.release(&["v0.1.0", "--toolchain", "/usr", "--yes"], &env);
    assert_success(&first, "release 0.1.0 to apt on s3");
    let requests = proxy.requests();
    let puts: Vec<&String> = requests.iter().filter(|r| r.starts_with("PUT ")).collect();
    let pool = position(&requests, "PUT", "/apt/pool/", true);
    let by_hash = position(&requests, "PUT", "/by-hash/SHA256/", false);
    let packages = position(&requests, "PUT", "/binary-amd64/Packages", false);
    let release = position(&requests, "PUT", "/dists/stable/Release", false);
    let inrelease = position(&requests, "PUT", "/dists/stable/InRelease", false);
    assert!(
        pool < by_hash && position(&requests, "PUT", "/by-hash/", true) < packages,
        "pool, then by-hash, then indexes: {puts:#?}"
    );
    assert!(
        position(&requests, "PUT", "/Packages", true) < release && release < inrelease,
        "indexes, then Release, then InRelease: {puts:#?}"
    );
    assert_eq!(
        puts.last().map(|r| r.contains("/dists/stable/InRelease")),
        Some(true),
        "InRelease is written last: {puts:#?}"
    );

    repo.bump_to("0.2.0");
    proxy.clear();
    let second = repo.release(&["v0.2.0", "--toolchain", "/usr", "--yes"], &env);
    assert_success(&second, "release 0.2.0 to apt on s3");
    // Only the new package went to the pool.
    assert_eq!(
        proxy.count("PUT", "/apt/pool/"),
        1,
        "{:#?}",
        proxy.requests()
    );
    let packages = String::from_utf8(
        store
            .get("apt/dists/stable/main/binary-amd64/Packages")
            .expect("Packages"),
    )
    .unwrap();
    for v in ["0.1.0-1", "0.2.0-1"] {
        assert!(
            packages.contains(&format!("Version: {v}\n")),
            "{v} is listed: {packages}"
        );
    }

    // apt over HTTP straight from the S3 endpoint, checking the signature.
    let key = repo.export_public_key();
    let aptdir = tempfile::tempdir().unwrap();
    let opts = isolated_apt(
        aptdir.path(),
        &format!(
            "deb [arch=amd64 signed-by={}] {}/{}/apt stable main",
            key.display(),
            store.endpoint(),
            s3::BUCKET
        ),
        &["amd64"],
    );
    let out = run(Command::new("apt-get").args(&opts).arg("update"));
    assert_success(&out, "apt-get update");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("W:") && !all.contains("E:"), "{all}");
    for v in ["0.1.0-1", "0.2.0-1"] {
        let out = run(Command::new("apt-get")
            .args(&opts)
            .arg("download")
            .arg(format!("forge-fixture-cli:amd64={v}"))
            .current_dir(aptdir.path()));
        assert_success(&out, &format!("apt-get download forge-fixture-cli={v}"));
        assert!(aptdir
            .path()
            .join(format!("forge-fixture-cli_{v}_amd64.deb"))
            .is_file());
    }
    // The S3 secret never shows.
    for o in [&first, &second] {
        assert!(!stderr(o).contains(s3::SECRET_KEY) && !stdout(o).contains(s3::SECRET_KEY));
    }
}

/// The packages reachable from `root` through non-dev dependency edges of a `cargo metadata`
/// resolve graph, by package id.
fn non_dev_ids(meta: &serde_json::Value, root: &str) -> std::collections::BTreeSet<String> {
    let nodes: std::collections::BTreeMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(id) = todo.pop() {
        for d in nodes[id.as_str()]["deps"].as_array().unwrap() {
            let dev_only = d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["kind"] == "dev");
            let pkg = d["pkg"].as_str().unwrap().to_string();
            if !dev_only && seen.insert(pkg.clone()) {
                todo.push(pkg);
            }
        }
    }
    seen
}

/// `sbom = true`: a CycloneDX 1.5 document per target with the resolved non-dev dependency graph
/// (build dependencies such as `cc` are in it, a path dev-dependency is not), PURLs, licenses and the
/// Cargo.lock checksums; listed in SHA256SUMS and signed; the same bytes when built again.
#[test]
fn sbom_lists_the_resolved_non_dev_dependencies() {
    if !require_tools(&["git", "gpg", "sha256sum"]) {
        return;
    }
    let repo = ReleaseRepo::of_fixture(
        "sys-linked",
        "sbom = true\nsign = { gpg = \"release@example.com\" }\nhosts = [{ kind = \"dir\", path = \"dist\" }]",
    );
    // A dev-dependency, which must not be in the SBOM.
    std::fs::create_dir_all(repo.path().join("devonly/src")).unwrap();
    std::fs::write(
        repo.path().join("devonly/Cargo.toml"),
        "[package]\nname = \"devonly\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(repo.path().join("devonly/src/lib.rs"), "").unwrap();
    repo.fx.edit_manifest(
        "[package.metadata.deb]",
        "[dev-dependencies]\ndevonly = { path = \"devonly\" }\n\n[package.metadata.deb]",
    );
    assert_success(
        &run(Command::new("cargo")
            .args(["metadata", "--offline", "--format-version", "1"])
            .current_dir(repo.path())),
        "cargo metadata (updates Cargo.lock)",
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "dev-dependency"]);
    git(repo.path(), &["push", "-q", "origin", "main"]);

    let out = repo.release(&["v0.1.0", "--yes"], &[]);
    assert_success(&out, "release with an SBOM");
    let dir = repo.path().join("dist/v0.1.0");
    let host = String::from_utf8(run(Command::new("rustc").arg("-vV")).stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap();
    let name = format!("forge-fixture-zlib-0.1.0-{host}.cdx.json");
    let bytes = std::fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let bom: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert!(bom["serialNumber"]
        .as_str()
        .unwrap()
        .starts_with("urn:uuid:"));
    assert_eq!(bom["metadata"]["component"]["name"], "forge-fixture-zlib");
    assert_eq!(bom["metadata"]["component"]["type"], "application");
    assert_eq!(
        bom["metadata"]["component"]["purl"],
        "pkg:cargo/forge-fixture-zlib@0.1.0"
    );

    // The expected graph, from cargo itself.
    let meta = run(Command::new("cargo")
        .args([
            "metadata",
            "--offline",
            "--format-version",
            "1",
            "--filter-platform",
        ])
        .arg(&host)
        .current_dir(repo.path()));
    assert_success(&meta, "cargo metadata");
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let root = meta["workspace_members"][0].as_str().unwrap();
    let expected = non_dev_ids(&meta, root);
    let components = bom["components"].as_array().unwrap();
    assert_eq!(
        components.len(),
        expected.len(),
        "components: {components:#?}\nexpected: {expected:#?}"
    );
    let lock = std::fs::read_to_string(repo.path().join("Cargo.lock")).unwrap();
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for must in ["libz-sys", "libc", "pkg-config", "cc"] {
        assert!(names.contains(&must), "{must} missing from {names:?}");
    }
    for never in ["devonly", "forge-fixture-zlib"] {
        assert!(!names.contains(&never), "{never} is in {names:?}");
    }
    for c in components {
        let (n, v) = (c["name"].as_str().unwrap(), c["version"].as_str().unwrap());
        assert!(expected.contains(c["bom-ref"].as_str().unwrap()), "{c}");
        assert_eq!(c["purl"], format!("pkg:cargo/{n}@{v}"), "{c}");
        assert!(
            c["licenses"][0]["expression"].is_string(),
            "license of {n}: {c}"
        );
        let sum = &c["hashes"][0];
        assert_eq!(sum["alg"], "SHA-256", "{c}");
        let stanza = format!("name = \"{n}\"\nversion = \"{v}\"\n");
        let at = lock
            .find(&stanza)
            .unwrap_or_else(|| panic!("{n} {v} not in Cargo.lock"));
        let checksum = lock[at..]
            .lines()
            .find_map(|l| l.strip_prefix("checksum = \""))
            .unwrap()
            .trim_end_matches('"');
        assert_eq!(sum["content"], checksum, "{n}");
    }
    // Every dependency entry points at a listed component (or the application).
    let refs: std::collections::BTreeSet<&str> = components
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .chain([root])
        .collect();
    for d in bom["dependencies"].as_array().unwrap() {
        assert!(refs.contains(d["ref"].as_str().unwrap()), "{d}");
        for on in d["dependsOn"].as_array().into_iter().flatten() {
            assert!(refs.contains(on.as_str().unwrap()), "{d}");
        }
    }
    // Checksummed and signed with the rest.
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert!(sums.contains(&name), "{sums}");
    assert_success(
        &run(Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(&dir)),
        "sha256sum -c",
    );
    let v = run(Command::new("gpg")
        .arg("--verify")
        .arg(dir.join(format!("{name}.asc")))
        .arg(dir.join(&name))
        .env("GNUPGHOME", repo.gnupg.path()));
    assert_success(&v, "gpg --verify the SBOM");
    // Reproducible: a staging run builds the same document.
    let again = repo.release(&["v0.1.0", "--stage-only"], &[]);
    let staged = repo
        .path()
        .join("target/forge/release/forge-fixture-zlib/0.1.0/staging")
        .join(&name);
    assert_success(&again, "stage only");
    assert_eq!(
        std::fs::read(&staged).unwrap(),
        bytes,
        "the SBOM is reproducible"
    );
}

/// An `apt` host needs exactly one of `dir` and `url`, `url` must be `s3://…`, and `endpoint`
/// or `region` go with `url` only: each mistake stops the release before anything happens, with
/// exit code 2 and one message naming the keys.
#[test]
fn apt_host_location_mistakes_are_usage_errors() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new("# per case");
    let manifest = repo.path().join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    for (host, expected) in [
        ("{ kind = \"apt\" }", "one of `dir = \"path\"` or `url"),
        (
            "{ kind = \"apt\", dir = \"apt\", url = \"s3://b/apt\" }",
            "one of `dir = \"path\"` or `url",
        ),
        (
            "{ kind = \"apt\", url = \"https://example.com/apt\" }",
            "write it as `s3://bucket/prefix`",
        ),
        (
            "{ kind = \"apt\", dir = \"apt\", endpoint = \"http://127.0.0.1:1\" }",
            "go with `url",
        ),
    ] {
        std::fs::write(
            &manifest,
            original.replace(
                "# per case",
                &format!("artifacts = [\"deb\"]\nhosts = [{host}]"),
            ),
        )
        .unwrap();
        let out = repo.release(
            &["v0.1.0", "--yes", "--allow-dirty"],
            &[
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{host}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{host}: {}", stderr(&out));
        assert_eq!(
            stderr(&out)
                .lines()
                .filter(|l| l.starts_with("error"))
                .count(),
            1,
            "{host}: {}",
            stderr(&out)
        );
        assert!(!repo
            .path()
            .join("target/forge/release/forge-fixture-cli/0.1.0/staging")
            .exists());
        assert!(repo.remote_tags().is_empty());
    }
}

/// What a reader of the APT repository on S3 sees now: every index the `InRelease` names
/// (fetched by hash, as `Acquire-By-Hash` makes apt do) is there, and every package those
/// indexes list is in the pool. Returns the versions listed.
fn apt_on_s3_is_consistent(store: &s3::SeaweedS3, when: &str) -> Vec<String> {
    let Some(inrelease) = store.get("apt/dists/stable/InRelease") else {
        return Vec::new();
    };
    let text = String::from_utf8(inrelease).unwrap();
    let mut versions = Vec::new();
    let mut in_sha256 = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_sha256 = line.starts_with("SHA256:");
            continue;
        }
        if !in_sha256 {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (digest, _size, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let key = format!("apt/dists/stable/{dir}/by-hash/SHA256/{digest}");
        let bytes = store
            .get(&key)
            .unwrap_or_else(|| panic!("{when}: InRelease names {path}, but {key} is missing"));
        if path.ends_with("/Packages") {
            for stanza in String::from_utf8(bytes).unwrap().split("\n\n") {
                for l in stanza.lines() {
                    if let Some(f) = l.strip_prefix("Filename: ") {
                        assert!(
                            store.get(&format!("apt/{f}")).is_some(),
                            "{when}: Packages lists {f}, which is not in the pool"
                        );
                    }
                    if let Some(v) = l.strip_prefix("Version: ") {
                        versions.push(v.to_string());
                    }
                }
            }
        }
    }
    versions
}

/// The release to an APT repository on S3, killed with SIGKILL after every state save, again and
/// again: after every kill a reader sees a consistent repository (every index `InRelease` names is
/// there, every listed package is in the pool) holding 0.1.0, and 0.2.0 once it is listed; the
/// last run completes with both versions.
#[test]
fn apt_on_s3_killed_at_every_step_stays_consistent() {
    if !require_tools(&["git", "gpg", "dpkg-shlibdeps"]) || !s3::require_weed() {
        return;
    }
    let store = s3::SeaweedS3::start();
    let repo = ReleaseRepo::new(&format!(
        "artifacts = [\"deb\"]\nhosts = [{{ kind = \"apt\", url = \"s3://{}/apt\", endpoint = \"{}\", sign-key = \"release@example.com\" }}]",
        s3::BUCKET,
        store.endpoint()
    ));
    let aws = [
        ("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY),
    ];
    assert_success(
        &repo.release(&["v0.1.0", "--toolchain", "/usr", "--yes"], &aws),
        "release 0.1.0",
    );
    assert_eq!(apt_on_s3_is_consistent(&store, "after 0.1.0"), ["0.1.0-1"]);
    repo.bump_to("0.2.0");
    let mut env = aws.to_vec();
    // Every run saves the state once before its first step: 2 kills it after one step.
    env.push(("FORGE_TEST_CRASH_AFTER", "2"));
    let mut kills = 0;
    loop {
        let out = repo.release(&["v0.2.0", "--toolchain", "/usr", "--yes"], &env);
        if out.status.success() {
            break;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(9),
            "the run failed instead of being killed:\n{}",
            stderr(&out)
        );
        kills += 1;
        assert!(kills < 40, "no progress after {kills} kills");
        let versions = apt_on_s3_is_consistent(&store, &format!("kill {kills}"));
        assert!(
            versions.contains(&"0.1.0-1".to_string()),
            "0.1.0 is still listed after kill {kills}: {versions:?}"
        );
    }
    assert!(
        kills >= 3,
        "the crash points were not reached ({kills} kills)"
    );
    let mut versions = apt_on_s3_is_consistent(&store, "at the end");
    versions.sort();
    assert_eq!(versions, ["0.1.0-1", "0.2.0-1"]);
}

/// Two runs of one release (issue 13): the state directory `target/forge/release/<package>/
/// <version>/` is locked. With `--no-wait` a run fails at once naming the holder, before it
/// builds or publishes anything; without, it says it waits, and finishes once the lock is free.
#[test]
fn a_second_run_of_a_release_waits_for_the_first() {
    if !require_tools(&["git", "gpg", "/usr/bin/cargo"]) {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"dir\", path = \"dist\" }]");
    let state_dir = repo
        .path()
        .join("target/forge/release/forge-fixture-cli/0.1.0");
    let shell = forge_core::Shell::plain();
    let held = forge_core::fsx::lock_dir(&state_dir, "the release", false, &shell).unwrap();
    let out = repo.release(&["0.1.0", "--yes", "--no-wait"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "`{}` is locked by another run, held by pid {}",
            state_dir.display(),
            std::process::id()
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        !repo.path().join("dist").exists(),
        "published under another run's lock"
    );

    let mut cmd = Command::new(bin("cargo-forge-release"));
    cmd.args(["forge-release", "0.1.0", "--yes"])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("GNUPGHOME", repo.gnupg.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let waiting = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(
        !repo.path().join("dist").exists(),
        "the waiting run published under the lock"
    );
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    assert_success(&out, "the run that waited");
    assert!(
        stderr(&out).contains(&format!(
            "Waiting for the lock on the release forge-fixture-cli v0.1.0 `{}`",
            state_dir.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(repo.path().join("dist/v0.1.0/SHA256SUMS").is_file());
}
