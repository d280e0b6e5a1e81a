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

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::target::TargetInfo;
use forge_core::Shell;

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

    // Install.
    shell.status(
        "Installing",
        format!("{package} {} ({how})", info.version()),
    );
    let install = || {
        chroot(&root)
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
        let up = chroot(&root)
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
    let status = dpkg_status(&root, &package, shell)?;
    if status.as_deref() != Some("install ok installed") {
        return Err(anyhow::anyhow!(
            "after `apt-get install`, dpkg reports `{package}` as `{}`",
            status.unwrap_or_else(|| "unknown".into())
        ))
        .kind(ErrorKind::Check);
    }

    // The package's files, for finding the binaries and for checking the purge.
    let listing = chroot(&root)
        .args(["dpkg-query", "-L", &package])
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

    // systemd units: which the maintainer scripts enabled (symlinks under /etc/systemd).
    let enabled = enablement_links(&root, &files);
    if enabled.is_empty() {
        if files.iter().any(|f| unit_of(f).is_some()) {
            shell.status(
                "Enabled",
                "none of its systemd units (no enablement symlinks)",
            );
        }
    } else {
        let shown: Vec<String> = enabled.iter().map(|l| l.describe()).collect();
        shell.status("Enabled", shown.join(", "));
    }

    // Run: `<binary> --version` for each program, or the configured command.
    let commands: Vec<Vec<String>> = match &t.command {
        Some(c) if c.is_empty() => Vec::new(),
        Some(c) => {
            let mut c = c.clone();
            if !c[0].contains('/') {
                if let Some(p) = find_binary(&files, &c[0]) {
                    c[0] = p;
                }
            }
            vec![c]
        }
        None => t
            .binaries
            .iter()
            .map(|name| {
                find_binary(&files, name)
                    .map(|p| vec![p, "--version".to_string()])
                    .with_context(|| {
                        format!(
                            "`{package}` installs no program `{name}` (its files: {})",
                            files.join(", ")
                        )
                    })
                    .kind(ErrorKind::Check)
            })
            .collect::<Result<_>>()?,
    };
    let configured = t.command.is_some();
    let fix = "set what to run with `install-test = { command = [...], timeout = SECONDS }` in [package.metadata.forge.deb] (`command = []` runs nothing)";
    for argv in &commands {
        let shown = argv.join(" ");
        let out = chroot(&root)
            .args(["timeout", &t.timeout.to_string()])
            .args(argv)
            .output_unchecked(shell)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let what = if out.status.code() == Some(124) {
                format!(
                    "`{shown}` did not finish within {} s in the {how}",
                    t.timeout
                )
            } else {
                format!("`{shown}` failed with {} in the {how}", out.status)
            };
            let err = Err(check_failure(what, &out)).kind(ErrorKind::Check);
            return if configured { err } else { err.hint(fix) };
        }
        let printed = if stdout.trim().is_empty() {
            stderr.trim()
        } else {
            stdout.trim()
        };
        if printed.is_empty() && !configured {
            return Err(anyhow::anyhow!("`{shown}` printed nothing in the {how}"))
                .kind(ErrorKind::Check)
                .hint(fix);
        }
        shell.status(
            "Running",
            format!("`{shown}`: {}", printed.lines().next().unwrap_or_default()),
        );
    }

    // Purge, and check that it is gone.
    let out = chroot(&root)
        .args(["apt-get", "-o", "Dpkg::Use-Pty=0", "purge", "-y", &package])
        .output_unchecked(shell)?;
    if !out.status.success() {
        return Err(check_failure(
            format!("`apt-get purge {package}` failed in the {how}"),
            &out,
        ))
        .kind(ErrorKind::Check);
    }
    if let Some(status) = dpkg_status(&root, &package, shell)? {
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
    let stale: Vec<String> = enablement_links(&root, &files)
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

/// `(user, unit name)` when `file` (a path in the root) is a systemd unit the package installs.
fn unit_of(file: &str) -> Option<(bool, &str)> {
    for (dir, user) in [
        ("/usr/lib/systemd/system/", false),
        ("/lib/systemd/system/", false),
        ("/usr/lib/systemd/user/", true),
    ] {
        if let Some(name) = file.strip_prefix(dir) {
            if !name.contains('/') {
                return Some((user, name));
            }
        }
    }
    None
}

/// One enablement symlink of a unit of the package.
struct Enablement {
    /// The link, relative to the root (`etc/systemd/system/timers.target.wants/x.timer`).
    link: String,
    user: bool,
    unit: String,
}

impl Enablement {
    /// `x.timer (timers.target.wants)`, `agent.service (user, default.target.wants)`.
    fn describe(&self) -> String {
        let place = Path::new(&self.link)
            .parent()
            .and_then(|p| p.file_name())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if self.user {
            format!("{} (user, {place})", self.unit)
        } else {
            format!("{} ({place})", self.unit)
        }
    }
}

/// The symlinks under `/etc/systemd/{system,user}` (directly or in a `*.wants`/`*.requires`
/// directory) that point at one of the package's units: what `deb-systemd-helper enable`
/// (`--user` for user units) creates, and `purge` must remove. Read directly rather than through
/// `systemctl is-enabled`, which needs a running systemd the clean root does not have.
fn enablement_links(root: &Path, files: &[String]) -> Vec<Enablement> {
    let units: Vec<(bool, &str)> = files.iter().filter_map(|f| unit_of(f)).collect();
    let mut out = Vec::new();
    if units.is_empty() {
        return out;
    }
    for (sub, user) in [("etc/systemd/system", false), ("etc/systemd/user", true)] {
        let mut dirs = vec![root.join(sub)];
        if let Ok(entries) = fs::read_dir(root.join(sub)) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                }
            }
        }
        for dir in dirs {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(target) = fs::read_link(e.path()) else {
                    continue;
                };
                let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if !units.iter().any(|(u, n)| *u == user && *n == name) {
                    continue;
                }
                let link = e
                    .path()
                    .strip_prefix(root)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push(Enablement {
                    link,
                    user,
                    unit: name.to_string(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.link.cmp(&b.link));
    out
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

// ---------------------------------------------------------------------------------------------
// Commands in the root

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

fn chroot(root: &Path) -> Cmd {
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
fn dpkg_status(root: &Path, package: &str, shell: &Shell) -> Result<Option<String>> {
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
fn needs_package_lists(out: &std::process::Output) -> bool {
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
fn check_failure(what: String, out: &std::process::Output) -> anyhow::Error {
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

/// The installed path of program `name`: an entry of the file list named so, preferring the
/// usual program directories.
fn find_binary(files: &[String], name: &str) -> Option<String> {
    if name.starts_with('/') {
        return files.iter().find(|f| *f == name).cloned();
    }
    let candidates: Vec<&String> = files
        .iter()
        .filter(|f| Path::new(f).file_name().is_some_and(|n| n == name))
        .collect();
    for dir in [
        "/usr/bin/",
        "/bin/",
        "/usr/sbin/",
        "/sbin/",
        "/usr/games/",
        "/usr/local/bin/",
    ] {
        if let Some(c) = candidates
            .iter()
            .find(|c| c.strip_prefix(dir).is_some_and(|rest| !rest.contains('/')))
        {
            return Some((*c).clone());
        }
    }
    candidates.first().map(|c| (*c).clone())
}

/// Per-test setup of a copied root: DNS for `apt-get update`, no service starts.
fn prepare_root(root: &Path) -> Result<()> {
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

fn require_root() -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// Architectures and binfmt

fn host_dpkg_arch() -> Option<String> {
    forge_core::target::lookup(forge_core::target::host_triple())
        .ok()
        .map(|t| t.dpkg_arch)
}

/// Whether programs of `arch` need qemu here. An amd64 kernel runs i386 programs itself (IA32
/// emulation, on in Debian's kernels), so an i386 root needs no binfmt entry.
pub fn is_foreign(arch: &str) -> bool {
    host_dpkg_arch().is_none_or(|h| h != arch && !(h == "amd64" && arch == "i386"))
}

/// The qemu-user program for the root's architecture (`qemu-aarch64`).
fn qemu_name(t: &InstallTest) -> String {
    if t.target.dpkg_arch == t.arch {
        return t.target.qemu.clone();
    }
    forge_core::target::triple_for_dpkg_arch(&t.arch)
        .and_then(|triple| forge_core::target::lookup(triple).ok())
        .map_or_else(|| t.target.qemu.clone(), |i| i.qemu)
}

/// A binfmt_misc registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binfmt {
    pub name: String,
    pub enabled: bool,
    pub interpreter: PathBuf,
    pub flags: String,
}

impl Binfmt {
    /// Parses a `/proc/sys/fs/binfmt_misc/<name>` file.
    pub fn parse(name: &str, text: &str) -> Binfmt {
        let mut b = Binfmt {
            name: name.to_string(),
            enabled: false,
            interpreter: PathBuf::new(),
            flags: String::new(),
        };
        for line in text.lines() {
            if line.trim() == "enabled" {
                b.enabled = true;
            } else if let Some(i) = line.strip_prefix("interpreter ") {
                b.interpreter = PathBuf::from(i.trim());
            } else if let Some(f) = line.strip_prefix("flags:") {
                b.flags = f.trim().to_string();
            }
        }
        b
    }

    /// Whether the kernel opened the interpreter at registration (`F`), so it need not exist
    /// inside a chroot.
    pub fn fix_binary(&self) -> bool {
        self.flags.contains('F')
    }
}

const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The enabled binfmt registration that runs `arch` programs: `qemu-<cpu>`, or any entry whose
/// interpreter is named after the qemu binary.
pub fn find_binfmt(arch: &str, qemu: &str) -> Result<Binfmt> {
    let dir = Path::new(BINFMT_DIR);
    let cpu = qemu.trim_start_matches("qemu-");
    let global_enabled = fs::read_to_string(dir.join("status")).map(|s| s.trim() == "enabled");
    let mut found = None;
    if let Ok(true) = global_enabled {
        if let Ok(text) = fs::read_to_string(dir.join(qemu)) {
            found = Some(Binfmt::parse(qemu, &text));
        } else if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name == "status" || name == "register" {
                    continue;
                }
                if let Ok(text) = fs::read_to_string(e.path()) {
                    let b = Binfmt::parse(&name, &text);
                    let interp = b
                        .interpreter
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if interp == qemu
                        || interp.starts_with(&format!("{qemu}-"))
                        || interp.starts_with(&format!("{cpu}-binfmt"))
                    {
                        found = Some(b);
                        break;
                    }
                }
            }
        }
    }
    let why = match (&global_enabled, &found) {
        (_, Some(b)) if b.enabled => return Ok(b.clone()),
        (_, Some(b)) => format!("the registration `{BINFMT_DIR}/{}` is disabled", b.name),
        (Ok(false), None) => format!("binfmt_misc is disabled (`{BINFMT_DIR}/status`)"),
        (Err(_), None) => format!("binfmt_misc is not mounted at `{BINFMT_DIR}`"),
        (Ok(true), None) => format!("nothing is registered as `{BINFMT_DIR}/{qemu}`"),
    };
    Err(anyhow::anyhow!(
        "installing and running `{arch}` packages on this machine needs qemu registered with the \
         kernel (binfmt_misc), and {why}"
    ))
    .kind(ErrorKind::MissingTool)
    .hint(format!(
        "install qemu with `apt-get install qemu-user-static binfmt-support`; in a container or \
         where binfmt_misc is not mounted, run (as root) `mount -t binfmt_misc binfmt_misc \
         {BINFMT_DIR} && update-binfmts --enable {qemu}`"
    ))
}

/// For a registration without the `F` flag, puts a static qemu at the interpreter path inside
/// the root.
pub fn provide_interpreter(root: &Path, binfmt: &Binfmt, qemu: &str) -> Result<()> {
    if binfmt.fix_binary() || binfmt.interpreter.as_os_str().is_empty() {
        return Ok(());
    }
    let inside = root.join(
        binfmt
            .interpreter
            .strip_prefix("/")
            .unwrap_or(&binfmt.interpreter),
    );
    if inside.exists() {
        return Ok(());
    }
    let source =
        which::which(format!("{qemu}-static")).unwrap_or_else(|_| binfmt.interpreter.clone());
    if let Some(parent) = inside.parent() {
        forge_core::fsx::create_dir_all(parent)?;
    }
    fs::copy(&source, &inside).with_context(|| {
        format!(
            "failed to copy `{}` into the root as `{}`",
            source.display(),
            inside.display()
        )
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The cached root

/// The mirror for debootstrap: `FORGE_DEBIAN_MIRROR`, else the host's, else the default.
pub fn mirror() -> String {
    if let Ok(m) = std::env::var("FORGE_DEBIAN_MIRROR") {
        if !m.trim().is_empty() {
            return m.trim().trim_end_matches('/').to_string();
        }
    }
    host_mirror().unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

/// The Debian mirror named by this host's apt sources, when the host runs Debian.
fn host_mirror() -> Option<String> {
    let os = fs::read_to_string("/etc/os-release").ok()?;
    if !os.lines().any(|l| l.trim() == "ID=debian") {
        return None;
    }
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push((false, t));
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let deb822 = p.extension().is_some_and(|e| e == "sources");
            let list = p.extension().is_some_and(|e| e == "list");
            if deb822 || list {
                if let Ok(t) = fs::read_to_string(&p) {
                    texts.push((deb822, t));
                }
            }
        }
    }
    texts.iter().find_map(|(deb822, t)| {
        if *deb822 {
            mirror_from_deb822(t)
        } else {
            mirror_from_list(t)
        }
    })
}

/// A Debian main-archive URI is an http(s) URI of a `deb` source whose suite is a plain release
/// (no `-updates`/`-security`) and which is not the security archive.
fn usable_mirror(uri: &str, suites: &[&str]) -> Option<String> {
    let ok = (uri.starts_with("http://") || uri.starts_with("https://"))
        && !uri.contains("security")
        && suites.iter().any(|s| !s.contains('-') && !s.contains('/'));
    ok.then(|| uri.trim_end_matches('/').to_string())
}

fn mirror_from_list(text: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some(m) = usable_mirror(uri, &[suite]) {
            return Some(m);
        }
    }
    None
}

fn mirror_from_deb822(text: &str) -> Option<String> {
    let paragraphs = crate::repo::parse_paragraphs(text, "apt sources").ok()?;
    for p in paragraphs {
        if p.get("Enabled")
            .is_some_and(|e| e.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        if !p
            .get("Types")
            .is_some_and(|t| t.split_whitespace().any(|t| t == "deb"))
        {
            continue;
        }
        let suites: Vec<&str> = p
            .get("Suites")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        for uri in p.get("URIs").unwrap_or_default().split_whitespace() {
            if let Some(m) = usable_mirror(uri, &suites) {
                return Some(m);
            }
        }
    }
    None
}

/// The cached clean root for the test's architecture, built when missing.
fn ensure_root(t: &InstallTest, binfmt: Option<&Binfmt>, shell: &Shell) -> Result<PathBuf> {
    let name = format!("{SUITE}-{}-minbase", t.arch);
    let final_dir = t.cache_dir.join(&name);
    if final_dir.join(STAMP).is_file() {
        shell.verbose_status("Fresh", format!("clean root `{}`", final_dir.display()));
        return Ok(final_dir);
    }
    if final_dir.exists() {
        shell.warn(format!(
            "`{}` is an incomplete root (no `{STAMP}`); building it again",
            final_dir.display()
        ));
        let stale = Scratch::adopt(
            t.cache_dir
                .join(format!(".{name}.stale-{}", std::process::id())),
            shell,
        );
        fs::rename(&final_dir, &stale.path)
            .with_context(|| format!("failed to move `{}` aside", final_dir.display()))?;
        drop(stale);
    }
    let debootstrap = which::which("debootstrap")
        .or_else(|_| which::which("/usr/sbin/debootstrap"))
        .map(|p| p.into_os_string())
        .unwrap_or_else(|_| "debootstrap".into());
    let mirror = mirror();
    let foreign = binfmt.is_some();
    let build = Scratch::create_in(&t.cache_dir, &format!(".{name}."), shell)?;
    let dir = build.path.join("root");
    shell.status(
        "Creating",
        format!(
            "clean Debian {SUITE} {} root (debootstrap minbase from {mirror}; a few minutes, once)",
            t.arch
        ),
    );
    let spinner = shell.spinner("Bootstrapping", format!("{SUITE} {}", t.arch));
    let mut cmd = Cmd::new(&debootstrap)
        .install_hint("install debootstrap with `apt-get install debootstrap`")
        .arg("--variant=minbase")
        .arg(format!("--arch={}", t.arch));
    if foreign {
        cmd = cmd.arg("--foreign");
    }
    let cmd = cmd.arg(SUITE).arg(&dir).arg(&mirror).env("LC_ALL", "C");
    let out = cmd.output_unchecked(shell)?;
    if !out.status.success() {
        spinner.finish_and_clear();
        return Err(debootstrap_failure(&cmd, &out, &dir));
    }
    if let Some(b) = binfmt {
        provide_interpreter(&dir, b, &qemu_name(t))?;
        let second = chroot(&dir).args(["/debootstrap/debootstrap", "--second-stage"]);
        let out = second.output_unchecked(shell)?;
        if !out.status.success() {
            spinner.finish_and_clear();
            return Err(debootstrap_failure(&second, &out, &dir));
        }
    }
    spinner.finish_and_clear();
    if unmount_under(&build.path, shell) > 0 {
        bail!(
            "debootstrap left file systems mounted under `{}`",
            build.path.display()
        );
    }
    let stamp = format!(
        "suite={SUITE}\narch={}\nvariant=minbase\nmirror={mirror}\nforeign={foreign}\n",
        t.arch
    );
    forge_core::fsx::write_atomic(&dir.join(STAMP), stamp.as_bytes())?;
    match fs::rename(&dir, &final_dir) {
        Ok(()) => {}
        // Another run finished the same root first: use theirs.
        Err(_) if final_dir.join(STAMP).is_file() => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!("failed to move the new root to `{}`", final_dir.display())
            })
        }
    }
    drop(build);
    Ok(final_dir)
}

fn debootstrap_failure(cmd: &Cmd, out: &std::process::Output, dir: &Path) -> anyhow::Error {
    let log = fs::read_to_string(dir.join("debootstrap/debootstrap.log")).unwrap_or_default();
    let text = format!(
        "{}\n{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let network = [
        "Failed getting release file",
        "Couldn't download",
        "Failed getting",
        "Temporary failure resolving",
        "Could not resolve",
    ]
    .iter()
    .any(|m| text.contains(m));
    let keyring = text.contains("Release signed by unknown key") || text.contains("keyring");
    let mut e = check_failure(format!("`{}` failed", cmd.display()), out);
    if !log.trim().is_empty() {
        let lines: Vec<&str> = log.lines().collect();
        e = e.context(format!(
            "debootstrap log:\n{}",
            lines[lines.len().saturating_sub(15)..].join("\n")
        ));
    }
    if network {
        forge_core::exit::with_hint(
            forge_core::exit::with_kind(e, ErrorKind::Network),
            "check the network, or point FORGE_DEBIAN_MIRROR at a reachable Debian mirror".into(),
        )
    } else if keyring {
        forge_core::exit::with_hint(
            e,
            "install Debian's archive keys with `apt-get install debian-archive-keyring`".into(),
        )
    } else {
        e
    }
}

// ---------------------------------------------------------------------------------------------
// Guards

/// Mount points at or below `dir`, deepest first (from `/proc/self/mountinfo`).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything at or below `dir`; returns how many mounts remain.
fn unmount_under(dir: &Path, shell: &Shell) -> usize {
    for m in mounts_under(dir) {
        let ok = Cmd::new("umount")
            .arg(&m)
            .output_unchecked(shell)
            .is_ok_and(|o| o.status.success());
        if !ok {
            let _ = Cmd::new("umount").arg("-l").arg(&m).output_unchecked(shell);
        }
    }
    mounts_under(dir).len()
}

/// Work directories older than this were left by a run that was killed (destructors do not run
/// on SIGKILL or an unhandled Ctrl-C); younger ones may belong to a run in progress.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Removes work directories that killed runs left in `cache_dir` (unmounting what they left
/// mounted first).
fn clean_stale(cache_dir: &Path, shell: &Shell) {
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with('.') && (name.ends_with(".tmp") || name.contains(".stale-"));
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if ours && old && e.file_type().is_ok_and(|t| t.is_dir()) {
            shell.note(format!(
                "removing `{}`, left by an interrupted run",
                e.path().display()
            ));
            drop(Scratch::adopt(e.path(), shell));
        }
    }
}

/// A work directory that is removed when dropped, but only once nothing is mounted below it.
struct Scratch<'a> {
    path: PathBuf,
    shell: &'a Shell,
}

impl<'a> Scratch<'a> {
    fn create_in(dir: &Path, prefix: &str, shell: &'a Shell) -> Result<Scratch<'a>> {
        forge_core::fsx::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(".tmp")
            .tempdir_in(dir)
            .with_context(|| format!("failed to create a work directory in `{}`", dir.display()))?;
        Ok(Scratch::adopt(tmp.keep(), shell))
    }

    fn adopt(path: PathBuf, shell: &'a Shell) -> Scratch<'a> {
        Scratch { path, shell }
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if !self.path.exists() {
            return;
        }
        let remaining = unmount_under(&self.path, self.shell);
        if remaining > 0 {
            self.shell.warn(format!(
                "not deleting `{}`: {remaining} file system(s) are still mounted below it",
                self.path.display()
            ));
            return;
        }
        if let Err(e) = fs::remove_dir_all(&self.path) {
            self.shell
                .warn(format!("failed to delete `{}`: {e}", self.path.display()));
        }
    }
}

/// `/proc` mounted in a root for as long as the guard lives.
struct ProcMount<'a> {
    target: PathBuf,
    shell: &'a Shell,
}

impl<'a> ProcMount<'a> {
    fn mount(target: &Path, shell: &'a Shell) -> Result<ProcMount<'a>> {
        forge_core::fsx::create_dir_all(target)?;
        Cmd::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(target)
            .output(shell)
            .with_context(|| format!("failed to mount /proc at `{}`", target.display()))?;
        Ok(ProcMount {
            target: target.to_path_buf(),
            shell,
        })
    }
}

impl Drop for ProcMount<'_> {
    fn drop(&mut self) {
        let ok = Cmd::new("umount")
            .arg(&self.target)
            .output_unchecked(self.shell)
            .is_ok_and(|o| o.status.success());
        if !ok {
            let lazy = Cmd::new("umount")
                .arg("-l")
                .arg(&self.target)
                .output_unchecked(self.shell)
                .is_ok_and(|o| o.status.success());
            if !lazy {
                self.shell
                    .warn(format!("failed to unmount `{}`", self.target.display()));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::print_stderr)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_from_sources() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            mirror_from_deb822(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let only_security = "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_from_deb822(only_security), None);
        let disabled = "Enabled: no\nTypes: deb\nURIs: http://a/debian\nSuites: bookworm\n";
        assert_eq!(mirror_from_deb822(disabled), None);
        let list = "# comment\ndeb-src http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n";
        assert_eq!(
            mirror_from_list(list).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(mirror_from_list("deb file:/srv/repo ./\n"), None);
    }

    #[test]
    fn binfmt_entries() {
        let text = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c46\n";
        let b = Binfmt::parse("qemu-aarch64", text);
        assert!(b.enabled && b.fix_binary());
        assert_eq!(
            b.interpreter,
            Path::new("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
        );
        let b = Binfmt::parse(
            "qemu-arm",
            "disabled\ninterpreter /usr/bin/qemu-arm-static\nflags: \n",
        );
        assert!(!b.enabled && !b.fix_binary());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn binaries_are_found_in_program_dirs() {
        let files: Vec<String> = [
            "/usr/share/doc/app/app",
            "/usr/lib/app/bin/app",
            "/usr/bin/app",
            "/usr/sbin/appd",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(find_binary(&files, "app").as_deref(), Some("/usr/bin/app"));
        assert_eq!(
            find_binary(&files, "appd").as_deref(),
            Some("/usr/sbin/appd")
        );
        assert_eq!(find_binary(&files, "nope"), None);
    }

    #[test]
    fn wrong_architecture_is_a_usage_error() {
        if !forge_core::process::exists("dpkg-deb") {
            eprintln!("skipping: dpkg-deb is not installed");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let deb = e2e::script_deb(tmp.path(), "forge-wrong", "arm64", "#!/bin/sh\necho x\n");
        let t = InstallTest {
            deb,
            arch: "amd64".into(),
            target: forge_core::target::lookup("x86_64-unknown-linux-gnu").unwrap(),
            binaries: vec![],
            cache_dir: tmp.path().join("roots"),
            command: None,
            timeout: 120,
        };
        let e = run(&t, &Shell::plain()).unwrap_err();
        assert!(
            format!("{e:#}").contains("is a package for `arm64`, not `amd64`"),
            "{e:#}"
        );
        assert_eq!(forge_core::exit::code_of(&e), 2);
    }

    /// Real runs: debootstrap (network, a few minutes the first time), chroot, apt. Only with
    /// `FORGE_E2E=1`, as root.
    mod e2e {
        use super::*;

        /// The end-to-end tests run one at a time: they are heavy, and they check that no mount
        /// is left under the shared cache, which a parallel test would have.
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

        pub(super) fn serial() -> std::sync::MutexGuard<'static, ()> {
            SERIAL.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub(super) fn enabled(what: &str) -> bool {
            if std::env::var("FORGE_E2E").as_deref() != Ok("1") {
                eprintln!("skipping {what}: set FORGE_E2E=1 to run install tests for real (needs root, debootstrap and network)");
                return false;
            }
            if require_root().is_err() {
                eprintln!("skipping {what}: not running as root");
                return false;
            }
            for tool in ["debootstrap", "dpkg-deb", "chroot"] {
                if !forge_core::process::exists(tool) && !Path::new("/usr/sbin").join(tool).exists()
                {
                    eprintln!("skipping {what}: `{tool}` is not installed");
                    return false;
                }
            }
            true
        }

        /// The shared cache of clean roots for these tests (kept between runs, like
        /// `target/forge/roots` would be).
        pub(super) fn cache_dir() -> PathBuf {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/forge-test-roots");
            fs::create_dir_all(&dir).unwrap();
            dir
        }

        fn control(name: &str, arch: &str, depends: Option<&str>) -> String {
            let mut c = format!(
                "Package: {name}\nVersion: 1.0-1\nArchitecture: {arch}\nMaintainer: Test <t@example.com>\n"
            );
            if let Some(d) = depends {
                c.push_str(&format!("Depends: {d}\n"));
            }
            c.push_str(&format!("Description: install test package {name}\n"));
            c
        }

        fn build(
            dir: &Path,
            name: &str,
            arch: &str,
            control_text: &str,
            files: &[(&str, Vec<u8>, u32)],
        ) -> PathBuf {
            use std::os::unix::fs::PermissionsExt;
            let root = dir.join(format!("{name}-{arch}"));
            fs::create_dir_all(root.join("DEBIAN")).unwrap();
            fs::write(root.join("DEBIAN/control"), control_text).unwrap();
            for (path, bytes, mode) in files {
                let p = root.join(path);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, bytes).unwrap();
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
            }
            let deb = dir.join(format!("{name}_1.0-1_{arch}.deb"));
            Cmd::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(&root)
                .arg(&deb)
                .output(&Shell::plain())
                .unwrap();
            deb
        }

        /// A package with one shell script as `/usr/bin/<name>` and a doc file.
        pub(super) fn script_deb(dir: &Path, name: &str, arch: &str, script: &str) -> PathBuf {
            build(
                dir,
                name,
                arch,
                &control(name, arch, None),
                &[
                    (
                        &format!("usr/bin/{name}"),
                        script.as_bytes().to_vec(),
                        0o755,
                    ),
                    (
                        &format!("usr/share/doc/{name}/README"),
                        b"test\n".to_vec(),
                        0o644,
                    ),
                ],
            )
        }

        fn test_for(deb: PathBuf, arch: &str, bins: &[&str]) -> InstallTest {
            let triple = forge_core::target::triple_for_dpkg_arch(arch).unwrap();
            InstallTest {
                deb,
                arch: arch.to_string(),
                target: forge_core::target::lookup(triple).unwrap(),
                binaries: bins.iter().map(|s| s.to_string()).collect(),
                cache_dir: cache_dir(),
                command: None,
                timeout: 120,
            }
        }

        #[test]
        fn native_script_package_installs_runs_and_purges() {
            if !enabled("the native install test") {
                return;
            }
            let _serial = serial();
            let shell = Shell::plain();
            let arch = host_dpkg_arch().unwrap();
            let tmp = tempfile::tempdir().unwrap();
            let deb = script_deb(
                tmp.path(),
                "forge-it-hello",
                &arch,
                "#!/bin/sh\necho \"forge-it-hello 1.0\"\n",
            );
            run(&test_for(deb, &arch, &["forge-it-hello"]), &shell).unwrap();
            // The cached root is stamped, pristine (the package is not in it), and no work
            // directory or mount is left behind.
            let cached = cache_dir().join(format!("bookworm-{arch}-minbase"));
            assert!(cached.join(STAMP).is_file());
            assert!(!cached.join("usr/bin/forge-it-hello").exists());
            assert!(mounts_under(&cache_dir()).is_empty());
            let leftovers: Vec<_> = fs::read_dir(cache_dir())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".test-"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }

        #[test]
        fn stale_work_dirs_are_unmounted_and_removed() {
            if !enabled("the stale work directory test") {
                return;
            }
            let _serial = serial();
            let shell = Shell::plain();
            let cache = tempfile::Builder::new()
                .prefix(".stale-test-")
                .tempdir_in(cache_dir())
                .unwrap();
            let old = cache.path().join(".test-killed.tmp");
            let young = cache.path().join(".test-running.tmp");
            fs::create_dir_all(young.join("root")).unwrap();
            let guard = ProcMount::mount(&old.join("root/proc"), &shell).unwrap();
            std::mem::forget(guard); // as if the run had been killed
            Cmd::new("touch")
                .args(["-d", "2 days ago"])
                .arg(&old)
                .output(&shell)
                .unwrap();
            assert_eq!(mounts_under(&old).len(), 1);
            clean_stale(cache.path(), &shell);
            assert!(!old.exists(), "the stale directory is removed");
            assert!(
                mounts_under(cache.path()).is_empty(),
                "and its mount undone"
            );
            assert!(young.exists(), "a recent one may belong to a running test");
        }

        #[test]
        fn native_failures_are_check_errors() {
            if !enabled("the native failure test") {
                return;
            }
            let _serial = serial();
            let shell = Shell::plain();
            let arch = host_dpkg_arch().unwrap();
            let tmp = tempfile::tempdir().unwrap();
            // --version fails.
            let deb = script_deb(
                tmp.path(),
                "forge-it-broken",
                &arch,
                "#!/bin/sh\necho 'no such flag' >&2\nexit 3\n",
            );
            let e = run(&test_for(deb, &arch, &["forge-it-broken"]), &shell).unwrap_err();
            let msg = format!("{e:#}");
            assert_eq!(forge_core::exit::code_of(&e), 4, "{msg}");
            assert!(
                msg.contains("--version` failed") && msg.contains("no such flag"),
                "{msg}"
            );
            // A postinst that fails: apt-get install fails, with dpkg's words.
            let deb = build(
                tmp.path(),
                "forge-it-postinst",
                &arch,
                &control("forge-it-postinst", &arch, None),
                &[(
                    "DEBIAN/postinst",
                    b"#!/bin/sh\necho postinst-exploded >&2\nexit 1\n".to_vec(),
                    0o755,
                )],
            );
            let e = run(&test_for(deb, &arch, &[]), &shell).unwrap_err();
            let msg = format!("{e:#}");
            assert_eq!(forge_core::exit::code_of(&e), 4, "{msg}");
            assert!(
                msg.contains("apt-get install") && msg.contains("postinst-exploded"),
                "{msg}"
            );
            // A program the package does not have.
            let deb = script_deb(tmp.path(), "forge-it-other", &arch, "#!/bin/sh\necho ok\n");
            let e = run(&test_for(deb, &arch, &["forge-it-missing"]), &shell).unwrap_err();
            assert!(
                format!("{e:#}").contains("installs no program `forge-it-missing`"),
                "{e:#}"
            );
            assert!(mounts_under(&cache_dir()).is_empty());
        }

        #[test]
        fn dependencies_outside_minbase_trigger_apt_update() {
            if !enabled("the dependency install test") {
                return;
            }
            let _serial = serial();
            let shell = Shell::plain();
            let arch = host_dpkg_arch().unwrap();
            let tmp = tempfile::tempdir().unwrap();
            // `hello` is not in minbase, and without package lists apt cannot find it. The lists
            // debootstrap leaves are dropped from a private copy of the cached root (the shared
            // one may be being copied by a parallel test), so the `apt-get update` path runs.
            let test = test_for(PathBuf::new(), &arch, &[]);
            let shared = ensure_root(&test, None, &shell).unwrap();
            let own = tempfile::Builder::new()
                .prefix(".deps-roots-")
                .tempdir_in(cache_dir())
                .unwrap();
            let copy = own.path().join(shared.file_name().unwrap());
            Cmd::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(&shared)
                .arg(&copy)
                .output(&shell)
                .unwrap();
            for e in fs::read_dir(copy.join("var/lib/apt/lists"))
                .unwrap()
                .flatten()
            {
                if e.file_type().unwrap().is_file() {
                    fs::remove_file(e.path()).unwrap();
                }
            }
            let deb = build(
                tmp.path(),
                "forge-it-deps",
                &arch,
                &control("forge-it-deps", &arch, Some("hello")),
                &[(
                    "usr/bin/forge-it-deps",
                    b"#!/bin/sh\nexec hello --version\n".to_vec(),
                    0o755,
                )],
            );
            let mut t = test_for(deb, &arch, &["forge-it-deps"]);
            t.cache_dir = own.path().to_path_buf();
            run(&t, &shell).unwrap();
            assert!(mounts_under(own.path()).is_empty());
        }

        #[test]
        fn arm64_c_program_under_qemu() {
            if !enabled("the arm64 install test") {
                return;
            }
            let _serial = serial();
            let host = host_dpkg_arch().unwrap();
            if host == "arm64" {
                eprintln!("skipping the arm64 install test: arm64 is native here");
                return;
            }
            if let Err(e) = find_binfmt("arm64", "qemu-aarch64") {
                eprintln!("skipping the arm64 install test: {e:#}");
                return;
            }
            if !forge_core::process::exists("aarch64-linux-gnu-gcc") {
                eprintln!(
                    "skipping the arm64 install test: aarch64-linux-gnu-gcc is not installed"
                );
                return;
            }
            let shell = Shell::plain();
            let tmp = tempfile::tempdir().unwrap();
            let src = tmp.path().join("hello.c");
            fs::write(
                &src,
                "#include <stdio.h>\n#include <string.h>\nint main(int c, char **v) {\n  if (c > 1 && !strcmp(v[1], \"--version\")) { printf(\"forge-it-arm 1.0 (aarch64)\\n\"); return 0; }\n  return 2;\n}\n",
            )
            .unwrap();
            let bin = tmp.path().join("forge-it-arm");
            Cmd::new("aarch64-linux-gnu-gcc")
                .args(["-O2", "-o"])
                .arg(&bin)
                .arg(&src)
                .output(&shell)
                .unwrap();
            let deb = build(
                tmp.path(),
                "forge-it-arm",
                "arm64",
                &control("forge-it-arm", "arm64", Some("libc6 (>= 2.34)")),
                &[("usr/bin/forge-it-arm", fs::read(&bin).unwrap(), 0o755)],
            );
            run(&test_for(deb, "arm64", &["forge-it-arm"]), &shell).unwrap();
            assert!(cache_dir()
                .join("bookworm-arm64-minbase")
                .join(STAMP)
                .is_file());
        }
    }
}
