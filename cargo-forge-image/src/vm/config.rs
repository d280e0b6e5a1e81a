//! `[package.metadata.forge.vm]` (and its workspace counterpart): what goes into a VM disk image.
//!
//! Every key is optional, so a crate with a `[package.metadata.deb]` already makes a bootable
//! image with `cargo forge-image --output qcow2:FILE`. The table is parsed here and resolved once
//! into plain values by [`resolve`]: sizes in bytes, the boot mode per architecture, the package
//! set of the base system, so the plan holds no `Option` the build would have to interpret.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use forge_core::exit::{usage, ResultExt};

/// The VM table. Every key is optional.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct VmConfig {
    /// The Debian release the image runs. Default `"bookworm"`. Its `-updates` and `-security`
    /// suites are added for stable releases.
    pub suite: Option<String>,
    /// The Debian mirror the base system is installed from, and the one the image's apt uses.
    /// Default: `FORGE_DEBIAN_MIRROR`, else the mirror of this (Debian) host's apt sources, else
    /// `"http://deb.debian.org/debian"`.
    pub mirror: Option<String>,
    /// The disk's size: a number with a `K`, `M`, `G` or `T` suffix (powers of 1024). The root
    /// file system fills what the EFI system partition (256 MiB) leaves; with cloud-init on, it
    /// grows to the disk's size on first boot. Default `"2G"`.
    pub size: Option<String>,
    /// Extra Debian packages to install. Default: none. Example: `packages = ["curl",
    /// "ca-certificates"]`.
    pub packages: Option<Vec<String>>,
    /// The kernel: `"cloud"` (`linux-image-cloud-<arch>`: virtual machines only, smaller,
    /// faster to boot), `"generic"` (`linux-image-<arch>`: also real hardware), or a package
    /// name. Default `"cloud"`.
    pub kernel: Option<String>,
    /// The machine's host name. Default: the package name.
    pub hostname: Option<String>,
    /// Accounts to create, e.g. `users = [{ name = "admin", ssh-keys = ["ssh-ed25519 AAAA…"],
    /// sudo = true }]`. A user with SSH keys brings `openssh-server` into the image (with host
    /// keys made on first boot, never baked in). Default: none (root is locked).
    pub users: Option<Vec<VmUser>>,
    /// Extra kernel command line, appended to what the image needs (`root=`, `ro`, the serial
    /// console). Default: none. Example: `kernel-cmdline = "quiet"`.
    pub kernel_cmdline: Option<String>,
    /// Install cloud-init, so that the cloud (OpenStack, Proxmox, a NoCloud `cidata` disk) sets
    /// users, SSH keys and networking at first boot, and the root partition grows to the disk.
    /// Default `false` (the image configures itself: DHCP on every Ethernet interface).
    pub cloud_init: Option<bool>,
    /// How the image boots: `"uefi"` (systemd-boot), `"bios"` (SYSLINUX; amd64 only) or
    /// `"hybrid"` (both, so one amd64 image boots under OVMF and SeaBIOS). Default `"hybrid"` on
    /// amd64, `"uefi"` elsewhere.
    pub boot: Option<BootMode>,
    /// The root file system. Only `"ext4"` can be filled from a directory without mounting
    /// (`mkfs.ext4 -d`). Default `"ext4"`.
    pub filesystem: Option<String>,
    /// What `--boot-test` waits for. Default: the package's systemd units started, read from
    /// the serial console.
    pub boot_test: Option<BootTestConfig>,
}

/// One account of the image.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct VmUser {
    /// The login name.
    pub name: String,
    /// Public keys for `~/.ssh/authorized_keys`, one per entry (`ssh-ed25519 AAAA… comment`).
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    /// Password-less `sudo` for this user. Default `false`.
    #[serde(default)]
    pub sudo: bool,
    /// Supplementary groups (they must exist in the image). Default: none.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The login shell. Default `"/bin/bash"`.
    pub shell: Option<String>,
}

/// How the image boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum BootMode {
    /// UEFI firmware loads systemd-boot from the EFI system partition.
    Uefi,
    /// A PC BIOS loads SYSLINUX (GPT MBR code, then the boot partition's boot sector).
    Bios,
    /// Both: the same partition serves UEFI and BIOS.
    Hybrid,
}

impl BootMode {
    pub fn uefi(self) -> bool {
        matches!(self, BootMode::Uefi | BootMode::Hybrid)
    }

    pub fn bios(self) -> bool {
        matches!(self, BootMode::Bios | BootMode::Hybrid)
    }

