//! Commands in the root: the per-test copy of the clean root ([`CleanRoot`]), `chroot` with a
//! clean environment, `dpkg` status queries, and apt's failures reported with their output.

use super::*;

/// `chroot ROOT …` with a clean, predictable environment.
/// A fresh copy of the cached clean root, with `/proc` mounted, removed when dropped. Also used
/// by the end-to-end tests of `cargo forge-deb repo`, which install from a repository in it.
pub struct CleanRoot<'a> {
    // Field order matters: `/proc` is unmounted before the copy is deleted.
    _proc: ProcMount<'a>,
    _scratch: Scratch<'a>,
    /// The root directory.
    pub root: PathBuf,
    /// Whether its architecture is foreign (runs through qemu via binfmt_misc).
    pub foreign: bool,
}

impl<'a> CleanRoot<'a> {
    /// Builds (once, cached) and copies the clean root for `t.arch`.
    pub fn create(t: &InstallTest, shell: &'a Shell) -> Result<CleanRoot<'a>> {
        require_root()?;
        let qemu = qemu_name(t);
        let foreign = is_foreign(&t.arch);
        let binfmt = if foreign {
            Some(find_binfmt(&t.arch, &qemu)?)
        } else {
            None
        };
        clean_stale(&t.cache_dir, shell);
        let cached = ensure_root(t, binfmt.as_ref(), shell)?;
        let scratch = Scratch::create_in(&t.cache_dir, ".test-", shell)?;
        let root = scratch.path.join("root");
        Cmd::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(&cached)
            .arg(&root)
            .output(shell)
            .with_context(|| format!("failed to copy the clean root `{}`", cached.display()))?;
        if let Some(b) = &binfmt {
            provide_interpreter(&root, b, &qemu)?;
        }
        prepare_root(&root)?;
        let proc = ProcMount::mount(&root.join("proc"), shell)?;
        Ok(CleanRoot {
            _proc: proc,
            _scratch: scratch,
            root,
            foreign,
        })
    }

    /// A command run inside the root.
    pub fn command(&self) -> Cmd {
        chroot(&self.root)
    }
}

/// A command run inside the Debian root at `root` (`chroot ROOT …`), in the environment a
/// package's maintainer scripts expect: the root's `PATH`, no debconf questions, the C locale,
/// `HOME=/root`, and no host `APT_CONFIG`/`LANGUAGE` leaking in. forge-image's VM root uses it too.
pub fn chroot(root: &Path) -> Cmd {
    Cmd::new("chroot")
        .arg(root)
        .env("PATH", PATH_IN_ROOT)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env("HOME", "/root")
        .env("TMPDIR", "/tmp")
        .env_remove("APT_CONFIG")
        .env_remove("LANGUAGE")
}

/// dpkg's `Status:` of a package in the root, `None` when dpkg does not know it.
pub(super) fn dpkg_status(root: &Path, package: &str, shell: &Shell) -> Result<Option<String>> {
    let out = chroot(root)
        .args(["dpkg", "-s", package])
        .output_unchecked(shell)?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Status:"))
        .map(|s| s.trim().to_string()))
}

/// Whether apt failed for want of (current) package lists: it could not resolve a dependency, or
/// could not download one that its cached lists name.
pub(super) fn needs_package_lists(out: &std::process::Output) -> bool {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Missing lists (unresolvable), or stale ones (the listed version left the mirror).
    [
        "unmet dependencies",
        "Unable to locate package",
        "has no installation candidate",
        "is not installable",
        "Unable to fetch some archives",
        "404  Not Found",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// An error with the tail of a command's output (stdout and stderr together, as apt interleaves).
pub(super) fn check_failure(what: String, out: &std::process::Output) -> anyhow::Error {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(25)..].join("\n");
    let tail = forge_core::secret::redact(&tail);
    if tail.is_empty() {
        anyhow::anyhow!("{what}")
    } else {
        anyhow::anyhow!("{what}:\n{tail}")
    }
}
/// Per-test setup of a copied root: DNS for `apt-get update`, no service starts.
pub(super) fn prepare_root(root: &Path) -> Result<()> {
    let resolv = root.join("etc/resolv.conf");
    if let Ok(text) = fs::read("/etc/resolv.conf") {
        let _ = fs::remove_file(&resolv);
        fs::write(&resolv, text)
            .with_context(|| format!("failed to write `{}`", resolv.display()))?;
    }
    let policy = root.join("usr/sbin/policy-rc.d");
    fs::write(
        &policy,
        "#!/bin/sh\n# cargo-forge install test: never start services in this root\nexit 101\n",
    )
    .with_context(|| format!("failed to write `{}`", policy.display()))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&policy, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("failed to set permissions of `{}`", policy.display()))?;
    fs::create_dir_all(root.join("tmp"))
        .with_context(|| format!("failed to create `{}/tmp`", root.display()))?;
    Ok(())
}

pub(super) fn require_root() -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user of this process.
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if uid != 0 {
        return Err(usage(
            "the install test needs root (it runs debootstrap, chroot and mount)",
        ))
        .hint("run it as root, e.g. in a CI container or a VM, or with `sudo -E`");
    }
    Ok(())
}
