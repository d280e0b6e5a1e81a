//! `cargo forge-image`: plan, then execute.
//!
//! [`plan`] resolves platforms, base, runtime settings, annotations, tags and outputs from the
//! command line and `[*.metadata.forge.image]`, and the build (forge-core's engine), without side
//! effects. [`execute`] builds, assembles one image per platform (in parallel), writes local
//! outputs, and pushes: blobs and platform manifests first, the index next, tags last — moving
//! tags (`latest`, `{{major}}`, `{{major}}.{{minor}}`) only when the version is the highest of
//! their line in the repository ([`crate::tags`]).
//!
//! `cargo forge-release` makes images as part of its own plan: [`plan_request`] with an
//! [`ImageRequest`] (the library form of the flags) on the workspace it loaded; the
//! [`ImagePlan`] is serialisable both ways (with the `.deb` plan of a `from-deb` image inside
//! it) and runs with [`execute_with`] on the binaries the release built.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::build::{self, BuildPlan};

use forge_core::exit::usage;
use forge_core::project::Project;
use forge_core::target::TargetInfo;
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use crate::cli::ImageArgs;
use crate::oci::{Format, PlatformSpec, RuntimeConfig};
use crate::registry::Reference;

mod execute;
mod plan;

pub use execute::execute_with;
pub use plan::plan_request;

/// A local output.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum OutputSpec {
    Oci(PathBuf),
    DockerArchive(PathBuf),
}

/// `oci:DIR` or `docker-archive:FILE`.
pub fn parse_output(s: &str) -> Result<OutputSpec> {
    match s.split_once(':') {
        Some(("oci", p)) if !p.is_empty() => Ok(OutputSpec::Oci(PathBuf::from(p))),
        Some(("docker-archive", p)) if !p.is_empty() => {
            Ok(OutputSpec::DockerArchive(PathBuf::from(p)))
        }
        _ => Err(usage(format!(
            "invalid `--output {s}`: use `oci:DIR`, `docker-archive:FILE`, or a VM disk image `qcow2:FILE`, `raw:FILE`, `vmdk:FILE`, `ova:FILE`"
        ))),
    }
}

/// One platform of the image.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlatformPlan {
    pub platform: PlatformSpec,
    pub target: TargetInfo,
}

/// The whole run, decided.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImagePlan {
    pub toolchain: Toolchain,
    pub profile: String,
    pub target_dir: PathBuf,
    pub source_date_epoch: u64,
    /// `None` with `--no-build`. A build's command lines belong to the machine that planned
    /// them, so a plan read back has none: its executor supplies the binaries
    /// ([`execute_with`]).
    #[serde(skip_deserializing)]
    pub build: Option<BuildPlan>,
    pub package: String,
    pub version: String,
    pub format: Format,
    /// `scratch` or a base image reference.
    pub base: String,
    pub from_deb: bool,
    pub platforms: Vec<PlatformPlan>,
    /// Binary names to put in `/usr/local/bin`.
    pub binaries: Vec<String>,
    /// Extra files: (source, destination, mode).
    pub assets: Vec<(PathBuf, String, u32)>,
    pub runtime: RuntimeConfig,
    pub annotations: BTreeMap<String, String>,
    /// Full references to tag (`registry/repo:tag`).
    pub tags: Vec<String>,
    /// What each moving tag of `tags` follows (absent: a fixed tag, pushed as it is).
    #[serde(default)]
    pub tracks: BTreeMap<String, crate::tags::Track>,
    pub push: bool,
    pub push_by_digest: Option<PathBuf>,
    pub outputs: Vec<OutputSpec>,
    pub insecure_registries: Vec<String>,
    pub retries: u32,
    /// Bounds on what the base image's registry may make us read.
    pub limits: crate::config::ImageLimits,
    /// With `from-deb`: the packages the image is made of, planned with the image.
    pub deb: Option<cargo_forge_deb::ops::DebPlan>,
    /// VM disk images (`--output qcow2:FILE`…), see [`crate::vm`]; made from the packages of
    /// `deb` (planned for them too).
    pub vm: Option<crate::vm::VmPlan>,
}

