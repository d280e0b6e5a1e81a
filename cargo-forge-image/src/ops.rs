//! `cargo forge-image`: plan, then execute.
//!
//! [`plan`] resolves platforms, base, runtime settings, annotations, tags and outputs from the
//! command line and `[*.metadata.forge.image]`, and the build (forge-core's engine), without side
//! effects. [`execute`] builds, assembles one image per platform (in parallel), writes local
//! outputs, and pushes: blobs and platform manifests first, the index next, tags last.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use forge_core::build::{self, Artifact, BuildPlan, BuildRequest};
use forge_core::config::parse_table;
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
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum OutputSpec {
    Oci(PathBuf),
    DockerArchive(PathBuf),
}

fn parse_output(s: &str) -> Result<OutputSpec> {
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
#[derive(Clone, Debug, Serialize)]
pub struct PlatformPlan {
    pub platform: PlatformSpec,
    pub target: TargetInfo,
}

/// The whole run, decided.
#[derive(Debug, Serialize)]
pub struct ImagePlan {
    pub toolchain: Toolchain,
    pub profile: String,
    pub target_dir: PathBuf,
    pub source_date_epoch: u64,
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
    pub push: bool,
    pub push_by_digest: Option<PathBuf>,
    pub outputs: Vec<OutputSpec>,
    pub insecure_registries: Vec<String>,
    pub retries: u32,
    /// VM disk images (`--output qcow2:FILE`…), see [`crate::vm`].
    pub vm: Option<crate::vm::VmPlan>,
    /// Whether the package is built as a deb first (for `from-deb`): the deb plan is made then.
    #[serde(skip)]
    pub common: forge_core::cli::CommonArgs,
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
    let common = &args.common;
    let (project, toolchain) = forge_core::project::load_with_toolchain(common, shell)?;
    let pkg = project.single_package("an image is built from one package")?;
    let manifest = pkg.manifest_path.as_std_path();
    let settings = forge_core::config::resolve(&project, pkg, common)?;
    let cfg: ImageConfig = match &settings.image {
        Some(v) => parse_table(v, manifest, "package.metadata.forge.image")?,
        None => ImageConfig::default(),
    };
    cfg.validate(manifest)?;

    // Platforms: --platform, else --target, else config, else the host.
    let platform_names: Vec<String> = if !args.platforms.is_empty() {
        args.platforms.clone()
    } else if !common.targets.is_empty() {
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
    let format = match (args.format, cfg.format.as_deref()) {
        (Some(f), _) => f,
        (None, Some("oci")) | (None, None) => {
            if healthcheck.is_some() {
                Format::Docker
            } else {
                Format::Oci
            }
        }
        (None, Some("docker")) => Format::Docker,
        (None, Some(other)) => return Err(usage(format!("invalid `package.metadata.forge.image.format` `{other}` in `{}`: use \"oci\" or \"docker\"", manifest.display()))),
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
    ann("version", Some(pkg.version.to_string()));
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
    for t in &args.tags {
        let r = Reference::parse(t)?;
        if r.tag.is_none() {
            return Err(usage(format!(
                "`--tag {t}` has no tag: use e.g. `{t}:1.0.0`"
            )));
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
                version: pkg.version.clone(),
                sha: revision.clone(),
            };
            for t in crate::tags::render(&templates, &ctx)? {
                tags.push(format!("{repo}:{t}"));
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

    let build = if common.no_build {
        None
    } else {
        let req = BuildRequest {
            workspace_root: project.workspace_root.clone(),
            manifest_path: project.workspace_manifest(),
            target_dir: project.target_dir.clone(),
            packages: vec![pkg.name.to_string()],
            features: common.features.clone(),
            targets: triples.clone(),
            profile: settings.profile.clone(),
            locked: common.locked,
            frozen: common.frozen,
            offline: common.offline,
            backend: settings.backend,
            glibc: settings.glibc.clone(),
        };
        Some(build::plan(&req, &toolchain, shell)?)
    };
    let retries = args.retries.unwrap_or(settings.retries);
    let mut common_for_deb = common.clone();
    common_for_deb.targets = triples;
    common_for_deb.no_build = true;
    common_for_deb.workspace.package = vec![pkg.name.to_string()];
    common_for_deb.toolchain = Some(
        toolchain
            .cargo
            .parent()
            .and_then(|b| b.parent())
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    )
    .filter(|_| !toolchain.rustup)
    .or(common.toolchain.clone());
    let repository = args.repository.clone().or(cfg.repository.clone());
    let plan = ImagePlan {
        toolchain,
        profile: settings.profile.clone(),
        target_dir: project.target_dir.clone(),
        source_date_epoch: sde,
        build,
        package: pkg.name.to_string(),
        version: pkg.version.to_string(),
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
        push: args.push,
        push_by_digest: if args.push_by_digest {
            args.digest_file.clone()
        } else {
            None
        },
        outputs,
        insecure_registries: args.insecure_registries.clone(),
        retries,
        vm,
        common: common_for_deb,
    };
    Ok((project, plan))
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
    let debs = crate::vm::build_debs(&plan.common, shell)?;
    crate::vm::execute(project, vm, &debs, shell).map(Some)
}

/// Runs the plan.
pub fn execute(project: &Project, plan: &ImagePlan, shell: &Shell) -> Result<ImageResult> {
    let triples: Vec<String> = plan
        .platforms
        .iter()
        .map(|p| p.target.triple.clone())
        .collect();
    let artifacts = match &plan.build {
        Some(b) => build::execute(b, project, shell)?,
        None => {
            let pkgs: Vec<&cargo_metadata::Package> = project.packages().collect();
            build::existing_artifacts(project, &pkgs, &triples, &plan.profile)?
        }
    };
    let debs: BTreeMap<String, PathBuf> = if plan.from_deb {
        let deb_args = cargo_forge_deb::cli::DebArgs {
            common: plan.common.clone(),
            ..Default::default()
        };
        let (deb_project, deb_plan) = cargo_forge_deb::ops::plan(&deb_args, shell)?;
        let produced = cargo_forge_deb::ops::execute(&deb_project, &deb_plan, shell)?;
        produced
            .into_iter()
            .filter_map(|p| p.target.clone().map(|t| (t, p.path)))
            .collect()
    } else {
        BTreeMap::new()
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
            entries.extend(crate::layer::runtime_libs(
                &bins,
                &p.target,
                &plan.toolchain.host,
                shell,
            )?);
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
            let tar = cargo_forge_deb::writer::read_members(deb)?
                .into_iter()
                .find(|(n, _)| n.starts_with("data.tar"))
                .map(|(n, b)| cargo_forge_deb::writer::decompress(&n, &b))
                .transpose()?
                .with_context(|| format!("`{}` has no data.tar", deb.display()))?;
            crate::base::check_layer_paths(&tar)
                .with_context(|| format!("unsafe paths in `{}`", deb.display()))?;
            layers.push(crate::layer::from_tar(
                &tar,
                plan.format,
                &format!(
                    "files of {}",
                    deb.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
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
        pushed = crate::push::push_image(&client, &image, &plan.tags, shell)?;
    }
    Ok(ImageResult {
        image: image.summary(),
        pushed,
        outputs: plan.outputs.clone(),
    })
}
