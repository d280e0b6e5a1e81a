//! `cargo forge-release`: versioned, signed, atomic releases to several hosts.
//!
//! Modules: [`cli`] (flags), [`plan`] (the release plan, the contract between phases),
//! [`ops`] (executing it: stage, sign, publish), [`version`], [`config`] (the release table),
//! [`git`], [`artifacts`] (archives, checksums, signatures), [`stage`] (the staged release),
//! [`state`] (resumption), [`hosts`] (where releases go), [`ci`] (the generated workflow),
//! [`init`] (the starter table of `cargo forge-release init`), [`json`] (the documents of
//! `--message-format json`).
//!
//! The commands here are thin: the one-shot [`release`] and the phases [`plan_phase`],
//! [`build_phase`], [`push_image_phase`], [`publish_phase`] and [`merge_phase`] make or read the
//! plan and hand it to [`ops`].

pub mod artifacts;
pub mod ci;
pub mod cli;
pub mod config;
pub mod git;
pub mod hosts;
pub mod init;
pub mod json;
pub mod ops;
pub mod plan;
pub mod sbom;
pub mod stage;
pub mod state;
pub mod version;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use forge_core::ResultExt;

use forge_core::Shell;

use crate::plan::{ReleasePlan, UnitPlan};

/// Parses argv and runs the command. Returns the shell (for error reporting) and the result.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> Result<(Shell, Result<()>)> {
    let cli::Cargo::ForgeRelease(cli) = forge_core::json::parse_args(args);
    let (shell, result) = match cli.command {
        Some(cli::ReleaseCommand::Init(init)) => {
            let shell = init.output.shell();
            let r = init::run(&init, &shell);
            (shell, r)
        }
        None => {
            let shell = cli.args.common.output.shell();
            let r = release(&cli.args, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Plan(p)) => {
            let shell = p.common.output.shell();
            let r = plan_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Build(p)) => {
            let shell = p.output.shell();
            let r = build_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::PushImage(p)) => {
            let shell = p.output.shell();
            let r = push_image_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Publish(p)) => {
            let shell = p.output.shell();
            let r = publish_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Merge(p)) => {
            let shell = p.output.shell();
            let r = merge_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Ci(c)) => {
            let shell = c.output.shell();
            let r = ci::command(&c, &shell);
            (shell, r)
        }
    };
    Ok((shell, result))
}

/// `cargo forge-release VERSION`: plan, check every secret, confirm, build, publish — the
/// phases' plan, run in one process.
pub fn release(args: &cli::ReleaseArgs, shell: &Shell) -> Result<()> {
    let version = args
        .release_version
        .as_deref()
        .context("a version is required")?;
    let req = plan::Request {
        version,
        settings: plan::PlanSettings::from_args(&args.common),
        bump: args.bump,
        allow_dirty: args.allow_dirty,
        no_tag: args.no_tag,
        notes: args.notes.as_deref(),
        publishing: !args.abort,
        tag_may_exist: false,
        insecure_registries: &args.network.insecure_registries,
        sign_key: args.sign_key.as_deref(),
    };
    let (project, mut plan, mut toolchains) = plan::make(&req, shell)?;
    let exec = ops::Exec::new(
        &plan,
        args.network.retries,
        &args.network.insecure_registries,
    )?;
    if args.abort {
        for u in &plan.releases {
            let _held = lock_release(&project, u, args.no_wait, shell)?;
            ops::abort(&project, &plan, u, &exec, shell)?;
        }
        return Ok(());
    }
    // `--dry-run`, as in every command: the plan, printed; nothing read that is secret,
    // nothing built or written.
    if args.dry_run {
        if shell.is_json() {
            shell.json(&plan)?;
        } else {
            ops::show(&plan, shell);
            shell.status("Planned", "nothing built or published (--dry-run)");
        }
        return Ok(());
    }
    let units: Vec<&UnitPlan> = plan.releases.iter().collect();
    // Every secret the run needs, before its first side effect (a staging run publishes
    // nothing, so it needs no host credentials; it signs, so it needs the keys).
    ops::check_secrets(&plan, &units, &exec, !args.stage_only, true, shell)?;
    if !args.stage_only {
        if shell.is_json() && !args.yes {
            return Err(forge_core::exit::usage(
                "`--message-format json` cannot ask for confirmation: pass `--yes`, or `--dry-run` for the plan",
            ));
        }
        if !shell.is_json() {
            ops::show(&plan, shell);
        }
        ops::confirm(args.yes, shell)?;
    }
    write_plan(&plan_file(&project.target_dir), &plan)?;
    // A staging run stages what the bump would give (the bumped version in every file), then
    // puts the manifests back.
    let mut originals = None;
    if plan.bump {
        if args.stage_only {
            shell.note(format!(
                "--stage-only: the version is set to {} while staging, then put back (nothing is committed)",
                plan.version
            ));
            originals = Some(ops::apply_bump(&project, &plan, shell)?);
        } else {
            ops::bump(&project, &plan, shell)?;
            plan.commit = git::head(&project.workspace_root, shell).ok();
        }
    }
    let result = stage_and_publish(&project, &plan, &mut toolchains, &exec, args, shell);
    if let Some(o) = &originals {
        ops::restore(o);
    }
    result
}

