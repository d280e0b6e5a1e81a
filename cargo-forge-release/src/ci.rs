//! `cargo forge-release ci`: the release workflow for GitHub Actions or Forgejo Actions, as text.
//!
//! [`generate`] is a pure function of [`CiInputs`] (and of this crate's version, which the
//! workflow installs): the same inputs give the same bytes, so [`check`] can tell a stale
//! committed workflow by comparing text, as rust-analyzer's tidy checks generated files. Nothing
//! here runs a command or reads the workspace; the caller resolves the configuration.
//!
//! The workflow is one run per release tag (design §7):
//!
//! - `plan` checks the tag (semver in the tag format, cut from an allowed branch) and runs
//!   `cargo forge-release plan`;
//! - `build` fans out over the targets, one job per target on a runner of the target's own
//!   architecture (arm64 on an arm64 runner: native builds, not qemu), other architectures
//!   cross-compiled with Debian's cross gcc; with images, each job pushes its platform's image
//!   by digest, untagged, so nothing is visible yet;
//! - `publish` is the approval gate (a GitHub environment; on Forgejo, which has no environment
//!   protection, a manual dispatch) and publishes the artifacts of every runner;
//! - `merge` joins the platform images into one index and tags it, after `publish`, so tags and
//!   `latest` come last and only after approval (the publishing order of the hosts).
//!
//! The text is written by hand rather than through a YAML serialiser: comments matter in a file
//! people review (why the concurrency group never cancels, what each permission is for), and
//! key order is part of its readability. Every value that comes from the user goes into an
//! `env:` entry, single-quoted; `run:` scripts are fixed text reading environment variables, so
//! nothing reaches a shell through `${{ }}` (zizmor's template-injection audit). Actions are
//! pinned by full commit SHA.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use forge_core::exit::{usage, ErrorKind, ResultExt as _};

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
pub struct CiInputs {
    /// The package released (`--package`).
    pub package: String,
    /// Rust target triples, e.g. `x86_64-unknown-linux-gnu`, `aarch64-unknown-linux-gnu`
    /// (empty: `x86_64-unknown-linux-gnu`).
    pub targets: Vec<String>,
    /// `archive`, `deb`, `image`.
    pub artifacts: Vec<String>,
    /// Where images are pushed, e.g. `ghcr.io/acme/app` (`None`: the `repository` of the image
    /// configuration).
    pub image_repository: Option<String>,
    /// Host kinds: `github`, `gitea`, `s3`, `oci`, `apt`, `dir`.
    pub hosts: Vec<String>,
    /// Branches (or git patterns such as `release/*`) a release tag may be cut from
    /// (empty: `main`).
    pub branches: Vec<String>,
    /// The tag format, e.g. `v{{version}}`.
    pub tag_format: String,
}

