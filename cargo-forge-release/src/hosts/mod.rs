//! Release hosts: where a staged release is published.
//!
//! Every host implements [`Host`]: `preflight` checks without side effects that publishing can
//! work (credentials, reachability, no conflicting published release); `publish` is idempotent
//! and resumable — it records each finished step in its [`HostState`] (saved to the state file
//! after every step) and skips what is recorded or what the host already holds identically;
//! `rollback` undoes what is safe to undo after a failure (a draft, a half-uploaded object) and
//! never touches what readers can already see.
//!
//! Publishing order inside a host follows one rule: nothing half-done is visible. Blobs and
//! objects first, drafts before publishing, "latest" pointers and tags last.

pub mod apt;
pub mod dir;
mod draft;
pub mod forge;
pub mod gitea;
pub mod github;
pub mod oci;
pub mod remote;
pub mod s3;
pub mod s3config;
pub mod s3store;

pub use remote::make_remote;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use forge_core::Shell;

use crate::stage::Staged;

/// A host table of `[workspace.metadata.forge.release] hosts = [...]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum HostSpec {
    /// GitHub Releases: `{ kind = "github", repo = "owner/name" }`; token from `GITHUB_TOKEN` or
    /// `GH_TOKEN`, API from `GITHUB_API_URL` (default https://api.github.com).
    Github { repo: String },
    /// Gitea/Forgejo: `{ kind = "gitea", url = "https://codeberg.org", repo = "owner/name" }`;
    /// token from `GITEA_TOKEN` (or `FORGEJO_TOKEN`).
    Gitea { url: String, repo: String },
    /// S3-compatible storage; credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: Option<String>,
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default)]
        region: Option<String>,
    },
    /// An OCI registry for the image: `{ kind = "oci", repository = "ghcr.io/acme/app" }`.
    Oci { repository: String },
    /// An APT repository in a directory, `{ kind = "apt", dir = "public/apt" }`, or in an S3
    /// bucket, `{ kind = "apt", url = "s3://bucket/apt", endpoint = "…" }` (credentials, `endpoint`
    /// and `region` as for the `s3` host).
    Apt {
        #[serde(default)]
        dir: Option<PathBuf>,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default)]
        region: Option<String>,
        #[serde(default)]
        suite: Option<String>,
        #[serde(default)]
        component: Option<String>,
        #[serde(default, rename = "sign-key")]
        sign_key: Option<String>,
    },
    /// A local directory: `{ kind = "dir", path = "dist" }`.
    Dir { path: PathBuf },
}

/// Progress of one host, kept in the state file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// Steps finished (host-specific ids, e.g. `upload:app.tar.gz`).
    pub done: BTreeSet<String>,
    /// Host-specific data needed to resume (e.g. a draft release id).
    pub data: BTreeMap<String, String>,
    /// Whether the release is visible to readers on this host.
    pub published: bool,
}

impl HostState {
    pub fn is_done(&self, step: &str) -> bool {
        self.done.contains(step)
    }
}

/// Saves the state after a step (the state file is rewritten atomically).
pub type Save<'a> = dyn FnMut(&HostState) -> Result<()> + 'a;

/// A host's progress through `prepare` and `publish`: its state and the callback that persists
/// it. A finished step is recorded with [`Progress::done`], which saves at once, so that a rerun
/// resumes after the last finished step; hosts never hold a state they have not saved.
pub struct Progress<'a> {
    /// The host's state: read it, or change `data` or `published` and then [`Progress::save`].
    pub state: &'a mut HostState,
    save: &'a mut Save<'a>,
}

impl<'a> Progress<'a> {
    pub fn new(state: &'a mut HostState, save: &'a mut Save<'a>) -> Self {
        Progress { state, save }
    }

    pub fn is_done(&self, step: &str) -> bool {
        self.state.is_done(step)
    }

    /// Records `step` as finished and saves the state.
    pub fn done(&mut self, step: impl Into<String>) -> Result<()> {
        self.state.done.insert(step.into());
        self.save()
    }

    /// Saves the state as it is.
    pub fn save(&mut self) -> Result<()> {
        (self.save)(self.state)
    }
}

/// A release host.
pub trait Host {
    /// `github:owner/name`, `dir:/path` — the key of its state.
    fn id(&self) -> String;
    /// What publishing will do, for the plan.
    fn describe(&self, release: &Staged) -> Vec<String>;
    /// Checks, without side effects, that publishing can work.
    fn preflight(&self, release: &Staged, state: &HostState, shell: &Shell) -> Result<()>;
    /// Uploads what readers cannot see yet (a draft and its assets, objects, untagged
    /// manifests), so that every host holds the release before any host shows it. `publish`
    /// runs after it and skips what it recorded. Default: nothing to prepare.
    fn prepare(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        let _ = (release, progress, shell);
        Ok(())
    }
    /// Publishes, resuming from `state`; calls `save` after every step.
    fn publish(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()>;
    /// Undoes what is safe to undo after a failed `publish`.
    fn rollback(&self, release: &Staged, state: &mut HostState, shell: &Shell) -> Result<()>;
    /// Where readers find the published release (a web page, a directory, an image reference),
    /// for the job summary and the `release-url` output; `None` before it is published or when
    /// the host has no such place.
    fn release_url(&self, release: &Staged, state: &HostState) -> Option<String> {
        let _ = (release, state);
        None
    }
}

/// The `HostState::data` key under which GitHub and Gitea keep the release's web page.
pub const HTML_URL: &str = "html_url";
