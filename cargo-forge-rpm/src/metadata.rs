//! `[package.metadata.generate-rpm]`, read as cargo-generate-rpm 0.16 reads it.
//!
//! The table is kept as a JSON value (what `cargo metadata` gives) until every overwrite is
//! applied — `--variant NAME` (the table's `variants.NAME`), `--metadata-overwrite FILE[#PATH]`
//! and `-s TOML`, in command-line order, each replacing the top-level keys it sets, as
//! cargo-generate-rpm's layered lookup does — and only then parsed into
//! [`GenerateRpmMetadata`], so that an error names the key of the merged table.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use forge_core::exit::{usage, ErrorKind, ResultExt};

/// `[package.metadata.generate-rpm]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct GenerateRpmMetadata {
    /// The package name. Default: the crate name.
    pub name: Option<String>,
    /// The version. Default: the crate version (`-` becomes `~`, RPM's pre-release mark).
    pub version: Option<String>,
    /// `License`. Default: the crate's `license`.
    pub license: Option<String>,
    /// `Summary`. Default: the crate's `description`.
    pub summary: Option<String>,
    /// `URL`. Default: the crate's `homepage`, else `repository`.
    pub url: Option<String>,
    /// `Vendor`.
    pub vendor: Option<String>,
    /// `Release`: a string or a number. Default `"1"`.
    pub release: Option<StringOrInt>,
    /// `Epoch`. Default: none.
    pub epoch: Option<u32>,
    /// The files: `{ source, dest, mode, config, doc, user, group }`. `source` is relative to
    /// the package (`target/release/NAME` is where cargo put the build for the target), may
    /// hold `*`; `dest` is absolute, a directory when it ends in `/`.
    pub assets: Option<Vec<RpmAsset>>,
    /// `"no"` (or `"disabled"`) turns off the requires found in the ELF files.
    #[serde(rename = "auto-req")]
    pub auto_req: Option<String>,
    /// `false` leaves `/bin/sh` out of the requires. Default `true`.
    #[serde(rename = "require-sh")]
    pub require_sh: Option<bool>,
    /// `Requires`: `{ name = "*" }` or `{ name = ">= 1.2, < 2" }`.
    pub requires: Option<BTreeMap<String, String>>,
    pub obsoletes: Option<BTreeMap<String, String>>,
    pub conflicts: Option<BTreeMap<String, String>>,
    pub provides: Option<BTreeMap<String, String>>,
    pub recommends: Option<BTreeMap<String, String>>,
    pub supplements: Option<BTreeMap<String, String>>,
    pub suggests: Option<BTreeMap<String, String>>,
    pub enhances: Option<BTreeMap<String, String>>,
    /// `%pre`: the script, or a file (relative to the package) holding it.
    pub pre_install_script: Option<String>,
    /// `%post`.
    pub post_install_script: Option<String>,
    /// `%preun`.
    pub pre_uninstall_script: Option<String>,
    /// `%postun`.
    pub post_uninstall_script: Option<String>,
    /// `%pretrans`.
    pub pre_trans_script: Option<String>,
    /// `%posttrans`.
    pub post_trans_script: Option<String>,
    /// The interpreter of each script and its arguments (`["/bin/bash", "-e"]`); default
    /// `/bin/sh`.
    pub pre_install_script_prog: Option<Vec<String>>,
    pub post_install_script_prog: Option<Vec<String>>,
    pub pre_uninstall_script_prog: Option<Vec<String>>,
    pub post_uninstall_script_prog: Option<Vec<String>>,
    pub pre_trans_script_prog: Option<Vec<String>>,
    pub post_trans_script_prog: Option<Vec<String>>,
    /// Named variants, applied with `--variant NAME`.
    #[serde(skip_serializing)]
    pub variants: Option<BTreeMap<String, Value>>,
}

/// A value written as a string or a number (`release = 2`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(untagged)]
pub enum StringOrInt {
    String(String),
    Int(i64),
}

impl std::fmt::Display for StringOrInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StringOrInt::String(s) => f.write_str(s),
            StringOrInt::Int(i) => write!(f, "{i}"),
        }
    }
}

/// One entry of `assets`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpmAsset {
    pub source: String,
    pub dest: String,
    /// Octal permission bits as a string, `"755"`. Default: the source file's.
    pub mode: Option<String>,
    /// `true` (`%config`) or `"noreplace"` (`%config(noreplace)`).
    pub config: Option<ConfigFlag>,
    /// `%doc`.
    pub doc: Option<bool>,
    /// The owner. Default `root`.
    pub user: Option<String>,
    /// The group. Default `root`.
    pub group: Option<String>,
    /// File capabilities (`cap_net_bind_service=ep`): refused with a message, see
    /// [`GenerateRpmMetadata::check`].
    pub caps: Option<String>,
}

