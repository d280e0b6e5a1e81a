//! The project model: what `cargo metadata` says about the workspace.
//!
//! One `cargo metadata --no-deps` call per run (it is the expensive part of a no-op run), through
//! the chosen toolchain's cargo. Package selection follows cargo: `-p`/`--workspace`/`--exclude`,
//! else the package whose manifest was given (or found from the current directory), else the
//! workspace's default members.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_metadata::{Metadata, Package, Target};

use crate::cli::CommonArgs;
use crate::exit::{usage, ErrorKind, ResultExt};
use crate::process::Cmd;
use crate::shell::Shell;
use crate::toolchain::Toolchain;

/// The loaded workspace and the packages the command works on.
#[derive(Debug)]
pub struct Project {
    pub metadata: Metadata,
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    /// Indices into `metadata.packages` of the selected packages, in workspace order.
    selected: Vec<usize>,
    /// The manifest the user pointed at (or the one cargo found).
    pub manifest_path: PathBuf,
}

/// What loading a workspace needs: where its manifest is, which packages are selected and how
/// cargo may reach the network. Commands make it from their common options
/// (`ProjectRequest::from(&common)`); a phase that reads a plan, or `init`, fills in only what it
/// has, instead of a command line of its own.
#[derive(Clone, Debug, Default)]
pub struct ProjectRequest {
    /// `--manifest-path` (`None`: cargo finds the manifest from the current directory).
    pub manifest_path: Option<PathBuf>,
    /// `-p`, `--workspace`, `--exclude`.
    pub workspace: clap_cargo::Workspace,
    /// `--target-dir` (`None`: the workspace's).
    pub target_dir: Option<PathBuf>,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
}

impl From<&CommonArgs> for ProjectRequest {
    fn from(args: &CommonArgs) -> Self {
        ProjectRequest {
            manifest_path: args.manifest.manifest_path.clone(),
            workspace: args.workspace.clone(),
            target_dir: args.target_dir.clone(),
            locked: args.locked,
            frozen: args.frozen,
            offline: args.offline,
        }
    }
}

impl Project {
    /// Runs `cargo metadata` and selects packages.
    pub fn load(args: &ProjectRequest, toolchain: &Toolchain, shell: &Shell) -> Result<Project> {
        let mut cmd = toolchain.apply(Cmd::new(&toolchain.cargo).args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
        ]));
        if let Some(path) = &args.manifest_path {
            cmd = cmd.arg("--manifest-path").arg(path);
        }
        if args.locked {
            cmd = cmd.arg("--locked");
        }
        if args.frozen {
            cmd = cmd.arg("--frozen");
        }
        if args.offline {
            cmd = cmd.arg("--offline");
        }
        let json = cmd
            .read(shell)
            .context("failed to read the workspace with `cargo metadata`")
            .kind(ErrorKind::Usage);
        let json = match json {
            Err(e) if args.manifest_path.is_none() && find_manifest().is_err() => {
                return Err(e).hint(
                    "run it in a crate's directory, or pass `--manifest-path path/to/Cargo.toml`",
                )
            }
            other => other?,
        };
        let metadata = cargo_metadata::MetadataCommand::parse(&json)
            .context("failed to parse the output of `cargo metadata`")?;
        let manifest_path = match &args.manifest_path {
            Some(p) => std::path::absolute(p)
                .with_context(|| format!("failed to resolve `{}`", p.display()))?,
            None => find_manifest()?,
        };
        let target_dir = match &args.target_dir {
            Some(dir) => std::path::absolute(dir)
                .with_context(|| format!("failed to resolve `{}`", dir.display()))?,
            None => metadata.target_directory.clone().into_std_path_buf(),
        };
        let workspace_root = metadata.workspace_root.clone().into_std_path_buf();
        let selected = select(&metadata, args, &manifest_path)?;
        Ok(Project {
            metadata,
            workspace_root,
            target_dir,
            selected,
            manifest_path,
        })
    }

    /// The selected packages.
    pub fn packages(&self) -> impl Iterator<Item = &Package> {
        self.selected.iter().map(|&i| &self.metadata.packages[i])
    }

    /// A workspace package by name.
    pub fn package(&self, name: &str) -> Option<&Package> {
        self.metadata
            .packages
            .iter()
            .find(|p| p.name.as_str() == name && self.is_member(p))
    }

    fn is_member(&self, p: &Package) -> bool {
        self.metadata.workspace_members.contains(&p.id)
    }

    /// The package a manifest path belongs to.
    pub fn package_by_manifest(&self, manifest: &Path) -> Option<&Package> {
        self.metadata
            .packages
            .iter()
            .find(|p| p.manifest_path.as_std_path() == manifest)
    }

    /// `[workspace.metadata]` (a JSON object, `null` when absent).
    pub fn workspace_metadata(&self) -> &serde_json::Value {
        &self.metadata.workspace_metadata
    }

    /// The workspace's root Cargo.toml.
    pub fn workspace_manifest(&self) -> PathBuf {
        self.workspace_root.join("Cargo.toml")
    }
}

/// Binary targets of a package, in declaration order.
pub fn binaries(package: &Package) -> impl Iterator<Item = &Target> {
    package.targets.iter().filter(|t| t.is_bin())
}

