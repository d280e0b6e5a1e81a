//! `--lint`: rpmlint on a produced package; errors fail the run (exit 4), warnings are shown.
//!
//! rpmlint 2.4 prints one `PATH: E: TAG ...` or `PATH: W: TAG ...` line per finding and a
//! summary line; its exit status also reflects the "badness" threshold, so the findings are
//! read from the text rather than from the status alone.

use std::path::Path;

use anyhow::Result;

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::shell::Verbosity;
use forge_core::Shell;

/// The errors and warnings of rpmlint's output.
pub fn findings(text: &str) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for line in text.lines() {
        if line.contains(": E: ") {
            errors.push(line.to_string());
        } else if line.contains(": W: ") {
            warnings.push(line.to_string());
        }
    }
    (errors, warnings)
}

/// Runs rpmlint on `rpm`. Fails (exit 4) when it reports errors.
pub fn lint(rpm: &Path, shell: &Shell) -> Result<()> {
    shell.status("Linting", rpm.display());
    let out = Cmd::new("rpmlint")
        .arg(rpm)
        .install_hint("install rpmlint: `apt-get install rpmlint`")
        .output_unchecked(shell)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (errors, warnings) = findings(&text);
    for w in &warnings {
        shell.warn(format!("rpmlint: {w}"));
    }
    for line in text
        .lines()
        .filter(|l| !l.contains(": W: ") && !l.contains(": E: "))
    {
        shell.log(Verbosity::Verbose, format!("rpmlint: {line}"));
    }
    if !errors.is_empty() {
        return Err(anyhow::anyhow!(
            "rpmlint reported {} error{} for `{}`:\n{}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            rpm.display(),
            errors.join("\n")
        ))
        .kind(ErrorKind::Check)
        .hint("`rpmlint -e TAG` explains a tag; without `--lint` the package is built unchecked");
    }
    if !out.status.success() && !text.contains("packages and") {
        return Err(anyhow::anyhow!(
            "rpmlint failed on `{}`: {}",
            rpm.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .kind(ErrorKind::Check);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_rpmlint_lines() {
        let text = "app.x86_64: E: no-changelogname-tag\napp.x86_64: W: no-documentation\n1 packages and 0 specfiles checked; 1 errors, 1 warnings, 0 badness; has taken 0.1 s\n";
        let (e, w) = super::findings(text);
        assert_eq!(e, ["app.x86_64: E: no-changelogname-tag"]);
        assert_eq!(w, ["app.x86_64: W: no-documentation"]);
    }
}
