//! The `oci` host: the release's image, staged as an OCI layout, pushed to a registry.
//!
//! `prepare` pushes every blob and manifest by digest — nothing a tag reader can see; `publish`
//! then writes the tags the plan rendered (by default the version, `major.minor`, `major`,
//! `latest` for a stable release; only the version for a pre-release), so a tag never points at
//! something missing. Moving tags move only forward: `latest`, `major` and `major.minor` are
//! written only when the version is the highest of their line among the versions the
//! repository holds (the image library's rule, the one `cargo forge-image --push` follows).

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use cargo_forge_image::tags::Track;
use forge_core::http::HttpClient;
use forge_core::Shell;

use super::{Host, HostState, Progress};
use crate::stage::Staged;

/// A registry repository host.
pub struct OciHost {
    pub repository: String,
    pub http: HttpClient,
}

impl OciHost {
    /// The tags (names) and what the moving ones follow.
    fn tags(&self, release: &Staged) -> Result<(Vec<String>, BTreeMap<String, Track>)> {
        if let Some(image) = release.image.as_ref().filter(|i| !i.tags.is_empty()) {
            return Ok((image.tags.clone(), image.tracks.clone()));
        }
        let v = semver::Version::parse(&release.version)?;
        let templates: Vec<String> = cargo_forge_image::tags::DEFAULT_TAGS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tracked = cargo_forge_image::tags::render_tracked(
            &templates,
            &cargo_forge_image::tags::TagContext {
                version: v,
                sha: release.commit.clone(),
            },
        )?;
        let tracks = tracked
            .iter()
            .filter(|(_, t)| *t != Track::Fixed)
            .map(|(n, t)| (n.clone(), *t))
            .collect();
        Ok((tracked.into_iter().map(|(n, _)| n).collect(), tracks))
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
        let (tags, tracks) = self.tags(release).unwrap_or_default();
        let shown: Vec<String> = tags
            .iter()
            .map(|t| {
                if tracks.contains_key(t) {
                    format!("{t} (if the highest of its line)")
                } else {
                    t.clone()
                }
            })
            .collect();
        vec![format!(
            "push the image to {} and tag it {}",
            self.repository,
            shown.join(", ")
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

    fn prepare(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        if progress.is_done("untagged") {
            return Ok(());
        }
        let image = self.layout(release)?;
        cargo_forge_image::push::push_layout_untagged(&self.http, &image, &self.repository, shell)?;
        progress
            .state
            .data
            .insert("digest".into(), image.top.1.digest.clone());
        progress.done("untagged")
    }

    fn publish(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        self.prepare(release, progress, shell)?;
        let image = self.layout(release)?;
        let (all, tracks) = self.tags(release)?;
        // Which moving tags move is decided once, from what the registry holds before we tag,
        // and recorded: a resumed run does not decide again against its own tags.
        if !progress.is_done("tags-decided") {
            let version = semver::Version::parse(&release.version)?;
            let refs: Vec<String> = all
                .iter()
                .map(|t| format!("{}:{t}", self.repository))
                .collect();
            let ref_tracks: BTreeMap<String, Track> = tracks
                .iter()
                .map(|(t, track)| (format!("{}:{t}", self.repository), *track))
                .collect();
            let moving = cargo_forge_image::push::tags_that_move(
                &self.http,
                &refs,
                &ref_tracks,
                &version,
                shell,
            )?;
            for t in &all {
                if !moving.contains(&format!("{}:{t}", self.repository)) {
                    progress.state.done.insert(format!("held:{t}"));
                }
            }
            progress.done("tags-decided")?;
        }
        let tags: Vec<String> = all
            .into_iter()
            .filter(|t| {
                !progress.is_done(&format!("tag:{t}")) && !progress.is_done(&format!("held:{t}"))
            })
            .collect();
        for t in &tags {
            cargo_forge_image::push::tag_pushed(
                &self.http,
                &image,
                &self.repository,
                std::slice::from_ref(t),
                shell,
            )?;
            progress.done(format!("tag:{t}"))?;
        }
        let written: Vec<String> = self
            .tags(release)?
            .0
            .into_iter()
            .filter(|t| progress.is_done(&format!("tag:{t}")))
            .collect();
        shell.status(
            "Published",
            format!("{} ({})", self.repository, written.join(", ")),
        );
        progress.state.published = true;
        progress.save()
    }

    fn release_url(&self, release: &Staged, state: &HostState) -> Option<String> {
        let tag = self.tags(release).ok()?.0.into_iter().next()?;
        state
            .published
            .then(|| format!("{}:{tag}", self.repository))
    }

    fn rollback(&self, _release: &Staged, _state: &mut HostState, _shell: &Shell) -> Result<()> {
        // Untagged manifests and blobs are invisible and reused by the next run: nothing to undo.
        Ok(())
    }
}
