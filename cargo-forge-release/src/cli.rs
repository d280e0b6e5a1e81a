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
  # The plan as JSON: checked and decided, nothing built or published
  cargo forge-release v1.2.3 --dry-run --message-format json
  # Every member of the workspace at 2.0.0 in one plan, built, staged and signed, not published
  cargo forge-release 2.0.0 --workspace --stage-only";

const INIT_EXAMPLES: &str = "Examples:
  # Add a commented [package.metadata.forge.release] to ./Cargo.toml
  cargo forge-release init
  # Show it without writing anything
  cargo forge-release init --dry-run
  # For one member of a workspace, replacing the table it has
  cargo forge-release init -p my-server --force";

const PLAN_EXAMPLES: &str = "Examples:
  # Decide everything and write target/forge/release/plan.json (no secret is read)
  cargo forge-release plan v1.2.3
  # Every member of the workspace, the plan where the CI job collects it
  cargo forge-release plan v1.2.3 --workspace --out dist/plan";

const BUILD_EXAMPLES: &str = "Examples:
  # This runner's archives, packages and platform image for arm64
  cargo forge-release build --plan dist/plan/plan.json --target aarch64-unknown-linux-gnu --out dist/artifacts
  # Every target of the plan on one machine
  cargo forge-release build --plan dist/plan/plan.json --out dist/artifacts";

const PUSH_IMAGE_EXAMPLES: &str = "Examples:
  # Push the platform images `build` staged, untagged, and write their digest files
  cargo forge-release push-image --plan dist/plan/plan.json --artifacts dist/artifacts --digests dist/digests
  # To a registry served over plain HTTP on the local network
  cargo forge-release push-image --plan dist/plan/plan.json --artifacts dist/artifacts --digests dist/digests --insecure-registry registry.lan:5000";

const PUBLISH_EXAMPLES: &str = "Examples:
  # Publish what every runner's `build` staged under dist/artifacts
  cargo forge-release publish --plan dist/plan/plan.json --artifacts dist/artifacts --yes
  # More attempts per request on a flaky network, and no git tag made here
  cargo forge-release publish --plan dist/plan/plan.json --artifacts dist/artifacts --yes --retries 10 --no-tag";

const MERGE_EXAMPLES: &str = "Examples:
  # Join the pushed platform images into one index and tag it
  cargo forge-release merge --plan dist/plan/plan.json --digests dist/digests
  # With more attempts per request on a flaky network
  cargo forge-release merge --plan dist/plan/plan.json --digests dist/digests --retries 10";

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
pointers last (and only forward: never to an older version). A failure rolls back what is safe \
to roll back; a re-run resumes from target/forge/release/<package>/<version>/state.json and never \
does a step twice; `--abort` removes what a failed run uploaded but did not publish.

