//! `cargo xtask demo`: the whole cargo-forge flow on the example crate `tests/fixtures/cli-tool`.
//!
//! The crate is copied to `target/xtask/demo/cli-tool` first, so the fixture stays clean. Each step
//! is one `step_*` function called in order from [`run`]: the .debs (lint, install test), a
//! two-platform image pushed to a registry on loopback and run under qemu, and a release to a
//! local directory, an APT repository and that registry, with the tag pushed to a bare `origin`.
//!
//! A newcomer's first run is mostly waiting, so the demo waits for nothing it does not use: it
//! installs only the Debian packages it runs (`setup --only demo`, not the test suite's cargo-deb,
//! mdbook, zizmor, actionlint or zig), builds the three commands in one cargo call (their
//! dependencies compile once, on every core), and numbers its steps with the time elapsed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::cmd::{self, status};
use crate::setup::{self, Tools};

/// Rust targets the demo packages for: the host and the arm64 cross target.
const TARGETS: &[&str] = &["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"];
/// Debian's toolchain (rustc-web, cargo-web, libstd-rust-web-dev:arm64), installed by setup.
const TOOLCHAIN: &str = "/usr";
const FIXTURE: &str = "tests/fixtures/cli-tool";

/// The demo's steps, numbered, with the time since the demo started.
struct Steps {
    total: usize,
    done: usize,
    started: std::time::Instant,
}

impl Steps {
    fn next(&mut self, what: impl std::fmt::Display) {
        self.done += 1;
        let t = self.started.elapsed().as_secs();
        status(
            "Step",
            format!(
                "{}/{} [{}:{:02}] {what}",
                self.done,
                self.total,
                t / 60,
                t % 60
            ),
        );
    }
}

/// `cargo xtask demo`.
pub fn run(skip_setup: bool) -> Result<()> {
    let mut steps = Steps {
        total: 7,
        done: 0,
        started: std::time::Instant::now(),
    };
    steps.next("installing what the demo runs (cargo xtask setup --only demo)");
    if !skip_setup {
        setup::run(&setup::Options::demo())?;
    }
    let tools = Tools::locate();
    steps.next("building cargo-forge-deb, cargo-forge-image and cargo-forge-release");
    let bins = step_build(&[
        "cargo-forge-deb",
        "cargo-forge-image",
        "cargo-forge-release",
    ])?;
    steps.next(format!("copying {FIXTURE}"));
    let krate = step_copy_fixture()?;
    steps.next("cargo forge-deb: .debs for amd64 and arm64, lintian, install tests");
    let debs = step_forge_deb(&bins[0], &krate, &tools)?;
    step_show_debs(&debs)?;
    steps.next("starting a registry on loopback");
    let registry = start_registry(&cmd::xtask_dir().join("demo").join("registry"))?;
    steps.next("cargo forge-image: a two-platform image, pushed, run under qemu");
    step_forge_image(&bins[1], &krate, &tools, &registry)?;
    steps.next(
        "cargo forge-release: archives, .debs, image; a directory, an APT repository, the registry",
    );
    step_forge_release(&bins[2], &krate, &tools, &registry)?;
    drop(registry);
    let t = steps.started.elapsed().as_secs();
    status(
        "Finished",
        format!("demo in {}:{:02} ({} steps)", t / 60, t % 60, steps.total),
    );
    Ok(())
}

/// Builds our binaries from this workspace in one cargo call (shared dependencies compile
/// once); returns them in the order asked, as cargo reports them.
fn step_build(bins: &[&str]) -> Result<Vec<PathBuf>> {
    let mut build = cmd::cargo();
    build.arg("build");
    for bin in bins {
        build.args(["-p", bin, "--bin", bin]);
    }
    build
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let shown = cmd::display(&build);
    let out = build
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("command `{shown}` failed ({})", out.status);
    }
    // The binaries are the `executable`s of the `compiler-artifact` messages, never guessed paths.
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    bins.iter()
        .map(|bin| {
            messages
                .iter()
                .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == *bin)
                .find_map(|m| m["executable"].as_str().map(PathBuf::from))
                .with_context(|| format!("`{shown}` reported no {bin} executable"))
        })
        .collect()
}

/// Copies the fixture crate to `target/xtask/demo/cli-tool` (without any `target/` of its own).
fn step_copy_fixture() -> Result<PathBuf> {
    let src = cmd::project_root().join(FIXTURE);
    let dest = cmd::xtask_dir().join("demo").join("cli-tool");
    status("Copying", format!("{FIXTURE} to {}", dest.display()));
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("could not remove {}", dest.display()))?;
    }
    copy_dir(&src, &dest, true)?;
    Ok(dest)
}

