//! `cargo forge-image` end to end, against Debian's docker-registry on loopback: multi-platform
//! push, images that run (chroot for amd64, qemu for arm64), scratch and from-deb images,
//! re-push uploading nothing, push-by-digest + merge, tag rules, auth, Docker format,
//! reproducible digests.

use std::path::{Path, PathBuf};
use std::process::Command;

use forge_tests::registry::Registry;
use forge_tests::*;

fn tools() -> bool {
    require_tools(&[
        "docker-registry",
        "skopeo",
        "umoci",
        "qemu-aarch64",
        "/usr/bin/cargo",
        "aarch64-linux-gnu-gcc",
        "readelf",
    ])
}

fn forge_image(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.arg("forge-image")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn raw_manifest(reference: &str) -> serde_json::Value {
    let out = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{reference}")));
    assert_success(&out, &format!("skopeo inspect --raw {reference}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn config_of(reference: &str, arch: &str) -> serde_json::Value {
    // `--raw`: the config blob as pushed (without it skopeo converts Docker configs to OCI).
    let out = run(Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--config",
            "--raw",
            "--override-arch",
            arch,
        ])
        .arg(format!("docker://{reference}")));
    assert_success(&out, "skopeo inspect --config");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Copies one platform of an image to an OCI layout and unpacks it; returns the rootfs.
pub(crate) fn unpack(reference: &str, arch: &str, dir: &Path) -> PathBuf {
    let layout = dir.join(format!("layout-{arch}"));
    let out = run(Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--override-arch",
            arch,
        ])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:img", layout.display())));
    assert_success(&out, "skopeo copy");
    let bundle = dir.join(format!("bundle-{arch}"));
    let out = run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:img", layout.display()))
        .arg(&bundle));
    assert_success(&out, "umoci unpack");
    bundle.join("rootfs")
}

/// Runs `binary --version` inside an unpacked rootfs.
pub(crate) fn run_in_rootfs(rootfs: &Path, binary: &str, arch: &str) -> String {
    let out = if arch == "amd64" {
        run(Command::new("chroot")
            .arg(rootfs)
            .arg(binary)
            .arg("--version"))
    } else {
        run(Command::new("qemu-aarch64")
            .arg("-L")
            .arg(rootfs)
            .arg(rootfs.join(binary.trim_start_matches('/')))
            .arg("--version"))
    };
    assert_success(&out, &format!("{binary} --version in the {arch} image"));
    stdout(&out)
}

/// A two-platform scratch image: the index lists both platforms, each runs and prints its
/// version; pushing again uploads no blob; the same SOURCE_DATE_EPOCH gives the same digest.
#[test]
fn two_platform_scratch_image_runs_and_repushes_nothing() {
    if !tools() {
        return;
    }
    let reg = Registry::start();
    let fx = Fixture::copy("cli-tool");
    let reference = format!("{}/fixtures/cli:0.1.0", reg.host());
    let out = forge_image(
        fx.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "--toolchain",
            "/usr",
            "--tag",
            &reference,
            "--push",
        ],
        &[],
    );
    assert_success(&out, "forge-image --push");
    let pushed = stdout(&out);
    assert!(
        pushed.trim().starts_with(&format!("{reference}@sha256:")),
        "{pushed}"
    );
    let index = raw_manifest(&reference);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    assert_eq!(
        index["annotations"]["org.opencontainers.image.version"],
        "0.1.0"
    );
    let scratch = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let rootfs = unpack(&reference, arch, scratch.path());
        let v = run_in_rootfs(&rootfs, "/usr/local/bin/forge-fixture-cli", arch);
        assert_eq!(v.trim(), "forge-fixture-cli 0.1.0");
        let cfg = config_of(&reference, arch);
        assert_eq!(cfg["config"]["User"], "65532", "non-root by default");
        assert_eq!(
            cfg["config"]["Entrypoint"][0],
            "/usr/local/bin/forge-fixture-cli"
        );
    }

    // Again: nothing uploaded, same digest.
    let mark = reg.mark();
    let out = forge_image(
        fx.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "--toolchain",
            "/usr",
            "--tag",
            &reference,
            "--push",
        ],
        &[],
    );
    assert_success(&out, "second push");
    assert_eq!(
        stdout(&out),
        pushed,
        "same inputs and SOURCE_DATE_EPOCH, same digest"
    );
    let uploads: Vec<_> = reg
        .requests_since(mark)
        .into_iter()
        .filter(|r| {
            r.is_blob_upload()
                || r.method == "PATCH"
                || (r.method == "POST" && r.path.contains("/blobs/uploads"))
        })
        .collect();
    assert!(
        uploads.is_empty(),
        "the re-push uploaded blobs: {uploads:?}"
    );
}

