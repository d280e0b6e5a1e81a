//! `[package.metadata.deb]`, read exactly as cargo-deb 3.x reads it.
//!
//! The struct mirrors cargo-deb's `CargoDeb` (33 keys, kebab-case, unknown keys rejected), with
//! the same loose spots cargo-deb has (asset tables accept extra keys; `license-file` takes a
//! path or `[path, "lines-to-skip"]`). Variants are merged the way cargo-deb merges them: a key
//! set in the variant wins, `merge-assets` appends or replaces by source or destination.
//!
//! Our own extensions live apart, in `[package.metadata.forge.deb]` ([`ForgeDebConfig`]), so a
//! Cargo.toml that uses them still works unchanged with `cargo deb`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[package.metadata.deb]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DebMetadata {
    pub name: Option<String>,
    pub maintainer: Option<String>,
    pub copyright: Option<String>,
    pub license_file: Option<LicenseFile>,
    pub changelog: Option<String>,
    pub depends: Option<DependencyList>,
    pub pre_depends: Option<DependencyList>,
    pub recommends: Option<DependencyList>,
    pub suggests: Option<DependencyList>,
    pub enhances: Option<DependencyList>,
    pub conflicts: Option<DependencyList>,
    pub breaks: Option<DependencyList>,
    pub replaces: Option<DependencyList>,
    pub provides: Option<DependencyList>,
    pub extended_description: Option<String>,
    pub extended_description_file: Option<String>,
    pub section: Option<String>,
    pub priority: Option<String>,
    pub revision: Option<String>,
    pub conf_files: Option<Vec<String>>,
    pub assets: Option<Vec<AssetSpec>>,
    pub merge_assets: Option<MergeAssets>,
    pub triggers_file: Option<String>,
    pub maintainer_scripts: Option<String>,
    pub features: Option<Vec<String>>,
    pub default_features: Option<bool>,
    pub separate_debug_symbols: Option<bool>,
    pub dbgsym: Option<bool>,
    pub compress_debug_symbols: Option<bool>,
    pub preserve_symlinks: Option<bool>,
    pub systemd_units: Option<SystemdUnits>,
    pub variants: Option<BTreeMap<String, DebMetadata>>,
    pub profile: Option<String>,
}

/// `license-file = "PATH"` or `["PATH", "LINES-TO-SKIP"]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LicenseFile {
    Path(String),
    WithSkip(Vec<String>),
}

/// A relation field: a string, or an array joined with `, `.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DependencyList {
    String(String),
    List(Vec<String>),
}

impl DependencyList {
    pub fn joined(&self) -> String {
        match self {
            DependencyList::String(s) => s.clone(),
            DependencyList::List(v) => v.join(", "),
        }
    }
}

/// One entry of `assets`.
#[derive(Clone, Debug, Serialize)]
pub enum AssetSpec {
    /// `[src, dest, mode?]` or `{ source, dest, mode? }`.
    File {
        source: String,
        dest: String,
        mode: Option<String>,
        preserve_symlinks: Option<bool>,
    },
    /// `{ dest, link_name }`: a symlink at `dest` pointing to `link_name`.
    Symlink { dest: String, link_name: String },
    /// `"$auto"`.
    Auto,
}

impl<'de> Deserialize<'de> for AssetSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Matches cargo-deb's untagged `CargoDebAssetArrayOrTable` with its error message.
        #[derive(Deserialize)]
        struct Table {
            source: Option<String>,
            dest: Option<String>,
            mode: Option<String>,
            preserve_symlinks: Option<bool>,
            link_name: Option<String>,
        }
        let value = serde_json::Value::deserialize(d)?;
        let expected = "items in `assets` to be either `[source, dest, mode]` or `[source, dest]` array, or `{source, dest, mode}` object, or `\"$auto\"`";
        match &value {
            serde_json::Value::String(s) if s == "$auto" => Ok(AssetSpec::Auto),
            serde_json::Value::String(s) => Err(serde::de::Error::custom(format!(
                "expected {expected}, but found a string: '{s}'"
            ))),
            serde_json::Value::Array(items) => {
                let strings: Option<Vec<&str>> = items.iter().map(|i| i.as_str()).collect();
                match strings {
                    Some(s) if (2..=3).contains(&s.len()) => Ok(AssetSpec::File {
                        source: s[0].to_string(),
                        dest: s[1].to_string(),
                        mode: s.get(2).map(|m| m.to_string()),
                        preserve_symlinks: None,
                    }),
                    Some(s) => Err(serde::de::Error::custom(format!(
                        "expected {expected}, but found an array with {} elements",
                        s.len()
                    ))),
                    None => Err(serde::de::Error::custom(format!(
                        "expected {expected}, but found an array with a non-string element (the mode must be a string such as \"644\")"
                    ))),
                }
            }
            serde_json::Value::Object(_) => {
                let t: Table = serde_json::from_value(value.clone()).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "expected {expected}: {e} (the mode must be a string such as \"644\")"
                    ))
                })?;
                match (t.source, t.dest, t.link_name) {
                    (Some(source), Some(dest), None) => Ok(AssetSpec::File {
                        source,
                        dest,
                        mode: t.mode,
                        preserve_symlinks: t.preserve_symlinks,
                    }),
                    (None, Some(dest), Some(link_name)) => {
                        Ok(AssetSpec::Symlink { dest, link_name })
                    }
                    _ => Err(serde::de::Error::custom(format!(
                        "expected {expected}, but found a table without `source` and `dest`"
                    ))),
                }
            }
            other => Err(serde::de::Error::custom(format!(
                "expected {expected}, but found {other}"
            ))),
        }
    }
}

