//! The release plan: every decision of a release, made once, as one versioned JSON document —
//! the contract between the phases (as cargo-dist's dist-manifest is).
//!
//! [`make`] resolves everything without side effects and without reading a secret: the version
//! and the packages, the configuration layers (workspace, package, command line), per package
//! the targets with their backend, toolchain and glibc floor, the archive, SBOM, `.deb` and
//! image sub-plans (made by the deb and image libraries from their request types, so their
//! configuration errors are reported here, before anything is built), and per release — one
//! tag, with the packages it holds — the hosts with what each will publish, the signing and the
//! git tag. Every problem is reported together.
//!
//! `cargo forge-release plan` writes it as `plan.json` ([`SCHEMA`]); `build`, `push-image`,
//! `publish` and `merge` read it back ([`read`]) and execute exactly it, refusing a plan made
//! for another commit or by another cargo-forge version ([`ReleasePlan::check_here`]). The
//! one-shot `cargo forge-release VERSION` makes the same plan and runs it in one process.
//!
//! What depends on the machine stays out of the decisions or is re-resolved where it runs: a
//! toolchain is recorded by its name (`/usr`, `stable`, none for the cargo running us) and
//! resolved by the phase that builds; `backend = "auto"` is decided by the machine that builds
//! (a native arm64 runner and a cross-compiling x86 one pick differently); paths are those of
//! the planning checkout, and a phase on a checkout elsewhere maps them to its own
//! ([`rebase`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::cli::{BackendChoice, CommonArgs};
use forge_core::config::ForgeLayer;
use forge_core::exit::{usage, ResultExt};
use forge_core::project::Project;
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use crate::artifacts::ArchiveFormat;
use crate::config::{ReleaseConfig, SignConfig};
use crate::hosts::HostSpec;
use crate::state::State;

/// The `schema` of `plan.json`.
pub const SCHEMA: &str = "cargo-forge/release-plan/v1";

/// The version of cargo-forge that makes and executes plans.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The release, decided: `plan.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleasePlan {
    /// [`SCHEMA`].
    pub schema: String,
    /// The cargo-forge that made the plan; only the same version executes it.
    pub cargo_forge_version: String,
    /// `HEAD` when planned (`None` outside git); the phases refuse another commit.
    pub commit: Option<String>,
    /// The version released (without `v`).
    pub version: String,
    pub prerelease: bool,
    /// `--bump`: the packages are set to `version` and committed before building (one-shot).
    pub bump: bool,
    /// The planning checkout's workspace root and target directory (see [`rebase`]).
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    /// Every archive's and package's timestamps.
    pub source_date_epoch: u64,
    /// Attempts per HTTP request (the `retries` setting; `--retries` of a phase overrides it).
    pub retries: u32,
    /// What is built, per package.
    pub packages: Vec<PackagePlan>,
    /// What is published: one release per tag.
    pub releases: Vec<UnitPlan>,
}

/// One package of the release: what is built and staged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackagePlan {
    pub name: String,
    pub manifest_path: PathBuf,
    /// The tag of the release it is part of.
    pub tag: String,
    /// `archive`, `deb`, `image`.
    pub artifacts: Vec<String>,
    pub archive_format: ArchiveFormat,
    /// A CycloneDX SBOM per target.
    pub sbom: bool,
    /// Extra files of every archive.
    pub include: Vec<PathBuf>,
    pub profile: String,
    pub features: Features,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    /// `--no-build`: stage the binaries already built.
    pub no_build: bool,
    pub targets: Vec<TargetPlan>,
    /// The `.deb` packages, as `cargo forge-deb` plans them (every target).
    pub deb: Option<cargo_forge_deb::ops::DebPlan>,
    /// The image, as `cargo forge-image` plans it (every platform), tagged for the release's
    /// first `oci` host.
    pub image: Option<cargo_forge_image::ops::ImagePlan>,
}

impl PackagePlan {
    pub fn has(&self, artifact: &str) -> bool {
        self.artifacts.iter().any(|a| a == artifact)
    }

    pub fn triples(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.triple.clone()).collect()
    }
}

/// Cargo's feature flags, as the build gets them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Features {
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
}

impl Features {
    pub fn of(f: &clap_cargo::Features) -> Features {
        Features {
            features: f.features.clone(),
            all_features: f.all_features,
            no_default_features: f.no_default_features,
        }
    }