/// The lock on a release's state directory (`target/forge/release/<package>/<version>/`):
/// waits for another run holding it (a status line names it), or fails at once with `no_wait`.
fn lock_release(
    project: &forge_core::project::Project,
    unit: &UnitPlan,
    no_wait: bool,
    shell: &Shell,
) -> Result<forge_core::fsx::DirLock> {
    let dir = plan::release_dir(&project.target_dir, unit);
    forge_core::fsx::lock_dir(
        &dir,
        &format!("the release {} {}", unit.packages.join(", "), unit.tag),
        !no_wait,
        shell,
    )
}

fn stage_and_publish(
    project: &forge_core::project::Project,
    plan: &ReleasePlan,
    toolchains: &mut plan::Toolchains,
    exec: &ops::Exec,
    args: &cli::ReleaseArgs,
    shell: &Shell,
) -> Result<()> {
    // Each release's state directory is held from before its state is read until the run ends,
    // so two runs of one release never interleave their read-modify-write of `state.json`.
    let mut _held = Vec::new();
    let mut staged_units: Vec<(&UnitPlan, stage::Staged)> = Vec::new();
    for unit in &plan.releases {
        _held.push(lock_release(project, unit, args.no_wait, shell)?);
        let dir = plan::release_dir(&project.target_dir, unit);
        // A run in progress publishes the files it staged, byte for byte (signatures carry a
        // time: signing again would give different files than those already uploaded).
        let staged = match (args.stage_only, ops::resumable_staged(&dir, plan)?) {
            (false, Some(staged)) => {
                shell.status(
                    "Resuming",
                    format!("with the files staged in `{}`", staged.dir.display()),
                );
                staged
            }
            _ => {
                let mut staged =
                    ops::stage_unit(project, plan, unit, &dir.join("staging"), toolchains, shell)?;
                ops::checksum_and_sign(&mut staged, unit, &project.workspace_root, shell)?;
                staged
            }
        };
        staged_units.push((unit, staged));
    }
    if args.stage_only {
        if shell.is_json() {
            shell.json(&json::StagedDocument {
                plan: plan.clone(),
                staged: staged_units.iter().map(|(_, s)| s.clone()).collect(),
            })?;
        } else {
            ops::show(plan, shell);
            for (_, s) in &staged_units {
                shell.status(
                    "Staged",
                    format!(
                        "{} files in {} (nothing published: --stage-only)",
                        s.assets.len(),
                        s.dir.display()
                    ),
                );
            }
        }
        return Ok(());
    }
    for (unit, staged) in &staged_units {
        ops::publish(project, plan, unit, staged, exec, false, args.no_tag, shell)?;
    }
    ops::report_gha(project, plan, &staged_units, exec, shell)?;
    report_published(plan, &staged_units, shell)
}

fn report_published(
    plan: &ReleasePlan,
    published: &[(&UnitPlan, stage::Staged)],
    shell: &Shell,
) -> Result<()> {
    if shell.is_json() {
        let releases = published
            .iter()
            .map(|(u, s)| json::PublishedRelease {
                tag: u.tag.clone(),
                packages: u.packages.clone(),
                assets: s.assets.clone(),
            })
            .collect();
        shell.json(&json::PublishedDocument {
            version: plan.version.clone(),
            releases,
        })?;
    }
    for (u, s) in published {
        shell.status(
            "Released",
            format!(
                "{} {} ({} files, tag {})",
                u.packages.join(", "),
                plan.version,
                s.assets.len(),
                u.tag
            ),
        );
    }
    Ok(())
}

/// `target/forge/release/plan.json`.
fn plan_file(target_dir: &Path) -> PathBuf {
    plan::default_plan_dir(target_dir).join("plan.json")
}

