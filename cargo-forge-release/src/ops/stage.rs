//! Building and staging ([`stage_package`], [`stage_unit`]): the build engine per (toolchain,
//! backend, glibc) group of targets, then the archives, SBOMs, `.deb`s and the image (an OCI
//! layout) made from those binaries by executing the plan's sub-plans; then `SHA256SUMS` and
//! signatures ([`checksum_and_sign`]). A resumed run reuses a staging whose files are unchanged
//! ([`resumable_staged`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::build::{self, Artifact, BuildRequest};
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::project::Project;
use forge_core::Shell;

use super::*;
use crate::artifacts;
use crate::plan::{PackagePlan, ReleasePlan, Toolchains, UnitPlan};
use crate::stage::{Asset, AssetKind, Staged, StagedImage};

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
    let (built, packaging_toolchain) = build_targets(project, pkg, &targets, toolchains, shell)?;
    let mut assets = Vec::new();
    if pkg.has("archive") {
        stage_archives(
            project,
            plan,
            pkg,
            &triples,
            &built,
            out,
            &mut assets,
            shell,
        )?;
    }
    if pkg.sbom {
        stage_sboms(
            project,
            plan,
            pkg,
            &triples,
            &packaging_toolchain,
            out,
            &mut assets,
            shell,
        )?;
    }
    if let Some(deb_plan) = &pkg.deb {
        let stage = Staging {
            project,
            triples: &triples,
            built: &built,
            toolchain: &packaging_toolchain,
            out,
        };
        stage_debs(&stage, deb_plan, &mut assets, shell)?;
    }
    let image = match &pkg.image {
        Some(image_plan) => {
            let stage = Staging {
                project,
                triples: &triples,
                built: &built,
                toolchain: &packaging_toolchain,
                out,
            };
            Some(stage_image(&stage, plan, pkg, image_plan, shell)?)
        }
        None => None,
    };
    Ok((assets, image))
}

/// What the packaging steps of one package read: the project, the targets staged, the
/// binaries built, the toolchain (its host decides what is native) and the staging directory.
struct Staging<'a> {
    project: &'a Project,
    triples: &'a [String],
    built: &'a [Artifact],
    toolchain: &'a forge_core::toolchain::Toolchain,
    out: &'a Path,
}

/// Builds the package's `targets`: one call per (toolchain, backend, glibc), as the plan says;
/// `auto` is decided here, on the machine that builds. Returns the binaries and the toolchain
/// the packaging steps see.
fn build_targets(
    project: &Project,
    pkg: &PackagePlan,
    targets: &[&crate::plan::TargetPlan],
    toolchains: &mut Toolchains,
    shell: &Shell,
) -> Result<(Vec<Artifact>, forge_core::toolchain::Toolchain)> {
    let package = project
        .package(&pkg.name)
        .with_context(|| format!("package `{}` is not in the workspace", pkg.name))?;
    let mut built: Vec<Artifact> = Vec::new();
    let mut groups: Vec<(
        Option<String>,
        forge_core::cli::BackendChoice,
        Option<String>,
        Vec<String>,
    )> = Vec::new();
    for t in targets {
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
    Ok((built, packaging_toolchain))
}

/// An archive per target: the package's binaries, its README and license files and the
/// `include` files.
#[allow(clippy::too_many_arguments)]
fn stage_archives(
    project: &Project,
    plan: &ReleasePlan,
    pkg: &PackagePlan,
    triples: &[String],
    built: &[Artifact],
    out: &Path,
    assets: &mut Vec<Asset>,
    shell: &Shell,
) -> Result<()> {
    let pkg_dir = pkg
        .manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let docs = doc_files(&pkg_dir, &project.workspace_root);
    for t in triples {
        let mut files: Vec<artifacts::ArchiveFile> = built
            .iter()
            .filter(|a| {
                a.package == pkg.name && a.kind == "bin" && a.target.as_deref() == Some(t.as_str())
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
    Ok(())
}

/// A CycloneDX SBOM per target.
#[allow(clippy::too_many_arguments)]
fn stage_sboms(
    project: &Project,
    plan: &ReleasePlan,
    pkg: &PackagePlan,
    triples: &[String],
    packaging_toolchain: &forge_core::toolchain::Toolchain,
    out: &Path,
    assets: &mut Vec<Asset>,
    shell: &Shell,
) -> Result<()> {
    let features = pkg.features.to_cargo();
    for t in triples {
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
    Ok(())
}

/// The `.deb`s of the plan's `.deb` plan, built from the binaries just built.
fn stage_debs(
    stage: &Staging<'_>,
    deb_plan: &cargo_forge_deb::ops::DebPlan,
    assets: &mut Vec<Asset>,
    shell: &Shell,
) -> Result<()> {
    let Staging {
        project,
        triples,
        built,
        toolchain: packaging_toolchain,
        out,
    } = *stage;
    let debs = out.join("debs");
    let deb = local_deb_plan(deb_plan, &triples, &debs, &packaging_toolchain);
    for p in cargo_forge_deb::ops::execute_with(project, &deb, Some(built), shell)? {
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
    Ok(())
}

/// The image as an OCI layout (`out/image-<package>`), from the binaries just built, named by
/// the version, with the tags and tracks the plan gives it.
fn stage_image(
    stage: &Staging<'_>,
    plan: &ReleasePlan,
    pkg: &PackagePlan,
    image_plan: &cargo_forge_image::ops::ImagePlan,
    shell: &Shell,
) -> Result<StagedImage> {
    let Staging {
        project,
        triples,
        built,
        toolchain: packaging_toolchain,
        out,
    } = *stage;
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
    let result = cargo_forge_image::ops::execute_with(project, &ip, Some(built), shell)?;
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
    Ok(StagedImage {
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
    })
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
