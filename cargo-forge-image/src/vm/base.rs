//! The base system: `mmdebstrap` of the image's package set, cached by the digest of that set.
//!
//! The base is everything the image has before the crate's package goes in: a `minbase` Debian
//! with systemd, udev, D-Bus, systemd-resolved and -timesyncd, the kernel, systemd-boot (UEFI),
//! and the packages the configuration adds (cloud-init, openssh-server, sudo, `packages`). It is
//! written by mmdebstrap as a tarball, with the package lists kept (so the crate's package can
//! pull its dependencies in without an `apt-get update`), and cached under
//! `<cache>/base-<arch>-<suite>-<digest>.tar`, where the digest covers the suite, the
//! architecture, the apt sources, the package set and [`RECIPE`]. A build with the same set
//! reuses it; a different set, suite or mirror builds another. mmdebstrap writes to a temporary
//! name that is renamed into place when complete, so an interrupted build is never taken for a
//! base.
//!
//! The base is not refreshed by itself: it holds the package versions of the day it was built,
//! and a base older than [`STALE_DAYS`] gets a warning naming the file to delete.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::Shell;

/// Version of the way bases are made; bumping it invalidates every cached base.
pub const RECIPE: &str = "cargo-forge/vm-base/1";
/// Age after which a cached base gets a warning (it misses the security updates since).
pub const STALE_DAYS: u64 = 14;

/// What the base is made of.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BasePlan {
    pub suite: String,
    /// Debian architecture.
    pub arch: String,
    /// apt source lines (`deb URI SUITE main`).
    pub sources: Vec<String>,
    /// Packages installed on top of `minbase`, sorted.
    pub packages: Vec<String>,
    /// sha256 of the above and [`RECIPE`].
    pub digest: String,
    /// The cached tarball.
    pub path: PathBuf,
}

impl BasePlan {
    pub fn new(
        suite: &str,
        arch: &str,
        sources: Vec<String>,
        mut packages: Vec<String>,
        cache_dir: &Path,
    ) -> BasePlan {
        packages.sort();
        packages.dedup();
        let canonical = serde_json::json!({
            "recipe": RECIPE,
            "suite": suite,
            "arch": arch,
            "sources": sources,
            "packages": packages,
        });
        let digest = hex::encode(Sha256::digest(canonical.to_string()));
        let path = cache_dir.join(format!("base-{arch}-{suite}-{}.tar", &digest[..16]));
        BasePlan {
            suite: suite.into(),
            arch: arch.into(),
            sources,
            packages,
            digest,
            path,
        }
    }

    /// The mmdebstrap command that writes the base to `out`.
    pub fn command(&self, out: &Path, root_mode: bool) -> Cmd {
        let mut cmd = Cmd::new("mmdebstrap")
            .arg("--variant=minbase")
            .arg(if root_mode {
                "--mode=root"
            } else {
                "--mode=unshare"
            })
            .arg(format!("--architectures={}", self.arch))
            .arg(format!("--include={}", self.packages.join(",")))
            // The crate's package is installed from these lists, then they are removed.
            .arg("--skip=cleanup/apt/lists")
            .arg("--aptopt=Acquire::Retries \"3\"")
            .arg(&self.suite)
            .arg(out);
        for s in &self.sources {
            cmd = cmd.arg(s);
        }
        cmd.env_remove("SOURCE_DATE_EPOCH")
            .install_hint("apt-get install mmdebstrap")
    }
}

/// The apt sources of an image: the suite from `mirror`, and for releases that have them the
/// `-updates` suite from the same mirror and `-security` from the security archive (the
/// mirror's `debian-security` sibling when its path ends in `/debian`, else deb.debian.org's).
pub fn sources(mirror: &str, suite: &str) -> Vec<String> {
    let mirror = mirror.trim_end_matches('/');
    let mut lines = vec![format!("deb {mirror} {suite} main")];
    if !matches!(suite, "sid" | "unstable" | "experimental" | "rc-buggy") {
        lines.push(format!("deb {mirror} {suite}-updates main"));
        let security = match mirror.strip_suffix("/debian") {
            Some(base) => format!("{base}/debian-security"),
            None => "http://deb.debian.org/debian-security".to_string(),
        };
        lines.push(format!("deb {security} {suite}-security main"));
    }
    lines
}

/// Whether this process runs as root (mmdebstrap's root mode, chroot, file ownership).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user of this process.
    fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
        == 0
}

