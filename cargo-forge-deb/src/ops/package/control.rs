//! Step 6 of the pipeline: the control member. The `control` file (fields from the metadata,
//! the computed `Depends`, `Installed-Size` and the description) and the other control files:
//! conffiles, md5sums, maintainer scripts (with systemd fragments) and triggers.

use std::path::Path;

use anyhow::{Context, Result};

use forge_core::exit::{ErrorKind, ResultExt};

use crate::assets::Asset;
use crate::control::Control;
use crate::manifest::SystemdUnitsConfig;
use crate::ops::{DebPlan, PackageJob};

/// A control member: name, mode and bytes.
type ControlFile = (String, u32, Vec<u8>);

/// The `control` file of `job`.
#[allow(clippy::too_many_arguments)]
pub(super) fn control(
    plan: &DebPlan,
    job: &PackageJob,
    pkg: &cargo_metadata::Package,
    all: &[Asset],
    readme: Option<&Path>,
    arch: &str,
    maintainer: Option<String>,
    installed_kib: u64,
    depends: String,
) -> Result<Control> {
    let meta = &job.metadata;
    let commands: Vec<String> = all
        .iter()
        .filter(|a| a.dest.starts_with("usr/bin/") || a.dest.starts_with("usr/sbin/"))
        .filter_map(|a| Path::new(&a.dest).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let (synopsis, extended) = description(job, pkg, readme, &commands)?;
    let control = Control {
        package: job.name.clone(),
        version: job.version.clone(),
        architecture: arch.to_string(),
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
        maintainer,
        installed_size: installed_kib,
        depends: Some(depends),
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
    Ok(control)
}

/// The control members besides `control`: conffiles, md5sums, maintainer scripts, triggers.
pub(super) fn control_files(
    job: &PackageJob,
    all: &[Asset],
    units: &[SystemdUnitsConfig],
    conffiles: &[String],
    md5sums: String,
) -> Result<Vec<ControlFile>> {
    let meta = &job.metadata;
    let manifest = job.manifest.as_path();
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
        for u in units {
            let g = crate::systemd::fragments(all, u)?;
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
    Ok(control_files)
}

/// The synopsis and extended description ([`crate::control::describe`]'s rules); forge-rpm
/// describes its packages the same way.
pub fn description(
    job: &PackageJob,
    pkg: &cargo_metadata::Package,
    readme: Option<&Path>,
    commands: &[String],
) -> Result<(String, String)> {
    let meta = &job.metadata;
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
        pkg.name, job.crate_version
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
