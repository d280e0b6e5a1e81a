//! The plan of an image: [`plan_request`] decides, from an [`ImageRequest`] and
//! `[*.metadata.forge.image]`, everything [`super::execute_with`] will do, without side effects
//! (it reads files and asks git for the revision; it writes nothing).
//!
//! It reads as a pipeline, one step per decision, in the order their errors are reported:
//! platforms, format, base, binaries, assets, runtime settings, annotations, tags, outputs (and
//! the VM plan), the checks of where the image goes, the build, the `.deb` plan. Each step is a
//! method of [`Planning`], which holds what every step reads (the request, the package, its
//! manifest, the resolved settings and the `image` table), so the steps take only what earlier
//! steps decided.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::build::{self, BuildPlan, BuildRequest};
use forge_core::config::Settings;
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::project::Project;
use forge_core::target;
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use super::{parse_output, ImagePlan, ImageRequest, OutputSpec, PlatformPlan};
use crate::config::ImageConfig;
use crate::oci::{Format, PlatformSpec, RuntimeConfig};
use crate::registry::Reference;

fn git_revision(dir: &Path, shell: &Shell) -> Option<String> {
    forge_core::process::Cmd::new("git")
        .args(["rev-parse", "HEAD"])
        .cwd(dir)
        .output_unchecked(shell)
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
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
    let cx = Planning {
        project,
        pkg,
        manifest,
        args,
        settings: &settings,
        cfg: &cfg,
        version: &version,
    };
    let platforms = cx.platforms(&toolchain)?;
    let triples: Vec<String> = platforms.iter().map(|p| p.target.triple.clone()).collect();
    let (format, healthcheck) = cx.format(shell)?;
    let base = cx.base()?;
    let from_deb = args.from_deb || cfg.from_deb.unwrap_or(false);
    let limits = crate::config::ImageLimits::resolve(cfg.limits.as_ref(), manifest)?;
    let binaries = cx.binaries(from_deb)?;
    let assets = cx.assets()?;
    let runtime = cx.runtime(&base, from_deb, &binaries, &assets, healthcheck)?;
    let sde = forge_core::archive::source_date_epoch(&project.workspace_root, manifest)?;
    let revision = git_revision(&project.workspace_root, shell);
    let annotations = cx.annotations(&base, revision.clone(), sde);
    let (tags, tracks) = cx.tags(&revision)?;
    let (outputs, vm) = cx.outputs(&platforms, sde)?;
    cx.check_destinations(&tags, &platforms, &outputs, vm.is_some(), shell)?;
    let build = cx.build(&triples, &toolchain, shell)?;
    let retries = forge_core::cli::resolve_retries(args.retries, Some(settings.retries))?;
    let deb = cx.deb(from_deb || vm.is_some(), triples, &toolchain, shell)?;
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

/// What every step of [`plan_request`] reads.
struct Planning<'a> {
    project: &'a Project,
    pkg: &'a cargo_metadata::Package,
    manifest: &'a Path,
    args: &'a ImageRequest,
    settings: &'a Settings,
    cfg: &'a ImageConfig,
    version: &'a semver::Version,
}

