//! The one HTTP client of the suite, with the one retry policy (`--retries`, `FORGE_RETRIES`).
//!
//! Every HTTP call cargo-forge makes (registries, S3, GitHub, Gitea) goes through [`HttpClient`],
//! so retries, TLS and the "plain HTTP only for loopback" rule are decided in one place:
//!
//! - **Retries** ([`RetryPolicy`]): 5xx (but 501/505), 408 and 429, connection resets and
//!   refusals, timeouts and truncated bodies are retried, 6 attempts by default (`--retries`,
//!   `FORGE_RETRIES`, config `retries`), with exponential backoff from 0.5 s capped at 10 s and full
//!   jitter (so that the jobs of a CI fan-out do not retry in lock-step). A `Retry-After` answer is
//!   honoured when it asks for at most [`MAX_RETRY_AFTER`]; asking for longer ends the retries and
//!   the response goes back to the caller, who can say so.
//! - **What comes back**: a response with any status is a [`Response`] — after the retries, for a
//!   retryable status — because what a 404 or 401 means depends on the caller. Only transport
//!   failures (after the last attempt) are errors, tagged [`ErrorKind::Network`] and naming the
//!   method, the host and path (never the query, which may carry upload state), the attempts and
//!   the last cause.
//! - **Replaying**: every [`Body`] can be sent again (bytes are shared, files are re-opened and
//!   streamed, never buffered), so [`HttpClient::request`] retries the request as it is. A step that
//!   must not be replayed as it is (a blob upload session: the server forgets it after a failed
//!   `PUT`) uses [`HttpClient::request_once`] and restarts from a known state itself.
//! - **TLS** is rustls, verification always on, trusting Mozilla's roots (built in), the system's
//!   store (`/etc/ssl/certs`) and `SSL_CERT_FILE` / `SSL_CERT_DIR`, so a registry behind a company
//!   CA works once the CA is installed or named. `http://` is refused unless the host is loopback
//!   or listed with `--insecure-registry HOST`.
//! - **Redirects** are followed here, not by the transport, so that every hop passes the checks
//!   of the first URL ([`HttpClient::check_url`]: scheme, plain HTTP only for loopback and listed
//!   hosts) and credentials go only to the origin they were meant for: a hop to another origin
//!   (scheme, host *and* port — `127.0.0.1:5000` and `127.0.0.1:5001` are two) drops them for the
//!   rest of the chain. 303, and 301/302 after a POST, continue as GET without a body; 307/308
//!   repeat the request, body included (bodies are replayable). At most [`MAX_REDIRECTS`] hops.
//! - **Sizes**: a buffered body holds at most [`MAX_BODY`] bytes, or the request's own
//!   [`Request::max_body`] (a manifest, a token); a download stops at it too. Exceeding it is a
//!   [`TooLarge`] error, which callers turn into a message naming their own limit and key.
//! - **Secrets**: credentials travel in [`Request::auth`] as [`Secret`]s, not in the header list,
//!   and the log lines name method, host and path only, so `-vv` shows no `Authorization`.
//!
//! Methods take the [`Shell`] (last) like [`crate::process::Cmd`] does: retries are announced at `-v`
//! (`Retrying GET https://ghcr.io/v2/ (503 Service Unavailable), attempt 2/6 in 0.7s`) and each
//! request with its status at `-vv`. The client counts the attempts it made ([`HttpClient::attempts`])
//! so tests can assert how often the network was touched.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use base64::Engine;
use indicatif::ProgressBar;

use crate::config::DEFAULT_RETRIES;
use crate::digest::HashingWriter;
use crate::exit::{with_hint, with_kind, ErrorKind};
use crate::secret::Secret;
use crate::shell::{Shell, Verbosity};

/// The longest `Retry-After` we wait for; a server asking for more gets its answer back to the
/// caller instead of a silent minutes-long sleep.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The most a buffered response body may hold (manifests, tokens, API documents) unless the
/// request says otherwise. Blobs go through [`HttpClient::download`] to a file.
pub const MAX_BODY: u64 = 64 << 20;

/// The most redirects one request follows.
pub const MAX_REDIRECTS: u32 = 10;

/// A response body larger than the request allowed ([`Request::max_body`]). In the error chain,
/// so a caller can find it with `err.chain().find_map(|c| c.downcast_ref::<TooLarge>())` and
/// say which of its limits was hit and how to raise it.
#[derive(Debug, Clone)]
pub struct TooLarge {
    /// `METHOD scheme://host/path`.
    pub request: String,
    /// The limit, in bytes.
    pub limit: u64,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the answer to {} is larger than {} bytes",
            self.request, self.limit
        )
    }
}

impl std::error::Error for TooLarge {}

