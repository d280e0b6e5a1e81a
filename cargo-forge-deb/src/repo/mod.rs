//! `cargo forge-deb repo`: create or update a pool-style APT repository from `.deb` files.
//!
//! Layout (the one Debian's own archive uses, so that any APT client and any static web host or
//! S3 bucket can serve it):
//!
//! ```text
//! DIR/pool/<component>/<p or libp>/<source>/<package>_<version>_<arch>.deb
//! DIR/dists/<suite>/<component>/binary-<arch>/Packages{,.gz,.xz}
//! DIR/dists/<suite>/<component>/binary-<arch>/by-hash/SHA256/<sha256>
//! DIR/dists/<suite>/{Release,InRelease,Release.gpg}
//! ```
//!
//! How an update works, and why (it must stay cheap for repositories of thousands of packages,
//! so its work follows what changed, not the size of the repository):
//! - **The previous index is the state, and the cache.** The component's `Packages` stanzas are
//!   read back (as text, with the few fields the update needs picked out: see
//!   [`crate::deb822::RawStanza`]) and merged with the new ones (same package, version and
//!   architecture replaces), so suites sharing one pool stay independent and old versions stay
//!   installable. A `.deb` given again whose file name and size match a stanza is only hashed:
//!   when its SHA-256 is the stanza's, the stanza is reused and the package is not opened.
//!   Stanzas whose pool file vanished are dropped with a warning.
//! - **Validate everything first.** Every other input is opened as an ar archive and its
//!   `control` file read ([`crate::debfile`]); anything that is not a package is rejected by name
//!   before the repository is touched. The pool name is canonical
//!   (`<package>_<version-without-epoch>_<arch>.deb`), so the same package/version/architecture
//!   always lands on the same path; if that path already holds *different* bytes (by the index's
//!   SHA-256, else by hashing the pool file) the update is refused (a published version must not
//!   change under clients' caches), naming both files. A signed repository updated without a key
//!   is refused too: it would silently become unsigned.
//! - **Retention** (`keep`): the N highest versions of each package and architecture stay in the
//!   index; the others leave it, and their pool files are deleted once the new `Release` is in
//!   place, unless another suite's index still names them.
//! - **Only what changed is written.** An architecture's index is rewritten only when a stanza
//!   of it (or an `all` stanza) was added, replaced or removed; it is written in one pass, each
//!   chunk compressed once or copied from the previous files ([`index`]); `Release` reuses the
//!   previous sums of files it did not write ([`release`]).
//! - **Readers never see a half-updated repository.** Pool files, then every index file, are
//!   written under temporary names and renamed; `Release`, `Release.gpg` and `InRelease` come
//!   last. The Release file enables `Acquire-By-Hash` and every index is also stored (hard-linked)
//!   under `by-hash/SHA256/<digest>`, so a client still holding the previous `InRelease` fetches
//!   the index files that it names, not the new ones. By-hash keeps two generations.
//! - **Architectures.** Every architecture present in the new packages or already in the
//!   component gets its own index; `Architecture: all` packages are listed in each of them (as in
//!   Debian, where `binary-all` is optional). Only a repository holding nothing but `all`
//!   packages gets a `binary-all` index (then listed in `Architectures`, which APT honours).
//! - **Signing** uses the `gpg` command line (see [`crate::sign::Gpg`]): `InRelease` is
//!   `gpg --clearsign`, `Release.gpg` is `gpg --detach-sign --armor`.
//! - **One writer at a time.** An update holds an exclusive lock (`flock`) on the repository
//!   directory from before it reads the repository until its last write, so concurrent updates
//!   of one directory are serialised: a second one waits (a status line names the holder) or,
//!   with `no_wait`, fails at once. Each then merges with what the previous one wrote, so every
//!   package given to any of them ends up listed. A repository that does not exist yet is
//!   created and locked only once the inputs are known to be good (bad input writes nothing),
//!   and then validated again under the lock.
//!
//! This module does no command-line parsing: `cargo forge-deb repo` and `forge-release`'s apt host
//! both call [`update`].
//!
//! Files: this one holds [`update`], its phases in order (validate, pool, merge and retention,
//! indexes, Release, prune); [`component`] the component read and merged, [`pool`] the inputs
//! and the pool, [`index`] the `Packages` files, [`release`] `Release` and by-hash, [`xz`] the
//! spliced xz streams.

mod component;
mod index;
mod pool;
mod release;
mod xz;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use forge_core::exit::{usage, ResultExt};
use forge_core::fsx;
use forge_core::Shell;
use serde::Serialize;

pub use crate::deb822::{parse_paragraphs, Paragraph};
pub use crate::debfile::{read_control, read_deb, DebInfo};
pub use crate::version::compare_versions;

use crate::deb822::{raw_stanzas, RawStanza};
use crate::debfile::hash_file;
use crate::sign::Gpg;
use forge_core::digest::sha256_file;

use component::*;
use pool::*;

