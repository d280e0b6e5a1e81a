//! What the repository needs from an RPM file: its header fields (through the `rpm` crate's
//! [`rpm::PackageMetadata`], which reads the lead and the two headers and stops before the
//! payload), the byte range of its main header, and its SHA-256 (streamed, so memory does not grow
//! with the package).
//!
//! The fields are picked as createrepo_c picks them for `primary.xml`, `filelists.xml` and
//! `other.xml` (see [`super::xml`] for how they are written), so a repository written here and one
//! written by createrepo_c describe a package the same way.

use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result};
use forge_core::exit::{usage, ResultExt};
use rpm::{DependencyFlags, FileFlags, IndexSignatureTag, IndexTag, PackageMetadata};

/// One dependency entry (`rpm:entry`): name, comparison and version, and whether it is needed
/// before the package's scripts run (`pre`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// `EQ`, `LT`, `GT`, `LE`, `GE`, or empty (any version).
    pub flags: &'static str,
    pub version: String,
    pub pre: bool,
}

/// What a file entry is, as the repodata says it (`type=` of `<file>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

/// A changelog entry (`other.xml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changelog {
    pub author: String,
    pub date: u64,
    pub text: String,
}

/// The header fields of a binary RPM that the repodata describes.
#[derive(Clone, Debug, Default)]
pub struct RpmInfo {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    pub build_time: u64,
    pub installed_size: u64,
    pub archive_size: u64,
    /// The main header's byte range in the file (`rpm:header-range`).
    pub header_start: u64,
    pub header_end: u64,
    /// `provides`, `requires`, ... in the order primary.xml lists them.
    pub deps: Vec<(&'static str, Vec<Dep>)>,
    pub files: Vec<(String, FileKind)>,
    /// Newest first, as in the header.
    pub changelogs: Vec<Changelog>,
    /// The SHA-256 of the compressed payload the header records (rpm 4.14 and later).
    pub payload_sha256: Option<String>,
    /// Whether the signature header holds an OpenPGP signature (what dnf's `gpgcheck` checks).
    pub signed: bool,
}

impl RpmInfo {
    /// `name-version-release.arch.rpm`, the file name rpmbuild gives a package (and that it gets
    /// in the repository).
    pub fn canonical_file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    /// `name epoch:version-release (arch)` for messages (no epoch when 0).
    pub fn nevra(&self) -> String {
        nevra(
            &self.name,
            &self.epoch.to_string(),
            &self.version,
            &self.release,
            &self.arch,
        )
    }
}

/// `name epoch:version-release (arch)` for messages (no epoch when it is 0 or empty).
pub fn nevra(name: &str, epoch: &str, version: &str, release: &str, arch: &str) -> String {
    let epoch = match epoch {
        "" | "0" => String::new(),
        e => format!("{e}:"),
    };
    format!("{name} {epoch}{version}-{release} ({arch})")
}

/// Reads the headers of the RPM `path` (not its payload).
pub fn read_rpm(path: &Path) -> Result<RpmInfo> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    let meta = PackageMetadata::parse(&mut BufReader::new(file))
        .map_err(|e| {
            usage(format!(
                "`{}` is not a readable RPM package: {e}",
                path.display()
            ))
        })
        .hint("give binary packages built by `cargo forge-rpm` or rpmbuild")?;
    if meta.is_source_package() {
        return Err(usage(format!(
            "`{}` is a source package; the repository holds binary packages",
            path.display()
        )))
        .hint("leave .src.rpm files out");
    }
    from_metadata(&meta).map_err(|e| {
        usage(format!(
            "`{}` has an invalid RPM header: {e}",
            path.display()
        ))
    })
}

