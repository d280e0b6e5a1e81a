//! The draft → upload → verify → publish flow that the GitHub and Gitea/Forgejo hosts share.
//!
//! Both forges have the same release model: a release with a tag, a `draft` flag and assets;
//! a draft is invisible to readers; publishing is one `PATCH draft=false`. The host-specific
//! parts (the API calls, how assets are uploaded and compared, what a token needs) are the
//! [`DraftForge`] methods; the order and the state bookkeeping are here, written once:
//!
//! - `preflight`: the token may write the repository, and a published release with our tag, if
//!   there is one, holds exactly our assets;
//! - `prepare`: a verified draft holding every asset (skipped once published);
//! - `publish`: the draft (reused when the state says it is verified and it still holds our
//!   assets, else prepared again, skipping what is done) is undrafted, then recorded as
//!   published with its page's URL.

use anyhow::{anyhow, Result};
use serde::Deserialize;

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::Shell;

use super::{HostState, Save};
use crate::stage::{Asset, Staged};

/// State data key: the id of our draft release.
pub(crate) const RELEASE_ID: &str = "release_id";
/// State steps.
pub(crate) const STEP_DRAFT: &str = "draft";
pub(crate) const STEP_VERIFIED: &str = "verified";
pub(crate) const STEP_PUBLISHED: &str = "published";

/// A release as a forge's API describes it.
pub(crate) trait ForgeRelease: Clone {
    fn id(&self) -> u64;
    fn is_draft(&self) -> bool;
    fn tag(&self) -> &str;
    fn is_prerelease(&self) -> bool;
    /// The release's page, `""` when unknown.
    fn page(&self) -> &str;
    /// How its embedded asset list differs from the staged assets (empty: the same).
    fn differences(&self, staged: &[Asset]) -> Vec<String>;
}

/// What the shared flow needs from a forge host.
pub(crate) trait DraftForge {
    type Release: ForgeRelease;

