//! The `s3` host: S3-compatible object storage (AWS S3, SeaweedFS, MinIO, R2…), written with
//! the `object_store` crate.
//!
//! **Layout.** Every asset goes to `<prefix>/<tag>/<name>`; then a release manifest
//! `<prefix>/<tag>/release.json` (package, version, tag, and every asset with its size and
//! SHA-256) is written once all assets are there; then — never for a pre-release —
//! `<prefix>/latest.json` (`<prefix>/<package>-latest.json` for a package with tags of its own)
//! is pointed at the tag, last. A reader that starts from `latest.json` or
//! a `release.json` therefore only ever finds complete releases: the rule of [`super`], nothing
//! half-done is visible.
//!
//! **Never overwrite.** Assets and manifests are written with `PutMode::Create` (`If-None-Match:
//! *`), so an object that is already there is never replaced. Each asset carries its SHA-256 as
//! user metadata (`x-amz-meta-sha256`); when the object exists, a `HEAD` compares size and that
//! digest (or, for an object some other tool wrote without it, the digest of its bytes, read back
//! in ranges): identical is a finished upload, different is an error naming the key. Uploading
//! starts with one listing of `<prefix>/<tag>/`, so a re-run that lost its state compares what is
//! there instead of sending it again. Files above [`MULTIPART_THRESHOLD`] go up as multipart
//! uploads in [`PART_SIZE`] parts; `object_store` completes a multipart upload unconditionally,
//! so for those the `HEAD` comes right before the upload (a concurrent writer in between would
//! win: releases of one tag are not published concurrently). What is sent is hashed and checked
//! against the staged digest before an object is created (for a multipart upload, before it is
//! completed), so a file that changed since staging never becomes an object; SigV4 signs each
//! body's SHA-256, so the store rejects a body damaged on the way.
//!
//! **`latest.json`** is the only object that is replaced: read, then written with `If-Match` on the
//! ETag read (or `If-None-Match: *` when there is none), so two releases racing cannot interleave;
//! and it never moves back to an older version (publishing a 1.4.1 fix after 1.5.0 leaves it at
//! 1.5.0, with a note).
//!
//! **State.** Steps `upload:NAME`, `manifest` and `latest` are recorded in the [`HostState`]; an
//! upload that created its object also records `created:NAME` → key, so `rollback` (`--abort`)
//! deletes exactly the objects this release wrote — and only while no `release.json` exists, so
//! a release readers can see is never touched, nor is `latest.json`.
//!
//! **Why not `forge_core::http`.** Every other HTTP call of the suite goes through
//! `forge_core::http::HttpClient`; S3 is the documented exception because it needs AWS Signature
//! V4 on every request (canonical requests, payload hashes, session tokens) and the multipart
//! protocol, which `object_store` implements and tests against the real services. Its own HTTP
//! client (reqwest, rustls) is configured to follow the suite's rules instead: the retry policy of
//! the run (`--retries`: the same number of attempts, backoff from 0.5 s doubling to at most 10 s,
//! with jitter; 5xx, 429, 408 and connection failures are retried), and plain `http://` only for
//! loopback endpoints or hosts listed with `--insecure-registry`, checked by
//! [`HttpClient::check_url`]. Two differences remain: `object_store` does not honour
//! `Retry-After`, and its retries are not announced at `-v`.
//!
//! **Async.** `object_store` is async; the host owns a small current-thread tokio runtime and
//! blocks on it, so nothing async leaks into [`Host`].
//!
//! **Credentials** come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN` for temporary credentials); missing ones are a usage error naming them.
//! The secret key and token are [`Secret`]s, handed to the signer only; messages name the access
//! key id and the variable it came from, never the secret.

use std::fmt;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential};
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, HeaderValue, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
    StaticCredentialProvider, UpdateVersion,
};
use serde::{Deserialize, Serialize};

use forge_core::exit::{usage, with_hint, with_kind, ErrorKind, ResultExt};
use forge_core::http::{HttpClient, RetryPolicy};
use forge_core::secret::Secret;
use forge_core::Shell;

use super::{Host, HostSpec, HostState, Save};
use crate::stage::{Asset, AssetKind, Staged};

/// The variable holding the access key id.
pub const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
/// The variable holding the secret access key.
pub const SECRET_KEY_VAR: &str = "AWS_SECRET_ACCESS_KEY";
/// The variable holding the session token of temporary credentials (optional).
pub const SESSION_TOKEN_VAR: &str = "AWS_SESSION_TOKEN";

/// The region when the host table names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Files larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;

/// The size of each part of a multipart upload (S3 wants at least 5 MiB but for the last).
pub const PART_SIZE: u64 = 16 << 20;

/// The release manifest, next to the assets.
pub const MANIFEST_NAME: &str = "release.json";

/// The pointer to the newest stable release, under the prefix.
pub const LATEST_NAME: &str = "latest.json";

/// The user metadata key holding an asset's SHA-256 (`x-amz-meta-sha256`).
const SHA256_METADATA: &str = "sha256";

/// State steps and data keys.
const STEP_MANIFEST: &str = "manifest";
const STEP_LATEST: &str = "latest";
const CREATED: &str = "created:";

/// How long one request may take: a whole object up to [`MULTIPART_THRESHOLD`] or one part on a
/// slow uplink.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a host publishes: the `{ kind = "s3", … }` table, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (`""`: the bucket's root).
    pub prefix: String,
    /// A custom endpoint (`http://127.0.0.1:8333`, `https://minio.example`); `None` is AWS.
    pub endpoint: Option<String>,
    pub region: String,
}

impl S3Config {
    /// A bucket on AWS, at the bucket's root, in [`DEFAULT_REGION`].
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: None,
            region: DEFAULT_REGION.to_string(),
        }
    }

    /// The config of an `s3` host table; `None` for another kind.
    pub fn from_spec(spec: &HostSpec) -> Option<S3Config> {
        match spec {
            HostSpec::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => Some(S3Config {
                bucket: bucket.clone(),
                prefix: prefix.clone().unwrap_or_default(),
                endpoint: endpoint.clone(),
                region: region.clone().unwrap_or_else(|| DEFAULT_REGION.to_string()),
            }),
            _ => None,
        }
    }
}

/// Credentials for SigV4.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Where they came from, for messages.
    source: String,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .finish()
    }
}

