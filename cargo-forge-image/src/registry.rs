//! Image references and the registry client (the OCI distribution API), in three parts:
//! `reference` (what users write, checked), `auth` (challenges, basic credentials, bearer
//! tokens) and `client` (blobs, manifests, tags). This file keeps what they share: the
//! re-exports other modules use and the reading of a registry's error answers.
//!
//! [`Reference`] parses what users write (`[registry/]repo[:tag][@sha256:…]`) the way docker does:
//! Docker Hub by default with `library/` for official images, a first component with a `.` or a
//! `:` (or `localhost`) is a registry, repository names are lowercase.
//!
//! [`RegistryClient`] speaks the distribution API over [`forge_core::http::HttpClient`], so every
//! call has the suite's one retry policy. There is one client per registry, because what is
//! learnt — the auth challenge, the credential, the tokens — belongs to a registry; its methods
//! take the repository name (`acme/app`) and, last, the [`Shell`], like every I/O call of the
//! suite. The protocol is the OCI distribution API (push by digest, then merge):
//!
//! - **Auth** is discovered once per registry with `GET /v2/`: no challenge, `Basic` (credentials
//!   sent with every request) or `Bearer realm=…,service=…` (a token per scope
//!   `repository:NAME:pull,push`, plus `repository:SRC:pull` for a mount, cached until it expires).
//!   A 401 later on (an expired token, a repository-specific challenge) re-authenticates once.
//!   Credentials come from [`crate::auth`], only when a registry asks.
//! - **Blobs** ([`RegistryClient::push_blob`]): `HEAD` first (present = skipped); a cross-repository
//!   mount when asked (201 = mounted; 202 = the registry started an ordinary upload session
//!   instead, which we use); otherwise a monolithic upload, `POST …/blobs/uploads/` then
//!   `PUT <Location>?digest=D`. An upload session cannot be replayed after a failed `PUT` (the
//!   registry may have consumed or dropped it), so the `PUT` is sent once and a failure restarts
//!   from a new `POST`, after checking with `HEAD` whether the blob arrived after all. Each restart
//!   counts as an attempt of the same retry policy.
//! - **Manifests** are `PUT` with their media type as `Content-Type`, by digest or by tag (the
//!   caller pushes tags last), and the digest the registry reports is checked against ours.
//!   Fetches by digest are verified by SHA-256; `HEAD` gives digest, size and type without counting
//!   against Docker Hub's pull limit.
//!
//! Errors name the registry and the repository. 401/403 become "authentication to REGISTRY
//! failed", saying where the credentials came from (never what they are) with a hint on where
//! they are looked up; 404 says what was not found; an unreachable host is a network error naming
//! it (from the HTTP client).

mod auth;
mod client;
mod reference;

use forge_core::http::{self, Response};
use serde::Deserialize;

pub use auth::{parse_challenge, Challenge};
pub use client::{api_host, Outcome, RegistryClient, DOCKER_HUB_API};
pub use forge_core::http::resolve_location;
pub use reference::{digest_of, validate_digest, validate_repository, validate_tag, Reference};

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `errors` of a registry's JSON error body, as `CODE: message; …`.
fn registry_errors(resp: &Response) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    let parsed: Errors = serde_json::from_slice(&resp.body).ok()?;
    let parts: Vec<String> = parsed
        .errors
        .into_iter()
        .map(|e| match (e.code, e.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            (None, Some(m)) => m,
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The status and, when the registry explained it, why.
fn status_and_detail(resp: &Response) -> String {
    let status = http::status_text(resp.status);
    match registry_errors(resp) {
        Some(detail) => format!("{status}: {detail}"),
        None => {
            let text = resp.text();
            let text = text.trim();
            if text.is_empty() || text.len() > 200 || text.starts_with('<') {
                status
            } else {
                format!("{status}: {text}")
            }
        }
    }
}

#[cfg(test)]
mod tests;
