//! Executing a release plan ([`crate::plan`]): build and stage, checksum and sign, then publish
//! in an order where nothing half-done is visible.
//!
//! 1. [`check_secrets`] — the first thing a publishing run does, before any side effect: every
//!    host's credentials, the signing keys, all problems together, each naming its variable.
//!    Planning and building never read a secret.
//! 2. [`stage_package`] builds one package for some of its targets (the build engine, whose
//!    subprocesses never see a credential) and stages archives, SBOMs, `.deb`s and the image
//!    (an OCI layout) by executing the plan's sub-plans on those binaries. The one-shot stages
//!    every package of a release into `target/forge/release/<package>/<version>/staging`; the
//!    `build` phase one runner's targets into `--out DIR/<package>/<target>/`.
//! 3. [`checksum_and_sign`]: `SHA256SUMS` and signatures.
//! 4. [`publish`] runs every host's `preflight`, then `prepare` (uploads readers cannot see:
//!    drafts, objects, untagged manifests); if any fails, nothing is visible. Then the git tag
//!    is created and pushed, and every host's `publish` makes the release visible, moving tags
//!    and `latest` pointers last — and only forward. Each step is recorded in `state.json`; a
//!    re-run resumes and never repeats a step.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::build::{self, Artifact, BuildRequest};
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::http::{HttpClient, RetryPolicy};
use forge_core::project::Project;
use forge_core::Shell;

use crate::artifacts;
use crate::hosts::{Host, HostSpec, HostState};
use crate::plan::{PackagePlan, ReleasePlan, Toolchains, UnitPlan};
use crate::stage::{Asset, AssetKind, Staged, StagedImage};
use crate::state::State;

/// Where credentials come from when a host is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// The environment (`GITHUB_TOKEN`, `AWS_*`, …): a publishing phase.
    Env,
    /// None: the host can name itself and describe what it will do, nothing more.
    None,
}

/// The network settings of a phase: `--retries` (else `FORGE_RETRIES`, else the plan's) and
/// `--insecure-registry`.
#[derive(Clone, Debug)]
pub struct Exec {
    pub http: HttpClient,
}

impl Exec {
    pub fn new(plan: &ReleasePlan, retries: Option<u32>, insecure: &[String]) -> Result<Exec> {
        let retries = match retries {
            Some(r) => r,
            None => forge_core::config::env_retries()?.unwrap_or(plan.retries),
        };
        Ok(Exec {
            http: HttpClient::new(RetryPolicy::new(retries), insecure.to_vec()),
        })
    }
}

/// The commit message of `--bump`.
pub fn bump_message(version: &str) -> String {
    format!("Release {version}")
}

