//! Dogfooding: cargo-forge's own `.deb`, made by `cargo forge-deb` from the
//! `[package.metadata.deb]` of cargo-forge-release, as `cargo xtask dist` makes it (here from
//! the debug binaries the test suite already built, with `--profile dev --no-build`).
//! The man pages and completions come from `xtask-codegen` (what `cargo xtask codegen` runs);
//! the package must pass lintian and hold every page and completion, byte for byte.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use forge_tests::*;

/// Runs `xtask-codegen` into `<root>/target/codegen` (the directory the package metadata
/// names); returns the generated files, relative to it.
fn codegen(root: &Path) -> BTreeSet<String> {
    let out = root.join("target/codegen");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let gen = run(Command::new(cargo)
        .args(["run", "--quiet", "--package", "xtask-codegen", "--"])
        .arg(&out)
        .current_dir(root));
    assert_success(&gen, "xtask-codegen");
    stdout(&gen)
        .lines()
        .map(|l| {
            Path::new(l)
                .strip_prefix(&out)
                .unwrap_or_else(|_| panic!("`{l}` is outside `{}`", out.display()))
                .display()
                .to_string()
        })
        .collect()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a gzipped man page");
    text
}

#[test]
fn cargo_forge_deb_holds_binaries_man_pages_and_completions() {
    if !require_tools(&["lintian", "dpkg-deb", "bash"]) {
        return;
    }
    let root = workspace_root();
    // Built first: the package takes the debug binaries of the three commands.
    let forge_deb = bin("cargo-forge-deb");
    let generated = codegen(&root);
    let pages: Vec<&String> = generated.iter().filter(|f| f.starts_with("man/")).collect();
    for page in [
        "man/cargo-forge-deb.1",
        "man/cargo-forge-deb-repo.1",
        "man/cargo-forge-image.1",
        "man/cargo-forge-image-merge.1",
        "man/cargo-forge-release.1",
        "man/cargo-forge-release-publish.1",
    ] {
        assert!(generated.contains(page), "{page} not in {generated:?}");
    }

    let out_dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(&forge_deb)
        .args(["forge-deb", "--package", "cargo-forge-release"])
        .args(["--profile", "dev", "--no-build", "--lint"])
        // gzip -1 packs the (stripped) debug binaries in half the time of xz's fastest level.
        .args(["--compress", "gzip", "--compress-level", "1"])
        .arg("--output")
        .arg(out_dir.path())
        .current_dir(&root)
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-deb of cargo-forge itself");
    let deb = out_dir.path().join("cargo-forge_0.1.0-1_amd64.deb");
    assert_eq!(stdout(&out).trim(), deb.display().to_string());
    // lintian: no error (forge-deb fails on one); the only warning is the dpkg database path
    // forge-deb reads for `$auto` fingerprints.
    for line in stderr(&out).lines().filter(|l| l.contains("lintian:")) {
        assert!(line.contains("uses-dpkg-database-directly"), "{line}");
    }

    let control = deb_control(&deb).unwrap();
    assert_eq!(control["Package"], "cargo-forge");
    assert_eq!(control["Architecture"], "amd64");
    assert_eq!(control["Section"], "devel");
    assert!(control["Depends"].starts_with("libc6"), "{control:?}");

    // The listing, as dpkg-deb shows it.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert_success(&listing, "dpkg-deb -c");
    let files: BTreeSet<String> = stdout(&listing)
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            l.split_whitespace()
                .last()
                .unwrap()
                .trim_start_matches("./")
                .to_string()
        })
        .collect();
    let mut expected: BTreeSet<String> = [
        "usr/bin/cargo-forge-deb",
        "usr/bin/cargo-forge-image",
        "usr/bin/cargo-forge-release",
        "usr/share/doc/cargo-forge/README.md",
        "usr/share/doc/cargo-forge/copyright",
        "usr/share/doc/cargo-forge/changelog.Debian.gz",
    ]
    .map(String::from)
    .into();
    for file in &generated {
        let name = file.rsplit('/').next().unwrap();
        expected.insert(match file.split('/').nth(1).unwrap() {
            _ if file.starts_with("man/") => format!("usr/share/man/man1/{name}.gz"),
            "bash" => format!("usr/share/bash-completion/completions/{name}"),
            "zsh" => format!("usr/share/zsh/vendor-completions/{name}"),
            "fish" => format!("usr/share/fish/vendor_completions.d/{name}"),
            other => panic!("unexpected generated file {file} ({other})"),
        });
    }
    assert_eq!(files, expected);

    // Man pages: gzipped, identical to what codegen wrote, each a page (title, NAME, SYNOPSIS
    // showing the `cargo forge-…` invocation) — checked without man or groff.
    for page in &pages {
        let name = page.trim_start_matches("man/");
        let text = gunzip(&deb_file(&deb, &format!("usr/share/man/man1/{name}.gz")).unwrap());
        assert_eq!(
            text,
            std::fs::read_to_string(root.join("target/codegen").join(page)).unwrap()
        );
        let command = name.trim_end_matches(".1");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!(".TH {command} 1 "))),
            "{name}: no .TH"
        );
        let at = |heading: &str| {
            lines
                .iter()
                .position(|l| *l == heading)
                .unwrap_or_else(|| panic!("{name}: no {heading}"))
        };
        let whatis = lines[at(".SH NAME") + 1];
        assert!(
            whatis.starts_with(&format!("{} \\- ", command.replace('-', "\\-"))),
            "{name}: NAME line `{whatis}`"
        );
        // `cargo-forge-deb-repo(1)` documents `cargo forge-deb repo`, and
        // `cargo-forge-release-push-image(1)` `cargo forge-release push-image` (the first word is
        // the command, the rest the subcommand; roff escapes `-`).
        let (cmd, sub) = command
            .trim_start_matches("cargo-forge-")
            .split_once('-')
            .unwrap_or((command.trim_start_matches("cargo-forge-"), ""));
        let invocation = if sub.is_empty() {
            format!("cargo forge\\-{cmd}")
        } else {
            format!("cargo forge\\-{cmd} {}", sub.replace('-', "\\-"))
        };
        let synopsis = lines[at(".SH SYNOPSIS") + 1];
        assert!(
            synopsis.starts_with(&format!("\\fB{invocation}\\fR")),
            "{name}: SYNOPSIS `{synopsis}` does not show `{invocation}`"
        );
    }

    // Completions: what codegen wrote; bash's parses.
    let scratch = tempfile::tempdir().unwrap();
    for program in [
        "cargo-forge-deb",
        "cargo-forge-image",
        "cargo-forge-release",
    ] {
        let bash = extract_to(
            &deb,
            &format!("usr/share/bash-completion/completions/{program}"),
            scratch.path(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(&bash).unwrap(),
            std::fs::read(root.join("target/codegen/completions/bash").join(program)).unwrap()
        );
        assert_success(&run(Command::new("bash").arg("-n").arg(&bash)), "bash -n");
        let text = std::fs::read_to_string(&bash).unwrap();
        assert!(
            text.contains(&format!(" {program}\n")) && text.contains("--message-format"),
            "{program}: not a completion of `{program}`"
        );
        let zsh = deb_file(
            &deb,
            &format!("usr/share/zsh/vendor-completions/_{program}"),
        )
        .unwrap();
        assert!(String::from_utf8(zsh)
            .unwrap()
            .starts_with(&format!("#compdef {program}\n")));
        let fish = deb_file(
            &deb,
            &format!("usr/share/fish/vendor_completions.d/{program}.fish"),
        )
        .unwrap();
        assert!(String::from_utf8(fish)
            .unwrap()
            .contains(&format!("complete -c {program} ")));
    }
}
