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
pub fn command(c: &crate::cli::CiArgs, shell: &Shell) -> Result<()> {
    let tc = forge_core::toolchain::Toolchain::resolve(None, shell)?;
    let project = forge_core::project::Project::load(&c.common, &tc, shell)?;
    let pkg = project.single_package("the release workflow is generated for one package")?;
    let settings = forge_core::config::resolve(&project, pkg, &c.common)?;
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
    if c.check {
        check(root, c.provider, &inputs)?;
        shell.status(
            "Fresh",
            format!("{} is up to date", workflow_path(c.provider)),
        );
    } else {
        let path = write(root, c.provider, &inputs)?;
        shell.status("Wrote", path.display());
        shell.data(path.display());
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

/// Whether a URL or `host[:port]` names this machine.
fn is_loopback(location: &str) -> bool {
    let rest = location
        .split_once("://")
        .map_or(location, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Settings that work only on some runners (they are right for a self-hosted runner that has
/// them): a toolchain directory, a host or registry on loopback, a directory host or APT
/// repository outside a cloud runner's throw-away checkout. Each is one sentence for a
/// `warning:` line; `ci` writes the workflow all the same.
pub fn portability_warnings(
    provider: Provider,
    toolchain: Option<&str>,
    hosts: &[HostSpec],
) -> Vec<String> {
    let hosted = match provider {
        Provider::Github => "GitHub-hosted runners",
        Provider::Forgejo => "runners in containers",
    };
    let mut out = Vec::new();
    if let Some(t) = toolchain.filter(|t| t.contains('/')) {
        out.push(format!(
            "`toolchain = \"{t}\"` is a directory: only runners that have that toolchain at that path can run the workflow's jobs (right for self-hosted runners; {hosted} need a rustup toolchain name)"
        ));
    }
    let self_hosted = "only a self-hosted runner on that machine reaches it";
    for h in hosts {
        match h {
            HostSpec::Oci { repository } if is_loopback(repository) => out.push(format!(
                "the `oci` host's registry `{repository}` is on loopback: {self_hosted}"
            )),
            HostSpec::S3 {
                endpoint: Some(e), ..
            } if is_loopback(e) => out.push(format!(
                "the `s3` host's endpoint `{e}` is on loopback: {self_hosted}"
            )),
            HostSpec::Gitea { url, .. } if is_loopback(url) => out.push(format!(
                "the `gitea` host `{url}` is on loopback: {self_hosted}"
            )),
            HostSpec::Apt {
                endpoint: Some(e), ..
            } if is_loopback(e) => out.push(format!(
                "the `apt` host's endpoint `{e}` is on loopback: {self_hosted}"
            )),
            HostSpec::Dir { path }
            | HostSpec::Apt {
                dir: Some(path), ..
            } => {
                let kind = if matches!(h, HostSpec::Dir { .. }) {
                    "dir"
                } else {
                    "apt"
                };
                if path.is_absolute() {
                    out.push(format!(
                        "the `{kind}` host `{}` is an absolute directory: only a self-hosted runner that has it publishes there",
                        path.display()
                    ));
                } else {
                    out.push(format!(
                        "the `{kind}` host `{}` is inside the publish job's checkout, which {hosted} discard when the job ends: give an absolute directory on a self-hosted runner, or another host",
                        path.display()
                    ));
                }
            }
            _ => {}
        }
    }
    if hosts.is_empty() {
        out.push(format!(
            "no `hosts` in the release table: the release goes to `target/forge/release/<version>/publish` inside the publish job's checkout, which {hosted} discard when the job ends"
        ));
    }
    out
}

/// The runner label of an architecture.
fn runner(provider: Provider, arch: &str) -> &'static str {
    match (provider, arch) {
        (Provider::Github, "arm64") => "ubuntu-24.04-arm",
        (Provider::Github, _) => "ubuntu-24.04",
        (Provider::Forgejo, "arm64") => "docker-arm64",
        (Provider::Forgejo, _) => "docker",
    }
}

/// One build job of the matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    target: String,
    /// The architecture of the runner: `amd64` or `arm64`.
    arch: &'static str,
    /// The cross linker (`arm-linux-gnueabihf-gcc`) and the Debian packages that have it, for
    /// targets no runner's CPU runs.
    cross: Option<(String, String)>,
}

fn row(triple: &str) -> Row {
    match forge_core::target::lookup(triple) {
        Ok(t) => {
            let arch = match t.dpkg_arch.as_str() {
                "arm64" => "arm64",
                _ => "amd64",
            };
            let native = matches!(t.dpkg_arch.as_str(), "amd64" | "arm64");
            Row {
                target: triple.to_string(),
                arch,
                cross: (!native).then(|| {
                    (
                        format!("{}gcc", t.gcc_prefix),
                        format!(
                            "gcc-{} libc6-dev-{}-cross",
                            t.gcc_prefix.trim_end_matches('-'),
                            t.dpkg_arch
                        ),
                    )
                }),
            }
        }
        // `validate` rejects these; `generate` stays total.
        Err(_) => Row {
            target: triple.to_string(),
            arch: "amd64",
            cross: None,
        },
    }
}

/// Everything [`generate`] derives from the inputs, sorted so the output does not depend on the
/// order of lists in Cargo.toml.
struct Model<'a> {
    provider: Provider,
    inputs: &'a CiInputs,
    rows: Vec<Row>,
    /// Runner architectures, `amd64` first (plan, publish and merge run there).
    arches: Vec<&'static str>,
    image: bool,
    hosts: Vec<String>,
    branches: Vec<String>,
    tag_prefix: String,
    tag_suffix: String,
}

impl Model<'_> {
    fn new(provider: Provider, inputs: &CiInputs) -> Model<'_> {
        let mut targets: Vec<&str> = inputs.targets.iter().map(String::as_str).collect();
        if targets.is_empty() {
            targets.push(DEFAULT_TARGET);
        }
        targets.sort_unstable();
        targets.dedup();
        let rows: Vec<Row> = targets.iter().map(|t| row(t)).collect();
        let mut arches = vec!["amd64"];
        if rows.iter().any(|r| r.arch == "arm64") {
            arches.push("arm64");
        }
        let hosts: BTreeSet<String> = inputs.hosts.iter().cloned().collect();
        let mut branches = inputs.branches.clone();
        if branches.is_empty() {
            branches.push("main".into());
        }
        branches.sort();
        branches.dedup();
        let format = inputs.tag_format.replace("{{name}}", &inputs.package);
        let (tag_prefix, tag_suffix) = format
            .split_once("{{version}}")
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .unwrap_or_else(|| ("v".into(), String::new()));
        Model {
            provider,
            inputs,
            rows,
            arches,
            image: inputs.artifacts.iter().any(|a| a == "image"),
            hosts: hosts.into_iter().collect(),
            branches,
            tag_prefix,
            tag_suffix,
        }
    }

    fn github(&self) -> bool {
        self.provider == Provider::Github
    }

    fn has_host(&self, kind: &str) -> bool {
        self.hosts.iter().any(|h| h == kind)
    }

    /// The registry host of the image repository (`None` when it comes from the image config).
    fn registry(&self) -> Option<&str> {
        self.inputs
            .image_repository
            .as_deref()
            .map(|r| r.split('/').next().unwrap_or(r))
    }

    /// Whether images go to ghcr.io with the workflow's own token (`packages: write`). An
    /// unknown repository counts: on GitHub that is where they usually go.
    fn ghcr(&self) -> bool {
        self.github() && matches!(self.registry(), None | Some("ghcr.io"))
    }

    /// Whether images go somewhere that needs `FORGE_REGISTRY_USERNAME`/`_PASSWORD` secrets.
    fn registry_secrets(&self) -> bool {
        !self.github() || self.registry() != Some("ghcr.io")
    }

    fn runner(&self) -> &'static str {
        runner(self.provider, "amd64")
    }

    fn cross(&self) -> bool {
        self.rows.iter().any(|r| r.cross.is_some())
    }

    /// The `on.push.tags` filter: the tag format with `{{version}}` as `*.*.*`, the rest escaped.
    fn tag_filter(&self) -> String {
        let escape = |s: &str| {
            s.chars().fold(String::new(), |mut acc, c| {
                if "*?+[]!\\".contains(c) {
                    acc.push('\\');
                }
                acc.push(c);
                acc
            })
        };
        format!(
            "{}*.*.*{}",
            escape(&self.tag_prefix),
            escape(&self.tag_suffix)
        )
    }

    /// The secrets to add: (name, what it is, which jobs read it).
    fn secrets(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let gh = self.github();
        let mut secrets = Vec::new();
        if self.has_host("github") && !gh {
            secrets.push((
                "GH_TOKEN",
                "a GitHub token that may create releases",
                "publish",
            ));
        }
        if self.has_host("gitea") && gh {
            secrets.push((
                "GITEA_TOKEN",
                "a Gitea/Forgejo token that may create releases",
                "publish",
            ));
        }
        if self.inputs.s3_credentials {
            secrets.push(("AWS_ACCESS_KEY_ID", "S3 credentials", "publish"));
            secrets.push(("AWS_SECRET_ACCESS_KEY", "S3 credentials", "publish"));
        }
        if self.image && self.registry_secrets() {
            let jobs = "build's push-image step, merge";
            secrets.push(("FORGE_REGISTRY_USERNAME", "the image registry's user", jobs));
            secrets.push(("FORGE_REGISTRY_PASSWORD", "and its password or token", jobs));
        }
        if self.inputs.gpg {
            secrets.push((
                "GPG_PRIVATE_KEY",
                "the armoured gpg secret key that signs",
                "publish",
            ));
            secrets.push((
                "GPG_PASSPHRASE",
                "its passphrase (leave it unset for a key without one)",
                "publish",
            ));
        }
        if self.inputs.minisign_key.is_some() {
            secrets.push((
                "MINISIGN_KEY",
                "the minisign secret key file's text",
                "publish",
            ));
            secrets.push(("MINISIGN_PASSWORD", "its password", "publish"));
        }
        secrets
    }
}

