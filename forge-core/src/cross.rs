//! The `cross` backend's side of the build engine: what `cross` (cross-rs 0.2) needs to be told,
//! what it needs to find, and how its output maps back to this machine.
//!
//! `cross build` runs cargo in a container of the image `Cross.toml` names for the target (or
//! cross's own). It mounts the workspace at `/project`, the target directory at `/target` and the
//! toolchain's sysroot at `/rust`, so cargo's JSON messages speak of container paths:
//! [`PATH_MAP`]-style pairs turn them back into host paths before artifacts are collected. It
//! passes `--manifest-path` through unchanged (a host path the container does not have), so the
//! command runs in the manifest's directory instead.
//!
//! cross names a toolchain after the last component of its sysroot (`rustc --print sysroot`, with
//! `RUSTC` honoured) and insists that rustup lists a toolchain of that name: a rustup toolchain
//! is found by construction, a directory such as Debian's `/usr` must be linked first
//! (`rustup toolchain link usr /usr`). For such a linked ("custom") toolchain rustup cannot add
//! targets, so `CROSS_CUSTOM_TOOLCHAIN=1` tells cross not to try, and the build engine checks the
//! target's standard library itself.
//!
//! A container engine is "present" when `CROSS_CONTAINER_ENGINE` names a program, or `docker` is
//! installed and its daemon's socket exists (`DOCKER_HOST`, else `/var/run/docker.sock`), or
//! `podman` is installed (it needs no daemon). That is read from the file system, without running
//! anything, so `plan()` stays free of side effects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::exit::{usage, ErrorKind, ResultExt};
use crate::toolchain::Toolchain;

/// Where cross mounts the workspace and the target directory in its container.
const PROJECT_MOUNT: &str = "/project";
const TARGET_MOUNT: &str = "/target";

/// What the plan knows of a `Cross.toml`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CrossConfig {
    pub path: PathBuf,
    /// `target.<triple>.image` entries.
    pub images: BTreeMap<String, String>,
}

/// The `Cross.toml` cross will read for a workspace: `CROSS_CONFIG`, else `<root>/Cross.toml`.
pub fn config_path(workspace_root: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CROSS_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let p = workspace_root.join("Cross.toml");
    p.is_file().then_some(p)
}

/// Reads and checks a `Cross.toml` (a bad one is a usage error naming the file, reported before
/// anything is built, rather than cross's message from inside the build).
pub fn load_config(path: &Path) -> Result<CrossConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        usage(format!(
            "invalid `{}`: {}",
            path.display(),
            e.message().trim_end()
        ))
    })?;
    let mut images = BTreeMap::new();
    if let Some(targets) = table.get("target").and_then(|t| t.as_table()) {
        for (triple, entry) in targets {
            let image = match entry.get("image") {
                None => continue,
                Some(toml::Value::String(s)) => s.clone(),
                // cross 0.2.5 also accepts `image = { name = "…", toolchain = […] }`.
                Some(toml::Value::Table(t)) => match t.get("name").and_then(|n| n.as_str()) {
                    Some(n) => n.to_string(),
                    None => {
                        return Err(usage(format!(
                            "invalid `target.{triple}.image` in `{}`: a table needs `name`",
                            path.display()
                        )))
                    }
                },
                Some(other) => {
                    return Err(usage(format!(
                        "invalid `target.{triple}.image` in `{}`: expected an image name, found {}",
                        path.display(),
                        other.type_str()
                    )))
                }
            };
            images.insert(triple.clone(), image);
        }
    }
    Ok(CrossConfig {
        path: path.to_path_buf(),
        images,
    })
}

/// The container engine cross would use, if one is present (see the module docs).
pub fn engine() -> Option<String> {
    if let Some(e) = std::env::var_os("CROSS_CONTAINER_ENGINE").filter(|e| !e.is_empty()) {
        let e = e.to_string_lossy().into_owned();
        return crate::process::exists(&e).then_some(e);
    }
    if crate::process::exists("docker") && docker_daemon_present() {
        return Some("docker".into());
    }
    crate::process::exists("podman").then(|| "podman".into())
}

fn docker_daemon_present() -> bool {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => match host.strip_prefix("unix://") {
            Some(socket) => Path::new(socket).exists(),
            None => true, // tcp:// or ssh://: cannot tell without connecting
        },
        _ => {
            std::env::var_os("DOCKER_CONTEXT").is_some_and(|c| !c.is_empty() && c != "default")
                || Path::new("/var/run/docker.sock").exists()
                || std::env::var_os("XDG_RUNTIME_DIR")
                    .is_some_and(|d| Path::new(&d).join("docker.sock").exists())
        }
    }
}