fn write_plan(path: &Path, plan: &ReleasePlan) -> Result<()> {
    forge_core::fsx::write_atomic(path, &serde_json::to_vec_pretty(plan)?)
}

/// `cargo forge-release plan VERSION`: decides everything, reads no secret, writes plan.json
/// and prints its path.
pub fn plan_phase(p: &cli::PlanArgs, shell: &Shell) -> Result<()> {
    let req = plan::Request {
        version: &p.release_version,
        settings: plan::PlanSettings::from_args(&p.common),
        bump: false,
        allow_dirty: true,
        no_tag: false,
        notes: p.notes.as_deref(),
        publishing: false,
        tag_may_exist: false,
        insecure_registries: &p.network.insecure_registries,
        sign_key: p.sign_key.as_deref(),
    };
    let (project, plan, _) = plan::make(&req, shell)?;
    let path = match &p.out {
        Some(dir) => std::path::absolute(dir)
            .with_context(|| format!("failed to resolve `{}`", dir.display()))?
            .join("plan.json"),
        None => plan_file(&project.target_dir),
    };
    write_plan(&path, &plan)?;
    if shell.is_json() {
        shell.json(&json::PlannedDocument { path, plan })?;
    } else {
        ops::show(&plan, shell);
        shell.status("Wrote", path.display());
        shell.data(path.display());
    }
    Ok(())
}

/// A phase's plan: the workspace of the current directory (or `--manifest-path`), the plan
/// read and checked against this checkout's commit and this cargo-forge.
fn load_plan(
    args: &cli::PlanFileArgs,
    shell: &Shell,
) -> Result<(forge_core::project::Project, ReleasePlan, plan::Toolchains)> {
    let mut toolchains = plan::Toolchains::default();
    let tc = toolchains.get(None, shell)?.clone();
    let request = forge_core::project::ProjectRequest {
        manifest_path: args.manifest_path.clone(),
        ..Default::default()
    };
    let project = forge_core::project::Project::load(&request, &tc, shell)?;
    let plan = plan::read(&args.plan, &project)?;
    let head = if git::is_repo(&project.workspace_root, shell) {
        git::head(&project.workspace_root, shell).ok()
    } else {
        None
    };
    plan.check_here(&args.plan, head.as_deref())?;
    Ok((project, plan, toolchains))
}

/// `cargo forge-release build --plan FILE [--target T]... --out DIR`: the plan's builds for
/// `T`, staged into `DIR/<package>/<target>/`. Reads no secret.
pub fn build_phase(p: &cli::BuildArgs, shell: &Shell) -> Result<()> {
    let (project, plan, mut toolchains) = load_plan(&p.plan, shell)?;
    let all: Vec<String> = plan.packages.iter().flat_map(|pk| pk.triples()).collect();
    for t in &p.targets {
        if !all.contains(t) {
            let mut known = all.clone();
            known.sort();
            known.dedup();
            return Err(forge_core::exit::usage(format!(
                "`--target {t}` is not a target of the plan `{}` (its targets: {})",
                p.plan.plan.display(),
                known.join(", ")
            )));
        }
    }
    let out = std::path::absolute(&p.out)
        .with_context(|| format!("failed to resolve `{}`", p.out.display()))?;
    let mut count = 0;
    let mut built = Vec::new();
    for pkg in &plan.packages {
        let unit = plan
            .unit_of(&pkg.name)
            .with_context(|| format!("the plan has no release of `{}`", pkg.name))?;
        for t in pkg.triples() {
            if !p.targets.is_empty() && !p.targets.contains(&t) {
                continue;
            }
            let dir = out.join(&pkg.name).join(&t);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("failed to clear `{}`", dir.display()))?;
            }
            let (assets, image) = ops::stage_package(
                &project,
                &plan,
                pkg,
                std::slice::from_ref(&t),
                &dir,
                &mut toolchains,
                shell,
            )?;
            let mut staged = stage::Staged::described(unit, &plan.version, plan.commit.clone());
            staged.package = pkg.name.clone();
            staged.packages = vec![pkg.name.clone()];
            staged.dir = dir.clone();
            staged.target = Some(t.clone());
            count += assets.len();
            staged.assets = assets;
            staged.image = image;
            forge_core::fsx::write_atomic(
                &dir.join("staged.json"),
                &serde_json::to_vec_pretty(&staged)?,
            )?;
            shell.status(
                "Staged",
                format!(
                    "{} {t}: {} files in {}",
                    pkg.name,
                    staged.assets.len(),
                    dir.display()
                ),
            );
            built.push(staged);
        }
    }
    shell.status(
        "Finished",
        format!("{count} files staged in {}", out.display()),
    );
    if shell.is_json() {
        shell.json(&json::BuiltDocument { staged: built })?;
    }
    Ok(())
}

