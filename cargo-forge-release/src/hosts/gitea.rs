//! The `gitea` host: releases on Gitea and Forgejo (Codeberg) over `/api/v1`.
//!
//! Same shape as the `github` host — draft, assets, verify, `PATCH draft=false` — with what
//! Gitea does differently (its `/api/v1` documentation of releases and attachments):
//!
//! - **Uploads** are `POST /repos/O/R/releases/ID/assets?name=NAME` with a `multipart/form-data`
//!   body whose field `attachment` holds the file: every Gitea and Forgejo version accepts that
//!   (a raw body only recent ones). The multipart body is written to a temporary file around the
//!   asset, so it is streamed and can be sent again like any file body.
//! - **No duplicate-name check**: a second upload of a name adds a second attachment. So each
//!   upload is sent once ([`HttpClient::request_once`]); after a failure every attachment of that
//!   name is deleted before it is sent again, because a lost answer may hide a stored one.
//! - **No digests, no upload state**: an attachment is only known to be ours and complete when
//!   *we* saw its upload answered — its id is recorded in the [`HostState`] (`asset:NAME`) and
//!   its size matches. An attachment of a staged name that we did not record is replaced.
//!   A published release counts as identical when names and sizes match (all Gitea tells).
//! - **No "latest" flag**; the tag is created by Gitea when the draft is published.
//!
//! The token (`GITEA_TOKEN`, else `FORGEJO_TOKEN`) is sent as `Authorization: Bearer …` through
//! [`Auth::Bearer`], which keeps it a [`Secret`] out of header lists and logs: Gitea and Forgejo
//! accept the `bearer` scheme for access tokens exactly like their own `token` scheme.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::json;

use forge_core::exit::{kind_of, usage, with_hint, ErrorKind, ResultExt};
use forge_core::http::{is_retryable_status, Auth, Body, HttpClient, Method, Request, Response};
use forge_core::secret::Secret;
use forge_core::Shell;

use super::draft::{self, DraftForge, ForgeRelease, RELEASE_ID, STEP_DRAFT, STEP_VERIFIED};
use super::github::{
    api_error, authority, check_repo, human_size, parse, query_encode, status_detail, token_from,
    ApiError,
};
use super::{Host, HostState, Save};
use crate::stage::{Asset, Staged};

/// Where the token is looked up, in order.
pub const TOKEN_VARS: [&str; 2] = ["GITEA_TOKEN", "FORGEJO_TOKEN"];

const USER_AGENT: &str = concat!("cargo-forge-release/", env!("CARGO_PKG_VERSION"));

/// Releases per page (Gitea's default maximum is 50).
const PAGE: usize = 50;
const MAX_RELEASE_PAGES: usize = 20;

/// A Gitea or Forgejo repository's releases.
pub struct GiteaHost {
    /// The instance, e.g. `https://codeberg.org` (no trailing slash).
    pub url: String,
    /// `owner/name`.
    pub repo: String,
    token: Secret,
    token_source: String,
    http: HttpClient,
}

impl std::fmt::Debug for GiteaHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GiteaHost")
            .field("url", &self.url)
            .field("repo", &self.repo)
            .field("token", &self.token)
            .finish()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Release {
    id: u64,
    tag_name: String,
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    assets: Vec<Attachment>,
}

#[derive(Clone, Debug, Deserialize)]
struct Attachment {
    id: u64,
    name: String,
    size: u64,
}

/// How the attachments differ from the staged assets (names, sizes, duplicates, extras).
fn differences(remote: &[Attachment], staged: &[Asset]) -> Vec<String> {
    let mut problems = Vec::new();
    for a in staged {
        let same: Vec<&Attachment> = remote.iter().filter(|r| r.name == a.name).collect();
        match same.as_slice() {
            [] => problems.push(format!("`{}` is missing", a.name)),
            [r] if r.size != a.size => problems.push(format!(
                "`{}` has {} bytes, the staged file {}",
                a.name, r.size, a.size
            )),
            [_] => {}
            more => problems.push(format!("`{}` is attached {} times", a.name, more.len())),
        }
    }
    let names: BTreeSet<&str> = staged.iter().map(|a| a.name.as_str()).collect();
    for r in remote.iter().filter(|r| !names.contains(r.name.as_str())) {
        problems.push(format!("`{}` is not part of the staged release", r.name));
    }
    problems
}