/// The error for `--backend cross` without a container engine.
pub fn no_engine_error() -> anyhow::Error {
    let err = anyhow::anyhow!(
        "backend `cross` needs a container engine, and none is reachable: no docker daemon socket \
         (`DOCKER_HOST` is unset and `/var/run/docker.sock` does not exist) and no podman"
    );
    let err = crate::exit::with_kind(err, ErrorKind::MissingTool);
    crate::exit::with_hint(
        err,
        "start docker (`apt-get install docker.io`, then `dockerd`), set `DOCKER_HOST`, or install podman"
            .into(),
    )
}

fn rustup_home() -> PathBuf {
    std::env::var_os("RUSTUP_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))
        .unwrap_or_else(|| PathBuf::from("/root/.rustup"))
}

/// Checks that cross can use `toolchain`; returns whether it is a custom (linked or non-rustup)
/// one, for which cross must not manage targets.
pub fn check_toolchain(toolchain: &Toolchain) -> Result<bool> {
    let name = toolchain
        .sysroot
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entry = rustup_home().join("toolchains").join(&name);
    if name.is_empty() || !entry.exists() {
        let dir = toolchain.sysroot.display();
        return Err(usage(format!(
            "cross runs rustup toolchains, and names them after their sysroot: the `{}` toolchain (sysroot `{dir}`) needs a rustup toolchain called `{name}`, which `rustup toolchain list` does not show",
            toolchain.name
        )))
        .hint(format!(
            "link it, without downloading anything: `rustup toolchain link {name} {dir}`"
        ));
    }
    Ok(!toolchain.rustup || entry.is_symlink())
}

/// Maps a path cross's container printed back to this machine.
pub fn host_path(path: &Path, map: &[(PathBuf, PathBuf)]) -> PathBuf {
    for (inside, outside) in map {
        if let Ok(rest) = path.strip_prefix(inside) {
            return outside.join(rest);
        }
    }
    path.to_path_buf()
}

/// The container-to-host path pairs of a cross build of the workspace at `workspace_root` into
/// `target_dir` (run from inside the workspace, so cross mounts the workspace root).
pub fn path_map(workspace_root: &Path, target_dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    vec![
        (PathBuf::from(TARGET_MOUNT), target_dir.to_path_buf()),
        (PathBuf::from(PROJECT_MOUNT), workspace_root.to_path_buf()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_map_back() {
        let map = path_map(Path::new("/home/u/ws"), Path::new("/home/u/ws/target"));
        assert_eq!(
            host_path(
                Path::new("/target/aarch64-unknown-linux-gnu/release/app"),
                &map
            ),
            Path::new("/home/u/ws/target/aarch64-unknown-linux-gnu/release/app")
        );
        assert_eq!(
            host_path(Path::new("/project/app/Cargo.toml"), &map),
            Path::new("/home/u/ws/app/Cargo.toml")
        );
        assert_eq!(
            host_path(Path::new("/elsewhere/x"), &map),
            Path::new("/elsewhere/x")
        );
        // `/targets` is not under `/target`.
        assert_eq!(
            host_path(Path::new("/targets/x"), &map),
            Path::new("/targets/x")
        );
    }

    #[test]
    fn cross_toml_images_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Cross.toml");
        std::fs::write(
            &p,
            "[target.aarch64-unknown-linux-gnu]\nimage = \"local/cross:1\"\n\n[target.armv7-unknown-linux-gnueabihf]\nimage = { name = \"local/armv7:1\" }\n\n[build.env]\npassthrough = [\"X\"]\n",
        )
        .unwrap();
        let c = load_config(&p).unwrap();
        assert_eq!(c.images["aarch64-unknown-linux-gnu"], "local/cross:1");
        assert_eq!(c.images["armv7-unknown-linux-gnueabihf"], "local/armv7:1");
        std::fs::write(&p, "[target.x\nimage = 1").unwrap();
        let err = load_config(&p).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 2);
        assert!(err.to_string().contains("Cross.toml"), "{err}");
        std::fs::write(&p, "[target.x]\nimage = 1\n").unwrap();
        let err = load_config(&p).unwrap_err();
        assert!(err.to_string().contains("target.x.image"), "{err}");
    }

    #[test]
    fn a_directory_toolchain_must_be_linked_under_its_sysroot_name() {
        let tc = Toolchain {
            name: "/opt/rust".into(),
            cargo: "/opt/rust/bin/cargo".into(),
            rustc: "/opt/rust/bin/rustc".into(),
            sysroot: "/opt/rust".into(),
            version: "1.96.0".into(),
            host: "x86_64-unknown-linux-gnu".into(),
            rustup: false,
        };
        // (Setting RUSTUP_HOME for one test would race with the others: the real one is used,
        // which has no toolchain called `rust`.)
        if rustup_home().join("toolchains/rust").exists() {
            return;
        }
        let err = check_toolchain(&tc).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 2);
        assert!(
            crate::exit::hints(&err)
                .iter()
                .any(|h| h.contains("rustup toolchain link rust /opt/rust")),
            "{:?}",
            crate::exit::hints(&err)
        );
    }
}
