//! Reproducible archives — tar, and the zip and ar writers — and path-safety checks for archives
//! we read.
//!
//! Every tar the suite writes (a .deb's `data.tar` and `control.tar`, image layers, release
//! archives) goes through [`write_tar`]: entries sorted by path, parent directories added, every
//! mtime set to one timestamp (`SOURCE_DATE_EPOCH`), owner root:root unless an entry says
//! otherwise, modes as given, only relative normalised paths. Same inputs, same bytes.
//!
//! Release archives for Windows users are zips ([`write_zip`]) and packages are ar archives
//! ([`ArWriter`], [`ar_header_bytes`]), written here too, so that one module holds every rule of
//! reproducible output (one time, root-owned, sorted).
//!
//! The `tar` crate does the format (GNU headers, long names); what it does not do — normalising
//! and sorting, implied directories, rejecting `..` — is here.
//!
//! Contents stream: a file entry is read from disk while the archive is written, a
//! [`EntryData::Stream`] from a reader opened at that moment (a gzipped layer inflated into a
//! docker archive), so the memory an archive takes does not depend on what it holds. Every
//! streamed entry must deliver exactly the length its header announced (a file that shrank or
//! grew meanwhile is an error, not a corrupt archive). Archives we *read* from others go through
//! [`BoundedReader`], which stops at a size limit (a gzip bomb inflates to no more than that).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// Opens the content of a [`EntryData::Stream`] entry when the archive is written.
#[derive(Clone)]
pub struct Source(Arc<dyn Fn() -> Result<Box<dyn Read>> + Send + Sync>);

impl Source {
    pub fn new(open: impl Fn() -> Result<Box<dyn Read>> + Send + Sync + 'static) -> Source {
        Source(Arc::new(open))
    }

    pub fn open(&self) -> Result<Box<dyn Read>> {
        (self.0)()
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Source(..)")
    }
}

/// What an entry holds.
#[derive(Clone, Debug, Serialize)]
pub enum EntryData {
    /// A file read from disk when the archive is written.
    File(PathBuf),
    /// Bytes produced in memory (small things: control files, configs).
    Bytes(#[serde(skip)] Vec<u8>),
    /// `len` bytes read from a source opened when the archive is written.
    Stream {
        len: u64,
        #[serde(skip)]
        source: Source,
    },
    Dir,
    Symlink(PathBuf),
}

/// One archive entry.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Relative, normalised, `/`-separated, no trailing slash (see [`normalize`]).
    pub path: String,
    pub mode: u32,
    pub data: EntryData,
    pub uid: u64,
    pub gid: u64,
    pub user: String,
    pub group: String,
}

impl Entry {
    pub fn file(path: &str, source: PathBuf, mode: u32) -> Result<Entry> {
        Ok(Entry::new(normalize(path)?, mode, EntryData::File(source)))
    }

    pub fn bytes(path: &str, bytes: Vec<u8>, mode: u32) -> Result<Entry> {
        Ok(Entry::new(normalize(path)?, mode, EntryData::Bytes(bytes)))
    }

    pub fn dir(path: &str, mode: u32) -> Result<Entry> {
        Ok(Entry::new(normalize(path)?, mode, EntryData::Dir))
    }

    /// A regular file of `len` bytes read from `source` when the archive is written.
    pub fn stream(path: &str, len: u64, source: Source, mode: u32) -> Result<Entry> {
        Ok(Entry::new(
            normalize(path)?,
            mode,
            EntryData::Stream { len, source },
        ))
    }

    pub fn symlink(path: &str, target: PathBuf) -> Result<Entry> {
        Ok(Entry::new(
            normalize(path)?,
            0o777,
            EntryData::Symlink(target),
        ))
    }

    fn new(path: String, mode: u32, data: EntryData) -> Entry {
        Entry {
            path,
            mode,
            data,
            uid: 0,
            gid: 0,
            user: "root".into(),
            group: "root".into(),
        }
    }

    /// Size in bytes of the entry's content (0 for directories and links).
    pub fn size(&self) -> Result<u64> {
        Ok(match &self.data {
            EntryData::File(p) => std::fs::metadata(p)
                .with_context(|| format!("failed to read metadata of `{}`", p.display()))?
                .len(),
            EntryData::Bytes(b) => b.len() as u64,
            EntryData::Stream { len, .. } => *len,
            EntryData::Dir | EntryData::Symlink(_) => 0,
        })
    }
}

