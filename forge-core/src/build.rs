//! The build engine: turning "these packages, for these targets" into binaries.
//!
//! [`plan`] decides, without side effects, which backend builds each target and the exact command
//! lines (with environment) that will run; [`execute`] runs them and collects the produced files
//! from cargo's JSON messages (`compiler-artifact` lines), never by guessing paths. With
//! `--no-build`, [`existing_artifacts`] finds already-built binaries where cargo puts them.
//!
//! Backends (`--backend`, or `backend` in `[workspace.metadata.forge]`):
//! - `cargo`: the toolchain's cargo. For a foreign target it configures the cross gcc
//!   (`CARGO_TARGET_<T>_LINKER`, `CC_<t>`, `CXX_<t>`, `AR_<t>`) and pkg-config for the target's
//!   multiarch libraries, unless the user already set them.
//! - `zigbuild`: `cargo-zigbuild`, with `--glibc` appended to the triple as it expects.
//! - `cross`: `cross build`, which honours `Cross.toml`; one target per call, run in the
//!   manifest's directory, with container paths in its messages mapped back (see [`crate::cross`]).
//! - `auto`: explicit config wins → a `Cross.toml` (with cross and a container engine) → cross;
//!   host target or a configured/installed linker → cargo; zigbuild installed → zigbuild; cross
//!   with a container engine → cross; else an error listing the commands that install a working
//!   backend.
//!
//! All targets that share a backend (other than cross) are built by one cargo call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::BackendChoice;
use crate::exit::{usage, with_hint, ErrorKind, ResultExt};
use crate::process::Cmd;
use crate::project::profile_dir;
use crate::shell::Shell;
use crate::target::{self, TargetInfo};
use crate::toolchain::Toolchain;

/// A resolved backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Cargo,
    Zigbuild,
    Cross,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cargo => "cargo",
            Backend::Zigbuild => "zigbuild",
            Backend::Cross => "cross",
        })
    }
}

/// What to build.
#[derive(Clone, Debug, Serialize)]
pub struct BuildRequest {
    pub workspace_root: PathBuf,
    pub manifest_path: PathBuf,
    pub target_dir: PathBuf,
    /// `-p` names (empty: cargo's default selection for the manifest).
    pub packages: Vec<String>,
    #[serde(skip)]
    pub features: clap_cargo::Features,
    /// Explicit targets; empty = the host, built without `--target` (into `target/<profile>/`).
    pub targets: Vec<String>,
    pub profile: String,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    pub backend: BackendChoice,
    pub glibc: Option<String>,
}

/// One command of the build.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BuildStep {
    pub backend: Backend,
    /// Triples built by this step (empty: host without `--target`).
    pub targets: Vec<String>,
    pub command: Cmd,
    /// Container path → host path, for the messages of a build that runs in a container (cross).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path_map: Vec<(PathBuf, PathBuf)>,
}

/// The whole build, decided.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BuildPlan {
    pub toolchain: Toolchain,
    pub target_dir: PathBuf,
    pub profile: String,
    pub steps: Vec<BuildStep>,
}

/// A file cargo produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Package name.
    pub package: String,
    /// Target (binary) name.
    pub name: String,
    /// `bin`, `cdylib`, …
    pub kind: String,
    pub path: PathBuf,
    /// The triple it was built for; `None` for a host build without `--target`.
    pub target: Option<String>,
}

