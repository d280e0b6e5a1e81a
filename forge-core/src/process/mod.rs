//! The one way to run a subprocess.
//!
//! [`Cmd`] describes a command (program, arguments, environment, working directory) as plain data,
//! so that plans can show and serialise it; running it goes through `duct`. Rules kept here:
//! - a child's stdout never reaches our stdout (which carries data only): it is captured, or sent
//!   to stderr;
//! - a child's output never reaches the terminal directly either: what is shown is read from a
//!   pipe and relayed line by line through the [`Shell`], which redacts every line (so a token a
//!   build script prints is masked at every verbosity, `-vv` included). Lines are cut at
//!   [`MAX_LINE`] bytes, so a child printing binary junk cannot make us buffer without bound;
//! - with `-v` the command line is printed before it runs, with `-vv` its environment changes too;
//! - a failure names the command and carries the tail of its stderr;
//! - a missing program is reported as such, with the install hint the caller supplied;
//! - credentials never reach a child: every variable [`is_credential`] names (release-host
//!   tokens, cloud keys, registry passwords, signing passphrases, the CI runner's own tokens) is
//!   removed from its environment, because children are cargo, build scripts, rustc wrappers,
//!   dpkg-shlibdeps, strip, qemu-run binaries — code we did not write. The few children that
//!   need a credential of the user's (git pushing the release tag through a credential helper)
//!   opt out with [`Cmd::keep_credentials`]. Deny by default, so a new subprocess is safe
//!   without anyone remembering to make it so.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::{with_hint, with_kind, ErrorKind};
use crate::shell::{Shell, Verbosity};

/// A command to run.
#[derive(Clone, Debug, Default, serde::Serialize, schemars::JsonSchema)]
pub struct Cmd {
    pub program: PathBuf,
    #[serde(serialize_with = "serialize_args")]
    #[schemars(with = "Vec<String>")]
    pub args: Vec<OsString>,
    /// Environment changes: `Some(value)` sets, `None` removes.
    #[serde(serialize_with = "serialize_env")]
    #[schemars(with = "std::collections::BTreeMap<String, Option<String>>")]
    pub env: Vec<(OsString, Option<OsString>)>,
    pub cwd: Option<PathBuf>,
    /// Shown after "is not installed" when the program cannot be found.
    #[serde(skip)]
    pub install_hint: Option<String>,
    /// Whether the child keeps the credential variables of our environment ([`is_credential`]);
    /// `false` (removed) unless [`Cmd::keep_credentials`].
    #[serde(skip)]
    pub keep_credentials: bool,
}

/// Credential variables removed from every child's environment, by exact name.
pub const CREDENTIAL_VARS: &[&str] = &[
    // Release hosts (cargo forge-release's `github` and `gitea` hosts, the gh CLI, GHES).
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "GITEA_TOKEN",
    "FORGEJO_TOKEN",
    // Signing: the minisign key's password, and the names CI setups give gpg keys and
    // passphrases (the generated workflow's key-import step among them).
    "MINISIGN_PASSWORD",
    "MINISIGN_KEY",
    "GPG_PASSPHRASE",
    "GPG_PRIVATE_KEY",
    "GPG_SIGNING_KEY",
    "FORGE_GPG_PASSPHRASE",
    "FORGE_GPG_PRIVATE_KEY",
    // GitHub Actions' OIDC endpoint (with its token below it mints cloud credentials).
    "ACTIONS_ID_TOKEN_REQUEST_URL",
];

/// Credential variables removed by prefix (with the exceptions of [`is_credential`]).
pub const CREDENTIAL_PREFIXES: &[&str] = &[
    // S3 and every other AWS credential or profile (`AWS_ACCESS_KEY_ID`,
    // `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`, …).
    "AWS_",
    // cargo forge-image's registry login (`FORGE_REGISTRY_USERNAME`/`_PASSWORD`).
    "FORGE_REGISTRY_",
];