    pub fn name(self) -> &'static str {
        match self {
            BootMode::Uefi => "uefi",
            BootMode::Bios => "bios",
            BootMode::Hybrid => "hybrid",
        }
    }
}

/// `boot-test = { port = 8080, http = "/health", timeout = "10m" }`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BootTestConfig {
    /// A TCP port the service listens on in the guest. It is forwarded to a free port on the
    /// host's loopback, and the service counts as up once a connection there stays open or
    /// answers. Default: none (then the units are watched on the serial console).
    pub port: Option<u16>,
    /// With `port`: a path to `GET` over HTTP; the service is up when it answers 2xx. Example:
    /// `http = "/health"`.
    pub http: Option<String>,
    /// Systemd units to wait for, as the serial console reports them started. Default: the
    /// package's units (`systemd-units` of `[package.metadata.deb]`) when no `port` is given.
    pub units: Option<Vec<String>>,
    /// How long to wait for the service, from power-on. Default `"10m"` for amd64, `"30m"` for
    /// other architectures (software emulation).
    pub timeout: Option<String>,
    /// Memory of the test VM in MiB. Default `1024`.
    pub memory: Option<u32>,
    /// The firmware to boot with: `"uefi"`, `"bios"` (amd64) or `"hybrid"` (both, one boot
    /// each). Default: every way the image boots (`boot`), so a hybrid image is booted twice;
    /// `"uefi"` halves the time of the test of a hybrid image.
    pub firmware: Option<BootMode>,
}

/// The reference section of the VM table (see [`forge_core::reference`]).
pub fn reference_table() -> forge_core::reference::Table {
    forge_core::reference::Table::of::<VmConfig>(
        "package.metadata.forge.vm",
        &["workspace.metadata.forge.vm"],
        "The VM disk image `cargo forge-image --output qcow2:FILE` (or `raw:`, `vmdk:`, `ova:`) \
         builds: the package's .deb installed on a minimal Debian with a kernel and systemd. \
         Every key is optional.",
    )
}