/// `merge-assets` of a variant.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MergeAssets {
    pub append: Option<Vec<AssetSpec>>,
    pub by: Option<MergeBy>,
}

/// `merge-assets.by`: exactly one of `src` or `dest`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum MergeBy {
    Src(Vec<AssetSpec>),
    Dest(Vec<AssetSpec>),
}

/// `systemd-units`: one table or an array of tables.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SystemdUnits {
    One(SystemdUnitsConfig),
    Many(Vec<SystemdUnitsConfig>),
}

impl SystemdUnits {
    pub fn list(&self) -> Vec<SystemdUnitsConfig> {
        match self {
            SystemdUnits::One(c) => vec![c.clone()],
            SystemdUnits::Many(v) => v.clone(),
        }
    }
}

/// One `systemd-units` table.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SystemdUnitsConfig {
    pub unit_scripts: Option<String>,
    pub unit_name: Option<String>,
    pub enable: Option<bool>,
    pub start: Option<bool>,
    pub restart_after_upgrade: Option<bool>,
    pub stop_on_upgrade: Option<bool>,
}

impl DebMetadata {
    /// This table with `variant` applied over it (cargo-deb's `inherit_from`).
    pub fn with_variant(
        &self,
        variant: &DebMetadata,
        variant_name: &str,
        crate_name: &str,
    ) -> DebMetadata {
        let p = self.clone();
        let v = variant.clone();
        let mut merged = DebMetadata {
            name: v.name.or_else(|| match &p.name {
                Some(n) => Some(n.clone()),
                None => Some(format!("{crate_name}-{variant_name}")),
            }),
            maintainer: v.maintainer.or(p.maintainer),
            copyright: v.copyright.or(p.copyright),
            license_file: v.license_file.or(p.license_file),
            changelog: v.changelog.or(p.changelog),
            depends: v.depends.or(p.depends),
            pre_depends: v.pre_depends.or(p.pre_depends),
            recommends: v.recommends.or(p.recommends),
            suggests: v.suggests.or(p.suggests),
            enhances: v.enhances.or(p.enhances),
            conflicts: v.conflicts.or(p.conflicts),
            breaks: v.breaks.or(p.breaks),
            replaces: v.replaces.or(p.replaces),
            provides: v.provides.or(p.provides),
            extended_description: v.extended_description.or(p.extended_description),
            extended_description_file: v.extended_description_file.or(p.extended_description_file),
            section: v.section.or(p.section),
            priority: v.priority.or(p.priority),
            revision: v.revision.or(p.revision),
            conf_files: v.conf_files.or(p.conf_files),
            assets: v.assets.or(p.assets),
            merge_assets: None,
            triggers_file: v.triggers_file.or(p.triggers_file),
            maintainer_scripts: v.maintainer_scripts.or(p.maintainer_scripts),
            features: v.features.or(p.features),
            default_features: v.default_features.or(p.default_features),
            separate_debug_symbols: v.separate_debug_symbols.or(p.separate_debug_symbols),
            dbgsym: v.dbgsym.or(p.dbgsym),
            compress_debug_symbols: v.compress_debug_symbols.or(p.compress_debug_symbols),
            preserve_symlinks: v.preserve_symlinks.or(p.preserve_symlinks),
            systemd_units: v.systemd_units.or(p.systemd_units),
            variants: None,
            profile: v.profile.or(p.profile),
        };
        if let Some(merge) = v.merge_assets {
            let mut assets = merged
                .assets
                .take()
                .unwrap_or_else(|| vec![AssetSpec::Auto]);
            if let Some(append) = merge.append {
                assets.extend(append);
            }
            if let Some(by) = merge.by {
                let had_auto = assets.iter().any(|a| matches!(a, AssetSpec::Auto));
                let key_of = |a: &AssetSpec, by_src: bool| match a {
                    AssetSpec::File { source, dest, .. } => {
                        Some(if by_src { source.clone() } else { dest.clone() })
                    }
                    AssetSpec::Symlink { dest, .. } if !by_src => Some(dest.clone()),
                    _ => None,
                };
                let (by_src, new) = match by {
                    MergeBy::Src(n) => (true, n),
                    MergeBy::Dest(n) => (false, n),
                };
                let mut map: BTreeMap<String, AssetSpec> = BTreeMap::new();
                for a in assets.into_iter().chain(new) {
                    if let Some(k) = key_of(&a, by_src) {
                        map.insert(k, a);
                    }
                }
                assets = map.into_values().collect();
                if had_auto {
                    assets.push(AssetSpec::Auto);
                }
            }
            merged.assets = Some(assets);
        }
        merged
    }
}

