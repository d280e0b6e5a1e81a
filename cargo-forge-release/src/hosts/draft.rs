//! The draft → upload → verify → publish flow of [`ForgeHost`], and its rollback, written once
//! for GitHub and Gitea/Forgejo.
//!
//! The order follows the rule of [`super`] — nothing half-done is visible:
//!
//! 1. **Draft.** The release is created as a draft (`POST /repos/O/R/releases`, `draft: true`);
//!    nobody but collaborators sees it and the tag is not created yet. A draft of a previous run
//!    is resumed instead: its id is in the [`HostState`], or it is found by listing releases.
//!    Creating is not idempotent (a lost answer and a replay make two drafts), so it is sent
//!    with [`HttpClient::request_once`](forge_core::http::HttpClient::request_once) and after a
//!    failure the listing is checked before trying again.
//! 2. **Assets.** Stale assets (names not part of the release) are deleted **first**, then each
//!    staged asset is uploaded unless the draft already holds it. An upload cannot be replayed
//!    blindly either (GitHub may keep an empty `starter` asset and refuse the name; Gitea keeps
//!    a second attachment of the same name), so each is sent once per attempt and after a
//!    failure the asset list decides: the asset arrived and is provably ours (done), or
//!    everything carrying its name is deleted and it is sent again.
//! 3. **Verify.** The asset list must hold every staged name once, complete, with its size and,
//!    where the forge reports one, its `sha256:` digest — and nothing else.
//! 4. **Publish** with `PATCH draft=false` (the forge creates the tag then). Published releases
//!    are immutable on GitHub, so this is the one step that cannot be undone, and it comes last.
//!
//! `prepare` does 1–3, `publish` all of it (skipping what is done), `rollback` deletes our draft
//! — never a published release. A published release with the tag that already holds exactly our
//! assets means there is nothing to do; one with other assets is an error.
//!
//! **One rule for "ours"** (the two hosts had drifted; the safer of their rules is kept, for
//! both): an asset already on the draft is kept only when it is complete, has the staged size
//! and is *provably* the staged file — its `sha256:` digest matches (GitHub), or, where the
//! forge reports no digest (Gitea, older GitHub Enterprise Server), its id is the one recorded
//! in the state (`asset:NAME`) when this release saw its upload answered. A name and a size
//! alone never prove content, so anything else carrying a staged name is deleted and uploaded
//! again: a re-upload costs time, keeping a wrong file publishes it. Stale assets go first so
//! that the draft never holds more than the release (GitHub's 1,000-asset limit), and a failed
//! run leaves a draft that holds only assets of this release.

use std::collections::BTreeSet;

use anyhow::{anyhow, Result};
use serde_json::json;

use forge_core::exit::{kind_of, usage, with_hint, ErrorKind, ResultExt};
use forge_core::http::{is_retryable_status, Body, Method};
use forge_core::Shell;

use super::forge::{
    api_codes, differences, human_size, parse, status_detail, Forge, ForgeHost, Release,
    RemoteAsset,
};
use super::{Host, HostState, Progress};
use crate::stage::{Asset, Staged};

/// State data key: the id of our draft release.
pub(crate) const RELEASE_ID: &str = "release_id";
/// State steps.
pub(crate) const STEP_DRAFT: &str = "draft";
pub(crate) const STEP_VERIFIED: &str = "verified";
pub(crate) const STEP_PUBLISHED: &str = "published";

/// State data key of the id of an asset whose upload we saw answered.
fn asset_key(name: &str) -> String {
    format!("asset:{name}")
}

/// Drops what belongs to a draft that is gone: its id, its assets' ids and every step on it.
fn forget_draft(state: &mut HostState) {
    state
        .data
        .retain(|k, _| k != RELEASE_ID && !k.starts_with("asset:"));
    state
        .done
        .retain(|s| !(s.starts_with("upload:") || s == STEP_DRAFT || s == STEP_VERIFIED));
}