fn from_metadata(meta: &PackageMetadata) -> std::result::Result<RpmInfo, rpm::Error> {
    let opt = |r: std::result::Result<&str, rpm::Error>| r.map(str::to_string).unwrap_or_default();
    let h = &meta.header;
    let s = &meta.signature;
    let offsets = meta.get_package_segment_offsets();
    let archive_size = h
        .get_entry_data_as_u64(IndexTag::RPMTAG_LONGARCHIVESIZE)
        .or_else(|_| {
            h.get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE)
                .map(u64::from)
        })
        .or_else(|_| s.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE))
        .or_else(|_| {
            s.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                .map(u64::from)
        })
        .unwrap_or(0);
    let signed = [
        IndexSignatureTag::RPMSIGTAG_RSA,
        IndexSignatureTag::RPMSIGTAG_DSA,
        IndexSignatureTag::RPMSIGTAG_PGP,
        IndexSignatureTag::RPMSIGTAG_GPG,
        IndexSignatureTag::RPMSIGTAG_OPENPGP,
    ]
    .into_iter()
    .any(|t| s.entry_is_present(t as u32));
    let files = files(meta)?;
    let deps = deps(meta, &files)?;
    Ok(RpmInfo {
        name: meta.get_name()?.to_string(),
        epoch: meta.get_epoch().unwrap_or(0),
        version: meta.get_version()?.to_string(),
        release: meta.get_release()?.to_string(),
        arch: meta.get_arch()?.to_string(),
        summary: opt(meta.get_summary()),
        description: opt(meta.get_description()),
        packager: opt(meta.get_packager()),
        url: opt(meta.get_url()),
        license: opt(meta.get_license()),
        vendor: opt(meta.get_vendor()),
        group: opt(meta.get_group()),
        buildhost: opt(meta.get_build_host()),
        sourcerpm: opt(meta.get_source_rpm()),
        build_time: meta.get_build_time().unwrap_or(0),
        installed_size: meta.get_installed_size().unwrap_or(0),
        archive_size,
        header_start: offsets.header,
        header_end: offsets.payload,
        deps,
        files,
        changelogs: meta
            .get_changelog_entries()
            .unwrap_or_default()
            .into_iter()
            .map(|c| Changelog {
                author: c.name.trim_end_matches(' ').to_string(),
                date: c.timestamp,
                text: c.description,
            })
            .collect(),
        signed,
        payload_sha256: h
            .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
            .ok()
            .and_then(|v| v.first().map(|d| d.to_ascii_lowercase()))
            .filter(|d| d.len() == 64),
    })
}

/// The SHA-256 of the package file, in one streamed read that also checks the payload against
/// the digest its header records: a truncated or damaged package is refused here, not by dnf
/// on the users' machines.
pub fn hash_package(path: &Path, info: &RpmInfo) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = Sha256::new();
    let mut payload = Sha256::new();
    let mut offset = 0u64;
    forge_core::digest::read_chunks(path, |chunk| {
        file.update(chunk);
        let end = offset + chunk.len() as u64;
        if end > info.header_end {
            let skip = info.header_end.saturating_sub(offset) as usize;
            payload.update(&chunk[skip..]);
        }
        offset = end;
    })?;
    if let Some(expected) = &info.payload_sha256 {
        if hex::encode(payload.finalize()) != *expected {
            return Err(usage(format!(
                "`{}` is damaged: its payload does not match the digest its header records",
                path.display()
            )))
            .hint("the file is truncated or corrupted: build or download it again");
        }
    }
    Ok(hex::encode(file.finalize()))
}

fn files(meta: &PackageMetadata) -> std::result::Result<Vec<(String, FileKind)>, rpm::Error> {
    let h = &meta.header;
    let basenames = match h.get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES) {
        Ok(b) => b,
        Err(rpm::Error::TagNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let dirnames = h.get_entry_data_as_string_array(IndexTag::RPMTAG_DIRNAMES)?;
    let dirindexes = h.get_entry_data_as_u32_array(IndexTag::RPMTAG_DIRINDEXES)?;
    let modes = h.get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)?;
    let flags = h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)?;
    let mut out = Vec::with_capacity(basenames.len());
    for (i, base) in basenames.iter().enumerate() {
        let dir = dirindexes
            .get(i)
            .and_then(|d| dirnames.get(*d as usize))
            .ok_or(rpm::Error::TagNotFound(IndexTag::RPMTAG_DIRINDEXES as u32))?;
        let mode = modes.get(i).copied().unwrap_or(0);
        let flag = FileFlags::from_bits_retain(flags.get(i).copied().unwrap_or(0));
        let kind = if u32::from(mode) & 0o170000 == 0o040000 {
            FileKind::Dir
        } else if flag.contains(FileFlags::GHOST) {
            FileKind::Ghost
        } else {
            FileKind::File
        };
        out.push((format!("{dir}{base}"), kind));
    }
    Ok(out)
}

