//! `--install-test`: install the package into a clean Debian root with apt, run its programs,
//! purge it, and check that nothing is left.
//!
//! What a run does:
//! 1. **A clean root, built once.** `debootstrap --variant=minbase --arch=<arch> bookworm` creates
//!    a minimal Debian 12 (essential packages and apt), cached as `<cache_dir>/bookworm-<arch>-minbase`.
//!    It is built in a temporary directory next to it, stamped (`.forge-root-complete`) and only
//!    then renamed into place, so an interrupted debootstrap is never mistaken for a root; a cached
//!    directory without the stamp is rebuilt. The mirror is `FORGE_DEBIAN_MIRROR`, else the Debian
//!    mirror this (Debian) host's apt sources use, else `http://deb.debian.org/debian`.
//! 2. **A fresh copy per test** (`cp -a --reflink=auto`, cheap on btrfs/xfs), so tests never see
//!    each other's leftovers and the cached root stays pristine. `/proc` is mounted in the copy for
//!    the duration of the test by a guard that unmounts it on every path out, errors and panics
//!    included; a copy is only deleted once nothing is mounted below it (debootstrap itself may
//!    bind-mount `/dev` in some containers, and deleting through a bind mount would delete the
//!    host's files). Work directories left by a killed run (destructors do not run on SIGKILL)
//!    are cleaned up the same way by a later run, once they are older than six hours. A
//!    `policy-rc.d` that forbids starting services is installed, as in any build chroot.
//! 3. `chroot ROOT apt-get install -y /tmp/<pkg>.deb` with `DEBIAN_FRONTEND=noninteractive`. The
//!    root has no package lists, which is fine for packages whose dependencies are in minbase
//!    (libc6, libgcc-s1, …); when apt reports unmet dependencies, `apt-get update` runs in the
//!    root (network to the mirror) and the install is retried.
//! 4. The systemd units it installs: the enablement symlinks the maintainer scripts made under
//!    `/etc/systemd/system` and `/etc/systemd/user` are reported (`Enabled: x.timer
//!    (timers.target.wants), agent.service (user, default.target.wants)`).
//! 5. Each binary runs as `<path> --version` inside the root (under `timeout`); it must exit 0
//!    and print something. Its path comes from the package's own file list (`dpkg -L`).
//! 6. `apt-get purge -y <pkg>`; then `dpkg -s` must no longer know the package and none of the
//!    files it installed may remain, nor any enablement symlink of its units.
//!
//! **Foreign architectures** (an arm64 package on an amd64 host) run through qemu-user registered
//! with the kernel's `binfmt_misc`, because not only the tested binary but apt, dpkg and the
//! maintainer scripts execute target programs, and only the kernel can route all of those to
//! qemu. So this needs `/proc/sys/fs/binfmt_misc/qemu-<cpu>` to be registered and enabled (Debian:
//! `apt-get install qemu-user-static binfmt-support`; in a container whose `binfmt_misc` is not
//! mounted, mount it and run `update-binfmts --enable qemu-<cpu>`); a missing registration is
//! reported with those commands rather than worked around. The root is then built with
//! `debootstrap --foreign` followed by `chroot ROOT /debootstrap/debootstrap --second-stage`.
//! Registrations with the `F` (fix binary) flag, as qemu-user-static's are, need nothing inside
//! the root; for others the host's `qemu-<cpu>-static` is copied to the registered interpreter
//! path inside the root.
//!
//! Needs root (chroot, mount, device nodes). Failures of the package are
//! [`ErrorKind::Check`] errors carrying the tail of apt's, dpkg's or the program's output.
//!
//! The module is shaped as a run is: [`run`] below is the whole test, top to bottom, its steps
//! functions here or in [`chroot`] (commands in the root), [`debootstrap`] (the cached root),
//! [`binfmt`] (foreign architectures), [`units`] (systemd checks), [`programs`] (the runner)
//! and [`guards`] (clean-up on every path out).

mod binfmt;
mod chroot;
mod debootstrap;
mod guards;
mod programs;
mod units;

#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::target::TargetInfo;
use forge_core::Shell;

