//! The release plan: every decision of a release, made once, as one versioned JSON document —
//! the contract between the phases (as cargo-dist's dist-manifest is).
//!
//! [`make`] resolves everything without side effects and without reading a secret: the version
//! and the packages, the configuration layers (workspace, package, command line), per package
//! the targets with their backend, toolchain and glibc floor, the archive, SBOM, `.deb` and
//! image sub-plans (made by the deb and image libraries from their request types, so their
//! configuration errors are reported here, before anything is built), and per release — one
//! tag, with the packages it holds — the hosts with what each will publish, the signing and the
//! git tag. Every problem is reported together.
//!
//! `cargo forge-release plan` writes it as `plan.json` ([`SCHEMA`]); `build`, `push-image`,
//! `publish` and `merge` read it back ([`read`]) and execute exactly it, refusing a plan made
//! for another commit or by another cargo-forge version ([`ReleasePlan::check_here`]). The
//! one-shot `cargo forge-release VERSION` makes the same plan and runs it in one process.
//!
//! What depends on the machine stays out of the decisions or is re-resolved where it runs: a
//! toolchain is recorded by its name (`/usr`, `stable`, none for the cargo running us) and
//! resolved by the phase that builds; `backend = "auto"` is decided by the machine that builds
//! (a native arm64 runner and a cross-compiling x86 one pick differently); paths are those of
//! the planning checkout, and a phase on a checkout elsewhere maps them to its own
//! ([`rebase`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::cli::BackendChoice;
use forge_core::exit::{usage, ResultExt};
use forge_core::project::Project;

use crate::artifacts::ArchiveFormat;
use crate::config::SignConfig;
use crate::hosts::HostSpec;

mod make;

pub use make::{check_git, make, PlanSettings, Request, Toolchains};

/// The `schema` of `plan.json`.
pub const SCHEMA: &str = "cargo-forge/release-plan/v1";

/// The version of cargo-forge that makes and executes plans.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The release, decided: `plan.json`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleasePlan {
    /// [`SCHEMA`].
    pub schema: String,
    /// The cargo-forge that made the plan; only the same version executes it.
    pub cargo_forge_version: String,
    /// `HEAD` when planned (`None` outside git); the phases refuse another commit.
    pub commit: Option<String>,
    /// The version released (without `v`).
    pub version: String,
    pub prerelease: bool,
    /// `--bump`: the packages are set to `version` and committed before building (one-shot).
    pub bump: bool,
    /// The planning checkout's workspace root and target directory (see [`rebase`]).
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    /// Every archive's and package's timestamps.
    pub source_date_epoch: u64,
    /// Attempts per HTTP request (the `retries` setting; `--retries` of a phase overrides it).
    pub retries: u32,
    /// What is built, per package.
    pub packages: Vec<PackagePlan>,
    /// What is published: one release per tag.
    pub releases: Vec<UnitPlan>,
}

/// One package of the release: what is built and staged.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackagePlan {
    pub name: String,
    pub manifest_path: PathBuf,
    /// The tag of the release it is part of.
    pub tag: String,
    /// `archive`, `deb`, `image`.
    pub artifacts: Vec<String>,
    pub archive_format: ArchiveFormat,
    /// A CycloneDX SBOM per target.
    pub sbom: bool,
    /// Extra files of every archive.
    pub include: Vec<PathBuf>,
    pub profile: String,
    pub features: Features,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    /// `--no-build`: stage the binaries already built.
    pub no_build: bool,
    pub targets: Vec<TargetPlan>,
    /// The `.deb` packages, as `cargo forge-deb` plans them (every target).
    pub deb: Option<cargo_forge_deb::ops::DebPlan>,
    /// The image, as `cargo forge-image` plans it (every platform), tagged for the release's
    /// first `oci` host.
    pub image: Option<cargo_forge_image::ops::ImagePlan>,
}

impl PackagePlan {
    pub fn has(&self, artifact: &str) -> bool {
        self.artifacts.iter().any(|a| a == artifact)
    }

    pub fn triples(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.triple.clone()).collect()
    }
}

/// Cargo's feature flags, as the build gets them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Features {
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
}

