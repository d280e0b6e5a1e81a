//! Command-line arguments of `cargo forge-deb` (parsing and validation only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use forge_core::cli::CommonArgs;

use crate::writer::Compression;

/// `cargo` as the top-level command, so `cargo forge-deb …` and `cargo-forge-deb forge-deb …`
/// parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    #[command(name = "forge-deb", version, about, long_about = LONG_ABOUT)]
    ForgeDeb(DebCli),
}

const LONG_ABOUT: &str =
    "Build Debian packages (.deb) of Rust crates, for any Linux target, from one machine.

Reads [package.metadata.deb] exactly as cargo-deb does, cross-compiles with --target, and writes \
lintian-clean, reproducible packages to target/debian/. Produced paths are printed on stdout, one \
per line.

Exit codes: 0 success, 1 error, 2 bad input (flags, Cargo.toml), 3 build failed, 4 a check failed \
(lintian, install test), 5 network, 6 a required tool is missing.";

/// `cargo forge-deb`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DebCli {
    #[command(subcommand)]
    pub command: Option<DebCommand>,
    #[command(flatten)]
    pub args: DebArgs,
}

/// Subcommands of `cargo forge-deb`.
#[derive(Debug, Subcommand)]
pub enum DebCommand {
    /// Create or update an APT repository from .deb files
    Repo(RepoArgs),
}

/// Flags of a package build.
#[derive(Debug, Args, Default)]
pub struct DebArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Write the .deb to this file or directory (default: target/debian/)
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Build the variant `[package.metadata.deb.variants.NAME]`
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Override the whole Debian version (including revision)
    #[arg(long, value_name = "VERSION", conflicts_with = "deb_revision")]
    pub deb_version: Option<String>,
    /// Override the Debian revision
    #[arg(long, value_name = "REVISION")]
    pub deb_revision: Option<String>,
    /// Override the Maintainer field
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub maintainer: Option<String>,
    /// Override the Section field
    #[arg(long, value_name = "SECTION")]
    pub section: Option<String>,
    /// Compression of the package members
    #[arg(
        long,
        visible_alias = "compress-type",
        short = 'Z',
        value_enum,
        value_name = "FORMAT"
    )]
    pub compress: Option<Compression>,
    /// Compression level (xz 0-9, zstd 1-22, gzip 1-9)
    #[arg(long, value_name = "N")]
    pub compress_level: Option<u32>,
    /// Faster, larger packages (xz level 1)
    #[arg(long)]
    pub fast: bool,
    /// Do not strip debug symbols from binaries
    #[arg(long)]
    pub no_strip: bool,
    /// Multi-Arch field: none, same or foreign
    #[arg(long, value_name = "MODE", value_parser = ["none", "same", "foreign"])]
    pub multiarch: Option<String>,
    /// Smoke-test every built binary (`BIN --version`) before packaging; `qemu` runs foreign
    /// binaries through qemu-user with the target's library prefix
    #[arg(long, value_name = "RUNNER", value_parser = ["qemu"])]
    pub runner: Option<String>,
    /// Run lintian on each package and fail on errors
    #[arg(long)]
    pub lint: bool,
    /// Install each package in a clean Debian root, run its binaries with --version, purge it
    #[arg(long)]
    pub install_test: bool,
    /// Sign each package with gpg (debsigs-style `_gpgorigin` member)
    #[arg(long)]
    pub sign: bool,
    /// The gpg key to sign with (default: gpg's default key)
    #[arg(long, value_name = "KEYID", requires = "sign")]
    pub key: Option<String>,
    /// Print the plan and do nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `cargo forge-deb repo`.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// Repository directory (created if missing)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Suite (distribution) name
    #[arg(long, default_value = "stable")]
    pub suite: String,
    /// Component
    #[arg(long, default_value = "main")]
    pub component: String,
    /// Origin field of the Release file
    #[arg(long)]
    pub origin: Option<String>,
    /// Label field of the Release file
    #[arg(long)]
    pub label: Option<String>,
    /// Sign Release (InRelease, Release.gpg) with this gpg key
    #[arg(long, value_name = "KEYID")]
    pub sign_key: Option<String>,
    /// Packages to add
    #[arg(required = true, value_name = "DEB")]
    pub debs: Vec<PathBuf>,
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
