//! What a request and a response are: plain data, cheap to clone, replayable (bodies are shared
//! bytes or files re-opened per attempt), with credentials kept as [`Secret`]s until they are sent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use base64::Engine;
use indicatif::ProgressBar;

use super::{display_url, parse_retry_after};
use crate::secret::Secret;

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
    pub(super) fn header_value(&self) -> String {
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