/// Why what the draft holds under a staged name is not provably the staged file (see the
/// module doc), or `None` when it is.
fn not_ours(same: &[&RemoteAsset], staged: &Asset, recorded: Option<u64>) -> Option<String> {
    match same {
        [] => Some(format!("`{}` is missing", staged.name)),
        [r] => r.mismatch(staged).or_else(|| {
            (r.digest.is_none() && Some(r.id) != recorded).then(|| {
                format!(
                    "`{}` was not uploaded by this release (no digest to compare)",
                    r.name
                )
            })
        }),
        more => Some(format!(
            "`{}` is attached {} times",
            staged.name,
            more.len()
        )),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl<F: Forge> ForgeHost<F> {
    /// `POST /releases` with `draft: true`, sent once per attempt; after a failure the listing
    /// tells whether the draft was created after all, so a lost answer does not make two.
    fn create_draft(&self, release: &Staged, shell: &Shell) -> Result<Release> {
        let mut body = json!({
            "tag_name": release.tag,
            "name": release.tag,
            "body": release.notes,
            "draft": true,
            "prerelease": release.prerelease,
        });
        if let Some(commit) = &release.commit {
            body["target_commitish"] = json!(commit);
        }
        let req = self.json_request(Method::Post, self.repo_url("/releases"), &body);
        let what = format!("create the draft release {}", release.tag);
        shell.status(
            "Creating",
            format!("draft release {} on {}", release.tag, self.place()),
        );
        let policy = self.http.policy();
        let max = policy.max_attempts();
        for attempt in 1..=max {
            let why = match self.http.request_once(&req, shell) {
                Ok(resp) if resp.status == 201 => return parse(&resp, &what, &self.place()),
                Ok(resp) if is_retryable_status(resp.status) => status_detail(&resp),
                Ok(resp) => {
                    let err = self.unexpected(&what, &resp);
                    // GitHub: 422 `already_exists`; Gitea: 409.
                    let exists = resp.status == 409
                        || (resp.status == 422
                            && api_codes(&resp).iter().any(|c| c == "already_exists"));
                    return Err(if exists {
                        with_hint(err, self.published_hint(release))
                    } else {
                        err
                    });
                }
                Err(e) if kind_of(&e) == Some(ErrorKind::Network) => format!("{e:#}"),
                Err(e) => return Err(e),
            };
            if let Some(draft) = self
                .releases_with_tag(&release.tag, shell)?
                .into_iter()
                .find(|r| r.draft)
            {
                return Ok(draft);
            }
            if attempt == max {
                return Err(anyhow!(
                    "failed to {what} on {} after {max} attempt{}: {why}",
                    self.place(),
                    plural(max)
                ))
                .kind(ErrorKind::Network)
                .hint("re-run the same command later: nothing was published");
            }
            let wait = policy.backoff(attempt);
            shell.verbose_status(
                "Retrying",
                format!(
                    "create draft release {} ({why}), attempt {}/{max} in {:.1}s",
                    release.tag,
                    attempt + 1,
                    wait.as_secs_f64()
                ),
            );
            std::thread::sleep(wait);
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// What to do when a published release with the tag is in the way.
    fn published_hint(&self, release: &Staged) -> String {
        format!(
            "{}release a new version, or delete release {} on {} if it must not exist",
            F::PUBLISHED_NOTE,
            release.tag,
            self.place()
        )
    }

    /// Checks a published release with our tag: identical is nothing to do, different an error.
    fn check_published(&self, published: &Release, release: &Staged, shell: &Shell) -> Result<()> {
        let remote = self.list_assets(published.id, shell)?;
        let problems = differences(&remote, &release.assets);
        if problems.is_empty() {
            return Ok(());
        }
        Err(usage(format!(
            "release {} is already published on {} with different assets: {}",
            release.tag,
            self.place(),
            problems.join("; ")
        )))
        .hint(self.published_hint(release))
    }

    /// Deletes stale assets, then uploads what the draft does not provably hold yet, replacing
    /// whatever else carries a staged name (the rule of the module doc); each upload recorded.
    fn upload_all(
        &self,
        rel: &Release,
        release: &Staged,
        progress: &mut Progress<'_>,
        shell: &Shell,
    ) -> Result<()> {
        let remote = self.list_assets(rel.id, shell)?;
        let names: BTreeSet<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
        for stale in remote.iter().filter(|r| !names.contains(r.name.as_str())) {
            shell.status(
                "Removing",
                format!(
                    "`{}` from draft release {} (not part of this release)",
                    stale.name, release.tag
                ),
            );
            self.delete_asset(rel.id, stale, shell)?;
        }
        for a in &release.assets {
            let step = format!("upload:{}", a.name);
            let key = asset_key(&a.name);
            let recorded = progress
                .state
                .data
                .get(&key)
                .and_then(|id| id.parse::<u64>().ok());
            let same: Vec<&RemoteAsset> = remote.iter().filter(|r| r.name == a.name).collect();
            match not_ours(&same, a, recorded) {
                None => {
                    shell
                        .verbose_status("Skipping", format!("`{}` (already on the draft)", a.name));
                    let id = same[0].id.to_string();
                    let changed = progress.state.done.insert(step)
                        | (progress.state.data.insert(key, id.clone()).as_ref() != Some(&id));
                    if changed {
                        progress.save()?;
                    }
                    continue;
                }
                Some(why) if !same.is_empty() => {
                    shell.status(
                        "Replacing",
                        format!("{why} on draft release {}", release.tag),
                    );
                    for r in same {
                        self.delete_asset(rel.id, r, shell)?;
                    }
                }
                Some(_) => {}
            }
            let id = self.upload(rel, a, release, shell)?;
            progress.state.data.insert(key, id.to_string());
            progress.done(step)?;
        }
        Ok(())
    }

    /// Uploads one asset and returns its id: each attempt sent once, and after a failure the
    /// asset list decides whether it arrived (provably, by its digest) or everything carrying
    /// its name is deleted before it is sent again.
    fn upload(&self, rel: &Release, asset: &Asset, release: &Staged, shell: &Shell) -> Result<u64> {
        let upload = self
            .forge
            .upload_body(&self.repo_url(""), rel, asset)
            .map_err(|e| e.context(format!("release {} on {}", release.tag, self.place())))?;
        let body_path = match &upload.wrapped {
            Some(file) => file.path().to_path_buf(),
            None => asset.path.clone(),
        };
        let bar = shell.progress_bar(asset.size, asset.name.clone(), true);
        let req = self
            .request(Method::Post, upload.url.clone())
            .header("Content-Type", upload.content_type.clone())
            .body(Body::file(&body_path)?)
            .progress(Some(bar.clone()));
        shell.status(
            "Uploading",
            format!(
                "{} ({}) to draft release {}",
                asset.name,
                human_size(asset.size),
                release.tag
            ),
        );
        let what = format!("upload `{}` to draft release {}", asset.name, release.tag);
        let policy = self.http.policy();
        let max = policy.max_attempts();
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let why = match self.http.request_once(&req, shell) {
                Ok(resp) if resp.status == 201 => {
                    let stored: RemoteAsset = parse(&resp, &what, &self.place())?;
                    break self.check_stored(&stored, asset).map(|()| stored.id);
                }
                Ok(resp)
                    if resp.status == 422
                        && api_codes(&resp).iter().any(|c| c == "already_exists") =>
                {
                    format!("`{}` already exists", asset.name)
                }
                Ok(resp) if is_retryable_status(resp.status) => status_detail(&resp),
                Ok(resp) => {
                    let err = self.unexpected(&what, &resp);
                    break Err(match self.forge.upload_refused_hint(resp.status, asset) {
                        Some(hint) => with_hint(err, hint),
                        None => err,
                    });
                }
                Err(e) if kind_of(&e) == Some(ErrorKind::Network) => format!("{e:#}"),
                Err(e) => break Err(e),
            };
            // What did the failed attempt leave? The complete asset (a lost answer, a parallel
            // run: kept when its digest proves it), a leftover, or nothing.
            let remote = self.list_assets(rel.id, shell)?;
            let same: Vec<&RemoteAsset> = remote.iter().filter(|r| r.name == asset.name).collect();
            if let [r] = same.as_slice() {
                if r.digest.is_some() && r.mismatch(asset).is_none() {
                    break Ok(r.id);
                }
            }
            for r in same {
                shell.verbose_status(
                    "Removing",
                    format!(
                        "`{}` left by the failed attempt before uploading it again",
                        r.name
                    ),
                );
                self.delete_asset(rel.id, r, shell)?;
            }
            if attempt >= max {
                break Err(anyhow!(
                    "failed to {what} on {} after {max} attempt{}: {why}",
                    self.place(),
                    plural(max)
                ))
                .kind(ErrorKind::Network)
                .hint(
                    "nothing was published; re-run the same command to resume the draft (uploaded assets are kept), or `--retries N` for more attempts",
                );
            }
            let wait = policy.backoff(attempt);
            shell.verbose_status(
                "Retrying",
                format!(
                    "upload of `{}` ({why}), attempt {}/{max} in {:.1}s",
                    asset.name,
                    attempt + 1,
                    wait.as_secs_f64()
                ),
            );
            std::thread::sleep(wait);
        };
        bar.finish_and_clear();
        let id = result?;
        shell.status(
            "Uploaded",
            format!("{} to draft release {}", asset.name, release.tag),
        );
        Ok(id)
    }

    /// Checks what the forge says it stored: the same name (GitHub renames some characters)
    /// and size (and digest, where reported).
    fn check_stored(&self, stored: &RemoteAsset, asset: &Asset) -> Result<()> {
        if stored.name != asset.name {
            return Err(anyhow!(
                "{} stored `{}` as `{}`: {} renames characters it does not accept",
                self.place(),
                asset.name,
                stored.name,
                F::SERVICE
            ))
            .kind(ErrorKind::Check)
            .hint("name release files with letters, digits, `.`, `_`, `-` and `+` only");
        }
        match stored.mismatch(asset) {
            Some(why) if stored.state.as_deref() != Some("starter") => {
                Err(anyhow!("{} stored {why}", self.place())).kind(ErrorKind::Check)
            }
            _ => Ok(()),
        }
    }

    /// `PATCH draft=false`: the release and its tag become visible. A stable release may
    /// become the latest only when no published release of the repository is newer.
    fn undraft(&self, rel: &Release, release: &Staged, shell: &Shell) -> Result<Release> {
        let latest = !release.prerelease && {
            let held = self.published_tags(shell)?;
            let latest = release.is_latest_among(held.iter().map(String::as_str));
            if !latest {
                self.forge.not_latest(release, &self.place(), shell);
            }
            latest
        };
        let what = format!("publish release {}", release.tag);
        let resp = self.send(
            &self.json_request(
                Method::Patch,
                self.repo_url(&format!("/releases/{}", rel.id)),
                &self.forge.publish_body(release, latest),
            ),
            &what,
            shell,
        )?;
        if resp.status != 200 {
            return Err(self.unexpected(&what, &resp));
        }
        let published: Release = parse(&resp, &what, &self.place())?;
        if published.draft {
            return Err(anyhow!(
                "{what} on {}: the release is still a draft after `PATCH draft=false`",
                self.place()
            ))
            .kind(ErrorKind::Network);
        }
        Ok(published)
    }

    /// The release with our tag: the draft recorded in the state, else one found by tag
    /// (published, or a draft an earlier run left), else a new draft.
    fn find_or_create(
        &self,
        release: &Staged,
        progress: &mut Progress<'_>,
        shell: &Shell,
    ) -> Result<Release> {
        if let Some(id) = progress.state.data.get(RELEASE_ID).cloned() {
            match self.release_by_id(&id, shell)? {
                Some(r) if r.tag_name == release.tag => return Ok(r),
                _ => {
                    shell.note(format!(
                        "the draft release {id} recorded in the state file is no longer on {}; starting a new draft",
                        self.place()
                    ));
                    forget_draft(progress.state);
                    progress.save()?;
                }
            }
        }
        let found = self.releases_with_tag(&release.tag, shell)?;
        if let Some(published) = found.iter().find(|r| !r.draft) {
            return Ok(published.clone());
        }
        let draft = match found.into_iter().next() {
            Some(draft) => {
                shell.status(
                    "Resuming",
                    format!("draft release {} on {}", release.tag, self.place()),
                );
                draft
            }
            None => self.create_draft(release, shell)?,
        };
        progress
            .state
            .data
            .insert(RELEASE_ID.into(), draft.id.to_string());
        progress.done(STEP_DRAFT)?;
        Ok(draft)
    }

    /// Steps 1–3: a verified draft holding every asset. `None` when a published release with
    /// the tag already holds exactly our assets (recorded as published).
    fn prepare_draft(
        &self,
        release: &Staged,
        progress: &mut Progress<'_>,
        shell: &Shell,
    ) -> Result<Option<Release>> {
        let rel = self.find_or_create(release, progress, shell)?;
        if !rel.draft {
            self.check_published(&rel, release, shell)?;
            shell.status(
                "Unchanged",
                format!(
                    "release {} on {} (already published)",
                    release.tag,
                    self.place()
                ),
            );
            progress.state.published = true;
            progress.done(STEP_PUBLISHED)?;
            return Ok(None);
        }
        self.upload_all(&rel, release, progress, shell)?;
        let problems = differences(&self.list_assets(rel.id, shell)?, &release.assets);
        if !problems.is_empty() {
            progress.state.done.remove(STEP_VERIFIED);
            progress.save()?;
            return Err(anyhow!(
                "the draft release {} on {} does not hold the staged assets: {}",
                release.tag,
                self.place(),
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
                self.place()
            ),
        );
        progress.done(STEP_VERIFIED)?;
        Ok(Some(rel))
    }
}

impl<F: Forge> Host for ForgeHost<F> {
    fn id(&self) -> String {
        self.forge.id(&self.repo)
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        self.forge.describe(release, &self.place())
    }

    /// The forge's local checks of the assets; the token may write the repository; a
    /// published release with our tag, if there is one, holds exactly our assets.
    fn preflight(&self, release: &Staged, state: &HostState, shell: &Shell) -> Result<()> {
        self.forge.check_assets(release, &self.place())?;
        if self.may_push(shell)? == Some(false) {
            return Err(anyhow!(
                "{} may read but not write `{}` on {}",
                self.token_source,
                self.repo,
                self.forge.site()
            ))
            .kind(ErrorKind::Network)
            .hint(format!(
                "use a token that may write releases of `{}`: {}",
                self.repo,
                F::WRITE_PERMISSION
            ));
        }
        if !state.published {
            if let Some(published) = self
                .releases_with_tag(&release.tag, shell)?
                .iter()
                .find(|r| !r.draft)
            {
                self.check_published(published, release, shell)?;
            }
        }
        Ok(())
    }

    /// A verified draft holding every asset (skipped once published).
    fn prepare(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        if progress.state.published {
            return Ok(());
        }
        self.prepare_draft(release, progress, shell).map(drop)
    }

    /// The draft (reused when the state says it is verified and it still holds our assets,
    /// else prepared again, skipping what is done) is undrafted, then recorded as published
    /// with its page's URL.
    fn publish(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        if progress.state.published {
            shell.verbose_status(
                "Skipping",
                format!(
                    "release {} on {} (published by an earlier run)",
                    release.tag,
                    self.place()
                ),
            );
            return Ok(());
        }
        // After `prepare` in the same run, the draft's own asset list is enough to go on;
        // otherwise (or when it disagrees) the whole preparation runs, skipping what is done.
        let mut ready = None;
        if progress.is_done(STEP_VERIFIED) {
            if let Some(id) = progress.state.data.get(RELEASE_ID).cloned() {
                ready = self.release_by_id(&id, shell)?.filter(|r| {
                    r.draft
                        && r.tag_name == release.tag
                        && differences(&r.assets, &release.assets).is_empty()
                });
            }
        }
        let draft = match ready {
            Some(rel) => rel,
            None => match self.prepare_draft(release, progress, shell)? {
                Some(rel) => rel,
                None => return Ok(()),
            },
        };
        let published = self.undraft(&draft, release, shell)?;
        progress.state.published = true;
        progress.state.done.insert(STEP_PUBLISHED.into());
        if !published.html_url.is_empty() {
            progress
                .state
                .data
                .insert(super::HTML_URL.into(), published.html_url.clone());
        }
        progress.save()?;
        let kind = if published.prerelease {
            "pre-release"
        } else {
            "release"
        };
        let url = if published.html_url.is_empty() {
            self.place()
        } else {
            published.html_url.clone()
        };
        shell.status(
            "Published",
            format!("{kind} {} on {} ({url})", release.tag, self.place()),
        );
        Ok(())
    }

    /// The page recorded when it was published.
    fn release_url(&self, _release: &Staged, state: &HostState) -> Option<String> {
        state
            .data
            .get(super::HTML_URL)
            .filter(|_| state.published)
            .cloned()
    }

    /// Deletes our draft; never a published release, whatever the state says.
    fn rollback(&self, release: &Staged, state: &mut HostState, shell: &Shell) -> Result<()> {
        if state.published {
            return Ok(());
        }
        let Some(id) = state.data.get(RELEASE_ID).cloned() else {
            return Ok(());
        };
        match self.release_by_id(&id, shell)? {
            Some(r) if r.draft => {
                let what = format!("delete draft release {}", release.tag);
                let resp = self.send(
                    &self.request(Method::Delete, self.repo_url(&format!("/releases/{id}"))),
                    &what,
                    shell,
                )?;
                if !matches!(resp.status, 204 | 404) {
                    return Err(self.unexpected(&what, &resp));
                }
                shell.status(
                    "Removed",
                    format!("draft release {} from {}", release.tag, self.place()),
                );
            }
            Some(_) => {
                // Published meanwhile (by us, with the answer lost, or by someone): never undone.
                shell.note(format!(
                    "release {} on {} is published; leaving it",
                    release.tag,
                    self.place()
                ));
                state.published = true;
                return Ok(());
            }
            None => {}
        }
        forget_draft(state);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(id: u64, size: u64, digest: Option<&str>) -> RemoteAsset {
        RemoteAsset {
            id,
            name: "app.tar.gz".into(),
            size,
            state: None,
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn ours_needs_a_matching_digest_or_the_recorded_id() {
        let staged = Asset {
            name: "app.tar.gz".into(),
            path: "app.tar.gz".into(),
            size: 10,
            sha256: "ab".into(),
            kind: crate::stage::AssetKind::Archive,
            target: None,
        };
        let digest = remote(7, 10, Some("sha256:ab"));
        assert_eq!(not_ours(&[&digest], &staged, None), None);
        let bare = remote(7, 10, None);
        assert_eq!(not_ours(&[&bare], &staged, Some(7)), None);
        assert!(not_ours(&[&bare], &staged, None)
            .unwrap()
            .contains("not uploaded by this release"));
        assert!(not_ours(&[&bare], &staged, Some(8)).is_some());
        assert!(not_ours(&[&remote(7, 11, None)], &staged, Some(7))
            .unwrap()
            .contains("11 bytes"));
        assert!(not_ours(&[&bare, &digest], &staged, Some(7))
            .unwrap()
            .contains("2 times"));
        assert!(not_ours(&[], &staged, None).unwrap().contains("missing"));
        let mut state = HostState::default();
        state.data.insert(RELEASE_ID.into(), "1".into());
        state.data.insert(asset_key("a"), "2".into());
        state.data.insert(super::super::HTML_URL.into(), "u".into());
        state.done.insert("upload:a".into());
        state.done.insert(STEP_DRAFT.into());
        forget_draft(&mut state);
        assert_eq!(state.data.keys().collect::<Vec<_>>(), ["html_url"]);
        assert!(state.done.is_empty());
    }
}
