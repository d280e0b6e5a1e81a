//! One architecture's `Packages` index, written in one pass: `Packages`, `Packages.gz` and
//! `Packages.xz`, each hashed as it is written and linked under `by-hash/SHA256/`.
//!
//! Why it is shaped so: a repository of thousands of packages has an index of megabytes, and
//! compressing it (xz above all) is most of an update's work. The text is cut into chunks at
//! stanza boundaries chosen by the package name (content-defined, so adding one package moves
//! no boundary but the ones next to it), and each chunk is compressed on its own: a gzip member
//! (a `.gz` file may hold several, which every zlib reader, apt's included, reads as one text),
//! and an xz block (see [`super::xz`]). The previous `Packages.gz` and `Packages.xz` are the
//! cache: their members and blocks are matched against the chunks of the previous `Packages`
//! by their exact text, so an update recompresses only the chunks whose text changed and copies
//! the rest. New chunks are compressed on all cores.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use forge_core::fsx;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::xz;
use crate::deb822::RawStanza;

/// The index files of an architecture, in the order they are written.
pub const FILES: [&str; 3] = ["Packages", "Packages.gz", "Packages.xz"];

/// xz level of `Packages.xz` (xz's default).
const XZ_LEVEL: u32 = 6;
/// A chunk ends before a stanza of a new package whose name hashes to 0 modulo this, once it
/// holds `MIN_CHUNK` bytes; and always at `MAX_CHUNK`.
const SPREAD: u64 = 32;
const MIN_CHUNK: usize = 16 << 10;
const MAX_CHUNK: usize = 256 << 10;

/// One written index file.
#[derive(Clone, Debug)]
pub struct Written {
    /// Relative to the suite's directory (`main/binary-amd64/Packages.xz`).
    pub rel: String,
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

/// FNV-1a: a hash that stays the same across Rust versions, so chunk boundaries do too.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Cuts the index text (the stanzas, each followed by a blank line) into chunks.
pub fn chunks<'a>(stanzas: impl IntoIterator<Item = &'a RawStanza>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut prev_package = "";
    for s in stanzas {
        let new_package = s.package != prev_package;
        let cut = !cur.is_empty()
            && (cur.len() >= MAX_CHUNK
                || (new_package && cur.len() >= MIN_CHUNK && fnv1a(&s.package) % SPREAD == 0));
        if cut {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(s.text.as_bytes());
        cur.push(b'\n');
        prev_package = &s.package;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The compressed chunks of the previous index files, by their text.
#[derive(Default)]
pub struct Reuse {
    gz: HashMap<Vec<u8>, Vec<u8>>,
    xz: HashMap<Vec<u8>, xz::Block>,
}

impl Reuse {
    /// Reads the previous `Packages.gz` and `Packages.xz` next to `plain`, the previous text.
    /// Whatever cannot be matched (files written by another tool, damaged, missing) is simply
    /// not reused.
    pub fn load(arch_dir: &Path, plain: &[u8]) -> Reuse {
        let mut reuse = Reuse::default();
        if let Ok(bytes) = std::fs::read(arch_dir.join("Packages.xz")) {
            if let Ok(blocks) = xz::blocks(&bytes) {
                let mut at = 0usize;
                for b in blocks {
                    let end = at.saturating_add(b.uncompressed as usize);
                    let Some(text) = plain.get(at..end) else {
                        break;
                    };
                    if b.holds(text) {
                        reuse.xz.insert(text.to_vec(), b);
                    }
                    at = end;
                }
            }
        }
        if let Ok(bytes) = std::fs::read(arch_dir.join("Packages.gz")) {
            let mut rest: &[u8] = &bytes;
            let mut at = 0usize;
            while !rest.is_empty() {
                let before = rest.len();
                let mut decoder = flate2::bufread::GzDecoder::new(rest);
                let mut text = Vec::new();
                if decoder.read_to_end(&mut text).is_err() {
                    break;
                }
                let remaining = decoder.into_inner();
                let member = &bytes[bytes.len() - before..bytes.len() - remaining.len()];
                rest = remaining;
                if plain.get(at..at + text.len()) != Some(&text[..]) {
                    break;
                }
                at += text.len();
                reuse.gz.insert(text, member.to_vec());
            }
        }
        reuse
    }

    /// How many chunks each file offers (for `-v`).
    pub fn counts(&self) -> (usize, usize) {
        (self.gz.len(), self.xz.len())
    }
}

fn gzip_member(text: &[u8]) -> Result<Vec<u8>> {
    // No file name and mtime 0 in the header: the same text gives the same bytes.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(text)
        .context("failed to compress with gzip")?;
    enc.finish().context("failed to compress with gzip")
}

/// Compresses the chunks `reuse` lacks, on all cores: (gzip members, xz blocks), `None` where
/// the previous file has it.
#[allow(clippy::type_complexity)]
fn compress_missing(
    chunks: &[Vec<u8>],
    reuse: &Reuse,
) -> Result<(Vec<Option<Vec<u8>>>, Vec<Option<xz::Block>>)> {
    // Jobs: (chunk, is_xz); xz first, it is the slow one.
    let mut jobs: Vec<(usize, bool)> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        if !reuse.xz.contains_key(c) {
            jobs.push((i, true));
        }
    }
    for (i, c) in chunks.iter().enumerate() {
        if !reuse.gz.contains_key(c) {
            jobs.push((i, false));
        }
    }
    let mut gz = vec![None; chunks.len()];
    let mut xzs = vec![None; chunks.len()];
    if jobs.is_empty() {
        return Ok((gz, xzs));
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(jobs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    enum Out {
        Gz(usize, Vec<u8>),
        Xz(usize, xz::Block),
    }
    let results: Vec<Result<Vec<Out>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<Vec<Out>> {
                    let mut done = Vec::new();
                    loop {
                        let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(i, is_xz)) = jobs.get(j) else {
                            return Ok(done);
                        };
                        done.push(if is_xz {
                            Out::Xz(i, xz::compress_block(&chunks[i], XZ_LEVEL)?)
                        } else {
                            Out::Gz(i, gzip_member(&chunks[i])?)
                        });
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a compression thread failed")))
            })
            .collect()
    });
    for r in results {
        for out in r? {
            match out {
                Out::Gz(i, m) => gz[i] = Some(m),
                Out::Xz(i, b) => xzs[i] = Some(b),
            }
        }
    }
    Ok((gz, xzs))
}

/// A writer that counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    size: u64,
    md5: Md5,
    sha: Sha256,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            size: 0,
            md5: Md5::new(),
            sha: Sha256::new(),
        }
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.md5.update(&buf[..n]);
        self.sha.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Stores `path` also as `by-hash/SHA256/<digest>` next to it: a hard link (no copy), else a
