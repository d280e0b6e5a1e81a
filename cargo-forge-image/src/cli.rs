//! Command-line arguments of `cargo forge-image` (parsing and validation only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use forge_core::cli::CommonArgs;

use crate::oci::Format;

/// `cargo` as the top-level command, so `cargo forge-image …` and `cargo-forge-image forge-image …`
/// parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    #[command(name = "forge-image", version, about, long_about = LONG_ABOUT)]
    ForgeImage(ImageCli),
}

const LONG_ABOUT: &str =
    "Build multi-platform OCI images of Rust crates and push them, without a Docker daemon.

Cross-compiles the package's binaries for each --platform, assembles the image (on a base image, \
on `scratch` with the binaries' runtime libraries, or from the package cargo forge-deb builds), \
and pushes it to a registry or writes it to an OCI layout or a docker archive.

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
    /// Build an index from `--push-by-digest` digest files, push it, then tag it
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
    /// Push this platform's manifest untagged and write its digest file (CI fan-out)
    #[arg(long, requires = "digest_file")]
    pub push_by_digest: bool,
    /// Where `--push-by-digest` writes `{digest, size, mediaType, platform, repository}`
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,
    /// Also write the image to `oci:DIR` or `docker-archive:FILE` (repeatable)
    #[arg(long = "output", short = 'o', value_name = "DEST")]
    pub outputs: Vec<String>,
    /// Media types: `oci` (default) or `docker` (Docker v2 schema 2)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Base image reference, or `scratch`
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Make the image from the package's .deb files (as `cargo forge-deb` builds it)
    #[arg(long)]
    pub from_deb: bool,
    /// Allow plain HTTP to this registry host (repeatable; loopback is always allowed)
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Attempts per HTTP request (default 6; env FORGE_RETRIES)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Print the plan and do nothing
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
    /// Allow plain HTTP to this registry host (repeatable)
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Attempts per HTTP request
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cargo::command().debug_assert();
    }
}