impl S3Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    ) -> S3Credentials {
        S3Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key,
            session_token,
            source: "the configured credentials".into(),
        }
    }

    /// From `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` as looked up by
    /// `var`; a usage error naming the missing variables (and `bucket`) when incomplete.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, bucket: &str) -> Result<S3Credentials> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let id = get(ACCESS_KEY_VAR);
        let secret = get(SECRET_KEY_VAR);
        let token = get(SESSION_TOKEN_VAR);
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(S3Credentials {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: token.map(Secret::new),
                source: format!("{ACCESS_KEY_VAR}/{SECRET_KEY_VAR}"),
            }),
            (id, secret) => {
                let missing: Vec<&str> = [
                    (ACCESS_KEY_VAR, id.is_none()),
                    (SECRET_KEY_VAR, secret.is_none()),
                ]
                .into_iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| n)
                .collect();
                Err(usage(format!(
                    "no s3 credentials to publish to bucket `{bucket}`: {} not set",
                    missing.join(" and ")
                )))
                .hint(format!(
                    "set {ACCESS_KEY_VAR} and {SECRET_KEY_VAR} (and {SESSION_TOKEN_VAR} for temporary \
                     credentials) to a key that may list, read and write the bucket"
                ))
            }
        }
    }
}

/// What an upload found or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Uploaded {
    /// We created the object.
    Created,
    /// An identical object was there already.
    Existing,
}

/// What went wrong talking to the store, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Auth,
    NoBucket,
    Transport,
    Other,
}

fn classify(err: &object_store::Error) -> Failure {
    if matches!(
        err,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) {
        return Failure::Auth;
    }
    // Callers handle a missing object themselves; a 404 that reaches a message is the bucket
    // (or the endpoint's path) that is not there.
    if matches!(err, object_store::Error::NotFound { .. }) {
        return Failure::NoBucket;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<object_store::client::HttpError>()
            .is_some()
        {
            return Failure::Transport;
        }
        source = e.source();
    }
    let text = err.to_string();
    if text.contains("NoSuchBucket") || text.contains("status code: 404") {
        Failure::NoBucket
    } else if text.contains("status code: 403") || text.contains("status code: 401") {
        Failure::Auth
    } else {
        Failure::Other
    }
}

/// object_store's error as one line: the request (method and URL, without the query), then
/// what the server answered (status, S3 error code and message, without the XML) or why the
/// request failed (the innermost cause), and the attempts made.
fn one_line(err: &object_store::Error) -> String {
    let text = err.to_string();
    let request = ["GET ", "PUT ", "POST ", "HEAD ", "DELETE "]
        .iter()
        .filter_map(|m| text.find(&format!("Error performing {m}")))
        .min()
        .map(|i| {
            let rest = &text[i + "Error performing ".len()..];
            let end = rest.find(" in ").unwrap_or(rest.len());
            let (method, url) = rest[..end].split_once(' ').unwrap_or((&rest[..end], ""));
            format!("{method} {}", url.split('?').next().unwrap_or(url))
        });
    let attempts = text
        .find(", after ")
        .and_then(|i| text[i + 8..].split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(1, |retries| retries + 1);
    let between = |from: &str, to: &str| {
        let start = text.find(from)? + from.len();
        let len = text[start..].find(to)?;
        Some(text[start..start + len].trim().to_string())
    };
    let answer = match text.find("status code: ") {
        Some(i) => {
            let status = text[i + 13..].split(':').next().unwrap_or("").trim();
            match (
                between("<Code>", "</Code>"),
                between("<Message>", "</Message>"),
            ) {
                (Some(code), Some(message)) => format!("{status} ({code}: {message})"),
                (Some(code), None) => format!("{status} ({code})"),
                _ => status.to_string(),
            }
        }
        None => {
            let mut last: &(dyn std::error::Error + 'static) = err;
            while let Some(next) = last.source() {
                last = next;
            }
            last.to_string()
        }
    };
    let mut line = match request {
        Some(r) => format!("{r}: {answer}"),
        None => answer,
    };
    if attempts > 1 {
        line.push_str(&format!(" ({attempts} attempts)"));
    }
    line
}

/// object_store's retry configuration for the suite's [`RetryPolicy`]: as many attempts, backoff
/// from `base` growing ×2 up to `cap` (object_store draws each wait between the first and the
/// doubled previous one, capped; close to our full jitter), and an overall limit that leaves room
/// for every backoff and a slow request but stays under the 5 minutes after which a SigV4
/// signature of a replayed request may no longer be accepted.
pub fn retry_config(policy: RetryPolicy) -> RetryConfig {
    let retries = policy.max_attempts() - 1;
    let waits: Duration = (1..=retries).map(|r| policy.ceiling(r)).sum();
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: policy.base,
            max_backoff: policy.cap,
            base: 2.0,
        },
        max_retries: retries as usize,
        retry_timeout: (waits + Duration::from_secs(120)).min(Duration::from_secs(300)),
    }
}

/// The manifest written as `<prefix>/<tag>/release.json`. Its bytes depend only on the release,
/// so a re-run writes (and compares) the same document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub package: String,
    pub version: String,
    pub tag: String,
    pub prerelease: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub assets: Vec<ManifestAsset>,
}

/// One asset of [`Manifest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestAsset {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub kind: AssetKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Manifest {
    pub fn of(release: &Staged) -> Manifest {
        Manifest {
            package: release.package.clone(),
            version: release.version.clone(),
            tag: release.tag.clone(),
            prerelease: release.prerelease,
            commit: release.commit.clone(),
            assets: release
                .assets
                .iter()
                .map(|a| ManifestAsset {
                    name: a.name.clone(),
                    size: a.size,
                    sha256: a.sha256.clone(),
                    kind: a.kind,
                    target: a.target.clone(),
                })
                .collect(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        v.push(b'\n');
        v
    }
}

/// `<prefix>/latest.json`: the newest stable release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub package: String,
    pub version: String,
    pub tag: String,
    /// The key of its `release.json`.
    pub manifest: String,
}

impl Latest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a pointer serialises");
        v.push(b'\n');
        v
    }
}

/// An S3 bucket (and prefix) as a release host.
pub struct S3Host {
    config: S3Config,
    /// The endpoint for messages: the custom one, or AWS's for the region.
    endpoint: String,
    access_key_id: String,
    credential_source: String,
    store: AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl fmt::Debug for S3Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the store: its configuration holds the credentials.
        f.debug_struct("S3Host")
            .field("config", &self.config)
            .field("access_key_id", &self.access_key_id)
            .finish()
    }
}

