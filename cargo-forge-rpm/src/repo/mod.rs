//! `cargo forge-rpm repo`: create or update a DNF/YUM repository from `.rpm` files.
//!
//! Layout (Fedora's, which dnf, yum, zypper and any static web host or S3 bucket serve as it is):
//!
//! ```text
//! DIR/Packages/<first letter of the name>/<name>-<version>-<release>.<arch>.rpm
//! DIR/repodata/repomd.xml{,.asc}
//! DIR/repodata/<sha256>-{primary,filelists,other}.xml.gz
//! DIR/RPM-GPG-KEY-<id>, DIR/<id>.repo          (signed repositories)
//! ```
//!
//! Every architecture shares one repository (dnf picks the packages of its own, as with
//! Fedora's `everything` trees); the letter directories keep `Packages/` listable when it holds
//! thousands of files.
//!
//! How an update works, and why (it must stay cheap for repositories of thousands of packages,
//! so its work follows what changed, not the size of the repository):
//! - **The previous metadata is the state, and the cache.** The three documents the current
//!   `repomd.xml` names are read back and split into per-package fragments ([`xml`]). A package
//!   whose file still has the size and modification time its metadata records keeps its
//!   fragments as they are, without being opened or hashed (`createrepo_c --update`'s rule).
//!   Earlier versions stay: a package is replaced only by the same name, version, release and
//!   architecture, which must then be the same bytes.
//! - **Validate everything first.** Each input's headers are read ([`rpmfile`], through the `rpm`
//!   crate, not the payload) and the file hashed, its payload checked against the digest its
//!   header records in the same read; anything that is not a binary RPM, or that
//!   would change a published package, is rejected by name before the repository is touched.
//!   A signed repository updated without a key is refused too: it would silently become
//!   unsigned.
//! - **Readers never see a half-updated repository.** Packages are copied (under temporary names,
//!   renamed, flushed) before any metadata names them; the metadata files are new files named
//!   after their checksums; `repomd.xml` is renamed into place last, then its signature. Metadata
//!   files of the previous generation stay (a client may have just read the old `repomd.xml`);
//!   older ones are deleted.
//! - **Reproducible.** With `SOURCE_DATE_EPOCH`, the revision and timestamps are that time and
//!   package file times are clamped to it; the gzip streams carry no name or time; packages are
//!   listed in the order of their paths. The same packages give byte-identical metadata, whether
//!   added at once or one by one.
//! - **Signing** (`--sign-key`): `repomd.xml.asc` is an armored detached signature (forge-core's
//!   gpg wrapper), what dnf's `repo_gpgcheck` verifies; the public key is exported, armored, as
//!   `RPM-GPG-KEY-<id>`, and `<id>.repo` is a ready `/etc/yum.repos.d/` file naming it.
//! - **One writer at a time**: an exclusive `flock` on the directory from before it is read until
//!   the last write, as `cargo forge-deb repo` does; a second run waits (naming the holder) or,
//!   with `no_wait`, fails at once, then merges with what the first wrote.
//!
//! Files: this one holds [`update`] and its phases; [`inputs`] the packages given, [`rpmfile`]
//! the RPM headers, [`xml`] the package documents, [`repomd`] `repomd.xml` and the metadata files,
//! [`cli`] the command-line flags.

pub mod cli;
mod inputs;
pub mod repomd;
pub mod rpmfile;
pub mod xml;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use forge_core::digest::sha256_file;
use forge_core::exit::{usage, ResultExt};
use forge_core::fsx;
use forge_core::gpg::Gpg;
use forge_core::Shell;
use serde::Serialize;

pub use rpmfile::{hash_package, read_rpm, RpmInfo};
pub use xml::Entry;

use inputs::*;

/// What to update and how.
#[derive(Clone, Debug, Serialize)]
pub struct RepoOptions {
    /// The repository root (holds `Packages/` and `repodata/`).
    pub dir: PathBuf,
    /// The packages to add.
    pub rpms: Vec<PathBuf>,
    /// The gpg key to sign `repomd.xml` with; unsigned when `None`.
    pub sign_key: Option<String>,
    /// gpg's `--homedir`; `None` uses `GNUPGHOME` or `~/.gnupg`.
    pub gpg_homedir: Option<PathBuf>,
    /// The repository id of the `.repo` file and the key file's name; default: the directory's
    /// name.
    pub repo_id: Option<String>,
    /// The URL the repository is served from, for the `.repo` file; default `file://DIR`.
    pub base_url: Option<String>,
    /// Keep only the N highest versions (rpm's order) of each package and architecture; `None`
    /// keeps every version.
    pub keep: Option<usize>,
    /// `SOURCE_DATE_EPOCH`: the revision and timestamps, and the latest file time recorded.
    pub source_date_epoch: Option<u64>,
    /// Fail at once, instead of waiting, when another update holds the repository's lock.
    #[serde(skip)]
    pub no_wait: bool,
}

