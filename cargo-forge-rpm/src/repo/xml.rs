//! The three package documents of repodata — `primary.xml` (what dnf resolves with), and
//! `filelists.xml` and `other.xml` (file lists and changelogs, fetched on demand) — written and read
//! back.
//!
//! Each package is rendered once, as three `<package>` fragments (quick-xml's writer does the
//! escaping), and a document is its fixed envelope around the fragments of every package. Reading a
//! previous document back splits it into the same fragments, byte for byte, so an update copies the
//! fragments of the packages it keeps instead of opening those packages again
//! (`createrepo_c --update` reuses its previous metadata the same way): the cost of an update
//! follows the packages added, not the size of the repository, and a repository updated package by
//! package is byte-identical to one written at once.
//!
//! The envelopes, namespaces and element order are createrepo_c's; primary.xml lists the subset of
//! files createrepo_c lists there ([`is_primary_file`]), filelists.xml all of them; other.xml holds
//! the newest [`CHANGELOG_LIMIT`] changelog entries, oldest first, as createrepo_c's default does.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use quick_xml::events::{BytesText, Event};
use quick_xml::Writer;

use super::rpmfile::{split_evr, Dep, FileKind, RpmInfo};

/// How many changelog entries other.xml keeps per package (createrepo_c's default).
pub const CHANGELOG_LIMIT: usize = 10;

/// The three documents: (type in repomd.xml, root element, namespaces).
pub const DOCUMENTS: [(&str, &str, &str); 3] = [
    (
        "primary",
        "metadata",
        r#"xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm""#,
    ),
    (
        "filelists",
        "filelists",
        r#"xmlns="http://linux.duke.edu/metadata/filelists""#,
    ),
    (
        "other",
        "otherdata",
        r#"xmlns="http://linux.duke.edu/metadata/other""#,
    ),
];

/// Whether primary.xml lists `path` (createrepo_c's rule: configuration under `/etc/`, anything
/// in a `bin/` directory, and `/usr/lib/sendmail`), so that dependencies on such paths resolve
/// without filelists.xml.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// One package of the repository: the facts an update needs, and its three fragments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// SHA-256 of the package file.
    pub pkgid: String,
    pub name: String,
    pub arch: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    /// Where the package is, relative to the repository root.
    pub location: String,
    /// The package file's size and modification time (what says it is unchanged).
    pub size: u64,
    pub file_time: u64,
    /// The `<package>` elements of primary.xml, filelists.xml and other.xml.
    pub fragments: [Vec<u8>; 3],
}

impl Entry {
    /// `name epoch:version-release (arch)` for messages (no epoch when 0).
    pub fn nevra(&self) -> String {
        super::rpmfile::nevra(
            &self.name,
            &self.epoch,
            &self.version,
            &self.release,
            &self.arch,
        )
    }
}

/// What is not allowed in an XML 1.0 document (control characters other than tab and newlines)
/// is left out, as createrepo_c does: a package description must not make the repository
/// unreadable.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') || c == '\u{FFFE}';
    if s.chars().any(bad) {
        s.chars().filter(|c| !bad(*c)).collect::<String>().into()
    } else {
        s.into()
    }
}

type W = Writer<Vec<u8>>;

fn text(w: &mut W, name: &str, value: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&clean(value)))?;
    Ok(())
}

fn version_el(w: &mut W, e: &Entry) -> std::io::Result<()> {
    w.create_element("version")
        .with_attributes([
            ("epoch", e.epoch.as_str()),
            ("ver", e.version.as_str()),
            ("rel", e.release.as_str()),
        ])
        .write_empty()?;
    Ok(())
}

fn file_el(w: &mut W, path: &str, kind: FileKind) -> std::io::Result<()> {
    let el = w.create_element("file");
    let el = match kind {
        FileKind::File => el,
        FileKind::Dir => el.with_attribute(("type", "dir")),
        FileKind::Ghost => el.with_attribute(("type", "ghost")),
    };
    el.write_text_content(BytesText::new(&clean(path)))?;
    Ok(())
}

fn dep_el(w: &mut W, kind: &str, d: &Dep) -> std::io::Result<()> {
    let name = clean(&d.name);
    let mut el = w
        .create_element("rpm:entry")
        .with_attribute(("name", name.as_ref()));
    if !d.flags.is_empty() {
        el = el.with_attribute(("flags", d.flags));
    }
    if !d.version.is_empty() {
        let (epoch, ver, rel) = split_evr(&d.version);
        el = el
            .with_attribute(("epoch", epoch.as_str()))
            .with_attribute(("ver", ver.as_str()));
        if let Some(rel) = &rel {
            el = el.with_attribute(("rel", rel.as_str()));
        }
    }
    if kind == "requires" && d.pre {
        el = el.with_attribute(("pre", "1"));
    }
    el.write_empty()?;
    Ok(())
}

