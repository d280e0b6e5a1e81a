//! GitHub Actions integration: annotations, the job summary and step outputs.
//!
//! Active only when `GITHUB_ACTIONS=true` (the runner sets it); otherwise every method here does
//! nothing, so commands call them unconditionally. Three channels, each as GitHub documents it:
//!
//! * **Annotations.** Every `warning:` and `error:` the [`crate::Shell`] prints is repeated as a
//!   workflow command on stderr (the runner reads commands from stdout and stderr; stdout stays
//!   data only): `::error title=cargo forge-deb::message`. Data is escaped as the Actions toolkit
//!   does (`%` → `%25`, CR → `%0D`, LF → `%0A`), properties also `:` → `%3A` and `,` → `%2C`, so
//!   a multi-line error (its causes, its hints) stays one annotation.
//! * **Summary.** [`Gha::summary`] appends Markdown to the file named by `$GITHUB_STEP_SUMMARY`
//!   (a table per command: packages, images, releases); [`Table`] escapes cells.
//! * **Outputs.** [`Gha::output`] appends `name=value` to the file named by `$GITHUB_OUTPUT`, or
//!   `name<<DELIMITER` … `DELIMITER` when the value has line breaks, with a random delimiter that
//!   is checked not to occur in the value (GitHub's advice against output injection).
//!
//! Files are only ever appended to (other steps' outputs live in the same file) with one write
//! per record. Everything written goes through [`crate::secret::redact`] first, like every line
//! the shell prints, so a registered secret never reaches a summary or an output.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The severity of an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// The GitHub Actions environment of this process, read once.
#[derive(Clone, Debug, Default)]
pub struct Gha {
    enabled: bool,
    /// The `title=` of annotations: the command, e.g. `cargo forge-deb`.
    title: String,
    summary: Option<PathBuf>,
    output: Option<PathBuf>,
}

impl Gha {
    /// From `GITHUB_ACTIONS`, `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT`; the title from the
    /// program name (`cargo-forge-deb` → `cargo forge-deb`).
    pub fn from_env() -> Gha {
        let enabled = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        if !enabled {
            return Gha::default();
        }
        let file = |key: &str| {
            std::env::var_os(key)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let program = std::env::args_os()
            .next()
            .map(PathBuf::from)
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "cargo-forge".into());
        let title = match program.strip_prefix("cargo-") {
            Some(sub) if sub.starts_with("forge-") => format!("cargo {sub}"),
            _ => program,
        };
        Gha {
            enabled: true,
            title,
            summary: file("GITHUB_STEP_SUMMARY"),
            output: file("GITHUB_OUTPUT"),
        }
    }

    /// An explicit environment (tests).
    pub fn new(title: &str, summary: Option<PathBuf>, output: Option<PathBuf>) -> Gha {
        Gha {
            enabled: true,
            title: title.to_string(),
            summary,
            output,
        }
    }

    /// Whether this process runs in GitHub Actions.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The workflow command for an annotation, or `None` outside GitHub Actions. The message is
    /// redacted, then escaped.
    pub fn annotation(&self, level: Level, message: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let command = match level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let message = crate::secret::redact(message);
        Some(format!(
            "::{command} title={}::{}",
            escape_property(&self.title),
            escape_data(&message)
        ))
    }

    /// Appends one output (`$GITHUB_OUTPUT`). Values with line breaks use the heredoc form.
    pub fn output(&self, name: &str, value: &str) -> Result<()> {
        let Some(path) = self.output.as_deref().filter(|_| self.enabled) else {
            return Ok(());
        };
        let value = crate::secret::redact(value);
        let record = if value.contains(['\n', '\r']) {
            output_record(name, &value, &unique_delimiter(&value))
        } else {
            format!("{name}={value}\n")
        };
        append(path, "GITHUB_OUTPUT", &record)
    }

    /// Appends Markdown to the job summary (`$GITHUB_STEP_SUMMARY`), followed by a blank line.
    pub fn summary(&self, markdown: &str) -> Result<()> {
        let Some(path) = self.summary.as_deref().filter(|_| self.enabled) else {
            return Ok(());
        };
        let mut text = crate::secret::redact(markdown);
        while !text.ends_with("\n\n") {
            text.push('\n');
        }
        append(path, "GITHUB_STEP_SUMMARY", &text)
    }
}

/// Appends `text` in one write, creating the file if the runner has not.
fn append(path: &Path, key: &str, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| {
            format!(
                "failed to open `{}` (`${key}`) for appending",
                path.display()
            )
        })?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("failed to append to `{}` (`${key}`)", path.display()))
}

