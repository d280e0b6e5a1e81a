//! Configuration layers: `[workspace.metadata.forge]` → `[package.metadata.forge]` → command line.
//!
//! Each layer is an all-`Option` struct ([`ForgeLayer`]) deserialised with unknown keys rejected and
//! with the path of a bad key recorded (`serde_path_to_error`), so an error says which file and which
//! key is wrong. The layers are merged in order and resolved once into [`Settings`], which has no
//! `Option`s left for what the build needs. Command-specific tables (`image`, `release`) are kept as
//! raw values here and parsed by the crate that owns them, with [`Settings::parse_table`], which
//! names in an error the table a key really came from (the package's or the workspace's: the two
//! are merged key by key), or [`parse_table`] for a table read from one place.
//!
//! An unknown key close to a known one (`depens`) gets "did you mean `depends`?" instead of the
//! list of every key serde knows (33 for `[package.metadata.deb]`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
    /// Where each key of the merged sub-tables came from (for errors).
    #[serde(skip)]
    pub origins: TableOrigins,
    pub deb: Option<serde_json::Value>,
    pub image: Option<serde_json::Value>,
    pub vm: Option<serde_json::Value>,
    pub release: Option<serde_json::Value>,
}

/// `FORGE_RETRIES`, the one reader of it: `None` when unset, an error (exit 2) when it is not a
/// whole number of attempts. Every command and phase that makes HTTP requests asks here, so the
/// variable has one meaning everywhere.
pub fn env_retries() -> Result<Option<u32>> {
    match std::env::var("FORGE_RETRIES") {
        Ok(v) => Ok(Some(v.parse::<u32>().map_err(|_| {
            usage(format!(
                "invalid FORGE_RETRIES `{v}`: expected a whole number of attempts"
            ))
        })?)),
        Err(_) => Ok(None),
    }
}

/// Default number of attempts of every HTTP request (`--retries`, `FORGE_RETRIES`).
pub const DEFAULT_RETRIES: u32 = 6;

/// Parses a metadata table, naming the file, the table and the key on error.
pub fn parse_table<T: DeserializeOwned>(
    value: &serde_json::Value,
    manifest: &Path,
    table: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        table_error(
            &e.path().to_string(),
            &e.inner().to_string(),
            manifest,
            table,
        )
    })
}

/// The error of a bad key: "invalid `TABLE.PATH` in `MANIFEST`: WHAT", with [`did_you_mean`]
/// and [`in_words`].
pub fn table_error(path: &str, what: &str, manifest: &Path, table: &str) -> anyhow::Error {
    let key = if path == "." || path.is_empty() {
        table.to_string()
    } else {
        format!("{table}.{path}")
    };
    usage(format!(
        "invalid `{key}` in `{}`: {}",
        manifest.display(),
        in_words(&did_you_mean(what))
    ))
}

/// serde's "unknown field `depens`, expected one of `a`, `b`, …" (or "unknown variant") becomes
/// "unknown field `depens`: did you mean `depends`?" when one expected name is close (see
/// [`closest`]); otherwise, and for every other message, the message as it was.
pub fn did_you_mean(message: &str) -> String {
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message.to_string();
    };
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| head.strip_prefix(p))
        .and_then(|rest| rest.strip_suffix('`'));
    let Some(unknown) = unknown else {
        return message.to_string();
    };
    let names: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    match closest(unknown, &names) {
        Some(name) => format!("{head}: did you mean `{name}`?"),
        None => message.to_string(),
    }
}