impl Planning<'_> {
    /// Platforms: `--platform`, else `--target`, else config, else the host.
    fn platforms(&self, toolchain: &Toolchain) -> Result<Vec<PlatformPlan>> {
        let Planning {
            args,
            cfg,
            settings,
            ..
        } = *self;
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
        Ok(platforms)
    }

    /// The image format (`--format`, config, else OCI unless a healthcheck needs Docker's) and
    /// the healthcheck in Docker's form.
    fn format(&self, shell: &Shell) -> Result<(Format, Option<serde_json::Value>)> {
        let Planning {
            args,
            cfg,
            manifest,
            ..
        } = *self;
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
        Ok((format, healthcheck))
    }

    /// The base: `--base`, config, else `scratch`; a reference is checked now.
    fn base(&self) -> Result<String> {
        let Planning {
            args,
            cfg,
            manifest,
            ..
        } = *self;
        let base = args
            .base
            .clone()
            .or(cfg.base.clone())
            .unwrap_or_else(|| "scratch".into());
        if base != "scratch" {
            Reference::parse(&base)
                .with_context(|| format!("invalid base image in `{}`", manifest.display()))?;
        }
        Ok(base)
    }

    /// The binaries to put in the image: config's `binaries` (each checked), else all.
    fn binaries(&self, from_deb: bool) -> Result<Vec<String>> {
        let Planning {
            cfg, manifest, pkg, ..
        } = *self;
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
        Ok(binaries)
    }

    /// Config's `assets`: (source, destination, mode), each source checked to exist.
    fn assets(&self) -> Result<Vec<(PathBuf, String, u32)>> {
        let Planning { cfg, manifest, .. } = *self;
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
                .with_context(|| {
                    format!("invalid destination in `{key}` of `{}`", manifest.display())
                })
                .kind(ErrorKind::Usage)?;
            assets.push((src, dest, mode));
        }

        Ok(assets)
    }

    /// The runtime settings: user, env, entrypoint (checked against the files of a scratch
    /// image), cmd, ports, labels, healthcheck.
    fn runtime(
        &self,
        base: &str,
        from_deb: bool,
        binaries: &[String],
        assets: &[(PathBuf, String, u32)],
        healthcheck: Option<serde_json::Value>,
    ) -> Result<RuntimeConfig> {
        let Planning {
            cfg, manifest, pkg, ..
        } = *self;
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
            let mut files: Vec<String> =
                binaries.iter().map(|b| format!("{bin_dir}/{b}")).collect();
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

        Ok(runtime)
    }

    /// The `org.opencontainers.image.*` annotations, then config's.
    fn annotations(
        &self,
        base: &str,
        revision: Option<String>,
        sde: u64,
    ) -> BTreeMap<String, String> {
        let Planning {
            cfg, pkg, version, ..
        } = *self;
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
            ann("base.name", Some(base.to_string()));
        }
        for (k, v) in cfg.annotations.clone().unwrap_or_default() {
            annotations.insert(k, v);
        }

        annotations
    }

    /// The references to tag: `--tag`, else `repository` with the `tags` templates; and what
    /// each moving tag follows.
    fn tags(
        &self,
        revision: &Option<String>,
    ) -> Result<(Vec<String>, BTreeMap<String, crate::tags::Track>)> {
        let Planning {
            args, cfg, version, ..
        } = *self;
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
        Ok((tags, tracks))
    }

    /// The local outputs, and the VM plan of the VM outputs.
    fn outputs(
        &self,
        platforms: &[PlatformPlan],
        sde: u64,
    ) -> Result<(Vec<OutputSpec>, Option<crate::vm::VmPlan>)> {
        let Planning {
            args,
            pkg,
            project,
            settings,
            ..
        } = *self;
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
        Ok((outputs, vm))
    }

    /// Checks that a push has somewhere to go; notes when the image goes nowhere.
    fn check_destinations(
        &self,
        tags: &[String],
        platforms: &[PlatformPlan],
        outputs: &[OutputSpec],
        has_vm: bool,
        shell: &Shell,
    ) -> Result<()> {
        let Planning { args, cfg, .. } = *self;
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
        if !args.push && !args.push_by_digest && outputs.is_empty() && !has_vm && !args.dry_run {
            shell.note(
            "neither `--push` nor `--output` given: the image is built and checked, then discarded",
        );
        }

        Ok(())
    }

    /// The build (forge-core's engine), `None` with `--no-build`.
    fn build(
        &self,
        triples: &[String],
        toolchain: &Toolchain,
        shell: &Shell,
    ) -> Result<Option<BuildPlan>> {
        let Planning {
            args,
            pkg,
            project,
            settings,
            ..
        } = *self;
        let build = if args.no_build {
            None
        } else {
            let req = BuildRequest {
                workspace_root: project.workspace_root.clone(),
                manifest_path: project.workspace_manifest(),
                target_dir: project.target_dir.clone(),
                packages: vec![pkg.name.to_string()],
                features: args.features.clone(),
                targets: triples.to_vec(),
                profile: settings.profile.clone(),
                locked: args.locked,
                frozen: args.frozen,
                offline: args.offline,
                backend: settings.backend,
                glibc: settings.glibc.clone(),
            };
            Some(build::plan(&req, &toolchain, shell)?)
        };
        Ok(build)
    }

    /// A `from-deb` image is made of the packages forge-deb makes of the same binaries (and so
    /// are VM images): their plan is made now, so its configuration errors show before anything
    /// is built.
    fn deb(
        &self,
        wanted: bool,
        triples: Vec<String>,
        toolchain: &Toolchain,
        shell: &Shell,
    ) -> Result<Option<cargo_forge_deb::ops::DebPlan>> {
        let Planning {
            args, pkg, project, ..
        } = *self;
        let deb = if wanted {
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
        Ok(deb)
    }
}
