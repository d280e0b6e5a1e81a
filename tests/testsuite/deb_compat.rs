//! cargo-deb compatibility and lintian on crates as people write them (issue 12): every flag of
//! cargo-deb 3.8's `--help` through the real binary, and a fresh `cargo new` crate with each of
//! the ten licences most used on crates.io, with and without its licence files, lintian-clean.

use std::path::Path;
use std::process::Command;

use forge_tests::*;

const CARGO_DEB_HELP: &str = include_str!("../../cargo-forge-deb/cargo-deb-3.8-help.txt");

/// cargo-deb's flags that we refuse (with what to use instead); every other one is accepted.
const REFUSED: &[&str] = &["override-debug", "override-lto", "rsyncable"];

/// A value for each flag of cargo-deb's help that takes one.
fn sample(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "output" => "out/",
        "package" => "forge-fixture-cli",
        "manifest-path" => "Cargo.toml",
        "target" => "aarch64-unknown-linux-gnu",
        "multiarch" => "foreign",
        "profile" => "release",
        "color" => "never",
        "compress-debug-symbols" => "zstd",
        "variant" => "minimal",
        "deb-version" => "1.2.3-4",
        "deb-revision" => "2",
        "maintainer" => "A <a@b.c>",
        "section" => "net",
        "cargo-build" => "zigbuild",
        "override-debug" => "full",
        "override-lto" => "fat",
        "compress-type" => "gz",
        "features" => "default",
        _ => return None,
    })
}

/// The flags of cargo-deb's `--help` (long name, short letter).
fn help_flags(help: &str) -> Vec<(String, Option<char>)> {
    help.lines()
        .filter_map(|line| {
            let t = line.trim_start();
            if !t.starts_with('-') || line.len() - t.len() > 6 {
                return None;
            }
            let (short, rest) = match t.strip_prefix('-').filter(|r| !r.starts_with('-')) {
                Some(r) => (
                    r.chars().next(),
                    r[1..].trim_start_matches(',').trim_start(),
                ),
                None => (None, t),
            };
            let long: String = rest
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some((long, short))
        })
        .collect()
}

