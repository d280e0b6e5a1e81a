//! The `oci` host: the release's image, staged as an OCI layout, pushed to a registry.
//!
//! `prepare` pushes every blob and manifest by digest — nothing a tag reader can see; `publish`
//! then writes the tags (version, `major.minor`, `major`, `latest` for a stable release; only
//! the version for a pre-release), so a tag never points at something missing.

use anyhow::{Context, Result};

use forge_core::http::HttpClient;
use forge_core::Shell;

use super::{Host, HostState, Save};
use crate::stage::Staged;

/// A registry repository host.
pub struct OciHost {
    pub repository: String,
    pub http: HttpClient,
}

impl OciHost {
    fn tags(&self, release: &Staged) -> Result<Vec<String>> {
        let v = semver::Version::parse(&release.version)?;
        let templates: Vec<String> = cargo_forge_image::tags::DEFAULT_TAGS
            .iter()
            .map(|s| s.to_string())
            .collect();
        cargo_forge_image::tags::render(
            &templates,
            &cargo_forge_image::tags::TagContext {
                version: v,
                sha: release.commit.clone(),
            },
        )
    }

    fn layout(&self, release: &Staged) -> Result<cargo_forge_image::push::LayoutImage> {
        let image = release
            .image
            .as_ref()
            .context("the release has no image: add \"image\" to `artifacts`")?;
        cargo_forge_image::push::read_layout(&image.layout, &image.layout_tag)
    }
}

impl Host for OciHost {
    fn id(&self) -> String {
        format!("oci:{}", self.repository)
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        let tags = self.tags(release).unwrap_or_default();
        vec![format!(
            "push the image to {} and tag it {}",
            self.repository,
            tags.join(", ")
        )]
    }

    fn preflight(&self, release: &Staged, _state: &HostState, _shell: &Shell) -> Result<()> {
        cargo_forge_image::registry::Reference::parse(&self.repository)?;
        self.tags(release)?;
        if release.image.is_some() {
            self.layout(release)?;
        }
        Ok(())
    }

    fn prepare(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        if state.is_done("untagged") {
            return Ok(());
        }
        let image = self.layout(release)?;
        cargo_forge_image::push::push_layout_untagged(&self.http, &image, &self.repository, shell)?;
        state
            .data
            .insert("digest".into(), image.top.1.digest.clone());
        state.done.insert("untagged".into());
        save(state)
    }

    fn publish(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        self.prepare(release, state, save, shell)?;
        let image = self.layout(release)?;
        let tags: Vec<String> = self
            .tags(release)?
            .into_iter()
            .filter(|t| !state.is_done(&format!("tag:{t}")))
            .collect();
        for t in &tags {
            cargo_forge_image::push::tag_pushed(
                &self.http,
                &image,
                &self.repository,
                std::slice::from_ref(t),
                shell,
            )?;
            state.done.insert(format!("tag:{t}"));
            save(state)?;
        }
        shell.status(
            "Published",
            format!("{} ({})", self.repository, self.tags(release)?.join(", ")),
        );
        state.published = true;
        save(state)
    }

    fn release_url(&self, release: &Staged, state: &HostState) -> Option<String> {
        let tag = self.tags(release).ok()?.into_iter().next()?;
        state
            .published
            .then(|| format!("{}:{tag}", self.repository))
    }

    fn rollback(&self, _release: &Staged, _state: &mut HostState, _shell: &Shell) -> Result<()> {
        // Untagged manifests and blobs are invisible and reused by the next run: nothing to undo.
        Ok(())
    }
}
