//! The one place that writes to the terminal.
//!
//! Modelled on cargo's `Shell`: status lines with a right-aligned, bold green verb
//! (`   Packaging foo v1.0.0`), `warning:` / `error:` / `note:` / `hint:` prefixes, verbosity decided
//! in one place, and colour decided once from `--color`, `NO_COLOR` and whether stderr is a terminal.
//! Everything meant for people goes to stderr; stdout only carries data (produced paths, JSON
//! documents of [`crate::json`], an error's document last in JSON mode), so that scripts can
//! consume it.
//!
//! Progress bars come from here too (`indicatif` behind a shared `MultiProgress`); status lines are
//! printed "above" active bars, and bars are hidden when stderr is not a terminal, when `-q`/`-v` is
//! given, or in JSON mode.
//!
//! Every line that leaves the shell passes through [`crate::secret::redact`], so a token that some
//! code path forgot about still does not reach a CI log.
//!
//! Under GitHub Actions, warnings and errors are also emitted as workflow-command annotations, and
//! [`Shell::gha`] gives commands the job summary and step outputs (see [`crate::gha`]).

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much the user wants to hear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: errors and warnings only.
    Quiet,
    /// Status lines.
    Normal,
    /// `-v`: also the commands that are run.
    Verbose,
    /// `-vv`: also the output of those commands and internal detail.
    VeryVerbose,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// `--message-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

/// The terminal. Cheap to share by reference across threads.
pub struct Shell {
    verbosity: Verbosity,
    color: bool,
    format: MessageFormat,
    progress: bool,
    multi: MultiProgress,
    stdout: Mutex<()>,
    gha: crate::gha::Gha,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("verbosity", &self.verbosity)
            .finish()
    }
}

impl Shell {
    /// A shell configured from the common flags.
    pub fn new(verbosity: Verbosity, color: ColorChoice, format: MessageFormat) -> Shell {
        let stderr_tty = std::io::stderr().is_terminal();
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stderr_tty
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        };
        let progress = stderr_tty
            && verbosity == Verbosity::Normal
            && format == MessageFormat::Human
            && std::env::var_os("CI").is_none();
        let multi = MultiProgress::new();
        if !progress {
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        Shell {
            verbosity,
            color,
            format,
            progress,
            multi,
            stdout: Mutex::new(()),
            gha: crate::gha::Gha::from_env(),
        }
    }

