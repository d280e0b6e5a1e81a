//! `cargo forge-deb`: Debian packages of Rust crates, for any Linux target.
//!
//! Compatible with cargo-deb's `[package.metadata.deb]` (a crate that works with `cargo deb`
//! works unchanged) and better by default: md5sums, a Debian changelog, DEP-5 copyright, an
//! extended description, `Architecture: all` for binary-less packages, empty directories and
//! owners, a choice of compression, `$auto` depends that fail loudly, and reproducible output.
//!
//! Modules, in the order a run uses them: [`cli`] (flags), [`ops`] (plan, then execute),
//! [`manifest`] (the metadata tables, with [`config_error`] for their errors), [`version`], [`assets`], [`copyright`] (DEP-5), [`docs`] (changelog),
//! [`systemd`] (units and maintainer scripts), [`deps`] (`Depends`, with [`elf`]), [`control`], [`writer`]
//! (the `.deb` itself), then the optional steps [`sign`], [`lint`], [`install_test`], and
//! [`repo`] for `cargo forge-deb repo` (on [`deb822`] and [`debfile`]), [`init`] for
//! `cargo forge-deb init`, and [`json`], the documents of `--message-format json`.

pub mod assets;
pub mod cli;
pub mod config_error;
pub mod control;
pub mod copyright;
pub mod deb822;
pub mod debfile;
pub mod deps;
pub mod docs;
pub mod elf;
pub mod init;
pub mod json;
pub mod lint;
pub mod manifest;
pub mod ops;
pub mod systemd;
pub mod validate;
pub mod version;
pub mod writer;

pub mod install_test;
pub mod repo;
pub mod sign;

use anyhow::Result;

use forge_core::Shell;

/// Parses argv and runs the command. Returns the shell (for error reporting) and the result.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> Result<(Shell, Result<()>)> {
    // clap prints help and version itself (exit 0); a bad command line exits 2 (and prints an
    // error document in JSON mode).
    let cli::Cargo::ForgeDeb(cli) = forge_core::json::parse_args(args);
    match cli.command {
        Some(cli::DebCommand::Init(init)) => {
            let shell = init.output.shell();
            let result = init::run(&init, &shell);
            Ok((shell, result))
        }
        Some(cli::DebCommand::Repo(repo)) => {
            let shell = repo.output.shell();
            let result = run_repo(&repo, &shell);
            Ok((shell, result))
        }
        None => {
            let mut args = cli.args;
            let shell = args.common.output.shell();
            let result = args
                .resolve_cargo_deb_flags()
                .and_then(|()| run(&args, &shell));
            Ok((shell, result))
        }
    }
}

/// `cargo forge-deb [FLAGS]`.
pub fn run(args: &cli::DebArgs, shell: &Shell) -> Result<()> {
    let (project, plan) = ops::plan(args, shell)?;
    if args.dry_run {
        if shell.is_json() {
            shell.json(&plan)?;
        } else {
            for job in &plan.packages {
                shell.status(
                    "Would build",
                    format!(
                        "{} v{} ({}) -> {}",
                        job.name,
                        job.version,
                        job.arch,
                        job.output.display()
                    ),
                );
            }
            if let Some(b) = &plan.build {
                for step in &b.steps {
                    shell.status("Would run", step.command.display());
                }
            }
            if args.install || args.no_install_dbgsym {
                for job in &plan.packages {
                    shell.status(
                        "Would install",
                        format!("{} on this machine (dpkg -i)", job.output.display()),
                    );
                }
            }
        }
        return Ok(());
    }
    let produced = ops::execute(&project, &plan, shell)?;
    ops::report_gha(&produced, shell)?;
    if args.install || args.no_install_dbgsym {
        for p in &produced {
            let dbgsym = p.dbgsym.as_deref().filter(|_| !args.no_install_dbgsym);
            install_test::install_on_host(&p.path, dbgsym, shell)?;
        }
    }
    let count = produced.len();
    if shell.is_json() {
        shell.json(&json::PackagesDocument { packages: produced })?;
    } else {
        // One produced path per line (cargo-deb's order: a .ddeb before its .deb).
        for p in &produced {
            if let Some(d) = &p.dbgsym {
                shell.data(d.display());
            }
            shell.data(p.path.display());
        }
    }
    shell.status(
        "Finished",
        format!("{count} package{}", if count == 1 { "" } else { "s" }),
    );
    Ok(())
}

/// `cargo forge-deb repo`.
pub fn run_repo(args: &cli::RepoArgs, shell: &Shell) -> Result<()> {
    let opts = repo::RepoOptions {
        dir: args.dir.clone(),
        suite: args.suite.clone(),
        component: args.component.clone(),
        origin: args.origin.clone(),
        label: args.label.clone(),
        sign_key: args.sign_key.clone(),
        gpg_homedir: None,
        no_wait: args.no_wait,
        keep: args.keep,
    };
    let report = repo::update(&opts, &args.debs, shell)?;
    if shell.is_json() {
        shell.json(&report)?;
    }
    Ok(())
}
