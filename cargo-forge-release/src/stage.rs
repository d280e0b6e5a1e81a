//! The staged release: every artifact built, checksummed and signed in a staging directory
//! before anything is published. Hosts publish from it and only from it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What an asset is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AssetKind {
    Archive,
    Deb,
    Checksums,
    Signature,
    Sbom,
}

/// One file of the release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StagedImage {
    /// The package it is the image of.
    #[serde(default)]
    pub package: String,
    /// The OCI layout holding the image (every platform of the plan, or one in a `build`
    /// phase's part).
    pub layout: PathBuf,
    /// The tag under which it is in the layout.
    pub layout_tag: String,
    /// Index (or manifest) digest.
    pub digest: String,
    /// The tags a registry gets (names, without the repository), in order.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What each moving tag of `tags` follows (absent: fixed).
    #[serde(default)]
    pub tracks: std::collections::BTreeMap<String, cargo_forge_image::tags::Track>,
    /// The image's annotations (for the index `merge` makes of pushed platforms).
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

fn latest() -> String {
    "latest".into()
}

/// Everything a host needs to publish: one release (a tag), or one `build` phase's part of it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Staged {
    /// The release's packages, joined with `, ` (for messages and pointers' contents).
    pub package: String,
    /// The packages it holds.
    #[serde(default)]
    pub packages: Vec<String>,
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
    /// `tag-format` with `{{name}}` replaced: the tags of this release line
    /// (`crate::version::version_of_tag` reads their versions).
    #[serde(default)]
    pub tag_template: String,
    /// The name of the `latest` pointers (`latest`, or `<package>-latest`).
    #[serde(default = "latest")]
    pub latest: String,
    /// A `build` phase's part: the target it holds.
    #[serde(default)]
    pub target: Option<String>,
}

impl Staged {
    /// A release with nothing staged yet, for describing what hosts will do with it.
    pub fn described(
        unit: &crate::plan::UnitPlan,
        version: &str,
        commit: Option<String>,
    ) -> Staged {
        Staged {
            package: unit.packages.join(", "),
            packages: unit.packages.clone(),
            version: version.to_string(),
            tag: unit.tag.clone(),
            prerelease: semver::Version::parse(version).is_ok_and(|v| !v.pre.is_empty()),
            commit,
            dir: PathBuf::new(),
            assets: Vec::new(),
            image: None,
            notes: unit.notes.clone(),
            tag_template: unit.tag_template.clone(),
            latest: unit.latest.clone(),
            target: None,
        }
    }

    /// The version of one of this release line's tags.
    pub fn version_of(&self, tag: &str) -> Option<semver::Version> {
        crate::version::version_of_tag(&self.tag_template, tag)
    }

    /// Whether this release is the highest stable version among `tags` (the tags of releases a
    /// host holds; other lines' tags are ignored): whether its `latest` pointer moves.
    pub fn is_latest_among<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> bool {
        let Ok(ours) = semver::Version::parse(&self.version) else {
            return false;
        };
        let held: Vec<semver::Version> = tags
            .into_iter()
            .filter_map(|t| self.version_of(t))
            .collect();
        crate::version::is_highest(&ours, &held)
    }

    pub fn assets_of(&self, kind: AssetKind) -> impl Iterator<Item = &Asset> {
        self.assets.iter().filter(move |a| a.kind == kind)
    }
}
