//! The documents `cargo forge-rpm --message-format json` prints (see [`forge_core::json`]): the
//! plan with `--dry-run` and the packages made. Each is one type, so the schema generated from
//! it (`docs/schemas/`) is what the command prints.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use forge_core::json::{schema_of, Document};

use crate::ops::{Produced, RpmPlan};
use crate::repo::RepoReport;

/// `--dry-run`: the plan, nothing built.
impl Document for RpmPlan {
    const SCHEMA: &'static str = "cargo-forge/rpm-plan/v1";
}

/// The packages a run made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PackagesDocument {
    /// In the order they were made.
    pub packages: Vec<Produced>,
}

impl Document for PackagesDocument {
    const SCHEMA: &'static str = "cargo-forge/rpm-packages/v1";
}

/// `cargo forge-rpm repo`: what the update did.
impl Document for RepoReport {
    const SCHEMA: &'static str = "cargo-forge/rpm-repo/v1";
}

/// The schema of every document of `cargo forge-rpm`.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (RpmPlan::SCHEMA, schema_of::<RpmPlan>()),
        (PackagesDocument::SCHEMA, schema_of::<PackagesDocument>()),
        (RepoReport::SCHEMA, schema_of::<RepoReport>()),
    ]
}
