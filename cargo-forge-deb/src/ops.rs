//! `cargo forge-deb`: plan, then execute.
//!
//! [`plan`] reads the workspace and metadata, resolves settings and decides the build, the
//! packages (one per selected package and target) and their output paths — with no side
//! effects, so `--dry-run` and `--message-format json` can print it. [`execute`] builds (unless
//! `--no-build`), then for each package resolves assets, generates the documentation files,
//! computes `Depends`, strips binaries, writes the `.deb` atomically, and optionally signs, lints
//! and install-tests it. Produced paths go to stdout, one per line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use forge_core::build::{self, Artifact, BuildPlan, BuildRequest};
use forge_core::config::parse_table;
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::project::{profile_dir, Project};
use forge_core::target::{self, TargetInfo};
use forge_core::toolchain::Toolchain;
use forge_core::Shell;

use crate::assets::{self, Asset, AssetContext, Content, Origin};
use crate::cli::DebArgs;
use crate::control::Control;
use crate::manifest::{DebMetadata, ForgeDebConfig};
use crate::writer::{Compression, CompressionSettings};

/// One package to produce.
#[derive(Debug, Serialize)]
pub struct PackageJob {
    /// The Cargo package.
    pub crate_name: String,
    pub crate_version: String,
    pub manifest: PathBuf,
    pub package_dir: PathBuf,
    /// `None`: the host, built without `--target`.
    pub target: Option<TargetInfo>,
    /// The Debian package name and version.
    pub name: String,
    pub version: String,
    /// The architecture if binaries are packaged (`all` is decided once assets are known).
    pub arch: String,
    pub output: PathBuf,
    pub metadata: DebMetadata,
    pub forge: ForgeDebConfig,
    #[serde(skip)]
    pub package: cargo_metadata::Package,
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct DebPlan {
    pub toolchain: Toolchain,
    pub profile: String,
    pub target_dir: PathBuf,
    pub source_date_epoch: u64,
    /// `None` with `--no-build`.
    pub build: Option<BuildPlan>,
    pub packages: Vec<PackageJob>,
    pub compression: CompressionSettings,
    pub strip: bool,
    pub lint: bool,
    pub install_test: bool,
    pub sign: bool,
    pub sign_key: Option<String>,
    /// `Multi-Arch` (`same` or `foreign`).
    pub multiarch: Option<String>,
    /// `--runner qemu`: smoke-test built binaries before packaging.
    pub smoke_test: bool,
    /// The glibc floor (`--glibc`) the binaries were linked for, which bounds `libc6`'s version.
    pub glibc: Option<String>,
    /// How separated debug symbols are compressed when `compress-debug-symbols` is on.
    pub debug_compression: String,
}

/// A produced package, for JSON output.
#[derive(Debug, Serialize)]
pub struct Produced {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub target: Option<String>,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub depends: String,
    /// The `-dbgsym` package, when one was made.
    pub dbgsym: Option<PathBuf>,
}

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

/// Computes the plan. Reads files; writes nothing.
pub fn plan(args: &DebArgs, shell: &Shell) -> Result<(Project, DebPlan)> {
    let common = &args.common;
    // The toolchain may be configured in the workspace: read the workspace layer first with the
    // default cargo (cargo metadata's output does not depend on the toolchain).
    let (project, toolchain) = forge_core::project::load_with_toolchain(common, shell)?;
    let packages: Vec<&cargo_metadata::Package> = project.packages().collect();
    let first_pkg = packages[0];
    let settings = forge_core::config::resolve(&project, first_pkg, common)?;

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
        let meta = args.apply_overrides(deb_metadata(pkg, args.variant.as_deref())?);
        if common.profile.is_none() {
            if let Some(p) = &meta.profile {
                profile = p.clone();
            }
        }
        let pkg_settings = forge_core::config::resolve(&project, pkg, common)?;
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
                &pkg.version.to_string(),
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
                profile_dir: profile_dir(&profile),
                deb_name: &name,
                manifest: pkg.manifest_path.as_std_path(),
                preserve_symlinks: meta.preserve_symlinks.unwrap_or(false),
                artifacts: &[],
                readme: None,
            },
        )?;
        for t in &targets {
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
                &project.target_dir,
                &file,
                targets.len() * packages.len() > 1,
            );
            jobs.push(PackageJob {
                crate_name: pkg.name.to_string(),
                crate_version: pkg.version.to_string(),
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
                package: (*pkg).clone(),
            });
        }
    }

    let build = if common.no_build {
        None
    } else {
        let mut features = common.features.clone();
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
            locked: common.locked,
            frozen: common.frozen,
            offline: common.offline,
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
        sign: args.sign,
        sign_key: args.key.clone(),
        multiarch: args.multiarch.clone().filter(|m| m != "none"),
        smoke_test: args.runner.is_some(),
        glibc: settings.glibc.clone(),
        debug_compression: args
            .compress_debug_symbols
            .clone()
            .unwrap_or_else(|| "zlib".into()),
    };
    Ok((project, plan))
}

