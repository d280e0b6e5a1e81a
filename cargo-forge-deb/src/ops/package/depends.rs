//! Step 3 of the pipeline: `Depends`. `$auto` is computed from the unstripped binaries with
//! `dpkg-shlibdeps` (bounded by the `--glibc` floor), then merged with the configured list.

use std::path::Path;

use anyhow::Result;

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::target::TargetInfo;
use forge_core::Shell;

use crate::assets::{Asset, Content};
use crate::ops::{DebPlan, PackageJob};

/// The `Depends` field of `job`, made of `all`.
pub(super) fn depends(
    plan: &DebPlan,
    job: &PackageJob,
    all: &[Asset],
    target_info: &TargetInfo,
    cross: bool,
    shell: &Shell,
) -> Result<String> {
    let meta = &job.metadata;
    let binaries: Vec<&Path> = all
        .iter()
        .filter(|a| a.is_executable_binary())
        .filter_map(|a| match &a.content {
            Content::File(p) => Some(p.as_path()),
            _ => None,
        })
        .collect();
    let depends_spec = meta
        .depends
        .as_ref()
        .map(|d| d.joined())
        .unwrap_or_else(|| "$auto".into());
    let auto_deps = if depends_spec.split(',').any(|d| d.trim() == "$auto") && !binaries.is_empty()
    {
        let mut deps = crate::deps::shlibdeps(&binaries, target_info, cross, shell)?;
        if plan.glibc.is_some() && target_info.libc == "gnu" {
            if let Some(needed) = crate::deps::glibc_needed(&binaries)? {
                deps = crate::deps::apply_glibc_floor(deps, &needed);
            }
        }
        if deps.is_empty() && !binaries.iter().all(|b| is_static(b)) {
            return Err(anyhow::anyhow!(
                "`$auto` depends came out empty for dynamically linked binaries of `{}`",
                job.name
            ))
            .kind(ErrorKind::Check)
            .hint("check that the libraries they link to come from installed Debian packages of the target architecture");
        }
        deps
    } else {
        vec![]
    };
    let depends = crate::deps::resolve_depends(&depends_spec, &job.arch, &auto_deps, shell);
    shell.verbose_status(
        "Depends",
        if depends.is_empty() {
            "(none)"
        } else {
            &depends
        },
    );
    Ok(depends)
}

/// Whether an ELF file is statically linked (e.g. musl): no interpreter, no shared library
/// needed. A file that cannot be read as ELF counts as static (it links to nothing).
fn is_static(p: &Path) -> bool {
    std::fs::File::open(p).is_ok() && crate::elf::read(p).map_or(true, |f| f.is_static())
}
