//! The image's root tree: the cached base extracted, the crate's package installed, the machine
//! configured; and the EFI system partition's tree made from it.
//!
//! Everything happens in a directory (`<work>/root`), with `chroot` only where Debian's own
//! tools must run inside the system they change: `apt-get install` of the .deb (so its
//! dependencies come from the base's package lists, and its maintainer scripts enable its
//! systemd units as on any Debian), `useradd`, `systemctl enable`. A foreign architecture's
//! programs run through qemu-user registered with binfmt_misc, as for `cargo forge-deb
//! --install-test`. Nothing is mounted: apt and dpkg work without `/proc` in a chroot, and
//! services are kept from starting by a `policy-rc.d`.
//!
//! What makes an image a fresh machine rather than a copy of the build: `/etc/machine-id` is
//! empty (systemd makes one at first boot), SSH host keys are removed and made at first boot
//! by a unit of ours, logs, caches, package lists and the random seed are removed.
//!
//! The ESP tree follows the Boot Loader Specification layout that Debian's `kernel-install`
//! keeps on upgrades (`/etc/kernel/entry-token` = `debian`): `debian/<kver>/linux`,
//! `debian/<kver>/initrd.img-<kver>`, `loader/entries/debian-<kver>.conf`, systemd-boot as the
//! removable-media loader `EFI/BOOT/BOOT<arch>.EFI`, and for BIOS a `syslinux/syslinux.cfg`
//! naming the same kernel.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::Shell;

use super::config::{BootMode, VmUser};

/// What the root tree is configured with.
#[derive(Clone, Debug)]
pub struct RootSpec {
    pub arch: String,
    /// The crate's package for this architecture.
    pub deb: PathBuf,
    pub hostname: String,
    pub users: Vec<VmUser>,
    pub cloud_init: bool,
    /// The full kernel command line.
    pub cmdline: String,
    pub root_fs_uuid: String,
    /// The ESP's FAT serial number as `XXXX-XXXX`.
    pub esp_fs_uuid: String,
    pub boot: BootMode,
    pub sde: u64,
    /// The Debian release, for the boot menu title.
    pub suite: String,
    pub package: String,
}

/// The prepared trees.
#[derive(Debug)]
pub struct Prepared {
    /// The package's systemd units that are enabled in the image.
    pub units: Vec<String>,
    pub root: PathBuf,
    pub esp: PathBuf,
    pub kernel_version: String,
}

fn chroot(root: &Path, sde: u64) -> Cmd {
    cargo_forge_deb::install_test::chroot(root).env("SOURCE_DATE_EPOCH", sde.to_string())
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        forge_core::fsx::create_dir_all(parent)?;
    }
    fs::write(path, text).with_context(|| format!("failed to write `{}`", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set the mode of `{}`", path.display()))
}

fn remove(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return Ok(()),
    }
    .with_context(|| format!("failed to remove `{}`", path.display()))
}

/// Removes the entries of a directory, keeping the directory.
fn empty_dir(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e.with_context(|| format!("failed to read `{}`", dir.display()))?;
        remove(&e.path())?;
    }
    Ok(())
}

