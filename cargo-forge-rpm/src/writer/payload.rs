//! The payload: the package's files as a cpio archive, compressed as it is written into a
//! temporary file, in one pass over each file.
//!
//! files → cpio entries → `HashingWriter` (sha256 and size of the archive: `PAYLOADDIGESTALT`, the
//! signature's `PAYLOADSIZE`) → compressor → `HashingWriter` (sha256 of the compressed stream:
//! `PAYLOADDIGEST`) → the temporary file. Each file is read once, in 64 KiB pieces that also
//! feed its own sha256 (`FILEDIGESTS`); nothing is held whole in memory.
//! The compressor is forge-deb's (`xz` multithreaded with a fixed block size, `zstd`
//! multithreaded, `gzip`), always in its multithreaded mode so that the bytes do not depend on
//! the number of cores.

use std::fs::File;
use std::io::{BufWriter, Read, Write};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use cargo_forge_deb::writer::{Compression as DebCompression, CompressionSettings, Compressor};
use forge_core::digest::HashingWriter;

use super::cpio::{self, EntryHeader, MAX_FILE_SIZE};
use super::{Compression, FileKind, RpmFile};

/// What the header says about one file, learnt while writing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFacts {
    pub size: u64,
    /// Hex sha256 of a regular file's contents; empty for the rest.
    pub digest: String,
    pub mtime: u32,
    /// `st_mode`: file type and permissions.
    pub mode: u16,
    pub linkto: String,
}

/// The written payload.
#[derive(Clone, Debug)]
pub struct Payload {
    /// One per file, in the order given.
    pub files: Vec<FileFacts>,
    /// The size of the uncompressed cpio archive.
    pub archive_size: u64,
    pub archive_sha256: String,
    pub compressed_size: u64,
    pub compressed_sha256: String,
    /// Written with stripped entries, sizes for `LONGFILESIZES`.
    pub large: bool,
}

/// The compressor settings of a [`Compression`]: levels clamped to each format's range, at
/// least two threads (the multithreaded encoders' output does not depend on the thread count,
/// the single-threaded ones' differs from it).
fn settings(c: Compression) -> CompressionSettings {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2)
        .max(2);
    let (format, level) = match c {
        Compression::Zstd(l) => (DebCompression::Zstd, l.clamp(1, 19)),
        Compression::Xz(l) => (DebCompression::Xz, l.min(9)),
        Compression::Gzip(l) => (DebCompression::Gzip, l.clamp(1, 9)),
        Compression::None => (DebCompression::None, 0),
    };
    CompressionSettings {
        format,
        level,
        threads,
    }
}

/// The level rpm records in `PAYLOADFLAGS` (what `Compression` was clamped to).
pub fn level(c: Compression) -> u32 {
    settings(c).level
}

/// One payload entry: the file, its absolute path, its inode number in the header.
pub struct Entry<'a> {
    pub path: &'a str,
    pub file: &'a RpmFile,
    pub ino: u32,
}

