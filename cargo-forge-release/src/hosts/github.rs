//! The `github` host: GitHub Releases (github.com and GitHub Enterprise Server) over the REST
//! API — the [`Forge`] flavour of the one forge host ([`super::forge`], flow in
//! [`super::draft`]).
//!
//! What is GitHub's own (its REST API's documentation of releases and assets):
//!
//! - the API root is `GITHUB_API_URL` (`https://HOST/api/v3` on Enterprise Server), with
//!   `Accept: application/vnd.github+json` and a pinned `X-GitHub-Api-Version`;
//! - assets go to the `upload_url` the release names (a separate uploads host on github.com) as
//!   raw bodies streamed from the staging directory; assets report `state` and a `sha256:`
//!   digest, so an asset on a draft can be proven to be the staged file;
//! - at most 1,000 assets of less than 2 GiB each, and names GitHub would rename are refused
//!   before anything is sent;
//! - publishing sets `make_latest`: `"false"` for pre-releases and for a backport (1.2.4 after
//!   1.3.0), so GitHub's latest release never moves backwards; published releases are immutable.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::json;

use forge_core::exit::{usage, with_hint, ResultExt};
use forge_core::http::{HttpClient, Request};
use forge_core::secret::Secret;
use forge_core::Shell;

use super::forge::{
    authority, human_size, query_encode, token_from, Forge, ForgeHost, Release, UploadBody,
    MAX_ASSETS,
};
use crate::stage::{Asset, Staged};

/// The API of github.com.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where the token is looked up, in order.
pub const TOKEN_VARS: [&str; 2] = ["GITHUB_TOKEN", "GH_TOKEN"];

/// The REST API version we speak.
const API_VERSION: &str = "2022-11-28";

/// The largest asset GitHub accepts (2 GiB, exclusive).
const MAX_ASSET_SIZE: u64 = 2 << 30;

/// GitHub: the API root.
#[derive(Clone, Debug)]
pub struct Github {
    /// The REST API base, without a trailing slash (`https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server).
    pub api_url: String,
}

/// A GitHub repository's releases.
pub type GithubHost = ForgeHost<Github>;

impl Forge for Github {
    const KIND: &'static str = "github";
    const SERVICE: &'static str = "GitHub";
    const TOKEN_VARS: &'static str = "GITHUB_TOKEN or GH_TOKEN";
    const WRITE_PERMISSION: &'static str =
        "`Contents: write` (in GitHub Actions: `permissions: contents: write`)";
    const PUBLISHED_NOTE: &'static str = "published GitHub releases are immutable: ";
    const PAGE: usize = 100;
    const MAX_RELEASE_PAGES: usize = 10;

    /// `github.com`, or the API's host for GitHub Enterprise Server.
    fn site(&self) -> String {
        if self.api_url == DEFAULT_API_URL {
            "github.com".into()
        } else {
            authority(&self.api_url)
        }
    }

    fn id(&self, repo: &str) -> String {
        if self.api_url == DEFAULT_API_URL {
            format!("github:{repo}")
        } else {
            format!("github:{}/{repo}", authority(&self.api_url))
        }
    }

    fn api_root(&self) -> String {
        self.api_url.clone()
    }

    fn headers(&self, req: Request) -> Request {
        req.header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
    }

    fn releases_query(&self, page: usize) -> String {
        format!("?per_page=100&page={page}")
    }

    fn assets_query(&self, page: usize) -> Option<String> {
        Some(format!("?per_page=100&page={page}"))
    }

    fn asset_path(&self, _release: u64, asset: u64) -> String {
        format!("/releases/assets/{asset}")
    }

    /// The raw file to the release's `upload_url`.
    fn upload_body(&self, _repo_url: &str, rel: &Release, asset: &Asset) -> Result<UploadBody> {
        let base = rel.upload_url.split('{').next().unwrap_or_default();
        if base.is_empty() {
            return Err(anyhow::anyhow!("the release has no `upload_url`"))
                .kind(forge_core::exit::ErrorKind::Network);
        }
        Ok(UploadBody {
            url: format!("{base}?name={}", query_encode(&asset.name)),
            content_type: asset.content_type().to_string(),
            wrapped: None,
        })
    }

    fn publish_body(&self, release: &Staged, latest: bool) -> serde_json::Value {
        let mut body = json!({
            "draft": false,
            "prerelease": release.prerelease,
            "make_latest": if latest { "true" } else { "false" },
        });
        if let Some(commit) = &release.commit {
            body["target_commitish"] = json!(commit);
        }
        body
    }

    fn not_latest(&self, release: &Staged, place: &str, shell: &Shell) {
        shell.note(format!(
            "{} is not marked latest on {place}: it holds a release newer than {}",
            release.tag, release.version
        ));
    }

    /// Local checks GitHub would fail later: asset count, sizes, names it would rename.
    fn check_assets(&self, release: &Staged, place: &str) -> Result<()> {
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
            "release {} cannot be published to {place}: {}",
            release.tag,
            problems.join("; ")
        )))
        .hint("name release files with letters, digits, `.`, `_`, `-` and `+` only, each smaller than 2 GiB")
    }

    fn describe(&self, release: &Staged, place: &str) -> Vec<String> {
        vec![
            format!("create draft release {} on {place}", release.tag),
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
}

impl ForgeHost<Github> {
    /// A host for `repo` (`owner/name`) at `api_url` (e.g. [`DEFAULT_API_URL`]) with `token`.
    /// Fails with a usage error for a malformed repository or URL (plain `http://` is only
    /// allowed for loopback and `--insecure-registry` hosts).
    pub fn new(
        repo: impl Into<String>,
        api_url: impl Into<String>,
        token: Secret,
        http: HttpClient,
    ) -> Result<GithubHost> {
        let api_url = api_url.into().trim().trim_end_matches('/').to_string();
        ForgeHost::with_forge(
            Github { api_url },
            repo.into(),
            token,
            http,
            "GitHub API URL",
        )
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::Host;

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
        assert_eq!(host.forge.api_url, "https://ghe.example/api/v3");
        assert_eq!(host.id(), "github:ghe.example/o/r");
        assert!(!format!("{host:?}").contains("gh-token-value-1"));
        let host = GithubHost::from_vars("o/r", http.clone(), |k| {
            (k == "GITHUB_TOKEN").then(|| "t-1234".into())
        })
        .unwrap();
        assert_eq!(
            (host.forge.api_url.as_str(), host.id().as_str()),
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
}
