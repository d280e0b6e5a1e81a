//! VM disk images: `cargo forge-image --output qcow2:FILE` (and `raw:`, `vmdk:`, `ova:`).
//!
//! The image is the crate's .deb (built by forge-deb's library) installed on a minimal Debian
//! with a kernel and systemd, its units enabled, bootable under UEFI (systemd-boot) and, on
//! amd64, BIOS (SYSLINUX). It is built without a running VM and without mounting anything:
//!
//! 1. [`base`]: `mmdebstrap` writes the base system (minbase + systemd + kernel + boot loader +
//!    configured packages) as a tarball, cached by the digest of its package set;
//! 2. [`rootfs`]: the base is extracted, the .deb installed with apt in a chroot, the machine
//!    configured (host name, fstab, DHCP, users, first-boot units) and cleaned; the ESP's tree
//!    is made from the kernel and the boot loader files of the image itself;
//! 3. [`disk`]: a sparse GPT disk is assembled from files: `sfdisk`, FAT32 with mtools,
//!    `mkfs.ext4 -d`, SYSLINUX;
//! 4. [`convert`]: `qemu-img` to qcow2 or VMDK, or an OVA with its OVF descriptor;
//! 5. [`boot_test`] (`--boot-test`): qemu-system boots it with software emulation and waits for
//!    the service.
//!
//! [`plan`] decides all of it from `[package.metadata.forge.vm]` and the command line without
//! side effects (including the check that every tool is installed); [`execute`] runs it. The
//! same inputs and `SOURCE_DATE_EPOCH` with the same cached base give the same raw image, byte
//! for byte (see [`disk`] for how).

pub mod base;
pub mod boot_test;
mod build;
pub mod config;
pub mod convert;
pub mod disk;
pub mod rootfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::target::TargetInfo;

use self::config::{BootMode, VmConfig, VmUser};
use self::convert::DiskFormat;

pub use self::build::execute;

/// One requested output, `FORMAT:FILE`; `{arch}` in FILE is the Debian architecture.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VmOutput {
    pub format: DiskFormat,
    pub path: PathBuf,
}

/// Splits `--output` values into VM outputs (`qcow2:`, `raw:`, `vmdk:`, `ova:`) and the rest.
pub fn split_outputs(outputs: &[String]) -> Result<(Vec<(DiskFormat, String)>, Vec<String>)> {
    let mut vm = Vec::new();
    let mut other = Vec::new();
    for o in outputs {
        match o
            .split_once(':')
            .and_then(|(f, p)| DiskFormat::parse(f).map(|f| (f, p)))
        {
            Some((_, "")) => {
                return Err(usage(format!(
                    "invalid `--output {o}`: the file name is missing, e.g. `{o}target/app.qcow2`"
                )))
            }
            Some((f, p)) => vm.push((f, p.to_string())),
            None => other.push(o.clone()),
        }
    }
    Ok((vm, other))
}

/// One architecture's image.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VmImage {
    pub arch: String,
    pub target: String,
    pub boot: BootMode,
    pub base: base::BasePlan,
    /// The serial console device (`ttyS0`, `ttyAMA0`).
    pub console: String,
    pub outputs: Vec<VmOutput>,
    /// Where the image is assembled (`<target-dir>/forge/vm/<package>-<arch>`).
    pub work_dir: PathBuf,
}

/// What `--boot-test` waits for.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BootTestPlan {
    pub port: Option<u16>,
    pub http: Option<String>,
    /// Units to wait for; `None`: the package's enabled units, found in the image.
    pub units: Option<Vec<String>>,
    /// Seconds, per architecture.
    pub timeout: BTreeMap<String, u64>,
    pub memory_mib: u32,
    /// `boot-test.firmware`; `None`: every way each image boots.
    pub firmware: Option<BootMode>,
}

/// The VM half of an image plan.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VmPlan {
    pub package: String,
    pub version: String,
    pub description: String,
    pub suite: String,
    pub mirror: String,
    pub hostname: String,
    pub users: Vec<VmUser>,
    pub cloud_init: bool,
    /// Extra kernel command line from the configuration.
    pub kernel_cmdline: Option<String>,
    /// The disk's size in bytes.
    pub size: u64,
    pub filesystem: String,
    pub images: Vec<VmImage>,
    pub boot_test: Option<BootTestPlan>,
    /// Compress qcow2 outputs (releases).
    pub compress: bool,
    pub source_date_epoch: u64,
}

