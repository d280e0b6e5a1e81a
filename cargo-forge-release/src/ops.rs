//! `cargo forge-release`: check, plan, build and stage, then publish in an order where nothing
//! half-done is visible.
//!
//! 1. [`plan`] validates the version, the workspace version (or `--bump`), the git state (clean
//!    tree, allowed branch, tag absent locally and on the remote), the configuration and every
//!    host (credentials present) — all problems reported together, before any side effect.
//! 2. [`stage`] builds once for every target and stages archives, `.deb`s and the image (an OCI
//!    layout) in `target/forge/release/<version>/staging`, then `SHA256SUMS` and signatures.
//! 3. [`publish`] runs every host's `preflight`, then `prepare` (uploads readers cannot see:
//!    drafts, objects, untagged manifests); if any fails, every host rolls back and nothing is
//!    visible. Then the git tag is created and pushed, and every host's `publish` makes the
//!    release visible, moving tags and `latest` pointers last. Each step is recorded in
//!    `state.json`; a re-run resumes and never repeats a step.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use forge_core::build::{self, BuildRequest};
use forge_core::config::parse_table;
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::http::{HttpClient, RetryPolicy};
use forge_core::project::Project;
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use crate::artifacts::{self, ArchiveFormat};
use crate::config::{ReleaseConfig, SignConfig};
use crate::hosts::{Host, HostSpec, HostState};
use crate::stage::{Asset, AssetKind, Staged, StagedImage};
use crate::state::State;

/// The release, decided.
#[derive(Debug, Serialize)]
pub struct ReleasePlan {
    pub package: String,
    pub version: String,
    pub tag: String,
    pub prerelease: bool,
    pub commit: Option<String>,
    pub targets: Vec<String>,
    pub artifacts: Vec<String>,
    pub archive_format: ArchiveFormat,
    /// A CycloneDX SBOM per target.
    pub sbom: bool,
    pub sign: SignConfig,
    pub hosts: Vec<HostSpec>,
    /// What each host will do.
    pub actions: BTreeMap<String, Vec<String>>,
    pub release_dir: PathBuf,
    pub bump: bool,
    /// `None` when no tag is made (`--no-tag`, or not a git repository).
    pub tag_remote: Option<Option<String>>,
    pub toolchain: Toolchain,
    pub profile: String,
    pub source_date_epoch: u64,
    pub retries: u32,
    #[serde(skip)]
    pub insecure_registries: Vec<String>,
    #[serde(skip)]
    pub common: forge_core::cli::CommonArgs,
    #[serde(skip)]
    pub include: Vec<PathBuf>,
    #[serde(skip)]
    pub notes: String,
}

impl ReleasePlan {
    pub fn staging_dir(&self) -> PathBuf {
        self.release_dir.join("staging")
    }

    pub fn state_path(&self) -> PathBuf {
        self.release_dir.join("state.json")
    }

    /// The release tag: signed with `sign.tag = true` (with the `sign.gpg` key when given).
    pub fn tag_kind(&self) -> crate::git::TagKind {
        if self.sign.tag == Some(true) {
            crate::git::TagKind::Signed(self.sign.gpg.clone())
        } else {
            crate::git::TagKind::Annotated
        }
    }

    fn http(&self) -> HttpClient {
        HttpClient::new(
            RetryPolicy::new(self.retries),
            self.insecure_registries.clone(),
        )
    }
}

/// What the user asked for.
pub struct Request<'a> {
    pub version: &'a str,
    pub common: &'a forge_core::cli::CommonArgs,
    pub bump: bool,
    pub allow_dirty: bool,
    pub no_tag: bool,
    pub notes: Option<&'a Path>,
    pub retries: Option<u32>,
    pub insecure_registries: &'a [String],
    /// Only the checks that make sense before building (a `plan`/`build` CI phase skips git
    /// cleanliness and remote checks that the publish job does).
    pub publishing: bool,
    /// The release tag may already exist at HEAD (`publish` in CI, run from the pushed tag).
    pub tag_may_exist: bool,
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