    pub fn to_cargo(&self) -> clap_cargo::Features {
        let mut f = clap_cargo::Features::default();
        f.features = self.features.clone();
        f.all_features = self.all_features;
        f.no_default_features = self.no_default_features;
        f
    }
}

/// How one target is built.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TargetPlan {
    /// The Rust target triple.
    pub triple: String,
    /// The configured backend; `auto` is decided by the machine that builds.
    pub backend: BackendChoice,
    /// The toolchain's name (`/usr`, `stable`); `None`: the cargo running cargo-forge.
    pub toolchain: Option<String>,
    /// The oldest glibc the binaries must run on (zigbuild).
    pub glibc: Option<String>,
    /// The toolchain's rustc version on the planning machine (for the record).
    pub rustc: String,
}

/// One release: a tag and the packages it holds, published to its hosts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnitPlan {
    pub tag: String,
    /// `tag-format` with `{{name}}` replaced: tells this release line's tags from others
    /// (`latest` pointers follow the highest version of the line).
    pub tag_template: String,
    pub packages: Vec<String>,
    /// Its directory under `target/forge/release/`: `<package>/<version>` (packages sharing a
    /// tag: their names joined with `+`).
    pub key: String,
    /// The name of its `latest` pointers: `latest`, or `<package>-latest` when each package
    /// has tags of its own (`{{name}}` in `tag-format`).
    pub latest: String,
    pub sign: SignConfig,
    pub hosts: Vec<HostPlan>,
    /// The branches a release may be made from (`branches`).
    pub branches: Vec<String>,
    /// Whether a git tag is made (a git repository, no `--no-tag`).
    pub make_tag: bool,
    /// The remote the tag is pushed to; `None`: a local tag (no such remote).
    pub remote: Option<String>,
    /// Release notes (Markdown).
    pub notes: String,
}

/// A host of a release, with what publishing will do there.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostPlan {
    /// The key of its state (`github:owner/name`, `dir:/path`).
    pub id: String,
    pub spec: HostSpec,
    pub actions: Vec<String>,
}

impl ReleasePlan {
    pub fn package(&self, name: &str) -> Option<&PackagePlan> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The release a package is in.
    pub fn unit_of(&self, package: &str) -> Option<&UnitPlan> {
        self.releases
            .iter()
            .find(|u| u.packages.iter().any(|p| p == package))
    }

    /// Refuses to execute a plan made for another commit or by another cargo-forge: one
    /// message naming both of each.
    pub fn check_here(&self, file: &Path, head: Option<&str>) -> Result<()> {
        let mut problems = Vec::new();
        if self.cargo_forge_version != TOOL_VERSION {
            problems.push(format!(
                "it was made by cargo-forge {}, this is cargo-forge {TOOL_VERSION}",
                self.cargo_forge_version
            ));
        }
        match (self.commit.as_deref(), head) {
            (Some(planned), Some(here)) if planned != here => problems.push(format!(
                "it was made for commit {planned}, but this checkout is at commit {here}"
            )),
            (Some(planned), None) => problems.push(format!(
                "it was made for commit {planned}, but this is not a git checkout"
            )),
            _ => {}
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(usage(format!(
            "refusing the plan `{}`: {}",
            file.display(),
            problems.join("; ")
        )))
        .hint("run every phase of a release from the same commit with the same cargo-forge, or make the plan again here with `cargo forge-release plan`")
    }
}

/// Reads `plan.json`: its schema must be [`SCHEMA`]. Paths are mapped to `project`'s checkout
/// ([`rebase`]).
pub fn read(file: &Path, project: &Project) -> Result<ReleasePlan> {
    let bytes = forge_core::fsx::read(file)?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("`{}` is not a release plan (invalid JSON)", file.display()))
        .kind(forge_core::ErrorKind::Usage)?;
    let schema = value["schema"].as_str().unwrap_or_default().to_string();
    if schema != SCHEMA {
        return Err(usage(format!(
            "`{}` is not a release plan of this cargo-forge: its schema is `{}`, not `{SCHEMA}`",
            file.display(),
            if schema.is_empty() {
                "missing"
            } else {
                &schema
            }
        )))
        .hint("make it with `cargo forge-release plan` of this cargo-forge");
    }
    let root = value["workspace_root"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let target = value["target_dir"].as_str().unwrap_or_default().to_string();
    // The target directory first: it is usually inside the root, and more specific.
    if !target.is_empty() {
        rebase(
            &mut value,
            &target,
            &project.target_dir.display().to_string(),
        );
    }
    if !root.is_empty() {
        rebase(
            &mut value,
            &root,
            &project.workspace_root.display().to_string(),
        );
    }
    serde_json::from_value(value)
        .with_context(|| format!("`{}` is not a valid release plan", file.display()))
        .kind(forge_core::ErrorKind::Usage)
}

/// Maps every path under `from` (a string equal to it or starting with `from/`) to the same
/// place under `to`: a plan made in one checkout, executed in another (CI runners check the
/// repository out in directories of their own).
pub fn rebase(value: &mut serde_json::Value, from: &str, to: &str) {
    if from == to || from.is_empty() {
        return;
    }
    match value {
        serde_json::Value::String(s) => {
            if s == from {
                *s = to.to_string();
            } else if let Some(rest) = s.strip_prefix(from).filter(|r| r.starts_with('/')) {
                *s = format!("{to}{rest}");
            }
        }
        serde_json::Value::Array(items) => {
            for i in items {
                rebase(i, from, to);
            }
        }
        serde_json::Value::Object(map) => {
            for v in map.values_mut() {
                rebase(v, from, to);
            }
        }
        _ => {}
    }
}

/// What the user asked for.
pub struct Request<'a> {
    pub version: &'a str,
    pub common: &'a CommonArgs,
    pub bump: bool,
    pub allow_dirty: bool,
    pub no_tag: bool,
    pub notes: Option<&'a Path>,
    /// The one-shot: the git checks of a publishing run (clean tree, allowed branch, tag absent
    /// locally and on the remote). The `plan` phase leaves them to `publish`.
    pub publishing: bool,
    /// The release tag may already exist at HEAD (`publish` in CI, run from the pushed tag).
    pub tag_may_exist: bool,
    /// `--insecure-registry`: plain-HTTP hosts besides loopback (the hosts' URLs are checked).
    pub insecure_registries: &'a [String],
}

