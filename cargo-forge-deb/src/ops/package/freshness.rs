//! Step 2 of the pipeline: cargo's freshness for packages. A fingerprint of what the package is
//! made of, remembered next to the target directory with what was produced; an unchanged
//! fingerprint whose package is still on disk, byte for byte, skips the rest of the pipeline.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::assets::{Asset, Content};
use crate::ops::{DebPlan, PackageJob, Produced};

/// A package's fingerprint and where it is remembered.
pub(super) struct Fingerprint {
    path: PathBuf,
    hash: String,
}

impl Fingerprint {
    /// The fingerprint of `job` made of `assets`.
    pub(super) fn of(plan: &DebPlan, job: &PackageJob, assets: &[Asset]) -> Result<Fingerprint> {
        let path = plan.target_dir.join("forge/fingerprints").join(format!(
            "{}.json",
            job.output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        Ok(Fingerprint {
            path,
            hash: fingerprint(plan, job, assets)?,
        })
    }

    /// The package produced last time, if it is current.
    pub(super) fn fresh(&self) -> Option<Produced> {
        fresh(&self.path, &self.hash)
    }

    /// Remembers `p` as produced from this fingerprint.
    pub(super) fn remember(&self, p: &Produced) -> Result<()> {
        remember(&self.path, &self.hash, p)
    }
}

/// What a package is made of: the plan's settings for it and, for every asset, its destination,
/// mode and content identity (path, size, mtime). Any change makes the package stale.
fn fingerprint(plan: &DebPlan, job: &PackageJob, assets: &[Asset]) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut h = serde_json::json!({
        "forge": env!("CARGO_PKG_VERSION"),
        "job": serde_json::to_value(job)?,
        "sde": plan.source_date_epoch,
        "compression": serde_json::to_value(plan.compression)?,
        "strip": plan.strip,
        "multiarch": plan.multiarch,
        "sign": plan.sign,
        "glibc": plan.glibc,
    });
    // `$auto` depends come from the installed libraries' packages: an upgrade there must
    // recompute them.
    let auto = job
        .metadata
        .depends
        .as_ref()
        .map(|d| d.joined())
        .unwrap_or_else(|| "$auto".into())
        .contains("$auto");
    if auto {
        let status = std::fs::metadata("/var/lib/dpkg/status")
            .ok()
            .map(|m| m.mtime());
        h["dpkg_status"] = serde_json::json!(status);
    }
    let mut list = Vec::new();
    for a in assets {
        let content = match &a.content {
            Content::File(p) => {
                let m = forge_core::fsx::metadata(p)?;
                serde_json::json!({"file": p, "size": m.len(), "mtime": m.mtime(), "mtime_ns": m.mtime_nsec(), "ino": m.ino()})
            }
            Content::Bytes(b) => serde_json::json!({"bytes": forge_core::digest::sha256_hex(b)}),
            Content::Symlink(t) => serde_json::json!({"link": t}),
        };
        list.push(serde_json::json!({"dest": a.dest, "mode": a.mode, "built": a.built, "content": content}));
    }
    h["assets"] = list.into();
    Ok(forge_core::digest::sha256_hex(
        serde_json::to_string(&h)?.as_bytes(),
    ))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    fingerprint: String,
    path: PathBuf,
    sha256: String,
    size: u64,
    package: String,
    version: String,
    architecture: String,
    target: Option<String>,
    depends: String,
    dbgsym: Option<PathBuf>,
}

/// The produced package, if its fingerprint matches and the file is still the one we wrote.
fn fresh(fp_path: &Path, fingerprint: &str) -> Option<Produced> {
    let r: Remembered = serde_json::from_slice(&std::fs::read(fp_path).ok()?).ok()?;
    if r.fingerprint != fingerprint {
        return None;
    }
    let meta = std::fs::metadata(&r.path).ok()?;
    if meta.len() != r.size || r.dbgsym.as_ref().is_some_and(|d| !d.is_file()) {
        return None;
    }
    // Cheap identity check first; the digest guards against a file replaced in place.
    if forge_core::digest::sha256_file(&r.path).ok()? != r.sha256 {
        return None;
    }
    Some(Produced {
        package: r.package,
        version: r.version,
        architecture: r.architecture,
        target: r.target,
        path: r.path,
        size: r.size,
        sha256: r.sha256,
        depends: r.depends,
        dbgsym: r.dbgsym,
    })
}

fn remember(fp_path: &Path, fingerprint: &str, p: &Produced) -> Result<()> {
    let r = Remembered {
        fingerprint: fingerprint.to_string(),
        path: p.path.clone(),
        sha256: p.sha256.clone(),
        size: p.size,
        package: p.package.clone(),
        version: p.version.clone(),
        architecture: p.architecture.clone(),
        target: p.target.clone(),
        depends: p.depends.clone(),
        dbgsym: p.dbgsym.clone(),
    };
    forge_core::fsx::write_atomic(fp_path, &serde_json::to_vec(&r)?)
}
