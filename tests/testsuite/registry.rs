//! The registry client against a real registry (Debian's `docker-registry`, distribution 2.8):
//! blobs and manifests pushed and read back, a second push that uploads nothing, cross-repository
//! mounts, htpasswd auth through a docker `config.json`, a wrong password reported without the
//! password, and skopeo reading what we pushed.

use std::path::Path;
use std::process::Command;

use cargo_forge_image::auth::Credentials;
use cargo_forge_image::registry::{digest_of, Outcome, RegistryClient};
use forge_core::http::{Body, HttpClient, RetryPolicy};
use forge_core::Shell;
use forge_tests::registry::{FaultyProxy, Registry};
use forge_tests::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn http() -> HttpClient {
    HttpClient::new(RetryPolicy::default(), vec![])
}

fn client(registry: &Registry, credentials: Credentials) -> RegistryClient {
    RegistryClient::new(http(), registry.host(), credentials, &Shell::plain())
        .unwrap_or_else(|e| panic!("{e:#}\n{}", registry.log()))
}

/// Credentials whose only environment is `DOCKER_CONFIG=dir` (the process environment is left
/// alone: tests run in parallel threads).
fn docker_config_credentials(dir: &Path) -> Credentials {
    let dir = dir.to_string_lossy().into_owned();
    Credentials::from_lookup(move |name| (name == "DOCKER_CONFIG").then(|| dir.clone()))
}

/// A small image: a config blob (bytes), a layer blob (a file), and its OCI manifest.
struct Image {
    _dir: tempfile::TempDir,
    config: Vec<u8>,
    layer: std::path::PathBuf,
    layer_digest: String,
    manifest: Vec<u8>,
}

fn image(seed: u8) -> Image {
    let dir = tempfile::tempdir().unwrap();
    let layer_bytes: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect();
    let layer = dir.path().join("layer.tar.gz");
    std::fs::write(&layer, &layer_bytes).unwrap();
    let layer_digest = digest_of(&layer_bytes);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [format!("SEED={seed}")]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(&config), "size": config.len()},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_bytes.len()}],
    }))
    .unwrap();
    Image {
        _dir: dir,
        config,
        layer,
        layer_digest,
        manifest,
    }
}