impl Default for CiInputs {
    fn default() -> CiInputs {
        CiInputs {
            package: String::new(),
            targets: Vec::new(),
            artifacts: vec!["archive".into()],
            image_repository: None,
            hosts: Vec::new(),
            branches: vec!["main".into()],
            tag_format: "v{{version}}".into(),
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
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
const UPLOAD_ARTIFACT: &str =
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2";
const DOWNLOAD_ARTIFACT: &str =
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0";

const ARTIFACT_KINDS: &[&str] = &["archive", "deb", "image"];
const HOST_KINDS: &[&str] = &["github", "gitea", "s3", "oci", "apt", "dir"];
const DEFAULT_TARGET: &str = "x86_64-unknown-linux-gnu";

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
    match inputs.tag_format.split_once("{{version}}") {
        Some((prefix, suffix)) if !suffix.contains("{{version}}") => {
            let ok = format!("{prefix}{suffix}")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
            if !ok {
                problems.push(format!(
                    "invalid tag format `{}`: only letters, digits, `-`, `_`, `.` and `/` may surround `{{{{version}}}}`",
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
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_./:".contains(c));
        if !ok {
            problems.push(format!("invalid image repository `{r}`"));
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

/// One build job of the matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    target: String,
    runner: &'static str,
    /// OCI platform, e.g. `linux/arm64`.
    platform: Option<String>,
    /// Debian packages of the cross linker, for targets the runner's CPU does not run.
    apt: Option<String>,
}

fn runner(provider: Provider, dpkg_arch: &str) -> &'static str {
    match (provider, dpkg_arch) {
        (Provider::Github, "arm64") => "ubuntu-24.04-arm",
        (Provider::Github, _) => "ubuntu-24.04",
        (Provider::Forgejo, "arm64") => "docker-arm64",
        (Provider::Forgejo, _) => "docker",
    }
}

fn row(provider: Provider, triple: &str) -> Row {
    match forge_core::target::lookup(triple) {
        Ok(t) => {
            let native = matches!(t.dpkg_arch.as_str(), "amd64" | "arm64");
            Row {
                target: triple.to_string(),
                runner: runner(provider, &t.dpkg_arch),
                platform: Some(t.oci_platform()),
                apt: (!native).then(|| {
                    format!(
                        "gcc-{} libc6-dev-{}-cross",
                        t.gcc_prefix.trim_end_matches('-'),
                        t.dpkg_arch
                    )
                }),
            }
        }
        // `validate` rejects these; `generate` stays total.
        Err(_) => Row {
            target: triple.to_string(),
            runner: runner(provider, "amd64"),
            platform: None,
            apt: None,
        },
    }
}

/// Everything [`generate`] derives from the inputs, sorted so the output does not depend on the
/// order of lists in Cargo.toml.
struct Model<'a> {
    provider: Provider,
    inputs: &'a CiInputs,
    rows: Vec<Row>,
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
        let mut hosts = inputs.hosts.clone();
        hosts.sort();
        hosts.dedup();
        let mut branches = inputs.branches.clone();
        if branches.is_empty() {
            branches.push("main".into());
        }
        branches.sort();
        branches.dedup();
        let (tag_prefix, tag_suffix) = inputs
            .tag_format
            .split_once("{{version}}")
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .unwrap_or_else(|| ("v".into(), String::new()));
        Model {
            provider,
            inputs,
            rows: targets.iter().map(|t| row(provider, t)).collect(),
            image: inputs.artifacts.iter().any(|a| a == "image"),
            hosts,
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
    lines(
        out,
        0,
        "#   plan     checks the tag (semver, cut from a release branch) and plans the release;
#   build    builds and stages the artifacts, one job per target on a runner of that
#            architecture (native builds, no emulation; other architectures cross-compiled)",
    );
    if m.image {
        lines(
            out,
            0,
            "#            and pushes each platform's image by digest, untagged (nothing visible yet);",
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
    let gh = m.github();
    // (name, what it is, which jobs read it)
    let mut secrets: Vec<(&str, &str, &str)> = Vec::new();
    if m.has_host("github") && !gh {
        secrets.push((
            "GH_TOKEN",
            "a GitHub token that may create releases",
            "publish",
        ));
    }
    if m.has_host("gitea") && gh {
        secrets.push((
            "GITEA_TOKEN",
            "a Gitea/Forgejo token that may create releases",
            "publish",
        ));
    }
    if m.has_host("s3") {
        secrets.push(("AWS_ACCESS_KEY_ID", "S3 credentials", "publish"));
        secrets.push(("AWS_SECRET_ACCESS_KEY", "S3 credentials", "publish"));
    }
    if (m.image || m.has_host("oci")) && m.registry_secrets() {
        let jobs = match (m.image, m.has_host("oci")) {
            (true, true) => "build, publish, merge",
            (true, false) => "build, merge",
            _ => "publish",
        };
        secrets.push(("FORGE_REGISTRY_USERNAME", "the image registry's user", jobs));
        secrets.push(("FORGE_REGISTRY_PASSWORD", "and its password or token", jobs));
    }
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

# One run per release tag, never cancelled halfway: a second run for the same tag waits for the
# first (cancel-in-progress: false) rather than stopping it, because a `publish` stopped midway
# leaves a draft release or half-uploaded assets behind until someone runs it again.
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
    if m.image {
        if let Some(r) = &m.inputs.image_repository {
            let _ = writeln!(out, "  IMAGE_REPOSITORY: {}", q(r));
        }
    }
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

/// Installs Rust (the runner's rustup; on Forgejo's containers rustup itself first).
fn install_rust(out: &mut String, target: bool) {
    lines(out, 6, "- name: install rust\n  run: |");
    {
        // GitHub's runners have rustup; Forgejo's job containers usually do not.
        lines(
            out,
            10,
            "if ! command -v rustup >/dev/null; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
  echo \"$HOME/.cargo/bin\" >> \"$GITHUB_PATH\"
  export PATH=\"$HOME/.cargo/bin:$PATH\"
fi",
        );
    }
    lines(
        out,
        10,
        "rustup toolchain install stable --profile minimal
rustup default stable",
    );
    if target {
        lines(out, 10, "rustup target add \"$TARGET\"");
    }
}

/// `cargo install`s the given cargo-forge commands, at the version that generated the workflow.
fn install_forge(out: &mut String, crates: &[&str]) {
    let specs: Vec<String> = crates
        .iter()
        .map(|c| format!("\"{c}@$FORGE_VERSION\""))
        .collect();
    lines(
        out,
        6,
        &format!(
            "- name: install cargo-forge
  run: cargo install --locked {}",
            specs.join(" ")
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

fn plan_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  plan:");
    lines(
        out,
        4,
        &format!(
            "name: plan
runs-on: {}
timeout-minutes: 30
permissions:
  contents: read # check out the repository
outputs:
  version: ${{{{ steps.tag.outputs.version }}}}
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
    install_rust(out, false);
    install_forge(out, &["cargo-forge-release"]);
    lines(
        out,
        6,
        &format!(
            "- name: plan
  env:
    VERSION: ${{{{ steps.tag.outputs.version }}}}
  run: cargo forge-release plan \"$VERSION\" --package \"$PACKAGE\" --out target/forge/ci/plan --message-format json
- name: keep the plan
  uses: {UPLOAD_ARTIFACT}
  with:
    name: plan
    path: target/forge/ci/plan
    if-no-files-found: error
"
        ),
    );
}

fn build_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  build:");
    lines(
        out,
        4,
        "name: build ${{ matrix.target }}
needs: plan
runs-on: ${{ matrix.runner }}
timeout-minutes: 120
permissions:
  contents: read # check out the repository",
    );
    if m.image && m.ghcr() {
        lines(
            out,
            4,
            "  packages: write # push this platform's image to ghcr.io, by digest (untagged)",
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
    let cross = m.rows.iter().any(|r| r.apt.is_some());
    for r in &m.rows {
        let _ = writeln!(out, "          - target: {}", q(&r.target));
        let _ = writeln!(out, "            runner: {}", q(r.runner));
        if m.image {
            let _ = writeln!(
                out,
                "            platform: {}",
                q(r.platform.as_deref().unwrap_or(""))
            );
        }
        if cross {
            let _ = writeln!(
                out,
                "            cross-packages: {}",
                q(r.apt.as_deref().unwrap_or(""))
            );
        }
    }
    lines(
        out,
        4,
        "env:
  TARGET: ${{ matrix.target }}
  VERSION: ${{ needs.plan.outputs.version }}
steps:",
    );
    checkout(out, false);
    install_rust(out, true);
    if cross {
        let sudo = if m.github() { "sudo " } else { "" };
        lines(
            out,
            6,
            &format!(
                "- name: install the cross linker
  if: matrix.cross-packages != ''
  env:
    CROSS_PACKAGES: ${{{{ matrix.cross-packages }}}}
  run: |
    read -ra packages <<< \"$CROSS_PACKAGES\"
    {sudo}apt-get update
    {sudo}apt-get install -y --no-install-recommends \"${{packages[@]}}\""
            ),
        );
    }
    if m.image {
        install_forge(out, &["cargo-forge-release", "cargo-forge-image"]);
    } else {
        install_forge(out, &["cargo-forge-release"]);
    }
    lines(
        out,
        6,
        "- name: build
  run: cargo forge-release build \"$VERSION\" --package \"$PACKAGE\" --target \"$TARGET\" --out \"target/forge/ci/build/$TARGET\"",
    );
    if m.image {
        lines(out, 6, "- name: push the image by digest");
        let mut env = vec!["PLATFORM: ${{ matrix.platform }}".to_string()];
        env.extend(registry_env(m));
        env_block(out, 8, &env);
        let repo = if m.inputs.image_repository.is_some() {
            " --repository \"$IMAGE_REPOSITORY\""
        } else {
            ""
        };
        lines(
            out,
            8,
            &format!(
                "run: |
  mkdir -p target/forge/ci/digests
  cargo forge-image --package \"$PACKAGE\" --target \"$TARGET\" --platform \"$PLATFORM\"{repo} --push-by-digest --digest-file \"target/forge/ci/digests/$TARGET.json\""
            ),
        );
    }
    lines(
        out,
        6,
        &format!(
            "- name: keep the artifacts
  uses: {UPLOAD_ARTIFACT}
  with:
    name: build-${{{{ matrix.target }}}}
    path: target/forge/ci/build/${{{{ matrix.target }}}}
    if-no-files-found: error"
        ),
    );
    if m.image {
        lines(
            out,
            6,
            &format!(
                "- name: keep the image digest
  uses: {UPLOAD_ARTIFACT}
  with:
    name: digest-${{{{ matrix.target }}}}
    path: target/forge/ci/digests/${{{{ matrix.target }}}}.json
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
needs: [plan, build]
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
    let oci = m.has_host("oci");
    if oci && m.ghcr() {
        lines(out, 6, "packages: write # push the image to ghcr.io");
    }
    lines(
        out,
        4,
        "env:
  VERSION: ${{ needs.plan.outputs.version }}
steps:",
    );
    checkout(out, false);
    install_rust(out, false);
    install_forge(out, &["cargo-forge-release"]);
    lines(
        out,
        6,
        &format!(
            "- name: fetch every runner's artifacts
  uses: {DOWNLOAD_ARTIFACT}
  with:
    pattern: build-*
    path: target/forge/ci/artifacts
- name: publish"
        ),
    );
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
    if m.has_host("s3") {
        env.push("AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}".to_string());
        env.push("AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}".to_string());
    }
    if oci {
        for e in registry_env(m) {
            if !env.contains(&e) {
                env.push(e);
            }
        }
    }
    env_block(out, 8, &env);
    lines(
        out,
        8,
        "# --no-tag: the tag is already pushed, it is what started this run. The subcommand's binary is
# called directly (as cargo would) because `cargo ... publish` reads as a crates.io upload to
# zizmor's use-trusted-publishing audit; this publishes to the configured hosts only.
run: cargo-forge-release forge-release publish --package \"$PACKAGE\" --artifacts target/forge/ci/artifacts --yes --no-tag",
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
needs: [plan, publish]
runs-on: {}
timeout-minutes: 30
permissions:
  contents: read # check out the repository (the image's tag templates)",
            m.runner()
        ),
    );
    if m.ghcr() {
        lines(
            out,
            4,
            "  packages: write # push the index and its tags to ghcr.io",
        );
    }
    lines(out, 4, "steps:");
    checkout(out, false);
    install_rust(out, false);
    if !m.github() {
        lines(
            out,
            6,
            "- name: install jq
  run: |
    apt-get update
    apt-get install -y --no-install-recommends jq",
        );
    }
    install_forge(out, &["cargo-forge-image"]);
    lines(
        out,
        6,
        &format!(
            "- name: fetch the platform digests
  uses: {DOWNLOAD_ARTIFACT}
  with:
    pattern: digest-*
    merge-multiple: true
    path: target/forge/ci/digests
- name: tag the multi-platform image"
        ),
    );
    env_block(out, 8, &registry_env(m));
    let repo = if m.inputs.image_repository.is_some() {
        " --repository \"$IMAGE_REPOSITORY\""
    } else {
        ""
    };
    lines(
        out,
        8,
        &format!(
            r#"run: |
  # the tags the image configuration gives this version (a pre-release gets only its own)
  plan=$(cargo forge-image --dry-run --message-format json --package "$PACKAGE"{repo} --platform linux/amd64)
  mapfile -t tags < <(jq -r '.plan.tags[]' <<< "$plan")
  if [ "${{#tags[@]}}" -eq 0 ]; then
    echo "::error::the image configuration gives no tags for $RELEASE_TAG"
    exit 1
  fi
  args=()
  for tag in "${{tags[@]}}"; do
    args+=(--tag "$tag")
  done
  cargo forge-image merge "${{args[@]}}" target/forge/ci/digests/*.json"#
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
        for (target, runner, platform) in [
            ("x86_64-unknown-linux-gnu", "ubuntu-24.04", "linux/amd64"),
            (
                "aarch64-unknown-linux-gnu",
                "ubuntu-24.04-arm",
                "linux/arm64/v8",
            ),
            (
                "armv7-unknown-linux-gnueabihf",
                "ubuntu-24.04",
                "linux/arm/v7",
            ),
            ("x86_64-unknown-linux-musl", "ubuntu-24.04", "linux/amd64"),
        ] {
            let entry = format!(
                "          - target: '{target}'\n            runner: '{runner}'\n            platform: '{platform}'\n"
            );
            assert!(build.contains(&entry), "missing {target}:\n{build}");
        }
        // only the foreign architecture needs a cross linker
        assert!(build.contains("cross-packages: 'gcc-arm-linux-gnueabihf libc6-dev-armhf-cross'"));
        assert_eq!(build.matches("cross-packages: ''").count(), 3);
        assert!(build.contains("sudo apt-get install"));
        assert!(build.contains("runs-on: ${{ matrix.runner }}"));
        assert!(build.contains("cargo forge-release build \"$VERSION\""));
        assert!(build.contains("--push-by-digest --digest-file"));

        let f = generate(Provider::Forgejo, &i);
        let build = job(&f, "build");
        assert!(build.contains("runner: 'docker-arm64'"));
        assert!(build.contains("runner: 'docker'"));
        assert!(!build.contains("sudo "));
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
        assert!(!y.contains("forge-image"));
        assert!(!y.contains("platform:"));
    }

    #[test]
    fn publish_is_behind_the_approval_gate_and_merge_after_it() {
        let y = generate(Provider::Github, &inputs());
        let publish = job(&y, "publish");
        assert!(
            publish.contains("\n    environment: release\n"),
            "{publish}"
        );
        assert!(publish.contains("needs: [plan, build]"));
        assert!(publish.contains(
            "cargo-forge-release forge-release publish --package \"$PACKAGE\" --artifacts target/forge/ci/artifacts --yes --no-tag"
        ));
        let merge = job(&y, "merge");
        assert!(merge.contains("needs: [plan, publish]"));
        assert!(merge.contains("cargo forge-image merge"));
        assert_eq!(y.matches("environment:").count(), 1);

        let f = generate(Provider::Forgejo, &inputs());
        let publish = job(&f, "publish");
        assert!(publish.contains("if: github.event_name == 'workflow_dispatch'"));
        assert!(!f.contains("environment:"));
    }

    #[test]
    fn permissions_are_minimal() {
        let y = generate(Provider::Github, &inputs());
        assert!(y.contains("\npermissions: {}\n"));
        assert!(!y.contains("id-token"));
        assert!(!y.contains("write-all") && !y.contains("read-all"));
        let perms = |job_text: &str| -> Vec<String> {
            job_text
                .lines()
                .skip_while(|l| l.trim() != "permissions:")
                .skip(1)
                .take_while(|l| l.starts_with("      "))
                .map(|l| l.split('#').next().unwrap().trim().to_string())
                .collect()
        };
        assert_eq!(perms(job(&y, "plan")), ["contents: read"]);
        assert_eq!(
            perms(job(&y, "build")),
            ["contents: read", "packages: write"]
        );
        assert_eq!(
            perms(job(&y, "publish")),
            ["contents: write", "packages: write"]
        );
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
        i.artifacts = vec!["archive".into()];
        let y = generate(Provider::Github, &i);
        assert_eq!(perms(job(&y, "publish")), ["contents: read"]);
        assert!(y.contains("AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}"));
        assert!(!y.contains("GITHUB_TOKEN: ${{"));
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
            assert_eq!(y.matches("timeout-minutes:").count(), 4);
            assert!(y.contains("cancel-in-progress: false"));
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
        assert!(bad(&|i| i.artifacts.push("rpm".into())).contains("unknown artifact `rpm`"));
        assert!(bad(&|i| i.hosts.push("ftp".into())).contains("unknown host kind `ftp`"));
        assert!(bad(&|i| i.branches = vec!["main\nx".into()]).contains("release branch"));
        assert!(
            bad(&|i| i.image_repository = Some("GHCR.io/x'".into())).contains("image repository")
        );
        assert!(bad(&|i| i.package = "a b".into()).contains("package name"));
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