/// copy under a temporary name, renamed into place.
fn link_by_hash(path: &Path, sha256: &str) -> Result<()> {
    let dir = path
        .parent()
        .expect("an index has a directory")
        .join("by-hash/SHA256");
    let dest = dir.join(sha256);
    if dest.exists() {
        return Ok(());
    }
    fsx::create_dir_all(&dir)?;
    if std::fs::hard_link(path, &dest).is_ok() {
        return Ok(());
    }
    let mut out = fsx::AtomicFile::create(&dest)?;
    let mut src =
        File::open(path).with_context(|| format!("failed to open `{}`", path.display()))?;
    std::io::copy(&mut src, &mut out).with_context(|| {
        format!(
            "failed to copy `{}` to `{}`",
            path.display(),
            dest.display()
        )
    })?;
    out.commit()
}

/// Writes the index of `arch_dir` (`…/dists/S/C/binary-A`) from `stanzas` (in index order),
/// reusing what `reuse` holds. `suite_dir` is the suite's directory, for the relative names.
pub fn write(
    suite_dir: &Path,
    arch_dir: &Path,
    stanzas: &[&RawStanza],
    reuse: &Reuse,
) -> Result<Vec<Written>> {
    let chunks = chunks(stanzas.iter().copied());
    let (new_gz, new_xz) = compress_missing(&chunks, reuse)?;
    let paths: Vec<PathBuf> = FILES.iter().map(|f| arch_dir.join(f)).collect();
    let open = |p: &Path| -> Result<Hashing<std::io::BufWriter<fsx::AtomicFile>>> {
        Ok(Hashing::new(std::io::BufWriter::with_capacity(
            1 << 16,
            fsx::AtomicFile::create(p)?,
        )))
    };
    let mut plain = open(&paths[0])?;
    let mut gz = open(&paths[1])?;
    let mut xz = xz::StreamWriter::new(open(&paths[2])?)
        .with_context(|| format!("failed to write `{}`", paths[2].display()))?;
    let failed = |p: &Path| format!("failed to write `{}`", p.display());
    for (i, chunk) in chunks.iter().enumerate() {
        plain.write_all(chunk).with_context(|| failed(&paths[0]))?;
        let member = new_gz[i]
            .as_ref()
            .or_else(|| reuse.gz.get(chunk))
            .expect("compressed or reused");
        gz.write_all(member).with_context(|| failed(&paths[1]))?;
        let block = new_xz[i]
            .as_ref()
            .or_else(|| reuse.xz.get(chunk))
            .expect("compressed or reused");
        xz.block(block).with_context(|| failed(&paths[2]))?;
    }
    if chunks.is_empty() {
        // An empty index: `Packages.gz` is an empty gzip member, as gzip writes it.
        gz.write_all(&gzip_member(b"")?)
            .with_context(|| failed(&paths[1]))?;
    }
    let xz = xz.finish().with_context(|| failed(&paths[2]))?;
    let mut written = Vec::new();
    for (hashing, path) in [plain, gz, xz].into_iter().zip(&paths) {
        let Hashing {
            inner,
            size,
            md5,
            sha,
            ..
        } = hashing;
        let file = inner
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| failed(path))?;
        let sha256 = hex::encode(sha.finalize());
        file.commit()?;
        link_by_hash(path, &sha256)?;
        let rel = path.strip_prefix(suite_dir).unwrap_or(path);
        written.push(Written {
            rel: rel.to_string_lossy().into_owned(),
            size,
            md5: hex::encode(md5.finalize()),
            sha256,
        });
    }
    Ok(written)
}