/// What to build: the library form of `cargo forge-image`'s flags (same names), for
/// [`plan_request`].
#[derive(Clone, Debug, Default)]
pub struct ImageRequest {
    /// The package (a workspace member, by name).
    pub package: String,
    /// The top layer of the settings: `targets`, `profile`, `backend`, `toolchain`, `glibc`.
    pub settings: forge_core::config::ForgeLayer,
    pub features: clap_cargo::Features,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    /// Use binaries built already (by the caller, or found where cargo puts them).
    pub no_build: bool,
    /// The version instead of Cargo.toml's (a release that bumps the version plans with the
    /// version it will set): tags and annotations.
    pub version: Option<String>,
    pub platforms: Vec<String>,
    pub tags: Vec<String>,
    pub repository: Option<String>,
    pub push: bool,
    pub push_by_digest: bool,
    pub digest_file: Option<PathBuf>,
    pub outputs: Vec<String>,
    pub format: Option<Format>,
    pub base: Option<String>,
    pub from_deb: bool,
    pub insecure_registries: Vec<String>,
    pub retries: Option<u32>,
    pub dry_run: bool,
    /// Boot every VM image made and check its service answers (`--boot-test`).
    pub boot_test: bool,
}

impl ImageRequest {
    /// The request `cargo forge-image`'s flags make, for the package `project` selected.
    pub fn from_args(args: &ImageArgs, package: &str) -> ImageRequest {
        let common = &args.common;
        ImageRequest {
            package: package.to_string(),
            settings: forge_core::config::ForgeLayer::from_args(common),
            features: common.features.clone(),
            locked: common.locked,
            frozen: common.frozen,
            offline: common.offline,
            no_build: common.no_build,
            version: None,
            platforms: args.platforms.clone(),
            tags: args.tags.clone(),
            repository: args.repository.clone(),
            push: args.push,
            push_by_digest: args.push_by_digest,
            digest_file: args.digest_file.clone(),
            outputs: args.outputs.clone(),
            format: args.format,
            base: args.base.clone(),
            from_deb: args.from_deb,
            insecure_registries: args.network.insecure_registries.clone(),
            retries: args.network.retries,
            dry_run: args.dry_run,
            boot_test: args.boot_test,
        }
    }
}
/// Computes the plan. Reads files; writes nothing.
pub fn plan(args: &ImageArgs, shell: &Shell) -> Result<(Project, ImagePlan)> {
    let (project, toolchain) = forge_core::project::load_with_toolchain(&args.common, shell)?;
    let pkg = project.single_package("an image is built from one package")?;
    let req = ImageRequest::from_args(args, pkg.name.as_str());
    let plan = plan_request(&project, toolchain, &req, shell)?;
    Ok((project, plan))
}

/// The result of a run.
#[derive(Debug, Serialize)]
pub struct ImageResult {
    pub image: crate::image::ImageSummary,
    /// References pushed (`registry/repo:tag@sha256:…`).
    pub pushed: Vec<String>,
    pub outputs: Vec<OutputSpec>,
}