/// A YAML single-quoted scalar (always quoted, so no value is read as a number, a boolean or
/// a flow collection).
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The workflow text.
pub fn generate(provider: Provider, inputs: &CiInputs) -> String {
    let m = Model::new(provider, inputs);
    let mut out = String::new();
    header(&mut out, &m);
    triggers(&mut out, &m);
    forge_job(&mut out, &m);
    out.push('\n');
    plan_job(&mut out, &m);
    out.push('\n');
    build_job(&mut out, &m);
    out.push('\n');
    publish_job(&mut out, &m);
    if m.image {
        out.push('\n');
        merge_job(&mut out, &m);
    }
    out
}

/// Appends lines, each indented by `indent` spaces (empty lines stay empty).
fn lines(out: &mut String, indent: usize, text: &str) {
    for l in text.lines() {
        if l.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{:indent$}{l}", "");
        }
    }
}

fn header(out: &mut String, m: &Model) {
    let p = m.provider;
    let v = env!("CARGO_PKG_VERSION");
    let _ = writeln!(
        out,
        "# generated by cargo forge-release ci; regenerate with `cargo forge-release ci --provider {p}`"
    );
    let _ = writeln!(
        out,
        "# (and do not edit: `cargo forge-release ci --provider {p} --check` fails while it is stale)."
    );
    let _ = writeln!(out, "#");
    let _ = writeln!(
        out,
        "# Releases `{}` when a tag such as {}1.2.3{} is pushed, or when run by hand with a tag:",
        m.inputs.package, m.tag_prefix, m.tag_suffix
    );
    let _ = writeln!(
        out,
        "#   forge    makes cargo-forge {v} available, once per runner architecture: the runner's own
#            when it has that version on PATH (self-hosted runners), else built from
#            {FORGE_GIT} at the tag v{v};
#   plan     checks the tag (semver, cut from a release branch) and writes the release plan that
#            every later job executes (no secrets);
#   build    builds and stages the artifacts, one job per target on a runner of that
#            architecture (native builds, no emulation; other architectures cross-compiled),
#            with no secrets;"
    );
    if m.image {
        lines(
            out,
            0,
            "#            then its push-image step, the only one with the registry's credentials (it
#            runs no cargo), pushes the platform image just built by digest, untagged;",
        );
    }
    match p {
        Provider::Github => lines(
            out,
            0,
            "#   publish  waits for approval in the `release` environment (give it required reviewers
#            in Settings > Environments, and keep the publishing secrets there), then
#            publishes what every build job staged;",
        ),
        Provider::Forgejo => lines(
            out,
            0,
            "#   publish  runs only when a maintainer starts the workflow by hand (workflow_dispatch,
#            with the tag): Forgejo Actions has no environment protection rules, so the
#            dispatch is the approval gate; a pushed tag builds everything and stops there;",
        ),
    }
    if m.image {
        lines(
            out,
            0,
            "#   merge    after publishing, joins the platform images into one index and tags it
#            (tags and `latest` last, as every host publishes).",
        );
    }
    lines(
        out,
        0,
        "#
# Every job after forge reads the workspace with cargo; Rust is installed only when the runner
# lacks the toolchain (or, in build, the target's standard library), so a self-hosted runner
# that has them and cargo-forge installs nothing.",
    );
    let gh = m.github();
    let secrets = m.secrets();
    let _ = writeln!(out, "#");
    if secrets.is_empty() {
        let token = if gh { "GITHUB_TOKEN" } else { "FORGEJO_TOKEN" };
        let _ = writeln!(
            out,
            "# Secrets: none to add (the workflow's own {token} is enough)."
        );
    } else {
        if gh {
            lines(
                out,
                0,
                "# Secrets to add (those only publish reads can live in the `release` environment):",
            );
        } else {
            lines(out, 0, "# Secrets to add:");
        }
        for (name, what, jobs) in secrets {
            let _ = writeln!(out, "#   {name:<24} {what} ({jobs})");
        }
    }
    if !gh {
        lines(
            out,
            0,
            "#
# Forgejo assumptions: runners with the labels `docker` (linux/amd64) and `docker-arm64`
# (linux/arm64) that run jobs as root in a Debian container with node and git (forgejo-runner's
# default `docker://node:20-bookworm`; rustup is installed when missing); Forgejo 7.0 or later
# (artifact actions v4, workflow_dispatch inputs); actions resolved from the instance's default
# actions URL, whose mirrors of actions/* carry the same commits as GitHub's. Forgejo releases
# that ignore `permissions:` or `concurrency:` run the workflow all the same.",
        );
    }
    out.push('\n');
}

fn triggers(out: &mut String, m: &Model) {
    let _ = writeln!(out, "name: release");
    let _ = writeln!(
        out,
        "run-name: release ${{{{ inputs.tag || github.ref_name }}}}"
    );
    out.push('\n');
    let _ = writeln!(out, "on:");
    let _ = writeln!(out, "  push:");
    let _ = writeln!(out, "    tags:");
    let _ = writeln!(out, "      - {}", q(&m.tag_filter()));
    lines(
        out,
        0,
        "  workflow_dispatch:
    inputs:
      tag:",
    );
    let _ = writeln!(
        out,
        "        description: {}",
        q(&format!(
            "The release tag to build and publish, e.g. {}1.2.3{}",
            m.tag_prefix, m.tag_suffix
        ))
    );
    lines(
        out,
        0,
        "        required: true
        type: string

# No permissions unless a job asks for them.
permissions: {}

# One run per release tag at a time; a second run for the same tag waits (cancel-in-progress:
# false) instead of stopping the first halfway. Runs of different tags build side by side and
# take turns to publish (the `release-publish` group of `publish` and `merge`).
concurrency:
  group: release-${{ inputs.tag || github.ref_name }}
  cancel-in-progress: false

defaults:
  run:
    shell: bash

",
    );
    let _ = writeln!(out, "env:");
    lines(
        out,
        2,
        "RELEASE_TAG: ${{ inputs.tag || github.ref_name }}
CARGO_TERM_COLOR: always",
    );
    let _ = writeln!(out, "  PACKAGE: {}", q(&m.inputs.package));
    let _ = writeln!(out, "  FORGE_VERSION: {}", q(env!("CARGO_PKG_VERSION")));
    let _ = writeln!(out, "  PLAN: {PLAN_DIR}/plan.json");
    out.push('\n');
    let _ = writeln!(out, "jobs:");
}

