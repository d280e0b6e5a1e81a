//! Thin binary of `cargo forge-image`.
fn main() {}
