//! Reliability under faults: pushes through a seeded fault-injecting proxy complete at a 30 %
//! fault rate with verified content, and fail within a bounded time, with a clear error and
//! nothing tagged, at 100 %.

use std::process::Command;
use std::time::Instant;

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
    let started = Instant::now();
    let out = push(&fx, &through_proxy, &["--retries", "3"]);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
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
