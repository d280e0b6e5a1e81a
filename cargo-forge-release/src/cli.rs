//! Command-line arguments of `cargo forge-release` (parsing and validation only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use forge_core::cli::CommonArgs;

/// `cargo` as the top-level command, so `cargo forge-release …` and
/// `cargo-forge-release forge-release …` parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    #[command(
        name = "forge-release",
        version,
        about,
        long_about = LONG_ABOUT,
        after_help = EXAMPLES
    )]
    ForgeRelease(ReleaseCli),
}

const EXAMPLES: &str = "Examples:
  # Check, show the plan, ask, then build and publish v1.2.3
  cargo forge-release v1.2.3
  # Set the version to 1.3.0 first (Cargo.toml, Cargo.lock, one commit), publish without asking
  cargo forge-release 1.3.0 --bump --yes
  # Build and stage everything, publish nothing, print the plan as JSON
  cargo forge-release v1.2.3 --dry-run --message-format json
  # Remove what a failed run uploaded but did not publish
  cargo forge-release v1.2.3 --abort";

const INIT_EXAMPLES: &str = "Examples:
  # Add a commented [package.metadata.forge.release] to ./Cargo.toml
  cargo forge-release init
  # Show it without writing anything
  cargo forge-release init --dry-run
  # For one member of a workspace, replacing the table it has
  cargo forge-release init -p my-server --force";

const PLAN_EXAMPLES: &str = "Examples:
  # Check everything and write target/forge/release/1.2.3/plan.json
  cargo forge-release plan v1.2.3
  # Write the plan where the CI job collects it
  cargo forge-release plan v1.2.3 --out dist/plan";

const BUILD_EXAMPLES: &str = "Examples:
  # This runner's archives and packages for arm64
  cargo forge-release build v1.2.3 --target aarch64-unknown-linux-gnu --out dist/artifacts
  # Two targets on one runner
  cargo forge-release build v1.2.3 --target x86_64-unknown-linux-gnu,aarch64-unknown-linux-gnu";

const PUBLISH_EXAMPLES: &str = "Examples:
  # Publish what every runner's `build` staged under dist/artifacts
  cargo forge-release publish --artifacts dist/artifacts --yes
  # More attempts per request on a flaky network, and no git tag made here
  cargo forge-release publish --artifacts dist/artifacts --yes --retries 10 --no-tag";

const CI_EXAMPLES: &str = "Examples:
  # Write .github/workflows/release.yml
  cargo forge-release ci --provider github
  # Fail when the committed Forgejo workflow is stale (in CI or a pre-commit hook)
  cargo forge-release ci --provider forgejo --check";

const LONG_ABOUT: &str = "Versioned, signed, atomic releases of Rust crates.

`cargo forge-release v1.2.3` checks the version, the git state and every host; shows the plan and \
asks (or needs --yes without a terminal); builds every artifact (archives, .debs, an image) into a \
staging directory with SHA256SUMS and signatures; then publishes so that nothing half-done is \
visible: uploads and drafts first, the git tag, then releases made public, tags and `latest` \
pointers last. A failure rolls back what is safe to roll back; a re-run resumes from \
target/forge/release/<version>/state.json and never does a step twice.

Start with `cargo forge-release init`, which writes a commented [package.metadata.forge.release] \
into Cargo.toml.

Exit codes: 0 success, 1 error, 2 bad input or refused (version, git state, config, no \
confirmation), 3 build failed, 4 a check failed, 5 a host or the network failed, 6 a tool is missing.";

/// `cargo forge-release`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReleaseCli {
    #[command(subcommand)]
    pub command: Option<ReleaseCommand>,
    #[command(flatten)]
    pub args: ReleaseArgs,
}

/// Subcommands: the split phases for CI, and CI generation.
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Write a commented starter [package.metadata.forge.release] into Cargo.toml
    #[command(
        long_about = "Write a commented starter [package.metadata.forge.release] into the \
package's Cargo.toml.

The artifacts follow what the package configures (`deb` with a [package.metadata.deb], `image` \
with a [package.metadata.forge.image]); targets, branches, signing and hosts (GitHub from the \
crate's `repository`, Gitea, S3, APT, OCI, a directory) are commented examples, so the first \
`--dry-run` needs no token. The rest of Cargo.toml is kept as it is, comments and formatting \
included. An existing table is replaced only with --force.",
        after_help = INIT_EXAMPLES
    )]
    Init(forge_core::init::InitArgs),
    /// Check everything and write the plan (plan.json); publish nothing
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PhaseArgs),
    /// Build and stage this runner's artifacts (`--target`) into the artifacts directory
    #[command(after_help = BUILD_EXAMPLES)]
    Build(PhaseArgs),
    /// Publish the artifacts staged by `build` runs (merged from all runners)
    #[command(after_help = PUBLISH_EXAMPLES)]
    Publish(PublishArgs),
    /// Write (or `--check`) the CI workflow that releases on tag push
    #[command(after_help = CI_EXAMPLES)]
    Ci(CiArgs),
}

/// `cargo forge-release <VERSION>`.
#[derive(Debug, Args, Default)]
pub struct ReleaseArgs {
    /// The version to release: 1.2.3 or v1.2.3 (pre-releases: 1.3.0-rc.1)
    #[arg(id = "release_version", value_name = "VERSION", required = true)]
    pub release_version: Option<String>,
    /// Set the package version to VERSION first (Cargo.toml, dependents, Cargo.lock; one commit)
    #[arg(long)]
    pub bump: bool,
    /// Build and stage everything, publish nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Publish without asking (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not create and push the git tag
    #[arg(long)]
    pub no_tag: bool,
    /// Remove the unpublished uploads of a failed run (drafts, partial uploads) and its state
    #[arg(long, conflicts_with_all = ["dry_run", "bump"])]
    pub abort: bool,
    /// Release even with uncommitted changes in the working tree
    #[arg(long)]
    pub allow_dirty: bool,
    /// Release notes (Markdown file; default: this version's section of CHANGELOG.md)
    #[arg(long, value_name = "FILE")]
    pub notes: Option<PathBuf>,
    /// Attempts per HTTP request (default 6; env FORGE_RETRIES)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Allow plain HTTP to this registry host (repeatable; loopback is always allowed)
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `plan` / `build`.
#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// The version to release
    #[arg(id = "release_version", value_name = "VERSION")]
    pub release_version: String,
    /// Where to write plan.json / the staged artifacts (default: target/forge/release/<version>)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Directory holding the `build` outputs of every runner (searched recursively)
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    /// Publish without asking (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not create and push the git tag
    #[arg(long)]
    pub no_tag: bool,
    /// Attempts per HTTP request (default 6; env FORGE_RETRIES)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `ci`.
#[derive(Debug, Args)]
pub struct CiArgs {
    /// The CI system: `github` (.github/workflows/release.yml) or `forgejo`
    /// (.forgejo/workflows/release.yml)
    #[arg(long, value_enum)]
    pub provider: crate::ci::Provider,
    /// Fail when the committed workflow differs from what would be generated
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cargo::command().debug_assert();
    }

    /// Every example of every `--help` parses and runs the command it is shown under.
    #[test]
    fn help_examples_parse() {
        let n = forge_core::help::check_examples(super::Cargo::command());
        assert!(n >= 14, "{n} examples");
    }
}
