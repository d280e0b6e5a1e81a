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
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::build::{self, Artifact, BuildPlan, BuildRequest};

use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::project::Project;
use forge_core::target::{self, TargetInfo};
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use crate::cli::ImageArgs;
use crate::config::ImageConfig;
use crate::image::PlatformInput;
use crate::oci::{Format, PlatformSpec, RuntimeConfig};
use crate::registry::Reference;

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
            insecure_registries: args.insecure_registries.clone(),
            retries: args.retries,
            dry_run: args.dry_run,
            boot_test: args.boot_test,
        }
    }
}

fn git_revision(dir: &Path, shell: &Shell) -> Option<String> {
    forge_core::process::Cmd::new("git")
        .args(["rev-parse", "HEAD"])
        .cwd(dir)
        .output_unchecked(shell)
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Computes the plan. Reads files; writes nothing.
pub fn plan(args: &ImageArgs, shell: &Shell) -> Result<(Project, ImagePlan)> {
    let (project, toolchain) = forge_core::project::load_with_toolchain(&args.common, shell)?;
    let pkg = project.single_package("an image is built from one package")?;
    let req = ImageRequest::from_args(args, pkg.name.as_str());
    let plan = plan_request(&project, toolchain, &req, shell)?;
    Ok((project, plan))
}

/// The plan of an [`ImageRequest`] on a loaded workspace, built with `toolchain`. Reads files;
/// writes nothing.
pub fn plan_request(
    project: &Project,
    toolchain: Toolchain,
    args: &ImageRequest,
    shell: &Shell,
) -> Result<ImagePlan> {
    let pkg = project.package(&args.package).ok_or_else(|| {
        usage(format!(
            "package `{}` is not in the workspace",
            args.package
        ))
    })?;
    let manifest = pkg.manifest_path.as_std_path();
    let settings = forge_core::config::resolve_layer(project, pkg, &args.settings)?;
    let version = match &args.version {
        Some(v) => semver::Version::parse(v)
            .map_err(|e| usage(format!("invalid image version `{v}`: {e}")))?,
        None => pkg.version.clone(),
    };
    let cfg: ImageConfig = settings.parse_table("image")?.unwrap_or_default();
    cfg.validate(manifest)?;

    // Platforms: --platform, else --target, else config, else the host.
    let platform_names: Vec<String> = if !args.platforms.is_empty() {
        args.platforms.clone()
    } else if args.settings.targets.is_some() {
        Vec::new()
    } else {
        cfg.platforms.clone().unwrap_or_default()
    };
    let mut platforms = Vec::new();
    if platform_names.is_empty() {
        let triples = if settings.targets.is_empty() {
            vec![toolchain.host.clone()]
        } else {
            settings.targets.clone()
        };
        for t in triples {
            let info = target::lookup(&t)?;
            platforms.push(PlatformPlan {
                platform: PlatformSpec::of_target(&info),
                target: info,
            });
        }
    } else {
        for p in &platform_names {
            let triple = target::triple_for_oci_platform(p).ok_or_else(|| {
                usage(format!(
                    "unknown platform `{p}`: use e.g. linux/amd64, linux/arm64, linux/arm/v7, linux/386, linux/ppc64le, linux/s390x, linux/riscv64"
                ))
            })?;
            let info = target::lookup(triple)?;
            platforms.push(PlatformPlan {
                platform: PlatformSpec::of_target(&info),
                target: info,
            });
        }
    }
    let triples: Vec<String> = platforms.iter().map(|p| p.target.triple.clone()).collect();

    let healthcheck = match &cfg.healthcheck {
        Some(h) => Some(h.to_docker(manifest)?),
        None => None,
    };
    let format = match (args.format, cfg.format) {
        (Some(f), _) => f,
        (None, Some(Format::Oci)) | (None, None) => {
            if healthcheck.is_some() {
                Format::Docker
            } else {
                Format::Oci
            }
        }
        (None, Some(Format::Docker)) => Format::Docker,
    };
    if healthcheck.is_some() && format == Format::Oci {
        shell.warn(
            "`healthcheck` only exists in Docker-format images; it is dropped with `--format oci`",
        );
    }
    let base = args
        .base
        .clone()
        .or(cfg.base.clone())
        .unwrap_or_else(|| "scratch".into());
    if base != "scratch" {
        Reference::parse(&base)
            .with_context(|| format!("invalid base image in `{}`", manifest.display()))?;
    }
    let from_deb = args.from_deb || cfg.from_deb.unwrap_or(false);
    let limits = crate::config::ImageLimits::resolve(cfg.limits.as_ref(), manifest)?;

    let all_bins: Vec<String> = forge_core::project::binaries(pkg)
        .map(|t| t.name.clone())
        .collect();
    let binaries = match &cfg.binaries {
        Some(b) => {
            for name in b {
                if !all_bins.contains(name) {
                    return Err(usage(format!("`package.metadata.forge.image.binaries` in `{}` names `{name}`, which is not a binary of `{}` ({})", manifest.display(), pkg.name, all_bins.join(", "))));
                }
            }
            b.clone()
        }
        None => all_bins,
    };
    if binaries.is_empty() && !from_deb {
        return Err(usage(format!(
            "package `{}` has no binary to put in an image",
            pkg.name
        )))
        .hint("select a package with a binary (`-p NAME`), or make the image from its .deb with `--from-deb`");
    }
    let package_dir = manifest.parent().unwrap_or(Path::new("."));
    let mut assets = Vec::new();
    for (i, a) in cfg
        .assets
        .clone()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let key = format!("package.metadata.forge.image.assets[{i}]");
        if !(2..=3).contains(&a.len()) {
            return Err(usage(format!(
                "invalid `{key}` in `{}`: expected [source, dest, mode]",
                manifest.display()
            )));
        }
        let src = package_dir.join(&a[0]);
        if !src.is_file() {
            return Err(usage(format!(
                "asset `{}` in `{key}` of `{}` does not exist",
                a[0],
                manifest.display()
            )));
        }
        let mode = match a.get(2) {
            Some(m) => u32::from_str_radix(m, 8).map_err(|_| usage(format!("invalid mode `{m}` in `{key}` of `{}`: expected an octal string such as \"644\"", manifest.display())))?,
            None => 0o644,
        };
        let dest = if a[1].ends_with('/') {
            format!(
                "{}{}",
                a[1],
                src.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        } else {
            a[1].clone()
        };
        let dest = forge_core::archive::normalize(&dest)
            .with_context(|| format!("invalid destination in `{key}` of `{}`", manifest.display()))
            .kind(ErrorKind::Usage)?;
        assets.push((src, dest, mode));
    }

    let bin_dir = if from_deb {
        "/usr/bin"
    } else {
        "/usr/local/bin"
    };
    let default_bin = pkg
        .default_run
        .clone()
        .or_else(|| binaries.first().cloned());
    let mut env: Vec<String> = Vec::new();
    if base == "scratch" {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    for (k, v) in cfg.env.clone().unwrap_or_default() {
        env.retain(|e| !e.starts_with(&format!("{k}=")));
        env.push(format!("{k}={v}"));
    }
    let ports = cfg
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            if p.contains('/') {
                p
            } else {
                format!("{p}/tcp")
            }
        })
        .collect();
    // On scratch every file of the image is known now: the entrypoint must be one of them.
    if let (Some(ep), true) = (&cfg.entrypoint, base == "scratch" && !from_deb) {
        let mut files: Vec<String> = binaries.iter().map(|b| format!("{bin_dir}/{b}")).collect();
        files.extend(
            assets
                .iter()
                .map(|(_, d, _)| format!("/{}", d.trim_start_matches('/'))),
        );
        crate::config::check_entrypoint(ep, &files, manifest)?;
    }
    let runtime = RuntimeConfig {
        user: Some(cfg.user.clone().unwrap_or_else(|| "65532".into())),
        env,
        entrypoint: cfg
            .entrypoint
            .clone()
            .or_else(|| default_bin.map(|b| vec![format!("{bin_dir}/{b}")])),
        cmd: cfg.cmd.clone(),
        workdir: cfg.workdir.clone(),
        ports,
        labels: cfg.labels.clone().unwrap_or_default(),
        healthcheck,
        stop_signal: cfg.stop_signal.clone(),
    };

    let sde = forge_core::archive::source_date_epoch(&project.workspace_root, manifest)?;
    let revision = git_revision(&project.workspace_root, shell);
    let mut annotations = BTreeMap::new();
    let mut ann = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            annotations.insert(format!("org.opencontainers.image.{k}"), v);
        }
    };
    ann("title", Some(pkg.name.to_string()));
    ann("description", pkg.description.clone());
    ann("version", Some(version.to_string()));
    ann("licenses", pkg.license.clone());
    ann("source", pkg.repository.clone());
    ann("revision", revision.clone());
    ann("created", Some(crate::oci::rfc3339(sde)));
    ann("url", pkg.homepage.clone().or(pkg.repository.clone()));
    if base != "scratch" {
        ann("base.name", Some(base.clone()));
    }
    for (k, v) in cfg.annotations.clone().unwrap_or_default() {
        annotations.insert(k, v);
    }

    // Tags.
    let mut tags = Vec::new();
    let mut tracks = BTreeMap::new();
    for t in &args.tags {
        let r = Reference::parse(t)?;
        let Some(tag) = &r.tag else {
            return Err(usage(format!(
                "`--tag {t}` has no tag: use e.g. `{t}:1.0.0`"
            )));
        };
        let track = crate::tags::track_of_tag(tag, &version);
        if track != crate::tags::Track::Fixed {
            tracks.insert(t.clone(), track);
        }
        tags.push(t.clone());
    }
    if tags.is_empty() {
        if let Some(repo) = args.repository.clone().or(cfg.repository.clone()) {
            let r = Reference::parse(&repo)
                .with_context(|| format!("invalid image repository `{repo}`"))?;
            if r.tag.is_some() || r.digest.is_some() {
                return Err(usage(format!("the repository `{repo}` must not carry a tag or digest: tags come from `tags` templates")));
            }
            let templates: Vec<String> = cfg.tags.clone().unwrap_or_else(|| {
                crate::tags::DEFAULT_TAGS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            });
            let ctx = crate::tags::TagContext {
                version: version.clone(),
                sha: revision.clone(),
            };
            for (t, track) in crate::tags::render_tracked(&templates, &ctx)? {
                let reference = format!("{repo}:{t}");
                if track != crate::tags::Track::Fixed {
                    tracks.insert(reference.clone(), track);
                }
                tags.push(reference);
            }
        }
    }
    let (vm_outputs, oci_outputs) = crate::vm::split_outputs(&args.outputs)?;
    let outputs: Vec<OutputSpec> = oci_outputs
        .iter()
        .map(|o| parse_output(o))
        .collect::<Result<_>>()?;
    let vm = crate::vm::plan(crate::vm::PlanInput {
        package: pkg,
        vm_table: settings.vm.as_ref(),
        platforms: &platforms
            .iter()
            .map(|p| p.target.clone())
            .collect::<Vec<_>>(),
        outputs: vm_outputs,
        boot_test: args.boot_test,
        target_dir: &project.target_dir,
        source_date_epoch: sde,
        compress: false,
    })?;
    if args.push && tags.is_empty() {
        return Err(usage("`--push` needs somewhere to push: `--tag REF`, `--repository REPO`, or `repository` in [package.metadata.forge.image]"));
    }
    if args.push_by_digest && platforms.len() != 1 {
        return Err(usage(format!(
            "`--push-by-digest` pushes one platform per run, but {} are selected",
            platforms.len()
        )))
        .hint("run once per `--platform` (one CI job each), then `cargo forge-image merge`");
    }
    if args.push_by_digest
        && args.repository.is_none()
        && cfg.repository.is_none()
        && tags.is_empty()
    {
        return Err(usage("`--push-by-digest` needs the repository: `--repository REPO` or `repository` in [package.metadata.forge.image]"));
    }
    if !args.push && !args.push_by_digest && outputs.is_empty() && vm.is_none() && !args.dry_run {
        shell.note(
            "neither `--push` nor `--output` given: the image is built and checked, then discarded",
        );
    }

    let build = if args.no_build {
        None
    } else {
        let req = BuildRequest {
            workspace_root: project.workspace_root.clone(),
            manifest_path: project.workspace_manifest(),
            target_dir: project.target_dir.clone(),
            packages: vec![pkg.name.to_string()],
            features: args.features.clone(),
            targets: triples.clone(),
            profile: settings.profile.clone(),
            locked: args.locked,
            frozen: args.frozen,
            offline: args.offline,
            backend: settings.backend,
            glibc: settings.glibc.clone(),
        };
        Some(build::plan(&req, &toolchain, shell)?)
    };
    let retries = args.retries.unwrap_or(settings.retries);
    // A `from-deb` image is made of the packages forge-deb makes of the same binaries: their
    // plan is made now, so its configuration errors show before anything is built.
    let deb = if from_deb || vm.is_some() {
        let mut settings = args.settings.clone();
        settings.targets = Some(triples);
        let req = cargo_forge_deb::ops::DebRequest {
            packages: vec![pkg.name.to_string()],
            settings,
            features: args.features.clone(),
            locked: args.locked,
            frozen: args.frozen,
            offline: args.offline,
            no_build: true,
            upstream_version: args.version.clone(),
            ..Default::default()
        };
        Some(cargo_forge_deb::ops::plan_request(
            project,
            toolchain.clone(),
            &req,
            shell,
        )?)
    } else {
        None
    };
    let repository = args.repository.clone().or(cfg.repository.clone());
    let plan = ImagePlan {
        toolchain,
        profile: settings.profile.clone(),
        target_dir: project.target_dir.clone(),
        source_date_epoch: sde,
        build,
        package: pkg.name.to_string(),
        version: version.to_string(),
        format,
        base,
        from_deb,
        platforms,
        binaries,
        assets,
        runtime,
        annotations,
        tags: if args.push_by_digest {
            repository.into_iter().collect()
        } else {
            tags
        },
        tracks,
        push: args.push,
        push_by_digest: if args.push_by_digest {
            args.digest_file.clone()
        } else {
            None
        },
        outputs,
        insecure_registries: args.insecure_registries.clone(),
        retries,
        limits,
        deb,
        vm,
    };
    Ok(plan)
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