/// The checkout step: the release tag, no credentials left in `.git/config`.
fn checkout(out: &mut String, full_history: bool) {
    lines(
        out,
        6,
        &format!(
            "- name: check out the release tag
  uses: {CHECKOUT}
  with:
    ref: refs/tags/${{{{ env.RELEASE_TAG }}}}"
        ),
    );
    if full_history {
        lines(
            out,
            6,
            "    # every branch too, to check the tag was cut from a release branch
    fetch-depth: 0",
        );
    }
    lines(out, 6, "    persist-credentials: false");
}

/// The step that looks for this cargo-forge version on `PATH` (id `forge`, output `path`).
fn look_for_forge(out: &mut String) {
    lines(
        out,
        6,
        r#"- name: look for cargo-forge on the runner
  id: forge
  run: |
    if [ "$(cargo-forge-release forge-release --version 2>/dev/null)" = "cargo-forge-release $FORGE_VERSION" ]; then
      path=$(command -v cargo-forge-release)
      echo "cargo-forge $FORGE_VERSION is on PATH: $path"
      echo "path=$path" >> "$GITHUB_OUTPUT"
    fi"#,
    );
}

/// cargo-forge for a job: the runner's own, else the `forge` job's build for `arch` (an
/// expression or a literal).
fn fetch_forge(out: &mut String, arch: &str) {
    look_for_forge(out);
    lines(
        out,
        6,
        &format!(
            "- name: fetch cargo-forge
  if: steps.forge.outputs.path == ''
  uses: {DOWNLOAD_ARTIFACT}
  with:
    name: cargo-forge-{arch}
    path: ${{{{ runner.temp }}}}/cargo-forge
- name: put cargo-forge on PATH
  if: steps.forge.outputs.path == ''
  run: |
    chmod 755 \"$RUNNER_TEMP/cargo-forge/cargo-forge-release\"
    echo \"$RUNNER_TEMP/cargo-forge\" >> \"$GITHUB_PATH\""
        ),
    );
}

/// Installs rustup when the runner has none (Forgejo's job containers).
const INSTALL_RUSTUP: &str = r#"if ! command -v rustup >/dev/null; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
  echo "$HOME/.cargo/bin" >> "$GITHUB_PATH"
  export PATH="$HOME/.cargo/bin:$PATH"
fi"#;

/// The Rust steps of a job that compiles: `check rust` looks for the configured toolchain and
/// the standard library of `targets` (an expression, or empty for the host's only), and
/// `install rust` runs only when something is missing.
fn rust_steps(out: &mut String, m: &Model, targets: &str) {
    let toolchain = q(m.inputs.toolchain.as_deref().unwrap_or(""));
    let env = format!(
        "  env:
    TOOLCHAIN: {toolchain}
    RUST_TARGETS: {targets}"
    );
    lines(out, 6, "- name: check rust\n  id: rust");
    lines(out, 6, &env);
    lines(
        out,
        6,
        r#"  run: |
    # cargo and rustc of the configured toolchain, with the standard library of each target
    case $TOOLCHAIN in
      */*) rustc=("$TOOLCHAIN/bin/rustc") cargo=("$TOOLCHAIN/bin/cargo") ;;
      '') rustc=(rustc) cargo=(cargo) ;;
      *) rustc=(rustup run "$TOOLCHAIN" rustc) cargo=(rustup run "$TOOLCHAIN" cargo) ;;
    esac
    missing=()
    if ! "${cargo[@]}" --version >/dev/null 2>&1 || ! sysroot=$("${rustc[@]}" --print sysroot 2>/dev/null); then
      missing+=(cargo)
    else
      read -ra targets <<< "$RUST_TARGETS"
      for target in "${targets[@]}"; do
        [ -d "$sysroot/lib/rustlib/$target/lib" ] || missing+=("$target")
      done
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
      echo "the runner has what this job needs: $("${rustc[@]}" --version) $RUST_TARGETS"
    else
      echo "to install: ${missing[*]}"
      echo "install=true" >> "$GITHUB_OUTPUT"
    fi
- name: install rust
  if: steps.rust.outputs.install == 'true'"#,
    );
    lines(out, 6, &env);
    lines(
        out,
        6,
        r#"  run: |
    case $TOOLCHAIN in
      */*)
        echo "::error::the toolchain directory $TOOLCHAIN (the release configuration's toolchain) is missing on this runner or lacks the standard library of $RUST_TARGETS: run this job on a self-hosted runner that has it, or configure a rustup toolchain name"
        exit 1
        ;;
    esac"#,
    );
    lines(out, 10, INSTALL_RUSTUP);
    lines(
        out,
        10,
        r#"read -ra targets <<< "$RUST_TARGETS"
toolchain=()
if [ -n "$TOOLCHAIN" ]; then
  rustup toolchain install "$TOOLCHAIN" --profile minimal
  toolchain=(--toolchain "$TOOLCHAIN")
elif ! rustc --version >/dev/null 2>&1; then
  rustup toolchain install stable --profile minimal
  rustup default stable
fi
if [ "${#targets[@]}" -gt 0 ]; then
  rustup target add "${toolchain[@]}" "${targets[@]}"
fi"#,
    );
}

/// Downloads the plan the `plan` job wrote to `$PLAN`.
fn fetch_plan(out: &mut String) {
    lines(
        out,
        6,
        &format!(
            "- name: fetch the plan
  uses: {DOWNLOAD_ARTIFACT}
  with:
    name: plan
    path: {PLAN_DIR}"
        ),
    );
}

/// `env:` entries with the image registry's credentials.
fn registry_env(m: &Model) -> Vec<String> {
    let mut env = Vec::new();
    if m.ghcr() {
        // cargo-forge logs in to ghcr.io as GITHUB_ACTOR with GITHUB_TOKEN.
        env.push("GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}".to_string());
    }
    if m.registry_secrets() {
        env.push("FORGE_REGISTRY_USERNAME: ${{ secrets.FORGE_REGISTRY_USERNAME }}".to_string());
        env.push("FORGE_REGISTRY_PASSWORD: ${{ secrets.FORGE_REGISTRY_PASSWORD }}".to_string());
    }
    env
}

fn env_block(out: &mut String, indent: usize, env: &[String]) {
    if env.is_empty() {
        return;
    }
    lines(out, indent, "env:");
    for e in env {
        lines(out, indent + 2, e);
    }
}

/// The concurrency group of the jobs that publish (`publish`, `merge`).
fn publishing_concurrency(out: &mut String, m: &Model) {
    lines(
        out,
        4,
        "# One release publishes at a time in this repository, whatever its tag: a run waits for the
# one publishing (cancel-in-progress: false), because a publish stopped midway leaves drafts or
# half-uploaded assets behind until someone runs it again.
concurrency:
  group: release-publish-${{ github.repository }}
  cancel-in-progress: false",
    );
    if m.github() {
        lines(
            out,
            4,
            "  # every waiting run keeps its place (without it GitHub cancels all but the newest)
  queue: max",
        );
    }
}