/// What to update and how.
#[derive(Clone, Debug, Serialize)]
pub struct RepoOptions {
    /// The repository root (holds `pool/` and `dists/`).
    pub dir: PathBuf,
    /// The suite (distribution) name; also used as its codename. Default `stable`.
    pub suite: String,
    /// The component. Default `main`.
    pub component: String,
    /// `Origin:` of the Release file (the previous value is kept when `None`).
    pub origin: Option<String>,
    /// `Label:` of the Release file (the previous value, else the origin, when `None`).
    pub label: Option<String>,
    /// The gpg key to sign `InRelease` and `Release.gpg` with; unsigned when `None`.
    pub sign_key: Option<String>,
    /// gpg's `--homedir`; `None` uses `GNUPGHOME` or `~/.gnupg`.
    pub gpg_homedir: Option<PathBuf>,
    /// Keep only the N highest versions of each package and architecture in this suite and
    /// component; `None` keeps every version.
    pub keep: Option<usize>,
    /// Fail at once, instead of waiting, when another update holds the repository's lock.
    #[serde(skip)]
    pub no_wait: bool,
}

impl RepoOptions {
    /// Options with the defaults: suite `stable`, component `main`, unsigned, every version kept.
    pub fn new(dir: impl Into<PathBuf>) -> RepoOptions {
        RepoOptions {
            dir: dir.into(),
            suite: "stable".to_string(),
            component: "main".to_string(),
            origin: None,
            label: None,
            sign_key: None,
            gpg_homedir: None,
            keep: None,
            no_wait: false,
        }
    }
}

/// What an update did.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RepoReport {
    pub dir: PathBuf,
    pub suite: String,
    pub component: String,
    /// The packages given to this update.
    pub added: Vec<AddedPackage>,
    /// The packages that left the index (retention), oldest first.
    pub removed: Vec<RemovedPackage>,
    /// The architectures of the component's indexes.
    pub architectures: Vec<String>,
    /// Index and Release files written, relative to `dir`.
    pub index_files: Vec<PathBuf>,
    /// Whether `InRelease` and `Release.gpg` were written.
    pub signed: bool,
}

/// One package given to an update.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AddedPackage {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Where it is in the repository, relative to `dir` (the `Filename:` of its stanza).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// `true` when the identical file was already in the pool.
    pub already_present: bool,
}

/// One package removed from the index by retention.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RemovedPackage {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub filename: String,
    /// Whether its pool file was deleted (`false` when another suite still lists it).
    pub deleted: bool,
}

/// `pool/<component>/<p or libp>/<source>/`.
fn pool_dir(component: &str, source: &str) -> String {
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    format!("pool/{component}/{prefix}/{source}")
}

fn check_path_word(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid {what} `{value}`: use letters, digits, `.`, `_`, `-` and `+` only"
        )))
    }
}

