//! The one forge host: [`ForgeHost`] talks to GitHub Releases and to Gitea/Forgejo releases.
//!
//! Both forges have the same release model and nearly the same REST API: a release with a tag,
//! a `draft` flag and assets, listed and read as the same JSON shapes, deleted and published by
//! the same calls. So there is one host, written once: this module holds its HTTP helpers (the
//! requests with the token, the listings, the error that names repository, host and fix) and
//! the schemas both APIs answer with; [`super::draft`] holds the draft → upload → verify →
//! publish flow and the rollback. What differs is a [`Forge`] flavour —
//! [`super::github::Github`] and [`super::gitea::Gitea`] — that supplies only URLs, headers,
//! page sizes, the upload body and the words of messages.
//!
//! The token is a [`Secret`] sent through [`Auth::Bearer`], so it appears in no header list,
//! log line or error; messages name the variable it came from instead.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde::Deserialize;

use forge_core::exit::{usage, with_hint, with_kind, ErrorKind, ResultExt};
use forge_core::http::{status_text, Auth, Body, HttpClient, Method, Request, Response};
use forge_core::secret::Secret;
use forge_core::Shell;

use crate::stage::{Asset, Staged};

pub(crate) const USER_AGENT: &str = concat!("cargo-forge-release/", env!("CARGO_PKG_VERSION"));

/// What one forge does differently: URLs, headers, page sizes, upload bodies and words.
/// Everything else — the flow, the state, the checks — is [`ForgeHost`]'s, for both.
pub trait Forge {
    /// `github`, `gitea`: the host kind of the configuration.
    const KIND: &'static str;
    /// `GitHub`, `Gitea`: the service, for messages.
    const SERVICE: &'static str;
    /// The token variables, for messages (`GITHUB_TOKEN or GH_TOKEN`).
    const TOKEN_VARS: &'static str;
    /// What a token needs to write releases, for hints.
    const WRITE_PERMISSION: &'static str;
    /// Said before "release a new version" when a published release is in the way.
    const PUBLISHED_NOTE: &'static str;
    /// Releases per page of a listing, and the pages looked through for a tag.
    const PAGE: usize;
    const MAX_RELEASE_PAGES: usize;

    /// `github.com`, `codeberg.org`: the forge, for messages.
    fn site(&self) -> String;
    /// The key of the host's state (`github:owner/name`).
    fn id(&self, repo: &str) -> String;
    /// The API's root, to which `/repos/OWNER/NAME/…` is appended.
    fn api_root(&self) -> String;
    /// The forge's own request headers (`Accept`, API version).
    fn headers(&self, req: Request) -> Request;
    /// The query of page `page` of the releases listing.
    fn releases_query(&self, page: usize) -> String;
    /// The query of page `page` of a release's assets; `None` when the forge lists them all
    /// at once (then only page 1 is read).
    fn assets_query(&self, page: usize) -> Option<String>;
    /// The path, below the repository, of asset `asset` of release `release`.
    fn asset_path(&self, release: u64, asset: u64) -> String;
    /// Where and how an asset is uploaded to `rel`; `repo_url` is the repository's API URL.
    fn upload_body(&self, repo_url: &str, rel: &Release, asset: &Asset) -> Result<UploadBody>;
    /// A hint for an upload the forge refused with `status`, when the forge has a known cause.
    fn upload_refused_hint(&self, status: u16, asset: &Asset) -> Option<String> {
        let _ = (status, asset);
        None
    }
    /// The body of `PATCH draft=false`; `latest` says whether it may become the latest release.
    fn publish_body(&self, release: &Staged, latest: bool) -> serde_json::Value;
    /// Says that a stable release is older than one the repository holds.
    fn not_latest(&self, release: &Staged, place: &str, shell: &Shell);
    /// Local checks of the staged assets that the forge would fail later.
    fn check_assets(&self, release: &Staged, place: &str) -> Result<()>;
    /// What publishing will do, for the plan.
    fn describe(&self, release: &Staged, place: &str) -> Vec<String>;
}

/// How one upload is sent: the URL, the `Content-Type` and the body file (a temporary file
/// around the asset, removed on drop, or the asset itself).
pub struct UploadBody {
    pub url: String,
    pub content_type: String,
    pub wrapped: Option<tempfile::NamedTempFile>,
}

/// A repository's releases on a forge of flavour `F`.
pub struct ForgeHost<F> {
    /// `owner/name`.
    pub repo: String,
    /// The forge: its URLs and what it does differently.
    pub forge: F,
    pub(crate) token: Secret,
    /// Where the token came from, for messages (`the token from GITHUB_TOKEN`), never its value.
    pub(crate) token_source: String,
    pub(crate) http: HttpClient,
}

impl<F: Forge + std::fmt::Debug> std::fmt::Debug for ForgeHost<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeHost")
            .field("repo", &self.repo)
            .field("forge", &self.forge)
            .field("token", &self.token)
            .finish()
    }
}