/// Pushes the image's blobs and its manifest by digest and by `tag`; returns the blob outcomes
/// and the manifest digest.
fn push(client: &RegistryClient, repo: &str, img: &Image, tag: &str) -> (Vec<Outcome>, String) {
    let shell = Shell::plain();
    let bar = shell.progress_bar(0, "layer", true);
    let outcomes = vec![
        client
            .push_blob(
                repo,
                &digest_of(&img.config),
                Body::bytes(img.config.clone()),
                None,
                None,
                &shell,
            )
            .unwrap_or_else(|e| panic!("{e:#}")),
        client
            .push_blob(
                repo,
                &img.layer_digest,
                Body::file(&img.layer).unwrap(),
                None,
                Some(&bar),
                &shell,
            )
            .unwrap_or_else(|e| panic!("{e:#}")),
    ];
    assert_eq!(bar.position(), std::fs::metadata(&img.layer).unwrap().len());
    let digest = client
        .put_manifest(
            repo,
            &digest_of(&img.manifest),
            OCI_MANIFEST,
            &img.manifest,
            &shell,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
    let tagged = client
        .put_manifest(repo, tag, OCI_MANIFEST, &img.manifest, &shell)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(digest, tagged);
    (outcomes, digest)
}

#[test]
fn push_read_back_and_push_again_without_uploading() {
    if !require_tools(&[forge_tests::registry::REGISTRY_BIN]) {
        return;
    }
    let registry = Registry::start();
    let client = client(&registry, Credentials::none());
    let img = image(1);
    let (outcomes, digest) = push(&client, "forge/app", &img, "1.0");
    assert_eq!(outcomes, [Outcome::Uploaded, Outcome::Uploaded]);
    assert_eq!(digest, digest_of(&img.manifest));
    let uploads: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.is_blob_upload())
        .collect();
    // Monolithic: one PUT per blob, no PATCH.
    assert_eq!(uploads.len(), 2, "{uploads:#?}");
    assert!(uploads.iter().all(|r| r.method == "PUT" && r.status == 201));

    // Read back: HEAD and GET of the manifest, the layer to a file, all verified.
    let shell = Shell::plain();
    let (head_digest, size, media_type) = client
        .head_manifest("forge/app", "1.0", &[OCI_MANIFEST], &shell)
        .unwrap()
        .expect("the tag exists");
    assert_eq!(
        (head_digest.as_str(), size, media_type.as_str()),
        (digest.as_str(), img.manifest.len() as u64, OCI_MANIFEST)
    );
    let (bytes, media_type, got) = client
        .get_manifest("forge/app", &digest, &[OCI_MANIFEST], &shell)
        .unwrap();
    assert_eq!(
        (bytes, media_type.as_str(), got.as_str()),
        (img.manifest.clone(), OCI_MANIFEST, digest.as_str())
    );
    let out = tempfile::tempdir().unwrap();
    let blob = out.path().join("layer");
    client
        .get_blob_to_file("forge/app", &img.layer_digest, None, &blob, &shell)
        .unwrap();
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        std::fs::read(&img.layer).unwrap()
    );
    assert!(client
        .head_manifest("forge/app", "2.0", &[OCI_MANIFEST], &shell)
        .unwrap()
        .is_none());
    let err = client
        .get_manifest("forge/app", "2.0", &[OCI_MANIFEST], &shell)
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "manifest `2.0` was not found in {}/forge/app",
            registry.host()
        )),
        "{err:#}"
    );

    // The second push (a new client, as a new run would be) sends no blob bytes.
    let mark = registry.mark();
    let again = self::client(&registry, Credentials::none());
    let (outcomes, _) = push(&again, "forge/app", &img, "1.0");
    assert_eq!(outcomes, [Outcome::Skipped, Outcome::Skipped]);
    let since = registry.requests_since(mark);
    let blob_writes: Vec<_> = since
        .iter()
        .filter(|r| r.path.contains("/blobs/") && r.method != "HEAD")
        .collect();
    assert!(blob_writes.is_empty(), "{blob_writes:#?}");
    assert_eq!(
        since.iter().filter(|r| r.method == "HEAD").count(),
        2,
        "{since:#?}"
    );
    assert_eq!(client.http().retries() + again.http().retries(), 0);
}

#[test]
fn blobs_are_mounted_from_another_repository() {
    if !require_tools(&[forge_tests::registry::REGISTRY_BIN]) {
        return;
    }
    let registry = Registry::start();
    let client = client(&registry, Credentials::none());
    let img = image(2);
    push(&client, "forge/base", &img, "latest");
    let mark = registry.mark();
    let shell = Shell::plain();
    let outcome = client
        .push_blob(
            "forge/app",
            &img.layer_digest,
            Body::file(&img.layer).unwrap(),
            Some("forge/base"),
            None,
            &shell,
        )
        .unwrap();
    assert_eq!(outcome, Outcome::Mounted);
    let since = registry.requests_since(mark);
    let mounts: Vec<_> = since
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("mount="))
        .collect();
    assert_eq!(mounts.len(), 1, "{since:#?}");
    assert_eq!(mounts[0].status, 201);
    assert!(
        mounts[0].path.contains("from=forge%2Fbase"),
        "{}",
        mounts[0].path
    );
    assert!(!since.iter().any(|r| r.is_blob_upload()), "{since:#?}");
    assert!(client
        .blob_exists("forge/app", &img.layer_digest, &shell)
        .unwrap());
}

