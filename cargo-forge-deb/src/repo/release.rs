//! The suite's `Release` file (and its signatures), and the `by-hash` generations it keeps.
//!
//! `Release` lists every index file of every component of the suite with its size, MD5 and
//! SHA-256. The files this update wrote come with their sums (computed while writing); a file it
//! did not touch keeps the entry the previous `Release` gave it when its size still matches and
//! it is no newer than that `Release`, so an update of one architecture does not re-read the
//! indexes of the others. Anything else is hashed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use forge_core::exit::{usage, ResultExt};
use forge_core::fsx;
use forge_core::Shell;

use super::index::{Written, FILES};
use super::{sorted_subdirs, RepoOptions};
use crate::deb822::{parse_paragraphs, Paragraph};
use crate::debfile::hash_file;

/// The RFC 2822 `Date:` of the Release file, in UTC, from `SOURCE_DATE_EPOCH` when set.
pub fn release_date() -> Result<String> {
    release_date_from(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

pub fn release_date_from(source_date_epoch: Option<&str>) -> Result<String> {
    let when = match source_date_epoch {
        Some(v) => {
            let secs: i64 = v
                .trim()
                .parse()
                .map_err(|_| {
                    usage(format!(
                        "invalid SOURCE_DATE_EPOCH `{v}`: expected seconds since 1970-01-01"
                    ))
                })
                .hint(forge_core::archive::SOURCE_DATE_EPOCH_HINT)?;
            time::OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|_| usage(format!("SOURCE_DATE_EPOCH `{v}` is out of range")))?
        }
        None => time::OffsetDateTime::now_utc(),
    };
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] UTC"
    );
    when.format(&format)
        .context("failed to format the Release date")
}

/// The previous `Release` of a suite: its fields, its mtime, and its entries by file.
#[derive(Default)]
pub struct Previous {
    pub paragraph: Paragraph,
    modified: Option<SystemTime>,
    /// path → (size, md5 when listed, sha256)
    entries: BTreeMap<String, (u64, Option<String>, String)>,
}

impl Previous {
    pub fn read(dists: &Path) -> Result<Previous> {
        let path = dists.join("Release");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(Previous::default());
        };
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let paragraph = parse_paragraphs(&text, &format!("`{}`", path.display()))
            .ok()
            .and_then(|mut p| (!p.is_empty()).then(|| p.remove(0)))
            .unwrap_or_default();
        let lines = |field: &str| -> BTreeMap<String, (u64, String)> {
            paragraph
                .get(field)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut parts = l.split_whitespace();
                    let (sum, size, name) = (parts.next()?, parts.next()?, parts.next()?);
                    Some((name.to_string(), (size.parse().ok()?, sum.to_string())))
                })
                .collect()
        };
        let md5 = lines("MD5Sum");
        let mut entries = BTreeMap::new();
        for (name, (size, sha)) in lines("SHA256") {
            let m = md5
                .get(&name)
                .filter(|(s, _)| *s == size)
                .map(|(_, m)| m.clone());
            entries.insert(name, (size, m, sha));
        }
        Ok(Previous {
            paragraph,
            modified,
            entries,
        })
    }

    /// The SHA-256 digests the previous Release lists.
    pub fn digests(&self) -> BTreeSet<String> {
        self.entries.values().map(|e| e.2.clone()).collect()
    }

    /// The previous entry of `path` (relative to the suite) when it still describes the file.
    fn still_valid(&self, name: &str, path: &Path) -> Option<(u64, String, String)> {
        let (size, md5, sha) = self.entries.get(name)?;
        let meta = std::fs::metadata(path).ok()?;
        let fresh = meta.modified().ok()? <= self.modified?;
        if fresh && meta.len() == *size {
            Some((*size, md5.clone()?, sha.clone()))
        } else {
            None
        }
    }
}

