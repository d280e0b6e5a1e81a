//! Step 1 of the pipeline: the files of a package. The resolved assets, the generated
//! copyright and changelog (unless assets provide them), the systemd units, deduplicated; then
//! the layout changes made only when the package is not fresh (multiarch directory, gzip).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::build::Artifact;
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::project::{profile_dir, Project};
use forge_core::Shell;

use crate::assets::{self, Asset, AssetContext, Content, Origin};
use crate::manifest::SystemdUnitsConfig;
use crate::ops::{job_package, DebPlan, PackageJob};

/// The package's README: the manifest's `readme`, else a README file next to it.
/// (forge-rpm finds the README the same way.)
pub fn readme(pkg: &cargo_metadata::Package, job: &PackageJob) -> Option<PathBuf> {
    pkg.readme().map(|r| r.into_std_path_buf()).or_else(|| {
        ["README.md", "README.txt", "README"]
            .iter()
            .map(|n| job.package_dir.join(n))
            .find(|p| p.is_file())
    })
}

/// The assets of the package: resolved, generated, systemd units, deduplicated (warning on
/// duplicates and on units not found).
#[allow(clippy::too_many_arguments)]
pub(super) fn collect(
    project: &Project,
    plan: &DebPlan,
    job: &PackageJob,
    artifacts: &[Artifact],
    readme: Option<PathBuf>,
    maintainer: Option<&str>,
    units: &[SystemdUnitsConfig],
    shell: &Shell,
) -> Result<Vec<Asset>> {
    let meta = &job.metadata;
    let manifest = job.manifest.as_path();
    let triple = job.target.as_ref().map(|t| t.triple.as_str());
    let ctx = AssetContext {
        package_dir: &job.package_dir,
        target_dir: &plan.target_dir,
        triple,
        profile_dir: profile_dir(&plan.profile),
        deb_name: &job.name,
        manifest,
        preserve_symlinks: meta.preserve_symlinks.unwrap_or(false),
        artifacts,
        readme,
    };
    let resolved = assets::resolve(meta.assets.as_deref(), &ctx)?;
    let (auto, explicit): (Vec<Asset>, Vec<Asset>) =
        resolved.into_iter().partition(|a| a.origin == Origin::Auto);

    // Generated documentation.
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
            maintainer.unwrap_or("Unknown <unknown@localhost>"),
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
    let systemd = systemd_units(job, units, shell);
    let all: Vec<Asset> = auto
        .into_iter()
        .chain(generated)
        .chain(systemd)
        .chain(explicit)
        .collect();
    let (all, warnings) = assets::dedup(all);
    for w in warnings {
        shell.warn(w);
    }
    Ok(all)
}

/// The unit files of the `systemd-units` tables, each found in its `unit-scripts` directory
/// (else `maintainer-scripts`, else `systemd/`), warning for a table that finds none. forge-rpm
/// finds its units with this too.
pub fn systemd_units(job: &PackageJob, units: &[SystemdUnitsConfig], shell: &Shell) -> Vec<Asset> {
    let meta = &job.metadata;
    let mut systemd = Vec::new();
    for u in units {
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
    systemd
}

/// Multi-Arch: same packages keep their libraries in the multiarch directory (as cargo-deb,
/// but leaving systemd units, tmpfiles and debug files where their tools look for them).
pub(super) fn into_multiarch_dir(all: &mut [Asset], multiarch: &str) {
    for a in all.iter_mut() {
        if let Some(rest) = a.dest.strip_prefix("usr/lib/") {
            let keep = ["systemd/", "tmpfiles.d/", "debug/", "sysusers.d/"]
                .iter()
                .any(|p| rest.starts_with(p))
                || rest.starts_with(&format!("{}/", multiarch));
            if !keep {
                a.dest = format!("usr/lib/{}/{rest}", multiarch);
            }
        }
    }
}

/// Compresses man pages and doc changelogs like cargo-deb (and dh_compress).
pub(super) fn compress_docs(all: &mut [Asset]) -> Result<()> {
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
    Ok(())
}

fn copyright_text(job: &PackageJob, project: &Project, sde: u64) -> Result<String> {
    let pkg = job_package(project, job)?;
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