/// Extracts the base into `<work>/root` (a fresh directory) and configures it.
pub fn prepare(work: &Path, base_tar: &Path, spec: &RootSpec, shell: &Shell) -> Result<Prepared> {
    let root = work.join("root");
    let esp = work.join("esp");
    remove(&root)?;
    remove(&esp)?;
    forge_core::fsx::create_dir_all(&root)?;
    Cmd::new("tar")
        .args([
            "-x",
            "-p",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
        ])
        .arg("-f")
        .arg(base_tar)
        .arg("-C")
        .arg(&root)
        .output(shell)
        .with_context(|| format!("failed to extract the base system `{}`", base_tar.display()))?;
    if cargo_forge_deb::install_test::is_foreign(&spec.arch) {
        let qemu = forge_core::target::triple_for_dpkg_arch(&spec.arch)
            .and_then(|t| forge_core::target::lookup(t).ok())
            .map(|t| t.qemu)
            .unwrap_or_else(|| format!("qemu-{}", spec.arch));
        let binfmt = cargo_forge_deb::install_test::find_binfmt(&spec.arch, &qemu)?;
        cargo_forge_deb::install_test::provide_interpreter(&root, &binfmt, &qemu)?;
    }
    install_package(&root, spec, shell)?;
    configure(&root, spec, shell)?;
    if !spec.users.is_empty() {
        create_users(&root, &spec.users, spec.sde, shell)?;
    }
    let package = deb_package_name(&spec.deb, shell)?;
    let units = enabled_units(&root, &package)?;
    install_boot_report(&root, &units, spec.sde, shell)?;
    clean(&root)?;
    let kernel_version = kernel_version(&root)?;
    make_esp_tree(&root, &esp, &kernel_version, spec)?;
    Ok(Prepared {
        units,
        root,
        esp,
        kernel_version,
    })
}

/// `apt-get install /tmp/<pkg>.deb` in the root, with the host's DNS for dependencies the base
/// lacks, services kept from starting.
fn install_package(root: &Path, spec: &RootSpec, shell: &Shell) -> Result<()> {
    let name = spec
        .deb
        .file_name()
        .context("the package has no file name")?
        .to_string_lossy()
        .into_owned();
    let inside = root.join("tmp/forge");
    forge_core::fsx::create_dir_all(&inside)?;
    fs::copy(&spec.deb, inside.join(&name))
        .with_context(|| format!("failed to copy `{}` into the image", spec.deb.display()))?;
    let policy = root.join("usr/sbin/policy-rc.d");
    write(
        &policy,
        "#!/bin/sh\n# cargo-forge: no service starts while the image is built\nexit 101\n",
        0o755,
    )?;
    // The base's resolv.conf points at systemd-resolved, which does not run here.
    let resolv = root.join("etc/resolv.conf");
    let saved = root.join("etc/resolv.conf.forge-saved");
    let had_resolv = fs::symlink_metadata(&resolv).is_ok();
    if had_resolv {
        fs::rename(&resolv, &saved)
            .with_context(|| format!("failed to move `{}` aside", resolv.display()))?;
    }
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(&resolv, &host_resolv, 0o644)?;
    let out = chroot(root, spec.sde)
        .args([
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
        ])
        .arg(format!("/tmp/forge/{name}"))
        .output_unchecked(shell);
    // Restore before reporting, whatever happened.
    remove(&resolv)?;
    if had_resolv {
        fs::rename(&saved, &resolv)
            .with_context(|| format!("failed to restore `{}`", resolv.display()))?;
    }
    remove(&policy)?;
    remove(&inside)?;
    let out = out?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(anyhow::anyhow!(
            "`{name}` could not be installed in the {} image:\n{}",
            spec.arch,
            tail.join("\n")
        ))
        .kind(ErrorKind::Check)
        .hint("a dependency may be missing from the suite: add it to `packages` in [package.metadata.forge.vm], or check the package with `cargo forge-deb --install-test`");
    }
    chroot(root, spec.sde)
        .args(["apt-get", "clean"])
        .output(shell)
        .context("`apt-get clean` failed in the image")?;
    Ok(())
}