impl S3Host {
    /// A host for `config` with explicit credentials. `http` gives the run's retry policy and
    /// the plain-HTTP rule (loopback or `--insecure-registry` hosts only); its client is not used.
    pub fn new(config: S3Config, credentials: S3Credentials, http: &HttpClient) -> Result<S3Host> {
        let config = validate(config, http)?;
        let endpoint = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", config.region));
        let mut options = ClientOptions::new()
            .with_user_agent(HeaderValue::from_static(concat!(
                "cargo-forge/",
                env!("CARGO_PKG_VERSION")
            )))
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        if endpoint.starts_with("http://") {
            // `validate` let it through `HttpClient::check_url`: loopback or listed.
            options = options.with_allow_http(true);
        }
        let credential = AwsCredential {
            key_id: credentials.access_key_id.clone(),
            secret_key: credentials.secret_access_key.expose().to_string(),
            token: credentials
                .session_token
                .as_ref()
                .map(|t| t.expose().to_string()),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_credentials(Arc::new(StaticCredentialProvider::new(credential)))
            .with_retry(retry_config(http.policy()))
            .with_client_options(options);
        builder = match &config.endpoint {
            // Custom endpoints (MinIO, SeaweedFS…) are addressed path-style: no DNS per bucket.
            Some(e) => builder
                .with_endpoint(e)
                .with_virtual_hosted_style_request(false),
            // AWS prefers virtual-hosted style; a bucket with dots cannot use it over TLS.
            None => builder.with_virtual_hosted_style_request(!config.bucket.contains('.')),
        };
        let store = builder.build().map_err(|e| {
            usage(format!(
                "invalid s3 host for bucket `{}`: {e}",
                config.bucket
            ))
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to start the runtime of the s3 client")?;
        Ok(S3Host {
            config,
            endpoint,
            access_key_id: credentials.access_key_id,
            credential_source: credentials.source,
            store,
            rt,
        })
    }

    /// A host for `config` with credentials from the environment ([`S3Credentials::from_vars`]).
    pub fn from_env(config: S3Config, http: &HttpClient) -> Result<S3Host> {
        S3Host::from_vars(config, http, |name| std::env::var(name).ok())
    }

    /// [`S3Host::from_env`] with the variables looked up by `var` (for tests).
    pub fn from_vars(
        config: S3Config,
        http: &HttpClient,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Host> {
        let credentials = S3Credentials::from_vars(var, &config.bucket)?;
        S3Host::new(config, credentials, http)
    }

    /// A host for an `s3` host table, credentials from the environment.
    pub fn from_spec(spec: &HostSpec, http: &HttpClient) -> Result<S3Host> {
        let config =
            S3Config::from_spec(spec).ok_or_else(|| anyhow!("not an s3 host table: {spec:?}"))?;
        S3Host::from_env(config, http)
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `<prefix>/<rest>`, validated as an object key.
    pub fn key(&self, rest: &str) -> Result<String> {
        let key = if self.config.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.config.prefix)
        };
        Key::parse(&key).map_err(|e| {
            usage(format!(
                "invalid object key `{key}` in bucket `{}`: {e}",
                self.config.bucket
            ))
        })?;
        Ok(key)
    }

    fn asset_key(&self, release: &Staged, name: &str) -> Result<String> {
        self.key(&format!("{}/{name}", release.tag))
    }

    fn manifest_key(&self, release: &Staged) -> Result<String> {
        self.key(&format!("{}/{MANIFEST_NAME}", release.tag))
    }

    /// `<prefix>/latest.json`, or `<prefix>/<package>-latest.json` for a package with tags of
    /// its own.
    fn latest_key(&self, release: &Staged) -> Result<String> {
        if release.latest == "latest" || release.latest.is_empty() {
            self.key(LATEST_NAME)
        } else {
            self.key(&format!("{}.json", release.latest))
        }
    }

    /// `s3://bucket/key`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.config.bucket)
    }

    /// `s3://bucket/prefix` and, for a custom endpoint, where.
    pub fn place(&self) -> String {
        let mut p = format!("s3://{}", self.config.bucket);
        if !self.config.prefix.is_empty() {
            p.push('/');
            p.push_str(&self.config.prefix);
        }
        if self.config.endpoint.is_some() {
            p.push_str(&format!(" at {}", self.endpoint));
        }
        p
    }

    /// An object_store error as a message naming what we tried, the bucket and endpoint, and
    /// what to do.
    fn fail(&self, err: object_store::Error, what: &str) -> anyhow::Error {
        let class = classify(&err);
        let bucket = &self.config.bucket;
        let endpoint = &self.endpoint;
        // One line instead of object_store's chain, which repeats itself at every level and
        // carries the server's XML.
        let err = anyhow!("{}", one_line(&err));
        match class {
            Failure::Auth => with_hint(
                with_kind(
                    err.context(format!(
                        "failed to {what}: the s3 endpoint `{endpoint}` refused access key `{}` \
                         (from {}) for bucket `{bucket}`",
                        self.access_key_id, self.credential_source
                    )),
                    ErrorKind::Network,
                ),
                format!(
                    "check {ACCESS_KEY_VAR} and {SECRET_KEY_VAR} (and {SESSION_TOKEN_VAR} for \
                     temporary credentials), and that the key may list, read and write bucket \
                     `{bucket}`"
                ),
            ),
            Failure::NoBucket => with_hint(
                with_kind(
                    err.context(format!(
                        "failed to {what}: bucket `{bucket}` does not exist at `{endpoint}`"
                    )),
                    ErrorKind::Network,
                ),
                "create the bucket, or fix `bucket`, `endpoint` or `region` of the s3 host".into(),
            ),
            Failure::Transport => with_hint(
                with_kind(
                    err.context(format!(
                        "failed to {what}: the s3 endpoint `{endpoint}` could not be reached"
                    )),
                    ErrorKind::Network,
                ),
                format!(
                    "check that `{endpoint}` is reachable; the number of attempts is set with \
                     `--retries N` or FORGE_RETRIES"
                ),
            ),
            Failure::Other => with_kind(
                err.context(format!(
                    "failed to {what} (bucket `{bucket}` at `{endpoint}`)"
                )),
                ErrorKind::Network,
            ),
        }
    }

    fn conflict(&self, key: &str, detail: String) -> anyhow::Error {
        with_hint(
            with_kind(
                anyhow!(
                    "`{}` already exists with other content ({detail}): a published object is \
                     never overwritten",
                    self.url(key)
                ),
                ErrorKind::Check,
            ),
            "publish a new version; if that object was never announced, delete it and run again"
                .into(),
        )
    }

    /// The objects under `<prefix>/<tag>/`, by name (one listing; also proves that the endpoint
    /// answers, the credentials are accepted and the bucket exists).
    fn list_release(&self, release: &Staged) -> Result<Vec<object_store::ObjectMeta>> {
        let dir = self.key(&release.tag)?;
        let dir = Key::parse(&dir).expect("validated");
        let listing = self
            .rt
            .block_on(self.store.list_with_delimiter(Some(&dir)))
            .map_err(|e| self.fail(e, &format!("list `{}/`", self.url(dir.as_ref()))))?;
        Ok(listing.objects)
    }

    fn name_of<'a>(&self, release: &Staged, meta: &'a object_store::ObjectMeta) -> Option<&'a str> {
        let key = meta.location.as_ref();
        let dir = self.key(&release.tag).ok()?;
        key.strip_prefix(&dir)?.strip_prefix('/')
    }

