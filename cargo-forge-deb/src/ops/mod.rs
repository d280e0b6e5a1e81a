//! `cargo forge-deb`: plan, then execute.
//!
//! [`plan`] reads the workspace and metadata, resolves settings and decides the build, the
//! packages (one per selected package and target) and their output paths — with no side
//! effects, so `--dry-run` and `--message-format json` can print it. [`execute`] builds (unless
//! `--no-build`), then for each package resolves assets, generates the documentation files,
//! computes `Depends`, strips binaries, writes the `.deb` atomically, and optionally signs, lints
//! and install-tests it. Produced paths go to stdout, one per line.
//!
//! Other commands package too (`cargo forge-release`, `cargo forge-image` with `from-deb`):
//! they call [`plan_request`] with a [`DebRequest`] (the library form of the flags) on the
//! workspace they loaded, keep the [`DebPlan`] in their own plan (it is serialisable both ways,
//! so a release plan written by one machine is executed by another), and run it with
//! [`execute_with`] on the binaries they built.
//!
//! The module is shaped as the run is: [`plan`] (settings to [`DebPlan`]), [`execute`] (build,
//! package every job, then sign, lint, install-test), and [`package`] — the packaging pipeline
//! of one `.deb`, its steps in order in one function, each step a function of its own.

pub(crate) mod execute;
/// Public for forge-rpm, which strips binaries and finds the README as forge-deb does.
pub mod package;
mod plan;

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::build::BuildPlan;
use forge_core::project::Project;
use forge_core::target::TargetInfo;
use forge_core::toolchain::Toolchain;

use crate::manifest::{DebMetadata, ForgeDebConfig};
use crate::writer::CompressionSettings;

pub use execute::{artifacts, execute, execute_with, report_gha};
pub use plan::{output_path, plan, plan_request, DebRequest};

/// One package to produce.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageJob {
    /// The Cargo package.
    pub crate_name: String,
    pub crate_version: String,
    pub manifest: PathBuf,
    pub package_dir: PathBuf,
    /// `None`: the host, built without `--target`.
    pub target: Option<TargetInfo>,
    /// The Debian package name and version.
    pub name: String,
    pub version: String,
    /// The architecture if binaries are packaged (`all` is decided once assets are known).
    pub arch: String,
    pub output: PathBuf,
    pub metadata: DebMetadata,
    pub forge: ForgeDebConfig,
}

/// The whole run.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DebPlan {
    pub toolchain: Toolchain,
    pub profile: String,
    pub target_dir: PathBuf,
    pub source_date_epoch: u64,
    /// `None` with `--no-build`. A build's command lines belong to the machine that planned
    /// them (paths, cross environment), so a plan read back has none: its executor supplies the
    /// binaries ([`execute_with`]).
    #[serde(skip_deserializing)]
    pub build: Option<BuildPlan>,
    pub packages: Vec<PackageJob>,
    pub compression: CompressionSettings,
    pub strip: bool,
    pub lint: bool,
    pub install_test: bool,
    pub sign: bool,
    pub sign_key: Option<String>,
    /// `Multi-Arch` (`same` or `foreign`).
    pub multiarch: Option<String>,
    /// `--runner qemu`: smoke-test built binaries before packaging.
    pub smoke_test: bool,
    /// The glibc floor (`--glibc`) the binaries were linked for, which bounds `libc6`'s version.
    pub glibc: Option<String>,
    /// How separated debug symbols are compressed when `compress-debug-symbols` is on.
    pub debug_compression: String,
}

/// A produced package, for JSON output.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Produced {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub target: Option<String>,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub depends: String,
    /// The `-dbgsym` package, when one was made.
    pub dbgsym: Option<PathBuf>,
}

/// The Cargo package a job packages.
fn job_package<'a>(project: &'a Project, job: &PackageJob) -> Result<&'a cargo_metadata::Package> {
    project.package_by_manifest(&job.manifest).with_context(|| {
        format!(
            "package `{}` (`{}`) is not in the workspace",
            job.crate_name,
            job.manifest.display()
        )
    })
}
