//! Writing the `.deb`: an ar archive of `debian-binary`, `control.tar.*` and `data.tar.*`.
//!
//! Tars come from forge-core's reproducible writer (sorted, fixed mtime, root-owned unless an
//! owner is configured, `./`-prefixed as dpkg-deb writes them). Compression streams as the tar is
//! written: xz multithreaded with a fixed block size (so the output does not depend on how many
//! cores the machine has), zstd multithreaded, or gzip. The file is written under a temporary
//! name and renamed when complete.
//!
//! `data.tar` is never held in memory: files → tar → compressor → the package file, whose ar
//! header for that member is written with a placeholder size and patched once the compressed
//! size is known (the ar crate needs the size before the data, which a stream cannot give). So
//! the memory a package takes does not depend on its payload. Packages are also read in
//! streams: [`find_member`] locates a member without reading the others, [`open_data_tar`]
//! decompresses `data.tar` as it is read.

use std::io::{Seek, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use forge_core::archive::{Entry, TarOptions};
use forge_core::fsx::AtomicFile;

/// Compression of the tar members.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Xz,
    Zstd,
    Gzip,
    None,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Compression> {
        Some(match s {
            "xz" => Compression::Xz,
            "zstd" | "zst" => Compression::Zstd,
            "gzip" | "gz" => Compression::Gzip,
            "none" => Compression::None,
            _ => return None,
        })
    }

    fn extension(self) -> &'static str {
        match self {
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
            Compression::Gzip => ".gz",
            Compression::None => "",
        }
    }

    /// The default level of each format. xz 4: measured on a 27 MB Rust binary (docs/src/benchmarks.md),
    /// 0.39× cargo-deb's time at 1.07× its size; level 5 costs as much CPU as 6 for 0.35 % less
    /// size, level 3 is 14 % larger.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Xz => 4,
            Compression::Zstd => 19,
            Compression::Gzip => 9,
            Compression::None => 0,
        }
    }
}

/// The compression settings of one run.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct CompressionSettings {
    pub format: Compression,
    pub level: u32,
    /// Threads for xz/zstd (1 = single-threaded).
    pub threads: u32,
}

/// xz block size for multithreaded compression. Fixed, so the output is the same whatever the
/// thread count; small enough that a typical Rust binary is split over several cores.
const XZ_BLOCK_SIZE: u64 = 4 << 20;

/// A compressing writer: what is written to it reaches `out` compressed; [`Compressor::finish`]
/// ends the stream and gives `out` back.
pub enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::Encoder<'static, W>),
    Xz(liblzma::write::XzEncoder<W>),
}

impl<W: Write> Compressor<W> {
    pub fn new(out: W, c: &CompressionSettings) -> Result<Compressor<W>> {
        Ok(match c.format {
            Compression::None => Compressor::None(out),
            Compression::Gzip => Compressor::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::new(c.level.min(9))),
            ),
            Compression::Zstd => {
                let mut enc = zstd::stream::Encoder::new(out, c.level.min(22) as i32)
                    .context("zstd compression failed")?;
                if c.threads > 1 {
                    enc.multithread(c.threads)
                        .context("zstd compression failed")?;
                }
                enc.include_checksum(true)
                    .context("zstd compression failed")?;
                Compressor::Zstd(enc)
            }
            Compression::Xz => {
                let stream = if c.threads > 1 {
                    liblzma::stream::MtStreamBuilder::new()
                        .preset(c.level.min(9))
                        .threads(c.threads)
                        .block_size(XZ_BLOCK_SIZE)
                        .check(liblzma::stream::Check::Crc64)
                        .encoder()
                        .context("failed to start the xz encoder")?
                } else {
                    liblzma::stream::Stream::new_easy_encoder(
                        c.level.min(9),
                        liblzma::stream::Check::Crc64,
                    )
                    .context("failed to start the xz encoder")?
                };
                Compressor::Xz(liblzma::write::XzEncoder::new_stream(out, stream))
            }
        })
    }

    /// Ends the compressed stream; returns the writer it went to.
    pub fn finish(self) -> Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish().context("gzip compression failed"),
            Compressor::Zstd(e) => e.finish().context("zstd compression failed"),
            Compressor::Xz(e) => e.finish().context("xz compression failed"),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
            Compressor::Xz(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
            Compressor::Xz(e) => e.flush(),
        }
    }
}