    /// The object's bytes, or `None` when absent.
    fn get_bytes(&self, key: &str) -> Result<Option<(Vec<u8>, object_store::ObjectMeta)>> {
        let path = Key::parse(key).expect("validated");
        let what = format!("read `{}`", self.url(key));
        self.rt.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => {
                    let meta = r.meta.clone();
                    let bytes = r.bytes().await.map_err(|e| self.fail(e, &what))?;
                    Ok(Some((bytes.to_vec(), meta)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.fail(e, &what)),
            }
        })
    }

    /// Whether `key` is absent (`Ok(true)`), present (`Ok(false)`).
    fn is_absent(&self, key: &str) -> Result<bool> {
        let path = Key::parse(key).expect("validated");
        match self.rt.block_on(self.store.head(&path)) {
            Ok(_) => Ok(false),
            Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) => Err(self.fail(e, &format!("look up `{}`", self.url(key)))),
        }
    }

    /// Checks that the object at `key` is the staged asset: size, then the SHA-256 in its
    /// metadata, else the SHA-256 of its bytes (read in ranges). A conflict is an error naming
    /// the key; `Ok(false)` means the object is gone.
    pub fn check_existing(&self, asset: &Asset, key: &str, shell: &Shell) -> Result<bool> {
        let path = Key::parse(key).expect("validated");
        let what = format!("look up `{}`", self.url(key));
        let head = self.rt.block_on(self.store.get_opts(
            &path,
            GetOptions {
                head: true,
                ..Default::default()
            },
        ));
        let head = match head {
            Ok(h) => h,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.fail(e, &what)),
        };
        if head.meta.size != asset.size {
            return Err(self.conflict(
                key,
                format!(
                    "{} bytes, the staged `{}` has {}",
                    head.meta.size, asset.name, asset.size
                ),
            ));
        }
        let recorded = head
            .attributes
            .get(&Attribute::Metadata(SHA256_METADATA.into()))
            .map(|v| v.as_ref().to_ascii_lowercase());
        let remote = match recorded {
            Some(sha) => sha,
            None => {
                shell.verbose_status(
                    "Verifying",
                    format!("`{}` (no sha256 metadata: reading it back)", self.url(key)),
                );
                self.hash_object(&path, head.meta.size, &what)?
            }
        };
        if remote != asset.sha256 {
            return Err(self.conflict(
                key,
                format!(
                    "sha256 {remote}, the staged `{}` has {}",
                    asset.name, asset.sha256
                ),
            ));
        }
        Ok(true)
    }

    fn hash_object(&self, path: &Key, size: u64, what: &str) -> Result<String> {
        let mut hasher = forge_core::digest::HashingWriter::new(std::io::sink());
        let mut start = 0u64;
        while start < size {
            let end = (start + PART_SIZE).min(size);
            let bytes = self
                .rt
                .block_on(self.store.get_range(path, start..end))
                .map_err(|e| self.fail(e, what))?;
            std::io::Write::write_all(&mut hasher, &bytes).expect("writing to a sink");
            start = end;
        }
        Ok(hasher.finish().1)
    }

    /// Uploads one asset unless an identical object is there; never replaces one. `listed`: the
    /// object was in the listing just made (so it is compared first instead of sent again).
    fn upload(&self, asset: &Asset, key: &str, listed: bool, shell: &Shell) -> Result<Uploaded> {
        let path = Key::parse(key).expect("validated");
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, asset.content_type().into());
        attributes.insert(
            Attribute::Metadata(SHA256_METADATA.into()),
            asset.sha256.clone().into(),
        );
        let what = format!("upload `{}` to `{}`", asset.name, self.url(key));
        if listed && self.check_existing(asset, key, shell)? {
            return Ok(Uploaded::Existing);
        }
        if asset.size > MULTIPART_THRESHOLD {
            if self.check_existing(asset, key, shell)? {
                return Ok(Uploaded::Existing);
            }
            self.upload_multipart(asset, &path, attributes, &what, shell)?;
            return Ok(Uploaded::Created);
        }
        let bytes = forge_core::fsx::read(&asset.path)?;
        if forge_core::digest::sha256_hex(&bytes) != asset.sha256 {
            return Err(changed_since_staging(asset));
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            attributes,
            ..Default::default()
        };
        match self
            .rt
            .block_on(self.store.put_opts(&path, PutPayload::from(bytes), opts))
        {
            Ok(_) => Ok(Uploaded::Created),
            Err(object_store::Error::AlreadyExists { .. }) => {
                if self.check_existing(asset, key, shell)? {
                    Ok(Uploaded::Existing)
                } else {
                    Err(anyhow!(
                        "`{}` was reported to exist and then was gone: is another release of {} running?",
                        self.url(key),
                        asset.name
                    ))
                    .kind(ErrorKind::Network)
                }
            }
            Err(e) => Err(self.fail(e, &what)),
        }
    }

    /// A multipart upload in [`PART_SIZE`] parts, hashing what is sent; completed only when the
    /// digest is the staged one, aborted on any failure.
    fn upload_multipart(
        &self,
        asset: &Asset,
        path: &Key,
        attributes: Attributes,
        what: &str,
        shell: &Shell,
    ) -> Result<()> {
        let bar = shell.progress_bar(asset.size, asset.name.clone(), true);
        let result = self.rt.block_on(async {
            let mut upload = self
                .store
                .put_multipart_opts(path, PutMultipartOptions::from(attributes))
                .await
                .map_err(|e| self.fail(e, what))?;
            let sent: Result<()> = async {
                let mut file = std::fs::File::open(&asset.path)
                    .with_context(|| format!("failed to open `{}`", asset.path.display()))?;
                let mut hasher = forge_core::digest::HashingWriter::new(std::io::sink());
                loop {
                    let mut part = Vec::with_capacity(PART_SIZE as usize);
                    (&mut file)
                        .take(PART_SIZE)
                        .read_to_end(&mut part)
                        .with_context(|| format!("failed to read `{}`", asset.path.display()))?;
                    if part.is_empty() {
                        break;
                    }
                    std::io::Write::write_all(&mut hasher, &part).expect("writing to a sink");
                    let n = part.len() as u64;
                    upload
                        .put_part(PutPayload::from(part))
                        .await
                        .map_err(|e| self.fail(e, what))?;
                    bar.inc(n);
                }
                let (_, sha, len) = hasher.finish();
                if sha != asset.sha256 || len != asset.size {
                    return Err(changed_since_staging(asset));
                }
                upload.complete().await.map_err(|e| self.fail(e, what))?;
                Ok(())
            }
            .await;
            if sent.is_err() {
                // Best effort: an abandoned upload is invisible, but it holds storage until a
                // lifecycle rule removes it.
                let _ = upload.abort().await;
            }
            sent
        });
        bar.finish_and_clear();
        result
    }

    /// Writes a small JSON object with create-if-absent; an existing identical one is fine.
    fn put_new_json(&self, key: &str, bytes: Vec<u8>, what: &str) -> Result<Uploaded> {
        let path = Key::parse(key).expect("validated");
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, "application/json".into());
        let opts = PutOptions {
            mode: PutMode::Create,
            attributes,
            ..Default::default()
        };
        match self.rt.block_on(
            self.store
                .put_opts(&path, PutPayload::from(bytes.clone()), opts),
        ) {
            Ok(_) => Ok(Uploaded::Created),
            Err(object_store::Error::AlreadyExists { .. }) => match self.get_bytes(key)? {
                Some((existing, _)) if existing == bytes => Ok(Uploaded::Existing),
                _ => Err(self.conflict(key, "a different document".into())),
            },
            Err(e) => Err(self.fail(e, what)),
        }
    }

    /// Uploads the assets not recorded as done.
    fn upload_all(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        let todo: Vec<&Asset> = release
            .assets
            .iter()
            .filter(|a| !state.is_done(&format!("upload:{}", a.name)))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        shell.status(
            "Uploading",
            format!("{} files to {}", todo.len(), self.place()),
        );
        // One listing, so that a re-run compares what is there instead of sending it again.
        let objects = self.list_release(release)?;
        let (mut created, mut existing) = (0, 0);
        for a in todo {
            let key = self.asset_key(release, &a.name)?;
            let listed = objects
                .iter()
                .any(|m| self.name_of(release, m) == Some(a.name.as_str()));
            shell.verbose_status(
                "Uploading",
                format!("`{}` ({} bytes)", self.url(&key), a.size),
            );
            match self.upload(a, &key, listed, shell)? {
                Uploaded::Created => {
                    created += 1;
                    state.data.insert(format!("{CREATED}{}", a.name), key);
                }
                Uploaded::Existing => {
                    existing += 1;
                    shell.verbose_status(
                        "Skipping",
                        format!("`{}` (already there)", self.url(&key)),
                    );
                }
            }
            state.done.insert(format!("upload:{}", a.name));
            save(state)?;
        }
        let mut msg = format!("{created} files to {}", self.place());
        if existing > 0 {
            msg.push_str(&format!(" ({existing} already there)"));
        }
        shell.status("Uploaded", msg);
        Ok(())
    }

    /// Checks with one listing that every asset is there with its size before the manifest
    /// makes the release visible; a missing one is forgotten in the state so a re-run uploads it.
    fn verify_uploaded(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
    ) -> Result<Vec<object_store::ObjectMeta>> {
        let objects = self.list_release(release)?;
        let mut problems = Vec::new();
        for a in &release.assets {
            let found = objects
                .iter()
                .find(|m| self.name_of(release, m) == Some(a.name.as_str()));
            let problem = match found {
                None => Some(format!("`{}` is missing", a.name)),
                Some(m) if m.size != a.size => {
                    Some(format!("`{}` has {} bytes, not {}", a.name, m.size, a.size))
                }
                Some(_) => None,
            };
            if let Some(p) = problem {
                problems.push(p);
                state.done.remove(&format!("upload:{}", a.name));
            }
        }
        if problems.is_empty() {
            return Ok(objects);
        }
        save(state)?;
        Err(anyhow!(
            "{} does not hold release {} completely: {}; {MANIFEST_NAME} was not written",
            self.place(),
            release.tag,
            problems.join("; ")
        ))
        .kind(ErrorKind::Check)
        .hint("nothing was made visible; run the same command again to upload what is missing")
    }

    // Primitives for the `apt` host on S3, which keeps an APT repository under the prefix.

    /// `key` relative to the prefix (`None` when it is outside it).
    pub fn relative<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.config.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.config.prefix.as_str())?
                .strip_prefix('/')
        }
    }

    /// Every object under `<prefix>/<rest>/`, at any depth (one listing per directory level).
    pub fn list_all(&self, rest: &str) -> Result<Vec<object_store::ObjectMeta>> {
        let top = self.key(rest)?;
        let mut todo = vec![Key::parse(&top).expect("validated")];
        let mut out = Vec::new();
        while let Some(dir) = todo.pop() {
            let listing = self
                .rt
                .block_on(self.store.list_with_delimiter(Some(&dir)))
                .map_err(|e| self.fail(e, &format!("list `{}/`", self.url(dir.as_ref()))))?;
            out.extend(listing.objects);
            todo.extend(listing.common_prefixes);
        }
        out.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(out)
    }

    /// The bytes of `key`, `None` when absent.
    pub fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_bytes(key)?.map(|(b, _)| b))
    }

    /// Uploads a file as a new object unless an identical one is there (never replaces one);
    /// `true` when it created the object.
    pub fn put_new(&self, asset: &Asset, key: &str, shell: &Shell) -> Result<bool> {
        Ok(self.upload(asset, key, false, shell)? == Uploaded::Created)
    }

    /// The bytes of `key` and the version to name in a conditional write of it
    /// ([`S3Host::put_if`]); `None` when absent.
    pub fn read_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, UpdateVersion)>> {
        Ok(self.get_bytes(key)?.map(|(b, meta)| {
            (
                b,
                UpdateVersion {
                    e_tag: meta.e_tag,
                    version: meta.version,
                },
            )
        }))
    }

    /// The metadata of `key` (size, time of the last write), `None` when absent.
    pub fn head(&self, key: &str) -> Result<Option<object_store::ObjectMeta>> {
        let path = Key::parse(key).expect("validated");
        match self.rt.block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(e, &format!("look up `{}`", self.url(key)))),
        }
    }

    /// Writes a small object that moves (an index, read with `no-cache`) only if it is still as
    /// it was read: `If-Match` on `expected` (the version [`S3Host::read_versioned`] gave), or
    /// `If-None-Match: *` when it was absent (`None`). `Ok(false)` when someone else wrote it
    /// in between (412 or 409): the caller re-reads and merges.
    pub fn put_if(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        expected: Option<UpdateVersion>,
    ) -> Result<bool> {
        let path = Key::parse(key).expect("validated");
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
        attributes.insert(Attribute::CacheControl, "no-cache".into());
        let opts = PutOptions {
            mode: match expected {
                None => PutMode::Create,
                Some(v) => PutMode::Update(v),
            },
            attributes,
            ..Default::default()
        };
        match self
            .rt
            .block_on(self.store.put_opts(&path, PutPayload::from(bytes), opts))
        {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.fail(e, &format!("write `{}`", self.url(key)))),
        }
    }

    /// Deletes `key` (absent is fine).
    pub fn delete(&self, key: &str) -> Result<()> {
        let path = Key::parse(key).expect("validated");
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail(e, &format!("delete `{}`", self.url(key)))),
        }
    }

    /// Points `latest.json` at the release unless it points at a newer one; compare-and-swap on
    /// the ETag so that a concurrent release cannot be overwritten unseen.
    fn point_latest(&self, release: &Staged, shell: &Shell) -> Result<()> {
        let key = self.latest_key(release)?;
        let path = Key::parse(&key).expect("validated");
        let ours = Latest {
            package: release.package.clone(),
            version: release.version.clone(),
            tag: release.tag.clone(),
            manifest: self.manifest_key(release)?,
        };
        let what = format!("point `{}` at {}", self.url(&key), release.tag);
        for _ in 0..3 {
            let current = self.get_bytes(&key)?;
            let mode = match &current {
                None => PutMode::Create,
                Some((bytes, meta)) => {
                    if let Ok(theirs) = serde_json::from_slice::<Latest>(bytes) {
                        if theirs.tag == ours.tag && *bytes == ours.to_bytes() {
                            return Ok(());
                        }
                        let newer = match (
                            semver::Version::parse(&theirs.version),
                            semver::Version::parse(&ours.version),
                        ) {
                            (Ok(t), Ok(o)) => t > o,
                            _ => false,
                        };
                        if newer {
                            shell.note(format!(
                                "`{}` points at {} ({}), newer than {}: left as it is",
                                self.url(&key),
                                theirs.tag,
                                theirs.version,
                                release.version
                            ));
                            return Ok(());
                        }
                    }
                    PutMode::Update(UpdateVersion {
                        e_tag: meta.e_tag.clone(),
                        version: meta.version.clone(),
                    })
                }
            };
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, "application/json".into());
            // A pointer that moves: caches must ask again.
            attributes.insert(Attribute::CacheControl, "no-cache".into());
            let opts = PutOptions {
                mode,
                attributes,
                ..Default::default()
            };
            match self.rt.block_on(self.store.put_opts(
                &path,
                PutPayload::from(ours.to_bytes()),
                opts,
            )) {
                Ok(_) => return Ok(()),
                // Someone else wrote it in between: look again.
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => continue,
                Err(e) => return Err(self.fail(e, &what)),
            }
        }
        Err(anyhow!(
            "failed to {what}: it kept changing while we wrote it (is another release running?)"
        ))
        .kind(ErrorKind::Network)
    }
}

