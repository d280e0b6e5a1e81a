//! `[workspace.metadata.forge.release]` (or the package's): what a release contains and where
//! it goes.

use serde::{Deserialize, Serialize};

use crate::hosts::HostSpec;

/// The release table.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReleaseConfig {
    /// Rust targets to build (default: the host).
    pub targets: Option<Vec<String>>,
    /// `archive`, `deb`, `image` (default `["archive"]`).
    pub artifacts: Option<Vec<String>>,
    /// `tar.gz` (default), `tar.xz` or `zip`.
    pub archive_format: Option<String>,
    /// Default `v{{version}}`.
    pub tag_format: Option<String>,
    /// Branches releases may be made from (default: `main` and `master`).
    pub branches: Option<Vec<String>>,
    /// `{ gpg = "KEYID" }` and/or `{ minisign = "path/to/minisign.key" }`.
    pub sign: Option<SignConfig>,
    /// Where to publish (default: a local directory).
    pub hosts: Option<Vec<HostSpec>>,
    /// Extra files for every archive (besides README and LICENSE files).
    pub include: Option<Vec<String>>,
    /// The git remote to check and push the tag to (default `origin`).
    pub remote: Option<String>,
}

/// `sign = { … }`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SignConfig {
    /// gpg key id (signs with the user's gpg and agent): `.asc` per file.
    pub gpg: Option<String>,
    /// minisign secret key file: `.minisig` per file (password from `MINISIGN_PASSWORD`).
    pub minisign: Option<String>,
}