/// Writes the compressed payload of `entries` (sorted by path) to `out`, with stripped entries
/// when `large`. Mtimes are the entry's, or the source file's, or `build_time`, never later
/// than `build_time`.
pub fn write(
    entries: &[Entry<'_>],
    build_time: u32,
    c: Compression,
    large: bool,
    out: File,
) -> Result<Payload> {
    let compressed = HashingWriter::new(BufWriter::with_capacity(1 << 16, out));
    let mut archive = HashingWriter::new(Compressor::new(compressed, &settings(c))?);
    let mut buf = vec![0u8; 1 << 16];
    let mut files = Vec::with_capacity(entries.len());
    for e in entries {
        let facts = write_entry(&mut archive, e, build_time, large, &mut buf)
            .with_context(|| format!("failed to add `{}` to the rpm payload", e.path))?;
        files.push(facts);
    }
    cpio::write_trailer(&mut archive).context("failed to write the rpm payload")?;
    let (compressor, archive_sha256, archive_size) = archive.finish();
    let (buffered, compressed_sha256, compressed_size) = compressor.finish()?.finish();
    buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .context("failed to write the rpm payload")?;
    Ok(Payload {
        files,
        archive_size,
        archive_sha256,
        compressed_size,
        compressed_sha256,
        large,
    })
}

fn clamp(t: u64, build_time: u32) -> u32 {
    t.min(u64::from(build_time)) as u32
}

fn write_entry(
    out: &mut impl Write,
    e: &Entry<'_>,
    build_time: u32,
    large: bool,
    buf: &mut [u8],
) -> Result<FileFacts> {
    let f = e.file;
    let perm = f.mode & 0o7777;
    let name = format!(".{}", e.path);
    let default_mtime = f.mtime.unwrap_or(u64::from(build_time));
    let mut facts = FileFacts {
        size: 0,
        digest: String::new(),
        mtime: clamp(default_mtime, build_time),
        mode: 0,
        linkto: String::new(),
    };
    let header = |mode: u32, size: u64, mtime: u32, nlink: u32| EntryHeader {
        name: &name,
        ino: e.ino,
        mode,
        nlink,
        mtime,
        size: size as u32,
        stripped: large,
    };
    match &f.kind {
        FileKind::Dir => {
            facts.mode = (0o040000 | perm) as u16;
            if !f.flags.ghost {
                cpio::write_header(out, &header(u32::from(facts.mode), 0, facts.mtime, 2))?;
            }
        }
        FileKind::Symlink(target) => {
            // Symbolic links are 0777 on Linux whatever is asked.
            facts.mode = 0o120777;
            facts.size = target.len() as u64;
            facts.linkto = target.clone();
            if !f.flags.ghost {
                cpio::write_header(out, &header(0o120777, facts.size, facts.mtime, 1))?;
                out.write_all(target.as_bytes())?;
                cpio::pad(out, facts.size)?;
            }
        }
        FileKind::Bytes(bytes) => {
            facts.mode = (0o100000 | perm) as u16;
            // A ghost has no contents in the package: size 0, no digest (as a regular one).
            if f.flags.ghost {
                return Ok(facts);
            }
            facts.size = bytes.len() as u64;
            facts.digest = hex::encode(Sha256::digest(bytes));
            cpio::write_header(
                out,
                &header(u32::from(facts.mode), facts.size, facts.mtime, 1),
            )?;
            out.write_all(bytes)?;
            cpio::pad(out, facts.size)?;
        }
        FileKind::Regular(source) => {
            facts.mode = (0o100000 | perm) as u16;
            if f.flags.ghost {
                return Ok(facts);
            }
            let mut file = File::open(source)
                .with_context(|| format!("failed to open `{}`", source.display()))?;
            let meta = file
                .metadata()
                .with_context(|| format!("failed to read `{}`", source.display()))?;
            if !meta.is_file() {
                bail!("`{}` is not a regular file", source.display());
            }
            facts.size = meta.len();
            if facts.size > MAX_FILE_SIZE && !large {
                bail!(
                    "`{}` grew past 4 GiB while it was being packaged",
                    source.display()
                );
            }
            if f.mtime.is_none() {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(u64::from(build_time), |d| d.as_secs());
                facts.mtime = clamp(modified, build_time);
            }
            cpio::write_header(
                out,
                &header(u32::from(facts.mode), facts.size, facts.mtime, 1),
            )?;
            facts.digest = copy_hashed(&mut file, out, facts.size, buf)
                .with_context(|| format!("failed to read `{}`", source.display()))?;
            cpio::pad(out, facts.size)?;
        }
    }
    Ok(facts)
}

/// Copies exactly `size` bytes of `src` to `out`; returns their hex sha256. A file that shrank
/// or grew since it was measured is an error (the entry's size is already written).
fn copy_hashed(src: &mut File, out: &mut impl Write, size: u64, buf: &mut [u8]) -> Result<String> {
    let mut sha = Sha256::new();
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = src.read(&mut buf[..want])?;
        if n == 0 {
            bail!("the file shrank while it was being packaged");
        }
        sha.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    if src.read(&mut buf[..1])? != 0 {
        bail!("the file grew while it was being packaged");
    }
    Ok(hex::encode(sha.finalize()))
}
