//! `--bump`: the new version written into the manifests (formatting and comments kept) and
//! Cargo.lock, committed once; the originals kept so a `--stage-only` run can write them back.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::project::Project;
use forge_core::Shell;

use super::*;
use crate::plan::ReleasePlan;

/// The files `--bump` changes, with their content before: written back by [`restore`] after a
/// `--stage-only`.
pub type Originals = Vec<(PathBuf, Vec<u8>)>;

/// Sets the version of every package of the plan with toml_edit (formatting and comments
/// kept; once in `[workspace.package]` for inherited versions), updates dependents'
/// requirements and Cargo.lock. Returns the files before the change. Commits nothing.
pub fn apply_bump(project: &Project, plan: &ReleasePlan, shell: &Shell) -> Result<Originals> {
    let mut originals: Originals = Vec::new();
    let keep = |path: &Path, originals: &mut Originals| -> Result<()> {
        if !originals.iter().any(|(p, _)| p == path) {
            originals.push((path.to_path_buf(), forge_core::fsx::read(path)?));
        }
        Ok(())
    };
    let version = plan.version.clone();
    let released: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
    // Packages whose version changes: the released ones, and with `[workspace.package] version`
    // set, every member that inherits it (their dependents' requirements must follow too).
    let mut names: Vec<String> = released.iter().map(|n| n.to_string()).collect();
    let result = (|| -> Result<()> {
        let mut root_bumped = false;
        for name in &released {
            let pkg = project
                .package(name)
                .with_context(|| format!("package `{name}` is not in the workspace"))?;
            let manifest = pkg.manifest_path.as_std_path().to_path_buf();
            let mut doc: toml_edit::DocumentMut = forge_core::fsx::read_to_string(&manifest)?
                .parse()
                .with_context(|| format!("failed to parse `{}`", manifest.display()))?;
            let inherited = doc["package"]["version"]
                .get("workspace")
                .and_then(|w| w.as_bool())
                == Some(true);
            if inherited && root_bumped {
                continue;
            }
            if inherited {
                root_bumped = true;
                let root_manifest = project.workspace_manifest();
                keep(&root_manifest, &mut originals)?;
                let mut root_doc: toml_edit::DocumentMut =
                    forge_core::fsx::read_to_string(&root_manifest)?
                        .parse()
                        .with_context(|| {
                            format!("failed to parse `{}`", root_manifest.display())
                        })?;
                root_doc["workspace"]["package"]["version"] = toml_edit::value(version.clone());
                forge_core::fsx::write_atomic(&root_manifest, root_doc.to_string().as_bytes())?;
            } else {
                keep(&manifest, &mut originals)?;
                doc["package"]["version"] = toml_edit::value(version.clone());
                forge_core::fsx::write_atomic(&manifest, doc.to_string().as_bytes())?;
            }
        }
        if root_bumped {
            for id in &project.metadata.workspace_members {
                let Some(p) = project.metadata.packages.iter().find(|p| &p.id == id) else {
                    continue;
                };
                let text = forge_core::fsx::read_to_string(p.manifest_path.as_std_path())?;
                let doc: toml_edit::DocumentMut = text
                    .parse()
                    .with_context(|| format!("failed to parse `{}`", p.manifest_path))?;
                let inherits = doc["package"]["version"]
                    .get("workspace")
                    .and_then(|w| w.as_bool())
                    == Some(true);
                if inherits && !names.iter().any(|n| n == p.name.as_str()) {
                    names.push(p.name.to_string());
                }
            }
        }
        // Dependents' version requirements (path dependencies with a `version`).
        let mut manifests: Vec<PathBuf> = project
            .metadata
            .workspace_members
            .iter()
            .filter_map(|id| project.metadata.packages.iter().find(|p| &p.id == id))
            .map(|p| p.manifest_path.as_std_path().to_path_buf())
            .collect();
        manifests.push(project.workspace_manifest());
        manifests.sort();
        manifests.dedup();
        for m in manifests {
            if !m.is_file() {
                continue;
            }
            let mut d: toml_edit::DocumentMut = forge_core::fsx::read_to_string(&m)?
                .parse()
                .with_context(|| format!("failed to parse `{}`", m.display()))?;
            let mut touched = false;
            let mut update = |deps: Option<&mut toml_edit::Item>| {
                let Some(deps) = deps.and_then(|c| c.as_table_like_mut()) else {
                    return;
                };
                for name in &names {
                    if let Some(t) = deps
                        .get_mut(name.as_str())
                        .and_then(|d| d.as_table_like_mut())
                    {
                        if t.contains_key("path") && t.contains_key("version") {
                            t.insert("version", toml_edit::value(version.clone()));
                            touched = true;
                        }
                    }
                }
            };
            for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
                update(d.get_mut(table));
                update(d.get_mut("workspace").and_then(|w| w.get_mut(table)));
            }
            if touched {
                keep(&m, &mut originals)?;
                forge_core::fsx::write_atomic(&m, d.to_string().as_bytes())?;
            }
        }
        let lock = project.workspace_root.join("Cargo.lock");
        if lock.is_file() {
            keep(&lock, &mut originals)?;
            forge_core::process::Cmd::new(
                std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            )
            .args(["update", "--workspace", "--offline"])
            .cwd(&project.workspace_root)
            .run(shell)
            .context("failed to update Cargo.lock for the new version")?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        restore(&originals);
        return Err(e);
    }
    Ok(originals)
}

/// Writes back the files [`apply_bump`] changed (a `--stage-only` run's bump).
pub fn restore(originals: &Originals) {
    for (path, bytes) in originals {
        let _ = forge_core::fsx::write_atomic(path, bytes);
    }
}

/// `--bump`: sets the versions ([`apply_bump`]) and commits (one commit).
pub fn bump(project: &Project, plan: &ReleasePlan, shell: &Shell) -> Result<()> {
    let originals = apply_bump(project, plan, shell)?;
    let root = &project.workspace_root;
    let rel: Vec<&Path> = originals
        .iter()
        .map(|(p, _)| p.strip_prefix(root).unwrap_or(p))
        .collect();
    if let Err(e) = crate::git::commit(root, &rel, &bump_message(&plan.version), shell) {
        restore(&originals);
        return Err(e);
    }
    let names: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
    shell.status(
        "Bumped",
        format!(
            "{} to {} ({} files, committed)",
            names.join(", "),
            plan.version,
            rel.len()
        ),
    );
    Ok(())
}