/// cargo-deb's `-o` rule: a directory if it ends in `/`, exists as one, or has no extension.
fn output_path(output: Option<&Path>, target_dir: &Path, file: &str, many: bool) -> PathBuf {
    match output {
        None => target_dir.join("debian").join(file),
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

/// Runs the plan.
pub fn execute(project: &Project, plan: &DebPlan, shell: &Shell) -> Result<Vec<Produced>> {
    let artifacts: Vec<Artifact> = match &plan.build {
        Some(b) => build::execute(b, project, shell)?,
        None => {
            let pkgs: Vec<&cargo_metadata::Package> = project.packages().collect();
            let triples: Vec<String> = plan
                .packages
                .iter()
                .filter_map(|j| j.target.as_ref().map(|t| t.triple.clone()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            build::existing_artifacts(project, &pkgs, &triples, &plan.profile)?
        }
    };
    if plan.smoke_test {
        smoke_test(&artifacts, &plan.toolchain.host, shell)?;
    }
    let mut produced = Vec::new();
    for job in &plan.packages {
        let p = package(project, plan, job, &artifacts, shell)
            .with_context(|| format!("failed to package `{}` for {}", job.crate_name, job.arch))?;
        produced.push(p);
    }
    for p in &produced {
        if plan.sign {
            crate::sign::sign_deb(&p.path, plan.sign_key.as_deref(), shell)?;
        }
    }
    // Signing rewrote the files: refresh sizes and digests.
    for p in &mut produced {
        p.size = forge_core::fsx::metadata(&p.path)?.len();
        p.sha256 = forge_core::digest::sha256_file(&p.path)?;
    }
    if plan.lint {
        for p in &produced {
            crate::lint::lint(&p.path, shell)?;
        }
    }
    if plan.install_test {
        for (p, job) in produced.iter().zip(&plan.packages) {
            let info = match &job.target {
                Some(t) => t.clone(),
                None => target::lookup(&plan.toolchain.host)?,
            };
            let binaries = installed_binaries(&p.path)?;
            let test = crate::install_test::InstallTest {
                deb: p.path.clone(),
                arch: info.dpkg_arch.clone(),
                target: info,
                binaries,
                cache_dir: roots_cache_dir(&plan.target_dir),
                command: job
                    .forge
                    .install_test
                    .as_ref()
                    .and_then(|i| i.command.clone()),
                timeout: job
                    .forge
                    .install_test
                    .as_ref()
                    .and_then(|i| i.timeout)
                    .unwrap_or(120),
            };
            crate::install_test::run(&test, shell)?;
        }
    }
    Ok(produced)
}

/// GitHub Actions (no-op elsewhere): a table of the produced packages in the job summary, and
/// the output `debs`, their paths one per line (a `-dbgsym` package before its package, as on
/// stdout). Called once by the command, not by [`execute`], which other commands also use.
pub fn report_gha(produced: &[Produced], shell: &Shell) -> Result<()> {
    use forge_core::gha::{code, Table};
    let gha = shell.gha();
    if !gha.is_enabled() {
        return Ok(());
    }
    let mut table = Table::new(&[
        "Package",
        "Architecture",
        "Version",
        "Path",
        "Size (bytes)",
        "SHA-256",
    ]);
    let mut paths = Vec::new();
    for p in produced {
        if let Some(d) = &p.dbgsym {
            paths.push(d.display().to_string());
        }
        paths.push(p.path.display().to_string());
        table.row(vec![
            p.package.clone(),
            p.architecture.clone(),
            p.version.clone(),
            code(&p.path.display().to_string()),
            p.size.to_string(),
            code(&p.sha256),
        ]);
    }
    gha.summary(&format!("### cargo forge-deb\n\n{}", table.render()))?;
    gha.output("debs", &paths.join("\n"))
}

/// Where clean Debian roots for `--install-test` are cached: `FORGE_ROOTS_CACHE`, else
/// `$XDG_CACHE_HOME/cargo-forge/roots` (or `~/.cache/…`), else under the target directory. Shared
/// between projects because a root is the same for every package of an architecture.
fn roots_cache_dir(target_dir: &Path) -> PathBuf {
    if let Some(d) = std::env::var_os("FORGE_ROOTS_CACHE") {
        return PathBuf::from(d);
    }
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    match xdg {
        Some(d) => d.join("cargo-forge/roots"),
        None => target_dir.join("forge/roots"),
    }
}

/// Runs every built binary with `--version` on this machine: directly for the host's
/// architecture, through qemu-user (with the target's library prefix) for foreign ones.
fn smoke_test(artifacts: &[Artifact], host: &str, shell: &Shell) -> Result<()> {
    for a in artifacts.iter().filter(|a| a.kind == "bin") {
        let target = match &a.target {
            Some(t) => target::lookup(t)?,
            None => target::lookup(host)?,
        };
        let out = forge_core::qemu::command(&target, host, &a.path)?
            .arg("--version")
            .output(shell)
            .with_context(|| format!("smoke test of `{}` ({}) failed", a.name, target.triple))
            .kind(ErrorKind::Check)
            .hint("`--runner` runs each binary with `--version`, which must succeed; drop `--runner` to package without this check")?;
        let text = String::from_utf8_lossy(&out.stdout);
        shell.status(
            "Ran",
            format!(
                "`{} --version` ({}): {}",
                a.name,
                target.dpkg_arch,
                text.lines().next().unwrap_or("").trim()
            ),
        );
    }
    Ok(())
}

/// The names of executables the package installs in `usr/bin` or `usr/sbin`.
fn installed_binaries(deb: &Path) -> Result<Vec<String>> {
    let members = crate::writer::read_members(deb)?;
    let (name, bytes) = members
        .iter()
        .find(|(n, _)| n.starts_with("data.tar"))
        .with_context(|| format!("`{}` has no data.tar member", deb.display()))?;
    let tar = crate::writer::decompress(name, bytes)?;
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut out = Vec::new();
    for e in archive.entries().context("failed to read data.tar")? {
        let e = e.context("failed to read data.tar")?;
        let path = e
            .path()
            .context("bad path in data.tar")?
            .to_string_lossy()
            .into_owned();
        let path = path.trim_start_matches("./");
        let mode = e.header().mode().unwrap_or(0);
        if (path.starts_with("usr/bin/") || path.starts_with("usr/sbin/"))
            && mode & 0o111 != 0
            && e.header().entry_type().is_file()
        {
            if let Some(name) = Path::new(path).file_name() {
                out.push(name.to_string_lossy().into_owned());
            }
        }
    }
    Ok(out)
}

fn package(
    project: &Project,
    plan: &DebPlan,
    job: &PackageJob,
    all_artifacts: &[Artifact],
    shell: &Shell,
) -> Result<Produced> {
    let meta = &job.metadata;
    let pkg = &job.package;
    let manifest = job.manifest.as_path();
    let triple = job.target.as_ref().map(|t| t.triple.as_str());
    let artifacts: Vec<Artifact> = all_artifacts
        .iter()
        .filter(|a| a.package == job.crate_name && a.target.as_deref() == triple)
        .cloned()
        .collect();
    let target_info = match &job.target {
        Some(t) => t.clone(),
        None => target::lookup(&plan.toolchain.host)?,
    };
    let cross = !forge_core::qemu::is_native(&target_info, &plan.toolchain.host);
    shell.status(
        "Packaging",
        format!("{} v{} ({})", job.name, job.version, job.arch),
    );

    let readme = pkg.readme().map(|r| r.into_std_path_buf()).or_else(|| {
        ["README.md", "README.txt", "README"]
            .iter()
            .map(|n| job.package_dir.join(n))
            .find(|p| p.is_file())
    });
    let ctx = AssetContext {
        package_dir: &job.package_dir,
        target_dir: &plan.target_dir,
        triple,
        profile_dir: profile_dir(&plan.profile),
        deb_name: &job.name,
        manifest,
        preserve_symlinks: meta.preserve_symlinks.unwrap_or(false),
        artifacts: &artifacts,
        readme: readme.clone(),
    };
    let resolved = assets::resolve(meta.assets.as_deref(), &ctx)?;
    let (auto, explicit): (Vec<Asset>, Vec<Asset>) =
        resolved.into_iter().partition(|a| a.origin == Origin::Auto);

    // Generated documentation.
    let maintainer = meta
        .maintainer
        .clone()
        .or_else(|| pkg.authors.first().cloned());
    let doc = format!("usr/share/doc/{}", job.name);
    let mut generated = Vec::new();
    let copyright_dest = format!("{doc}/copyright");
    if !explicit.iter().any(|a| a.dest == copyright_dest) {
        generated.push(Asset {
            dest: copyright_dest,
            mode: 0o644,
            content: Content::Bytes(
                copyright_text(job, project, plan.source_date_epoch)?.into_bytes(),
            ),
            built: false,
            origin: Origin::Generated,
        });
    }
    let native = !job.version.contains('-') || job.version.rsplit_once('-').is_none();
    let changelog_dest = if native {
        format!("{doc}/changelog.gz")
    } else {
        format!("{doc}/changelog.Debian.gz")
    };
    if !explicit.iter().any(|a| a.dest == changelog_dest) {
        let configured = meta.changelog.as_ref().map(|c| job.package_dir.join(c));
        let text = crate::docs::changelog(
            &job.package_dir,
            configured.as_deref(),
            &job.name,
            &job.version,
            &job.crate_version,
            maintainer
                .as_deref()
                .unwrap_or("Unknown <unknown@localhost>"),
            plan.source_date_epoch,
        )?;
        let gz = if configured
            .as_ref()
            .is_some_and(|c| c.extension().is_some_and(|e| e == "gz"))
        {
            text
        } else {
            assets::gzip(&text)?
        };
        generated.push(Asset {
            dest: changelog_dest,
            mode: 0o644,
            content: Content::Bytes(gz),
            built: false,
            origin: Origin::Generated,
        });
    }
    let mut systemd = Vec::new();
    let units = meta
        .systemd_units
        .as_ref()
        .map(|u| u.list())
        .unwrap_or_default();
    for u in &units {
        let dir = u
            .unit_scripts
            .as_ref()
            .or(meta.maintainer_scripts.as_ref())
            .map(|d| job.package_dir.join(d))
            .unwrap_or_else(|| job.package_dir.join("systemd"));
        let found = crate::systemd::find_units(&dir, &job.name, u);
        if found.is_empty() {
            shell.warn(format!(
                "no systemd units found for `{}` in `{}`",
                job.name,
                dir.display()
            ));
        }
        systemd.extend(found);
    }
    let all: Vec<Asset> = auto
        .into_iter()
        .chain(generated)
        .chain(systemd)
        .chain(explicit)
        .collect();
    let (mut all, warnings) = assets::dedup(all);
    for w in warnings {
        shell.warn(w);
    }
    // Nothing changed since the last run: the package on disk is current (cargo's freshness).
    let fingerprint = fingerprint(plan, job, &all)?;
    let fp_path = plan.target_dir.join("forge/fingerprints").join(format!(
        "{}.json",
        job.output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    if let Some(p) = fresh(&fp_path, &fingerprint) {
        shell.status("Fresh", format!("{} ({})", p.path.display(), job.arch));
        return Ok(p);
    }
    // Multi-Arch: same packages keep their libraries in the multiarch directory (as cargo-deb,
    // but leaving systemd units, tmpfiles and debug files where their tools look for them).
    if plan.multiarch.is_some() {
        for a in all.iter_mut() {
            if let Some(rest) = a.dest.strip_prefix("usr/lib/") {
                let keep = ["systemd/", "tmpfiles.d/", "debug/", "sysusers.d/"]
                    .iter()
                    .any(|p| rest.starts_with(p))
                    || rest.starts_with(&format!("{}/", target_info.multiarch));
                if !keep {
                    a.dest = format!("usr/lib/{}/{rest}", target_info.multiarch);
                }
            }
        }
    }
    // Compress man pages and doc changelogs like cargo-deb (and dh_compress).
    for a in all.iter_mut() {
        if assets::should_gzip(a) {
            let bytes = match &a.content {
                Content::File(p) => forge_core::fsx::read(p)?,
                Content::Bytes(b) => b.clone(),
                Content::Symlink(_) => continue,
            };
            a.content = Content::Bytes(assets::gzip(&bytes)?);
            a.dest.push_str(".gz");
        }
    }

    // Depends, from the unstripped binaries.
    let binaries: Vec<&Path> = all
        .iter()
        .filter(|a| a.is_executable_binary())
        .filter_map(|a| match &a.content {
            Content::File(p) => Some(p.as_path()),
            _ => None,
        })
        .collect();
    let depends_spec = meta
        .depends
        .as_ref()
        .map(|d| d.joined())
        .unwrap_or_else(|| "$auto".into());
    let auto_deps = if depends_spec.split(',').any(|d| d.trim() == "$auto") && !binaries.is_empty()
    {
        let mut deps = crate::deps::shlibdeps(&binaries, &target_info, cross, shell)?;
        if plan.glibc.is_some() && target_info.libc == "gnu" {
            let readelf =
                forge_core::build::binutil(Some(&target_info), &plan.toolchain.host, "readelf");
            if let Some(needed) = crate::deps::glibc_needed(&binaries, &readelf, shell)? {
                deps = crate::deps::apply_glibc_floor(deps, &needed);
            }
        }
        if deps.is_empty() && !binaries.iter().all(|b| is_static(b)) {
            return Err(anyhow::anyhow!(
                "`$auto` depends came out empty for dynamically linked binaries of `{}`",
                job.name
            ))
            .kind(ErrorKind::Check)
            .hint("check that the libraries they link to come from installed Debian packages of the target architecture");
        }
        deps
    } else {
        vec![]
    };
    let depends = crate::deps::resolve_depends(&depends_spec, &job.arch, &auto_deps, shell);
    shell.verbose_status(
        "Depends",
        if depends.is_empty() {
            "(none)"
        } else {
            &depends
        },
    );

    // Strip built binaries into a scratch directory.
    let scratch = tempfile::Builder::new()
        .prefix("forge-deb-")
        .tempdir_in(ensure_dir(&plan.target_dir.join("forge/tmp"))?)
        .context("failed to create a scratch directory")?;
    let separate = meta.separate_debug_symbols.unwrap_or(false) || meta.dbgsym.unwrap_or(false);
    let mut debug_assets = Vec::new();
    if plan.strip {
        let strip = build::binutil(job.target.as_ref(), &plan.toolchain.host, "strip");
        let objcopy = build::binutil(job.target.as_ref(), &plan.toolchain.host, "objcopy");
        let readelf = build::binutil(job.target.as_ref(), &plan.toolchain.host, "readelf");
        let binutils_hint = format!(
            "install binutils for the target: `apt-get install binutils-{}`",
            target_info.gcc_prefix.trim_end_matches('-')
        );
        for (i, a) in all.iter_mut().enumerate() {
            if !a.is_executable_binary() {
                continue;
            }
            let Content::File(src) = a.content.clone() else {
                continue;
            };
            let out = scratch.path().join(format!("{i}.stripped"));
            forge_core::process::Cmd::new(&strip)
                .args([
                    "--strip-unneeded",
                    "--remove-section=.comment",
                    "--remove-section=.note",
                ])
                .arg("-o")
                .arg(&out)
                .arg(&src)
                .install_hint(binutils_hint.clone())
                .run(shell)
                .with_context(|| format!("failed to strip `{}`", src.display()))?;
            if separate {
                debug_assets.push(split_debug_info(
                    &src,
                    &out,
                    &a.dest,
                    scratch.path(),
                    i,
                    (&objcopy, &readelf),
                    meta.compress_debug_symbols
                        .unwrap_or(false)
                        .then_some(plan.debug_compression.as_str()),
                    shell,
                )?);
            }
            a.content = Content::File(out);
        }
    }
    let dbgsym = meta.dbgsym.unwrap_or(false) && !debug_assets.is_empty();
    if !dbgsym {
        all.append(&mut debug_assets);
    }

    // Architecture: all when nothing architecture-specific is packaged.
    let any_built = all.iter().any(|a| a.built);
    let arch = if any_built {
        job.arch.clone()
    } else {
        "all".to_string()
    };
    let output = if arch == job.arch {
        job.output.clone()
    } else {
        let f = job
            .output
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .replace(&format!("_{}.deb", job.arch), "_all.deb")
            })
            .unwrap_or_default();
        job.output.with_file_name(f)
    };

    // Data entries, with owners and empty directories from [package.metadata.forge.deb].
    let mut data = Vec::new();
    let mut installed_kib = 0u64;
    let mut md5sums = String::new();
    let mut conffiles: Vec<String> = meta
        .conf_files
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|c| format!("/{}", c.trim_start_matches('/')))
        .collect();
    for a in &all {
        if a.dest.starts_with("etc/")
            && !conffiles
                .iter()
                .any(|c| c.trim_start_matches('/') == a.dest)
            && !matches!(a.content, Content::Symlink(_))
        {
            conffiles.push(format!("/{}", a.dest));
        }
    }
    let shipped: Vec<&str> = all.iter().map(|a| a.dest.as_str()).collect();
    crate::validate::check_conffiles(
        meta.conf_files.as_deref().unwrap_or_default(),
        &shipped,
        "package.metadata.deb",
        manifest,
    )?;
    let mut sorted: Vec<&Asset> = all.iter().collect();
    sorted.sort_by(|a, b| a.dest.cmp(&b.dest));
    for a in sorted {
        let mut entry = match &a.content {
            Content::File(p) => forge_core::archive::Entry::file(&a.dest, p.clone(), a.mode)?,
            Content::Bytes(b) => forge_core::archive::Entry::bytes(&a.dest, b.clone(), a.mode)?,
            Content::Symlink(t) => forge_core::archive::Entry::symlink(&a.dest, t.clone())?,
        };
        let size = entry.size()?;
        installed_kib += (size + 2047) / 1024;
        if !matches!(a.content, Content::Symlink(_))
            && !conffiles
                .iter()
                .any(|c| c.trim_start_matches('/') == a.dest)
        {
            let digest = match &a.content {
                Content::File(p) => md5_file(p)?,
                Content::Bytes(b) => hex::encode(<md5::Md5 as md5::Digest>::digest(b)),
                Content::Symlink(_) => unreachable!(),
            };
            md5sums.push_str(&format!("{digest}  {}\n", entry.path));
        }
        apply_owner(&mut entry, &job.forge, manifest)?;
        data.push(entry);
    }
    for d in &job.forge.dirs {
        let mode = match &d.mode {
            Some(m) => assets::parse_mode(m, manifest, &d.path)?,
            None => 0o755,
        };
        let mut e = forge_core::archive::Entry::dir(&d.path, mode)
            .with_context(|| {
                format!(
                    "invalid `package.metadata.forge.deb.dirs` path `{}` in `{}`",
                    d.path,
                    manifest.display()
                )
            })
            .kind(ErrorKind::Usage)?;
        e.user = d.user.clone().unwrap_or_else(|| "root".into());
        e.group = d.group.clone().unwrap_or_else(|| e.user.clone());
        apply_owner(&mut e, &job.forge, manifest)?;
        data.push(e);
    }

    let commands: Vec<String> = all
        .iter()
        .filter(|a| a.dest.starts_with("usr/bin/") || a.dest.starts_with("usr/sbin/"))
        .filter_map(|a| Path::new(&a.dest).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let (synopsis, extended) = description(job, readme.as_deref(), &commands)?;
    let control = Control {
        package: job.name.clone(),
        version: job.version.clone(),
        architecture: arch.clone(),
        multi_arch: plan.multiarch.clone(),
        auto_built_package: None,
        homepage: pkg
            .homepage
            .clone()
            .or_else(|| pkg.documentation.clone())
            .or_else(|| pkg.repository.clone()),
        section: meta
            .section
            .clone()
            .or_else(|| job.forge.default_section.clone())
            .or_else(|| Some("utils".into())),
        priority: meta.priority.clone().unwrap_or_else(|| "optional".into()),
        maintainer: maintainer.clone(),
        installed_size: installed_kib,
        depends: Some(depends.clone()),
        pre_depends: meta.pre_depends.as_ref().map(|d| d.joined()),
        recommends: meta.recommends.as_ref().map(|d| d.joined()),
        suggests: meta.suggests.as_ref().map(|d| d.joined()),
        enhances: meta.enhances.as_ref().map(|d| d.joined()),
        conflicts: meta.conflicts.as_ref().map(|d| d.joined()),
        breaks: meta.breaks.as_ref().map(|d| d.joined()),
        replaces: meta.replaces.as_ref().map(|d| d.joined()),
        provides: meta.provides.as_ref().map(|d| d.joined()),
        description: synopsis,
        extended_description: Some(extended),
    };
    if maintainer.is_none() {
        shell.warn(format!(
            "no maintainer: set `maintainer` in [package.metadata.deb] or `authors` in `{}`",
            manifest.display()
        ));
    }

    // Control files: conffiles, md5sums, maintainer scripts, triggers.
    let mut control_files = Vec::new();
    if !conffiles.is_empty() {
        control_files.push((
            "conffiles".to_string(),
            0o644,
            conffiles
                .iter()
                .map(|c| format!("{c}\n"))
                .collect::<String>()
                .into_bytes(),
        ));
    }
    if job.forge.md5sums.unwrap_or(true) && !md5sums.is_empty() {
        control_files.push(("md5sums".to_string(), 0o644, md5sums.into_bytes()));
    }
    let scripts_dir = meta
        .maintainer_scripts
        .as_ref()
        .map(|d| job.package_dir.join(d));
    let mut fragments = None;
    if scripts_dir.is_some() && !units.is_empty() {
        let mut f = crate::systemd::Fragments::default();
        for u in &units {
            let g = crate::systemd::fragments(&all, u)?;
            f.postinst.push_str(&g.postinst);
            f.prerm = g.prerm + &f.prerm;
            f.postrm = g.postrm + &f.postrm;
        }
        fragments = Some(f);
    }
    let unit_name = units.first().and_then(|u| u.unit_name.clone());
    control_files.extend(crate::systemd::scripts(
        scripts_dir.as_deref(),
        &job.name,
        unit_name.as_deref(),
        fragments.as_ref(),
    )?);
    if let Some(t) = &meta.triggers_file {
        let p = job.package_dir.join(t);
        control_files.push((
            "triggers".into(),
            0o644,
            forge_core::fsx::read(&p).with_context(|| {
                format!("failed to read `triggers-file` of `{}`", manifest.display())
            })?,
        ));
    }

    let size = crate::writer::write_deb(
        &output,
        crate::writer::DebContents {
            control: control.render(),
            control_files,
            data,
            mtime: plan.source_date_epoch,
        },
        &plan.compression,
    )?;
    shell.status(
        "Packaged",
        format!("{} ({})", output.display(), human_size(size)),
    );
    let mut dbgsym_path = None;
    if dbgsym {
        let ddeb = write_dbgsym(
            job,
            &arch,
            &output,
            debug_assets,
            maintainer.clone(),
            control.homepage.clone(),
            plan,
        )?;
        shell.status("Packaged", ddeb.display());
        dbgsym_path = Some(ddeb);
    }
    let produced = Produced {
        dbgsym: dbgsym_path,
        package: job.name.clone(),
        version: job.version.clone(),
        architecture: arch,
        target: job.target.as_ref().map(|t| t.triple.clone()),
        sha256: forge_core::digest::sha256_file(&output)?,
        path: output,
        size,
        depends,
    };
    remember(&fp_path, &fingerprint, &produced)?;
    Ok(produced)
}

/// Moves the debug info of `original` into a `.debug` file (compressed if asked) and links the
/// stripped binary to it, as `dh_strip` does. The file is installed by build-id under
/// `usr/lib/debug/.build-id/`, where gdb finds it.
#[allow(clippy::too_many_arguments)]
fn split_debug_info(
    original: &Path,
    stripped: &Path,
    dest: &str,
    scratch: &Path,
    i: usize,
    (objcopy, readelf): (&Path, &Path),
    compress: Option<&str>,
    shell: &Shell,
) -> Result<Asset> {
    let notes = forge_core::process::Cmd::new(readelf)
        .arg("-n")
        .arg(original)
        .read(shell)
        .with_context(|| format!("failed to read the build-id of `{}`", original.display()))?;
    let build_id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .map(str::to_string);
    let debug_dest = match &build_id {
        Some(id) if id.len() > 2 => {
            format!("usr/lib/debug/.build-id/{}/{}.debug", &id[..2], &id[2..])
        }
        _ => format!("usr/lib/debug/{dest}.debug"),
    };
    // objcopy records the file's base name in the debuglink: give it the installed name.
    let dir = scratch.join(format!("debug-{i}"));
    forge_core::fsx::create_dir_all(&dir)?;
    let debug_file = dir.join(Path::new(&debug_dest).file_name().unwrap_or_default());
    let mut cmd = forge_core::process::Cmd::new(objcopy).arg("--only-keep-debug");
    if let Some(format) = compress {
        cmd = cmd.arg(format!("--compress-debug-sections={format}"));
    }
    cmd.arg(original)
        .arg(&debug_file)
        .run(shell)
        .with_context(|| {
            format!(
                "failed to extract the debug info of `{}`",
                original.display()
            )
        })?;
    forge_core::process::Cmd::new(objcopy)
        .arg(format!("--add-gnu-debuglink={}", debug_file.display()))
        .arg(stripped)
        .run(shell)
        .with_context(|| format!("failed to link `{}` to its debug info", original.display()))?;
    Ok(Asset {
        dest: debug_dest,
        mode: 0o644,
        content: Content::File(debug_file),
        built: false,
        origin: Origin::Generated,
    })
}

/// The `<name>-dbgsym` package (`.ddeb`) holding the debug files, next to the main package.
fn write_dbgsym(
    job: &PackageJob,
    arch: &str,
    main_output: &Path,
    debug_assets: Vec<Asset>,
    maintainer: Option<String>,
    homepage: Option<String>,
    plan: &DebPlan,
) -> Result<PathBuf> {
    let name = format!("{}-dbgsym", job.name);
    let file = format!(
        "{name}_{}_{arch}.ddeb",
        job.version
            .split_once(':')
            .map_or(job.version.as_str(), |(_, v)| v)
    );
    let output = main_output.with_file_name(file);
    let mut data = Vec::new();
    let mut md5sums = String::new();
    let mut kib = 0;
    for a in &debug_assets {
        let Content::File(p) = &a.content else {
            continue;
        };
        let e = forge_core::archive::Entry::file(&a.dest, p.clone(), a.mode)?;
        kib += (e.size()? + 2047) / 1024;
        md5sums.push_str(&format!("{}  {}\n", md5_file(p)?, e.path));
        data.push(e);
    }
    let all_build_id = debug_assets
        .iter()
        .all(|a| a.dest.starts_with("usr/lib/debug/.build-id/"));
    let relation = format!("{} (= {})", job.name, job.version);
    let control = Control {
        package: name.clone(),
        version: job.version.clone(),
        architecture: arch.to_string(),
        auto_built_package: Some("debug-symbols".into()),
        homepage,
        section: Some("debug".into()),
        priority: "optional".into(),
        maintainer,
        installed_size: kib,
        depends: (!all_build_id).then(|| relation.clone()),
        recommends: all_build_id.then_some(relation),
        description: format!("debug symbols for {}", job.name),
        ..Control::default()
    };
    crate::writer::write_deb(
        &output,
        crate::writer::DebContents {
            control: control.render(),
            control_files: vec![("md5sums".into(), 0o644, md5sums.into_bytes())],
            data,
            mtime: plan.source_date_epoch,
        },
        &plan.compression,
    )?;
    Ok(output)
}

/// What a package is made of: the plan's settings for it and, for every asset, its destination,
/// mode and content identity (path, size, mtime). Any change makes the package stale.
fn fingerprint(plan: &DebPlan, job: &PackageJob, assets: &[Asset]) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut h = serde_json::json!({
        "forge": env!("CARGO_PKG_VERSION"),
        "job": serde_json::to_value(job)?,
        "sde": plan.source_date_epoch,
        "compression": serde_json::to_value(plan.compression)?,
        "strip": plan.strip,
        "multiarch": plan.multiarch,
        "sign": plan.sign,
        "glibc": plan.glibc,
    });
    // `$auto` depends come from the installed libraries' packages: an upgrade there must
    // recompute them.
    let auto = job
        .metadata
        .depends
        .as_ref()
        .map(|d| d.joined())
        .unwrap_or_else(|| "$auto".into())
        .contains("$auto");
    if auto {
        let status = std::fs::metadata("/var/lib/dpkg/status")
            .ok()
            .map(|m| m.mtime());
        h["dpkg_status"] = serde_json::json!(status);
    }
    let mut list = Vec::new();
    for a in assets {
        let content = match &a.content {
            Content::File(p) => {
                let m = forge_core::fsx::metadata(p)?;
                serde_json::json!({"file": p, "size": m.len(), "mtime": m.mtime(), "mtime_ns": m.mtime_nsec(), "ino": m.ino()})
            }
            Content::Bytes(b) => serde_json::json!({"bytes": forge_core::digest::sha256_hex(b)}),
            Content::Symlink(t) => serde_json::json!({"link": t}),
        };
        list.push(serde_json::json!({"dest": a.dest, "mode": a.mode, "built": a.built, "content": content}));
    }
    h["assets"] = list.into();
    Ok(forge_core::digest::sha256_hex(
        serde_json::to_string(&h)?.as_bytes(),
    ))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    fingerprint: String,
    path: PathBuf,
    sha256: String,
    size: u64,
    package: String,
    version: String,
    architecture: String,
    target: Option<String>,
    depends: String,
    dbgsym: Option<PathBuf>,
}

/// The produced package, if its fingerprint matches and the file is still the one we wrote.
fn fresh(fp_path: &Path, fingerprint: &str) -> Option<Produced> {
    let r: Remembered = serde_json::from_slice(&std::fs::read(fp_path).ok()?).ok()?;
    if r.fingerprint != fingerprint {
        return None;
    }
    let meta = std::fs::metadata(&r.path).ok()?;
    if meta.len() != r.size || r.dbgsym.as_ref().is_some_and(|d| !d.is_file()) {
        return None;
    }
    // Cheap identity check first; the digest guards against a file replaced in place.
    if forge_core::digest::sha256_file(&r.path).ok()? != r.sha256 {
        return None;
    }
    Some(Produced {
        package: r.package,
        version: r.version,
        architecture: r.architecture,
        target: r.target,
        path: r.path,
        size: r.size,
        sha256: r.sha256,
        depends: r.depends,
        dbgsym: r.dbgsym,
    })
}

fn remember(fp_path: &Path, fingerprint: &str, p: &Produced) -> Result<()> {
    let r = Remembered {
        fingerprint: fingerprint.to_string(),
        path: p.path.clone(),
        sha256: p.sha256.clone(),
        size: p.size,
        package: p.package.clone(),
        version: p.version.clone(),
        architecture: p.architecture.clone(),
        target: p.target.clone(),
        depends: p.depends.clone(),
        dbgsym: p.dbgsym.clone(),
    };
    forge_core::fsx::write_atomic(fp_path, &serde_json::to_vec(&r)?)
}

fn ensure_dir(p: &Path) -> Result<&Path> {
    forge_core::fsx::create_dir_all(p)?;
    Ok(p)
}

fn apply_owner(
    entry: &mut forge_core::archive::Entry,
    forge: &ForgeDebConfig,
    manifest: &Path,
) -> Result<()> {
    for o in &forge.owners {
        let path = forge_core::archive::normalize(&o.path)
            .with_context(|| {
                format!(
                    "invalid `package.metadata.forge.deb.owners` path `{}` in `{}`",
                    o.path,
                    manifest.display()
                )
            })
            .kind(ErrorKind::Usage)?;
        if entry.path == path || entry.path.starts_with(&format!("{path}/")) {
            entry.user = o.user.clone();
            entry.group = o.group.clone().unwrap_or_else(|| o.user.clone());
        }
    }
    Ok(())
}

fn md5_file(p: &Path) -> Result<String> {
    use md5::Digest;
    use std::io::Read;
    let mut f =
        std::fs::File::open(p).with_context(|| format!("failed to open `{}`", p.display()))?;
    let mut h = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("failed to read `{}`", p.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Whether an ELF file has no dynamic section (static, e.g. musl).
fn is_static(p: &Path) -> bool {
    let Ok(bytes) = std::fs::read(p) else {
        return false;
    };
    // PT_INTERP marks a dynamically linked executable; cheap check for the interpreter path.
    !bytes
        .windows(8)
        .any(|w| w == b"/lib/ld-" || w == b"ld-linux")
}

fn human_size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// The synopsis and extended description ([`crate::control::describe`]'s rules).
fn description(
    job: &PackageJob,
    readme: Option<&Path>,
    commands: &[String],
) -> Result<(String, String)> {
    let meta = &job.metadata;
    let pkg = &job.package;
    let configured = match &meta.extended_description_file {
        Some(f) => {
            let p = job.package_dir.join(f);
            Some(
                forge_core::fsx::read_to_string(&p)
                    .with_context(|| {
                        format!(
                            "failed to read `extended-description-file` of `{}`",
                            job.manifest.display()
                        )
                    })
                    .kind(ErrorKind::Usage)?,
            )
        }
        None => meta.extended_description.clone(),
    };
    let readme = match readme.filter(|r| r.is_file()) {
        Some(r) => Some(forge_core::fsx::read_to_string(r)?),
        None => None,
    };
    // The `//!` docs of the main binary, else of the library.
    let source = pkg
        .targets
        .iter()
        .find(|t| t.is_bin() && t.name == pkg.name.as_str())
        .or_else(|| pkg.targets.iter().find(|t| t.is_bin()))
        .or_else(|| pkg.targets.iter().find(|t| t.is_lib()))
        .and_then(|t| std::fs::read_to_string(&t.src_path).ok());
    let what = match commands {
        [] => "the files".to_string(),
        [one] => format!("the command `{one}`"),
        many => format!(
            "the commands {}",
            many.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut generated = format!(
        "This package provides {what} of the Rust crate {} version {}",
        pkg.name, pkg.version
    );
    if let Some(l) = &pkg.license {
        generated.push_str(&format!(
            ", licensed under {}",
            crate::copyright::dep5_expression(l).text
        ));
    }
    generated.push('.');
    if let Some(url) = pkg.homepage.as_ref().or(pkg.repository.as_ref()) {
        generated.push_str(&format!("\nMore information can be found at {url}."));
    }
    let sources = crate::control::DescriptionSources {
        configured,
        readme,
        crate_docs: source.as_deref().and_then(crate::control::crate_docs),
        generated,
    };
    let summary = pkg
        .description
        .clone()
        .unwrap_or_else(|| format!("[generated from Rust crate {}]", pkg.name));
    Ok(crate::control::describe(&job.name, &summary, &sources))
}

fn copyright_text(job: &PackageJob, project: &Project, sde: u64) -> Result<String> {
    let pkg = &job.package;
    let meta = &job.metadata;
    let mut texts: Vec<crate::copyright::LicenseText> = Vec::new();
    let license_file = match &meta.license_file {
        Some(crate::manifest::LicenseFile::Path(p)) => Some((p.clone(), 0usize)),
        Some(crate::manifest::LicenseFile::WithSkip(v)) => {
            let path = v.first().cloned().ok_or_else(|| {
                usage(format!(
                    "`license-file` in `{}` is an empty array",
                    job.manifest.display()
                ))
            })?;
            let skip = match v.get(1) {
                Some(s) => s.trim().parse::<usize>().map_err(|_| {
                    usage(format!(
                        "invalid number of lines `{s}` to skip in `license-file` of `{}`",
                        job.manifest.display()
                    ))
                })?,
                None => 0,
            };
            Some((path, skip))
        }
        None => pkg.license_file.as_ref().map(|p| (p.to_string(), 0)),
    };
    if let Some((path, skip)) = license_file {
        let p = job.package_dir.join(&path);
        let text = forge_core::fsx::read_to_string(&p)
            .with_context(|| {
                format!(
                    "failed to read the license file of `{}`",
                    job.manifest.display()
                )
            })
            .kind(ErrorKind::Usage)?;
        let text: String = text.lines().skip(skip).collect::<Vec<_>>().join("\n");
        texts.push(crate::copyright::LicenseText {
            file: Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(path.clone()),
            text,
            explicit: true,
        });
    }
    // The package's other licence files too: `license-file` may hold one licence of several.
    for t in crate::copyright::find_license_files(&[&job.package_dir, &project.workspace_root]) {
        if !texts.iter().any(|x| x.file == t.file) {
            texts.push(t);
        }
    }
    let license = pkg.license.clone();
    let year = time::OffsetDateTime::from_unix_timestamp(sde as i64)
        .map(|t| t.year())
        .unwrap_or(1970);
    Ok(crate::copyright::copyright(
        &crate::copyright::CopyrightInput {
            upstream_name: pkg.name.as_str(),
            source: pkg.repository.as_deref().or(pkg.homepage.as_deref()),
            copyright: meta.copyright.as_deref(),
            authors: &pkg.authors,
            year,
            license: license.as_deref(),
            license_texts: texts,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_rules() {
        let t = Path::new("/t");
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