/// Decides backends and commands. No side effects (it only looks for programs and files).
pub fn plan(req: &BuildRequest, toolchain: &Toolchain, shell: &Shell) -> Result<BuildPlan> {
    let mut groups: BTreeMap<Backend, Vec<TargetInfo>> = BTreeMap::new();
    let mut host_only = false;
    if req.targets.is_empty() {
        host_only = true;
    }
    for triple in &req.targets {
        let info = target::lookup(triple)?;
        let backend = select_backend(req, toolchain, &info, shell)?;
        if backend != Backend::Cross || crate::cross::check_toolchain(toolchain)? {
            toolchain.require_std(triple)?;
        }
        let image = match backend {
            Backend::Cross => crate::cross::config_path(&req.workspace_root)
                .map(|p| crate::cross::load_config(&p))
                .transpose()?
                .and_then(|c| c.images.get(triple).map(|i| format!(" (image {i})"))),
            _ => None,
        }
        .unwrap_or_default();
        shell.verbose_status("Backend", format!("{backend} for {triple}{image}"));
        groups.entry(backend).or_default().push(info);
    }
    let mut steps = Vec::new();
    if host_only {
        let backend = match req.backend {
            BackendChoice::Zigbuild => Backend::Zigbuild,
            BackendChoice::Cross => {
                require_backend_tool(Backend::Cross)?;
                crate::cross::check_toolchain(toolchain)?;
                Backend::Cross
            }
            // a glibc floor is zigbuild's to keep; `auto` picks it
            BackendChoice::Auto if req.glibc.is_some() => {
                require_backend_tool(Backend::Zigbuild)?;
                Backend::Zigbuild
            }
            _ => Backend::Cargo,
        };
        steps.push(BuildStep {
            backend,
            targets: vec![],
            command: command(req, toolchain, backend, &[])?,
            path_map: path_map(req, backend),
        });
    }
    for (backend, infos) in groups {
        if backend == Backend::Cross {
            for info in infos {
                steps.push(BuildStep {
                    backend,
                    targets: vec![info.triple.clone()],
                    command: command(req, toolchain, backend, std::slice::from_ref(&info))?,
                    path_map: path_map(req, backend),
                });
            }
        } else {
            steps.push(BuildStep {
                backend,
                targets: infos.iter().map(|i| i.triple.clone()).collect(),
                command: command(req, toolchain, backend, &infos)?,
                path_map: path_map(req, backend),
            });
        }
    }
    Ok(BuildPlan {
        toolchain: toolchain.clone(),
        target_dir: req.target_dir.clone(),
        profile: req.profile.clone(),
        steps,
    })
}

fn path_map(req: &BuildRequest, backend: Backend) -> Vec<(PathBuf, PathBuf)> {
    match backend {
        Backend::Cross => crate::cross::path_map(&req.workspace_root, &req.target_dir),
        _ => Vec::new(),
    }
}

fn select_backend(
    req: &BuildRequest,
    toolchain: &Toolchain,
    t: &TargetInfo,
    shell: &Shell,
) -> Result<Backend> {
    let explicit = match req.backend {
        BackendChoice::Cargo => Some(Backend::Cargo),
        BackendChoice::Zigbuild => Some(Backend::Zigbuild),
        BackendChoice::Cross => Some(Backend::Cross),
        BackendChoice::Auto => None,
    };
    if let Some(b) = explicit {
        require_backend_tool(b)?;
        return Ok(b);
    }
    if req.glibc.is_some() && t.libc == "gnu" {
        // Only zigbuild can link against an older glibc than the machine's.
        require_backend_tool(Backend::Zigbuild)?;
        return Ok(Backend::Zigbuild);
    }
    if let Some(cross_toml) = crate::cross::config_path(&req.workspace_root) {
        match (
            crate::process::exists("cross"),
            crate::cross::engine().is_some(),
        ) {
            (true, true) => return Ok(Backend::Cross),
            (installed, _) => shell.warn(format!(
                "`{}` asks for cross, but {}; building `{}` without it",
                cross_toml.display(),
                if installed {
                    "no container engine is reachable"
                } else {
                    "cross is not installed"
                },
                t.triple
            )),
        }
    }
    let host = toolchain.host.as_str();
    let same_arch = crate::qemu::is_native(t, host) && t.libc == "gnu" && host.ends_with("-gnu");
    if t.triple == host || same_arch {
        return Ok(Backend::Cargo);
    }
    if linker_configured(req, t) || crate::process::exists(&format!("{}gcc", t.gcc_prefix)) {
        return Ok(Backend::Cargo);
    }
    if crate::process::exists("cargo-zigbuild") {
        return Ok(Backend::Zigbuild);
    }
    if crate::process::exists("cross") && crate::cross::engine().is_some() {
        return Ok(Backend::Cross);
    }
    let deb_arch = &t.dpkg_arch;
    let err = usage(format!(
        "no backend can build for `{}` on this machine: no `{}gcc` linker, no cargo-zigbuild, no cross",
        t.triple, t.gcc_prefix
    ));
    let err = with_hint(
        err,
        format!(
            "install a cross linker: `apt-get install gcc-{}` and `libc6-dev-{deb_arch}-cross` (then `--backend cargo`)",
            t.gcc_prefix.trim_end_matches('-')
        ),
    );
    let err = with_hint(err, "or install zig and cargo-zigbuild: `pip install cargo-zigbuild ziglang` (then `--backend zigbuild`)".into());
    Err(with_hint(
        err,
        "or install cross and a container engine: `cargo install cross` (then `--backend cross`)"
            .into(),
    ))
}

