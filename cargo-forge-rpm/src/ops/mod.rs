//! `cargo forge-rpm`: plan, then execute.
//!
//! The plan is forge-deb's plan ([`cargo_forge_deb::ops::plan_request`]: the build, the
//! targets, the profile, `SOURCE_DATE_EPOCH`, the resolved `[package.metadata.deb]`) with one
//! [`RpmJob`] per package and target on top (name, epoch, version, release, arch, output path,
//! and the merged `[package.metadata.generate-rpm]` when the package has one). Sharing it is
//! what makes "one packaging model": the same binaries, assets, conf files and units go into the
//! `.deb` and the `.rpm`. It is serialisable and made without side effects, so `--dry-run`
//! prints it.
//!
//! [`execute`] builds (or finds the binaries with `--no-build`) through forge-deb's
//! [`cargo_forge_deb::ops::artifacts`], turns every job into an [`crate::writer::RpmPackage`]
//! ([`package`]), writes it (signed when asked), then runs rpmlint with `--lint`.

mod execute;
pub mod files;
pub mod package;
mod plan;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use cargo_forge_deb::ops::DebPlan;

use crate::metadata::GenerateRpmMetadata;

pub use execute::{execute, report_gha};
pub use plan::{plan, rpm_version, OUTPUT_DIR};

/// One package to produce.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RpmJob {
    /// The index of the job in `deb.packages` this package is made from (its crate, target,
    /// `[package.metadata.deb]`).
    pub deb_job: usize,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    /// The RPM architecture (`x86_64`, `aarch64`, `armv7hl`, ...).
    pub arch: String,
    pub output: PathBuf,
    /// `[package.metadata.generate-rpm]` with the overwrites applied; `None`: the package is
    /// derived from `[package.metadata.deb]` and Cargo.toml.
    pub generate_rpm: Option<GenerateRpmMetadata>,
}

impl RpmJob {
    /// `NAME-[EPOCH:]VERSION-RELEASE`.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }
}

/// Payload compression.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct PayloadCompression {
    /// `zstd`, `xz`, `gzip` or `none`.
    pub format: PayloadFormat,
    pub level: u32,
}

/// A payload compression format.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    Zstd,
    Xz,
    Gzip,
    None,
}

impl PayloadCompression {
    /// The writer's form.
    pub fn writer(self) -> crate::writer::Compression {
        use crate::writer::Compression;
        match self.format {
            PayloadFormat::Zstd => Compression::Zstd(self.level),
            PayloadFormat::Xz => Compression::Xz(self.level),
            PayloadFormat::Gzip => Compression::Gzip(self.level),
            PayloadFormat::None => Compression::None,
        }
    }
}

/// The whole run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RpmPlan {
    /// The build and the packages as forge-deb plans them (the same binaries and files).
    pub deb: DebPlan,
    pub packages: Vec<RpmJob>,
    pub compression: PayloadCompression,
    /// `--auto-req no`: no requires from the ELF files, whatever the table says.
    pub no_auto_req: bool,
    pub lint: bool,
    pub sign: bool,
    pub sign_key: Option<String>,
}

/// A produced package, for JSON output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Produced {
    pub package: String,
    /// `[EPOCH:]VERSION-RELEASE`.
    pub version: String,
    pub architecture: String,
    pub target: Option<String>,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// The `Requires` of the package, as `rpm -qp --requires` prints them.
    pub requires: Vec<String>,
}
