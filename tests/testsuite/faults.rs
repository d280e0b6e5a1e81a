//! Reliability under faults: pushes through a seeded fault-injecting proxy complete at a 30 %
//! fault rate with verified content, and fail within a bounded time, with a clear error and
//! nothing tagged, at 100 %.

use std::process::Command;

use forge_tests::faults::FaultProxy;
use forge_tests::registry::Registry;
use forge_tests::*;

fn push(fx: &Fixture, reference: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.args([
        "forge-image",
        "--platform",
        "linux/amd64,linux/arm64",
        "--toolchain",
        "/usr",
        "--tag",
        reference,
        "--push",
    ])
    .args(extra)
    .current_dir(fx.path())
    .env("NO_COLOR", "1")
    .env("SOURCE_DATE_EPOCH", "1700000000");
    run(&mut cmd)
}

#[test]
fn image_push_survives_30_percent_faults() {
    if !require_tools(&[
        "docker-registry",
        "skopeo",
        "/usr/bin/cargo",
        "aarch64-linux-gnu-gcc",
    ]) {
        return;
    }
    let reg = Registry::start();
    let proxy = FaultProxy::start(reg.host(), 0.3, 42);
    let fx = Fixture::copy("cli-tool");
    let through_proxy = format!("{}/faults/cli:0.1.0", proxy.host());
    let out = push(&fx, &through_proxy, &[]);
    assert_success(&out, "push at 30 % faults");
    assert!(
        proxy.faults() >= 3,
        "too few faults injected to mean anything: {}",
        proxy.faults()
    );
    let pushed = stdout(&out);
    let digest = pushed.trim().rsplit('@').next().unwrap().to_string();
    // Read back from the registry directly: the index has our digest, and every platform copies
    // (skopeo verifies every blob's digest).
    let direct = format!("docker://{}/faults/cli:0.1.0", reg.host());
    let raw = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(&direct));
    assert_success(&raw, "inspect");
    assert_eq!(
        format!("sha256:{}", forge_core::digest::sha256_hex(&raw.stdout)),
        digest
    );
    let scratch = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let out = run(Command::new("skopeo")
            .args([
                "copy",
                "-q",
                "--src-tls-verify=false",
                "--override-arch",
                arch,
            ])
            .arg(&direct)
            .arg(format!("oci:{}:{arch}", scratch.path().join("l").display())));
        assert_success(&out, &format!("copy {arch}: every blob verified"));
    }
    // Retries stayed within the policy: no request was tried more than 6 times in a row.
    let seen = proxy.seen();
    let mut run_len = 1;
    for w in seen.windows(2) {
        if w[0].method == w[1].method
            && w[0].path.split('?').next() == w[1].path.split('?').next()
            && w[0].fault.is_some()
        {
            run_len += 1;
            assert!(
                run_len <= 6,
                "more than 6 attempts of {} {}",
                w[1].method,
                w[1].path
            );
        } else {
            run_len = 1;
        }
    }
}

#[test]
fn image_push_fails_cleanly_at_100_percent_faults() {
    if !require_tools(&[
        "docker-registry",
        "skopeo",
        "/usr/bin/cargo",
        "aarch64-linux-gnu-gcc",
    ]) {
        return;
    }
    let reg = Registry::start();
    let proxy = FaultProxy::start(reg.host(), 1.0, 7);
    proxy.set_kinds(&[
        forge_tests::faults::Fault::Reset,
        forge_tests::faults::Fault::Status503,
    ]);
    let fx = Fixture::copy("cli-tool");
    let through_proxy = format!("{}/faults/cli:0.1.0", proxy.host());
    let out = push(&fx, &through_proxy, &["--retries", "3"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(proxy.host()),
        "the error names the registry: {err}"
    );
    assert!(err.contains("attempt"), "the error says it retried: {err}");
    assert!(!err.contains("panicked"));
    // Exactly the configured attempts of the first request, and nothing tagged.
    assert_eq!(proxy.count("GET", "/v2/"), 3, "{:?}", proxy.seen());
    let tags = run(Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{}/faults/cli", reg.host())));
    assert!(
        !tags.status.success() || !stdout(&tags).contains("0.1.0"),
        "{}",
        stdout(&tags)
    );
}

/// A release to GitHub (the emulator) and S3 (SeaweedFS), each behind the fault proxy at 30 %:
/// it completes, every asset arrives intact, GitHub received each asset once.
#[test]
fn release_to_github_and_s3_survives_30_percent_faults() {
    if !require_tools(&["git", "gpg", "dpkg-shlibdeps"]) || !forge_tests::s3::require_weed() {
        return;
    }
    let s3 = forge_tests::s3::SeaweedS3::start();
    let s3_proxy = FaultProxy::start(&s3.host(), 0.3, 11);
    // Slow answers would only make the test long: the other kinds are enough here.
    use forge_tests::faults::Fault;
    s3_proxy.set_kinds(&[
        Fault::Reset,
        Fault::Status500,
        Fault::Status502,
        Fault::Status503,
        Fault::TooMany,
        Fault::Truncate,
    ]);
    let gh = forge_tests::github::Emulator::github("acme/cli", "gh-token-for-tests");
    let gh_proxy = FaultProxy::start(gh.url().trim_start_matches("http://"), 0.3, 23);
    gh_proxy.set_kinds(&[
        Fault::Reset,
        Fault::Status500,
        Fault::Status502,
        Fault::Status503,
        Fault::TooMany,
        Fault::Truncate,
    ]);
    gh.advertise(&format!("http://{}", gh_proxy.host()));
    let repo = crate::release::ReleaseRepo::new(&format!(
        "artifacts = [\"archive\", \"deb\"]\nhosts = [{{ kind = \"github\", repo = \"acme/cli\" }}, {{ kind = \"s3\", bucket = \"{}\", prefix = \"cli\", endpoint = \"http://{}\" }}]",
        forge_tests::s3::BUCKET,
        s3_proxy.host()
    ));
    let env = [
        ("AWS_ACCESS_KEY_ID", forge_tests::s3::ACCESS_KEY.to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            forge_tests::s3::SECRET_KEY.to_string(),
        ),
        ("GITHUB_API_URL", format!("http://{}", gh_proxy.host())),
        ("GITHUB_TOKEN", "gh-token-for-tests".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = repo.release(&["v0.1.0", "--yes", "--retries", "10"], &env);
    assert_success(&out, "release through faults");
    assert!(
        gh_proxy.faults() > 0 && s3_proxy.faults() > 0,
        "faults injected: github {}, s3 {}",
        gh_proxy.faults(),
        s3_proxy.faults()
    );
    let staged: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            repo.path()
                .join("target/forge/release/forge-fixture-cli/0.1.0/staging/staged.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let releases = gh.releases();
    assert_eq!(releases.len(), 1);
    assert!(!releases[0].draft);
    for a in staged["assets"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap();
        let bytes = std::fs::read(a["path"].as_str().unwrap()).unwrap();
        let on_gh = releases[0]
            .assets
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("{name} missing on GitHub"));
        assert_eq!(on_gh.bytes, bytes, "{name} corrupted on GitHub");
        assert_eq!(
            s3.get(&format!("cli/v0.1.0/{name}"))
                .unwrap_or_else(|| panic!("{name} missing on S3")),
            bytes,
            "{name} corrupted on S3"
        );
    }
    for (name, count) in gh.successful_uploads() {
        assert_eq!(count, 1, "{name} stored {count} times");
    }
    assert!(String::from_utf8(s3.get("cli/latest.json").unwrap())
        .unwrap()
        .contains("v0.1.0"));
}