/// Whether an environment variable holds a credential that no child may see: a name of
/// [`CREDENTIAL_VARS`], a prefix of [`CREDENTIAL_PREFIXES`], or a GitHub Actions runner token
/// (`ACTIONS_*_TOKEN`, e.g. `ACTIONS_RUNTIME_TOKEN`, `ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
///
/// Not credentials, so kept: `AWS_LC_SYS_*` and `AWS_LC_FIPS_SYS_*`, which configure how the
/// `aws-lc-sys` build script (rustls' default crypto) builds; cargo's own registry tokens
/// (`CARGO_REGISTRIES_*_TOKEN`), which cargo needs to fetch private dependencies and which
/// cargo itself keeps from build scripts.
pub fn is_credential(name: &str) -> bool {
    if name.starts_with("AWS_LC_SYS_") || name.starts_with("AWS_LC_FIPS_SYS_") {
        return false;
    }
    CREDENTIAL_VARS.contains(&name)
        || CREDENTIAL_PREFIXES.iter().any(|p| name.starts_with(p))
        || (name.starts_with("ACTIONS_") && name.ends_with("_TOKEN"))
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

    /// Lets the child see the credential variables of our environment (by default they are
    /// removed, see [`is_credential`]). Only for programs that act for the user with the user's
    /// own credentials — git pushing a tag — never for anything that builds or runs code.
    pub fn keep_credentials(mut self) -> Cmd {
        self.keep_credentials = true;
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

    /// The credential variables of our environment the child must not see (none with
    /// [`Cmd::keep_credentials`]). A variable the command sets itself is its own (the inner
    /// setting wins), so it is not removed.
    fn credentials_to_remove(&self) -> Vec<std::ffi::OsString> {
        if self.keep_credentials {
            return Vec::new();
        }
        std::env::vars_os()
            .map(|(k, _)| k)
            .filter(|k| k.to_str().is_some_and(is_credential))
            .filter(|k| !self.env.iter().any(|(name, _)| name == k))
            .collect()
    }

    fn expression(&self) -> duct::Expression {
        // An `OsStr` program is looked up on PATH; duct would treat a relative `Path` as `./name`.
        let mut expr = duct::cmd(self.program.as_os_str(), &self.args);
        for k in self.credentials_to_remove() {
            expr = expr.env_remove(k);
        }
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

    /// A `std::process::Command` for this command (the one place that translates it).
    fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.args);
        for k in self.credentials_to_remove() {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            c.current_dir(dir);
        }
        c
    }

    /// Runs the command; its stdout and stderr (one pipe, so their order is kept) are relayed to
    /// our stderr through the shell, redacted, line by line (kept back with `-q`, then only the
    /// tail is shown if it fails). Fails on a non-zero exit.
    pub fn run(&self, shell: &Shell) -> Result<()> {
        self.announce(shell);
        let quiet = shell.verbosity() == Verbosity::Quiet;
        let (reader, writer) =
            std::io::pipe().with_context(|| format!("failed to run `{}`", self.display()))?;
        let writer2 = writer
            .try_clone()
            .with_context(|| format!("failed to run `{}`", self.display()))?;
        let mut command = self.command();
        command.stdout(writer).stderr(writer2);
        let mut child = command.spawn().map_err(|e| self.spawn_error(e))?;
        // Our copies of the pipe's write end must go, or the reader never sees the end.
        drop(command);
        let mut tail = Tail::default();
        let relayed = relay_lines(reader, |line| {
            if !quiet {
                shell.log(Verbosity::Quiet, line);
            }
            tail.push(line);
            true
        });
        let status = child
            .wait()
            .with_context(|| format!("failed to wait for `{}`", self.display()))?;
        relayed.with_context(|| format!("failed to read the output of `{}`", self.display()))?;
        if !status.success() {
            let tail = if quiet { tail.text() } else { String::new() };
            return Err(anyhow::anyhow!(
                "`{}` failed with {}{}",
                self.display(),
                status,
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

    /// Runs the command, calling `on_line` for each line of its stdout as it comes; its stderr is
    /// relayed to ours through the shell, redacted, line by line (kept back with `-q`; its tail
    /// is then part of the error if the command fails). Fails on a non-zero exit, or with the
    /// first error of `on_line` (once the child has finished).
    pub fn stream_stdout(
        &self,
        shell: &Shell,
        mut on_line: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        self.announce(shell);
        let quiet = shell.verbosity() == Verbosity::Quiet;
        let mut command = self.command();
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().map_err(|e| self.spawn_error(e))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (failed, read, tail) = std::thread::scope(|scope| {
            let relay = scope.spawn(|| {
                let mut tail = Tail::default();
                let _ = relay_lines(stderr, |line| {
                    if !quiet {
                        shell.log(Verbosity::Quiet, line);
                    }
                    tail.push(line);
                    true
                });
                tail
            });
            let mut failed = None;
            // After a failure the rest is drained, not handled: killing the child would leave its
            // own children (rustc under cargo) holding the pipes, and us waiting for them anyway.
            let read = relay_lines(stdout, |line| {
                if failed.is_none() {
                    failed = on_line(line).err();
                }
                true
            });
            let tail = relay.join().unwrap_or_default();
            (failed, read, tail)
        });
        let status = child
            .wait()
            .with_context(|| format!("failed to wait for `{}`", self.display()))?;
        if let Some(e) = failed {
            return Err(e);
        }
        read.with_context(|| format!("failed to read the output of `{}`", self.display()))?;
        if status.success() {
            return Ok(());
        }
        let tail = if quiet { tail.text() } else { String::new() };
        Err(anyhow::anyhow!(
            "`{}` failed with {status}{}",
            self.display(),
            if tail.is_empty() {
                String::new()
            } else {
                format!("\n{tail}")
            }
        ))
    }
}

/// The longest line relayed as one; longer ones are cut into pieces of this size.
pub const MAX_LINE: usize = 64 << 10;

/// Calls `on_line` for every line read from `reader` (lossy UTF-8, without `\n` or `\r\n`), lines
/// cut at [`MAX_LINE`] bytes, until the end or until `on_line` returns false.
fn relay_lines(reader: impl Read, mut on_line: impl FnMut(&str) -> bool) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut line = Vec::new();
    loop {
        let n = (&mut reader)
            .take((MAX_LINE - line.len()) as u64)
            .read_until(b'\n', &mut line)?;
        let complete = line.last() == Some(&b'\n');
        if n == 0 || complete || line.len() >= MAX_LINE {
            if line.is_empty() {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&line);
            if !on_line(text.trim_end_matches('\n').trim_end_matches('\r')) {
                return Ok(());
            }
            line.clear();
        }
    }
}

/// The last lines of a child's output, for the error message when it fails.
#[derive(Default)]
struct Tail(VecDeque<String>);

impl Tail {
    const LINES: usize = 20;

    fn push(&mut self, line: &str) {
        if self.0.len() == Tail::LINES {
            self.0.pop_front();
        }
        self.0.push_back(line.to_string());
    }

    fn text(&self) -> String {
        let lines: Vec<&str> = self.0.iter().map(String::as_str).collect();
        tail(&lines.join("\n"), Tail::LINES)
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
            Some(s) => Err(anyhow::anyhow!(
                "`{}` failed with {s}\n{tail}",
                self.display()
            )),
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
mod tests;
