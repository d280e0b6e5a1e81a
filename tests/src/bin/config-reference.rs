//! Prints the configuration reference page (markdown) on stdout; `cargo xtask docs` writes it to
//! docs/src/reference/config.md. Fails when a key has no doc comment.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let page = forge_tests::docs::config_reference();
    if !page.undocumented.is_empty() {
        eprintln!(
            "error: these config keys have no `///` doc comment:\n  {}",
            page.undocumented.join("\n  ")
        );
        return ExitCode::FAILURE;
    }
    match std::io::stdout().write_all(page.markdown.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: failed to write the reference: {e}");
            ExitCode::FAILURE
        }
    }
}
