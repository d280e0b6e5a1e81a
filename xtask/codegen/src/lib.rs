//! Man pages and shell completions of the three commands, rendered from their clap definitions
//! (`clap_mangen`, `clap_complete`), so they cannot drift from `--help`.
//!
//! This is a crate of its own, not a module of `xtask`, because it needs the three command crates
//! to get their `clap::Command`s: `xtask` itself stays std + anyhow + serde_json and builds in
//! seconds on a fresh machine (before `cargo xtask setup` has installed anything), and
//! `cargo xtask codegen` runs this crate's binary. The end-to-end tests call [`generate`] directly.
//!
//! Layout of the output directory (the names are the installed names, so packaging is a copy):
//!
//! ```text
//! man/cargo-forge-deb.1  man/cargo-forge-deb-repo.1  man/cargo-forge-image.1  ...
//! completions/bash/cargo-forge-deb       (→ /usr/share/bash-completion/completions/)
//! completions/zsh/_cargo-forge-deb       (→ /usr/share/zsh/vendor-completions/)
//! completions/fish/cargo-forge-deb.fish  (→ /usr/share/fish/vendor_completions.d/)
//! ```
//!
//! Man pages are named after cargo's convention for external subcommands (`cargo-forge-deb(1)`,
//! `cargo-forge-deb-repo(1)`) and show the `cargo forge-deb …` invocation in their synopsis.
//! Completions are for the `cargo-forge-deb` program name (which parses like `cargo forge-deb`);
//! `cargo forge-deb <TAB>` is completed by cargo's own completion script, which does not load
//! those of external subcommands.
//!
//! Output is reproducible: no date unless `SOURCE_DATE_EPOCH` is set (then its UTC day), files
//! written in a fixed order, each one atomically, and stale files of earlier runs removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

/// The name of the suite, as in the `.TH` source field of the man pages.
const SUITE: &str = "cargo-forge";

/// The three top-level commands, as the `cargo` parsers of their crates define them.
/// Each with its subcommand name and its program name.
fn cargo_commands() -> Vec<(&'static str, &'static str, clap::Command)> {
    vec![
        (
            "forge-deb",
            "cargo-forge-deb",
            cargo_forge_deb::cli::Cargo::command(),
        ),
        (
            "forge-image",
            "cargo-forge-image",
            cargo_forge_image::cli::Cargo::command(),
        ),
        (
            "forge-release",
            "cargo-forge-release",
            cargo_forge_release::cli::Cargo::command(),
        ),
    ]
}

/// The `forge-*` subcommand of a crate's `cargo` parser, built, so that every (sub)command has
/// its display name (`cargo-forge-deb-repo`) and invocation (`cargo forge-deb repo`).
fn built_subcommand(name: &str, cargo: clap::Command) -> Result<clap::Command> {
    let mut cargo = cargo.disable_help_subcommand(true);
    cargo.build();
    cargo
        .find_subcommand(name)
        .cloned()
        .with_context(|| format!("the `cargo` parser has no `{name}` subcommand"))
}

