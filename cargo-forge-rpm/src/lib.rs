//! `cargo forge-rpm`: RPM packages of Rust crates and the DNF/YUM repositories that serve them.
//!
//! Built on the packaging model forge-deb already resolves (assets, conf files, systemd units,
//! maintainer scripts), so a crate packaged by forge-deb gets a correct RPM with no new
//! configuration; `[package.metadata.generate-rpm]` is read as cargo-generate-rpm reads it.
//!
//! Modules, in the order a run uses them: [`cli`] (flags), [`ops`] (plan, then execute),
//! [`metadata`] (`[package.metadata.generate-rpm]` and its overwrites) with [`relations`],
//! [`scriptlets`] (systemd units and maintainer scripts), [`requires`] (from the ELF files),
//! `writer` (the `.rpm` itself), [`lint`] (rpmlint), [`repo`] for `cargo forge-rpm repo`
//! (DNF/YUM repositories), and [`json`], the documents of `--message-format json`.

pub mod cli;
pub mod json;
pub mod lint;
pub mod metadata;
pub mod ops;
pub mod relations;
pub mod repo;
pub mod requires;
pub mod scriptlets;
pub mod writer;

use anyhow::Result;

use forge_core::Shell;

/// Parses argv and runs the command. Returns the shell (for error reporting) and the result.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> Result<(Shell, Result<()>)> {
    // clap prints help and version itself (exit 0); a bad command line exits 2 (and prints an
    // error document in JSON mode).
    let cli::Cargo::ForgeRpm(cli) = forge_core::json::parse_args(args);
    if let Some(cli::RpmCommand::Repo(repo)) = cli.command {
        let shell = repo.output.shell();
        let result = run_repo(&repo, &shell);
        return Ok((shell, result));
    }
    let args = cli.args;
    let shell = args.common.output.shell();
    let result = run(&args, &shell);
    Ok((shell, result))
}

/// `cargo forge-rpm repo`.
pub fn run_repo(args: &repo::cli::RepoArgs, shell: &Shell) -> Result<()> {
    let report = repo::update(&args.options()?, shell)?;
    if shell.is_json() {
        shell.json(&report)?;
    }
    Ok(())
}

/// `cargo forge-rpm [FLAGS]`.
pub fn run(args: &cli::RpmArgs, shell: &Shell) -> Result<()> {
    let (project, plan) = ops::plan(args, shell)?;
    if args.dry_run {
        if shell.is_json() {
            shell.json(&plan)?;
        } else {
            for job in &plan.packages {
                shell.status(
                    "Would build",
                    format!(
                        "{} {} ({}) -> {}",
                        job.name,
                        job.evr(),
                        job.arch,
                        job.output.display()
                    ),
                );
            }
            if let Some(b) = &plan.deb.build {
                for step in &b.steps {
                    shell.status("Would run", step.command.display());
                }
            }
        }
        return Ok(());
    }
    let produced = ops::execute(&project, &plan, shell)?;
    ops::report_gha(&produced, shell)?;
    let count = produced.len();
    if shell.is_json() {
        shell.json(&json::PackagesDocument { packages: produced })?;
    } else {
        for p in &produced {
            shell.data(p.path.display());
        }
    }
    shell.status(
        "Finished",
        format!("{count} package{}", if count == 1 { "" } else { "s" }),
    );
    Ok(())
}