/// Where bases are cached: `FORGE_VM_CACHE`, else `<target-dir>/forge/vm/cache`.
pub fn cache_dir(target_dir: &Path) -> PathBuf {
    match std::env::var_os("FORGE_VM_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => target_dir.join("forge/vm/cache"),
    }
}

/// The kernel package for `kernel` (`cloud`, `generic`, or a name) on `arch`.
fn kernel_package(kernel: Option<&str>, arch: &str) -> String {
    match kernel {
        None | Some("cloud") if matches!(arch, "amd64" | "arm64") => {
            format!("linux-image-cloud-{arch}")
        }
        None | Some("cloud") | Some("generic") if matches!(arch, "armhf" | "armel") => {
            "linux-image-armmp".to_string()
        }
        None | Some("cloud") | Some("generic") => format!("linux-image-{arch}"),
        Some(name) => name.to_string(),
    }
}

/// The packages of the base on top of minbase.
fn base_packages(cfg: &VmConfig, arch: &str, boot: BootMode) -> Vec<String> {
    let mut p: Vec<String> = [
        "systemd",
        "systemd-sysv",
        "udev",
        "dbus",
        "systemd-resolved",
        "systemd-timesyncd",
        "initramfs-tools",
    ]
    .map(String::from)
    .to_vec();
    p.push(kernel_package(cfg.kernel.as_deref(), arch));
    if boot.uefi() {
        p.push("systemd-boot".into());
    }
    let users = cfg.users.clone().unwrap_or_default();
    let cloud_init = cfg.cloud_init.unwrap_or(false);
    if cloud_init {
        p.extend(["cloud-init", "cloud-guest-utils", "openssh-server", "sudo"].map(String::from));
    }
    if users.iter().any(|u| !u.ssh_keys.is_empty()) {
        p.push("openssh-server".into());
    }
    if users.iter().any(|u| u.sudo) {
        p.push("sudo".into());
    }
    p.extend(cfg.packages.clone().unwrap_or_default());
    p
}

/// Tools an image build needs, with their Debian packages.
fn required_tools(images: &[VmImage], boot_test: bool) -> Vec<(&'static str, &'static str)> {
    let mut t = vec![
        ("mmdebstrap", "mmdebstrap"),
        ("tar", "tar"),
        ("chroot", "coreutils"),
        ("sfdisk", "fdisk"),
        ("mformat", "mtools"),
        ("mcopy", "mtools"),
        ("mkfs.ext4", "e2fsprogs"),
        ("debugfs", "e2fsprogs"),
        ("e2fsck", "e2fsprogs"),
    ];
    let any = |f: &dyn Fn(&VmImage) -> bool| images.iter().any(f);
    if any(&|i| i.outputs.iter().any(|o| o.format != DiskFormat::Raw)) {
        t.push(("qemu-img", "qemu-utils"));
    }
    if any(&|i| i.boot.bios()) {
        t.push(("syslinux", "syslinux syslinux-common"));
    }
    if boot_test {
        if any(&|i| i.arch == "amd64") {
            t.push(("qemu-system-x86_64", "qemu-system-x86 ovmf"));
        }
        if any(&|i| i.arch == "arm64") {
            t.push(("qemu-system-aarch64", "qemu-system-arm qemu-efi-aarch64"));
        }
    }
    t
}

fn tool_exists(name: &str) -> bool {
    forge_core::process::exists(name)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(name).is_file())
}

/// Input of [`plan`].
pub struct PlanInput<'a> {
    pub package: &'a cargo_metadata::Package,
    pub vm_table: Option<&'a serde_json::Value>,
    pub platforms: &'a [TargetInfo],
    pub outputs: Vec<(DiskFormat, String)>,
    pub boot_test: bool,
    pub target_dir: &'a Path,
    pub source_date_epoch: u64,
    /// Compress qcow2 outputs.
    pub compress: bool,
}

