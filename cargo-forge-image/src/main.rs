//! Thin binary of `cargo forge-image`: all logic lives in the library.
fn main() -> std::process::ExitCode {
    forge_core::cli::main(|| {
        cargo_forge_image::main_with_args(forge_core::cli::normalize_args("forge-image"))
    })
}