/// The candidate closest to `unknown`, if close enough to be a typo (cargo's rule: an edit
/// distance of at most a third of the name's length, at least 1).
pub fn closest<'a>(unknown: &str, candidates: &'a [String]) -> Option<&'a str> {
    let limit = (unknown.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(unknown, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// serde's type words as a user knows them: "a table", "a list", "a whole number", never a Rust
/// type name (`struct DebMetadata`, `u32`). Rewritten here because the messages come from
/// derived code (serde's `expecting` covers only part of them) and serde's wording is stable.
pub fn in_words(msg: &str) -> String {
    let mut out = msg.to_string();
    // `expected struct DebMetadata` and the like: a Rust type name.
    if let Some(i) = out.find("expected struct ") {
        out.truncate(i);
        out.push_str("expected a table");
    }
    for (serde, words) in [
        ("invalid type: map,", "invalid type: a table,"),
        ("invalid type: sequence,", "invalid type: a list,"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a table"),
    ] {
        out = out.replace(serde, words);
    }
    for int in ["u8", "u16", "u32", "u64", "usize", "i32", "i64"] {
        if let Some(head) = out.strip_suffix(&format!("expected {int}")) {
            out = format!("{head}expected a whole number");
        }
    }
    out.replace("invalid type: ", "found ")
}

/// Where the keys of the merged sub-tables (`deb`, `image`, `vm`, `release`) came from: the
/// package's table wins key by key over the workspace's, so a bad key is reported under the
/// table (and in the manifest) the user wrote it in.
#[derive(Clone, Debug, Default)]
pub struct TableOrigins {
    workspace_manifest: PathBuf,
    package_manifest: PathBuf,
    /// Top-level keys each sub-table of the package's table sets.
    package_keys: BTreeMap<String, BTreeSet<String>>,
}

impl TableOrigins {
    fn new(ws_manifest: &Path, pkg: &ForgeLayer, pkg_manifest: &Path) -> Self {
        let keys = |v: &Option<serde_json::Value>| -> BTreeSet<String> {
            match v {
                Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                _ => BTreeSet::new(),
            }
        };
        let mut package_keys = BTreeMap::new();
        for (name, v) in [
            ("deb", &pkg.deb),
            ("image", &pkg.image),
            ("vm", &pkg.vm),
            ("release", &pkg.release),
        ] {
            package_keys.insert(name.to_string(), keys(v));
        }
        TableOrigins {
            workspace_manifest: ws_manifest.to_path_buf(),
            package_manifest: pkg_manifest.to_path_buf(),
            package_keys,
        }
    }

    /// The table and manifest a key of sub-table `sub` came from, by its error path
    /// (`hosts[0].kind`: the key is `hosts`). A key the package's table sets, or a path that
    /// names no key (the whole table), is the package's; any other came from the workspace.
    fn origin(&self, sub: &str, path: &str, what: &str) -> (String, &Path) {
        let mut key = path
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_string();
        // An unknown key is named by the message, not the path (which stops at its table).
        if key.is_empty() {
            if let Some(name) = what
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
            {
                key = name.to_string();
            }
        }
        let from_package = key.is_empty()
            || self.package_keys.get(sub).is_some_and(|k| k.contains(&key))
            || self.workspace_manifest.as_os_str().is_empty();
        if from_package {
            (
                format!("package.metadata.forge.{sub}"),
                &self.package_manifest,
            )
        } else {
            (
                format!("workspace.metadata.forge.{sub}"),
                &self.workspace_manifest,
            )
        }
    }
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
    let origins = TableOrigins::new(
        &project.workspace_manifest(),
        &pkg,
        package.manifest_path.as_std_path(),
    );
    let merged = ws.merge(pkg).merge(cli.clone());
    let retries = env_retries()?;
    Ok(Settings {
        backend: merged.backend.unwrap_or(BackendChoice::Auto),
        toolchain: merged.toolchain,
        glibc: merged.glibc,
        targets: merged.targets.unwrap_or_default(),
        profile: merged.profile.unwrap_or_else(|| "release".to_string()),
        retries: retries.or(merged.retries).unwrap_or(DEFAULT_RETRIES),
        origins,
        deb: merged.deb,
        image: merged.image,
        vm: merged.vm,
        release: merged.release,
    })
}

impl Settings {
    /// Parses the merged sub-table `sub` (`"deb"`, `"image"`, `"vm"`, `"release"`) as `T`;
    /// `None` when neither the workspace nor the package has it. A bad key is reported under the
    /// table, and in the manifest, it came from (see [`TableOrigins`]).
    pub fn parse_table<T: DeserializeOwned>(&self, sub: &str) -> Result<Option<T>> {
        let value = match sub {
            "deb" => &self.deb,
            "image" => &self.image,
            "vm" => &self.vm,
            "release" => &self.release,
            other => anyhow::bail!("no table `{other}` in `[*.metadata.forge]`"),
        };
        let Some(value) = value else {
            return Ok(None);
        };
        serde_path_to_error::deserialize(value)
            .map(Some)
            .map_err(|e| {
                let path = e.path().to_string();
                let what = e.inner().to_string();
                let (table, manifest) = self.origins.origin(sub, &path, &what);
                table_error(&path, &what, manifest, &table)
            })
    }
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

    /// The messages of unknown keys and values: a close name is suggested, a far one keeps
    /// serde's list, other messages are kept.
    #[test]
    fn did_you_mean_table() {
        for (message, want) in [
            (
                "unknown field `depens`, expected one of `name`, `depends`, `section`",
                "unknown field `depens`: did you mean `depends`?",
            ),
            (
                "unknown field `bakend`, expected one of `backend`, `toolchain`",
                "unknown field `bakend`: did you mean `backend`?",
            ),
            (
                "unknown variant `tar.zg`, expected one of `tar.gz`, `tar.xz`, `zip`",
                "unknown variant `tar.zg`: did you mean `tar.gz`?",
            ),
            (
                "unknown variant `dockr`, expected `oci` or `docker`",
                "unknown variant `dockr`: did you mean `docker`?",
            ),
            (
                "unknown field `colour`, expected one of `name`, `section`",
                "unknown field `colour`, expected one of `name`, `section`",
            ),
            (
                "invalid type: integer `3`, expected a string",
                "invalid type: integer `3`, expected a string",
            ),
            (
                "unknown field `x`, there are no fields",
                "unknown field `x`, there are no fields",
            ),
        ] {
            assert_eq!(did_you_mean(message), want, "{message}");
        }
    }

    /// A merged sub-table's bad key is reported under the table, and in the manifest, it came
    /// from; a typo gets a suggestion.
    #[test]
    fn merged_table_errors_name_the_table_the_key_came_from() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        #[allow(dead_code)]
        struct Release {
            tag_format: Option<String>,
            remote: Option<String>,
            sbom: Option<bool>,
        }
        let ws = ForgeLayer {
            release: Some(json!({"remote": 3, "tag-format": "v{{version}}"})),
            ..Default::default()
        };
        let settings = |ws: &ForgeLayer, pkg: &ForgeLayer| Settings {
            backend: BackendChoice::Auto,
            toolchain: None,
            glibc: None,
            targets: Vec::new(),
            profile: "release".into(),
            retries: DEFAULT_RETRIES,
            origins: TableOrigins::new(
                Path::new("/w/Cargo.toml"),
                pkg,
                Path::new("/w/app/Cargo.toml"),
            ),
            deb: None,
            image: None,
            vm: None,
            release: ws.clone().merge(pkg.clone()).release,
        };
        let layer = |v: serde_json::Value| ForgeLayer {
            release: Some(v),
            ..Default::default()
        };
        let table = [
            // The package's typo: its table, its manifest, a suggestion.
            (
                ws.clone(),
                layer(json!({"remote": "origin", "sbon": true})),
                "package.metadata.forge.release",
                "/w/app/Cargo.toml",
                "unknown field `sbon`: did you mean `sbom`?",
            ),
            // The workspace's typo, with a package table that is fine.
            (
                layer(json!({"tag-formt": "v{{version}}"})),
                layer(json!({"sbom": true})),
                "workspace.metadata.forge.release",
                "/w/Cargo.toml",
                "unknown field `tag-formt`: did you mean `tag-format`?",
            ),
            // The workspace's bad value, with a package table that is fine.
            (
                ws.clone(),
                layer(json!({"sbom": true})),
                "workspace.metadata.forge.release.remote",
                "/w/Cargo.toml",
                "found integer `3`, expected a string",
            ),
            // The package overrides the workspace's key: the package's value is the bad one.
            (
                ws.clone(),
                layer(json!({"remote": false})),
                "package.metadata.forge.release.remote",
                "/w/app/Cargo.toml",
                "found boolean `false`, expected a string",
            ),
        ];
        for (ws, pkg, key, manifest, what) in table {
            let e = settings(&ws, &pkg)
                .parse_table::<Release>("release")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("invalid `{key}")),
                "{e}\nwanted the key under `{key}`"
            );
            assert!(e.contains(&format!(" in `{manifest}`: ")), "{e}");
            assert!(e.ends_with(what), "{e}");
        }
        assert!(settings(&ForgeLayer::default(), &ForgeLayer::default())
            .parse_table::<Release>("release")
            .unwrap()
            .is_none());
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