In CI the same plan runs in phases: `plan` (on one runner), `build` (one per target), \
`push-image`, `publish` (behind an approval, the only phase given secrets) and `merge`.

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
    /// Decide everything once and write the plan (plan.json), the contract of the other phases
    #[command(
        long_about = "Decide everything once and write the plan (plan.json): version, tags, \
commit, packages, targets with their backend and toolchain, the .deb and image plans, every host \
with what it will publish. Reads no token, password or signing key. `build`, `push-image`, \
`publish` and `merge` execute exactly this plan and refuse one made for another commit or by \
another cargo-forge version. Prints the path of plan.json (the plan itself with \
--message-format json).",
        after_help = PLAN_EXAMPLES
    )]
    Plan(PlanArgs),
    /// Build and stage the plan's artifacts for `--target` (one runner) into `--out DIR`
    #[command(
        long_about = "Build the plan's binaries for each `--target` (default: every target of \
the plan) and stage into DIR/<package>/<target>/ the archives, .debs, SBOMs and the platform \
image (an OCI layout), with a staged.json. Reads no secret: cargo and every build subprocess run \
without credential variables.",
        after_help = BUILD_EXAMPLES
    )]
    Build(BuildArgs),
    /// Push the platform images staged by `build`, by digest and untagged; write digest files
    #[command(
        long_about = "Push every platform image staged under the artifacts directory (by \
`build`) to the plan's `oci` repositories, by digest and untagged, and write one digest file per \
package and platform into `--digests OUT` (the format of `cargo forge-image --digest-file`). \
Runs no cargo and builds nothing; reads only the registry credentials.",
        after_help = PUSH_IMAGE_EXAMPLES
    )]
    PushImage(PushImageArgs),
    /// Merge every runner's staged files, sign them and publish to every host but the registry
    #[command(
        long_about = "Merge the files every runner's `build` staged under the artifacts \
directory, write SHA256SUMS and signatures, check every secret it needs before its first side \
effect, then publish to every host of the plan (images are tagged by `merge`).",
        after_help = PUBLISH_EXAMPLES
    )]
    Publish(PublishArgs),
    /// Join pushed platform images into the image index and tag it (tags move only forward)
    #[command(
        long_about = "Join the platform digests (from `push-image`) into the image index, push \
it by digest, then the plan's tags: `latest`, `{{major}}` and `{{major}}.{{minor}}` only when the \
version is the highest of its line in what the registry holds.",
        after_help = MERGE_EXAMPLES
    )]
    Merge(MergeArgs),
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
    /// Plan only: check everything and print the plan; build, write and publish nothing
    #[arg(long, conflicts_with = "stage_only")]
    pub dry_run: bool,
    /// Build and stage everything (archives, packages, checksums, signatures), publish nothing
    #[arg(long)]
    pub stage_only: bool,
    /// Publish without asking (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not create and push the git tag
    #[arg(long)]
    pub no_tag: bool,
    /// Remove the unpublished uploads of a failed run (drafts, partial uploads) and its state
    #[arg(long, conflicts_with_all = ["dry_run", "stage_only", "bump"])]
    pub abort: bool,
    /// Release even with uncommitted changes in the working tree
    #[arg(long)]
    pub allow_dirty: bool,
    /// Fail at once when another run holds this release's state directory, instead of waiting
    #[arg(long)]
    pub no_wait: bool,
    /// Release notes (Markdown file; default: this version's section of CHANGELOG.md)
    #[arg(long, value_name = "FILE")]
    pub notes: Option<PathBuf>,
    /// Sign the release's files (and a signed tag) with this gpg key, instead of the
    /// configuration's `sign.gpg`
    #[arg(long, value_name = "KEYID")]
    pub sign_key: Option<String>,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The network flags every phase takes (forge-core's, shared by every command).
pub use forge_core::cli::NetworkArgs;

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The version to release: 1.2.3 or v1.2.3
    #[arg(id = "release_version", value_name = "VERSION")]
    pub release_version: String,
    /// Where to write plan.json (default: target/forge/release)
    #[arg(short = 'o', long, visible_alias = "output", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Release notes (Markdown file; default: this version's section of CHANGELOG.md)
    #[arg(long, value_name = "FILE")]
    pub notes: Option<PathBuf>,
    /// Sign the release's files (and a signed tag) with this gpg key, instead of the
    /// configuration's `sign.gpg`
    #[arg(long, value_name = "KEYID")]
    pub sign_key: Option<String>,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The plan a phase executes, and the checkout it runs in.
#[derive(Debug, Args)]
pub struct PlanFileArgs {
    /// The plan written by `cargo forge-release plan`
    #[arg(long = "plan", value_name = "FILE")]
    pub plan: PathBuf,
    /// The workspace's Cargo.toml (default: found from the current directory)
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

/// `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub plan: PlanFileArgs,
    /// A target of the plan to build (repeatable; default: every target of the plan)
    #[arg(long = "target", value_name = "TRIPLE", value_delimiter = ',')]
    pub targets: Vec<String>,
    /// Where to stage: DIR/<package>/<target>/
    #[arg(short = 'o', long, visible_alias = "output", value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
}

/// `push-image`.
#[derive(Debug, Args)]
pub struct PushImageArgs {
    #[command(flatten)]
    pub plan: PlanFileArgs,
    /// Directory holding the `build` outputs (searched recursively)
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    /// Where to write the digest files
    #[arg(long, value_name = "OUT")]
    pub digests: PathBuf,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
}

/// `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub plan: PlanFileArgs,
    /// Directory holding the `build` outputs of every runner (searched recursively)
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    /// Publish without asking (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not create and push the git tag
    #[arg(long)]
    pub no_tag: bool,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
}

