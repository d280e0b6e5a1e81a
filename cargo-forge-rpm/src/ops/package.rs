//! The packaging pipeline of one `.rpm`, its steps in order in [`package`]:
//!
//! 1. the files and scriptlets ([`files`]: from `[package.metadata.generate-rpm]` or derived
//!    from `[package.metadata.deb]`), plus the licence texts as `%license`;
//! 2. `Requires`: the table's relations, `/bin/sh` for scriptlets, and the ELF requires of the
//!    unstripped files ([`crate::requires`]);
//! 3. binaries stripped as forge-deb strips them (split debug files join the package);
//! 4. the [`RpmPackage`] ([`rpm_package`]: summary and description by forge-deb's rules, the
//!    changelog entry, the file list with owned directories), written by [`crate::writer`].
//!
//! [`rpm_package`] is separate from the writing so it can be checked on its own.

use std::collections::BTreeSet;

use anyhow::{Context, Result};

use cargo_forge_deb::assets::{AssetContext, Content};
use cargo_forge_deb::ops::PackageJob;
use forge_core::build::Artifact;
use forge_core::exit::usage;
use forge_core::project::{profile_dir, Project};
use forge_core::target;
use forge_core::Shell;

use super::files::{self, Attrs, Contents};
use super::{Produced, RpmJob, RpmPlan};
use crate::writer::{ChangelogEntry, Dependency, FileFlags, FileKind, RpmFile, RpmPackage, Signer};

/// Packages one job; also says whether the package ships translations (for rpmlint).
pub(super) fn package(
    project: &Project,
    plan: &RpmPlan,
    job: &RpmJob,
    all_artifacts: &[Artifact],
    signer: Option<&dyn Signer>,
    shell: &Shell,
) -> Result<(Produced, bool)> {
    let djob = plan
        .deb
        .packages
        .get(job.deb_job)
        .context("the plan names a package it does not hold")?;
    let pkg = project
        .package_by_manifest(&djob.manifest)
        .with_context(|| format!("package `{}` is not in the workspace", djob.crate_name))?;
    let triple = djob.target.as_ref().map(|t| t.triple.as_str());
    let artifacts: Vec<Artifact> = all_artifacts
        .iter()
        .filter(|a| a.package == djob.crate_name && a.target.as_deref() == triple)
        .cloned()
        .collect();
    let target_info = match &djob.target {
        Some(t) => t.clone(),
        None => target::lookup(&plan.deb.toolchain.host)?,
    };
    shell.status(
        "Packaging",
        format!("{} {} ({})", job.name, job.evr(), job.arch),
    );
    let readme = cargo_forge_deb::ops::package::contents::readme(pkg, djob);

    // 1. The files and scriptlets.
    let ctx = AssetContext {
        package_dir: &djob.package_dir,
        target_dir: &plan.deb.target_dir,
        triple,
        profile_dir: profile_dir(&plan.deb.profile),
        deb_name: &job.name,
        manifest: &djob.manifest,
        preserve_symlinks: djob.metadata.preserve_symlinks.unwrap_or(false),
        artifacts: &artifacts,
        readme: readme.clone(),
    };
    let mut contents = match &job.generate_rpm {
        Some(g) => files::from_generate_rpm(g, &ctx, &djob.manifest)?,
        None => files::from_deb(djob, &ctx, shell)?,
    };
    files::license_files(
        &mut contents,
        &djob.package_dir,
        &project.workspace_root,
        &job.name,
    );

    // 2. Requires, from the unstripped files.
    let requires = requires(plan, job, &contents)?;

    // 3. Stripped binaries (in a scratch directory that lives until the package is written).
    let scratch_parent = plan.deb.target_dir.join("forge/tmp");
    forge_core::fsx::create_dir_all(&scratch_parent)?;
    let scratch = tempfile::Builder::new()
        .prefix("forge-rpm-")
        .tempdir_in(&scratch_parent)
        .context("failed to create a scratch directory")?;
    if plan.deb.strip {
        let debug = cargo_forge_deb::ops::package::strip::strip(
            &plan.deb,
            djob,
            &mut contents.assets,
            &target_info,
            scratch.path(),
            shell,
        )?;
        contents.assets.extend(debug);
    }

    // 4. The package.
    let commands: Vec<String> = contents
        .assets
        .iter()
        .filter(|a| a.is_executable_binary())
        .filter_map(|a| a.dest.rsplit('/').next().map(str::to_string))
        .collect();
    let (summary, description) = cargo_forge_deb::ops::package::control::description(
        djob,
        pkg,
        readme.as_deref(),
        &commands,
    )?;
    let has_translations = contents
        .assets
        .iter()
        .any(|a| a.dest.starts_with("usr/share/locale/"));
    let rpm = rpm_package(
        plan,
        job,
        djob,
        pkg,
        contents,
        requires,
        summary,
        description,
    )?;
    let written = crate::writer::write(&rpm, &job.output, signer)?;
    shell.status("Packaged", written.path.display());
    let produced = Produced {
        package: job.name.clone(),
        version: job.evr(),
        architecture: job.arch.clone(),
        target: djob.target.as_ref().map(|t| t.triple.clone()),
        path: written.path,
        size: written.size,
        sha256: written.sha256,
        requires: rpm.requires.iter().map(render).collect(),
    };
    Ok((produced, has_translations))
}

