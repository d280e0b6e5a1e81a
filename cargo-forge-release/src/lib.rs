//! `cargo forge-release`: versioned, signed, atomic releases to several hosts.
//!
//! Modules: [`cli`] (flags), [`ops`] (plan, stage, publish), [`version`], [`config`] (the
//! release table), [`git`], [`artifacts`] (archives, checksums, signatures), [`stage`] (the
//! staged release), [`state`] (resumption), [`hosts`] (where releases go), [`init`] (the
//! starter table of `cargo forge-release init`).

pub mod artifacts;
pub mod ci;
pub mod cli;
pub mod config;
pub mod git;
pub mod hosts;
pub mod init;
pub mod ops;
pub mod sbom;
pub mod stage;
pub mod state;
pub mod version;

use anyhow::{Context, Result};
use clap::Parser;
use forge_core::ResultExt;

use forge_core::Shell;

/// Parses argv and runs the command. Returns the shell (for error reporting) and the result.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> Result<(Shell, Result<()>)> {
    let cli::Cargo::ForgeRelease(cli) =
        cli::Cargo::try_parse_from(args).unwrap_or_else(|e| e.exit());
    let (shell, result) = match cli.command {
        Some(cli::ReleaseCommand::Init(init)) => {
            let shell = init.output.shell();
            let r = init::run(&init, &shell);
            (shell, r)
        }
        None => {
            let shell = cli.args.common.output.shell();
            let r = release(&cli.args, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Plan(p)) => {
            let shell = p.common.output.shell();
            let r = plan_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Build(p)) => {
            let shell = p.common.output.shell();
            let r = build_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Publish(p)) => {
            let shell = p.common.output.shell();
            let r = publish_phase(&p, &shell);
            (shell, r)
        }
        Some(cli::ReleaseCommand::Ci(c)) => {
            let shell = c.common.output.shell();
            let r = ci::command(&c, &shell);
            (shell, r)
        }
    };
    Ok((shell, result))
}

/// `cargo forge-release VERSION`: check, confirm, build, publish.
pub fn release(args: &cli::ReleaseArgs, shell: &Shell) -> Result<()> {
    let version = args
        .release_version
        .as_deref()
        .context("a version is required")?;
    let req = ops::Request {
        version,
        common: &args.common,
        bump: args.bump,
        allow_dirty: args.allow_dirty,
        no_tag: args.no_tag,
        notes: args.notes.as_deref(),
        retries: args.retries,
        insecure_registries: &args.insecure_registries,
        publishing: true,
        tag_may_exist: false,
    };
    if args.abort {
        let req = ops::Request {
            publishing: false,
            ..req
        };
        let (project, plan) = ops::plan(&req, shell)?;
        return ops::abort(&project, &plan, shell);
    }
    let (project, plan) = ops::plan(&req, shell)?;
    if !args.dry_run {
        if shell.is_json() && !args.yes {
            return Err(forge_core::exit::usage(
                "`--message-format json` cannot ask for confirmation: pass `--yes`, or `--dry-run`",
            ));
        }
        if !shell.is_json() {
            ops::show(&plan, shell);
        }
        ops::confirm(args.yes, shell)?;
    }
    if plan.bump {
        if args.dry_run {
            shell.note(format!(
                "--dry-run: {} would be bumped to {} and committed",
                plan.package, plan.version
            ));
        } else {
            ops::bump(&project, &plan, shell)?;
        }
    }
    // A run in progress publishes the files it staged, byte for byte (signatures carry a time:
    // signing again would give different files than those already uploaded).
    let staged = match (args.dry_run, ops::resumable_staged(&plan)?) {
        (false, Some(staged)) => {
            shell.status(
                "Resuming",
                format!("with the files staged in `{}`", staged.dir.display()),
            );
            staged
        }
        _ => {
            let mut staged = ops::stage(&project, &plan, None, &plan.staging_dir(), shell)?;
            ops::checksum_and_sign(&mut staged, &plan, &project.workspace_root, shell)?;
            staged
        }
    };
    if args.dry_run {
        if shell.is_json() {
            shell.json(&serde_json::json!({ "reason": "plan", "plan": plan, "staged": staged }))?;
        } else {
            ops::show(&plan, shell);
            shell.status(
                "Staged",
                format!(
                    "{} files in {} (nothing published: --dry-run)",
                    staged.assets.len(),
                    staged.dir.display()
                ),
            );
        }
        return Ok(());
    }
    ops::publish(&project, &plan, &staged, shell)?;
    ops::report_gha(&project, &plan, &staged, shell)?;
    if shell.is_json() {
        shell.json(&serde_json::json!({ "reason": "published", "version": plan.version, "tag": plan.tag, "assets": staged.assets }))?;
    }
    shell.status(
        "Released",
        format!(
            "{} {} ({} files)",
            plan.package,
            plan.version,
            staged.assets.len()
        ),
    );
    Ok(())
}

/// `cargo forge-release plan VERSION`.
pub fn plan_phase(p: &cli::PhaseArgs, shell: &Shell) -> Result<()> {
    let req = ops::Request {
        version: &p.release_version,
        common: &p.common,
        bump: false,
        allow_dirty: true,
        no_tag: false,
        notes: None,
        retries: None,
        insecure_registries: &[],
        publishing: false,
        tag_may_exist: false,
    };
    let (_project, plan) = ops::plan(&req, shell)?;
    let out = p.out.clone().unwrap_or_else(|| plan.release_dir.clone());
    forge_core::fsx::write_atomic(&out.join("plan.json"), &serde_json::to_vec_pretty(&plan)?)?;
    if shell.is_json() {
        shell.json(&serde_json::json!({ "reason": "plan", "plan": plan }))?;
    } else {
        ops::show(&plan, shell);
        shell.status("Wrote", out.join("plan.json").display());
    }
    Ok(())
}

