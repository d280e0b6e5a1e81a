//! The S3 store shared by the `s3` and `apt` hosts: one bucket (and key prefix) reached with the
//! `object_store` crate — client set-up, credentials, the retry configuration, messages for
//! failures, create-if-absent uploads (streamed in parts for large files), conditional writes,
//! listing and read-back. What each host writes, and in which order, is theirs
//! ([`super::s3`], [`super::apt`]); this module only knows objects.
//!
//! **Never overwrite.** Uploads are written with `PutMode::Create` (`If-None-Match: *`), so an
//! object that is already there is never replaced. Each uploaded file carries its SHA-256 as user
//! metadata (`x-amz-meta-sha256`); when the object exists, a `HEAD` compares size and that digest
//! (or, for an object some other tool wrote without it, the digest of its bytes, read back in
//! ranges): identical is a finished upload, different is an error naming the key. Files above
//! [`MULTIPART_THRESHOLD`] go up as multipart uploads in [`PART_SIZE`] parts; `object_store`
//! completes a multipart upload unconditionally, so for those the `HEAD` comes right before the
//! upload. What is sent is hashed and checked against the staged digest before an object is
//! created (for a multipart upload, before it is completed), so a file that changed since staging
//! never becomes an object; SigV4 signs each body's SHA-256, so the store rejects a body damaged
//! on the way. Objects that move (`latest.json`, APT indexes) are written with
//! [`S3Store::put_if`]: `If-Match` on the ETag read, or `If-None-Match: *`, so that a writer that
//! lost a race learns it and can read again.
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
//! **Async.** `object_store` is async; the store owns a small current-thread tokio runtime and
//! blocks on it, so nothing async leaks into the hosts.
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
    Attribute, Attributes, ClientOptions, GetOptions, HeaderValue, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, StaticCredentialProvider,
    UpdateVersion,
};

use forge_core::exit::{usage, with_hint, with_kind, ErrorKind, ResultExt};
use forge_core::http::HttpClient;
use forge_core::Shell;

use super::s3config::{
    retry_config, validate, S3Config, S3Credentials, ACCESS_KEY_VAR, SECRET_KEY_VAR,
    SESSION_TOKEN_VAR,
};
use crate::stage::Asset;

/// Files larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;

/// The size of each part of a multipart upload (S3 wants at least 5 MiB but for the last).
pub const PART_SIZE: u64 = 16 << 20;

/// The user metadata key holding an asset's SHA-256 (`x-amz-meta-sha256`).
const SHA256_METADATA: &str = "sha256";

/// How long one request may take: a whole object up to [`MULTIPART_THRESHOLD`] or one part on a
/// slow uplink.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What an upload found or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Uploaded {
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

/// An S3 bucket (and key prefix): the objects both S3 hosts read and write.
pub struct S3Store {
    config: S3Config,
    /// The endpoint for messages: the custom one, or AWS's for the region.
    endpoint: String,
    access_key_id: String,
    credential_source: String,
    store: AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the store: its configuration holds the credentials.
        f.debug_struct("S3Store")
            .field("config", &self.config)
            .field("access_key_id", &self.access_key_id)
            .finish()
    }
}

impl S3Store {
    /// A store for `config` with explicit credentials. `http` gives the run's retry policy and
    /// the plain-HTTP rule (loopback or `--insecure-registry` hosts only); its client is not used.
    pub fn new(config: S3Config, credentials: S3Credentials, http: &HttpClient) -> Result<S3Store> {
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
        Ok(S3Store {
            config,
            endpoint,
            access_key_id: credentials.access_key_id,
            credential_source: credentials.source,
            store,
            rt,
        })
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
    pub(super) fn fail(&self, err: object_store::Error, what: &str) -> anyhow::Error {
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

    pub(super) fn conflict(&self, key: &str, detail: String) -> anyhow::Error {
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

    /// The objects directly under `<dir>/` (one listing; also proves that the endpoint answers,
    /// the credentials are accepted and the bucket exists).
    pub fn list_dir(&self, dir: &str) -> Result<Vec<ObjectMeta>> {
        let dir = Key::parse(dir).expect("validated");
        let listing = self
            .rt
            .block_on(self.store.list_with_delimiter(Some(&dir)))
            .map_err(|e| self.fail(e, &format!("list `{}/`", self.url(dir.as_ref()))))?;
        Ok(listing.objects)
    }

    /// The object's bytes, or `None` when absent.
    pub(super) fn get_bytes(&self, key: &str) -> Result<Option<(Vec<u8>, ObjectMeta)>> {
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
    pub(super) fn is_absent(&self, key: &str) -> Result<bool> {
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
    pub(super) fn upload(
        &self,
        asset: &Asset,
        key: &str,
        listed: bool,
        shell: &Shell,
    ) -> Result<Uploaded> {
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
    pub(super) fn put_new_json(&self, key: &str, bytes: Vec<u8>, what: &str) -> Result<Uploaded> {
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
    pub fn list_all(&self, rest: &str) -> Result<Vec<ObjectMeta>> {
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
    /// ([`S3Store::put_if`]); `None` when absent.
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
    pub fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let path = Key::parse(key).expect("validated");
        match self.rt.block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(e, &format!("look up `{}`", self.url(key)))),
        }
    }

    /// Writes a small object that moves (an index, read with `no-cache`) only if it is still as
    /// it was read: `If-Match` on `expected` (the version [`S3Store::read_versioned`] gave), or
    /// `If-None-Match: *` when it was absent (`None`). `Ok(false)` when someone else wrote it
    /// in between (412 or 409): the caller re-reads and merges. `what` names the write in a
    /// failure's message.
    pub fn put_if(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        expected: Option<UpdateVersion>,
        what: &str,
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
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.fail(e, what)),
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
