//! Shared core of cargo-forge.
//!
//! Everything the three commands (`forge-deb`, `forge-image`, `forge-release`) have in common lives
//! here, so that each command crate only holds what is specific to its artifact: the terminal
//! [`shell`] (and its GitHub Actions side, [`gha`]), the single [`process`] runner, the [`target`] table, the [`project`] model read from
//! `cargo metadata`, the layered [`config`], the [`build`] engine with its backends, the [`qemu`]
//! runner for foreign binaries, reproducible [`archive`] writing, the configuration [`reference`], [`digest`]s, the one [`http`]
//! client with its retry policy, the common [`cli`] flags, the [`json`] documents of `--message-format json`, the [`exit`] codes, the starter tables of [`init`] and the checked examples of [`help`].

pub mod archive;
pub mod build;
pub mod cli;
pub mod config;
pub mod cross;
pub mod digest;
pub mod exit;
pub mod fsx;
pub mod gha;
pub mod gpg;
pub mod help;
pub mod http;
pub mod init;
pub mod json;
pub mod process;
pub mod project;
pub mod qemu;
pub mod reference;
pub mod secret;
pub mod shell;
pub mod target;
pub mod toolchain;

pub use exit::{ErrorKind, ResultExt};
pub use shell::Shell;
