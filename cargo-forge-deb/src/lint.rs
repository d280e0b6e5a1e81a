//! `--lint`: lintian on a produced package; errors fail the run.
//!
//! Tags lintian reports for every Rust binary package and that are not defects of the package are
//! listed in [`EXPECTED_WARNINGS`] (documented in docs/src/deb.md); any `E:` tag fails.

use std::path::Path;

use anyhow::Result;

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::shell::Verbosity;
use forge_core::Shell;

/// Warnings and infos that are expected (and shown only with `-v`).
pub const EXPECTED_WARNINGS: &[&str] = &[
    "initial-upload-closes-no-bugs",
    "no-manual-page",
    "hardening-no-fortify-functions",
    "package-supports-alternative-init-but-no-init.d-script",
];

/// Runs lintian on `deb`. Fails (exit 4) when it reports errors.
pub fn lint(deb: &Path, shell: &Shell) -> Result<()> {
    shell.status("Linting", deb.display());
    let out = Cmd::new("lintian")
        .args(["--tag-display-limit", "0", "--fail-on", "none"])
        .arg(deb)
        .install_hint("install lintian: `apt-get install lintian`")
        .output_unchecked(shell)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut errors = Vec::new();
    for line in text.lines() {
        if line.starts_with("E: ") {
            errors.push(line.to_string());
        } else if line.starts_with("W: ") {
            let expected = EXPECTED_WARNINGS
                .iter()
                .any(|t| line.contains(&format!(": {t}")));
            if expected {
                shell.log(Verbosity::Verbose, format!("lintian: {line}"));
            } else {
                shell.warn(format!("lintian: {line}"));
            }
        } else if !line.trim().is_empty() {
            shell.log(Verbosity::Verbose, format!("lintian: {line}"));
        }
    }
    if !out.status.success() && errors.is_empty() {
        return Err(anyhow::anyhow!(
            "lintian failed on `{}`: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .kind(ErrorKind::Check);
    }
    if !errors.is_empty() {
        return Err(anyhow::anyhow!(
            "lintian reported {} error{} for `{}`:\n{}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            deb.display(),
            errors.join("\n")
        ))
        .kind(ErrorKind::Check)
        .hint("`lintian-explain-tags TAG` explains a tag; without `--lint` the package is built unchecked");
    }
    Ok(())
}