use binfmt::*;
use chroot::*;
use debootstrap::*;
use guards::*;
use programs::*;
use units::*;

pub use binfmt::{find_binfmt, is_foreign, provide_interpreter, Binfmt};
pub use chroot::{chroot, CleanRoot};
pub use debootstrap::mirror;

/// The Debian release the clean roots run.
pub const SUITE: &str = "bookworm";
/// The mirror used when neither `FORGE_DEBIAN_MIRROR` nor the host's apt sources name one.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
const STAMP: &str = ".forge-root-complete";
const PATH_IN_ROOT: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One install test.
#[derive(Clone, Debug)]
pub struct InstallTest {
    /// The package to test.
    pub deb: PathBuf,
    /// The Debian architecture of the root (`amd64`, `arm64`, …).
    pub arch: String,
    /// The target the package was built for (qemu binary for foreign architectures).
    pub target: TargetInfo,
    /// Names of programs the package installs (found through its file list), run with `--version`.
    pub binaries: Vec<String>,
    /// Where clean roots are cached, e.g. `target/forge/roots`.
    pub cache_dir: PathBuf,
    /// `install-test.command`: run instead of `<binary> --version` (`Some([])`: run nothing).
    pub command: Option<Vec<String>>,
    /// Seconds each command may take (`install-test.timeout`, default 120).
    pub timeout: u64,
}

/// Runs the install test. See the module documentation.
pub fn run(t: &InstallTest, shell: &Shell) -> Result<()> {
    let info = crate::repo::read_deb(&t.deb)?;
    let package = info.package().to_string();
    let deb_arch = info.architecture();
    if deb_arch != "all" && deb_arch != t.arch {
        return Err(usage(format!(
            "`{}` is a package for `{deb_arch}`, not `{}`",
            t.deb.display(),
            t.arch
        )));
    }
    let clean = CleanRoot::create(t, shell)?;
    let root = clean.root.clone();
    let foreign = clean.foreign;
    let deb_name = format!("forge-install-test_{}", info.canonical_file_name());
    let deb_in_root = root.join("tmp").join(&deb_name);
    fs::copy(&t.deb, &deb_in_root).with_context(|| {
        format!(
            "failed to copy `{}` into `{}`",
            t.deb.display(),
            root.display()
        )
    })?;
    let how = if foreign {
        format!("{SUITE} {} root, via qemu", t.arch)
    } else {
        format!("{SUITE} {} root", t.arch)
    };

    install(t, &root, &deb_name, &package, info.version(), &how, shell)?;
    let files = installed_files(&root, &package, shell)?;
    report_units(&root, &files, shell);
    run_programs(t, &root, &package, &files, &how, shell)?;
    purge(&root, &package, &files, &how, shell)
}

/// Step 3: `apt-get install` of the copied package (after `apt-get update` when apt lacks the
/// dependencies), which dpkg must then report as installed.
fn install(
    t: &InstallTest,
    root: &Path,
    deb_name: &str,
    package: &str,
    version: &str,
    how: &str,
    shell: &Shell,
) -> Result<()> {
    // Install.
    shell.status("Installing", format!("{package} {version} ({how})"));
    let install = || {
        chroot(root)
            .args([
                "apt-get",
                "-o",
                "Dpkg::Use-Pty=0",
                "install",
                "-y",
                "--no-install-recommends",
            ])
            .arg(format!("/tmp/{deb_name}"))
            .output_unchecked(shell)
    };
    let mut out = install()?;
    if !out.status.success() && needs_package_lists(&out) {
        shell.status(
            "Updating",
            format!(
                "package lists of the {SUITE} {} root (apt could not get the dependencies)",
                t.arch
            ),
        );
        let up = chroot(root)
            .args(["apt-get", "update"])
            .output_unchecked(shell)?;
        if !up.status.success() {
            return Err(check_failure(
                format!("`apt-get update` failed in the {how}"),
                &up,
            ))
            .kind(ErrorKind::Network);
        }
        out = install()?;
    }
    if !out.status.success() {
        return Err(check_failure(
            format!(
                "`apt-get install` of `{}` failed in the {how}",
                t.deb.display()
            ),
            &out,
        ))
        .kind(ErrorKind::Check);
    }
    let status = dpkg_status(root, package, shell)?;
    if status.as_deref() != Some("install ok installed") {
        return Err(anyhow::anyhow!(
            "after `apt-get install`, dpkg reports `{package}` as `{}`",
            status.unwrap_or_else(|| "unknown".into())
        ))
        .kind(ErrorKind::Check);
    }

    Ok(())
}

