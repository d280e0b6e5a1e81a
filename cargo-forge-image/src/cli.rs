//! Command-line arguments of `cargo forge-image` (parsing and validation only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use forge_core::cli::{CommonArgs, NetworkArgs};

use crate::oci::Format;

/// `cargo` as the top-level command, so `cargo forge-image …` and `cargo-forge-image forge-image …`
/// parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    #[command(
        name = "forge-image",
        version,
        about,
        long_about = LONG_ABOUT,
        after_help = EXAMPLES
    )]
    ForgeImage(ImageCli),
}

const EXAMPLES: &str = "Examples:
  # Build for amd64 and arm64 and push, tagged 1.2.3
  cargo forge-image --platform linux/amd64,linux/arm64 --tag ghcr.io/acme/app:1.2.3 --push
  # An image for `docker load`, on a Debian base
  cargo forge-image --base debian:bookworm-slim --output docker-archive:target/app.tar
  # CI fan-out: push this runner's platform by digest (then `cargo forge-image merge`)
  cargo forge-image --platform linux/arm64 --push-by-digest --digest-file arm64.digest
  # A bootable qcow2 disk image with the package installed, proven by booting it
  cargo forge-image --output qcow2:target/app.qcow2 --boot-test";

const INIT_EXAMPLES: &str = "Examples:
  # Add a commented [package.metadata.forge.image] to ./Cargo.toml
  cargo forge-image init
  # Show it without writing anything
  cargo forge-image init --dry-run
  # For one member of a workspace, replacing the table it has
  cargo forge-image init -p my-server --force";

const MERGE_EXAMPLES: &str = "Examples:
  # After one `--push-by-digest` run per platform: the multi-platform index, tagged
  cargo forge-image merge --tag ghcr.io/acme/app:1.2.3 --tag ghcr.io/acme/app:latest amd64.digest arm64.digest
  # To a local registry over plain HTTP
  cargo forge-image merge --tag registry.internal:5000/app:1.2.3 --insecure-registry registry.internal:5000 amd64.digest arm64.digest";

const LONG_ABOUT: &str =
    "Build multi-platform OCI images of Rust crates and push them, without a Docker daemon.

Cross-compiles the package's binaries for each --platform, assembles the image (on a base image, \
on `scratch` with the binaries' runtime libraries, or from the package cargo forge-deb builds), \
and pushes it to a registry or writes it to an OCI layout or a docker archive.

With `--output qcow2:FILE` (or `raw:`, `vmdk:`, `ova:`) it makes a bootable VM disk image instead: \
the package's .deb installed on a minimal Debian with a kernel and systemd \
([package.metadata.forge.vm]), built without a VM and without mounting; `--boot-test` boots it \
under qemu and waits for the service. This needs root (mmdebstrap and chroot).

Start with `cargo forge-image init`, which writes a commented [package.metadata.forge.image] into \
Cargo.toml. Registry logins are read from FORGE_REGISTRY_USERNAME/FORGE_REGISTRY_PASSWORD, \
docker's config.json and credential helpers, podman's auth.json, and GITHUB_TOKEN for ghcr.io.

Exit codes: 0 success, 1 error, 2 bad input (flags, Cargo.toml, references), 3 build failed, \
5 registry/network failure, 6 a required tool is missing.";

/// `cargo forge-image`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ImageCli {
    #[command(subcommand)]
    pub command: Option<ImageCommand>,
    #[command(flatten)]
    pub args: ImageArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Write a commented starter [package.metadata.forge.image] into Cargo.toml
    #[command(
        long_about = "Write a commented starter [package.metadata.forge.image] into the package's \
Cargo.toml.

The base is `scratch` and the user non-root; the repository comes from a GitHub `repository` URL \
(ghcr.io/OWNER/NAME) and the platforms from the workspace's `targets` when set. Tags, \
entrypoint, environment, ports, a health check and `from-deb` are commented examples. The rest of \
Cargo.toml is kept as it is, comments and formatting included. An existing table is replaced only \
with --force.",
        after_help = INIT_EXAMPLES
    )]
    Init(forge_core::init::InitArgs),
    /// Build an index from `--push-by-digest` digest files, push it, then tag it
    #[command(
        long_about = "Build an index from `--push-by-digest` digest files, push it, then tag it.

