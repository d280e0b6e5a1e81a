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
//! How an update works, and why:
//! - **Validate everything first.** Every input is opened as an ar archive and its `control` file
//!   read (`control.tar.{xz,zst,gz}` or plain `control.tar`, decompressed in-process); anything
//!   that is not a package is rejected by name before the repository is touched. The package's
//!   pool name is canonical (`<package>_<version-without-epoch>_<arch>.deb`), so the same
//!   package/version/architecture always lands on the same path; if that path already holds
//!   *different* bytes the update is refused (a published version must not change under clients'
//!   caches), naming both files. A signed repository updated without a key is refused too: it
//!   would silently become unsigned.
//! - **The previous index is the state.** Existing `Packages` stanzas of the suite/component are
//!   read back and the new ones merged in (same package, version and architecture replaces), so
//!   suites sharing one pool stay independent and old versions stay installable. Stanzas whose pool
//!   file vanished are dropped with a warning. Old pool files are never deleted.
//! - **Readers never see a half-updated repository.** Pool files, then every index file, are written
//!   atomically (temporary name + rename); `Release`, `Release.gpg` and `InRelease` are written
//!   last. The Release file enables `Acquire-By-Hash` and every index is also stored under
//!   `by-hash/SHA256/<digest>`, so a client still holding the previous `InRelease` fetches the
//!   index files that it names, not the new ones.
//! - **Architectures.** Every architecture present in the new packages or already in the
//!   component gets its own index; `Architecture: all` packages are listed in each of them (as in
//!   Debian, where `binary-all` is optional). Only a repository holding nothing but `all`
//!   packages gets a `binary-all` index (then listed in `Architectures`, which APT honours).
//! - **Release** lists every index file of every component of the suite (so updating `main` keeps
//!   `contrib` verifiable) with MD5Sum and SHA256 sums; `Date` comes from `SOURCE_DATE_EPOCH` when
//!   set, so the same inputs give the same bytes.
//! - **Signing** uses the `gpg` command line (see [`crate::sign::Gpg`]): `InRelease` is
//!   `gpg --clearsign`, `Release.gpg` is `gpg --detach-sign --armor`.
//!
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

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use forge_core::exit::{usage, ResultExt};
use forge_core::fsx;
use forge_core::Shell;
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};

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
    /// Fail at once, instead of waiting, when another update holds the repository's lock.
    #[serde(skip)]
    pub no_wait: bool,
}

impl RepoOptions {
    /// Options with the defaults: suite `stable`, component `main`, unsigned.
    pub fn new(dir: impl Into<PathBuf>) -> RepoOptions {
        RepoOptions {
            dir: dir.into(),
            suite: "stable".to_string(),
            component: "main".to_string(),
            origin: None,
            label: None,
            sign_key: None,
            gpg_homedir: None,
            no_wait: false,
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

// ---------------------------------------------------------------------------------------------
// deb822 paragraphs

/// One deb822 paragraph (a control file, a `Packages` stanza), fields in their order.
/// Values keep their continuation lines verbatim (`"first\n second line"`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field (names are case-insensitive), trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// Sets a field, replacing it in place or inserting it before `Description` (else at the end).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(slot) = self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            slot.1 = value;
            return;
        }
        let at = self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case("Description"))
            .unwrap_or(self.fields.len());
        self.fields.insert(at, (name.to_string(), value));
    }

    /// The paragraph as text, ending with a newline (no blank line).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.fields {
            s.push_str(k);
            s.push(':');
            if !v.starts_with('\n') {
                s.push(' ');
            }
            s.push_str(v);
            s.push('\n');
        }
        s
    }
}