fn forge_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  forge:");
    lines(
        out,
        4,
        "name: cargo-forge ${{ matrix.arch }}
runs-on: ${{ matrix.runner }}
timeout-minutes: 60
# nothing to read from this repository; cargo-forge's repository is public
permissions: {}
strategy:
  matrix:
    include:",
    );
    for arch in &m.arches {
        let _ = writeln!(out, "          - arch: {}", q(arch));
        let _ = writeln!(out, "            runner: {}", q(runner(m.provider, arch)));
    }
    lines(out, 4, "steps:");
    look_for_forge(out);
    lines(
        out,
        6,
        &format!(
            r#"- name: check rust
  id: rust
  if: steps.forge.outputs.path == ''
  env:
    MIN_RUST: {}
  run: |
    have=$(rustc --version 2>/dev/null | cut -d' ' -f2) || true
    have=${{have%%-*}}
    if [ -n "$have" ] && cargo --version >/dev/null 2>&1 && [ "$(printf '%s\n' "$MIN_RUST" "$have" | sort -V | head -n1)" = "$MIN_RUST" ]; then
      echo "rustc $have builds cargo-forge (it needs $MIN_RUST)"
    else
      echo "install=true" >> "$GITHUB_OUTPUT"
    fi
- name: install rust
  if: steps.rust.outputs.install == 'true'
  run: |"#,
            q(FORGE_MIN_RUST)
        ),
    );
    lines(out, 10, INSTALL_RUSTUP);
    lines(
        out,
        10,
        r#"rustup toolchain install stable --profile minimal
echo "RUSTUP_TOOLCHAIN=stable" >> "$GITHUB_ENV""#,
    );
    lines(
        out,
        6,
        &format!(
            r#"- name: build cargo-forge
  if: steps.forge.outputs.path == ''
  env:
    FORGE_GIT: {}
  run: cargo install --locked --git "$FORGE_GIT" --tag "v$FORGE_VERSION" --root "$RUNNER_TEMP/cargo-forge" cargo-forge-release
- name: hand cargo-forge to the other jobs
  uses: {UPLOAD_ARTIFACT}
  with:
    name: cargo-forge-${{{{ matrix.arch }}}}
    # the runner's own, or the one just built
    path: ${{{{ steps.forge.outputs.path || format('{{0}}/cargo-forge/bin/cargo-forge-release', runner.temp) }}}}
    if-no-files-found: error
    retention-days: 1"#,
            q(FORGE_GIT)
        ),
    );
}

fn plan_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  plan:");
    lines(
        out,
        4,
        &format!(
            "name: plan
needs: forge
runs-on: {}
timeout-minutes: 30
permissions:
  contents: read # check out the repository
steps:",
            m.runner()
        ),
    );
    checkout(out, true);
    lines(
        out,
        6,
        "- name: check the tag
  id: tag
  env:",
    );
    let _ = writeln!(out, "          TAG_PREFIX: {}", q(&m.tag_prefix));
    let _ = writeln!(out, "          TAG_SUFFIX: {}", q(&m.tag_suffix));
    let _ = writeln!(
        out,
        "          RELEASE_BRANCHES: {}",
        q(&m.branches.join(" "))
    );
    lines(
        out,
        6,
        r#"  run: |
    version=${RELEASE_TAG#"$TAG_PREFIX"}
    version=${version%"$TAG_SUFFIX"}
    id='(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)'
    semver="^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-$id(\.$id)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?\$"
    if [ "$TAG_PREFIX$version$TAG_SUFFIX" != "$RELEASE_TAG" ] || ! [[ $version =~ $semver ]]; then
      echo "::error::$RELEASE_TAG is not a release tag: expected ${TAG_PREFIX}MAJOR.MINOR.PATCH${TAG_SUFFIX} (semver, no leading zeros)"
      exit 1
    fi
    commit=$(git rev-parse HEAD)
    read -ra branches <<< "$RELEASE_BRANCHES"
    refs=()
    for branch in "${branches[@]}"; do
      refs+=("refs/remotes/origin/$branch")
    done
    found=$(git for-each-ref --contains "$commit" --format='%(refname:lstrip=3)' "${refs[@]}")
    if [ -z "$found" ]; then
      echo "::error::$RELEASE_TAG ($commit) is not on a release branch ($RELEASE_BRANCHES)"
      exit 1
    fi
    echo "version=$version" >> "$GITHUB_OUTPUT""#,
    );
    fetch_forge(out, "amd64");
    rust_steps(out, m, "''");
    lines(
        out,
        6,
        &format!(
            "- name: plan
  # reads no secret: there are none in this job
  env:
    VERSION: ${{{{ steps.tag.outputs.version }}}}
  run: cargo-forge-release forge-release plan \"$VERSION\" --package \"$PACKAGE\" --out {PLAN_DIR}
- name: keep the plan
  uses: {UPLOAD_ARTIFACT}
  with:
    name: plan
    path: ${{{{ env.PLAN }}}}
    if-no-files-found: error"
        ),
    );
}

fn build_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  build:");
    lines(
        out,
        4,
        "name: build ${{ matrix.target }}
needs: [forge, plan]
runs-on: ${{ matrix.runner }}
timeout-minutes: 120
permissions:
  contents: read # check out the repository",
    );
    if m.image && m.ghcr() {
        lines(
            out,
            4,
            "  packages: write # the push-image step pushes this platform's image to ghcr.io, by digest",
        );
    }
    lines(
        out,
        4,
        "strategy:
  # every target's result is shown; publish needs all of them anyway
  fail-fast: false
  matrix:
    include:",
    );
    let cross = m.cross();
    for r in &m.rows {
        let _ = writeln!(out, "          - target: {}", q(&r.target));
        let _ = writeln!(out, "            runner: {}", q(runner(m.provider, r.arch)));
        let _ = writeln!(out, "            arch: {}", q(r.arch));
        if cross {
            let (gcc, packages) = r.cross.clone().unwrap_or_default();
            let _ = writeln!(out, "            cross-gcc: {}", q(&gcc));
            let _ = writeln!(out, "            cross-packages: {}", q(&packages));
        }
    }
    lines(
        out,
        4,
        "env:
  TARGET: ${{ matrix.target }}
steps:",
    );
    checkout(out, false);
    fetch_forge(out, "${{ matrix.arch }}");
    rust_steps(out, m, "${{ matrix.target }}");
    if cross {
        let sudo = if m.github() { "sudo " } else { "" };
        lines(
            out,
            6,
            &format!(
                "- name: install the cross linker
  if: matrix.cross-gcc != ''
  env:
    CROSS_GCC: ${{{{ matrix.cross-gcc }}}}
    CROSS_PACKAGES: ${{{{ matrix.cross-packages }}}}
  run: |
    if command -v \"$CROSS_GCC\" >/dev/null; then
      echo \"the runner has $CROSS_GCC\"
      exit 0
    fi
    read -ra packages <<< \"$CROSS_PACKAGES\"
    {sudo}apt-get update
    {sudo}apt-get install -y --no-install-recommends \"${{packages[@]}}\""
            ),
        );
    }
    fetch_plan(out);
    lines(
        out,
        6,
        &format!(
            "- name: build
  # no secret reaches cargo or a build script: this job's environment holds none
  run: cargo-forge-release forge-release build --plan \"$PLAN\" --target \"$TARGET\" --out {BUILD_DIR}
- name: keep the artifacts
  uses: {UPLOAD_ARTIFACT}
  with:
    name: build-${{{{ matrix.target }}}}"
        ),
    );
    if m.image {
        // publish needs the files, not the platform image's OCI layout (push-image pushes it)
        lines(
            out,
            10,
            &format!(
                "# the image layouts stay here: push-image pushes them, publish does not read them
path: |
  {BUILD_DIR}
  !{BUILD_DIR}/*/*/image-*"
            ),
        );
    } else {
        lines(out, 10, &format!("path: {BUILD_DIR}"));
    }
    lines(out, 10, "if-no-files-found: error");
    if m.image {
        lines(
            out,
            6,
            "- name: push the image by digest
  id: push-image
  # the only step with the registry's credentials; it runs no cargo and no build",
        );
        env_block(out, 8, &registry_env(m));
        lines(
            out,
            6,
            &format!(
                "  run: cargo-forge-release forge-release push-image --plan \"$PLAN\" --artifacts {BUILD_DIR} --digests {DIGESTS_DIR}
- name: keep the image digests
  uses: {UPLOAD_ARTIFACT}
  with:
    name: digests-${{{{ matrix.target }}}}
    path: {DIGESTS_DIR}
    if-no-files-found: error"
            ),
        );
    }
}

