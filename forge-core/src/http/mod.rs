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
//!
//! The module is a directory along those seams, its public API re-exported here
//! (`forge_core::http::…`): `client` (the retry loop and the redirect loop), `retry` (the
//! policy and which failures are worth another attempt), `url` (origins, `Location`, loopback,
//! display), `request` (requests, bodies, credentials, responses), `transfer` (one exchange on
//! the wire: streamed bodies out, bounded or file-streamed bodies in), `tls` (the roots).

mod client;
mod request;
mod retry;
mod tls;
mod transfer;
mod url;

use std::time::Duration;

pub use client::{HttpClient, Timeouts};
pub use request::{status_text, Auth, Body, Method, Request, Response};
pub use retry::{is_retryable_status, parse_retry_after, RetryPolicy};
pub use url::{display_url, is_loopback_host, origin, resolve_location, same_origin, url_host};

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

#[cfg(test)]
mod tests;
