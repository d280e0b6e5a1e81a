//! The `apt` host: the release's `.deb`s added to an APT repository directory (forge-deb's
//! `repo`), which writes pool files and indexes first and `Release`/`InRelease` last, so apt
//! clients never see an index naming files that are not there.

use std::path::PathBuf;

use anyhow::Result;

use forge_core::Shell;

use super::{Host, HostState, Save};
use crate::stage::{AssetKind, Staged};

/// An APT repository directory.
pub struct AptHost {
    pub dir: PathBuf,
    pub suite: String,
    pub component: String,
    pub sign_key: Option<String>,
}

impl Host for AptHost {
    fn id(&self) -> String {
        format!("apt:{}", self.dir.display())
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        let n = release.assets_of(AssetKind::Deb).count();
        vec![format!(
            "add {n} packages to the APT repository {} ({} {})",
            self.dir.display(),
            self.suite,
            self.component
        )]
    }

    fn preflight(&self, release: &Staged, _state: &HostState, shell: &Shell) -> Result<()> {
        if release.assets_of(AssetKind::Deb).next().is_none() {
            return Err(forge_core::exit::usage(
                "an `apt` host needs packages: add \"deb\" to `artifacts`",
            ));
        }
        if let Some(k) = &self.sign_key {
            crate::artifacts::check_gpg_key(k, shell)?;
        }
        Ok(())
    }

    fn publish(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        if !state.is_done("repo") {
            let opts = cargo_forge_deb::repo::RepoOptions {
                dir: self.dir.clone(),
                suite: self.suite.clone(),
                component: self.component.clone(),
                origin: Some(release.package.clone()),
                label: Some(release.package.clone()),
                sign_key: self.sign_key.clone(),
                gpg_homedir: None,
            };
            let debs: Vec<PathBuf> = release
                .assets_of(AssetKind::Deb)
                .map(|a| a.path.clone())
                .collect();
            cargo_forge_deb::repo::update(&opts, &debs, shell)?;
            state.done.insert("repo".into());
        }
        state.published = true;
        save(state)
    }

    fn rollback(&self, _release: &Staged, _state: &mut HostState, _shell: &Shell) -> Result<()> {
        // `repo` publishes atomically (Release last); old pool files stay, as apt mirrors expect.
        Ok(())
    }
}