/// `config = true` or `config = "noreplace"`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(untagged)]
pub enum ConfigFlag {
    Bool(bool),
    Mode(String),
}

impl ConfigFlag {
    /// `(config, noreplace)`.
    pub fn flags(&self) -> (bool, bool) {
        match self {
            ConfigFlag::Bool(b) => (*b, false),
            ConfigFlag::Mode(m) => (true, m == "noreplace"),
        }
    }
}

/// One layer over the Cargo.toml table, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// `--metadata-overwrite FILE` or `FILE#dotted.path`.
    File(String),
    /// `-s/--set-metadata TOML`.
    Text(String),
    /// `--variant NAME`.
    Variant(String),
}

/// The `[package.metadata.generate-rpm]` of a package with `overwrites` applied, or `None`
/// when the package has no such table and no overwrite adds one.
pub fn load(
    pkg: &cargo_metadata::Package,
    overwrites: &[Overwrite],
) -> Result<Option<GenerateRpmMetadata>> {
    let manifest = pkg.manifest_path.as_std_path();
    let base = match pkg.metadata.get("generate-rpm") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => {
            return Err(usage(format!(
                "`package.metadata.generate-rpm` in `{}` is not a table",
                manifest.display()
            )))
        }
    };
    if base.is_none() && overwrites.is_empty() {
        return Ok(None);
    }
    let mut table = base.clone().unwrap_or_default();
    for o in overwrites {
        let layer = match o {
            Overwrite::Variant(name) => base
                .as_ref()
                .and_then(|b| b.get("variants"))
                .and_then(|v| v.get(name))
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| {
                    usage(format!(
                        "variant `{name}` is not defined: `[package.metadata.generate-rpm.variants.{name}]` not found in `{}`",
                        manifest.display()
                    ))
                })?,
            Overwrite::Text(text) => toml_table(text, "-s/--set-metadata")?,
            Overwrite::File(spec) => file_layer(spec)?,
        };
        for (k, v) in layer {
            table.insert(k, v);
        }
    }
    let meta: GenerateRpmMetadata = cargo_forge_deb::config_error::parse_table(
        &Value::Object(table),
        manifest,
        "package.metadata.generate-rpm",
    )?;
    meta.check(manifest)?;
    Ok(Some(meta))
}

