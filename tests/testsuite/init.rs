//! `cargo forge-deb init`, `cargo forge-image init`, `cargo forge-release init`: the starter
//! tables they write keep the rest of Cargo.toml byte for byte, and the commands then run with
//! them: forge-deb builds a package with the written assets, forge-image and forge-release plan
//! with the written tables. An existing table is refused without `--force`, replaced with it;
//! `--dry-run` writes nothing.

use std::path::Path;
use std::process::{Command, Output};

use forge_tests::*;

/// Runs `cargo-forge-NAME forge-NAME ARGS` in `dir`.
fn forge(dir: &Path, name: &str, args: &[&str]) -> Output {
    run(Command::new(bin(&format!("cargo-forge-{name}")))
        .arg(format!("forge-{name}"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(std::process::Stdio::null()))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The cli-tool fixture without its `[package.metadata.deb]` (and the variant after it): a crate
/// that was never packaged. Returns the fixture and its Cargo.toml as it is then.
fn unpackaged_cli_tool() -> (Fixture, String) {
    let fx = Fixture::copy("cli-tool");
    let manifest = fx.path().join("Cargo.toml");
    let text = read(&manifest);
    let cut = text.find("[package.metadata.deb]").unwrap();
    let before = text[..cut].to_string();
    std::fs::write(&manifest, &before).unwrap();
    (fx, before)
}

/// Asserts that `after` is `before` with text appended, and returns the appended text.
#[track_caller]
fn appended<'a>(before: &str, after: &'a str) -> &'a str {
    assert!(
        after.starts_with(before),
        "the existing Cargo.toml was changed:\n--- before\n{before}\n--- after\n{after}"
    );
    &after[before.len()..]
}

/// `init` on a crate without a table, then a real package from it: the binary and README are
/// where the written `assets` put them, the maintainer comes from `authors`, `$auto` found libc.
#[test]
fn deb_init_writes_a_table_that_packages() {
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let (fx, before) = unpackaged_cli_tool();
    let out = forge(fx.path(), "deb", &["init"]);
    assert_success(&out, "forge-deb init");
    assert!(
        stderr(&out).contains("Created [package.metadata.deb] in Cargo.toml"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("hint: review the table, then run `cargo forge-deb`"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let after = read(&fx.path().join("Cargo.toml"));
    let added = appended(&before, &after);
    assert!(added.starts_with("# The Debian package"), "{added}");
    assert!(
        after.ends_with("]\n"),
        "no blank line moved to the end: {after}"
    );
    for line in [
        "maintainer = \"Forge Fixtures <fixtures@example.com>\"",
        "depends = \"$auto\"",
        "[\"target/release/forge-fixture-cli\", \"usr/bin/\", \"755\"],",
        "[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"],",
        "# systemd-units = { unit-name = \"forge-fixture-cli\", enable = true, start = true }",
        "# conf-files = [\"/etc/forge-fixture-cli/config.toml\"]",
    ] {
        assert!(added.contains(line), "`{line}` missing from:\n{added}");
    }

    let out = fx.forge_deb(&[]);
    assert_success(&out, "forge-deb with the starter table");
    let debs = fx.debs();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let files = deb_files(&debs[0]).unwrap();
    for f in [
        "usr/bin/forge-fixture-cli",
        "usr/share/doc/forge-fixture-cli/README",
        "usr/share/doc/forge-fixture-cli/copyright",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} not in {files:?}");
    }
    let readme = deb_file(&debs[0], "usr/share/doc/forge-fixture-cli/README").unwrap();
    assert_eq!(readme, std::fs::read(fx.path().join("README.md")).unwrap());
    let control = deb_control(&debs[0]).unwrap();
    assert_eq!(
        control["Maintainer"],
        "Forge Fixtures <fixtures@example.com>"
    );
    assert_eq!(control["Section"], "utils");
    assert_eq!(control["Priority"], "optional");
    assert!(control["Depends"].contains("libc6"), "{control:?}");
}

/// A workspace: `init` needs `-p`; a member's manifest keeps its leading comments; a second
/// `init` is refused (exit 2, naming the file and the table, suggesting `--force`) and changes
/// nothing; `--dry-run` prints and writes nothing; `--force` with `--manifest-path` replaces the
/// table in place, keeping everything before it.
#[test]
fn workspace_member_refusal_force_and_dry_run() {
    let fx = Fixture::copy("two-bins-workspace");
    let out = forge(fx.path(), "deb", &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 are selected") && stderr(&out).contains("-p NAME"),
        "{}",
        stderr(&out)
    );

    let beta = fx.path().join("beta/Cargo.toml");
    let before = read(&beta);
    let out = forge(fx.path(), "deb", &["init", "-p", "forge-fixture-beta"]);
    assert_success(&out, "init -p");
    assert!(
        stderr(&out).contains("Created [package.metadata.deb] in beta/Cargo.toml")
            && stderr(&out).contains("`cargo forge-deb -p forge-fixture-beta`"),
        "{}",
        stderr(&out)
    );
    let written = read(&beta);
    let added = appended(&before, &written);
    assert!(
        added.contains("[\"../README.md\", \"usr/share/doc/forge-fixture-beta/README\", \"644\"]"),
        "the workspace README, relative to the member: {added}"
    );

    let out = forge(fx.path(), "deb", &["init", "-p", "forge-fixture-beta"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: `beta/Cargo.toml` already has [package.metadata.deb]")
            && err.contains("hint: pass `--force`"),
        "{err}"
    );
    assert_eq!(read(&beta), written, "a refused init changed the file");

    let out = forge(
        fx.path(),
        "deb",
        &["init", "-p", "forge-fixture-beta", "--dry-run"],
    );
    assert_success(&out, "init --dry-run");
    assert!(
        stdout(&out).starts_with("# The Debian package")
            && stdout(&out).contains("[package.metadata.deb]\n"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("needs `--force`"), "{}", stderr(&out));
    assert_eq!(read(&beta), written, "--dry-run wrote");
    let out = forge(
        fx.path(),
        "image",
        &[
            "init",
            "-p",
            "forge-fixture-beta",
            "--dry-run",
            "--message-format",
            "json",
        ],
    );
    assert_success(&out, "image init --dry-run json");
    let v = crate::json::document(&out, "cargo-forge/init/v1");
    assert_eq!(v["action"], "dry-run");
    assert_eq!(v["table"], "package.metadata.forge.image");
    assert!(v["toml"].as_str().unwrap().contains("base = \"scratch\""));
    assert_eq!(read(&beta), written, "--dry-run wrote");

    // alpha has its own table, with comments inside it: --force replaces the table (and only
    // the table) where it is.
    let alpha = fx.path().join("alpha/Cargo.toml");
    let old = read(&alpha);
    let out = forge(
        fx.path(),
        "deb",
        &["init", "--manifest-path", "alpha/Cargo.toml", "--force"],
    );
    assert_success(&out, "init --force");
    assert!(
        stderr(&out).contains("Replaced [package.metadata.deb] in alpha/Cargo.toml"),
        "{}",
        stderr(&out)
    );
    let new = read(&alpha);
    let kept = &old[..old.find("\n[package.metadata.deb]").unwrap()];
    assert!(new.starts_with(kept), "{new}");
    assert!(
        !new.contains("license-file"),
        "the old table is gone: {new}"
    );
    assert_eq!(new.matches("[package.metadata.deb]").count(), 1, "{new}");
    let out = forge(
        fx.path(),
        "deb",
        &["-p", "forge-fixture-alpha", "--dry-run"],
    );
    assert_success(&out, "forge-deb plans with the replaced table");
}

/// forge-image and forge-release load what their `init` wrote: the image plan tags the
/// repository derived from a GitHub URL; the release stages the artifacts the package
/// configures (archive, deb, image) and publishes nothing.
#[test]
fn image_and_release_init_then_plan() {
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    fx.edit_manifest(
        "repository = \"https://example.com/forge-fixtures/forge-fixture-cli\"",
        "repository = \"https://github.com/Forge-Fixtures/cli.git\"",
    );
    let manifest = fx.path().join("Cargo.toml");
    let before = read(&manifest);
    let out = forge(fx.path(), "image", &["init"]);
    assert_success(&out, "forge-image init");
    let with_image = read(&manifest);
    let added = appended(&before, &with_image);
    assert!(
        added.contains("\nrepository = \"ghcr.io/forge-fixtures/cli\"\n"),
        "{added}"
    );
    let out = forge(fx.path(), "release", &["init"]);
    assert_success(&out, "forge-release init");
    assert!(
        stderr(&out).contains("`cargo forge-release 0.1.0 --dry-run`"),
        "{}",
        stderr(&out)
    );
    let added = appended(&with_image, &read(&manifest)).to_string();
    assert!(
        added.contains("\nartifacts = [\"archive\", \"deb\", \"image\"]\n"),
        "{added}"
    );
    assert!(
        added.contains("# hosts = [{ kind = \"github\", repo = \"Forge-Fixtures/cli\" }]"),
        "{added}"
    );

    let out = forge(
        fx.path(),
        "image",
        &["--dry-run", "--message-format", "json"],
    );
    assert_success(&out, "forge-image --dry-run with the starter table");
    let v = crate::json::document(&out, "cargo-forge/image-plan/v1");
    let tags: Vec<&str> = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(
        tags.contains(&"ghcr.io/forge-fixtures/cli:0.1.0"),
        "{tags:?}"
    );

    let out = forge(
        fx.path(),
        "release",
        &[
            "0.1.0",
            "--stage-only",
            "--no-tag",
            "--message-format",
            "json",
        ],
    );
    assert_success(&out, "forge-release --stage-only with the starter table");
    let v = crate::json::document(&out, "cargo-forge/release-staged/v1");
    assert_eq!(
        v["plan"]["packages"][0]["artifacts"],
        serde_json::json!(["archive", "deb", "image"])
    );
    let names: Vec<&str> = v["staged"][0]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with(".tar.gz")) && names.iter().any(|n| n.ends_with(".deb")),
        "{names:?}"
    );
    assert!(
        !fx.path()
            .join("target/forge/release/forge-fixture-cli/0.1.0/publish")
            .exists(),
        "a dry run published"
    );
}
