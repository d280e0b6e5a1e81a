//! The registry client proper: one [`RegistryClient`] per registry, speaking the OCI
//! distribution API over [`forge_core::http::HttpClient`] (so every call has the suite's one
//! retry policy) — blobs (`HEAD`-skip, cross-repository mount, monolithic upload with session
//! restart), manifests (pushed and fetched, digests checked), tag lists and blob downloads.
//!
//! Every request goes through [`RegistryClient::send`], which adds the authorization
//! [`super::auth`] works out and re-authenticates once on a 401; every unexpected answer through
//! [`RegistryClient::unexpected`], which names the registry and the repository.

use std::fmt;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use forge_core::exit::{usage, with_kind, ErrorKind, ResultExt};
use forge_core::http::{self, Body, HttpClient, Request, Response};
use forge_core::Shell;
use indicatif::ProgressBar;
use serde::Serialize;

use super::auth::{scopes, AuthState};
use super::{
    digest_of, encode, resolve_location, status_and_detail, validate_digest, validate_repository,
    validate_tag,
};
use crate::auth::{is_docker_hub, normalize_registry, Credentials};

/// The host Docker Hub's API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The host a registry's API answers on (Docker Hub's is not `docker.io`).
pub fn api_host(registry: &str) -> &str {
    if is_docker_hub(registry) {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// What [`RegistryClient::push_blob`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The registry had the blob already.
    Skipped,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// Sent.
    Uploaded,
}

/// A client of one registry. Share it by reference across threads (parallel blob uploads).
pub struct RegistryClient {
    pub(super) http: HttpClient,
    pub(super) registry: String,
    pub(super) base: String,
    pub(super) credentials: Credentials,
    state: Mutex<AuthState>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("base", &self.base)
            .finish()
    }
}

impl RegistryClient {
    /// A client of `registry` (`host[:port]`, any Docker Hub alias). Asks `GET /v2/` how to
    /// authenticate right away, so an unreachable or wrong host is reported before any work.
    pub fn new(
        http: HttpClient,
        registry: &str,
        credentials: Credentials,
        shell: &Shell,
    ) -> Result<RegistryClient> {
        let client = RegistryClient::unchecked(http, registry, credentials)?;
        client.challenge(shell)?;
        Ok(client)
    }

    /// A client that contacts the registry only when first used.
    pub fn unchecked(
        http: HttpClient,
        registry: &str,
        credentials: Credentials,
    ) -> Result<RegistryClient> {
        let registry = normalize_registry(registry);
        if registry.is_empty() || registry.contains('/') {
            return Err(usage(format!(
                "invalid registry `{registry}`: expected `host` or `host:port`"
            )));
        }
        let host = api_host(&registry).to_string();
        let (name, port) = split_host_port(&host);
        let base = if http.allows_plain_http(name, port) {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        };
        Ok(RegistryClient {
            http,
            registry,
            base,
            credentials,
            state: Mutex::new(AuthState::default()),
        })
    }

