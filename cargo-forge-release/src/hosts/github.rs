//! The `github` host: GitHub Releases (github.com and GitHub Enterprise Server) over the REST API.
//!
//! The order follows the rule of [`super`] — nothing half-done is visible — and what GitHub's API
//! allows (its REST API's documentation of releases and assets):
//!
//! 1. **Draft.** The release is created as a draft (`POST /repos/O/R/releases`, `draft: true`);
//!    nobody but collaborators sees it and the tag is not created yet. A draft of a previous run
//!    is resumed instead: its id is in the [`HostState`], or it is found by *listing* releases,
//!    because `GET /releases/tags/TAG` does not return drafts. Creating is not idempotent (a lost
//!    answer and a replay make two drafts), so it is sent with
//!    [`HttpClient::request_once`] and after a failure the listing is checked before trying again.
//! 2. **Assets** go to the `upload_url` the release names (a separate uploads host on
//!    github.com) as raw bodies streamed from the staging directory. An upload cannot be replayed
//!    as it is either: a 502 may leave an empty asset in state `starter` behind, and a second
//!    upload of the same name then fails with 422 `already_exists`. So each upload is sent once,
//!    and after a failure the release's asset list decides: the asset arrived complete (done), a
//!    leftover is there (deleted), or nothing is (sent again) — each restart an attempt of the one
//!    retry policy. Assets already on the draft with the same name, size and `digest` are
//!    skipped, so a re-run uploads nothing twice; a different one is deleted and replaced.
//! 3. **Verify.** The asset list must hold every staged name with its size, state `uploaded` and,
//!    where GitHub reports one, its `sha256:` digest — and nothing else.
//! 4. **Publish** with `PATCH draft=false` (GitHub creates the tag then, at `target_commitish`)
//!    and `make_latest` `"false"` for pre-releases. Published releases are immutable, so this
//!    is the one step that cannot be undone, and it comes last.
//!
//! `prepare` does 1–3, `publish` all of it (skipping what is done), `rollback` deletes our draft
//! — never a published release. A published release with the tag that already holds exactly
//! our assets means there is nothing to do; one with other assets is an error, because it
//! cannot be changed.
//!
//! The token is a [`Secret`] sent through [`Auth::Bearer`], so it appears in no header list, log
//! line or error; messages name the variable it came from instead. Helpers shared with the
//! `gitea` host (token lookup, repository names, error details, query encoding) live here.

use std::collections::BTreeSet;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::json;

use forge_core::exit::{kind_of, usage, with_hint, with_kind, ErrorKind, ResultExt};
use forge_core::http::{
    is_retryable_status, status_text, Auth, Body, HttpClient, Method, Request, Response,
};
use forge_core::secret::Secret;
use forge_core::Shell;

use super::draft::{self, DraftForge, ForgeRelease, RELEASE_ID, STEP_DRAFT, STEP_VERIFIED};
use super::{Host, HostState, Save};
use crate::stage::{Asset, Staged};

/// The API of github.com.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where the token is looked up, in order.
pub const TOKEN_VARS: [&str; 2] = ["GITHUB_TOKEN", "GH_TOKEN"];

/// The REST API version we speak.
const API_VERSION: &str = "2022-11-28";

const USER_AGENT: &str = concat!("cargo-forge-release/", env!("CARGO_PKG_VERSION"));

/// The largest asset GitHub accepts (2 GiB, exclusive).
const MAX_ASSET_SIZE: u64 = 2 << 30;

/// The most assets a GitHub release may have.
const MAX_ASSETS: usize = 1000;

/// Pages of 100 releases looked through for a tag before giving up.
const MAX_RELEASE_PAGES: u32 = 10;

/// A GitHub repository's releases.
pub struct GithubHost {
    /// `owner/name`.
    pub repo: String,
    /// The REST API base, without a trailing slash (`https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server).
    pub api_url: String,
    token: Secret,
    /// Where the token came from, for messages (`GITHUB_TOKEN`), never its value.
    token_source: String,
    http: HttpClient,
}

impl std::fmt::Debug for GithubHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubHost")
            .field("repo", &self.repo)
            .field("api_url", &self.api_url)
            .field("token", &self.token)
            .finish()
    }
}

