//! Reading a `.deb` as an APT repository needs it: its control paragraph (checked, so that name,
//! version and architecture are safe as path components) and its size and digests.
//!
//! Only the `control.tar*` member is decompressed; `data.tar` is never read. The file is hashed
//! in one read for MD5 and SHA-256 (the two sums a `Packages` stanza carries).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::deb822::{parse_paragraphs, Paragraph};

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

pub(crate) fn valid_name(s: &str) -> bool {
    // Debian policy 5.6.1: lowercase letters, digits, `+ - .`, at least two characters,
    // starting with an alphanumeric.
    s.len() >= 2
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

pub(crate) fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
}

pub(crate) fn valid_arch(s: &str) -> bool {
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
pub fn hash_file(path: &Path) -> Result<(u64, String, String)> {
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut size = 0u64;
    forge_core::digest::read_chunks(path, |b| {
        md5.update(b);
        sha.update(b);
        size += b.len() as u64;
    })?;
    Ok((
        size,
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize()),
    ))
}
