//! File-system helpers that always say which path failed, and atomic output.
//!
//! Outputs a user may pick up (a `.deb`, an archive, `Packages`) are written to a temporary file in
//! the same directory and renamed into place when complete ([`AtomicFile`]), so an interrupted or
//! failed run never leaves a half-written artifact under its final name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

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

/// Writes a whole file atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    f.commit()
}

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed.
pub struct AtomicFile {
    tmp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile> {
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
            .tempfile_in(dir)
            .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, sets the mode (the replaced file's, or 0644 for a new file) and renames into
    /// place, so rewriting a user's file (Cargo.toml by `init` or `--bump`) keeps its permissions.
    pub fn commit(mut self) -> Result<()> {
        let tmp = self.tmp.take().expect("committed once");
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("failed to write `{}`", self.path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&self.path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
            .with_context(|| format!("failed to set permissions of `{}`", self.path.display()))?;
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

    #[test]
    fn rewriting_keeps_the_mode_and_new_files_get_0644() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("new.txt");
        write_atomic(&fresh, b"a").unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        let manifest = dir.path().join("Cargo.toml");
        fs::write(&manifest, b"[package]").unwrap();
        fs::set_permissions(&manifest, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&manifest, b"[package]\nname = \"x\"").unwrap();
        assert_eq!(
            fs::metadata(&manifest).unwrap().permissions().mode() & 0o7777,
            0o600
        );
    }
}