impl Features {
    pub fn of(f: &clap_cargo::Features) -> Features {
        Features {
            features: f.features.clone(),
            all_features: f.all_features,
            no_default_features: f.no_default_features,
        }
    }

    pub fn to_cargo(&self) -> clap_cargo::Features {
        let mut f = clap_cargo::Features::default();
        f.features = self.features.clone();
        f.all_features = self.all_features;
        f.no_default_features = self.no_default_features;
        f
    }
}

/// How one target is built.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct TargetPlan {
    /// The Rust target triple.
    pub triple: String,
    /// The configured backend; `auto` is decided by the machine that builds.
    pub backend: BackendChoice,
    /// The toolchain's name (`/usr`, `stable`); `None`: the cargo running cargo-forge.
    pub toolchain: Option<String>,
    /// The oldest glibc the binaries must run on (zigbuild).
    pub glibc: Option<String>,
    /// The toolchain's rustc version on the planning machine (for the record).
    pub rustc: String,
}

/// One release: a tag and the packages it holds, published to its hosts.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitPlan {
    pub tag: String,
    /// `tag-format` with `{{name}}` replaced: tells this release line's tags from others
    /// (`latest` pointers follow the highest version of the line).
    pub tag_template: String,
    pub packages: Vec<String>,
    /// Its directory under `target/forge/release/`: `<package>/<version>` (packages sharing a
    /// tag: their names joined with `+`).
    pub key: String,
    /// The name of its `latest` pointers: `latest`, or `<package>-latest` when each package
    /// has tags of its own (`{{name}}` in `tag-format`).
    pub latest: String,
    pub sign: SignConfig,
    pub hosts: Vec<HostPlan>,
    /// The branches a release may be made from (`branches`).
    pub branches: Vec<String>,
    /// Whether a git tag is made (a git repository, no `--no-tag`).
    pub make_tag: bool,
    /// The remote the tag is pushed to; `None`: a local tag (no such remote).
    pub remote: Option<String>,
    /// Release notes (Markdown).
    pub notes: String,
}

/// A host of a release, with what publishing will do there.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostPlan {
    /// The key of its state (`github:owner/name`, `dir:/path`).
    pub id: String,
    pub spec: HostSpec,
    pub actions: Vec<String>,
}

impl ReleasePlan {
    pub fn package(&self, name: &str) -> Option<&PackagePlan> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The release a package is in.
    pub fn unit_of(&self, package: &str) -> Option<&UnitPlan> {
        self.releases
            .iter()
            .find(|u| u.packages.iter().any(|p| p == package))
    }