fn publish_job(out: &mut String, m: &Model) {
    let gh = m.github();
    let _ = writeln!(out, "  publish:");
    lines(
        out,
        4,
        &format!(
            "name: publish
needs: [forge, plan, build]
runs-on: {}
timeout-minutes: 60",
            m.runner()
        ),
    );
    if gh {
        lines(
            out,
            4,
            "# The approval gate: protect the `release` environment with required reviewers; its
# secrets are readable by this job only, once approved.
environment: release",
        );
    } else {
        lines(
            out,
            4,
            "# The approval gate: Forgejo has no protected environments, so publishing happens only in a
# run a maintainer starts by hand (Actions > release > Run workflow, with the tag).
if: github.event_name == 'workflow_dispatch'",
        );
    }
    publishing_concurrency(out, m);
    lines(out, 4, "permissions:");
    let release_host = (gh && m.has_host("github")) || (!gh && m.has_host("gitea"));
    if release_host {
        lines(
            out,
            6,
            "contents: write # create the release and upload its assets",
        );
    } else {
        lines(out, 6, "contents: read # check out the repository");
    }
    lines(out, 4, "steps:");
    checkout(out, false);
    fetch_forge(out, "amd64");
    // every phase reads the checkout's workspace (`cargo metadata`) to check the plan against it
    rust_steps(out, m, "''");
    fetch_plan(out);
    lines(
        out,
        6,
        &format!(
            "- name: fetch every runner's artifacts
  uses: {DOWNLOAD_ARTIFACT}
  with:
    pattern: build-*
    path: {ARTIFACTS_DIR}"
        ),
    );
    if m.inputs.gpg {
        lines(
            out,
            6,
            r#"- name: import the gpg signing key
  env:
    GPG_PRIVATE_KEY: ${{ secrets.GPG_PRIVATE_KEY }}
    GPG_PASSPHRASE: ${{ secrets.GPG_PASSPHRASE }}
  run: |
    if [ -z "$GPG_PRIVATE_KEY" ]; then
      echo "::error::the secret GPG_PRIVATE_KEY is empty: add the armoured secret key that signs the release"
      exit 1
    fi
    export GNUPGHOME="$RUNNER_TEMP/gnupg"
    install -d -m 700 "$GNUPGHOME"
    printf '%s\n' "$GPG_PRIVATE_KEY" | gpg --batch --import
    if [ -n "$GPG_PASSPHRASE" ]; then
      (umask 077 && printf '%s\n' "$GPG_PASSPHRASE" > "$GNUPGHOME/passphrase")
      printf '%s\n' 'pinentry-mode loopback' "passphrase-file $GNUPGHOME/passphrase" >> "$GNUPGHOME/gpg.conf"
    fi
    echo "GNUPGHOME=$GNUPGHOME" >> "$GITHUB_ENV""#,
        );
    }
    if let Some(key) = &m.inputs.minisign_key {
        lines(out, 6, "- name: write the minisign key\n  env:");
        let _ = writeln!(out, "          MINISIGN_KEY_FILE: {}", q(key));
        lines(
            out,
            6,
            r#"    MINISIGN_KEY: ${{ secrets.MINISIGN_KEY }}
  run: |
    if [ -z "$MINISIGN_KEY" ]; then
      echo "::error::the secret MINISIGN_KEY is empty: add the text of the minisign secret key file"
      exit 1
    fi
    mkdir -p "$(dirname "$MINISIGN_KEY_FILE")"
    (umask 077 && printf '%s\n' "$MINISIGN_KEY" > "$MINISIGN_KEY_FILE")"#,
        );
    }
    lines(out, 6, "- name: publish");
    let mut env = Vec::new();
    if m.has_host("github") {
        env.push(if gh {
            "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}".to_string()
        } else {
            "GITHUB_TOKEN: ${{ secrets.GH_TOKEN }}".to_string()
        });
    }
    if m.has_host("gitea") {
        env.push(if gh {
            "GITEA_TOKEN: ${{ secrets.GITEA_TOKEN }}".to_string()
        } else {
            "GITEA_TOKEN: ${{ secrets.FORGEJO_TOKEN }}".to_string()
        });
    }
    if m.inputs.s3_credentials {
        env.push("AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}".to_string());
        env.push("AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}".to_string());
    }
    if m.inputs.minisign_key.is_some() {
        env.push("MINISIGN_PASSWORD: ${{ secrets.MINISIGN_PASSWORD }}".to_string());
    }
    env_block(out, 8, &env);
    lines(
        out,
        8,
        &format!(
            "# --no-tag: the tag is already pushed, it is what started this run; the image is
# tagged by `merge`, after this job
run: cargo-forge-release forge-release publish --plan \"$PLAN\" --artifacts {ARTIFACTS_DIR} --yes --no-tag"
        ),
    );
}