/// Host name, fstab, network, kernel command line, first-boot units.
fn configure(root: &Path, spec: &RootSpec, shell: &Shell) -> Result<()> {
    let etc = root.join("etc");
    write(
        &etc.join("hostname"),
        &format!("{}\n", spec.hostname),
        0o644,
    )?;
    let short = spec.hostname.split('.').next().unwrap_or(&spec.hostname);
    let alias = if short == spec.hostname {
        spec.hostname.clone()
    } else {
        format!("{} {short}", spec.hostname)
    };
    write(
        &etc.join("hosts"),
        &format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{alias}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        ),
        0o644,
    )?;
    let mut fstab = format!(
        "# <file system> <mount point> <type> <options> <dump> <pass>\nUUID={} / ext4 defaults,errors=remount-ro 0 1\n",
        spec.root_fs_uuid
    );
    fstab.push_str(&format!(
        "UUID={} /boot/efi vfat umask=0077,nofail 0 2\n",
        spec.esp_fs_uuid
    ));
    write(&etc.join("fstab"), &fstab, 0o644)?;
    forge_core::fsx::create_dir_all(&root.join("boot/efi"))?;

    // DHCP on every Ethernet interface (cloud-init, when on, writes its own, more specific
    // configuration, which sorts first).
    write(
        &etc.join("systemd/network/90-forge-dhcp.network"),
        "# cargo-forge: DHCP on every Ethernet interface\n[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=yes\n",
        0o644,
    )?;
    chroot(root, spec.sde)
        .args(["systemctl", "enable", "systemd-networkd.service"])
        .output(shell)
        .context("failed to enable systemd-networkd in the image")?;

    // kernel-install (run by Debian's kernel hooks on upgrades) keeps the ESP layout made here.
    write(
        &etc.join("kernel/cmdline"),
        &format!("{}\n", spec.cmdline),
        0o644,
    )?;
    write(&etc.join("kernel/entry-token"), "debian\n", 0o644)?;
    write(&etc.join("kernel/install.conf"), "layout=bls\n", 0o644)?;

    // SSH host keys are per machine: made at first boot, never shipped.
    if root.join("usr/sbin/sshd").exists() {
        for e in fs::read_dir(etc.join("ssh"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                remove(&e.path())?;
            }
        }
        write(
            &etc.join("systemd/system/forge-ssh-host-keys.service"),
            "# cargo-forge: this machine's SSH host keys, made at first boot\n[Unit]\nDescription=Generate SSH host keys\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\nBefore=ssh.service\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n[Install]\nWantedBy=ssh.service\n",
            0o644,
        )?;
        chroot(root, spec.sde)
            .args(["systemctl", "enable", "forge-ssh-host-keys.service"])
            .output(shell)
            .context("failed to enable the SSH host key unit in the image")?;
    }
    if spec.cloud_init {
        // Datasources a VM image meets: NoCloud (a `cidata` disk: Proxmox, libvirt), ConfigDrive
        // and OpenStack; `None` last so a machine without any still boots.
        write(
            &etc.join("cloud/cloud.cfg.d/90-forge.cfg"),
            "# cargo-forge\ndatasource_list: [NoCloud, ConfigDrive, OpenStack, Ec2, None]\n",
            0o644,
        )?;
    }
    Ok(())
}

/// The `Package:` of a .deb.
fn deb_package_name(deb: &Path, _shell: &Shell) -> Result<String> {
    let info = cargo_forge_deb::repo::read_deb(deb)?;
    Ok(info.package().to_string())
}

/// The package's systemd units (from its dpkg file list) that are enabled: linked from a
/// `.wants`/`.requires` directory under `/etc/systemd/system`.
fn enabled_units(root: &Path, package: &str) -> Result<Vec<String>> {
    let info = root.join("var/lib/dpkg/info");
    let list = [format!("{package}.list")]
        .into_iter()
        .chain(
            fs::read_dir(&info)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{package}:")) && n.ends_with(".list")),
        )
        .map(|n| info.join(n))
        .find(|p| p.is_file())
        .with_context(|| format!("dpkg does not list the files of `{package}` in the image"))?;
    let text = forge_core::fsx::read_to_string(&list)?;
    let mut units: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("/lib/systemd/system/")
                .or_else(|| l.strip_prefix("/usr/lib/systemd/system/"))
        })
        .filter(|n| {
            !n.contains('/')
                && !n.contains('@')
                && [".service", ".socket", ".timer", ".path"]
                    .iter()
                    .any(|s| n.ends_with(s))
        })
        .map(String::from)
        .collect();
    units.sort();
    units.dedup();
    let mut linked = std::collections::BTreeSet::new();
    let etc = root.join("etc/systemd/system");
    for e in fs::read_dir(&etc).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wants") || name.ends_with(".requires") {
            for l in fs::read_dir(e.path()).into_iter().flatten().flatten() {
                linked.insert(l.file_name().to_string_lossy().into_owned());
            }
        }
    }
    Ok(units.into_iter().filter(|u| linked.contains(u)).collect())
}