/// Parses a size such as `2G`, `512M`, `1536MiB` or `4294967296` (bytes) into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: u64 = num.parse().ok()?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("iB")
        .or_else(|| unit.strip_suffix('B').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let mult: u64 = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "T" | "t" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Whether `s` is a valid host name (RFC 1123 labels: letters, digits, `-`, not at the ends).
pub fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A host name made from a package name: lowercase, `_` → `-`, other characters dropped.
pub fn hostname_from(package: &str) -> String {
    let s: String = package
        .chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let s = s.trim_matches('-').chars().take(63).collect::<String>();
    if s.is_empty() {
        "debian".into()
    } else {
        s
    }
}

/// Whether `s` is a valid Unix login name (Debian's default rule: lowercase letter or `_`
/// first, then lowercase letters, digits, `_`, `-`; at most 32 characters).
pub fn valid_user_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Whether `s` is a package name apt accepts (Debian policy 5.6.1).
pub fn valid_package_name(s: &str) -> bool {
    s.len() >= 2
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// Checks what can be checked without the build: names, sizes, modes. `manifest` is named in
/// errors.
pub fn validate(cfg: &VmConfig, manifest: &Path) -> Result<()> {
    let key = |k: &str| {
        format!(
            "`package.metadata.forge.vm.{k}` in `{}`",
            manifest.display()
        )
    };
    if let Some(s) = &cfg.size {
        if parse_size(s).is_none() {
            return Err(usage(format!(
                "invalid {}: `{s}` is not a size; use e.g. \"2G\" or \"512M\"",
                key("size")
            )));
        }
    }
    if let Some(h) = &cfg.hostname {
        if !valid_hostname(h) {
            return Err(usage(format!(
                "invalid {}: `{h}` is not a host name (letters, digits and `-`, dot-separated)",
                key("hostname")
            )));
        }
    }
    for p in cfg.packages.iter().flatten() {
        if !valid_package_name(p) {
            return Err(usage(format!(
                "invalid {}: `{p}` is not a Debian package name",
                key("packages")
            )));
        }
    }
    if let Some(k) = &cfg.kernel {
        if !matches!(k.as_str(), "cloud" | "generic") && !valid_package_name(k) {
            return Err(usage(format!(
                "invalid {}: `{k}`; use \"cloud\", \"generic\" or a kernel package name",
                key("kernel")
            )));
        }
    }
    if let Some(f) = &cfg.filesystem {
        if f != "ext4" {
            return Err(usage(format!(
                "invalid {}: `{f}`; only \"ext4\" can be filled from files without mounting",
                key("filesystem")
            )));
        }
    }
    if let Some(s) = &cfg.suite {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(usage(format!("invalid {}: `{s}`", key("suite"))));
        }
    }
    if let Some(m) = &cfg.mirror {
        if !(m.starts_with("http://") || m.starts_with("https://") || m.starts_with("file:/")) {
            return Err(usage(format!(
                "invalid {}: `{m}` is not an http(s) or file URL",
                key("mirror")
            )));
        }
    }
    if let Some(c) = &cfg.kernel_cmdline {
        if c.contains('\n') {
            return Err(usage(format!(
                "invalid {}: one line expected",
                key("kernel-cmdline")
            )));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, u) in cfg.users.iter().flatten().enumerate() {
        let k = key(&format!("users[{i}]"));
        if !valid_user_name(&u.name) {
            return Err(usage(format!(
                "invalid {k}: `{}` is not a login name (lowercase letters, digits, `_`, `-`)",
                u.name
            )));
        }
        if u.name == "root" || !seen.insert(u.name.clone()) {
            return Err(usage(format!(
                "invalid {k}: `{}` is `root` or listed twice",
                u.name
            )));
        }
        for key_line in &u.ssh_keys {
            let ok = key_line.split_whitespace().count() >= 2
                && !key_line.contains('\n')
                && (key_line.starts_with("ssh-")
                    || key_line.starts_with("ecdsa-")
                    || key_line.starts_with("sk-"));
            if !ok {
                return Err(usage(format!(
                    "invalid {k}.ssh-keys: `{key_line}` is not an OpenSSH public key line"
                )))
                .hint(
                    "paste the line of `~/.ssh/id_ed25519.pub` (\"ssh-ed25519 AAAA… you@host\")",
                );
            }
        }
        for g in &u.groups {
            if !valid_user_name(g) {
                return Err(usage(format!("invalid {k}.groups: `{g}`")));
            }
        }
    }
    if let Some(bt) = &cfg.boot_test {
        if let Some(t) = &bt.timeout {
            if crate::config::parse_duration(t).is_none() {
                return Err(usage(format!(
                    "invalid {}: `{t}`; use e.g. \"10m\" or \"90s\"",
                    key("boot-test.timeout")
                )));
            }
        }
        if bt.http.is_some() && bt.port.is_none() {
            return Err(usage(format!(
                "invalid {}: `http` needs `port`",
                key("boot-test")
            )));
        }
        if let Some(h) = &bt.http {
            if !h.starts_with('/') || h.contains(char::is_whitespace) {
                return Err(usage(format!(
                    "invalid {}: `{h}` must be a path starting with `/`",
                    key("boot-test.http")
                )));
            }
        }
        if bt.memory.is_some_and(|m| m < 256) {
            return Err(usage(format!(
                "invalid {}: at least 256 (MiB) is needed to boot",
                key("boot-test.memory")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1536MiB"), Some(1536 << 20));
        assert_eq!(parse_size("3GB"), Some(3 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2X"), None);
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_size("99999999999T"), None);
    }

    #[test]
    fn names() {
        assert!(valid_hostname("forge-http"));
        assert!(valid_hostname("a.b-c.d"));
        assert!(!valid_hostname("-a"));
        assert!(!valid_hostname("a_b"));
        assert_eq!(hostname_from("My_App"), "my-app");
        assert_eq!(hostname_from("__"), "debian");
        assert!(valid_user_name("admin"));
        assert!(!valid_user_name("Admin"));
        assert!(!valid_user_name("1x"));
        assert!(valid_package_name("linux-image-cloud-amd64"));
        assert!(!valid_package_name("Curl"));
    }

    #[test]
    fn validation_names_the_key() {
        let cfg = VmConfig {
            users: Some(vec![VmUser {
                name: "admin".into(),
                ssh_keys: vec!["not a key".into()],
                ..VmUser::default()
            }]),
            ..VmConfig::default()
        };
        let err = validate(&cfg, Path::new("/x/Cargo.toml")).unwrap_err();
        assert!(
            err.to_string()
                .contains("package.metadata.forge.vm.users[0]"),
            "{err}"
        );
        assert_eq!(forge_core::exit::code_of(&err), 2);
        let cfg = VmConfig {
            size: Some("lots".into()),
            ..VmConfig::default()
        };
        assert!(validate(&cfg, Path::new("Cargo.toml"))
            .unwrap_err()
            .to_string()
            .contains("`lots` is not a size"));
    }
}
