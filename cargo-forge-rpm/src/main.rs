//! Thin binary of `cargo forge-rpm`: all logic lives in the library.
fn main() -> std::process::ExitCode {
    forge_core::cli::main(|| {
        cargo_forge_rpm::main_with_args(forge_core::cli::normalize_args("forge-rpm"))
    })
}
