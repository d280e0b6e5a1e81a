//! The one way to run a subprocess.
//!
//! [`Cmd`] describes a command (program, arguments, environment, working directory) as plain data,
//! so that plans can show and serialise it; running it goes through `duct`. Rules kept here:
//! - a child's stdout never reaches our stdout (which carries data only): it is captured, or sent
//!   to stderr;
//! - with `-v` the command line is printed before it runs, with `-vv` its environment changes too;
//! - a failure names the command and carries the tail of its stderr;
//! - a missing program is reported as such, with the install hint the caller supplied.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::{with_hint, with_kind, ErrorKind};
use crate::shell::{Shell, Verbosity};

/// A command to run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Cmd {
    pub program: PathBuf,
    #[serde(serialize_with = "serialize_args")]
    pub args: Vec<OsString>,
    /// Environment changes: `Some(value)` sets, `None` removes.
    #[serde(serialize_with = "serialize_env")]
    pub env: Vec<(OsString, Option<OsString>)>,
    pub cwd: Option<PathBuf>,
    /// Shown after "is not installed" when the program cannot be found.
    #[serde(skip)]
    pub install_hint: Option<String>,
}

fn serialize_args<S: serde::Serializer>(
    args: &[OsString],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(
        args.iter()
            .map(|a| crate::secret::redact(&a.to_string_lossy())),
    )
}