/// Compresses `data` with the settings (small things: the control tar).
pub fn compress(data: &[u8], c: &CompressionSettings) -> Result<Vec<u8>> {
    let mut enc = Compressor::new(Vec::new(), c)?;
    enc.write_all(data).context("compression failed")?;
    enc.finish()
}

/// A writer that counts the bytes it passes on.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The largest member an ar header can describe (its size field has 10 decimal digits).
const AR_MAX_MEMBER: u64 = 9_999_999_999;

/// Everything that goes into one `.deb`.
pub struct DebContents {
    pub control: String,
    /// `(name, mode, bytes)` of maintainer scripts and other control files (conffiles, md5sums,
    /// triggers), written in the given order.
    pub control_files: Vec<(String, u32, Vec<u8>)>,
    pub data: Vec<Entry>,
    pub mtime: u64,
}

/// Writes the package to `path` atomically. Returns its size in bytes.
pub fn write_deb(
    path: &Path,
    contents: DebContents,
    compression: &CompressionSettings,
) -> Result<u64> {
    let opts = TarOptions {
        mtime: contents.mtime,
        dot_prefix: true,
        root_entry: true,
        implied_dir_mode: 0o755,
    };
    let mut control_entries = vec![Entry::bytes(
        "control",
        contents.control.into_bytes(),
        0o644,
    )?];
    for (name, mode, bytes) in contents.control_files {
        control_entries.push(Entry::bytes(&name, bytes, mode)?);
    }
    let control_tar = forge_core::archive::write_tar(Vec::new(), control_entries, &opts)?;
    // Small: never worth threads.
    let control_c = compress(
        &control_tar,
        &CompressionSettings {
            threads: 1,
            ..*compression
        },
    )?;
    let ext = compression.format.extension();
    let failed = || format!("failed to write `{}`", path.display());

    let mut file = AtomicFile::create(path)?;
    {
        let mut ar = forge_core::archive::ArWriter::new(&mut file);
        for (name, bytes) in [
            ("debian-binary".to_string(), b"2.0\n".as_slice()),
            (format!("control.tar{ext}"), control_c.as_slice()),
        ] {
            ar.append(&name, contents.mtime, bytes.len() as u64, bytes)
                .with_context(|| format!("failed to write `{}`", path.display()))?;
        }
    }
    // data.tar: header with size 0 for now, then the compressed tar streamed after it.
    let data_name = format!("data.tar{ext}");
    let header_at = file.stream_position().with_context(failed)?;
    file.write_all(&forge_core::archive::ar_header_bytes(
        &data_name,
        contents.mtime,
        0,
    ))
    .with_context(failed)?;
    let size = {
        let counted = Counting {
            inner: std::io::BufWriter::with_capacity(1 << 16, &mut file),
            count: 0,
        };
        let compressor = Compressor::new(counted, compression)?;
        let counted = forge_core::archive::write_tar(compressor, contents.data, &opts)?.finish()?;
        let size = counted.count;
        let mut buffered = counted.inner;
        buffered.flush().with_context(failed)?;
        size
    };
    if size > AR_MAX_MEMBER {
        anyhow::bail!(
            "`{data_name}` of `{}` would be {size} bytes compressed, more than a .deb member can \
             hold ({AR_MAX_MEMBER})",
            path.display()
        );
    }
    if size % 2 == 1 {
        file.write_all(b"\n").with_context(failed)?;
    }
    let end = file.stream_position().with_context(failed)?;
    file.seek(std::io::SeekFrom::Start(header_at))
        .with_context(failed)?;
    file.write_all(&forge_core::archive::ar_header_bytes(
        &data_name,
        contents.mtime,
        size,
    ))
    .with_context(failed)?;
    file.seek(std::io::SeekFrom::Start(end))
        .with_context(failed)?;
    file.flush().with_context(failed)?;
    file.commit()?;
    Ok(forge_core::fsx::metadata(path)?.len())
}