fn require_backend_tool(b: Backend) -> Result<()> {
    let (tool, hint) = match b {
        Backend::Cargo => return Ok(()),
        Backend::Zigbuild => (
            "cargo-zigbuild",
            "install it with `pip install cargo-zigbuild ziglang`",
        ),
        Backend::Cross => (
            "cross",
            "install it with `cargo install cross` (it also needs docker or podman)",
        ),
    };
    if crate::process::exists(tool) {
        if b == Backend::Cross && crate::cross::engine().is_none() {
            return Err(crate::cross::no_engine_error());
        }
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "backend `{b}` needs `{tool}`, which is not installed"
        ))
        .kind(ErrorKind::MissingTool)
        .hint(hint)
    }
}

/// Whether the user configured a linker for the target (environment or `.cargo/config.toml` in
/// the workspace, its parents, or `$CARGO_HOME`).
fn linker_configured(req: &BuildRequest, t: &TargetInfo) -> bool {
    if std::env::var_os(format!("CARGO_TARGET_{}_LINKER", t.env_upper())).is_some() {
        return true;
    }
    let mut files: Vec<PathBuf> = req
        .workspace_root
        .ancestors()
        .flat_map(|d| [d.join(".cargo/config.toml"), d.join(".cargo/config")])
        .collect();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        files.push(PathBuf::from(home).join("config.toml"));
    }
    files.into_iter().any(|f| {
        std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.parse::<toml::Table>().ok())
            .and_then(|t2| t2.get("target")?.get(&t.triple)?.get("linker").map(|_| ()))
            .is_some()
    })
}

fn env_unset(key: &str) -> bool {
    std::env::var_os(key).is_none()
}

fn command(
    req: &BuildRequest,
    toolchain: &Toolchain,
    backend: Backend,
    targets: &[TargetInfo],
) -> Result<Cmd> {
    let mut cmd = match backend {
        Backend::Cargo => Cmd::new(&toolchain.cargo).arg("build"),
        Backend::Zigbuild => Cmd::new("cargo-zigbuild")
            .arg("zigbuild")
            .env("CARGO", &toolchain.cargo),
        // cross picks the toolchain from `RUSTC` (set by `toolchain.apply` below), not `+NAME`.
        Backend::Cross => {
            let c = Cmd::new("cross").arg("build");
            if crate::cross::check_toolchain(toolchain)? {
                c.env("CROSS_CUSTOM_TOOLCHAIN", "1")
            } else {
                c
            }
        }
    };
    cmd = cmd.arg("--message-format=json-render-diagnostics");
    // cross hands `--manifest-path` to the container unchanged, where that host path does not
    // exist: it runs in the manifest's directory instead.
    cmd = if backend == Backend::Cross {
        cmd.cwd(req.manifest_path.parent().unwrap_or(&req.workspace_root))
    } else {
        cmd.arg("--manifest-path")
            .arg(&req.manifest_path)
            .cwd(&req.workspace_root)
    };
    cmd = cmd
        .arg("--profile")
        .arg(&req.profile)
        .arg("--target-dir")
        .arg(&req.target_dir);
    cmd = toolchain.apply(cmd);
    if backend != Backend::Cross {
        if toolchain.rustup && toolchain.name != "default" {
            cmd = cmd.env("RUSTUP_TOOLCHAIN", &toolchain.name);
        } else if !toolchain.rustup {
            cmd = cmd.env_remove("RUSTUP_TOOLCHAIN");
        }
    }
    for p in &req.packages {
        cmd = cmd.arg("-p").arg(p);
    }
    if req.features.all_features {
        cmd = cmd.arg("--all-features");
    }
    if req.features.no_default_features {
        cmd = cmd.arg("--no-default-features");
    }
    if !req.features.features.is_empty() {
        cmd = cmd.arg("--features").arg(req.features.features.join(","));
    }
    for (flag, on) in [
        ("--locked", req.locked),
        ("--frozen", req.frozen),
        ("--offline", req.offline),
    ] {
        if on {
            cmd = cmd.arg(flag);
        }
    }
    // A glibc floor is part of zigbuild's target triple, so a host build with `--glibc` names
    // the host triple explicitly (without it the floor would be silently ignored).
    let host_target;
    let targets = if targets.is_empty() && backend == Backend::Zigbuild && req.glibc.is_some() {
        host_target = [crate::target::lookup(&toolchain.host)?];
        &host_target[..]
    } else {
        targets
    };
    for t in targets {
        let triple = match (backend, &req.glibc) {
            (Backend::Zigbuild, Some(g)) if t.libc == "gnu" => format!("{}.{}", t.triple, g),
            _ => t.triple.clone(),
        };
        cmd = cmd.arg("--target").arg(triple);
        if backend == Backend::Cargo && !crate::qemu::is_native(t, &toolchain.host) {
            cmd = cross_env(cmd, t);
        }
    }
    if backend != Backend::Zigbuild && req.glibc.is_some() {
        // A glibc floor only means something to zigbuild; say so rather than ignore it silently.
        return Err(usage(format!(
            "`--glibc` needs the zigbuild backend, but `{backend}` was selected"
        )))
        .hint("add `--backend zigbuild`");
    }
    Ok(cmd)
}