/// Builds a host object from its spec.
pub fn make_host(spec: &HostSpec, plan_http: &HttpClient, root: &Path) -> Result<Box<dyn Host>> {
    Ok(match spec {
        HostSpec::Dir { path } => Box::new(crate::hosts::dir::DirHost {
            path: root.join(path),
        }),
        HostSpec::Oci { repository } => Box::new(crate::hosts::oci::OciHost {
            repository: repository.clone(),
            http: plan_http.clone(),
        }),
        HostSpec::Apt {
            dir,
            url,
            endpoint,
            region,
            suite,
            component,
            sign_key,
        } => {
            use crate::hosts::apt::AptTarget;
            let target = match (dir, url) {
                (Some(dir), None) if endpoint.is_none() && region.is_none() => {
                    AptTarget::Dir(root.join(dir))
                }
                (None, Some(url)) => {
                    let (bucket, prefix) = crate::hosts::apt::parse_s3_url(url)?;
                    let config = crate::hosts::s3::S3Config {
                        bucket,
                        prefix,
                        endpoint: endpoint.clone(),
                        region: region
                            .clone()
                            .unwrap_or_else(|| crate::hosts::s3::DEFAULT_REGION.into()),
                    };
                    AptTarget::S3(Box::new(crate::hosts::s3::S3Host::from_env(
                        config, plan_http,
                    )?))
                }
                (Some(_), None) => {
                    return Err(usage(
                        "`endpoint` and `region` of an `apt` host go with `url = \"s3://…\"`, not `dir`",
                    ))
                }
                _ => {
                    return Err(usage(
                        "an `apt` host needs one of `dir = \"path\"` or `url = \"s3://bucket/prefix\"`",
                    ))
                }
            };
            Box::new(crate::hosts::apt::AptHost {
                target,
                suite: suite.clone().unwrap_or_else(|| "stable".into()),
                component: component.clone().unwrap_or_else(|| "main".into()),
                sign_key: sign_key.clone(),
            })
        }
        other => crate::hosts::make_remote(other, plan_http)?,
    })
}

