//! `cargo forge-image`: multi-platform OCI images of Rust crates, without a Docker daemon.
//!
//! Like ko for Go: cross-compile the binaries (forge-core's build engine), lay them out as an
//! image layer, put it on a base image (pulled once and cached by digest), on `scratch` with the
//! binaries' runtime libraries, or make the image from the package `cargo forge-deb` builds; then
//! push blobs, manifests, the index and finally the tags, straight to the registry.
//!
//! Modules: [`cli`] (flags), [`ops`] (plan, then execute), [`config`] (the metadata table),
//! [`tags`] (templates and semver rules), [`layer`] (reproducible layers, runtime libraries),
//! [`oci`] (documents and media types), [`image`] (assembly), [`base`] (base images),
//! [`output`] (OCI layout, docker archive), [`push`] (push, push-by-digest, merge),
//! [`registry`] and [`auth`] (the registry client and credentials), and [`init`] for
//! `cargo forge-image init`.

pub mod auth;
pub mod base;
pub mod cli;
pub mod config;
pub mod image;
pub mod init;
pub mod layer;
pub mod oci;
pub mod ops;
pub mod output;
pub mod push;
pub mod registry;
pub mod tags;

use anyhow::Result;
use clap::Parser;

use forge_core::Shell;

/// Parses argv and runs the command. Returns the shell (for error reporting) and the result.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> Result<(Shell, Result<()>)> {
    let cli::Cargo::ForgeImage(cli) = cli::Cargo::try_parse_from(args).unwrap_or_else(|e| e.exit());
    match cli.command {
        Some(cli::ImageCommand::Init(init)) => {
            let shell = init.output.shell();
            let result = init::run(&init, &shell);
            Ok((shell, result))
        }
        Some(cli::ImageCommand::Merge(m)) => {
            let shell = m.output.shell();
            let result = push::merge_command(&m, &shell);
            Ok((shell, result))
        }
        None => {
            let shell = cli.args.common.output.shell();
            let result = run(&cli.args, &shell);
            Ok((shell, result))
        }
    }
}

/// `cargo forge-image [FLAGS]`.
pub fn run(args: &cli::ImageArgs, shell: &Shell) -> Result<()> {
    let (project, plan) = ops::plan(args, shell)?;
    if args.dry_run {
        if shell.is_json() {
            shell.json(&serde_json::json!({ "reason": "plan", "plan": plan }))?;
        } else {
            for p in &plan.platforms {
                shell.status(
                    "Would build",
                    format!(
                        "{} {} for {} ({})",
                        plan.package,
                        plan.version,
                        p.platform.display(),
                        p.target.triple
                    ),
                );
            }
            for t in &plan.tags {
                shell.status("Would tag", t);
            }
        }
        return Ok(());
    }
    let result = ops::execute(&project, &plan, shell)?;
    ops::report_gha(&plan, &result, shell)?;
    if shell.is_json() {
        shell.json(&serde_json::json!({ "reason": "image", "image": result }))?;
    } else {
        for p in &result.pushed {
            shell.data(p);
        }
    }
    shell.status(
        "Finished",
        format!(
            "{} {} ({})",
            plan.package, plan.version, result.image.digest
        ),
    );
    Ok(())
}
