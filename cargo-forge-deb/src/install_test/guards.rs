//! Guards: mount points below a work directory, their unmounting, stale work directories of
//! killed runs, and the drop guards for a root copy ([`Scratch`]) and its `/proc` ([`ProcMount`])
//! that clean up on every path out.

use super::*;

/// Mount points at or below `dir`, deepest first (from `/proc/self/mountinfo`).
pub(super) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(super) fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything at or below `dir`; returns how many mounts remain.
pub(super) fn unmount_under(dir: &Path, shell: &Shell) -> usize {
    for m in mounts_under(dir) {
        let ok = Cmd::new("umount")
            .arg(&m)
            .output_unchecked(shell)
            .is_ok_and(|o| o.status.success());
        if !ok {
            let _ = Cmd::new("umount").arg("-l").arg(&m).output_unchecked(shell);
        }
    }
    mounts_under(dir).len()
}

/// Work directories older than this were left by a run that was killed (destructors do not run
/// on SIGKILL or an unhandled Ctrl-C); younger ones may belong to a run in progress.
pub(super) const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Removes work directories that killed runs left in `cache_dir` (unmounting what they left
/// mounted first).
pub(super) fn clean_stale(cache_dir: &Path, shell: &Shell) {
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with('.') && (name.ends_with(".tmp") || name.contains(".stale-"));
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if ours && old && e.file_type().is_ok_and(|t| t.is_dir()) {
            shell.note(format!(
                "removing `{}`, left by an interrupted run",
                e.path().display()
            ));
            drop(Scratch::adopt(e.path(), shell));
        }
    }
}

/// A work directory that is removed when dropped, but only once nothing is mounted below it.
pub(super) struct Scratch<'a> {
    pub(super) path: PathBuf,
    pub(super) shell: &'a Shell,
}

impl<'a> Scratch<'a> {
    pub(super) fn create_in(dir: &Path, prefix: &str, shell: &'a Shell) -> Result<Scratch<'a>> {
        forge_core::fsx::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(".tmp")
            .tempdir_in(dir)
            .with_context(|| format!("failed to create a work directory in `{}`", dir.display()))?;
        Ok(Scratch::adopt(tmp.keep(), shell))
    }

    pub(super) fn adopt(path: PathBuf, shell: &'a Shell) -> Scratch<'a> {
        Scratch { path, shell }
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if !self.path.exists() {
            return;
        }
        let remaining = unmount_under(&self.path, self.shell);
        if remaining > 0 {
            self.shell.warn(format!(
                "not deleting `{}`: {remaining} file system(s) are still mounted below it",
                self.path.display()
            ));
            return;
        }
        if let Err(e) = fs::remove_dir_all(&self.path) {
            self.shell
                .warn(format!("failed to delete `{}`: {e}", self.path.display()));
        }
    }
}

/// `/proc` mounted in a root for as long as the guard lives.
pub(super) struct ProcMount<'a> {
    pub(super) target: PathBuf,
    pub(super) shell: &'a Shell,
}

impl<'a> ProcMount<'a> {
    pub(super) fn mount(target: &Path, shell: &'a Shell) -> Result<ProcMount<'a>> {
        forge_core::fsx::create_dir_all(target)?;
        Cmd::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(target)
            .output(shell)
            .with_context(|| format!("failed to mount /proc at `{}`", target.display()))?;
        Ok(ProcMount {
            target: target.to_path_buf(),
            shell,
        })
    }
}

impl Drop for ProcMount<'_> {
    fn drop(&mut self) {
        let ok = Cmd::new("umount")
            .arg(&self.target)
            .output_unchecked(self.shell)
            .is_ok_and(|o| o.status.success());
        if !ok {
            let lazy = Cmd::new("umount")
                .arg("-l")
                .arg(&self.target)
                .output_unchecked(self.shell)
                .is_ok_and(|o| o.status.success());
            if !lazy {
                self.shell
                    .warn(format!("failed to unmount `{}`", self.target.display()));
            }
        }
    }
}