/// The root certificates every client trusts: Mozilla's (built in), the system's store, and
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`. Loaded once per process; unreadable entries are skipped (a
/// server signed by a CA we could not load then fails verification, naming the host).
fn root_certs() -> ureq::tls::RootCerts {
    static ROOTS: std::sync::OnceLock<Arc<Vec<ureq::tls::Certificate<'static>>>> =
        std::sync::OnceLock::new();
    let certs = ROOTS.get_or_init(|| {
        let mut ders: Vec<Vec<u8>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref().to_vec())
            .collect();
        for dir in openssl_probe::candidate_cert_dirs() {
            let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
            ders.extend(found.certs.iter().map(|c| c.as_ref().to_vec()));
        }
        let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let dir = std::env::var_os("SSL_CERT_DIR").map(PathBuf::from);
        if file.is_some() || dir.is_some() {
            let found = rustls_native_certs::load_certs_from_paths(file.as_deref(), dir.as_deref());
            ders.extend(found.certs.iter().map(|c| c.as_ref().to_vec()));
        }
        ders.sort();
        ders.dedup();
        Arc::new(
            ders.into_iter()
                .map(|d| ureq::tls::Certificate::from_der(&d).to_owned())
                .collect(),
        )
    });
    ureq::tls::RootCerts::Specific(certs.clone())
}

/// `(scheme, host, port)` of a URL, the port defaulted from the scheme: what "same origin" means.
pub fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri = url.parse::<ureq::http::Uri>().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => 0,
    });
    Some((scheme, host, port))
}

/// Whether two URLs have the same origin (scheme, host and port).
pub fn same_origin(a: &str, b: &str) -> bool {
    match (origin(a), origin(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Resolves a `Location` header against the URL of the request it answered.
pub fn resolve_location(request_url: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let (scheme, rest) = request_url
        .split_once("://")
        .unwrap_or(("https", request_url));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if let Some(net) = location.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    format!("{scheme}://{authority}{dir}{location}")
}

/// How often and how patiently a request is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry; 0 is treated as 1).
    pub attempts: u32,
    /// The ceiling of the first backoff; it doubles per retry.
    pub base: Duration,
    /// The largest ceiling of a backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(DEFAULT_RETRIES)
    }
}

impl RetryPolicy {
    /// `attempts` attempts with the standard backoff (0.5 s doubling, capped at 10 s).
    pub fn new(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(10),
        }
    }

    /// Attempts, at least one.
    pub fn max_attempts(&self) -> u32 {
        self.attempts.max(1)
    }

    /// The ceiling of the wait before retry number `retry` (1 = the first retry):
    /// `min(cap, base × 2^(retry-1))`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry number `retry`: full jitter, uniform in `[0, ceiling]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry).as_millis() as u64;
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }

    /// The wait before retry number `retry` given the server's `Retry-After`, or `None` when the
    /// server asks for longer than [`MAX_RETRY_AFTER`] (give up and hand the answer back).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(d) if d > MAX_RETRY_AFTER => None,
            Some(d) => Some(d),
            None => Some(self.backoff(retry)),
        }
    }
}

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request body. Every variant can be sent again, which is what makes retries possible.
#[derive(Clone, Debug, Default)]
pub enum Body {
    #[default]
    Empty,
    /// Bytes in memory, shared between attempts.
    Bytes(Arc<[u8]>),
    /// A file, streamed from disk (re-opened for each attempt); `len` is its size.
    File { path: PathBuf, len: u64 },
}

impl Body {
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Body {
        Body::Bytes(Arc::from(bytes.into()))
    }

    /// A file body, its length read from the file system.
    pub fn file(path: impl Into<PathBuf>) -> Result<Body> {
        let path = path.into();
        let len = crate::fsx::metadata(&path)?.len();
        Ok(Body::File { path, len })
    }

    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Credentials of a request. Kept apart from the headers so they stay [`Secret`]s until the moment
/// they are sent.
#[derive(Clone, Debug)]
pub enum Auth {
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

impl Auth {
    fn header_value(&self) -> String {
        match self {
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                // The encoded form is as sensitive as the password.
                crate::secret::register(&encoded);
                format!("Basic {encoded}")
            }
            Auth::Bearer(token) => format!("Bearer {}", token.expose()),
        }
    }
}

/// A request: plain data, cheap to clone, replayable.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// Headers other than `Authorization` (use [`Request::auth`]) and `Content-Length` (set from
    /// the body).
    pub headers: Vec<(String, String)>,
    pub auth: Option<Auth>,
    pub body: Body,
    /// Advanced by the bytes of a [`Body::File`] as they are sent (reset on a retry).
    pub progress: Option<ProgressBar>,
    /// The most the response body may hold ([`MAX_BODY`] when `None`); more is a [`TooLarge`]
    /// error, for a buffered body and for a download alike.
    pub max_body: Option<u64>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            auth: None,
            body: Body::Empty,
            progress: None,
            max_body: None,
        }
    }

    pub fn get(url: impl Into<String>) -> Request {
        Request::new(Method::Get, url)
    }

    pub fn head(url: impl Into<String>) -> Request {
        Request::new(Method::Head, url)
    }

    pub fn post(url: impl Into<String>) -> Request {
        Request::new(Method::Post, url)
    }

    pub fn put(url: impl Into<String>) -> Request {
        Request::new(Method::Put, url)
    }

    pub fn patch(url: impl Into<String>) -> Request {
        Request::new(Method::Patch, url)
    }

    pub fn delete(url: impl Into<String>) -> Request {
        Request::new(Method::Delete, url)
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn auth(mut self, auth: Option<Auth>) -> Request {
        self.auth = auth;
        self
    }

    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }

    pub fn progress(mut self, bar: Option<ProgressBar>) -> Request {
        self.progress = bar;
        self
    }

    /// The most the response body may hold (see [`TooLarge`]).
    pub fn max_body(mut self, limit: u64) -> Request {
        self.max_body = Some(limit);
        self
    }

    /// `METHOD scheme://host/path` — for messages: no query, no credentials.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, display_url(&self.url))
    }
}