/// A release as the API describes it (the fields we use).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Release {
    id: u64,
    tag_name: String,
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    upload_url: String,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    assets: Vec<RemoteAsset>,
}

/// A release asset as the API describes it.
#[derive(Clone, Debug, Deserialize)]
struct RemoteAsset {
    id: u64,
    name: String,
    size: u64,
    /// `uploaded`, or `starter` for an upload that did not finish.
    #[serde(default)]
    state: Option<String>,
    /// `sha256:HEX`, on current GitHub; absent on older GitHub Enterprise Server.
    #[serde(default)]
    digest: Option<String>,
}

impl RemoteAsset {
    /// Why this asset is not the staged one, if it is not.
    fn mismatch(&self, staged: &Asset) -> Option<String> {
        if let Some(state) = self.state.as_deref().filter(|s| *s != "uploaded") {
            return Some(format!("`{}` is incomplete (state `{state}`)", self.name));
        }
        if self.size != staged.size {
            return Some(format!(
                "`{}` has {} bytes, the staged file {}",
                self.name, self.size, staged.size
            ));
        }
        if let Some(digest) = &self.digest {
            let ours = format!("sha256:{}", staged.sha256);
            if !digest.eq_ignore_ascii_case(&ours) {
                return Some(format!(
                    "`{}` has digest {digest}, the staged file {ours}",
                    self.name
                ));
            }
        }
        None
    }
}

/// How the remote assets differ from the staged ones: missing, different and unexpected names.
fn differences(remote: &[RemoteAsset], staged: &[Asset]) -> Vec<String> {
    let mut problems = Vec::new();
    for a in staged {
        match remote.iter().find(|r| r.name == a.name) {
            None => problems.push(format!("`{}` is missing", a.name)),
            Some(r) => problems.extend(r.mismatch(a)),
        }
    }
    let names: BTreeSet<&str> = staged.iter().map(|a| a.name.as_str()).collect();
    for r in remote {
        if !names.contains(r.name.as_str()) {
            problems.push(format!("`{}` is not part of the staged release", r.name));
        }
    }
    problems
}

impl GithubHost {
    /// A host for `repo` (`owner/name`) at `api_url` (e.g. [`DEFAULT_API_URL`]) with `token`.
    /// Fails with a usage error for a malformed repository or URL (plain `http://` is only
    /// allowed for loopback and `--insecure-registry` hosts).
    pub fn new(
        repo: impl Into<String>,
        api_url: impl Into<String>,
        token: Secret,
        http: HttpClient,
    ) -> Result<GithubHost> {
        let repo = repo.into();
        check_repo("github", &repo)?;
        let api_url = api_url.into().trim().trim_end_matches('/').to_string();
        http.check_url(&api_url)
            .with_context(|| format!("invalid GitHub API URL for `{repo}`"))?;
        Ok(GithubHost {
            repo,
            api_url,
            token,
            token_source: "the configured token".into(),
            http,
        })
    }

    /// A host for `repo` configured from the environment: the token from `GITHUB_TOKEN`, else
    /// `GH_TOKEN` (neither set is a usage error naming both), the API from `GITHUB_API_URL`
    /// (set by GitHub Actions, also on GitHub Enterprise Server), else [`DEFAULT_API_URL`].
    pub fn from_env(repo: impl Into<String>, http: HttpClient) -> Result<GithubHost> {
        GithubHost::from_vars(repo, http, |name| std::env::var(name).ok())
    }