/// Checks everything and decides the release. No side effects.
pub fn plan(req: &Request<'_>, shell: &Shell) -> Result<(Project, ReleasePlan)> {
    let version = crate::version::parse(req.version)?;
    let common = req.common;
    let (project, toolchain) = forge_core::project::load_with_toolchain(common, shell)?;
    let pkg = project.single_package("a release is made of one package")?;
    let settings = forge_core::config::resolve(&project, pkg, common)?;
    let cfg: ReleaseConfig = match &settings.release {
        Some(v) => parse_table(
            v,
            pkg.manifest_path.as_std_path(),
            "workspace.metadata.forge.release",
        )?,
        None => ReleaseConfig::default(),
    };
    let root = project.workspace_root.clone();
    let mut problems: Vec<String> = Vec::new();

    let tag_format = cfg
        .tag_format
        .clone()
        .unwrap_or_else(|| "v{{version}}".into());
    let tag = crate::version::tag(&tag_format, &version)?;
    if pkg.version != version && !req.bump {
        problems.push(format!(
            "version mismatch: `{}` is at {} in `{}`, not {version} (pass `--bump` to set it)",
            pkg.name, pkg.version, pkg.manifest_path
        ));
    }
    if req.bump && pkg.version == version {
        problems.push(format!("`--bump`: `{}` is already at {version}", pkg.name));
    }
    let artifacts_list = cfg
        .artifacts
        .clone()
        .unwrap_or_else(|| vec!["archive".into()]);
    for a in &artifacts_list {
        if !["archive", "deb", "image"].contains(&a.as_str()) {
            problems.push(format!(
                "unknown artifact `{a}` in `artifacts`: use \"archive\", \"deb\" or \"image\""
            ));
        }
    }
    let archive_format = ArchiveFormat::parse(cfg.archive_format.as_deref().unwrap_or("tar.gz"))?;
    let targets = if !settings.targets.is_empty() {
        settings.targets.clone()
    } else {
        cfg.targets
            .clone()
            .unwrap_or_else(|| vec![toolchain.host.clone()])
    };
    for t in &targets {
        if let Err(e) = forge_core::target::lookup(t) {
            problems.push(e.to_string());
        }
    }
    let sign = cfg.sign.clone().unwrap_or_default();
    if let Some(k) = &sign.gpg {
        if let Err(e) = artifacts::check_gpg_key(k, shell) {
            problems.push(e.to_string());
        }
    }
    if let Some(k) = &sign.minisign {
        if !root.join(k).is_file() {
            problems.push(format!(
                "minisign key `{k}` (`sign.minisign`) does not exist"
            ));
        }
    }

    // git.
    let is_repo = crate::git::is_repo(&root, shell);
    if sign.tag == Some(true) && sign.gpg.is_none() && !req.no_tag && req.publishing {
        // `git tag -s` without `-u` signs with git's `user.signingkey`: check it now, not after
        // every host holds the release.
        match crate::git::signing_key(&root, shell) {
            Some(k) => {
                if let Err(e) = artifacts::check_gpg_key(&k, shell) {
                    problems.push(format!("{e} (git's `user.signingkey`, for `sign.tag`)"));
                }
            }
            None => problems.push(
                "`sign.tag = true` needs a key: set `sign.gpg = \"KEYID\"` or git's `user.signingkey`"
                    .into(),
            ),
        }
    }
    let remote = cfg.remote.clone().unwrap_or_else(|| "origin".into());
    let mut commit = None;
    let mut tag_remote = None;
    if is_repo {
        commit = crate::git::head(&root, shell).ok();
        if req.publishing {
            if !req.allow_dirty {
                let dirty = crate::git::dirty_files(&root, shell)?;
                if !dirty.is_empty() {
                    problems.push(format!("the working tree has uncommitted changes ({}): commit or stash them, or pass `--allow-dirty`", dirty.join(", ")));
                }
            }
            let head = crate::git::head(&root, shell)?;
            // The release tag already at HEAD: a resumed run, or CI publishing from the pushed tag.
            let state_path = crate::state::release_dir(&project.target_dir, &version.to_string())
                .join("state.json");
            let resuming = State::load(&state_path)?.is_some_and(|s| s.tag_created);
            let tag_at_head = (req.tag_may_exist || resuming)
                && crate::git::tag_commit(&root, &tag, shell)?.is_some_and(|c| c == head);
            let branches = cfg
                .branches
                .clone()
                .unwrap_or_else(|| vec!["main".into(), "master".into()]);
            match crate::git::branch(&root, shell)? {
                Some(b) if branches.contains(&b) => {}
                Some(b) => problems.push(format!(
                    "releases are made from {} (`branches`), but HEAD is on `{b}`",
                    branches.join(" or ")
                )),
                None if tag_at_head => {}
                None => problems.push("HEAD is detached: check out a release branch".into()),
            }
            if !req.no_tag && !tag_at_head && !resuming {
                if crate::git::tag_exists(&root, &tag, shell)? {
                    problems.push(format!(
                        "tag `{tag}` already exists in this repository, on another commit"
                    ));
                }
                if crate::git::has_remote(&root, &remote, shell) {
                    match crate::git::remote_tag_exists(&root, &remote, &tag, shell) {
                        Ok(true) => {
                            problems.push(format!("tag `{tag}` already exists on `{remote}`"))
                        }
                        Ok(false) => {}
                        Err(e) => problems.push(format!("cannot check tags on `{remote}`: {e:#}")),
                    }
                }
            }
        }
        if !req.no_tag {
            tag_remote =
                Some(crate::git::has_remote(&root, &remote, shell).then_some(remote.clone()));
        }
    } else if req.publishing && !req.no_tag {
        problems.push(format!("`{}` is not a git repository: a release is tagged (pass `--no-tag` to release without a tag)", root.display()));
    }

    // Hosts.
    let release_dir = crate::state::release_dir(&project.target_dir, &version.to_string());
    let hosts = cfg.hosts.clone().unwrap_or_else(|| {
        vec![HostSpec::Dir {
            path: release_dir.join("publish"),
        }]
    });
    let retries = req.retries.unwrap_or(settings.retries);
    let http = HttpClient::new(RetryPolicy::new(retries), req.insecure_registries.to_vec());
    let mut actions = BTreeMap::new();
    let dummy = Staged {
        package: pkg.name.to_string(),
        version: version.to_string(),
        tag: tag.clone(),
        prerelease: crate::version::is_prerelease(&version),
        commit: commit.clone(),
        dir: release_dir.join("staging"),
        assets: Vec::new(),
        image: None,
        notes: String::new(),
    };
    for spec in &hosts {
        match make_host(spec, &http, &root) {
            Ok(h) => {
                actions.insert(h.id(), h.describe(&dummy));
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
        if matches!(spec, HostSpec::Oci { .. }) && !artifacts_list.iter().any(|a| a == "image") {
            problems.push("an `oci` host needs the image: add \"image\" to `artifacts`".into());
        }
        if matches!(spec, HostSpec::Apt { .. }) && !artifacts_list.iter().any(|a| a == "deb") {
            problems.push("an `apt` host needs packages: add \"deb\" to `artifacts`".into());
        }
    }
    if !problems.is_empty() {
        let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
        return Err(usage(format!(
            "cannot release {} {version}:{list}",
            pkg.name
        )));
    }
    let pkg_dir = pkg
        .manifest_path
        .parent()
        .map(|p| p.as_std_path().to_path_buf())
        .unwrap_or_default();
    let notes = notes_for(&pkg_dir, &root, &version.to_string(), req.notes)?;
    let include = cfg
        .include
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|i| pkg_dir.join(i))
        .collect();
    let sde = forge_core::archive::source_date_epoch(&root, pkg.manifest_path.as_std_path())?;
    let plan = ReleasePlan {
        package: pkg.name.to_string(),
        version: version.to_string(),
        tag,
        prerelease: crate::version::is_prerelease(&version),
        commit,
        targets,
        artifacts: artifacts_list,
        archive_format,
        sbom: cfg.sbom.unwrap_or(false),
        sign,
        hosts,
        actions,
        release_dir,
        bump: req.bump,
        tag_remote,
        toolchain,
        profile: settings.profile.clone(),
        source_date_epoch: sde,
        retries,
        insecure_registries: req.insecure_registries.to_vec(),
        common: common.clone(),
        include,
        notes,
    };
    Ok((project, plan))
}

/// Prints the plan for people.
pub fn show(plan: &ReleasePlan, shell: &Shell) {
    shell.status(
        "Release",
        format!(
            "{} {} (tag {}{})",
            plan.package,
            plan.version,
            plan.tag,
            if plan.prerelease { ", pre-release" } else { "" }
        ),
    );
    shell.status("Targets", plan.targets.join(", "));
    shell.status(
        "Artifacts",
        format!(
            "{} ({}){}",
            plan.artifacts.join(", "),
            plan.archive_format.extension(),
            if plan.sbom { ", CycloneDX SBOM" } else { "" }
        ),
    );
    if plan.sign.gpg.is_some() || plan.sign.minisign.is_some() || plan.sign.tag == Some(true) {
        shell.status(
            "Signing",
            format!(
                "{}{}{}",
                plan.sign
                    .gpg
                    .as_ref()
                    .map(|k| format!("gpg {k} "))
                    .unwrap_or_default(),
                plan.sign
                    .minisign
                    .as_ref()
                    .map(|k| format!("minisign {k} "))
                    .unwrap_or_default(),
                if plan.sign.tag == Some(true) {
                    "and the git tag"
                } else {
                    ""
                }
            )
            .trim_end(),
        );
    }
    for (host, actions) in &plan.actions {
        for a in actions {
            shell.status("Publish", format!("{host}: {a}"));
        }
    }
    match &plan.tag_remote {
        Some(Some(r)) => shell.status("Tag", format!("{} (pushed to {r})", plan.tag)),
        Some(None) => shell.status("Tag", format!("{} (local; no remote)", plan.tag)),
        None => {}
    }
}

/// Asks for confirmation on a terminal; without one, `--yes` is required.
pub fn confirm(yes: bool, shell: &Shell) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "refusing to publish without confirmation: there is no terminal to ask on",
        ))
        .hint(
            "pass `--yes` to publish non-interactively, or `--dry-run` to build without publishing",
        );
    }
    shell.log(
        forge_core::shell::Verbosity::Quiet,
        "Publish this release? [y/N] ",
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("failed to read the answer")?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(usage("release cancelled: nothing was published"))
    }
}