/// Resolved toolchains by name (`None`: the default one), each resolved once.
#[derive(Default)]
pub struct Toolchains(BTreeMap<Option<String>, Toolchain>);

impl Toolchains {
    pub fn get(&mut self, spec: Option<&str>, shell: &Shell) -> Result<&Toolchain> {
        let key = spec.map(String::from);
        if !self.0.contains_key(&key) {
            let tc = Toolchain::resolve(spec, shell)?;
            self.0.insert(key.clone(), tc);
        }
        Ok(&self.0[&key])
    }
}

/// The release directory of a unit: `target/forge/release/<key>`.
pub fn release_dir(target_dir: &Path, unit: &UnitPlan) -> PathBuf {
    target_dir.join("forge/release").join(&unit.key)
}

/// Where `plan` writes `plan.json` by default.
pub fn default_plan_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("forge/release")
}

fn notes_for(pkg_dir: &Path, root: &Path, version: &str, file: Option<&Path>) -> Result<String> {
    if let Some(f) = file {
        return forge_core::fsx::read_to_string(f);
    }
    for dir in [pkg_dir, root] {
        let p = dir.join("CHANGELOG.md");
        if p.is_file() {
            let md = forge_core::fsx::read_to_string(&p)?;
            if let Some(items) = cargo_forge_deb::docs::changelog_items_from_markdown(&md, version)
            {
                return Ok(items.iter().map(|i| format!("- {i}\n")).collect());
            }
        }
    }
    Ok(format!("Release {version}.\n"))
}

/// One package's resolved configuration, before it is grouped into releases.
struct PackageDraft {
    plan: PackagePlan,
    cfg: ReleaseConfig,
    tag_template: String,
    per_package_tag: bool,
    dir: PathBuf,
}

