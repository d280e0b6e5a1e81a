//! Which Rust toolchain builds: `--toolchain NAME|PATH`.
//!
//! - nothing given: the `cargo` that invoked us (`CARGO`, as cargo sets it for subcommands) and
//!   the `rustc` next to it (or `RUSTC`);
//! - a rustup toolchain name (`stable`, `1.85`, `nightly-2026-01-01`): resolved with `rustup which`;
//! - a directory holding `bin/cargo` and `bin/rustc`, such as `/usr` for Debian's `rustc-web`, whose
//!   arm64 standard library comes from `libstd-rust-web-dev:arm64`.
//!
//! A toolchain knows its sysroot, so [`Toolchain::has_std`] can say before the build whether it has
//! the standard library for a target, and the error can point at a toolchain that does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::exit::{usage, with_hint, ErrorKind, ResultExt};
use crate::process::Cmd;
use crate::shell::Shell;

/// A resolved toolchain.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Toolchain {
    /// What the user asked for (`default` when nothing).
    pub name: String,
    pub cargo: PathBuf,
    pub rustc: PathBuf,
    /// `rustc --print sysroot`.
    pub sysroot: PathBuf,
    /// `rustc -vV` `release:` line.
    pub version: String,
    /// `rustc -vV` `host:` line.
    pub host: String,
    /// Whether it is managed by rustup (so `rustup target add` can install a std).
    pub rustup: bool,
}

impl Toolchain {
    /// Resolves `--toolchain` (or the config key `toolchain`).
    pub fn resolve(spec: Option<&str>, shell: &Shell) -> Result<Toolchain> {
        let (name, cargo, rustc, rustup) = match spec {
            None | Some("") => {
                let cargo = std::env::var_os("CARGO")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| "cargo".into());
                let rustc = match std::env::var_os("RUSTC") {
                    Some(r) => PathBuf::from(r),
                    None => sibling(&cargo, "rustc"),
                };
                let rustup = which::which(&cargo)
                    .map(|p| {
                        p.components()
                            .any(|c| c.as_os_str() == ".rustup" || c.as_os_str() == ".cargo")
                    })
                    .unwrap_or(false)
                    || std::env::var_os("RUSTUP_TOOLCHAIN").is_some();
                ("default".to_string(), cargo, rustc, rustup)
            }
            Some(spec) if spec.contains('/') || Path::new(spec).is_dir() => {
                let dir = Path::new(spec);
                let cargo = dir.join("bin/cargo");
                let rustc = dir.join("bin/rustc");
                for tool in [&cargo, &rustc] {
                    if !tool.is_file() {
                        return Err(usage(format!(
                            "toolchain directory `{}` has no `{}`",
                            dir.display(),
                            tool.strip_prefix(dir).unwrap_or(tool).display()
                        )))
                        .hint("--toolchain takes a rustup toolchain name or a directory with bin/cargo and bin/rustc, e.g. `/usr` for Debian's rustc-web");
                    }
                }
                (spec.to_string(), cargo, rustc, false)
            }
            Some(name) => {
                let which = |tool: &str| -> Result<PathBuf> {
                    Cmd::new("rustup")
                        .args(["which", "--toolchain", name, tool])
                        .install_hint("install rustup from https://rustup.rs, or pass a toolchain directory such as `--toolchain /usr`")
                        .read(shell)
                        .map(PathBuf::from)
                        .with_context(|| format!("rustup toolchain `{name}` is not usable"))
                        .kind(ErrorKind::Usage)
                        .hint(format!("install it with `rustup toolchain install {name}`, or pass a directory such as `--toolchain /usr`"))
                };
                (name.to_string(), which("cargo")?, which("rustc")?, true)
            }
        };
        let vv = Cmd::new(&rustc)
            .arg("-vV")
            .read(shell)
            .with_context(|| format!("failed to query rustc `{}`", rustc.display()))?;
        let field = |key: &str| {
            vv.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let sysroot = Cmd::new(&rustc)
            .args(["--print", "sysroot"])
            .read(shell)
            .with_context(|| format!("failed to query the sysroot of `{}`", rustc.display()))?;
        Ok(Toolchain {
            name,
            cargo,
            rustc,
            sysroot: PathBuf::from(sysroot),
            version: field("release:"),
            host: field("host:"),
            rustup,
        })
    }