/// One `build` output: its `staged.json`, read, with the directory it is in now (artifacts
/// move between runners: paths are taken relative to it).
struct Part {
    dir: PathBuf,
    staged: stage::Staged,
}

fn read_parts(dir: &Path, plan: &ReleasePlan) -> Result<Vec<Part>> {
    let mut files = Vec::new();
    find_files(
        dir,
        &|p| p.file_name().is_some_and(|n| n == "staged.json"),
        &mut files,
    )?;
    let mut parts = Vec::new();
    for f in files {
        let staged: stage::Staged = serde_json::from_slice(&forge_core::fsx::read(&f)?)
            .with_context(|| format!("`{}` is not a staged.json of `build`", f.display()))
            .kind(forge_core::ErrorKind::Usage)?;
        if staged.version != plan.version {
            return Err(forge_core::exit::usage(format!(
                "`{}` is for version {}, not {}",
                f.display(),
                staged.version,
                plan.version
            )))
            .hint("the artifacts directory holds `build` outputs of two releases: empty it and run `cargo forge-release build` again");
        }
        if plan.package(&staged.package).is_none() {
            return Err(forge_core::exit::usage(format!(
                "`{}` is of package `{}`, which the plan does not release",
                f.display(),
                staged.package
            )));
        }
        parts.push(Part {
            dir: f.parent().unwrap_or(Path::new(".")).to_path_buf(),
            staged,
        });
    }
    Ok(parts)
}

/// The files below `dir` (recursively) that `want` picks, sorted.
fn find_files(dir: &Path, want: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in
        std::fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))?
    {
        let p = e
            .with_context(|| format!("failed to read `{}`", dir.display()))?
            .path();
        if p.is_dir() {
            find_files(&p, want, out)?;
        } else if want(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(())
}

/// The image of a part, with its layout where the part is now.
fn part_layout(part: &Part) -> Option<(stage::StagedImage, PathBuf)> {
    let image = part.staged.image.clone()?;
    let layout = part.dir.join(image.layout.file_name()?);
    Some((image, layout))
}

/// `registry/repository` of an image reference, as digest files name it.
fn repository_name(repository: &str) -> Result<String> {
    let r = cargo_forge_image::registry::Reference::parse(repository)?;
    Ok(format!("{}/{}", r.registry, r.repository))
}

/// `cargo forge-release push-image`: every platform image `build` staged, pushed by digest and
/// untagged to the plan's `oci` hosts; a digest file each. Runs no build.
pub fn push_image_phase(p: &cli::PushImageArgs, shell: &Shell) -> Result<()> {
    let (_project, plan, _) = load_plan(&p.plan, shell)?;
    let exec = ops::Exec::new(&plan, p.network.retries, &p.network.insecure_registries)?;
    let parts = read_parts(&p.artifacts, &plan)?;
    forge_core::fsx::create_dir_all(&p.digests)?;
    let mut written = Vec::new();
    for part in &parts {
        let Some((image, layout)) = part_layout(part) else {
            continue;
        };
        let unit = plan
            .unit_of(&part.staged.package)
            .with_context(|| format!("the plan has no release of `{}`", part.staged.package))?;
        let pkg = plan
            .package(&part.staged.package)
            .expect("checked by read_parts");
        let target = part.staged.target.clone().unwrap_or_default();
        let platform = pkg
            .image
            .as_ref()
            .and_then(|i| i.platforms.iter().find(|pl| pl.target.triple == target))
            .map(|pl| pl.platform.clone())
            .with_context(|| {
                format!(
                    "the plan has no image platform of `{}` for {target}",
                    pkg.name
                )
            })?;
        let read = cargo_forge_image::push::read_layout(&layout, &image.layout_tag)?;
        let manifest = read
            .manifests
            .first()
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| read.top.1.clone());
        let repositories: Vec<&String> = unit
            .hosts
            .iter()
            .filter_map(|h| match &h.spec {
                hosts::HostSpec::Oci { repository } => Some(repository),
                _ => None,
            })
            .collect();
        if repositories.is_empty() {
            shell.note(format!(
                "the release of `{}` has no `oci` host: its image is not pushed",
                pkg.name
            ));
        }
        for (i, repository) in repositories.iter().enumerate() {
            cargo_forge_image::push::push_layout_untagged(&exec.http, &read, repository, shell)?;
            let file = cargo_forge_image::push::DigestFile {
                digest: manifest.digest.clone(),
                size: manifest.size,
                media_type: manifest.media_type.clone(),
                platform: platform.clone(),
                repository: repository_name(repository)?,
                annotations: image.annotations.clone(),
            };
            let name = format!(
                "{}-{}{}.json",
                pkg.name,
                platform.display().replace('/', "-"),
                if i == 0 {
                    String::new()
                } else {
                    format!("-{i}")
                }
            );
            let path = p.digests.join(name);
            forge_core::fsx::write_atomic(&path, &serde_json::to_vec_pretty(&file)?)?;
            shell.status("Wrote", format!("{} ({})", path.display(), file.digest));
            written.push(json::WrittenDigestFile {
                path,
                digest: file.digest,
                repository: file.repository,
                platform: file.platform.display(),
            });
        }
    }
    if written.is_empty() && !parts.iter().any(|p| p.staged.image.is_some()) {
        shell.note(format!(
            "no image staged under `{}`: nothing to push",
            p.artifacts.display()
        ));
    }
    if shell.is_json() {
        shell.json(&json::DigestsDocument {
            digest_files: written,
        })?;
    }
    Ok(())
}