/// The environment that points cargo, cc and pkg-config at the cross toolchain of `t`.
pub fn cross_env(mut cmd: Cmd, t: &TargetInfo) -> Cmd {
    let upper = t.env_upper();
    let lower = t.env_lower();
    let gcc = format!("{}gcc", t.gcc_prefix);
    let linker_key = format!("CARGO_TARGET_{upper}_LINKER");
    if env_unset(&linker_key) {
        cmd = cmd.env(linker_key, &gcc);
    }
    for (tool, suffix) in [("CC", "gcc"), ("CXX", "g++"), ("AR", "ar")] {
        let key = format!("{tool}_{lower}");
        if env_unset(&key) {
            cmd = cmd.env(key, format!("{}{suffix}", t.gcc_prefix));
        }
    }
    let libdir = format!("PKG_CONFIG_LIBDIR_{lower}");
    if env_unset(&libdir) && env_unset("PKG_CONFIG_LIBDIR") {
        cmd = cmd.env(
            libdir,
            format!("/usr/lib/{}/pkgconfig:/usr/share/pkgconfig", t.multiarch),
        );
    }
    cmd.env("PKG_CONFIG_ALLOW_CROSS", "1")
}

/// The name of a binutils tool for `target` on this host (`strip`, `objcopy`): the cross one when
/// installed, else the host's (which handles the host's own architecture).
pub fn binutil(target: Option<&TargetInfo>, host: &str, tool: &str) -> PathBuf {
    if let Some(t) = target {
        if !crate::qemu::is_native(t, host) {
            let cross = format!("{}{tool}", t.gcc_prefix);
            if crate::process::exists(&cross) {
                return PathBuf::from(cross);
            }
        }
    }
    PathBuf::from(tool)
}

/// Runs the plan and returns every produced binary and library.
pub fn execute(
    plan: &BuildPlan,
    project: &crate::project::Project,
    shell: &Shell,
) -> Result<Vec<Artifact>> {
    let mut artifacts = Vec::new();
    for step in &plan.steps {
        let what = if step.targets.is_empty() {
            "host".to_string()
        } else {
            step.targets.join(", ")
        };
        shell.status(
            "Building",
            format!(
                "{what} with {} ({}, {})",
                step.backend, plan.toolchain.name, plan.profile
            ),
        );
        // cargo's stderr reaches the terminal through our shell (redacted), not directly: it
        // colours only when told to, and shows build script output only at `-vv`.
        let mut command = step.command.clone();
        if shell.verbosity() >= crate::shell::Verbosity::VeryVerbose {
            command = command.arg("-vv");
        }
        if shell.color_enabled() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
            command = command.env("CARGO_TERM_COLOR", "always");
        }
        command
            .stream_stdout(shell, |line| {
                if let Some(a) = parse_artifact(line, project, &plan.target_dir, &step.path_map)? {
                    artifacts.push(a);
                }
                Ok(())
            })
            .with_context(|| format!("failed to build for {what}"))
            .kind(ErrorKind::Build)?;
    }
    Ok(artifacts)
}