pub(crate) fn sorted_subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("failed to list `{}`", dir.display())),
    };
    for e in entries {
        let e = e.with_context(|| format!("failed to list `{}`", dir.display()))?;
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Creates or updates the repository in `opts.dir` with `debs`, holding its lock. See the
/// module documentation.
pub fn update(opts: &RepoOptions, debs: &[PathBuf], shell: &Shell) -> Result<RepoReport> {
    check_path_word("suite", &opts.suite)?;
    check_path_word("component", &opts.component)?;
    if opts.keep == Some(0) {
        return Err(usage("invalid `--keep 0`: keep at least one version"))
            .hint("omit `--keep` to keep every version");
    }
    fsx::update_locked_dir(
        &opts.dir,
        "the APT repository",
        !opts.no_wait,
        shell,
        |locked| update_locked(opts, debs, locked, shell),
    )
}

/// The update itself. Without `locked`, it stops after validation (`None`): nothing is written.
fn update_locked(
    opts: &RepoOptions,
    debs: &[PathBuf],
    locked: bool,
    shell: &Shell,
) -> Result<Option<RepoReport>> {
    let dir = &opts.dir;
    let dists = dir.join("dists").join(&opts.suite);
    let comp_dir = dists.join(&opts.component);
    let gpg = Gpg::new(opts.gpg_homedir.as_deref());

    // 1. Validate: inputs, pool conflicts, signing. Nothing is written in this phase.
    let signed_before = dists.join("InRelease").exists() || dists.join("Release.gpg").exists();
    if signed_before && opts.sign_key.is_none() {
        return Err(usage(format!(
            "`{}` is a signed repository and no signing key was given: updating it would leave it \
             unsigned",
            dists.display()
        )))
        .hint(
            "pass `--sign-key KEYID`, or delete InRelease and Release.gpg to publish it unsigned",
        );
    }
    if debs.is_empty() && !dists.join("Release").exists() {
        return Err(usage(format!(
            "no packages given, and `{}` holds no repository to update",
            dir.display()
        )))
        .hint(format!(
            "name the .deb files to add: `cargo forge-deb repo --dir {} target/debian/*.deb`",
            dir.display()
        ));
    }
    if let Some(key) = &opts.sign_key {
        gpg.check_secret_key(Some(key), shell)?;
    }
    let mut component = Component::read(dir, &comp_dir, shell)?;
    let inputs = read_inputs(opts, debs, &component, shell)?;
    if !locked {
        return Ok(None);
    }

    // 2. Pool files.
    copy_to_pool(dir, &inputs)?;
    let added = report_added(opts, &inputs, shell);

    // 3. Merge, then retention.
    for input in inputs {
        component.put(input.stanza);
    }
    let removed_stanzas = match opts.keep {
        Some(n) => component.retain(n),
        None => Vec::new(),
    };
    let (arches, dirty) = component.plan_indexes();

    // 4. Index files of the architectures that changed, each also stored by hash.
    let written = write_indexes(&dists, &comp_dir, &component, &dirty, shell)?;

    // 5. Release (and signatures), last.
    let previous = release::Previous::read(&dists)?;
    let text = release::render(opts, &dists, &written, &previous)?;
    let signed = release::write(opts, &dists, &text, &gpg, shell)?;
    let mut index_files: Vec<PathBuf> = written
        .iter()
        .map(|w| PathBuf::from("dists").join(&opts.suite).join(&w.rel))
        .collect();
    index_files.push(PathBuf::from("dists").join(&opts.suite).join("Release"));
    if signed {
        for name in ["Release.gpg", "InRelease"] {
            index_files.push(PathBuf::from("dists").join(&opts.suite).join(name));
        }
    }
    // by-hash keeps two generations: what this Release names, and what the previous one named
    // (for clients that fetched the old InRelease just before this update).
    let mut keep = release::release_sha256s(&text);
    keep.extend(previous.digests());
    release::prune_by_hash(&comp_dir, &keep, shell)?;

    // 6. Pool files that left every index.
    let removed = prune_pool(opts, removed_stanzas, &component, shell)?;

    shell.status(
        "Indexed",
        format!(
            "{} {}/{} ({}){}",
            dir.display(),
            opts.suite,
            opts.component,
            arches.iter().cloned().collect::<Vec<_>>().join(", "),
            match &opts.sign_key {
                Some(k) => format!(", signed with {k}"),
                None => ", unsigned".to_string(),
            }
        ),
    );
    Ok(Some(RepoReport {
        dir: dir.clone(),
        suite: opts.suite.clone(),
        component: opts.component.clone(),
        added,
        removed,
        architectures: arches.into_iter().collect(),
        index_files,
        signed,
    }))
}

/// The packages added (or found already present), each reported as it goes (one summary line
/// instead when there are many).
fn report_added(opts: &RepoOptions, inputs: &[Input], shell: &Shell) -> Vec<AddedPackage> {
    let mut added = Vec::new();
    let verbose_each = inputs.len() > 20;
    for input in inputs {
        let s = &input.stanza;
        let (verb, word) = if input.already_present {
            ("Unchanged", "in")
        } else {
            ("Adding", "to")
        };
        let line = format!(
            "{} {} ({}) {word} {}/{}",
            s.package, s.version, s.architecture, opts.suite, opts.component
        );
        if verbose_each {
            shell.verbose_status(verb, line);
        } else {
            shell.status(verb, line);
        }
        added.push(AddedPackage {
            package: s.package.clone(),
            version: s.version.clone(),
            architecture: s.architecture.clone(),
            filename: s.filename.clone(),
            size: s.size.unwrap_or_default(),
            sha256: s.sha256.clone(),
            already_present: input.already_present,
        });
    }
    if verbose_each {
        let new = added.iter().filter(|a| !a.already_present).count();
        shell.status(
            "Added",
            format!(
                "{new} package{} to {}/{} ({} already there)",
                if new == 1 { "" } else { "s" },
                opts.suite,
                opts.component,
                added.len() - new
            ),
        );
    }
    added
}

/// Writes the index files of the `dirty` architectures (reusing the previous index's compressed
/// chunks where they are unchanged).
fn write_indexes(
    dists: &Path,
    comp_dir: &Path,
    component: &Component,
    dirty: &BTreeSet<String>,
    shell: &Shell,
) -> Result<Vec<index::Written>> {
    let mut written = Vec::new();
    for arch in dirty {
        let arch_dir = comp_dir.join(format!("binary-{arch}"));
        let stanzas: Vec<&RawStanza> = component
            .stanzas
            .values()
            .filter(|s| s.architecture == *arch || s.architecture == "all")
            .collect();
        let reuse = match component.previous.get(arch) {
            Some(text) => index::Reuse::load(&arch_dir, text.as_bytes()),
            None => index::Reuse::default(),
        };
        let (gz, xz) = reuse.counts();
        shell.log(
            forge_core::shell::Verbosity::Verbose,
            format!("binary-{arch}: {gz} gzip and {xz} xz chunks of the previous index reusable"),
        );
        written.extend(index::write(dists, &arch_dir, &stanzas, &reuse)?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
