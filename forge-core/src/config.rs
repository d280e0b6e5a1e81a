//! Configuration layers: `[workspace.metadata.forge]` → `[package.metadata.forge]` → command line.
//!
//! Each layer is an all-`Option` struct ([`ForgeLayer`]) deserialised with unknown keys rejected and
//! with the path of a bad key recorded (`serde_path_to_error`), so an error says which file and which
//! key is wrong. The layers are merged in order and resolved once into [`Settings`], which has no
//! `Option`s left for what the build needs. Command-specific tables (`image`, `release`) are kept as
//! raw values here and parsed by the crate that owns them, with [`parse_table`].

use std::path::Path;

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cli::{BackendChoice, CommonArgs};
use crate::exit::usage;
use crate::project::Project;

/// One layer of `[*.metadata.forge]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ForgeLayer {
    pub backend: Option<BackendChoice>,
    pub toolchain: Option<String>,
    pub glibc: Option<String>,
    pub targets: Option<Vec<String>>,
    pub profile: Option<String>,
    pub retries: Option<u32>,
    /// Extra settings of `cargo forge-deb` (beyond cargo-deb's `[package.metadata.deb]`).
    pub deb: Option<serde_json::Value>,
    /// `cargo forge-image` settings (parsed by the image crate).
    pub image: Option<serde_json::Value>,
    /// `cargo forge-release` settings (parsed by the release crate).
    pub release: Option<serde_json::Value>,
}

impl ForgeLayer {
    /// `other` over `self`.
    fn merge(self, other: ForgeLayer) -> ForgeLayer {
        ForgeLayer {
            backend: other.backend.or(self.backend),
            toolchain: other.toolchain.or(self.toolchain),
            glibc: other.glibc.or(self.glibc),
            targets: other.targets.or(self.targets),
            profile: other.profile.or(self.profile),
            retries: other.retries.or(self.retries),
            deb: merge_json(self.deb, other.deb),
            image: merge_json(self.image, other.image),
            release: merge_json(self.release, other.release),
        }
    }
}

/// Deep-merges two JSON tables, `over` winning.
fn merge_json(
    base: Option<serde_json::Value>,
    over: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    match (base, over) {
        (Some(serde_json::Value::Object(mut b)), Some(serde_json::Value::Object(o))) => {
            for (k, v) in o {
                let merged = merge_json(b.remove(&k), Some(v));
                if let Some(m) = merged {
                    b.insert(k, m);
                }
            }
            Some(serde_json::Value::Object(b))
        }
        (b, None) => b,
        (_, o) => o,
    }
}

/// Settings after all layers, for one package.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub backend: BackendChoice,
    pub toolchain: Option<String>,
    pub glibc: Option<String>,
    /// Empty means "the host, without `--target`".
    pub targets: Vec<String>,
    pub profile: String,
    pub retries: u32,
    pub deb: Option<serde_json::Value>,
    pub image: Option<serde_json::Value>,
    pub release: Option<serde_json::Value>,
}

/// Default number of attempts of every HTTP request (design.md §6).
pub const DEFAULT_RETRIES: u32 = 6;

/// Parses a metadata table, naming the file, the table and the key on error.
pub fn parse_table<T: DeserializeOwned>(
    value: &serde_json::Value,
    manifest: &Path,
    table: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() {
            table.to_string()
        } else {
            format!("{table}.{path}")
        };
        usage(format!(
            "invalid `{key}` in `{}`: {}",
            manifest.display(),
            e.inner()
        ))
    })
}

/// Reads the `forge` layer of a metadata value (`null` or no `forge` key gives an empty layer).
fn layer(metadata: &serde_json::Value, manifest: &Path, table: &str) -> Result<ForgeLayer> {
    match metadata.get("forge") {
        None | Some(serde_json::Value::Null) => Ok(ForgeLayer::default()),
        Some(v) => parse_table(v, manifest, table),
    }
}

/// Resolves the settings of one package: workspace layer, package layer, then the command line.
pub fn resolve(
    project: &Project,
    package: &cargo_metadata::Package,
    args: &CommonArgs,
) -> Result<Settings> {
    let ws = layer(
        project.workspace_metadata(),
        &project.workspace_manifest(),
        "workspace.metadata.forge",
    )?;
    let pkg = layer(
        &package.metadata,
        package.manifest_path.as_std_path(),
        "package.metadata.forge",
    )?;
    let cli = ForgeLayer {
        backend: args.backend,
        toolchain: args.toolchain.clone(),
        glibc: args.glibc.clone(),
        targets: if args.targets.is_empty() {
            None
        } else {
            Some(args.targets.clone())
        },
        profile: args.profile.clone(),
        ..ForgeLayer::default()
    };
    let merged = ws.merge(pkg).merge(cli);
    let retries = match std::env::var("FORGE_RETRIES") {
        Ok(v) => Some(v.parse::<u32>().map_err(|_| {
            usage(format!(
                "invalid FORGE_RETRIES `{v}`: expected a whole number of attempts"
            ))
        })?),
        Err(_) => None,
    };
    Ok(Settings {
        backend: merged.backend.unwrap_or(BackendChoice::Auto),
        toolchain: merged.toolchain,
        glibc: merged.glibc,
        targets: merged.targets.unwrap_or_default(),
        profile: merged.profile.unwrap_or_else(|| "release".to_string()),
        retries: retries.or(merged.retries).unwrap_or(DEFAULT_RETRIES),
        deb: merged.deb,
        image: merged.image,
        release: merged.release,
    })
}

/// Workspace-level settings, for commands that run before a package is chosen (toolchain).
pub fn workspace_layer(project: &Project) -> Result<ForgeLayer> {
    layer(
        project.workspace_metadata(),
        &project.workspace_manifest(),
        "workspace.metadata.forge",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = layer(
            &json!({"forge": {"bakend": "cargo"}}),
            Path::new("/x/Cargo.toml"),
            "package.metadata.forge",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`/x/Cargo.toml`"), "{err}");
        assert!(err.contains("unknown field `bakend`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key_path() {
        let err = layer(
            &json!({"forge": {"targets": ["a", 3]}}),
            Path::new("Cargo.toml"),
            "package.metadata.forge",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("package.metadata.forge.targets[1]"), "{err}");
    }

    #[test]
    fn later_layers_win_and_tables_merge() {
        let a = ForgeLayer {
            profile: Some("a".into()),
            image: Some(json!({"base": "x", "user": "1"})),
            ..Default::default()
        };
        let b = ForgeLayer {
            image: Some(json!({"user": "2"})),
            ..Default::default()
        };
        let m = a.merge(b);
        assert_eq!(m.profile.as_deref(), Some("a"));
        assert_eq!(m.image.unwrap(), json!({"base": "x", "user": "2"}));
    }
}
