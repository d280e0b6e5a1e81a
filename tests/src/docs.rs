//! The configuration reference of the book (docs/src/reference/config.md), rendered from the
//! config types of the three commands and forge-core (see `forge_core::reference`). The tidy test
//! compares it with the committed page; `cargo xtask docs` writes it through the
//! `config-reference` binary.

use forge_core::reference::{render, Rendered};

/// Where the page lives, relative to the workspace root.
pub const CONFIG_REFERENCE_PATH: &str = "docs/src/reference/config.md";

const PREAMBLE: &str = "\
# Configuration reference

<!-- Generated from the config types by `cargo xtask docs`; edit the `///` doc comments in the
code, not this file. -->

Every key cargo-forge reads from `Cargo.toml`, generated from the code, so it is complete and
current. All keys are optional unless marked required. Unknown keys and values of the wrong type
are errors (exit code 2) that name the file and the key, reported before anything is built.

Where a setting comes from, last one wins: `[workspace.metadata.forge]`, then
`[package.metadata.forge]`, then the command line. `[package.metadata.deb]` is cargo-deb's table
and is read from the package only.";

/// The whole page, and the keys that lack a doc comment.
pub fn config_reference() -> Rendered {
    let mut tables = forge_core::config::reference_tables();
    tables.extend(cargo_forge_deb::manifest::reference_tables());
    tables.extend(cargo_forge_image::config::reference_tables());
    tables.extend(cargo_forge_release::config::reference_tables());
    render(PREAMBLE, &tables)
}
