//! `xtask-codegen OUT_DIR`: writes the man pages and shell completions into `OUT_DIR` and prints
//! each written path on stdout. Run by `cargo xtask codegen`; see the library for the layout.

use std::path::PathBuf;
use std::process::ExitCode;

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!(
            "error: expected one argument, the output directory\n\nUsage: xtask-codegen OUT_DIR"
        );
        return ExitCode::from(2);
    };
    match xtask_codegen::generate(&PathBuf::from(out)) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
