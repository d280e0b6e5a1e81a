//! Running an image plan: [`execute_with`] builds (or takes) the binaries, makes the `.deb`s of
//! a `from-deb` image, assembles one image per platform, writes the local outputs and pushes.
//!
//! A pipeline of named steps, in the order they run: [`artifacts`], [`debs`], then per platform
//! [`pull_base`], [`layers`] and [`assemble_platform`]; the index; [`write_outputs`]; [`push`].
//! Nothing is decided here that the plan did not say.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

use forge_core::build::{self, Artifact};
use forge_core::exit::{usage, ResultExt};
use forge_core::http::HttpClient;
use forge_core::project::Project;
use forge_core::target::TargetInfo;
use forge_core::Shell;

use super::{ImagePlan, ImageResult, OutputSpec, PlatformPlan};
use crate::base::BaseImage;
use crate::image::{BuiltImage, PlatformImage, PlatformInput};
use crate::layer::Layer;
use crate::registry::Reference;

/// Runs the plan on `built` binaries when given (the caller built them, e.g. a release); else
/// builds them as the plan says, or finds them where cargo puts them (`--no-build`).
pub fn execute_with(
    project: &Project,
    plan: &ImagePlan,
    built: Option<&[Artifact]>,
    shell: &Shell,
) -> Result<ImageResult> {
    let artifacts = artifacts(project, plan, built, shell)?;
    let debs = debs(project, plan, &artifacts, shell)?;
    let client = crate::push::client(plan.retries, &plan.insecure_registries);
    let created = crate::oci::rfc3339(plan.source_date_epoch);
    let mut annotations = plan.annotations.clone();
    let mut platform_images = Vec::new();
    for p in &plan.platforms {
        shell.status(
            "Assembling",
            format!(
                "{} {} ({})",
                plan.package,
                plan.version,
                p.platform.display()
            ),
        );
        let base = pull_base(plan, p, &client, shell)?;
        if let Some(b) = &base {
            annotations.insert(
                "org.opencontainers.image.base.digest".into(),
                b.index_digest.clone(),
            );
        }
        let layers = layers(plan, p, &artifacts, &debs)?;
        platform_images.push(assemble_platform(
            plan,
            p,
            base,
            layers,
            &created,
            &annotations,
        )?);
    }
    let image = crate::image::finish(plan.format, platform_images, annotations)?;
    let (_, top) = image.top();
    shell.status(
        "Assembled",
        format!("{} {} {}", plan.package, plan.version, top.digest),
    );
    write_outputs(plan, &image, shell)?;
    let pushed = push(plan, &client, &image, shell)?;
    Ok(ImageResult {
        image: image.summary(),
        pushed,
        outputs: plan.outputs.clone(),
    })
}

/// The binaries: `built` when given, else built as the plan says, else found where cargo puts
/// them (`--no-build`).
fn artifacts(
    project: &Project,
    plan: &ImagePlan,
    built: Option<&[Artifact]>,
    shell: &Shell,
) -> Result<Vec<Artifact>> {
    let triples: Vec<String> = plan
        .platforms
        .iter()
        .map(|p| p.target.triple.clone())
        .collect();
    let artifacts = match (built, &plan.build) {
        (Some(a), _) => a.to_vec(),
        (None, Some(b)) => build::execute(b, project, shell)?,
        (None, None) => {
            let pkg = project
                .package(&plan.package)
                .with_context(|| format!("package `{}` is not in the workspace", plan.package))?;
            build::existing_artifacts(project, &[pkg], &triples, &plan.profile)?
        }
    };
    Ok(artifacts)
}

/// The `.deb` of each target (triple → file) for a `from-deb` image, made with forge-deb's
/// library from `artifacts`; empty otherwise.
fn debs(
    project: &Project,
    plan: &ImagePlan,
    artifacts: &[Artifact],
    shell: &Shell,
) -> Result<BTreeMap<String, PathBuf>> {
    let debs: BTreeMap<String, PathBuf> = match (&plan.deb, plan.from_deb) {
        (Some(deb_plan), true) => {
            let produced =
                cargo_forge_deb::ops::execute_with(project, deb_plan, Some(&artifacts), shell)?;
            produced
                .into_iter()
                .filter_map(|p| p.target.clone().map(|t| (t, p.path)))
                .collect()
        }
        (None, true) => {
            return Err(anyhow::anyhow!(
                "the image is made from its .deb, but the plan has no .deb plan"
            ))
        }
        _ => BTreeMap::new(),
    };
    Ok(debs)
}

/// The base image of platform `p`, pulled (`None` on `scratch`).
fn pull_base(
    plan: &ImagePlan,
    p: &PlatformPlan,
    client: &HttpClient,
    shell: &Shell,
) -> Result<Option<BaseImage>> {
    if plan.base == "scratch" {
        return Ok(None);
    }
    let push_registries: Vec<String> = plan
        .tags
        .iter()
        .filter_map(|t| Reference::parse(t).ok())
        .map(|r| r.registry)
        .collect();
    crate::base::pull(
        client,
        &plan.base,
        &p.platform,
        plan.format,
        &push_registries,
        &plan.limits,
        shell,
    )
    .map(Some)
}

