//! `cargo forge-release ci`: the release workflow for GitHub Actions or Forgejo Actions, as text.
//!
//! [`generate`] is a pure function of [`CiInputs`] (and of this crate's version, which the
//! workflow installs): the same inputs give the same bytes, so [`check`] can tell a stale
//! committed workflow by comparing text, as rust-analyzer's tidy checks generated files.
//! [`command`] resolves the inputs from the package's configuration and reports, as warnings,
//! settings that only work on some runners ([`portability_warnings`]).
//!
//! The workflow is one run per release tag (design §7, §9), and every job after `plan` executes
//! the plan `plan` wrote (the contract between the phases), never re-planning:
//!
//! - `forge` makes cargo-forge available once per runner architecture: the runner's own when it
//!   has this version on `PATH` (self-hosted runners), else built from the project's git
//!   repository at this version's tag; either way handed to the other jobs as an artifact, so
//!   no job compiles cargo-forge again and nothing is installed from crates.io;
//! - `plan` checks the tag (semver in the tag format, cut from an allowed branch) and runs
//!   `cargo forge-release plan`, reading no secret;
//! - `build` fans out over the targets, one job per target on a runner of the target's own
//!   architecture (arm64 on an arm64 runner: native builds, not qemu), other architectures
//!   cross-compiled with Debian's cross gcc; it builds with no secret, then its `push-image`
//!   step — the only step with the registry token, running no cargo — pushes the platform
//!   image the build just staged, by digest and untagged, so nothing is visible yet;
//! - `publish` is the approval gate (a GitHub environment; on Forgejo, which has no environment
//!   protection, a manual dispatch), imports the signing keys and publishes what every runner
//!   staged; it alone reads the hosts' secrets;
//! - `merge` joins the platform images into one index and tags it, after `publish`, so tags and
//!   `latest` come last and only after approval (the publishing order of the hosts).
//!
//! `publish` and `merge` share one concurrency group per repository that never cancels and (on
//! GitHub) queues every waiting run, so two releases never publish at the same time and none is
//! dropped. Rust and cargo-forge are installed only where a job needs them and the runner lacks
//! them, so a self-hosted runner that has both installs nothing.
//!
//! The text is written by hand rather than through a YAML serialiser: comments matter in a file
//! people review (why the concurrency group never cancels, what each permission is for), and
//! key order is part of its readability. Every value that comes from the user goes into an
//! `env:` entry, single-quoted; `run:` scripts are fixed text reading environment variables, so
//! nothing reaches a shell through `${{ }}` (zizmor's template-injection audit). Actions are
//! pinned by full commit SHA.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use forge_core::exit::{usage, ErrorKind, ResultExt as _};
use forge_core::Shell;

use crate::hosts::HostSpec;

mod jobs;
mod model;
mod warnings;
mod workflow;

use jobs::*;
use model::*;
pub use warnings::portability_warnings;
pub use workflow::generate;
use workflow::*;

/// The CI service the workflow is for.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub Actions (`.github/workflows/release.yml`).
    Github,
    /// Forgejo Actions (`.forgejo/workflows/release.yml`).
    Forgejo,
}

impl Provider {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Forgejo => "forgejo",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the workflow is generated from: the resolved release configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CiInputs {
    /// The package released (`--package`).
    pub package: String,
    /// Rust target triples, e.g. `x86_64-unknown-linux-gnu`, `aarch64-unknown-linux-gnu`
    /// (empty: `x86_64-unknown-linux-gnu`).
    pub targets: Vec<String>,
    /// `archive`, `deb`, `image`, `rpm`, `vm`.
    pub artifacts: Vec<String>,
    /// Where images are pushed, e.g. `ghcr.io/acme/app` (`None`: the `repository` of the image
    /// configuration).
    pub image_repository: Option<String>,
    /// Host kinds: `github`, `gitea`, `s3`, `oci`, `apt`, `yum`, `dir`.
    pub hosts: Vec<String>,
    /// Whether a host reads S3 credentials (an `s3` host, or an `apt`/`yum` repository in a
    /// bucket).
    pub s3_credentials: bool,
    /// Branches (or git patterns such as `release/*`) a release tag may be cut from
    /// (empty: `main`).
    pub branches: Vec<String>,
    /// The tag format, e.g. `v{{version}}` or `{{name}}-v{{version}}`.
    pub tag_format: String,
    /// The Rust toolchain of the forge tables (`toolchain`): a rustup toolchain name, or a
    /// directory such as `/usr` (`None`: the runner's `cargo`, or rustup's stable).
    pub toolchain: Option<String>,
    /// Whether gpg signs anything (`sign.gpg`, or an APT repository's `sign-key`): publish
    /// imports `GPG_PRIVATE_KEY` first.
    pub gpg: bool,
    /// The minisign secret key file of `sign.minisign`, which publish writes from `MINISIGN_KEY`.
    pub minisign_key: Option<String>,
}

impl Default for CiInputs {
    fn default() -> CiInputs {
        CiInputs {
            package: String::new(),
            targets: Vec::new(),
            artifacts: vec!["archive".into()],
            image_repository: None,
            hosts: Vec::new(),
            s3_credentials: false,
            branches: vec!["main".into()],
            tag_format: "v{{version}}".into(),
            toolchain: None,
            gpg: false,
            minisign_key: None,
        }
    }
}

/// Where the workflow lives, relative to the workspace root.
pub fn workflow_path(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => ".github/workflows/release.yml",
        Provider::Forgejo => ".forgejo/workflows/release.yml",
    }
}