/// Checks everything and decides the release. No side effects, no secret read.
pub fn make(req: &Request<'_>, shell: &Shell) -> Result<(Project, ReleasePlan, Toolchains)> {
    let version = crate::version::parse(req.version)?;
    let common = req.common;
    let mut toolchains = Toolchains::default();
    let loader = toolchains.get(common.toolchain.as_deref(), shell)?.clone();
    let project = Project::load(common, &loader, shell)?;
    let root = project.workspace_root.clone();
    let packages: Vec<&cargo_metadata::Package> = project.packages().collect();
    let ws = &common.workspace;
    if packages.len() > 1 && !ws.workspace && !ws.all && ws.package.is_empty() {
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        return Err(usage(format!(
            "{} packages are selected ({}): say which to release",
            packages.len(),
            names.join(", ")
        )))
        .hint("release one with `-p NAME`, several with `-p A -p B`, or every member with `--workspace`");
    }
    let mut problems: Vec<String> = Vec::new();
    let is_repo = crate::git::is_repo(&root, shell);
    let commit = if is_repo {
        crate::git::head(&root, shell).ok()
    } else {
        None
    };
    let cli_layer = ForgeLayer::from_args(common);
    let mut drafts: Vec<PackageDraft> = Vec::new();
    let mut retries = forge_core::config::DEFAULT_RETRIES;
    for pkg in &packages {
        let settings = forge_core::config::resolve_layer(&project, pkg, &cli_layer)?;
        retries = settings.retries;
        let manifest = pkg.manifest_path.as_std_path();
        let cfg: ReleaseConfig = settings.parse_table("release")?.unwrap_or_default();
        let name = pkg.name.to_string();
        if pkg.version != version && !req.bump {
            problems.push(format!(
                "version mismatch: `{name}` is at {} in `{}`, not {version} (pass `--bump` to set it)",
                pkg.version, pkg.manifest_path
            ));
        }
        let tag_format = cfg
            .tag_format
            .clone()
            .unwrap_or_else(|| "v{{version}}".into());
        let tag = match crate::version::tag(&tag_format, &name, &version) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        let artifacts: Vec<String> = match &cfg.artifacts {
            Some(a) => a.iter().map(|a| a.as_str().to_owned()).collect(),
            None => vec!["archive".into()],
        };
        if artifacts.iter().any(|a| a == "archive")
            && forge_core::project::binaries(pkg).next().is_none()
        {
            problems.push(format!(
                "`{name}` has no binary to put in an archive: leave it out of the release (`--exclude {name}`), or leave \"archive\" out of its `artifacts`"
            ));
        }
        let archive_format = cfg.archive_format.unwrap_or(ArchiveFormat::TarGz);
        // `--target` over the release's `targets` over `[*.metadata.forge] targets`, else the
        // host.
        let triples: Vec<String> = if !common.targets.is_empty() {
            common.targets.clone()
        } else if let Some(t) = cfg.targets.clone() {
            t
        } else if !settings.targets.is_empty() {
            settings.targets.clone()
        } else {
            vec![loader.host.clone()]
        };
        let tc = match toolchains.get(settings.toolchain.as_deref(), shell) {
            Ok(tc) => tc.clone(),
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        let mut targets = Vec::new();
        for t in &triples {
            if let Err(e) = forge_core::target::lookup(t) {
                problems.push(e.to_string());
                continue;
            }
            targets.push(TargetPlan {
                triple: t.clone(),
                backend: settings.backend,
                toolchain: settings.toolchain.clone(),
                glibc: settings.glibc.clone(),
                rustc: tc.version.clone(),
            });
        }
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let include = cfg
            .include
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|i| dir.join(i))
            .collect();
        let features = Features::of(&common.features);
        // What the sub-plans build with: the release's targets and the package's settings.
        let sub_layer = ForgeLayer {
            targets: Some(triples.clone()),
            backend: Some(settings.backend),
            toolchain: settings.toolchain.clone(),
            glibc: settings.glibc.clone(),
            profile: Some(settings.profile.clone()),
            ..ForgeLayer::default()
        };
        let deb = if artifacts.iter().any(|a| a == "deb") {
            let r = cargo_forge_deb::ops::DebRequest {
                packages: vec![name.clone()],
                settings: sub_layer.clone(),
                features: common.features.clone(),
                locked: common.locked,
                frozen: common.frozen,
                offline: common.offline,
                no_build: true,
                upstream_version: Some(version.to_string()),
                ..Default::default()
            };
            match cargo_forge_deb::ops::plan_request(&project, tc.clone(), &r, shell) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(format!("`.deb` of `{name}`: {e:#}"));
                    None
                }
            }
        } else {
            None
        };
        let image = if artifacts.iter().any(|a| a == "image") {
            let repository = cfg.hosts.iter().flatten().find_map(|h| match h {
                HostSpec::Oci { repository } => Some(repository.clone()),
                _ => None,
            });
            let r = cargo_forge_image::ops::ImageRequest {
                package: name.clone(),
                settings: sub_layer.clone(),
                features: common.features.clone(),
                locked: common.locked,
                frozen: common.frozen,
                offline: common.offline,
                no_build: true,
                version: Some(version.to_string()),
                repository,
                dry_run: true,
                ..Default::default()
            };
            match cargo_forge_image::ops::plan_request(&project, tc.clone(), &r, shell) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(format!("image of `{name}`: {e:#}"));
                    None
                }
            }
        } else {
            None
        };
        drafts.push(PackageDraft {
            plan: PackagePlan {
                name: name.clone(),
                manifest_path: manifest.to_path_buf(),
                tag,
                artifacts,
                archive_format,
                sbom: cfg.sbom.unwrap_or(false),
                include,
                profile: settings.profile.clone(),
                features,
                locked: common.locked,
                frozen: common.frozen,
                offline: common.offline,
                no_build: common.no_build,
                targets,
                deb,
                image,
            },
            per_package_tag: tag_format.contains("{{name}}"),
            tag_template: tag_format.replace("{{name}}", &name),
            cfg,
            dir,
        });
    }

    // `--bump` of a version the packages already have: a re-run after a failure resumes (the
    // bump commit is made, a state file may exist); anything else is a mistake.
    let mut bump = req.bump;
    if req.bump {
        let at: Vec<&str> = packages
            .iter()
            .filter(|p| p.version == version)
            .map(|p| p.name.as_str())
            .collect();
        if !at.is_empty() {
            let resuming = at.len() == packages.len()
                && (crate::git::last_subject(&root, shell).as_deref()
                    == Some(crate::ops::bump_message(&version.to_string()).as_str())
                    || drafts.iter().any(|d| {
                        let key = unit_key(&[d.plan.name.clone()], &version.to_string());
                        State::load(
                            &project
                                .target_dir
                                .join("forge/release")
                                .join(key)
                                .join("state.json"),
                        )
                        .ok()
                        .flatten()
                        .is_some()
                    }));
            if resuming {
                shell.note(format!(
                    "`--bump`: {} already at {version} (committed by an earlier run): resuming",
                    at.join(", ")
                ));
                bump = false;
            } else {
                problems.push(format!(
                    "`--bump`: `{}` is already at {version}",
                    at.join("`, `")
                ));
            }
        }
    }

    // Releases: packages with the same tag are one release.
    let mut units: Vec<UnitPlan> = Vec::new();
    let release_root = project.target_dir.join("forge/release");
    for d in &drafts {
        if let Some(u) = units.iter_mut().find(|u| u.tag == d.plan.tag) {
            let first = drafts
                .iter()
                .find(|o| o.plan.name == u.packages[0])
                .expect("a unit's package is a draft");
            if first.cfg.hosts != d.cfg.hosts || first.cfg.sign != d.cfg.sign {
                problems.push(format!(
                    "`{}` and `{}` share the tag {} but not their `hosts` and `sign`: give them the same, or tags of their own with `{{{{name}}}}` in `tag-format`",
                    u.packages[0], d.plan.name, u.tag
                ));
            }
            u.packages.push(d.plan.name.clone());
            u.key = unit_key(&u.packages, &version.to_string());
            continue;
        }
        let key = unit_key(&[d.plan.name.clone()], &version.to_string());
        let remote = d.cfg.remote.clone().unwrap_or_else(|| "origin".into());
        let make_tag = is_repo && !req.no_tag;
        let remote = (make_tag && crate::git::has_remote(&root, &remote, shell)).then_some(remote);
        let hosts_specs = d.cfg.hosts.clone().unwrap_or_else(|| {
            vec![HostSpec::Dir {
                path: release_root.join(&key).join("publish"),
            }]
        });
        let notes = notes_for(&d.dir, &root, &version.to_string(), req.notes)?;
        units.push(UnitPlan {
            tag: d.plan.tag.clone(),
            tag_template: d.tag_template.clone(),
            packages: vec![d.plan.name.clone()],
            key,
            latest: if d.per_package_tag {
                format!("{}-latest", d.plan.name)
            } else {
                "latest".into()
            },
            sign: d.cfg.sign.clone().unwrap_or_default(),
            branches: d
                .cfg
                .branches
                .clone()
                .unwrap_or_else(|| vec!["main".into(), "master".into()]),
            hosts: hosts_specs
                .into_iter()
                .map(|spec| HostPlan {
                    id: String::new(),
                    spec,
                    actions: Vec::new(),
                })
                .collect(),
            make_tag,
            remote,
            notes,
        });
    }
    // The default `dir` host of a shared release lives under its own key.
    for u in &mut units {
        if u.packages.len() > 1 {
            for h in &mut u.hosts {
                if let HostSpec::Dir { path } = &mut h.spec {
                    if path.starts_with(&release_root) && path.ends_with("publish") {
                        *path = release_root.join(&u.key).join("publish");
                    }
                }
            }
        }
    }

    // Hosts: what each will do, from the configuration alone (no credentials are read).
    let http = forge_core::http::HttpClient::new(
        forge_core::http::RetryPolicy::new(retries),
        req.insecure_registries.to_vec(),
    );
    let mut images_by_repository: BTreeMap<String, String> = BTreeMap::new();
    for u in &mut units {
        let unit_packages: Vec<&PackageDraft> = drafts
            .iter()
            .filter(|d| u.packages.contains(&d.plan.name))
            .collect();
        let with_image: Vec<&str> = unit_packages
            .iter()
            .filter(|d| d.plan.has("image"))
            .map(|d| d.plan.name.as_str())
            .collect();
        let with_deb = unit_packages.iter().any(|d| d.plan.has("deb"));
        let staged = crate::stage::Staged::described(u, &version.to_string(), commit.clone());
        for h in &mut u.hosts {
            match crate::ops::make_host(&h.spec, &http, &root, crate::ops::Credentials::None) {
                Ok(host) => {
                    h.id = host.id();
                    h.actions = host.describe(&staged);
                }
                Err(e) => problems.push(format!("{e:#}")),
            }
            match &h.spec {
                HostSpec::Oci { repository } => {
                    if with_image.is_empty() {
                        problems.push(format!(
                            "an `oci` host needs the image: add \"image\" to `artifacts` of `{}`",
                            u.packages.join("`, `")
                        ));
                    }
                    if with_image.len() > 1 {
                        problems.push(format!(
                            "`{}` each make an image for the one `oci` host `{repository}` of release {}: give them tags of their own (`{{{{name}}}}` in `tag-format`) and hosts of their own",
                            with_image.join("` and `"),
                            u.tag
                        ));
                    }
                    for p in &with_image {
                        if let Some(other) =
                            images_by_repository.insert(repository.clone(), p.to_string())
                        {
                            if other != *p {
                                problems.push(format!(
                                    "`{other}` and `{p}` both push their image to `{repository}`: give each package an `oci` host of its own (in its `[package.metadata.forge.release]`)"
                                ));
                            }
                        }
                    }
                }
                HostSpec::Apt { .. } if !with_deb => problems.push(format!(
                    "an `apt` host needs packages: add \"deb\" to `artifacts` of `{}`",
                    u.packages.join("`, `")
                )),
                _ => {}
            }
        }
    }

    // git.
    if req.publishing {
        problems.extend(check_git(
            &root,
            &project.target_dir,
            &units,
            req.allow_dirty,
            req.tag_may_exist,
            req.no_tag,
            shell,
        )?);
    }

    if !problems.is_empty() {
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
        return Err(usage(format!(
            "cannot release {} {version}:{list}",
            names.join(", ")
        )));
    }
    let sde =
        forge_core::archive::source_date_epoch(&root, packages[0].manifest_path.as_std_path())?;
    let plan = ReleasePlan {
        schema: SCHEMA.into(),
        cargo_forge_version: TOOL_VERSION.into(),
        commit,
        version: version.to_string(),
        prerelease: crate::version::is_prerelease(&version),
        bump,
        workspace_root: root,
        target_dir: project.target_dir.clone(),
        source_date_epoch: sde,
        retries,
        packages: drafts.into_iter().map(|d| d.plan).collect(),
        releases: units,
    };
    Ok((project, plan, toolchains))
}

