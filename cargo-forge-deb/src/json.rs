//! The documents `cargo forge-deb --message-format json` prints (see [`forge_core::json`]):
//! the plan with `--dry-run`, the packages made, and the report of `repo`. Each is one type
//! here or in the module that makes it, so the schema generated from it (`docs/schemas/`) is
//! what the command prints.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use forge_core::json::{schema_of, Document};

use crate::ops::{DebPlan, Produced};
use crate::repo::RepoReport;

/// `--dry-run`: the plan, nothing built.
impl Document for DebPlan {
    const SCHEMA: &'static str = "cargo-forge/deb-plan/v1";
}

/// The packages a run made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PackagesDocument {
    /// In the order they were made (a `-dbgsym` package with its package).
    pub packages: Vec<Produced>,
}

impl Document for PackagesDocument {
    const SCHEMA: &'static str = "cargo-forge/deb-packages/v1";
}

/// `cargo forge-deb repo`: what the update did.
impl Document for RepoReport {
    const SCHEMA: &'static str = "cargo-forge/deb-repo/v1";
}

/// The schema of every document of `cargo forge-deb`.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (DebPlan::SCHEMA, schema_of::<DebPlan>()),
        (PackagesDocument::SCHEMA, schema_of::<PackagesDocument>()),
        (RepoReport::SCHEMA, schema_of::<RepoReport>()),
    ]
}