fn changed_since_staging(asset: &Asset) -> anyhow::Error {
    with_hint(
        with_kind(
            anyhow!(
                "`{}` changed since it was staged (sha256 no longer {})",
                asset.path.display(),
                asset.sha256
            ),
            ErrorKind::Check,
        ),
        "stage the release again: published files must be the ones checksummed and signed".into(),
    )
}

/// Normalises and checks a config before anything is sent.
fn validate(mut config: S3Config, http: &HttpClient) -> Result<S3Config> {
    config.bucket = config.bucket.trim().to_string();
    let bucket = config.bucket.clone();
    if bucket.is_empty()
        || bucket.contains('/')
        || bucket.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(usage(format!("invalid bucket name `{bucket}` of the s3 host")))
            .hint("write it like `hosts = [{ kind = \"s3\", bucket = \"releases\" }]`, without `s3://` or slashes");
    }
    config.prefix = config.prefix.trim().trim_matches('/').to_string();
    if !config.prefix.is_empty() {
        Key::parse(&config.prefix).map_err(|e| {
            usage(format!(
                "invalid `prefix` `{}` of the s3 host for bucket `{bucket}`: {e}",
                config.prefix
            ))
        })?;
    }
    config.region = config.region.trim().to_string();
    if config.region.is_empty() {
        config.region = DEFAULT_REGION.to_string();
    }
    if let Some(e) = &config.endpoint {
        let e = e.trim().trim_end_matches('/').to_string();
        http.check_url(&e)
            .with_context(|| format!("invalid `endpoint` of the s3 host for bucket `{bucket}`"))?;
        config.endpoint = Some(e);
    }
    Ok(config)
}

