//! Reproducible tar archives, and path-safety checks for archives we read.
//!
//! Every tar the suite writes (a .deb's `data.tar` and `control.tar`, image layers, release
//! archives) goes through [`write_tar`]: entries sorted by path, parent directories added, every
//! mtime set to one timestamp (`SOURCE_DATE_EPOCH`), owner root:root unless an entry says
//! otherwise, modes as given, only relative normalised paths. Same inputs, same bytes.
//!
//! The `tar` crate does the format (GNU headers, long names); what it does not do — normalising
//! and sorting, implied directories, rejecting `..` — is here.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// What an entry holds.
#[derive(Clone, Debug, Serialize)]
pub enum EntryData {
    /// A file read from disk when the archive is written.
    File(PathBuf),
    /// Bytes produced in memory.
    Bytes(#[serde(skip)] Vec<u8>),
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
                // `take` guards against a file that grows while we write it.
                append(builder, h, &name, file.take(len))
                    .with_context(|| format!("failed to add `{}` to an archive", src.display()))?;
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
    let git = std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output();
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
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("/usr/bin/x").unwrap(), "usr/bin/x");
        assert_eq!(normalize("./usr//share/./doc/").unwrap(), "usr/share/doc");
        assert!(normalize("usr/../../etc/passwd").is_err());
        assert!(normalize("/").is_err());
        assert!(check_member_path(Path::new("/etc/passwd")).is_err());
        assert!(check_member_path(Path::new("./a/../../b")).is_err());
        assert_eq!(check_member_path(Path::new("./a/b")).unwrap(), "a/b");
    }

    fn listing(bytes: &[u8]) -> Vec<(String, u32, u64, u64)> {
        let mut ar = tar::Archive::new(bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn sorted_with_parents_and_fixed_metadata() {
        let entries = vec![
            Entry::bytes("usr/share/doc/x/README", b"hi".to_vec(), 0o644).unwrap(),
            Entry::bytes("usr/bin/x", b"bin".to_vec(), 0o755).unwrap(),
            Entry::dir("var/lib/x", 0o750).unwrap(),
        ];
        let opts = TarOptions {
            mtime: 1_700_000_000,
            dot_prefix: true,
            root_entry: true,
            ..Default::default()
        };
        let a = write_tar(Vec::new(), entries.clone(), &opts).unwrap();
        let mut reversed = entries;
        reversed.reverse();
        let b = write_tar(Vec::new(), reversed, &opts).unwrap();
        assert_eq!(a, b, "order of input must not matter");
        let names: Vec<String> = listing(&a).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            [
                "./",
                "./usr/",
                "./usr/bin/",
                "./usr/bin/x",
                "./usr/share/",
                "./usr/share/doc/",
                "./usr/share/doc/x/",
                "./usr/share/doc/x/README",
                "./var/",
                "./var/lib/",
                "./var/lib/x/"
            ]
        );
        for (name, mode, mtime, uid) in listing(&a) {
            assert_eq!((mtime, uid), (1_700_000_000, 0), "{name}");
            if name == "./var/lib/x/" {
                assert_eq!(mode, 0o750);
            }
        }
    }

    #[test]
    fn duplicates_are_errors() {
        let e = vec![
            Entry::bytes("a", vec![], 0o644).unwrap(),
            Entry::bytes("/a", vec![1], 0o644).unwrap(),
        ];
        assert!(write_tar(Vec::new(), e, &TarOptions::default()).is_err());
    }

    #[test]
    fn long_names_survive() {
        let long = format!("usr/share/{}/file", "d".repeat(150));
        let a = write_tar(
            Vec::new(),
            vec![Entry::bytes(&long, vec![1], 0o644).unwrap()],
            &TarOptions::default(),
        )
        .unwrap();
        assert!(listing(&a).iter().any(|e| e.0 == long));
    }
}
