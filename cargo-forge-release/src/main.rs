//! Thin binary of `cargo forge-release`: all logic lives in the library.
fn main() -> std::process::ExitCode {
    forge_core::cli::main(|| {
        cargo_forge_release::main_with_args(forge_core::cli::normalize_args("forge-release"))
    })
}