/// Parses deb822 text into paragraphs. `what` names the source in errors.
pub fn parse_paragraphs(text: &str, what: &str) -> Result<Vec<Paragraph>> {
    let mut out = Vec::new();
    let mut cur = Paragraph::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some(last) = cur.fields.last_mut() else {
                bail!("{what}, line {}: continuation line without a field", n + 1);
            };
            last.1.push('\n');
            last.1.push_str(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            bail!(
                "{what}, line {}: expected `Field: value`, found `{line}`",
                n + 1
            );
        };
        cur.fields
            .push((name.trim().to_string(), value.trim().to_string()));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Reading packages

/// A package read from a `.deb`: its control paragraph, size and digests.
#[derive(Clone, Debug)]
pub struct DebInfo {
    pub path: PathBuf,
    pub control: Paragraph,
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

impl DebInfo {
    pub fn package(&self) -> &str {
        self.control.get("Package").unwrap_or_default()
    }
    pub fn version(&self) -> &str {
        self.control.get("Version").unwrap_or_default()
    }
    pub fn architecture(&self) -> &str {
        self.control.get("Architecture").unwrap_or_default()
    }
    /// The source package name (`Source:` without a version), else the package name.
    pub fn source(&self) -> &str {
        self.control
            .get("Source")
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or(self.package())
    }
    /// `<package>_<version without epoch>_<arch>.deb`.
    pub fn canonical_file_name(&self) -> String {
        let version = self.version();
        let version = version.split_once(':').map_or(version, |(_, v)| v);
        format!("{}_{}_{}.deb", self.package(), version, self.architecture())
    }
}

/// The text of the `control` file of a `.deb`. Fails with a usage error naming the file when it
/// is not a Debian package.
pub fn read_control(deb: &Path) -> Result<String> {
    let mut archive = crate::writer::open_deb(deb)?;
    let mut first = true;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| crate::writer::not_a_deb(deb, e))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        if first {
            if name != "debian-binary" {
                return Err(crate::writer::not_a_deb(
                    deb,
                    "its first ar member is not `debian-binary`",
                ));
            }
            let mut version = String::new();
            (&mut entry)
                .take(16)
                .read_to_string(&mut version)
                .map_err(|e| crate::writer::not_a_deb(deb, e))?;
            if !version.starts_with("2.") {
                return Err(crate::writer::not_a_deb(
                    deb,
                    format!("unsupported format version `{}`", version.trim()),
                ));
            }
            first = false;
            continue;
        }
        let reader: Box<dyn Read + '_> = match name.as_str() {
            "control.tar" => Box::new(&mut entry),
            "control.tar.xz" => Box::new(liblzma::read::XzDecoder::new(&mut entry)),
            "control.tar.gz" => Box::new(flate2::read::GzDecoder::new(&mut entry)),
            "control.tar.zst" => Box::new(
                zstd::stream::read::Decoder::new(&mut entry)
                    .with_context(|| format!("failed to read `{name}` of `{}`", deb.display()))?,
            ),
            n if n.starts_with("control.tar") => {
                return Err(crate::writer::not_a_deb(
                    deb,
                    format!("unsupported control member `{n}`"),
                ));
            }
            _ => continue,
        };
        let mut tar = tar::Archive::new(reader);
        let entries = tar
            .entries()
            .with_context(|| format!("failed to read `{name}` of `{}`", deb.display()))?;
        for e in entries {
            let mut e =
                e.with_context(|| format!("failed to read `{name}` of `{}`", deb.display()))?;
            let path = e.path().map(|p| p.into_owned()).unwrap_or_default();
            if path == Path::new("./control") || path == Path::new("control") {
                let mut text = String::new();
                e.read_to_string(&mut text).with_context(|| {
                    format!("the control file of `{}` is not UTF-8 text", deb.display())
                })?;
                return Ok(text);
            }
        }
        return Err(crate::writer::not_a_deb(
            deb,
            format!("`{name}` holds no `control` file"),
        ));
    }
    if first {
        Err(crate::writer::not_a_deb(deb, "it is empty"))
    } else {
        Err(crate::writer::not_a_deb(
            deb,
            "it has no `control.tar` member",
        ))
    }
}

fn valid_name(s: &str) -> bool {
    // Debian policy 5.6.1: lowercase letters, digits, `+ - .`, at least two characters,
    // starting with an alphanumeric.
    s.len() >= 2
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
}

