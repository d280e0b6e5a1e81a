//! Step 5 of the pipeline: the data of the package. Its architecture (`all` when nothing built is
//! packaged) and output path, then the `data.tar` entries sorted by path with owners and empty
//! directories from `[package.metadata.forge.deb]`, the md5sums and the conffiles.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::archive::Entry;
use forge_core::exit::{ErrorKind, ResultExt};

use crate::assets::{self, Asset, Content};
use crate::manifest::ForgeDebConfig;
use crate::ops::PackageJob;

/// The `data.tar` of a package and what the control members say of it.
pub(super) struct Data {
    pub entries: Vec<Entry>,
    pub installed_kib: u64,
    /// The `md5sums` member's text (conffiles excluded).
    pub md5sums: String,
    /// Absolute paths: the configured `conf-files` and everything shipped under `etc/`.
    pub conffiles: Vec<String>,
}

/// The architecture (`all` when nothing architecture-specific is packaged) and the output path
/// (renamed to `_all.deb` then).
pub(super) fn architecture(job: &PackageJob, all: &[Asset]) -> (String, PathBuf) {
    let any_built = all.iter().any(|a| a.built);
    let arch = if any_built {
        job.arch.clone()
    } else {
        "all".to_string()
    };
    let output = if arch == job.arch {
        job.output.clone()
    } else {
        let f = job
            .output
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .replace(&format!("_{}.deb", job.arch), "_all.deb")
            })
            .unwrap_or_default();
        job.output.with_file_name(f)
    };
    (arch, output)
}

/// The data entries of `all`, with owners and empty directories from [package.metadata.forge.deb].
pub(super) fn entries(job: &PackageJob, all: &[Asset]) -> Result<Data> {
    let meta = &job.metadata;
    let manifest = job.manifest.as_path();
    let mut data = Vec::new();
    let mut installed_kib = 0u64;
    let mut md5sums = String::new();
    let mut conffiles: Vec<String> = meta
        .conf_files
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|c| format!("/{}", c.trim_start_matches('/')))
        .collect();
    for a in all {
        if a.dest.starts_with("etc/")
            && !conffiles
                .iter()
                .any(|c| c.trim_start_matches('/') == a.dest)
            && !matches!(a.content, Content::Symlink(_))
        {
            conffiles.push(format!("/{}", a.dest));
        }
    }
    let shipped: Vec<&str> = all.iter().map(|a| a.dest.as_str()).collect();
    crate::validate::check_conffiles(
        meta.conf_files.as_deref().unwrap_or_default(),
        &shipped,
        "package.metadata.deb",
        manifest,
    )?;
    let mut sorted: Vec<&Asset> = all.iter().collect();
    sorted.sort_by(|a, b| a.dest.cmp(&b.dest));
    for a in sorted {
        let mut entry = match &a.content {
            Content::File(p) => Entry::file(&a.dest, p.clone(), a.mode)?,
            Content::Bytes(b) => Entry::bytes(&a.dest, b.clone(), a.mode)?,
            Content::Symlink(t) => Entry::symlink(&a.dest, t.clone())?,
        };
        let size = entry.size()?;
        installed_kib += (size + 2047) / 1024;
        if !matches!(a.content, Content::Symlink(_))
            && !conffiles
                .iter()
                .any(|c| c.trim_start_matches('/') == a.dest)
        {
            let digest = match &a.content {
                Content::File(p) => md5_file(p)?,
                Content::Bytes(b) => hex::encode(<md5::Md5 as md5::Digest>::digest(b)),
                Content::Symlink(_) => unreachable!(),
            };
            md5sums.push_str(&format!("{digest}  {}\n", entry.path));
        }
        apply_owner(&mut entry, &job.forge, manifest)?;
        data.push(entry);
    }
    for d in &job.forge.dirs {
        let mode = match &d.mode {
            Some(m) => assets::parse_mode(m, manifest, &d.path)?,
            None => 0o755,
        };
        let mut e = Entry::dir(&d.path, mode)
            .with_context(|| {
                format!(
                    "invalid `package.metadata.forge.deb.dirs` path `{}` in `{}`",
                    d.path,
                    manifest.display()
                )
            })
            .kind(ErrorKind::Usage)?;
        e.user = d.user.clone().unwrap_or_else(|| "root".into());
        e.group = d.group.clone().unwrap_or_else(|| e.user.clone());
        apply_owner(&mut e, &job.forge, manifest)?;
        data.push(e);
    }
    Ok(Data {
        entries: data,
        installed_kib,
        md5sums,
        conffiles,
    })
}

fn apply_owner(entry: &mut Entry, forge: &ForgeDebConfig, manifest: &Path) -> Result<()> {
    for o in &forge.owners {
        let path = forge_core::archive::normalize(&o.path)
            .with_context(|| {
                format!(
                    "invalid `package.metadata.forge.deb.owners` path `{}` in `{}`",
                    o.path,
                    manifest.display()
                )
            })
            .kind(ErrorKind::Usage)?;
        if entry.path == path || entry.path.starts_with(&format!("{path}/")) {
            entry.user = o.user.clone();
            entry.group = o.group.clone().unwrap_or_else(|| o.user.clone());
        }
    }
    Ok(())
}

pub(super) fn md5_file(p: &Path) -> Result<String> {
    use md5::Digest;
    let mut h = md5::Md5::new();
    forge_core::digest::read_chunks(p, |b| h.update(b))?;
    Ok(hex::encode(h.finalize()))
}
