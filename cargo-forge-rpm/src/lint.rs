//! `--lint`: rpmlint on a produced package; errors fail the run (exit 4), warnings are shown.
//!
//! rpmlint 2.4 prints one `PATH: E: TAG ...` or `PATH: W: TAG ...` line per finding and a
//! summary line; its exit status also reflects the "badness" threshold, so the findings are
//! read from the text rather than from the status alone.
//!
//! Three errors say nothing about the package and are shown as warnings ([`expected`],
//! documented in docs/src/rpm.md): `no-signature` (an unsigned package: signing is `--sign`'s
//! choice), `unknown-key` (signed with a key this machine's rpm database does not hold; `rpm -K`
//! verifies it where the key is imported), and `no-dependency-on locales-XX` for a package
//! whose name merely ends in a language code (`foo-cli`, `foo-sh`) and ships no translations.

use std::path::Path;

use anyhow::Result;

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::shell::Verbosity;
use forge_core::Shell;

/// Whether an rpmlint error is one of the expected ones (see the module documentation).
pub fn expected(line: &str, has_translations: bool) -> bool {
    line.ends_with(": E: no-signature")
        || line.contains(": E: unknown-key")
        || (!has_translations && line.contains(": E: no-dependency-on locales-"))
}

/// The errors and warnings of rpmlint's output (expected errors among the warnings).
pub fn findings(text: &str, has_translations: bool) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for line in text.lines() {
        if line.contains(": E: ") && expected(line, has_translations) {
            warnings.push(format!(
                "{line} (expected, see `cargo forge-rpm --lint` in the docs)"
            ));
        } else if line.contains(": E: ") {
            errors.push(line.to_string());
        } else if line.contains(": W: ") {
            warnings.push(line.to_string());
        }
    }
    (errors, warnings)
}

/// Runs rpmlint on `rpm`. Fails (exit 4) when it reports errors. `has_translations`: the
/// package ships files under `/usr/share/locale/`.
pub fn lint(rpm: &Path, has_translations: bool, shell: &Shell) -> Result<()> {
    shell.status("Linting", rpm.display());
    let out = Cmd::new("rpmlint")
        .arg(rpm)
        .install_hint("install rpmlint: `apt-get install rpmlint`")
        .output_unchecked(shell)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (errors, warnings) = findings(&text, has_translations);
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
        let text = "app.x86_64: E: no-changelogname-tag\napp.x86_64: W: no-documentation\napp-cli.x86_64: E: no-signature\napp-cli.x86_64: E: no-dependency-on locales-cli\n1 packages and 0 specfiles checked; 1 errors, 1 warnings, 0 badness; has taken 0.1 s\n";
        let (e, w) = super::findings(text, false);
        assert_eq!(e, ["app.x86_64: E: no-changelogname-tag"]);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("app.x86_64: W: no-documentation"));
        let (e, _) = super::findings(text, true);
        assert_eq!(
            e.len(),
            2,
            "a package with translations needs its locales package"
        );
    }
}
