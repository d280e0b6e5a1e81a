//! Running a [`DebPlan`]: the build (or the caller's binaries), the optional smoke test, the
//! packaging pipeline for every job ([`super::package`]), then signing, lint and install tests
//! over the produced files, and the GitHub Actions report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::build::{self, Artifact};
use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::project::Project;
use forge_core::target;
use forge_core::Shell;

use super::package::package;
use super::{job_package, DebPlan, Produced};

/// Runs the plan.
pub fn execute(project: &Project, plan: &DebPlan, shell: &Shell) -> Result<Vec<Produced>> {
    execute_with(project, plan, None, shell)
}

/// Runs the plan on `built` binaries when given (the caller built them, e.g. a release); else
/// builds them as the plan says, or finds them where cargo puts them (`--no-build`).
pub fn execute_with(
    project: &Project,
    plan: &DebPlan,
    built: Option<&[Artifact]>,
    shell: &Shell,
) -> Result<Vec<Produced>> {
    let artifacts = artifacts(project, plan, built, shell)?;
    if plan.smoke_test {
        smoke_test(&artifacts, &plan.toolchain.host, shell)?;
    }
    package_all(project, plan, &artifacts, shell)
}

/// The binaries a plan packages: `built` when the caller built them; else built as the plan
/// says, or found where cargo puts them (`--no-build`). forge-rpm gets its binaries this way.
pub fn artifacts(
    project: &Project,
    plan: &DebPlan,
    built: Option<&[Artifact]>,
    shell: &Shell,
) -> Result<Vec<Artifact>> {
    Ok(match (built, &plan.build) {
        (Some(a), _) => a.to_vec(),
        (None, Some(b)) => build::execute(b, project, shell)?,
        (None, None) => {
            let mut pkgs: Vec<&cargo_metadata::Package> = Vec::new();
            for job in &plan.packages {
                let pkg = job_package(project, job)?;
                if !pkgs.iter().any(|p| p.id == pkg.id) {
                    pkgs.push(pkg);
                }
            }
            let triples: Vec<String> = plan
                .packages
                .iter()
                .filter_map(|j| j.target.as_ref().map(|t| t.triple.clone()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            build::existing_artifacts(project, &pkgs, &triples, &plan.profile)?
        }
    })
}

/// Packages every job of the plan, then signs, lints and install-tests the packages.
fn package_all(
    project: &Project,
    plan: &DebPlan,
    artifacts: &[Artifact],
    shell: &Shell,
) -> Result<Vec<Produced>> {
    let mut produced = Vec::new();
    for job in &plan.packages {
        let p = package(project, plan, job, artifacts, shell)
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
    let paths: Vec<&Path> = produced
        .iter()
        .flat_map(|p| p.dbgsym.as_deref().into_iter().chain([p.path.as_path()]))
        .collect();
    shell
        .gha()
        .packages("cargo forge-deb", &rows, "debs", &paths)
}

/// Where clean Debian roots for `--install-test` are cached: `FORGE_ROOTS_CACHE`, else
/// `$XDG_CACHE_HOME/cargo-forge/roots` (or `~/.cache/…`), else under the target directory. Shared
/// between projects because a root is the same for every package of an architecture.
pub(crate) fn roots_cache_dir(target_dir: &Path) -> PathBuf {
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
