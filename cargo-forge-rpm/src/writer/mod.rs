//! Writing an `.rpm` file: lead, signature header, header, compressed cpio payload.
//!
//! Hand-written rather than through the `rpm` crate (rpm-rs, what cargo-generate-rpm uses):
//! that crate reads every file whole into memory (`with_file`) and builds the compressed payload
//! in memory, while our rule is that memory must not grow with the payload.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

mod sign;

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
    let _ = (pkg, out, signer);
    anyhow::bail!("writing rpm packages is not implemented yet")
}