/// `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(flatten)]
    pub plan: PlanFileArgs,
    /// Directory holding the digest files of `push-image` (searched recursively)
    #[arg(long, value_name = "DIR")]
    pub digests: PathBuf,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
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
    pub manifest: clap_cargo::Manifest,
    #[command(flatten)]
    pub workspace: clap_cargo::Workspace,
    // Not read from `CARGO_BUILD_TARGET`, unlike the build commands' `--target`: the committed
    // workflow, and `--check` of it, must not depend on a shell's environment.
    /// The workflow builds for the target triple (repeatable; default: the release table's
    /// `targets`)
    #[arg(long = "target", value_name = "TRIPLE", value_delimiter = ',')]
    pub targets: Vec<String>,
    /// The Rust toolchain the workflow's runners use: a rustup name (default: the
    /// configuration's `toolchain`)
    #[arg(long, value_name = "NAME|PATH")]
    pub toolchain: Option<String>,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
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
        assert!(n >= 16, "{n} examples");
    }

    fn parse(args: &[&str]) -> Result<super::ReleaseCli, clap::Error> {
        use clap::Parser;
        let argv = ["cargo", "forge-release"].iter().chain(args);
        super::Cargo::try_parse_from(argv).map(|super::Cargo::ForgeRelease(c)| c)
    }

    /// `ci` takes what picks the package and what the workflow holds (`--target`,
    /// `--toolchain`), and refuses the build flags it would ignore (the workflow's plan job
    /// reads those from the configuration).
    #[test]
    fn ci_takes_only_what_changes_the_workflow() {
        let argv = [
            "ci",
            "--provider",
            "github",
            "--manifest-path",
            "app/Cargo.toml",
            "-p",
            "app",
            "--target",
            "aarch64-unknown-linux-gnu,x86_64-unknown-linux-gnu",
            "--toolchain",
            "1.88",
            "--message-format",
            "json",
        ];
        let Some(super::ReleaseCommand::Ci(c)) = parse(&argv).unwrap().command else {
            panic!("not the ci phase");
        };
        assert_eq!(c.workspace.package, ["app"]);
        assert_eq!(
            c.targets,
            ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"]
        );
        assert_eq!(c.toolchain.as_deref(), Some("1.88"));
        for flag in [
            &["--features", "x"][..],
            &["--all-features"],
            &["--no-default-features"],
            &["--profile", "dist"],
            &["--backend", "zigbuild"],
            &["--glibc", "2.17"],
            &["--no-build"],
            &["--locked"],
            &["--offline"],
            &["--target-dir", "t"],
        ] {
            let mut argv = vec!["ci", "--provider", "github"];
            argv.extend(flag);
            let e = parse(&argv).map(|_| ()).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{flag:?}"
            );
        }
    }

    /// `--dry-run` (plan only) and `--stage-only` (build and stage) are two flags that exclude
    /// each other; `--sign-key` on the one-shot and `plan`; `-o`/`--out`/`--output` one flag of
    /// `plan` and `build`; the network flags on every phase that talks to a server.
    #[test]
    fn shared_vocabulary() {
        let c = parse(&["v1.2.3", "--dry-run", "--sign-key", "0xA1"]).unwrap();
        assert!(c.args.dry_run && !c.args.stage_only);
        assert_eq!(c.args.sign_key.as_deref(), Some("0xA1"));
        assert!(parse(&["v1.2.3", "--stage-only"]).unwrap().args.stage_only);
        let e = parse(&["v1.2.3", "--dry-run", "--stage-only"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        for flag in ["-o", "--out", "--output"] {
            match parse(&["plan", "v1.2.3", flag, "d", "--sign-key", "k"])
                .unwrap()
                .command
            {
                Some(super::ReleaseCommand::Plan(p)) => {
                    assert_eq!(p.out.as_deref(), Some(std::path::Path::new("d")));
                    assert_eq!(p.sign_key.as_deref(), Some("k"));
                }
                other => panic!("{other:?}"),
            }
            match parse(&["build", "--plan", "p.json", flag, "d"])
                .unwrap()
                .command
            {
                Some(super::ReleaseCommand::Build(b)) => {
                    assert_eq!(b.out, std::path::Path::new("d"))
                }
                other => panic!("{other:?}"),
            }
        }
        let net = ["--retries", "2", "--insecure-registry", "h:5000"];
        for phase in [
            &["v1.2.3"][..],
            &["plan", "v1.2.3"],
            &["build", "--plan", "p", "--out", "d"],
            &[
                "push-image",
                "--plan",
                "p",
                "--artifacts",
                "a",
                "--digests",
                "d",
            ],
            &["publish", "--plan", "p", "--artifacts", "a"],
            &["merge", "--plan", "p", "--digests", "d"],
        ] {
            let argv: Vec<&str> = phase.iter().chain(&net).copied().collect();
            let c = parse(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            let n = match c.command {
                None => c.args.network,
                Some(super::ReleaseCommand::Plan(p)) => p.network,
                Some(super::ReleaseCommand::Build(p)) => p.network,
                Some(super::ReleaseCommand::PushImage(p)) => p.network,
                Some(super::ReleaseCommand::Publish(p)) => p.network,
                Some(super::ReleaseCommand::Merge(p)) => p.network,
                Some(other) => panic!("{other:?}"),
            };
            assert_eq!(n.retries, Some(2), "{argv:?}");
            assert_eq!(n.insecure_registries, ["h:5000"], "{argv:?}");
        }
    }
}
