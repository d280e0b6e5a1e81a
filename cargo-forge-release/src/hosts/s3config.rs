//! Where and as whom the S3 store connects: the bucket, prefix, endpoint and region of a host
//! table ([`S3Config`], normalised and checked by `validate` before anything is sent), the
//! credentials from `AWS_*` variables ([`S3Credentials`], the secret parts held as [`Secret`]s),
//! and `object_store`'s retry configuration for the run's policy. Kept apart from
//! [`super::s3store`], which talks to the store, so that what is checked before any request is
//! readable (and tested) on its own.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, RetryConfig};

use forge_core::exit::{usage, ResultExt};
use forge_core::http::{HttpClient, RetryPolicy};
use forge_core::secret::Secret;

use super::HostSpec;

/// The variable holding the access key id.
pub const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
/// The variable holding the secret access key.
pub const SECRET_KEY_VAR: &str = "AWS_SECRET_ACCESS_KEY";
/// The variable holding the session token of temporary credentials (optional).
pub const SESSION_TOKEN_VAR: &str = "AWS_SESSION_TOKEN";

/// The region when the host table names none.
pub const DEFAULT_REGION: &str = "us-east-1";

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
    pub(super) source: String,
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

/// Normalises and checks a config before anything is sent.
pub(super) fn validate(mut config: S3Config, http: &HttpClient) -> Result<S3Config> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> HttpClient {
        HttpClient::new(RetryPolicy::new(6), vec!["minio.lan:9000".into()])
    }

    /// Bucket `releases` in the default region.
    fn config(endpoint: Option<&str>, prefix: &str) -> S3Config {
        let mut c = S3Config::new("releases");
        (c.endpoint, c.prefix) = (endpoint.map(Into::into), prefix.into());
        c
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_hosts() {
        for ok in [
            "http://127.0.0.1:8333",
            "http://localhost:9000/",
            "http://minio.lan:9000",
            "https://s3.example",
        ] {
            validate(config(Some(ok), ""), &http()).unwrap_or_else(|e| panic!("{ok}: {e:#}"));
        }
        let err = validate(config(Some("http://s3.example"), ""), &http()).unwrap_err();
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
            let err = validate(c, &http()).unwrap_err();
            assert_eq!(
                forge_core::exit::code_of(&err),
                2,
                "{bucket} {prefix}: {err:#}"
            );
        }
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
}
