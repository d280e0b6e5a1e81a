//! Records the triple this crate is compiled for, which is the host the tools run on.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    println!("cargo:rustc-env=FORGE_HOST_TRIPLE={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
