//! `repodata/repomd.xml`, the one file a client reads first: it names each metadata file with its
//! size, checksums and time. The metadata files are named after their SHA-256
//! (`<sha256>-primary.xml.gz`, createrepo_c's default `--unique-md-filenames`), so new ones never
//! overwrite the files the current repomd.xml names; repomd.xml itself is replaced last, by a
//! rename, so a reader sees the old repository or the new one, never a mix.
//!
//! Metadata of other kinds that another tool added to a previous repomd.xml (`group` from comps,
//! `updateinfo`, `modules`) is kept as it is; createrepo_c's sqlite databases and zchunk files are
//! dropped, since they would describe the previous package set.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use forge_core::digest::HashingWriter;
use quick_xml::events::BytesText;
use quick_xml::Writer;

use super::xml::{split_document, Entry, DOCUMENTS};

/// A metadata file written by this update, as repomd.xml describes it.
#[derive(Clone, Debug)]
pub struct Written {
    pub kind: &'static str,
    /// `repodata/<sha256>-<kind>.xml.gz`.
    pub href: String,
    pub checksum: String,
    pub open_checksum: String,
    pub size: u64,
    pub open_size: u64,
}

/// What an update keeps from the previous repomd.xml.
#[derive(Default)]
pub struct Previous {
    /// `(type, location)` of each of its data entries.
    pub locations: Vec<(String, String)>,
    /// Its `<data>` elements of other kinds, as they are.
    pub extra: Vec<Vec<u8>>,
}

/// The data types this module writes itself, and those it drops (they would be stale).
fn is_ours_or_stale(kind: &str) -> bool {
    DOCUMENTS.iter().any(|(k, _, _)| *k == kind) || kind.ends_with("_db") || kind.ends_with("_zck")
}

impl Previous {
    pub fn read(repomd: &Path) -> Result<Previous> {
        let bytes = match std::fs::read(repomd) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Previous::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("failed to read `{}`", repomd.display()))
            }
        };
        let what = format!("`{}`", repomd.display());
        let mut prev = Previous::default();
        for frag in split_document(&bytes, "data", &what)? {
            let kind = frag.attrs.get("type").cloned().unwrap_or_default();
            let href = frag
                .fields
                .get("location/href")
                .cloned()
                .unwrap_or_default();
            if !is_ours_or_stale(&kind) {
                prev.extra.push(frag.bytes);
            }
            prev.locations.push((kind, href));
        }
        Ok(prev)
    }

    /// Where the previous repomd.xml says document `kind` is.
    pub fn location(&self, kind: &str) -> Option<&str> {
        self.locations
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, h)| h.as_str())
    }
}

/// Writes document `index` of `entries` gzip-compressed into `repodata`, named after its SHA-256.
pub fn write_document(repodata: &Path, index: usize, entries: &[&Entry]) -> Result<Written> {
    let kind = DOCUMENTS[index].0;
    forge_core::fsx::create_dir_all(repodata)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{kind}."))
        .tempfile_in(repodata)
        .with_context(|| {
            format!(
                "failed to create a temporary file in `{}`",
                repodata.display()
            )
        })?;
    let file = tmp
        .reopen()
        .with_context(|| format!("failed to open `{}`", tmp.path().display()))?;
    let compressed = HashingWriter::new(std::io::BufWriter::new(file));
    // No file name and time 0 in the gzip header: the same documents give the same bytes.
    let gz = GzEncoder::new(compressed, flate2::Compression::default());
    let mut open = HashingWriter::new(gz);
    let fail = |e: std::io::Error| {
        anyhow::Error::new(e).context(format!(
            "failed to write {kind}.xml.gz in `{}`",
            repodata.display()
        ))
    };
    super::xml::write_document(&mut open, index, entries).map_err(fail)?;
    let (gz, open_checksum, open_size) = open.finish();
    let compressed = gz.finish().map_err(fail)?;
    let (buf, checksum, size) = compressed.finish();
    let file = buf.into_inner().map_err(|e| fail(e.into_error()))?;
    file.sync_all().map_err(fail)?;
    let href = format!("repodata/{checksum}-{kind}.xml.gz");
    let dest = repodata.join(format!("{checksum}-{kind}.xml.gz"));
    tmp.persist(&dest)
        .map_err(|e| e.error)
        .with_context(|| format!("failed to move a file to `{}`", dest.display()))?;
    Ok(Written {
        kind,
        href,
        checksum,
        open_checksum,
        size,
        open_size,
    })
}

/// Reads a previous document (gzip-compressed) named by repomd.xml; `None` when absent.
pub fn read_document(dir: &Path, href: &str) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let path = dir.join(href);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("failed to open `{}`", path.display())),
    };
    let mut out = Vec::new();
    if href.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(file).read_to_end(&mut out)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut out)
    }
    .with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(Some(out))
}

/// The text of repomd.xml.
pub fn render(revision: u64, written: &[Written], extra: &[Vec<u8>]) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let body = |w: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
        w.create_element("revision")
            .write_text_content(BytesText::new(&revision.to_string()))?;
        for d in written {
            w.create_element("data")
                .with_attribute(("type", d.kind))
                .write_inner_content(|w| {
                    w.create_element("checksum")
                        .with_attribute(("type", "sha256"))
                        .write_text_content(BytesText::new(&d.checksum))?;
                    w.create_element("open-checksum")
                        .with_attribute(("type", "sha256"))
                        .write_text_content(BytesText::new(&d.open_checksum))?;
                    w.create_element("location")
                        .with_attribute(("href", d.href.as_str()))
                        .write_empty()?;
                    for (name, value) in [
                        ("timestamp", revision),
                        ("size", d.size),
                        ("open-size", d.open_size),
                    ] {
                        w.create_element(name)
                            .write_text_content(BytesText::new(&value.to_string()))?;
                    }
                    Ok(())
                })?;
        }
        Ok(())
    };
    // Writing into a Vec cannot fail.
    let _ = w
        .create_element("repomd")
        .with_attributes([
            ("xmlns", "http://linux.duke.edu/metadata/repo"),
            ("xmlns:rpm", "http://linux.duke.edu/metadata/rpm"),
        ])
        .write_inner_content(body);
    let mut inner = w.into_inner();
    // Kept `<data>` elements of other kinds go before the closing tag, as they were.
    if !extra.is_empty() {
        let close = b"\n</repomd>";
        let at = inner.len() - close.len();
        let tail = inner.split_off(at);
        for e in extra {
            inner.extend_from_slice(b"\n  ");
            inner.extend_from_slice(e);
        }
        inner.extend_from_slice(&tail);
    }
    let mut out = br#"<?xml version="1.0" encoding="UTF-8"?>"#.to_vec();
    out.push(b'\n');
    out.extend_from_slice(&inner);
    out.push(b'\n');
    out
}

/// Deletes metadata files of ours that neither the new nor the previous repomd.xml names (the
/// previous generation stays for clients that read the previous repomd.xml just before this
/// update). Other files in `repodata/` are left alone.
pub fn prune(repodata: &Path, keep: &BTreeSet<String>) -> Result<()> {
    let entries = match std::fs::read_dir(repodata) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("failed to list `{}`", repodata.display()))
        }
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.split_once('-').is_some_and(|(hash, rest)| {
            hash.len() == 64
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && DOCUMENTS
                    .iter()
                    .any(|(k, _, _)| rest == format!("{k}.xml.gz"))
        });
        if ours && !keep.contains(&format!("repodata/{name}")) {
            let path = e.path();
            std::fs::remove_file(&path)
                .with_context(|| format!("failed to delete `{}`", path.display()))?;
        }
    }
    Ok(())
}
