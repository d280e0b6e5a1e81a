//! The packaging pipeline of one `.deb`: [`package`] runs its steps in order, top to bottom,
//! each step a function (in the module named after it) given only what it needs.
//!
//! 1. [`contents`]: the files — resolved assets, generated copyright and changelog, systemd
//!    units, deduplicated; then (if not fresh) moved into the multiarch directory and gzipped
//!    where Debian compresses.
//! 2. [`freshness`]: nothing changed since the last run? The package on disk is current.
//! 3. [`depends`]: `Depends`, from the unstripped binaries (`$auto`).
//! 4. [`strip`]: stripped binaries, debug symbols split off (and the `-dbgsym` package).
//! 5. [`data`]: the architecture and output path, then the data entries (owners, empty
//!    directories), md5sums and conffiles.
//! 6. [`control`]: the control file and the control members (conffiles, md5sums, maintainer
//!    scripts, triggers).
//! 7. [`crate::writer`]: the `.deb`, written atomically; fingerprint remembered.
//!
//! Shaped so because the steps are the same for every package and each is tested on its own
//! through the end-to-end tests; the order matters (depends before stripping, freshness before
//! any expensive work) and is visible here in one place.

pub mod contents;
pub mod control;
mod data;
mod depends;
mod freshness;
pub mod strip;

use anyhow::{Context, Result};

use forge_core::build::Artifact;
use forge_core::project::Project;
use forge_core::target;
use forge_core::Shell;

use super::{job_package, DebPlan, PackageJob, Produced};

/// Packages one job: the pipeline of steps described in the module documentation.
pub(super) fn package(
    project: &Project,
    plan: &DebPlan,
    job: &PackageJob,
    all_artifacts: &[Artifact],
    shell: &Shell,
) -> Result<Produced> {
    let meta = &job.metadata;
    let pkg = job_package(project, job)?;
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
    let maintainer = meta
        .maintainer
        .clone()
        .or_else(|| pkg.authors.first().cloned());
    let units = meta
        .systemd_units
        .as_ref()
        .map(|u| u.list())
        .unwrap_or_default();

    // 1. The files.
    let readme = contents::readme(pkg, job);
    let mut all = contents::collect(
        project,
        plan,
        job,
        &artifacts,
        readme.clone(),
        maintainer.as_deref(),
        &units,
        shell,
    )?;
    // 2. Nothing changed since the last run: the package on disk is current (cargo's freshness).
    let fingerprint = freshness::Fingerprint::of(plan, job, &all)?;
    if let Some(p) = fingerprint.fresh() {
        shell.status("Fresh", format!("{} ({})", p.path.display(), job.arch));
        return Ok(p);
    }
    if plan.multiarch.is_some() {
        contents::into_multiarch_dir(&mut all, &target_info.multiarch);
    }
    contents::compress_docs(&mut all)?;

    // 3. Depends, from the unstripped binaries.
    let depends = depends::depends(plan, job, &all, &target_info, cross, shell)?;

    // 4. Strip built binaries into a scratch directory (which lives until the .deb is written).
    let scratch = tempfile::Builder::new()
        .prefix("forge-deb-")
        .tempdir_in(ensure_dir(&plan.target_dir.join("forge/tmp"))?)
        .context("failed to create a scratch directory")?;
    let mut debug_assets = if plan.strip {
        strip::strip(plan, job, &mut all, &target_info, scratch.path(), shell)?
    } else {
        Vec::new()
    };
    let dbgsym = meta.dbgsym.unwrap_or(false) && !debug_assets.is_empty();
    if !dbgsym {
        all.append(&mut debug_assets);
    }

    // 5. Architecture, output path and data entries.
    let (arch, output) = data::architecture(job, &all);
    let data = data::entries(job, &all)?;

    // 6. The control file and control members.
    let control = control::control(
        plan,
        job,
        pkg,
        &all,
        readme.as_deref(),
        &arch,
        maintainer.clone(),
        data.installed_kib,
        depends.clone(),
    )?;
    if maintainer.is_none() {
        shell.warn(format!(
            "no maintainer: set `maintainer` in [package.metadata.deb] or `authors` in `{}`",
            job.manifest.display()
        ));
    }
    let control_files = control::control_files(job, &all, &units, &data.conffiles, data.md5sums)?;

    // 7. The .deb (and the -dbgsym package), remembered for the next run.
    let size = crate::writer::write_deb(
        &output,
        crate::writer::DebContents {
            control: control.render(),
            control_files,
            data: data.entries,
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
        let ddeb = strip::write_dbgsym(
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
    fingerprint.remember(&produced)?;
    Ok(produced)
}

fn ensure_dir(p: &std::path::Path) -> Result<&std::path::Path> {
    forge_core::fsx::create_dir_all(p)?;
    Ok(p)
}

fn human_size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}
