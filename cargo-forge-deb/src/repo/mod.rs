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
//!
//! This module does no command-line parsing: `cargo forge-deb repo` and `forge-release`'s apt host
//! both call [`update`].

mod index;
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
use crate::debfile::{hash_file, sha256_file};
use crate::sign::Gpg;

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
        }
    }
}

/// What an update did.
#[derive(Clone, Debug, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
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

/// The index order of stanzas: package, version (as dpkg orders them), architecture. The
/// version text breaks ties between equal versions spelled differently (`1.01`, `1.1`), so the
/// order is total and matches equality of the three strings.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    package: String,
    version: String,
    arch: String,
}

impl Key {
    fn of(s: &RawStanza) -> Key {
        Key {
            package: s.package.clone(),
            version: s.version.clone(),
            arch: s.architecture.clone(),
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.package
            .cmp(&other.package)
            .then_with(|| compare_versions(&self.version, &other.version))
            .then_with(|| self.version.cmp(&other.version))
            .then_with(|| self.arch.cmp(&other.arch))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The component as the update found it, then as it will be.
struct Component {
    stanzas: BTreeMap<Key, RawStanza>,
    /// Architectures with an index directory.
    arches: BTreeSet<String>,
    /// The previous index text of each architecture (the compression cache's key).
    previous: BTreeMap<String, String>,
    /// Architectures whose index must be written.
    dirty: BTreeSet<String>,
    /// Whether every architecture must be written (an `all` stanza changed).
    all_dirty: bool,
}

impl Component {
    fn read(dir: &Path, comp_dir: &Path, shell: &Shell) -> Result<Component> {
        let mut c = Component {
            stanzas: BTreeMap::new(),
            arches: BTreeSet::new(),
            previous: BTreeMap::new(),
            dirty: BTreeSet::new(),
            all_dirty: false,
        };
        for sub in sorted_subdirs(comp_dir)? {
            let Some(arch) = sub.strip_prefix("binary-") else {
                continue;
            };
            let arch_dir = comp_dir.join(&sub);
            c.arches.insert(arch.to_string());
            if !index::complete(&arch_dir) {
                c.dirty.insert(arch.to_string());
            }
            let Some(text) = index::read_text(&arch_dir)? else {
                continue;
            };
            let what = format!("`{}`", arch_dir.join("Packages").display());
            for s in raw_stanzas(&text, &what)? {
                let key = Key::of(&s);
                if let Some(known) = c.stanzas.get(&key) {
                    if known.text != s.text {
                        // An `all` package listed differently in two indexes: write them all.
                        c.all_dirty = true;
                    }
                    continue;
                }
                if s.filename.is_empty() {
                    shell.warn(format!(
                        "dropping a stanza without `Filename` from `{}`",
                        arch_dir.display()
                    ));
                    c.mark(arch);
                    continue;
                }
                if !dir.join(&s.filename).is_file() {
                    shell.warn(format!(
                        "dropping {} {} from the index: its file `{}` is missing from the pool",
                        s.package, s.version, s.filename
                    ));
                    c.mark(&s.architecture);
                    continue;
                }
                c.stanzas.insert(key, s);
            }
            c.previous.insert(arch.to_string(), text);
        }
        Ok(c)
    }

    /// Marks the index of `arch` (every index for `all`) as changed.
    fn mark(&mut self, arch: &str) {
        if arch == "all" {
            self.all_dirty = true;
        } else {
            self.dirty.insert(arch.to_string());
        }
    }

    /// Adds or replaces a stanza; marks its index when that changes the text.
    fn put(&mut self, s: RawStanza) {
        let key = Key::of(&s);
        if self.stanzas.get(&key).map(|k| &k.text) != Some(&s.text) {
            self.mark(&s.architecture);
            self.stanzas.insert(key, s);
        }
    }

    /// Stanzas by `Filename` basename (the input cache's key).
    fn by_basename(&self) -> HashMap<&str, &Key> {
        self.stanzas
            .iter()
            .map(|(k, s)| (s.filename.rsplit('/').next().unwrap_or(&s.filename), k))
            .collect()
    }

    /// Stanzas by `Filename`.
    fn by_filename(&self) -> HashMap<&str, &RawStanza> {
        self.stanzas
            .values()
            .map(|s| (s.filename.as_str(), s))
            .collect()
    }

    /// Applies retention: the `keep` highest versions of each package and architecture stay.
    fn retain(&mut self, keep: usize) -> Vec<RawStanza> {
        let mut versions: HashMap<(&str, &str), Vec<&Key>> = HashMap::new();
        for k in self.stanzas.keys() {
            versions
                .entry((k.package.as_str(), k.arch.as_str()))
                .or_default()
                .push(k);
        }
        let mut drop: Vec<Key> = Vec::new();
        for list in versions.values() {
            if list.len() > keep {
                // Keys are in index order: lowest versions first.
                drop.extend(list[..list.len() - keep].iter().map(|k| (*k).clone()));
            }
        }
        drop.sort();
        let mut removed = Vec::new();
        for k in drop {
            if let Some(s) = self.stanzas.remove(&k) {
                self.mark(&s.architecture);
                removed.push(s);
            }
        }
        removed
    }

    /// The architectures to index, and which of them to write.
    fn plan_indexes(&mut self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut arches = self.arches.clone();
        for k in self.stanzas.keys() {
            if k.arch != "all" && !arches.contains(&k.arch) {
                arches.insert(k.arch.clone());
                self.dirty.insert(k.arch.clone());
            }
        }
        if arches.is_empty() {
            arches.insert("all".to_string());
            self.dirty.insert("all".to_string());
        }
        let dirty = if self.all_dirty {
            arches.clone()
        } else {
            arches.intersection(&self.dirty).cloned().collect()
        };
        (arches, dirty)
    }
}

/// A package given to the update, checked and placed.
struct Input {
    /// The file given.
    path: PathBuf,
    stanza: RawStanza,
    /// Whether the pool already holds it.
    already_present: bool,
}

/// Reads and checks the inputs (phase 1: nothing is written).
fn read_inputs(
    opts: &RepoOptions,
    debs: &[PathBuf],
    component: &Component,
    shell: &Shell,
) -> Result<Vec<Input>> {
    let dir = &opts.dir;
    let by_basename = component.by_basename();
    let by_filename = component.by_filename();
    let mut inputs: Vec<Input> = Vec::new();
    let mut by_dest: BTreeMap<String, usize> = BTreeMap::new();
    let bar = (debs.len() > 50).then(|| shell.progress_bar(debs.len() as u64, "Reading", false));
    for deb in debs {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        // The cache: a stanza with this file name and size, and the same SHA-256.
        let cached = (|| {
            let name = deb.file_name()?.to_str()?;
            let key = by_basename.get(name)?;
            let stanza = component.stanzas.get(key)?;
            let size = std::fs::metadata(deb).ok()?.len();
            (stanza.size == Some(size)).then_some(stanza)
        })();
        if let Some(stanza) = cached {
            if sha256_file(deb)? == stanza.sha256 {
                if by_dest.contains_key(&stanza.filename) {
                    continue;
                }
                by_dest.insert(stanza.filename.clone(), inputs.len());
                inputs.push(Input {
                    path: deb.clone(),
                    stanza: stanza.clone(),
                    already_present: true,
                });
                continue;
            }
        }

        let info = read_deb(deb)?;
        let filename = format!(
            "{}/{}",
            pool_dir(&opts.component, info.source()),
            info.canonical_file_name()
        );
        if let Some(&i) = by_dest.get(&filename) {
            let other = &inputs[i];
            if other.stanza.sha256 != info.sha256 {
                return Err(usage(format!(
                    "`{}` and `{}` are different files for the same package {} {} ({})",
                    other.path.display(),
                    deb.display(),
                    info.package(),
                    info.version(),
                    info.architecture()
                )))
                .hint("add only one of them; a rebuilt package needs a new version (e.g. `--deb-revision 2`)");
            }
            continue;
        }
        let dest = dir.join(&filename);
        let existing = match by_filename.get(filename.as_str()) {
            Some(s) if dest.is_file() => Some(s.sha256.clone()),
            _ if dest.exists() => Some(hash_file(&dest)?.2),
            _ => None,
        };
        if let Some(existing) = &existing {
            if *existing != info.sha256 {
                return Err(usage(format!(
                    "`{}` is already in the repository as `{}` with different content; a published \
                     version must not change",
                    deb.display(),
                    dest.display()
                )))
                .hint(
                    "give the package a new version (e.g. a new Debian revision) and publish that",
                );
            }
        }
        let mut control = info.control.clone();
        control.set("Filename", filename.clone());
        control.set("Size", info.size.to_string());
        control.set("MD5sum", info.md5.clone());
        control.set("SHA256", info.sha256.clone());
        by_dest.insert(filename, inputs.len());
        inputs.push(Input {
            path: deb.clone(),
            stanza: RawStanza::from_paragraph(&control),
            already_present: existing.is_some(),
        });
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(inputs)
}

/// Up to this many new pool files are each flushed to disk as they are written; more are
/// flushed together by one `syncfs` (one flush per file costs milliseconds each).
const SYNC_EACH_UP_TO: usize = 8;

/// Copies the new packages into the pool (phase 2), durably before any index names them.
fn copy_to_pool(dir: &Path, inputs: &[Input]) -> Result<()> {
    let new: Vec<&Input> = inputs.iter().filter(|i| !i.already_present).collect();
    let sync_each = new.len() <= SYNC_EACH_UP_TO;
    for input in &new {
        let dest = dir.join(&input.stanza.filename);
        if sync_each {
            let mut src = File::open(&input.path)
                .with_context(|| format!("failed to open `{}`", input.path.display()))?;
            let mut out = fsx::AtomicFile::create(&dest)?;
            std::io::copy(&mut src, &mut out).with_context(|| {
                format!(
                    "failed to copy `{}` to `{}`",
                    input.path.display(),
                    dest.display()
                )
            })?;
            out.commit()?;
        } else {
            // A temporary name, renamed: never a partial file under the pool name.
            let parent = dest.parent().expect("pool files have a directory");
            fsx::create_dir_all(parent)?;
            let tmp = tempfile::Builder::new()
                .prefix(".forge-")
                .tempfile_in(parent)
                .with_context(|| {
                    format!(
                        "failed to create a temporary file in `{}`",
                        parent.display()
                    )
                })?
                .into_temp_path();
            std::fs::copy(&input.path, &tmp).with_context(|| {
                format!(
                    "failed to copy `{}` to `{}`",
                    input.path.display(),
                    dest.display()
                )
            })?;
            tmp.persist(&dest)
                .map_err(|e| e.error)
                .with_context(|| format!("failed to move a file to `{}`", dest.display()))?;
        }
    }
    if !sync_each {
        let root =
            File::open(dir).with_context(|| format!("failed to open `{}`", dir.display()))?;
        rustix::fs::syncfs(&root)
            .with_context(|| format!("failed to flush `{}` to disk", dir.display()))?;
    }
    Ok(())
}

/// Filenames the indexes of the other suites of `component` name (for pool pruning).
fn named_by_other_suites(dir: &Path, suite: &str, component: &str) -> Result<BTreeSet<String>> {
    let mut named = BTreeSet::new();
    let dists = dir.join("dists");
    for other in sorted_subdirs(&dists)? {
        if other == suite {
            continue;
        }
        let comp_dir = dists.join(&other).join(component);
        for sub in sorted_subdirs(&comp_dir)? {
            if !sub.starts_with("binary-") {
                continue;
            }
            if let Some(text) = index::read_text(&comp_dir.join(&sub))? {
                named.extend(
                    text.lines()
                        .filter_map(|l| crate::deb822::field(l, "Filename"))
                        .map(str::to_string),
                );
            }
        }
    }
    Ok(named)
}

/// Creates or updates the repository in `opts.dir` with `debs`. See the module documentation.
pub fn update(opts: &RepoOptions, debs: &[PathBuf], shell: &Shell) -> Result<RepoReport> {
    check_path_word("suite", &opts.suite)?;
    check_path_word("component", &opts.component)?;
    if opts.keep == Some(0) {
        return Err(usage("invalid `--keep 0`: keep at least one version"))
            .hint("omit `--keep` to keep every version");
    }
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

    // 2. Pool files.
    copy_to_pool(dir, &inputs)?;
    let mut added = Vec::new();
    let verbose_each = inputs.len() > 20;
    for input in &inputs {
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
    let mut written = Vec::new();
    for arch in &dirty {
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
        written.extend(index::write(&dists, &arch_dir, &stanzas, &reuse)?);
    }

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
    Ok(RepoReport {
        dir: dir.clone(),
        suite: opts.suite.clone(),
        component: opts.component.clone(),
        added,
        removed,
        architectures: arches.into_iter().collect(),
        index_files,
        signed,
    })
}

/// Deletes the pool files of stanzas retention removed, unless an index still names them.
fn prune_pool(
    opts: &RepoOptions,
    removed: Vec<RawStanza>,
    component: &Component,
    shell: &Shell,
) -> Result<Vec<RemovedPackage>> {
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let mut named = named_by_other_suites(&opts.dir, &opts.suite, &opts.component)?;
    named.extend(component.stanzas.values().map(|s| s.filename.clone()));
    let mut out = Vec::new();
    for s in removed {
        let keep = named.contains(&s.filename);
        let path = opts.dir.join(&s.filename);
        let deleted = !keep
            && match std::fs::remove_file(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    shell.warn(format!("failed to delete `{}`: {e}", path.display()));
                    false
                }
            };
        if deleted {
            // Empty source and prefix directories go too (non-empty ones stay: the call fails).
            let mut parent = path.parent();
            for _ in 0..2 {
                match parent {
                    Some(p) if std::fs::remove_dir(p).is_ok() => parent = p.parent(),
                    _ => break,
                }
            }
        }
        shell.status(
            "Removed",
            format!(
                "{} {} ({}) from {}/{}{}",
                s.package,
                s.version,
                s.architecture,
                opts.suite,
                opts.component,
                if keep {
                    " (still in another suite's index)"
                } else {
                    ""
                }
            ),
        );
        out.push(RemovedPackage {
            package: s.package,
            version: s.version,
            architecture: s.architecture,
            filename: s.filename,
            deleted,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
