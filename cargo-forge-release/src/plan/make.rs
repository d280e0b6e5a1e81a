//! [`make`]: the release plan, decided once — every package's configuration, targets and
//! sub-plans, the `--bump` check, the releases (packages with one tag) and their hosts, the git
//! checks — each a step of its own, every problem collected and reported together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use forge_core::cli::CommonArgs;
use forge_core::config::ForgeLayer;
use forge_core::exit::{usage, ResultExt};
use forge_core::project::{Project, ProjectRequest};
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use super::*;
use crate::artifacts::ArchiveFormat;
use crate::config::ReleaseConfig;
use crate::hosts::HostSpec;
use crate::state::State;

/// What the user asked for.
pub struct Request<'a> {
    pub version: &'a str,
    /// The build settings, resolved from the command line by the caller.
    pub settings: PlanSettings,
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
    /// `--sign-key`: the gpg key of every release, instead of the configuration's `sign.gpg`.
    pub sign_key: Option<&'a str>,
}

/// The build settings a release is planned with: the library form of the build flags
/// (`--manifest-path`, `-p`, `--target`, `--features`, …), made from the command line at the
/// edge ([`PlanSettings::from_args`]), as `cargo forge-deb` makes its `DebRequest`; a library
/// caller fills in what it has.
#[derive(Clone, Debug, Default)]
pub struct PlanSettings {
    /// The workspace, the selected packages, the target directory and cargo's network mode.
    pub project: ProjectRequest,
    /// The top layer of every package's settings: `targets`, `profile`, `backend`,
    /// `toolchain`, `glibc`.
    pub layer: ForgeLayer,
    pub features: clap_cargo::Features,
    /// Package binaries built already (`--no-build`).
    pub no_build: bool,
}

impl PlanSettings {
    /// The settings the common build flags of `cargo forge-release` and `plan` make.
    pub fn from_args(common: &CommonArgs) -> PlanSettings {
        PlanSettings {
            project: ProjectRequest::from(common),
            layer: ForgeLayer::from_args(common),
            features: common.features.clone(),
            no_build: common.no_build,
        }
    }
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

/// What every step of [`make`] reads: the request, the project and the version.
struct Ctx<'a> {
    req: &'a Request<'a>,
    project: &'a Project,
    version: &'a semver::Version,
    /// The triple of the machine, the target when nothing names one.
    host: &'a str,
}

