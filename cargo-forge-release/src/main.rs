//! Thin binary of `cargo forge-release`.
fn main() {}
