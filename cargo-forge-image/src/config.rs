//! `[package.metadata.forge.image]` (and its workspace counterpart): what goes into the image.
//!
//! [`ImageConfig::validate`] rejects values a container runtime would reject or misread only
//! later (a port that is not a port, a `user` that is not `user[:group]`, an environment name
//! with `=`, a health check Docker refuses), and [`check_entrypoint`] an entrypoint that is not in
//! the image's own layers: each before anything is built or pushed, with exit code 2, the key and
//! the fix.

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
    #[schemars(with = "Option<String>")]
    pub format: Option<crate::oci::Format>,
    /// The signal that stops the container, e.g. `"SIGTERM"`. Default: none (the runtime's).
    pub stop_signal: Option<String>,
    /// Bounds on what a registry may make us read when pulling the base image (a registry is
    /// untrusted input). Example: `limits = { max-layer-size = "32 GiB" }`.
    pub limits: Option<LimitsConfig>,
}

/// `[package.metadata.forge.image.limits]`: sizes are bytes, or text such as `"512 MiB"`,
/// `"16GiB"`, `"4MB"`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LimitsConfig {
    /// The most one base image layer may inflate to (its uncompressed tar). Default `"16 GiB"`.
    pub max_layer_size: Option<ByteSize>,
    /// The most entries (files, directories, links) one base image layer may hold. Default
    /// `1000000`.
    pub max_layer_entries: Option<u64>,
    /// The most a base image manifest or image config may hold. Default `"4 MiB"`.
    pub max_manifest_size: Option<ByteSize>,
    /// The most a base image index (manifest list) may hold. Default `"4 MiB"`.
    pub max_index_size: Option<ByteSize>,
}

/// A size: a number of bytes, or text with a unit (`B`, `KB`, `MB`, `GB`, `TB`, `KiB`, `MiB`,
/// `GiB`, `TiB`).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ByteSize {
    Bytes(u64),
    Text(String),
}

impl ByteSize {
    /// The number of bytes, or `None` for text that is not a size.
    pub fn bytes(&self) -> Option<u64> {
        match self {
            ByteSize::Bytes(n) => Some(*n),
            ByteSize::Text(t) => parse_size(t),
        }
    }
}

/// Parses `512 MiB`, `16GiB`, `4MB`, `1000`.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "TB" => 1000_u64.pow(4),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// The limits in effect (defaults filled in), and the keys that set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageLimits {
    pub max_layer_size: u64,
    pub max_layer_entries: u64,
    pub max_manifest_size: u64,
    pub max_index_size: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_layer_size: 16 << 30,
            max_layer_entries: 1_000_000,
            max_manifest_size: 4 << 20,
            max_index_size: 4 << 20,
        }
    }
}

/// The table the limits live in, for messages.
pub const LIMITS_TABLE: &str = "package.metadata.forge.image.limits";

impl ImageLimits {
    /// Resolves the configured limits over the defaults; a size that does not parse is a usage
    /// error naming its key.
    pub fn resolve(
        cfg: Option<&LimitsConfig>,
        manifest: &std::path::Path,
    ) -> anyhow::Result<ImageLimits> {
        let mut l = ImageLimits::default();
        let Some(cfg) = cfg else {
            return Ok(l);
        };
        let size = |v: &Option<ByteSize>, key: &str, into: &mut u64| -> anyhow::Result<()> {
            if let Some(v) = v {
                *into = v.bytes().filter(|n| *n > 0).ok_or_else(|| {
                    forge_core::exit::usage(format!(
                        "invalid `{LIMITS_TABLE}.{key}` in `{}`: expected a size such as \
                         `\"512 MiB\"` or a number of bytes",
                        manifest.display()
                    ))
                })?;
            }
            Ok(())
        };
        size(&cfg.max_layer_size, "max-layer-size", &mut l.max_layer_size)?;
        size(
            &cfg.max_manifest_size,
            "max-manifest-size",
            &mut l.max_manifest_size,
        )?;
        size(&cfg.max_index_size, "max-index-size", &mut l.max_index_size)?;
        if let Some(n) = cfg.max_layer_entries {
            l.max_layer_entries = n;
        }
        Ok(l)
    }

    pub fn layer(&self) -> crate::layer::Limits {
        crate::layer::Limits {
            max_size: self.max_layer_size,
            max_entries: self.max_layer_entries,
        }
    }
}

