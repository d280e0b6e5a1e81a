//! Command-line arguments of `cargo forge-rpm` (parsing and validation only).
//!
//! The shape is forge-deb's: `cargo` as the top-level command, the common flags of
//! [`forge_core::cli::CommonArgs`] flattened in, then the flags of an RPM build. Flags that
//! cargo-generate-rpm has (`--variant`, `--metadata-overwrite`, `-s/--set-metadata`,
//! `--auto-req`, `--payload-compress`) keep its spelling, so its command lines work here.

use std::path::PathBuf;

use clap::{Args, Parser};

use forge_core::cli::CommonArgs;

/// `cargo` as the top-level command, so `cargo forge-rpm …` and `cargo-forge-rpm forge-rpm …`
/// parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    #[command(
        name = "forge-rpm",
        version,
        about,
        long_about = LONG_ABOUT,
        after_help = EXAMPLES
    )]
    ForgeRpm(RpmCli),
}

const EXAMPLES: &str = "Examples:
  # A package for this machine, into target/generate-rpm/
  cargo forge-rpm
  # aarch64 and x86_64 packages from one machine, checked by rpmlint
  cargo forge-rpm --target aarch64-unknown-linux-gnu --target x86_64-unknown-linux-gnu --lint
  # Signed with a gpg key, xz payload for older distributions
  cargo forge-rpm --sign-key 0xA1B2C3D4 --compress xz
  # What would be built, as JSON, without building
  cargo forge-rpm --dry-run --message-format json";

const LONG_ABOUT: &str = "Build RPM packages (.rpm) of Rust crates, for any Linux target, from one machine.

Reads [package.metadata.generate-rpm] as cargo-generate-rpm does; without that table the package \
is derived from [package.metadata.deb] and Cargo.toml (assets, conf files as %config(noreplace), \
systemd units with scriptlets, maintainer scripts), so a crate packaged by `cargo forge-deb` needs \
no new configuration. Writes reproducible packages to target/generate-rpm/NAME-VERSION-RELEASE.ARCH.rpm; \
produced paths are printed on stdout, one per line.

Exit codes: 0 success, 1 error, 2 bad input (flags, Cargo.toml), 3 build failed, 4 a check failed \
(rpmlint), 5 network, 6 a required tool is missing.";

/// `cargo forge-rpm`.
#[derive(Debug, Args)]
pub struct RpmCli {
    #[command(subcommand)]
    pub command: Option<RpmCommand>,
    #[command(flatten)]
    pub args: RpmArgs,
}

/// Subcommands of `cargo forge-rpm`.
#[derive(Debug, clap::Subcommand)]
pub enum RpmCommand {
    /// Create or update a DNF/YUM repository from .rpm files
    #[command(
        long_about = "Create or update a DNF/YUM repository from .rpm files.

Packages are copied into Packages/<first letter>/; repodata/ gets primary, filelists and other \
(gzip, named by their SHA-256) and repomd.xml, written last; with --sign-key, repomd.xml.asc, \
the exported key (RPM-GPG-KEY-ID) and a .repo file too. Packages already listed with the same \
size and time are not read again, earlier versions stay (see --keep), and the directory is locked \
against a concurrent run. Serve the directory as it is and drop the .repo file into \
/etc/yum.repos.d/.",
        after_help = crate::repo::cli::REPO_EXAMPLES
    )]
    Repo(crate::repo::cli::RepoArgs),
}

/// Payload compression (`--compress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressChoice {
    Zstd,
    Xz,
    Gzip,
    None,
}

/// cargo-generate-rpm's `--auto-req` modes that mean something here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AutoReq {
    /// The table's `auto-req` decides (the default).
    #[default]
    Auto,
    /// Requires from the ELF files (shared libraries and their symbol versions).
    Builtin,
    /// No automatic requires.
    #[value(alias = "disabled")]
    No,
}

/// Flags of a package build.
#[derive(Debug, Args, Default)]
pub struct RpmArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Write the .rpm to this file or directory (default: target/generate-rpm/)
    #[arg(
        short = 'o',
        long = "out",
        visible_alias = "output",
        value_name = "PATH"
    )]
    pub output: Option<PathBuf>,
    /// Apply `[package.metadata.generate-rpm.variants.NAME]` over the table (or, without that
    /// table, build the variant `[package.metadata.deb.variants.NAME]`)
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Overwrite keys of `[package.metadata.generate-rpm]` with a TOML file's top-level keys, or
    /// with the table at `FILE#dotted.path` (repeatable, comma-separated; later ones win)
    #[arg(long, value_name = "FILE[#PATH]", value_delimiter = ',')]
    pub metadata_overwrite: Vec<String>,
    /// Overwrite keys of `[package.metadata.generate-rpm]` with inline TOML (repeatable)
    #[arg(short = 's', long, value_name = "TOML")]
    pub set_metadata: Vec<String>,
    /// Automatic requires: `auto` (the table's `auto-req` decides), `builtin` (from the ELF
    /// files), `no`
    #[arg(long, value_enum, value_name = "MODE", default_value_t = AutoReq::Auto)]
    pub auto_req: AutoReq,
    /// Payload compression: zstd (the default), xz or gzip for older distributions, none
    #[arg(
        long,
        visible_alias = "payload-compress",
        value_enum,
        value_name = "FORMAT"
    )]
    pub compress: Option<CompressChoice>,
    /// Compression level (zstd 1-22, default 19; xz 0-9, default 6; gzip 1-9, default 9)
    #[arg(long, value_name = "N")]
    pub compress_level: Option<u32>,
    /// Do not strip debug symbols from binaries
    #[arg(long)]
    pub no_strip: bool,
    /// Run rpmlint on each package and fail on errors
    #[arg(long)]
    pub lint: bool,
    /// Sign each package with gpg's default key (an OpenPGP header signature `rpm -K`
    /// verifies); `--sign-key` names the key
    #[arg(long)]
    pub sign: bool,
    /// Sign each package with this gpg key (implies --sign)
    #[arg(long, value_name = "KEYID")]
    pub sign_key: Option<String>,
    /// Plan only: print what would be built and where (no build, no files written)
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cargo::command().debug_assert();
    }

    #[test]
    fn parses_generate_rpm_spellings() {
        let Cargo::ForgeRpm(cli) = Cargo::try_parse_from([
            "cargo",
            "forge-rpm",
            "--payload-compress",
            "xz",
            "--auto-req",
            "disabled",
            "--metadata-overwrite",
            "a.toml,b.toml#x.y",
            "-s",
            "release = \"2\"",
            "--target",
            "aarch64-unknown-linux-gnu",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .unwrap();
        let a = cli.args;
        assert_eq!(a.compress, Some(CompressChoice::Xz));
        assert_eq!(a.auto_req, AutoReq::No);
        assert_eq!(a.metadata_overwrite, ["a.toml", "b.toml#x.y"]);
        assert_eq!(a.set_metadata, ["release = \"2\""]);
        assert_eq!(a.common.targets.len(), 2);
    }
}
