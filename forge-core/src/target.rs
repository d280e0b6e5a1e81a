//! The target table: a Rust target triple and what it means elsewhere.
//!
//! For every `*-linux-*` triple rustc knows, [`lookup`] gives the Debian architecture (dpkg), the
//! multiarch tuple (where Debian keeps the target's libraries), the GNU toolchain prefix of the
//! cross gcc, the qemu-user binary that runs its programs, and the OCI platform of images.
//! The mapping follows cargo-deb's (musl targets map to the same dpkg architecture as glibc ones)
//! and Debian's package names. Triples that are not a Linux userland Debian or an OCI runtime can
//! host (Android, OpenHarmony, WALI, unikernels, `-linux-none`) are rejected with the reason.
//!
//! It is computed from the triple's parts rather than listed triple by triple, so that new rustc
//! triples of a known CPU map without a change here; a unit test checks it against the target list
//! of the installed rustc.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::exit::usage;

/// What a target triple maps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetInfo {
    /// The Rust triple, e.g. `aarch64-unknown-linux-gnu`.
    pub triple: String,
    /// Debian architecture, e.g. `arm64`.
    pub dpkg_arch: String,
    /// Debian multiarch tuple, e.g. `aarch64-linux-gnu` (libraries in `/usr/lib/<tuple>`).
    pub multiarch: String,
    /// Prefix of the GNU cross tools, e.g. `aarch64-linux-gnu-` (so `aarch64-linux-gnu-gcc`).
    pub gcc_prefix: String,
    /// The qemu-user binary, e.g. `qemu-aarch64`.
    pub qemu: String,
    /// OCI platform `os`.
    pub oci_os: String,
    /// OCI platform `architecture` (GOARCH names).
    pub oci_arch: String,
    /// OCI platform `variant`, e.g. `v7` for armhf.
    pub oci_variant: Option<String>,
    /// The C library: `gnu`, `musl` or `uclibc`.
    pub libc: String,
}

impl TargetInfo {
    /// `linux/arm64`, `linux/arm/v7`.
    pub fn oci_platform(&self) -> String {
        match &self.oci_variant {
            Some(v) => format!("{}/{}/{}", self.oci_os, self.oci_arch, v),
            None => format!("{}/{}", self.oci_os, self.oci_arch),
        }
    }

    /// The triple in the form cargo uses in environment variable names:
    /// `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER`.
    pub fn env_upper(&self) -> String {
        self.triple.to_uppercase().replace(['-', '.'], "_")
    }

    /// The triple in the form the `cc` crate uses: `CC_aarch64_unknown_linux_gnu`.
    pub fn env_lower(&self) -> String {
        self.triple.replace(['-', '.'], "_")
    }

    /// Whether binaries for this target are statically linked by default (musl).
    pub fn is_musl(&self) -> bool {
        self.libc == "musl"
    }

    /// The RPM architecture (`%{_arch}` of Fedora, RHEL and openSUSE), e.g. `x86_64`, `aarch64`,
    /// `armv7hl`, `i686`, `ppc64le`; architectures without an RPM distribution keep the Debian
    /// name.
    pub fn rpm_arch(&self) -> &str {
        match self.dpkg_arch.as_str() {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            "armhf" => "armv7hl",
            "armel" => "armv5tel",
            "i386" => "i686",
            "ppc64el" => "ppc64le",
            "powerpc" => "ppc",
            "loong64" => "loongarch64",
            other => other,
        }
    }
}