/// Renders every file: relative path in the output directory → contents. Deterministic for a
/// given source tree and `SOURCE_DATE_EPOCH`.
pub fn render() -> Result<BTreeMap<String, Vec<u8>>> {
    let date = man_date()?;
    let version = env!("CARGO_PKG_VERSION");
    let mut files = BTreeMap::new();
    for (name, program, cargo) in cargo_commands() {
        let cmd = built_subcommand(name, cargo.clone())?;
        man_pages(&cmd, &date, version, &mut files)?;

        // Completions: the subcommand as a program of its own (`cargo-forge-deb …`).
        let mut cmd = cargo
            .find_subcommand(name)
            .cloned()
            .with_context(|| format!("the `cargo` parser has no `{name}` subcommand"))?
            .name(program)
            .bin_name(program)
            .disable_help_subcommand(true);
        for (shell, path) in [
            (Shell::Bash, format!("completions/bash/{program}")),
            (Shell::Zsh, format!("completions/zsh/_{program}")),
            (Shell::Fish, format!("completions/fish/{program}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, program, &mut buf);
            files.insert(path, buf);
        }
    }
    Ok(files)
}

/// One page for `cmd` and, recursively, one for each visible subcommand.
fn man_pages(
    cmd: &clap::Command,
    date: &str,
    version: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, date, version, files)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .date(date)
        .source(format!("{SUITE} {version}"))
        .manual(format!("{SUITE} manual"));
    let mut buf = Vec::new();
    man.render(&mut buf)
        .with_context(|| format!("failed to render the man page of `{}`", cmd.get_name()))?;
    let page = String::from_utf8(buf).context("a rendered man page is not UTF-8")?;
    // `roff` writes an empty `.TH` argument as nothing at all, which shifts the source into the
    // date's place: write the title line with every argument quoted.
    let title = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let th = format!(".TH {title} 1 \"{date}\" \"{SUITE} {version}\" \"{SUITE} manual\"");
    let page: Vec<&str> = page
        .lines()
        .map(|l| {
            if l.starts_with(".TH ") {
                th.as_str()
            } else {
                l
            }
        })
        .collect();
    files.insert(
        format!("man/{}", man.get_filename()),
        format!("{}\n", page.join("\n")).into_bytes(),
    );
    Ok(())
}

/// The `.TH` date: the UTC day of `SOURCE_DATE_EPOCH`, or none (a date of "now" would make every
/// build differ).
fn man_date() -> Result<String> {
    let Some(epoch) = std::env::var_os("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) else {
        return Ok(String::new());
    };
    let text = epoch.to_string_lossy();
    let secs: i64 = text.trim().parse().with_context(|| {
        format!("invalid `SOURCE_DATE_EPOCH` `{text}`: expected seconds since 1970-01-01")
    })?;
    let at = time::OffsetDateTime::from_unix_timestamp(secs)
        .with_context(|| format!("`SOURCE_DATE_EPOCH` `{text}` is out of range"))?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Ok(at.format(&format)?)
}

/// Renders everything into `out` (`out/man`, `out/completions/{bash,zsh,fish}`): each file written
/// atomically, files of earlier runs that are no longer generated removed. Returns the written
/// paths, sorted.
pub fn generate(out: &Path) -> Result<Vec<PathBuf>> {
    let files = render()?;
    let mut written = Vec::new();
    for (rel, bytes) in &files {
        let path = out.join(rel);
        let dir = path.parent().context("generated path has no parent")?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create `{}`", dir.display()))?;
        // Unchanged files are left alone, so their mtime (and anything keyed on it) stays.
        if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            let tmp = dir.join(format!(
                ".{}.{}.tmp",
                path.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            std::fs::write(&tmp, bytes)
                .with_context(|| format!("failed to write `{}`", tmp.display()))?;
            std::fs::rename(&tmp, &path)
                .with_context(|| format!("failed to move `{}` into place", path.display()))?;
        }
        written.push(path);
    }
    for dir in [
        "man",
        "completions/bash",
        "completions/zsh",
        "completions/fish",
    ] {
        let dir = out.join(dir);
        for entry in std::fs::read_dir(&dir)
            .with_context(|| format!("failed to read `{}`", dir.display()))?
        {
            let path = entry
                .with_context(|| format!("failed to read `{}`", dir.display()))?
                .path();
            let is_tmp = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_file() && !is_tmp && !written.contains(&path) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("failed to remove stale `{}`", path.display()))?;
            }
        }
    }
    if written.is_empty() {
        bail!("nothing was generated");
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_subcommand_has_a_page_and_completions() {
        let files = render().unwrap();
        for page in [
            "man/cargo-forge-deb.1",
            "man/cargo-forge-deb-repo.1",
            "man/cargo-forge-image.1",
            "man/cargo-forge-image-merge.1",
            "man/cargo-forge-release.1",
            "man/cargo-forge-release-plan.1",
            "man/cargo-forge-release-build.1",
            "man/cargo-forge-release-publish.1",
            "man/cargo-forge-release-ci.1",
            "completions/bash/cargo-forge-deb",
            "completions/zsh/_cargo-forge-image",
            "completions/fish/cargo-forge-release.fish",
        ] {
            assert!(
                files.contains_key(page),
                "{page} missing: {:?}",
                files.keys()
            );
        }
        let repo = String::from_utf8(files["man/cargo-forge-deb-repo.1"].clone()).unwrap();
        assert!(
            repo.contains(".SH NAME\ncargo\\-forge\\-deb\\-repo \\- "),
            "{repo}"
        );
        assert!(repo.contains("\\fBcargo forge\\-deb repo\\fR"), "{repo}");
        let bash = String::from_utf8(files["completions/bash/cargo-forge-deb"].clone()).unwrap();
        assert!(bash.contains("complete -F _cargo__forge__deb"), "{bash}");
        assert!(bash.contains("--target"));
    }

    #[test]
    fn output_is_reproducible() {
        assert_eq!(render().unwrap(), render().unwrap());
        let page = String::from_utf8(render().unwrap()["man/cargo-forge-image.1"].clone()).unwrap();
        let th = page.lines().find(|l| l.starts_with(".TH")).unwrap();
        assert_eq!(
            th,
            r#".TH cargo-forge-image 1 "" "cargo-forge 0.1.0" "cargo-forge manual""#
        );
    }
}
