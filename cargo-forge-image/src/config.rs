//! `[package.metadata.forge.image]` (and its workspace counterpart): what goes into the image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The image table. Every key is optional; `cargo forge-image` flags override it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ImageConfig {
    /// Base image reference, or `"scratch"` (the default).
    pub base: Option<String>,
    /// `linux/amd64`, `linux/arm64`, … (default: the host's).
    pub platforms: Option<Vec<String>>,
    /// Default push target, e.g. `ghcr.io/acme/app`.
    pub repository: Option<String>,
    /// Tag templates (default `{{version}}`, `{{major}}.{{minor}}`, `{{major}}`, `latest`).
    pub tags: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub workdir: Option<String>,
    /// Default `65532` (non-root).
    pub user: Option<String>,
    /// `8080`, `8080/tcp`, `53/udp`.
    pub ports: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    /// Docker-format health check (forces `--format docker`).
    pub healthcheck: Option<Healthcheck>,
    /// Extra files: `[src, dest, mode]`.
    pub assets: Option<Vec<Vec<String>>>,
    /// Image content = the files of the package `cargo forge-deb` builds.
    pub from_deb: Option<bool>,
    /// Which binaries to include (default: all of the package's).
    pub binaries: Option<Vec<String>>,
    /// `oci` (default) or `docker`.
    pub format: Option<String>,
    pub stop_signal: Option<String>,
}

/// `healthcheck = { test = ["CMD", "app", "--health"], interval = "30s", timeout = "5s", retries = 3, start-period = "10s" }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub start_period: Option<String>,
}

/// Parses `30s`, `1m30s`, `500ms`, `2h` into nanoseconds (Docker's unit).
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    if s.trim().is_empty() {
        return None;
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                1_000_000
            }
            ('h', _) => 3_600_000_000_000,
            ('m', _) => 60_000_000_000,
            ('s', _) => 1_000_000_000,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total += n * unit;
        num.clear();
    }
    if !num.is_empty() {
        return None;
    }
    Some(total)
}

impl Healthcheck {
    /// Docker's `Healthcheck` object.
    pub fn to_docker(&self, manifest: &std::path::Path) -> anyhow::Result<serde_json::Value> {
        let mut v = serde_json::json!({ "Test": self.test });
        for (key, value) in [
            ("Interval", &self.interval),
            ("Timeout", &self.timeout),
            ("StartPeriod", &self.start_period),
        ] {
            if let Some(d) = value {
                let ns = parse_duration(d).ok_or_else(|| {
                    forge_core::exit::usage(format!(
                        "invalid duration `{d}` in `package.metadata.forge.image.healthcheck` of `{}`: use e.g. `30s`, `1m30s`, `500ms`",
                        manifest.display()
                    ))
                })?;
                v[key] = ns.into();
            }
        }
        if let Some(r) = self.retries {
            v["Retries"] = r.into();
        }
        let first = self.test.first().map(String::as_str);
        if !matches!(first, Some("CMD") | Some("CMD-SHELL") | Some("NONE")) {
            return Err(forge_core::exit::usage(format!(
                "invalid `healthcheck.test` in `{}`: it must start with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                manifest.display()
            )));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("10"), None);
    }
}
