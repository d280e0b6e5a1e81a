//! Writing an `.rpm` file: lead, signature header, header, compressed cpio payload.
//!
//! Hand-written rather than through the `rpm` crate (rpm-rs, what cargo-generate-rpm uses):
//! that crate reads every file whole into memory (`with_file`) and builds the compressed payload
//! in memory, while our rule is that memory must not grow with the payload.
//!
//! The file, as rpm 4.18 reads it (rpm.org `docs/manual/format.md`):
//!
//! ```text
//! lead (96 bytes, legacy)          magic ed ab ee db, v3.0, binary, NAME-VERSION-RELEASE
//! signature header (8-aligned)     sha1/sha256 of the header, size and md5 of header+payload,
//!                                  uncompressed payload size, OpenPGP header signature
//! header                           every tag of the package (tags.rs), payload digests
//! payload                          cpio newc, compressed (zstd, xz, gzip or none)
//! ```
//!
//! The header holds facts known only once the payload is written (file sizes and sha256
//! digests, the payload's digests), and the signature header holds digests of the header, so
//! the work runs in that order: the payload is streamed into a temporary file next to `out`
//! (payload.rs: each file read once, in pieces), then the header is built and signed, then the
//! md5 of header + payload is taken (one read of the temporary file), and the package is
//! written as lead, signature header, header, then the payload copied, under a temporary name
//! renamed into place. Memory holds the header, never a file or the payload.
//!
//! A package with a file of 4 GiB or more is written in rpm's large-file layout, as rpmbuild
//! writes it (cpio.rs: stripped entries; `LONGFILESIZES`, `rpmlib(LargeFiles)`); the choice is
//! made from the sources' sizes before anything is read.
//!
//! Reproducible: files sorted by path (rpm's order), inode numbers from that order, uid/gid
//! names only, every mtime clamped to `build_time`, no clock, no randomness, compressors in a
//! mode whose output does not depend on the core count: the same package and `build_time`
//! give the same bytes.

use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use forge_core::digest::HashingWriter;
use forge_core::fsx::AtomicFile;

mod cpio;
mod header;
mod payload;
mod sign;
mod tags;
#[cfg(test)]
mod tests;

pub use sign::GpgSigner;

/// Everything that goes into one binary RPM.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    /// The rpm architecture: `x86_64`, `aarch64`, `armv7hl`, `i686`, `ppc64le`, `noarch`.
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub url: Option<String>,
    pub vendor: Option<String>,
    pub packager: Option<String>,
    pub group: Option<String>,
    /// `SOURCE_DATE_EPOCH` (or now): the only clock in the file; file mtimes are clamped to it.
    pub build_time: u64,
    pub build_host: String,
    pub files: Vec<RpmFile>,
    pub requires: Vec<Dependency>,
    pub provides: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    pub scripts: Scripts,
    /// Newest first.
    pub changelog: Vec<ChangelogEntry>,
    pub compression: Compression,
}

/// The scriptlets (`%pre`, `%post`, ...).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Scripts {
    pub pre: Option<Scriptlet>,
    pub post: Option<Scriptlet>,
    pub preun: Option<Scriptlet>,
    pub postun: Option<Scriptlet>,
    pub pretrans: Option<Scriptlet>,
    pub posttrans: Option<Scriptlet>,
}

/// One scriptlet: its body and the program that runs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Scriptlet {
    pub body: String,
    /// `/bin/sh` for shell scriptlets.
    pub interpreter: String,
}

impl Scriptlet {
    /// A `/bin/sh` scriptlet.
    pub fn sh(body: impl Into<String>) -> Scriptlet {
        Scriptlet {
            body: body.into(),
            interpreter: "/bin/sh".to_string(),
        }
    }
}

/// One `%changelog` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangelogEntry {
    pub time: u64,
    /// `Name <email> - version-release`.
    pub author: String,
    pub text: String,
}

/// One entry of the package's file list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RpmFile {
    /// The absolute install path, `/usr/bin/foo`.
    pub path: String,
    pub kind: FileKind,
    /// Permission bits (`0o7777`); the file type comes from `kind`.
    pub mode: u32,
    pub user: String,
    pub group: String,
    pub flags: FileFlags,
    /// Defaults to the source file's mtime (regular files) or `build_time`; always clamped to
    /// `build_time`.
    pub mtime: Option<u64>,
}

/// What a file entry is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FileKind {
    /// A regular file whose contents are read (streamed) from this path.
    Regular(PathBuf),
    /// A regular file with these contents (small generated files).
    Bytes(Vec<u8>),
    Dir,
    /// A symbolic link to this target.
    Symlink(String),
}

