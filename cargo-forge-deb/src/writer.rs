//! Writing the `.deb`: an ar archive of `debian-binary`, `control.tar.*` and `data.tar.*`.
//!
//! Tars come from forge-core's reproducible writer (sorted, fixed mtime, root-owned unless an
//! owner is configured, `./`-prefixed as dpkg-deb writes them). Compression streams as the tar is
//! written: xz multithreaded with a fixed block size (so the output does not depend on how many
//! cores the machine has), zstd multithreaded, or gzip. The file is written under a temporary
//! name and renamed when complete.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use forge_core::archive::{Entry, TarOptions};
use forge_core::fsx::AtomicFile;

/// Compression of the tar members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
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
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize)]
pub struct CompressionSettings {
    pub format: Compression,
    pub level: u32,
    /// Threads for xz/zstd (1 = single-threaded).
    pub threads: u32,
}

/// xz block size for multithreaded compression. Fixed, so the output is the same whatever the
/// thread count; small enough that a typical Rust binary is split over several cores.
const XZ_BLOCK_SIZE: u64 = 4 << 20;

/// Compresses `data` with the settings.
pub fn compress(data: &[u8], c: &CompressionSettings) -> Result<Vec<u8>> {
    match c.format {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::new(c.level.min(9)));
            enc.write_all(data).context("gzip compression failed")?;
            enc.finish().context("gzip compression failed")
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::Encoder::new(Vec::new(), c.level.min(22) as i32)
                .context("zstd compression failed")?;
            if c.threads > 1 {
                enc.multithread(c.threads)
                    .context("zstd compression failed")?;
            }
            enc.include_checksum(true)
                .context("zstd compression failed")?;
            enc.write_all(data).context("zstd compression failed")?;
            enc.finish().context("zstd compression failed")
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
            let mut enc =
                liblzma::write::XzEncoder::new_stream(Vec::with_capacity(data.len() / 3), stream);
            enc.write_all(data).context("xz compression failed")?;
            enc.finish().context("xz compression failed")
        }
    }
}

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
    let data_tar = forge_core::archive::write_tar(Vec::new(), contents.data, &opts)?;
    let data_c = compress(&data_tar, compression)?;
    drop(data_tar);

    let mut file = AtomicFile::create(path)?;
    {
        let mut ar = ar::Builder::new(&mut file);
        let ext = compression.format.extension();
        for (name, bytes) in [
            ("debian-binary".to_string(), b"2.0\n".as_slice()),
            (format!("control.tar{ext}"), control_c.as_slice()),
            (format!("data.tar{ext}"), data_c.as_slice()),
        ] {
            let mut h = ar::Header::new(name.clone().into_bytes(), bytes.len() as u64);
            h.set_mtime(contents.mtime);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mode(0o100644);
            ar.append(&h, bytes).with_context(|| {
                format!("failed to write member `{name}` of `{}`", path.display())
            })?;
        }
    }
    file.flush()
        .with_context(|| format!("failed to write `{}`", path.display()))?;
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

/// Opens a `.deb` as an ar archive, after checking its magic (so that any other file gives
/// "not a Debian package", not an ar parsing error). The one way this crate opens packages.
pub(crate) fn open_deb(deb: &Path) -> Result<ar::Archive<std::io::BufReader<std::fs::File>>> {
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
    Ok(ar::Archive::new(reader))
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
