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
//! [`registry`] and [`auth`] (the registry client and credentials), [`init`] for
//! `cargo forge-image init`, [`vm`]: bootable VM disk images (`--output qcow2:FILE`), and
//! [`json`], the documents of `--message-format json`.

pub mod auth;
pub mod base;
pub mod cli;
pub mod config;
pub mod image;
pub mod init;
pub mod json;
pub mod layer;
pub mod oci;
pub mod ops;
pub mod output;
pub mod push;
pub mod registry;
pub mod tags;
pub mod vm;

use anyhow::Result;

use forge_core::Shell;

/// Parses argv and runs the command. Returns the shell (for error reporting) and the result.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> Result<(Shell, Result<()>)> {
    let cli::Cargo::ForgeImage(cli) = forge_core::json::parse_args(args);
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
            shell.json(&plan)?;
        } else {
            if plan.wants_oci() {
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
            for i in plan.vm.iter().flat_map(|v| &v.images) {
                for o in &i.outputs {
                    shell.status(
                        "Would build",
                        format!(
                            "{}:{} ({}, {} boot, base `{}`{})",
                            o.format.name(),
                            o.path.display(),
                            i.arch,
                            i.boot.name(),
                            i.base.path.display(),
                            if i.base.path.is_file() {
                                ""
                            } else {
                                ", to be built"
                            }
                        ),
                    );
                }
            }
        }
        return Ok(());
    }
    let oci = plan.wants_oci();
    let result = if oci {
        let result = ops::execute(&project, &plan, shell)?;
        ops::report_gha(&plan, &result, shell)?;
        Some(result)
    } else {
        None
    };
    let vm = ops::execute_vm(&project, &plan, oci, shell)?;
    if shell.is_json() {
        shell.json(&json::ImageDocument {
            image: result.as_ref().map(|r| r.image.clone()),
            pushed: result.iter().flat_map(|r| r.pushed.clone()).collect(),
            outputs: result.iter().flat_map(|r| r.outputs.clone()).collect(),
            vm: vm.clone(),
        })?;
    } else {
        for p in result.iter().flat_map(|r| &r.pushed) {
            shell.data(p);
        }
        for o in vm.iter().flat_map(|v| &v.images).flat_map(|i| &i.outputs) {
            shell.data(o.path.display());
        }
    }
    match &result {
        Some(r) => shell.status(
            "Finished",
            format!("{} {} ({})", plan.package, plan.version, r.image.digest),
        ),
        None => shell.status(
            "Finished",
            format!(
                "{} {} ({} VM image{})",
                plan.package,
                plan.version,
                vm.as_ref().map_or(0, |v| v.images.len()),
                if vm.as_ref().map_or(0, |v| v.images.len()) == 1 {
                    ""
                } else {
                    "s"
                }
            ),
        ),
    }
    Ok(())
}
