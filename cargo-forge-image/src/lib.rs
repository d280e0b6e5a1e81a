//! `cargo forge-image`: Build multi-arch OCI images of Rust crates and push them, without a Docker daemon.
//!
//! Under construction (issue #3): the command line is in place (common flags, `--help`,
//! `--version`, the cargo subcommand convention) and the command says plainly that it does
//! nothing yet, rather than pretending to.

use anyhow::Result;
use clap::Parser;

use forge_core::Shell;

/// `cargo` as the top-level command, so `cargo forge-image …` and `cargo-forge-image forge-image …`
/// parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    /// Build multi-arch OCI images of Rust crates and push them, without a Docker daemon
    #[command(name = "forge-image", version, about)]
    Forge(Args),
}

/// Flags of `cargo forge-image`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: forge_core::cli::CommonArgs,
}

/// Parses argv and runs the command.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> Result<(Shell, Result<()>)> {
    let Cargo::Forge(args) = Cargo::try_parse_from(args).unwrap_or_else(|e| e.exit());
    let shell = args.common.output.shell();
    let result = Err(forge_core::exit::usage(
        "`cargo forge-image` is not implemented yet (tracked in issue #3)",
    ));
    Ok((shell, result))
}