/// The committed `--help` is the installed cargo-deb's, and every flag in it is accepted by the
/// real binary (a dry run) or refused with exit code 2 and one error naming what to use.
#[test]
fn cargo_deb_flags() {
    let installed = std::env::var("FORGE_CARGO_DEB")
        .ok()
        .filter(|p| Path::new(p).is_file());
    match installed {
        Some(cargo_deb) => {
            let help = stdout(&run(Command::new(&cargo_deb).args(["deb", "--help"])));
            assert_eq!(
                help, CARGO_DEB_HELP,
                "cargo-forge-deb/cargo-deb-3.8-help.txt differs from `{cargo_deb} deb --help`: update it and the flag table"
            );
        }
        None => {
            if !require_tools(&["cargo-deb"]) {
                return;
            }
        }
    }
    if !require_tools(&[
        "/usr/bin/cargo",
        "/usr/lib/rustlib/aarch64-unknown-linux-gnu",
    ]) {
        return;
    }
    let flags = help_flags(CARGO_DEB_HELP);
    assert!(flags.len() >= 40, "{flags:?}");
    let fx = Fixture::copy("cli-tool");
    let mut failures = Vec::new();
    for (long, short) in flags {
        if long == "help" || long == "version" {
            continue;
        }
        let mut spellings = vec![format!("--{long}")];
        spellings.extend(short.map(|c| format!("-{c}")));
        for flag in spellings {
            let mut args = vec!["--dry-run".to_string(), "--toolchain".into(), "/usr".into()];
            match sample(&long) {
                Some(v) if long == "compress-debug-symbols" && flag.starts_with("--") => {
                    args.push(format!("{flag}={v}"))
                }
                Some(v) => args.extend([flag.clone(), v.to_string()]),
                None => args.push(flag.clone()),
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = fx.forge_deb(&argv);
            let err = stderr(&out);
            let errors = err.lines().filter(|l| l.starts_with("error:")).count();
            if REFUSED.contains(&long.as_str()) {
                if out.status.code() != Some(2)
                    || errors != 1
                    || !err.contains("instead") && !err.contains("use ") && !err.contains("set ")
                {
                    failures.push(format!("{argv:?}: expected one refusal with exit 2\n{err}"));
                }
            } else if !out.status.success() {
                failures.push(format!("{argv:?}: exit {:?}\n{err}", out.status.code()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(fx.debs().is_empty(), "a dry run wrote a package");
}

/// The ten licences most used on crates.io (by number of crates), as SPDX expressions, with the
/// files a crate of that licence usually ships: (file name, text).
fn licences() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let common =
        |f: &str| std::fs::read_to_string(format!("/usr/share/common-licenses/{f}")).unwrap();
    let bundled = |f: &str| {
        std::fs::read_to_string(
            workspace_root()
                .join("cargo-forge-deb/licenses")
                .join(format!("{f}.txt")),
        )
        .unwrap()
    };
    vec![
        (
            "MIT OR Apache-2.0",
            vec![
                ("LICENSE-MIT", bundled("MIT")),
                ("LICENSE-APACHE", common("Apache-2.0")),
            ],
        ),
        ("MIT", vec![("LICENSE", bundled("MIT"))]),
        ("Apache-2.0", vec![("LICENSE", common("Apache-2.0"))]),
        ("BSD-3-Clause", vec![("LICENSE", bundled("BSD-3-Clause"))]),
        ("MPL-2.0", vec![("LICENSE", common("MPL-2.0"))]),
        ("GPL-3.0-or-later", vec![("COPYING", common("GPL-3"))]),
        ("BSD-2-Clause", vec![("LICENSE", bundled("BSD-2-Clause"))]),
        (
            "Unlicense OR MIT",
            vec![
                ("UNLICENSE", bundled("Unlicense")),
                ("LICENSE-MIT", bundled("MIT")),
            ],
        ),
        ("ISC", vec![("LICENSE", bundled("ISC"))]),
        ("LGPL-2.1-or-later", vec![("LICENSE", common("LGPL-2.1"))]),
    ]
}

/// A fresh `cargo new` crate with a description, a licence and authors (no README, no
/// `[package.metadata.deb]`): for each of the ten licences, with and without its licence files,
/// the package has no lintian error and no copyright or description warning. One build, twenty
/// packagings (`--no-build`), one lintian run over all of them.
#[test]
fn fresh_crate_with_each_common_licence_is_lintian_clean() {
    if !require_tools(&["lintian", "dpkg-shlibdeps"]) {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("forge-fresh-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("src/main.rs"),
        "fn main() {\n    println!(\"Hello, world!\");\n}\n",
    )
    .unwrap();
    let manifest = |license: &str| {
        format!(
            "[package]\nname = \"hello-fresh\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             description = \"Says hello to the world\"\nlicense = \"{license}\"\n\
             authors = [\"Jane Doe <jane@example.com>\"]\n\n[workspace]\n\n[dependencies]\n"
        )
    };
    std::fs::write(root.join("Cargo.toml"), manifest("MIT")).unwrap();
    let forge = |args: &[&str]| {
        run(Command::new(bin("cargo-forge-deb"))
            .arg("forge-deb")
            .args(args)
            .current_dir(root)
            .env("NO_COLOR", "1"))
    };
    // The one build.
    assert_success(&forge(&[]), "first packaging (with the build)");
    let out_dir = root.join("matrix");
    let mut debs = Vec::new();
    for (i, (license, files)) in licences().into_iter().enumerate() {
        for with_files in [true, false] {
            for entry in std::fs::read_dir(root).unwrap().flatten() {
                let n = entry.file_name().to_string_lossy().to_uppercase();
                if n.starts_with("LICEN") || n.starts_with("COPYING") || n.starts_with("UNLICENSE")
                {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
            if with_files {
                for (name, text) in &files {
                    std::fs::write(root.join(name), text).unwrap();
                }
            }
            std::fs::write(root.join("Cargo.toml"), manifest(license)).unwrap();
            // A version per case, so that each package has its own file.
            let version = format!("0.1.0-{}", i * 2 + usize::from(with_files) + 1);
            let out = forge(&[
                "--no-build",
                "--deb-version",
                &version,
                "-o",
                out_dir.to_str().unwrap(),
            ]);
            assert_success(&out, &format!("{license} (files: {with_files})"));
            let deb = out_dir.join(format!("hello-fresh_{version}_amd64.deb"));
            assert!(deb.is_file(), "{}", deb.display());
            let copyright =
                String::from_utf8(deb_file(&deb, "usr/share/doc/hello-fresh/copyright").unwrap())
                    .unwrap();
            assert!(
                !copyright.contains("TERMS AND CONDITIONS"),
                "{license}: full text of a common licence\n{copyright}"
            );
            debs.push((license, with_files, deb));
        }
    }
    // lintian once over every package; its lines name the package and version.
    let out = run(Command::new("lintian")
        .args([
            "--tag-display-limit",
            "0",
            "--fail-on",
            "none",
            "--show-overrides",
        ])
        .args(debs.iter().map(|(_, _, d)| d)));
    let report = stdout(&out);
    let bad: Vec<&str> = report
        .lines()
        .filter(|l| {
            l.starts_with("E:")
                || (l.starts_with("W:")
                    && (l.contains("copyright")
                        || l.contains("description")
                        || l.contains("synopsis")
                        || l.contains("license")))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "lintian on {} packages ({:?}):\n{}",
        debs.len(),
        debs.iter()
            .map(|(l, f, _)| format!("{l} files={f}"))
            .collect::<Vec<_>>(),
        bad.join("\n")
    );
    assert_eq!(debs.len(), 20);
}
