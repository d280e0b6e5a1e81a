//! File-system helpers that always say which path failed, atomic output, file modes and locks.
//!
//! Outputs a user may pick up (a `.deb`, an archive, `Packages`) are written to a temporary file in
//! the same directory and renamed into place when complete ([`AtomicFile`]), so an interrupted or
//! failed run never leaves a half-written artifact under its final name.
//!
//! **Modes** follow the umask, as every Unix tool's do: a new file is created `0666 & !umask`
//! ([`Mode::Normal`]), an executable `0777 & !umask` ([`Mode::Executable`]) — the kernel applies
//! the umask at creation, so it is never read or changed. Files holding state, plans or key
//! material are `0600` whatever the umask ([`Mode::Private`], [`write_private`]). Rewriting an
//! existing file keeps its mode (Cargo.toml rewritten by `init` or `--bump`).
//!
//! **Locks** ([`DirLock`]) are `flock`s on a directory itself (no lock file is left in what may be
//! a published directory), held for as long as the value lives and released by the kernel when
//! the process dies, so a crash never leaves a stale lock. A second run waits, with a status
//! line naming the holder (from `/proc/locks`), or fails at once when told not to wait.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::shell::Shell;

pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))
}

pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("failed to read `{}`", path.display()))
}

pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path)
        .with_context(|| format!("failed to create directory `{}`", path.display()))
}

pub fn metadata(path: &Path) -> Result<fs::Metadata> {
    fs::metadata(path).with_context(|| format!("failed to read metadata of `{}`", path.display()))
}

/// Writes a whole file atomically (mode `0666 & !umask` when new).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with_mode(path, bytes, Mode::Normal)
}

/// Writes a whole file atomically with mode `0600`: release state, plans, anything secret.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with_mode(path, bytes, Mode::Private)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: Mode) -> Result<()> {
    let mut f = AtomicFile::create_with_mode(path, mode)?;
    f.write_all(bytes)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    f.commit()
}

/// The permissions of a file we create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `0666 & !umask`; a replaced file keeps its mode.
    Normal,
    /// `0777 & !umask`; a replaced file keeps its mode.
    Executable,
    /// `0600`, always (state, plans, key material).
    Private,
}

impl Mode {
    fn create_bits(self) -> u32 {
        match self {
            Mode::Normal => 0o666,
            Mode::Executable => 0o777,
            Mode::Private => 0o600,
        }
    }
}

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed.
pub struct AtomicFile {
    tmp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
    mode: Mode,
}

impl AtomicFile {
    /// A new file of mode `0666 & !umask` (or the mode of the file it replaces).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        AtomicFile::create_with_mode(path, Mode::Normal)
    }

    pub fn create_with_mode(path: &Path, mode: Mode) -> Result<AtomicFile> {
        use std::os::unix::fs::PermissionsExt;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            // The kernel applies the umask to these bits at creation.
            .permissions(fs::Permissions::from_mode(mode.create_bits()))
            .tempfile_in(dir)
            .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            path: path.to_path_buf(),
            mode,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file being written (its temporary name), e.g. to seek back and patch a header.
    pub fn file_mut(&mut self) -> &mut fs::File {
        self.tmp.as_mut().expect("not committed").as_file_mut()
    }

    /// Flushes and renames into place. A file that replaces another takes the replaced file's
    /// mode, so rewriting a user's file (Cargo.toml by `init` or `--bump`) keeps its permissions;
    /// a new file keeps the mode it was created with; a private file is always `0600`.
    pub fn commit(mut self) -> Result<()> {
        let tmp = self.tmp.take().expect("committed once");
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("failed to write `{}`", self.path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        let keep = match self.mode {
            Mode::Private => None,
            Mode::Normal | Mode::Executable => fs::metadata(&self.path)
                .ok()
                .map(|m| m.permissions().mode() & 0o7777),
        };
        if let Some(mode) = keep {
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).with_context(
                || format!("failed to set permissions of `{}`", self.path.display()),
            )?;
        }
        tmp.persist(&self.path)
            .map_err(|e| e.error)
            .with_context(|| {
                format!(
                    "failed to move the finished file to `{}`",
                    self.path.display()
                )
            })?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.as_mut().expect("not committed").flush()
    }
}

impl std::io::Seek for AtomicFile {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.tmp.as_mut().expect("not committed").seek(pos)
    }
}

/// An exclusive lock on a directory (`flock` on the directory itself), released on drop or when
/// the process ends, however it ends.
#[derive(Debug)]
pub struct DirLock {
    _file: fs::File,
    path: PathBuf,
}

