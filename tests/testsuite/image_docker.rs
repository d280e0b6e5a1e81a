//! `cargo forge-image` images under a real container engine (Docker 20.10, a `dockerd` per test):
//! every platform pulled from the loopback registry and run with `docker run` (arm64 through
//! binfmt qemu-user), with what a runtime does with the image config checked from inside the
//! container: the user (non-root by default), the environment, the working directory, the
//! entrypoint and its arguments, a published port, a health check turning `healthy`; and
//! `docker load` of `--output docker-archive:`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use forge_tests::docker::Docker;
use forge_tests::registry::Registry;
use forge_tests::*;

const PLATFORMS: &[(&str, &str, &str)] = &[
    ("linux/amd64", "amd64", "x86_64"),
    ("linux/arm64", "arm64", "aarch64"),
];

fn tools() -> bool {
    require_tools(&[
        "dockerd",
        "docker",
        "docker-proxy",
        "docker-registry",
        "qemu-aarch64",
        "/usr/bin/cargo",
        "aarch64-linux-gnu-gcc",
        "/proc/sys/fs/binfmt_misc/qemu-aarch64",
    ])
}

fn forge_image(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.arg("forge-image")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    run(&mut cmd)
}

/// `GET path` on `addr`; the status line and the body.
fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// Retries `GET /` until the service answers (docker-proxy accepts before the app listens).
fn wait_for_answer(addr: &str, path: &str) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = std::panic::catch_unwind(|| http_get(addr, path));
        match attempt {
            Ok((status, body)) if !status.is_empty() => return (status, body),
            _ if std::time::Instant::now() > deadline => {
                panic!("nothing answered on {addr}{path} within 60 s")
            }
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn field<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no `{key}` in the service's report:\n{report}"))
}

/// The service fixture on both platforms: pulled from the registry, its config as Docker reads
/// it, then run: non-root, env, workdir (holding the asset), entrypoint + cmd, the published
/// port answering, and the health check turning `healthy`.
#[test]
fn service_image_runs_under_docker_on_every_platform() {
    if !tools() {
        return;
    }
    let reg = Registry::start();
    let docker = Docker::start();
    let fx = Fixture::copy("web-service");
    let reference = format!("{}/fixtures/web:0.3.0", reg.host());
    let out = forge_image(
        fx.path(),
        &["--toolchain", "/usr", "--tag", &reference, "--push"],
    );
    assert_success(&out, "forge-image --push of the service");
    for (platform, arch, uname) in PLATFORMS {
        docker.ok(&["pull", "--quiet", "--platform", platform, &reference]);
        let image = docker.inspect(&reference);
        assert_eq!(image["Architecture"], *arch, "{platform}: {image:#}");
        assert_eq!(image["Os"], "linux");
        let config = &image["Config"];
        assert_eq!(config["User"], "65532", "non-root by default");
        assert_eq!(config["WorkingDir"], "/srv/web");
        assert_eq!(
            config["Entrypoint"],
            serde_json::json!(["/usr/local/bin/forge-fixture-web"])
        );
        assert_eq!(
            config["Cmd"],
            serde_json::json!(["serve", "--listen", "0.0.0.0:8080"])
        );
        assert!(
            config["ExposedPorts"].get("8080/tcp").is_some(),
            "{config:#}"
        );
        let env: Vec<&str> = config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(env.contains(&"GREETING=hello from forge"), "{env:?}");
        assert_eq!(config["Healthcheck"]["Test"][0], "CMD");

        let name = format!("web-{arch}");
        docker.ok(&[
            "run",
            "--detach",
            "--name",
            &name,
            "--platform",
            platform,
            "--network",
            docker.network(),
            "--publish",
            "127.0.0.1::8080",
            &reference,
        ]);
        let addr = docker.published(&name, "8080/tcp");
        let (status, report) = wait_for_answer(&addr, "/");
        assert!(status.contains("200"), "{status}\n{report}");
        assert_eq!(field(&report, "uid"), "65532", "{platform}: {report}");
        assert_eq!(field(&report, "cwd"), "/srv/web");
        assert_eq!(field(&report, "greeting"), "hello from forge");
        assert_eq!(field(&report, "arch"), *uname);
        assert_eq!(
            field(&report, "args"),
            "/usr/local/bin/forge-fixture-web serve --listen 0.0.0.0:8080"
        );
        let (status, file) = http_get(&addr, "/file/hello.txt");
        assert!(status.contains("200"), "{status}: {file}");
        assert_eq!(file, "served from the working directory\n");
        let health = docker.wait_healthy(&name, Duration::from_secs(120));
        assert_eq!(health["Log"][0]["ExitCode"], 0, "{health:#}");
        // What runs is what the platform says: the container's process is the arm64 binary
        // under qemu for arm64 (the report's `arch` above), the native one for amd64.
        docker.ok(&["rm", "--force", &name]);
    }
}