/// Our layers of platform `p`, in order: on scratch the runtime libraries and users (or only
/// the users for a `from-deb` image), the files of the `.deb`, then the binaries and assets.
fn layers(
    plan: &ImagePlan,
    p: &PlatformPlan,
    artifacts: &[Artifact],
    debs: &BTreeMap<String, PathBuf>,
) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    if plan.base == "scratch" && !plan.from_deb {
        let mut entries = crate::layer::base_files()?;
        let bins: Vec<PathBuf> = artifacts
            .iter()
            .filter(|a| {
                a.package == plan.package
                    && plan.binaries.contains(&a.name)
                    && a.target.as_deref() == Some(p.target.triple.as_str())
            })
            .map(|a| a.path.clone())
            .collect();
        entries.extend(crate::layer::runtime_libs(&bins, &p.target)?);
        layers.push(crate::layer::build(
            entries,
            plan.source_date_epoch,
            plan.format,
            "runtime libraries and users",
        )?);
    } else if plan.base == "scratch" {
        layers.push(crate::layer::build(
            crate::layer::base_files()?,
            plan.source_date_epoch,
            plan.format,
            "users",
        )?);
    }
    if let Some(deb) = debs.get(&p.target.triple) {
        let name = deb
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = deb.clone();
        layers.push(crate::layer::from_tar(
            move || cargo_forge_deb::writer::open_data_tar(&path),
            &format!("`{}`", deb.display()),
            plan.format,
            &format!("files of {name}"),
        )?);
    }
    let app = app_entries(plan, &artifacts, &p.target)?;
    if !app.is_empty() {
        layers.push(crate::layer::build(
            app,
            plan.source_date_epoch,
            plan.format,
            &format!("{} {}", plan.package, plan.version),
        )?);
    }
    Ok(layers)
}

/// The image of platform `p`: the base's layers and history, then ours; our runtime settings
/// over the base's.
fn assemble_platform(
    plan: &ImagePlan,
    p: &PlatformPlan,
    base: Option<BaseImage>,
    layers: Vec<Layer>,
    created: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<PlatformImage> {
    let (base_layers, base_history, base_repository, base_runtime) = match base {
        Some(b) => (b.layers, b.history, Some(b.repository), Some(b.runtime)),
        None => (Vec::new(), Vec::new(), None, None),
    };
    let mut runtime = plan.runtime.clone();
    if let Some(b) = base_runtime {
        runtime = crate::base::merge_runtime(&b, &runtime);
    }
    crate::image::assemble(
        plan.format,
        PlatformInput {
            platform: p.platform.clone(),
            base_layers,
            base_history,
            base_repository,
            layers,
            runtime,
        },
        created,
        annotations,
    )
}

/// Builds the app layer entries of one platform.
fn app_entries(
    plan: &ImagePlan,
    artifacts: &[Artifact],
    target: &TargetInfo,
) -> Result<Vec<forge_core::archive::Entry>> {
    let mut entries = Vec::new();
    if !plan.from_deb {
        for name in &plan.binaries {
            let a = artifacts
                .iter()
                .find(|a| {
                    a.package == plan.package
                        && a.name == *name
                        && a.kind == "bin"
                        && a.target.as_deref() == Some(target.triple.as_str())
                })
                .with_context(|| {
                    format!(
                        "the build produced no binary `{name}` for {}",
                        target.triple
                    )
                })?;
            entries.push(forge_core::archive::Entry::file(
                &format!("usr/local/bin/{name}"),
                a.path.clone(),
                0o755,
            )?);
        }
    }
    for (src, dest, mode) in &plan.assets {
        entries.push(forge_core::archive::Entry::file(dest, src.clone(), *mode)?);
    }
    Ok(entries)
}

/// The local outputs: OCI layouts and docker archives.
fn write_outputs(plan: &ImagePlan, image: &BuiltImage, shell: &Shell) -> Result<()> {
    for o in &plan.outputs {
        match o {
            OutputSpec::Oci(dir) => {
                let tag = plan
                    .tags
                    .first()
                    .and_then(|t| Reference::parse(t).ok())
                    .and_then(|r| r.tag)
                    .unwrap_or_else(|| plan.version.replace('+', "_"));
                crate::output::write_oci_layout(dir, &image, &tag)?;
                shell.status("Wrote", format!("oci:{} ({tag})", dir.display()));
            }
            OutputSpec::DockerArchive(file) => {
                if image.platforms.len() != 1 {
                    return Err(usage(format!(
                        "`docker-archive:{}` holds one platform, but the image has {}",
                        file.display(),
                        image.platforms.len()
                    )))
                    .hint("add `--platform linux/amd64` (or one other platform) for this output");
                }
                let repo_tag = plan.tags.first().cloned().unwrap_or_else(|| {
                    format!("{}:{}", plan.package, plan.version.replace('+', "_"))
                });
                crate::output::write_docker_archive(
                    file,
                    &image.platforms[0],
                    &repo_tag,
                    plan.source_date_epoch,
                )?;
                shell.status("Wrote", format!("docker-archive:{}", file.display()));
            }
        }
    }
    Ok(())
}

/// Pushes: by digest (and the digest file written), or the image with its tags, the moving
/// ones only where they move ([`crate::push::tags_that_move`]). Returns the references pushed.
fn push(
    plan: &ImagePlan,
    client: &HttpClient,
    image: &BuiltImage,
    shell: &Shell,
) -> Result<Vec<String>> {
    let mut pushed = Vec::new();
    if let Some(digest_file) = &plan.push_by_digest {
        let repo = plan
            .tags
            .first()
            .context("no repository for --push-by-digest")?;
        let r = crate::push::push_by_digest(&client, &image, repo, shell)?;
        let json = serde_json::to_vec_pretty(&r)?;
        forge_core::fsx::write_atomic(digest_file, &json)?;
        shell.status("Wrote", format!("{} ({})", digest_file.display(), r.digest));
        pushed.push(format!("{}@{}", r.repository, r.digest));
    } else if plan.push {
        let version = semver::Version::parse(&plan.version)
            .with_context(|| format!("invalid version `{}`", plan.version))?;
        let tags = crate::push::tags_that_move(&client, &plan.tags, &plan.tracks, &version, shell)?;
        pushed = crate::push::push_image(&client, &image, &tags, shell)?;
    }
    Ok(pushed)
}
