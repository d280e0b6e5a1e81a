//! `cargo forge-rpm`: RPM packages of Rust crates and the DNF/YUM repositories that serve them.
//!
//! Built on the packaging model forge-deb already resolves (assets, conf files, systemd units,
//! maintainer scripts), so a crate packaged by forge-deb gets a correct RPM with no new
//! configuration; `[package.metadata.generate-rpm]` is read as cargo-generate-rpm reads it.

pub mod repo;
pub mod writer;
