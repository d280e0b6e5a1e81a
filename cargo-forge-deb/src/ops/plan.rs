//! The plan of a `cargo forge-deb` run: settings resolved, one [`PackageJob`] per package and
//! target with its output path, the build and the compression decided. Reads files; writes
//! nothing, so `--dry-run` and other commands' plans can hold it.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config_error::parse_table;
use forge_core::build::{self, BuildRequest};
use forge_core::exit::usage;
use forge_core::project::{profile_dir, Project};
use forge_core::target::{self, TargetInfo};
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use super::{DebPlan, PackageJob};
use crate::assets::{self, AssetContext};
use crate::cli::DebArgs;
use crate::manifest::{DebMetadata, ForgeDebConfig};
use crate::writer::{Compression, CompressionSettings};

fn deb_metadata(pkg: &cargo_metadata::Package, variant: Option<&str>) -> Result<DebMetadata> {
    let manifest = pkg.manifest_path.as_std_path();
    let base: DebMetadata = match pkg.metadata.get("deb") {
        None | Some(serde_json::Value::Null) => DebMetadata::default(),
        Some(v) => parse_table(v, manifest, "package.metadata.deb")?,
    };
    match variant {
        None => Ok(base),
        Some(name) => {
            let v = base.variants.as_ref().and_then(|vs| vs.get(name)).ok_or_else(|| {
                let defined: Vec<&str> = base.variants.iter().flat_map(|vs| vs.keys()).map(String::as_str).collect();
                forge_core::exit::with_hint(
                    usage(format!(
                        "variant `{name}` is not defined: `[package.metadata.deb.variants.{name}]` not found in `{}`",
                        manifest.display()
                    )),
                    if defined.is_empty() {
                        format!("add a `[package.metadata.deb.variants.{name}]` table with the keys that differ")
                    } else {
                        format!("the variants defined are: {}", defined.join(", "))
                    },
                )
            })?;
            Ok(base.with_variant(v, name, pkg.name.as_str()))
        }
    }
}

fn debian_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// What to package: the library form of `cargo forge-deb`'s flags (same names), for
/// [`plan_request`].
#[derive(Clone, Debug, Default)]
pub struct DebRequest {
    /// The packages (workspace members, by name), in order.
    pub packages: Vec<String>,
    /// The top layer of the settings: `targets`, `profile`, `backend`, `toolchain`, `glibc`.
    pub settings: forge_core::config::ForgeLayer,
    pub features: clap_cargo::Features,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    /// Package binaries built already (by the caller, or found where cargo puts them).
    pub no_build: bool,
    /// The upstream version of every package instead of its Cargo.toml's (a release that
    /// bumps the version plans with the version it will set).
    pub upstream_version: Option<String>,
    pub output: Option<PathBuf>,
    pub variant: Option<String>,
    pub deb_version: Option<String>,
    pub deb_revision: Option<String>,
    pub compress: Option<Compression>,
    pub compress_level: Option<u32>,
    pub fast: bool,
    pub no_strip: bool,
    pub multiarch: Option<String>,
    /// `--runner qemu`.
    pub runner: Option<String>,
    pub lint: bool,
    pub install_test: bool,
    /// Sign with gpg: `sign_key`, else gpg's default key.
    pub sign: bool,
    /// `--sign-key` (implies `sign`).
    pub sign_key: Option<String>,
    /// `--maintainer` and `--section`: the `[package.metadata.deb]` keys they override.
    pub maintainer: Option<String>,
    pub section: Option<String>,
    /// `--dbgsym`/`--no-dbgsym`, `--separate-debug-symbols`/`--no-…`,
    /// `--compress-debug-symbols[=FORMAT]`/`--no-…`: the `[package.metadata.deb]` keys they
    /// override (`None`: the manifest decides).
    pub dbgsym: Option<bool>,
    pub separate_debug_symbols: Option<bool>,
    pub compress_debug_symbols: Option<bool>,
    /// The compression of separated debug symbols (`zlib` when `None`).
    pub debug_compression: Option<String>,
}