/// Checks everything and decides the release. No side effects, no secret read.
///
/// The steps, each below: every package's draft ([`draft_package`]: configuration, tag,
/// artifacts, targets, sub-plans), the `--bump` check ([`check_bump`]), the releases — packages
/// with one tag ([`group_releases`]) — and their hosts ([`describe_hosts`]), the git checks of a
/// publishing run; then every problem together, or the plan.
pub fn make(req: &Request<'_>, shell: &Shell) -> Result<(Project, ReleasePlan, Toolchains)> {
    let version = crate::version::parse(req.version)?;
    let settings = &req.settings;
    let mut toolchains = Toolchains::default();
    let loader = toolchains
        .get(settings.layer.toolchain.as_deref(), shell)?
        .clone();
    let project = Project::load(&settings.project, &loader, shell)?;
    let root = project.workspace_root.clone();
    let packages: Vec<&cargo_metadata::Package> = project.packages().collect();
    let ws = &settings.project.workspace;
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
    let ctx = Ctx {
        req,
        project: &project,
        version: &version,
        host: &loader.host,
    };
    let cli_layer = &settings.layer;
    let mut drafts: Vec<PackageDraft> = Vec::new();
    let mut retries = forge_core::config::DEFAULT_RETRIES;
    for pkg in &packages {
        let settings = forge_core::config::resolve_layer(&project, pkg, cli_layer)?;
        retries = settings.retries;
        if let Some(d) = draft_package(&ctx, pkg, &settings, &mut toolchains, &mut problems, shell)?
        {
            drafts.push(d);
        }
    }
    let bump = check_bump(&ctx, &packages, &drafts, &mut problems, shell);
    let mut units = group_releases(&ctx, &drafts, is_repo, &mut problems, shell)?;
    let http = forge_core::http::HttpClient::new(
        forge_core::http::RetryPolicy::new(retries),
        req.insecure_registries.to_vec(),
    );
    describe_hosts(
        &ctx,
        &drafts,
        &mut units,
        &http,
        commit.clone(),
        &mut problems,
    );

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

/// One package's draft: its release configuration, tag, artifacts, targets and sub-plans.
/// `None` (with the problem recorded) when its tag or toolchain cannot be resolved.
fn draft_package(
    ctx: &Ctx<'_>,
    pkg: &cargo_metadata::Package,
    settings: &forge_core::config::Settings,
    toolchains: &mut Toolchains,
    problems: &mut Vec<String>,
    shell: &Shell,
) -> Result<Option<PackageDraft>> {
    let (request, version) = (&ctx.req.settings, ctx.version);
    let manifest = pkg.manifest_path.as_std_path();
    let cfg: ReleaseConfig = settings.parse_table("release")?.unwrap_or_default();
    let name = pkg.name.to_string();
    if pkg.version != *version && !ctx.req.bump {
        problems.push(format!(
            "version mismatch: `{name}` is at {} in `{}`, not {version} (pass `--bump` to set it)",
            pkg.version, pkg.manifest_path
        ));
    }
    let tag_format = cfg
        .tag_format
        .clone()
        .unwrap_or_else(|| "v{{version}}".into());
    let tag = match crate::version::tag(&tag_format, &name, version) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("{e:#}"));
            return Ok(None);
        }
    };
    let (artifacts, archive_format) = check_artifacts(pkg, &cfg, problems);
    // `--target` over the release's `targets` over `[*.metadata.forge] targets`, else the
    // host.
    let triples: Vec<String> =
        if let Some(t) = request.layer.targets.clone().filter(|t| !t.is_empty()) {
            t
        } else if let Some(t) = cfg.targets.clone() {
            t
        } else if !settings.targets.is_empty() {
            settings.targets.clone()
        } else {
            vec![ctx.host.to_string()]
        };
    let tc = match toolchains.get(settings.toolchain.as_deref(), shell) {
        Ok(tc) => tc.clone(),
        Err(e) => {
            problems.push(format!("{e:#}"));
            return Ok(None);
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
    let features = Features::of(&request.features);
    // What the sub-plans build with: the release's targets and the package's settings.
    let sub_layer = ForgeLayer {
        targets: Some(triples.clone()),
        backend: Some(settings.backend),
        toolchain: settings.toolchain.clone(),
        glibc: settings.glibc.clone(),
        profile: Some(settings.profile.clone()),
        ..ForgeLayer::default()
    };
    let (deb, image) = sub_plans(
        ctx, &name, &cfg, &artifacts, &sub_layer, &tc, problems, shell,
    );
    Ok(Some(PackageDraft {
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
            locked: request.project.locked,
            frozen: request.project.frozen,
            offline: request.project.offline,
            no_build: request.no_build,
            targets,
            deb,
            image,
        },
        per_package_tag: tag_format.contains("{{name}}"),
        tag_template: tag_format.replace("{{name}}", &name),
        cfg,
        dir,
    }))
}

/// The package's `artifacts` (default: an archive) and archive format, each checked.
fn check_artifacts(
    pkg: &cargo_metadata::Package,
    cfg: &ReleaseConfig,
    problems: &mut Vec<String>,
) -> (Vec<String>, ArchiveFormat) {
    let name = pkg.name.as_str();
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
    (artifacts, archive_format)
}

