//! Step 5 of an install test, the runner: each program (found in the package's file list) runs
//! with `--version`, or the configured `install-test.command`, inside the root under `timeout`.

use super::*;

/// The installed path of program `name`: an entry of the file list named so, preferring the
/// usual program directories.
pub(super) fn find_binary(files: &[String], name: &str) -> Option<String> {
    if name.starts_with('/') {
        return files.iter().find(|f| *f == name).cloned();
    }
    let candidates: Vec<&String> = files
        .iter()
        .filter(|f| Path::new(f).file_name().is_some_and(|n| n == name))
        .collect();
    for dir in [
        "/usr/bin/",
        "/bin/",
        "/usr/sbin/",
        "/sbin/",
        "/usr/games/",
        "/usr/local/bin/",
    ] {
        if let Some(c) = candidates
            .iter()
            .find(|c| c.strip_prefix(dir).is_some_and(|rest| !rest.contains('/')))
        {
            return Some((*c).clone());
        }
    }
    candidates.first().map(|c| (*c).clone())
}

/// Runs `<binary> --version` for each program, or the configured command, in the root.
pub(super) fn run_programs(
    t: &InstallTest,
    root: &Path,
    package: &str,
    files: &[String],
    how: &str,
    shell: &Shell,
) -> Result<()> {
    let commands: Vec<Vec<String>> = match &t.command {
        Some(c) if c.is_empty() => Vec::new(),
        Some(c) => {
            let mut c = c.clone();
            if !c[0].contains('/') {
                if let Some(p) = find_binary(files, &c[0]) {
                    c[0] = p;
                }
            }
            vec![c]
        }
        None => t
            .binaries
            .iter()
            .map(|name| {
                find_binary(files, name)
                    .map(|p| vec![p, "--version".to_string()])
                    .with_context(|| {
                        format!(
                            "`{package}` installs no program `{name}` (its files: {})",
                            files.join(", ")
                        )
                    })
                    .kind(ErrorKind::Check)
            })
            .collect::<Result<_>>()?,
    };
    let configured = t.command.is_some();
    let fix = "set what to run with `install-test = { command = [...], timeout = SECONDS }` in [package.metadata.forge.deb] (`command = []` runs nothing)";
    for argv in &commands {
        let shown = argv.join(" ");
        let out = chroot(root)
            .args(["timeout", &t.timeout.to_string()])
            .args(argv)
            .output_unchecked(shell)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let what = if out.status.code() == Some(124) {
                format!(
                    "`{shown}` did not finish within {} s in the {how}",
                    t.timeout
                )
            } else {
                format!("`{shown}` failed with {} in the {how}", out.status)
            };
            let err = Err(check_failure(what, &out)).kind(ErrorKind::Check);
            return if configured { err } else { err.hint(fix) };
        }
        let printed = if stdout.trim().is_empty() {
            stderr.trim()
        } else {
            stdout.trim()
        };
        if printed.is_empty() && !configured {
            return Err(anyhow::anyhow!("`{shown}` printed nothing in the {how}"))
                .kind(ErrorKind::Check)
                .hint(fix);
        }
        shell.status(
            "Running",
            format!("`{shown}`: {}", printed.lines().next().unwrap_or_default()),
        );
    }

    Ok(())
}