impl Host for S3Host {
    fn id(&self) -> String {
        let mut id = match &self.config.endpoint {
            Some(e) => format!("s3:{e}/{}", self.config.bucket),
            None => format!("s3://{}", self.config.bucket),
        };
        if !self.config.prefix.is_empty() {
            id.push('/');
            id.push_str(&self.config.prefix);
        }
        id
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        let dir = self
            .key(&release.tag)
            .unwrap_or_else(|_| release.tag.clone());
        let mut v = vec![
            format!(
                "upload {} files to {}/",
                release.assets.len(),
                self.url(&dir)
            ),
            format!("write {}/{MANIFEST_NAME}", self.url(&dir)),
        ];
        if !release.prerelease {
            let latest = self
                .latest_key(release)
                .unwrap_or_else(|_| LATEST_NAME.into());
            v.push(format!(
                "point {} at {} unless it points at a higher version",
                self.url(&latest),
                release.tag
            ));
        }
        v
    }

    fn preflight(&self, release: &Staged, _state: &HostState, shell: &Shell) -> Result<()> {
        for a in &release.assets {
            self.asset_key(release, &a.name)?;
        }
        let manifest_key = self.manifest_key(release)?;
        self.latest_key(release)?;
        // Reachable, credentials accepted, bucket there.
        let objects = self.list_release(release)?;
        let by_name = |name: &str| {
            objects
                .iter()
                .find(|m| self.name_of(release, m) == Some(name))
        };
        if by_name(MANIFEST_NAME).is_some() {
            match self.get_bytes(&manifest_key)? {
                Some((bytes, _)) if bytes == Manifest::of(release).to_bytes() => {}
                Some(_) => {
                    return Err(anyhow!(
                        "`{}` already describes a different release {}",
                        self.url(&manifest_key),
                        release.tag
                    ))
                    .kind(ErrorKind::Check)
                    .hint("a published release is never changed: publish a new version")
                }
                None => {}
            }
        }
        for a in &release.assets {
            if by_name(&a.name).is_some() {
                self.check_existing(a, &self.asset_key(release, &a.name)?, shell)?;
            }
        }
        Ok(())
    }

