//! Running a target's binaries on this machine: natively, or through qemu-user.
//!
//! A binary for the host's architecture runs directly. A foreign one runs as
//! `qemu-<arch> -L <prefix> BIN`, where the prefix is where the target's dynamic loader and libc
//! live: the root itself when Debian's multiarch libc for the target is installed
//! (`/usr/lib/<multiarch>/libc.so.6`, e.g. from `libc6:arm64`), else the cross sysroot
//! `/usr/<multiarch>` that `libc6-dev-<arch>-cross` installs. qemu falls back to the host path
//! for files missing under the prefix, so multiarch libraries (libz) are found either way.

use std::path::{Path, PathBuf};

use crate::exit::{with_hint, with_kind, ErrorKind};
use crate::process::Cmd;
use crate::target::TargetInfo;

/// Whether binaries for `target` run natively on the host `host_triple`.
pub fn is_native(target: &TargetInfo, host_triple: &str) -> bool {
    crate::target::lookup(host_triple)
        .map(|h| h.dpkg_arch == target.dpkg_arch)
        .unwrap_or(false)
}

/// The library prefix for qemu (`QEMU_LD_PREFIX`) for `target`: `/` when the target's Debian
/// libc is installed as a multiarch package (`libc6:<arch>`, the libc the package runs with on
/// its own machine), else the cross sysroot `/usr/<multiarch>` of `libc6-dev-<arch>-cross`.
/// The multiarch libc comes first because the cross one is not always runnable: under qemu-user
/// 7.2, ppc64el programs abort with "stack smashing detected" on `libc6-ppc64el-cross`.
pub fn ld_prefix(target: &TargetInfo) -> PathBuf {
    let multiarch_libc = PathBuf::from("/lib")
        .join(&target.multiarch)
        .join("libc.so.6");
    if target.libc == "gnu" && multiarch_libc.is_file() {
        return PathBuf::from("/");
    }
    let sysroot = PathBuf::from("/usr").join(&target.multiarch);
    if sysroot.join("lib").is_dir() {
        sysroot
    } else {
        PathBuf::from("/")
    }
}

/// A command that runs `binary` (built for `target`) on this host.
pub fn command(target: &TargetInfo, host_triple: &str, binary: &Path) -> anyhow::Result<Cmd> {
    if is_native(target, host_triple) {
        return Ok(Cmd::new(binary));
    }
    if which::which(&target.qemu).is_err() {
        let e = with_kind(
            anyhow::anyhow!(
                "`{}` is needed to run `{}` binaries on this machine and is not installed",
                target.qemu,
                target.dpkg_arch
            ),
            ErrorKind::MissingTool,
        );
        return Err(with_hint(
            e,
            "install it with `apt-get install qemu-user`".into(),
        ));
    }
    Ok(Cmd::new(&target.qemu)
        .env("QEMU_LD_PREFIX", ld_prefix(target))
        .arg(binary))
}

/// `CARGO_TARGET_<T>_RUNNER` value for `cargo test`/`cargo run` through qemu.
pub fn cargo_runner(target: &TargetInfo) -> String {
    format!("{} -L {}", target.qemu, ld_prefix(target).display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_runs_directly() {
        let t = crate::target::lookup("x86_64-unknown-linux-gnu").unwrap();
        let c = command(&t, "x86_64-unknown-linux-gnu", Path::new("/bin/true")).unwrap();
        assert_eq!(c.program, Path::new("/bin/true"));
    }

    #[test]
    fn foreign_goes_through_qemu_when_installed() {
        let t = crate::target::lookup("aarch64-unknown-linux-gnu").unwrap();
        match command(&t, "x86_64-unknown-linux-gnu", Path::new("/x")) {
            Ok(c) => {
                assert_eq!(c.program, Path::new("qemu-aarch64"));
                assert!(c.env.iter().any(|(k, _)| k == "QEMU_LD_PREFIX"));
            }
            Err(e) => assert_eq!(crate::exit::code_of(&e), 6),
        }
    }
}
