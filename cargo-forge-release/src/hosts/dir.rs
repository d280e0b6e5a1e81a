//! The `dir` host: a local directory, `<path>/<tag>/` (the default host:
//! `target/forge/release/<package>/<version>/publish`).
//!
//! `prepare` copies the files into `.<name>.partial/` next to where the release goes; `publish`
//! renames it to `<path>/<tag>/`, so a reader sees the whole release or none of it, and moves
//! `latest` (a symlink; `<package>-latest` when each package has tags of its own) last — never
//! for a pre-release, and never backwards: only when no release of the same line the directory
//! holds has a higher version. A tag with `/` (`release/v1.2.3`) is a nested directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use forge_core::Shell;

use super::{Host, HostState, Progress};
use crate::stage::Staged;

/// A directory host.
pub struct DirHost {
    pub path: PathBuf,
}

impl DirHost {
    fn final_dir(&self, release: &Staged) -> PathBuf {
        self.path.join(&release.tag)
    }

    /// `.<last part of the tag>.partial` in the directory the release goes into.
    fn partial(&self, release: &Staged) -> PathBuf {
        let final_dir = self.final_dir(release);
        let name = final_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        final_dir
            .parent()
            .unwrap_or(&self.path)
            .join(format!(".{name}.partial"))
    }

    /// The tags of the releases the directory holds (directories, nested for tags with `/`).
    fn held_tags(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !p.is_dir() || p.is_symlink() {
                    continue;
                }
                if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.to_string_lossy().into_owned());
                }
                if depth < 4 {
                    walk(base, &p, depth + 1, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path, &self.path, 0, &mut out);
        out
    }
}

impl Host for DirHost {
    fn id(&self) -> String {
        format!("dir:{}", self.path.display())
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        let mut v = vec![format!(
            "copy the release's files to {}",
            self.final_dir(release).display()
        )];
        if !release.prerelease {
            v.push(format!(
                "point {} at {} unless it holds a higher version",
                self.path.join(&release.latest).display(),
                release.tag
            ));
        }
        v
    }

    fn preflight(&self, release: &Staged, _state: &HostState, _shell: &Shell) -> Result<()> {
        let final_dir = self.final_dir(release);
        if final_dir.exists() {
            // Identical content is fine (a re-run); anything else is a conflict.
            for a in &release.assets {
                let p = final_dir.join(&a.name);
                if !p.is_file() || forge_core::digest::sha256_file(&p)? != a.sha256 {
                    bail!(
                        "`{}` already holds a different release {}: remove it or choose another version",
                        final_dir.display(),
                        release.tag
                    );
                }
            }
        }
        Ok(())
    }

    fn prepare(&self, release: &Staged, progress: &mut Progress<'_>, _shell: &Shell) -> Result<()> {
        let partial = self.partial(release);
        // "staged" is recorded only once every file is copied: the partial directory is whole.
        if progress.is_done("files")
            || self.final_dir(release).is_dir()
            || (progress.is_done("staged") && partial.is_dir())
        {
            return Ok(());
        }
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .with_context(|| format!("failed to remove `{}`", partial.display()))?;
        }
        forge_core::fsx::create_dir_all(&partial)?;
        for a in &release.assets {
            let to = partial.join(&a.name);
            std::fs::copy(&a.path, &to).with_context(|| {
                format!(
                    "failed to copy `{}` to `{}`",
                    a.path.display(),
                    to.display()
                )
            })?;
        }
        progress.done("staged")
    }

    fn publish(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        let final_dir = self.final_dir(release);
        if !progress.is_done("files") {
            if final_dir.is_dir() {
                shell.status(
                    "Unchanged",
                    format!("{} (already published)", final_dir.display()),
                );
            } else {
                if !self.partial(release).is_dir() {
                    self.prepare(release, progress, shell)?;
                }
                std::fs::rename(self.partial(release), &final_dir).with_context(|| {
                    format!("failed to move `{}` into place", final_dir.display())
                })?;
                shell.status(
                    "Published",
                    format!("{} ({} files)", final_dir.display(), release.assets.len()),
                );
            }
            progress.done("files")?;
        }
        if !release.prerelease && !progress.is_done("latest") {
            let latest = self.path.join(&release.latest);
            let held = self.held_tags();
            if release.is_latest_among(held.iter().map(String::as_str)) {
                let tmp = self.path.join(format!(".{}.tmp", release.latest));
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&release.tag, &tmp)
                    .with_context(|| format!("failed to create `{}`", tmp.display()))?;
                std::fs::rename(&tmp, &latest)
                    .with_context(|| format!("failed to move `{}`", latest.display()))?;
            } else {
                shell.note(format!(
                    "`{}` stays where it is: `{}` holds a release newer than {}",
                    latest.display(),
                    self.path.display(),
                    release.version
                ));
            }
            progress.state.done.insert("latest".into());
        }
        progress.state.published = true;
        progress.save()
    }

    fn release_url(&self, release: &Staged, state: &HostState) -> Option<String> {
        state
            .published
            .then(|| self.final_dir(release).display().to_string())
    }

    fn rollback(&self, release: &Staged, state: &mut HostState, _shell: &Shell) -> Result<()> {
        let partial = self.partial(release);
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .with_context(|| format!("failed to remove `{}`", partial.display()))?;
        }
        state.done.remove("staged");
        Ok(())
    }
}