    /// [`GithubHost::from_env`] with the variables looked up by `var` (for tests).
    pub fn from_vars(
        repo: impl Into<String>,
        http: HttpClient,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<GithubHost> {
        let repo = repo.into();
        let (token, source) = token_from(&var, &TOKEN_VARS).ok_or_else(|| {
            with_hint(
                usage(format!(
                    "no GitHub token to publish to `{repo}`: set GITHUB_TOKEN or GH_TOKEN"
                )),
                format!(
                    "use a token that may write releases of `{repo}` (a fine-grained token with \
                     `Contents: write`); in GitHub Actions pass `GITHUB_TOKEN: ${{{{ \
                     secrets.GITHUB_TOKEN }}}}` and grant `permissions: contents: write`"
                ),
            )
        })?;
        let api_url = var("GITHUB_API_URL")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let mut host = GithubHost::new(repo, api_url, token, http)?;
        host.token_source = format!("the token from {source}");
        Ok(host)
    }

    /// `github.com/owner/name` (or `HOST[:PORT]/owner/name`), for messages.
    fn place(&self) -> String {
        format!("{}/{}", self.site(), self.repo)
    }

    /// `github.com`, or the API's host for GitHub Enterprise Server.
    fn site(&self) -> String {
        if self.api_url == DEFAULT_API_URL {
            "github.com".into()
        } else {
            authority(&self.api_url)
        }
    }

    fn repo_url(&self, rest: &str) -> String {
        format!("{}/repos/{}{rest}", self.api_url, self.repo)
    }

    /// A request with the API's headers and our token.
    fn request(&self, method: Method, url: impl Into<String>) -> Request {
        Request::new(method, url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .header("User-Agent", USER_AGENT)
            .auth(Some(Auth::Bearer(self.token.clone())))
    }

    fn json_request(
        &self,
        method: Method,
        url: impl Into<String>,
        body: &serde_json::Value,
    ) -> Request {
        self.request(method, url)
            .header("Content-Type", "application/json")
            .body(Body::bytes(body.to_string()))
    }

    /// Sends with retries; `what` names the step for a transport error.
    fn send(&self, req: &Request, what: &str, shell: &Shell) -> Result<Response> {
        self.http
            .request(req, shell)
            .with_context(|| format!("failed to {what} on {}", self.place()))
    }

    /// An answer that is not what the step needed, as an error naming repository, host and fix.
    fn unexpected(&self, what: &str, resp: &Response) -> anyhow::Error {
        api_error(
            ApiError {
                service: "GitHub",
                site: &self.site(),
                repo: &self.repo,
                token_source: &self.token_source,
                token_vars: "GITHUB_TOKEN or GH_TOKEN",
                write_permission:
                    "`Contents: write` (in GitHub Actions: `permissions: contents: write`)",
            },
            what,
            resp,
        )
    }

    /// `GET` a JSON document, failing on any status but 200.
    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: String,
        what: &str,
        shell: &Shell,
    ) -> Result<T> {
        let resp = self.send(&self.request(Method::Get, url), what, shell)?;
        if resp.status != 200 {
            return Err(self.unexpected(what, &resp));
        }
        parse(&resp, what, &self.place())
    }

    /// The releases with `tag`, drafts included, newest first.
    fn releases_with_tag(&self, tag: &str, shell: &Shell) -> Result<Vec<Release>> {
        let mut found = Vec::new();
        for page in 1..=MAX_RELEASE_PAGES {
            let list: Vec<Release> = self.get_json(
                self.repo_url(&format!("/releases?per_page=100&page={page}")),
                "list releases",
                shell,
            )?;
            let full = list.len() == 100;
            found.extend(list.into_iter().filter(|r| r.tag_name == tag));
            // Releases come newest first: ours is on the first pages.
            if !full || !found.is_empty() {
                break;
            }
        }
        Ok(found)
    }

    /// A release by id, `None` when it is gone.
    fn release_by_id(&self, id: &str, shell: &Shell) -> Result<Option<Release>> {
        let what = format!("get release {id}");
        let resp = self.send(
            &self.request(Method::Get, self.repo_url(&format!("/releases/{id}"))),
            &what,
            shell,
        )?;
        match resp.status {
            200 => parse(&resp, &what, &self.place()).map(Some),
            404 => Ok(None),
            _ => Err(self.unexpected(&what, &resp)),
        }
    }

    /// Every asset of a release (the embedded list of a release object may be cut short).
    fn list_assets(&self, release_id: u64, shell: &Shell) -> Result<Vec<RemoteAsset>> {
        let mut all = Vec::new();
        for page in 1.. {
            let list: Vec<RemoteAsset> = self.get_json(
                self.repo_url(&format!(
                    "/releases/{release_id}/assets?per_page=100&page={page}"
                )),
                "list release assets",
                shell,
            )?;
            let full = list.len() == 100;
            all.extend(list);
            if !full || page * 100 >= MAX_ASSETS {
                break;
            }
        }
        Ok(all)
    }

    fn delete_asset(&self, asset: &RemoteAsset, shell: &Shell) -> Result<()> {
        let what = format!("delete asset `{}`", asset.name);
        let resp = self.send(
            &self.request(
                Method::Delete,
                self.repo_url(&format!("/releases/assets/{}", asset.id)),
            ),
            &what,
            shell,
        )?;
        match resp.status {
            204 | 404 => Ok(()),
            _ => Err(self.unexpected(&what, &resp)),
        }
    }

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
                    return Err(
                        if resp.status == 422
                            && api_codes(&resp).iter().any(|c| c == "already_exists")
                        {
                            with_hint(
                            err,
                            format!(
                                "a published release {} exists already; published releases cannot be changed, so release a new version",
                                release.tag
                            ),
                        )
                        } else {
                            err
                        },
                    );
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
                    if max == 1 { "" } else { "s" }
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
        .hint(format!(
            "published GitHub releases are immutable: release a new version, or delete release {} on {} if it must not exist",
            release.tag,
            self.place()
        ))
    }