impl RepoOptions {
    /// Options with the defaults: unsigned, id from the directory, time from the clock.
    pub fn new(dir: impl Into<PathBuf>, rpms: Vec<PathBuf>) -> RepoOptions {
        RepoOptions {
            dir: dir.into(),
            rpms,
            sign_key: None,
            gpg_homedir: None,
            repo_id: None,
            base_url: None,
            keep: None,
            source_date_epoch: None,
            no_wait: false,
        }
    }

    /// The repository id: given, else the directory's name reduced to what a `.repo` section
    /// name may hold, else `forge`.
    pub fn repo_id(&self) -> String {
        if let Some(id) = &self.repo_id {
            return id.clone();
        }
        let name = std::path::absolute(&self.dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let id: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        if id.is_empty() {
            "forge".to_string()
        } else {
            id
        }
    }
}

/// `SOURCE_DATE_EPOCH` from the environment, checked.
pub fn source_date_epoch_from_env() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| {
                usage(format!(
                    "invalid SOURCE_DATE_EPOCH `{v}`: expected seconds since 1970-01-01"
                ))
            })
            .hint(forge_core::archive::SOURCE_DATE_EPOCH_HINT),
        Err(_) => Ok(None),
    }
}

/// What an update did.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RepoReport {
    pub dir: PathBuf,
    /// The packages given to this update.
    pub added: Vec<AddedPackage>,
    /// The packages that left the repository (`keep`), oldest first.
    pub removed: Vec<RemovedPackage>,
    /// How many packages the repository lists now.
    pub packages: usize,
    /// The architectures of the packages it lists.
    pub architectures: Vec<String>,
    /// Metadata files written, relative to `dir` (repomd.xml last).
    pub metadata_files: Vec<PathBuf>,
    /// Whether `repomd.xml.asc` was written.
    pub signed: bool,
    /// The exported public key and the `.repo` file, relative to `dir` (signed repositories).
    pub key_file: Option<PathBuf>,
    pub repo_file: Option<PathBuf>,
}

/// One package given to an update.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AddedPackage {
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Where it is in the repository, relative to `dir`.
    pub location: String,
    pub size: u64,
    pub sha256: String,
    /// `true` when the identical file was already in the repository.
    pub already_present: bool,
}

/// One package removed by `keep`: its metadata left, then its file was deleted.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RemovedPackage {
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub location: String,
}

/// Creates or updates the repository in `opts.dir` with `opts.rpms`, holding its lock. See the
/// module documentation.
pub fn update(opts: &RepoOptions, shell: &Shell) -> Result<RepoReport> {
    let id = opts.repo_id();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return Err(usage(format!(
            "invalid repository id `{id}`: use letters, digits, `-`, `_`, `.` and `:` only"
        )));
    }
    if opts.keep == Some(0) {
        return Err(usage("invalid `--keep 0`: keep at least one version"))
            .hint("omit `--keep` to keep every version");
    }
    fsx::update_locked_dir(
        &opts.dir,
        "the RPM repository",
        !opts.no_wait,
        shell,
        |locked| update_locked(opts, locked, shell),
    )
}