/// Decides the VM images: `None` when no VM output is asked for. Reads; writes nothing.
pub fn plan(input: PlanInput) -> Result<Option<VmPlan>> {
    let pkg = input.package;
    let manifest = pkg.manifest_path.as_std_path();
    if input.outputs.is_empty() {
        if input.boot_test {
            return Err(usage(
                "`--boot-test` boots a VM image: add `--output qcow2:FILE` (or `raw:`, `vmdk:`, `ova:`)",
            ));
        }
        return Ok(None);
    }
    let cfg: VmConfig = match input.vm_table {
        Some(v) => forge_core::config::parse_table(v, manifest, "package.metadata.forge.vm")?,
        None => VmConfig::default(),
    };
    config::validate(&cfg, manifest)?;
    if !base::is_root() {
        return Err(usage(
            "building a VM image needs root: mmdebstrap installs Debian, and `apt-get`, `useradd` and `systemctl` configure it inside a chroot",
        ))
        .hint("run it as root, e.g. in a CI container or with `sudo -E cargo forge-image …`");
    }
    let suite = cfg.suite.clone().unwrap_or_else(|| "bookworm".into());
    let mirror = cfg
        .mirror
        .clone()
        .unwrap_or_else(cargo_forge_deb::install_test::mirror);
    let size = cfg
        .size
        .as_deref()
        .map(|s| config::parse_size(s).unwrap_or(0))
        .unwrap_or(2 << 30);
    let target_dir = input.target_dir;
    let cache = cache_dir(target_dir);
    let mut images = Vec::new();
    for t in input.platforms {
        images.push(image_plan(&input, &cfg, t, &suite, &mirror, &cache)?);
    }
    let boot_test = if input.boot_test {
        Some(boot_test_plan(&cfg, &images)?)
    } else {
        None
    };
    check_tools(&images, input.boot_test)?;
    Ok(Some(VmPlan {
        package: pkg.name.to_string(),
        version: pkg.version.to_string(),
        description: pkg.description.clone().unwrap_or_default(),
        suite,
        mirror,
        hostname: cfg
            .hostname
            .clone()
            .unwrap_or_else(|| config::hostname_from(&pkg.name)),
        users: cfg.users.clone().unwrap_or_default(),
        cloud_init: cfg.cloud_init.unwrap_or(false),
        kernel_cmdline: cfg.kernel_cmdline.clone(),
        size,
        filesystem: "ext4".into(),
        images,
        boot_test,
        compress: input.compress,
        source_date_epoch: input.source_date_epoch,
    }))
}

/// The image of one platform: its boot mode (checked against the architecture), its outputs
/// (absolute, `{arch}` replaced), its base.
fn image_plan(
    input: &PlanInput,
    cfg: &VmConfig,
    t: &TargetInfo,
    suite: &str,
    mirror: &str,
    cache: &Path,
) -> Result<VmImage> {
    let pkg = input.package;
    let manifest = pkg.manifest_path.as_std_path();
    let target_dir = input.target_dir;
    let several = input.platforms.len() > 1;
    let arch = t.dpkg_arch.clone();
    let boot = match cfg.boot {
        Some(b) => b,
        None if arch == "amd64" => BootMode::Hybrid,
        None => BootMode::Uefi,
    };
    if boot.bios() && arch != "amd64" && arch != "i386" {
        return Err(usage(format!(
                "`boot = \"{}\"` in [package.metadata.forge.vm] of `{}`: BIOS boot exists only on amd64, not {arch}",
                boot.name(),
                manifest.display()
            )));
    }
    if boot.uefi() && rootfs::efi_arch(&arch).is_none() {
        return Err(usage(format!(
            "UEFI images are made for amd64, arm64, i386, armhf and riscv64, not {arch}"
        )));
    }
    let mut outputs = Vec::new();
    for (format, path) in &input.outputs {
        if several && !path.contains("{arch}") {
            return Err(usage(format!(
                    "`--output {}:{path}` would be written once per platform ({}): put `{{arch}}` in the file name",
                    format.name(),
                    input.platforms.iter().map(|p| p.dpkg_arch.as_str()).collect::<Vec<_>>().join(", ")
                )));
        }
        // Absolute: the tools run in other directories.
        let path = std::env::current_dir()
            .context("failed to read the current directory")?
            .join(path.replace("{arch}", &arch));
        outputs.push(VmOutput {
            format: *format,
            path,
        });
    }
    let console = match arch.as_str() {
        "arm64" | "armhf" | "armel" => "ttyAMA0",
        _ => "ttyS0",
    };
    let packages = base_packages(cfg, &arch, boot);
    let base = base::BasePlan::new(suite, &arch, base::sources(mirror, suite), packages, cache);
    if cargo_forge_deb::install_test::is_foreign(&arch) {
        cargo_forge_deb::install_test::find_binfmt(&arch, &t.qemu)?;
    }
    Ok(VmImage {
        work_dir: target_dir
            .join("forge/vm")
            .join(format!("{}-{arch}", pkg.name)),
        arch,
        target: t.triple.clone(),
        boot,
        base,
        console: console.into(),
        outputs,
    })
}