/// Sets the version with toml_edit (formatting and comments kept), updates dependents'
/// requirements and Cargo.lock, and commits.
pub fn bump(project: &Project, plan: &ReleasePlan, shell: &Shell) -> Result<()> {
    let pkg = project
        .package(&plan.package)
        .context("package not found")?;
    let manifest = pkg.manifest_path.as_std_path().to_path_buf();
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut doc: toml_edit::DocumentMut = forge_core::fsx::read_to_string(&manifest)?
        .parse()
        .with_context(|| format!("failed to parse `{}`", manifest.display()))?;
    let inherited = doc["package"]["version"]
        .get("workspace")
        .and_then(|w| w.as_bool())
        == Some(true);
    if inherited {
        let root_manifest = project.workspace_manifest();
        let mut root_doc: toml_edit::DocumentMut = forge_core::fsx::read_to_string(&root_manifest)?
            .parse()
            .with_context(|| format!("failed to parse `{}`", root_manifest.display()))?;
        root_doc["workspace"]["package"]["version"] = toml_edit::value(plan.version.clone());
        forge_core::fsx::write_atomic(&root_manifest, root_doc.to_string().as_bytes())?;
        changed.push(root_manifest);
    } else {
        doc["package"]["version"] = toml_edit::value(plan.version.clone());
        forge_core::fsx::write_atomic(&manifest, doc.to_string().as_bytes())?;
        changed.push(manifest.clone());
    }
    // Dependents' version requirements (path dependencies with a `version`).
    let mut manifests: Vec<PathBuf> = project
        .metadata
        .workspace_members
        .iter()
        .filter_map(|id| project.metadata.packages.iter().find(|p| &p.id == id))
        .map(|p| p.manifest_path.as_std_path().to_path_buf())
        .collect();
    manifests.push(project.workspace_manifest());
    manifests.sort();
    manifests.dedup();
    for m in manifests {
        if !m.is_file() {
            continue;
        }
        let mut d: toml_edit::DocumentMut = forge_core::fsx::read_to_string(&m)?
            .parse()
            .with_context(|| format!("failed to parse `{}`", m.display()))?;
        let mut touched = false;
        let mut update = |deps: Option<&mut toml_edit::Item>| {
            let Some(deps) = deps.and_then(|c| c.as_table_like_mut()) else {
                return;
            };
            if let Some(t) = deps
                .get_mut(&plan.package)
                .and_then(|d| d.as_table_like_mut())
            {
                if t.contains_key("path") && t.contains_key("version") {
                    t.insert("version", toml_edit::value(plan.version.clone()));
                    touched = true;
                }
            }
        };
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            update(d.get_mut(table));
            update(d.get_mut("workspace").and_then(|w| w.get_mut(table)));
        }
        if touched {
            forge_core::fsx::write_atomic(&m, d.to_string().as_bytes())?;
            if !changed.contains(&m) {
                changed.push(m);
            }
        }
    }
    let root = &project.workspace_root;
    let lock = root.join("Cargo.lock");
    if lock.is_file() {
        forge_core::process::Cmd::new(&plan.toolchain.cargo)
            .args(["update", "--workspace", "--offline"])
            .cwd(root)
            .run(shell)
            .context("failed to update Cargo.lock for the new version")?;
        changed.push(lock);
    }
    let rel: Vec<&Path> = changed
        .iter()
        .map(|p| p.strip_prefix(root).unwrap_or(p))
        .collect();
    crate::git::commit(root, &rel, &format!("Release {}", plan.version), shell)?;
    shell.status(
        "Bumped",
        format!(
            "{} to {} ({} files, committed)",
            plan.package,
            plan.version,
            rel.len()
        ),
    );
    Ok(())
}