fn asset_key(name: &str) -> String {
    format!("asset:{name}")
}

impl GiteaHost {
    /// A host for `repo` (`owner/name`) on the instance at `url` with `token`.
    pub fn new(
        url: impl Into<String>,
        repo: impl Into<String>,
        token: Secret,
        http: HttpClient,
    ) -> Result<GiteaHost> {
        let repo = repo.into();
        check_repo("gitea", &repo)?;
        let url = url.into().trim().trim_end_matches('/').to_string();
        let url = url.strip_suffix("/api/v1").unwrap_or(&url).to_string();
        http.check_url(&url)
            .with_context(|| format!("invalid `url` of the gitea host for `{repo}`"))?;
        Ok(GiteaHost {
            url,
            repo,
            token,
            token_source: "the configured token".into(),
            http,
        })
    }

    /// A host with the token from `GITEA_TOKEN`, else `FORGEJO_TOKEN` (neither set is a usage
    /// error naming both).
    pub fn from_env(
        url: impl Into<String>,
        repo: impl Into<String>,
        http: HttpClient,
    ) -> Result<GiteaHost> {
        GiteaHost::from_vars(url, repo, http, |name| std::env::var(name).ok())
    }

    /// [`GiteaHost::from_env`] with the variables looked up by `var` (for tests).
    pub fn from_vars(
        url: impl Into<String>,
        repo: impl Into<String>,
        http: HttpClient,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<GiteaHost> {
        let url = url.into();
        let repo = repo.into();
        let (token, source) = token_from(&var, &TOKEN_VARS).ok_or_else(|| {
            with_hint(
                usage(format!(
                    "no Gitea token to publish to `{repo}` on {}: set GITEA_TOKEN or FORGEJO_TOKEN",
                    authority(&url)
                )),
                format!(
                    "create an access token with the `write:repository` scope under Settings → Applications on {}",
                    authority(&url)
                ),
            )
        })?;
        let mut host = GiteaHost::new(url, repo, token, http)?;
        host.token_source = format!("the token from {source}");
        Ok(host)
    }

    fn site(&self) -> String {
        authority(&self.url)
    }

    fn place(&self) -> String {
        format!("{}/{}", self.site(), self.repo)
    }

    fn repo_url(&self, rest: &str) -> String {
        format!("{}/api/v1/repos/{}{rest}", self.url, self.repo)
    }

    fn request(&self, method: Method, url: impl Into<String>) -> Request {
        Request::new(method, url)
            .header("Accept", "application/json")
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

    fn send(&self, req: &Request, what: &str, shell: &Shell) -> Result<Response> {
        self.http
            .request(req, shell)
            .with_context(|| format!("failed to {what} on {}", self.place()))
    }

    fn unexpected(&self, what: &str, resp: &Response) -> anyhow::Error {
        api_error(
            ApiError {
                service: "Gitea",
                site: &self.site(),
                repo: &self.repo,
                token_source: &self.token_source,
                token_vars: "GITEA_TOKEN or FORGEJO_TOKEN",
                write_permission: "an access token with the `write:repository` scope, of a user who may write the repository",
            },
            what,
            resp,
        )
    }

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

    fn releases_with_tag(&self, tag: &str, shell: &Shell) -> Result<Vec<Release>> {
        let mut found = Vec::new();
        for page in 1..=MAX_RELEASE_PAGES {
            let list: Vec<Release> = self.get_json(
                self.repo_url(&format!("/releases?page={page}&limit={PAGE}")),
                "list releases",
                shell,
            )?;
            let full = list.len() == PAGE;
            found.extend(list.into_iter().filter(|r| r.tag_name == tag));
            if !full || !found.is_empty() {
                break;
            }
        }
        Ok(found)
    }

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

    fn list_assets(&self, release_id: u64, shell: &Shell) -> Result<Vec<Attachment>> {
        self.get_json(
            self.repo_url(&format!("/releases/{release_id}/assets")),
            "list release attachments",
            shell,
        )
    }

    fn delete_asset(&self, release_id: u64, a: &Attachment, shell: &Shell) -> Result<()> {
        let what = format!("delete attachment `{}`", a.name);
        let resp = self.send(
            &self.request(
                Method::Delete,
                self.repo_url(&format!("/releases/{release_id}/assets/{}", a.id)),
            ),
            &what,
            shell,
        )?;
        match resp.status {
            204 | 404 => Ok(()),
            _ => Err(self.unexpected(&what, &resp)),
        }
    }

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
                Ok(resp) if resp.status == 409 => {
                    return Err(self.unexpected(&what, &resp)).hint(format!(
                        "a release {} exists already; release a new version or delete it on {}",
                        release.tag,
                        self.site()
                    ))
                }
                Ok(resp) => return Err(self.unexpected(&what, &resp)),
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
                    "failed to {what} on {} after {max} attempts: {why}",
                    self.place()
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

    fn check_published(&self, published: &Release, release: &Staged, shell: &Shell) -> Result<()> {
        let problems = differences(&self.list_assets(published.id, shell)?, &release.assets);
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
            "release a new version, or delete release {} on {} if it must not exist",
            release.tag,
            self.site()
        ))
    }