/// Renders a package read from `location` (whose file has `sha256`, `size` and `file_time`).
pub fn render(info: &RpmInfo, sha256: &str, location: &str, size: u64, file_time: u64) -> Entry {
    let mut e = Entry {
        pkgid: sha256.to_string(),
        name: info.name.clone(),
        arch: info.arch.clone(),
        epoch: info.epoch.to_string(),
        version: info.version.clone(),
        release: info.release.clone(),
        location: location.to_string(),
        size,
        file_time,
        fragments: Default::default(),
    };
    // Writing into a Vec cannot fail.
    let primary = render_primary(&e, info).unwrap_or_default();
    let filelists = render_filelists(&e, info).unwrap_or_default();
    let other = render_other(&e, info).unwrap_or_default();
    e.fragments = [primary, filelists, other];
    e
}

fn render_primary(e: &Entry, info: &RpmInfo) -> std::io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.create_element("package")
        .with_attribute(("type", "rpm"))
        .write_inner_content(|w| {
            text(w, "name", &e.name)?;
            text(w, "arch", &e.arch)?;
            version_el(w, e)?;
            w.create_element("checksum")
                .with_attributes([("type", "sha256"), ("pkgid", "YES")])
                .write_text_content(BytesText::new(&e.pkgid))?;
            text(w, "summary", &info.summary)?;
            text(w, "description", &info.description)?;
            text(w, "packager", &info.packager)?;
            text(w, "url", &info.url)?;
            w.create_element("time")
                .with_attributes([
                    ("file", e.file_time.to_string().as_str()),
                    ("build", info.build_time.to_string().as_str()),
                ])
                .write_empty()?;
            w.create_element("size")
                .with_attributes([
                    ("package", e.size.to_string().as_str()),
                    ("installed", info.installed_size.to_string().as_str()),
                    ("archive", info.archive_size.to_string().as_str()),
                ])
                .write_empty()?;
            w.create_element("location")
                .with_attribute(("href", e.location.as_str()))
                .write_empty()?;
            w.create_element("format").write_inner_content(|w| {
                text(w, "rpm:license", &info.license)?;
                text(w, "rpm:vendor", &info.vendor)?;
                text(w, "rpm:group", &info.group)?;
                text(w, "rpm:buildhost", &info.buildhost)?;
                text(w, "rpm:sourcerpm", &info.sourcerpm)?;
                w.create_element("rpm:header-range")
                    .with_attributes([
                        ("start", info.header_start.to_string().as_str()),
                        ("end", info.header_end.to_string().as_str()),
                    ])
                    .write_empty()?;
                for (kind, deps) in &info.deps {
                    if deps.is_empty() {
                        continue;
                    }
                    w.create_element(format!("rpm:{kind}"))
                        .write_inner_content(|w| {
                            deps.iter().try_for_each(|d| dep_el(w, kind, d))
                        })?;
                }
                for (path, kind) in &info.files {
                    if is_primary_file(path) {
                        file_el(w, path, *kind)?;
                    }
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(w.into_inner())
}

fn package_el<'a>(w: &'a mut W, e: &'a Entry) -> quick_xml::writer::ElementWriter<'a, Vec<u8>> {
    w.create_element("package").with_attributes([
        ("pkgid", e.pkgid.as_str()),
        ("name", e.name.as_str()),
        ("arch", e.arch.as_str()),
    ])
}

fn render_filelists(e: &Entry, info: &RpmInfo) -> std::io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    package_el(&mut w, e).write_inner_content(|w| {
        version_el(w, e)?;
        info.files
            .iter()
            .try_for_each(|(path, kind)| file_el(w, path, *kind))
    })?;
    Ok(w.into_inner())
}

fn render_other(e: &Entry, info: &RpmInfo) -> std::io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    package_el(&mut w, e).write_inner_content(|w| {
        version_el(w, e)?;
        let newest = &info.changelogs[..info.changelogs.len().min(CHANGELOG_LIMIT)];
        for c in newest.iter().rev() {
            w.create_element("changelog")
                .with_attributes([
                    ("author", clean(&c.author).as_ref()),
                    ("date", c.date.to_string().as_str()),
                ])
                .write_text_content(BytesText::new(&clean(&c.text)))?;
        }
        Ok(())
    })?;
    Ok(w.into_inner())
}

/// Writes document `index` (of [`DOCUMENTS`]) of `entries` to `out`.
pub fn write_document(
    out: &mut impl Write,
    index: usize,
    entries: &[&Entry],
) -> std::io::Result<()> {
    let (_, root, ns) = DOCUMENTS[index];
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, r#"<{root} {ns} packages="{}">"#, entries.len())?;
    for e in entries {
        out.write_all(&e.fragments[index])?;
        out.write_all(b"\n")?;
    }
    writeln!(out, "</{root}>")
}

/// The `<package>` fragments of a previous document, in order, each with the attributes and
/// element texts an update reads from it.
pub struct Fragment {
    pub bytes: Vec<u8>,
    /// Attributes of the `<package>` element (`pkgid` in filelists and other).
    pub attrs: HashMap<String, String>,
    /// `element/attribute` (and `element` for text) of its direct children, e.g. `version/ver`,
    /// `location/href`, `checksum`.
    pub fields: HashMap<String, String>,
}

/// Splits a previous document into the fragments of its `element` children of the root (bytes as
/// they are in the document): `package` in the package documents, `data` in repomd.xml.
pub fn split_document(doc: &[u8], element: &str, what: &str) -> Result<Vec<Fragment>> {
    let mut reader = quick_xml::Reader::from_reader(doc);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut current: Option<(usize, Fragment)> = None;
    let mut child: Option<String> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event_into(&mut buf)
            .with_context(|| format!("{what} is not valid XML (at byte {before})"))?;
        let attrs = |e: &quick_xml::events::BytesStart| -> HashMap<String, String> {
            e.attributes()
                .flatten()
                .map(|a| {
                    let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    (key, value)
                })
                .collect()
        };
        match event {
            Event::Start(e) => {
                depth += 1;
                if depth == 2 && e.name().as_ref() == element.as_bytes() {
                    let frag = Fragment {
                        bytes: Vec::new(),
                        attrs: attrs(&e),
                        fields: HashMap::new(),
                    };
                    current = Some((before, frag));
                } else if depth == 3 {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if let Some((_, frag)) = &mut current {
                        for (k, v) in attrs(&e) {
                            frag.fields.insert(format!("{name}/{k}"), v);
                        }
                    }
                    child = Some(name);
                }
            }
            Event::Empty(e) if depth == 2 => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if let Some((_, frag)) = &mut current {
                    for (k, v) in attrs(&e) {
                        frag.fields.insert(format!("{name}/{k}"), v);
                    }
                }
            }
            Event::Text(t) if depth == 3 => {
                if let (Some((_, frag)), Some(name)) = (&mut current, &child) {
                    let value = t.decode().map(|v| v.into_owned()).unwrap_or_default();
                    frag.fields
                        .entry(name.clone())
                        .or_default()
                        .push_str(&value);
                }
            }
            Event::End(e) => {
                if depth == 2 && e.name().as_ref() == element.as_bytes() {
                    if let Some((start, mut frag)) = current.take() {
                        let end = reader.buffer_position() as usize;
                        frag.bytes = doc.get(start..end).unwrap_or_default().to_vec();
                        out.push(frag);
                    }
                }
                if depth == 3 {
                    child = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// The entries of a previous repository from its three documents: primary.xml gives the packages,
/// filelists.xml and other.xml their other fragments (by `pkgid`). A package missing from one of
/// them is left out (it will be read again if it is still in the repository).
pub fn entries_from_documents(docs: &[Vec<u8>; 3]) -> Result<Vec<Entry>> {
    let primary = split_document(&docs[0], "package", "the previous primary.xml")?;
    let mut others: [HashMap<String, Vec<u8>>; 2] = Default::default();
    for (i, map) in others.iter_mut().enumerate() {
        let what = format!("the previous {}.xml", DOCUMENTS[i + 1].0);
        for frag in split_document(&docs[i + 1], "package", &what)? {
            if let Some(id) = frag.attrs.get("pkgid") {
                map.insert(id.clone(), frag.bytes);
            }
        }
    }
    let mut out = Vec::new();
    for frag in primary {
        let f = |k: &str| frag.fields.get(k).cloned().unwrap_or_default();
        let num = |k: &str| f(k).parse::<u64>().ok();
        let pkgid = f("checksum");
        let (Some(size), Some(file_time)) = (num("size/package"), num("time/file")) else {
            continue;
        };
        let (Some(fl), Some(ot)) = (others[0].remove(&pkgid), others[1].remove(&pkgid)) else {
            continue;
        };
        out.push(Entry {
            pkgid,
            name: f("name"),
            arch: f("arch"),
            epoch: f("version/epoch"),
            version: f("version/ver"),
            release: f("version/rel"),
            location: f("location/href"),
            size,
            file_time,
            fragments: [frag.bytes, fl, ot],
        });
    }
    Ok(out)
}