/// A response of any status.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD, and for a successful [`HttpClient::download`]).
    pub body: Vec<u8>,
    /// How many attempts this response took.
    pub attempts: u32,
}

impl Response {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy), for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Retry-After` as a duration (seconds or an HTTP date).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether a status is worth another attempt.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..600).contains(&status) && !matches!(status, 501 | 505))
}

/// `scheme://host[:port]/path` of a URL: no userinfo, no query, no fragment.
pub fn display_url(url: &str) -> String {
    match url.parse::<ureq::http::Uri>() {
        Ok(uri) => format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority()
                .map(|a| a.as_str().rsplit('@').next().unwrap_or("").to_string())
                .unwrap_or_default(),
            uri.path()
        ),
        Err(_) => url.split(['?', '#']).next().unwrap_or("").to_string(),
    }
}

/// The host of a URL (without port or brackets), lowercase.
pub fn url_host(url: &str) -> Option<String> {
    let uri = url.parse::<ureq::http::Uri>().ok()?;
    Some(
        uri.host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
    )
}

/// Whether a host is loopback: `localhost`, 127.0.0.0/8, `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What went wrong on the wire, and whether another attempt may help.
struct Failure {
    error: anyhow::Error,
    retryable: bool,
    /// False for local failures (a body file, the destination, a digest check): those keep
    /// their own kind instead of becoming network errors.
    network: bool,
}

impl Failure {
    fn local(error: anyhow::Error) -> Failure {
        Failure {
            error,
            retryable: false,
            network: false,
        }
    }
}

fn classify(err: ureq::Error) -> Failure {
    use std::io::ErrorKind as Io;
    let retryable = match &err {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            Io::ConnectionReset
                | Io::ConnectionRefused
                | Io::ConnectionAborted
                | Io::NotConnected
                | Io::BrokenPipe
                | Io::UnexpectedEof
                | Io::TimedOut
                | Io::Interrupted
                | Io::WouldBlock
        ),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => true,
        _ => false,
    };
    let error = match err {
        ureq::Error::HostNotFound => anyhow::anyhow!("the host name could not be resolved"),
        ureq::Error::Timeout(t) => anyhow::anyhow!("timed out ({t})"),
        other => anyhow::Error::new(other),
    };
    Failure {
        error,
        retryable,
        network: true,
    }
}

fn classify_io(err: std::io::Error) -> Failure {
    classify(ureq::Error::from(err))
}

/// A reader that advances a progress bar.
struct ProgressReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Timeouts of one attempt. The defaults fit registries on the internet; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Connecting, including TLS.
    pub connect: Duration,
    /// Silence while reading or writing (a stalled transfer).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            idle: Duration::from_secs(120),
        }
    }
}

/// What a successful attempt produced: a buffered body, or a file written to its final place.
enum Sink<'a> {
    Buffer,
    File {
        dest: &'a Path,
        expected_sha256: Option<&'a str>,
    },
}

/// The HTTP client. Clones share the connection pool and the attempt counters; share it across
/// threads by reference or by clone.
#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    policy: RetryPolicy,
    insecure_hosts: Arc<[String]>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    attempts: AtomicU64,
    retries: AtomicU64,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("policy", &self.policy)
            .field("insecure_hosts", &self.insecure_hosts)
            .finish()
    }
}

impl HttpClient {
    /// A client with the given retry policy; `insecure_hosts` (`--insecure-registry`, as `host` or
    /// `host:port`) may be reached over plain HTTP besides loopback.
    pub fn new(policy: RetryPolicy, insecure_hosts: Vec<String>) -> HttpClient {
        HttpClient::with_timeouts(policy, insecure_hosts, Timeouts::default())
    }