/// The update itself. Without `locked`, it stops after validation (`None`): nothing is written.
fn update_locked(opts: &RepoOptions, locked: bool, shell: &Shell) -> Result<Option<RepoReport>> {
    let dir = &opts.dir;
    let repodata = dir.join("repodata");
    let repomd_path = repodata.join("repomd.xml");
    let gpg = Gpg::new(opts.gpg_homedir.as_deref());

    // 1. Validate. Nothing is written in this phase.
    if repodata.join("repomd.xml.asc").exists() && opts.sign_key.is_none() {
        return Err(usage(format!(
            "`{}` is a signed repository and no signing key was given: updating it would leave it \
             unsigned",
            dir.display()
        )))
        .hint("pass `--sign-key KEYID`, or delete repodata/repomd.xml.asc to publish it unsigned");
    }
    if opts.rpms.is_empty() && !repomd_path.exists() {
        return Err(usage(format!(
            "no packages given, and `{}` holds no repository to update",
            dir.display()
        )))
        .hint(format!(
            "name the .rpm files to add: `cargo forge-rpm repo --dir {} target/generate-rpm/*.rpm`",
            dir.display()
        ));
    }
    if let Some(key) = &opts.sign_key {
        gpg.check_secret_key(Some(key), shell)?;
    }
    let previous = repomd::Previous::read(&repomd_path)?;
    let mut entries = read_previous(dir, &previous)?;
    let inputs = read_inputs(opts, &entries, shell)?;
    if !locked {
        return Ok(None);
    }

    // 2. Packages, then the previous ones checked against the disk.
    copy_in(dir, &inputs)?;
    let added = report_added(&inputs, shell);
    let given: BTreeSet<String> = inputs.iter().map(|i| i.entry.location.clone()).collect();
    for input in inputs {
        entries.insert(input.entry.location.clone(), input.entry);
    }
    recheck(opts, &mut entries, &given, shell)?;
    let removed = match opts.keep {
        Some(n) => retain(&mut entries, n),
        None => Vec::new(),
    };

    // 3. Metadata files, then repomd.xml (and its signature) last.
    let list: Vec<&Entry> = entries.values().collect();
    let mut written = Vec::new();
    for index in 0..xml::DOCUMENTS.len() {
        written.push(repomd::write_document(&repodata, index, &list)?);
    }
    let revision = match opts.source_date_epoch {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let text = repomd::render(revision, &written, &previous.extra);
    let mut metadata_files: Vec<PathBuf> = written.iter().map(|w| PathBuf::from(&w.href)).collect();
    let (signed, key_file, repo_file) = publish(opts, &repodata, &text, &gpg, shell)?;
    metadata_files.push(PathBuf::from("repodata/repomd.xml"));
    if signed {
        metadata_files.push(PathBuf::from("repodata/repomd.xml.asc"));
    }

    // 4. Metadata files neither this repomd.xml nor the previous one names.
    let mut keep: BTreeSet<String> = written.iter().map(|w| w.href.clone()).collect();
    keep.extend(previous.locations.iter().map(|(_, h)| h.clone()));
    repomd::prune(&repodata, &keep)?;
    let removed = delete_removed(dir, removed, shell)?;

    let architectures: BTreeSet<String> = list.iter().map(|e| e.arch.clone()).collect();
    shell.status(
        "Indexed",
        format!(
            "{} ({} package{}: {}){}",
            dir.display(),
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            architectures.iter().cloned().collect::<Vec<_>>().join(", "),
            match &opts.sign_key {
                Some(k) => format!(", signed with {k}"),
                None => ", unsigned".to_string(),
            }
        ),
    );
    Ok(Some(RepoReport {
        dir: dir.clone(),
        added,
        removed,
        packages: list.len(),
        architectures: architectures.into_iter().collect(),
        metadata_files,
        signed,
        key_file,
        repo_file,
    }))
}

/// Keeps the `n` highest versions (rpm's order: epoch, version, release) of each name and
/// architecture; returns the others, oldest first, removed from `entries`.
fn retain(entries: &mut BTreeMap<String, Entry>, n: usize) -> Vec<Entry> {
    let mut groups: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
    for e in entries.values() {
        groups.entry((&e.name, &e.arch)).or_default().push(e);
    }
    let mut out: Vec<Entry> = Vec::new();
    for list in groups.values_mut() {
        list.sort_by(|a, b| evr(a).cmp(&evr(b)));
        let extra = list.len().saturating_sub(n);
        out.extend(list[..extra].iter().map(|e| (*e).clone()));
    }
    for e in &out {
        entries.remove(&e.location);
    }
    out
}

fn evr(e: &Entry) -> rpm_version::Evr<'_> {
    rpm_version::Evr::new(e.epoch.as_str(), e.version.as_str(), e.release.as_str())
}

/// Deletes the files of the packages `keep` removed, once the new repomd.xml is in place.
fn delete_removed(dir: &Path, removed: Vec<Entry>, shell: &Shell) -> Result<Vec<RemovedPackage>> {
    let mut out = Vec::new();
    for e in removed {
        let path = dir.join(&e.location);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => shell.warn(format!("failed to delete `{}`: {err}", path.display())),
        }
        shell.status("Removed", e.nevra());
        out.push(RemovedPackage {
            name: e.name,
            epoch: e.epoch,
            version: e.version,
            release: e.release,
            arch: e.arch,
            location: e.location,
        });
    }
    Ok(out)
}