/// Builds and stages every artifact (for `targets`; all of the plan's when `None`).
pub fn stage(
    project: &Project,
    plan: &ReleasePlan,
    only_targets: Option<&[String]>,
    out: &Path,
    shell: &Shell,
) -> Result<Staged> {
    stage_into(project, plan, only_targets, out, shell)
        .map_err(|e| artifacts::explain_disk_full(e, out))
}

fn stage_into(
    project: &Project,
    plan: &ReleasePlan,
    only_targets: Option<&[String]>,
    out: &Path,
    shell: &Shell,
) -> Result<Staged> {
    let targets: Vec<String> = only_targets
        .map(|t| t.to_vec())
        .unwrap_or_else(|| plan.targets.clone());
    if out.exists() {
        std::fs::remove_dir_all(out)
            .with_context(|| format!("failed to clear `{}`", out.display()))?;
    }
    forge_core::fsx::create_dir_all(out)?;
    let pkg = project
        .package(&plan.package)
        .context("package not found")?;
    let mut common = plan.common.clone();
    common.targets = targets.clone();
    common.workspace.package = vec![plan.package.clone()];
    let artifacts = if plan.common.no_build {
        build::existing_artifacts(project, &[pkg], &targets, &plan.profile)?
    } else {
        let req = BuildRequest {
            workspace_root: project.workspace_root.clone(),
            manifest_path: project.workspace_manifest(),
            target_dir: project.target_dir.clone(),
            packages: vec![plan.package.clone()],
            features: common.features.clone(),
            targets: targets.clone(),
            profile: plan.profile.clone(),
            locked: common.locked,
            frozen: common.frozen,
            offline: common.offline,
            backend: common
                .backend
                .unwrap_or(forge_core::cli::BackendChoice::Auto),
            glibc: common.glibc.clone(),
        };
        let bp = build::plan(&req, &plan.toolchain, shell)?;
        build::execute(&bp, project, shell)?
    };
    common.no_build = true;
    if plan.toolchain.rustup {
        common.toolchain = None;
    } else if let Some(dir) = plan.toolchain.cargo.parent().and_then(|b| b.parent()) {
        common.toolchain = Some(dir.display().to_string());
    }
    let mut assets = Vec::new();
    let pkg_dir = pkg
        .manifest_path
        .parent()
        .map(|p| p.as_std_path().to_path_buf())
        .unwrap_or_default();
    if plan.artifacts.iter().any(|a| a == "archive") {
        let docs = doc_files(&pkg_dir, &project.workspace_root);
        for t in &targets {
            let mut files: Vec<artifacts::ArchiveFile> = artifacts
                .iter()
                .filter(|a| {
                    a.package == plan.package
                        && a.kind == "bin"
                        && a.target.as_deref() == Some(t.as_str())
                })
                .map(|a| (a.name.clone(), a.path.clone(), 0o755))
                .collect();
            if files.is_empty() {
                return Err(anyhow::anyhow!(
                    "the build produced no binary of `{}` for {t}",
                    plan.package
                ))
                .kind(ErrorKind::Build)
                .hint("an archive holds the package's binaries: give it a `[[bin]]` target, or leave \"archive\" out of `artifacts`");
            }
            for d in docs.iter().chain(plan.include.iter()) {
                let name = d
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !d.is_file() {
                    return Err(usage(format!(
                        "`include` file `{}` does not exist",
                        d.display()
                    )))
                    .hint("create it, or fix `include` in the release table (paths are relative to the package directory)");
                }
                files.push((name, d.clone(), 0o644));
            }
            let root_name = format!("{}-{}-{t}", plan.package, plan.version);
            let path = artifacts::write_archive(
                out,
                &root_name,
                &files,
                plan.archive_format,
                plan.source_date_epoch,
            )?;
            shell.status("Archived", path.display());
            assets.push(Asset::of_file(&path, AssetKind::Archive, Some(t.clone()))?);
        }
    }
    if plan.sbom {
        for t in &targets {
            let req = crate::sbom::SbomRequest {
                cargo: &plan.toolchain.cargo,
                manifest_path: &project.workspace_manifest(),
                workspace_root: &project.workspace_root,
                package: &plan.package,
                version: &plan.version,
                target: t,
                features: &plan.common.features,
                locked: plan.common.locked,
                frozen: plan.common.frozen,
                offline: plan.common.offline,
                source_date_epoch: plan.source_date_epoch,
            };
            let path = crate::sbom::write(out, &req, shell)?;
            shell.status("Described", path.display());
            assets.push(Asset::of_file(&path, AssetKind::Sbom, Some(t.clone()))?);
        }
    }
    if plan.artifacts.iter().any(|a| a == "deb") {
        let args = cargo_forge_deb::cli::DebArgs {
            common: common.clone(),
            output: Some(out.join("debs/")),
            ..Default::default()
        };
        let (deb_project, deb_plan) = cargo_forge_deb::ops::plan(&args, shell)?;
        for p in cargo_forge_deb::ops::execute(&deb_project, &deb_plan, shell)? {
            let dest = out.join(p.path.file_name().context("deb without a file name")?);
            std::fs::rename(&p.path, &dest).with_context(|| {
                format!(
                    "failed to move `{}` to `{}`",
                    p.path.display(),
                    dest.display()
                )
            })?;
            assets.push(Asset::of_file(&dest, AssetKind::Deb, p.target.clone())?);
        }
        let _ = std::fs::remove_dir_all(out.join("debs"));
    }
    let mut image = None;
    if plan.artifacts.iter().any(|a| a == "image") {
        let layout = out.join("image");
        let args = cargo_forge_image::cli::ImageArgs {
            common: common.clone(),
            outputs: vec![format!("oci:{}", layout.display())],
            ..Default::default()
        };
        let (image_project, image_plan) = cargo_forge_image::ops::plan(&args, shell)?;
        let result = cargo_forge_image::ops::execute(&image_project, &image_plan, shell)?;
        image = Some(StagedImage {
            layout,
            layout_tag: plan.version.replace('+', "_"),
            digest: result.image.digest,
        });
    }
    Ok(Staged {
        package: plan.package.clone(),
        version: plan.version.clone(),
        tag: plan.tag.clone(),
        prerelease: plan.prerelease,
        commit: plan.commit.clone(),
        dir: out.to_path_buf(),
        assets,
        image,
        notes: plan.notes.clone(),
    })
}

