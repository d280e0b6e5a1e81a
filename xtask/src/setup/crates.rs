//! The `cargo` group of `cargo xtask setup`: cargo-deb, cargo-generate-rpm, mdbook and cross
//! installed with `cargo install` at pinned versions into `~/.cache/cargo-forge/xtask-tools/`, and Debian's
//! `/usr` toolchain linked for rustup under the name cross gives it.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use super::{
    Tools, CARGO_DEB_REQ, CARGO_DEB_SERIES, CARGO_GENERATE_RPM_REQ, CARGO_GENERATE_RPM_VERSION,
    CROSS_REQ, CROSS_VERSION, MDBOOK_REQ, MDBOOK_SERIES, USR_TOOLCHAIN,
};
use crate::cmd::{self, status};

/// The version `cargo-deb --version` reports (`cargo-deb 3.8.0` → `3.8.0`).
pub(super) fn cargo_deb_version(bin: &Path) -> Option<String> {
    let out = cmd::probe(Command::new(bin).arg("--version"))?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_owned)
}

pub(super) fn install_cargo_deb(tools: &Tools) -> Result<()> {
    let root = tools.tools_bin.parent().expect("tools/bin has a parent");
    status(
        "Installing",
        format!(
            "crates.io: cargo-deb {CARGO_DEB_REQ} (into {})",
            root.display()
        ),
    );
    cmd::run(
        cmd::cargo()
            .args([
                "install",
                "cargo-deb",
                "--version",
                CARGO_DEB_REQ,
                "--locked",
                "--quiet",
                "--root",
            ])
            .arg(root),
    )?;
    match cargo_deb_version(&tools.cargo_deb) {
        Some(v) if v.starts_with(CARGO_DEB_SERIES) => Ok(()),
        Some(v) => bail!("`cargo install cargo-deb` installed version {v}, want {CARGO_DEB_REQ}"),
        None => bail!(
            "`cargo install cargo-deb` succeeded but `{} --version` does not run",
            tools.cargo_deb.display()
        ),
    }
}

/// Why cargo-generate-rpm must be (re)installed, or `None` when the pinned version is there
/// (`cargo-generate-rpm --version` prints `cargo-generate-rpm 0.16.1`).
pub(super) fn cargo_generate_rpm_missing(bin: &Path) -> Option<String> {
    let text = cmd::probe(Command::new(bin).arg("--version"))
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let version = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()));
    match version {
        Some(v) if v == CARGO_GENERATE_RPM_VERSION => None,
        Some(v) => Some(format!("found {v}, want {CARGO_GENERATE_RPM_REQ}")),
        None => Some("not installed".to_owned()),
    }
}

pub(super) fn install_cargo_generate_rpm(tools: &Tools) -> Result<()> {
    let root = tools.tools_bin.parent().expect("tools/bin has a parent");
    status(
        "Installing",
        format!(
            "crates.io: cargo-generate-rpm {CARGO_GENERATE_RPM_REQ} (into {})",
            root.display()
        ),
    );
    cmd::run(
        cmd::cargo()
            .args([
                "install",
                "cargo-generate-rpm",
                "--version",
                CARGO_GENERATE_RPM_REQ,
                "--locked",
                "--quiet",
                "--root",
            ])
            .arg(root),
    )?;
    match cargo_generate_rpm_missing(&tools.cargo_generate_rpm) {
        None => Ok(()),
        Some(why) => bail!("`cargo install cargo-generate-rpm` succeeded but it is {why}"),
    }
}

/// Why mdbook must be (re)installed, or `None` when the right version is there.
pub(super) fn mdbook_missing(bin: &Path) -> Option<String> {
    match mdbook_version(bin) {
        Some(v) if v.starts_with(MDBOOK_SERIES) => None,
        Some(v) => Some(format!("found {v}, want {MDBOOK_REQ}")),
        None => Some("not installed".to_owned()),
    }
}

/// The version `mdbook --version` reports (`mdbook v0.5.4` → `0.5.4`).
pub(super) fn mdbook_version(bin: &Path) -> Option<String> {
    let out = cmd::probe(Command::new(bin).arg("--version"))?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .map(|w| w.trim_start_matches('v'))
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_owned)
}

/// Installs mdbook unless the right version is present (for `cargo xtask docs`, which needs only it).
pub fn ensure_mdbook(tools: &Tools) -> Result<()> {
    match mdbook_missing(&tools.mdbook) {
        Some(_) => install_mdbook(tools),
        None => Ok(()),
    }
}

pub(super) fn install_mdbook(tools: &Tools) -> Result<()> {
    let root = tools.tools_bin.parent().expect("tools/bin has a parent");
    status(
        "Installing",
        format!("crates.io: mdbook {MDBOOK_REQ} (into {})", root.display()),
    );
    cmd::run(
        cmd::cargo()
            .args([
                "install",
                "mdbook",
                "--version",
                MDBOOK_REQ,
                "--locked",
                "--quiet",
                "--no-default-features",
                "--features",
                "search",
                "--root",
            ])
            .arg(root),
    )?;
    match mdbook_missing(&tools.mdbook) {
        None => Ok(()),
        Some(why) => bail!("`cargo install mdbook` succeeded but mdbook is {why}"),
    }
}

/// The version `cross --version` reports (`cross 0.2.5` → `0.2.5`). Run from `/`: in a cargo
/// project, cross 0.2.5 goes on to check the toolchain, and with rustup ≥ 1.28 it misreads the
/// `(active, default)` mark of `rustup toolchain list` and "installs" (updates) the default
/// toolchain from the network.
pub(super) fn cross_version(bin: &Path) -> Option<String> {
    let out = cmd::probe(Command::new(bin).arg("--version").current_dir("/"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("cross "))
        .and_then(|v| v.split_whitespace().next())
        .map(str::to_owned)
}

pub(super) fn install_cross(tools: &Tools) -> Result<()> {
    let root = tools.tools_bin.parent().expect("tools/bin has a parent");
    status(
        "Installing",
        format!("crates.io: cross {CROSS_REQ} (into {})", root.display()),
    );
    cmd::run(
        cmd::cargo()
            .args([
                "install",
                "cross",
                "--version",
                CROSS_REQ,
                "--locked",
                "--quiet",
                "--root",
            ])
            .arg(root),
    )?;
    match cross_version(&tools.cross) {
        Some(v) if v == CROSS_VERSION => Ok(()),
        Some(v) => bail!("`cargo install cross` installed version {v}, want {CROSS_REQ}"),
        None => bail!(
            "`cargo install cross` succeeded but `{} --version` does not run",
            tools.cross.display()
        ),
    }
}

/// Whether rustup lists a toolchain called `usr` (Debian's, linked; no download).
pub(super) fn usr_toolchain_linked() -> bool {
    cmd::probe(Command::new("rustup").args(["toolchain", "list"])).is_some_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.split_whitespace().next() == Some(USR_TOOLCHAIN))
    })
}

pub(super) fn link_usr_toolchain() -> Result<()> {
    status(
        "Linking",
        format!("Debian's /usr toolchain for rustup as `{USR_TOOLCHAIN}` (for cross)"),
    );
    cmd::run(Command::new("rustup").args(["toolchain", "link", USR_TOOLCHAIN, "/usr"]))
}
