//! Process helpers and cargo-style status output shared by the xtask subcommands.
//!
//! Every subprocess failure message names the command that failed, quoted the way a shell would
//! take it, so a red CI log says exactly what to re-run by hand.

use std::ffi::{OsStr, OsString};
use std::fmt::Display;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits directly in the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir()
                    .unwrap_or_else(|_| project_root())
                    .join(dir)
            }
        }
        _ => project_root().join("target"),
    }
}

/// cargo-forge's cache of the user, shared by checkouts: `$XDG_CACHE_HOME/cargo-forge`, else
/// `~/.cache/cargo-forge` (`None` without a home).
pub fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|cache| cache.join("cargo-forge"))
}

/// Where xtask keeps what it installs and produces: `<target>/xtask`.
pub fn xtask_dir() -> PathBuf {
    target_dir().join("xtask")
}

/// A `cargo` command using the same cargo that runs xtask (`$CARGO`), started in the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Removes what `cargo run` put into xtask's own environment, so that it does not leak into the
/// commands xtask starts: the `CARGO_PKG_*`/`CARGO_MANIFEST_*` variables describing the xtask
/// package, and the `LD_LIBRARY_PATH` entries pointing at `target/` and at the toolchain that
/// built xtask (they would confuse another rustc, such as Debian's `/usr/bin/rustc`).
///
/// Must be called first thing in `main`, while the process is single-threaded.
pub fn sanitize_env() {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            std::env::remove_var(key);
        }
    }

    let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") else {
        return;
    };
    let target = target_dir();
    // $CARGO is <toolchain>/bin/cargo; cargo adds <toolchain>/lib and <toolchain>/lib/rustlib/...
    let toolchain = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|cargo| cargo.parent()?.parent().map(Path::to_path_buf));
    let kept: Vec<PathBuf> = std::env::split_paths(&paths)
        .filter(|p| {
            let added_by_cargo = p.starts_with(&target)
                || toolchain.as_ref().is_some_and(|tc| {
                    let lib = tc.join("lib");
                    p == &lib || p.starts_with(lib.join("rustlib"))
                });
            !added_by_cargo && !p.as_os_str().is_empty()
        })
        .collect();
    if kept.is_empty() {
        std::env::remove_var("LD_LIBRARY_PATH");
    } else if let Ok(joined) = std::env::join_paths(kept) {
        std::env::set_var("LD_LIBRARY_PATH", joined);
    }
}

/// The command line of `cmd` as one could paste it into a shell.
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%~^".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with inherited stdio; fails, naming the command, unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("command `{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` capturing stdout and stderr; fails, naming the command and quoting its stderr,
/// unless it exits 0.
pub fn output(cmd: &mut Command) -> Result<Output> {
    let shown = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.trim_end();
        if stderr.is_empty() {
            bail!("command `{shown}` failed ({})", out.status);
        }
        bail!("command `{shown}` failed ({}):\n{stderr}", out.status);
    }
    Ok(out)
}

/// Runs a check: captured output, or `None` when the program cannot be started at all.
pub fn probe(cmd: &mut Command) -> Option<Output> {
    cmd.stdin(Stdio::null()).output().ok()
}

/// Finds an executable by name in `PATH` (plus the sbin directories, which a non-root `PATH` may lack).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `PATH` with `dirs` in front (those already present are not repeated).
pub fn path_with(dirs: &[PathBuf]) -> OsString {
    let current: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    let front = dirs.iter().filter(|d| !current.contains(d)).cloned();
    std::env::join_paths(front.chain(current.iter().cloned()))
        .unwrap_or_else(|_| std::env::var_os("PATH").unwrap_or_default())
}

fn color() -> bool {
    match std::env::var("CARGO_TERM_COLOR").as_deref() {
        Ok("always") => true,
        Ok("never") => false,
        _ => std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
    }
}

fn paint(code: &str, text: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// A cargo-style status line on stderr: `   Installing debian packages: a b c`.
pub fn status(verb: &str, message: impl Display) {
    eprintln!("{} {message}", paint("1;32", &format!("{verb:>12}")));
}

/// `warning: ...` on stderr.
pub fn warn(message: impl Display) {
    eprintln!("{} {message}", paint("1;33", "warning:"));
}

/// `note: ...` on stderr.
pub fn note(message: impl Display) {
    eprintln!("{} {message}", paint("1;36", "note:"));
}

/// `error: ...` on stderr.
pub fn error(message: impl Display) {
    eprintln!("{} {message}", paint("1;31", "error:"));
}
