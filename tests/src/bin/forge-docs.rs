//! The book's generated parts and checks, for `cargo xtask docs`:
//!
//! * `forge-docs reference` prints the configuration reference page (markdown) on stdout, and
//!   fails when a config key has no `///` doc comment;
//! * `forge-docs schemas` prints the JSON Schemas of the `--message-format json` documents as
//!   one JSON object, file name (under `docs/schemas/`) → file text;
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
        "schemas" => {
            let files = forge_tests::schemas::generated();
            let text = serde_json::to_string(&files).expect("strings serialise");
            match std::io::stdout().write_all(text.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: failed to write the schemas: {e}");
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
            eprintln!("usage: forge-docs reference|schemas|check-links");
            ExitCode::from(2)
        }
    }
}
