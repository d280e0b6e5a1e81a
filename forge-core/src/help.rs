//! The "Examples:" sections of `--help`, and the check that keeps them true.
//!
//! Every command and subcommand of the three binaries ends its help with a few real invocations.
//! [`check_examples`] (called by each crate's `cli` tests) parses every one of them with the
//! crate's own clap parser and checks it reaches the command whose help shows it, so an example
//! cannot drift from the flags it uses. Examples are written one per line, split on whitespace
//! (no quoting, so what the test parses is exactly what the user copies); `#` lines describe the
//! next example.

/// The example command lines of one help text: the lines after `Examples:` that are not blank
/// and not `#` comments.
pub fn examples(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("Examples:") else {
        return Vec::new();
    };
    rest.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Checks the examples of `root` (a `cargo` command with one subcommand, as the three binaries
/// have) and of every subcommand below it: each command has 2–4 examples, each example parses
/// and selects that command. Returns the number of examples checked. Panics with the offending
/// example otherwise (a test helper).
pub fn check_examples(root: clap::Command) -> usize {
    let mut root = root;
    root.build();
    let mut checked = 0;
    let mut stack: Vec<(Vec<String>, clap::Command)> = root
        .get_subcommands()
        .map(|c| (vec![c.get_name().to_string()], c.clone()))
        .collect();
    while let Some((path, cmd)) = stack.pop() {
        if cmd.get_name() == "help" {
            continue;
        }
        let text = [cmd.get_after_help(), cmd.get_after_long_help()]
            .into_iter()
            .flatten()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let lines = examples(&text);
        let shown = format!("cargo {}", path.join(" "));
        assert!(
            (2..=4).contains(&lines.len()),
            "`{shown} --help` should end with 2 to 4 examples, has {}",
            lines.len()
        );
        for line in &lines {
            assert!(
                !line.contains(['"', '\'', '\\']),
                "example `{line}` of `{shown}`: no quoting (it is split on whitespace)"
            );
            assert!(
                line == &shown || line.starts_with(&format!("{shown} ")),
                "example `{line}` is shown under `{shown}`"
            );
            let words: Vec<&str> = line.split_whitespace().collect();
            let matches = root
                .clone()
                .try_get_matches_from(&words)
                .unwrap_or_else(|e| panic!("example `{line}` does not parse:\n{e}"));
            let mut reached = Vec::new();
            let mut m = &matches;
            while let Some((name, sub)) = m.subcommand() {
                reached.push(name.to_string());
                m = sub;
            }
            assert_eq!(reached, path, "example `{line}` runs another command");
            checked += 1;
        }
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            stack.push((p, sub.clone()));
        }
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_example_lines() {
        let help = "Usage: x\n\nExamples:\n  # first\n  cargo x --a\n\n  cargo x b\n";
        assert_eq!(examples(help), ["cargo x --a", "cargo x b"]);
        assert!(examples("no section").is_empty());
    }

    #[test]
    fn a_drifted_example_fails() {
        let cmd = || {
            clap::Command::new("cargo").subcommand(
                clap::Command::new("x")
                    .arg(
                        clap::Arg::new("a")
                            .long("a")
                            .action(clap::ArgAction::SetTrue),
                    )
                    .after_help("Examples:\n  cargo x --a\n  cargo x"),
            )
        };
        assert_eq!(check_examples(cmd()), 2);
        let drifted = std::panic::catch_unwind(|| {
            check_examples(
                cmd().mut_subcommand("x", |c| c.after_help("Examples:\n  cargo x --b\n  cargo x")),
            )
        });
        assert!(drifted.is_err());
    }
}
