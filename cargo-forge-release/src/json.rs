//! The documents `cargo forge-release --message-format json` prints (see
//! [`forge_core::json`]): the release plan (`plan.json` is that document too), the plan written
//! by `plan`, the plan and staged files of `--stage-only`, the releases published, and what the phases
//! `build`, `push-image`, `merge` and `ci` did. Each is one type, so the schema generated from it
//! (`docs/schemas/`) is what the command prints.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use forge_core::json::{schema_of, Document};

use crate::plan::ReleasePlan;
use crate::stage::{Asset, Staged};

/// `plan.json`, the contract between the phases.
impl Document for ReleasePlan {
    const SCHEMA: &'static str = crate::plan::SCHEMA;
}

/// `cargo forge-release plan`: where the plan was written, and the plan.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlannedDocument {
    /// The `plan.json` written.
    pub path: PathBuf,
    /// Its content.
    pub plan: ReleasePlan,
}

impl Document for PlannedDocument {
    const SCHEMA: &'static str = "cargo-forge/release-planned/v1";
}

/// `cargo forge-release VERSION --stage-only`: the plan, and each release's files as staged
/// (built, checksummed and signed; nothing published). (`--dry-run` prints the plan alone, as a
/// `release-plan` document: nothing is built.)
#[derive(Debug, Serialize, JsonSchema)]
pub struct StagedDocument {
    pub plan: ReleasePlan,
    /// One per release of the plan, in its order.
    pub staged: Vec<Staged>,
}

impl Document for StagedDocument {
    const SCHEMA: &'static str = "cargo-forge/release-staged/v1";
}

/// The releases a run published.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedDocument {
    /// The version released (without `v`).
    pub version: String,
    pub releases: Vec<PublishedRelease>,
}

impl Document for PublishedDocument {
    const SCHEMA: &'static str = "cargo-forge/release-published/v1";
}

/// One release published: its tag, packages and files.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedRelease {
    pub tag: String,
    pub packages: Vec<String>,
    pub assets: Vec<Asset>,
}

/// `cargo forge-release build`: what it staged, one part per package and target (each part's
/// `staged.json`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct BuiltDocument {
    pub staged: Vec<Staged>,
}

impl Document for BuiltDocument {
    const SCHEMA: &'static str = "cargo-forge/release-built/v1";
}

/// `cargo forge-release push-image`: the digest files written, one per platform image and
/// registry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DigestsDocument {
    pub digest_files: Vec<WrittenDigestFile>,
}

impl Document for DigestsDocument {
    const SCHEMA: &'static str = "cargo-forge/release-digests/v1";
}

/// One digest file written by `push-image`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WrittenDigestFile {
    /// The file (its content is the digest file of `cargo forge-image --push-by-digest`).
    pub path: PathBuf,
    /// The platform manifest's digest.
    pub digest: String,
    /// `registry/repository`.
    pub repository: String,
    /// `linux/arm64`.
    pub platform: String,
}

/// `cargo forge-release merge`: each image index pushed, with its tags.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MergedDocument {
    pub images: Vec<MergedImage>,
}

impl Document for MergedDocument {
    const SCHEMA: &'static str = "cargo-forge/release-merged/v1";
}

/// One image index `merge` pushed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MergedImage {
    /// The package it is the image of.
    pub package: String,
    /// The `oci` host's repository.
    pub repository: String,
    /// The index's digest.
    pub digest: String,
    /// References pushed as tags (`registry/repo:tag@sha256:…`); tags that must not move are
    /// left out.
    pub pushed: Vec<String>,
}

/// `cargo forge-release ci`: the workflow file.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CiDocument {
    /// The workflow file.
    pub path: PathBuf,
    /// `true`: written; `false`: checked, and up to date (`--check`).
    pub written: bool,
}

impl Document for CiDocument {
    const SCHEMA: &'static str = "cargo-forge/release-ci/v1";
}

/// The schema of every document of `cargo forge-release`.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (ReleasePlan::SCHEMA, schema_of::<ReleasePlan>()),
        (PlannedDocument::SCHEMA, schema_of::<PlannedDocument>()),
        (StagedDocument::SCHEMA, schema_of::<StagedDocument>()),
        (PublishedDocument::SCHEMA, schema_of::<PublishedDocument>()),
        (BuiltDocument::SCHEMA, schema_of::<BuiltDocument>()),
        (DigestsDocument::SCHEMA, schema_of::<DigestsDocument>()),
        (MergedDocument::SCHEMA, schema_of::<MergedDocument>()),
        (CiDocument::SCHEMA, schema_of::<CiDocument>()),
    ]
}