fn parse_artifact(
    line: &str,
    project: &crate::project::Project,
    target_dir: &Path,
    path_map: &[(PathBuf, PathBuf)],
) -> Result<Option<Artifact>> {
    if !line.starts_with('{') {
        return Ok(None);
    }
    let Ok(msg) = serde_json::from_str::<cargo_metadata::Message>(line) else {
        return Ok(None);
    };
    let cargo_metadata::Message::CompilerArtifact(a) = msg else {
        return Ok(None);
    };
    let host = |p: &Path| crate::cross::host_path(p, path_map);
    let Some(pkg) = project.package_by_manifest(&host(a.manifest_path.as_std_path())) else {
        return Ok(None); // a dependency
    };
    let kind = a
        .target
        .kind
        .first()
        .map(|k| k.to_string())
        .unwrap_or_default();
    let path = if let Some(exe) = &a.executable {
        host(exe.as_std_path())
    } else if kind == "cdylib" {
        match a.filenames.iter().find(|f| f.extension() == Some("so")) {
            Some(f) => host(f.as_std_path()),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let target = path
        .strip_prefix(target_dir)
        .ok()
        .and_then(|rel| rel.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|first| first.contains('-'));
    Ok(Some(Artifact {
        package: pkg.name.to_string(),
        name: a.target.name.clone(),
        kind,
        path,
        target,
    }))
}

/// With `--no-build`: the binaries of `packages` where cargo put them, checked to exist.
pub fn existing_artifacts(
    project: &crate::project::Project,
    packages: &[&cargo_metadata::Package],
    targets: &[String],
    profile: &str,
) -> Result<Vec<Artifact>> {
    let mut out = Vec::new();
    let target_list: Vec<Option<&String>> = if targets.is_empty() {
        vec![None]
    } else {
        targets.iter().map(Some).collect()
    };
    for t in target_list {
        let dir = match t {
            Some(triple) => project.target_dir.join(triple).join(profile_dir(profile)),
            None => project.target_dir.join(profile_dir(profile)),
        };
        for pkg in packages {
            for bin in crate::project::binaries(pkg) {
                let path = dir.join(&bin.name);
                if !path.is_file() {
                    let build = match t {
                        Some(triple) => format!(
                            "cargo build --profile {profile} -p {} --target {triple}",
                            pkg.name
                        ),
                        None => format!("cargo build --profile {profile} -p {}", pkg.name),
                    };
                    return Err(usage(format!(
                        "`--no-build` was given, but binary `{}` of package `{}` has not been built: `{}` does not exist",
                        bin.name,
                        pkg.name,
                        path.display()
                    )))
                    .hint(format!("build it first with `{build}`, or drop `--no-build`"));
                }
                out.push(Artifact {
                    package: pkg.name.to_string(),
                    name: bin.name.clone(),
                    kind: "bin".into(),
                    path,
                    target: t.cloned(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(targets: &[&str], backend: BackendChoice) -> BuildRequest {
        BuildRequest {
            workspace_root: PathBuf::from("/nonexistent-ws"),
            manifest_path: PathBuf::from("/nonexistent-ws/Cargo.toml"),
            target_dir: PathBuf::from("/nonexistent-ws/target"),
            packages: vec!["app".into()],
            features: clap_cargo::Features::default(),
            targets: targets.iter().map(|s| s.to_string()).collect(),
            profile: "release".into(),
            locked: true,
            frozen: false,
            offline: false,
            backend,
            glibc: None,
        }
    }

    fn fake_toolchain(host: &str, sysroot: &Path) -> Toolchain {
        Toolchain {
            name: "/usr".into(),
            cargo: "/usr/bin/cargo".into(),
            rustc: "/usr/bin/rustc".into(),
            sysroot: sysroot.to_path_buf(),
            version: "1.96.0".into(),
            host: host.into(),
            rustup: false,
        }
    }

    fn sysroot_with(triples: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for t in triples {
            std::fs::create_dir_all(d.path().join("lib/rustlib").join(t).join("lib")).unwrap();
        }
        d
    }

    #[test]
    fn host_build_has_no_target_flag() {
        let s = sysroot_with(&["x86_64-unknown-linux-gnu"]);
        let tc = fake_toolchain("x86_64-unknown-linux-gnu", s.path());
        let p = plan(&req(&[], BackendChoice::Auto), &tc, &Shell::plain()).unwrap();
        assert_eq!(p.steps.len(), 1);
        let args: Vec<String> = p.steps[0]
            .command
            .args
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        assert!(!args.contains(&"--target".to_string()));
        assert!(args.contains(&"--locked".to_string()));
        assert!(args.contains(&"--message-format=json-render-diagnostics".to_string()));
    }

    #[test]
    fn cross_targets_share_one_cargo_call_with_cross_env() {
        if !crate::process::exists("aarch64-linux-gnu-gcc") {
            return;
        }
        let s = sysroot_with(&["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]);
        let tc = fake_toolchain("x86_64-unknown-linux-gnu", s.path());
        let p = plan(
            &req(
                &["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"],
                BackendChoice::Auto,
            ),
            &tc,
            &Shell::plain(),
        )
        .unwrap();
        assert_eq!(p.steps.len(), 1, "{p:#?}");
        assert_eq!(p.steps[0].backend, Backend::Cargo);
        let env: BTreeMap<String, Option<String>> = p.steps[0]
            .command
            .env
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into(),
                    v.as_ref().map(|v| v.to_string_lossy().into()),
                )
            })
            .collect();
        if std::env::var_os("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER").is_none() {
            assert_eq!(
                env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"].as_deref(),
                Some("aarch64-linux-gnu-gcc")
            );
        }
        assert_eq!(env["PKG_CONFIG_ALLOW_CROSS"].as_deref(), Some("1"));
        assert!(!env.contains_key("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER"));
    }

    #[test]
    fn missing_std_is_reported_before_building() {
        let s = sysroot_with(&["x86_64-unknown-linux-gnu"]);
        let tc = fake_toolchain("x86_64-unknown-linux-gnu", s.path());
        let err = plan(
            &req(&["x86_64-unknown-linux-musl"], BackendChoice::Cargo),
            &tc,
            &Shell::plain(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no standard library for `x86_64-unknown-linux-musl`"),
            "{err}"
        );
        assert_eq!(crate::exit::code_of(&err), 2);
    }

    #[test]
    fn unknown_triple_is_a_usage_error() {
        let s = sysroot_with(&[]);
        let tc = fake_toolchain("x86_64-unknown-linux-gnu", s.path());
        let err = plan(
            &req(&["x86_64-pc-windows-msvc"], BackendChoice::Auto),
            &tc,
            &Shell::plain(),
        )
        .unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 2);
    }

    #[test]
    fn a_glibc_floor_on_a_host_build_names_the_host_triple() {
        if !crate::process::exists("cargo-zigbuild") {
            return; // require_backend_tool would (rightly) refuse
        }
        let s = sysroot_with(&["x86_64-unknown-linux-gnu"]);
        let tc = fake_toolchain("x86_64-unknown-linux-gnu", s.path());
        for backend in [BackendChoice::Zigbuild, BackendChoice::Auto] {
            let mut r = req(&[], backend);
            r.glibc = Some("2.28".into());
            let p = plan(&r, &tc, &Shell::plain()).unwrap();
            assert_eq!(p.steps.len(), 1);
            assert_eq!(p.steps[0].backend, Backend::Zigbuild);
            let cmd = p.steps[0].command.display();
            assert!(
                cmd.contains("--target x86_64-unknown-linux-gnu.2.28"),
                "{cmd}"
            );
        }
        let mut r = req(&[], BackendChoice::Cargo);
        r.glibc = Some("2.28".into());
        let err = plan(&r, &tc, &Shell::plain()).unwrap_err();
        assert!(
            err.to_string().contains("needs the zigbuild backend"),
            "{err}"
        );
    }

    #[test]
    fn glibc_needs_zigbuild() {
        let s = sysroot_with(&["x86_64-unknown-linux-gnu"]);
        let tc = fake_toolchain("x86_64-unknown-linux-gnu", s.path());
        let mut r = req(&["x86_64-unknown-linux-gnu"], BackendChoice::Cargo);
        r.glibc = Some("2.17".into());
        let err = plan(&r, &tc, &Shell::plain()).unwrap_err();
        assert!(
            err.to_string().contains("needs the zigbuild backend"),
            "{err}"
        );
    }
}
