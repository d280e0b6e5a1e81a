//! Bad metadata and arguments: one clear error naming Cargo.toml and the key, exit code 2, no
//! panic, and nothing half-written in `target/debian/`.

use forge_tests::*;

/// (what to replace in the cli-tool fixture's Cargo.toml, replacement, words the error must contain)
const CASES: &[(&str, &str, &[&str])] = &[
    (
        "section = \"utils\"",
        "section = 5",
        &["package.metadata.deb.section", "Cargo.toml"],
    ),
    (
        "priority = \"optional\"",
        "priorty = \"optional\"",
        &[
            "unknown field `priorty`",
            "package.metadata.deb",
            "Cargo.toml",
            "hint: did you mean `priority`?",
        ],
    ),
    (
        "[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]",
        "[\"MISSING.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]",
        &["MISSING.md", "does not exist", "assets[1]", "Cargo.toml"],
    ),
    (
        "[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]",
        "[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", 644]",
        &["assets[1]", "mode must be a string", "Cargo.toml"],
    ),
    (
        "[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]",
        "[\"docs/*.nothing\", \"usr/share/doc/forge-fixture-cli/\", \"644\"]",
        &["matched no files", "assets[1]"],
    ),
    (
        "[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]",
        "[\"README.md\", \"../../etc/passwd\", \"644\"]",
        &["escapes", "Cargo.toml"],
    ),
    (
        "[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]",
        "[\"README.md\", \"usr/share/doc/x\", \"9z9\"]",
        &["invalid mode `9z9`", "Cargo.toml"],
    ),
    (
        "conf-files = [",
        "conf-files = 3\nx = [",
        &["conf-files", "Cargo.toml"],
    ),
    (
        "systemd-units = { unit-name = \"forge-fixture-cli\", enable = false }",
        "systemd-units = { unit-nam = \"x\" }",
        &[
            "systemd-units",
            "Cargo.toml",
            "unknown field `unit-nam`",
            "did you mean `unit-name`?",
        ],
    ),
    // Expected types in words, never a Rust type name (the test below checks for leaks).
    (
        "conf-files = [",
        "depends = 3\nconf-files = [",
        &[
            "package.metadata.deb.depends",
            "found integer `3`, expected a string like `libc6 (>= 2.31)` or a list of them",
        ],
    ),
    (
        "systemd-units = { unit-name = \"forge-fixture-cli\", enable = false }",
        "systemd-units = 5",
        &[
            "package.metadata.deb.systemd-units",
            "expected a table or a list of tables",
        ],
    ),
    (
        "[package.metadata.deb]",
        "[package.metadata.forge]\nbakend = \"cargo\"\n\n[package.metadata.deb]",
        &[
            "unknown field `bakend`",
            "package.metadata.forge",
            "Cargo.toml",
        ],
    ),
];

#[test]
fn bad_metadata_gives_one_clear_error() {
    for (from, to, words) in CASES {
        let fx = Fixture::copy("cli-tool");
        fx.edit_manifest(from, to);
        let out = fx.forge_deb(&["--no-build"]);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "case `{to}`: expected exit 2, got {:?}\n{err}",
            out.status.code()
        );
        assert!(!err.contains("panicked"), "panic on `{to}`:\n{err}");
        for leak in [
            "untagged enum",
            "DependencyList",
            "SystemdUnits",
            "expected struct",
        ] {
            assert!(!err.contains(leak), "case `{to}` leaks `{leak}`:\n{err}");
        }
        assert_eq!(
            err.matches("error:").count(),
            1,
            "one error for `{to}`:\n{err}"
        );
        for w in *words {
            assert!(
                err.contains(w),
                "case `{to}`: error does not mention `{w}`:\n{err}"
            );
        }
        assert!(fx.debs().is_empty(), "case `{to}` left a package behind");
    }
}

#[test]
fn bad_arguments() {
    let fx = Fixture::copy("cli-tool");
    for (args, words) in [
        (
            &["--target", "x86_64-pc-windows-msvc"][..],
            &[
                "unsupported target `x86_64-pc-windows-msvc`",
                "not a Linux target",
            ][..],
        ),
        (
            &["--target", "sparc-unknown-nonsense"][..],
            &["unsupported target"][..],
        ),
        (
            &["--variant", "nope"][..],
            &["variant `nope`", "Cargo.toml"][..],
        ),
        (&["-p", "nope"][..], &["package `nope`"][..]),
        (
            &["--deb-version", "x_1"][..],
            &["not a valid Debian version"][..],
        ),
        (
            &["--toolchain", "/nonexistent-toolchain-dir"][..],
            &["/nonexistent-toolchain-dir"][..],
        ),
        (
            &["--no-build", "--target", "x86_64-unknown-linux-musl"][..],
            &[][..],
        ),
    ] {
        let out = fx.forge_deb(args);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?}:\n{err}");
        for w in words {
            assert!(
                err.contains(w),
                "{args:?}: error does not mention `{w}`:\n{err}"
            );
        }
        assert!(fx.debs().is_empty(), "{args:?} left a package behind");
    }
}

/// `--no-build` without a build names the missing binary and how to build it.
#[test]
fn no_build_without_binaries() {
    let fx = Fixture::copy("cli-tool");
    let out = fx.forge_deb(&["--no-build"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("has not been built") && err.contains("hint:"),
        "{err}"
    );
}
