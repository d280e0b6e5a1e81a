//! The `gitea` host: releases on Gitea and Forgejo (Codeberg) over `/api/v1` — the [`Forge`]
//! flavour of the one forge host ([`super::forge`], flow in [`super::draft`]).
//!
//! What is Gitea's own (its `/api/v1` documentation of releases and attachments):
//!
//! - **Uploads** are `POST /repos/O/R/releases/ID/assets?name=NAME` with a `multipart/form-data`
//!   body whose field `attachment` holds the file: every Gitea and Forgejo version accepts that
//!   (a raw body only recent ones). The multipart body is written to a temporary file around the
//!   asset, so it is streamed and can be sent again like any file body.
//! - **No duplicate-name check**: a second upload of a name adds a second attachment; the shared
//!   flow deletes every attachment of a name after a failed attempt.
//! - **No digests, no upload state**: an attachment is only known to be ours when we saw its
//!   upload answered (its id recorded in the state), the rule of [`super::draft`].
//! - **No "latest" flag**: the latest release is the stable one created last, so a backport is
//!   published with a warning that it shows as latest; the tag is created when the draft is
//!   published.
//!
//! The token (`GITEA_TOKEN`, else `FORGEJO_TOKEN`) is sent as `Authorization: Bearer …`: Gitea
//! and Forgejo accept the `bearer` scheme for access tokens exactly like their own `token`
//! scheme.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, Result};
use serde_json::json;

use forge_core::exit::{usage, with_hint};
use forge_core::http::{HttpClient, Request};
use forge_core::secret::Secret;
use forge_core::Shell;

use super::forge::{authority, query_encode, token_from, Forge, ForgeHost, Release, UploadBody};
use crate::stage::{Asset, Staged};

/// Where the token is looked up, in order.
pub const TOKEN_VARS: [&str; 2] = ["GITEA_TOKEN", "FORGEJO_TOKEN"];

/// Gitea or Forgejo: the instance.
#[derive(Clone, Debug)]
pub struct Gitea {
    /// The instance, e.g. `https://codeberg.org` (no trailing slash, no `/api/v1`).
    pub url: String,
}

/// A Gitea or Forgejo repository's releases.
pub type GiteaHost = ForgeHost<Gitea>;

impl Forge for Gitea {
    const KIND: &'static str = "gitea";
    const SERVICE: &'static str = "Gitea";
    const TOKEN_VARS: &'static str = "GITEA_TOKEN or FORGEJO_TOKEN";
    const WRITE_PERMISSION: &'static str =
        "an access token with the `write:repository` scope, of a user who may write the repository";
    const PUBLISHED_NOTE: &'static str = "";
    /// Gitea's default maximum page size.
    const PAGE: usize = 50;
    const MAX_RELEASE_PAGES: usize = 20;

    fn site(&self) -> String {
        authority(&self.url)
    }

    fn id(&self, repo: &str) -> String {
        format!("gitea:{}/{repo}", self.site())
    }

    fn api_root(&self) -> String {
        format!("{}/api/v1", self.url)
    }

    fn headers(&self, req: Request) -> Request {
        req.header("Accept", "application/json")
    }

    fn releases_query(&self, page: usize) -> String {
        format!("?page={page}&limit={}", Self::PAGE)
    }

    fn assets_query(&self, _page: usize) -> Option<String> {
        None
    }

    fn asset_path(&self, release: u64, asset: u64) -> String {
        format!("/releases/{release}/assets/{asset}")
    }

    /// The multipart body (field `attachment`) to the release's assets.
    fn upload_body(&self, repo_url: &str, rel: &Release, asset: &Asset) -> Result<UploadBody> {
        let (file, content_type) = multipart_file(asset)?;
        Ok(UploadBody {
            url: format!(
                "{repo_url}/releases/{}/assets?name={}",
                rel.id,
                query_encode(&asset.name)
            ),
            content_type,
            wrapped: Some(file),
        })
    }

    fn upload_refused_hint(&self, status: u16, asset: &Asset) -> Option<String> {
        (status == 400).then(|| format!(
            "the server may not allow this file type: its `[repository.release] ALLOWED_TYPES` setting must admit `{}`",
            asset.name
        ))
    }

    fn publish_body(&self, release: &Staged, _latest: bool) -> serde_json::Value {
        json!({ "draft": false, "prerelease": release.prerelease })
    }

    /// Gitea and Forgejo have no "latest" flag: their latest release is the stable release
    /// created last. A backport cannot be kept from showing as latest there; say so.
    fn not_latest(&self, release: &Staged, place: &str, shell: &Shell) {
        shell.warn(format!(
            "{} on {place} is older than a release it holds, but Gitea and Forgejo show the release created last as the latest (they have no \"latest\" flag): `/releases/latest` will name {} until the next release",
            release.tag,
            release.tag
        ));
    }

    fn check_assets(&self, release: &Staged, place: &str) -> Result<()> {
        let mut seen = BTreeSet::new();
        match release
            .assets
            .iter()
            .find(|a| !seen.insert(a.name.as_str()))
        {
            Some(dup) => Err(usage(format!("`{}` is staged twice for {place}", dup.name))),
            None => Ok(()),
        }
    }

    fn describe(&self, release: &Staged, place: &str) -> Vec<String> {
        vec![
            format!("create draft release {} on {place}", release.tag),
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
}

impl ForgeHost<Gitea> {
    /// A host for `repo` (`owner/name`) on the instance at `url` with `token`.
    pub fn new(
        url: impl Into<String>,
        repo: impl Into<String>,
        token: Secret,
        http: HttpClient,
    ) -> Result<GiteaHost> {
        let url = url.into().trim().trim_end_matches('/').to_string();
        let url = url.strip_suffix("/api/v1").unwrap_or(&url).to_string();
        ForgeHost::with_forge(
            Gitea { url },
            repo.into(),
            token,
            http,
            "`url` of the gitea host",
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::Host;

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
        assert_eq!(host.forge.url, "https://codeberg.org");
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