/// The action versions the workflow uses, pinned by commit (the tag each commit is, in the
/// comment, for people and for Dependabot/Renovate).
pub const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
pub const UPLOAD_ARTIFACT: &str =
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2";
pub const DOWNLOAD_ARTIFACT: &str =
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0";

/// Where cargo-forge's sources are: the `forge` job builds the tag `v<version>` from here when a
/// runner does not have this version.
pub const FORGE_GIT: &str = env!("CARGO_PKG_REPOSITORY");
/// The oldest Rust that builds cargo-forge (its `rust-version`).
const FORGE_MIN_RUST: &str = env!("CARGO_PKG_RUST_VERSION");

const ARTIFACT_KINDS: &[&str] = &["archive", "deb", "image", "rpm", "vm"];
const HOST_KINDS: &[&str] = &["github", "gitea", "s3", "oci", "apt", "yum", "dir"];
const DEFAULT_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Where the jobs keep their files, relative to the workspace.
const PLAN_DIR: &str = "target/forge/ci/plan";
const BUILD_DIR: &str = "target/forge/ci/build";
const DIGESTS_DIR: &str = "target/forge/ci/digests";
const ARTIFACTS_DIR: &str = "target/forge/ci/artifacts";

fn safe_toolchain(t: &str) -> bool {
    !t.is_empty()
        && !t.starts_with('-')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+".contains(c))
}

fn safe_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('-')
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+@".contains(c))
}