/// `1073741824` → `1 GiB`, for messages.
pub fn human_size(n: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

impl ImageConfig {
    /// Checks the values of the table (see the module documentation).
    pub fn validate(&self, manifest: &std::path::Path) -> anyhow::Result<()> {
        let bad = |key: &str, what: String, fix: &str| {
            forge_core::exit::with_hint(
                forge_core::exit::usage(format!(
                    "invalid `{key}` in `[package.metadata.forge.image]` of `{}`: {what}",
                    manifest.display()
                )),
                fix.to_string(),
            )
        };
        for (i, p) in self.ports.iter().flatten().enumerate() {
            if let Err(why) = check_port(p) {
                return Err(bad(
                    &format!("ports[{i}]"),
                    format!("`{p}` {why}"),
                    "write a port as `8080`, `8080/tcp`, `53/udp` or `9000/sctp` (1-65535)",
                ));
            }
        }
        if let Some(u) = &self.user {
            if let Err(why) = check_user(u) {
                return Err(bad(
                    "user",
                    format!("`{u}` {why}"),
                    "write `user`, `user:group`, `uid` or `uid:gid`, e.g. `user = \"65532:65532\"`",
                ));
            }
        }
        for k in self.env.iter().flat_map(|e| e.keys()) {
            let ok = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
            if !ok {
                return Err(bad(&format!("env.{k}"), format!("`{k}` is not an environment variable name"), "use letters, digits and `_`, not starting with a digit, e.g. `RUST_LOG = \"info\"`"));
            }
        }
        if let Some(w) = &self.workdir {
            if !w.starts_with('/') {
                return Err(bad(
                    "workdir",
                    format!("`{w}` is not an absolute path"),
                    "write the working directory as an absolute path, e.g. `workdir = \"/data\"`",
                ));
            }
        }
        if let Some(e) = &self.entrypoint {
            if e.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(bad("entrypoint", "it is empty".into(), "name the program to run, e.g. `entrypoint = [\"/usr/local/bin/app\"]`, or remove the key for the default"));
            }
        }
        if let Some(h) = &self.healthcheck {
            let test: Vec<&str> = h.test.iter().map(String::as_str).collect();
            let why = match test.as_slice() {
                [] => Some("`test` is empty".to_string()),
                ["NONE"] => None,
                ["CMD", _, ..] => None,
                ["CMD-SHELL", _] => None,
                ["CMD"] => Some("`[\"CMD\"]` names no program".into()),
                ["CMD-SHELL", ..] => Some("`CMD-SHELL` takes exactly one shell command".into()),
                [first, ..] => Some(format!("`test` starts with `{first}`")),
            };
            if let Some(why) = why {
                return Err(bad("healthcheck.test", why, "write `[\"CMD\", \"program\", \"arg\"…]`, `[\"CMD-SHELL\", \"command\"]` or `[\"NONE\"]`"));
            }
            for (key, d) in [
                ("interval", &h.interval),
                ("timeout", &h.timeout),
                ("start-period", &h.start_period),
            ] {
                if let Some(d) = d {
                    let ns = parse_duration(d);
                    if ns.is_none_or(|ns| ns < 1_000_000 && key != "start-period") {
                        return Err(bad(
                            &format!("healthcheck.{key}"),
                            format!("invalid duration `{d}` (at least 1ms)"),
                            "write durations as `30s`, `1m30s`, `500ms`",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `8080`, `8080/tcp`, `53/udp`, `9000/sctp`.
pub fn check_port(p: &str) -> Result<(), String> {
    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("has the protocol `{proto}` (tcp, udp or sctp)"));
    }
    match num.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(()),
        Ok(_) => Err("is out of the port range 1-65535".into()),
        Err(_) => Err("is not a port number".into()),
    }
}

/// `user`, `user:group`, `uid`, `uid:gid`.
pub fn check_user(u: &str) -> Result<(), String> {
    let parts: Vec<&str> = u.split(':').collect();
    if parts.len() > 2 {
        return Err("has more than one `:`".into());
    }
    for part in parts {
        let name_ok = part
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.$".contains(c));
        if !name_ok {
            return Err(format!(
                "has `{part}`, which is neither a name nor a number"
            ));
        }
    }
    Ok(())
}

/// An entrypoint must name a file of the image. On `scratch` (without `from-deb`) the image's
/// files are all known at plan time: the binaries in `bin_dir` and the assets; a bare program
/// name is looked up in `PATH`'s directories, as the runtime does.
pub fn check_entrypoint(
    entrypoint: &[String],
    files: &[String],
    manifest: &std::path::Path,
) -> anyhow::Result<()> {
    let Some(program) = entrypoint.first() else {
        return Ok(());
    };
    let found = if program.starts_with('/') {
        files.iter().any(|f| f == program)
    } else if program.contains('/') {
        false
    } else {
        [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ]
        .iter()
        .any(|d| files.iter().any(|f| *f == format!("{d}/{program}")))
    };
    if found {
        return Ok(());
    }
    let programs: Vec<&String> = files.iter().filter(|f| f.contains("/bin/")).collect();
    let hint = match programs.first() {
        Some(p) => format!(
            "the image's programs are {}: e.g. `entrypoint = [\"{p}\"]`, or add the file to `assets`",
            programs.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
        ),
        None => "add the program to the image (`assets` or `binaries`)".into(),
    };
    Err(forge_core::exit::with_hint(
        forge_core::exit::usage(format!(
            "invalid `entrypoint` in `[package.metadata.forge.image]` of `{}`: `{program}` is not in the image's layers",
            manifest.display()
        )),
        hint,
    ))
}

/// The reference section of `cargo forge-image`'s table (see [`forge_core::reference`]).
pub fn reference_tables() -> Vec<forge_core::reference::Table> {
    vec![
        forge_core::reference::Table::of::<ImageConfig>(
            "package.metadata.forge.image",
            &["workspace.metadata.forge.image"],
            "What `cargo forge-image` builds and where it pushes. Every key is optional; flags \
         override it.",
        ),
        crate::vm::config::reference_table(),
    ]
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

    /// The image table's `format` and `--format` are one enum, spelled `oci`/`docker` in both and
    /// in JSON; an unknown value is an error naming the key and listing the values.
    #[test]
    fn format_is_one_closed_set() {
        use crate::oci::Format;
        use clap::ValueEnum;
        let parse = |v: serde_json::Value| {
            forge_core::config::parse_table::<ImageConfig>(
                &v,
                std::path::Path::new("Cargo.toml"),
                "package.metadata.forge.image",
            )
        };
        let e = parse(serde_json::json!({"format": "appc"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`package.metadata.forge.image.format`")
                && e.contains("`appc`")
                && e.contains("`oci`")
                && e.contains("`docker`"),
            "{e}"
        );
        for f in Format::value_variants() {
            let name = f.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(serde_json::to_value(f).unwrap(), serde_json::json!(name));
            let c = parse(serde_json::json!({ "format": name })).unwrap();
            assert_eq!(c.format, Some(*f));
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("16GiB"), Some(16 << 30));
        assert_eq!(parse_size("4MB"), Some(4_000_000));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
        let cfg: LimitsConfig =
            serde_json::from_str(r#"{"max-layer-size": "1 MiB", "max-layer-entries": 10}"#)
                .unwrap();
        let l = ImageLimits::resolve(Some(&cfg), std::path::Path::new("Cargo.toml")).unwrap();
        assert_eq!((l.max_layer_size, l.max_layer_entries), (1 << 20, 10));
        assert_eq!(l.max_index_size, ImageLimits::default().max_index_size);
        let bad: LimitsConfig = serde_json::from_str(r#"{"max-index-size": "big"}"#).unwrap();
        let err = ImageLimits::resolve(Some(&bad), std::path::Path::new("Cargo.toml")).unwrap_err();
        assert!(err.to_string().contains("max-index-size"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let m = std::path::Path::new("Cargo.toml");
        let cfg = |v: serde_json::Value| -> ImageConfig { serde_json::from_value(v).unwrap() };
        for (v, key) in [
            (serde_json::json!({"ports": ["8080", "http"]}), "ports[1]"),
            (serde_json::json!({"ports": ["70000"]}), "ports[0]"),
            (serde_json::json!({"ports": ["53/icmp"]}), "ports[0]"),
            (serde_json::json!({"user": "app:group:x"}), "user"),
            (serde_json::json!({"user": "my user"}), "user"),
            (serde_json::json!({"user": ":"}), "user"),
            (serde_json::json!({"env": {"A=B": "x"}}), "env.A=B"),
            (serde_json::json!({"workdir": "data"}), "workdir"),
            (serde_json::json!({"entrypoint": []}), "entrypoint"),
            (
                serde_json::json!({"healthcheck": {"test": ["curl", "x"]}}),
                "healthcheck.test",
            ),
            (
                serde_json::json!({"healthcheck": {"test": ["CMD"]}}),
                "healthcheck.test",
            ),
            (
                serde_json::json!({"healthcheck": {"test": ["NONE"], "interval": "0s"}}),
                "healthcheck.interval",
            ),
        ] {
            let e = cfg(v.clone()).validate(m).unwrap_err();
            assert_eq!(forge_core::exit::code_of(&e), 2);
            assert!(e.to_string().contains(&format!("`{key}`")), "{v}: {e}");
        }
        cfg(serde_json::json!({"ports": ["8080", "53/udp"], "user": "65532:65532", "env": {"RUST_LOG": "info"}, "healthcheck": {"test": ["CMD", "app", "--health"], "interval": "30s"}})).validate(m).unwrap();
        let files = vec!["/usr/local/bin/app".to_string()];
        check_entrypoint(&["app".into()], &files, m).unwrap();
        check_entrypoint(&["/usr/local/bin/app".into()], &files, m).unwrap();
        let e = check_entrypoint(&["/usr/bin/app".into()], &files, m).unwrap_err();
        assert!(
            forge_core::exit::hints(&e)
                .join("")
                .contains("/usr/local/bin/app"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("10"), None);
    }
}
