//! `cargo xtask docs`: regenerates the configuration reference of the book
//! (docs/src/reference/config.md, from the config types, through the `forge-docs` binary of the
//! tests crate, since xtask itself depends on none of the crates) and the JSON Schemas of the
//! `--message-format json` documents (docs/schemas/, from the output types), checks the links of the book
//! and the README, and builds the book with mdbook into `target/book`, failing on any mdbook
//! warning. `--check` changes nothing in docs/: a stale reference or schema is an error.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

use crate::cmd::{self, status};
use crate::setup;

/// The generated page, relative to the workspace root (as `forge_tests::docs` has it).
const REFERENCE: &str = "docs/src/reference/config.md";

/// The JSON Schemas of the documents (as `forge_tests::schemas` has it).
const SCHEMAS: &str = "docs/schemas";

/// Options of `cargo xtask docs`.
#[derive(Debug, Default)]
pub struct Options {
    /// Fail instead of rewriting a stale reference.
    pub check: bool,
    /// Do not install mdbook when it is missing.
    pub no_setup: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut opts = Options::default();
        for arg in args {
            match arg.as_str() {
                "--check" => opts.check = true,
                "--no-setup" => opts.no_setup = true,
                other => return Err(format!("unexpected argument `{other}`")),
            }
        }
        Ok(opts)
    }
}

/// `cargo xtask docs`.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let root = cmd::project_root();
    let tools = setup::Tools::locate();
    if !opts.no_setup {
        setup::ensure_mdbook(&tools)?;
    }

    // 1. The configuration reference.
    let out = cmd::output(forge_docs(&root).arg("reference"))?;
    let page = String::from_utf8(out.stdout).context("the reference is not UTF-8")?;
    let path = root.join(REFERENCE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == page {
        status("Fresh", REFERENCE);
    } else if opts.check {
        cmd::error(format!(
            "{REFERENCE} is stale: run `cargo xtask docs` and commit the result"
        ));
        return Ok(ExitCode::FAILURE);
    } else {
        std::fs::write(&path, page).with_context(|| format!("failed to write `{REFERENCE}`"))?;
        status("Generated", REFERENCE);
    }

    // 1b. The JSON Schemas of the documents of `--message-format json`.
    if !schemas(&root, opts.check)? {
        return Ok(ExitCode::FAILURE);
    }

    // 2. Links and anchors (mdbook does not check them).
    cmd::run(forge_docs(&root).arg("check-links"))?;
    status(
        "Checked",
        "links of the book, README.md and ARCHITECTURE.md",
    );

    // 3. The book, warnings being failures.
    let dest = cmd::target_dir().join("book");
    if !tools.mdbook.is_file() {
        bail!(
            "mdbook is not installed at `{}`: run `cargo xtask docs` without `--no-setup`, or \
             `cargo xtask setup --only cargo`",
            tools.mdbook.display()
        );
    }
    build_book(&tools.mdbook, &root.join("docs"), &dest)?;
    status(
        "Finished",
        format!("the book in {}", dest.join("index.html").display()),
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes docs/schemas/ (one file per document, stale files removed) from `forge-docs schemas`;
/// with `check`, only reports a difference. `false`: stale under `check`.
fn schemas(root: &Path, check: bool) -> Result<bool> {
    let out = cmd::output(forge_docs(root).arg("schemas"))?;
    let files: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&out.stdout).context("`forge-docs schemas` printed no JSON")?;
    let dir = root.join(SCHEMAS);
    let mut stale: Vec<String> = files
        .iter()
        .filter(|(name, text)| std::fs::read_to_string(dir.join(name)).ok().as_ref() != Some(*text))
        .map(|(name, _)| name.clone())
        .collect();
    let extra: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json") && !files.contains_key(n))
        .collect();
    stale.extend(extra.iter().cloned());
    if stale.is_empty() {
        status("Fresh", SCHEMAS);
        return Ok(true);
    }
    if check {
        cmd::error(format!(
            "{SCHEMAS} is stale ({}): run `cargo xtask docs` and commit the result",
            stale.join(", ")
        ));
        return Ok(false);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create `{SCHEMAS}`"))?;
    for (name, text) in &files {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("failed to write `{SCHEMAS}/{name}`"))?;
    }
    for name in &extra {
        std::fs::remove_file(dir.join(name))
            .with_context(|| format!("failed to remove `{SCHEMAS}/{name}`"))?;
    }
    status("Generated", format!("{SCHEMAS} ({} schemas)", files.len()));
    Ok(true)
}

/// `cargo run` of the tests crate's `forge-docs` binary.
fn forge_docs(root: &Path) -> Command {
    let mut c = cmd::cargo();
    c.args([
        "run",
        "--quiet",
        "-p",
        "forge-tests",
        "--bin",
        "forge-docs",
        "--",
    ])
    .current_dir(root);
    c
}

/// Runs `mdbook build`; fails on a non-zero exit or any `WARN`/`ERROR` line in its log.
fn build_book(mdbook: &Path, book: &Path, dest: &Path) -> Result<()> {
    let mut build = Command::new(mdbook);
    build
        .arg("build")
        .arg(book)
        .arg("--dest-dir")
        .arg(dest)
        .env("NO_COLOR", "1");
    status("Running", cmd::display(&build));
    let out = build
        .output()
        .with_context(|| format!("could not start `{}`", mdbook.display()))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "`mdbook build` failed ({}):\n{}",
            out.status,
            log.trim_end()
        );
    }
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    if !warnings.is_empty() {
        bail!(
            "`mdbook build` warned (warnings fail the docs build):\n{}",
            warnings.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = Options::parse(&["--check".to_string(), "--no-setup".to_string()]).unwrap();
        assert!(o.check && o.no_setup);
        assert!(Options::parse(&["--fix".to_string()]).is_err());
    }
}