/// `cargo forge-release publish --plan FILE --artifacts DIR`: every runner's files merged,
/// checksummed and signed, every secret checked before the first side effect, published to
/// every host of the plan but the registries (`merge` tags the images).
pub fn publish_phase(p: &cli::PublishArgs, shell: &Shell) -> Result<()> {
    let (project, plan, _) = load_plan(&p.plan, shell)?;
    let exec = ops::Exec::new(&plan, p.network.retries, &p.network.insecure_registries)?;
    let units: Vec<&UnitPlan> = plan.releases.iter().collect();
    // The git state (the tag may exist already at HEAD: CI publishes from the pushed tag) and
    // every secret, before the first side effect.
    let problems = plan::check_git(
        &project.workspace_root,
        &project.target_dir,
        &plan.releases,
        false,
        true,
        p.no_tag,
        shell,
    )?;
    if !problems.is_empty() {
        let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
        return Err(forge_core::exit::usage(format!(
            "cannot publish {}: nothing was done{list}",
            plan.version
        )));
    }
    ops::check_secrets(&plan, &units, &exec, true, true, shell)?;
    let parts = read_parts(&p.artifacts, &plan)?;
    // Every target of every package, built: before anything is published.
    let mut missing = Vec::new();
    for pkg in &plan.packages {
        for t in pkg.triples() {
            if !parts.iter().any(|part| {
                part.staged.package == pkg.name && part.staged.target.as_deref() == Some(t.as_str())
            }) {
                missing.push(format!("`{}` for {t}", pkg.name));
            }
        }
    }
    if !missing.is_empty() {
        return Err(forge_core::exit::usage(format!(
            "no `build` output under `{}` of {}: nothing was published",
            p.artifacts.display(),
            missing.join(", ")
        )))
        .hint("run `cargo forge-release build --plan … --target T --out DIR` for each, and publish with every runner's DIR under `--artifacts`");
    }
    let mut _held = Vec::new();
    let mut merged_units: Vec<(&UnitPlan, stage::Staged)> = Vec::new();
    for unit in &plan.releases {
        _held.push(lock_release(&project, unit, false, shell)?);
        let dir = plan::release_dir(&project.target_dir, unit).join("merged");
        let _ = std::fs::remove_dir_all(&dir);
        forge_core::fsx::create_dir_all(&dir)?;
        let mut merged = stage::Staged::described(unit, &plan.version, plan.commit.clone());
        merged.dir = dir.clone();
        for part in parts
            .iter()
            .filter(|pt| unit.packages.contains(&pt.staged.package))
        {
            for a in part.staged.assets.iter().filter(|a| {
                a.kind != stage::AssetKind::Checksums && a.kind != stage::AssetKind::Signature
            }) {
                let src = part.dir.join(&a.name);
                let dest = dir.join(&a.name);
                std::fs::copy(&src, &dest)
                    .with_context(|| format!("failed to copy `{}`", src.display()))?;
                let copied = stage::Asset::of_file(&dest, a.kind, a.target.clone())?;
                if copied.sha256 != a.sha256 {
                    return Err(anyhow::anyhow!(
                        "`{}` does not match its checksum in `{}`",
                        src.display(),
                        part.dir.join("staged.json").display()
                    ))
                    .kind(forge_core::ErrorKind::Check)
                    .hint("the file changed after `cargo forge-release build` staged it: run that build again");
                }
                if !merged.assets.iter().any(|m| m.name == copied.name) {
                    merged.assets.push(copied);
                }
            }
        }
        ops::checksum_and_sign(&mut merged, unit, &project.workspace_root, shell)?;
        merged_units.push((unit, merged));
    }
    ops::show(&plan, shell);
    ops::confirm(p.yes, shell)?;
    for (unit, merged) in &merged_units {
        ops::publish(&project, &plan, unit, merged, &exec, true, p.no_tag, shell)?;
    }
    ops::report_gha(&project, &plan, &merged_units, &exec, shell)?;
    report_published(&plan, &merged_units, shell)
}

