//! The crate the build-heavy benchmarks use: `tests/fixtures/bench-app`, a small tool with real
//! crates.io dependencies (clap and serde with their derive macros, serde_json, regex, anyhow).
//!
//! [`prepare`] copies it to `target/bench/app-src/` and vendors its locked dependencies there
//! (`cargo vendor --locked`, the one step that reaches crates.io), with a `.cargo/config.toml`
//! that replaces crates.io by the vendored sources, so every later build — ours, the peers', the
//! one inside the emulated arm64 root — compiles the same sources offline. Each benchmark copies
//! that tree ([`fresh_copy`]) and builds from a clean target directory.
//!
//! Every build uses Debian's toolchain (`/usr`: rustc-web and cargo-web, with the arm64 std of
//! libstd-rust-web-dev:arm64), the toolchain the emulated root runs too.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::cmd::{self, status};

pub const FIXTURE: &str = "tests/fixtures/bench-app";
/// The package and binary name.
pub const NAME: &str = "forge-bench-app";
pub const VERSION: &str = "0.1.0";
/// Debian's toolchain directory (`/usr/bin/rustc`, `/usr/bin/cargo`).
pub const TOOLCHAIN: &str = "/usr";
pub const CARGO: &str = "/usr/bin/cargo";
pub const HOST_TARGET: &str = "x86_64-unknown-linux-gnu";
pub const ARM64_TARGET: &str = "aarch64-unknown-linux-gnu";

/// The vendored copy of the fixture, and what it is for the report.
pub struct App {
    pub dir: PathBuf,
    pub json: Value,
}

/// Copies the fixture to `<bench>/app-src` and vendors its dependencies (network: crates.io).
pub fn prepare(bench_dir: &Path) -> Result<App> {
    let dir = bench_dir.join("app-src");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("could not remove {}", dir.display()))?;
    }
    super::common::copy_dir(&cmd::project_root().join(FIXTURE), &dir, true)?;
    status(
        "Vendoring",
        format!("the dependencies of {FIXTURE} (cargo vendor --locked)"),
    );
    let mut vendor = Command::new(CARGO);
    vendor
        .args(["vendor", "--locked", "--versioned-dirs", "vendor"])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR");
    let out = cmd::output(&mut vendor)?;
    let config = String::from_utf8_lossy(&out.stdout).into_owned();
    if !config.contains("vendored-sources") {
        bail!(
            "`{}` printed no source replacement:\n{config}",
            cmd::display(&vendor)
        );
    }
    let cargo_dir = dir.join(".cargo");
    std::fs::create_dir_all(&cargo_dir)
        .with_context(|| format!("could not create {}", cargo_dir.display()))?;
    std::fs::write(cargo_dir.join("config.toml"), &config).with_context(|| {
        format!(
            "could not write {}",
            cargo_dir.join("config.toml").display()
        )
    })?;
    let crates = std::fs::read_dir(dir.join("vendor"))
        .map(|d| d.count())
        .unwrap_or(0);
    let rustc = super::common::first_line(Command::new("/usr/bin/rustc").arg("-V"));
    status(
        "Prepared",
        format!("{} with {crates} vendored crates", dir.display()),
    );
    Ok(App {
        json: json!({
            "fixture": FIXTURE,
            "vendored_crates": crates,
            "toolchain": TOOLCHAIN,
            "rustc": rustc,
        }),
        dir,
    })
}

/// A copy of the vendored app at `dest` (afresh: no `target/`).
pub fn fresh_copy(app: &App, dest: &Path) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .with_context(|| format!("could not remove {}", dest.display()))?;
    }
    super::common::copy_dir(&app.dir, dest, true)
}

/// Removes `path` (a directory and all it holds, or a file) if it exists.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => return Ok(()),
    }
    .with_context(|| format!("could not remove {}", path.display()))
}

/// The cargo command cargo-forge's build engine runs for `targets` in `krate` (program,
/// arguments, environment, from `cargo forge-deb --dry-run --message-format json` with Debian's
/// toolchain), without `--message-format`: the same builds, run by plain cargo.
pub fn engine_build_command(forge_deb: &Path, krate: &Path, targets: &[&str]) -> Result<Command> {
    let mut c = super::common::forge_deb_cmd(forge_deb, krate);
    c.args(["--toolchain", TOOLCHAIN, "--offline"]);
    for t in targets {
        c.args(["--target", t]);
    }
    c.args(["--dry-run", "--message-format", "json"]);
    let out = cmd::output(&mut c)?;
    let plan: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`{}` printed no JSON plan", cmd::display(&c)))?;
    let steps = plan["build"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let [step] = steps.as_slice() else {
        bail!(
            "expected one build step in the plan of `{}`, found {}",
            cmd::display(&c),
            steps.len()
        );
    };
    let command = &step["command"];
    let program = command["program"]
        .as_str()
        .context("the plan's build command has no program")?;
    let mut build = Command::new(program);
    for arg in command["args"].as_array().into_iter().flatten() {
        let arg = arg.as_str().unwrap_or_default();
        if !arg.starts_with("--message-format") {
            build.arg(arg);
        }
    }
    if let Some(env) = command["env"].as_object() {
        for (k, v) in env {
            match v.as_str() {
                Some(v) => build.env(k, v),
                None => build.env_remove(k),
            };
        }
    }
    super::common::neutral_env(&mut build, krate);
    Ok(build)
}

/// Fails unless `path` is an ELF file for `machine` (`e_machine`: 62 x86-64, 183 aarch64).
pub fn check_elf(path: &Path, machine: u16) -> Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let ok = bytes.len() > 20
        && bytes.starts_with(b"\x7fELF")
        && u16::from_le_bytes([bytes[18], bytes[19]]) == machine;
    if !ok {
        bail!(
            "{} is not an ELF executable for machine {machine}",
            path.display()
        );
    }
    Ok(())
}

/// Whether this process runs as root (chroot, mount and debootstrap need it).
pub fn is_root() -> bool {
    super::common::first_line(Command::new("id").arg("-u")).as_deref() == Some("0")
}