/// The scratch image of `cli-tool` on both platforms: `docker run` prints the version, as
/// user 65532, and `--entrypoint`/arguments work as Docker users expect.
#[test]
fn scratch_images_run_under_docker_on_every_platform() {
    if !tools() {
        return;
    }
    let reg = Registry::start();
    let docker = Docker::start();
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
    );
    assert_success(&out, "forge-image --push");
    for (platform, arch, _) in PLATFORMS {
        docker.ok(&["pull", "--quiet", "--platform", platform, &reference]);
        assert_eq!(docker.inspect(&reference)["Architecture"], *arch);
        let version = docker.ok(&[
            "run",
            "--rm",
            "--platform",
            platform,
            &reference,
            "--version",
        ]);
        assert_eq!(version, "forge-fixture-cli 0.1.0", "{platform}");
        // A created container carries the image's user and entrypoint; its arguments replace
        // the (empty) Cmd. (The service test reads the user from inside a running container.)
        let name = format!("cli-{arch}");
        docker.ok(&[
            "create",
            "--name",
            &name,
            "--platform",
            platform,
            &reference,
            "--help",
        ]);
        let config = docker.inspect(&name)["Config"].clone();
        assert_eq!(config["User"], "65532");
        assert_eq!(config["Entrypoint"][0], "/usr/local/bin/forge-fixture-cli");
        docker.ok(&["start", "--attach", &name]);
        let state = docker.inspect(&name)["State"].clone();
        assert_eq!(state["ExitCode"], 0, "{state:#}");
        docker.ok(&["rm", &name]);
    }
}

/// `--output docker-archive:FILE` (one platform per archive) is accepted by `docker load`, and
/// the loaded image runs, for amd64 and arm64.
#[test]
fn docker_load_accepts_docker_archives() {
    if !tools() {
        return;
    }
    let docker = Docker::start();
    let fx = Fixture::copy("cli-tool");
    let dir = tempfile::tempdir().unwrap();
    for (platform, arch, _) in PLATFORMS {
        let archive = dir.path().join(format!("cli-{arch}.tar"));
        let out = forge_image(
            fx.path(),
            &[
                "--platform",
                platform,
                "--toolchain",
                "/usr",
                "--output",
                &format!("docker-archive:{}", archive.display()),
            ],
        );
        assert_success(
            &out,
            &format!("forge-image --output docker-archive ({platform})"),
        );
        let loaded = docker.ok(&["load", "--input", archive.to_str().unwrap()]);
        let name = loaded
            .lines()
            .find_map(|l| l.strip_prefix("Loaded image: "))
            .unwrap_or_else(|| panic!("docker load named no image: {loaded}"))
            .trim()
            .to_string();
        assert!(name.ends_with(":0.1.0"), "{name}");
        let image = docker.inspect(&name);
        assert_eq!(image["Architecture"], *arch);
        assert_eq!(image["Config"]["User"], "65532");
        let version = docker.ok(&["run", "--rm", "--platform", platform, &name, "--version"]);
        assert_eq!(version, "forge-fixture-cli 0.1.0", "{platform}");
        docker.ok(&["rmi", &name]);
    }
}
