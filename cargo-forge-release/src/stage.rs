//! The staged release: every artifact built, checksummed and signed in a staging directory
//! before anything is published. Hosts publish from it and only from it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What an asset is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssetKind {
    Archive,
    Deb,
    Checksums,
    Signature,
    Sbom,
}

/// One file of the release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// File name as published (unique within the release).
    pub name: String,
    /// Where it is staged.
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    pub kind: AssetKind,
    /// The Rust target it was built for, if any.
    pub target: Option<String>,
}

impl Asset {
    /// Describes a staged file.
    pub fn of_file(path: &Path, kind: AssetKind, target: Option<String>) -> anyhow::Result<Asset> {
        Ok(Asset {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size: forge_core::fsx::metadata(path)?.len(),
            sha256: forge_core::digest::sha256_file(path)?,
            path: path.to_path_buf(),
            kind,
            target,
        })
    }

    /// MIME type for uploads.
    pub fn content_type(&self) -> &'static str {
        let n = self.name.as_str();
        if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
            "application/gzip"
        } else if n.ends_with(".tar.xz") {
            "application/x-xz"
        } else if n.ends_with(".zip") {
            "application/zip"
        } else if n.ends_with(".deb") {
            "application/vnd.debian.binary-package"
        } else if n.ends_with(".asc")
            || n.ends_with(".sig")
            || n.ends_with(".minisig")
            || n == "SHA256SUMS"
        {
            "text/plain"
        } else if n.ends_with(".json") {
            "application/json"
        } else {
            "application/octet-stream"
        }
    }
}

/// The image part of a release, when `artifacts` includes `image`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StagedImage {
    /// The OCI layout holding the multi-platform image.
    pub layout: PathBuf,
    /// The tag under which it is in the layout.
    pub layout_tag: String,
    /// Index (or manifest) digest.
    pub digest: String,
}

/// Everything a host needs to publish.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Staged {
    pub package: String,
    /// The version, without `v`.
    pub version: String,
    /// The git tag, e.g. `v1.2.3`.
    pub tag: String,
    pub prerelease: bool,
    /// The commit the tag points to.
    pub commit: Option<String>,
    /// The staging directory.
    pub dir: PathBuf,
    pub assets: Vec<Asset>,
    pub image: Option<StagedImage>,
    /// Release notes (Markdown).
    pub notes: String,
}

impl Staged {
    pub fn assets_of(&self, kind: AssetKind) -> impl Iterator<Item = &Asset> {
        self.assets.iter().filter(move |a| a.kind == kind)
    }
}