/// The error for a file that is not a Debian package, naming it and why.
pub(crate) fn not_a_deb(deb: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    forge_core::exit::usage(format!(
        "`{}` is not a Debian package (.deb): {why}",
        deb.display()
    ))
}

/// Opens `deb` for reading at its start, after checking the ar magic (so that any other file
/// gives "not a Debian package", not an ar parsing error).
fn open_ar(deb: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    use std::io::{Read, Seek};
    let file =
        std::fs::File::open(deb).with_context(|| format!("failed to open `{}`", deb.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut magic = [0u8; 8];
    if reader.read_exact(&mut magic).is_err() || &magic != b"!<arch>\n" {
        return Err(not_a_deb(deb, "it is not an ar archive"));
    }
    reader
        .seek(std::io::SeekFrom::Start(0))
        .with_context(|| format!("failed to read `{}`", deb.display()))?;
    Ok(reader)
}

/// Opens a `.deb` as an ar archive, after checking its magic (so that any other file gives
/// "not a Debian package", not an ar parsing error). The one way this crate opens packages.
pub(crate) fn open_deb(deb: &Path) -> Result<ar::Archive<std::io::BufReader<std::fs::File>>> {
    let reader = open_ar(deb)?;
    Ok(ar::Archive::new(reader))
}

/// A member of a `.deb`: its name and where its bytes are in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub offset: u64,
    pub len: u64,
}

/// A reader that tells where it is (its position is shared), so that the position of an ar
/// member's data is known when the ar crate hands out the member. The ar crate parses headers
/// (GNU and BSD names included) but does not say where a member starts.
struct Tracked<R> {
    inner: R,
    pos: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos.set(self.pos.get() + n as u64);
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for Tracked<R> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let at = self.inner.seek(to)?;
        self.pos.set(at);
        Ok(at)
    }
}

/// Finds the first member whose name starts with `prefix` (`data.tar`), without reading any
/// member's data.
pub fn find_member(deb: &Path, prefix: &str) -> Result<Option<Member>> {
    let reader = open_ar(deb)?;
    let pos = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut ar = ar::Archive::new(Tracked {
        inner: reader,
        pos: pos.clone(),
    });
    while let Some(entry) = ar.next_entry() {
        let mut entry = entry.map_err(|e| not_a_deb(deb, e))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        let len = entry.header().size();
        let offset = pos.get();
        // Skip the data by seeking, not reading (dropping an unread entry reads it).
        entry
            .seek(std::io::SeekFrom::End(0))
            .with_context(|| format!("failed to read `{}`", deb.display()))?;
        if name.starts_with(prefix) {
            return Ok(Some(Member { name, offset, len }));
        }
    }
    Ok(None)
}

/// The decompressed `data.tar` of a package, streamed from the file (never read whole).
pub fn open_data_tar(deb: &Path) -> Result<Box<dyn std::io::Read>> {
    use std::io::{Read, Seek};
    let member = find_member(deb, "data.tar")?
        .ok_or_else(|| not_a_deb(deb, "it has no `data.tar` member"))?;
    let mut file =
        std::fs::File::open(deb).with_context(|| format!("failed to open `{}`", deb.display()))?;
    file.seek(std::io::SeekFrom::Start(member.offset))
        .with_context(|| format!("failed to read `{}`", deb.display()))?;
    let raw = std::io::BufReader::with_capacity(1 << 16, file.take(member.len));
    decompressor(&member.name, raw)
        .with_context(|| format!("failed to read `{}` of `{}`", member.name, deb.display()))
}

/// A reader decompressing a member by its name's extension.
pub fn decompressor<'a>(
    name: &str,
    raw: impl std::io::Read + 'a,
) -> Result<Box<dyn std::io::Read + 'a>> {
    Ok(if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(raw))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(raw)?)
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    })
}

/// Reads the members of a `.deb` (for tests, `repo`, `sign` and `--message-format json`).
pub fn read_members(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    use std::io::Read;
    let mut ar = open_deb(path)?;
    let mut out = Vec::new();
    while let Some(entry) = ar.next_entry() {
        let mut entry = entry.map_err(|e| not_a_deb(path, e))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        out.push((name, bytes));
    }
    if out.first().map(|m| m.0.as_str()) != Some("debian-binary") {
        return Err(not_a_deb(path, "its first member is not `debian-binary`"));
    }
    Ok(out)
}

