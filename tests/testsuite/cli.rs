//! The binaries as cargo subcommands: `cargo forge-deb …` and `cargo-forge-deb forge-deb …`.

use forge_tests::*;
use std::process::Command;

#[test]
fn runs_as_cargo_subcommand_and_directly() {
    let deb = bin("cargo-forge-deb");
    let dir = deb.parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    for name in ["forge-deb", "forge-image", "forge-release"] {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = run(Command::new(&cargo)
            .args([name, "--version"])
            .env("PATH", &path));
        assert_success(&out, &format!("cargo {name} --version"));
        assert!(stdout(&out).contains(name), "{}", stdout(&out));
        let out = run(Command::new(bin(&format!("cargo-{name}"))).args([name, "--help"]));
        assert_success(&out, &format!("cargo-{name} {name} --help"));
        assert!(stdout(&out).contains("Usage: cargo"), "{}", stdout(&out));
        // Directly, without the subcommand word.
        let out = run(Command::new(bin(&format!("cargo-{name}"))).arg("--version"));
        assert_success(&out, &format!("cargo-{name} --version"));
    }
}

#[test]
fn bad_flag_is_exit_2() {
    let out = run(Command::new(bin("cargo-forge-deb")).args(["forge-deb", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