/// A relation as `rpm -q --requires` prints it.
fn render(d: &Dependency) -> String {
    use crate::writer::DepOp;
    match &d.op {
        None => d.name.clone(),
        Some((op, v)) => {
            let op = match op {
                DepOp::Lt => "<",
                DepOp::Le => "<=",
                DepOp::Eq => "=",
                DepOp::Ge => ">=",
                DepOp::Gt => ">",
            };
            format!("{} {op} {v}", d.name)
        }
    }
}

/// The `Requires`: the table's, `/bin/sh` as cargo-generate-rpm adds it (unless `require-sh =
/// false`), and those of the ELF files (unless `auto-req` is off). The scriptlets' own
/// `Requires(post)` and the like on their interpreters are the writer's.
fn requires(plan: &RpmPlan, job: &RpmJob, contents: &Contents) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    let g = job.generate_rpm.as_ref();
    if let Some(g) = g {
        out.extend(crate::relations::parse_table(g.requires.as_ref())?);
    }
    if g.is_some_and(|g| g.require_sh.unwrap_or(true)) {
        out.push(Dependency::any("/bin/sh"));
    }
    let table_auto = g
        .and_then(|g| g.auto_req.as_deref())
        .is_none_or(|v| v != "no" && v != "disabled");
    if table_auto && !plan.no_auto_req {
        let paths = contents.assets.iter().filter_map(|a| match &a.content {
            Content::File(p) => Some(p.as_path()),
            _ => None,
        });
        out.extend(crate::requires::elf_requires(paths)?);
    }
    let mut seen = BTreeSet::new();
    out.retain(|d| seen.insert(render(d)));
    Ok(out)
}

/// The RPM of a job: its metadata, relations, scriptlets, changelog and files.
#[allow(clippy::too_many_arguments)]
pub fn rpm_package(
    plan: &RpmPlan,
    job: &RpmJob,
    djob: &PackageJob,
    pkg: &cargo_metadata::Package,
    contents: Contents,
    requires: Vec<Dependency>,
    summary: String,
    description: String,
) -> Result<RpmPackage> {
    let g = job.generate_rpm.as_ref();
    let license = g
        .and_then(|g| g.license.clone())
        .or_else(|| pkg.license.clone())
        .ok_or_else(|| {
            forge_core::exit::with_hint(
                usage(format!(
                    "`{}` has no license, which an RPM must state",
                    djob.manifest.display()
                )),
                "set `license` (an SPDX expression) in [package] of Cargo.toml, or in [package.metadata.generate-rpm]".into(),
            )
        })?;
    let relations =
        |t: Option<&std::collections::BTreeMap<String, String>>| crate::relations::parse_table(t);
    let maintainer = djob
        .metadata
        .maintainer
        .clone()
        .or_else(|| pkg.authors.first().cloned());
    let sde = plan.deb.source_date_epoch;
    Ok(RpmPackage {
        name: job.name.clone(),
        epoch: job.epoch,
        version: job.version.clone(),
        release: job.release.clone(),
        arch: job.arch.clone(),
        summary: g
            .and_then(|g| g.summary.clone())
            .map(|s| s.trim().trim_end_matches('.').to_string())
            .unwrap_or(summary),
        description: wrap(&description),
        license,
        url: g
            .and_then(|g| g.url.clone())
            .or_else(|| pkg.homepage.clone())
            .or_else(|| pkg.repository.clone()),
        vendor: g.and_then(|g| g.vendor.clone()),
        packager: maintainer.clone(),
        group: Some(group(djob.metadata.section.as_deref()).into()),
        build_time: sde,
        build_host: "localhost".into(),
        files: file_list(&job.name, &contents, sde),
        requires,
        provides: relations(g.and_then(|g| g.provides.as_ref()))?,
        conflicts: relations(g.and_then(|g| g.conflicts.as_ref()))?,
        obsoletes: relations(g.and_then(|g| g.obsoletes.as_ref()))?,
        recommends: relations(g.and_then(|g| g.recommends.as_ref()))?,
        suggests: relations(g.and_then(|g| g.suggests.as_ref()))?,
        enhances: relations(g.and_then(|g| g.enhances.as_ref()))?,
        supplements: relations(g.and_then(|g| g.supplements.as_ref()))?,
        scripts: contents.scripts,
        changelog: vec![changelog(djob, job, maintainer.as_deref(), sde)],
        compression: plan.compression.writer(),
    })
}

