//! The one retry policy (attempts, exponential backoff with full jitter, `Retry-After`) and the
//! classification of transport failures into retryable or not, network or local.

use std::time::{Duration, SystemTime};

use super::MAX_RETRY_AFTER;
use crate::config::DEFAULT_RETRIES;

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

/// What went wrong on the wire, and whether another attempt may help.
pub(super) struct Failure {
    pub(super) error: anyhow::Error,
    pub(super) retryable: bool,
    /// False for local failures (a body file, the destination, a digest check): those keep
    /// their own kind instead of becoming network errors.
    pub(super) network: bool,
}

impl Failure {
    pub(super) fn local(error: anyhow::Error) -> Failure {
        Failure {
            error,
            retryable: false,
            network: false,
        }
    }
}

pub(super) fn classify(err: ureq::Error) -> Failure {
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

pub(super) fn classify_io(err: std::io::Error) -> Failure {
    classify(ureq::Error::from(err))
}
