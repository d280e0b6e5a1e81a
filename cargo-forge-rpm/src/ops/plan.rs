//! The plan of a `cargo forge-rpm` run: forge-deb's plan for the same packages and targets, and
//! one [`RpmJob`] per package and target with its RPM name, version, release, arch and output
//! path. Reads files; writes nothing.

use std::path::Path;

use anyhow::{Context, Result};

use cargo_forge_deb::ops::{DebRequest, PackageJob};
use forge_core::exit::usage;
use forge_core::project::Project;
use forge_core::target;
use forge_core::Shell;

use super::{PayloadCompression, PayloadFormat, RpmJob, RpmPlan};
use crate::cli::{AutoReq, CompressChoice, RpmArgs};
use crate::metadata::{self, Overwrite};

/// Where packages go by default, under the target directory (cargo-generate-rpm's place).
pub const OUTPUT_DIR: &str = "generate-rpm";

/// Computes the plan. Reads files; writes nothing.
pub fn plan(args: &RpmArgs, shell: &Shell) -> Result<(Project, RpmPlan)> {
    let (project, toolchain) = forge_core::project::load_with_toolchain(&args.common, shell)?;
    let overwrites = overwrites(args);
    // `--variant` names a generate-rpm variant when the first package has that table, else a
    // deb variant (so `--variant` means the same as in `cargo forge-deb` for deb-only crates).
    let first = project
        .packages()
        .next()
        .ok_or_else(|| usage("no package to make an .rpm of"))?;
    let has_table = first
        .metadata
        .get("generate-rpm")
        .is_some_and(|v| !v.is_null());
    let common = &args.common;
    let req = DebRequest {
        packages: project.packages().map(|p| p.name.to_string()).collect(),
        settings: forge_core::config::ForgeLayer::from_args(common),
        features: common.features.clone(),
        locked: common.locked,
        frozen: common.frozen,
        offline: common.offline,
        no_build: common.no_build,
        variant: if has_table {
            None
        } else {
            args.variant.clone()
        },
        no_strip: args.no_strip,
        ..DebRequest::default()
    };
    let deb = cargo_forge_deb::ops::plan_request(&project, toolchain, &req, shell)?;
    let many = deb.packages.len() > 1;
    let mut packages = Vec::new();
    for (i, job) in deb.packages.iter().enumerate() {
        let pkg = project
            .package_by_manifest(&job.manifest)
            .with_context(|| format!("package `{}` is not in the workspace", job.crate_name))?;
        let generate_rpm = metadata::load(pkg, &overwrites)?;
        let rpm_job = rpm_job(
            i,
            job,
            generate_rpm,
            &deb.toolchain.host,
            &project.target_dir,
            args.output.as_deref(),
            many,
        )?;
        packages.push(rpm_job);
    }
    let format = match args.compress.unwrap_or(CompressChoice::Zstd) {
        CompressChoice::Zstd => PayloadFormat::Zstd,
        CompressChoice::Xz => PayloadFormat::Xz,
        CompressChoice::Gzip => PayloadFormat::Gzip,
        CompressChoice::None => PayloadFormat::None,
    };
    let level = args.compress_level.unwrap_or(match format {
        PayloadFormat::Zstd => 19,
        PayloadFormat::Xz => 6,
        PayloadFormat::Gzip => 9,
        PayloadFormat::None => 0,
    });
    Ok((
        project,
        RpmPlan {
            deb,
            packages,
            compression: PayloadCompression { format, level },
            no_auto_req: args.auto_req == AutoReq::No,
            lint: args.lint,
            sign: args.sign || args.sign_key.is_some(),
            sign_key: args.sign_key.clone(),
        },
    ))
}

/// The overwrites of the table, in the order cargo-generate-rpm applies them when each kind is
/// given once: the variant, then the files, then the inline texts.
fn overwrites(args: &RpmArgs) -> Vec<Overwrite> {
    let mut out: Vec<Overwrite> = args
        .variant
        .iter()
        .cloned()
        .map(Overwrite::Variant)
        .collect();
    out.extend(args.metadata_overwrite.iter().cloned().map(Overwrite::File));
    out.extend(args.set_metadata.iter().cloned().map(Overwrite::Text));
    out
}

/// The RPM form of a crate version: `-` (SemVer's pre-release mark, not allowed in an RPM
/// version) becomes `~`, which sorts before the release as a pre-release should.
pub fn rpm_version(v: &str) -> String {
    v.replace('-', "~")
}

fn rpm_job(
    index: usize,
    job: &PackageJob,
    generate_rpm: Option<metadata::GenerateRpmMetadata>,
    host: &str,
    target_dir: &Path,
    output: Option<&Path>,
    many: bool,
) -> Result<RpmJob> {
    let arch = match &job.target {
        Some(t) => t.rpm_arch().to_string(),
        None => target::lookup(host)?.rpm_arch().to_string(),
    };
    let (name, epoch, version, release) = match &generate_rpm {
        Some(g) => (
            g.name.clone().unwrap_or_else(|| job.crate_name.clone()),
            g.epoch,
            rpm_version(g.version.as_deref().unwrap_or(&job.crate_version)),
            g.release
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "1".into()),
        ),
        None => (
            job.name.clone(),
            None,
            rpm_version(&job.crate_version),
            job.metadata
                .revision
                .clone()
                .filter(|r| !r.is_empty() && r != "0")
                .unwrap_or_else(|| "1".into()),
        ),
    };
    for (what, value) in [("version", &version), ("release", &release)] {
        if value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+~^".contains(c))
        {
            return Err(usage(format!(
                "invalid RPM {what} `{value}` of `{}`: use letters, digits and `._+~^` (no `-`)",
                job.manifest.display()
            )));
        }
    }
    let file = format!("{name}-{version}-{release}.{arch}.rpm");
    Ok(RpmJob {
        deb_job: index,
        output: cargo_forge_deb::ops::output_path(
            output,
            &target_dir.join(OUTPUT_DIR),
            &file,
            many,
        ),
        name,
        epoch,
        version,
        release,
        arch,
        generate_rpm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_versions() {
        assert_eq!(rpm_version("1.2.3-beta.1"), "1.2.3~beta.1");
        assert_eq!(rpm_version("1.2.3"), "1.2.3");
    }
}
