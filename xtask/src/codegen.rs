//! `cargo xtask codegen` and `cargo xtask dist`.
//!
//! `codegen` writes the man pages and shell completions of the three commands into
//! `<root>/target/codegen/{man,completions}` by running the `xtask-codegen` crate (which depends
//! on the command crates for their clap definitions; xtask itself does not, so it stays quick to
//! build). The directory is fixed, not `$CARGO_TARGET_DIR`-relative, because the package
//! metadata of cargo-forge's own `.deb` names it (`../target/codegen/…` from
//! `cargo-forge-release/Cargo.toml`).
//!
//! `dist` is dogfooding: it builds the three release binaries, runs codegen, and packages them
//! with our own `cargo forge-deb --lint` into one `cargo-forge` package (the
//! `[package.metadata.deb]` of cargo-forge-release), in `target/debian/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::cmd::{self, status};
use crate::setup::Tools;

/// The binaries the `cargo-forge` package holds.
const BINARIES: [&str; 3] = [
    "cargo-forge-deb",
    "cargo-forge-image",
    "cargo-forge-release",
];

/// Where codegen writes: `<root>/target/codegen`.
pub fn default_out_dir() -> PathBuf {
    cmd::project_root().join("target").join("codegen")
}

/// `cargo xtask codegen [--out DIR]`: runs `xtask-codegen` (built with `--release` when asked, to
/// share the release build of `dist`). Returns the number of files written.
pub fn run(out: &Path, release: bool) -> Result<usize> {
    let mut gen = cmd::cargo();
    gen.args(["run", "--quiet", "--package", "xtask-codegen"]);
    if release {
        gen.arg("--release");
    }
    gen.arg("--").arg(out).stderr(Stdio::inherit());
    status("Running", cmd::display(&gen));
    let written = cmd::output(&mut gen)?;
    let paths: Vec<String> = String::from_utf8_lossy(&written.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let man = paths.iter().filter(|p| p.ends_with(".1")).count();
    status(
        "Generated",
        format!(
            "{man} man pages and {} shell completions in {}",
            paths.len() - man,
            out.display()
        ),
    );
    Ok(paths.len())
}

/// `cargo xtask dist`: the `cargo-forge` `.deb`, made by our own forge-deb. Returns its path.
pub fn dist() -> Result<PathBuf> {
    let binaries = build_release()?;
    run(&default_out_dir(), true)?;
    let forge_deb = binaries
        .iter()
        .find(|b| b.file_name().is_some_and(|n| n == "cargo-forge-deb"))
        .context("the build reported no cargo-forge-deb executable")?;
    let mut package = Command::new(forge_deb);
    package
        .args([
            "forge-deb",
            "--package",
            "cargo-forge-release",
            "--no-build",
            "--lint",
        ])
        .current_dir(cmd::project_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    Tools::locate().apply(&mut package);
    let shown = cmd::display(&package);
    status("Running", &shown);
    let out = package
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("command `{shown}` failed ({})", out.status);
    }
    // forge-deb prints one produced path per line on stdout.
    let deb = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(".deb"))
        .map(|l| cmd::project_root().join(l))
        .next_back()
        .with_context(|| format!("`{shown}` printed no path of a .deb on stdout"))?;
    if !deb.is_file() {
        bail!("`{shown}` printed `{}`, which is not a file", deb.display());
    }
    Ok(deb)
}

/// `cargo build --release` of the three binaries; returns them as cargo reports them.
fn build_release() -> Result<Vec<PathBuf>> {
    let mut build = cmd::cargo();
    build.args([
        "build",
        "--release",
        "--message-format=json-render-diagnostics",
    ]);
    for bin in BINARIES {
        build.args(["--package", bin, "--bin", bin]);
    }
    build.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let shown = cmd::display(&build);
    status("Running", &shown);
    let out = build
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("command `{shown}` failed ({})", out.status);
    }
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    BINARIES
        .iter()
        .map(|bin| {
            messages
                .iter()
                .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == *bin)
                .find_map(|m| m["executable"].as_str().map(PathBuf::from))
                .with_context(|| format!("`{shown}` reported no {bin} executable"))
        })
        .collect()
}
