//! The end-to-end test suite: one binary, a module per command (cargo's layout).
//!
//! Every test drives the real `cargo-forge-*` binaries against real parts (cargo and Debian's
//! cross toolchain, qemu-user, lintian, dpkg, apt, gpg, debootstrap). `cargo xtask test`
//! installs them first and sets `FORGE_E2E=1`, which turns a missing tool into a failure.

mod arches;
mod bad_input;
mod cli;
mod cross;
mod deb;
mod deb_bad_input;
mod deb_compat;
mod deb_repo;
mod dogfood;
mod faults;
mod gha;
mod image;
mod image_docker;
mod init;
mod json;
mod modes;
mod readme;
mod registry;
mod release;
mod release_act;
mod release_ci;
mod release_faults;
mod release_github;
mod release_more;
mod release_plan;
mod release_s3;
mod rpm;
mod rpm_repo;
mod secrets;
mod tidy;
mod untrusted;
mod vm;