impl DebRequest {
    /// The request `cargo forge-deb`'s flags make, for the packages `project` selected.
    pub fn from_args(args: &DebArgs, project: &Project) -> DebRequest {
        let common = &args.common;
        let overrides = args.apply_overrides(DebMetadata::default());
        DebRequest {
            packages: project.packages().map(|p| p.name.to_string()).collect(),
            settings: forge_core::config::ForgeLayer::from_args(common),
            features: common.features.clone(),
            locked: common.locked,
            frozen: common.frozen,
            offline: common.offline,
            no_build: common.no_build,
            upstream_version: None,
            output: args.output.clone(),
            variant: args.variant.clone(),
            deb_version: args.deb_version.clone(),
            deb_revision: args.deb_revision.clone(),
            compress: args.compress,
            compress_level: args.compress_level,
            fast: args.fast,
            no_strip: args.no_strip,
            multiarch: args.multiarch.clone(),
            runner: args.runner.clone(),
            lint: args.lint,
            install_test: args.install_test,
            sign: args.sign || args.sign_key.is_some(),
            sign_key: args.sign_key.clone(),
            maintainer: overrides.maintainer,
            section: overrides.section,
            dbgsym: overrides.dbgsym,
            separate_debug_symbols: overrides.separate_debug_symbols,
            compress_debug_symbols: overrides.compress_debug_symbols,
            debug_compression: args.compress_debug_symbols.clone(),
        }
    }

    /// The `[package.metadata.deb]` keys the request overrides: `maintainer`, `section` and the
    /// debug-symbol keys.
    fn apply_overrides(&self, mut meta: DebMetadata) -> DebMetadata {
        if let Some(m) = &self.maintainer {
            meta.maintainer = Some(m.clone());
        }
        if let Some(s) = &self.section {
            meta.section = Some(s.clone());
        }
        if let Some(v) = self.dbgsym {
            meta.dbgsym = Some(v);
        }
        if let Some(v) = self.separate_debug_symbols {
            meta.separate_debug_symbols = Some(v);
        }
        if let Some(v) = self.compress_debug_symbols {
            meta.compress_debug_symbols = Some(v);
        }
        meta
    }
}

/// Computes the plan. Reads files; writes nothing.
pub fn plan(args: &DebArgs, shell: &Shell) -> Result<(Project, DebPlan)> {
    // The toolchain may be configured in the workspace: read the workspace layer first with the
    // default cargo (cargo metadata's output does not depend on the toolchain).
    let (project, toolchain) = forge_core::project::load_with_toolchain(&args.common, shell)?;
    let req = DebRequest::from_args(args, &project);
    let plan = plan_request(&project, toolchain, &req, shell)?;
    Ok((project, plan))
}