/// Decompresses a tar member by its name's extension.
pub fn decompress(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(bytes).read_to_end(&mut out)?;
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(bytes)?.read_to_end(&mut out)?;
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    } else {
        out = bytes.to_vec();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_compressions_roundtrip_and_are_stable() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for format in [
            Compression::Xz,
            Compression::Zstd,
            Compression::Gzip,
            Compression::None,
        ] {
            let one = CompressionSettings {
                format,
                level: 3,
                threads: 1,
            };
            let two = CompressionSettings {
                format,
                level: 3,
                threads: 2,
            };
            let a = compress(&data, &one).unwrap();
            let name = format!("data.tar{}", format.extension());
            assert_eq!(decompress(&name, &a).unwrap(), data, "{format:?}");
            if format == Compression::Xz {
                // Multithreaded output must not depend on the thread count.
                let b = compress(&data, &two).unwrap();
                let c = compress(&data, &CompressionSettings { threads: 3, ..two }).unwrap();
                assert_eq!(b, c);
                assert_eq!(decompress(&name, &b).unwrap(), data);
            }
        }
    }

    #[test]
    fn streamed_members_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let payload = dir.path().join("payload");
        // Odd sizes on purpose: ar pads members to even offsets.
        std::fs::write(
            &payload,
            (0..300_001u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        for format in [
            Compression::Xz,
            Compression::Zstd,
            Compression::Gzip,
            Compression::None,
        ] {
            let path = dir.path().join(format!("p_{format:?}.deb"));
            let contents = DebContents {
                control: "Package: p\n".into(),
                control_files: vec![],
                data: vec![Entry::file("usr/share/p/payload", payload.clone(), 0o644).unwrap()],
                mtime: 1000,
            };
            write_deb(
                &path,
                contents,
                &CompressionSettings {
                    format,
                    level: 1,
                    threads: 2,
                },
            )
            .unwrap();
            let members = read_members(&path).unwrap();
            let data = members
                .iter()
                .find(|m| m.0.starts_with("data.tar"))
                .unwrap();
            let member = find_member(&path, "data.tar").unwrap().unwrap();
            assert_eq!(
                (member.name.as_str(), member.len),
                (data.0.as_str(), data.1.len() as u64)
            );
            let mut streamed = Vec::new();
            std::io::Read::read_to_end(&mut open_data_tar(&path).unwrap(), &mut streamed).unwrap();
            assert_eq!(
                streamed,
                decompress(&data.0, &data.1).unwrap(),
                "{format:?}"
            );
            let mut tar = tar::Archive::new(streamed.as_slice());
            let names: Vec<String> = tar
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                .collect();
            assert!(
                names.contains(&"./usr/share/p/payload".to_string()),
                "{names:?}"
            );
            if which::which("dpkg-deb").is_ok() {
                let out = std::process::Command::new("dpkg-deb")
                    .arg("-c")
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{format:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        assert_eq!(
            find_member(&dir.path().join("p_Xz.deb"), "nothing").unwrap(),
            None
        );
    }

    #[test]
    fn deb_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p_1_amd64.deb");
        let contents = DebContents {
            control: "Package: p\n".into(),
            control_files: vec![("md5sums".into(), 0o644, b"x  usr/bin/p\n".to_vec())],
            data: vec![Entry::bytes("usr/bin/p", b"bin".to_vec(), 0o755).unwrap()],
            mtime: 1000,
        };
        write_deb(
            &path,
            contents,
            &CompressionSettings {
                format: Compression::Xz,
                level: 1,
                threads: 1,
            },
        )
        .unwrap();
        let m = read_members(&path).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(names, ["debian-binary", "control.tar.xz", "data.tar.xz"]);
        assert_eq!(m[0].1, b"2.0\n");
        if which::which("dpkg-deb").is_ok() {
            let out = std::process::Command::new("dpkg-deb")
                .arg("-c")
                .arg(&path)
                .output()
                .unwrap();
            let listing = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                listing.contains("root/root") && listing.contains("./usr/bin/p"),
                "{listing}"
            );
        }
    }
}