/// `[package.metadata.forge.deb]`: cargo-forge's own additions, ignored by cargo-deb.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ForgeDebConfig {
    /// `xz` (default), `zstd`, `gzip`, `none`.
    pub compress: Option<String>,
    /// Compression level (format-specific).
    pub compress_level: Option<u32>,
    /// Directories to create even when empty: `{ path, mode?, user?, group? }`.
    #[serde(default)]
    pub dirs: Vec<DirSpec>,
    /// Ownership of installed paths: `{ path, user, group }` (uid/gid 0 otherwise).
    #[serde(default)]
    pub owners: Vec<OwnerSpec>,
    /// Generate md5sums (default true).
    pub md5sums: Option<bool>,
    /// Default `Section` when `section` is unset (default `utils`).
    pub default_section: Option<String>,
}

/// An empty directory in the package.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DirSpec {
    pub path: String,
    pub mode: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// Owner and group of a path in the package.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OwnerSpec {
    pub path: String,
    pub user: String,
    pub group: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<DebMetadata, String> {
        serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn all_asset_forms() {
        let m = parse(json!({"assets": [
            ["target/release/x", "usr/bin/", "755"],
            ["README.md", "usr/share/doc/x/"],
            {"source": "a", "dest": "b", "mode": "644", "extra": 1},
            {"dest": "usr/bin/y", "link_name": "x"},
            "$auto"
        ]}))
        .unwrap();
        let a = m.assets.unwrap();
        assert!(matches!(&a[0], AssetSpec::File { mode: Some(m), .. } if m == "755"));
        assert!(matches!(&a[1], AssetSpec::File { mode: None, .. }));
        assert!(matches!(&a[3], AssetSpec::Symlink { .. }));
        assert!(matches!(&a[4], AssetSpec::Auto));
    }

    #[test]
    fn bad_inputs_name_the_key() {
        let e = parse(json!({"assets": [["a", "b", 644]]})).unwrap_err();
        assert!(
            e.starts_with("assets[0]") && e.contains("mode must be a string"),
            "{e}"
        );
        let e = parse(json!({"depens": "x"})).unwrap_err();
        assert!(e.contains("unknown field `depens`"), "{e}");
        let e = parse(json!({"section": 5})).unwrap_err();
        assert!(e.starts_with("section"), "{e}");
        let e = parse(json!({"systemd-units": {"enabel": true}})).unwrap_err();
        assert!(e.starts_with("systemd-units"), "{e}");
    }

    #[test]
    fn variant_inherits_and_merges() {
        let base = parse(json!({"assets": [["a", "usr/share/a", "644"], ["b", "usr/share/b", "644"]], "section": "utils"})).unwrap();
        let variant = parse(json!({"merge-assets": {"by": {"dest": [["c", "usr/share/b", "600"]]}, "append": [["d", "usr/share/d"]]}})).unwrap();
        let m = base.with_variant(&variant, "mini", "tool");
        assert_eq!(m.name.as_deref(), Some("tool-mini"));
        assert_eq!(m.section.as_deref(), Some("utils"));
        let sources: Vec<String> = m
            .assets
            .unwrap()
            .iter()
            .map(|a| match a {
                AssetSpec::File { source, .. } => source.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(sources, ["a", "c", "d"]);
    }
}