/// The `.deb` and image sub-plans, made by the deb and image libraries from their request
/// types (so their configuration errors are problems of this plan).
#[allow(clippy::too_many_arguments)]
fn sub_plans(
    ctx: &Ctx<'_>,
    name: &str,
    cfg: &ReleaseConfig,
    artifacts: &[String],
    sub_layer: &ForgeLayer,
    tc: &Toolchain,
    problems: &mut Vec<String>,
    shell: &Shell,
) -> (
    Option<cargo_forge_deb::ops::DebPlan>,
    Option<cargo_forge_image::ops::ImagePlan>,
) {
    let (request, version, project) = (&ctx.req.settings, ctx.version, ctx.project);
    let deb = if artifacts.iter().any(|a| a == "deb") {
        let r = cargo_forge_deb::ops::DebRequest {
            packages: vec![name.to_string()],
            settings: sub_layer.clone(),
            features: request.features.clone(),
            locked: request.project.locked,
            frozen: request.project.frozen,
            offline: request.project.offline,
            no_build: true,
            upstream_version: Some(version.to_string()),
            ..Default::default()
        };
        match cargo_forge_deb::ops::plan_request(project, tc.clone(), &r, shell) {
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
            package: name.to_string(),
            settings: sub_layer.clone(),
            features: request.features.clone(),
            locked: request.project.locked,
            frozen: request.project.frozen,
            offline: request.project.offline,
            no_build: true,
            version: Some(version.to_string()),
            repository,
            dry_run: true,
            ..Default::default()
        };
        match cargo_forge_image::ops::plan_request(project, tc.clone(), &r, shell) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(format!("image of `{name}`: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    (deb, image)
}

/// `--bump` of a version the packages already have: a re-run after a failure resumes (the
/// bump commit is made, a state file may exist); anything else is a mistake. Whether the
/// plan still bumps.
fn check_bump(
    ctx: &Ctx<'_>,
    packages: &[&cargo_metadata::Package],
    drafts: &[PackageDraft],
    problems: &mut Vec<String>,
    shell: &Shell,
) -> bool {
    let (version, project) = (ctx.version, ctx.project);
    let root = &project.workspace_root;
    let mut bump = ctx.req.bump;
    if ctx.req.bump {
        let at: Vec<&str> = packages
            .iter()
            .filter(|p| p.version == *version)
            .map(|p| p.name.as_str())
            .collect();
        if !at.is_empty() {
            let resuming = at.len() == packages.len()
                && (crate::git::last_subject(root, shell).as_deref()
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
    bump
}

/// Releases: packages with the same tag are one release, with its hosts, signing, branches,
/// git tag and notes.
fn group_releases(
    ctx: &Ctx<'_>,
    drafts: &[PackageDraft],
    is_repo: bool,
    problems: &mut Vec<String>,
    shell: &Shell,
) -> Result<Vec<UnitPlan>> {
    let (req, version, project) = (ctx.req, ctx.version, ctx.project);
    let root = &project.workspace_root;
    let mut units: Vec<UnitPlan> = Vec::new();
    let release_root = project.target_dir.join("forge/release");
    for d in drafts {
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
        let remote = (make_tag && crate::git::has_remote(root, &remote, shell)).then_some(remote);
        let hosts_specs = d.cfg.hosts.clone().unwrap_or_else(|| {
            vec![HostSpec::Dir {
                path: release_root.join(&key).join("publish"),
            }]
        });
        let notes = notes_for(&d.dir, root, &version.to_string(), req.notes)?;
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
            sign: {
                let mut sign = d.cfg.sign.clone().unwrap_or_default();
                if let Some(key) = req.sign_key {
                    sign.gpg = Some(key.to_string());
                }
                sign
            },
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
    Ok(units)
}

/// Hosts: what each will do, from the configuration alone (no credentials are read), and
/// whether the release makes what each needs (an image for `oci`, packages for `apt`).
fn describe_hosts(
    ctx: &Ctx<'_>,
    drafts: &[PackageDraft],
    units: &mut [UnitPlan],
    http: &forge_core::http::HttpClient,
    commit: Option<String>,
    problems: &mut Vec<String>,
) {
    let root = &ctx.project.workspace_root;
    let mut images_by_repository: BTreeMap<String, String> = BTreeMap::new();
    for u in units {
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
        let staged = crate::stage::Staged::described(u, &ctx.version.to_string(), commit.clone());
        for h in &mut u.hosts {
            match crate::ops::make_host(&h.spec, http, root, crate::ops::Credentials::None) {
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