fn toml_table(text: &str, what: &str) -> Result<Map<String, Value>> {
    let t: toml::Table = toml::from_str(text)
        .with_context(|| format!("{what} is not valid TOML"))
        .kind(ErrorKind::Usage)?;
    match serde_json::to_value(t).context("failed to read the TOML table")? {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// `FILE` (its top-level keys) or `FILE#a.b.c` (the table at that path).
fn file_layer(spec: &str) -> Result<Map<String, Value>> {
    let (file, path) = match spec.split_once('#') {
        Some((f, p)) => (f, Some(p)),
        None => (spec, None),
    };
    let text = forge_core::fsx::read_to_string(Path::new(file))
        .context("failed to read a `--metadata-overwrite` file")
        .kind(ErrorKind::Usage)?;
    let mut table = toml_table(&text, &format!("`{file}`"))?;
    if let Some(path) = path {
        for key in path.split('.') {
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(usage(format!(
                    "invalid TOML path `{path}` in `--metadata-overwrite {spec}`: use bare keys joined by dots, e.g. `package.metadata.generate-rpm.variants.el8`"
                )));
            }
            table = match table.get(key) {
                Some(Value::Object(m)) => m.clone(),
                _ => {
                    return Err(usage(format!(
                        "`{file}` has no table `{path}` (given as `--metadata-overwrite {spec}`)"
                    )))
                }
            };
        }
    }
    Ok(table)
}

impl GenerateRpmMetadata {
    /// Checks what serde does not: asset modes, `config` values, capabilities, dependency
    /// syntax.
    pub fn check(&self, manifest: &Path) -> Result<()> {
        for a in self.assets.iter().flatten() {
            if let Some(m) = &a.mode {
                cargo_forge_deb::assets::parse_mode(m, manifest, &a.source)?;
            }
            if let Some(ConfigFlag::Mode(m)) = &a.config {
                if m != "noreplace" {
                    return Err(usage(format!(
                        "invalid `config = \"{m}\"` of asset `{}` in `{}`: expected true, false or \"noreplace\"",
                        a.source,
                        manifest.display()
                    )));
                }
            }
            if a.caps.is_some() {
                return Err(usage(format!(
                    "asset `{}` in `{}` sets `caps`: file capabilities are not supported yet",
                    a.source,
                    manifest.display()
                )))
                .hint(
                    "set the capability in the `%post` script (`setcap ... /usr/bin/NAME`) instead",
                );
            }
        }
        for (key, table) in self.relations() {
            for (name, req) in table.iter().flat_map(|t| t.iter()) {
                crate::relations::parse(name, req).with_context(|| {
                    format!(
                        "invalid `{key}` entry `{name} = \"{req}\"` in `{}`",
                        manifest.display()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The relation tables by key.
    pub fn relations(&self) -> [(&'static str, &Option<BTreeMap<String, String>>); 8] {
        [
            ("requires", &self.requires),
            ("obsoletes", &self.obsoletes),
            ("conflicts", &self.conflicts),
            ("provides", &self.provides),
            ("recommends", &self.recommends),
            ("supplements", &self.supplements),
            ("suggests", &self.suggests),
            ("enhances", &self.enhances),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layered(base: Value, overwrites: &[Overwrite]) -> Result<Option<GenerateRpmMetadata>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"x\"\nversion = \"1.0.0\"\n",
        )
        .unwrap();
        let pkg: cargo_metadata::Package = serde_json::from_value(serde_json::json!({
            "name": "x", "version": "1.0.0", "id": "x 1.0.0", "dependencies": [], "targets": [],
            "features": {}, "manifest_path": dir.path().join("Cargo.toml"),
            "metadata": { "generate-rpm": base }, "authors": [], "categories": [], "keywords": [],
            "edition": "2021", "source": null, "license": null, "license_file": null,
            "description": null, "readme": null, "repository": null, "homepage": null,
            "documentation": null, "links": null, "publish": null, "default_run": null,
            "rust_version": null
        }))
        .unwrap();
        load(&pkg, overwrites)
    }

    #[test]
    fn overwrites_replace_top_level_keys_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("o.toml");
        std::fs::write(
            &f,
            "release = \"3\"\n[deep.table]\nrelease = \"4\"\nsummary = \"Deep\"\n",
        )
        .unwrap();
        let base = serde_json::json!({
            "release": "1", "summary": "Base", "epoch": 2,
            "assets": [{ "source": "a", "dest": "/usr/bin/a", "mode": "755" }],
            "requires": { "bash": "*" },
            "variants": { "el8": { "release": "2.el8", "requires": { "glibc": ">= 2.28" } } }
        });
        let m = layered(base.clone(), &[Overwrite::Variant("el8".into())])
            .unwrap()
            .unwrap();
        assert_eq!(m.release, Some(StringOrInt::String("2.el8".into())));
        assert_eq!(m.requires.unwrap().keys().collect::<Vec<_>>(), ["glibc"]);
        assert_eq!(m.epoch, Some(2));
        let m = layered(
            base.clone(),
            &[
                Overwrite::File(f.display().to_string()),
                Overwrite::Text("release = 9".into()),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(m.release, Some(StringOrInt::Int(9)));
        let m = layered(
            base.clone(),
            &[Overwrite::File(format!("{}#deep.table", f.display()))],
        )
        .unwrap()
        .unwrap();
        assert_eq!(m.release, Some(StringOrInt::String("4".into())));
        assert_eq!(m.summary.as_deref(), Some("Deep"));
        let e = layered(base, &[Overwrite::Variant("nope".into())]).unwrap_err();
        assert!(
            e.to_string().contains("variant `nope` is not defined"),
            "{e}"
        );
    }

    #[test]
    fn absent_table_is_none_and_bad_values_are_named() {
        assert!(layered(Value::Null, &[]).unwrap().is_none());
        let e = layered(
            serde_json::json!({ "assets": [{ "source": "a", "dest": "/a", "mode": "rwx" }] }),
            &[],
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("invalid mode `rwx`"), "{e:#}");
        let e = layered(
            serde_json::json!({ "requires": { "glibc": ">=2.28" } }),
            &[],
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("`requires` entry `glibc"),
            "{e:#}"
        );
        let e = layered(
            serde_json::json!({ "assets": [{ "source": "a", "dest": "/a", "config": "sometimes" }] }),
            &[],
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("noreplace"), "{e:#}");
    }
}