    pub fn with_timeouts(
        policy: RetryPolicy,
        insecure_hosts: Vec<String>,
        timeouts: Timeouts,
    ) -> HttpClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("cargo-forge/", env!("CARGO_PKG_VERSION")))
            // Redirects are followed by `attempt`, which checks every hop (module docs).
            .max_redirects(0)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(root_certs())
                    .build(),
            )
            // Bytes as sent: a blob is verified against the digest of what the server stores.
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .timeout_connect(Some(timeouts.connect))
            .timeout_per_read(Some(timeouts.idle))
            .timeout_per_write(Some(timeouts.idle))
            .build();
        let insecure_hosts = insecure_hosts
            .into_iter()
            .map(|h| {
                h.trim()
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_ascii_lowercase()
            })
            .filter(|h| !h.is_empty())
            .collect();
        HttpClient {
            agent: ureq::Agent::new_with_config(config),
            policy,
            insecure_hosts,
            counters: Arc::default(),
        }
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Requests sent so far (every attempt counts).
    pub fn attempts(&self) -> u64 {
        self.counters.attempts.load(Ordering::Relaxed)
    }

    /// Retries so far (attempts after the first of each request).
    pub fn retries(&self) -> u64 {
        self.counters.retries.load(Ordering::Relaxed)
    }

    /// Whether `host` (or `host:port`) may be reached over plain HTTP.
    pub fn allows_plain_http(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        is_loopback_host(&host)
            || self
                .insecure_hosts
                .iter()
                .any(|h| *h == host || port.is_some_and(|p| *h == format!("{host}:{p}")))
    }

    /// Rejects URLs we will not send: not http(s), or plain HTTP to a host that is neither
    /// loopback nor listed with `--insecure-registry`.
    pub fn check_url(&self, url: &str) -> Result<()> {
        let uri = url
            .parse::<ureq::http::Uri>()
            .map_err(|e| crate::exit::usage(format!("invalid URL `{}`: {e}", display_url(url))))?;
        let host = uri.host().unwrap_or("");
        match uri.scheme_str() {
            Some("https") if !host.is_empty() => Ok(()),
            Some("http") if !host.is_empty() => {
                if self.allows_plain_http(host, uri.port_u16()) {
                    Ok(())
                } else {
                    let host_port = uri.authority().map(|a| a.as_str()).unwrap_or(host);
                    let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
                    Err(with_hint(
                        crate::exit::usage(format!(
                            "refusing plain http to `{host_port}`: only loopback hosts and \
                             `--insecure-registry` hosts may be reached without TLS"
                        )),
                        format!(
                            "if `{host_port}` really has no TLS, allow it with \
                             `--insecure-registry {host_port}`"
                        ),
                    ))
                }
            }
            _ => Err(crate::exit::usage(format!(
                "invalid URL `{}`: expected http:// or https:// and a host",
                display_url(url)
            ))),
        }
    }

    /// Sends a request, retrying per the policy. Any status comes back as a [`Response`]; an
    /// error means the request could not be completed (transport) or not even sent (bad URL,
    /// unreadable body file).
    pub fn request(&self, req: &Request, shell: &Shell) -> Result<Response> {
        self.run(shell, req, self.policy.max_attempts(), Sink::Buffer)
    }

    /// Sends a request once, without retries: for steps that cannot be replayed as they are (the
    /// caller restarts from a known state).
    pub fn request_once(&self, req: &Request, shell: &Shell) -> Result<Response> {
        self.run(shell, req, 1, Sink::Buffer)
    }

    /// Sends a request (usually a GET) with retries and streams a 2xx body into `dest`, which
    /// appears only when complete and, with `expected_sha256` (hex), verified. The returned
    /// response has an empty body on success; on another status it carries the error body and
    /// `dest` is untouched.
    pub fn download(
        &self,
        req: &Request,
        dest: &Path,
        expected_sha256: Option<&str>,
        shell: &Shell,
    ) -> Result<Response> {
        self.run(
            shell,
            req,
            self.policy.max_attempts(),
            Sink::File {
                dest,
                expected_sha256,
            },
        )
    }

    fn run(&self, shell: &Shell, req: &Request, max: u32, sink: Sink<'_>) -> Result<Response> {
        self.check_url(&req.url)?;
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.counters.attempts.fetch_add(1, Ordering::Relaxed);
            if attempt > 1 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(bar) = &req.progress {
                bar.set_position(0);
            }
            let outcome = self.attempt(req, &sink, shell);
            let (why, wait) = match outcome {
                Ok(mut resp) => {
                    resp.attempts = attempt;
                    shell.log(
                        Verbosity::VeryVerbose,
                        format!("{} -> {}", req.describe(), status_text(resp.status)),
                    );
                    if !is_retryable_status(resp.status) || attempt >= max {
                        return Ok(resp);
                    }
                    match self.policy.delay(attempt, resp.retry_after()) {
                        Some(wait) => (status_text(resp.status), wait),
                        None => return Ok(resp),
                    }
                }
                Err(failure) if !failure.network => return Err(failure.error),
                Err(failure) => {
                    if !failure.retryable || attempt >= max {
                        let host = url_host(&req.url).unwrap_or_default();
                        let err = failure.error.context(format!(
                            "{} failed after {attempt} attempt{} ({:.1}s)",
                            req.describe(),
                            if attempt == 1 { "" } else { "s" },
                            started.elapsed().as_secs_f64()
                        ));
                        let err = with_kind(err, ErrorKind::Network);
                        let untrusted = err.chain().any(|c| {
                            let text = c.to_string();
                            text.contains("invalid peer certificate")
                                || text.contains("UnknownIssuer")
                        });
                        if untrusted {
                            return Err(with_hint(
                                err,
                                format!(
                                    "if `{host}` has a certificate from a private CA, install the \
                                     CA in the system store (`update-ca-certificates`) or point \
                                     SSL_CERT_FILE at it"
                                ),
                            ));
                        }
                        return Err(if failure.retryable && max > 1 {
                            with_hint(
                                err,
                                format!(
                                    "check that `{host}` is reachable; the number of attempts \
                                     is set with `--retries N` or FORGE_RETRIES"
                                ),
                            )
                        } else {
                            err
                        });
                    }
                    (format!("{:#}", failure.error), self.policy.backoff(attempt))
                }
            };
            shell.verbose_status(
                "Retrying",
                format!(
                    "{} ({why}), attempt {}/{max} in {:.1}s",
                    req.describe(),
                    attempt + 1,
                    wait.as_secs_f64()
                ),
            );
            std::thread::sleep(wait);
        }
    }

    /// One attempt: send, follow redirects (each hop checked, credentials only to their origin),
    /// read the last answer's body into the sink.
    fn attempt(
        &self,
        req: &Request,
        sink: &Sink<'_>,
        shell: &Shell,
    ) -> std::result::Result<Response, Failure> {
        let mut hop = std::borrow::Cow::Borrowed(req);
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.exchange(&hop, sink)?;
            let location = match resp.header("location") {
                Some(l) if matches!(resp.status, 301 | 302 | 303 | 307 | 308) => l.to_string(),
                _ => return Ok(resp),
            };
            let next_url = resolve_location(&hop.url, &location);
            shell.log(
                Verbosity::VeryVerbose,
                format!(
                    "{} -> {}, redirected to {}",
                    hop.describe(),
                    status_text(resp.status),
                    display_url(&next_url)
                ),
            );
            self.check_url(&next_url).map_err(|e| {
                Failure::local(e.context(format!(
                    "{} was redirected to {}",
                    hop.describe(),
                    display_url(&next_url)
                )))
            })?;
            let mut next = hop.into_owned();
            if !same_origin(&next.url, &next_url) {
                // Once dropped, not restored: a later hop back cannot be told from a detour.
                next.auth = None;
            }
            let to_get = resp.status == 303
                || (matches!(resp.status, 301 | 302) && next.method == Method::Post);
            if to_get && next.method != Method::Head {
                next.method = Method::Get;
                next.body = Body::Empty;
                next.headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            }
            next.url = next_url;
            hop = std::borrow::Cow::Owned(next);
        }
        Err(Failure::local(anyhow::anyhow!(
            "{} was redirected more than {MAX_REDIRECTS} times",
            req.describe()
        )))
    }

    /// One request and its answer, without following redirects.
    fn exchange(&self, req: &Request, sink: &Sink<'_>) -> std::result::Result<Response, Failure> {
        let mut builder = ureq::http::Request::builder()
            .method(req.method.as_str())
            .uri(req.url.as_str());
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("content-length") {
                continue;
            }
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Some(auth) = &req.auth {
            builder = builder.header("authorization", auth.header_value());
        }
        let has_body = !matches!(req.body, Body::Empty)
            || matches!(req.method, Method::Post | Method::Put | Method::Patch);
        if has_body {
            builder = builder.header("content-length", req.body.len().to_string());
        }
        let send_body = match &req.body {
            Body::Empty => ureq::SendBody::none(),
            Body::Bytes(bytes) => {
                let reader = std::io::Cursor::new(bytes.clone());
                match &req.progress {
                    Some(bar) => ureq::SendBody::from_owned_reader(ProgressReader {
                        inner: reader,
                        bar: bar.clone(),
                    }),
                    None => ureq::SendBody::from_owned_reader(reader),
                }
            }
            Body::File { path, .. } => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("failed to open `{}`", path.display()))
                    .map_err(Failure::local)?;
                let reader = std::io::BufReader::with_capacity(1 << 16, file);
                match &req.progress {
                    Some(bar) => ureq::SendBody::from_owned_reader(ProgressReader {
                        inner: reader,
                        bar: bar.clone(),
                    }),
                    None => ureq::SendBody::from_owned_reader(reader),
                }
            }
        };
        let request = builder
            .body(send_body)
            .map_err(|e| Failure::local(anyhow::anyhow!("invalid request: {e}")))?;
        let response = self.agent.run(request).map_err(classify)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = response.into_body();
        let mut out = Response {
            status,
            headers,
            body: Vec::new(),
            attempts: 1,
        };
        if req.method == Method::Head {
            return Ok(out);
        }
        let limit = req.max_body.unwrap_or(MAX_BODY);
        let too_large = || {
            Failure::local(anyhow::Error::new(TooLarge {
                request: req.describe(),
                limit,
            }))
        };
        match sink {
            Sink::File {
                dest,
                expected_sha256,
            } if out.is_success() => {
                if out
                    .header("content-length")
                    .and_then(|l| l.parse::<u64>().ok())
                    .is_some_and(|l| l > limit)
                {
                    return Err(too_large());
                }
                write_body_to_file(
                    body.as_reader().take(limit + 1),
                    dest,
                    *expected_sha256,
                    limit,
                    too_large,
                )?;
            }
            Sink::File { .. } => {
                // An error answer: its text, for the message; a few KiB say all there is.
                body.as_reader()
                    .take(64 << 10)
                    .read_to_end(&mut out.body)
                    .map_err(classify_io)?;
            }
            Sink::Buffer => {
                out.body = match body.with_config().limit(limit).read_to_vec() {
                    Ok(b) => b,
                    Err(ureq::Error::BodyExceedsLimit(_)) => return Err(too_large()),
                    Err(e) => return Err(classify(e)),
                };
            }
        }
        Ok(out)
    }
}