/// `forge-boot-report.service`: once the machine reached multi-user, writes `systemctl
/// is-active` of the package's enabled units to the console (what `--boot-test` reads), then
/// `done`. One line per unit per boot, nothing else.
fn install_boot_report(root: &Path, units: &[String], sde: u64, shell: &Shell) -> Result<()> {
    let script = format!(
        "#!/bin/sh\n# cargo-forge: the state of the package's services, on the console once the machine is up\nfor u in {}; do\n  n=0\n  while :; do\n    s=$(systemctl is-active \"$u\")\n    case \"$s\" in activating|reloading|deactivating) ;; *) break ;; esac\n    n=$((n+1)); [ \"$n\" -ge 120 ] && break\n    sleep 1\n  done\n  echo \"{prefix} $u $s\"\ndone\necho \"{prefix} done\"\n",
        if units.is_empty() { String::new() } else { units.join(" ") },
        prefix = super::boot_test::REPORT_PREFIX,
    );
    let script = script.replace("for u in ; do", "for u in; do");
    write(
        &root.join("usr/lib/cargo-forge/boot-report"),
        &script,
        0o755,
    )?;
    write(
        &root.join("etc/systemd/system/forge-boot-report.service"),
        "# cargo-forge: reports the package's services on the console (read by `cargo forge-image --boot-test`)\n[Unit]\nDescription=cargo-forge boot report\nAfter=multi-user.target\n\n[Service]\nType=oneshot\nExecStart=/usr/lib/cargo-forge/boot-report\nStandardOutput=journal+console\n\n[Install]\nWantedBy=multi-user.target\n",
        0o644,
    )?;
    chroot(root, sde)
        .args(["systemctl", "enable", "forge-boot-report.service"])
        .output(shell)
        .context("failed to enable the boot report unit in the image")?;
    Ok(())
}

/// Accounts, their SSH keys and sudo rights.
fn create_users(root: &Path, users: &[VmUser], sde: u64, shell: &Shell) -> Result<()> {
    for u in users {
        let mut cmd = chroot(root, sde).args(["useradd", "--create-home", "--user-group"]);
        cmd = cmd
            .arg("--shell")
            .arg(u.shell.as_deref().unwrap_or("/bin/bash"));
        if !u.groups.is_empty() {
            cmd = cmd.arg("--groups").arg(u.groups.join(","));
        }
        cmd.arg(&u.name).output(shell).with_context(|| {
            format!(
                "failed to create the user `{}` in the image (are its `groups` in the image?)",
                u.name
            )
        })?;
        let (uid, gid) = passwd_ids(root, &u.name)?;
        if !u.ssh_keys.is_empty() {
            let home = root.join("home").join(&u.name);
            let ssh = home.join(".ssh");
            forge_core::fsx::create_dir_all(&ssh)?;
            fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("failed to set the mode of `{}`", ssh.display()))?;
            let keys = ssh.join("authorized_keys");
            write(&keys, &(u.ssh_keys.join("\n") + "\n"), 0o600)?;
            for p in [&ssh, &keys] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))
                    .with_context(|| format!("failed to set the owner of `{}`", p.display()))?;
            }
        }
        if u.sudo {
            write(
                &root.join(format!("etc/sudoers.d/90-forge-{}", u.name)),
                &format!("# cargo-forge\n{} ALL=(ALL) NOPASSWD:ALL\n", u.name),
                0o440,
            )?;
        }
    }
    Ok(())
}