The second half of the CI fan-out: each runner builds and pushes its own platform by digest, \
this command makes the multi-platform index of them and tags it. Nothing is tagged until the \
index is in the registry.",
        after_help = MERGE_EXAMPLES
    )]
    Merge(MergeArgs),
}

/// Flags of an image build.
#[derive(Debug, Args, Default)]
pub struct ImageArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Platforms, e.g. `linux/amd64,linux/arm64` (default: config `platforms`, else `--target`, else the host)
    #[arg(long = "platform", value_name = "PLATFORMS", value_delimiter = ',')]
    pub platforms: Vec<String>,
    /// Full image reference to tag, e.g. `ghcr.io/acme/app:1.2.3` (repeatable)
    #[arg(long = "tag", short = 't', value_name = "REF")]
    pub tags: Vec<String>,
    /// Repository to tag from the tag templates, e.g. `ghcr.io/acme/app`
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,
    /// Push to the registry
    #[arg(long)]
    pub push: bool,
    /// Push this platform's manifest untagged and write its digest file (CI fan-out; needs --digest-file)
    #[arg(long, requires = "digest_file")]
    pub push_by_digest: bool,
    /// Where `--push-by-digest` writes `{digest, size, mediaType, platform, repository}`
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,
    /// Also write the image to `oci:DIR` or `docker-archive:FILE`; or make a bootable VM disk
    /// image `qcow2:FILE`, `raw:FILE`, `vmdk:FILE` or `ova:FILE` (repeatable; `{arch}` in FILE
    /// for several platforms)
    #[arg(
        long = "out",
        short = 'o',
        visible_alias = "output",
        value_name = "DEST"
    )]
    pub outputs: Vec<String>,
    /// Boot each VM image under qemu (software emulation) and wait for the package's service
    #[arg(long)]
    pub boot_test: bool,
    /// Media types: `oci` (default) or `docker` (Docker v2 schema 2)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Base image reference, or `scratch` (default: config `base`, else `scratch`)
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Make the image from the package's .deb files (as `cargo forge-deb` builds it)
    #[arg(long)]
    pub from_deb: bool,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Plan only: print the platforms and tags that would be built (nothing built, pulled or
    /// pushed)
    #[arg(long)]
    pub dry_run: bool,
}

/// `cargo forge-image merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Full reference(s) to tag the merged index with (repeatable)
    #[arg(long = "tag", short = 't', value_name = "REF", required = true)]
    pub tags: Vec<String>,
    /// Digest files written by `--push-by-digest`
    #[arg(required = true, value_name = "DIGEST_FILE")]
    pub digest_files: Vec<PathBuf>,
    #[command(flatten)]
    pub network: NetworkArgs,
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
        assert!(n >= 9, "{n} examples");
    }

    fn parse(args: &[&str]) -> super::ImageCli {
        use clap::Parser;
        let argv = ["cargo", "forge-image"].iter().chain(args);
        match super::Cargo::try_parse_from(argv) {
            Ok(super::Cargo::ForgeImage(c)) => c,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    /// The network flags are forge-core's, on the build and on `merge`; `-o`, `--out` and
    /// `--output` are one flag.
    #[test]
    fn shared_network_and_out_flags() {
        let want = forge_core::cli::NetworkArgs {
            retries: Some(3),
            insecure_registries: vec!["reg.lan:5000".into()],
        };
        let net = ["--retries", "3", "--insecure-registry", "reg.lan:5000"];
        assert_eq!(parse(&net).args.network, want);
        let mut merge = vec!["merge", "--tag", "r/a:1", "a.digest"];
        merge.extend(net);
        match parse(&merge).command {
            Some(super::ImageCommand::Merge(m)) => assert_eq!(m.network, want),
            other => panic!("{other:?}"),
        }
        for flag in ["-o", "--out", "--output"] {
            assert_eq!(parse(&[flag, "oci:x"]).args.outputs, ["oci:x"], "{flag}");
        }
    }
}