    /// Uploads what the draft does not hold yet, replacing assets that differ and removing
    /// assets that are not part of the release.
    fn upload_all(
        &self,
        rel: &Release,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
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
            self.delete_asset(stale, shell)?;
        }
        for a in &release.assets {
            let step = format!("upload:{}", a.name);
            if let Some(r) = remote.iter().find(|r| r.name == a.name) {
                match r.mismatch(a) {
                    None => {
                        shell.verbose_status(
                            "Skipping",
                            format!("`{}` (already on the draft)", a.name),
                        );
                        if state.done.insert(step) {
                            save(state)?;
                        }
                        continue;
                    }
                    Some(why) => {
                        shell.status(
                            "Replacing",
                            format!("{why} on draft release {}", release.tag),
                        );
                        self.delete_asset(r, shell)?;
                    }
                }
            }
            self.upload(rel, a, release, shell)?;
            state.done.insert(step);
            save(state)?;
        }
        Ok(())
    }

    /// Uploads one asset: each attempt sent once, and after a failure the asset list decides
    /// whether it arrived, must be cleaned up, or is sent again.
    fn upload(&self, rel: &Release, asset: &Asset, release: &Staged, shell: &Shell) -> Result<()> {
        let base = rel.upload_url.split('{').next().unwrap_or_default();
        if base.is_empty() {
            return Err(anyhow!(
                "release {} on {} has no `upload_url`",
                release.tag,
                self.place()
            ))
            .kind(ErrorKind::Network);
        }
        let url = format!("{base}?name={}", query_encode(&asset.name));
        let bar = shell.progress_bar(asset.size, asset.name.clone(), true);
        let req = self
            .request(Method::Post, url)
            .header("Content-Type", asset.content_type())
            .body(Body::file(&asset.path)?)
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
                    break self.check_stored(&stored, asset);
                }
                Ok(resp)
                    if resp.status == 422
                        && api_codes(&resp).iter().any(|c| c == "already_exists") =>
                {
                    format!("`{}` already exists", asset.name)
                }
                Ok(resp) if is_retryable_status(resp.status) => status_detail(&resp),
                Ok(resp) => break Err(self.unexpected(&what, &resp)),
                Err(e) if kind_of(&e) == Some(ErrorKind::Network) => format!("{e:#}"),
                Err(e) => break Err(e),
            };
            // What did the failed attempt leave? The complete asset (a lost answer, a parallel
            // run), a `starter` leftover, or nothing.
            let remote = self.list_assets(rel.id, shell)?;
            if let Some(r) = remote.iter().find(|r| r.name == asset.name) {
                match r.mismatch(asset) {
                    None => break Ok(()),
                    Some(leftover) => {
                        shell.verbose_status(
                            "Removing",
                            format!("{leftover} before uploading it again"),
                        );
                        self.delete_asset(r, shell)?;
                    }
                }
            }
            if attempt >= max {
                break Err(anyhow!(
                    "failed to {what} on {} after {max} attempt{}: {why}",
                    self.place(),
                    if max == 1 { "" } else { "s" }
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
        result?;
        shell.status(
            "Uploaded",
            format!("{} to draft release {}", asset.name, release.tag),
        );
        Ok(())
    }

    /// Checks what GitHub says it stored: the same name (GitHub renames some characters) and size.
    fn check_stored(&self, stored: &RemoteAsset, asset: &Asset) -> Result<()> {
        if stored.name != asset.name {
            return Err(anyhow!(
                "{} stored `{}` as `{}`: GitHub renames characters it does not accept",
                self.place(),
                asset.name,
                stored.name
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

    /// The tags of the published stable releases the repository holds (first pages, newest
    /// first).
    fn published_tags(&self, shell: &Shell) -> Result<Vec<String>> {
        let mut tags = Vec::new();
        for page in 1..=MAX_RELEASE_PAGES {
            let list: Vec<Release> = self.get_json(
                self.repo_url(&format!("/releases?per_page=100&page={page}")),
                "list releases",
                shell,
            )?;
            let full = list.len() == 100;
            tags.extend(
                list.into_iter()
                    .filter(|r| !r.draft && !r.prerelease)
                    .map(|r| r.tag_name),
            );
            if !full {
                break;
            }
        }
        Ok(tags)
    }

    /// `PATCH draft=false`: the release and its tag become visible. It becomes the
    /// repository's latest release only when no published release of its line has a higher
    /// version (`make_latest: "false"` for a backport such as 1.2.4 after 1.3.0, and for
    /// pre-releases).
    fn undraft(&self, rel: &Release, release: &Staged, shell: &Shell) -> Result<Release> {
        let latest = !release.prerelease && {
            let held = self.published_tags(shell)?;
            let latest = release.is_latest_among(held.iter().map(String::as_str));
            if !latest {
                shell.note(format!(
                    "{} is not marked latest on {}: it holds a release newer than {}",
                    release.tag,
                    self.place(),
                    release.version
                ));
            }
            latest
        };
        let mut body = json!({
            "draft": false,
            "prerelease": release.prerelease,
            "make_latest": if latest { "true" } else { "false" },
        });
        if let Some(commit) = &release.commit {
            body["target_commitish"] = json!(commit);
        }
        let what = format!("publish release {}", release.tag);
        let resp = self.send(
            &self.json_request(
                Method::Patch,
                self.repo_url(&format!("/releases/{}", rel.id)),
                &body,
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

    /// Local checks GitHub would fail later: asset count, sizes, names it would rename.
    fn check_assets(&self, release: &Staged) -> Result<()> {
        let mut problems = Vec::new();
        if release.assets.len() > MAX_ASSETS {
            problems.push(format!(
                "{} assets (GitHub allows {MAX_ASSETS} per release)",
                release.assets.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for a in &release.assets {
            if !seen.insert(a.name.as_str()) {
                problems.push(format!("`{}` is staged twice", a.name));
            }
            if a.size >= MAX_ASSET_SIZE {
                problems.push(format!(
                    "`{}` is {} (GitHub allows less than 2 GiB per asset)",
                    a.name,
                    human_size(a.size)
                ));
            }
            let renamed = a.name.starts_with('.')
                || a.name.ends_with('.')
                || !a
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
            if renamed {
                problems.push(format!("`{}` has characters GitHub would rename", a.name));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(usage(format!(
            "release {} cannot be published to {}: {}",
            release.tag,
            self.place(),
            problems.join("; ")
        )))
        .hint("name release files with letters, digits, `.`, `_`, `-` and `+` only, each smaller than 2 GiB")
    }
}

/// Drops what belongs to a draft that is gone.
fn forget_draft(state: &mut HostState) {
    state.data.remove(RELEASE_ID);
    state
        .done
        .retain(|s| !(s.starts_with("upload:") || s == STEP_DRAFT || s == STEP_VERIFIED));
}

impl ForgeRelease for Release {
    fn id(&self) -> u64 {
        self.id
    }
    fn is_draft(&self) -> bool {
        self.draft
    }
    fn tag(&self) -> &str {
        &self.tag_name
    }
    fn is_prerelease(&self) -> bool {
        self.prerelease
    }
    fn page(&self) -> &str {
        &self.html_url
    }
    fn differences(&self, staged: &[Asset]) -> Vec<String> {
        differences(&self.assets, staged)
    }
}

impl DraftForge for GithubHost {
    type Release = Release;

    fn place(&self) -> String {
        GithubHost::place(self)
    }
    fn site(&self) -> String {
        GithubHost::site(self)
    }
    fn repo(&self) -> &str {
        &self.repo
    }
    fn token_source(&self) -> &str {
        &self.token_source
    }
    fn write_scope_hint(&self) -> String {
        format!(
            "use a token that may write releases of `{}` (`Contents: write`; in GitHub Actions: `permissions: contents: write`)",
            self.repo
        )
    }
    fn may_push(&self, shell: &Shell) -> Result<Option<bool>> {
        let repo: draft::RepoPermissions =
            self.get_json(self.repo_url(""), "read the repository", shell)?;
        Ok(repo.may_push())
    }
    fn releases_with_tag(&self, tag: &str, shell: &Shell) -> Result<Vec<Release>> {
        GithubHost::releases_with_tag(self, tag, shell)
    }
    fn release_by_id(&self, id: &str, shell: &Shell) -> Result<Option<Release>> {
        GithubHost::release_by_id(self, id, shell)
    }
    fn check_published(&self, published: &Release, release: &Staged, shell: &Shell) -> Result<()> {
        GithubHost::check_published(self, published, release, shell)
    }
    fn create_draft(&self, release: &Staged, shell: &Shell) -> Result<Release> {
        GithubHost::create_draft(self, release, shell)
    }
    fn upload_all(
        &self,
        draft: &Release,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        GithubHost::upload_all(self, draft, release, state, save, shell)
    }
    fn asset_differences(
        &self,
        rel: &Release,
        release: &Staged,
        shell: &Shell,
    ) -> Result<Vec<String>> {
        Ok(differences(
            &self.list_assets(rel.id, shell)?,
            &release.assets,
        ))
    }
    fn forget_draft(&self, state: &mut HostState) {
        forget_draft(state)
    }
    fn undraft(&self, draft: &Release, release: &Staged, shell: &Shell) -> Result<Release> {
        GithubHost::undraft(self, draft, release, shell)
    }
}

impl Host for GithubHost {
    fn id(&self) -> String {
        if self.api_url == DEFAULT_API_URL {
            format!("github:{}", self.repo)
        } else {
            format!("github:{}/{}", authority(&self.api_url), self.repo)
        }
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        vec![
            format!("create draft release {} on {}", release.tag, self.place()),
            format!(
                "upload {} assets to it and verify names, sizes and digests",
                release.assets.len()
            ),
            if release.prerelease {
                format!(
                    "publish it as a pre-release (tag {} created by GitHub)",
                    release.tag
                )
            } else {
                format!(
                    "publish it and mark it latest unless a published release is newer (tag {} created by GitHub)",
                    release.tag
                )
            },
        ]
    }

    fn preflight(&self, release: &Staged, state: &HostState, shell: &Shell) -> Result<()> {
        self.check_assets(release)?;
        draft::preflight(self, release, state, shell)
    }

    fn prepare(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        draft::prepare(self, release, state, save, shell)
    }

    fn publish(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        draft::publish(self, release, state, save, shell)
    }

    fn release_url(&self, _release: &Staged, state: &HostState) -> Option<String> {
        draft::release_url(state)
    }

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

// ---- shared with the gitea host ----------------------------------------------------------------

/// The first of `vars` that is set and not empty, as a secret, with the variable's name.
pub(crate) fn token_from(
    var: &impl Fn(&str) -> Option<String>,
    vars: &[&str],
) -> Option<(Secret, String)> {
    vars.iter().find_map(|name| {
        var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (Secret::new(v), name.to_string()))
    })
}

/// `owner/name` with characters both hosts allow.
pub(crate) fn check_repo(kind: &str, repo: &str) -> Result<()> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if ok_part(owner) && ok_part(name) && name != "." && name != ".." => {
            Ok(())
        }
        _ => Err(usage(format!(
            "invalid repository `{repo}` of the `{kind}` host: expected `owner/name`"
        )))
        .hint(format!(
            "write it like `hosts = [{{ kind = \"{kind}\", repo = \"acme/app\" }}]`"
        )),
    }
}

/// `host[:port]` of a URL.
pub(crate) fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    rest.rsplit('@').next().unwrap_or(rest).to_string()
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
pub(crate) fn query_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `1.4 MiB`.
pub(crate) fn human_size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Parses a JSON answer.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    resp: &Response,
    what: &str,
    place: &str,
) -> Result<T> {
    serde_json::from_slice(&resp.body)
        .with_context(|| {
            format!(
                "failed to {what} on {place}: the answer ({}) is not the JSON expected",
                status_text(resp.status)
            )
        })
        .kind(ErrorKind::Network)
}

/// `422 Unprocessable Entity: Validation Failed (already_exists)` — status and the API's own words.
pub(crate) fn status_detail(resp: &Response) -> String {
    let mut detail = status_text(resp.status);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(|m| m.as_str());
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        detail.push_str(": ");
        detail.push_str(&m.chars().take(300).collect::<String>());
    }
    let codes = api_codes(resp);
    if !codes.is_empty() {
        detail.push_str(&format!(" ({})", codes.join(", ")));
    }
    detail
}

/// The `errors[].code` values of an API error.
pub(crate) fn api_codes(resp: &Response) -> Vec<String> {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What [`api_error`] says about the host.
pub(crate) struct ApiError<'a> {
    pub service: &'a str,
    pub site: &'a str,
    pub repo: &'a str,
    pub token_source: &'a str,
    pub token_vars: &'a str,
    pub write_permission: &'a str,
}

/// An unexpected answer as an error naming the step, repository and host, with what to do.
pub(crate) fn api_error(host: ApiError<'_>, what: &str, resp: &Response) -> anyhow::Error {
    let ApiError {
        service,
        site,
        repo,
        token_source,
        token_vars,
        write_permission,
    } = host;
    let detail = status_detail(resp);
    let rate_limited = resp.status == 429
        || (resp.status == 403
            && (resp.header("x-ratelimit-remaining") == Some("0")
                || detail.to_ascii_lowercase().contains("rate limit")));
    let (message, hint) = if rate_limited {
        let when = resp
            .retry_after()
            .map(|d| format!(" (it asks to wait {} s)", d.as_secs()))
            .unwrap_or_default();
        (
            format!("failed to {what} on {site}/{repo}: {site} is rate limiting requests{when}: {detail}"),
            "wait and re-run the same command: finished steps are kept in the state file".to_string(),
        )
    } else {
        match resp.status {
            401 => (
                format!("failed to {what} on {site}/{repo}: {site} rejected {token_source} ({detail})"),
                format!("the token may be expired, revoked or for another {service} instance: set {token_vars} to a valid token"),
            ),
            403 => (
                format!("failed to {what} on {site}/{repo}: {token_source} is not allowed to ({detail})"),
                format!("use a token that may write releases of `{repo}`: {write_permission}"),
            ),
            404 => (
                format!("failed to {what} on {site}/{repo}: not found ({detail})"),
                format!(
                    "check `repo = \"{repo}\"` in the `hosts` configuration, and that {token_source} can see the repository (a private repository looks missing to a token without access)"
                ),
            ),
            _ => (
                format!("failed to {what} on {site}/{repo}: {service} answered {detail}"),
                "re-run the same command to resume; finished steps are kept in the state file".to_string(),
            ),
        }
    };
    with_hint(
        with_kind(anyhow::Error::msg(message), ErrorKind::Network),
        hint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(name: &str, size: u64, sha: &str) -> Asset {
        Asset {
            name: name.into(),
            path: name.into(),
            size,
            sha256: sha.into(),
            kind: crate::stage::AssetKind::Archive,
            target: None,
        }
    }

    fn remote(name: &str, size: u64, state: &str, digest: Option<&str>) -> RemoteAsset {
        RemoteAsset {
            id: 1,
            name: name.into(),
            size,
            state: Some(state.into()),
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn assets_compare_by_state_size_and_digest() {
        let a = asset("app.tar.gz", 10, "ab");
        assert_eq!(
            remote("app.tar.gz", 10, "uploaded", Some("sha256:AB")).mismatch(&a),
            None
        );
        assert_eq!(
            remote("app.tar.gz", 10, "uploaded", None).mismatch(&a),
            None
        );
        assert!(remote("app.tar.gz", 0, "starter", None)
            .mismatch(&a)
            .unwrap()
            .contains("starter"));
        assert!(remote("app.tar.gz", 11, "uploaded", None)
            .mismatch(&a)
            .unwrap()
            .contains("11 bytes"));
        assert!(remote("app.tar.gz", 10, "uploaded", Some("sha256:cd"))
            .mismatch(&a)
            .unwrap()
            .contains("sha256:cd"));
        let d = differences(&[remote("x", 1, "uploaded", None)], &[a]);
        assert_eq!(
            d,
            [
                "`app.tar.gz` is missing",
                "`x` is not part of the staged release"
            ]
        );
    }

    #[test]
    fn token_comes_from_github_token_then_gh_token() {
        let http = HttpClient::new(Default::default(), vec![]);
        let host = GithubHost::from_vars("o/r", http.clone(), |k| match k {
            "GITHUB_TOKEN" => Some(String::new()),
            "GH_TOKEN" => Some("gh-token-value-1".into()),
            "GITHUB_API_URL" => Some("https://ghe.example/api/v3/".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(host.token.expose(), "gh-token-value-1");
        assert_eq!(host.token_source, "the token from GH_TOKEN");
        assert_eq!(host.api_url, "https://ghe.example/api/v3");
        assert_eq!(host.id(), "github:ghe.example/o/r");
        assert!(!format!("{host:?}").contains("gh-token-value-1"));
        let host = GithubHost::from_vars("o/r", http.clone(), |k| {
            (k == "GITHUB_TOKEN").then(|| "t-1234".into())
        })
        .unwrap();
        assert_eq!(
            (host.api_url.as_str(), host.id().as_str()),
            (DEFAULT_API_URL, "github:o/r")
        );

        let err = GithubHost::from_vars("o/r", http.clone(), |_| None).unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 2);
        let msg = err.to_string();
        assert!(
            msg.contains("GITHUB_TOKEN") && msg.contains("GH_TOKEN") && msg.contains("`o/r`"),
            "{msg}"
        );
    }

    #[test]
    fn bad_repo_and_plain_http_are_usage_errors() {
        let http = HttpClient::new(Default::default(), vec![]);
        for bad in ["o", "o/", "/r", "o/r/x", "o r/x", "o/.."] {
            let err = GithubHost::new(bad, DEFAULT_API_URL, Secret::new("tok-5678"), http.clone())
                .unwrap_err();
            assert_eq!(forge_core::exit::code_of(&err), 2, "{bad}");
        }
        let err = GithubHost::new(
            "o/r",
            "http://ghe.example/api/v3",
            Secret::new("tok-5678"),
            http.clone(),
        )
        .unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 2);
        assert!(
            GithubHost::new("o/r", "http://127.0.0.1:9/", Secret::new("tok-5678"), http).is_ok()
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(query_encode("app 1+2.tar.gz"), "app%201%2B2.tar.gz");
        assert_eq!(
            authority("https://user@ghe.example:8443/api/v3"),
            "ghe.example:8443"
        );
        assert_eq!(human_size(3 << 20), "3.0 MiB");
        let resp = Response {
            status: 422,
            headers: vec![],
            body: br#"{"message":"Validation Failed","errors":[{"code":"already_exists"}]}"#
                .to_vec(),
            attempts: 1,
        };
        assert_eq!(
            status_detail(&resp),
            "422 Unprocessable Entity: Validation Failed (already_exists)"
        );
    }
}