    /// Refuses to execute a plan made for another commit or by another cargo-forge: one
    /// message naming both of each.
    pub fn check_here(&self, file: &Path, head: Option<&str>) -> Result<()> {
        let mut problems = Vec::new();
        if self.cargo_forge_version != TOOL_VERSION {
            problems.push(format!(
                "it was made by cargo-forge {}, this is cargo-forge {TOOL_VERSION}",
                self.cargo_forge_version
            ));
        }
        match (self.commit.as_deref(), head) {
            (Some(planned), Some(here)) if planned != here => problems.push(format!(
                "it was made for commit {planned}, but this checkout is at commit {here}"
            )),
            (Some(planned), None) => problems.push(format!(
                "it was made for commit {planned}, but this is not a git checkout"
            )),
            _ => {}
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(usage(format!(
            "refusing the plan `{}`: {}",
            file.display(),
            problems.join("; ")
        )))
        .hint("run every phase of a release from the same commit with the same cargo-forge, or make the plan again here with `cargo forge-release plan`")
    }
}

/// Reads `plan.json`: its schema must be [`SCHEMA`]. Paths are mapped to `project`'s checkout
/// ([`rebase`]).
pub fn read(file: &Path, project: &Project) -> Result<ReleasePlan> {
    let bytes = forge_core::fsx::read(file)?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("`{}` is not a release plan (invalid JSON)", file.display()))
        .kind(forge_core::ErrorKind::Usage)?;
    let schema = value["schema"].as_str().unwrap_or_default().to_string();
    if schema != SCHEMA {
        return Err(usage(format!(
            "`{}` is not a release plan of this cargo-forge: its schema is `{}`, not `{SCHEMA}`",
            file.display(),
            if schema.is_empty() {
                "missing"
            } else {
                &schema
            }
        )))
        .hint("make it with `cargo forge-release plan` of this cargo-forge");
    }
    let root = value["workspace_root"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let target = value["target_dir"].as_str().unwrap_or_default().to_string();
    // The target directory first: it is usually inside the root, and more specific.
    if !target.is_empty() {
        rebase(
            &mut value,
            &target,
            &project.target_dir.display().to_string(),
        );
    }
    if !root.is_empty() {
        rebase(
            &mut value,
            &root,
            &project.workspace_root.display().to_string(),
        );
    }
    serde_json::from_value(value)
        .with_context(|| format!("`{}` is not a valid release plan", file.display()))
        .kind(forge_core::ErrorKind::Usage)
}

/// Maps every path under `from` (a string equal to it or starting with `from/`) to the same
/// place under `to`: a plan made in one checkout, executed in another (CI runners check the
/// repository out in directories of their own).
pub fn rebase(value: &mut serde_json::Value, from: &str, to: &str) {
    if from == to || from.is_empty() {
        return;
    }
    match value {
        serde_json::Value::String(s) => {
            if s == from {
                *s = to.to_string();
            } else if let Some(rest) = s.strip_prefix(from).filter(|r| r.starts_with('/')) {
                *s = format!("{to}{rest}");
            }
        }
        serde_json::Value::Array(items) => {
            for i in items {
                rebase(i, from, to);
            }
        }
        serde_json::Value::Object(map) => {
            for v in map.values_mut() {
                rebase(v, from, to);
            }
        }
        _ => {}
    }
}

/// The release directory of a unit: `target/forge/release/<key>`.
pub fn release_dir(target_dir: &Path, unit: &UnitPlan) -> PathBuf {
    target_dir.join("forge/release").join(&unit.key)
}

/// Where `plan` writes `plan.json` by default.
pub fn default_plan_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("forge/release")
}

/// `<package>/<version>`; packages sharing a tag: `<a>+<b>/<version>`.
pub fn unit_key(packages: &[String], version: &str) -> String {
    format!("{}/{version}", packages.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rebase_maps_paths_under_the_root_only() {
        let mut v = json!({
            "a": "/ci/one/ws",
            "b": ["/ci/one/ws/target/x", "/ci/one/wsx/y", "relative/ws"],
            "c": {"d": "/ci/one/ws/Cargo.toml", "n": 3}
        });
        rebase(&mut v, "/ci/one/ws", "/home/runner/w");
        assert_eq!(
            v,
            json!({
                "a": "/home/runner/w",
                "b": ["/home/runner/w/target/x", "/ci/one/wsx/y", "relative/ws"],
                "c": {"d": "/home/runner/w/Cargo.toml", "n": 3}
            })
        );
    }

    fn plan_with(commit: Option<&str>, version: &str) -> ReleasePlan {
        ReleasePlan {
            schema: SCHEMA.into(),
            cargo_forge_version: version.into(),
            commit: commit.map(String::from),
            version: "1.0.0".into(),
            prerelease: false,
            bump: false,
            workspace_root: "/ws".into(),
            target_dir: "/ws/target".into(),
            source_date_epoch: 0,
            retries: 6,
            packages: vec![],
            releases: vec![],
        }
    }

    #[test]
    fn another_commit_or_tool_version_is_refused_naming_both() {
        let file = Path::new("plan.json");
        let ok = plan_with(Some("aaa111"), TOOL_VERSION);
        ok.check_here(file, Some("aaa111")).unwrap();
        let err = ok.check_here(file, Some("bbb222")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("commit aaa111") && msg.contains("commit bbb222"),
            "{msg}"
        );
        assert_eq!(forge_core::exit::code_of(&err), 2);
        let old = plan_with(Some("aaa111"), "0.0.1");
        let msg = old
            .check_here(file, Some("aaa111"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cargo-forge 0.0.1")
                && msg.contains(&format!("cargo-forge {TOOL_VERSION}")),
            "{msg}"
        );
    }
}