fn write_body_to_file(
    mut reader: impl Read,
    dest: &Path,
    expected_sha256: Option<&str>,
    limit: u64,
    too_large: impl Fn() -> Failure,
) -> std::result::Result<(), Failure> {
    let local = Failure::local;
    let file = crate::fsx::AtomicFile::create(dest).map_err(local)?;
    let mut writer = HashingWriter::new(file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(classify_io)?;
        if n == 0 {
            break;
        }
        writer
            .write_all(&buf[..n])
            .with_context(|| format!("failed to write `{}`", dest.display()))
            .map_err(local)?;
    }
    let (file, digest, len) = writer.finish();
    if len > limit {
        return Err(too_large());
    }
    if let Some(expected) = expected_sha256 {
        if !digest.eq_ignore_ascii_case(expected) {
            return Err(Failure::local(with_kind(
                anyhow::anyhow!(
                    "the downloaded content of `{}` does not match its digest: expected \
                     sha256:{expected}, got sha256:{digest}",
                    dest.display()
                ),
                ErrorKind::Check,
            )));
        }
    }
    file.commit().map_err(local)
}

/// `503 Service Unavailable`.
pub fn status_text(status: u16) -> String {
    match ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Mutex;

    /// What the test server does with one connection.
    #[derive(Clone)]
    enum Step {
        /// Answer with status, extra headers and body, then close.
        Respond(u16, Vec<(&'static str, String)>, Vec<u8>),
        /// Announce `declared` bytes, send `sent`, close.
        Truncate { declared: usize, sent: Vec<u8> },
        /// Close without answering.
        Close,
        /// Say nothing for a while, then close.
        Stall(Duration),
    }

    #[derive(Debug, Clone)]
    struct Seen {
        request_line: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    /// A loopback server that plays `steps`, one per connection, and records what it was sent.
    struct TestServer {
        url: String,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    fn serve(steps: Vec<Step>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for step in steps {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let seen = seen2.clone();
                std::thread::spawn(move || handle(stream, step, &seen));
            }
        });
        TestServer { url, seen }
    }

    fn handle(mut stream: TcpStream, step: Step, seen: &Mutex<Vec<Seen>>) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        seen.lock().unwrap().push(Seen {
            request_line: request_line.trim_end().to_string(),
            headers,
            body,
        });
        let reply = match step {
            Step::Respond(status, extra, body) => {
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let mut out = head.into_bytes();
                out.extend(body);
                out
            }
            Step::Truncate { declared, sent } => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
                )
                .into_bytes();
                out.extend(sent);
                out
            }
            Step::Close => Vec::new(),
            Step::Stall(d) => {
                std::thread::sleep(d);
                Vec::new()
            }
        };
        let _ = stream.write_all(&reply);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    fn ok(body: &str) -> Step {
        Step::Respond(200, vec![], body.as_bytes().to_vec())
    }

    fn status(code: u16) -> Step {
        Step::Respond(code, vec![], b"{\"errors\":[]}".to_vec())
    }

    fn fast(attempts: u32) -> HttpClient {
        HttpClient::new(
            RetryPolicy {
                attempts,
                base: Duration::from_millis(10),
                cap: Duration::from_millis(40),
            },
            vec![],
        )
    }

    #[test]
    fn retries_503_until_200() {
        let server = serve(vec![status(503), status(503), ok("hello")]);
        let client = fast(6);
        let started = Instant::now();
        let resp = client
            .request(
                &Request::get(format!("{}/v2/", server.url)),
                &Shell::plain(),
            )
            .unwrap();
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(
            (resp.attempts, client.attempts(), client.retries()),
            (3, 3, 2)
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn honours_retry_after_seconds() {
        let server = serve(vec![
            Step::Respond(429, vec![("Retry-After", "1".into())], vec![]),
            ok("x"),
        ]);
        let client = fast(3);
        let started = Instant::now();
        let resp = client
            .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
            .unwrap();
        let took = started.elapsed();
        assert_eq!((resp.status, client.attempts()), (200, 2));
        assert!(
            took >= Duration::from_millis(950) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }

    #[test]
    fn too_long_retry_after_gives_the_answer_back() {
        let server = serve(vec![Step::Respond(
            429,
            vec![("Retry-After", "3600".into())],
            vec![],
        )]);
        let client = fast(6);
        let resp = client
            .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
            .unwrap();
        assert_eq!((resp.status, client.attempts()), (429, 1));
        assert_eq!(resp.retry_after(), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn truncated_body_and_dropped_connection_are_retried() {
        let server = serve(vec![
            Step::Truncate {
                declared: 100,
                sent: b"partial".to_vec(),
            },
            Step::Close,
            ok("complete"),
        ]);
        let client = fast(6);
        let resp = client
            .request(&Request::get(format!("{}/x", server.url)), &Shell::plain())
            .unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "complete"));
        assert_eq!(client.attempts(), 3);
    }

    #[test]
    fn a_stalled_server_times_out_and_is_retried() {
        let server = serve(vec![Step::Stall(Duration::from_secs(2)), ok("late")]);
        let client = HttpClient::with_timeouts(
            RetryPolicy {
                attempts: 3,
                base: Duration::from_millis(10),
                cap: Duration::from_millis(40),
            },
            vec![],
            Timeouts {
                connect: Duration::from_secs(5),
                idle: Duration::from_millis(300),
            },
        );
        let started = Instant::now();
        let resp = client
            .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
            .unwrap();
        assert_eq!((resp.status, client.attempts()), (200, 2));
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[test]
    fn retryable_status_is_returned_after_the_last_attempt() {
        let server = serve(vec![status(502), status(500), status(504)]);
        let client = fast(3);
        let resp = client
            .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
            .unwrap();
        assert_eq!((resp.status, resp.attempts, client.attempts()), (504, 3, 3));
    }

    #[test]
    fn client_errors_are_not_retried() {
        let server = serve(vec![status(404), status(501)]);
        let client = fast(6);
        let shell = Shell::plain();
        let resp = client
            .request(&Request::get(format!("{}/a", server.url)), &shell)
            .unwrap();
        assert_eq!((resp.status, client.attempts()), (404, 1));
        let resp = client
            .request(&Request::get(format!("{}/b", server.url)), &shell)
            .unwrap();
        assert_eq!((resp.status, client.attempts()), (501, 2));
    }

    #[test]
    fn request_once_does_not_retry() {
        let server = serve(vec![status(503)]);
        let client = fast(6);
        let resp = client
            .request_once(&Request::put(format!("{}/", server.url)), &Shell::plain())
            .unwrap();
        assert_eq!((resp.status, client.attempts()), (503, 1));
    }

    #[test]
    fn refused_connection_is_a_network_error_naming_the_request() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = fast(3);
        let started = Instant::now();
        let err = client
            .request(
                &Request::head(format!(
                    "http://127.0.0.1:{port}/v2/app/blobs/x?state=s3cr3t"
                ))
                .auth(Some(Auth::Bearer(Secret::new("tok-4711-abcdef")))),
                &Shell::plain(),
            )
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!(
                "HEAD http://127.0.0.1:{port}/v2/app/blobs/x failed after 3 attempts"
            )),
            "{msg}"
        );
        assert!(
            !msg.contains("s3cr3t") && !msg.contains("tok-4711"),
            "{msg}"
        );
        assert!(msg.to_lowercase().contains("refused"), "{msg}");
        assert_eq!(crate::exit::code_of(&err), 5);
        assert!(crate::exit::hints(&err)[0].contains("--retries"));
        assert_eq!(client.attempts(), 3);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn plain_http_only_for_loopback_and_insecure_hosts() {
        let client = HttpClient::new(RetryPolicy::default(), vec!["registry.lan:5000".into()]);
        for ok in [
            "https://ghcr.io/v2/",
            "http://127.0.0.1:5000/v2/",
            "http://127.1.2.3/v2/",
            "http://localhost:5000/v2/",
            "http://[::1]:5000/v2/",
            "http://registry.lan:5000/v2/",
        ] {
            client.check_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let err = client.check_url("http://ghcr.io/v2/").unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 2);
        assert!(
            err.to_string().contains("refusing plain http to `ghcr.io`"),
            "{err}"
        );
        assert_eq!(
            crate::exit::hints(&err),
            ["if `ghcr.io` really has no TLS, allow it with `--insecure-registry ghcr.io`"]
        );
        // Another port of a listed host:port is not allowed; a bare host allows every port.
        assert!(client.check_url("http://registry.lan:6000/v2/").is_err());
        let client = HttpClient::new(RetryPolicy::default(), vec!["http://registry.lan".into()]);
        assert!(client.check_url("http://registry.lan:6000/v2/").is_ok());
        assert!(client.check_url("ftp://x/").is_err());
    }

    #[test]
    fn file_bodies_are_streamed_and_replayed_with_auth() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let server = serve(vec![status(503), Step::Respond(201, vec![], vec![])]);
        let client = fast(6);
        let bar = ProgressBar::hidden();
        let req = Request::put(format!("{}/upload?digest=sha256:x", server.url))
            .header("Content-Type", "application/octet-stream")
            .auth(Some(Auth::Basic {
                username: "u".into(),
                password: Secret::new("pw-4711"),
            }))
            .body(Body::file(&path).unwrap())
            .progress(Some(bar.clone()));
        let resp = client.request(&req, &Shell::plain()).unwrap();
        assert_eq!(resp.status, 201);
        assert_eq!(bar.position(), content.len() as u64);
        let seen = server.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        for s in &seen {
            assert_eq!(s.request_line, "PUT /upload?digest=sha256:x HTTP/1.1");
            assert_eq!(s.body, content);
            let h = |n: &str| {
                s.headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(h("content-length"), Some(content.len().to_string()));
            assert_eq!(h("transfer-encoding"), None);
            assert_eq!(h("authorization"), Some("Basic dTpwdy00NzEx".into()));
        }
    }

    #[test]
    fn download_verifies_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("blob");
        let data = b"layer bytes".to_vec();
        let digest = crate::digest::sha256_hex(&data);
        let server = serve(vec![
            Step::Truncate {
                declared: 50,
                sent: b"layer".to_vec(),
            },
            Step::Respond(200, vec![], data.clone()),
            Step::Respond(200, vec![], b"tampered".to_vec()),
            status(404),
        ]);
        let client = fast(6);
        let shell = Shell::plain();
        let req = Request::get(format!("{}/blob", server.url));
        let resp = client.download(&req, &dest, Some(&digest), &shell).unwrap();
        assert_eq!((resp.status, client.attempts()), (200, 2));
        assert_eq!(std::fs::read(&dest).unwrap(), data);

        let other = dir.path().join("other");
        let err = client
            .download(&req, &other, Some(&digest), &shell)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("does not match its digest"),
            "{err:#}"
        );
        assert_eq!(crate::exit::code_of(&err), 4);
        assert!(!other.exists());

        let resp = client.download(&req, &other, None, &shell).unwrap();
        assert_eq!(resp.status, 404);
        assert!(!other.exists());
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temporary files were left behind");
    }

    fn header_of(s: &Seen, name: &str) -> Option<String> {
        s.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn redirects_keep_credentials_only_within_their_origin() {
        // Two loopback servers on two ports: two origins.
        let other = serve(vec![ok("from the other origin")]);
        let origin = serve(vec![
            Step::Respond(302, vec![("Location", "/v2/moved?x=1".into())], vec![]),
            Step::Respond(
                307,
                vec![("Location", format!("{}/storage/blob", other.url))],
                vec![],
            ),
        ]);
        let client = fast(3);
        let resp = client
            .request(
                &Request::get(format!("{}/v2/blob", origin.url))
                    .auth(Some(Auth::Bearer(Secret::new("redirect-token-4711")))),
                &Shell::plain(),
            )
            .unwrap();
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "from the other origin")
        );
        let seen = origin.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].request_line, "GET /v2/moved?x=1 HTTP/1.1");
        for s in &seen {
            assert_eq!(
                header_of(s, "authorization").as_deref(),
                Some("Bearer redirect-token-4711"),
                "the same origin keeps the token"
            );
        }
        let seen = other.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].request_line, "GET /storage/blob HTTP/1.1");
        assert_eq!(
            header_of(&seen[0], "authorization"),
            None,
            "token leaked to another port"
        );
        assert!(same_origin("http://127.0.0.1:80/a", "http://127.0.0.1/b"));
        assert!(!same_origin("https://h/a", "http://h/a"));
        assert!(!same_origin(
            "http://127.0.0.1:5000/",
            "http://127.0.0.1:5001/"
        ));
    }

    #[test]
    fn a_redirect_to_a_refused_origin_is_refused_before_connecting() {
        let origin = serve(vec![Step::Respond(
            302,
            vec![("Location", "http://registry.invalid:5000/v2/blob".into())],
            vec![],
        )]);
        let client = fast(3);
        let err = client
            .request(
                &Request::get(format!("{}/v2/blob", origin.url))
                    .auth(Some(Auth::Bearer(Secret::new("redirect-token-0815")))),
                &Shell::plain(),
            )
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("was redirected to http://registry.invalid:5000/v2/blob")
                && msg.contains("refusing plain http to `registry.invalid:5000`"),
            "{msg}"
        );
        assert_eq!(crate::exit::code_of(&err), 2);
        assert_eq!(client.attempts(), 1, "a refused redirect is not retried");
    }

    #[test]
    fn see_other_after_a_post_continues_as_a_get() {
        let origin = serve(vec![
            Step::Respond(303, vec![("Location", "/done".into())], vec![]),
            ok("done"),
        ]);
        let client = fast(3);
        let resp = client
            .request(
                &Request::post(format!("{}/form", origin.url))
                    .body(Body::bytes(b"payload".to_vec())),
                &Shell::plain(),
            )
            .unwrap();
        assert_eq!(resp.text(), "done");
        let seen = origin.seen.lock().unwrap().clone();
        assert_eq!(seen[0].body, b"payload");
        assert_eq!(seen[1].request_line, "GET /done HTTP/1.1");
        assert!(seen[1].body.is_empty());
    }

    #[test]
    fn bodies_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'x'; 1000];
        let server = serve(vec![
            Step::Respond(200, vec![], big.clone()),
            Step::Respond(200, vec![], big.clone()),
        ]);
        let client = fast(3);
        let shell = Shell::plain();
        let req = Request::get(format!("{}/manifest", server.url)).max_body(999);
        let err = client.request(&req, &shell).unwrap_err();
        let too_large = err
            .chain()
            .find_map(|c| c.downcast_ref::<TooLarge>())
            .unwrap_or_else(|| panic!("{err:#}"));
        assert_eq!(too_large.limit, 999);
        let dest = dir.path().join("blob");
        let err = client.download(&req, &dest, None, &shell).unwrap_err();
        assert!(
            err.chain().any(|c| c.downcast_ref::<TooLarge>().is_some()),
            "{err:#}"
        );
        assert!(!dest.exists());
        assert_eq!(client.attempts(), 2, "not retried");
    }

    #[test]
    fn trusted_roots_include_the_system_store() {
        let ureq::tls::RootCerts::Specific(certs) = root_certs() else {
            panic!("specific roots expected")
        };
        let builtin = webpki_root_certs::TLS_SERVER_ROOT_CERTS.len();
        assert!(certs.len() >= builtin, "{} < {builtin}", certs.len());
        // The system store of this machine (Debian's ca-certificates) adds or repeats roots;
        // either way it was read without failing.
        if Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
            let system = rustls_native_certs::load_certs_from_paths(
                Some(Path::new("/etc/ssl/certs/ca-certificates.crt")),
                None,
            );
            assert!(!system.certs.is_empty());
        }
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = RetryPolicy::default();
        assert_eq!(p.attempts, 6);
        assert_eq!(p.ceiling(1), Duration::from_millis(500));
        assert_eq!(p.ceiling(2), Duration::from_millis(1000));
        assert_eq!(p.ceiling(5), Duration::from_secs(8));
        assert_eq!(p.ceiling(6), Duration::from_secs(10));
        assert_eq!(p.ceiling(40), Duration::from_secs(10));
        for retry in 1..10 {
            assert!(p.backoff(retry) <= p.ceiling(retry));
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(61))), None);
        assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_700);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(77))
        );
        assert_eq!(
            parse_retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                now + Duration::from_secs(999)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 201, 202, 301, 400, 401, 403, 404, 409, 501, 505] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn describe_hides_query_and_userinfo() {
        let r = Request::put(
            "https://user:pw@registry.example:443/v2/a/blobs/uploads/u?_state=abc&digest=sha256:1",
        );
        assert_eq!(
            r.describe(),
            "PUT https://registry.example:443/v2/a/blobs/uploads/u"
        );
        assert_eq!(url_host("http://[::1]:5000/v2/").as_deref(), Some("::1"));
    }
}
