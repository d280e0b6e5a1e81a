//! The flags all three commands share (`cargo forge-deb --help` lists them), and the common `main`.
//!
//! Package selection, manifest and features come from `clap-cargo`, so they behave exactly like
//! cargo's own; the rest (targets, profile, backend, toolchain, output format, verbosity, colour)
//! is defined once here and flattened into each command's arguments, as are the network flags
//! ([`NetworkArgs`]) of every command and phase that talks to a server. These are the *low-level*
//! parsed flags: validation only. [`crate::config`] resolves them against Cargo.toml metadata.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::shell::{ColorChoice, MessageFormat, Shell, Verbosity};

/// `--backend`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    clap::ValueEnum,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Auto,
    Cargo,
    Zigbuild,
    Cross,
}

/// Flags shared by `cargo forge-deb`, `cargo forge-image` and `cargo forge-release`.
#[derive(Clone, Debug, Default, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub manifest: clap_cargo::Manifest,
    #[command(flatten)]
    pub workspace: clap_cargo::Workspace,
    #[command(flatten)]
    pub features: clap_cargo::Features,

    /// Build for the target triple (repeatable; default: the host)
    #[arg(
        long = "target",
        value_name = "TRIPLE",
        env = "CARGO_BUILD_TARGET",
        value_delimiter = ','
    )]
    pub targets: Vec<String>,
    /// Build with the given profile
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,
    /// Directory for all generated artifacts
    #[arg(long, value_name = "DIRECTORY", env = "CARGO_TARGET_DIR")]
    pub target_dir: Option<PathBuf>,
    /// Require Cargo.lock is up to date
    #[arg(long)]
    pub locked: bool,
    /// Require Cargo.lock and cache are up to date
    #[arg(long)]
    pub frozen: bool,
    /// Run without accessing the network
    #[arg(long)]
    pub offline: bool,
    /// How to build: `cargo` (native or with a cross gcc), `zigbuild`, `cross`, or `auto`
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub backend: Option<BackendChoice>,
    /// Rust toolchain: a rustup name, or a directory with bin/rustc and bin/cargo (e.g. `/usr`)
    #[arg(long, value_name = "NAME|PATH")]
    pub toolchain: Option<String>,
    /// Oldest glibc the binaries must run on, e.g. 2.17 (zigbuild; `--backend auto` picks it)
    #[arg(long, value_name = "VERSION")]
    pub glibc: Option<String>,
    /// Use already-built binaries instead of building
    #[arg(long)]
    pub no_build: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// The network flags of every command and phase that talks to a server (`cargo forge-image`
/// and `merge`, every phase of `cargo forge-release`): declared once here so that they are
/// spelled, documented and read the same way everywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct NetworkArgs {
    /// Attempts per HTTP request (default 6; env FORGE_RETRIES, config `retries`)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Allow plain HTTP to this registry host (repeatable; loopback is always allowed)
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
}

impl NetworkArgs {
    /// The attempts per HTTP request: see [`resolve_retries`].
    pub fn attempts(&self, configured: Option<u32>) -> anyhow::Result<u32> {
        resolve_retries(self.retries, configured)
    }
}

/// The one rule for the attempts per HTTP request, the same in every command and phase:
/// `--retries`, else `FORGE_RETRIES`, else what the configuration (or a plan made from it)
/// says, else [`crate::config::DEFAULT_RETRIES`].
pub fn resolve_retries(flag: Option<u32>, configured: Option<u32>) -> anyhow::Result<u32> {
    Ok(match flag {
        Some(n) => n,
        None => crate::config::env_retries()?
            .or(configured)
            .unwrap_or(crate::config::DEFAULT_RETRIES),
    })
}

/// Verbosity, colour and message format.
#[derive(Clone, Debug, Default, Args)]
pub struct OutputArgs {
    /// Output format: `human` (status on stderr) or `json` (machine-readable on stdout)
    #[arg(long, value_enum, value_name = "FMT", default_value_t = MessageFormat::Human, global = true)]
    pub message_format: MessageFormat,
    /// Use verbose output (-vv very verbose)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Do not print status messages
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Coloring
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

impl OutputArgs {
    pub fn verbosity(&self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            _ => Verbosity::VeryVerbose,
        }
    }

    pub fn shell(&self) -> Shell {
        Shell::new(self.verbosity(), self.color, self.message_format)
    }
}

/// Normalises argv so that both `cargo forge-deb ARGS` (cargo runs `cargo-forge-deb forge-deb ARGS`)
/// and a direct `cargo-forge-deb ARGS` parse the same way.
pub fn normalize_args(subcommand: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != subcommand).unwrap_or(true) {
        args.insert(1, subcommand.into());
    }
    args
}

/// The shared `main`: runs `run`, reports an error the cargo way, maps it to an exit code.
/// A broken pipe on stdout (`| head`) is not an error.
pub fn main(run: impl FnOnce() -> anyhow::Result<(Shell, anyhow::Result<()>)>) -> ExitCode {
    match run() {
        Ok((_, Ok(()))) => ExitCode::SUCCESS,
        Ok((shell, Err(err))) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            shell.report_error(&err);
            ExitCode::from(crate::exit::code_of(&err))
        }
        Err(err) => {
            Shell::new(Verbosity::Normal, ColorChoice::Auto, MessageFormat::Human)
                .report_error(&err);
            ExitCode::from(crate::exit::code_of(&err))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// clap styling shared by the binaries (cargo's colours).
pub fn styles() -> clap::builder::Styles {
    clap_cargo::style::CLAP_STYLING
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        network: NetworkArgs,
    }

    #[test]
    fn network_args_parse_and_resolve_retries() {
        let c = Cli::try_parse_from([
            "x",
            "--retries",
            "3",
            "--insecure-registry",
            "a:5000",
            "--insecure-registry",
            "b",
        ])
        .unwrap();
        assert_eq!(c.network.retries, Some(3));
        assert_eq!(c.network.insecure_registries, ["a:5000", "b"]);
        // The flag wins over everything.
        assert_eq!(c.network.attempts(Some(9)).unwrap(), 3);
        assert_eq!(resolve_retries(Some(1), None).unwrap(), 1);
        // Without it: FORGE_RETRIES (when this process has it), else the configured number,
        // else the default.
        if std::env::var_os("FORGE_RETRIES").is_none() {
            assert_eq!(resolve_retries(None, Some(9)).unwrap(), 9);
            assert_eq!(
                resolve_retries(None, None).unwrap(),
                crate::config::DEFAULT_RETRIES
            );
        }
        assert!(Cli::try_parse_from(["x", "--retries", "many"]).is_err());
    }
}