/// Normalises an archive path: strips a leading `/` or `./`, removes `.` components and empty
/// segments, rejects `..` and the empty path.
pub fn normalize(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for comp in Path::new(path).components() {
        match comp {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => {
                let s = p
                    .to_str()
                    .with_context(|| format!("archive path `{path}` is not UTF-8"))?;
                parts.push(s);
            }
            Component::ParentDir => bail!("archive path `{path}` escapes its root with `..`"),
            Component::Prefix(_) => bail!("archive path `{path}` has a drive prefix"),
        }
    }
    if parts.is_empty() {
        bail!("archive path `{path}` names no file");
    }
    Ok(parts.join("/"))
}

/// Checks a path read from an archive (a base image layer, a .deb): relative after stripping
/// `./`, and no `..` component. Returns the normalised path.
pub fn check_member_path(path: &Path) -> Result<String> {
    let s = path.to_string_lossy();
    if s.starts_with('/') {
        bail!("archive member `{s}` has an absolute path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        bail!("archive member `{s}` escapes the archive root with `..`");
    }
    normalize(&s)
}

/// Options of [`write_tar`].
#[derive(Clone, Debug)]
pub struct TarOptions {
    /// The mtime of every entry (seconds since the epoch).
    pub mtime: u64,
    /// Prefix paths with `./` (dpkg's convention for `data.tar` and `control.tar`).
    pub dot_prefix: bool,
    /// Emit a `./` entry for the root (dpkg-deb does).
    pub root_entry: bool,
    /// Mode of directories that are implied by a file's path and not listed.
    pub implied_dir_mode: u32,
}

impl Default for TarOptions {
    fn default() -> Self {
        TarOptions {
            mtime: 0,
            dot_prefix: false,
            root_entry: false,
            implied_dir_mode: 0o755,
        }
    }
}

/// Writes a reproducible tar of `entries` into `out` and returns it. Duplicated paths are an
/// error; missing parent directories are added.
pub fn write_tar<W: Write>(out: W, entries: Vec<Entry>, opts: &TarOptions) -> Result<W> {
    let mut by_path: BTreeMap<String, Entry> = BTreeMap::new();
    for e in entries {
        if let Some(prev) = by_path.get(&e.path) {
            let both_dirs = matches!(prev.data, EntryData::Dir) && matches!(e.data, EntryData::Dir);
            if !both_dirs {
                bail!("two entries for `{}` in one archive", e.path);
            }
        }
        by_path.insert(e.path.clone(), e);
    }
    // Implied parent directories.
    let paths: Vec<String> = by_path.keys().cloned().collect();
    for p in paths {
        let mut parent = Path::new(&p).parent();
        while let Some(dir) = parent {
            let d = dir.to_string_lossy().into_owned();
            if d.is_empty() {
                break;
            }
            by_path
                .entry(d.clone())
                .or_insert_with(|| Entry::new(d, opts.implied_dir_mode, EntryData::Dir));
            parent = dir.parent();
        }
    }
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    if opts.root_entry {
        let mut h = header(opts, 0o755, 0, 0, "root", "root");
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        append(&mut builder, h, "./", std::io::empty())?;
    }
    // Sort so that a directory comes right before its contents: by path components.
    let mut sorted: Vec<Entry> = by_path.into_values().collect();
    sorted.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    append_entries(&mut builder, sorted, opts)?;
    builder.into_inner().context("failed to finish an archive")
}

/// Writes a tar of `entries` in the order given, for formats that prescribe one (an OVA's
/// descriptor comes first). Same reproducibility rules as [`write_tar`], but no directories are
/// implied: entries are expected to be flat or to list their directories.
pub fn write_tar_ordered<W: Write>(out: W, entries: Vec<Entry>, opts: &TarOptions) -> Result<W> {
    let mut seen = std::collections::BTreeSet::new();
    for e in &entries {
        if !seen.insert(e.path.clone()) {
            bail!("two entries for `{}` in one archive", e.path);
        }
    }
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    append_entries(&mut builder, entries, opts)?;
    builder.into_inner().context("failed to finish an archive")
}

fn append_entries<W: Write>(
    builder: &mut tar::Builder<W>,
    entries: Vec<Entry>,
    opts: &TarOptions,
) -> Result<()> {
    for e in entries {
        let name = if opts.dot_prefix {
            format!("./{}", e.path)
        } else {
            e.path.clone()
        };
        let mut h = header(opts, e.mode, e.uid, e.gid, &e.user, &e.group);
        match &e.data {
            EntryData::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                append(builder, h, &format!("{name}/"), std::io::empty())?;
            }
            EntryData::Bytes(b) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(b.len() as u64);
                append(builder, h, &name, b.as_slice())?;
            }
            EntryData::File(src) => {
                let file = std::fs::File::open(src)
                    .with_context(|| format!("failed to open `{}`", src.display()))?;
                let len = file
                    .metadata()
                    .with_context(|| format!("failed to read metadata of `{}`", src.display()))?
                    .len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(len);
                let what = format!("`{}`", src.display());
                append(builder, h, &name, Exact::new(file, len, what))
                    .with_context(|| format!("failed to add `{}` to an archive", src.display()))?;
            }
            EntryData::Stream { len, source } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*len);
                let reader = source.open()?;
                append(
                    builder,
                    h,
                    &name,
                    Exact::new(reader, *len, format!("`{name}`")),
                )?;
            }
            EntryData::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_link_name(target).with_context(|| {
                    format!(
                        "symlink target of `{name}` is too long for an archive (at most 100 bytes)"
                    )
                })?;
                append(builder, h, &name, std::io::empty())?;
            }
        }
    }
    Ok(())
}