/// The git checks of a publishing run, as problems: a clean tree (unless `allow_dirty`), HEAD
/// on an allowed branch (or detached at the release tag when `tag_may_exist`: CI publishing from
/// the pushed tag), each release's tag absent locally and on its remote (or at HEAD, when it may
/// exist or a resumed run made it).
pub fn check_git(
    root: &Path,
    target_dir: &Path,
    units: &[UnitPlan],
    allow_dirty: bool,
    tag_may_exist: bool,
    no_tag: bool,
    shell: &Shell,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    if !crate::git::is_repo(root, shell) {
        if !no_tag {
            problems.push(format!("`{}` is not a git repository: a release is tagged (pass `--no-tag` to release without a tag)", root.display()));
        }
        return Ok(problems);
    }
    if !allow_dirty {
        let dirty = crate::git::dirty_files(root, shell)?;
        if !dirty.is_empty() {
            problems.push(format!("the working tree has uncommitted changes ({}): commit or stash them, or pass `--allow-dirty`", dirty.join(", ")));
        }
    }
    let head = crate::git::head(root, shell)?;
    let branch = crate::git::branch(root, shell)?;
    let mut branch_checked = false;
    for u in units {
        let state_path = target_dir
            .join("forge/release")
            .join(&u.key)
            .join("state.json");
        let resuming = State::load(&state_path)?.is_some_and(|s| s.tag_created);
        let tag_at_head = (tag_may_exist || resuming)
            && crate::git::tag_commit(root, &u.tag, shell)?.is_some_and(|c| c == head);
        if !branch_checked {
            match &branch {
                Some(b) if u.branches.contains(b) => {}
                Some(b) => problems.push(format!(
                    "releases are made from {} (`branches`), but HEAD is on `{b}`",
                    u.branches.join(" or ")
                )),
                None if tag_at_head => {}
                None => problems.push("HEAD is detached: check out a release branch".into()),
            }
            branch_checked = true;
        }
        if u.make_tag && !no_tag && !tag_at_head && !resuming {
            if crate::git::tag_exists(root, &u.tag, shell)? {
                let hint = if u.latest != "latest" || units.len() > 1 {
                    ""
                } else {
                    " (packages of a workspace released one by one need tags of their own: `tag-format = \"{{name}}-v{{version}}\"`)"
                };
                problems.push(format!(
                    "tag `{}` already exists in this repository{hint}",
                    u.tag
                ));
            }
            if let Some(remote) = &u.remote {
                match crate::git::remote_tag_exists(root, remote, &u.tag, shell) {
                    Ok(true) => {
                        problems.push(format!("tag `{}` already exists on `{remote}`", u.tag))
                    }
                    Ok(false) => {}
                    Err(e) => problems.push(format!("cannot check tags on `{remote}`: {e:#}")),
                }
            }
        }
    }
    Ok(problems)
}