fn copy_dir(src: &Path, dest: &Path, top: bool) -> Result<()> {
    std::fs::create_dir_all(dest)
        .with_context(|| format!("could not create {}", dest.display()))?;
    let entries =
        std::fs::read_dir(src).with_context(|| format!("could not read {}", src.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("could not read {}", src.display()))?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if top && entry.file_name() == "target" {
                continue;
            }
            copy_dir(&from, &to, false)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&from)?;
            std::os::unix::fs::symlink(&link, &to)
                .with_context(|| format!("could not create symlink {}", to.display()))?;
        } else {
            std::fs::copy(&from, &to).with_context(|| {
                format!("could not copy {} to {}", from.display(), to.display())
            })?;
        }
    }
    Ok(())
}

/// `cargo forge-deb` for both targets with Debian's toolchain, lintian and an install test.
/// Returns the produced packages (cargo-forge-deb prints one path per line at the end of stdout).
fn step_forge_deb(forge_deb: &Path, krate: &Path, tools: &Tools) -> Result<Vec<PathBuf>> {
    let mut cmd = Command::new(forge_deb);
    cmd.arg("forge-deb")
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"));
    for target in TARGETS {
        cmd.args(["--target", target]);
    }
    cmd.args(["--toolchain", TOOLCHAIN, "--lint", "--install-test"])
        .current_dir(krate)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    tools.apply(&mut cmd);
    let shown = cmd::display(&cmd);
    status("Running", format!("`{shown}`"));
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if !out.status.success() {
        bail!("command `{shown}` failed ({})", out.status);
    }

    let mut debs: Vec<PathBuf> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(".deb"))
        .map(|l| krate.join(l)) // absolute paths stay as they are
        .filter(|p| p.is_file())
        .collect();
    debs.dedup();
    if debs.is_empty() {
        bail!("`{shown}` succeeded but printed no path of a .deb file on stdout");
    }
    Ok(debs)
}

/// Where the packages are, and the control header of each (`dpkg-deb -I`).
fn step_show_debs(debs: &[PathBuf]) -> Result<()> {
    let mut dirs: Vec<&Path> = debs.iter().filter_map(|d| d.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        status("Packages", format!("in {}", dir.display()));
    }
    for deb in debs {
        let info = cmd::output(Command::new("dpkg-deb").arg("-I").arg(deb))?;
        println!();
        println!("{}", deb.display());
        for line in header_lines(&String::from_utf8_lossy(&info.stdout)) {
            println!("  {line}");
        }
    }
    println!();
    Ok(())
}