/// The `%config`, `%doc`... attributes of a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFlags {
    pub config: bool,
    /// `%config(noreplace)` (with `config`).
    pub noreplace: bool,
    pub doc: bool,
    pub license: bool,
    /// `%config(missingok)`.
    pub missingok: bool,
    /// `%ghost`: owned by the package, not in the payload.
    pub ghost: bool,
}

/// A relation: `name`, `name >= 1.2`; `pre` marks a requirement needed before installation
/// (`Requires(pre)`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub op: Option<(DepOp, String)>,
    pub pre: bool,
}

impl Dependency {
    /// A relation on any version of `name`.
    pub fn any(name: impl Into<String>) -> Dependency {
        Dependency {
            name: name.into(),
            op: None,
            pre: false,
        }
    }
}

/// The comparison of a versioned relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepOp {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
}

/// Payload compression and its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Zstd(u32),
    Xz(u32),
    Gzip(u32),
    None,
}

impl Default for Compression {
    fn default() -> Compression {
        Compression::Zstd(19)
    }
}

/// The written package.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Written {
    pub path: PathBuf,
    pub size: u64,
    /// Hex sha256 of the whole file.
    pub sha256: String,
}

/// Makes the OpenPGP signature of the header.
pub trait Signer {
    /// A binary (not armored) OpenPGP detached signature of the bytes of the file `data`.
    fn sign(&self, data: &Path) -> Result<Vec<u8>>;
}

/// Writes `pkg` to `out` (atomically: a temporary file renamed into place), signed by `signer`
/// when given.
pub fn write(pkg: &RpmPackage, out: &Path, signer: Option<&dyn Signer>) -> Result<Written> {
    write_with(pkg, out, signer, false)
}

/// [`write`], in the large-file layout when a file needs it or `force_large` (tests read that
/// layout back without 4 GiB files).
fn write_with(
    pkg: &RpmPackage,
    out: &Path,
    signer: Option<&dyn Signer>,
    force_large: bool,
) -> Result<Written> {
    let build_time = check_package(pkg)?;
    let (files, large) = sorted_files(pkg)?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    forge_core::fsx::create_dir_all(dir)?;

    // 1. The payload, into a temporary file next to `out` (removed when dropped).
    let payload_file = tempfile::Builder::new()
        .prefix(".rpm-payload.")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    let entries: Vec<payload::Entry<'_>> = files
        .iter()
        .enumerate()
        .map(|(i, (path, file))| payload::Entry {
            path,
            file,
            ino: i as u32 + 1,
        })
        .collect();
    let writer = payload_file
        .as_file()
        .try_clone()
        .with_context(|| format!("failed to open `{}`", payload_file.path().display()))?;
    let large = large || force_large;
    let payload = payload::write(&entries, build_time, pkg.compression, large, writer)?;

    // 2. The header, its digests, its signature.
    let by_path: Vec<(&str, &RpmFile)> = files.iter().map(|(p, f)| (p.as_str(), *f)).collect();
    let header =
        tags::header(pkg, &by_path, &payload, build_time)?.to_bytes(header::HEADER_IMMUTABLE)?;
    let signature = match signer {
        Some(s) => Some(sign::sign_header(s, &header, dir)?),
        None => None,
    };

    // 3. md5 of header + payload (one read of the payload), then the signature header.
    let mut md5 = Md5::new();
    md5.update(&header);
    // 64 KiB reads (`io::copy` then copies from the reader's buffer).
    let mut payload_reader = BufReader::with_capacity(
        1 << 16,
        payload_file
            .reopen()
            .with_context(|| format!("failed to read `{}`", payload_file.path().display()))?,
    );
    std::io::copy(&mut payload_reader, &mut md5)
        .with_context(|| format!("failed to read `{}`", payload_file.path().display()))?;
    let digests = sign::Digests {
        header_sha1: hex::encode(Sha1::digest(&header)),
        header_sha256: hex::encode(Sha256::digest(&header)),
        size: header.len() as u64 + payload.compressed_size,
        md5: md5.finalize().into(),
        archive_size: payload.archive_size,
    };
    let sig_header = sign::signature_header(&digests, signature.as_ref())?;

    // 4. The package: lead, signature header, header, payload.
    let mut file = HashingWriter::new(AtomicFile::create(out)?);
    let written = (|| -> std::io::Result<()> {
        file.write_all(&lead(pkg))?;
        file.write_all(&sig_header)?;
        file.write_all(&header)?;
        Ok(())
    })();
    written.with_context(|| format!("failed to write `{}`", out.display()))?;
    payload_reader
        .seek(SeekFrom::Start(0))
        .with_context(|| format!("failed to read `{}`", payload_file.path().display()))?;
    std::io::copy(&mut payload_reader, &mut file)
        .with_context(|| format!("failed to write `{}`", out.display()))?;
    let (file, sha256, size) = file.finish();
    file.commit()?;
    Ok(Written {
        path: out.to_path_buf(),
        size,
        sha256,
    })
}