/// Runs the plan on `built` binaries when given (the caller built them, e.g. a release); else
/// builds them as the plan says, or finds them where cargo puts them (`--no-build`).
pub fn execute_with(
    project: &Project,
    plan: &ImagePlan,
    built: Option<&[Artifact]>,
    shell: &Shell,
) -> Result<ImageResult> {
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
        let (base_layers, base_history, base_repository, base_runtime, base_digest) =
            if plan.base == "scratch" {
                (Vec::new(), Vec::new(), None, None, None)
            } else {
                let push_registries: Vec<String> = plan
                    .tags
                    .iter()
                    .filter_map(|t| Reference::parse(t).ok())
                    .map(|r| r.registry)
                    .collect();
                let b = crate::base::pull(
                    &client,
                    &plan.base,
                    &p.platform,
                    plan.format,
                    &push_registries,
                    &plan.limits,
                    shell,
                )?;
                (
                    b.layers,
                    b.history,
                    Some(b.repository),
                    Some(b.runtime),
                    Some(b.index_digest),
                )
            };
        if let Some(d) = base_digest {
            annotations.insert("org.opencontainers.image.base.digest".into(), d);
        }
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
        let mut runtime = plan.runtime.clone();
        if let Some(b) = base_runtime {
            runtime = crate::base::merge_runtime(&b, &runtime);
        }
        platform_images.push(crate::image::assemble(
            plan.format,
            PlatformInput {
                platform: p.platform.clone(),
                base_layers,
                base_history,
                base_repository,
                layers,
                runtime,
            },
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
    Ok(ImageResult {
        image: image.summary(),
        pushed,
        outputs: plan.outputs.clone(),
    })
}