fn serialize_env<S: serde::Serializer>(
    env: &[(OsString, Option<OsString>)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(env.len()))?;
    for (k, v) in env {
        let value = v
            .as_ref()
            .map(|v| crate::secret::redact(&v.to_string_lossy()));
        map.serialize_entry(&k.to_string_lossy(), &value)?;
    }
    map.end()
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            program: PathBuf::from(program.as_ref()),
            ..Cmd::default()
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env.push((
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Cmd {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn install_hint(mut self, hint: impl Into<String>) -> Cmd {
        self.install_hint = Some(hint.into());
        self
    }

    /// The command line, shell-quoted, for messages.
    pub fn display(&self) -> String {
        let mut parts = vec![quote(self.program.as_os_str())];
        parts.extend(self.args.iter().map(|a| quote(a)));
        crate::secret::redact(&parts.join(" "))
    }

    fn program_name(&self) -> String {
        self.program
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    fn expression(&self) -> duct::Expression {
        // An `OsStr` program is looked up on PATH; duct would treat a relative `Path` as `./name`.
        let mut expr = duct::cmd(self.program.as_os_str(), &self.args);
        for (k, v) in &self.env {
            expr = match v {
                Some(v) => expr.env(k, v),
                None => expr.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            expr = expr.dir(dir);
        }
        expr
    }

    fn announce(&self, shell: &Shell) {
        if shell.verbosity() >= Verbosity::VeryVerbose && !self.env.is_empty() {
            let env: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{}={}", k.to_string_lossy(), quote(v)),
                    None => format!("-u {}", k.to_string_lossy()),
                })
                .collect();
            shell.verbose_status("Running", format!("`{} {}`", env.join(" "), self.display()));
        } else {
            shell.verbose_status("Running", format!("`{}`", self.display()));
        }
    }

    fn spawn_error(&self, err: std::io::Error) -> anyhow::Error {
        if err.kind() == std::io::ErrorKind::NotFound {
            let e = anyhow::anyhow!(
                "`{}` is not installed (needed to run `{}`)",
                self.program_name(),
                self.display()
            );
            let e = with_kind(e, ErrorKind::MissingTool);
            match &self.install_hint {
                Some(h) => with_hint(e, h.clone()),
                None => e,
            }
        } else {
            anyhow::Error::new(err).context(format!("failed to run `{}`", self.display()))
        }
    }

    /// Runs the command; its stdout and stderr go to our stderr. Fails on a non-zero exit.
    pub fn run(&self, shell: &Shell) -> Result<()> {
        self.announce(shell);
        let quiet = shell.verbosity() == Verbosity::Quiet;
        let mut expr = self.expression().stdout_to_stderr().unchecked();
        if quiet {
            expr = expr.stderr_capture().stdout_capture();
        }
        let out = expr.run().map_err(|e| self.spawn_error(e))?;
        if !out.status.success() {
            let tail = tail(&String::from_utf8_lossy(&out.stderr), 20);
            return Err(anyhow::anyhow!(
                "`{}` failed with {}{}",
                self.display(),
                out.status,
                if tail.is_empty() {
                    String::new()
                } else {
                    format!("\n{tail}")
                }
            ));
        }
        Ok(())
    }

    /// Runs the command and captures its output. Fails on a non-zero exit, with stderr's tail.
    pub fn output(&self, shell: &Shell) -> Result<std::process::Output> {
        let out = self.output_unchecked(shell)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let detail = if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            };
            let tail = tail(&detail, 20);
            return Err(anyhow::anyhow!(
                "`{}` failed with {}{}",
                self.display(),
                out.status,
                if tail.is_empty() {
                    String::new()
                } else {
                    format!("\n{tail}")
                }
            ));
        }
        Ok(out)
    }

    /// Runs the command and captures its output, whatever its exit status.
    pub fn output_unchecked(&self, shell: &Shell) -> Result<std::process::Output> {
        self.announce(shell);
        let out = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| self.spawn_error(e))?;
        if shell.verbosity() >= Verbosity::VeryVerbose {
            let text = String::from_utf8_lossy(&out.stderr);
            if !text.trim().is_empty() {
                shell.log(Verbosity::VeryVerbose, text.trim_end());
            }
        }
        Ok(out)
    }

    /// Runs the command and returns its stdout as text, trimmed.
    pub fn read(&self, shell: &Shell) -> Result<String> {
        let out = self.output(shell)?;
        String::from_utf8(out.stdout)
            .with_context(|| format!("`{}` printed invalid UTF-8", self.display()))
            .map(|s| s.trim_end().to_string())
    }

    /// Runs the command, calling `on_line` for each line of its stdout as it comes; stderr goes to
    /// our stderr. Fails on a non-zero exit.
    pub fn stream_stdout(
        &self,
        shell: &Shell,
        mut on_line: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        self.announce(shell);
        let mut expr = self.expression().unchecked();
        if shell.verbosity() == Verbosity::Quiet {
            expr = expr.stderr_null();
        }
        let reader = expr.reader().map_err(|e| self.spawn_error(e))?;
        let mut lines = BufReader::new(&reader);
        let mut line = String::new();
        loop {
            line.clear();
            let n = lines
                .read_line(&mut line)
                .with_context(|| format!("failed to read the output of `{}`", self.display()))?;
            if n == 0 {
                break;
            }
            on_line(line.trim_end_matches(['\n', '\r']))?;
        }
        let status = reader
            .try_wait()
            .with_context(|| format!("failed to wait for `{}`", self.display()))?
            .map(|o| o.status);
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(anyhow::anyhow!("`{}` failed with {s}", self.display())),
            None => Err(anyhow::anyhow!("`{}` did not finish", self.display())),
        }
    }
}

impl Cmd {
    /// Runs the command, calling `on_line` for each line of its stdout and stderr (merged) as it
    /// comes, e.g. to show a long tool's progress. Fails on a non-zero exit with the output's tail.
    pub fn stream_output(
        &self,
        shell: &Shell,
        mut on_line: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        self.announce(shell);
        let reader = self
            .expression()
            .stderr_to_stdout()
            .unchecked()
            .reader()
            .map_err(|e| self.spawn_error(e))?;
        let mut lines = BufReader::new(&reader);
        let mut last: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = lines
                .read_line(&mut line)
                .with_context(|| format!("failed to read the output of `{}`", self.display()))?;
            if n == 0 {
                break;
            }
            let text = line.trim_end_matches(['\n', '\r']);
            shell.log(Verbosity::VeryVerbose, text);
            if last.len() == 25 {
                last.pop_front();
            }
            last.push_back(text.to_string());
            on_line(text)?;
        }
        let status = reader
            .try_wait()
            .with_context(|| format!("failed to wait for `{}`", self.display()))?
            .map(|o| o.status);
        let tail = crate::secret::redact(&Vec::from(last).join("\n"));
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(anyhow::anyhow!("`{}` failed with {s}\n{tail}", self.display())),
            None => Err(anyhow::anyhow!("`{}` did not finish", self.display())),
        }
    }

    /// Starts the command in the background, its stdout and stderr appended to `log`, for a
    /// process that runs alongside this one (a virtual machine). The caller stops it.
    pub fn spawn(&self, shell: &Shell, log: &Path) -> Result<Running> {
        self.announce(shell);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("failed to open `{}`", log.display()))?;
        let handle = self
            .expression()
            .stdin_null()
            .stdout_file(file)
            .stderr_to_stdout()
            .unchecked()
            .start()
            .map_err(|e| self.spawn_error(e))?;
        Ok(Running {
            handle,
            display: self.display(),
        })
    }
}

