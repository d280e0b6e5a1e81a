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
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ForgeLayer {
    /// How binaries are built: `cargo` (natively, or with Debian's cross gcc for a foreign
    /// target), `zigbuild` (cargo-zigbuild, any target, with a glibc floor), `cross`, or `auto`
    /// (`cross` when the workspace has a `Cross.toml`, `cross` is installed and a container
    /// engine is reachable, else `cargo` when the target runs natively or its cross gcc is
    /// installed, else `zigbuild`, else `cross` with an engine).
    /// Default `"auto"`;
    /// `--backend` overrides it. Example: `backend = "zigbuild"`.
    pub backend: Option<BackendChoice>,
    /// The Rust toolchain: a rustup toolchain name, or a directory with `bin/rustc` and
    /// `bin/cargo`. Default: the `cargo` that runs cargo-forge. `--toolchain` overrides it.
    /// Example: `toolchain = "/usr"` (Debian's `rustc-web` with its arm64 standard library).
    pub toolchain: Option<String>,
    /// Oldest glibc the binaries must run on; only the `zigbuild` backend can honour it, so
    /// `auto` picks zigbuild when it is set, and `$auto` depends then ask for no newer `libc6`.
    /// Default: none (the build machine's glibc). Example: `glibc = "2.17"`.
    pub glibc: Option<String>,
    /// Rust target triples to build for. Default: the host, without `--target`. `--target`
    /// (repeatable) overrides it. Example: `targets = ["x86_64-unknown-linux-gnu",
    /// "aarch64-unknown-linux-gnu"]`.
    pub targets: Option<Vec<String>>,
    /// The cargo profile to build with. Default `"release"` (for `cargo forge-deb`, the `profile`
    /// of `[package.metadata.deb]` comes before it); `--profile` overrides it.
    pub profile: Option<String>,
    /// Attempts of every HTTP request (registry, release hosts) before giving up, with
    /// exponential backoff. Default `6`; the `FORGE_RETRIES` environment variable overrides it.
    pub retries: Option<u32>,
    /// cargo-forge's own additions to `[package.metadata.deb]`: see
    /// `[package.metadata.forge.deb]` below.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub deb: Option<serde_json::Value>,
    /// What `cargo forge-image` builds: see `[package.metadata.forge.image]` below.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub image: Option<serde_json::Value>,
    /// The VM disk images `cargo forge-image --output qcow2:FILE` builds: see
    /// `[package.metadata.forge.vm]` below.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub vm: Option<serde_json::Value>,
    /// What `cargo forge-release` releases and where: see `[workspace.metadata.forge.release]`
    /// below.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub release: Option<serde_json::Value>,
}

/// The reference section of the shared layer (see [`crate::reference`]).
pub fn reference_tables() -> Vec<crate::reference::Table> {
    vec![crate::reference::Table::of::<ForgeLayer>(
        "workspace.metadata.forge",
        &["package.metadata.forge"],
        "Settings shared by the three commands. The workspace table is read first, then the \
         package's (its keys win; the `deb`, `image`, `vm` and `release` sub-tables are merged key by \
         key), then the command line (its flags win).",
    )]
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
            vm: merge_json(self.vm, other.vm),
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
    pub vm: Option<serde_json::Value>,
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

impl ForgeLayer {
    /// The command-line layer: what `--backend`, `--toolchain`, `--glibc`, `--target` and
    /// `--profile` set.
    pub fn from_args(args: &CommonArgs) -> ForgeLayer {
        ForgeLayer {
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
        }
    }
}

/// Resolves the settings of one package: workspace layer, package layer, then the command line.
pub fn resolve(
    project: &Project,
    package: &cargo_metadata::Package,
    args: &CommonArgs,
) -> Result<Settings> {
    resolve_layer(project, package, &ForgeLayer::from_args(args))
}

/// [`resolve`] with the top layer given as a layer (a library caller's choices, e.g. a release
/// plan's, rather than command-line flags).
pub fn resolve_layer(
    project: &Project,
    package: &cargo_metadata::Package,
    cli: &ForgeLayer,
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
    let merged = ws.merge(pkg).merge(cli.clone());
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
        vm: merged.vm,
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