/// The Release file of the suite in `dists`, covering every component's indexes: the files in
/// `written` with their sums, the others from `previous` or hashed.
pub fn render(
    opts: &RepoOptions,
    dists: &Path,
    written: &[Written],
    previous: &Previous,
) -> Result<String> {
    let prev = &previous.paragraph;
    let origin = opts
        .origin
        .clone()
        .or_else(|| prev.get("Origin").map(str::to_string));
    let label = opts
        .label
        .clone()
        .or_else(|| prev.get("Label").map(str::to_string))
        .or_else(|| origin.clone());
    let description = prev
        .get("Description")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} packages, published with cargo-forge", opts.suite));
    let written: BTreeMap<&str, &Written> = written.iter().map(|w| (w.rel.as_str(), w)).collect();

    // Every component and architecture of the suite, and every index file.
    let mut components = Vec::new();
    let mut arches: BTreeSet<String> = BTreeSet::new();
    let mut files: Vec<(String, u64, String, String)> = Vec::new();
    for comp in sorted_subdirs(dists)? {
        let comp_dir = dists.join(&comp);
        let mut has_index = false;
        for sub in sorted_subdirs(&comp_dir)? {
            let Some(arch) = sub.strip_prefix("binary-") else {
                continue;
            };
            for name in FILES.iter().copied().chain(["Release"]) {
                let rel = format!("{comp}/{sub}/{name}");
                let path = comp_dir.join(&sub).join(name);
                let entry = if let Some(w) = written.get(rel.as_str()) {
                    (w.size, w.md5.clone(), w.sha256.clone())
                } else if !path.is_file() {
                    continue;
                } else if let Some(e) = previous.still_valid(&rel, &path) {
                    e
                } else {
                    hash_file(&path)?
                };
                files.push((rel, entry.0, entry.1, entry.2));
                has_index = true;
            }
            arches.insert(arch.to_string());
        }
        if has_index {
            components.push(comp);
        }
    }
    files.sort();

    let mut p = Paragraph::default();
    if let Some(o) = origin {
        p.fields.push(("Origin".into(), o));
    }
    if let Some(l) = label {
        p.fields.push(("Label".into(), l));
    }
    p.fields.push(("Suite".into(), opts.suite.clone()));
    p.fields.push(("Codename".into(), opts.suite.clone()));
    p.fields.push(("Date".into(), release_date()?));
    p.fields.push(("Acquire-By-Hash".into(), "yes".into()));
    p.fields.push((
        "Architectures".into(),
        arches.into_iter().collect::<Vec<_>>().join(" "),
    ));
    p.fields.push(("Components".into(), components.join(" ")));
    p.fields.push(("Description".into(), description));
    let width = files
        .iter()
        .map(|f| f.1.to_string().len())
        .max()
        .unwrap_or(1);
    let md5: String = files
        .iter()
        .map(|(path, size, md5, _)| format!("\n {md5} {size:>width$} {path}"))
        .collect();
    let sha: String = files
        .iter()
        .map(|(path, size, _, sha)| format!("\n {sha} {size:>width$} {path}"))
        .collect();
    p.fields.push(("MD5Sum".into(), md5));
    p.fields.push(("SHA256".into(), sha));
    Ok(p.render())
}

/// The SHA-256 digests a Release file lists.
pub fn release_sha256s(text: &str) -> BTreeSet<String> {
    let Ok(paragraphs) = parse_paragraphs(text, "Release") else {
        return BTreeSet::new();
    };
    paragraphs
        .first()
        .and_then(|p| p.get("SHA256"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|d| d.len() == 64)
        .map(str::to_string)
        .collect()
}

/// Deletes `by-hash/SHA256` files of the component that are not in `keep`.
pub fn prune_by_hash(comp_dir: &Path, keep: &BTreeSet<String>, shell: &Shell) -> Result<()> {
    for sub in sorted_subdirs(comp_dir)? {
        let by_hash = comp_dir.join(&sub).join("by-hash/SHA256");
        let Ok(entries) = std::fs::read_dir(&by_hash) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) && !name.starts_with('.') {
                if let Err(err) = std::fs::remove_file(e.path()) {
                    shell.warn(format!("failed to delete `{}`: {err}", e.path().display()));
                }
            }
        }
    }
    Ok(())
}

/// Writes `Release`, then (signed) `Release.gpg` and `InRelease`; returns whether it signed.
/// The signatures are made before anything is written, so a signing failure changes nothing.
pub fn write(
    opts: &RepoOptions,
    dists: &Path,
    release: &str,
    gpg: &crate::sign::Gpg,
    shell: &Shell,
) -> Result<bool> {
    let signatures = match &opts.sign_key {
        Some(key) => {
            let tmp = tempfile::tempdir()
                .context("failed to create a temporary directory for signing")?;
            let staged = tmp.path().join("Release");
            fsx::write_atomic(&staged, release.as_bytes())?;
            let detached = gpg.detach_sign(&staged, Some(key), shell)?;
            let inline = gpg.clearsign(&staged, Some(key), shell)?;
            Some((detached, inline))
        }
        None => None,
    };
    fsx::write_atomic(&dists.join("Release"), release.as_bytes())?;
    if let Some((detached, inline)) = &signatures {
        fsx::write_atomic(&dists.join("Release.gpg"), detached)?;
        fsx::write_atomic(&dists.join("InRelease"), inline)?;
    }
    Ok(signatures.is_some())
}