/// A release as both APIs describe it (the fields we use).
#[derive(Clone, Debug, Deserialize)]
pub struct Release {
    pub(crate) id: u64,
    pub(crate) tag_name: String,
    pub(crate) draft: bool,
    #[serde(default)]
    pub(crate) prerelease: bool,
    /// GitHub's upload endpoint (a template, `…/assets{?name,label}`); absent on Gitea.
    #[serde(default)]
    pub(crate) upload_url: String,
    #[serde(default)]
    pub(crate) html_url: String,
    #[serde(default)]
    pub(crate) assets: Vec<RemoteAsset>,
}

/// A release asset (a Gitea attachment) as both APIs describe it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RemoteAsset {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) size: u64,
    /// `uploaded`, or `starter` for an upload that did not finish (GitHub only).
    #[serde(default)]
    pub(crate) state: Option<String>,
    /// `sha256:HEX`, on current GitHub; absent on Gitea and older GitHub Enterprise Server.
    #[serde(default)]
    pub(crate) digest: Option<String>,
}

impl RemoteAsset {
    /// Why this asset is not the staged one, if it is not: incomplete, another size, or
    /// (where the forge reports one) another digest.
    pub(crate) fn mismatch(&self, staged: &Asset) -> Option<String> {
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

/// How the remote assets differ from the staged ones: missing, different, attached more than
/// once, and unexpected names.
pub(crate) fn differences(remote: &[RemoteAsset], staged: &[Asset]) -> Vec<String> {
    let mut problems = Vec::new();
    for a in staged {
        let same: Vec<&RemoteAsset> = remote.iter().filter(|r| r.name == a.name).collect();
        match same.as_slice() {
            [] => problems.push(format!("`{}` is missing", a.name)),
            [r] => problems.extend(r.mismatch(a)),
            more => problems.push(format!("`{}` is attached {} times", a.name, more.len())),
        }
    }
    let names: BTreeSet<&str> = staged.iter().map(|a| a.name.as_str()).collect();
    for r in remote.iter().filter(|r| !names.contains(r.name.as_str())) {
        problems.push(format!("`{}` is not part of the staged release", r.name));
    }
    problems
}

/// The repository object's `permissions`, as GitHub and Gitea both give them.
#[derive(Deserialize)]
struct RepoPermissions {
    #[serde(default)]
    permissions: Option<Permissions>,
}

#[derive(Deserialize)]
struct Permissions {
    #[serde(default)]
    push: bool,
}

impl<F: Forge> ForgeHost<F> {
    /// A host for `repo` (checked: `owner/name`) on `forge`, whose API root `http` must allow
    /// (plain `http://` only for loopback and `--insecure-registry` hosts).
    pub(crate) fn with_forge(
        forge: F,
        repo: String,
        token: Secret,
        http: HttpClient,
        what_url: &str,
    ) -> Result<Self> {
        check_repo(F::KIND, &repo)?;
        http.check_url(&forge.api_root())
            .with_context(|| format!("invalid {what_url} for `{repo}`"))?;
        Ok(ForgeHost {
            repo,
            forge,
            token,
            token_source: "the configured token".into(),
            http,
        })
    }

    /// `github.com/owner/name`, for messages.
    pub(crate) fn place(&self) -> String {
        format!("{}/{}", self.forge.site(), self.repo)
    }

    pub(crate) fn repo_url(&self, rest: &str) -> String {
        format!("{}/repos/{}{rest}", self.forge.api_root(), self.repo)
    }

    /// A request with the forge's headers and our token.
    pub(crate) fn request(&self, method: Method, url: impl Into<String>) -> Request {
        self.forge
            .headers(Request::new(method, url))
            .header("User-Agent", USER_AGENT)
            .auth(Some(Auth::Bearer(self.token.clone())))
    }

    pub(crate) fn json_request(
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
    pub(crate) fn send(&self, req: &Request, what: &str, shell: &Shell) -> Result<Response> {
        self.http
            .request(req, shell)
            .with_context(|| format!("failed to {what} on {}", self.place()))
    }

    /// An answer that is not what the step needed, as an error naming repository, host and fix.
    pub(crate) fn unexpected(&self, what: &str, resp: &Response) -> anyhow::Error {
        api_error::<F>(
            &self.forge.site(),
            &self.repo,
            &self.token_source,
            what,
            resp,
        )
    }

    /// `GET` a JSON document, failing on any status but 200.
    pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
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

    /// Whether the token may push to the repository (`None` when the forge does not say).
    pub(crate) fn may_push(&self, shell: &Shell) -> Result<Option<bool>> {
        let repo: RepoPermissions =
            self.get_json(self.repo_url(""), "read the repository", shell)?;
        Ok(repo.permissions.map(|p| p.push))
    }

    /// One page of the releases listing (newest first) and whether it was full.
    fn releases_page(&self, page: usize, shell: &Shell) -> Result<(Vec<Release>, bool)> {
        let list: Vec<Release> = self.get_json(
            self.repo_url(&format!("/releases{}", self.forge.releases_query(page))),
            "list releases",
            shell,
        )?;
        let full = list.len() == F::PAGE;
        Ok((list, full))
    }

    /// The releases with `tag`, drafts included, newest first (found by listing, because
    /// GitHub's `GET /releases/tags/TAG` does not return drafts).
    pub(crate) fn releases_with_tag(&self, tag: &str, shell: &Shell) -> Result<Vec<Release>> {
        let mut found = Vec::new();
        for page in 1..=F::MAX_RELEASE_PAGES {
            let (list, full) = self.releases_page(page, shell)?;
            found.extend(list.into_iter().filter(|r| r.tag_name == tag));
            // Releases come newest first: ours is on the first pages.
            if !full || !found.is_empty() {
                break;
            }
        }
        Ok(found)
    }

    /// The tags of the published stable releases the repository holds (first pages).
    pub(crate) fn published_tags(&self, shell: &Shell) -> Result<Vec<String>> {
        let mut tags = Vec::new();
        for page in 1..=F::MAX_RELEASE_PAGES {
            let (list, full) = self.releases_page(page, shell)?;
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

    /// A release by id, `None` when it is gone.
    pub(crate) fn release_by_id(&self, id: &str, shell: &Shell) -> Result<Option<Release>> {
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
    pub(crate) fn list_assets(&self, release_id: u64, shell: &Shell) -> Result<Vec<RemoteAsset>> {
        let mut all = Vec::new();
        for page in 1.. {
            let query = self.forge.assets_query(page);
            let paged = query.is_some();
            let list: Vec<RemoteAsset> = self.get_json(
                self.repo_url(&format!(
                    "/releases/{release_id}/assets{}",
                    query.unwrap_or_default()
                )),
                "list release assets",
                shell,
            )?;
            let full = list.len() == 100;
            all.extend(list);
            if !paged || !full || page * 100 >= MAX_ASSETS {
                break;
            }
        }
        Ok(all)
    }

    pub(crate) fn delete_asset(
        &self,
        release_id: u64,
        asset: &RemoteAsset,
        shell: &Shell,
    ) -> Result<()> {
        let what = format!("delete asset `{}`", asset.name);
        let resp = self.send(
            &self.request(
                Method::Delete,
                self.repo_url(&self.forge.asset_path(release_id, asset.id)),
            ),
            &what,
            shell,
        )?;
        match resp.status {
            204 | 404 => Ok(()),
            _ => Err(self.unexpected(&what, &resp)),
        }
    }
}

/// The most assets a release may have (GitHub's limit; asset listings stop there).
pub(crate) const MAX_ASSETS: usize = 1000;

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

/// `owner/name` with characters both forges allow.
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

/// An unexpected answer as an error naming the step, repository and host, with what to do.
fn api_error<F: Forge>(
    site: &str,
    repo: &str,
    token_source: &str,
    what: &str,
    resp: &Response,
) -> anyhow::Error {
    let (service, token_vars, write_permission) = (F::SERVICE, F::TOKEN_VARS, F::WRITE_PERMISSION);
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

    fn remote(name: &str, size: u64, state: Option<&str>, digest: Option<&str>) -> RemoteAsset {
        RemoteAsset {
            id: 1,
            name: name.into(),
            size,
            state: state.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn assets_compare_by_state_size_and_digest() {
        let a = asset("app.tar.gz", 10, "ab");
        let up = Some("uploaded");
        assert_eq!(
            remote("app.tar.gz", 10, up, Some("sha256:AB")).mismatch(&a),
            None
        );
        assert_eq!(remote("app.tar.gz", 10, up, None).mismatch(&a), None);
        assert_eq!(remote("app.tar.gz", 10, None, None).mismatch(&a), None);
        assert!(remote("app.tar.gz", 0, Some("starter"), None)
            .mismatch(&a)
            .unwrap()
            .contains("starter"));
        assert!(remote("app.tar.gz", 11, up, None)
            .mismatch(&a)
            .unwrap()
            .contains("11 bytes"));
        assert!(remote("app.tar.gz", 10, up, Some("sha256:cd"))
            .mismatch(&a)
            .unwrap()
            .contains("sha256:cd"));
        let d = differences(&[remote("x", 1, up, None)], std::slice::from_ref(&a));
        assert_eq!(
            d,
            [
                "`app.tar.gz` is missing",
                "`x` is not part of the staged release"
            ]
        );
        let twice = [
            remote("app.tar.gz", 10, None, None),
            remote("app.tar.gz", 10, None, None),
        ];
        assert_eq!(
            differences(&twice, &[a]),
            ["`app.tar.gz` is attached 2 times"]
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
