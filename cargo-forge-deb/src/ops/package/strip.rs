//! Step 4 of the pipeline: stripped binaries. Each built executable is stripped into the scratch
//! directory; with `separate-debug-symbols` or `dbgsym` its debug info is split off into a
//! `.debug` file installed by build-id, which either joins the package or makes the
//! `<name>-dbgsym` package ([`write_dbgsym`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::build;
use forge_core::target::TargetInfo;
use forge_core::Shell;

use super::data::md5_file;
use crate::assets::{Asset, Content, Origin};
use crate::control::Control;
use crate::ops::{DebPlan, PackageJob};

/// Strips the executables of `all` in place (their content becomes the stripped copy in
/// `scratch`); returns the debug files split off, if asked to.
/// forge-rpm strips its binaries with this too.
pub fn strip(
    plan: &DebPlan,
    job: &PackageJob,
    all: &mut [Asset],
    target_info: &TargetInfo,
    scratch: &Path,
    shell: &Shell,
) -> Result<Vec<Asset>> {
    let meta = &job.metadata;
    let separate = meta.separate_debug_symbols.unwrap_or(false) || meta.dbgsym.unwrap_or(false);
    let mut debug_assets = Vec::new();
    let strip = build::binutil(job.target.as_ref(), &plan.toolchain.host, "strip");
    let objcopy = build::binutil(job.target.as_ref(), &plan.toolchain.host, "objcopy");
    let binutils_hint = format!(
        "install binutils for the target: `apt-get install binutils-{}`",
        target_info.gcc_prefix.trim_end_matches('-')
    );
    for (i, a) in all.iter_mut().enumerate() {
        if !a.is_executable_binary() {
            continue;
        }
        let Content::File(src) = a.content.clone() else {
            continue;
        };
        let out = scratch.join(format!("{i}.stripped"));
        forge_core::process::Cmd::new(&strip)
            .args([
                "--strip-unneeded",
                "--remove-section=.comment",
                "--remove-section=.note",
            ])
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .install_hint(binutils_hint.clone())
            .run(shell)
            .with_context(|| format!("failed to strip `{}`", src.display()))?;
        if separate {
            debug_assets.push(split_debug_info(
                &src,
                &out,
                &a.dest,
                scratch,
                i,
                &objcopy,
                meta.compress_debug_symbols
                    .unwrap_or(false)
                    .then_some(plan.debug_compression.as_str()),
                shell,
            )?);
        }
        a.content = Content::File(out);
    }
    Ok(debug_assets)
}

/// Moves the debug info of `original` into a `.debug` file (compressed if asked) and links the
/// stripped binary to it, as `dh_strip` does. The file is installed by build-id under
/// `usr/lib/debug/.build-id/`, where gdb finds it.
#[allow(clippy::too_many_arguments)]
fn split_debug_info(
    original: &Path,
    stripped: &Path,
    dest: &str,
    scratch: &Path,
    i: usize,
    objcopy: &Path,
    compress: Option<&str>,
    shell: &Shell,
) -> Result<Asset> {
    let build_id = crate::elf::read(original)
        .with_context(|| format!("failed to read the build-id of `{}`", original.display()))?
        .build_id;
    let debug_dest = match &build_id {
        Some(id) if id.len() > 2 => {
            format!("usr/lib/debug/.build-id/{}/{}.debug", &id[..2], &id[2..])
        }
        _ => format!("usr/lib/debug/{dest}.debug"),
    };
    // objcopy records the file's base name in the debuglink: give it the installed name.
    let dir = scratch.join(format!("debug-{i}"));
    forge_core::fsx::create_dir_all(&dir)?;
    let debug_file = dir.join(Path::new(&debug_dest).file_name().unwrap_or_default());
    let mut cmd = forge_core::process::Cmd::new(objcopy).arg("--only-keep-debug");
    if let Some(format) = compress {
        cmd = cmd.arg(format!("--compress-debug-sections={format}"));
    }
    cmd.arg(original)
        .arg(&debug_file)
        .run(shell)
        .with_context(|| {
            format!(
                "failed to extract the debug info of `{}`",
                original.display()
            )
        })?;
    forge_core::process::Cmd::new(objcopy)
        .arg(format!("--add-gnu-debuglink={}", debug_file.display()))
        .arg(stripped)
        .run(shell)
        .with_context(|| format!("failed to link `{}` to its debug info", original.display()))?;
    Ok(Asset {
        dest: debug_dest,
        mode: 0o644,
        content: Content::File(debug_file),
        built: false,
        origin: Origin::Generated,
    })
}

/// The `<name>-dbgsym` package (`.ddeb`) holding the debug files, next to the main package.
pub(super) fn write_dbgsym(
    job: &PackageJob,
    arch: &str,
    main_output: &Path,
    debug_assets: Vec<Asset>,
    maintainer: Option<String>,
    homepage: Option<String>,
    plan: &DebPlan,
) -> Result<PathBuf> {
    let name = format!("{}-dbgsym", job.name);
    let file = format!(
        "{name}_{}_{arch}.ddeb",
        job.version
            .split_once(':')
            .map_or(job.version.as_str(), |(_, v)| v)
    );
    let output = main_output.with_file_name(file);
    let mut data = Vec::new();
    let mut md5sums = String::new();
    let mut kib = 0;
    for a in &debug_assets {
        let Content::File(p) = &a.content else {
            continue;
        };
        let e = forge_core::archive::Entry::file(&a.dest, p.clone(), a.mode)?;
        kib += (e.size()? + 2047) / 1024;
        md5sums.push_str(&format!("{}  {}\n", md5_file(p)?, e.path));
        data.push(e);
    }
    let all_build_id = debug_assets
        .iter()
        .all(|a| a.dest.starts_with("usr/lib/debug/.build-id/"));
    let relation = format!("{} (= {})", job.name, job.version);
    let control = Control {
        package: name.clone(),
        version: job.version.clone(),
        architecture: arch.to_string(),
        auto_built_package: Some("debug-symbols".into()),
        homepage,
        section: Some("debug".into()),
        priority: "optional".into(),
        maintainer,
        installed_size: kib,
        depends: (!all_build_id).then(|| relation.clone()),
        recommends: all_build_id.then_some(relation),
        description: format!("debug symbols for {}", job.name),
        ..Control::default()
    };
    crate::writer::write_deb(
        &output,
        crate::writer::DebContents {
            control: control.render(),
            control_files: vec![("md5sums".into(), 0o644, md5sums.into_bytes())],
            data,
            mtime: plan.source_date_epoch,
        },
        &plan.compression,
    )?;
    Ok(output)
}
