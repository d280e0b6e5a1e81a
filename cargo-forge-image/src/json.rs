//! The documents `cargo forge-image --message-format json` prints (see [`forge_core::json`]):
//! the plan with `--dry-run`, the image made (and VM disk images), and the index of `merge`.
//! Each is one type, so the schema generated from it (`docs/schemas/`) is what the command
//! prints.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use forge_core::json::{schema_of, Document};

use crate::image::ImageSummary;
use crate::ops::{ImagePlan, OutputSpec};
use crate::vm::VmResult;

/// `--dry-run`: the plan, nothing built.
impl Document for ImagePlan {
    const SCHEMA: &'static str = "cargo-forge/image-plan/v1";
}

/// What a run made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ImageDocument {
    /// The OCI image (absent when only VM disk images were asked for).
    pub image: Option<ImageSummary>,
    /// References pushed (`registry/repo:tag@sha256:…`).
    pub pushed: Vec<String>,
    /// Local outputs written (`--output oci:DIR`, `docker-archive:FILE`).
    pub outputs: Vec<OutputSpec>,
    /// VM disk images (`--output qcow2:FILE`…).
    pub vm: Option<VmResult>,
}

impl Document for ImageDocument {
    const SCHEMA: &'static str = "cargo-forge/image/v1";
}

/// `cargo forge-image merge`: the index pushed and its tags.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MergeDocument {
    /// The index's digest.
    pub digest: String,
    /// References pushed (`registry/repo:tag@sha256:…`).
    pub pushed: Vec<String>,
}

impl Document for MergeDocument {
    const SCHEMA: &'static str = "cargo-forge/image-merge/v1";
}

/// The schema of every document of `cargo forge-image`.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (ImagePlan::SCHEMA, schema_of::<ImagePlan>()),
        (ImageDocument::SCHEMA, schema_of::<ImageDocument>()),
        (MergeDocument::SCHEMA, schema_of::<MergeDocument>()),
    ]
}