/// Looks up a triple. Fails with a usage error naming the triple when it is not a Linux target.
pub fn lookup(triple: &str) -> Result<TargetInfo> {
    let parts: Vec<&str> = triple.split('-').collect();
    let unsupported = |why: &str| {
        usage(format!(
            "unsupported target `{triple}`: {why}; cargo-forge builds for Linux targets such as \
             x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf \
             (see `rustc --print target-list`)"
        ))
    };
    // cpu-vendor-linux-env or cpu-linux-env (android).
    let (cpu, os, env) = match parts.as_slice() {
        [cpu, _vendor, os, env] => (*cpu, *os, *env),
        [cpu, os, env] => (*cpu, *os, *env),
        _ => {
            return Err(unsupported(
                "not a target triple of the form <cpu>-<vendor>-linux-<env>",
            ))
        }
    };
    if os != "linux" {
        return Err(unsupported("it is not a Linux target"));
    }
    if parts.len() == 4 && matches!(parts[1], "unikraft") {
        return Err(unsupported("unikernel targets have no Linux userland"));
    }
    let libc = if env.starts_with("gnu") {
        "gnu"
    } else if env.starts_with("musl") {
        "musl"
    } else if env.starts_with("uclibc") {
        "uclibc"
    } else if env.starts_with("android") {
        return Err(unsupported("Android is not a Debian or OCI Linux userland"));
    } else if env == "ohos" {
        return Err(unsupported(
            "OpenHarmony is not a Debian or OCI Linux userland",
        ));
    } else {
        return Err(unsupported("it has no C library (environment `none`)"));
    };
    let hard_float = env.ends_with("hf");
    let abi = env
        .trim_start_matches("gnu")
        .trim_start_matches("musl")
        .trim_start_matches("uclibc");

    // (dpkg arch, multiarch cpu part, gnu abi suffix, qemu, oci arch, oci variant)
    struct Row {
        dpkg: String,
        tuple_cpu: &'static str,
        tuple_abi: &'static str,
        qemu: &'static str,
        oci: &'static str,
        variant: Option<&'static str>,
    }
    let row = |dpkg: &str, tuple_cpu, tuple_abi, qemu, oci, variant| Row {
        dpkg: dpkg.to_string(),
        tuple_cpu,
        tuple_abi,
        qemu,
        oci,
        variant,
    };
    let r = match cpu {
        "x86_64" if abi == "x32" => row("x32", "x86_64", "gnux32", "qemu-x86_64", "amd64", None),
        "x86_64" => row("amd64", "x86_64", "gnu", "qemu-x86_64", "amd64", None),
        "i686" | "i586" | "i386" => row("i386", "i386", "gnu", "qemu-i386", "386", None),
        "aarch64" if abi == "_ilp32" => row(
            "arm64ilp32",
            "aarch64_ilp32",
            "gnu",
            "qemu-aarch64",
            "arm64",
            None,
        ),
        "aarch64" => row(
            "arm64",
            "aarch64",
            "gnu",
            "qemu-aarch64",
            "arm64",
            Some("v8"),
        ),
        "aarch64_be" => row(
            "arm64be",
            "aarch64_be",
            "gnu",
            "qemu-aarch64_be",
            "arm64be",
            None,
        ),
        "armeb" => row("armeb", "armeb", "gnueabi", "qemu-armeb", "armbe", None),
        "armv7" | "thumbv7neon" if hard_float => {
            row("armhf", "arm", "gnueabihf", "qemu-arm", "arm", Some("v7"))
        }
        "armv7" | "thumbv7neon" => row("armel", "arm", "gnueabi", "qemu-arm", "arm", Some("v7")),
        "arm" if hard_float => row("armhf", "arm", "gnueabihf", "qemu-arm", "arm", Some("v6")),
        "arm" | "armv5te" | "armv4t" | "armv6" => {
            row("armel", "arm", "gnueabi", "qemu-arm", "arm", Some("v5"))
        }
        "loongarch64" => row(
            "loong64",
            "loongarch64",
            "gnu",
            "qemu-loongarch64",
            "loong64",
            None,
        ),
        "m68k" => row("m68k", "m68k", "gnu", "qemu-m68k", "m68k", None),
        "mips" => row("mips", "mips", "gnu", "qemu-mips", "mips", None),
        "mipsel" => row("mipsel", "mipsel", "gnu", "qemu-mipsel", "mipsle", None),
        "mips64" => row(
            "mips64",
            "mips64",
            "gnuabi64",
            "qemu-mips64",
            "mips64",
            None,
        ),
        "mips64el" => row(
            "mips64el",
            "mips64el",
            "gnuabi64",
            "qemu-mips64el",
            "mips64le",
            None,
        ),
        "mipsisa32r6" => row(
            "mipsr6",
            "mipsisa32r6",
            "gnu",
            "qemu-mips",
            "mips",
            Some("r6"),
        ),
        "mipsisa32r6el" => row(
            "mipsr6el",
            "mipsisa32r6el",
            "gnu",
            "qemu-mipsel",
            "mipsle",
            Some("r6"),
        ),
        "mipsisa64r6" => row(
            "mips64r6",
            "mipsisa64r6",
            "gnuabi64",
            "qemu-mips64",
            "mips64",
            Some("r6"),
        ),
        "mipsisa64r6el" => row(
            "mips64r6el",
            "mipsisa64r6el",
            "gnuabi64",
            "qemu-mips64el",
            "mips64le",
            Some("r6"),
        ),
        "powerpc" if env.ends_with("spe") => {
            row("powerpcspe", "powerpc", "gnuspe", "qemu-ppc", "ppc", None)
        }
        "powerpc" => row("powerpc", "powerpc", "gnu", "qemu-ppc", "ppc", None),
        "powerpc64" => row("ppc64", "powerpc64", "gnu", "qemu-ppc64", "ppc64", None),
        "powerpc64le" => row(
            "ppc64el",
            "powerpc64le",
            "gnu",
            "qemu-ppc64le",
            "ppc64le",
            None,
        ),
        c if c.starts_with("riscv64") => {
            row("riscv64", "riscv64", "gnu", "qemu-riscv64", "riscv64", None)
        }
        c if c.starts_with("riscv32") => {
            row("riscv32", "riscv32", "gnu", "qemu-riscv32", "riscv32", None)
        }
        "s390x" => row("s390x", "s390x", "gnu", "qemu-s390x", "s390x", None),
        "sparc" => row("sparc", "sparc", "gnu", "qemu-sparc", "sparc", None),
        "sparc64" => row("sparc64", "sparc64", "gnu", "qemu-sparc64", "sparc64", None),
        "csky" => row("csky", "csky", "gnuabiv2", "qemu-csky", "csky", None),
        "hexagon" => row("hexagon", "hexagon", "gnu", "qemu-hexagon", "hexagon", None),
        "wasm32" => {
            return Err(unsupported(
                "WebAssembly (WALI) is not a native Linux userland",
            ))
        }
        _ => return Err(unsupported("its CPU is not in cargo-forge's target table")),
    };
    let multiarch = format!("{}-linux-{}", r.tuple_cpu, r.tuple_abi);
    let gcc_prefix = match r.dpkg.as_str() {
        // Debian names the i386 cross compiler after i686.
        "i386" => "i686-linux-gnu-".to_string(),
        _ => format!("{multiarch}-"),
    };
    // armv7 targets report variant v7 whatever the float ABI.
    Ok(TargetInfo {
        triple: triple.to_string(),
        dpkg_arch: r.dpkg,
        multiarch,
        gcc_prefix,
        qemu: r.qemu.to_string(),
        oci_os: "linux".to_string(),
        oci_arch: r.oci.to_string(),
        oci_variant: r.variant.map(str::to_string),
        libc: libc.to_string(),
    })
}