    /// Applies the toolchain to a cargo command: `RUSTC` for a chosen toolchain; nothing for the
    /// default one, so that our cargo calls and the user's plain `cargo build` agree on the
    /// compiler and do not invalidate each other's `target/.rustc_info.json` cache.
    pub fn apply(&self, cmd: Cmd) -> Cmd {
        if self.name == "default" {
            cmd
        } else {
            cmd.env("RUSTC", &self.rustc)
        }
    }

    /// Whether the toolchain has the standard library for `triple`.
    pub fn has_std(&self, triple: &str) -> bool {
        self.sysroot
            .join("lib/rustlib")
            .join(triple)
            .join("lib")
            .is_dir()
    }

    /// Fails, with what to do, when the toolchain lacks the std of `triple`.
    pub fn require_std(&self, triple: &str) -> Result<()> {
        if self.has_std(triple) {
            return Ok(());
        }
        let err = usage(format!(
            "the `{}` toolchain (rustc {}, sysroot `{}`) has no standard library for `{triple}`",
            self.name,
            self.version,
            self.sysroot.display()
        ));
        let mut hints = Vec::new();
        if self.rustup {
            hints.push(format!("run `rustup target add {triple}`"));
        }
        for dir in ["/usr", "/usr/local"] {
            if Path::new(dir)
                .join("lib/rustlib")
                .join(triple)
                .join("lib")
                .is_dir()
                && Path::new(dir).join("bin/cargo").is_file()
                && Path::new(dir).join("bin/rustc").is_file()
                && self.sysroot != Path::new(dir)
            {
                hints.push(format!("`{dir}` has a toolchain with it: pass `--toolchain {dir}` (or set `toolchain = \"{dir}\"` in [workspace.metadata.forge])"));
            }
        }
        if let Some(arch) = debian_std_arch(triple) {
            hints.push(format!("on Debian 12 the package `libstd-rust-web-dev:{arch}` provides it for Debian's toolchain: `dpkg --add-architecture {arch} && apt-get update && apt-get install rustc-web cargo-web libstd-rust-web-dev:{arch}`, then `--toolchain /usr`"));
        }
        Err(hints.into_iter().fold(err, with_hint))
    }
}

/// The Debian architecture whose `libstd-rust-web-dev` package holds the standard library of
/// `triple`, for the triples Debian 12 builds it for (its rustc-web's own: the `-gnu` ones of
/// amd64, arm64, armhf, i386 and ppc64el; s390x has only an older, mismatched one).
pub fn debian_std_arch(triple: &str) -> Option<&'static str> {
    Some(match triple {
        "x86_64-unknown-linux-gnu" => "amd64",
        "aarch64-unknown-linux-gnu" => "arm64",
        "armv7-unknown-linux-gnueabihf" => "armhf",
        "i686-unknown-linux-gnu" => "i386",
        "powerpc64le-unknown-linux-gnu" => "ppc64el",
        _ => return None,
    })
}

/// `dir/of/cargo` → `dir/of/<tool>` when cargo is a path; `<tool>` otherwise.
fn sibling(cargo: &Path, tool: &str) -> PathBuf {
    match cargo.parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            let candidate = p.join(tool);
            if candidate.is_file() {
                candidate
            } else {
                PathBuf::from(tool)
            }
        }
        _ => PathBuf::from(tool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toolchain_resolves_and_has_host_std() {
        let shell = Shell::plain();
        let tc = Toolchain::resolve(None, &shell).unwrap();
        assert!(!tc.version.is_empty());
        assert!(tc.has_std(&tc.host), "{tc:?}");
        let err = tc.require_std("s390x-unknown-linux-gnu").unwrap_err();
        assert!(err
            .to_string()
            .contains("has no standard library for `s390x-unknown-linux-gnu`"));
        // A target Debian ships a std for: the hint names the package (or `/usr`, which has it).
        if !tc.has_std("powerpc64le-unknown-linux-gnu") {
            let err = tc.require_std("powerpc64le-unknown-linux-gnu").unwrap_err();
            let hints = crate::exit::hints(&err).join("\n");
            assert!(hints.contains("libstd-rust-web-dev:ppc64el"), "{hints}");
        }
        assert_eq!(
            debian_std_arch("armv7-unknown-linux-gnueabihf"),
            Some("armhf")
        );
        assert_eq!(debian_std_arch("s390x-unknown-linux-gnu"), None);
    }

    #[test]
    fn directory_without_tools_is_a_usage_error() {
        let shell = Shell::plain();
        let dir = tempfile::tempdir().unwrap();
        let err = Toolchain::resolve(Some(dir.path().to_str().unwrap()), &shell).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 2);
        assert!(err.to_string().contains("has no `bin/cargo`"), "{err}");
    }
}
