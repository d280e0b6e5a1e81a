//! `cargo forge-release`: Versioned, signed, atomic releases of Rust crates to several hosts.
//!
//! Under construction (issue #4): the command line is in place (common flags, `--help`,
//! `--version`, the cargo subcommand convention) and the command says plainly that it does
//! nothing yet, rather than pretending to.

pub mod hosts;
pub mod stage;

use anyhow::Result;
use clap::Parser;

use forge_core::Shell;

/// `cargo` as the top-level command, so `cargo forge-release …` and `cargo-forge-release forge-release …`
/// parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    /// Versioned, signed, atomic releases of Rust crates to several hosts
    #[command(name = "forge-release", version, about)]
    Forge(Args),
}

/// Flags of `cargo forge-release`.
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
        "`cargo forge-release` is not implemented yet (tracked in issue #4)",
    ));
    Ok((shell, result))
}