/// Builds a host object from its spec.
pub fn make_host(
    spec: &HostSpec,
    http: &HttpClient,
    root: &Path,
    credentials: Credentials,
) -> Result<Box<dyn Host>> {
    Ok(match spec {
        HostSpec::Dir { path } => Box::new(crate::hosts::dir::DirHost {
            path: root.join(path),
        }),
        HostSpec::Oci { repository } => Box::new(crate::hosts::oci::OciHost {
            repository: repository.clone(),
            http: http.clone(),
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
                    let host = match credentials {
                        Credentials::Env => crate::hosts::s3::S3Host::from_env(config, http)?,
                        Credentials::None => crate::hosts::s3::S3Host::new(
                            config,
                            crate::hosts::s3::S3Credentials::new(
                                "",
                                forge_core::secret::Secret::new(""),
                                None,
                            ),
                            http,
                        )?,
                    };
                    AptTarget::S3(Box::new(host))
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
        other => match credentials {
            Credentials::Env => crate::hosts::make_remote(other, http)?,
            Credentials::None => crate::hosts::remote::describe_remote(other, http)?,
        },
    })
}

/// What a publishing run needs that the plan does not read, checked before its first side
/// effect: each host's credentials (`hosts`), the signing keys (`signing`: gpg's secret key,
/// the minisign key file, the tag's key), all problems together, each naming its variable or
/// key.
pub fn check_secrets(
    plan: &ReleasePlan,
    units: &[&UnitPlan],
    exec: &Exec,
    hosts: bool,
    signing: bool,
    shell: &Shell,
) -> Result<()> {
    let root = &plan.workspace_root;
    let mut problems: Vec<String> = Vec::new();
    let mut gpg_keys: Vec<(String, String)> = Vec::new();
    for u in units {
        if hosts {
            for h in &u.hosts {
                if let Err(e) = make_host(&h.spec, &exec.http, root, Credentials::Env) {
                    let mut p = format!("{e:#}");
                    for hint in forge_core::exit::hints(&e) {
                        p.push_str(&format!(" ({hint})"));
                    }
                    if !problems.contains(&p) {
                        problems.push(p);
                    }
                }
                if let HostSpec::Apt {
                    sign_key: Some(k), ..
                } = &h.spec
                {
                    gpg_keys.push((k.clone(), "`sign-key` of the `apt` host".into()));
                }
            }
        }
        if signing {
            if let Some(k) = &u.sign.gpg {
                gpg_keys.push((k.clone(), "`sign.gpg`".into()));
            }
            if let Some(k) = &u.sign.minisign {
                if !root.join(k).is_file() {
                    problems.push(format!(
                        "minisign key `{k}` (`sign.minisign`) does not exist"
                    ));
                }
            }
            if hosts && u.make_tag && u.sign.tag == Some(true) && u.sign.gpg.is_none() {
                // `git tag -s` without `-u` signs with git's `user.signingkey`.
                match crate::git::signing_key(root, shell) {
                    Some(k) => gpg_keys.push((k, "git's `user.signingkey`, for `sign.tag`".into())),
                    None => problems.push(
                        "`sign.tag = true` needs a key: set `sign.gpg = \"KEYID\"` or git's `user.signingkey`"
                            .into(),
                    ),
                }
            }
        }
    }
    gpg_keys.sort();
    gpg_keys.dedup_by(|a, b| a.0 == b.0);
    for (k, what) in gpg_keys {
        if let Err(e) = artifacts::check_gpg_key(&k, shell) {
            problems.push(format!("{e} ({what})"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
    Err(usage(format!(
        "cannot publish {} {}: nothing was done{list}",
        units
            .iter()
            .flat_map(|u| u.packages.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", "),
        plan.version
    )))
}

/// Prints the plan for people.
pub fn show(plan: &ReleasePlan, shell: &Shell) {
    for u in &plan.releases {
        shell.status(
            "Release",
            format!(
                "{} {} (tag {}{})",
                u.packages.join(", "),
                plan.version,
                u.tag,
                if plan.prerelease { ", pre-release" } else { "" }
            ),
        );
        for name in &u.packages {
            let Some(p) = plan.package(name) else {
                continue;
            };
            let targets: Vec<String> = p
                .targets
                .iter()
                .map(|t| {
                    let mut s = t.triple.clone();
                    let mut how = Vec::new();
                    if t.backend != forge_core::cli::BackendChoice::Auto {
                        how.push(format!("{:?}", t.backend).to_lowercase());
                    }
                    if let Some(tc) = &t.toolchain {
                        how.push(format!("toolchain {tc}"));
                    }
                    if let Some(g) = &t.glibc {
                        how.push(format!("glibc {g}"));
                    }
                    if !how.is_empty() {
                        s.push_str(&format!(" ({})", how.join(", ")));
                    }
                    s
                })
                .collect();
            let who = if u.packages.len() > 1 {
                format!("{name}: ")
            } else {
                String::new()
            };
            shell.status("Targets", format!("{who}{}", targets.join(", ")));
            shell.status(
                "Artifacts",
                format!(
                    "{who}{} ({}){}",
                    p.artifacts.join(", "),
                    p.archive_format.extension(),
                    if p.sbom { ", CycloneDX SBOM" } else { "" }
                ),
            );
        }
        let sign = &u.sign;
        if sign.gpg.is_some() || sign.minisign.is_some() || sign.tag == Some(true) {
            shell.status(
                "Signing",
                format!(
                    "{}{}{}",
                    sign.gpg
                        .as_ref()
                        .map(|k| format!("gpg {k} "))
                        .unwrap_or_default(),
                    sign.minisign
                        .as_ref()
                        .map(|k| format!("minisign {k} "))
                        .unwrap_or_default(),
                    if sign.tag == Some(true) {
                        "and the git tag"
                    } else {
                        ""
                    }
                )
                .trim_end(),
            );
        }
        for h in &u.hosts {
            for a in &h.actions {
                shell.status("Publish", format!("{}: {a}", h.id));
            }
        }
        match (&u.make_tag, &u.remote) {
            (true, Some(r)) => shell.status("Tag", format!("{} (pushed to {r})", u.tag)),
            (true, None) => shell.status("Tag", format!("{} (local; no remote)", u.tag)),
            _ => {}
        }
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

/// The files `--bump` changes, with their content before: written back by [`restore`] after a
/// `--dry-run`.
pub type Originals = Vec<(PathBuf, Vec<u8>)>;

/// Sets the version of every package of the plan with toml_edit (formatting and comments
/// kept; once in `[workspace.package]` for inherited versions), updates dependents'
/// requirements and Cargo.lock. Returns the files before the change. Commits nothing.
pub fn apply_bump(project: &Project, plan: &ReleasePlan, shell: &Shell) -> Result<Originals> {
    let mut originals: Originals = Vec::new();
    let keep = |path: &Path, originals: &mut Originals| -> Result<()> {
        if !originals.iter().any(|(p, _)| p == path) {
            originals.push((path.to_path_buf(), forge_core::fsx::read(path)?));
        }
        Ok(())
    };
    let version = plan.version.clone();
    let released: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
    // Packages whose version changes: the released ones, and with `[workspace.package] version`
    // set, every member that inherits it (their dependents' requirements must follow too).
    let mut names: Vec<String> = released.iter().map(|n| n.to_string()).collect();
    let result = (|| -> Result<()> {
        let mut root_bumped = false;
        for name in &released {
            let pkg = project
                .package(name)
                .with_context(|| format!("package `{name}` is not in the workspace"))?;
            let manifest = pkg.manifest_path.as_std_path().to_path_buf();
            let mut doc: toml_edit::DocumentMut = forge_core::fsx::read_to_string(&manifest)?
                .parse()
                .with_context(|| format!("failed to parse `{}`", manifest.display()))?;
            let inherited = doc["package"]["version"]
                .get("workspace")
                .and_then(|w| w.as_bool())
                == Some(true);
            if inherited && root_bumped {
                continue;
            }
            if inherited {
                root_bumped = true;
                let root_manifest = project.workspace_manifest();
                keep(&root_manifest, &mut originals)?;
                let mut root_doc: toml_edit::DocumentMut =
                    forge_core::fsx::read_to_string(&root_manifest)?
                        .parse()
                        .with_context(|| {
                            format!("failed to parse `{}`", root_manifest.display())
                        })?;
                root_doc["workspace"]["package"]["version"] = toml_edit::value(version.clone());
                forge_core::fsx::write_atomic(&root_manifest, root_doc.to_string().as_bytes())?;
            } else {
                keep(&manifest, &mut originals)?;
                doc["package"]["version"] = toml_edit::value(version.clone());
                forge_core::fsx::write_atomic(&manifest, doc.to_string().as_bytes())?;
            }
        }
        if root_bumped {
            for id in &project.metadata.workspace_members {
                let Some(p) = project.metadata.packages.iter().find(|p| &p.id == id) else {
                    continue;
                };
                let text = forge_core::fsx::read_to_string(p.manifest_path.as_std_path())?;
                let doc: toml_edit::DocumentMut = text
                    .parse()
                    .with_context(|| format!("failed to parse `{}`", p.manifest_path))?;
                let inherits = doc["package"]["version"]
                    .get("workspace")
                    .and_then(|w| w.as_bool())
                    == Some(true);
                if inherits && !names.iter().any(|n| n == p.name.as_str()) {
                    names.push(p.name.to_string());
                }
            }
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
                for name in &names {
                    if let Some(t) = deps
                        .get_mut(name.as_str())
                        .and_then(|d| d.as_table_like_mut())
                    {
                        if t.contains_key("path") && t.contains_key("version") {
                            t.insert("version", toml_edit::value(version.clone()));
                            touched = true;
                        }
                    }
                }
            };
            for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
                update(d.get_mut(table));
                update(d.get_mut("workspace").and_then(|w| w.get_mut(table)));
            }
            if touched {
                keep(&m, &mut originals)?;
                forge_core::fsx::write_atomic(&m, d.to_string().as_bytes())?;
            }
        }
        let lock = project.workspace_root.join("Cargo.lock");
        if lock.is_file() {
            keep(&lock, &mut originals)?;
            forge_core::process::Cmd::new(
                std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            )
            .args(["update", "--workspace", "--offline"])
            .cwd(&project.workspace_root)
            .run(shell)
            .context("failed to update Cargo.lock for the new version")?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        restore(&originals);
        return Err(e);
    }
    Ok(originals)
}

/// Writes back the files [`apply_bump`] changed (a `--dry-run`'s bump).
pub fn restore(originals: &Originals) {
    for (path, bytes) in originals {
        let _ = forge_core::fsx::write_atomic(path, bytes);
    }
}

/// `--bump`: sets the versions ([`apply_bump`]) and commits (one commit).
pub fn bump(project: &Project, plan: &ReleasePlan, shell: &Shell) -> Result<()> {
    let originals = apply_bump(project, plan, shell)?;
    let root = &project.workspace_root;
    let rel: Vec<&Path> = originals
        .iter()
        .map(|(p, _)| p.strip_prefix(root).unwrap_or(p))
        .collect();
    if let Err(e) = crate::git::commit(root, &rel, &bump_message(&plan.version), shell) {
        restore(&originals);
        return Err(e);
    }
    let names: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
    shell.status(
        "Bumped",
        format!(
            "{} to {} ({} files, committed)",
            names.join(", "),
            plan.version,
            rel.len()
        ),
    );
    Ok(())
}

/// Builds `pkg` for `targets` (every target of its plan when empty) and stages its files in
/// `out`: archives, SBOMs, `.deb`s, and the image as an OCI layout (`out/image-<package>`).
/// Returns the assets and the staged image.
pub fn stage_package(
    project: &Project,
    plan: &ReleasePlan,
    pkg: &PackagePlan,
    targets: &[String],
    out: &Path,
    toolchains: &mut Toolchains,
    shell: &Shell,
) -> Result<(Vec<Asset>, Option<StagedImage>)> {
    stage_package_into(project, plan, pkg, targets, out, toolchains, shell)
        .map_err(|e| artifacts::explain_disk_full(e, out))
}

#[allow(clippy::too_many_arguments)]
fn stage_package_into(
    project: &Project,
    plan: &ReleasePlan,
    pkg: &PackagePlan,
    targets: &[String],
    out: &Path,
    toolchains: &mut Toolchains,
    shell: &Shell,
) -> Result<(Vec<Asset>, Option<StagedImage>)> {
    let targets: Vec<&crate::plan::TargetPlan> = if targets.is_empty() {
        pkg.targets.iter().collect()
    } else {
        pkg.targets
            .iter()
            .filter(|t| targets.contains(&t.triple))
            .collect()
    };
    let triples: Vec<String> = targets.iter().map(|t| t.triple.clone()).collect();
    forge_core::fsx::create_dir_all(out)?;
    let package = project
        .package(&pkg.name)
        .with_context(|| format!("package `{}` is not in the workspace", pkg.name))?;

    // Build: one call per (toolchain, backend, glibc), as the plan says; `auto` is decided
    // here, on the machine that builds.
    let mut built: Vec<Artifact> = Vec::new();
    let mut groups: Vec<(
        Option<String>,
        forge_core::cli::BackendChoice,
        Option<String>,
        Vec<String>,
    )> = Vec::new();
    for t in &targets {
        match groups
            .iter_mut()
            .find(|g| g.0 == t.toolchain && g.1 == t.backend && g.2 == t.glibc)
        {
            Some(g) => g.3.push(t.triple.clone()),
            None => groups.push((
                t.toolchain.clone(),
                t.backend,
                t.glibc.clone(),
                vec![t.triple.clone()],
            )),
        }
    }
    // The toolchain the packaging steps see (its host decides what is native).
    let mut packaging_toolchain = None;
    for (tc_spec, backend, glibc, group) in &groups {
        let tc = toolchains.get(tc_spec.as_deref(), shell)?.clone();
        if pkg.no_build {
            built.extend(build::existing_artifacts(
                project,
                &[package],
                group,
                &pkg.profile,
            )?);
        } else {
            let req = BuildRequest {
                workspace_root: project.workspace_root.clone(),
                manifest_path: project.workspace_manifest(),
                target_dir: project.target_dir.clone(),
                packages: vec![pkg.name.clone()],
                features: pkg.features.to_cargo(),
                targets: group.clone(),
                profile: pkg.profile.clone(),
                locked: pkg.locked,
                frozen: pkg.frozen,
                offline: pkg.offline,
                backend: *backend,
                glibc: glibc.clone(),
            };
            let bp = build::plan(&req, &tc, shell)?;
            built.extend(build::execute(&bp, project, shell)?);
        }
        packaging_toolchain.get_or_insert(tc);
    }
    let packaging_toolchain = match packaging_toolchain {
        Some(tc) => tc,
        None => toolchains.get(None, shell)?.clone(),
    };

    let mut assets = Vec::new();
    let pkg_dir = pkg
        .manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if pkg.has("archive") {
        let docs = doc_files(&pkg_dir, &project.workspace_root);
        for t in &triples {
            let mut files: Vec<artifacts::ArchiveFile> = built
                .iter()
                .filter(|a| {
                    a.package == pkg.name
                        && a.kind == "bin"
                        && a.target.as_deref() == Some(t.as_str())
                })
                .map(|a| (a.name.clone(), a.path.clone(), 0o755))
                .collect();
            if files.is_empty() {
                return Err(anyhow::anyhow!(
                    "the build produced no binary of `{}` for {t}",
                    pkg.name
                ))
                .kind(ErrorKind::Build)
                .hint("an archive holds the package's binaries: give it a `[[bin]]` target, or leave \"archive\" out of `artifacts`");
            }
            for d in docs.iter().chain(pkg.include.iter()) {
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
            let root_name = format!("{}-{}-{t}", pkg.name, plan.version);
            let path = artifacts::write_archive(
                out,
                &root_name,
                &files,
                pkg.archive_format,
                plan.source_date_epoch,
            )?;
            shell.status("Archived", path.display());
            assets.push(Asset::of_file(&path, AssetKind::Archive, Some(t.clone()))?);
        }
    }
    if pkg.sbom {
        let features = pkg.features.to_cargo();
        for t in &triples {
            let req = crate::sbom::SbomRequest {
                cargo: &packaging_toolchain.cargo,
                manifest_path: &project.workspace_manifest(),
                workspace_root: &project.workspace_root,
                package: &pkg.name,
                version: &plan.version,
                target: t,
                features: &features,
                locked: pkg.locked,
                frozen: pkg.frozen,
                offline: pkg.offline,
                source_date_epoch: plan.source_date_epoch,
            };
            let path = crate::sbom::write(out, &req, shell)?;
            shell.status("Described", path.display());
            assets.push(Asset::of_file(&path, AssetKind::Sbom, Some(t.clone()))?);
        }
    }
    if let Some(deb_plan) = &pkg.deb {
        let debs = out.join("debs");
        let deb = local_deb_plan(deb_plan, &triples, &debs, &packaging_toolchain);
        for p in cargo_forge_deb::ops::execute_with(project, &deb, Some(&built), shell)? {
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
        let _ = std::fs::remove_dir_all(&debs);
    }
    let mut image = None;
    if let Some(image_plan) = &pkg.image {
        let layout = out.join(format!("image-{}", pkg.name));
        if layout.exists() {
            std::fs::remove_dir_all(&layout)
                .with_context(|| format!("failed to clear `{}`", layout.display()))?;
        }
        let mut ip = image_plan.clone();
        ip.platforms.retain(|p| triples.contains(&p.target.triple));
        ip.toolchain = packaging_toolchain.clone();
        ip.push = false;
        ip.push_by_digest = None;
        ip.outputs = vec![cargo_forge_image::ops::OutputSpec::Oci(layout.clone())];
        let layout_tag = plan.version.replace('+', "_");
        // The layout's image is named by the version (the first tag names it otherwise).
        let tags = std::mem::take(&mut ip.tags);
        if let Some(d) = &ip.deb {
            ip.deb = Some(local_deb_plan(
                d,
                &triples,
                &out.join("image-debs"),
                &packaging_toolchain,
            ));
        }
        let result = cargo_forge_image::ops::execute_with(project, &ip, Some(&built), shell)?;
        let _ = std::fs::remove_dir_all(out.join("image-debs"));
        let names: Vec<String> = tags
            .iter()
            .filter_map(|t| {
                cargo_forge_image::registry::Reference::parse(t)
                    .ok()
                    .and_then(|r| r.tag)
            })
            .collect();
        let tracks = image_plan
            .tracks
            .iter()
            .filter_map(|(reference, track)| {
                let tag = cargo_forge_image::registry::Reference::parse(reference)
                    .ok()?
                    .tag?;
                Some((tag, *track))
            })
            .collect();
        image = Some(StagedImage {
            package: pkg.name.clone(),
            layout,
            layout_tag,
            digest: result.image.digest,
            tags: if names.is_empty() {
                default_image_tags(&plan.version)?.0
            } else {
                names
            },
            tracks: if tags.is_empty() {
                default_image_tags(&plan.version)?.1
            } else {
                tracks
            },
            annotations: image_plan.annotations.clone(),
        });
    }
    Ok((assets, image))
}

/// The default tag templates rendered for `version` (an image plan without a repository has
/// none): names and tracks.
fn default_image_tags(
    version: &str,
) -> Result<(
    Vec<String>,
    std::collections::BTreeMap<String, cargo_forge_image::tags::Track>,
)> {
    let templates: Vec<String> = cargo_forge_image::tags::DEFAULT_TAGS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let tracked = cargo_forge_image::tags::render_tracked(
        &templates,
        &cargo_forge_image::tags::TagContext {
            version: semver::Version::parse(version)?,
            sha: None,
        },
    )?;
    let tracks = tracked
        .iter()
        .filter(|(_, t)| *t != cargo_forge_image::tags::Track::Fixed)
        .map(|(n, t)| (n.clone(), *t))
        .collect();
    Ok((tracked.into_iter().map(|(n, _)| n).collect(), tracks))
}

/// A plan's `.deb` plan as this machine runs it: only `triples`, written into `dir`, with the
/// local toolchain (whose host decides what is native) and this machine's threads.
fn local_deb_plan(
    deb: &cargo_forge_deb::ops::DebPlan,
    triples: &[String],
    dir: &Path,
    toolchain: &forge_core::toolchain::Toolchain,
) -> cargo_forge_deb::ops::DebPlan {
    let mut d = deb.clone();
    d.packages.retain(|j| {
        j.target
            .as_ref()
            .is_some_and(|t| triples.contains(&t.triple))
    });
    for j in &mut d.packages {
        let file = j
            .output
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        j.output = dir.join(file);
    }
    d.toolchain = toolchain.clone();
    d.build = None;
    d.compression.threads = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    d
}

/// Stages every package of a release (every target) into `out` (cleared first).
pub fn stage_unit(
    project: &Project,
    plan: &ReleasePlan,
    unit: &UnitPlan,
    out: &Path,
    toolchains: &mut Toolchains,
    shell: &Shell,
) -> Result<Staged> {
    if out.exists() {
        std::fs::remove_dir_all(out)
            .with_context(|| format!("failed to clear `{}`", out.display()))?;
    }
    forge_core::fsx::create_dir_all(out)?;
    let mut staged = Staged::described(unit, &plan.version, plan.commit.clone());
    staged.dir = out.to_path_buf();
    for name in &unit.packages {
        let pkg = plan
            .package(name)
            .with_context(|| format!("the plan has no package `{name}`"))?;
        let (assets, image) = stage_package(project, plan, pkg, &[], out, toolchains, shell)?;
        staged.assets.extend(assets);
        if image.is_some() {
            staged.image = image;
        }
    }
    Ok(staged)
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
pub fn resumable_staged(release_dir: &Path, plan: &ReleasePlan) -> Result<Option<Staged>> {
    let Some(state) = State::load(&release_dir.join("state.json"))? else {
        return Ok(None);
    };
    if state.completed {
        return Ok(None);
    }
    let path = release_dir.join("staging/staged.json");
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

/// Adds `SHA256SUMS` and signatures to a staged release, and writes its `staged.json`.
pub fn checksum_and_sign(
    staged: &mut Staged,
    unit: &UnitPlan,
    root: &Path,
    shell: &Shell,
) -> Result<()> {
    staged
        .assets
        .retain(|a| a.kind != AssetKind::Checksums && a.kind != AssetKind::Signature);
    let dir = staged.dir.clone();
    checksum_and_sign_into(staged, unit, root, shell)
        .map_err(|e| artifacts::explain_disk_full(e, &dir))
}

fn checksum_and_sign_into(
    staged: &mut Staged,
    unit: &UnitPlan,
    root: &Path,
    shell: &Shell,
) -> Result<()> {
    let sums = artifacts::write_checksums(&staged.dir, &staged.assets)?;
    let mut to_sign: Vec<PathBuf> = staged.assets.iter().map(|a| a.path.clone()).collect();
    to_sign.push(sums.path.clone());
    staged.assets.push(sums);
    let mut sigs = Vec::new();
    if let Some(key) = &unit.sign.gpg {
        shell.status(
            "Signing",
            format!("{} files with gpg key {key}", to_sign.len()),
        );
        for f in &to_sign {
            sigs.push(artifacts::gpg_sign(f, key, shell)?);
        }
    }
    if let Some(key) = &unit.sign.minisign {
        shell.status("Signing", format!("{} files with minisign", to_sign.len()));
        for f in &to_sign {
            sigs.push(artifacts::minisign_sign(f, &root.join(key))?);
        }
    }
    staged.assets.extend(sigs);
    let json = serde_json::to_vec_pretty(staged)?;
    forge_core::fsx::write_atomic(&staged.dir.join("staged.json"), &json)
}

/// The hosts of a release, with credentials: `skip_oci` leaves the `oci` hosts out (the split
/// flow tags images with `merge`).
fn unit_hosts(
    plan: &ReleasePlan,
    unit: &UnitPlan,
    exec: &Exec,
    skip_oci: bool,
) -> Result<Vec<Box<dyn Host>>> {
    unit.hosts
        .iter()
        .filter(|h| !(skip_oci && matches!(h.spec, HostSpec::Oci { .. })))
        .map(|h| make_host(&h.spec, &exec.http, &plan.workspace_root, Credentials::Env))
        .collect()
}

/// `--abort`: rolls back every host's unpublished uploads (drafts, partial directories) and
/// removes the state file. Published releases are never touched.
pub fn abort(
    project: &Project,
    plan: &ReleasePlan,
    unit: &UnitPlan,
    exec: &Exec,
    shell: &Shell,
) -> Result<()> {
    let release_dir = crate::plan::release_dir(&project.target_dir, unit);
    let state_path = release_dir.join("state.json");
    let Some(mut state) = State::load(&state_path)? else {
        shell.status(
            "Unchanged",
            format!(
                "no release of {} {} in progress",
                unit.packages.join(", "),
                plan.version
            ),
        );
        return Ok(());
    };
    if state.tag_pushed || state.hosts.values().any(|h| h.published) {
        return Err(usage(format!(
            "{} is already (partly) published: it cannot be aborted; run the same command again to finish it",
            unit.tag
        )));
    }
    let staged: Staged = serde_json::from_slice(&forge_core::fsx::read(
        &release_dir.join("staging/staged.json"),
    )?)
    .context("the staged release is gone: nothing to roll back against")?;
    for h in unit_hosts(plan, unit, exec, false)? {
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
    published: &[(&UnitPlan, Staged)],
    exec: &Exec,
    shell: &Shell,
) -> Result<()> {
    use forge_core::gha::{code, Table};
    let gha = shell.gha();
    if !gha.is_enabled() {
        return Ok(());
    }
    let mut hosts = Table::new(&["Host", "Published at"]);
    let mut assets = Table::new(&["Asset", "Target", "Size (bytes)", "SHA-256"]);
    let mut page = None;
    let mut first = None;
    let mut paths: Vec<String> = Vec::new();
    for (unit, staged) in published {
        let state_path = crate::plan::release_dir(&project.target_dir, unit).join("state.json");
        let state = State::load(&state_path)?.unwrap_or_default();
        for h in &unit.hosts {
            let host = make_host(&h.spec, &exec.http, &plan.workspace_root, Credentials::None)?;
            let host_state = state.hosts.get(&host.id()).cloned().unwrap_or_default();
            let url = host.release_url(staged, &host_state);
            if let Some(u) = &url {
                if page.is_none()
                    && matches!(h.spec, HostSpec::Github { .. } | HostSpec::Gitea { .. })
                {
                    page = Some(u.clone());
                }
                first.get_or_insert_with(|| u.clone());
            }
            hosts.row(vec![code(&host.id()), url.unwrap_or_default()]);
        }
        for a in &staged.assets {
            assets.row(vec![
                code(&a.name),
                a.target.clone().unwrap_or_default(),
                a.size.to_string(),
                code(&a.sha256),
            ]);
            paths.push(a.path.display().to_string());
        }
    }
    let tags: Vec<&str> = published.iter().map(|(u, _)| u.tag.as_str()).collect();
    let names: Vec<&str> = published
        .iter()
        .flat_map(|(u, _)| u.packages.iter().map(String::as_str))
        .collect();
    gha.summary(&format!(
        "### cargo forge-release: {} {} (tag {})\n\n{}\n{}",
        names.join(", "),
        plan.version,
        tags.iter().map(|t| code(t)).collect::<Vec<_>>().join(", "),
        hosts.render(),
        assets.render()
    ))?;
    gha.output("version", &plan.version)?;
    gha.output("tag", &tags.join("\n"))?;
    gha.output("release-url", &page.or(first).unwrap_or_default())?;
    gha.output("artifacts", &paths.join("\n"))
}

/// Publishes a staged release to every host of `unit`, resumably.
pub fn publish(
    project: &Project,
    plan: &ReleasePlan,
    unit: &UnitPlan,
    staged: &Staged,
    exec: &Exec,
    skip_oci: bool,
    no_tag: bool,
    shell: &Shell,
) -> Result<()> {
    let root = &project.workspace_root;
    let hosts = unit_hosts(plan, unit, exec, skip_oci)?;
    let state_path = crate::plan::release_dir(&project.target_dir, unit).join("state.json");
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
                    unit.packages.join(", "),
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
                    unit.tag,
                    state_path.display()
                )));
            }
            State {
                version: plan.version.clone(),
                tag: unit.tag.clone(),
                checksums: sums.clone(),
                ..s
            }
        }
        Some(s) => {
            shell.status(
                "Resuming",
                format!("{} from `{}`", unit.tag, state_path.display()),
            );
            s
        }
        None => State {
            version: plan.version.clone(),
            tag: unit.tag.clone(),
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
    if unit.make_tag && !no_tag {
        if !state.tag_created {
            if !crate::git::tag_exists(root, &unit.tag, shell)? {
                let kind = if unit.sign.tag == Some(true) {
                    crate::git::TagKind::Signed(unit.sign.gpg.clone())
                } else {
                    crate::git::TagKind::Annotated
                };
                crate::git::create_tag(
                    root,
                    &unit.tag,
                    &format!("{} {}", unit.packages.join(", "), plan.version),
                    &kind,
                    shell,
                )
                .with_context(|| format!("failed to create tag `{}`", unit.tag))
                .hint("nothing is visible yet; fix the cause and run the same command again")?;
            }
            state.tag_created = true;
            state.save(&state_path)?;
            shell.status("Tagged", &unit.tag);
        }
        if let (Some(r), false) = (&unit.remote, state.tag_pushed) {
            crate::git::push_tag(root, r, &unit.tag, plan.bump, shell)
                .with_context(|| format!("failed to push tag `{}` to `{r}`", unit.tag))
                .kind(ErrorKind::Network)?;
            state.tag_pushed = true;
            state.save(&state_path)?;
            shell.status("Pushed", format!("tag {} to {r}", unit.tag));
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
