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
    #[command(
        name = "forge-deb",
        version,
        about,
        long_about = LONG_ABOUT,
        after_help = EXAMPLES
    )]
    ForgeDeb(DebCli),
}

const EXAMPLES: &str = "Examples:
  # A package for this machine, into target/debian/
  cargo forge-deb
  # arm64 and amd64 packages from one machine, checked by lintian
  cargo forge-deb --target aarch64-unknown-linux-gnu --target x86_64-unknown-linux-gnu --lint
  # One member of a workspace, signed with a gpg key
  cargo forge-deb -p my-server --sign --key 0xA1B2C3D4
  # What would be built, as JSON, without building
  cargo forge-deb --dry-run --message-format json";

const INIT_EXAMPLES: &str = "Examples:
  # Add a commented [package.metadata.deb] to ./Cargo.toml
  cargo forge-deb init
  # Show it without writing anything
  cargo forge-deb init --dry-run
  # For one member of a workspace, replacing the table it has
  cargo forge-deb init -p my-server --force";

const REPO_EXAMPLES: &str = "Examples:
  # Add packages to a signed APT repository in public/apt
  cargo forge-deb repo --dir public/apt --sign-key 0xA1B2C3D4 target/debian/app_1.2.3-1_amd64.deb
  # Another suite and component, unsigned
  cargo forge-deb repo --dir public/apt --suite testing --component contrib app_1.3.0-1_arm64.deb
  # Keep only the three newest versions of each package and architecture
  cargo forge-deb repo --dir public/apt --keep 3 --sign-key 0xA1B2C3D4 target/debian/*.deb";

const LONG_ABOUT: &str =
    "Build Debian packages (.deb) of Rust crates, for any Linux target, from one machine.

Reads [package.metadata.deb] exactly as cargo-deb does, cross-compiles with --target, and writes \
lintian-clean, reproducible packages to target/debian/. Produced paths are printed on stdout, one \
per line.

Start with `cargo forge-deb init`, which writes a commented [package.metadata.deb] into \
Cargo.toml.

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
    /// Write a commented starter [package.metadata.deb] into Cargo.toml
    #[command(
        long_about = "Write a commented starter [package.metadata.deb] into the package's Cargo.toml.

The maintainer comes from `authors`, the section from `categories`, the assets are the package's \
binaries (cargo-deb's `target/release/NAME` form) and its README, and dependencies are `$auto`; \
conffiles, systemd units and maintainer scripts are commented examples. The rest of Cargo.toml is \
kept as it is, comments and formatting included. An existing table is replaced only with --force.",
        after_help = INIT_EXAMPLES
    )]
    Init(forge_core::init::InitArgs),
    /// Create or update an APT repository from .deb files
    #[command(
        long_about = "Create or update an APT repository from .deb files.

Packages are copied into pool/; dists/SUITE/COMPONENT/binary-ARCH/Packages (plain, .gz, .xz) \
is rewritten for each architecture whose packages changed, then Release; with --sign-key, \
InRelease and Release.gpg too. Packages already in the index are not read again, and unchanged \
parts of the compressed indexes are reused, so an update of a large repository costs what \
changed. The directory can be served as it is: `deb [signed-by=KEY] URL SUITE COMPONENT`.",
        after_help = REPO_EXAMPLES
    )]
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
    /// Compression of data.tar and control.tar (default: xz)
    #[arg(
        long,
        visible_alias = "compress-type",
        short = 'Z',
        value_enum,
        value_name = "FORMAT"
    )]
    pub compress: Option<Compression>,
    /// Compression level (xz 0-9, default 4; zstd 1-22, default 19; gzip 1-9, default 9)
    #[arg(long, value_name = "N")]
    pub compress_level: Option<u32>,
    /// Faster, larger packages (compression level 1)
    #[arg(long)]
    pub fast: bool,
    /// Do not strip debug symbols from binaries
    #[arg(long)]
    pub no_strip: bool,
    /// The Multi-Arch field: `same` (co-installable libraries), `foreign`, or `none`
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
    /// Sign each package with gpg (a debsigs-style `_gpgorigin` member, verifiable with gpg)
    #[arg(long)]
    pub sign: bool,
    /// The gpg key to sign with (default: gpg's default key); needs --sign
    #[arg(long, value_name = "KEYID", requires = "sign")]
    pub key: Option<String>,
    /// Print what would be built and where (no build, no files written)
    #[arg(long)]
    pub dry_run: bool,
}

/// `cargo forge-deb repo`.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The repository directory (created if missing)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The suite (distribution) name, as in `deb URL SUITE COMPONENT`
    #[arg(long, value_name = "SUITE", default_value = "stable")]
    pub suite: String,
    /// The component, as in `deb URL SUITE COMPONENT`
    #[arg(long, value_name = "COMPONENT", default_value = "main")]
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
    /// Keep only the N highest versions of each package and architecture in the suite's
    /// component; older ones leave the index, and their pool files are deleted unless another
    /// suite lists them
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// The .deb files to add
    #[arg(required = true, value_name = "DEB")]
    pub debs: Vec<PathBuf>,
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
}