/// `cargo forge-release build VERSION --target T`: this runner's artifacts.
pub fn build_phase(p: &cli::PhaseArgs, shell: &Shell) -> Result<()> {
    let req = ops::Request {
        version: &p.release_version,
        common: &p.common,
        bump: false,
        allow_dirty: true,
        no_tag: true,
        notes: None,
        retries: None,
        insecure_registries: &[],
        publishing: false,
        tag_may_exist: false,
    };
    let (project, plan) = ops::plan(&req, shell)?;
    let targets = if p.common.targets.is_empty() {
        plan.targets.clone()
    } else {
        p.common.targets.clone()
    };
    let out = p
        .out
        .clone()
        .unwrap_or_else(|| plan.release_dir.join("artifacts"))
        .join(targets.join("+"));
    let staged = ops::stage(&project, &plan, Some(&targets), &out, shell)?;
    forge_core::fsx::write_atomic(
        &out.join("staged.json"),
        &serde_json::to_vec_pretty(&staged)?,
    )?;
    shell.status(
        "Staged",
        format!("{} files in {}", staged.assets.len(), out.display()),
    );
    Ok(())
}

/// `cargo forge-release publish --artifacts DIR`: merges every runner's `staged.json`.
pub fn publish_phase(p: &cli::PublishArgs, shell: &Shell) -> Result<()> {
    let mut parts = Vec::new();
    find_staged(&p.artifacts, &mut parts)?;
    if parts.is_empty() {
        return Err(forge_core::exit::usage(format!(
            "no `staged.json` under `{}`: run `cargo forge-release build` first (one per target)",
            p.artifacts.display()
        )));
    }
    let first: stage::Staged = serde_json::from_slice(&forge_core::fsx::read(&parts[0])?)
        .with_context(|| format!("invalid `{}`", parts[0].display()))?;
    let req = ops::Request {
        version: &first.version,
        common: &p.common,
        bump: false,
        allow_dirty: false,
        no_tag: p.no_tag,
        notes: None,
        retries: p.retries,
        insecure_registries: &[],
        publishing: true,
        tag_may_exist: true,
    };
    let (project, mut plan) = ops::plan(&req, shell)?;
    // In the split (CI) flow every runner pushed its platform image by digest, and
    // `cargo forge-image merge` tags the index: no host pushes the image again here.
    if plan
        .hosts
        .iter()
        .any(|h| matches!(h, hosts::HostSpec::Oci { .. }))
    {
        shell.note("images are published by `cargo forge-image merge` in the split flow; the `oci` host is skipped");
        plan.hosts
            .retain(|h| !matches!(h, hosts::HostSpec::Oci { .. }));
    }
    let merged_dir = plan.release_dir.join("merged");
    let _ = std::fs::remove_dir_all(&merged_dir);
    forge_core::fsx::create_dir_all(&merged_dir)?;
    let mut merged = stage::Staged {
        dir: merged_dir.clone(),
        assets: Vec::new(),
        image: None,
        ..first.clone()
    };
    for part in &parts {
        let s: stage::Staged = serde_json::from_slice(&forge_core::fsx::read(part)?)
            .with_context(|| format!("invalid `{}`", part.display()))?;
        if s.version != first.version {
            return Err(forge_core::exit::usage(format!(
                "`{}` is for version {}, not {}",
                part.display(),
                s.version,
                first.version
            )))
            .hint("the artifacts directory holds `build` outputs of two versions: empty it and run `cargo forge-release build` again");
        }
        let dir = part.parent().unwrap_or(std::path::Path::new("."));
        for a in s.assets.iter().filter(|a| {
            a.kind != stage::AssetKind::Checksums && a.kind != stage::AssetKind::Signature
        }) {
            let src = dir.join(&a.name);
            let dest = merged_dir.join(&a.name);
            std::fs::copy(&src, &dest)
                .with_context(|| format!("failed to copy `{}`", src.display()))?;
            let copied = stage::Asset::of_file(&dest, a.kind, a.target.clone())?;
            if copied.sha256 != a.sha256 {
                return Err(anyhow::anyhow!(
                    "`{}` does not match its checksum in `{}`",
                    src.display(),
                    part.display()
                ))
                .kind(forge_core::ErrorKind::Check)
                .hint("the file changed after `cargo forge-release build` staged it: run that build again");
            }
            if !merged.assets.iter().any(|m| m.name == copied.name) {
                merged.assets.push(copied);
            }
        }
    }
    ops::checksum_and_sign(&mut merged, &plan, &project.workspace_root, shell)?;
    ops::show(&plan, shell);
    ops::confirm(p.yes, shell)?;
    ops::publish(&project, &plan, &merged, shell)?;
    ops::report_gha(&project, &plan, &merged, shell)?;
    shell.status(
        "Released",
        format!(
            "{} {} ({} files)",
            plan.package,
            plan.version,
            merged.assets.len()
        ),
    );
    Ok(())
}

fn find_staged(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for e in
        std::fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))?
    {
        let p = e
            .with_context(|| format!("failed to read `{}`", dir.display()))?
            .path();
        if p.is_dir() {
            find_staged(&p, out)?;
        } else if p.file_name().is_some_and(|n| n == "staged.json") {
            out.push(p);
        }
    }
    out.sort();
    Ok(())
}