/// uid and gid of `name` in the root's `/etc/passwd`.
fn passwd_ids(root: &Path, name: &str) -> Result<(u32, u32)> {
    let path = root.join("etc/passwd");
    let text = forge_core::fsx::read_to_string(&path)?;
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == name {
            let uid = f[2].parse().ok();
            let gid = f[3].parse().ok();
            if let (Some(u), Some(g)) = (uid, gid) {
                return Ok((u, g));
            }
        }
    }
    bail!("`{name}` is not in the image's `/etc/passwd`")
}

/// Removes what belongs to the build, not the machine.
fn clean(root: &Path) -> Result<()> {
    // systemd makes the machine ID at first boot (and runs first-boot units then).
    write(&root.join("etc/machine-id"), "", 0o444)?;
    let dbus_id = root.join("var/lib/dbus/machine-id");
    if fs::symlink_metadata(&dbus_id).is_ok() {
        remove(&dbus_id)?;
        std::os::unix::fs::symlink("/etc/machine-id", &dbus_id)
            .with_context(|| format!("failed to link `{}`", dbus_id.display()))?;
    }
    empty_dir(&root.join("var/lib/apt/lists"))?;
    forge_core::fsx::create_dir_all(&root.join("var/lib/apt/lists/partial"))?;
    empty_dir(&root.join("var/cache/apt"))?;
    empty_dir(&root.join("tmp"))?;
    empty_dir(&root.join("var/tmp"))?;
    for p in [
        "var/lib/systemd/random-seed",
        "etc/.resolv.conf.systemd-resolved.bak",
        "var/log/dpkg.log",
        "var/log/alternatives.log",
        "var/log/apt/history.log",
        "var/log/apt/term.log",
        "var/log/apt/eipp.log.xz",
        "var/cache/ldconfig/aux-cache",
    ] {
        remove(&root.join(p))?;
    }
    for dir in ["var/cache/debconf", "var/lib/dpkg"] {
        for e in fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().ends_with("-old") {
                remove(&e.path())?;
            }
        }
    }
    Ok(())
}

/// The one kernel of the root (`/boot/vmlinuz-<version>`), highest version if several.
fn kernel_version(root: &Path) -> Result<String> {
    let boot = root.join("boot");
    let mut versions: Vec<String> = fs::read_dir(&boot)
        .with_context(|| format!("failed to read `{}`", boot.display()))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("vmlinuz-")
                .map(String::from)
        })
        .collect();
    versions.sort_by(|a, b| version_cmp(a, b));
    let Some(v) = versions.pop() else {
        return Err(usage(
            "the image has no kernel in /boot: `kernel` in [package.metadata.forge.vm] must name a kernel package",
        ));
    };
    if !boot.join(format!("initrd.img-{v}")).is_file() {
        bail!("the image's kernel {v} has no initrd (`/boot/initrd.img-{v}`): is initramfs-tools installed?");
    }
    Ok(v)
}

/// Compares version strings by their numeric runs (`6.1.0-9` < `6.1.0-10`).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> Vec<(u64, String)> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .map(|p| (p.parse::<u64>().unwrap_or(0), p.to_string()))
            .collect()
    };
    key(a).cmp(&key(b))
}

/// The systemd-boot file name suffix of an architecture (`x64`, `aa64`).
pub fn efi_arch(arch: &str) -> Option<&'static str> {
    match arch {
        "amd64" => Some("x64"),
        "arm64" => Some("aa64"),
        "i386" => Some("ia32"),
        "armhf" => Some("arm"),
        "riscv64" => Some("riscv64"),
        _ => None,
    }
}