/// The plan of a [`DebRequest`] on a loaded workspace, built with `toolchain`. Reads files;
/// writes nothing.
pub fn plan_request(
    project: &Project,
    toolchain: Toolchain,
    args: &DebRequest,
    shell: &Shell,
) -> Result<DebPlan> {
    let packages: Vec<&cargo_metadata::Package> = args
        .packages
        .iter()
        .map(|name| {
            project
                .package(name)
                .ok_or_else(|| usage(format!("package `{name}` is not in the workspace")))
        })
        .collect::<Result<_>>()?;
    let first_pkg = *packages
        .first()
        .ok_or_else(|| usage("no package to make a .deb of"))?;
    let settings = forge_core::config::resolve_layer(project, first_pkg, &args.settings)?;

    let mut jobs = Vec::new();
    let mut profile = settings.profile.clone();
    // A glibc floor makes zigbuild build for `<host>.<glibc>`, into `target/<host>/`: the host
    // target becomes explicit so that the packaged binaries are the ones built with the floor.
    let triples: Vec<String> = if settings.targets.is_empty() && settings.glibc.is_some() {
        vec![toolchain.host.clone()]
    } else {
        settings.targets.clone()
    };
    let targets: Vec<Option<TargetInfo>> = if triples.is_empty() {
        vec![None]
    } else {
        triples
            .iter()
            .map(|t| target::lookup(t).map(Some))
            .collect::<Result<_>>()?
    };
    for pkg in &packages {
        jobs.extend(package_jobs(
            project,
            &toolchain,
            args,
            pkg,
            &targets,
            targets.len() * packages.len() > 1,
            &mut profile,
        )?);
    }

    let build = if args.no_build {
        None
    } else {
        let mut features = args.features.clone();
        if let Some(f) = jobs.first().and_then(|j| j.metadata.features.clone()) {
            features.features.extend(f);
        }
        if jobs.first().and_then(|j| j.metadata.default_features) == Some(false) {
            features.no_default_features = true;
        }
        let req = BuildRequest {
            workspace_root: project.workspace_root.clone(),
            manifest_path: project.workspace_manifest(),
            target_dir: project.target_dir.clone(),
            packages: packages.iter().map(|p| p.name.to_string()).collect(),
            features,
            targets: triples.clone(),
            profile: profile.clone(),
            locked: args.locked,
            frozen: args.frozen,
            offline: args.offline,
            backend: settings.backend,
            glibc: settings.glibc.clone(),
        };
        Some(build::plan(&req, &toolchain, shell)?)
    };
    let forge0 = jobs.first().map(|j| j.forge.clone()).unwrap_or_default();
    let format = args
        .compress
        .or_else(|| forge0.compress.as_deref().and_then(Compression::parse))
        .unwrap_or(Compression::Xz);
    if let Some(c) = &forge0.compress {
        if Compression::parse(c).is_none() {
            return Err(usage(format!(
                "invalid `package.metadata.forge.deb.compress` value `{c}`: expected xz, zstd, gzip or none"
            )));
        }
    }
    let level = args
        .compress_level
        .or(forge0.compress_level)
        .unwrap_or(if args.fast { 1 } else { format.default_level() });
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let sde = forge_core::archive::source_date_epoch(&project.workspace_root, &jobs[0].manifest)?;
    let plan = DebPlan {
        toolchain,
        profile,
        target_dir: project.target_dir.clone(),
        source_date_epoch: sde,
        build,
        packages: jobs,
        compression: CompressionSettings {
            format,
            level,
            threads,
        },
        strip: !args.no_strip,
        lint: args.lint,
        install_test: args.install_test,
        sign: args.sign || args.sign_key.is_some(),
        sign_key: args.sign_key.clone(),
        multiarch: args.multiarch.clone().filter(|m| m != "none"),
        smoke_test: args.runner.is_some(),
        glibc: settings.glibc.clone(),
        debug_compression: args
            .debug_compression
            .clone()
            .unwrap_or_else(|| "zlib".into()),
    };
    Ok(plan)
}