impl DirLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks `dir` (created when missing) exclusively. `what` names what the directory is for the
/// messages ("the APT repository", "the release state"). Held by another process: with
/// `wait`, prints `Waiting for … held by pid N (command)` and blocks until it is free; without,
/// fails naming the holder.
pub fn lock_dir(dir: &Path, what: &str, wait: bool, shell: &Shell) -> Result<DirLock> {
    create_dir_all(dir)?;
    let file = fs::File::open(dir)
        .with_context(|| format!("failed to open directory `{}` to lock it", dir.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = lock_holder(&file)
                .map(|h| format!(", held by {h}"))
                .unwrap_or_default();
            if !wait {
                return Err(crate::exit::with_hint(
                    anyhow::anyhow!(
                        "{what} `{}` is locked by another run{holder}",
                        dir.display()
                    ),
                    "wait for that run to finish, or run again without `--no-wait` to wait for it"
                        .into(),
                ));
            }
            shell.status(
                "Waiting",
                format!("for the lock on {what} `{}`{holder}", dir.display()),
            );
            file.lock()
                .with_context(|| format!("failed to lock `{}`", dir.display()))?;
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("failed to lock `{}`", dir.display()))
        }
    }
    Ok(DirLock {
        _file: file,
        path: dir.to_path_buf(),
    })
}

/// Runs `update` on `dir` under its lock ([`lock_dir`]), without creating `dir` for input that is
/// refused. `update(locked)` validates first and, when `locked` is false, stops after validation
/// with `Ok(None)` having written nothing. An existing directory is locked at once; a missing one
/// is created and locked only after that validation passed, and `update` then runs again under
/// the lock (another run may have created the directory meanwhile). The repository commands
/// (APT and DNF/YUM) share this order.
pub fn update_locked_dir<T>(
    dir: &Path,
    what: &str,
    wait: bool,
    shell: &Shell,
    mut update: impl FnMut(bool) -> Result<Option<T>>,
) -> Result<T> {
    let held = if dir.is_dir() {
        Some(lock_dir(dir, what, wait, shell)?)
    } else {
        None
    };
    if let Some(done) = update(held.is_some())? {
        return Ok(done);
    }
    let _held = lock_dir(dir, what, wait, shell)?;
    update(true)?.with_context(|| {
        format!(
            "internal error: {what} `{}` was locked and still not updated",
            dir.display()
        )
    })
}

/// `pid N (command line)` of the process holding an flock on `file`, from `/proc/locks` (whose
/// lines read `1: FLOCK  ADVISORY  WRITE 4711 fd:01:1234567 0 EOF`; waiters are marked `->`).
fn lock_holder(file: &fs::File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let inode = file.metadata().ok()?.ino();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    let pid = locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let dev_ino = fields.get(5)?;
        let ino: u64 = dev_ino.rsplit(':').next()?.parse().ok()?;
        (ino == inode).then(|| fields.get(4).map(|p| p.to_string()))?
    })?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.is_empty() {
        return Some(format!("pid {pid}"));
    }
    let mut command = words.join(" ");
    if command.chars().count() > 120 {
        command = command.chars().take(117).collect::<String>() + "...";
    }
    Some(format!("pid {pid} (`{command}`)"))
}

/// `path` relative to `base` for messages, or `path` itself.
pub fn display_relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.deb");
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.write_all(b"partial").unwrap();
            // dropped without commit
        }
        assert!(!target.exists());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temporary file left behind"
        );
        write_atomic(&target, b"whole").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
    }

    /// The process umask, from `/proc/self/status` (reading it with umask(2) would change it).
    fn umask() -> u32 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    #[test]
    fn rewriting_keeps_the_mode_and_new_files_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("new.txt");
        write_atomic(&fresh, b"a").unwrap();
        assert_eq!(mode(&fresh), 0o666 & !umask());
        let exe = dir.path().join("tool");
        let mut f = AtomicFile::create_with_mode(&exe, Mode::Executable).unwrap();
        f.write_all(b"#!/bin/sh\n").unwrap();
        f.commit().unwrap();
        assert_eq!(mode(&exe), 0o777 & !umask());
        // Private files are 0600 even when they replace a more open file.
        let state = dir.path().join("state.json");
        fs::write(&state, b"{}").unwrap();
        fs::set_permissions(&state, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&state, b"{\"a\":1}").unwrap();
        assert_eq!(mode(&state), 0o600);
        let manifest = dir.path().join("Cargo.toml");
        fs::write(&manifest, b"[package]").unwrap();
        fs::set_permissions(&manifest, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&manifest, b"[package]\nname = \"x\"").unwrap();
        assert_eq!(
            fs::metadata(&manifest).unwrap().permissions().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn a_locked_directory_names_its_holder_or_waits() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let shell = Shell::plain();
        let held = lock_dir(&repo, "the repository", false, &shell).unwrap();
        // A second lock in this process is a second open file: flock treats it as another holder.
        let err = lock_dir(&repo, "the repository", false, &shell).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("is locked by another run"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "the holder is named: {msg}"
        );
        let waiter = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let _again = lock_dir(&repo, "the repository", true, &Shell::plain()).unwrap();
            started.elapsed()
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(held);
        let waited = waiter.join().unwrap();
        assert!(
            waited >= std::time::Duration::from_millis(250),
            "{waited:?}"
        );
    }
}
