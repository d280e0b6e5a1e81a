//! Secrets (tokens, passwords) and their redaction.
//!
//! A [`Secret`] never prints its value: `Debug` and `Display` show `***`. Every secret that is
//! created is also registered in a process-wide list, and [`redact`] replaces any registered value
//! in a line of output; the [`crate::Shell`] passes every line through it. This is defence in depth:
//! the first line of defence is that code never formats a secret, the second is that if it does,
//! the value is masked anyway — also in the output of child processes, which
//! [`crate::process::Cmd`] relays line by line through the shell at every verbosity.
//!
//! The values of the credential variables the suite knows ([`CREDENTIAL_VARS`]) are registered
//! when the list is first used, before any of them is read for use: a build script or a tool
//! that prints a token it found elsewhere (a file, a config) is masked even in a run that never
//! needs that token.

use std::sync::{Mutex, OnceLock};

/// Environment variables holding credentials anywhere in the suite (release hosts, registries,
/// signing). Their values are masked in every line printed.
pub const CREDENTIAL_VARS: &[&str] = &[
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITEA_TOKEN",
    "FORGEJO_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "FORGE_REGISTRY_PASSWORD",
    "MINISIGN_PASSWORD",
    "CARGO_REGISTRY_TOKEN",
];

fn registry() -> &'static Mutex<Vec<String>> {
    static REGISTRY: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut list = Vec::new();
        for var in CREDENTIAL_VARS {
            if let Ok(value) = std::env::var(var) {
                add(&mut list, &value);
            }
        }
        Mutex::new(list)
    })
}

fn add(list: &mut Vec<String>, value: &str) {
    if value.len() < 4 || list.iter().any(|v| v == value) {
        return;
    }
    list.push(value.to_string());
    // Longest first, so that a secret containing another is masked whole.
    list.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// Registers a value that must never be printed. Values shorter than 4 characters are ignored
/// (masking them would garble unrelated output).
pub fn register(value: &str) {
    let mut list = registry().lock().unwrap_or_else(|e| e.into_inner());
    add(&mut list, value);
}

/// Replaces every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let list = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// A string that must not be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The value, for the one place that sends it (an HTTP header, a child's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_everywhere() {
        let s = Secret::new("sentinel-token-4711");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(
            redact("Authorization: Bearer sentinel-token-4711"),
            "Authorization: Bearer ***"
        );
        assert_eq!(s.expose(), "sentinel-token-4711");
    }

    #[test]
    fn short_values_are_not_registered() {
        register("ab");
        assert_eq!(redact("abc"), "abc");
    }
}