/// The package's files (not directories), for finding the binaries and for checking the purge.
fn installed_files(root: &Path, package: &str, shell: &Shell) -> Result<Vec<String>> {
    let listing = chroot(root)
        .args(["dpkg-query", "-L", package])
        .output(shell)
        .with_context(|| format!("failed to list the files of `{package}`"))
        .kind(ErrorKind::Check)?;
    let files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('/'))
        .filter(|l| {
            fs::symlink_metadata(root.join(l.trim_start_matches('/')))
                .map(|m| !m.is_dir())
                .unwrap_or(false)
        })
        .map(str::to_string)
        .collect();

    Ok(files)
}

/// Step 6: `apt-get purge`; then dpkg must not know the package, and none of its files nor any
/// enablement symlink of its units may remain.
fn purge(root: &Path, package: &str, files: &[String], how: &str, shell: &Shell) -> Result<()> {
    // Purge, and check that it is gone.
    let out = chroot(root)
        .args(["apt-get", "-o", "Dpkg::Use-Pty=0", "purge", "-y", package])
        .output_unchecked(shell)?;
    if !out.status.success() {
        return Err(check_failure(
            format!("`apt-get purge {package}` failed in the {how}"),
            &out,
        ))
        .kind(ErrorKind::Check);
    }
    if let Some(status) = dpkg_status(root, package, shell)? {
        if status != "unknown ok not-installed" && !status.ends_with(" not-installed") {
            return Err(anyhow::anyhow!(
                "after `apt-get purge`, dpkg still reports `{package}` as `{status}`"
            ))
            .kind(ErrorKind::Check);
        }
    }
    let left: Vec<&String> = files
        .iter()
        .filter(|f| fs::symlink_metadata(root.join(f.trim_start_matches('/'))).is_ok())
        .collect();
    if !left.is_empty() {
        let list: Vec<&str> = left.iter().map(|s| s.as_str()).collect();
        return Err(anyhow::anyhow!(
            "after `apt-get purge {package}`, files of the package remain: {}",
            list.join(", ")
        ))
        .kind(ErrorKind::Check);
    }
    let stale: Vec<String> = enablement_links(root, files)
        .iter()
        .map(|l| format!("/{}", l.link))
        .collect();
    if !stale.is_empty() {
        return Err(anyhow::anyhow!(
            "after `apt-get purge {package}`, systemd enablement symlinks of its units remain: {}",
            stale.join(", ")
        ))
        .kind(ErrorKind::Check)
        .hint("let `postrm` run `deb-systemd-helper purge` (and `--user purge` for user units) on purge, as the generated scripts do");
    }
    shell.status(
        "Purged",
        format!(
            "{package} ({} file{} removed, none left)",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ),
    );
    Ok(())
}

/// `--install` (cargo-deb's): installs the package, and its `-dbgsym` package when given, on
/// this machine with `dpkg -i`, through `sudo` when not root, as cargo-deb does.
pub fn install_on_host(deb: &Path, dbgsym: Option<&Path>, shell: &Shell) -> Result<()> {
    let root = require_root().is_ok();
    let mut cmd = if root {
        Cmd::new("dpkg")
    } else {
        Cmd::new("sudo").arg("dpkg")
    };
    cmd = cmd.arg("-i");
    if let Some(d) = dbgsym {
        cmd = cmd.arg(d);
    }
    shell.status("Installing", deb.display());
    cmd.arg(deb)
        .install_hint(
            "`--install` runs `dpkg -i` (Debian and derivatives), through sudo when not root",
        )
        .run(shell)
        .with_context(|| format!("failed to install `{}` on this machine", deb.display()))
        .kind(ErrorKind::Check)?;
    shell.status("Installed", deb.display());
    Ok(())
}