/// The lead's architecture number (rpmrc's `arch_canon`); rpm no longer reads it.
fn lead_arch(arch: &str) -> u16 {
    match arch {
        "x86_64" | "i386" | "i486" | "i586" | "i686" => 1,
        "armv7hl" | "armv7l" | "armv6hl" => 12,
        "ppc64le" | "ppc64" => 16,
        "aarch64" => 19,
        _ => 0,
    }
}

/// The 96-byte lead: magic, format 3.0, binary package, arch, `NAME-VERSION-RELEASE` (cut to
/// 65 bytes), OS linux, signature type 5 (a header-style signature follows).
fn lead(pkg: &RpmPackage) -> [u8; 96] {
    let mut lead = [0u8; 96];
    lead[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
    lead[4] = 3;
    lead[8..10].copy_from_slice(&lead_arch(&pkg.arch).to_be_bytes());
    let nvr = format!("{}-{}-{}", pkg.name, pkg.version, pkg.release);
    let n = nvr.len().min(65);
    lead[10..10 + n].copy_from_slice(&nvr.as_bytes()[..n]);
    lead[76..78].copy_from_slice(&1u16.to_be_bytes());
    lead[78..80].copy_from_slice(&5u16.to_be_bytes());
    lead
}

/// Checks what rpm would refuse or misread; returns `build_time` as the header stores it.
fn check_package(pkg: &RpmPackage) -> Result<u32> {
    let bad = |s: &str, extra: &[char]| {
        s.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || extra.contains(&c))
    };
    if bad(&pkg.name, &['/']) {
        bail!(
            "invalid rpm package name `{}`: it must be non-empty, without spaces or `/`",
            pkg.name
        );
    }
    for (what, v) in [("version", &pkg.version), ("release", &pkg.release)] {
        if bad(v, &['-', '/']) {
            bail!("invalid rpm {what} `{v}`: it must be non-empty, without spaces, `-` or `/`");
        }
    }
    if bad(&pkg.arch, &['/']) {
        bail!("invalid rpm architecture `{}`", pkg.arch);
    }
    if pkg.summary.trim().is_empty() {
        bail!("the rpm package `{}` has no summary", pkg.name);
    }
    if pkg.license.trim().is_empty() {
        bail!("the rpm package `{}` has no license", pkg.name);
    }
    u32::try_from(pkg.build_time).map_err(|_| {
        anyhow::anyhow!(
            "build time {} is past 2106, the last second an rpm header can hold",
            pkg.build_time
        )
    })
}

/// The files by absolute, normalised path, sorted as rpm sorts them (byte order), and whether
/// one needs the large-file layout (4 GiB or more); a path given twice is an error, and so is
/// a missing source (found before anything is compressed).
fn sorted_files(pkg: &RpmPackage) -> Result<(Vec<(String, &RpmFile)>, bool)> {
    let mut files = Vec::with_capacity(pkg.files.len());
    let mut large = false;
    for f in &pkg.files {
        if !f.path.starts_with('/') {
            bail!("rpm file path `{}` is not absolute", f.path);
        }
        let path = format!("/{}", forge_core::archive::normalize(&f.path)?);
        if f.user.is_empty() || f.group.is_empty() {
            bail!("rpm file `{path}` has no owner: set its user and group (`root`)");
        }
        let size = match (&f.kind, f.flags.ghost) {
            (_, true) => 0,
            (FileKind::Regular(src), false) => std::fs::metadata(src)
                .with_context(|| {
                    format!("failed to read `{}`, the source of `{path}`", src.display())
                })?
                .len(),
            (FileKind::Bytes(b), false) => b.len() as u64,
            (FileKind::Dir | FileKind::Symlink(_), false) => 0,
        };
        large |= size > cpio::MAX_FILE_SIZE;
        files.push((path, f));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = files.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("the file `{}` is listed twice in the rpm package", w[0].0);
    }
    Ok((files, large))
}