/// `name<<DELIMITER\nvalue\nDELIMITER\n`.
fn output_record(name: &str, value: &str, delimiter: &str) -> String {
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// A random heredoc delimiter that does not occur in `value`.
fn unique_delimiter(value: &str) -> String {
    loop {
        let d = format!("ghadelimiter_{:016x}", fastrand::u64(..));
        if !value.contains(&d) {
            return d;
        }
    }
}

/// Escapes the message of a workflow command (the Actions toolkit's `escapeData`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a workflow command (`title=`; the toolkit's `escapeProperty`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table for the job summary.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; cells are escaped when rendered.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Table {
        self.rows.push(cells);
        self
    }

    /// GitHub-flavoured Markdown: `|` escaped, line breaks as `<br>`, empty cells as `—`.
    pub fn render(&self) -> String {
        fn cell(s: &str) -> String {
            if s.is_empty() {
                return "—".into();
            }
            s.replace('\\', "\\\\")
                .replace('|', "\\|")
                .replace("\r\n", "<br>")
                .replace(['\n', '\r'], "<br>")
        }
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.headers);
        out.push_str(&format!(
            "|{}\n",
            self.headers.iter().map(|_| " --- |").collect::<String>()
        ));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// One package a packaging command made, as its job summary lists it.
pub struct PackageRow<'a> {
    pub package: &'a str,
    pub architecture: &'a str,
    pub version: &'a str,
    pub path: &'a Path,
    pub size: u64,
    pub sha256: &'a str,
}

impl Gha {
    /// The packaging commands' report (no-op outside GitHub Actions): a table of `rows` under
    /// `### {command}` in the job summary, and the output `output` holding `paths`, one per line.
    pub fn packages(
        &self,
        command: &str,
        rows: &[PackageRow<'_>],
        output: &str,
        paths: &[&Path],
    ) -> Result<()> {
        if !self.is_enabled() {
            return Ok(());
        }
        let mut table = Table::new(&[
            "Package",
            "Architecture",
            "Version",
            "Path",
            "Size (bytes)",
            "SHA-256",
        ]);
        for r in rows {
            table.row(vec![
                r.package.to_string(),
                r.architecture.to_string(),
                r.version.to_string(),
                code(&r.path.display().to_string()),
                r.size.to_string(),
                code(r.sha256),
            ]);
        }
        self.summary(&format!("### {command}\n\n{}", table.render()))?;
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        self.output(output, &paths.join("\n"))
    }
}

/// Markdown inline code for a summary cell (a digest, a path): backticks in the text are
/// replaced by `'` (a cell cannot hold a literal backtick run safely).
pub fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_actions_toolkit() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(escape_data("a::b, c"), "a::b, c");
        assert_eq!(escape_property("a: b, c%\n"), "a%3A b%2C c%25%0A");
        // `%` first, so that escapes are not escaped twice.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn annotations_carry_title_and_escaped_redacted_message() {
        crate::secret::register("sentinel-secret-gha");
        let gha = Gha::new("cargo forge-deb", None, None);
        assert_eq!(
            gha.annotation(Level::Error, "no: token sentinel-secret-gha\nhint: 50%")
                .unwrap(),
            "::error title=cargo forge-deb::no: token ***%0Ahint: 50%25"
        );
        assert_eq!(
            Gha::new("a, b: c", None, None)
                .annotation(Level::Warning, "w")
                .unwrap(),
            "::warning title=a%2C b%3A c::w"
        );
        assert!(Gha::default().annotation(Level::Error, "x").is_none());
    }

    #[test]
    fn outputs_and_summary_are_appended() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output");
        let sum = dir.path().join("summary");
        std::fs::write(&out, "earlier=1\n").unwrap();
        let gha = Gha::new("t", Some(sum.clone()), Some(out.clone()));
        gha.output("digest", "sha256:ab").unwrap();
        gha.output("debs", "a.deb\nb.deb").unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..2], ["earlier=1", "digest=sha256:ab"]);
        let delim = lines[2].strip_prefix("debs<<").unwrap();
        assert!(delim.starts_with("ghadelimiter_"));
        assert_eq!(lines[3..], ["a.deb", "b.deb", delim]);

        let mut t = Table::new(&["Package", "Note"]);
        t.row(vec!["a|b".into(), String::new()]);
        gha.summary(&format!("### x\n\n{}", t.render())).unwrap();
        gha.summary("more").unwrap();
        assert_eq!(
            std::fs::read_to_string(&sum).unwrap(),
            "### x\n\n| Package | Note |\n| --- | --- |\n| a\\|b | — |\n\nmore\n\n"
        );
    }

    #[test]
    fn disabled_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output");
        let gha = Gha {
            enabled: false,
            output: Some(out.clone()),
            ..Gha::default()
        };
        gha.output("x", "y").unwrap();
        assert!(!out.exists());
    }

    #[test]
    fn a_delimiter_never_occurs_in_the_value() {
        let d = unique_delimiter("x");
        assert_eq!(output_record("n", "v", &d), format!("n<<{d}\nv\n{d}\n"));
        assert!(!"x".contains(&d));
    }
}