/// README and LICENSE/COPYING files for archives: the package's, else the workspace's.
fn doc_files(pkg_dir: &Path, root: &Path) -> Vec<PathBuf> {
    for dir in [pkg_dir, root] {
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .filter(|p| {
                        let n = p
                            .file_name()
                            .map(|n| n.to_string_lossy().to_uppercase())
                            .unwrap_or_default();
                        n.starts_with("README")
                            || n.starts_with("LICENSE")
                            || n.starts_with("LICENCE")
                            || n.starts_with("COPYING")
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !out.is_empty() {
            out.sort();
            return out;
        }
    }
    Vec::new()
}

/// The staged release of a run in progress (a state file that is not completed), when every
/// staged file is still as recorded; `None` when a fresh staging is needed.
pub fn resumable_staged(plan: &ReleasePlan) -> Result<Option<Staged>> {
    let Some(state) = State::load(&plan.state_path())? else {
        return Ok(None);
    };
    if state.completed {
        return Ok(None);
    }
    let path = plan.staging_dir().join("staged.json");
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let Ok(staged) = serde_json::from_slice::<Staged>(&bytes) else {
        return Ok(None);
    };
    if staged.version != plan.version {
        return Ok(None);
    }
    for a in &staged.assets {
        if !a.path.is_file() || forge_core::digest::sha256_file(&a.path)? != a.sha256 {
            return Ok(None);
        }
    }
    Ok(Some(staged))
}

/// Adds `SHA256SUMS` and signatures to a staged release.
pub fn checksum_and_sign(
    staged: &mut Staged,
    plan: &ReleasePlan,
    root: &Path,
    shell: &Shell,
) -> Result<()> {
    staged
        .assets
        .retain(|a| a.kind != AssetKind::Checksums && a.kind != AssetKind::Signature);
    let dir = staged.dir.clone();
    checksum_and_sign_into(staged, plan, root, shell)
        .map_err(|e| artifacts::explain_disk_full(e, &dir))
}

fn checksum_and_sign_into(
    staged: &mut Staged,
    plan: &ReleasePlan,
    root: &Path,
    shell: &Shell,
) -> Result<()> {
    let sums = artifacts::write_checksums(&staged.dir, &staged.assets)?;
    let mut to_sign: Vec<PathBuf> = staged.assets.iter().map(|a| a.path.clone()).collect();
    to_sign.push(sums.path.clone());
    staged.assets.push(sums);
    let mut sigs = Vec::new();
    if let Some(key) = &plan.sign.gpg {
        shell.status(
            "Signing",
            format!("{} files with gpg key {key}", to_sign.len()),
        );
        for f in &to_sign {
            sigs.push(artifacts::gpg_sign(f, key, shell)?);
        }
    }
    if let Some(key) = &plan.sign.minisign {
        shell.status("Signing", format!("{} files with minisign", to_sign.len()));
        for f in &to_sign {
            sigs.push(artifacts::minisign_sign(f, &root.join(key))?);
        }
    }
    staged.assets.extend(sigs);
    let json = serde_json::to_vec_pretty(staged)?;
    forge_core::fsx::write_atomic(&staged.dir.join("staged.json"), &json)
}

/// `--abort`: rolls back every host's unpublished uploads (drafts, partial directories) and
/// removes the state file. Published releases are never touched.
pub fn abort(project: &Project, plan: &ReleasePlan, shell: &Shell) -> Result<()> {
    let root = &project.workspace_root;
    let http = plan.http();
    let state_path = plan.state_path();
    let Some(mut state) = State::load(&state_path)? else {
        shell.status(
            "Unchanged",
            format!("no release of {} in progress", plan.version),
        );
        return Ok(());
    };
    if state.tag_pushed || state.hosts.values().any(|h| h.published) {
        return Err(usage(format!(
            "{} is already (partly) published: it cannot be aborted; run the same command again to finish it",
            plan.tag
        )));
    }
    let staged: Staged = serde_json::from_slice(&forge_core::fsx::read(
        &plan.staging_dir().join("staged.json"),
    )?)
    .context("the staged release is gone: nothing to roll back against")?;
    for spec in &plan.hosts {
        let h = make_host(spec, &http, root)?;
        let mut hs = state.hosts.get(&h.id()).cloned().unwrap_or_default();
        h.rollback(&staged, &mut hs, shell)
            .with_context(|| format!("failed to roll back {}", h.id()))?;
        state.hosts.insert(h.id(), hs);
        shell.status("Rolled back", h.id());
    }
    std::fs::remove_file(&state_path)
        .with_context(|| format!("failed to remove `{}`", state_path.display()))?;
    Ok(())
}

/// GitHub Actions (no-op elsewhere), after a publish: the job summary (version, tag, each host
/// with where the release is, the assets) and the outputs `version`, `tag`, `release-url` (the
/// release page on GitHub or Gitea when there is one, else the first host's place) and
/// `artifacts` (the published files' staged paths, one per line).
pub fn report_gha(
    project: &Project,
    plan: &ReleasePlan,
    staged: &Staged,
    shell: &Shell,
) -> Result<()> {
    use forge_core::gha::{code, Table};
    let gha = shell.gha();
    if !gha.is_enabled() {
        return Ok(());
    }
    let http = plan.http();
    let state = State::load(&plan.state_path())?.unwrap_or_default();
    let mut hosts = Table::new(&["Host", "Published at"]);
    let mut page = None;
    let mut first = None;
    for spec in &plan.hosts {
        let host = make_host(spec, &http, &project.workspace_root)?;
        let host_state = state.hosts.get(&host.id()).cloned().unwrap_or_default();
        let url = host.release_url(staged, &host_state);
        if let Some(u) = &url {
            if page.is_none() && matches!(spec, HostSpec::Github { .. } | HostSpec::Gitea { .. }) {
                page = Some(u.clone());
            }
            first.get_or_insert_with(|| u.clone());
        }
        hosts.row(vec![code(&host.id()), url.unwrap_or_default()]);
    }
    let mut assets = Table::new(&["Asset", "Target", "Size (bytes)", "SHA-256"]);
    for a in &staged.assets {
        assets.row(vec![
            code(&a.name),
            a.target.clone().unwrap_or_default(),
            a.size.to_string(),
            code(&a.sha256),
        ]);
    }
    gha.summary(&format!(
        "### cargo forge-release: {} {} (tag {})\n\n{}\n{}",
        plan.package,
        plan.version,
        code(&plan.tag),
        hosts.render(),
        assets.render()
    ))?;
    let artifacts: Vec<String> = staged
        .assets
        .iter()
        .map(|a| a.path.display().to_string())
        .collect();
    gha.output("version", &plan.version)?;
    gha.output("tag", &plan.tag)?;
    gha.output("release-url", &page.or(first).unwrap_or_default())?;
    gha.output("artifacts", &artifacts.join("\n"))
}

/// Publishes a staged release to every host, resumably.
pub fn publish(
    project: &Project,
    plan: &ReleasePlan,
    staged: &Staged,
    shell: &Shell,
) -> Result<()> {
    let root = &project.workspace_root;
    let http = plan.http();
    let hosts: Vec<Box<dyn Host>> = plan
        .hosts
        .iter()
        .map(|s| make_host(s, &http, root))
        .collect::<Result<_>>()?;
    let state_path = plan.state_path();
    let sums = staged
        .assets_of(AssetKind::Checksums)
        .next()
        .map(|a| a.sha256.clone())
        .unwrap_or_default();
    let mut state = match State::load(&state_path)? {
        Some(s) if s.completed => {
            shell.status(
                "Unchanged",
                format!(
                    "{} {} is already published (`{}`)",
                    plan.package,
                    plan.version,
                    state_path.display()
                ),
            );
            return Ok(());
        }
        Some(s) if s.checksums != sums => {
            // Archives hold no timestamps but SOURCE_DATE_EPOCH: different sums mean different content.
            if s.hosts.values().any(|h| h.published) {
                return Err(usage(format!(
                    "the files built now differ from those already partly published for {} (`{}`): finish with the same sources, or remove the state file to start over",
                    plan.tag,
                    state_path.display()
                )));
            }
            State {
                version: plan.version.clone(),
                tag: plan.tag.clone(),
                checksums: sums.clone(),
                ..s
            }
        }
        Some(s) => {
            shell.status(
                "Resuming",
                format!("{} from `{}`", plan.tag, state_path.display()),
            );
            s
        }
        None => State {
            version: plan.version.clone(),
            tag: plan.tag.clone(),
            checksums: sums.clone(),
            ..State::default()
        },
    };
    state.save(&state_path)?;

    for h in &hosts {
        let hs = state.hosts.get(&h.id()).cloned().unwrap_or_default();
        h.preflight(staged, &hs, shell)
            .with_context(|| format!("{} is not ready", h.id()))
            .kind(ErrorKind::Network)?;
    }
    // 1. Everything readers cannot see yet.
    let mut failed: Option<anyhow::Error> = None;
    for h in &hosts {
        let id = h.id();
        let mut hs = state.hosts.get(&id).cloned().unwrap_or_default();
        let mut save = |s: &HostState| -> Result<()> {
            let mut st = State::load(&state_path)?.unwrap_or_default();
            st.hosts.insert(id.clone(), s.clone());
            st.save(&state_path)
        };
        let r = h.prepare(staged, &mut hs, &mut save, shell);
        state = State::load(&state_path)?.unwrap_or(state);
        if let Err(e) = r {
            failed = Some(e.context(format!("failed to upload to {id}")));
            break;
        }
    }
    if let Some(e) = failed {
        // Drafts, objects and untagged manifests stay: readers cannot see them, and the next run
        // reuses them instead of uploading again. `--abort` removes them.
        state.save(&state_path)?;
        return Err(e).kind(ErrorKind::Network).hint(format!(
            "nothing was published; fix the cause and run the same command again (finished uploads are reused), or `--abort` to remove the unpublished uploads (state: `{}`)",
            state_path.display()
        ));
    }
    // 2. The tag.
    if let Some(remote) = &plan.tag_remote {
        if !state.tag_created {
            if !crate::git::tag_exists(root, &plan.tag, shell)? {
                crate::git::create_tag(
                    root,
                    &plan.tag,
                    &format!("{} {}", plan.package, plan.version),
                    &plan.tag_kind(),
                    shell,
                )
                .with_context(|| format!("failed to create tag `{}`", plan.tag))
                .hint("nothing is visible yet; fix the cause and run the same command again")?;
            }
            state.tag_created = true;
            state.save(&state_path)?;
            shell.status("Tagged", &plan.tag);
        }
        if let (Some(r), false) = (remote, state.tag_pushed) {
            crate::git::push_tag(root, r, &plan.tag, plan.bump, shell)
                .with_context(|| format!("failed to push tag `{}` to `{r}`", plan.tag))
                .kind(ErrorKind::Network)?;
            state.tag_pushed = true;
            state.save(&state_path)?;
            shell.status("Pushed", format!("tag {} to {r}", plan.tag));
        }
    }
    // 3. Make it visible, host by host; tags and latest pointers last inside each host.
    for h in &hosts {
        let id = h.id();
        let mut hs = state.hosts.get(&id).cloned().unwrap_or_default();
        if hs.published {
            continue;
        }
        let mut save = |s: &HostState| -> Result<()> {
            let mut st = State::load(&state_path)?.unwrap_or_default();
            st.hosts.insert(id.clone(), s.clone());
            st.save(&state_path)
        };
        h.publish(staged, &mut hs, &mut save, shell)
            .with_context(|| format!("failed to publish to {id}"))
            .kind(ErrorKind::Network)
            .hint("run the same command again to resume: finished steps are not repeated")?;
        state = State::load(&state_path)?.unwrap_or(state);
    }
    state.completed = true;
    state.save(&state_path)?;
    Ok(())
}