/// The RPM `Group` for a Debian section (rpmlint counts a missing group, and rpmbuild's
/// `Unspecified`, as an error; Fedora ignores the tag, openSUSE and older EL show it).
fn group(section: Option<&str>) -> &'static str {
    match section.map(|s| s.rsplit('/').next().unwrap_or(s)) {
        Some("net" | "web" | "mail" | "httpd") => "Applications/Internet",
        Some("devel" | "rust" | "vcs" | "interpreters") => "Development/Tools",
        Some("libs" | "libdevel") => "System Environment/Libraries",
        Some("doc") => "Documentation",
        Some("text" | "editors") => "Applications/Text",
        Some("database") => "Applications/Databases",
        Some("sound" | "video" | "graphics") => "Applications/Multimedia",
        Some("games") => "Amusements/Games",
        _ => "Applications/System",
    }
}

/// The description with lines of at most 79 characters (rpmlint's limit).
fn wrap(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.chars().count() > 79 {
                textwrap::fill(l, 79)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `%changelog` entry of this version: the items of its section of `CHANGELOG.md`, else
/// one line saying what was packaged.
fn changelog(
    djob: &PackageJob,
    job: &RpmJob,
    maintainer: Option<&str>,
    sde: u64,
) -> ChangelogEntry {
    let items = std::fs::read_to_string(djob.package_dir.join("CHANGELOG.md"))
        .ok()
        .and_then(|md| {
            cargo_forge_deb::docs::changelog_items_from_markdown(&md, &djob.crate_version)
        })
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| vec![format!("Release {}", djob.crate_version)]);
    let text = items
        .iter()
        .map(|i| format!("- {}", i.trim_start_matches(['-', '*', ' '])))
        .collect::<Vec<_>>()
        .join("\n");
    ChangelogEntry {
        time: sde,
        author: format!(
            "{} - {}",
            maintainer.unwrap_or("cargo-forge <cargo-forge@localhost>"),
            job.evr()
        ),
        text,
    }
}

/// The file list: every asset, and the package's own directories (`/usr/share/doc/NAME`,
/// `/usr/share/licenses/NAME`, `/etc/NAME`) when it puts files in them, so removal removes
/// them.
fn file_list(name: &str, contents: &Contents, sde: u64) -> Vec<RpmFile> {
    let mut files = Vec::new();
    let mut dirs = BTreeSet::new();
    let own = [
        format!("usr/share/doc/{name}/"),
        format!("usr/share/licenses/{name}/"),
        format!("etc/{name}/"),
        format!("usr/lib/{name}/"),
        format!("usr/share/{name}/"),
    ];
    for a in &contents.assets {
        let attrs = contents.attrs.get(&a.dest).cloned().unwrap_or_default();
        for o in &own {
            if a.dest.starts_with(o.as_str()) {
                dirs.insert(o.trim_end_matches('/').to_string());
            }
        }
        let kind = match &a.content {
            Content::File(p) => FileKind::Regular(p.clone()),
            Content::Bytes(b) => FileKind::Bytes(b.clone()),
            Content::Symlink(t) => FileKind::Symlink(t.display().to_string()),
        };
        files.push(rpm_file(&a.dest, kind, a.mode & 0o7777, &attrs, Some(sde)));
    }
    for d in dirs {
        files.push(rpm_file(
            &d,
            FileKind::Dir,
            0o755,
            &Attrs::default(),
            Some(sde),
        ));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn rpm_file(dest: &str, kind: FileKind, mode: u32, attrs: &Attrs, mtime: Option<u64>) -> RpmFile {
    RpmFile {
        path: format!("/{dest}"),
        kind,
        mode,
        user: attrs.user.clone().unwrap_or_else(|| "root".into()),
        group: attrs.group.clone().unwrap_or_else(|| "root".into()),
        flags: FileFlags {
            config: attrs.config,
            noreplace: attrs.noreplace,
            doc: attrs.doc,
            license: attrs.license,
            missingok: false,
            ghost: false,
        },
        mtime,
    }
}