    /// `PATCH draft=false`: the release and its tag become visible.
    /// The tags of the published stable releases the repository holds (first pages).
    fn published_tags(&self, shell: &Shell) -> Result<Vec<String>> {
        let mut tags = Vec::new();
        for page in 1..=MAX_RELEASE_PAGES {
            let list: Vec<Release> = self.get_json(
                self.repo_url(&format!("/releases?page={page}&limit={PAGE}")),
                "list releases",
                shell,
            )?;
            let full = list.len() == PAGE;
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

    fn undraft(&self, rel: &Release, release: &Staged, shell: &Shell) -> Result<Release> {
        // Gitea and Forgejo have no "latest" flag: their latest release is the stable release
        // created last. A backport cannot be kept from showing as latest there; say so.
        if !release.prerelease {
            let held = self.published_tags(shell)?;
            if !release.is_latest_among(held.iter().map(String::as_str)) {
                shell.warn(format!(
                    "{} on {} is older than a release it holds, but Gitea and Forgejo show the release created last as the latest (they have no \"latest\" flag): `/releases/latest` will name {} until the next release",
                    release.tag,
                    self.place(),
                    release.tag
                ));
            }
        }
        let what = format!("publish release {}", release.tag);
        let resp = self.send(
            &self.json_request(
                Method::Patch,
                self.repo_url(&format!("/releases/{}", rel.id)),
                &json!({ "draft": false, "prerelease": release.prerelease }),
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

    fn upload_all(
        &self,
        rel: &Release,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        let remote = self.list_assets(rel.id, shell)?;
        for a in &release.assets {
            let recorded = state
                .data
                .get(&asset_key(&a.name))
                .and_then(|id| id.parse::<u64>().ok());
            let same: Vec<&Attachment> = remote.iter().filter(|r| r.name == a.name).collect();
            let ours = |r: &Attachment| Some(r.id) == recorded && r.size == a.size;
            if let [r] = same.as_slice() {
                if ours(r) {
                    shell
                        .verbose_status("Skipping", format!("`{}` (already on the draft)", a.name));
                    continue;
                }
            }
            // Not provably ours and complete: replace whatever carries the name.
            for r in same {
                shell.verbose_status(
                    "Removing",
                    format!(
                        "attachment `{}` ({} bytes) before uploading it",
                        r.name, r.size
                    ),
                );
                self.delete_asset(rel.id, r, shell)?;
            }
            let id = self.upload(rel, a, release, shell)?;
            state.data.insert(asset_key(&a.name), id.to_string());
            state.done.insert(format!("upload:{}", a.name));
            save(state)?;
        }
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
        Ok(())
    }

    /// Uploads one asset and returns the attachment id; after a failed attempt every attachment
    /// of the name is deleted before the next.
    fn upload(&self, rel: &Release, asset: &Asset, release: &Staged, shell: &Shell) -> Result<u64> {
        let (multipart, content_type) = multipart_file(asset)?;
        let bar = shell.progress_bar(asset.size, asset.name.clone(), true);
        let req = self
            .request(
                Method::Post,
                self.repo_url(&format!(
                    "/releases/{}/assets?name={}",
                    rel.id,
                    query_encode(&asset.name)
                )),
            )
            .header("Content-Type", content_type)
            .body(Body::file(multipart.path())?)
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
                    let stored: Attachment = parse(&resp, &what, &self.place())?;
                    if stored.name != asset.name || stored.size != asset.size {
                        break Err(anyhow!(
                            "{} stored `{}` ({} bytes) for `{}` ({} bytes)",
                            self.place(),
                            stored.name,
                            stored.size,
                            asset.name,
                            asset.size
                        ))
                        .kind(ErrorKind::Check);
                    }
                    break Ok(stored.id);
                }
                Ok(resp) if is_retryable_status(resp.status) => status_detail(&resp),
                Ok(resp) if resp.status == 400 => {
                    break Err(self.unexpected(&what, &resp)).hint(format!(
                        "the server may not allow this file type: its `[repository.release] ALLOWED_TYPES` setting must admit `{}`",
                        asset.name
                    ))
                }
                Ok(resp) => break Err(self.unexpected(&what, &resp)),
                Err(e) if kind_of(&e) == Some(ErrorKind::Network) => format!("{e:#}"),
                Err(e) => break Err(e),
            };
            // A lost answer may hide a stored attachment, and Gitea would keep both.
            for r in self
                .list_assets(rel.id, shell)?
                .iter()
                .filter(|r| r.name == asset.name)
            {
                shell.verbose_status(
                    "Removing",
                    format!("attachment `{}` left by the failed attempt", r.name),
                );
                self.delete_asset(rel.id, r, shell)?;
            }
            if attempt >= max {
                break Err(anyhow!("failed to {what} on {} after {max} attempts: {why}", self.place()))
                    .kind(ErrorKind::Network)
                    .hint("nothing was published; re-run the same command to resume the draft (uploaded assets are kept), or `--retries N` for more attempts");
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
}

fn forget_draft(state: &mut HostState) {
    state
        .data
        .retain(|k, _| k != RELEASE_ID && !k.starts_with("asset:"));
    state
        .done
        .retain(|s| !(s.starts_with("upload:") || s == STEP_DRAFT || s == STEP_VERIFIED));
}

/// The multipart boundary of an asset: derived from its digest, so it cannot occur in it.
fn boundary(asset: &Asset) -> String {
    format!("forge-{}", &asset.sha256[..asset.sha256.len().min(40)])
}

/// The head and tail around the file bytes of a `multipart/form-data` body with one field,
/// `attachment`.
fn multipart_parts(asset: &Asset) -> (String, String, String) {
    let boundary = boundary(asset);
    // Quotes and line breaks in a filename are percent-encoded, as browsers do.
    let filename = asset
        .name
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"{filename}\"\r\nContent-Type: {}\r\n\r\n",
        asset.content_type()
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    (
        head,
        tail,
        format!("multipart/form-data; boundary={boundary}"),
    )
}

/// Writes the multipart body into a temporary file (removed on drop) and returns it with its
/// `Content-Type`.
fn multipart_file(asset: &Asset) -> Result<(tempfile::NamedTempFile, String)> {
    let (head, tail, content_type) = multipart_parts(asset);
    let mut file = tempfile::Builder::new()
        .prefix(".forge-upload-")
        .tempfile()
        .context("failed to create a temporary file for a multipart upload")?;
    let mut source = std::fs::File::open(&asset.path)
        .with_context(|| format!("failed to open `{}`", asset.path.display()))?;
    let written = (|| -> std::io::Result<()> {
        file.write_all(head.as_bytes())?;
        std::io::copy(&mut source, &mut file)?;
        file.write_all(tail.as_bytes())?;
        file.flush()
    })();
    written.with_context(|| {
        format!(
            "failed to write the multipart body of `{}`",
            asset.path.display()
        )
    })?;
    Ok((file, content_type))
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

impl DraftForge for GiteaHost {
    type Release = Release;

    fn place(&self) -> String {
        GiteaHost::place(self)
    }
    fn site(&self) -> String {
        GiteaHost::site(self)
    }
    fn repo(&self) -> &str {
        &self.repo
    }
    fn token_source(&self) -> &str {
        &self.token_source
    }
    fn write_scope_hint(&self) -> String {
        format!(
            "use a token with the `write:repository` scope of a user who may write `{}`",
            self.repo
        )
    }
    fn may_push(&self, shell: &Shell) -> Result<Option<bool>> {
        let repo: draft::RepoPermissions =
            self.get_json(self.repo_url(""), "read the repository", shell)?;
        Ok(repo.may_push())
    }
    fn releases_with_tag(&self, tag: &str, shell: &Shell) -> Result<Vec<Release>> {
        GiteaHost::releases_with_tag(self, tag, shell)
    }
    fn release_by_id(&self, id: &str, shell: &Shell) -> Result<Option<Release>> {
        GiteaHost::release_by_id(self, id, shell)
    }
    fn check_published(&self, published: &Release, release: &Staged, shell: &Shell) -> Result<()> {
        GiteaHost::check_published(self, published, release, shell)
    }
    fn create_draft(&self, release: &Staged, shell: &Shell) -> Result<Release> {
        GiteaHost::create_draft(self, release, shell)
    }
    fn upload_all(
        &self,
        draft: &Release,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        GiteaHost::upload_all(self, draft, release, state, save, shell)
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
        GiteaHost::undraft(self, draft, release, shell)
    }
}

impl Host for GiteaHost {
    fn id(&self) -> String {
        format!("gitea:{}/{}", self.site(), self.repo)
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        vec![
            format!("create draft release {} on {}", release.tag, self.place()),
            format!(
                "upload {} attachments to it and verify names and sizes",
                release.assets.len()
            ),
            format!(
                "publish it{} (tag {} created by the server){}",
                if release.prerelease {
                    " as a pre-release"
                } else {
                    ""
                },
                release.tag,
                if release.prerelease {
                    ""
                } else {
                    "; Gitea shows the release created last as its latest (it has no latest flag)"
                }
            ),
        ]
    }

    fn preflight(&self, release: &Staged, state: &HostState, shell: &Shell) -> Result<()> {
        let mut seen = BTreeSet::new();
        if let Some(dup) = release
            .assets
            .iter()
            .find(|a| !seen.insert(a.name.as_str()))
        {
            return Err(usage(format!(
                "`{}` is staged twice for {}",
                dup.name,
                self.place()
            )));
        }
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

    #[test]
    fn multipart_body_wraps_the_file_in_one_attachment_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app \"x\".tar.gz");
        std::fs::write(&path, b"\x1f\x8bbytes").unwrap();
        let asset = Asset::of_file(&path, crate::stage::AssetKind::Archive, None).unwrap();
        let (file, content_type) = multipart_file(&asset).unwrap();
        let b = boundary(&asset);
        assert_eq!(content_type, format!("multipart/form-data; boundary={b}"));
        let body = std::fs::read(file.path()).unwrap();
        let mut expected = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"app %22x%22.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\n"
        )
        .into_bytes();
        expected.extend(b"\x1f\x8bbytes");
        expected.extend(format!("\r\n--{b}--\r\n").into_bytes());
        assert_eq!(body, expected);
    }

    #[test]
    fn token_from_gitea_then_forgejo_and_api_suffix_is_dropped() {
        let http = HttpClient::new(Default::default(), vec![]);
        let host = GiteaHost::from_vars("https://codeberg.org/api/v1/", "o/r", http.clone(), |k| {
            (k == "FORGEJO_TOKEN").then(|| "forgejo-tok-1".into())
        })
        .unwrap();
        assert_eq!(host.url, "https://codeberg.org");
        assert_eq!(host.id(), "gitea:codeberg.org/o/r");
        assert_eq!(host.token_source, "the token from FORGEJO_TOKEN");
        assert_eq!(
            host.repo_url("/releases"),
            "https://codeberg.org/api/v1/repos/o/r/releases"
        );
        let err = GiteaHost::from_vars("https://codeberg.org", "o/r", http, |_| None).unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 2);
        assert!(
            err.to_string().contains("GITEA_TOKEN or FORGEJO_TOKEN"),
            "{err}"
        );
    }
}
