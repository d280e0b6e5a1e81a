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
    for name in ["forge-deb", "forge-image", "forge-release", "forge-rpm"] {
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

/// The flags a `--help` text lists: every `-x` and `--name` of its option lines, aliases
/// included.
fn help_flags(help: &str) -> std::collections::BTreeSet<String> {
    let mut flags = std::collections::BTreeSet::new();
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with('-') {
            for word in t.split([' ', ',', '=', '[', ']', '<']) {
                let name: String = word
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if word.starts_with('-') && name.len() > 1 {
                    flags.insert(name);
                }
                if !word.starts_with('-') && !word.is_empty() {
                    break;
                }
            }
        }
        if let Some(i) = t.find("[aliases: ").or_else(|| t.find("[alias: ")) {
            let rest = &t[i..];
            let rest = &rest[rest.find(' ').unwrap() + 1..rest.find(']').unwrap()];
            flags.extend(rest.split(", ").map(str::to_owned));
        }
    }
    flags
}

/// The subcommands a `--help` text lists under `Commands:` (`help` aside).
fn help_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A wrapped description continues on a deeper-indented line.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// The `--help` of `cargo forge-X [SUB]`, from the real binary.
fn help_of(words: &[&str]) -> String {
    let out = run(Command::new(bin(&format!("cargo-{}", words[1])))
        .args(&words[1..])
        .arg("--help"));
    assert_success(&out, &format!("{} --help", words.join(" ")));
    stdout(&out)
}

/// The common-options table of docs/src/reference/cli.md and every command's `--help` agree:
/// a flag is in a command's help exactly when the table gives it a meaning there (not "—"),
/// every command and subcommand has a row, and every column is defined in the flag table.
#[test]
fn common_options_table_matches_every_help() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/src/reference/cli.md")).unwrap();
    let rows = |header: &str| -> Vec<Vec<String>> {
        doc.lines()
            .skip_while(|l| !l.starts_with(header))
            .take_while(|l| l.starts_with('|'))
            .filter(|l| !l.starts_with("| ---"))
            .map(|l| {
                l.trim_matches('|')
                    .split(" | ")
                    .map(|c| c.trim().trim_matches('`').to_owned())
                    .collect()
            })
            .collect()
    };
    let defined: Vec<String> = rows("| flag |")
        .into_iter()
        .skip(1)
        .map(|r| r[0].clone())
        .collect();
    let table = rows("| command |");
    let columns = &table[0][1..];
    assert_eq!(
        columns,
        &defined[..],
        "the per-command columns are the defined flags"
    );
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for row in &table[1..] {
        assert_eq!(row.len(), columns.len() + 1, "{row:?}");
        let words: Vec<&str> = row[0].split(' ').collect();
        seen.push(row[0].clone());
        let flags = help_flags(&help_of(&words));
        for (column, cell) in columns.iter().zip(&row[1..]) {
            let documented = !cell.starts_with('—');
            for spelling in column.split('/') {
                if flags.contains(spelling) != documented {
                    problems.push(format!(
                        "`{}`: the table says {spelling} is {}, its --help says {}",
                        row[0],
                        if documented { "taken" } else { "not taken" },
                        if flags.contains(spelling) {
                            "it is"
                        } else {
                            "it is not"
                        },
                    ));
                }
            }
        }
    }
    for cmd in ["forge-deb", "forge-image", "forge-release", "forge-rpm"] {
        let top = format!("cargo {cmd}");
        let mut all = vec![top.clone()];
        all.extend(
            help_subcommands(&help_of(&["cargo", cmd]))
                .into_iter()
                .map(|s| format!("{top} {s}")),
        );
        for c in all {
            if !seen.contains(&c) {
                problems.push(format!("`{c}` has no row in the common-options table"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The planted mismatches the table test must catch: a flag missing from help, and an alias.
#[test]
fn help_flags_reads_options_and_aliases() {
    let help = "Options:\n  -o, --out <PATH>  Write here [aliases: --output]\n      --dry-run  Plan only\n      --sign-key <KEYID>\n          Sign\n  -v, --verbose...  More\n";
    let flags = help_flags(help);
    for f in [
        "-o",
        "--out",
        "--output",
        "--dry-run",
        "--sign-key",
        "-v",
        "--verbose",
    ] {
        assert!(flags.contains(f), "{f}: {flags:?}");
    }
    assert!(!flags.contains("--retries"));
    let help = "Usage: x\n\nCommands:\n  init  Write\n  repo  Make the\n        registry\n  help  Print\n\nOptions:\n";
    assert_eq!(help_subcommands(help), ["init", "repo"]);
}