/// The ESP tree: kernel, initrd, boot loader(s) and their configuration.
fn make_esp_tree(root: &Path, esp: &Path, kver: &str, spec: &RootSpec) -> Result<()> {
    let kdir = esp.join("debian").join(kver);
    forge_core::fsx::create_dir_all(&kdir)?;
    let copy = |from: &Path, to: &Path| -> Result<()> {
        if let Some(p) = to.parent() {
            forge_core::fsx::create_dir_all(p)?;
        }
        fs::copy(from, to)
            .map(drop)
            .with_context(|| format!("failed to copy `{}` to `{}`", from.display(), to.display()))
    };
    copy(
        &root.join(format!("boot/vmlinuz-{kver}")),
        &kdir.join("linux"),
    )?;
    let initrd = format!("initrd.img-{kver}");
    copy(&root.join(format!("boot/{initrd}")), &kdir.join(&initrd))?;
    let release =
        os_pretty_name(root).unwrap_or_else(|| format!("Debian GNU/Linux ({})", spec.suite));
    if spec.boot.uefi() {
        let efi = efi_arch(&spec.arch)
            .with_context(|| format!("UEFI boot is not supported for {} here", spec.arch))?;
        let loader = root.join(format!("usr/lib/systemd/boot/efi/systemd-boot{efi}.efi"));
        if !loader.is_file() {
            bail!(
                "the image has no systemd-boot for {} (`{}`): is `systemd-boot` in its packages?",
                spec.arch,
                loader.display()
            );
        }
        copy(
            &loader,
            &esp.join(format!("EFI/BOOT/BOOT{}.EFI", efi.to_uppercase())),
        )?;
        copy(
            &loader,
            &esp.join(format!("EFI/systemd/systemd-boot{efi}.efi")),
        )?;
        write(
            &esp.join("loader/loader.conf"),
            "default debian-*\ntimeout 0\n",
            0o644,
        )?;
        write(
            &esp.join(format!("loader/entries/debian-{kver}.conf")),
            &format!(
                "title      {release}\nversion    {kver}\nsort-key   debian\noptions    {}\nlinux      /debian/{kver}/linux\ninitrd     /debian/{kver}/{initrd}\n",
                spec.cmdline
            ),
            0o644,
        )?;
    }
    if spec.boot.bios() {
        write(
            &esp.join("syslinux/syslinux.cfg"),
            &format!(
                "# cargo-forge: {release}\nDEFAULT debian\nPROMPT 0\nTIMEOUT 0\n\nLABEL debian\n  MENU LABEL {release}\n  LINUX /debian/{kver}/linux\n  INITRD /debian/{kver}/{initrd}\n  APPEND {}\n",
                spec.cmdline
            ),
            0o644,
        )?;
    }
    set_times(esp, spec.sde)
}

fn os_pretty_name(root: &Path) -> Option<String> {
    let text = fs::read_to_string(root.join("etc/os-release"))
        .or_else(|_| fs::read_to_string(root.join("usr/lib/os-release")))
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// Sets the mtime (and atime) of every file under `dir` to `sde` (mcopy keeps mtimes).
fn set_times(dir: &Path, sde: u64) -> Result<()> {
    let t = filetime::FileTime::from_unix_time(sde as i64, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in
                fs::read_dir(&p).with_context(|| format!("failed to read `{}`", p.display()))?
            {
                stack.push(e?.path());
            }
        }
        filetime::set_file_times(&p, t, t)
            .with_context(|| format!("failed to set the times of `{}`", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_sort_numerically() {
        let mut v = vec![
            "6.1.0-10-cloud-amd64",
            "6.1.0-9-cloud-amd64",
            "6.1.0-57-cloud-amd64",
        ];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(v.last(), Some(&"6.1.0-57-cloud-amd64"));
    }

    #[test]
    fn efi_names() {
        assert_eq!(efi_arch("amd64"), Some("x64"));
        assert_eq!(efi_arch("arm64"), Some("aa64"));
        assert_eq!(efi_arch("s390x"), None);
    }
}