/// The directory name cargo uses for a profile: `dev` → `debug`, `release` → `release`, others
/// keep their name.
pub fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    }
}

fn find_manifest() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    for dir in cwd.ancestors() {
        let candidate = dir.join("Cargo.toml");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(usage(format!(
        "could not find `Cargo.toml` in `{}` or any parent directory",
        cwd.display()
    )))
}

fn select(metadata: &Metadata, args: &ProjectRequest, manifest: &Path) -> Result<Vec<usize>> {
    let members: Vec<usize> = metadata
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| metadata.workspace_members.contains(&p.id))
        .map(|(i, _)| i)
        .collect();
    let ws = &args.workspace;
    for name in ws.package.iter().chain(ws.exclude.iter()) {
        if !members
            .iter()
            .any(|&i| metadata.packages[i].name.as_str() == name)
        {
            let names: Vec<&str> = members
                .iter()
                .map(|&i| metadata.packages[i].name.as_str())
                .collect();
            return Err(usage(format!(
                "package `{name}` is not a member of the workspace at `{}` (members: {})",
                metadata.workspace_root,
                names.join(", ")
            )));
        }
    }
    let selected: Vec<usize> = if ws.workspace || ws.all {
        members
            .into_iter()
            .filter(|&i| {
                !ws.exclude
                    .iter()
                    .any(|e| e == metadata.packages[i].name.as_str())
            })
            .collect()
    } else if !ws.package.is_empty() {
        members
            .into_iter()
            .filter(|&i| {
                ws.package
                    .iter()
                    .any(|p| p == metadata.packages[i].name.as_str())
            })
            .collect()
    } else if let Some(i) = members
        .iter()
        .copied()
        .find(|&i| metadata.packages[i].manifest_path.as_std_path() == manifest)
    {
        vec![i]
    } else {
        let defaults: Vec<usize> = if metadata.workspace_default_members.is_available() {
            members
                .into_iter()
                .filter(|&i| {
                    metadata
                        .workspace_default_members
                        .contains(&metadata.packages[i].id)
                })
                .collect()
        } else {
            members
        };
        defaults
    };
    if selected.is_empty() {
        return Err(usage(
            "no packages selected: use `-p NAME` or `--workspace`",
        ));
    }
    Ok(selected)
}

/// Loads the workspace and resolves the toolchain: `--toolchain`, else `toolchain` of the
/// selected packages' `[package.metadata.forge]`, else of `[workspace.metadata.forge]`, else the
/// cargo that invoked us. (`cargo metadata` does not depend on the toolchain, so the workspace is
/// read once: with `--toolchain`'s cargo when given, else with the default cargo, which also
/// reads the configured `toolchain`.) Selected packages that configure different toolchains are
/// a usage error: one run builds with one toolchain.
pub fn load_with_toolchain(common: &CommonArgs, shell: &Shell) -> Result<(Project, Toolchain)> {
    // A toolchain named on the command line wins over the configuration: load with it and
    // skip probing the default one (two rustc calls, ~0.1 s on every command).
    if let Some(spec) = &common.toolchain {
        let toolchain = Toolchain::resolve(Some(spec), shell)?;
        let project = Project::load(&common.into(), &toolchain, shell)?;
        return Ok((project, toolchain));
    }
    let default_tc = Toolchain::resolve(None, shell)?;
    let project = Project::load(&common.into(), &default_tc, shell)?;
    let toolchain = match configured_toolchain(&project, common)? {
        Some(spec) => Toolchain::resolve(Some(&spec), shell)?,
        None => default_tc,
    };
    Ok((project, toolchain))
}

/// The `toolchain` the selected packages configure (package table over workspace table).
fn configured_toolchain(project: &Project, common: &CommonArgs) -> Result<Option<String>> {
    let mut found: Option<(String, Option<String>)> = None;
    for pkg in project.packages() {
        let spec = crate::config::resolve(project, pkg, common)?.toolchain;
        match &found {
            None => found = Some((pkg.name.to_string(), spec)),
            Some((first, other)) if *other != spec => {
                let show = |s: &Option<String>| {
                    s.as_deref()
                        .map(|s| format!("`{s}`"))
                        .unwrap_or_else(|| "the default toolchain".into())
                };
                return Err(usage(format!(
                    "packages `{first}` and `{}` build with different toolchains ({} and {}): one run builds with one toolchain",
                    pkg.name,
                    show(other),
                    show(&spec)
                )))
                .hint("select one package with `-p NAME`, or pass `--toolchain`");
            }
            Some(_) => {}
        }
    }
    Ok(found.and_then(|(_, spec)| spec))
}

impl Project {
    /// The one selected package, for commands that work on exactly one (`what`: "an image is
    /// built from one package").
    pub fn single_package(&self, what: &str) -> Result<&Package> {
        let packages: Vec<&Package> = self.packages().collect();
        if packages.len() != 1 {
            let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
            return Err(usage(format!(
                "{what}, but {} are selected ({})",
                packages.len(),
                names.join(", ")
            )))
            .hint("select one with `-p NAME`");
        }
        Ok(packages[0])
    }
}