/// The jobs of one package: one per target, with its Debian name, version and output path. The
/// package's `profile` key, unless the request sets one, becomes the run's `profile`.
#[allow(clippy::too_many_arguments)]
fn package_jobs(
    project: &Project,
    toolchain: &Toolchain,
    args: &DebRequest,
    pkg: &cargo_metadata::Package,
    targets: &[Option<TargetInfo>],
    many: bool,
    profile: &mut String,
) -> Result<Vec<PackageJob>> {
    let mut jobs = Vec::new();
    let meta = args.apply_overrides(deb_metadata(pkg, args.variant.as_deref())?);
    if args.settings.profile.is_none() {
        if let Some(p) = &meta.profile {
            *profile = p.clone();
        }
    }
    let pkg_settings = forge_core::config::resolve_layer(project, pkg, &args.settings)?;
    let forge: ForgeDebConfig = match &pkg_settings.deb {
        Some(v) => parse_table(
            v,
            pkg.manifest_path.as_std_path(),
            "package.metadata.forge.deb",
        )?,
        None => ForgeDebConfig::default(),
    };
    let name = debian_name(meta.name.as_deref().unwrap_or(pkg.name.as_str()));
    let version = match &args.deb_version {
        Some(v) => v.clone(),
        None => crate::version::full_version(
            &args
                .upstream_version
                .clone()
                .unwrap_or_else(|| pkg.version.to_string()),
            args.deb_revision.as_deref().or(meta.revision.as_deref()),
        ),
    };
    crate::version::check(&version)?;
    let package_dir = pkg
        .manifest_path
        .parent()
        .map(|p| p.as_std_path().to_path_buf())
        .unwrap_or_default();
    let table = match &args.variant {
        Some(v) => format!("package.metadata.deb.variants.{v}"),
        None => "package.metadata.deb".to_string(),
    };
    crate::validate::check_metadata(
        &meta,
        &table,
        &package_dir,
        pkg.manifest_path.as_std_path(),
        &name,
    )?;
    assets::check_static(
        meta.assets.as_deref(),
        &AssetContext {
            package_dir: &package_dir,
            target_dir: &project.target_dir,
            triple: None,
            profile_dir: profile_dir(profile),
            deb_name: &name,
            manifest: pkg.manifest_path.as_std_path(),
            preserve_symlinks: meta.preserve_symlinks.unwrap_or(false),
            artifacts: &[],
            readme: None,
        },
    )?;
    for t in targets {
        let arch = match t {
            Some(t) => t.dpkg_arch.clone(),
            None => target::lookup(&toolchain.host)?.dpkg_arch,
        };
        let file = format!(
            "{name}_{}_{arch}.deb",
            version.split_once(':').map_or(version.as_str(), |(_, v)| v)
        );
        let output = output_path(
            args.output.as_deref(),
            &project.target_dir.join("debian"),
            &file,
            many,
        );
        jobs.push(PackageJob {
            crate_name: pkg.name.to_string(),
            crate_version: args
                .upstream_version
                .clone()
                .unwrap_or_else(|| pkg.version.to_string()),
            manifest: pkg.manifest_path.clone().into_std_path_buf(),
            package_dir: pkg
                .manifest_path
                .parent()
                .map(|p| p.as_std_path().to_path_buf())
                .unwrap_or_default(),
            target: t.clone(),
            name: name.clone(),
            version: version.clone(),
            arch,
            output,
            metadata: meta.clone(),
            forge: forge.clone(),
        });
    }
    Ok(jobs)
}

/// cargo-deb's `-o` rule: a directory if it ends in `/`, exists as one, or has no extension; a
/// file name only when one package is made. Without `-o`, `file` in `default_dir`. forge-rpm
/// follows the same rule.
pub fn output_path(output: Option<&Path>, default_dir: &Path, file: &str, many: bool) -> PathBuf {
    match output {
        None => default_dir.join(file),
        Some(o) => {
            let s = o.to_string_lossy();
            let is_dir = s.ends_with('/') || o.is_dir() || (o.extension().is_none() && !o.exists());
            if is_dir {
                o.join(file)
            } else if many {
                o.parent().unwrap_or(Path::new(".")).join(file)
            } else {
                o.to_path_buf()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_rules() {
        let t = Path::new("/t/debian");
        assert_eq!(
            output_path(None, t, "a.deb", false),
            Path::new("/t/debian/a.deb")
        );
        assert_eq!(
            output_path(Some(Path::new("out/")), t, "a.deb", false),
            Path::new("out/a.deb")
        );
        assert_eq!(
            output_path(Some(Path::new("/nonexistent/x.deb")), t, "a.deb", false),
            Path::new("/nonexistent/x.deb")
        );
        assert_eq!(
            output_path(Some(Path::new("/nonexistent/x.deb")), t, "a.deb", true),
            Path::new("/nonexistent/a.deb")
        );
        assert_eq!(
            output_path(Some(Path::new("/nonexistent/dir")), t, "a.deb", false),
            Path::new("/nonexistent/dir/a.deb")
        );
    }
}