    /// The registry, as `host[:port]` (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `scheme://host` of the API: plain HTTP for loopback and `--insecure-registry` hosts,
    /// HTTPS otherwise.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The HTTP client (for its attempt counters).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn url(&self, repo: &str, rest: &str) -> String {
        format!("{}/v2/{repo}/{rest}", self.base)
    }

    /// Sends a request built by `make` with the right authorization (only to the registry's own
    /// origin: an upload `Location` elsewhere gets none); on a 401, re-authenticates once (new
    /// challenge, new token) and sends it again.
    fn send(
        &self,
        scopes: &[String],
        once: bool,
        make: impl Fn() -> Request,
        shell: &Shell,
    ) -> Result<Response> {
        let send = |req: &Request| {
            if once {
                self.http.request_once(req, shell)
            } else {
                self.http.request(req, shell)
            }
        };
        let mut req = make();
        // Credentials only for the registry's own origin (scheme, host and port): an upload
        // `Location` on another port of the same host is another server.
        if !http::same_origin(&req.url, &self.base) {
            return send(&req);
        }
        req.auth = self.authorize(scopes, shell)?;
        let resp = send(&req)?;
        if resp.status != 401 {
            return Ok(resp);
        }
        self.reauthenticate(&resp, scopes);
        let auth = self.authorize(scopes, shell)?;
        if auth.is_none() {
            return Ok(resp);
        }
        shell.verbose_status("Authenticating", format!("again with {}", self.registry));
        let mut again = make();
        again.auth = auth;
        send(&again)
    }

    /// Turns a response that is not what we wanted into an error naming registry and repository.
    fn unexpected(&self, repo: &str, what: &str, resp: &Response) -> anyhow::Error {
        let registry = &self.registry;
        match resp.status {
            401 | 403 => self.auth_failure(&format!(
                "{what} in `{repo}` was refused ({})",
                status_and_detail(resp)
            )),
            429 => {
                let after = resp
                    .retry_after()
                    .map(|d| format!("; it asks to retry after {} s", d.as_secs()))
                    .unwrap_or_default();
                with_kind(
                    anyhow::anyhow!(
                        "{registry} is rate limiting requests ({what} in `{repo}`){after}"
                    ),
                    ErrorKind::Network,
                )
            }
            _ => with_kind(
                anyhow::anyhow!(
                    "{what} in {registry}/{repo} failed: the registry answered {}",
                    status_and_detail(resp)
                ),
                ErrorKind::Network,
            ),
        }
    }

    /// Whether the repository has the blob (`HEAD`).
    pub fn blob_exists(&self, repo: &str, digest: &str, shell: &Shell) -> Result<bool> {
        self.blob_exists_with(repo, digest, &scopes(repo, false, None), shell)
    }

    fn blob_exists_with(
        &self,
        repo: &str,
        digest: &str,
        scopes: &[String],
        shell: &Shell,
    ) -> Result<bool> {
        validate_repository(repo)?;
        validate_digest(digest)?;
        let url = self.url(repo, &format!("blobs/{digest}"));
        let resp = self.send(scopes, false, || Request::head(&url), shell)?;
        match resp.status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.unexpected(repo, &format!("checking for blob {digest}"), &resp)),
        }
    }

    /// Pushes a blob unless the repository has it: `HEAD`, then a mount from `mount_from` (a
    /// repository of the same registry) when given, then a monolithic upload of `body`
    /// ([`Body::Bytes`] or [`Body::File`]). `progress` advances with the bytes sent (and jumps to
    /// the end when nothing needs sending).
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &str,
        body: Body,
        mount_from: Option<&str>,
        progress: Option<&ProgressBar>,
        shell: &Shell,
    ) -> Result<Outcome> {
        validate_digest(digest)?;
        let size = body.len();
        let mount_from = mount_from.filter(|from| *from != repo);
        if let Some(from) = mount_from {
            validate_repository(from)?;
        }
        let scopes = scopes(repo, true, mount_from);
        let done = |outcome| {
            if let Some(bar) = progress {
                bar.set_position(size);
            }
            Ok(outcome)
        };
        if self.blob_exists_with(repo, digest, &scopes, shell)? {
            return done(Outcome::Skipped);
        }
        let mut session = None;
        if let Some(from) = mount_from {
            let url = self.url(
                repo,
                &format!(
                    "blobs/uploads/?mount={}&from={}",
                    encode(digest),
                    encode(from)
                ),
            );
            let resp = self.send(&scopes, false, || Request::post(&url), shell)?;
            match resp.status {
                201 => {
                    self.check_reported_digest(repo, digest, &resp)?;
                    return done(Outcome::Mounted);
                }
                202 => session = Some(self.location(repo, &url, &resp)?),
                401 | 403 => {
                    return Err(self.unexpected(repo, &format!("mounting blob {digest}"), &resp))
                }
                _ => shell.verbose_status(
                    "Uploading",
                    format!(
                        "{digest}: the mount from `{from}` was not accepted ({})",
                        http::status_text(resp.status)
                    ),
                ),
            }
        }
        let policy = self.http.policy();
        let max = policy.max_attempts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let location = match session.take() {
                Some(location) => location,
                None => self.start_upload(repo, &scopes, shell)?,
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{sep}digest={}", encode(digest));
            let make = || {
                Request::put(&url)
                    .header("Content-Type", "application/octet-stream")
                    .body(body.clone())
                    .progress(progress.cloned())
            };
            let why = match self.send(&scopes, true, make, shell) {
                Ok(resp) if resp.is_success() => {
                    self.check_reported_digest(repo, digest, &resp)?;
                    return Ok(Outcome::Uploaded);
                }
                Ok(resp) if http::is_retryable_status(resp.status) && attempt < max => {
                    http::status_text(resp.status)
                }
                Ok(resp) => {
                    return Err(self.unexpected(repo, &format!("uploading blob {digest}"), &resp))
                }
                Err(e)
                    if forge_core::exit::kind_of(&e) == Some(ErrorKind::Network)
                        && attempt < max =>
                {
                    e.root_cause().to_string()
                }
                Err(e) => {
                    return Err(e.context(format!(
                        "failed to upload blob {digest} to {}/{repo}",
                        self.registry
                    )))
                }
            };
            // The session is spent. The blob may have arrived before the connection broke.
            if self.blob_exists_with(repo, digest, &scopes, shell)? {
                return done(Outcome::Uploaded);
            }
            let wait = policy.backoff(attempt);
            shell.verbose_status(
                "Retrying",
                format!(
                    "upload of {digest} to {}/{repo} in a new session ({why}), attempt {}/{max} \
                     in {:.1}s",
                    self.registry,
                    attempt + 1,
                    wait.as_secs_f64()
                ),
            );
            std::thread::sleep(wait);
        }
    }

    /// `POST …/blobs/uploads/` → the session's upload URL.
    fn start_upload(&self, repo: &str, scopes: &[String], shell: &Shell) -> Result<String> {
        let url = self.url(repo, "blobs/uploads/");
        let resp = self.send(scopes, false, || Request::post(&url), shell)?;
        if resp.status != 202 {
            return Err(self.unexpected(repo, "starting a blob upload", &resp));
        }
        self.location(repo, &url, &resp)
    }

    /// The `Location` of a response, made absolute.
    fn location(&self, repo: &str, request_url: &str, resp: &Response) -> Result<String> {
        let location = resp
            .header("location")
            .with_context(|| {
                format!(
                    "{} answered {} without a `Location` for an upload to `{repo}`",
                    self.registry,
                    http::status_text(resp.status)
                )
            })
            .kind(ErrorKind::Network)?;
        Ok(resolve_location(request_url, location))
    }

    /// Checks `Docker-Content-Digest`, when the registry sends it, against ours.
    fn check_reported_digest(&self, repo: &str, digest: &str, resp: &Response) -> Result<()> {
        match resp.header("docker-content-digest") {
            Some(reported) if reported != digest => Err(anyhow::anyhow!(
                "{} stored {digest} in `{repo}` under the digest {reported}",
                self.registry
            ))
            .kind(ErrorKind::Check),
            _ => Ok(()),
        }
    }

    /// Pushes a manifest by digest or by tag; returns its digest (checked against the one the
    /// registry reports).
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        shell: &Shell,
    ) -> Result<String> {
        validate_repository(repo)?;
        let digest = digest_of(bytes);
        if reference.contains(':') {
            validate_digest(reference)?;
            if reference != digest {
                bail!("the manifest pushed as {reference} has the digest {digest}");
            }
        } else {
            validate_tag(reference)?;
        }
        let url = self.url(repo, &format!("manifests/{reference}"));
        let body = Body::bytes(bytes.to_vec());
        let make = || {
            Request::put(&url)
                .header("Content-Type", media_type)
                .body(body.clone())
        };
        let resp = self.send(&scopes(repo, true, None), false, make, shell)?;
        if !resp.is_success() {
            return Err(self.unexpected(repo, &format!("pushing manifest `{reference}`"), &resp));
        }
        self.check_reported_digest(repo, &digest, &resp)?;
        Ok(digest)
    }

    /// `HEAD` of a manifest: `(digest, size, media type)`, or `None` when absent.
    pub fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        shell: &Shell,
    ) -> Result<Option<(String, u64, String)>> {
        validate_repository(repo)?;
        let url = self.url(repo, &format!("manifests/{reference}"));
        let make = || Request::head(&url).header("Accept", accept.join(", "));
        let resp = self.send(&scopes(repo, false, None), false, make, shell)?;
        match resp.status {
            404 => return Ok(None),
            200..=299 => {}
            _ => return Err(self.unexpected(repo, &format!("looking up `{reference}`"), &resp)),
        }
        let size = resp.header("content-length").and_then(|v| v.parse().ok());
        match (resp.header("docker-content-digest"), size) {
            (Some(digest), Some(size)) if validate_digest(digest).is_ok() => {
                Ok(Some((digest.to_string(), size, content_type(&resp))))
            }
            // Not every registry says (ECR, some proxies): fetch it and see.
            _ => {
                let (bytes, media_type, digest) =
                    self.get_manifest(repo, reference, accept, shell)?;
                Ok(Some((digest, bytes.len() as u64, media_type)))
            }
        }
    }

    /// Every tag of `repo` (`GET /v2/<name>/tags/list`, following `Link: <…>; rel="next"`
    /// pages); empty when the repository does not exist yet.
    pub fn list_tags(&self, repo: &str, shell: &Shell) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        validate_repository(repo)?;
        let mut url = self.url(repo, "tags/list?n=1000");
        let mut out: Vec<String> = Vec::new();
        // A registry that keeps answering `next` is cut off rather than followed for ever.
        for _ in 0..1000 {
            let page_url = url.clone();
            let resp = self.send(
                &scopes(repo, false, None),
                false,
                || Request::get(&page_url).header("Accept", "application/json"),
                shell,
            )?;
            if resp.status == 404 {
                return Ok(out);
            }
            if !resp.is_success() {
                return Err(self.unexpected(repo, "listing the tags", &resp));
            }
            let list: TagList = serde_json::from_slice(&resp.body).with_context(|| {
                format!(
                    "{}/{repo} answered the tag list with something that is not one",
                    self.registry
                )
            })?;
            out.extend(list.tags.unwrap_or_default());
            let next = resp.header("link").and_then(|l| {
                l.split(',')
                    .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
                    .and_then(|part| {
                        let start = part.find('<')? + 1;
                        let end = part.find('>')?;
                        (start < end).then(|| part[start..end].to_string())
                    })
            });
            match next {
                Some(next) => url = resolve_location(&page_url, &next),
                None => break,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Fetches a manifest: `(bytes, media type, digest)`. By digest it is verified; by tag its
    /// digest is computed (and checked against `Docker-Content-Digest` when sent).
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        shell: &Shell,
    ) -> Result<(Vec<u8>, String, String)> {
        self.get_manifest_limited(repo, reference, accept, http::MAX_BODY, shell)
    }

    /// [`RegistryClient::get_manifest`] reading at most `max` bytes: more is an error with
    /// [`http::TooLarge`] in its chain.
    pub fn get_manifest_limited(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        max: u64,
        shell: &Shell,
    ) -> Result<(Vec<u8>, String, String)> {
        validate_repository(repo)?;
        if reference.contains(':') {
            validate_digest(reference)?;
        } else {
            validate_tag(reference)?;
        }
        let url = self.url(repo, &format!("manifests/{reference}"));
        let make = || {
            Request::get(&url)
                .header("Accept", accept.join(", "))
                .max_body(max)
        };
        let resp = self.send(&scopes(repo, false, None), false, make, shell)?;
        if resp.status == 404 {
            return Err(usage(format!(
                "manifest `{reference}` was not found in {}/{repo}",
                self.registry
            )));
        }
        if !resp.is_success() {
            return Err(self.unexpected(repo, &format!("fetching `{reference}`"), &resp));
        }
        let digest = digest_of(&resp.body);
        let expected = if reference.contains(':') {
            Some(reference)
        } else {
            resp.header("docker-content-digest")
        };
        if let Some(expected) = expected {
            if expected != digest {
                return Err(anyhow::anyhow!(
                    "the manifest `{reference}` from {}/{repo} does not match its digest: \
                     expected {expected}, got {digest}",
                    self.registry
                ))
                .kind(ErrorKind::Check);
            }
        }
        let media_type = content_type(&resp);
        Ok((resp.body, media_type, digest))
    }

    /// Downloads a blob to `path`, verified against its digest; `path` appears only complete.
    /// `size`: what its descriptor says; a longer answer is cut off as an error ([`http::TooLarge`]).
    pub fn get_blob_to_file(
        &self,
        repo: &str,
        digest: &str,
        size: Option<u64>,
        path: &std::path::Path,
        shell: &Shell,
    ) -> Result<()> {
        validate_repository(repo)?;
        validate_digest(digest)?;
        let url = self.url(repo, &format!("blobs/{digest}"));
        let scopes = scopes(repo, false, None);
        let hex = &digest["sha256:".len()..];
        for _ in 0..2 {
            let auth = self.authorize(&scopes, shell)?;
            let had_auth = auth.is_some();
            let mut req = Request::get(&url).auth(auth);
            if let Some(size) = size {
                req = req.max_body(size);
            }
            let resp = self
                .http
                .download(&req, path, Some(hex), shell)
                .with_context(|| {
                    format!(
                        "failed to download blob {digest} from {}/{repo}",
                        self.registry
                    )
                })?;
            match resp.status {
                200..=299 => return Ok(()),
                401 if had_auth => self.reauthenticate(&resp, &scopes),
                404 => {
                    return Err(anyhow::anyhow!(
                        "blob {digest} was not found in {}/{repo}",
                        self.registry
                    ))
                    .kind(ErrorKind::Network)
                }
                _ => {
                    return Err(self.unexpected(repo, &format!("downloading blob {digest}"), &resp))
                }
            }
        }
        Err(self.auth_failure(&format!(
            "downloading blob {digest} from `{repo}` was refused"
        )))
    }
}

/// The media type of a response, without parameters.
fn content_type(resp: &Response) -> String {
    resp.header("content-type")
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// `host[:port]` → (`host`, port).
pub(super) fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (host, None),
    }
}
