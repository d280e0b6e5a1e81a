//! The book's generated parts and checks, for `cargo xtask docs`:
//!
//! * `forge-docs reference` prints the configuration reference page (markdown) on stdout, and
//!   fails when a config key has no `///` doc comment;
//! * `forge-docs check-links` checks the relative links and anchors of the book, README.md and
//!   ARCHITECTURE.md, and fails listing the broken ones.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_default();
    match arg.as_str() {
        "reference" => {
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
        "check-links" => {
            let problems = forge_tests::docs::check_links(&forge_tests::workspace_root());
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("error: broken links:\n  {}", problems.join("\n  "));
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: forge-docs reference|check-links");
            ExitCode::from(2)
        }
    }
}
