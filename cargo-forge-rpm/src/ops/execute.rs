//! Running an [`RpmPlan`]: the binaries (built, or found with `--no-build`) through forge-deb,
//! every job packaged and written (signed with `--sign`/`--sign-key`), rpmlint with `--lint`,
//! and the GitHub Actions report.

use anyhow::{Context, Result};

use forge_core::project::Project;
use forge_core::Shell;

use super::package::package;
use super::{Produced, RpmPlan};
use crate::writer::{GpgSigner, Signer};

/// Runs the plan.
pub fn execute(project: &Project, plan: &RpmPlan, shell: &Shell) -> Result<Vec<Produced>> {
    let artifacts = cargo_forge_deb::ops::artifacts(project, &plan.deb, None, shell)?;
    let signer = if plan.sign {
        let gpg = forge_core::gpg::Gpg::default();
        gpg.check_secret_key(plan.sign_key.as_deref(), shell)?;
        Some(GpgSigner {
            gpg,
            key: plan.sign_key.clone(),
            shell,
        })
    } else {
        None
    };
    let mut produced = Vec::new();
    let mut translated = Vec::new();
    for job in &plan.packages {
        let (p, has_translations) = package(
            project,
            plan,
            job,
            &artifacts,
            signer.as_ref().map(|s| s as &dyn Signer),
            shell,
        )
        .with_context(|| format!("failed to package `{}` for {}", job.name, job.arch))?;
        produced.push(p);
        translated.push(has_translations);
    }
    if plan.lint {
        for (p, t) in produced.iter().zip(translated) {
            crate::lint::lint(&p.path, t, shell)?;
        }
    }
    Ok(produced)
}

/// GitHub Actions (no-op elsewhere): a table of the produced packages in the job summary, and
/// the output `rpms`, their paths one per line.
pub fn report_gha(produced: &[Produced], shell: &Shell) -> Result<()> {
    let rows: Vec<forge_core::gha::PackageRow<'_>> = produced
        .iter()
        .map(|p| forge_core::gha::PackageRow {
            package: &p.package,
            architecture: &p.architecture,
            version: &p.version,
            path: &p.path,
            size: p.size,
            sha256: &p.sha256,
        })
        .collect();
    let paths: Vec<&std::path::Path> = produced.iter().map(|p| p.path.as_path()).collect();
    shell
        .gha()
        .packages("cargo forge-rpm", &rows, "rpms", &paths)
}