/// `<package>/<version>`; packages sharing a tag: `<a>+<b>/<version>`.
pub fn unit_key(packages: &[String], version: &str) -> String {
    format!("{}/{version}", packages.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rebase_maps_paths_under_the_root_only() {
        let mut v = json!({
            "a": "/ci/one/ws",
            "b": ["/ci/one/ws/target/x", "/ci/one/wsx/y", "relative/ws"],
            "c": {"d": "/ci/one/ws/Cargo.toml", "n": 3}
        });
        rebase(&mut v, "/ci/one/ws", "/home/runner/w");
        assert_eq!(
            v,
            json!({
                "a": "/home/runner/w",
                "b": ["/home/runner/w/target/x", "/ci/one/wsx/y", "relative/ws"],
                "c": {"d": "/home/runner/w/Cargo.toml", "n": 3}
            })
        );
    }

    fn plan_with(commit: Option<&str>, version: &str) -> ReleasePlan {
        ReleasePlan {
            schema: SCHEMA.into(),
            cargo_forge_version: version.into(),
            commit: commit.map(String::from),
            version: "1.0.0".into(),
            prerelease: false,
            bump: false,
            workspace_root: "/ws".into(),
            target_dir: "/ws/target".into(),
            source_date_epoch: 0,
            retries: 6,
            packages: vec![],
            releases: vec![],
        }
    }

    #[test]
    fn another_commit_or_tool_version_is_refused_naming_both() {
        let file = Path::new("plan.json");
        let ok = plan_with(Some("aaa111"), TOOL_VERSION);
        ok.check_here(file, Some("aaa111")).unwrap();
        let err = ok.check_here(file, Some("bbb222")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("commit aaa111") && msg.contains("commit bbb222"),
            "{msg}"
        );
        assert_eq!(forge_core::exit::code_of(&err), 2);
        let old = plan_with(Some("aaa111"), "0.0.1");
        let msg = old
            .check_here(file, Some("aaa111"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cargo-forge 0.0.1")
                && msg.contains(&format!("cargo-forge {TOOL_VERSION}")),
            "{msg}"
        );
    }
}