/// From `dpkg-deb -I` output: the size line and the control fields, without the member list
/// and with only the first line of the description.
fn header_lines(info: &str) -> Vec<&str> {
    info.lines()
        .filter(|l| !l.starts_with("  ")) // continuation lines: long description
        .map(str::trim)
        .filter(|l| {
            l.starts_with("size ")
                || l.split_once(':').is_some_and(|(key, _)| {
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        })
        .collect()
}

/// A docker-registry on a free loopback port, stopped when dropped.
struct LocalRegistry {
    child: std::process::Child,
    port: u16,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path) -> Result<LocalRegistry> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("could not find a free loopback port")?
        .port();
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .with_context(|| format!("could not write {}", config.display()))?;
    let log = std::fs::File::create(dir.join("registry.log"))
        .context("could not create the registry log")?;
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("could not start `docker-registry` (run `cargo xtask setup`)")?;
    let registry = LocalRegistry { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(registry);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!(
        "docker-registry did not start on 127.0.0.1:{port} (see {})",
        dir.join("registry.log").display()
    )
}

/// `cargo forge-image`: a two-platform image of the demo crate, pushed to a registry on loopback
/// and written to an OCI layout; then the arm64 image's binary is run (unpacked, under qemu).
fn step_forge_image(
    forge_image: &Path,
    krate: &Path,
    tools: &Tools,
    registry: &LocalRegistry,
) -> Result<()> {
    let demo = cmd::xtask_dir().join("demo");
    let layout = demo.join("image-oci");
    let _ = std::fs::remove_dir_all(&layout);
    let reference = format!("127.0.0.1:{}/demo/forge-fixture-cli:0.1.0", registry.port);
    let mut cmd = Command::new(forge_image);
    cmd.arg("forge-image")
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"))
        .args([
            "--platform",
            "linux/amd64,linux/arm64",
            "--toolchain",
            TOOLCHAIN,
            "--tag",
            &reference,
            "--push",
        ])
        .arg("--output")
        .arg(format!("oci:{}", layout.display()))
        .current_dir(krate)
        .stdin(Stdio::null());
    tools.apply(&mut cmd);
    status("Running", format!("`{}`", cmd::display(&cmd)));
    cmd::run(&mut cmd)?;
    let raw = cmd::output(
        Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!("docker://{reference}")),
    )?;
    let index: serde_json::Value =
        serde_json::from_slice(&raw.stdout).context("skopeo printed no JSON")?;
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    format!(
                        "{}/{}",
                        m["platform"]["os"].as_str().unwrap_or(""),
                        m["platform"]["architecture"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    status("Image", format!("{reference} ({})", platforms.join(", ")));
    // Run the arm64 image's binary: copy one platform, unpack it, run it under qemu.
    let work = demo.join("image-run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)
        .with_context(|| format!("could not create {}", work.display()))?;
    cmd::run(
        Command::new("skopeo")
            .args([
                "copy",
                "-q",
                "--src-tls-verify=false",
                "--override-arch",
                "arm64",
            ])
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:arm64", work.join("layout").display())),
    )?;
    cmd::output(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:arm64", work.join("layout").display()))
            .arg(work.join("bundle")),
    )?;
    let rootfs = work.join("bundle/rootfs");
    let out = cmd::output(
        Command::new("qemu-aarch64")
            .arg("-L")
            .arg(&rootfs)
            .arg(rootfs.join("usr/local/bin/forge-fixture-cli"))
            .arg("--version"),
    )?;
    status(
        "Ran",
        format!(
            "the arm64 image's entrypoint under qemu: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        ),
    );
    status(
        "Image",
        format!(
            "OCI layout in {} (the loopback registry stops with the demo)",
            layout.display()
        ),
    );
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    cmd::run(
        Command::new("git")
            .args([
                "-c",
                "user.email=demo@example.com",
                "-c",
                "user.name=cargo-forge demo",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir),
    )
}

/// `cargo forge-release`: the demo crate in a git repository (with a bare `origin`), released as
/// 0.1.0 to a local directory, an APT repository and the loopback registry.
fn step_forge_release(
    forge_release: &Path,
    krate: &Path,
    tools: &Tools,
    registry: &LocalRegistry,
) -> Result<()> {
    let demo = cmd::xtask_dir().join("demo");
    let origin = demo.join("origin.git");
    let _ = std::fs::remove_dir_all(&origin);
    std::fs::create_dir_all(&origin)
        .with_context(|| format!("could not create {}", origin.display()))?;
    git(&origin, &["init", "-q", "--bare"])?;
    let manifest = krate.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("could not read {}", manifest.display()))?;
    text.push_str(&format!(
        "\n[package.metadata.forge.release]\ntargets = [\"x86_64-unknown-linux-gnu\", \"aarch64-unknown-linux-gnu\"]\nartifacts = [\"archive\", \"deb\", \"image\"]\nhosts = [\n  {{ kind = \"dir\", path = \"dist\" }},\n  {{ kind = \"apt\", dir = \"apt\" }},\n  {{ kind = \"oci\", repository = \"127.0.0.1:{}/demo/forge-fixture-cli\" }},\n]\n",
        registry.port
    ));
    std::fs::write(&manifest, text)
        .with_context(|| format!("could not write {}", manifest.display()))?;
    std::fs::write(krate.join(".gitignore"), "target/\ndist/\napt/\n")
        .context("could not write .gitignore")?;
    let _ = std::fs::remove_dir_all(krate.join(".git"));
    git(krate, &["init", "-q"])?;
    git(krate, &["add", "-A"])?;
    git(krate, &["commit", "-q", "-m", "demo crate"])?;
    git(
        krate,
        &["remote", "add", "origin", &origin.display().to_string()],
    )?;
    git(krate, &["push", "-q", "origin", "main"])?;
    let mut cmd = Command::new(forge_release);
    cmd.arg("forge-release")
        .args(["0.1.0", "--toolchain", TOOLCHAIN, "--yes"])
        .current_dir(krate)
        .stdin(Stdio::null());
    tools.apply(&mut cmd);
    status(
        "Running",
        format!("`{}` in {}", cmd::display(&cmd), krate.display()),
    );
    cmd::run(&mut cmd)?;
    let dist = krate.join("dist/v0.1.0");
    cmd::run(
        Command::new("sha256sum")
            .args(["-c", "--quiet", "SHA256SUMS"])
            .current_dir(&dist),
    )?;
    status(
        "Release",
        format!("v0.1.0 in {} (SHA256SUMS verified)", dist.display()),
    );
    status(
        "Release",
        format!("APT repository in {}", krate.join("apt").display()),
    );
    status(
        "Release",
        format!("tag v0.1.0 pushed to {}", origin.display()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::header_lines;

    #[test]
    fn header_keeps_fields_and_first_description_line() {
        let info = " new Debian package, version 2.0.\n size 1234 bytes: control archive=567 bytes.\n     321 bytes,    12 lines      control\n Package: demo\n Version: 0.1.0\n Architecture: arm64\n Description: short\n  long text: here\n";
        assert_eq!(
            header_lines(info),
            [
                "size 1234 bytes: control archive=567 bytes.",
                "Package: demo",
                "Version: 0.1.0",
                "Architecture: arm64",
                "Description: short"
            ]
        );
    }
}
