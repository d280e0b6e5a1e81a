//! Untrusted registries (issue 13): a base image's registry may send anything. A hostile
//! registry ([`forge_tests::hostile`]) serves a gzip bomb, a config digest that is a path and a
//! layer that does not match its `diff_id`: each is refused with one clear error (exit 4, no
//! panic) and nothing is written. Redirects never leave loopback: blob downloads redirected to a
//! second loopback server (another port, so another origin) arrive there without the bearer
//! token, and a redirect to plain HTTP on a host that is not allowed is refused before any
//! connection.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use forge_tests::hostile::{digest, HostileRegistry};
use forge_tests::*;

const TOKEN: &str = "hostile-bearer-token-6f1e";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A gzipped layer of one file of `len` bytes of `byte`: (blob, diff_id).
fn layer(name: &str, byte: u8, len: u64) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_size(len);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, std::io::Read::take(std::io::repeat(byte), len))
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = digest(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// A gzip bomb: a tar of one file of `mib` MiB of zeros, as a multi-member gzip (one member
/// per MiB, each the same few hundred bytes: cheap to make), and a diff_id that does not matter
/// (the limit stops the reading first).
fn bomb(mib: u64) -> (Vec<u8>, String) {
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(mib << 20);
    h.set_mode(0o644);
    h.set_cksum();
    let mut out = gz(h.as_bytes());
    let mib_of_zeros = gz(&vec![0u8; 1 << 20]);
    for _ in 0..mib {
        out.extend(&mib_of_zeros);
    }
    out.extend(gz(&[0u8; 1024]));
    (out, format!("sha256:{}", "0".repeat(64)))
}

/// Serves an amd64 image `base:<tag>` of `layers` (blob, diff_id listed in the config), with
/// the config digest as given (`None`: the real one). Returns the reference.
fn serve_image(
    reg: &HostileRegistry,
    tag: &str,
    layers: &[(Vec<u8>, String)],
    config_digest: Option<&str>,
) -> String {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Env": ["PATH=/usr/bin:/bin"] },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.1.clone()).collect::<Vec<_>>() },
        "history": [],
    })
    .to_string()
    .into_bytes();
    let size = config.len();
    let real = reg.put_blob(config);
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|(blob, _)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": reg.put_blob(blob.clone()),
                "size": blob.len(),
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.unwrap_or(&real),
            "size": size,
        },
        "layers": descs,
    });
    reg.put_manifest(
        "hostile/base",
        tag,
        OCI_MANIFEST,
        manifest.to_string().into_bytes(),
    );
    format!("{}/hostile/base:{tag}", reg.host())
}

fn forge_image(fx: &Fixture, cache: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.arg("forge-image")
        .args(args)
        .current_dir(fx.path())
        .env("FORGE_BLOB_CACHE", cache)
        .env("NO_COLOR", "1");
    run(&mut cmd)
}

/// One refusal: exit code 4, one `error:` line saying `expected`, no panic, no output written.
#[track_caller]
fn assert_refused(out: &Output, expected: &[&str], output_dir: &Path) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    for e in expected {
        assert!(err.contains(e), "expected `{e}` in:\n{err}");
    }
    assert!(!output_dir.exists(), "{} was written", output_dir.display());
}