/// The boot test of every image (`--boot-test`): its firmware checked against each image's
/// boot mode, a timeout per architecture.
fn boot_test_plan(cfg: &VmConfig, images: &[VmImage]) -> Result<BootTestPlan> {
    let bt = cfg.boot_test.clone().unwrap_or_default();
    let mut timeout = BTreeMap::new();
    for i in images {
        if let Some(f) = bt.firmware {
            if !(f.uefi() && i.boot.uefi() || f.bios() && i.boot.bios()) {
                return Err(usage(format!(
                        "invalid boot-test.firmware in [package.metadata.forge.vm]: `{}` cannot boot the {} image, which boots with `{}`",
                        f.name(),
                        i.arch,
                        i.boot.name()
                    )));
            }
        }
        let secs = match &bt.timeout {
            Some(t) => crate::config::parse_duration(t).unwrap_or(0) / 1_000_000_000,
            None if i.arch == "amd64" => 600,
            None => 1800,
        };
        timeout.insert(i.arch.clone(), secs.max(1));
    }
    Ok(BootTestPlan {
        port: bt.port,
        http: bt.http.clone(),
        units: bt.units.clone(),
        timeout,
        memory_mib: bt.memory.unwrap_or(1024),
        firmware: bt.firmware,
    })
}

/// Checks that every tool the images need is installed, naming the Debian packages.
fn check_tools(images: &[VmImage], boot_test: bool) -> Result<()> {
    let missing: Vec<(&str, &str)> = required_tools(images, boot_test)
        .into_iter()
        .filter(|(tool, _)| !tool_exists(tool))
        .collect();
    if !missing.is_empty() {
        let mut pkgs: Vec<&str> = missing
            .iter()
            .flat_map(|(_, p)| p.split_whitespace())
            .collect();
        pkgs.sort();
        pkgs.dedup();
        return Err(anyhow::anyhow!(
            "building the VM image needs {}, which {} not installed",
            missing
                .iter()
                .map(|(t, _)| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        ))
        .kind(ErrorKind::MissingTool)
        .hint(format!("apt-get install {}", pkgs.join(" ")));
    }
    Ok(())
}

/// One output written.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WrittenOutput {
    pub format: DiskFormat,
    pub path: PathBuf,
    /// Bytes on disk (a sparse raw image counts only its data).
    pub size: u64,
}

/// One architecture's result.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageResult {
    pub arch: String,
    pub kernel: String,
    pub disk_size: u64,
    pub outputs: Vec<WrittenOutput>,
    pub boot_tests: Vec<boot_test::BootReport>,
    /// Seconds the image took to build (base included when it was built).
    pub build_seconds: f64,
}

/// The result of the VM half of a run.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VmResult {
    pub images: Vec<ImageResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_split() {
        let (vm, other) = split_outputs(&[
            "qcow2:a.qcow2".into(),
            "oci:dir".into(),
            "ova:x-{arch}.ova".into(),
        ])
        .unwrap();
        assert_eq!(vm.len(), 2);
        assert_eq!(vm[1], (DiskFormat::Ova, "x-{arch}.ova".to_string()));
        assert_eq!(other, ["oci:dir"]);
        assert!(split_outputs(&["raw:".into()]).is_err());
    }

    #[test]
    fn kernels_and_packages() {
        assert_eq!(kernel_package(None, "amd64"), "linux-image-cloud-amd64");
        assert_eq!(
            kernel_package(Some("generic"), "arm64"),
            "linux-image-arm64"
        );
        assert_eq!(kernel_package(None, "armhf"), "linux-image-armmp");
        let cfg = VmConfig {
            users: Some(vec![VmUser {
                name: "a".into(),
                ssh_keys: vec!["ssh-ed25519 AAAA x".into()],
                sudo: true,
                ..VmUser::default()
            }]),
            ..VmConfig::default()
        };
        let p = base_packages(&cfg, "arm64", BootMode::Uefi);
        for want in [
            "openssh-server",
            "sudo",
            "systemd-boot",
            "linux-image-cloud-arm64",
        ] {
            assert!(p.iter().any(|x| x == want), "{want} in {p:?}");
        }
        assert!(
            !base_packages(&VmConfig::default(), "amd64", BootMode::Bios)
                .contains(&"systemd-boot".to_string())
        );
    }
}