/// Version 1.2.3 gets 1.2.3, 1.2, 1 and latest; 1.3.0-rc.1 only its own tag.
#[test]
fn semver_tag_rules() {
    if !tools() {
        return;
    }
    let reg = Registry::start();
    let fx = Fixture::copy("two-bins-workspace");
    let repo = format!("{}/fixtures/alpha", reg.host());
    let out = forge_image(
        fx.path(),
        &["-p", "forge-fixture-alpha", "--repository", &repo, "--push"],
        &[],
    );
    assert_success(&out, "push 1.2.3");
    let tags = |host: &str| -> Vec<String> {
        let out = run(Command::new("skopeo")
            .args(["list-tags", "--tls-verify=false"])
            .arg(format!("docker://{host}")));
        assert_success(&out, "skopeo list-tags");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut t: Vec<String> = v["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(tags(&repo), ["1", "1.2", "1.2.3", "latest"]);
    fx.edit_manifest_at(
        "alpha/Cargo.toml",
        "version = \"1.2.3\"",
        "version = \"1.3.0-rc.1\"",
    );
    let out = forge_image(
        fx.path(),
        &["-p", "forge-fixture-alpha", "--repository", &repo, "--push"],
        &[],
    );
    assert_success(&out, "push 1.3.0-rc.1");
    assert_eq!(
        tags(&repo),
        ["1", "1.2", "1.2.3", "1.3.0-rc.1", "latest"],
        "a pre-release moves no tag"
    );
    let latest = raw_manifest(&format!("{repo}:latest"));
    assert_eq!(
        latest["annotations"]["org.opencontainers.image.version"],
        "1.2.3"
    );
}

/// Two `--push-by-digest` runs (one per platform, as CI jobs) and `merge` give the same index
/// as a one-shot push.
#[test]
fn push_by_digest_and_merge_equal_one_shot() {
    if !tools() {
        return;
    }
    let reg = Registry::start();
    let fx = Fixture::copy("cli-tool");
    let repo = format!("{}/fixtures/fanout", reg.host());
    let one_shot = format!("{repo}:oneshot");
    assert_success(
        &forge_image(
            fx.path(),
            &[
                "--platform",
                "linux/amd64,linux/arm64",
                "--toolchain",
                "/usr",
                "--tag",
                &one_shot,
                "--push",
            ],
            &[],
        ),
        "one-shot",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (platform, name) in [
        ("linux/arm64", "arm64.digest"),
        ("linux/amd64", "amd64.digest"),
    ] {
        let f = dir.path().join(name);
        let out = forge_image(
            fx.path(),
            &[
                "--platform",
                platform,
                "--toolchain",
                "/usr",
                "--repository",
                &repo,
                "--push-by-digest",
                "--digest-file",
                f.to_str().unwrap(),
            ],
            &[],
        );
        assert_success(&out, &format!("push-by-digest {platform}"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        for key in ["digest", "size", "mediaType", "platform", "repository"] {
            assert!(v.get(key).is_some(), "digest file lacks {key}: {v}");
        }
        files.push(f);
    }
    let merged = format!("{repo}:merged");
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.args([
        "forge-image",
        "merge",
        "--tag",
        &merged,
        "--message-format",
        "json",
    ])
    .args(&files);
    let out = run(&mut cmd);
    assert_success(&out, "merge");
    let doc = crate::json::document(&out, "cargo-forge/image-merge/v1");
    assert_eq!(
        doc["pushed"][0].as_str().unwrap(),
        format!("{merged}@{}", doc["digest"].as_str().unwrap()),
        "{doc}"
    );
    let a = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{one_shot}")));
    let b = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{merged}")));
    assert_eq!(
        stdout(&a),
        stdout(&b),
        "merged index differs from the one-shot index"
    );
}

/// `from-deb`: the image holds the package's files and its binary runs; `--format docker` with
/// a healthcheck gives Docker media types and keeps the healthcheck.
#[test]
fn from_deb_docker_format_with_healthcheck() {
    if !tools() || !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let reg = Registry::start();
    let fx = Fixture::copy("cli-tool");
    fx.edit_manifest(
        "[package.metadata.deb]",
        "[package.metadata.forge.image]\nfrom-deb = true\nhealthcheck = { test = [\"CMD\", \"/usr/bin/forge-fixture-cli\", \"--version\"], interval = \"30s\", retries = 3 }\n\n[package.metadata.deb]",
    );
    let reference = format!("{}/fixtures/fromdeb:1", reg.host());
    let out = forge_image(
        fx.path(),
        &[
            "--platform",
            "linux/arm64",
            "--toolchain",
            "/usr",
            "--tag",
            &reference,
            "--push",
            "--format",
            "docker",
        ],
        &[],
    );
    assert_success(&out, "from-deb push");
    let m = raw_manifest(&reference);
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert!(m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"));
    let cfg = config_of(&reference, "arm64");
    assert_eq!(
        cfg["config"]["Healthcheck"]["Test"][1],
        "/usr/bin/forge-fixture-cli"
    );
    assert_eq!(cfg["config"]["Healthcheck"]["Interval"], 30_000_000_000u64);
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = unpack(&reference, "arm64", scratch.path());
    for f in [
        "usr/share/doc/forge-fixture-cli/copyright",
        "etc/forge-fixture-cli/config.toml",
        "usr/lib/systemd/system/forge-fixture-cli.service",
    ] {
        assert!(
            rootfs.join(f).is_file(),
            "{f} missing from the from-deb image"
        );
    }
    assert_eq!(
        run_in_rootfs(&rootfs, "/usr/bin/forge-fixture-cli", "arm64").trim(),
        "forge-fixture-cli 0.1.0"
    );
}

/// htpasswd registry: credentials from a docker config.json via DOCKER_CONFIG work; wrong
/// ones give a clear error naming the registry, without the password.
#[test]
fn registry_auth_from_docker_config() {
    if !tools() {
        return;
    }
    let reg = Registry::start_with_htpasswd("forge", "s3cret-sentinel-pass");
    let fx = Fixture::copy("cli-tool");
    let reference = format!("{}/private/cli:0.1.0", reg.host());
    let good = tempfile::tempdir().unwrap();
    reg.write_docker_config(good.path(), "forge", "s3cret-sentinel-pass");
    let out = forge_image(
        fx.path(),
        &["--tag", &reference, "--push", "-vv"],
        &[("DOCKER_CONFIG", good.path().to_str().unwrap())],
    );
    assert_success(&out, "push with credentials");
    assert!(
        !stderr(&out).contains("s3cret-sentinel-pass")
            && !stdout(&out).contains("s3cret-sentinel-pass")
    );
    let bad = tempfile::tempdir().unwrap();
    reg.write_docker_config(bad.path(), "forge", "wrong-sentinel-pass");
    let out = forge_image(
        fx.path(),
        &["--tag", &reference, "--push", "-vv"],
        &[("DOCKER_CONFIG", bad.path().to_str().unwrap())],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(reg.host()) && err.to_lowercase().contains("authentication"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-sentinel-pass") && !stdout(&out).contains("wrong-sentinel-pass"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

/// Local outputs: an OCI layout umoci can unpack, and a docker archive with the right shape.
#[test]
fn oci_layout_and_docker_archive_outputs() {
    if !tools() {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let archive = dir.path().join("img.tar");
    let out = forge_image(
        fx.path(),
        &[
            "--output",
            &format!("oci:{}", layout.display()),
            "--output",
            &format!("docker-archive:{}", archive.display()),
            "--message-format",
            "json",
        ],
        &[],
    );
    assert_success(&out, "local outputs");
    // One level: the image's summary, the outputs, nothing pushed, no VM.
    let doc = crate::json::document(&out, "cargo-forge/image/v1");
    assert!(
        doc["image"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{doc}"
    );
    assert!(doc["image"]["media_type"].is_string(), "{doc}");
    assert_eq!(doc["outputs"][0]["kind"], "oci", "{doc}");
    assert_eq!(doc["outputs"][1]["kind"], "docker-archive", "{doc}");
    assert_eq!(doc["pushed"], serde_json::json!([]), "{doc}");
    let bundle = dir.path().join("bundle");
    assert_success(
        &run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:0.1.0", layout.display()))
            .arg(&bundle)),
        "umoci unpack",
    );
    assert_eq!(
        run_in_rootfs(
            &bundle.join("rootfs"),
            "/usr/local/bin/forge-fixture-cli",
            "amd64"
        )
        .trim(),
        "forge-fixture-cli 0.1.0"
    );
    let entries = tar_entries(&std::fs::read(&archive).unwrap()).unwrap();
    let manifest = entries
        .iter()
        .find(|e| e.path == "manifest.json")
        .expect("manifest.json");
    let m: serde_json::Value = serde_json::from_slice(&manifest.data).unwrap();
    for layer in m[0]["Layers"].as_array().unwrap() {
        assert!(
            entries.iter().any(|e| e.path == layer.as_str().unwrap()),
            "missing layer {layer}"
        );
    }
    assert!(entries
        .iter()
        .any(|e| e.path == m[0]["Config"].as_str().unwrap()));
}

/// Bad input stops before any push, with exit code 2.
#[test]
fn bad_image_input() {
    let fx = Fixture::copy("cli-tool");
    for (args, words) in [
        (
            &["--tag", "Not A Reference", "--push"][..],
            &["invalid image reference"][..],
        ),
        (
            &["--platform", "linux/sparc9"][..],
            &["unknown platform `linux/sparc9`"][..],
        ),
        (&["--push"][..], &["needs somewhere to push"][..]),
        (&["--output", "tarball:x"][..], &["oci:DIR"][..]),
    ] {
        let out = forge_image(fx.path(), args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: {err}");
        }
    }
    fx.edit_manifest("[package.metadata.deb]", "[package.metadata.forge.image]\ntags = [\"{{versoin}}\"]\nrepository = \"127.0.0.1:1/x\"\n\n[package.metadata.deb]");
    let out = forge_image(fx.path(), &["--push"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown placeholder"),
        "{}",
        stderr(&out)
    );
}

/// A base image from the registry: its layers come first, are mounted (not uploaded) into the
/// new repository, its digest is recorded, and the result runs on both platforms.
#[test]
fn base_image_layers_are_reused_by_mount() {
    if !tools() {
        return;
    }
    let reg = Registry::start();
    let base = format!("{}/bases/runtime:1", reg.host());
    let fx = Fixture::copy("cli-tool");
    assert_success(
        &forge_image(
            fx.path(),
            &[
                "--platform",
                "linux/amd64,linux/arm64",
                "--toolchain",
                "/usr",
                "--tag",
                &base,
                "--push",
            ],
            &[],
        ),
        "base push",
    );
    let cache = tempfile::tempdir().unwrap();
    let app = Fixture::copy("two-bins-workspace");
    let reference = format!("{}/apps/alpha:1.2.3", reg.host());
    let out = forge_image(
        app.path(),
        &[
            "-p",
            "forge-fixture-alpha",
            "--platform",
            "linux/amd64,linux/arm64",
            "--toolchain",
            "/usr",
            "--base",
            &base,
            "--tag",
            &reference,
            "--push",
        ],
        &[("FORGE_BLOB_CACHE", cache.path().to_str().unwrap())],
    );
    assert_success(&out, "push on a base");
    assert!(
        stderr(&out).contains("4 mounted"),
        "base layers should be mounted: {}",
        stderr(&out)
    );
    let index = raw_manifest(&reference);
    assert_eq!(
        index["annotations"]["org.opencontainers.image.base.name"],
        base.as_str()
    );
    assert!(index["annotations"]["org.opencontainers.image.base.digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let per_platform = raw_manifest(&format!(
        "{}/apps/alpha@{}",
        reg.host(),
        index["manifests"][1]["digest"].as_str().unwrap()
    ));
    assert_eq!(
        per_platform["layers"].as_array().unwrap().len(),
        3,
        "two base layers and the app layer"
    );
    let scratch = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let rootfs = unpack(&reference, arch, scratch.path());
        assert_eq!(
            run_in_rootfs(&rootfs, "/usr/local/bin/forge-fixture-alpha", arch).trim(),
            "forge-fixture-alpha 1.2.3"
        );
        assert!(
            rootfs.join("usr/local/bin/forge-fixture-cli").is_file(),
            "the base's files are there too"
        );
    }
    // The base was cached by digest: a second build downloads nothing from the registry.
    let mark = reg.mark();
    assert_success(
        &forge_image(
            app.path(),
            &[
                "-p",
                "forge-fixture-alpha",
                "--platform",
                "linux/amd64,linux/arm64",
                "--toolchain",
                "/usr",
                "--base",
                &base,
                "--output",
                &format!("oci:{}", scratch.path().join("o").display()),
            ],
            &[("FORGE_BLOB_CACHE", cache.path().to_str().unwrap())],
        ),
        "cached base",
    );
    let blob_gets = reg
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
        .count();
    assert_eq!(blob_gets, 0, "base blobs must come from the cache");
}