/// Checks the inputs can make a workflow: known artifact and host kinds, Linux targets, a tag
/// format with one `{{version}}`, and values that are safe to put in YAML and git refs.
pub fn validate(inputs: &CiInputs) -> Result<()> {
    let mut problems = Vec::new();
    if inputs.package.is_empty()
        || !inputs
            .package
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.push(format!("invalid package name `{}`", inputs.package));
    }
    for t in &inputs.targets {
        if let Err(e) = forge_core::target::lookup(t) {
            problems.push(e.to_string());
        }
    }
    for a in &inputs.artifacts {
        if !ARTIFACT_KINDS.contains(&a.as_str()) {
            problems.push(format!(
                "unknown artifact `{a}` (expected one of {})",
                ARTIFACT_KINDS.join(", ")
            ));
        }
    }
    for h in &inputs.hosts {
        if !HOST_KINDS.contains(&h.as_str()) {
            problems.push(format!(
                "unknown host kind `{h}` (expected one of {})",
                HOST_KINDS.join(", ")
            ));
        }
    }
    for b in &inputs.branches {
        let ok = !b.is_empty()
            && !b.starts_with(['/', '-'])
            && b.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./*".contains(c));
        if !ok {
            problems.push(format!("invalid release branch `{b}`"));
        }
    }
    let format = inputs.tag_format.replace("{{name}}", &inputs.package);
    match format.split_once("{{version}}") {
        Some((prefix, suffix)) if !suffix.contains("{{version}}") => {
            let ok = format!("{prefix}{suffix}")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
            if !ok {
                problems.push(format!(
                    "invalid tag format `{}`: only letters, digits, `-`, `_`, `.`, `/` and `{{{{name}}}}` may surround `{{{{version}}}}`",
                    inputs.tag_format
                ));
            }
        }
        _ => problems.push(format!(
            "invalid tag format `{}`: it must contain `{{{{version}}}}` once",
            inputs.tag_format
        )),
    }
    if let Some(r) = &inputs.image_repository {
        let ok = !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_./:[]".contains(c));
        if !ok {
            problems.push(format!("invalid image repository `{r}`"));
        }
    }
    if let Some(t) = &inputs.toolchain {
        if !safe_toolchain(t) {
            problems.push(format!(
                "invalid toolchain `{t}`: a rustup toolchain name or a directory, in letters, digits, `-`, `_`, `.`, `/` and `+`"
            ));
        }
    }
    if let Some(k) = &inputs.minisign_key {
        if !safe_path(k) {
            problems.push(format!(
                "invalid minisign key path `{k}`: letters, digits, `-`, `_`, `.`, `/`, `+` and `@` only"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(usage(format!(
            "cannot generate the release workflow: {}",
            problems.join("; ")
        )))
    }
}

/// Fails when the committed workflow is missing or differs from what [`generate`] gives.
pub fn check(root: &Path, provider: Provider, inputs: &CiInputs) -> Result<()> {
    validate(inputs)?;
    let rel = workflow_path(provider);
    let path = root.join(rel);
    let expected = generate(provider, inputs);
    let actual = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow::anyhow!(
                "`{rel}` is missing: run `cargo forge-release ci --provider {provider}` and commit it"
            ))
            .kind(ErrorKind::Check);
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("failed to read `{rel}`")));
        }
    };
    if actual == expected {
        return Ok(());
    }
    let line = actual
        .lines()
        .zip(expected.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()))
        + 1;
    Err(anyhow::anyhow!(
        "`{rel}` is stale (it differs from the generated workflow at line {line}): run `cargo forge-release ci --provider {provider}` and commit it"
    ))
    .kind(ErrorKind::Check)
}

/// Writes the workflow (atomically) and returns its path.
pub fn write(root: &Path, provider: Provider, inputs: &CiInputs) -> Result<PathBuf> {
    validate(inputs)?;
    let path = root.join(workflow_path(provider));
    forge_core::fsx::write_atomic(&path, generate(provider, inputs).as_bytes())?;
    Ok(path)
}

/// `cargo forge-release ci --provider P [--check]`: resolves the inputs from the package's
/// configuration, warns about settings that only some runners satisfy, then writes or checks.
///
/// It takes only the flags that change the workflow (`--target`, `--toolchain`) or pick the
/// package (`--manifest-path`, `-p`): the workflow builds what the plan job decides from the
/// configuration, so build flags (`--features`, `--profile`, `--backend`, …) would be ignored
/// here, and are refused instead.
pub fn command(c: &crate::cli::CiArgs, shell: &Shell) -> Result<()> {
    let tc = forge_core::toolchain::Toolchain::resolve(None, shell)?;
    let request = forge_core::project::ProjectRequest {
        manifest_path: c.manifest.manifest_path.clone(),
        workspace: c.workspace.clone(),
        ..Default::default()
    };
    let project = forge_core::project::Project::load(&request, &tc, shell)?;
    let pkg = project.single_package("the release workflow is generated for one package")?;
    let layer = forge_core::config::ForgeLayer {
        targets: (!c.targets.is_empty()).then(|| c.targets.clone()),
        toolchain: c.toolchain.clone(),
        ..Default::default()
    };
    let settings = forge_core::config::resolve_layer(&project, pkg, &layer)?;
    let cfg: crate::config::ReleaseConfig = settings.parse_table("release")?.unwrap_or_default();
    let hosts = cfg.hosts.clone().unwrap_or_default();
    let inputs = inputs_from(
        pkg.name.as_ref(),
        &settings.targets,
        &cfg,
        settings.toolchain.as_deref(),
    );
    let root = &project.workspace_root;
    for w in portability_warnings(c.provider, inputs.toolchain.as_deref(), &hosts) {
        shell.warn(w);
    }
    let path = if c.check {
        check(root, c.provider, &inputs)?;
        shell.status(
            "Fresh",
            format!("{} is up to date", workflow_path(c.provider)),
        );
        root.join(workflow_path(c.provider))
    } else {
        let path = write(root, c.provider, &inputs)?;
        shell.status("Wrote", path.display());
        if !shell.is_json() {
            shell.data(path.display());
        }
        path
    };
    if shell.is_json() {
        shell.json(&crate::json::CiDocument {
            path,
            written: !c.check,
        })?;
    }
    Ok(())
}

/// The inputs of a package's release table; `targets` (`--target`, `[forge] targets`) win over
/// the release table's, as in `plan`.
pub fn inputs_from(
    package: &str,
    targets: &[String],
    cfg: &crate::config::ReleaseConfig,
    toolchain: Option<&str>,
) -> CiInputs {
    let hosts = cfg.hosts.clone().unwrap_or_default();
    let kind = |h: &HostSpec| -> String {
        serde_json::to_value(h)
            .ok()
            .and_then(|v| v["kind"].as_str().map(String::from))
            .unwrap_or_default()
    };
    let s3_credentials = hosts.iter().any(|h| {
        let v = serde_json::to_value(h).unwrap_or_default();
        v["kind"] == "s3" || v["url"].as_str().is_some_and(|u| u.starts_with("s3://"))
    });
    let apt_signs = hosts.iter().any(|h| {
        serde_json::to_value(h)
            .ok()
            .is_some_and(|v| v["sign-key"].is_string())
    });
    let sign = cfg.sign.clone().unwrap_or_default();
    CiInputs {
        package: package.to_string(),
        targets: if targets.is_empty() {
            cfg.targets.clone().unwrap_or_default()
        } else {
            targets.to_vec()
        },
        artifacts: match &cfg.artifacts {
            Some(a) => a.iter().map(|a| a.as_str().to_owned()).collect(),
            None => vec!["archive".into()],
        },
        image_repository: hosts.iter().find_map(|h| match h {
            HostSpec::Oci { repository } => Some(repository.clone()),
            _ => None,
        }),
        hosts: hosts.iter().map(kind).collect(),
        s3_credentials,
        branches: cfg
            .branches
            .clone()
            .unwrap_or_else(|| vec!["main".into(), "master".into()]),
        tag_format: cfg
            .tag_format
            .clone()
            .unwrap_or_else(|| "v{{version}}".into()),
        toolchain: toolchain.map(str::to_string).filter(|t| !t.is_empty()),
        gpg: sign.gpg.is_some() || apt_signs,
        minisign_key: sign.minisign.clone(),
    }
}

#[cfg(test)]
mod tests;