fn valid_arch(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Reads a `.deb`: control paragraph (checked: name, version and architecture are well-formed, so
/// they are safe as path components), size, MD5 and SHA-256.
pub fn read_deb(deb: &Path) -> Result<DebInfo> {
    let text = read_control(deb)?;
    let what = format!("the control file of `{}`", deb.display());
    let mut paragraphs = parse_paragraphs(&text, &what)
        .map_err(|e| crate::writer::not_a_deb(deb, format!("{e:#}")))?;
    if paragraphs.len() != 1 {
        return Err(crate::writer::not_a_deb(
            deb,
            "its control file does not hold exactly one paragraph",
        ));
    }
    let control = paragraphs.remove(0);
    for (field, check) in [
        ("Package", valid_name as fn(&str) -> bool),
        ("Version", valid_version),
        ("Architecture", valid_arch),
    ] {
        match control.get(field) {
            None => {
                return Err(crate::writer::not_a_deb(
                    deb,
                    format!("its control file has no `{field}` field"),
                ))
            }
            Some(v) if !check(v) => {
                return Err(crate::writer::not_a_deb(
                    deb,
                    format!("its `{field}` field `{v}` is not valid"),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(src) = control
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
    {
        if !valid_name(src) {
            return Err(crate::writer::not_a_deb(
                deb,
                format!("its `Source` field `{src}` is not valid"),
            ));
        }
    }
    let (size, md5, sha256) = hash_file(deb)?;
    Ok(DebInfo {
        path: deb.to_path_buf(),
        control,
        size,
        md5,
        sha256,
    })
}

/// Size, MD5 and SHA-256 of a file, in one read.
fn hash_file(path: &Path) -> Result<(u64, String, String)> {
    let mut file =
        File::open(path).with_context(|| format!("failed to open `{}`", path.display()))?;
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize()),
    ))
}

// ---------------------------------------------------------------------------------------------
// Versions

/// Compares two Debian versions as dpkg does (epoch, upstream version, revision; `~` sorts
/// before everything, letters before other characters).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((up, rev)) => (epoch, up, rev),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: u8) -> i32 {
        match c {
            0 => 0,
            b'~' => -1,
            c if c.is_ascii_digit() => 0,
            c if c.is_ascii_alphabetic() => c as i32,
            c => c as i32 + 256,
        }
    }
    fn verrevcmp(a: &str, b: &str) -> Ordering {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let at = |i: usize| a.get(i).copied().unwrap_or(0);
        let bt = |j: usize| b.get(j).copied().unwrap_or(0);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let mut first_diff = 0i32;
            while (at(i) != 0 && !at(i).is_ascii_digit()) || (bt(j) != 0 && !bt(j).is_ascii_digit())
            {
                let (ac, bc) = (order(at(i)), order(bt(j)));
                if ac != bc {
                    return ac.cmp(&bc);
                }
                i += 1;
                j += 1;
            }
            while at(i) == b'0' {
                i += 1;
            }
            while bt(j) == b'0' {
                j += 1;
            }
            while at(i).is_ascii_digit() && bt(j).is_ascii_digit() {
                if first_diff == 0 {
                    first_diff = at(i) as i32 - bt(j) as i32;
                }
                i += 1;
                j += 1;
            }
            if at(i).is_ascii_digit() {
                return Ordering::Greater;
            }
            if bt(j).is_ascii_digit() {
                return Ordering::Less;
            }
            if first_diff != 0 {
                return first_diff.cmp(&0);
            }
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

// ---------------------------------------------------------------------------------------------
// The update

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

/// The stanza key: package, version, architecture.
type Key = (String, String, String);

fn stanza_key(p: &Paragraph) -> Key {
    (
        p.get("Package").unwrap_or_default().to_string(),
        p.get("Version").unwrap_or_default().to_string(),
        p.get("Architecture").unwrap_or_default().to_string(),
    )
}

fn compare_stanzas(a: &Paragraph, b: &Paragraph) -> Ordering {
    let (ka, kb) = (stanza_key(a), stanza_key(b));
    ka.0.cmp(&kb.0)
        .then_with(|| compare_versions(&ka.1, &kb.1))
        .then_with(|| ka.2.cmp(&kb.2))
}

/// The RFC 2822 `Date:` of the Release file, in UTC, from `SOURCE_DATE_EPOCH` when set.
fn release_date() -> Result<String> {
    release_date_from(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

fn release_date_from(source_date_epoch: Option<&str>) -> Result<String> {
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

fn compress_gz(data: &[u8]) -> Result<Vec<u8>> {
    // No file name and mtime 0 in the gzip header: same input, same bytes.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(data)
        .context("failed to compress with gzip")?;
    enc.finish().context("failed to compress with gzip")
}

fn compress_xz(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(data).context("failed to compress with xz")?;
    enc.finish().context("failed to compress with xz")
}

/// Reads the stanzas of an existing index directory (`Packages`, else `Packages.xz`/`.gz`).
fn read_index(dir: &Path) -> Result<Vec<Paragraph>> {
    let plain = dir.join("Packages");
    let text = if plain.is_file() {
        fsx::read_to_string(&plain)?
    } else if dir.join("Packages.xz").is_file() {
        let p = dir.join("Packages.xz");
        let mut s = String::new();
        liblzma::read::XzDecoder::new(
            File::open(&p).with_context(|| format!("failed to open `{}`", p.display()))?,
        )
        .read_to_string(&mut s)
        .with_context(|| format!("failed to read `{}`", p.display()))?;
        s
    } else if dir.join("Packages.gz").is_file() {
        let p = dir.join("Packages.gz");
        let mut s = String::new();
        flate2::read::GzDecoder::new(
            File::open(&p).with_context(|| format!("failed to open `{}`", p.display()))?,
        )
        .read_to_string(&mut s)
        .with_context(|| format!("failed to read `{}`", p.display()))?;
        s
    } else {
        return Ok(Vec::new());
    };
    parse_paragraphs(&text, &format!("`{}`", plain.display()))
}

fn sorted_subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for e in
        std::fs::read_dir(dir).with_context(|| format!("failed to list `{}`", dir.display()))?
    {
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
    let lock = |shell: &Shell| fsx::lock_dir(&opts.dir, "the APT repository", !opts.no_wait, shell);
    let _held = if opts.dir.is_dir() {
        Some(lock(shell)?)
    } else {
        None
    };
    if let Some(report) = update_locked(opts, debs, _held.is_some(), shell)? {
        return Ok(report);
    }
    // A new repository: the inputs are good; create and lock it, and check again (another run
    // may have created it meanwhile).
    let _held = lock(shell)?;
    update_locked(opts, debs, true, shell)?
        .context("internal error: the repository was locked and still not updated")
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

    let mut infos: Vec<(DebInfo, String)> = Vec::new();
    let mut by_dest: BTreeMap<String, usize> = BTreeMap::new();
    for deb in debs {
        let info = read_deb(deb)?;
        let filename = format!(
            "{}/{}",
            pool_dir(&opts.component, info.source()),
            info.canonical_file_name()
        );
        if let Some(&i) = by_dest.get(&filename) {
            let other = &infos[i].0;
            if other.sha256 != info.sha256 {
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
        if dest.exists() {
            let (_, _, existing) = hash_file(&dest)?;
            if existing != info.sha256 {
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
        by_dest.insert(filename.clone(), infos.len());
        infos.push((info, filename));
    }

    if !locked {
        return Ok(None);
    }

    // 2. Pool files.
    let mut added = Vec::new();
    let mut new_stanzas = Vec::new();
    for (info, filename) in &infos {
        let dest = dir.join(filename);
        let already_present = dest.exists();
        if !already_present {
            let mut src = File::open(&info.path)
                .with_context(|| format!("failed to open `{}`", info.path.display()))?;
            let mut out = fsx::AtomicFile::create(&dest)?;
            std::io::copy(&mut src, &mut out).with_context(|| {
                format!(
                    "failed to copy `{}` to `{}`",
                    info.path.display(),
                    dest.display()
                )
            })?;
            out.commit()?;
        }
        shell.status(
            if already_present {
                "Unchanged"
            } else {
                "Adding"
            },
            format!(
                "{} {} ({}) {} {}/{}",
                info.package(),
                info.version(),
                info.architecture(),
                if already_present { "in" } else { "to" },
                opts.suite,
                opts.component
            ),
        );
        let mut stanza = info.control.clone();
        stanza.set("Filename", filename.clone());
        stanza.set("Size", info.size.to_string());
        stanza.set("MD5sum", info.md5.clone());
        stanza.set("SHA256", info.sha256.clone());
        new_stanzas.push(stanza);
        added.push(AddedPackage {
            package: info.package().to_string(),
            version: info.version().to_string(),
            architecture: info.architecture().to_string(),
            filename: filename.clone(),
            size: info.size,
            sha256: info.sha256.clone(),
            already_present,
        });
    }

    // 3. Merge with the existing index of this component.
    let mut stanzas: BTreeMap<Key, Paragraph> = BTreeMap::new();
    let mut arches: BTreeSet<String> = BTreeSet::new();
    for sub in sorted_subdirs(&comp_dir)? {
        let Some(arch) = sub.strip_prefix("binary-") else {
            continue;
        };
        arches.insert(arch.to_string());
        for p in read_index(&comp_dir.join(&sub))? {
            let Some(filename) = p.get("Filename") else {
                shell.warn(format!(
                    "dropping a stanza without `Filename` from `{}`",
                    comp_dir.join(&sub).display()
                ));
                continue;
            };
            if !dir.join(filename).is_file() {
                shell.warn(format!(
                    "dropping {} {} from the index: its file `{filename}` is missing from the pool",
                    p.get("Package").unwrap_or("?"),
                    p.get("Version").unwrap_or("?")
                ));
                continue;
            }
            stanzas.insert(stanza_key(&p), p);
        }
    }
    for p in new_stanzas {
        stanzas.insert(stanza_key(&p), p);
    }
    for (_, _, arch) in stanzas.keys() {
        if arch != "all" {
            arches.insert(arch.clone());
        }
    }
    if arches.is_empty() {
        arches.insert("all".to_string());
    }
    let mut all: Vec<Paragraph> = stanzas.into_values().collect();
    all.sort_by(compare_stanzas);

    // 4. Index files, each also stored by hash.
    let mut index_files: Vec<PathBuf> = Vec::new();
    for arch in &arches {
        let arch_dir = comp_dir.join(format!("binary-{arch}"));
        let text: String = all
            .iter()
            .filter(|p| {
                let a = p.get("Architecture").unwrap_or_default();
                a == arch || a == "all"
            })
            .map(|p| p.render())
            .collect::<Vec<_>>()
            .join("\n");
        let plain = text.into_bytes();
        let contents: Vec<(&str, Vec<u8>)> = vec![
            ("Packages.gz", compress_gz(&plain)?),
            ("Packages.xz", compress_xz(&plain)?),
            ("Packages", plain),
        ];
        for (_, bytes) in &contents {
            let by_hash = arch_dir
                .join("by-hash/SHA256")
                .join(forge_core::digest::sha256_hex(bytes));
            if !by_hash.exists() {
                fsx::write_atomic(&by_hash, bytes)?;
            }
        }
        for (name, bytes) in &contents {
            let path = arch_dir.join(name);
            fsx::write_atomic(&path, bytes)?;
            index_files.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
        }
    }

    // 5. Release (and signatures), last.
    let previous_digests = match fsx::read_to_string(&dists.join("Release")) {
        Ok(text) => release_sha256s(&text),
        Err(_) => BTreeSet::new(),
    };
    let release = render_release(opts, &dists)?;
    let release_path = dists.join("Release");
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
    fsx::write_atomic(&release_path, release.as_bytes())?;
    index_files.push(PathBuf::from("dists").join(&opts.suite).join("Release"));
    if let Some((detached, inline)) = &signatures {
        fsx::write_atomic(&dists.join("Release.gpg"), detached)?;
        fsx::write_atomic(&dists.join("InRelease"), inline)?;
        for name in ["Release.gpg", "InRelease"] {
            index_files.push(PathBuf::from("dists").join(&opts.suite).join(name));
        }
    }
    // by-hash keeps two generations: what this Release names, and what the previous one named
    // (for clients that fetched the old InRelease just before this update).
    let mut keep = release_sha256s(&release);
    keep.extend(previous_digests);
    prune_by_hash(&comp_dir, &keep, shell)?;
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
        architectures: arches.into_iter().collect(),
        index_files,
        signed: signatures.is_some(),
    }))
}

/// The SHA-256 digests a Release file lists.
fn release_sha256s(text: &str) -> BTreeSet<String> {
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
fn prune_by_hash(comp_dir: &Path, keep: &BTreeSet<String>, shell: &Shell) -> Result<()> {
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

/// The Release file of the suite in `dists`, covering every component's indexes.
fn render_release(opts: &RepoOptions, dists: &Path) -> Result<String> {
    let previous = if dists.join("Release").is_file() {
        let text = fsx::read_to_string(&dists.join("Release"))?;
        parse_paragraphs(&text, &format!("`{}`", dists.join("Release").display()))
            .ok()
            .and_then(|mut p| (!p.is_empty()).then(|| p.remove(0)))
            .unwrap_or_default()
    } else {
        Paragraph::default()
    };
    let origin = opts
        .origin
        .clone()
        .or_else(|| previous.get("Origin").map(str::to_string));
    let label = opts
        .label
        .clone()
        .or_else(|| previous.get("Label").map(str::to_string))
        .or_else(|| origin.clone());
    let description = previous
        .get("Description")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} packages, published with cargo-forge", opts.suite));

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
            for name in ["Packages", "Packages.gz", "Packages.xz", "Release"] {
                let path = comp_dir.join(&sub).join(name);
                if path.is_file() {
                    let (size, md5, sha) = hash_file(&path)?;
                    files.push((format!("{comp}/{sub}/{name}"), size, md5, sha));
                    has_index = true;
                }
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

#[cfg(test)]
#[allow(clippy::print_stderr)]
mod tests {
    use super::*;
    use forge_core::process::Cmd;

    fn have(tool: &str) -> bool {
        forge_core::process::exists(tool)
    }

    /// Builds a small package with dpkg-deb: one script in /usr/bin.
    pub(crate) fn build_deb(
        dir: &Path,
        name: &str,
        version: &str,
        arch: &str,
        compress: &str,
    ) -> PathBuf {
        let root = dir.join(format!("{name}-{version}-{arch}-{compress}"));
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        let bin = root.join("usr/bin").join(name);
        std::fs::write(&bin, format!("#!/bin/sh\necho {name} {version}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            root.join("DEBIAN/control"),
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@example.com>\n\
                 Section: utils\nPriority: optional\nDescription: test package {name}\n a longer\n .\n description\n"
            ),
        )
        .unwrap();
        let deb = dir.join(format!("{name}_{version}_{arch}.{compress}.deb"));
        Cmd::new("dpkg-deb")
            .args(["--root-owner-group", &format!("-Z{compress}"), "--build"])
            .arg(&root)
            .arg(&deb)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output(&Shell::plain())
            .unwrap();
        deb
    }

    #[test]
    fn versions_compare_like_dpkg() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-2", Less),
            ("1.0-10", "1.0-9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0~~", "1.0~", Less),
            ("2.0.0", "2.0", Greater),
            ("1.001", "1.1", Equal),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
        if have("dpkg") {
            for (a, b) in [
                ("1.2.3~beta.1-1", "1.2.3-1"),
                ("0.9+git20240101", "0.9"),
                ("1.0-1ubuntu1", "1.0-1+deb12u1"),
            ] {
                let lt = std::process::Command::new("dpkg")
                    .args(["--compare-versions", a, "lt", b])
                    .status()
                    .unwrap()
                    .success();
                assert_eq!(compare_versions(a, b) == Less, lt, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn paragraphs_round_trip() {
        let text = "Package: a\nDescription: x\n more\n .\n end\nDepends: b\n\nPackage: c\n";
        let ps = parse_paragraphs(text, "t").unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("description"), Some("x\n more\n .\n end"));
        let mut p = ps[0].clone();
        p.set("Filename", "pool/x");
        assert_eq!(
            p.render(),
            "Package: a\nFilename: pool/x\nDescription: x\n more\n .\n end\nDepends: b\n"
        );
        assert!(parse_paragraphs(" orphan\n", "t").is_err());
    }

    #[test]
    fn pool_paths() {
        assert_eq!(pool_dir("main", "hello"), "pool/main/h/hello");
        assert_eq!(pool_dir("main", "libfoo"), "pool/main/libf/libfoo");
        assert_eq!(pool_dir("main", "lib"), "pool/main/l/lib");
    }

    #[test]
    fn rejects_non_debs_and_bad_names() {
        let shell = Shell::plain();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("readme.deb");
        std::fs::write(&f, "not an archive").unwrap();
        let mut opts = RepoOptions::new(dir.path().join("repo"));
        let e = update(&opts, std::slice::from_ref(&f), &shell).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("readme.deb") && msg.contains("(.deb): it is not an ar archive"),
            "{msg}"
        );
        assert_eq!(forge_core::exit::code_of(&e), 2);
        assert!(
            !dir.path().join("repo").exists(),
            "nothing may be written for bad input"
        );
        opts.suite = "../x".into();
        assert!(format!("{:#}", update(&opts, &[f], &shell).unwrap_err()).contains("invalid suite"));
    }

    fn packages_text(repo: &Path, suite: &str, arch: &str) -> String {
        std::fs::read_to_string(repo.join(format!("dists/{suite}/main/binary-{arch}/Packages")))
            .unwrap()
    }

    #[test]
    fn builds_updates_and_refuses_changed_versions() {
        let shell = Shell::plain();
        if !have("dpkg-deb") {
            eprintln!("skipping: dpkg-deb is not installed");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&work).unwrap();
        let hello = build_deb(&work, "hello-forge", "1.0-1", "amd64", "xz");
        let libx = build_deb(&work, "libforge-x", "0.2", "arm64", "zstd");
        let docs = build_deb(&work, "forge-docs", "1.0", "all", "gzip");
        let opts = RepoOptions {
            origin: Some("Forge Test".into()),
            ..RepoOptions::new(&repo)
        };
        let report = update(&opts, &[hello.clone(), libx.clone(), docs.clone()], &shell).unwrap();
        assert_eq!(report.architectures, ["amd64", "arm64"]);
        assert!(report.added.iter().all(|a| !a.already_present));
        assert!(repo
            .join("pool/main/h/hello-forge/hello-forge_1.0-1_amd64.deb")
            .is_file());
        assert!(repo
            .join("pool/main/libf/libforge-x/libforge-x_0.2_arm64.deb")
            .is_file());
        assert!(repo
            .join("pool/main/f/forge-docs/forge-docs_1.0_all.deb")
            .is_file());

        let amd64 = packages_text(&repo, "stable", "amd64");
        let stanzas = parse_paragraphs(&amd64, "Packages").unwrap();
        let names: Vec<&str> = stanzas.iter().map(|p| p.get("Package").unwrap()).collect();
        assert_eq!(
            names,
            ["forge-docs", "hello-forge"],
            "arch-all packages are in every index"
        );
        let h = &stanzas[1];
        assert_eq!(
            h.get("Filename"),
            Some("pool/main/h/hello-forge/hello-forge_1.0-1_amd64.deb")
        );
        let (size, md5, sha) = hash_file(&hello).unwrap();
        assert_eq!(h.get("Size"), Some(size.to_string().as_str()));
        assert_eq!(h.get("MD5sum"), Some(md5.as_str()));
        assert_eq!(h.get("SHA256"), Some(sha.as_str()));
        assert_eq!(
            h.get("Description"),
            Some("test package hello-forge\n a longer\n .\n description")
        );
        // dpkg-scanpackages agrees on the control fields and checksums.
        if have("dpkg-scanpackages") {
            let theirs = Cmd::new("dpkg-scanpackages")
                .args(["-m", "pool/main/h"])
                .cwd(&repo)
                .read(&shell)
                .unwrap();
            let theirs = &parse_paragraphs(&theirs, "scan").unwrap()[0];
            for f in [
                "Package",
                "Version",
                "Architecture",
                "Filename",
                "Size",
                "MD5sum",
                "SHA256",
                "Description",
            ] {
                assert_eq!(h.get(f), theirs.get(f), "{f}");
            }
        }
        let arm64 = packages_text(&repo, "stable", "arm64");
        assert!(arm64.contains("Package: libforge-x") && arm64.contains("Package: forge-docs"));
        assert!(!arm64.contains("hello-forge"));

        // Compressed indexes match the plain one, and Release lists them all with right sums.
        let plain = std::fs::read(repo.join("dists/stable/main/binary-amd64/Packages")).unwrap();
        let mut xz = Vec::new();
        liblzma::read::XzDecoder::new(
            File::open(repo.join("dists/stable/main/binary-amd64/Packages.xz")).unwrap(),
        )
        .read_to_end(&mut xz)
        .unwrap();
        let mut gz = Vec::new();
        flate2::read::GzDecoder::new(
            File::open(repo.join("dists/stable/main/binary-amd64/Packages.gz")).unwrap(),
        )
        .read_to_end(&mut gz)
        .unwrap();
        assert_eq!((&xz, &gz), (&plain, &plain));
        let release = std::fs::read_to_string(repo.join("dists/stable/Release")).unwrap();
        let rel = &parse_paragraphs(&release, "Release").unwrap()[0];
        assert_eq!(rel.get("Origin"), Some("Forge Test"));
        assert_eq!(rel.get("Label"), Some("Forge Test"));
        assert_eq!(rel.get("Suite"), Some("stable"));
        assert_eq!(rel.get("Codename"), Some("stable"));
        assert_eq!(rel.get("Architectures"), Some("amd64 arm64"));
        assert_eq!(rel.get("Components"), Some("main"));
        let sha_lines: Vec<&str> = rel
            .get("SHA256")
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(sha_lines.len(), 6);
        for line in sha_lines {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let path = repo.join("dists/stable").join(parts[2]);
            let (size, _, sha) = hash_file(&path).unwrap();
            assert_eq!(
                (parts[0], parts[1]),
                (sha.as_str(), size.to_string().as_str()),
                "{line}"
            );
            assert!(path
                .parent()
                .unwrap()
                .join("by-hash/SHA256")
                .join(parts[0])
                .is_file());
        }
        assert!(rel.get("MD5Sum").is_some());
        assert!(!repo.join("dists/stable/InRelease").exists());

        // Update: a new version joins, the old one stays; a re-add of the same file is a no-op.
        let hello2 = build_deb(&work, "hello-forge", "1.10-1", "amd64", "xz");
        let hello_rc = build_deb(&work, "hello-forge", "1.10~rc1-1", "amd64", "xz");
        let report = update(
            &RepoOptions::new(&repo),
            &[hello2, hello.clone(), hello_rc],
            &shell,
        )
        .unwrap();
        assert_eq!(report.added.iter().filter(|a| a.already_present).count(), 1);
        let amd64 = packages_text(&repo, "stable", "amd64");
        let versions: Vec<String> = parse_paragraphs(&amd64, "Packages")
            .unwrap()
            .iter()
            .filter(|p| p.get("Package") == Some("hello-forge"))
            .map(|p| p.get("Version").unwrap().to_string())
            .collect();
        assert_eq!(
            versions,
            ["1.0-1", "1.10~rc1-1", "1.10-1"],
            "sorted by dpkg version"
        );
        assert!(
            packages_text(&repo, "stable", "arm64").contains("libforge-x"),
            "other arches kept"
        );
        let release = std::fs::read_to_string(repo.join("dists/stable/Release")).unwrap();
        assert!(
            release.contains("Origin: Forge Test"),
            "origin kept from the previous Release"
        );

        // by-hash keeps the current and the previous generation only.
        let by_hash = repo.join("dists/stable/main/binary-amd64/by-hash/SHA256");
        assert_eq!(std::fs::read_dir(&by_hash).unwrap().count(), 6);
        update(&RepoOptions::new(&repo), &[], &shell).unwrap();
        assert_eq!(
            std::fs::read_dir(&by_hash).unwrap().count(),
            3,
            "unchanged indexes, one generation"
        );

        // Same name, different bytes: refused, naming both, and nothing changes.
        let before = std::fs::read(repo.join("dists/stable/Release")).unwrap();
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        let changed = {
            let root = work.join("hello-forge-1.0-1-amd64-xz");
            std::fs::write(
                root.join("usr/bin/hello-forge"),
                "#!/bin/sh\necho changed\n",
            )
            .unwrap();
            let deb = other.join("hello-forge_1.0-1_amd64.deb");
            Cmd::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(&root)
                .arg(&deb)
                .output(&shell)
                .unwrap();
            deb
        };
        let e = update(
            &RepoOptions::new(&repo),
            std::slice::from_ref(&changed),
            &shell,
        )
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains(&changed.display().to_string()), "{msg}");
        assert!(
            msg.contains("pool/main/h/hello-forge/hello-forge_1.0-1_amd64.deb"),
            "{msg}"
        );
        assert_eq!(
            std::fs::read(repo.join("dists/stable/Release")).unwrap(),
            before
        );
    }

    #[test]
    fn reproducible_with_source_date_epoch() {
        let shell = Shell::plain();
        if !have("dpkg-deb") {
            eprintln!("skipping: dpkg-deb is not installed");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let deb = build_deb(tmp.path(), "repro", "1.0", "amd64", "xz");
        assert_eq!(
            release_date_from(Some("1700000000")).unwrap(),
            "Tue, 14 Nov 2023 22:13:20 UTC"
        );
        assert_eq!(
            forge_core::exit::code_of(&release_date_from(Some("soon")).unwrap_err()),
            2
        );
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        update(&RepoOptions::new(&a), std::slice::from_ref(&deb), &shell).unwrap();
        update(&RepoOptions::new(&b), &[deb], &shell).unwrap();
        for f in [
            "main/binary-amd64/Packages",
            "main/binary-amd64/Packages.gz",
            "main/binary-amd64/Packages.xz",
        ] {
            assert_eq!(
                std::fs::read(a.join("dists/stable").join(f)).unwrap(),
                std::fs::read(b.join("dists/stable").join(f)).unwrap(),
                "{f}"
            );
        }
    }

    /// apt isolated from the host configuration: its own sources, lists, cache and status.
    struct IsolatedApt {
        root: tempfile::TempDir,
    }

    impl IsolatedApt {
        fn new(sources: &str) -> IsolatedApt {
            let root = tempfile::tempdir().unwrap();
            let r = root.path();
            for d in [
                "etc/sources.list.d",
                "etc/preferences.d",
                "state/lists/partial",
                "cache/archives/partial",
            ] {
                std::fs::create_dir_all(r.join(d)).unwrap();
            }
            std::fs::write(r.join("etc/sources.list"), sources).unwrap();
            std::fs::write(r.join("status"), "").unwrap();
            IsolatedApt { root }
        }

        fn cmd(&self, tool: &str) -> Cmd {
            let r = self.root.path();
            let o = |k: &str, v: &Path| format!("{k}={}", v.display());
            Cmd::new(tool)
                .args([
                    "-o",
                    &o("Dir::Etc::SourceList", &r.join("etc/sources.list")),
                ])
                .args([
                    "-o",
                    &o("Dir::Etc::SourceParts", &r.join("etc/sources.list.d")),
                ])
                .args([
                    "-o",
                    &o("Dir::Etc::PreferencesParts", &r.join("etc/preferences.d")),
                ])
                .args(["-o", &o("Dir::State", &r.join("state"))])
                .args(["-o", &o("Dir::State::status", &r.join("status"))])
                .args(["-o", &o("Dir::Cache", &r.join("cache"))])
                .args(["-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"])
                .args(["-o", "Acquire::Languages=none"])
                .env("LC_ALL", "C")
        }
    }

    /// The full loop: a signed repository, served from disk, accepted by a real `apt-get update`
    /// with `signed-by`, then installable (`--download-only`); an updated repository is accepted
    /// again; a tampered index is refused.
    #[test]
    fn signed_repo_is_accepted_by_apt() {
        let shell = Shell::plain();
        for tool in ["dpkg-deb", "gpg", "apt-get"] {
            if !have(tool) {
                eprintln!("skipping: {tool} is not installed");
                return;
            }
        }
        let (home, fpr) = crate::sign::test_support::throwaway_key(&shell);
        let gpg = Gpg::new(Some(home.path()));
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let repo = tmp.path().join("repo");
        let host_arch = Cmd::new("dpkg")
            .arg("--print-architecture")
            .read(&shell)
            .unwrap();
        let one = build_deb(&work, "forge-apt-one", "1.0", &host_arch, "xz");
        let two = build_deb(&work, "forge-apt-two", "2.0", "all", "gzip");
        let opts = RepoOptions {
            origin: Some("Forge".into()),
            sign_key: Some(fpr.clone()),
            gpg_homedir: Some(home.path().to_path_buf()),
            ..RepoOptions::new(&repo)
        };
        let report = update(&opts, &[one, two], &shell).unwrap();
        assert!(report.signed);
        let inrelease = std::fs::read_to_string(repo.join("dists/stable/InRelease")).unwrap();
        assert!(inrelease.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
        gpg.verify_detached(
            &repo.join("dists/stable/Release.gpg"),
            &repo.join("dists/stable/Release"),
            &shell,
        )
        .unwrap();

        let key = tmp.path().join("forge-test.gpg");
        std::fs::write(&key, gpg.export_public(&fpr, &shell).unwrap()).unwrap();
        let apt = IsolatedApt::new(&format!(
            "deb [signed-by={}] file:{} stable main\n",
            key.display(),
            repo.display()
        ));
        let check_update = |apt: &IsolatedApt| {
            let out = apt.cmd("apt-get").arg("update").output(&shell).unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !all.contains("W:") && !all.contains("E:") && !all.contains("Err:"),
                "{all}"
            );
        };
        check_update(&apt);
        let policy = apt
            .cmd("apt-cache")
            .args(["policy", "forge-apt-one", "forge-apt-two"])
            .read(&shell)
            .unwrap();
        assert!(
            policy.contains("Candidate: 1.0") && policy.contains("Candidate: 2.0"),
            "{policy}"
        );
        apt.cmd("apt-get")
            .args([
                "install",
                "-y",
                "--download-only",
                "forge-apt-one",
                "forge-apt-two",
            ])
            .output(&shell)
            .unwrap();

        // An update with a new version is accepted too (by-hash files, new Release).
        let one_b = build_deb(&work, "forge-apt-one", "1.1", &host_arch, "xz");
        update(&opts, &[one_b], &shell).unwrap();
        check_update(&apt);
        let policy = apt
            .cmd("apt-cache")
            .args(["policy", "forge-apt-one"])
            .read(&shell)
            .unwrap();
        assert!(policy.contains("Candidate: 1.1"), "{policy}");

        // Without the key, the signed repository is not silently turned unsigned.
        let e = update(&RepoOptions::new(&repo), &[], &shell).unwrap_err();
        assert!(format!("{e:#}").contains("is a signed repository"), "{e:#}");

        // A different key in signed-by: apt refuses.
        let (home2, fpr2) = crate::sign::test_support::throwaway_key(&shell);
        let key2 = tmp.path().join("other.gpg");
        std::fs::write(
            &key2,
            Gpg::new(Some(home2.path()))
                .export_public(&fpr2, &shell)
                .unwrap(),
        )
        .unwrap();
        let apt2 = IsolatedApt::new(&format!(
            "deb [signed-by={}] file:{} stable main\n",
            key2.display(),
            repo.display()
        ));
        let out = apt2
            .cmd("apt-get")
            .arg("update")
            .output_unchecked(&shell)
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("NO_PUBKEY") || all.contains("not signed"),
            "{all}"
        );
        crate::sign::test_support::stop_agent(home.path(), &shell);
        crate::sign::test_support::stop_agent(home2.path(), &shell);
    }

    #[test]
    fn missing_sign_key_fails_before_writing() {
        let shell = Shell::plain();
        if !have("dpkg-deb") || !have("gpg") {
            eprintln!("skipping: dpkg-deb or gpg is not installed");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let deb = build_deb(tmp.path(), "nokey", "1.0", "amd64", "xz");
        let home = tempfile::Builder::new()
            .prefix("fgpg")
            .tempdir_in("/tmp")
            .unwrap();
        let opts = RepoOptions {
            sign_key: Some("MISSINGKEY".into()),
            gpg_homedir: Some(home.path().to_path_buf()),
            ..RepoOptions::new(tmp.path().join("repo"))
        };
        let e = update(&opts, &[deb], &shell).unwrap_err();
        assert!(
            format!("{e:#}").contains("no secret gpg key `MISSINGKEY`"),
            "{e:#}"
        );
        assert!(!tmp.path().join("repo").exists());
        crate::sign::test_support::stop_agent(home.path(), &shell);
    }
}