/// `cargo forge-release merge --plan FILE --digests DIR`: per package image, the platform
/// digests joined into the index, pushed by digest, then the plan's tags — moving ones only
/// forward.
pub fn merge_phase(p: &cli::MergeArgs, shell: &Shell) -> Result<()> {
    let (_project, plan, _) = load_plan(&p.plan, shell)?;
    let exec = ops::Exec::new(&plan, p.network.retries, &p.network.insecure_registries)?;
    let mut files = Vec::new();
    find_files(
        &p.digests,
        &|p| p.extension().is_some_and(|x| x == "json"),
        &mut files,
    )?;
    let mut digests: Vec<cargo_forge_image::push::DigestFile> = Vec::new();
    for f in &files {
        let d: cargo_forge_image::push::DigestFile =
            serde_json::from_slice(&forge_core::fsx::read(f)?)
                .with_context(|| format!("`{}` is not a digest file of `push-image`", f.display()))
                .kind(forge_core::ErrorKind::Usage)?;
        digests.push(d);
    }
    let version = semver::Version::parse(&plan.version)?;
    let mut merged = Vec::new();
    for unit in &plan.releases {
        for name in &unit.packages {
            let Some(image) = plan.package(name).and_then(|pk| pk.image.as_ref()) else {
                continue;
            };
            for h in &unit.hosts {
                let hosts::HostSpec::Oci { repository } = &h.spec else {
                    continue;
                };
                let repo_name = repository_name(repository)?;
                let mine: Vec<cargo_forge_image::push::DigestFile> = digests
                    .iter()
                    .filter(|d| d.repository == repo_name)
                    .cloned()
                    .collect();
                let missing: Vec<String> = image
                    .platforms
                    .iter()
                    .filter(|pl| !mine.iter().any(|d| d.platform == pl.platform))
                    .map(|pl| pl.platform.display())
                    .collect();
                if !missing.is_empty() {
                    return Err(forge_core::exit::usage(format!(
                        "no digest file under `{}` for {} of `{name}` in {repository}: nothing was merged",
                        p.digests.display(),
                        missing.join(", ")
                    )))
                    .hint("run `cargo forge-release push-image` on every build runner first");
                }
                // The plan's tags (names), in this repository.
                let mut tags = Vec::new();
                let mut tracks = std::collections::BTreeMap::new();
                for reference in &image.tags {
                    let Some(tag) = cargo_forge_image::registry::Reference::parse(reference)?.tag
                    else {
                        continue;
                    };
                    let full = format!("{repository}:{tag}");
                    if let Some(track) = image.tracks.get(reference) {
                        tracks.insert(full.clone(), *track);
                    }
                    tags.push(full);
                }
                let (digest, pushed) = cargo_forge_image::push::merge_and_tag(
                    &exec.http,
                    &mine,
                    &image.annotations,
                    &tags,
                    &tracks,
                    &version,
                    shell,
                )?;
                shell.status(
                    "Merged",
                    format!("{} platforms into {repository}@{digest}", mine.len()),
                );
                if !shell.is_json() {
                    for r in &pushed {
                        shell.data(r);
                    }
                }
                merged.push(json::MergedImage {
                    package: name.clone(),
                    repository: repository.clone(),
                    digest,
                    pushed,
                });
            }
        }
    }
    if merged.is_empty() {
        shell.note("the plan has no image for an `oci` host: nothing to merge");
    }
    if shell.is_json() {
        shell.json(&json::MergedDocument { images: merged })?;
    }
    Ok(())
}
