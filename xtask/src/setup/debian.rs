//! The `debian` group of `cargo xtask setup`: foreign architectures, packages through apt-get
//! (as root, or with sudo), and qemu-user registered in binfmt_misc for the foreign binaries the
//! tests run.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use super::{Group, Options, Plan, BINFMT_DIR, FOREIGN_ARCHS};
use crate::cmd::{self, find_in_path, status, warn};

pub(super) fn native_arch() -> Result<String> {
    let out = cmd::output(Command::new("dpkg").arg("--print-architecture"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(super) fn foreign_archs() -> Result<Vec<String>> {
    let out = cmd::output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// Whether `pkg` is installed. An unqualified name means the native (or `all`) package: plain
/// `dpkg-query -W zlib1g-dev` would also match an installed `zlib1g-dev:arm64`.
pub(super) fn deb_installed(pkg: &str, native: &str) -> bool {
    let Some(out) =
        cmd::probe(Command::new("dpkg-query").args(["-W", "-f=${Architecture} ${Status}\n", pkg]))
    else {
        return false;
    };
    let qualified = pkg.contains(':');
    String::from_utf8_lossy(&out.stdout).lines().any(|line| {
        let Some((arch, state)) = line.split_once(' ') else {
            return false;
        };
        state == "install ok installed" && (qualified || arch == native || arch == "all")
    })
}

pub(super) fn is_root() -> bool {
    if let Ok(text) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = text.lines().find(|l| l.starts_with("Uid:")) {
            // Uid: real effective saved fs
            return line.split_whitespace().nth(2) == Some("0");
        }
    }
    cmd::probe(Command::new("id").arg("-u"))
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` run as root: directly when we are root, else through sudo; with a non-interactive
/// debconf either way.
pub(super) fn privileged(program: &str) -> Result<Command> {
    if is_root() {
        let mut cmd = Command::new(program);
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        Ok(cmd)
    } else if let Some(sudo) = find_in_path("sudo") {
        let mut cmd = Command::new(sudo);
        cmd.args(["env", "DEBIAN_FRONTEND=noninteractive", program]);
        Ok(cmd)
    } else {
        bail!("`{program}` needs root: run `cargo xtask setup` as root, or install sudo")
    }
}

pub(super) fn install_debian(plan: &Plan) -> Result<()> {
    for arch in &plan.add_arch {
        status("Adding", format!("dpkg architecture {arch}"));
        cmd::run(privileged("dpkg")?.args(["--add-architecture", arch]))?;
    }
    status(
        "Installing",
        format!("debian packages: {}", plan.debian.join(" ")),
    );
    // Another setup (a second checkout, a parallel CI job) may hold the dpkg lock: wait for it
    // instead of failing at once.
    const LOCK_WAIT: &str = "DPkg::Lock::Timeout=900";
    cmd::run(privileged("apt-get")?.args(["-q", "-o", LOCK_WAIT, "update"]))?;
    let mut install = privileged("apt-get")?;
    install
        .args([
            "-q",
            "-o",
            LOCK_WAIT,
            "install",
            "-y",
            "--no-install-recommends",
        ])
        .args(&plan.debian);
    cmd::run(&mut install)?;

    let native = native_arch()?;
    let still: Vec<&str> = plan
        .debian
        .iter()
        .map(String::as_str)
        .filter(|p| !deb_installed(p, &native))
        .collect();
    if !still.is_empty() {
        bail!(
            "`{}` succeeded but these are still not installed: {}",
            cmd::display(&install),
            still.join(" ")
        );
    }
    Ok(())
}

pub(super) fn binfmt_mounted() -> bool {
    Path::new(BINFMT_DIR).join("status").exists()
}

pub(super) fn binfmt_enabled(entry: &str) -> bool {
    std::fs::read_to_string(Path::new(BINFMT_DIR).join(entry))
        .is_ok_and(|s| s.lines().next() == Some("enabled"))
}

/// Mounts binfmt_misc and enables the qemu-user entries of [`FOREIGN_ARCHS`] there, so their
/// binaries run directly (and in debootstrap roots of those architectures). Failures
/// are warnings: the tools also run foreign binaries through an explicit `qemu-aarch64`.
/// Returns whether something changed.
pub(super) fn setup_binfmt(opts: &Options) -> bool {
    if !opts.selected(Group::Debian) && !opts.demo_only() {
        return false;
    }
    let mut changed = false;
    if !binfmt_mounted() {
        let attempt = privileged("mount").and_then(|mut mount| {
            mount.args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR]);
            cmd::output(&mut mount)
        });
        match attempt {
            Ok(_) => {
                status("Mounted", format!("binfmt_misc at {BINFMT_DIR}"));
                changed = true;
            }
            Err(e) => {
                warn(format!(
                    "could not mount binfmt_misc ({e:#}); foreign binaries will only run through an \
                     explicit qemu-user"
                ));
                return changed;
            }
        }
    }
    if find_in_path("update-binfmts").is_none() {
        warn("update-binfmts not found (package binfmt-support); qemu-user is not registered in binfmt_misc");
        return changed;
    }
    for entry in FOREIGN_ARCHS.iter().filter_map(|(_, e)| *e) {
        if binfmt_enabled(entry) {
            continue;
        }
        let attempt = privileged("update-binfmts").and_then(|mut enable| {
            enable.args(["--enable", entry]);
            cmd::output(&mut enable)
        });
        match attempt {
            Ok(_) if binfmt_enabled(entry) => {
                status("Enabled", format!("binfmt entry {entry}"));
                changed = true;
            }
            Ok(_) => warn(format!(
                "`update-binfmts --enable {entry}` ran but the binfmt entry is still not enabled"
            )),
            Err(e) => warn(format!("could not enable {entry} in binfmt_misc ({e:#})")),
        }
    }
    changed
}