    /// A shell for tests and libraries: normal verbosity, no colour, human format.
    pub fn plain() -> Shell {
        Shell::new(Verbosity::Normal, ColorChoice::Never, MessageFormat::Human)
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    pub fn message_format(&self) -> MessageFormat {
        self.format
    }

    pub fn is_json(&self) -> bool {
        self.format == MessageFormat::Json
    }

    pub fn color_enabled(&self) -> bool {
        self.color
    }

    /// GitHub Actions: job summary and step outputs (no-ops outside Actions).
    pub fn gha(&self) -> &crate::gha::Gha {
        &self.gha
    }

    /// Repeats a warning or error as a GitHub Actions annotation (when running in Actions).
    fn annotate(&self, level: crate::gha::Level, message: &str) {
        if let Some(line) = self.gha.annotation(level, message) {
            self.emit_stderr(&line);
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            style.apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    fn emit_stderr(&self, line: &str) {
        let line = crate::secret::redact(line);
        self.multi.suspend(|| {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        });
    }

    /// `   Packaging foo v1.0.0` — the verb right-aligned to 12 columns, bold green.
    pub fn status(&self, verb: &str, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            self.status_styled(verb, message, Style::new().green().bold());
        }
    }

    /// A status line shown only with `-v`.
    pub fn verbose_status(&self, verb: &str, message: impl Display) {
        if self.verbosity >= Verbosity::Verbose {
            self.status_styled(verb, message, Style::new().cyan().bold());
        }
    }

    fn status_styled(&self, verb: &str, message: impl Display, style: Style) {
        let verb = format!("{verb:>12}");
        let line = format!("{} {message}", self.paint(style, &verb));
        self.emit_stderr(&line);
    }

    /// `warning: …` (shown even with `-q`).
    pub fn warn(&self, message: impl Display) {
        let message = message.to_string();
        let prefix = self.paint(Style::new().yellow().bold(), "warning");
        self.emit_stderr(&format!("{prefix}: {message}"));
        self.annotate(crate::gha::Level::Warning, &message);
    }

    /// `error: …`.
    pub fn error(&self, message: impl Display) {
        let message = message.to_string();
        self.error_line(&message);
        self.annotate(crate::gha::Level::Error, &message);
    }

    fn error_line(&self, message: &str) {
        let prefix = self.paint(Style::new().red().bold(), "error");
        self.emit_stderr(&format!("{prefix}: {message}"));
    }

    /// `note: …` (hidden with `-q`).
    pub fn note(&self, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let prefix = self.paint(Style::new().cyan().bold(), "note");
            self.emit_stderr(&format!("{prefix}: {message}"));
        }
    }

    /// `hint: …` after an error: what the user can do next.
    pub fn hint(&self, message: impl Display) {
        let prefix = self.paint(Style::new().cyan().bold(), "hint");
        self.emit_stderr(&format!("{prefix}: {message}"));
    }

    /// Free text on stderr at a given verbosity (e.g. a child's output with `-vv`).
    pub fn log(&self, at_least: Verbosity, text: impl Display) {
        if self.verbosity >= at_least {
            self.emit_stderr(&text.to_string());
        }
    }

    /// One line of data on stdout (a produced path, a digest). Never used for prose.
    pub fn data(&self, line: impl Display) {
        let line = crate::secret::redact(&line.to_string());
        let _guard = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        self.multi.suspend(|| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
    }

    /// One JSON document on stdout (`--message-format json`), compact, one line, with its
    /// `"schema"` name (see [`crate::json`]).
    pub fn json<D: crate::json::Document>(&self, doc: &D) -> anyhow::Result<()> {
        let text = serde_json::to_string(&crate::json::to_value(doc)?)?;
        self.data(text);
        Ok(())
    }

    /// A progress bar of `len` units (bytes when `bytes` is true), hidden when progress is off.
    pub fn progress_bar(&self, len: u64, message: impl Into<String>, bytes: bool) -> ProgressBar {
        let template = if bytes {
            "{prefix:>12.cyan.bold} [{bar:30}] {bytes}/{total_bytes} {msg}"
        } else {
            "{prefix:>12.cyan.bold} [{bar:30}] {pos}/{len} {msg}"
        };
        let bar = ProgressBar::new(len).with_style(
            ProgressStyle::with_template(template)
                .expect("static template")
                .progress_chars("=> "),
        );
        let bar = if self.progress {
            self.multi.add(bar)
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix("Progress");
        bar.set_message(message.into());
        bar
    }

    /// A spinner for work of unknown length.
    pub fn spinner(&self, verb: &str, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{prefix:>12.cyan.bold} {spinner} {msg} ({elapsed})")
                .expect("static template"),
        );
        let bar = if self.progress {
            self.multi.add(bar)
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(verb.to_string());
        bar.set_message(message.into());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// Prints an error and its chain of causes the way cargo does. Under GitHub Actions the whole
    /// report (causes and hints) is also one error annotation.
    pub fn report_error(&self, err: &anyhow::Error) {
        let mut report = vec![err.to_string()];
        self.error_line(&report[0]);
        let mut causes = err.chain().skip(1).peekable();
        if causes.peek().is_some() {
            report.push("\nCaused by:".into());
            self.emit_stderr("\nCaused by:");
            for cause in causes {
                for (i, line) in cause.to_string().lines().enumerate() {
                    let indent = if i == 0 { "  " } else { "    " };
                    let line = format!("{indent}{line}");
                    self.emit_stderr(&line);
                    report.push(line);
                }
            }
        }
        for hint in crate::exit::hints(err) {
            report.push(format!("hint: {hint}"));
            self.hint(hint);
        }
        self.annotate(crate::gha::Level::Error, &report.join("\n"));
        if self.is_json() {
            // The last document on stdout, redacted like every line (through `data`).
            let _ = self.json(&crate::json::ErrorDocument::of(err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_shell_has_no_colour_and_no_progress() {
        let shell = Shell::plain();
        assert!(!shell.color_enabled());
        assert_eq!(shell.paint(Style::new().green(), "x"), "x");
        // A hidden bar still accepts updates.
        let bar = shell.progress_bar(10, "x", false);
        bar.inc(3);
        assert_eq!(bar.position(), 3);
    }

    #[test]
    fn always_colour_paints() {
        console::set_colors_enabled_stderr(true);
        console::set_colors_enabled(true);
        let shell = Shell::new(Verbosity::Normal, ColorChoice::Always, MessageFormat::Human);
        assert!(shell.color_enabled());
        assert_ne!(
            shell.paint(Style::new().green().force_styling(true), "x"),
            "x"
        );
    }
}
