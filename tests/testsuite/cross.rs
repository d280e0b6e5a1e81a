//! The `cross` backend for real: cross-rs 0.2.5 (installed by `cargo xtask setup`) running cargo
//! in a container of a test `dockerd`, from a local cross image named by the fixture's
//! `Cross.toml` (there is no registry to pull cross's own images from), with Debian's toolchain
//! (`--toolchain /usr`, linked for rustup as `usr`). The crate links a C library (zlib through
//! libz-sys), so the container's cross gcc, the target's libc and zlib dev packages and
//! pkg-config all take part; the result is packaged, its `$auto` depends resolved on the host,
//! and its binary run under qemu. Also the `auto` rules around cross, from the plan alone.

use std::path::Path;
use std::process::Command;

use forge_tests::docker::{cross_image, Docker};
use forge_tests::*;

const ARM64: &str = "aarch64-unknown-linux-gnu";

fn tools() -> bool {
    require_tools(&[
        "dockerd",
        "docker",
        "cross",
        "rustup",
        "mmdebstrap",
        "qemu-aarch64",
        "dpkg-shlibdeps",
        "/usr/bin/cargo",
        "/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib",
    ])
}

fn forge_deb(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.arg("forge-deb")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CROSS_CONTAINER_ENGINE")
        .env_remove("CROSS_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// The backend and command line of each build step of a dry run.
fn planned_steps(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec!["--dry-run", "--message-format", "json"];
    all.extend(args);
    let out = forge_deb(dir, &all, env);
    assert_success(&out, "forge-deb --dry-run");
    let doc = crate::json::document(&out, "cargo-forge/deb-plan/v1");
    doc["build"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let cmd = &s["command"];
            let mut line = vec![cmd["program"].as_str().unwrap().to_string()];
            line.extend(
                cmd["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string()),
            );
            (s["backend"].as_str().unwrap().to_string(), line.join(" "))
        })
        .collect()
}

fn ensure_usr_toolchain_linked() {
    // `cargo xtask setup` links it; a plain `cargo test` run may not have.
    let list = run(Command::new("rustup").args(["toolchain", "list"]));
    if !stdout(&list)
        .lines()
        .any(|l| l.split_whitespace().next() == Some("usr"))
    {
        assert_success(
            &run(Command::new("rustup").args(["toolchain", "link", "usr", "/usr"])),
            "rustup toolchain link usr /usr",
        );
    }
}

/// `Cross.toml` names a local image; `auto` picks cross because of it; cross builds the C-linked
/// fixture for arm64 in that image; forge-deb packages it with `$auto` depends on zlib; the
/// binary links libz dynamically and runs under qemu.
#[test]
fn cross_backend_packages_a_c_linked_crate_for_arm64() {
    if !tools() {
        return;
    }
    ensure_usr_toolchain_linked();
    let docker = Docker::start();
    let image = cross_image(&docker, ARM64);
    let fx = Fixture::copy("sys-linked");
    std::fs::write(
        fx.path().join("Cross.toml"),
        format!("[target.{ARM64}]\nimage = \"{image}\"\n"),
    )
    .unwrap();
    // The registry is mounted into the container, but the container has no network: fetch first.
    assert_success(
        &run(Command::new("/usr/bin/cargo")
            .args(["fetch", "--locked", "--target", ARM64])
            .current_dir(fx.path())),
        "cargo fetch",
    );
    let host = docker.host();
    let env = [("DOCKER_HOST", host.as_str())];
    let steps = planned_steps(fx.path(), &["--target", ARM64, "--toolchain", "/usr"], &env);
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(
        steps[0].0, "cross",
        "Cross.toml makes auto pick cross: {steps:?}"
    );
    assert!(steps[0].1.starts_with("cross build "), "{steps:?}");
    assert!(!steps[0].1.contains("--manifest-path"), "{steps:?}");

    let since = docker.ok(&["version", "--format", "{{.Server.Version}}"]);
    assert!(!since.is_empty());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let out = forge_deb(
        fx.path(),
        &["--target", ARM64, "--toolchain", "/usr", "-v"],
        &env,
    );
    assert_success(&out, "forge-deb through cross");
    let err = stderr(&out);
    assert!(err.contains(&format!("{ARM64} with cross")), "{err}");
    assert!(
        !err.contains("Falling back"),
        "cross fell back to the host: {err}"
    );
    // The build ran in a container of the Cross.toml image. (`--until` in the past: with a
    // future one, `docker events` waits for it.)
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let events = docker.ok(&[
        "events",
        "--since",
        &started,
        "--until",
        &now,
        "--filter",
        "event=start",
        "--format",
        "{{.From}}",
    ]);
    assert!(
        events.lines().any(|l| l == image),
        "no container of {image} started: {events}"
    );

    let debs = fx.debs();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let deb = &debs[0];
    assert!(
        deb.ends_with("forge-fixture-zlib_0.1.0-1_arm64.deb"),
        "{}",
        deb.display()
    );
    let control = deb_control(deb).unwrap();
    assert_eq!(control["Architecture"], "arm64");
    let depends = &control["Depends"];
    assert!(
        depends.contains("zlib1g (>="),
        "$auto found zlib: {depends}"
    );
    assert!(depends.contains("libc6 (>="), "{depends}");
    let scratch = tempfile::tempdir().unwrap();
    let binary = extract_to(deb, "usr/bin/forge-fixture-zlib", scratch.path()).unwrap();
    let elf = run(Command::new("readelf").args(["-h", "-d"]).arg(&binary));
    assert_success(&elf, "readelf");
    let elf = stdout(&elf);
    assert!(elf.contains("AArch64"), "{elf}");
    assert!(
        elf.contains("[libz.so.1]"),
        "linked dynamically against zlib: {elf}"
    );
    let ran = run(Command::new("qemu-aarch64")
        .arg("-L")
        .arg("/usr/aarch64-linux-gnu")
        .arg(&binary)
        .env("QEMU_LD_PREFIX", "/usr/aarch64-linux-gnu"));
    assert_success(&ran, "the arm64 binary under qemu");
    let text = stdout(&ran);
    assert!(text.starts_with("zlib 1."), "{text}");
    assert!(text.contains("round trip ok"), "{text}");
}

/// The `auto` rules around cross, from plans (nothing is built): without `Cross.toml`, cargo
/// (the cross gcc is installed); with it but no reachable engine, a warning and cargo; an
/// explicit `--backend cross` without an engine is a missing tool (exit 6) with a hint; a
/// toolchain directory rustup does not know is a usage error naming `rustup toolchain link`.
#[test]
fn auto_backend_rules_around_cross() {
    if !require_tools(&["cross", "aarch64-linux-gnu-gcc", "/usr/bin/cargo"]) {
        return;
    }
    let fx = Fixture::copy("sys-linked");
    let no_engine = [("DOCKER_HOST", "unix:///nonexistent/forge-test/docker.sock")];
    let steps = planned_steps(
        fx.path(),
        &["--target", ARM64, "--toolchain", "/usr"],
        &no_engine,
    );
    assert_eq!(steps[0].0, "cargo", "{steps:?}");

    std::fs::write(
        fx.path().join("Cross.toml"),
        format!("[target.{ARM64}]\nimage = \"local/cross:1\"\n"),
    )
    .unwrap();
    let out = forge_deb(
        fx.path(),
        &["--dry-run", "--target", ARM64, "--toolchain", "/usr"],
        &no_engine,
    );
    assert_success(&out, "dry run with Cross.toml and no engine");
    let err = stderr(&out);
    assert!(
        err.contains("Cross.toml") && err.contains("no container engine is reachable"),
        "{err}"
    );
    assert!(
        err.contains("Would run") && err.contains("cargo build"),
        "{err}"
    );

    let out = forge_deb(
        fx.path(),
        &[
            "--dry-run",
            "--backend",
            "cross",
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
        ],
        &no_engine,
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs a container engine"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));

    // A broken Cross.toml is reported before anything runs, naming the file.
    std::fs::write(fx.path().join("Cross.toml"), "[target.x\n").unwrap();
    let socket_dir = tempfile::tempdir().unwrap();
    let socket = socket_dir.path().join("docker.sock");
    std::fs::write(&socket, "").unwrap(); // present is all the plan looks at
    let engine = [("DOCKER_HOST", format!("unix://{}", socket.display()))];
    let engine: Vec<(&str, &str)> = engine.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = forge_deb(
        fx.path(),
        &[
            "--dry-run",
            "--backend",
            "cross",
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
        ],
        &engine,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid `") && stderr(&out).contains("Cross.toml"),
        "{}",
        stderr(&out)
    );

    // A toolchain rustup has no name for (here: a rustup home without the `usr` link).
    std::fs::remove_file(fx.path().join("Cross.toml")).unwrap();
    let empty_rustup = tempfile::tempdir().unwrap();
    let mut env = engine.clone();
    env.push(("RUSTUP_HOME", empty_rustup.path().to_str().unwrap()));
    let out = forge_deb(
        fx.path(),
        &[
            "--dry-run",
            "--backend",
            "cross",
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("needs a rustup toolchain called `usr`"),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: link it, without downloading anything: `rustup toolchain link usr /usr`"
        ),
        "{err}"
    );
}