    fn prepare(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        self.upload_all(release, state, save, shell)
    }

    fn publish(
        &self,
        release: &Staged,
        state: &mut HostState,
        save: &mut Save<'_>,
        shell: &Shell,
    ) -> Result<()> {
        self.upload_all(release, state, save, shell)?;
        let dir = self.key(&release.tag)?;
        if !state.is_done(STEP_MANIFEST) {
            let objects = self.verify_uploaded(release, state, save)?;
            let key = self.manifest_key(release)?;
            let what = format!("write `{}`", self.url(&key));
            let manifest = Manifest::of(release).to_bytes();
            let listed = objects
                .iter()
                .any(|m| self.name_of(release, m) == Some(MANIFEST_NAME));
            let outcome = match listed {
                // Compared, not sent again (a re-run that lost its state).
                true => match self.get_bytes(&key)? {
                    Some((bytes, _)) if bytes == manifest => Uploaded::Existing,
                    Some(_) => return Err(self.conflict(&key, "a different manifest".into())),
                    None => self.put_new_json(&key, manifest, &what)?,
                },
                false => self.put_new_json(&key, manifest, &what)?,
            };
            match outcome {
                Uploaded::Created => shell.status(
                    "Published",
                    format!(
                        "{}/ ({} files and {MANIFEST_NAME})",
                        self.url(&dir),
                        release.assets.len()
                    ),
                ),
                Uploaded::Existing => shell.status(
                    "Unchanged",
                    format!("{}/ (already published)", self.url(&dir)),
                ),
            }
            state.done.insert(STEP_MANIFEST.into());
            save(state)?;
        }
        if !release.prerelease && !state.is_done(STEP_LATEST) {
            self.point_latest(release, shell)?;
            let latest = self.latest_key(release)?;
            shell.status(
                "Pointed",
                format!("{} at {}", self.url(&latest), release.tag),
            );
            state.done.insert(STEP_LATEST.into());
            save(state)?;
        }
        state.published = true;
        save(state)
    }

    fn release_url(&self, release: &Staged, state: &HostState) -> Option<String> {
        let dir = self.key(&release.tag).ok()?;
        state.published.then(|| format!("{}/", self.url(&dir)))
    }