#[test]
fn a_hostile_registry_is_refused_cleanly() {
    let reg = HostileRegistry::start(TOKEN);
    let fx = Fixture::copy("cli-tool");
    let scratch = tempfile::tempdir().unwrap();
    let out_dir = scratch.path().join("layout");
    let output = format!("oci:{}", out_dir.display());

    // A sound base first (and the build, once): pulled, verified, written.
    let good = serve_image(&reg, "good", &[layer("etc/motd", b'x', 1000)], None);
    let cache = scratch.path().join("cache-good");
    let out = forge_image(&fx, &cache, &["--base", &good, "--output", &output]);
    assert_success(&out, "forge-image on a sound base");
    assert!(out_dir.join("index.json").is_file());
    std::fs::remove_dir_all(&out_dir).unwrap();

    // 1. A config digest that is a path: refused before any file or directory is created.
    let evil_dir = scratch.path().join("evil");
    let path_digest = format!("sha256:{}/x", evil_dir.display());
    let bad = serve_image(
        &reg,
        "path-digest",
        &[layer("etc/motd", b'x', 1000)],
        Some(&path_digest),
    );
    let cache = scratch.path().join("cache-path");
    let out = forge_image(
        &fx,
        &cache,
        &["--no-build", "--base", &bad, "--output", &output],
    );
    assert_refused(
        &out,
        &[
            "is refused",
            "its config has the digest",
            "not `sha256:` and 64 lowercase hex",
        ],
        &out_dir,
    );
    assert!(!evil_dir.exists(), "the digest's path was created");
    assert!(!cache.exists(), "the blob cache was touched");

    // 2. A layer whose content does not match the config's diff_id.
    let (blob, _) = layer("etc/motd", b'x', 1000);
    let (_, other_diff) = layer("etc/motd", b'y', 1000);
    let bad = serve_image(&reg, "diff-id", &[(blob, other_diff.clone())], None);
    let cache = scratch.path().join("cache-diff");
    let out = forge_image(
        &fx,
        &cache,
        &["--no-build", "--base", &bad, "--output", &output],
    );
    assert_refused(
        &out,
        &[
            "does not match its diff_id",
            &format!("the config says {other_diff}"),
        ],
        &out_dir,
    );

    // 3. A gzip bomb: 1 GiB of zeros in a layer of about 1 MiB, against a 16 MiB limit.
    let bomb = bomb(1024);
    assert!(bomb.0.len() < 2 << 20, "{}", bomb.0.len());
    let bad = serve_image(&reg, "bomb", &[bomb], None);
    fx.edit_manifest(
        "[package.metadata.deb]",
        "[package.metadata.forge.image.limits]\nmax-layer-size = \"16 MiB\"\n\n[package.metadata.deb]",
    );
    let cache = scratch.path().join("cache-bomb");
    let out = forge_image(
        &fx,
        &cache,
        &["--no-build", "--base", &bad, "--output", &output],
    );
    assert_refused(
        &out,
        &[
            "inflated is larger than 16 MiB, the limit `package.metadata.forge.image.limits.max-layer-size`",
            "hint: if you trust this image, raise `max-layer-size`",
        ],
        &out_dir,
    );
}

#[test]
fn redirects_keep_the_token_within_its_origin() {
    let reg = HostileRegistry::start(TOKEN);
    // The storage server: loopback too, but another port, so another origin.
    let storage = HostileRegistry::storage();
    let fx = Fixture::copy("cli-tool");
    let scratch = tempfile::tempdir().unwrap();
    let image = serve_image(&reg, "1", &[layer("etc/motd", b'z', 4000)], None);
    // The storage server holds the same blobs.
    for (_, bytes) in reg.blobs() {
        storage.put_blob(bytes);
    }
    reg.redirect_blobs_to(&storage.url());

    let output = format!("oci:{}", scratch.path().join("layout").display());
    let out = forge_image(
        &fx,
        &scratch.path().join("cache"),
        &["--base", &image, "--output", &output, "-vv"],
    );
    assert_success(&out, "forge-image with blobs redirected to another origin");
    assert!(
        stderr(&out).contains("-> 307 Temporary Redirect, redirected to"),
        "{}",
        stderr(&out)
    );
    let at_registry = reg.requests();
    assert!(
        at_registry.iter().any(|r| r.path.contains("/blobs/")
            && r.status == 307
            && r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))),
        "{at_registry:#?}"
    );
    let at_storage = storage.requests();
    assert_eq!(at_storage.len(), 2, "config and layer: {at_storage:#?}");
    for r in &at_storage {
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.authorization, None,
            "the token reached another origin: {r:?}"
        );
    }
    assert!(!stderr(&out).contains(TOKEN), "{}", stderr(&out));

    // A redirect to plain HTTP on a host that is neither loopback nor allowed: refused before
    // any connection (the name does not even need to resolve).
    reg.redirect_blobs_to("http://blob-storage.invalid:8080");
    let out = forge_image(
        &fx,
        &scratch.path().join("cache-2"),
        &["--no-build", "--base", &image, "--output", &output],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("was redirected to http://blob-storage.invalid:8080/storage/")
            && err.contains("refusing plain http to `blob-storage.invalid:8080`"),
        "{err}"
    );
    assert_eq!(
        storage.requests().len(),
        2,
        "nothing more reached the storage server"
    );
}
