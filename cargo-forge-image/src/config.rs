//! `[package.metadata.forge.image]` (and its workspace counterpart): what goes into the image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The image table. Every key is optional; `cargo forge-image` flags override it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ImageConfig {
    /// The base image: a reference (pinned by digest in the image), or `"scratch"` for an image
    /// holding only the binaries and the runtime libraries they need. Default `"scratch"`;
    /// `--base` overrides it. Example: `base = "debian:bookworm-slim"`.
    pub base: Option<String>,
    /// OCI platforms to build, each from its Rust target. Default: the host's platform;
    /// `--platform` (or `--target`) overrides it. Example:
    /// `platforms = ["linux/amd64", "linux/arm64"]`.
    pub platforms: Option<Vec<String>>,
    /// Where to push, without a tag. Default: none (then `--tag` names it); `--repository`
    /// overrides it. Example: `repository = "ghcr.io/acme/app"`.
    pub repository: Option<String>,
    /// Tag templates for `repository`: `{{version}}`, `{{major}}`, `{{minor}}`, `{{patch}}`,
    /// `{{short_sha}}`, `{{sha}}` and plain text. Pre-release versions get only the tags that
    /// contain the version or a commit. Default `["{{version}}", "{{major}}.{{minor}}",
    /// "{{major}}", "latest"]`.
    pub tags: Option<Vec<String>>,
    /// The image's `Entrypoint`. Default: the package's `default-run` binary (else its first),
    /// in `/usr/local/bin` (`/usr/bin` with `from-deb`).
    pub entrypoint: Option<Vec<String>>,
    /// The image's `Cmd` (arguments after the entrypoint). Default: none.
    /// Example: `cmd = ["serve", "--port", "8080"]`.
    pub cmd: Option<Vec<String>>,
    /// Environment variables. Default: `PATH` on `scratch`, the base image's otherwise.
    /// Example: `env = { RUST_LOG = "info" }`.
    pub env: Option<BTreeMap<String, String>>,
    /// The working directory. Default: none (`/`).
    pub workdir: Option<String>,
    /// The user the container runs as. Default `"65532"` (non-root). Example: `user = "0"`.
    pub user: Option<String>,
    /// Exposed ports: `"8080"`, `"8080/tcp"` or `"53/udp"`. Default: none.
    pub ports: Option<Vec<String>>,
    /// Labels of the image config. Default: none.
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations of the manifest, over the `org.opencontainers.image.*` ones made from
    /// Cargo.toml (title, description, version, licenses, source, revision, created, url).
    pub annotations: Option<BTreeMap<String, String>>,
    /// A Docker health check. It exists only in Docker-format images: with it, the format
    /// defaults to `"docker"`; with `--format oci` it is dropped with a warning. Example: `healthcheck = { test = ["CMD", "app", "--health"],
    /// interval = "30s" }`.
    pub healthcheck: Option<Healthcheck>,
    /// Extra files: `[source, dest, mode]` (mode optional, octal string, default `"644"`);
    /// `source` is relative to the package, a `dest` ending in `/` is a directory. Example:
    /// `assets = [["config/app.toml", "/etc/app/", "644"]]`.
    pub assets: Option<Vec<Vec<String>>>,
    /// Build the image from the files of the package `cargo forge-deb` makes (its binaries in
    /// `/usr/bin`, its assets) instead of the binaries alone. Default `false`;
    /// `--from-deb` sets it.
    pub from_deb: Option<bool>,
    /// The binaries to put in the image. Default: all of the package's.
    pub binaries: Option<Vec<String>>,
    /// The manifest format: `"oci"` or `"docker"`. Default `"oci"` (`"docker"` with a
    /// `healthcheck`); `--format` overrides it.
    pub format: Option<String>,
    /// The signal that stops the container, e.g. `"SIGTERM"`. Default: none (the runtime's).
    pub stop_signal: Option<String>,
}

/// The reference section of `cargo forge-image`'s table (see [`forge_core::reference`]).
pub fn reference_tables() -> Vec<forge_core::reference::Table> {
    vec![forge_core::reference::Table::of::<ImageConfig>(
        "package.metadata.forge.image",
        &["workspace.metadata.forge.image"],
        "What `cargo forge-image` builds and where it pushes. Every key is optional; flags \
         override it.",
    )]
}

/// `healthcheck = { test = ["CMD", "app", "--health"], interval = "30s", timeout = "5s", retries = 3, start-period = "10s" }`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Healthcheck {
    /// The check: `["CMD", program, args...]`, `["CMD-SHELL", "command"]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Time between checks, e.g. `"30s"`, `"1m30s"`, `"500ms"`.
    pub interval: Option<String>,
    /// Time a check may take, e.g. `"5s"`.
    pub timeout: Option<String>,
    /// Failed checks in a row before the container is unhealthy.
    pub retries: Option<u32>,
    /// Start-up time during which failures do not count, e.g. `"10s"`.
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