    /// `owner/name on <site>`, for messages.
    fn place(&self) -> String;
    /// The forge, for messages.
    fn site(&self) -> String;
    fn repo(&self) -> &str;
    /// Where the token came from, for messages.
    fn token_source(&self) -> &str;
    /// What token a release needs (for the hint when ours may only read).
    fn write_scope_hint(&self) -> String;
    /// Whether the token may push to the repository (`permissions.push` of the repository
    /// object; `None` when the forge does not say).
    fn may_push(&self, shell: &Shell) -> Result<Option<bool>>;
    fn releases_with_tag(&self, tag: &str, shell: &Shell) -> Result<Vec<Self::Release>>;
    fn release_by_id(&self, id: &str, shell: &Shell) -> Result<Option<Self::Release>>;
    /// A published release with our tag: identical is nothing to do, different an error.
    fn check_published(
        &self,
        published: &Self::Release,
        release: &Staged,
        shell: &Shell,
    ) -> Result<()>;
    /// `POST` a new draft release.
    fn create_draft(&self, release: &Staged, shell: &Shell) -> Result<Self::Release>;
    /// Uploads what the draft does not hold yet, replacing assets that differ and removing
    /// assets that are not part of the release; each upload recorded in `state`.
    fn upload_all(
        &self,
        draft: &Self::Release,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()>;
    /// How the release's complete asset list differs from the staged assets.
    fn asset_differences(
        &self,
        rel: &Self::Release,
        release: &Staged,
        shell: &Shell,
    ) -> Result<Vec<String>>;
    /// Forgets a draft that is gone: its id and every step made on it.
    fn forget_draft(&self, state: &mut HostState);
    /// `PATCH draft=false`; the published release.
    fn undraft(
        &self,
        draft: &Self::Release,
        release: &Staged,
        shell: &Shell,
    ) -> Result<Self::Release>;
}

/// The repository object's `permissions`, as GitHub and Gitea both give them.
#[derive(Deserialize)]
pub(crate) struct RepoPermissions {
    #[serde(default)]
    permissions: Option<Permissions>,
}

#[derive(Deserialize)]
struct Permissions {
    #[serde(default)]
    push: bool,
}

impl RepoPermissions {
    pub(crate) fn may_push(&self) -> Option<bool> {
        self.permissions.as_ref().map(|p| p.push)
    }
}

/// The release with our tag: the draft recorded in the state, else one found by tag (published,
/// or a draft an earlier run left), else a new draft.
fn find_or_create<F: DraftForge>(
    forge: &F,
    release: &Staged,
    state: &mut HostState,
    save: &mut Save<'_>,
    shell: &Shell,
) -> Result<F::Release> {
    if let Some(id) = state.data.get(RELEASE_ID).cloned() {
        match forge.release_by_id(&id, shell)? {
            Some(r) if r.tag() == release.tag => return Ok(r),
            _ => {
                shell.note(format!(
                    "the draft release {id} recorded in the state file is no longer on {}; starting a new draft",
                    forge.place()
                ));
                forge.forget_draft(state);
                save(state)?;
            }
        }
    }
    let found = forge.releases_with_tag(&release.tag, shell)?;
    if let Some(published) = found.iter().find(|r| !r.is_draft()) {
        return Ok(published.clone());
    }
    let draft = match found.into_iter().next() {
        Some(draft) => {
            shell.status(
                "Resuming",
                format!("draft release {} on {}", release.tag, forge.place()),
            );
            draft
        }
        None => forge.create_draft(release, shell)?,
    };
    state.data.insert(RELEASE_ID.into(), draft.id().to_string());
    state.done.insert(STEP_DRAFT.into());
    save(state)?;
    Ok(draft)
}

/// Steps 1–3: a verified draft holding every asset. `None` when a published release with the
/// tag already holds exactly our assets (recorded as published).
fn prepare_draft<F: DraftForge>(
    forge: &F,
    release: &Staged,
    state: &mut HostState,
    save: &mut Save<'_>,
    shell: &Shell,
) -> Result<Option<F::Release>> {
    let rel = find_or_create(forge, release, state, save, shell)?;
    if !rel.is_draft() {
        forge.check_published(&rel, release, shell)?;
        shell.status(
            "Unchanged",
            format!(
                "release {} on {} (already published)",
                release.tag,
                forge.place()
            ),
        );
        state.published = true;
        state.done.insert(STEP_PUBLISHED.into());
        save(state)?;
        return Ok(None);
    }
    forge.upload_all(&rel, release, state, save, shell)?;
    let problems = forge.asset_differences(&rel, release, shell)?;
    if !problems.is_empty() {
        state.done.remove(STEP_VERIFIED);
        save(state)?;
        return Err(anyhow!(
            "the draft release {} on {} does not hold the staged assets: {}",
            release.tag,
            forge.place(),
            problems.join("; ")
        ))
        .kind(ErrorKind::Check)
        .hint("nothing was published; re-run the same command to upload them again");
    }
    shell.status(
        "Verified",
        format!(
            "{} assets of draft release {} on {}",
            release.assets.len(),
            release.tag,
            forge.place()
        ),
    );
    state.done.insert(STEP_VERIFIED.into());
    save(state)?;
    Ok(Some(rel))
}

/// [`super::Host::preflight`] after the host's own checks of the staged assets.
pub(crate) fn preflight<F: DraftForge>(
    forge: &F,
    release: &Staged,
    state: &HostState,
    shell: &Shell,
) -> Result<()> {
    if forge.may_push(shell)? == Some(false) {
        return Err(anyhow!(
            "{} may read but not write `{}` on {}",
            forge.token_source(),
            forge.repo(),
            forge.site()
        ))
        .kind(ErrorKind::Network)
        .hint(forge.write_scope_hint());
    }
    if !state.published {
        if let Some(published) = forge
            .releases_with_tag(&release.tag, shell)?
            .iter()
            .find(|r| !r.is_draft())
        {
            forge.check_published(published, release, shell)?;
        }
    }
    Ok(())
}

/// [`super::Host::prepare`].
pub(crate) fn prepare<F: DraftForge>(
    forge: &F,
    release: &Staged,
    state: &mut HostState,
    save: &mut Save<'_>,
    shell: &Shell,
) -> Result<()> {
    if state.published {
        return Ok(());
    }
    prepare_draft(forge, release, state, save, shell).map(drop)
}

/// [`super::Host::publish`].
pub(crate) fn publish<F: DraftForge>(
    forge: &F,
    release: &Staged,
    state: &mut HostState,
    save: &mut Save<'_>,
    shell: &Shell,
) -> Result<()> {
    if state.published {
        shell.verbose_status(
            "Skipping",
            format!(
                "release {} on {} (published by an earlier run)",
                release.tag,
                forge.place()
            ),
        );
        return Ok(());
    }
    // After `prepare` in the same run, the draft's own asset list is enough to go on;
    // otherwise (or when it disagrees) the whole preparation runs, skipping what is done.
    let mut ready = None;
    if state.is_done(STEP_VERIFIED) {
        if let Some(id) = state.data.get(RELEASE_ID).cloned() {
            ready = forge.release_by_id(&id, shell)?.filter(|r| {
                r.is_draft() && r.tag() == release.tag && r.differences(&release.assets).is_empty()
            });
        }
    }
    let draft = match ready {
        Some(rel) => rel,
        None => match prepare_draft(forge, release, state, save, shell)? {
            Some(rel) => rel,
            None => return Ok(()),
        },
    };
    let published = forge.undraft(&draft, release, shell)?;
    state.published = true;
    state.done.insert(STEP_PUBLISHED.into());
    if !published.page().is_empty() {
        state
            .data
            .insert(super::HTML_URL.into(), published.page().to_string());
    }
    save(state)?;
    let kind = if published.is_prerelease() {
        "pre-release"
    } else {
        "release"
    };
    let url = if published.page().is_empty() {
        forge.place()
    } else {
        published.page().to_string()
    };
    shell.status(
        "Published",
        format!("{kind} {} on {} ({url})", release.tag, forge.place()),
    );
    Ok(())
}

/// [`super::Host::release_url`]: the page recorded when it was published.
pub(crate) fn release_url(state: &HostState) -> Option<String> {
    state
        .data
        .get(super::HTML_URL)
        .filter(|_| state.published)
        .cloned()
}
