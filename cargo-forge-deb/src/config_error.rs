//! Config errors in words: forge-deb's tables (`[package.metadata.deb]`,
//! `[package.metadata.forge.deb]`) are read with [`parse_table`], which names the key and says
//! what was expected as a user knows it — "a table", "a list", "a whole number" — never a Rust
//! type (`struct DebMetadata`, `u32`); an unknown key gets "did you mean" (edit distance, with
//! `strsim`) instead of the list of the 33 keys serde gives.
//!
//! The words and the "did you mean" rule are forge-core's ([`forge_core::config::table_error`],
//! [`forge_core::config::closest`]), shared with every other table; what is forge-deb's own is
//! the shape of the message: an unknown key gets a `hint:` line, with the table's keys listed
//! when no key is close.

use std::path::Path;

use anyhow::Result;
use serde::de::DeserializeOwned;

use forge_core::config::closest;
use forge_core::exit::{usage, with_hint};

/// Deserializes `value`, the table `table` of `manifest`, with errors in words.
pub fn parse_table<T: DeserializeOwned>(
    value: &serde_json::Value,
    manifest: &Path,
    table: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        if let Some((unknown, expected)) = unknown_field(&inner) {
            // The path ends with the unknown key itself when it is a key of a struct; inside a
            // shape-dispatched value (`systemd-units`) it ends at that value.
            let parent = match path.strip_suffix(unknown.as_str()) {
                Some(p) => p.trim_end_matches('.').to_string(),
                None => path.clone(),
            };
            let key = if parent.is_empty() || parent == "." {
                table.to_string()
            } else {
                format!("{table}.{parent}")
            };
            let msg = usage(format!(
                "unknown field `{unknown}` in `[{key}]` of `{}`",
                manifest.display()
            ));
            return match closest(&unknown, &expected) {
                Some(s) => with_hint(msg, format!("did you mean `{s}`?")),
                None if expected.is_empty() => msg,
                None => with_hint(
                    msg,
                    format!(
                        "the keys of `[{key}]` are {}",
                        expected
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            };
        }
        forge_core::config::table_error(&path, &inner, manifest, table)
    })
}

/// serde's `unknown field `x`, expected one of `a`, `b`` (or `expected `a``, `expected `a` or
/// `b``, `there are no fields`): the unknown key and the keys allowed.
fn unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((unknown.to_string(), expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{DebMetadata, ForgeDebConfig};

    fn deb_error(toml: &str) -> String {
        let v: serde_json::Value = toml::from_str(toml).unwrap();
        let e = parse_table::<DebMetadata>(&v, Path::new("Cargo.toml"), "package.metadata.deb")
            .unwrap_err();
        format!("{e:#} | hint: {}", forge_core::exit::hints(&e).join(" | "))
    }

    /// The messages a user sees for the mistakes most often made, in words.
    #[test]
    fn config_errors_in_words() {
        let cases: &[(&str, &[&str])] = &[
            (
                "depens = \"libc6\"",
                &[
                    "unknown field `depens` in `[package.metadata.deb]`",
                    "did you mean `depends`?",
                ],
            ),
            (
                "depends = 3",
                &[
                    "invalid `package.metadata.deb.depends`",
                    "a string like `libc6 (>= 2.31)` or a list of them",
                    "found integer `3`",
                ],
            ),
            (
                "systemd-units = 3",
                &[
                    "invalid `package.metadata.deb.systemd-units`",
                    "a table or a list of tables",
                    "found integer `3`",
                ],
            ),
            (
                "systemd-units = { enabel = true }",
                &[
                    "systemd-units",
                    "unknown field `enabel`",
                    "did you mean `enable`?",
                ],
            ),
            (
                "license-file = 3",
                &[
                    "invalid `package.metadata.deb.license-file`",
                    "a path, or `[path, lines to skip]`",
                ],
            ),
            (
                "variants = { slim = 3 }",
                &[
                    "invalid `package.metadata.deb.variants.slim`",
                    "expected a table",
                ],
            ),
            (
                "revision = []",
                &[
                    "invalid `package.metadata.deb.revision`",
                    "found a list, expected a string",
                ],
            ),
            (
                "frobnicate = true",
                &[
                    "unknown field `frobnicate` in `[package.metadata.deb]`",
                    "the keys of `[package.metadata.deb]` are",
                    "`depends`",
                ],
            ),
        ];
        for (toml, wants) in cases {
            let msg = deb_error(toml);
            for want in *wants {
                assert!(msg.contains(want), "`{toml}`: `{want}` not in: {msg}");
            }
            for leak in [
                "untagged enum",
                "DependencyList",
                "SystemdUnits",
                "struct ",
                "variant",
            ] {
                assert!(
                    !msg.contains(leak) || msg.contains("variants"),
                    "`{toml}` leaks `{leak}`: {msg}"
                );
            }
        }
    }

    #[test]
    fn forge_table_errors_in_words() {
        let forge_error = |toml: &str| {
            let v: serde_json::Value = toml::from_str(toml).unwrap();
            let table = "package.metadata.forge.deb";
            parse_table::<ForgeDebConfig>(&v, Path::new("Cargo.toml"), table).unwrap_err()
        };
        let e = forge_error("compress-levle = 3");
        let msg = format!("{e:#}");
        assert!(
            msg.contains("unknown field `compress-levle` in `[package.metadata.forge.deb]`"),
            "{msg}"
        );
        assert_eq!(
            forge_core::exit::hints(&e),
            ["did you mean `compress-level`?"]
        );
        let e = forge_error("compress-level = \"x\"");
        assert!(
            format!("{e:#}").contains("expected a whole number"),
            "{e:#}"
        );
    }

    #[test]
    fn typos_only() {
        let keys: Vec<String> = ["depends", "section", "priority"]
            .map(String::from)
            .to_vec();
        assert_eq!(closest("depens", &keys), Some("depends"));
        assert_eq!(closest("sectoin", &keys), Some("section"));
        assert_eq!(closest("zzz", &keys), None);
    }
}