/// GitHub Actions (no-op elsewhere): the job summary (platform digests, the index digest, where
/// the image went) and the outputs `digest` (index, or manifest for one platform), `tags` (the
/// references pushed as tags, one per line; empty without `--push`) and `image`
/// (`registry/repository@digest` when pushed, else the first `--output`). Called once by the
/// command, not by [`execute`], which forge-release also uses.
pub fn report_gha(plan: &ImagePlan, result: &ImageResult, shell: &Shell) -> Result<()> {
    use forge_core::gha::{code, Table};
    let gha = shell.gha();
    if !gha.is_enabled() {
        return Ok(());
    }
    let output_text = |o: &OutputSpec| match o {
        OutputSpec::Oci(dir) => format!("oci:{}", dir.display()),
        OutputSpec::DockerArchive(file) => format!("docker-archive:{}", file.display()),
    };
    let pushed = plan.push || plan.push_by_digest.is_some();
    let tags: Vec<&str> = if plan.push {
        plan.tags.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    let image = match plan.tags.first() {
        Some(first) if pushed => format!(
            "{}@{}",
            Reference::parse(first)?.name(),
            result.image.digest
        ),
        _ => plan.outputs.first().map(output_text).unwrap_or_default(),
    };

    let mut platforms = Table::new(&["Platform", "Manifest digest"]);
    for p in &result.image.platforms {
        platforms.row(vec![p.platform.clone(), code(&p.digest)]);
    }
    let top = if result.image.media_type.ends_with("index.v1+json")
        || result.image.media_type.ends_with("manifest.list.v2+json")
    {
        "Index digest"
    } else {
        "Manifest digest"
    };
    let mut destinations = Table::new(&["Destination", "Reference"]);
    for p in &result.pushed {
        destinations.row(vec!["registry".into(), code(p)]);
    }
    for o in &result.outputs {
        destinations.row(vec!["file".into(), code(&output_text(o))]);
    }
    gha.summary(&format!(
        "### cargo forge-image: {} {}\n\n{}\n{top}: {}\n\n{}",
        plan.package,
        plan.version,
        platforms.render(),
        code(&result.image.digest),
        destinations.render()
    ))?;
    gha.output("digest", &result.image.digest)?;
    gha.output("tags", &tags.join("\n"))?;
    gha.output("image", &image)
}

/// GitHub Actions for `cargo forge-image merge` (no-op elsewhere): the outputs of a push —
/// `digest` (the merged index), `tags` (the references tagged, one per line) and `image`
/// (`registry/repository@digest`) — and a summary of the merged platforms and tags.
pub fn report_gha_merge(
    files: &[crate::push::DigestFile],
    repository: &str,
    digest: &str,
    tags: &[String],
    pushed: &[String],
    shell: &Shell,
) -> Result<()> {
    use forge_core::gha::{code, Table};
    let gha = shell.gha();
    if !gha.is_enabled() {
        return Ok(());
    }
    let mut platforms = Table::new(&["Platform", "Manifest digest"]);
    for f in files {
        platforms.row(vec![f.platform.display(), code(&f.digest)]);
    }
    let mut destinations = Table::new(&["Destination", "Reference"]);
    for p in pushed {
        destinations.row(vec!["registry".into(), code(p)]);
    }
    gha.summary(&format!(
        "### cargo forge-image merge: {repository}\n\n{}\nIndex digest: {}\n\n{}",
        platforms.render(),
        code(digest),
        destinations.render()
    ))?;
    gha.output("digest", digest)?;
    gha.output("tags", &tags.join("\n"))?;
    gha.output("image", &format!("{repository}@{digest}"))
}

impl ImagePlan {
    /// Whether the run makes an OCI image: pushes, OCI outputs, or no VM output either.
    pub fn wants_oci(&self) -> bool {
        self.push || self.push_by_digest.is_some() || !self.outputs.is_empty() || self.vm.is_none()
    }
}

/// Runs the plan's VM half (see [`crate::vm`]): builds the binaries unless `built`, the .debs
/// with forge-deb's library, then the disk images.
pub fn execute_vm(
    project: &Project,
    plan: &ImagePlan,
    built: bool,
    shell: &Shell,
) -> Result<Option<crate::vm::VmResult>> {
    let Some(vm) = &plan.vm else {
        return Ok(None);
    };
    if !built {
        if let Some(b) = &plan.build {
            build::execute(b, project, shell)?;
        }
    }
    let deb_plan = plan
        .deb
        .as_ref()
        .context("the plan has VM images but no .deb plan for them")?;
    let produced = cargo_forge_deb::ops::execute_with(project, deb_plan, None, shell)?;
    let debs: BTreeMap<String, PathBuf> = produced
        .into_iter()
        .filter_map(|p| p.target.clone().map(|t| (t, p.path)))
        .collect();
    crate::vm::execute(project, vm, &debs, shell).map(Some)
}

/// Runs the plan.
pub fn execute(project: &Project, plan: &ImagePlan, shell: &Shell) -> Result<ImageResult> {
    execute_with(project, plan, None, shell)
}