fn merge_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  merge:");
    lines(
        out,
        4,
        &format!(
            "name: merge the image
# after publish: the index is tagged (and `latest` moved) only once the release is approved
needs: [forge, plan, publish]
runs-on: {}
timeout-minutes: 30",
            m.runner()
        ),
    );
    publishing_concurrency(out, m);
    if m.ghcr() {
        lines(
            out,
            4,
            "permissions:
  contents: read # check out the repository
  packages: write # push the index and its tags to ghcr.io",
        );
    } else {
        lines(
            out,
            4,
            "permissions:
  contents: read # check out the repository (the registry's own credentials push the index)",
        );
    }
    lines(out, 4, "steps:");
    // the plan is checked against the checkout (its commit, its workspace)
    checkout(out, false);
    fetch_forge(out, "amd64");
    rust_steps(out, m, "''");
    fetch_plan(out);
    lines(
        out,
        6,
        &format!(
            "- name: fetch the platform digests
  uses: {DOWNLOAD_ARTIFACT}
  with:
    pattern: digests-*
    merge-multiple: true
    path: {DIGESTS_DIR}
- name: tag the multi-platform image"
        ),
    );
    env_block(out, 8, &registry_env(m));
    lines(
        out,
        8,
        &format!(
            "run: cargo-forge-release forge-release merge --plan \"$PLAN\" --digests {DIGESTS_DIR}"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> CiInputs {
        CiInputs {
            package: "app".into(),
            targets: vec![
                "x86_64-unknown-linux-gnu".into(),
                "aarch64-unknown-linux-gnu".into(),
            ],
            artifacts: vec!["archive".into(), "deb".into(), "image".into()],
            image_repository: Some("ghcr.io/acme/app".into()),
            hosts: vec!["github".into(), "oci".into()],
            branches: vec!["main".into()],
            tag_format: "v{{version}}".into(),
            ..CiInputs::default()
        }
    }

    /// The text of one job (from `  name:` to the next job).
    fn job<'a>(yaml: &'a str, name: &str) -> &'a str {
        let start = yaml
            .find(&format!("\n  {name}:\n"))
            .unwrap_or_else(|| panic!("no job `{name}`"))
            + 1;
        let rest = &yaml[start..];
        let mut end = rest.len();
        let mut offset = 0;
        for (i, l) in rest.lines().enumerate() {
            let b = l.as_bytes();
            if i > 0 && b.len() > 2 && b[0] == b' ' && b[1] == b' ' && b[2] != b' ' && b[2] != b'#'
            {
                end = offset;
                break;
            }
            offset += l.len() + 1;
        }
        &rest[..end]
    }

    /// The steps of a job, each as its text (from `      - ` to the next one).
    fn steps(job_text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = None;
        let mut offset = 0;
        for l in job_text.split_inclusive('\n') {
            if l.starts_with("      - ") {
                if let Some(s) = start {
                    out.push(&job_text[s..offset]);
                }
                start = Some(offset);
            }
            offset += l.len();
        }
        if let Some(s) = start {
            out.push(&job_text[s..]);
        }
        out
    }

    fn step<'a>(job_text: &'a str, name: &str) -> &'a str {
        steps(job_text)
            .into_iter()
            .find(|s| s.starts_with(&format!("      - name: {name}\n")))
            .unwrap_or_else(|| panic!("no step `{name}` in\n{job_text}"))
    }

    const JOBS: [&str; 5] = ["forge", "plan", "build", "publish", "merge"];

    #[test]
    fn output_is_deterministic_and_order_independent() {
        for p in [Provider::Github, Provider::Forgejo] {
            let a = generate(p, &inputs());
            assert_eq!(a, generate(p, &inputs()));
            let mut shuffled = inputs();
            shuffled.targets.reverse();
            shuffled.artifacts.reverse();
            shuffled.hosts.reverse();
            assert_eq!(
                a,
                generate(p, &shuffled),
                "list order changed the {p} workflow"
            );
            assert!(a.ends_with('\n') && !a.ends_with("\n\n"));
            assert!(!a.contains('\t') && !a.lines().any(|l| l.ends_with(' ')));
        }
    }

    #[test]
    fn header_says_how_to_regenerate() {
        for p in [Provider::Github, Provider::Forgejo] {
            let y = generate(p, &inputs());
            assert!(y.starts_with(&format!(
                "# generated by cargo forge-release ci; regenerate with `cargo forge-release ci --provider {p}`\n"
            )));
        }
    }

    #[test]
    fn every_target_is_in_the_matrix_on_a_native_runner() {
        let mut i = inputs();
        i.targets.push("armv7-unknown-linux-gnueabihf".into());
        i.targets.push("x86_64-unknown-linux-musl".into());
        let y = generate(Provider::Github, &i);
        let build = job(&y, "build");
        for (target, runner, arch) in [
            ("x86_64-unknown-linux-gnu", "ubuntu-24.04", "amd64"),
            ("aarch64-unknown-linux-gnu", "ubuntu-24.04-arm", "arm64"),
            ("armv7-unknown-linux-gnueabihf", "ubuntu-24.04", "amd64"),
            ("x86_64-unknown-linux-musl", "ubuntu-24.04", "amd64"),
        ] {
            let entry = format!(
                "          - target: '{target}'\n            runner: '{runner}'\n            arch: '{arch}'\n"
            );
            assert!(build.contains(&entry), "missing {target}:\n{build}");
        }
        // only the foreign architecture needs a cross linker, installed unless the runner has it
        assert!(build.contains(
            "cross-gcc: 'arm-linux-gnueabihf-gcc'\n            cross-packages: 'gcc-arm-linux-gnueabihf libc6-dev-armhf-cross'"
        ));
        assert_eq!(build.matches("cross-packages: ''").count(), 3);
        let linker = step(build, "install the cross linker");
        assert!(linker.contains("if command -v \"$CROSS_GCC\""), "{linker}");
        assert!(linker.contains("sudo apt-get install"));
        assert!(build.contains("runs-on: ${{ matrix.runner }}"));
        assert!(build.contains(
            "run: cargo-forge-release forge-release build --plan \"$PLAN\" --target \"$TARGET\" --out target/forge/ci/build"
        ));
        // the forge job builds cargo-forge on both architectures the matrix uses
        let forge = job(&y, "forge");
        assert!(forge.contains(
            "          - arch: 'amd64'\n            runner: 'ubuntu-24.04'\n          - arch: 'arm64'\n            runner: 'ubuntu-24.04-arm'\n"
        ));

        let f = generate(Provider::Forgejo, &i);
        let build = job(&f, "build");
        assert!(build.contains("runner: 'docker-arm64'"));
        assert!(build.contains("runner: 'docker'"));
        assert!(!build.contains("sudo "));

        // amd64 alone: one cargo-forge build, no arm64 runner anywhere
        let mut amd64 = inputs();
        amd64.targets = vec!["x86_64-unknown-linux-gnu".into()];
        let y = generate(Provider::Github, &amd64);
        assert!(!y.contains("ubuntu-24.04-arm"));
        assert!(!y.contains("cross-gcc"));
    }

    #[test]
    fn cargo_forge_is_built_at_most_once_per_architecture_and_skipped_when_on_path() {
        for p in [Provider::Github, Provider::Forgejo] {
            let y = generate(p, &inputs());
            // built in the forge job only, from the project's repository at this version's tag,
            // never from crates.io
            assert_eq!(y.matches("cargo install").count(), 1, "{y}");
            let forge = job(&y, "forge");
            let build = step(forge, "build cargo-forge");
            assert!(
                build.contains("if: steps.forge.outputs.path == ''"),
                "{build}"
            );
            assert!(build
                .contains("cargo install --locked --git \"$FORGE_GIT\" --tag \"v$FORGE_VERSION\""));
            assert!(build.contains(&format!("FORGE_GIT: '{FORGE_GIT}'")));
            assert!(y.contains(&format!("FORGE_VERSION: '{}'", env!("CARGO_PKG_VERSION"))));
            // its Rust is checked and installed only when it must build
            assert!(step(forge, "check rust").contains("if: steps.forge.outputs.path == ''"));
            assert!(
                step(forge, "install rust").contains("if: steps.rust.outputs.install == 'true'")
            );
            let hand = step(forge, "hand cargo-forge to the other jobs");
            assert!(hand.contains("name: cargo-forge-${{ matrix.arch }}"));
            // every other job uses the runner's own, else fetches the forge job's
            for name in ["plan", "build", "publish", "merge"] {
                let j = job(&y, name);
                assert!(
                    j.contains("needs: [forge, ") || j.contains("needs: forge\n"),
                    "{j}"
                );
                let look = step(j, "look for cargo-forge on the runner");
                assert!(look.contains(
                    "\"$(cargo-forge-release forge-release --version 2>/dev/null)\" = \"cargo-forge-release $FORGE_VERSION\""
                ));
                let fetch = step(j, "fetch cargo-forge");
                assert!(fetch.contains("if: steps.forge.outputs.path == ''"));
                let arch = if name == "build" {
                    "${{ matrix.arch }}"
                } else {
                    "amd64"
                };
                assert!(
                    fetch.contains(&format!("name: cargo-forge-{arch}\n")),
                    "{fetch}"
                );
                assert!(step(j, "put cargo-forge on PATH")
                    .contains("if: steps.forge.outputs.path == ''"));
                // and calls it directly: no job needs cargo to run cargo-forge
                assert!(!j.contains("cargo forge-"), "{j}");
            }
        }
    }

    #[test]
    fn rust_is_checked_before_it_is_installed_and_only_where_cargo_runs() {
        let mut i = inputs();
        i.toolchain = Some("/usr".into());
        let y = generate(Provider::Github, &i);
        for (name, targets) in [("plan", "''"), ("build", "${{ matrix.target }}")] {
            let j = job(&y, name);
            let check = step(j, "check rust");
            assert!(check.contains("TOOLCHAIN: '/usr'"), "{check}");
            assert!(
                check.contains(&format!("RUST_TARGETS: {targets}\n")),
                "{check}"
            );
            assert!(check.contains("lib/rustlib/$target/lib"));
            let install = step(j, "install rust");
            assert!(install.contains("if: steps.rust.outputs.install == 'true'"));
            // a toolchain directory cannot be installed: the job says where it must run
            assert!(install.contains("::error::the toolchain directory $TOOLCHAIN"));
            assert!(install.contains("rustup target add"));
        }
        // every phase reads the workspace with cargo; only the build jobs need a target's std
        for name in ["publish", "merge"] {
            let j = job(&y, name);
            assert!(
                step(j, "check rust").contains("RUST_TARGETS: ''\n"),
                "{name}"
            );
            assert!(step(j, "install rust").contains("if: steps.rust.outputs.install == 'true'"));
        }
        let y = generate(Provider::Github, &inputs());
        assert!(step(job(&y, "build"), "check rust").contains("TOOLCHAIN: ''"));
    }

    #[test]
    fn without_images_there_is_no_merge_job_and_no_package_permission() {
        let mut i = inputs();
        i.artifacts = vec!["archive".into()];
        i.hosts = vec!["github".into()];
        i.image_repository = None;
        let y = generate(Provider::Github, &i);
        assert!(!y.contains("\n  merge:\n"));
        assert!(!y.contains("packages: write"));
        assert!(!y.contains("push-image"));
        assert!(!y.contains("digests"));
        assert!(step(job(&y, "build"), "keep the artifacts")
            .contains("    path: target/forge/ci/build\n"));
        // with images, the platform layouts stay with the build job (push-image pushes them)
        let y = generate(Provider::Github, &inputs());
        assert!(step(job(&y, "build"), "keep the artifacts").contains(
            "path: |\n            target/forge/ci/build\n            !target/forge/ci/build/*/*/image-*\n"
        ));
    }

    #[test]
    fn publish_is_behind_the_approval_gate_and_merge_after_it() {
        let y = generate(Provider::Github, &inputs());
        let publish = job(&y, "publish");
        assert!(
            publish.contains("\n    environment: release\n"),
            "{publish}"
        );
        assert!(publish.contains("needs: [forge, plan, build]"));
        assert!(publish.contains(
            "run: cargo-forge-release forge-release publish --plan \"$PLAN\" --artifacts target/forge/ci/artifacts --yes --no-tag"
        ));
        let merge = job(&y, "merge");
        assert!(merge.contains("needs: [forge, plan, publish]"));
        assert!(merge.contains(
            "run: cargo-forge-release forge-release merge --plan \"$PLAN\" --digests target/forge/ci/digests"
        ));
        assert!(merge.contains("merge-multiple: true"));
        assert_eq!(y.matches("environment:").count(), 1);

        let f = generate(Provider::Forgejo, &inputs());
        let publish = job(&f, "publish");
        assert!(publish.contains("if: github.event_name == 'workflow_dispatch'"));
        assert!(!f.contains("environment:"));
    }

    #[test]
    fn every_job_after_plan_executes_the_plan() {
        let y = generate(Provider::Github, &inputs());
        assert!(y.contains("  PLAN: target/forge/ci/plan/plan.json\n"));
        let plan = job(&y, "plan");
        assert!(plan.contains(
            "run: cargo-forge-release forge-release plan \"$VERSION\" --package \"$PACKAGE\" --out target/forge/ci/plan"
        ));
        assert!(step(plan, "keep the plan").contains("path: ${{ env.PLAN }}"));
        for name in ["build", "publish", "merge"] {
            let j = job(&y, name);
            assert!(step(j, "fetch the plan").contains("name: plan\n"));
            assert!(j.contains("--plan \"$PLAN\""), "{name}");
        }
    }

    #[test]
    fn secrets_only_where_used() {
        let mut i = inputs();
        i.image_repository = Some("registry.example.com/acme/app".into());
        i.hosts = vec!["github".into(), "s3".into(), "oci".into()];
        i.s3_credentials = true;
        i.gpg = true;
        i.minisign_key = Some("keys/minisign.key".into());
        for p in [Provider::Github, Provider::Forgejo] {
            let y = generate(p, &i);
            // no workflow-level secret
            let top = &y[..y.find("\njobs:\n").unwrap()];
            assert!(!top.contains("secrets."), "{top}");
            for name in ["forge", "plan"] {
                assert!(!job(&y, name).contains("secrets."), "{name}");
            }
            // build: only the push-image step, which runs no cargo
            let build = job(&y, "build");
            for s in steps(build) {
                if s.contains("id: push-image") {
                    assert!(s.contains(
                        "FORGE_REGISTRY_PASSWORD: ${{ secrets.FORGE_REGISTRY_PASSWORD }}"
                    ));
                    assert!(s.contains("run: cargo-forge-release forge-release push-image"));
                    assert!(!s.contains("forge-release build"));
                } else {
                    assert!(!s.contains("secrets."), "{s}");
                }
            }
            let publish = job(&y, "publish");
            let run = step(publish, "publish");
            for secret in [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "MINISIGN_PASSWORD",
            ] {
                assert!(
                    run.contains(&format!("{secret}: ${{{{ secrets.{secret} }}}}")),
                    "{run}"
                );
            }
            assert!(!run.contains("FORGE_REGISTRY"), "publish pushes no image");
            let gpg = step(publish, "import the gpg signing key");
            assert!(gpg.contains("GPG_PRIVATE_KEY: ${{ secrets.GPG_PRIVATE_KEY }}"));
            assert!(gpg.contains("gpg --batch --import"));
            assert!(gpg.contains("GNUPGHOME=$GNUPGHOME"));
            let minisign = step(publish, "write the minisign key");
            assert!(minisign.contains("MINISIGN_KEY_FILE: 'keys/minisign.key'"));
            // the header names every secret
            let header = &y[..y.find("\nname: release\n").unwrap()];
            for secret in [
                "AWS_ACCESS_KEY_ID",
                "FORGE_REGISTRY_USERNAME",
                "GPG_PRIVATE_KEY",
                "GPG_PASSPHRASE",
                "MINISIGN_KEY",
                "MINISIGN_PASSWORD",
            ] {
                assert!(header.contains(&format!("#   {secret} ")), "{header}");
            }
            // and every secret the workflow reads is in the header (the workflow's own tokens aside)
            for used in y.split("secrets.").skip(1) {
                let name: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    header.contains(&format!("#   {name} "))
                        || (p == Provider::Github && name == "GITHUB_TOKEN"),
                    "{p}: {name} is not in the header"
                );
            }
        }
        // without signing there is no key step
        let y = generate(Provider::Github, &inputs());
        assert!(!y.contains("GPG_") && !y.contains("MINISIGN"));
    }

    #[test]
    fn permissions_are_minimal() {
        let y = generate(Provider::Github, &inputs());
        assert!(y.contains("\npermissions: {}\n"));
        assert!(!y.contains("id-token"));
        assert!(!y.contains("write-all") && !y.contains("read-all"));
        let perms = |job_text: &str| -> Vec<String> {
            if job_text.contains("\n    permissions: {}\n") {
                return Vec::new();
            }
            job_text
                .lines()
                .skip_while(|l| l.trim() != "permissions:")
                .skip(1)
                .take_while(|l| l.starts_with("      "))
                .map(|l| l.split('#').next().unwrap().trim().to_string())
                .collect()
        };
        assert!(perms(job(&y, "forge")).is_empty());
        assert_eq!(perms(job(&y, "plan")), ["contents: read"]);
        assert_eq!(
            perms(job(&y, "build")),
            ["contents: read", "packages: write"]
        );
        assert_eq!(perms(job(&y, "publish")), ["contents: write"]);
        assert_eq!(
            perms(job(&y, "merge")),
            ["contents: read", "packages: write"]
        );
        // every permission says what it is for
        for l in y.lines().filter(|l| {
            l.trim_start().starts_with("contents:") || l.trim_start().starts_with("packages:")
        }) {
            assert!(l.contains(" # "), "undocumented permission: {l}");
        }

        // publishing to S3 and a directory needs no write access to the repository
        let mut i = inputs();
        i.hosts = vec!["s3".into(), "dir".into()];
        i.s3_credentials = true;
        i.artifacts = vec!["archive".into()];
        let y = generate(Provider::Github, &i);
        assert_eq!(perms(job(&y, "publish")), ["contents: read"]);
        assert!(y.contains("AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}"));
        assert!(!y.contains("GITHUB_TOKEN: ${{"));

        // another registry: its own credentials, no package permission
        let mut i = inputs();
        i.image_repository = Some("quay.io/acme/app".into());
        let y = generate(Provider::Github, &i);
        assert!(!y.contains("packages: write"));
        assert_eq!(perms(job(&y, "merge")), ["contents: read"]);
    }

    #[test]
    fn publishing_runs_one_at_a_time_per_repository_and_is_never_cancelled() {
        for p in [Provider::Github, Provider::Forgejo] {
            let y = generate(p, &inputs());
            let group = "    concurrency:\n      group: release-publish-${{ github.repository }}\n      cancel-in-progress: false\n";
            for name in ["publish", "merge"] {
                let j = job(&y, name);
                assert!(j.contains(group), "{p} {name}:\n{j}");
                // GitHub keeps one waiting run per group unless told to queue them all
                assert_eq!(
                    j.contains("      queue: max\n"),
                    p == Provider::Github,
                    "{p} {name}"
                );
            }
            for name in ["forge", "plan", "build"] {
                assert!(!job(&y, name).contains("concurrency:"), "{name}");
            }
            assert!(!y.contains("cancel-in-progress: true"));
        }
    }

    #[test]
    fn no_expression_reaches_a_shell_and_actions_are_pinned() {
        for p in [Provider::Github, Provider::Forgejo] {
            let y = generate(p, &inputs());
            let mut in_run = None;
            for l in y.lines() {
                let indent = l.len() - l.trim_start().len();
                if let Some(i) = in_run {
                    if indent > i || l.trim().is_empty() {
                        assert!(!l.contains("${{"), "expression in a script: {l}");
                        continue;
                    }
                    in_run = None;
                }
                let t = l.trim_start().trim_start_matches("- ");
                if let Some(rest) = t.strip_prefix("run:") {
                    assert!(!rest.contains("${{"), "expression in a script: {l}");
                    in_run = Some(indent);
                }
                if let Some(uses) = t.strip_prefix("uses: ") {
                    let (action, comment) = uses.split_once(" # v").expect("a version comment");
                    let sha = action.split_once('@').unwrap().1;
                    assert!(
                        sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                        "{l}"
                    );
                    assert!(comment.split('.').count() == 3, "{l}");
                }
            }
            assert_eq!(
                y.matches("persist-credentials: false").count(),
                y.matches(CHECKOUT).count()
            );
            assert_eq!(y.matches("timeout-minutes:").count(), JOBS.len());
        }
    }

    #[test]
    fn tag_format_and_branches_reach_the_trigger_and_the_check() {
        let mut i = inputs();
        i.tag_format = "app-v{{version}}".into();
        i.branches = vec!["release/*".into(), "main".into()];
        let y = generate(Provider::Github, &i);
        assert!(y.contains("    tags:\n      - 'app-v*.*.*'\n"));
        assert!(y.contains("TAG_PREFIX: 'app-v'"));
        assert!(y.contains("RELEASE_BRANCHES: 'main release/*'"));
        assert_eq!(
            Model::new(
                Provider::Github,
                &CiInputs {
                    tag_format: "v{{version}}+x".into(),
                    ..inputs()
                }
            )
            .tag_filter(),
            "v*.*.*\\+x"
        );
        // {{name}} is the package's name
        i.tag_format = "{{name}}/v{{version}}".into();
        validate(&i).unwrap();
        let y = generate(Provider::Github, &i);
        assert!(y.contains("      - 'app/v*.*.*'\n"), "{y}");
        assert!(y.contains("TAG_PREFIX: 'app/v'"));
    }

    #[test]
    fn validate_rejects_what_cannot_be_generated_safely() {
        assert!(validate(&inputs()).is_ok());
        let bad = |f: &dyn Fn(&mut CiInputs)| {
            let mut i = inputs();
            f(&mut i);
            validate(&i).unwrap_err().to_string()
        };
        assert!(bad(&|i| i.targets.push("x86_64-pc-windows-msvc".into()))
            .contains("x86_64-pc-windows-msvc"));
        assert!(bad(&|i| i.tag_format = "release".into()).contains("{{version}}"));
        assert!(
            bad(&|i| i.tag_format = "v{{version}}${{ github.token }}".into())
                .contains("tag format")
        );
        assert!(bad(&|i| i.artifacts.push("flatpak".into())).contains("unknown artifact `flatpak`"));
        assert!(bad(&|i| i.hosts.push("ftp".into())).contains("unknown host kind `ftp`"));
        assert!(bad(&|i| i.branches = vec!["main\nx".into()]).contains("release branch"));
        assert!(
            bad(&|i| i.image_repository = Some("GHCR.io/x'".into())).contains("image repository")
        );
        assert!(bad(&|i| i.package = "a b".into()).contains("package name"));
        assert!(bad(&|i| i.toolchain = Some("stable'; rm -rf /".into())).contains("toolchain"));
        assert!(bad(&|i| i.minisign_key = Some("k$(id)".into())).contains("minisign key"));
    }

    #[test]
    fn settings_for_some_runners_only_are_warned_about() {
        let hosts: Vec<HostSpec> = serde_json::from_value(serde_json::json!([
            {"kind": "oci", "repository": "127.0.0.1:5000/acme/app"},
            {"kind": "oci", "repository": "ghcr.io/acme/app"},
            {"kind": "s3", "bucket": "b", "endpoint": "http://localhost:8333"},
            {"kind": "s3", "bucket": "b", "endpoint": "https://s3.example.com"},
            {"kind": "gitea", "url": "http://[::1]:3000", "repo": "a/b"},
            {"kind": "dir", "path": "/srv/releases"},
            {"kind": "dir", "path": "dist"},
            {"kind": "apt", "url": "s3://b/apt", "endpoint": "http://127.0.0.2:9000"}
        ]))
        .unwrap();
        let w = portability_warnings(Provider::Github, Some("/usr"), &hosts);
        let all = w.join("\n");
        assert_eq!(w.len(), 7, "{all}");
        for part in [
            "`toolchain = \"/usr\"` is a directory",
            "`127.0.0.1:5000/acme/app` is on loopback",
            "`http://localhost:8333` is on loopback",
            "`http://[::1]:3000` is on loopback",
            "`/srv/releases` is an absolute directory",
            "`dist` is inside the publish job's checkout",
            "`http://127.0.0.2:9000` is on loopback",
        ] {
            assert!(all.contains(part), "{part}:\n{all}");
        }
        assert!(!all.contains("ghcr.io") && !all.contains("s3.example.com"));
        assert!(portability_warnings(Provider::Github, Some("stable"), &hosts[1..2]).is_empty());
        // no host at all: the default directory is lost with the runner
        assert!(portability_warnings(Provider::Forgejo, None, &[])[0].contains("no `hosts`"));
    }

    #[test]
    fn loopback_locations() {
        for l in [
            "localhost",
            "localhost:5000/a",
            "127.0.0.1:5000/acme/app",
            "http://127.1.2.3",
            "https://user@localhost:8443/x",
            "[::1]:5000/a",
            "http://[::1]/",
            "registry.localhost/a",
        ] {
            assert!(is_loopback(l), "{l}");
        }
        for l in [
            "ghcr.io/acme/app",
            "https://codeberg.org",
            "10.0.0.1:5000/a",
            "http://[2001:db8::1]:80",
            "localhost.example.com/a",
        ] {
            assert!(!is_loopback(l), "{l}");
        }
    }

    #[test]
    fn check_fails_when_missing_or_stale_and_passes_after_write() {
        let dir = tempfile::tempdir().unwrap();
        let err = check(dir.path(), Provider::Github, &inputs()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`.github/workflows/release.yml` is missing: run `cargo forge-release ci --provider github` and commit it"
        );
        assert_eq!(forge_core::exit::code_of(&err), ErrorKind::Check.code());
        let path = write(dir.path(), Provider::Github, &inputs()).unwrap();
        assert_eq!(path, dir.path().join(".github/workflows/release.yml"));
        check(dir.path(), Provider::Github, &inputs()).unwrap();
        let mut more = inputs();
        more.targets.push("riscv64gc-unknown-linux-gnu".into());
        let err = check(dir.path(), Provider::Github, &more)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`.github/workflows/release.yml` is stale"),
            "{err}"
        );
        assert!(err.ends_with("run `cargo forge-release ci --provider github` and commit it"));
        // the other provider's file is separate
        assert!(check(dir.path(), Provider::Forgejo, &inputs()).is_err());
    }
}