/// Reads the text of an existing index (`Packages`, else `Packages.xz`, else `Packages.gz`);
/// `None` when there is none.
pub fn read_text(arch_dir: &Path) -> Result<Option<String>> {
    let plain = arch_dir.join("Packages");
    if plain.is_file() {
        return fsx::read_to_string(&plain).map(Some);
    }
    for (name, xz) in [("Packages.xz", true), ("Packages.gz", false)] {
        let p = arch_dir.join(name);
        if !p.is_file() {
            continue;
        }
        let file = std::io::BufReader::new(
            File::open(&p).with_context(|| format!("failed to open `{}`", p.display()))?,
        );
        let mut reader: Box<dyn Read> = if xz {
            Box::new(liblzma::read::XzDecoder::new_multi_decoder(file))
        } else {
            Box::new(flate2::bufread::MultiGzDecoder::new(file))
        };
        let mut s = String::new();
        reader
            .read_to_string(&mut s)
            .with_context(|| format!("failed to read `{}`", p.display()))?;
        return Ok(Some(s));
    }
    Ok(None)
}

/// Whether all of [`FILES`] exist in `arch_dir`.
pub fn complete(arch_dir: &Path) -> bool {
    FILES.iter().all(|f| arch_dir.join(f).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(name: &str, version: &str) -> RawStanza {
        RawStanza::new(format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\nFilename: pool/main/{name}.deb\n\
             Description: the package {name}, with a description long enough to fill chunks\n"
        ))
    }

    fn decode_gz(p: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(File::open(p).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn decode_xz(p: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        // apt reads the first stream only: so does this decoder.
        liblzma::read::XzDecoder::new(File::open(p).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn an_added_stanza_recompresses_one_chunk() {
        let mut stanzas: Vec<RawStanza> = (0..3000)
            .map(|i| stanza(&format!("pkg{i:05}"), "1.0"))
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let suite = tmp.path();
        let arch = suite.join("main/binary-amd64");
        let refs: Vec<&RawStanza> = stanzas.iter().collect();
        let before = chunks(refs.iter().copied());
        assert!(before.len() > 10, "{} chunks", before.len());
        let w = write(suite, &arch, &refs, &Reuse::default()).unwrap();
        assert_eq!(w[0].rel, "main/binary-amd64/Packages");
        let plain = std::fs::read(arch.join("Packages")).unwrap();
        assert_eq!(plain, before.concat());
        assert_eq!(decode_gz(&arch.join("Packages.gz")), plain);
        assert_eq!(decode_xz(&arch.join("Packages.xz")), plain);
        for f in &w {
            assert!(arch.join("by-hash/SHA256").join(&f.sha256).is_file());
            assert_eq!(f.size, std::fs::metadata(suite.join(&f.rel)).unwrap().len());
        }

        // One more package in the middle: every chunk but one or two is found in the old files.
        stanzas.push(stanza("pkg01500a", "1.0"));
        stanzas.sort_by(|a, b| a.package.cmp(&b.package));
        let refs: Vec<&RawStanza> = stanzas.iter().collect();
        let after = chunks(refs.iter().copied());
        let reuse = Reuse::load(&arch, &plain);
        assert_eq!(reuse.counts(), (before.len(), before.len()));
        let missing = after.iter().filter(|c| !reuse.xz.contains_key(*c)).count();
        assert!(
            (1..=2).contains(&missing),
            "{missing} of {} chunks changed",
            after.len()
        );
        write(suite, &arch, &refs, &reuse).unwrap();
        let plain = std::fs::read(arch.join("Packages")).unwrap();
        assert_eq!(plain, after.concat());
        assert_eq!(decode_gz(&arch.join("Packages.gz")), plain);
        assert_eq!(decode_xz(&arch.join("Packages.xz")), plain);
    }

    #[test]
    fn an_empty_index_is_valid() {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("main/binary-all");
        write(tmp.path(), &arch, &[], &Reuse::default()).unwrap();
        assert_eq!(std::fs::read(arch.join("Packages")).unwrap(), b"");
        assert_eq!(decode_gz(&arch.join("Packages.gz")), b"");
        assert_eq!(decode_xz(&arch.join("Packages.xz")), b"");
    }

    #[test]
    fn another_tools_files_are_read_not_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path();
        let text = b"Package: a\nVersion: 1\n\n".repeat(100);
        std::fs::write(
            arch.join("Packages.xz"),
            liblzma::encode_all(&text[..], 6).unwrap(),
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        std::fs::write(arch.join("Packages.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(read_text(arch).unwrap().unwrap().as_bytes(), &text[..]);
        // Their single chunk is the whole text: reusable only for that exact text.
        let reuse = Reuse::load(arch, &text);
        assert_eq!(reuse.counts(), (1, 1));
        let reuse = Reuse::load(arch, b"Package: b\n\n");
        assert_eq!(reuse.counts(), (0, 0));
    }
}