/// The dependency lists, filtered as createrepo_c filters them: `rpmlib(...)` requirements are
/// dropped (rpm itself checks them), and so are requirements on a file the package holds when
/// that file is listed in primary.xml, requirements on something the package provides, and
/// repeated requirements.
fn deps(
    meta: &PackageMetadata,
    files: &[(String, FileKind)],
) -> std::result::Result<Vec<(&'static str, Vec<Dep>)>, rpm::Error> {
    let provides = meta.get_provides()?;
    let provided: std::collections::HashSet<&str> =
        provides.iter().map(|d| d.name.as_str()).collect();
    let own_files: std::collections::HashSet<&str> =
        files.iter().map(|(p, _)| p.as_str()).collect();
    let mut requires = Vec::new();
    let mut last: std::collections::HashMap<String, Dep> = std::collections::HashMap::new();
    let mut libc: Option<Dep> = None;
    for d in meta.get_requires()? {
        if d.name.starts_with("rpmlib(")
            || (own_files.contains(d.name.as_str()) && super::xml::is_primary_file(&d.name))
            || provided.contains(d.name.as_str())
        {
            continue;
        }
        // Of the C library's requirements only the highest symbol version stays, listed last
        // (createrepo_c's rule: glibc provides every lower one with it).
        if d.name.starts_with("libc.so.6") {
            if libc
                .as_ref()
                .is_none_or(|l: &Dep| glibc_version(&d.name) > glibc_version(&l.name))
            {
                libc = Some(to_dep(&d));
            }
            continue;
        }
        // A repeat of the latest entry of the same name is left out (createrepo_c's rule: an
        // entry that differs from it, e.g. by `pre`, stays, even if an earlier one was equal).
        let dep = to_dep(&d);
        if last.get(dep.name.as_str()) != Some(&dep) {
            last.insert(dep.name.clone(), dep.clone());
            requires.push(dep);
        }
    }
    requires.extend(libc);
    let list = |v: Vec<rpm::Dependency>| v.iter().map(to_dep).collect::<Vec<_>>();
    Ok(vec![
        ("provides", list(provides)),
        ("requires", requires),
        ("conflicts", list(meta.get_conflicts()?)),
        ("obsoletes", list(meta.get_obsoletes()?)),
        ("suggests", list(meta.get_suggests()?)),
        ("enhances", list(meta.get_enhances()?)),
        ("recommends", list(meta.get_recommends()?)),
        ("supplements", list(meta.get_supplements()?)),
    ])
}

/// The numbers of `GLIBC_2.34` in `libc.so.6(GLIBC_2.34)(64bit)`; empty for `libc.so.6()(64bit)`.
pub(super) fn glibc_version(name: &str) -> Vec<u64> {
    name.split_once("(GLIBC_")
        .and_then(|(_, rest)| rest.split(')').next())
        .map(|v| v.split('.').map(|n| n.parse().unwrap_or(0)).collect())
        .unwrap_or_default()
}

fn to_dep(d: &rpm::Dependency) -> Dep {
    let cmp = d.flags & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL);
    let flags = if cmp == DependencyFlags::EQUAL {
        "EQ"
    } else if cmp == DependencyFlags::LESS {
        "LT"
    } else if cmp == DependencyFlags::GREATER {
        "GT"
    } else if cmp == DependencyFlags::LE {
        "LE"
    } else if cmp == DependencyFlags::GE {
        "GE"
    } else {
        ""
    };
    let pre = d.flags.intersects(
        DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST,
    );
    Dep {
        name: d.name.clone(),
        flags,
        version: d.version.clone(),
        pre,
    }
}

/// `[epoch:]version[-release]` split as createrepo_c splits it: epoch `0` when absent, release
/// `None` when absent.
pub fn split_evr(evr: &str) -> (String, String, Option<String>) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.to_string(), rest)
        }
        _ => ("0".to_string(), evr),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v.to_string(), Some(r.to_string())),
        None => (epoch, rest.to_string(), None),
    }
}
