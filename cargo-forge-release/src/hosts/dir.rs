//! The `dir` host: a local directory, `<path>/<tag>/` (the default host:
//! `target/forge/release/<version>/publish`).
//!
//! `prepare` copies the files into `<path>/.<tag>.partial/`; `publish` renames it to
//! `<path>/<tag>/`, so a reader sees the whole release or none of it, and moves `latest` (a
//! symlink) last — never for a pre-release.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use forge_core::Shell;

use super::{Host, HostState, Save};
use crate::stage::Staged;

/// A directory host.
pub struct DirHost {
    pub path: PathBuf,
}

impl DirHost {
    fn partial(&self, release: &Staged) -> PathBuf {
        self.path.join(format!(".{}.partial", release.tag))
    }
}

impl Host for DirHost {
    fn id(&self) -> String {
        format!("dir:{}", self.path.display())
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        let mut v = vec![format!(
            "copy the release's files to {}",
            self.path.join(&release.tag).display()
        )];
        if !release.prerelease {
            v.push(format!(
                "point {} at {}",
                self.path.join("latest").display(),
                release.tag
            ));
        }
        v
    }

    fn preflight(&self, release: &Staged, _state: &HostState, _shell: &Shell) -> Result<()> {
        let final_dir = self.path.join(&release.tag);
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

    fn prepare(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        _shell: &Shell,
    ) -> Result<()> {
        let partial = self.partial(release);
        // "staged" is recorded only once every file is copied: the partial directory is whole.
        if state.is_done("files")
            || self.path.join(&release.tag).is_dir()
            || (state.is_done("staged") && partial.is_dir())
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
        state.done.insert("staged".into());
        save(state)
    }

    fn publish(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        let final_dir = self.path.join(&release.tag);
        if !state.is_done("files") {
            if final_dir.is_dir() {
                shell.status(
                    "Unchanged",
                    format!("{} (already published)", final_dir.display()),
                );
            } else {
                if !self.partial(release).is_dir() {
                    self.prepare(release, state, save, shell)?;
                }
                std::fs::rename(self.partial(release), &final_dir).with_context(|| {
                    format!("failed to move `{}` into place", final_dir.display())
                })?;
                shell.status(
                    "Published",
                    format!("{} ({} files)", final_dir.display(), release.assets.len()),
                );
            }
            state.done.insert("files".into());
            save(state)?;
        }
        if !release.prerelease && !state.is_done("latest") {
            let latest = self.path.join("latest");
            let tmp = self.path.join(".latest.tmp");
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&release.tag, &tmp)
                .with_context(|| format!("failed to create `{}`", tmp.display()))?;
            std::fs::rename(&tmp, &latest)
                .with_context(|| format!("failed to move `{}`", latest.display()))?;
            state.done.insert("latest".into());
        }
        state.published = true;
        save(state)
    }

    fn release_url(&self, release: &Staged, state: &HostState) -> Option<String> {
        state
            .published
            .then(|| self.path.join(&release.tag).display().to_string())
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