/// A reader that delivers exactly `len` bytes of `inner`: fewer is an error (the header already
/// announced `len`, and the tar crate would pad silently), more is cut off (a file that grew).
struct Exact<R> {
    inner: R,
    left: u64,
    what: String,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, len: u64, what: String) -> Exact<R> {
        Exact {
            inner,
            left: len,
            what,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{} ended {} bytes early (did it change while being archived?)",
                    self.what, self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A limit of [`BoundedReader`] was exceeded. Carried inside the `io::Error` the reader returns
/// (find it with [`LimitExceeded::find`]), so a caller can name its own limit and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    pub limit: u64,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes", self.limit)
    }
}

impl std::error::Error for LimitExceeded {}

impl LimitExceeded {
    /// The `LimitExceeded` in an error's chain (also inside an `io::Error`), if any.
    pub fn find(err: &anyhow::Error) -> Option<LimitExceeded> {
        err.chain().find_map(|c| {
            c.downcast_ref::<LimitExceeded>().copied().or_else(|| {
                c.downcast_ref::<std::io::Error>()
                    .and_then(|e| e.get_ref())
                    .and_then(|e| e.downcast_ref::<LimitExceeded>())
                    .copied()
            })
        })
    }
}

/// A reader that fails, with [`LimitExceeded`], once more than `limit` bytes have come through:
/// what reads an untrusted (decompressed) stream reads at most that much.
pub struct BoundedReader<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> BoundedReader<R> {
    pub fn new(inner: R, limit: u64) -> BoundedReader<R> {
        BoundedReader {
            inner,
            left: limit,
            limit,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // One byte more than allowed tells "exactly the limit" from "over it".
        let max = buf
            .len()
            .min((self.left + 1).min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n as u64 > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                LimitExceeded { limit: self.limit },
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Appends one entry with `name` written verbatim. The `tar` crate's path setters normalise a
/// leading `./` away, but dpkg archives spell members `./usr/...` (as dpkg-deb and cargo-deb do),
/// so the name field is filled here, with a GNU `././@LongLink` record for names of 100 bytes
/// or more.
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    mut h: tar::Header,
    name: &str,
    data: impl Read,
) -> Result<()> {
    let bytes = name.as_bytes();
    if bytes.len() >= 100 {
        let mut long = tar::Header::new_gnu();
        long.as_gnu_mut().expect("gnu header").name[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        long.set_entry_type(tar::EntryType::GNULongName);
        let mut payload = bytes.to_vec();
        payload.push(0);
        long.set_size(payload.len() as u64);
        long.set_cksum();
        builder
            .append(&long, payload.as_slice())
            .with_context(|| format!("failed to write `{name}` to an archive"))?;
    }
    let field = &mut h.as_gnu_mut().expect("gnu header").name;
    let n = bytes.len().min(100);
    field[..n].copy_from_slice(&bytes[..n]);
    field[n..].iter_mut().for_each(|b| *b = 0);
    h.set_cksum();
    builder
        .append(&h, data)
        .with_context(|| format!("failed to write `{name}` to an archive"))
}

fn header(
    opts: &TarOptions,
    mode: u32,
    uid: u64,
    gid: u64,
    user: &str,
    group: &str,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mtime(opts.mtime);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    // Names longer than the field are a config error caught earlier; ignore failure here.
    let _ = h.set_username(user);
    let _ = h.set_groupname(group);
    h
}

/// One file of a zip archive: (path inside the archive, the file it is read from, Unix mode).
pub type ZipFile = (String, PathBuf, u32);

/// Writes a reproducible zip of `files` to `out` (release archives for Windows users): entries
/// sorted by path, each with the time `mtime` (zip's DOS time, clamped to 1980..2107), the given
/// Unix mode, deflated. Streams: each file is read while it is written, by the zip crate's
/// streaming writer (sizes and CRCs in data descriptors after each entry, nothing seeked back
/// to), and must keep the length it had when its entry began. `dest` names the archive in
/// errors. Returns `out`.
pub fn write_zip<W: Write>(out: W, files: &[ZipFile], mtime: u64, dest: &Path) -> Result<W> {
    let buffered = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut zip = zip::ZipWriter::new_stream(buffered);
    let t = time::OffsetDateTime::from_unix_timestamp(mtime as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let dt = zip::DateTime::from_date_and_time(
        t.year().clamp(1980, 2107) as u16,
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .unwrap_or_default();
    let mut sorted: Vec<&ZipFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, src, mode) in sorted {
        let mut file = std::fs::File::open(src)
            .with_context(|| format!("failed to open `{}`", src.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("failed to read metadata of `{}`", src.display()))?
            .len();
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(dt)
            .unix_permissions(*mode)
            // Zip64 only where the 4 GiB fields cannot hold the entry.
            .large_file(len >= u32::MAX as u64);
        zip.start_file(name.as_str(), opts)
            .context("failed to write a zip entry")?;
        let copied = std::io::copy(&mut (&mut file).take(len), &mut zip).with_context(|| {
            format!("failed to add `{}` to `{}`", src.display(), dest.display())
        })?;
        if copied != len {
            bail!(
                "`{}` changed while it was being archived (read {copied} of {len} bytes)",
                src.display()
            );
        }
    }
    zip.finish()
        .context("failed to finish a zip archive")?
        .into_inner()
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("failed to write `{}`", dest.display()))
}

/// The ar writer of `.deb` packages (`debian-binary`, `control.tar.*`, `data.tar.*`, a signature
/// member): new members get reproducible headers — owner 0:0, mode `0100644`, the one `mtime`.
/// The `ar` crate does the format; what is ours is that every header is made here.
pub struct ArWriter<W: Write> {
    builder: ar::Builder<W>,
}

impl<W: Write> ArWriter<W> {
    pub fn new(out: W) -> ArWriter<W> {
        ArWriter {
            builder: ar::Builder::new(out),
        }
    }

    /// Appends a member of `size` bytes read from `data`, with a reproducible header.
    pub fn append(&mut self, name: &str, mtime: u64, size: u64, data: impl Read) -> Result<()> {
        let mut h = ar::Header::new(name.as_bytes().to_vec(), size);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o100644);
        self.builder
            .append(&h, data)
            .with_context(|| format!("failed to write member `{name}`"))
    }

    /// Appends a member copied from another archive, its header kept as it was.
    pub fn append_copy(&mut self, header: &ar::Header, data: impl Read) -> Result<()> {
        let name = String::from_utf8_lossy(header.identifier()).into_owned();
        self.builder
            .append(header, data)
            .with_context(|| format!("failed to copy member `{name}`"))
    }

    pub fn into_inner(self) -> Result<W> {
        self.builder
            .into_inner()
            .context("failed to finish the archive")
    }
}

/// The header bytes of an ar member, for a member written by hand after it (a `.deb`'s
/// `data.tar.*`, streamed with its size patched into this header afterwards), with the same
/// reproducible fields as [`ArWriter::append`].
pub fn ar_header_bytes(name: &str, mtime: u64, size: u64) -> Vec<u8> {
    let mut h = format!("{name:<16}").into_bytes();
    h.extend(format!("{mtime:<12}{:<6}{:<6}{:<8o}{size:<10}`\n", 0, 0, 0o100644).into_bytes());
    h
}

/// What to do about a bad `SOURCE_DATE_EPOCH`.
pub const SOURCE_DATE_EPOCH_HINT: &str =
    "set it to a Unix time such as `$(git log -1 --format=%ct)`, or unset it to use the last commit's time";

/// The `SOURCE_DATE_EPOCH` for a run: the environment variable, else the time of the last git
/// commit of `dir`, else the modification time of `fallback` rounded down to the day (cargo-deb's
/// default).
pub fn source_date_epoch(dir: &Path, fallback: &Path) -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v.trim().parse::<u64>().map_err(|_| {
            crate::exit::with_hint(
                crate::exit::usage(format!(
                    "invalid SOURCE_DATE_EPOCH `{v}`: expected seconds since 1970-01-01"
                )),
                SOURCE_DATE_EPOCH_HINT.into(),
            )
        });
    }
    // A plain shell: `output_unchecked` prints nothing at normal verbosity, and this function
    // runs without one (stderr is captured, not shown, as before; git missing is not an error).
    let git = crate::process::Cmd::new("git")
        .args(["log", "-1", "--format=%ct"])
        .cwd(dir)
        .output_unchecked(&crate::shell::Shell::plain());
    if let Ok(out) = git {
        if out.status.success() {
            if let Ok(t) = String::from_utf8_lossy(&out.stdout).trim().parse::<u64>() {
                return Ok(t);
            }
        }
    }
    let mtime = std::fs::metadata(fallback)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(mtime - mtime % 86400)
}

#[cfg(test)]
mod tests;