    fn rollback(&self, release: &Staged, state: &mut HostState, shell: &Shell) -> Result<()> {
        let created: Vec<(String, String)> = state
            .data
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(CREATED).map(|n| (n.to_string(), v.clone())))
            .collect();
        if state.is_done(STEP_MANIFEST) || state.published {
            shell.note(format!(
                "release {} is published on {}: nothing is removed",
                release.tag,
                self.place()
            ));
            return Ok(());
        }
        if created.is_empty() {
            return Ok(());
        }
        // The state may lag behind the store (a manifest written, its step not saved): readers
        // could see the release, so nothing is removed.
        let manifest_key = self.manifest_key(release)?;
        if !self.is_absent(&manifest_key)? {
            shell.note(format!(
                "`{}` exists: release {} is visible, nothing is removed",
                self.url(&manifest_key),
                release.tag
            ));
            return Ok(());
        }
        let mut failures = Vec::new();
        let mut removed = 0;
        for (name, key) in created {
            let path = Key::parse(&key)
                .map_err(|e| anyhow!("invalid key `{key}` in the state file: {e}"))?;
            match self.rt.block_on(self.store.delete(&path)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    removed += 1;
                    state.data.remove(&format!("{CREATED}{name}"));
                    state.done.remove(&format!("upload:{name}"));
                }
                Err(e) => failures.push(format!(
                    "{:#}",
                    self.fail(e, &format!("delete `{}`", self.url(&key)))
                )),
            }
        }
        if removed > 0 {
            shell.status(
                "Removed",
                format!(
                    "{removed} unpublished objects of {} from {}",
                    release.tag,
                    self.place()
                ),
            );
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "could not remove {} unpublished objects: {}",
                failures.len(),
                failures.join("; ")
            ))
            .kind(ErrorKind::Network)
            .hint("they are not part of any visible release; a later run of the same release reuses them")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> HttpClient {
        HttpClient::new(RetryPolicy::new(6), vec!["minio.lan:9000".into()])
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn creds() -> Vec<(&'static str, &'static str)> {
        vec![
            (ACCESS_KEY_VAR, "AKIDFORGE"),
            (SECRET_KEY_VAR, "s3-secret-sentinel-4711"),
        ]
    }

    fn config(endpoint: Option<&str>, prefix: &str) -> S3Config {
        S3Config {
            bucket: "releases".into(),
            prefix: prefix.into(),
            endpoint: endpoint.map(Into::into),
            region: DEFAULT_REGION.into(),
        }
    }

    fn staged(prerelease: bool) -> Staged {
        Staged {
            package: "app".into(),
            version: "1.2.3".into(),
            tag: "v1.2.3".into(),
            prerelease,
            commit: Some("abc".into()),
            dir: "/tmp".into(),
            assets: vec![Asset {
                name: "app.tar.gz".into(),
                path: "/tmp/app.tar.gz".into(),
                size: 3,
                sha256: "00".repeat(32),
                kind: AssetKind::Archive,
                target: Some("x86_64-unknown-linux-gnu".into()),
            }],
            image: None,
            notes: "notes".into(),
            packages: vec!["app".into()],
            tag_template: "v{{version}}".into(),
            latest: "latest".into(),
            target: None,
        }
    }

    #[test]
    fn missing_credentials_name_the_variables() {
        let err = S3Host::from_vars(config(None, ""), &http(), vars(&[])).unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 2);
        assert_eq!(
            err.to_string(),
            "no s3 credentials to publish to bucket `releases`: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set"
        );
        let err = S3Host::from_vars(config(None, ""), &http(), vars(&[(ACCESS_KEY_VAR, "AKID")]))
            .unwrap_err();
        assert!(
            err.to_string().ends_with(": AWS_SECRET_ACCESS_KEY not set"),
            "{err}"
        );
        assert!(forge_core::exit::hints(&err)[0].contains("AWS_SESSION_TOKEN"));
    }

    #[test]
    fn credentials_stay_secret() {
        let host = S3Host::from_vars(
            config(Some("http://127.0.0.1:9"), "x"),
            &http(),
            vars(&creds()),
        )
        .unwrap();
        let shown = format!("{host:?}");
        assert!(!shown.contains("s3-secret-sentinel-4711"), "{shown}");
        assert_eq!(forge_core::secret::redact("s3-secret-sentinel-4711"), "***");
        let c = S3Credentials::from_vars(vars(&creds()), "b").unwrap();
        assert!(!format!("{c:?}").contains("sentinel"));
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_hosts() {
        for ok in [
            "http://127.0.0.1:8333",
            "http://localhost:9000/",
            "http://minio.lan:9000",
            "https://s3.example",
        ] {
            S3Host::from_vars(config(Some(ok), ""), &http(), vars(&creds()))
                .unwrap_or_else(|e| panic!("{ok}: {e:#}"));
        }
        let err = S3Host::from_vars(
            config(Some("http://s3.example"), ""),
            &http(),
            vars(&creds()),
        )
        .unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 2);
        let text = format!("{err:#}");
        assert!(text.starts_with("invalid `endpoint` of the s3 host for bucket `releases`: refusing plain http to `s3.example`"), "{text}");
        assert!(forge_core::exit::hints(&err)[0].contains("--insecure-registry s3.example"));
    }

    #[test]
    fn bad_config_is_a_usage_error() {
        for (bucket, prefix) in [
            ("", ""),
            ("s3://x", ""),
            ("a b", ""),
            ("ok", "a/../b"),
            ("ok", "a//b"),
        ] {
            let mut c = config(None, prefix);
            c.bucket = bucket.into();
            let err = S3Host::from_vars(c, &http(), vars(&creds())).unwrap_err();
            assert_eq!(
                forge_core::exit::code_of(&err),
                2,
                "{bucket} {prefix}: {err:#}"
            );
        }
    }

    #[test]
    fn keys_and_ids() {
        let host = S3Host::from_vars(
            config(Some("http://127.0.0.1:8333/"), "/dist/app/"),
            &http(),
            vars(&creds()),
        )
        .unwrap();
        assert_eq!(host.config().prefix, "dist/app");
        assert_eq!(host.id(), "s3:http://127.0.0.1:8333/releases/dist/app");
        let r = staged(false);
        assert_eq!(
            host.asset_key(&r, "app.tar.gz").unwrap(),
            "dist/app/v1.2.3/app.tar.gz"
        );
        assert_eq!(
            host.manifest_key(&r).unwrap(),
            "dist/app/v1.2.3/release.json"
        );
        assert_eq!(host.latest_key(&r).unwrap(), "dist/app/latest.json");
        assert_eq!(
            host.describe(&r),
            [
                "upload 1 files to s3://releases/dist/app/v1.2.3/",
                "write s3://releases/dist/app/v1.2.3/release.json",
                "point s3://releases/dist/app/latest.json at v1.2.3 unless it points at a higher version",
            ]
        );
        assert_eq!(host.describe(&staged(true)).len(), 2);
        let aws = S3Host::from_vars(config(None, ""), &http(), vars(&creds())).unwrap();
        assert_eq!(aws.id(), "s3://releases");
        assert_eq!(aws.endpoint(), "https://s3.us-east-1.amazonaws.com");
        assert_eq!(aws.asset_key(&r, "a.deb").unwrap(), "v1.2.3/a.deb");
        assert!(aws.asset_key(&r, "..").is_err());
    }

    #[test]
    fn retry_config_follows_the_policy() {
        let c = retry_config(RetryPolicy::new(6));
        assert_eq!(c.max_retries, 5);
        assert_eq!(c.backoff.init_backoff, Duration::from_millis(500));
        assert_eq!(c.backoff.max_backoff, Duration::from_secs(10));
        assert_eq!(c.backoff.base, 2.0);
        // 0.5 + 1 + 2 + 4 + 8 s of backoff, and two minutes for requests.
        assert_eq!(c.retry_timeout, Duration::from_millis(135_500));
        assert_eq!(retry_config(RetryPolicy::new(0)).max_retries, 0);
        assert_eq!(retry_config(RetryPolicy::new(1)).max_retries, 0);
        assert_eq!(
            retry_config(RetryPolicy::new(100)).retry_timeout,
            Duration::from_secs(300)
        );
    }

    #[test]
    fn manifest_is_deterministic() {
        let r = staged(false);
        let a = Manifest::of(&r).to_bytes();
        assert_eq!(a, Manifest::of(&r.clone()).to_bytes());
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["tag"], "v1.2.3");
        assert_eq!(v["assets"][0]["sha256"], "00".repeat(32));
        assert_eq!(v["assets"][0]["size"], 3);
        assert_eq!(v["assets"][0]["kind"], "archive");
        // Notes are not part of it: editing them does not make a published release "different".
        let mut other = r.clone();
        other.notes = "changed".into();
        assert_eq!(Manifest::of(&other).to_bytes(), a);
    }
}