/// Returns the cached base, building it first when missing.
pub fn ensure(plan: &BasePlan, shell: &Shell) -> Result<PathBuf> {
    if plan.path.is_file() {
        shell.verbose_status("Fresh", format!("base system `{}`", plan.path.display()));
        warn_if_stale(&plan.path, shell);
        return Ok(plan.path.clone());
    }
    let dir = plan
        .path
        .parent()
        .context("the base cache has no directory")?;
    forge_core::fsx::create_dir_all(dir)?;
    clean_stale_temporaries(dir);
    let tmp = dir.join(format!(
        ".tmp-{}-{}.tar",
        std::process::id(),
        &plan.digest[..16]
    ));
    shell.status(
        "Installing",
        format!(
            "Debian {} ({}) base system with mmdebstrap: {} packages on minbase",
            plan.suite,
            plan.arch,
            plan.packages.len()
        ),
    );
    let started = std::time::Instant::now();
    let cmd = plan.command(&tmp, is_root());
    let progress = shell.spinner("mmdebstrap", format!("{} ({})", plan.suite, plan.arch));
    let mut text = String::new();
    let result = cmd.stream_output(shell, |line| {
        if let Some(step) = line.strip_prefix("I: ") {
            progress.set_message(format!("{} ({}): {step}", plan.suite, plan.arch));
        }
        text.push_str(line);
        text.push('\n');
        Ok(())
    });
    progress.finish_and_clear();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        let err = err.context(format!(
            "mmdebstrap could not install the {} base system ({})",
            plan.arch, plan.suite
        ));
        let network = text.contains("Could not resolve")
            || text.contains("Failed to fetch")
            || text.contains("Unable to connect")
            || text.contains("Temporary failure resolving");
        return if network {
            Err(err)
                .kind(ErrorKind::Network)
                .hint("check that the Debian mirror is reachable, or set `mirror` in [package.metadata.forge.vm] (or FORGE_DEBIAN_MIRROR)")
        } else if text.contains("Unable to locate package")
            || text.contains("has no installation candidate")
        {
            Err(err)
                .kind(ErrorKind::Usage)
                .hint("check the names in `packages` and `kernel` of [package.metadata.forge.vm] against the suite")
        } else {
            Err(err)
        };
    }
    fs::rename(&tmp, &plan.path).with_context(|| {
        format!(
            "failed to move the base system into place as `{}`",
            plan.path.display()
        )
    })?;
    shell.status(
        "Installed",
        format!(
            "base system `{}` in {:.1}s",
            plan.path.display(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(plan.path.clone())
}

fn warn_if_stale(path: &Path, shell: &Shell) {
    let age = fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok());
    if let Some(age) = age {
        if age > Duration::from_secs(STALE_DAYS * 86_400) {
            shell.warn(format!(
                "the cached base system `{}` is {} days old and misses the Debian updates since; delete it to build a fresh one",
                path.display(),
                age.as_secs() / 86_400
            ));
        }
    }
}

/// Removes temporary tarballs of interrupted builds older than six hours.
fn clean_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(".tmp-") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|a| a > Duration::from_secs(6 * 3600));
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_of_stable_and_unstable() {
        let s = sources("http://deb.debian.org/debian/", "bookworm");
        assert_eq!(
            s,
            [
                "deb http://deb.debian.org/debian bookworm main",
                "deb http://deb.debian.org/debian bookworm-updates main",
                "deb http://deb.debian.org/debian-security bookworm-security main"
            ]
        );
        assert_eq!(sources("http://m/x", "sid").len(), 1);
        assert!(sources("http://m/x", "trixie")[2].contains("deb.debian.org/debian-security"));
    }

    #[test]
    fn digest_depends_on_the_set_not_its_order() {
        let dir = Path::new("/c");
        let a = BasePlan::new(
            "bookworm",
            "amd64",
            vec!["deb x".into()],
            vec!["b".into(), "a".into()],
            dir,
        );
        let b = BasePlan::new(
            "bookworm",
            "amd64",
            vec!["deb x".into()],
            vec!["a".into(), "b".into(), "a".into()],
            dir,
        );
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.path, b.path);
        let c = BasePlan::new(
            "bookworm",
            "arm64",
            vec!["deb x".into()],
            vec!["a".into()],
            dir,
        );
        assert_ne!(a.digest, c.digest);
        let cmd = a.command(Path::new("/o.tar"), true).display();
        assert!(cmd.contains("--include=a,b"), "{cmd}");
        assert!(cmd.contains("--mode=root"), "{cmd}");
    }
}