/// The Rust triple for a Debian architecture (the glibc one), for `--target arm64` shorthands.
pub fn triple_for_dpkg_arch(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86_64-unknown-linux-gnu",
        "arm64" => "aarch64-unknown-linux-gnu",
        "armhf" => "armv7-unknown-linux-gnueabihf",
        "armel" => "arm-unknown-linux-gnueabi",
        "i386" => "i686-unknown-linux-gnu",
        "ppc64el" => "powerpc64le-unknown-linux-gnu",
        "s390x" => "s390x-unknown-linux-gnu",
        "riscv64" => "riscv64gc-unknown-linux-gnu",
        "loong64" => "loongarch64-unknown-linux-gnu",
        _ => return None,
    })
}

/// The Rust triple for an OCI platform such as `linux/arm64` or `linux/arm/v7`.
pub fn triple_for_oci_platform(platform: &str) -> Option<&'static str> {
    Some(match platform.trim_end_matches('/') {
        "linux/amd64" => "x86_64-unknown-linux-gnu",
        "linux/arm64" | "linux/arm64/v8" => "aarch64-unknown-linux-gnu",
        "linux/arm/v7" => "armv7-unknown-linux-gnueabihf",
        "linux/arm/v6" => "arm-unknown-linux-gnueabihf",
        "linux/arm/v5" => "arm-unknown-linux-gnueabi",
        "linux/386" => "i686-unknown-linux-gnu",
        "linux/ppc64le" => "powerpc64le-unknown-linux-gnu",
        "linux/s390x" => "s390x-unknown-linux-gnu",
        "linux/riscv64" => "riscv64gc-unknown-linux-gnu",
        "linux/loong64" => "loongarch64-unknown-linux-gnu",
        _ => return None,
    })
}