/// A process started with [`Cmd::spawn`]. Dropping it kills the process if it still runs.
pub struct Running {
    handle: duct::Handle,
    display: String,
}

impl Running {
    /// The exit status, if the process has exited.
    pub fn try_wait(&self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self
            .handle
            .try_wait()
            .with_context(|| format!("failed to wait for `{}`", self.display))?
            .map(|o| o.status))
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&self) -> Result<()> {
        self.handle
            .kill()
            .with_context(|| format!("failed to stop `{}`", self.display))?;
        let _ = self.handle.wait();
        Ok(())
    }

    /// The command line, for messages.
    pub fn display(&self) -> &str {
        &self.display
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.handle.try_wait(), Ok(None)) {
            let _ = self.handle.kill();
            let _ = self.handle.wait();
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    let start = all.len().saturating_sub(lines);
    crate::secret::redact(&all[start..].join("\n"))
}

/// Shell-quotes one word for display.
pub fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether a program can be found on PATH (or is an existing path).
pub fn exists(program: &str) -> bool {
    which::which(program).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes() {
        let c = Cmd::new("echo").arg("a b").arg("c");
        assert_eq!(c.display(), "echo 'a b' c");
    }

    #[test]
    fn read_and_failure() {
        let shell = Shell::plain();
        assert_eq!(
            Cmd::new("sh").args(["-c", "echo hi"]).read(&shell).unwrap(),
            "hi"
        );
        let err = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .read(&shell)
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("failed with exit status: 3"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn missing_program_is_a_missing_tool() {
        let shell = Shell::plain();
        let err = Cmd::new("definitely-not-a-program-xyz")
            .install_hint("apt-get install xyz")
            .run(&shell)
            .unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 6);
        assert!(err.to_string().contains("is not installed"));
        assert_eq!(crate::exit::hints(&err), vec!["apt-get install xyz"]);
    }

    #[test]
    fn streams_merged_output_and_fails_with_its_tail() {
        let shell = Shell::plain();
        let mut seen = vec![];
        let err = Cmd::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 2"])
            .stream_output(&shell, |l| {
                seen.push(l.to_string());
                Ok(())
            })
            .unwrap_err();
        seen.sort();
        assert_eq!(seen, ["err", "out"]);
        assert!(format!("{err:#}").contains("err"), "{err:#}");
    }

    #[test]
    fn spawned_process_is_stopped() {
        let shell = Shell::plain();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let p = Cmd::new("sh")
            .args(["-c", "echo started; exec sleep 30"])
            .spawn(&shell, &log)
            .unwrap();
        assert!(p.try_wait().unwrap().is_none());
        p.kill().unwrap();
        assert!(p.try_wait().unwrap().is_some());
        assert!(std::fs::read_to_string(&log).unwrap().contains("started"));
    }

    #[test]
    fn streams_lines() {
        let shell = Shell::plain();
        let mut seen = vec![];
        Cmd::new("sh")
            .args(["-c", "echo one; echo two"])
            .stream_stdout(&shell, |l| {
                seen.push(l.to_string());
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, ["one", "two"]);
    }
}