#[test]
fn htpasswd_auth_with_docker_config() {
    if !require_tools(&[forge_tests::registry::REGISTRY_BIN]) {
        return;
    }
    let password = "s3cret-pass-4711";
    let registry = Registry::start_with_htpasswd("forge", password);
    let home = tempfile::tempdir().unwrap();
    registry.write_docker_config(home.path(), "forge", password);
    let client = client(&registry, docker_config_credentials(home.path()));
    let img = image(3);
    let (outcomes, digest) = push(&client, "private/app", &img, "v1");
    assert_eq!(outcomes, [Outcome::Uploaded, Outcome::Uploaded]);
    assert_eq!(digest, digest_of(&img.manifest));

    // Without credentials the same push is refused, and the error says so.
    let anonymous = self::client(&registry, Credentials::none());
    let err = anonymous
        .blob_exists("private/app", &img.layer_digest, &Shell::plain())
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.starts_with(&format!(
            "authentication to {} failed without credentials (none were found)",
            registry.host()
        )),
        "{text}"
    );
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    if !require_tools(&[forge_tests::registry::REGISTRY_BIN]) {
        return;
    }
    let registry = Registry::start_with_htpasswd("forge", "right-pass-4711");
    let home = tempfile::tempdir().unwrap();
    let config = registry.write_docker_config(home.path(), "forge", "wrong-pass-0815");
    let client = client(&registry, docker_config_credentials(home.path()));
    let img = image(4);
    let err = client
        .push_blob(
            "private/app",
            &digest_of(&img.config),
            Body::bytes(img.config.clone()),
            None,
            None,
            &Shell::plain(),
        )
        .unwrap_err();
    let text = format!("{err:#}");
    let hints = forge_core::exit::hints(&err).join("\n");
    assert!(
        text.starts_with(&format!(
            "authentication to {} failed with user `forge` from docker config `{}`",
            registry.host(),
            config.display()
        )),
        "{text}"
    );
    assert!(text.contains("`private/app`"), "{text}");
    for secret in ["wrong-pass-0815", "right-pass-4711"] {
        assert!(
            !text.contains(secret) && !hints.contains(secret),
            "{text}\n{hints}"
        );
    }
    assert!(
        hints.contains(&format!("docker login {}", registry.host())),
        "{hints}"
    );
    assert_eq!(forge_core::exit::code_of(&err), 5);
}

#[test]
fn a_push_survives_connections_cut_mid_request() {
    if !require_tools(&[forge_tests::registry::REGISTRY_BIN]) {
        return;
    }
    let registry = Registry::start();
    // The first blob PUT is cut halfway through its body (the upload session is then spent and
    // must be restarted), and so are the first HEAD and the first manifest PUT.
    let proxy = FaultyProxy::start(
        registry.host(),
        &[
            ("PUT /v2/forge/app/blobs/", 1),
            ("HEAD /v2/", 1),
            ("PUT /v2/forge/app/manifests/", 1),
        ],
    );
    let http = HttpClient::new(
        RetryPolicy {
            attempts: 4,
            base: std::time::Duration::from_millis(20),
            cap: std::time::Duration::from_millis(100),
        },
        vec![],
    );
    let client = RegistryClient::new(http, proxy.host(), Credentials::none(), &Shell::plain())
        .unwrap_or_else(|e| panic!("{e:#}"));
    let img = image(6);
    let (outcomes, digest) = push(&client, "forge/app", &img, "1.0");
    assert_eq!(outcomes, [Outcome::Uploaded, Outcome::Uploaded]);
    assert_eq!(proxy.broken(), 3);
    assert!(client.http().retries() >= 2, "{}", client.http().retries());
    // A new upload session was started for the broken PUT: one more POST than blobs.
    let requests = registry.requests();
    let posts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(posts, 3, "{requests:#?}");
    // What the registry holds is intact.
    let direct = client_for_host(registry.host());
    let (bytes, _, got) = direct
        .get_manifest("forge/app", "1.0", &[OCI_MANIFEST], &Shell::plain())
        .unwrap();
    assert_eq!((bytes, got), (img.manifest.clone(), digest));
    let out = tempfile::tempdir().unwrap();
    direct
        .get_blob_to_file(
            "forge/app",
            &img.layer_digest,
            None,
            &out.path().join("l"),
            &Shell::plain(),
        )
        .unwrap();
}

fn client_for_host(host: &str) -> RegistryClient {
    RegistryClient::new(http(), host, Credentials::none(), &Shell::plain()).unwrap()
}

#[test]
fn skopeo_reads_what_we_pushed() {
    if !require_tools(&[forge_tests::registry::REGISTRY_BIN, "skopeo"]) {
        return;
    }
    let registry = Registry::start();
    let client = client(&registry, Credentials::none());
    let img = image(5);
    push(&client, "forge/app", &img, "1.2.3");
    let out = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/forge/app:1.2.3", registry.host()),
    ]));
    assert_success(&out, "skopeo inspect --raw");
    assert_eq!(out.stdout, img.manifest);
    let out = run(Command::new("skopeo").args([
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!(
            "docker://{}/forge/app@{}",
            registry.host(),
            digest_of(&img.manifest)
        ),
    ]));
    assert_success(&out, "skopeo inspect --config");
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["config"]["Env"][0], "SEED=5");
}