/// The triple of the machine we run on (the one this binary was built for, which is what rustc's
/// host is in practice for the toolchains we drive).
pub fn host_triple() -> &'static str {
    env!("FORGE_HOST_TRIPLE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_table() {
        // From shared/reference.md (cargo-deb's mapping, package names checked on bookworm).
        let rows = [
            (
                "x86_64-unknown-linux-gnu",
                "amd64",
                "x86_64-linux-gnu",
                "x86_64-linux-gnu-",
                "qemu-x86_64",
            ),
            (
                "aarch64-unknown-linux-gnu",
                "arm64",
                "aarch64-linux-gnu",
                "aarch64-linux-gnu-",
                "qemu-aarch64",
            ),
            (
                "armv7-unknown-linux-gnueabihf",
                "armhf",
                "arm-linux-gnueabihf",
                "arm-linux-gnueabihf-",
                "qemu-arm",
            ),
            (
                "arm-unknown-linux-gnueabi",
                "armel",
                "arm-linux-gnueabi",
                "arm-linux-gnueabi-",
                "qemu-arm",
            ),
            (
                "i686-unknown-linux-gnu",
                "i386",
                "i386-linux-gnu",
                "i686-linux-gnu-",
                "qemu-i386",
            ),
            (
                "powerpc64le-unknown-linux-gnu",
                "ppc64el",
                "powerpc64le-linux-gnu",
                "powerpc64le-linux-gnu-",
                "qemu-ppc64le",
            ),
            (
                "s390x-unknown-linux-gnu",
                "s390x",
                "s390x-linux-gnu",
                "s390x-linux-gnu-",
                "qemu-s390x",
            ),
            (
                "riscv64gc-unknown-linux-gnu",
                "riscv64",
                "riscv64-linux-gnu",
                "riscv64-linux-gnu-",
                "qemu-riscv64",
            ),
        ];
        for (triple, arch, multiarch, prefix, qemu) in rows {
            let t = lookup(triple).unwrap();
            assert_eq!(
                (
                    t.dpkg_arch.as_str(),
                    t.multiarch.as_str(),
                    t.gcc_prefix.as_str(),
                    t.qemu.as_str()
                ),
                (arch, multiarch, prefix, qemu),
                "{triple}"
            );
        }
        assert_eq!(
            lookup("x86_64-unknown-linux-musl").unwrap().dpkg_arch,
            "amd64"
        );
        assert_eq!(
            lookup("aarch64-unknown-linux-musl").unwrap().dpkg_arch,
            "arm64"
        );
    }

    #[test]
    fn oci_platforms() {
        assert_eq!(
            lookup("x86_64-unknown-linux-gnu").unwrap().oci_platform(),
            "linux/amd64"
        );
        assert_eq!(
            lookup("aarch64-unknown-linux-gnu").unwrap().oci_arch,
            "arm64"
        );
        assert_eq!(
            lookup("armv7-unknown-linux-gnueabihf")
                .unwrap()
                .oci_platform(),
            "linux/arm/v7"
        );
        for p in [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/386",
            "linux/riscv64",
        ] {
            let t = lookup(triple_for_oci_platform(p).unwrap()).unwrap();
            assert_eq!(t.oci_platform().trim_end_matches("/v8"), p);
        }
    }

    /// The five Debian architectures with a Rust std in Debian 12 (rustc-web): every column the
    /// setup, the build, qemu and images use, and the shorthands back to the triple.
    #[test]
    fn debian_std_architectures() {
        let rows = [
            (
                "x86_64-unknown-linux-gnu",
                "amd64",
                "x86_64-linux-gnu-",
                "qemu-x86_64",
                "linux/amd64",
            ),
            (
                "aarch64-unknown-linux-gnu",
                "arm64",
                "aarch64-linux-gnu-",
                "qemu-aarch64",
                "linux/arm64/v8",
            ),
            (
                "armv7-unknown-linux-gnueabihf",
                "armhf",
                "arm-linux-gnueabihf-",
                "qemu-arm",
                "linux/arm/v7",
            ),
            (
                "i686-unknown-linux-gnu",
                "i386",
                "i686-linux-gnu-",
                "qemu-i386",
                "linux/386",
            ),
            (
                "powerpc64le-unknown-linux-gnu",
                "ppc64el",
                "powerpc64le-linux-gnu-",
                "qemu-ppc64le",
                "linux/ppc64le",
            ),
        ];
        for (triple, arch, gcc, qemu, platform) in rows {
            let t = lookup(triple).unwrap();
            assert_eq!(
                (
                    t.dpkg_arch.as_str(),
                    t.gcc_prefix.as_str(),
                    t.qemu.as_str(),
                    t.oci_platform().as_str()
                ),
                (arch, gcc, qemu, platform),
                "{triple}"
            );
            assert_eq!(triple_for_dpkg_arch(arch), Some(triple));
            assert_eq!(triple_for_oci_platform(platform), Some(triple));
        }
    }

    #[test]
    fn rpm_arches() {
        for (triple, arch) in [
            ("x86_64-unknown-linux-gnu", "x86_64"),
            ("x86_64-unknown-linux-musl", "x86_64"),
            ("aarch64-unknown-linux-gnu", "aarch64"),
            ("armv7-unknown-linux-gnueabihf", "armv7hl"),
            ("i686-unknown-linux-gnu", "i686"),
            ("powerpc64le-unknown-linux-gnu", "ppc64le"),
            ("s390x-unknown-linux-gnu", "s390x"),
            ("riscv64gc-unknown-linux-gnu", "riscv64"),
        ] {
            assert_eq!(lookup(triple).unwrap().rpm_arch(), arch, "{triple}");
        }
    }

    #[test]
    fn env_names() {
        let t = lookup("aarch64-unknown-linux-gnu").unwrap();
        assert_eq!(t.env_upper(), "AARCH64_UNKNOWN_LINUX_GNU");
        assert_eq!(t.env_lower(), "aarch64_unknown_linux_gnu");
    }

    #[test]
    fn rejects_with_reason() {
        for (t, why) in [
            ("x86_64-pc-windows-msvc", "not a Linux target"),
            ("aarch64-linux-android", "Android"),
            ("x86_64-unknown-linux-none", "no C library"),
            ("nonsense", "not a target triple"),
            ("wasm32-wali-linux-musl", "WebAssembly"),
        ] {
            let e = lookup(t).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(t), "{t}: {e}");
            assert!(e.starts_with("unsupported target"), "{e}");
        }
    }

    /// Every `*-linux-*` triple of the installed rustc is either mapped or rejected with a reason.
    #[test]
    fn covers_rustc_target_list() {
        let Ok(out) = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
            .args(["--print", "target-list"])
            .output()
        else {
            return;
        };
        let list = String::from_utf8_lossy(&out.stdout);
        let mut mapped = 0;
        for triple in list.lines().filter(|t| t.contains("-linux-")) {
            match lookup(triple) {
                Ok(info) => {
                    mapped += 1;
                    assert!(
                        !info.dpkg_arch.is_empty() && !info.qemu.is_empty(),
                        "{triple}"
                    );
                    // An RPM arch is one word of [a-z0-9_] (it is a file name part).
                    let rpm = info.rpm_arch();
                    assert!(
                        !rpm.is_empty()
                            && rpm
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                        "{triple}: rpm arch `{rpm}`"
                    );
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        [
                            "Android",
                            "OpenHarmony",
                            "WebAssembly",
                            "unikernel",
                            "no C library"
                        ]
                        .iter()
                        .any(|w| msg.contains(w)),
                        "{triple} rejected without a known reason: {msg}"
                    );
                }
            }
        }
        assert!(mapped > 50, "only {mapped} linux triples mapped");
    }
}
