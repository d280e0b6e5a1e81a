//! [`HttpClient`]: the retry loop around one attempt, and the attempt's redirect loop, each hop
//! checked against the plain-HTTP rule and credentials dropped when the origin changes.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::retry::{is_retryable_status, Failure, RetryPolicy};
use super::tls::root_certs;
use super::transfer::Sink;
use super::{
    display_url, is_loopback_host, resolve_location, same_origin, status_text, url_host, Body,
    Method, Request, Response, MAX_REDIRECTS,
};
use crate::exit::{with_hint, with_kind, ErrorKind};
use crate::shell::{Shell, Verbosity};

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

/// The HTTP client. Clones share the connection pool and the attempt counters; share it across
/// threads by reference or by clone.
#[derive(Clone)]
pub struct HttpClient {
    pub(super) agent: ureq::Agent,
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
}