/// The packages the current metadata lists, by location. A repository whose metadata cannot be
/// read completely is an error (rewriting it from the given packages alone would drop the rest).
fn read_previous(dir: &Path, previous: &repomd::Previous) -> Result<BTreeMap<String, Entry>> {
    let mut docs: [Vec<u8>; 3] = Default::default();
    let mut found = 0;
    for (i, (kind, _, _)) in xml::DOCUMENTS.iter().enumerate() {
        if let Some(href) = previous.location(kind) {
            docs[i] = repomd::read_document(dir, href)?.with_context(|| {
                format!(
                    "`{}` names `{href}`, which is missing",
                    dir.join("repodata/repomd.xml").display()
                )
            })?;
            found += 1;
        }
    }
    if found == 0 {
        return Ok(BTreeMap::new());
    }
    if found < docs.len() {
        return Err(anyhow::anyhow!(
            "`{}` lacks primary, filelists or other metadata",
            dir.join("repodata/repomd.xml").display()
        ))
        .hint("rebuild the repository with `createrepo_c`, or start a new one");
    }
    Ok(xml::entries_from_documents(&docs)?
        .into_iter()
        .map(|e| (e.location.clone(), e))
        .collect())
}

/// Writes repomd.xml, then (signed) its signature, the public key and the `.repo` file.
fn publish(
    opts: &RepoOptions,
    repodata: &Path,
    repomd: &[u8],
    gpg: &Gpg,
    shell: &Shell,
) -> Result<(bool, Option<PathBuf>, Option<PathBuf>)> {
    let path = repodata.join("repomd.xml");
    let Some(key) = &opts.sign_key else {
        fsx::write_atomic(&path, repomd)?;
        return Ok((false, None, None));
    };
    // The signature is made over the new text before either file is replaced, and the two are
    // renamed into place one right after the other.
    let sig = {
        let tmp = tempfile::NamedTempFile::new_in(repodata)
            .context("failed to create a temporary file for the signature")?;
        std::fs::write(tmp.path(), repomd)
            .with_context(|| format!("failed to write `{}`", tmp.path().display()))?;
        gpg.detach_sign(tmp.path(), Some(key), shell)?
    };
    fsx::write_atomic(&path, repomd)?;
    fsx::write_atomic(&repodata.join("repomd.xml.asc"), &sig)?;

    let id = opts.repo_id();
    let key_name = format!("RPM-GPG-KEY-{id}");
    let armored = gpg
        .cmd()
        .args(["--armor", "--export", key])
        .output(shell)
        .with_context(|| format!("failed to export the public gpg key `{key}`"))?
        .stdout;
    if armored.is_empty() {
        return Err(anyhow::anyhow!("gpg has no public key `{key}` to export"))
            .hint("check the key id with `gpg --list-keys`");
    }
    fsx::write_atomic(&opts.dir.join(&key_name), &armored)?;
    let base = match &opts.base_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!(
            "file://{}",
            std::path::absolute(&opts.dir)
                .unwrap_or(opts.dir.clone())
                .display()
        ),
    };
    let repo_file = format!("{id}.repo");
    let text = format!(
        "[{id}]\nname={id}\nbaseurl={base}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={base}/{key_name}\n"
    );
    fsx::write_atomic(&opts.dir.join(&repo_file), text.as_bytes())?;
    Ok((
        true,
        Some(PathBuf::from(key_name)),
        Some(PathBuf::from(repo_file)),
    ))
}

/// The packages added (or found already present), each reported as it goes (one summary line
/// instead when there are many).
fn report_added(inputs: &[Input], shell: &Shell) -> Vec<AddedPackage> {
    let verbose_each = inputs.len() > 20;
    let mut added = Vec::new();
    for input in inputs {
        let e = &input.entry;
        let verb = if input.already_present {
            "Unchanged"
        } else {
            "Adding"
        };
        if verbose_each {
            shell.verbose_status(verb, e.nevra());
        } else {
            shell.status(verb, e.nevra());
        }
        added.push(AddedPackage {
            name: e.name.clone(),
            epoch: e.epoch.clone(),
            version: e.version.clone(),
            release: e.release.clone(),
            arch: e.arch.clone(),
            location: e.location.clone(),
            size: e.size,
            sha256: e.pkgid.clone(),
            already_present: input.already_present,
        });
    }
    if verbose_each {
        let new = added.iter().filter(|a| !a.already_present).count();
        shell.status(
            "Added",
            format!(
                "{new} package{} ({} already there)",
                if new == 1 { "" } else { "s" },
                added.len() - new
            ),
        );
    }
    added
}

#[cfg(test)]
mod tests;
