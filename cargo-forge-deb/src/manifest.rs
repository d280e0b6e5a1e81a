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

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[package.metadata.deb]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DebMetadata {
    /// The Debian package name (`Package`). Default: the crate name, lowercased, `_` → `-`; in a
    /// variant, `<crate>-<variant>`. Example: `name = "acme-tool"`.
    pub name: Option<String>,
    /// `Maintainer` of the package. Default: the first of the crate's `authors`.
    /// Example: `maintainer = "Jane Doe <jane@example.com>"`.
    pub maintainer: Option<String>,
    /// The `Copyright` line of the DEP-5 copyright file. Default: the crate's `authors`.
    /// Example: `copyright = "2024, Acme Ltd."`.
    pub copyright: Option<String>,
    /// The license text for the copyright file: a path, or `[path, "lines to skip"]`.
    /// Default: Cargo's `license-file`, else `LICENSE*`/`COPYING*` files of the package or
    /// workspace. Example: `license-file = ["LICENSE", "4"]`.
    pub license_file: Option<LicenseFile>,
    /// A Debian-format changelog, installed as `changelog.Debian.gz`. Default: the section of
    /// `CHANGELOG.md` for this version, else a generated entry. Example:
    /// `changelog = "debian/changelog"`.
    pub changelog: Option<String>,
    /// `Depends`: a string or an array (joined with `, `). `$auto` (the default) asks
    /// dpkg-shlibdeps for the shared libraries of the binaries, for the target architecture;
    /// `pkg [arch]` and `pkg [!arch]` entries are kept only for matching architectures. Example:
    /// `depends = ["$auto", "ca-certificates"]`.
    pub depends: Option<DependencyList>,
    /// `Pre-Depends`: a string or an array, as `depends`. Default: none.
    pub pre_depends: Option<DependencyList>,
    /// `Recommends`: a string or an array. Default: none. Example: `recommends = "git"`.
    pub recommends: Option<DependencyList>,
    /// `Suggests`: a string or an array. Default: none.
    pub suggests: Option<DependencyList>,
    /// `Enhances`: a string or an array. Default: none.
    pub enhances: Option<DependencyList>,
    /// `Conflicts`: a string or an array. Default: none.
    pub conflicts: Option<DependencyList>,
    /// `Breaks`: a string or an array. Default: none.
    pub breaks: Option<DependencyList>,
    /// `Replaces`: a string or an array. Default: none.
    pub replaces: Option<DependencyList>,
    /// `Provides`: a string or an array. Default: none.
    pub provides: Option<DependencyList>,
    /// The extended description (the lines after the synopsis). Default: the text of
    /// `extended-description-file`, else the README converted from Markdown (badges, HTML and
    /// code blocks dropped, at most 20 lines), never empty.
    pub extended_description: Option<String>,
    /// A file holding the extended description, relative to the package.
    /// Example: `extended-description-file = "debian/description.txt"`.
    pub extended_description_file: Option<String>,
    /// `Section`. Default: `default-section` of `[package.metadata.forge.deb]`, else
    /// `utils`. Example: `section = "net"`.
    pub section: Option<String>,
    /// `Priority`. Default `"optional"`.
    pub priority: Option<String>,
    /// The Debian revision appended to the version (`1.2.3-1`). Default `"1"`; `""` or `"0"`
    /// for none; `--deb-revision` overrides it.
    pub revision: Option<String>,
    /// Extra conffiles (absolute paths in the package); files under `etc/` are always
    /// conffiles. Example: `conf-files = ["/etc/acme/config.toml"]`.
    pub conf_files: Option<Vec<String>>,
    /// Files to package. Each entry is `[source, dest, mode]` (mode optional, a string such as
    /// `"755"`), `{ source, dest, mode }`, `{ dest, link_name }` (a symlink) or `"$auto"` (the
    /// built binaries and the crate's README, as cargo-deb does). `target/release/` sources are
    /// rewritten to where cargo put the build for the target and profile; globs keep the path
    /// below the first glob component; a `dest` ending in `/` is a directory. Default
    /// `["$auto"]`. Example: `assets = ["$auto", ["conf/app.toml", "etc/acme/", "644"]]`.
    pub assets: Option<Vec<AssetSpec>>,
    /// In a variant: change the inherited `assets` instead of replacing them.
    /// `append = [...]` adds entries; `by = { src = [...] }` or `by = { dest = [...] }` replaces
    /// the entries with the same source or destination.
    pub merge_assets: Option<MergeAssets>,
    /// A dpkg triggers file, installed as the control archive's `triggers`.
    pub triggers_file: Option<String>,
    /// A directory holding `preinst`, `postinst`, `prerm`, `postrm`, `config`
    /// and `templates`; systemd fragments are added to them. Example:
    /// `maintainer-scripts = "debian/"`.
    pub maintainer_scripts: Option<String>,
    /// Cargo features to build with. Default: none. Example: `features = ["tls"]`.
    pub features: Option<Vec<String>>,
    /// `false` builds with `--no-default-features`. Default `true`.
    pub default_features: Option<bool>,
    /// Move debug info into `usr/lib/debug/.build-id/xx/….debug`, linked from
    /// the stripped binary. Default `false`.
    pub separate_debug_symbols: Option<bool>,
    /// Put the separated debug files into a `<name>-dbgsym_<version>_<arch>.ddeb` next to the
    /// package. Default `false`.
    pub dbgsym: Option<bool>,
    /// Compress the separated debug sections (zlib). Default `false`.
    pub compress_debug_symbols: Option<bool>,
    /// Package symlinks as symlinks instead of copies of their targets. Default `false`.
    pub preserve_symlinks: Option<bool>,
    /// systemd units to install and enable (one table, or an array of tables for
    /// several units). Units are found in `unit-scripts` as `<name>.service`, `.socket`,
    /// `.timer`…; the matching `deb-systemd-helper`/`deb-systemd-invoke` fragments are added to the
    /// maintainer scripts. Example: `systemd-units = { enable = true, start = false }`.
    pub systemd_units: Option<SystemdUnits>,
    /// Named variants: `[package.metadata.deb.variants.NAME]` holds any key of this table,
    /// applied over it by `cargo forge-deb --variant NAME` (cargo-deb's rules: a key set in the
    /// variant wins; `merge-assets` edits the inherited `assets`).
    pub variants: Option<BTreeMap<String, DebMetadata>>,
    /// The cargo profile to build with. Default `"release"` (or `profile` of the forge
    /// layer); `--profile` overrides it.
    pub profile: Option<String>,
}

/// `license-file = "PATH"` or `["PATH", "LINES-TO-SKIP"]`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum LicenseFile {
    /// A path.
    Path(String),
    /// `[path, "lines to skip"]`.
    WithSkip(Vec<String>),
}

/// A relation field: a string, or an array joined with `, `.
#[derive(Clone, Debug, Serialize, JsonSchema)]
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

/// The untagged forms above, told apart by shape so that a wrong value is reported in words
/// (serde's `untagged` says "data did not match any variant of untagged enum …") and an error
/// inside a form (an unknown key in a `systemd-units` table) is reported as it is.
fn one_of<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    value: serde_json::Value,
    expected: &str,
) -> Result<T, E> {
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        // serde_json's own position suffix means nothing inside a Cargo.toml.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        E::custom(msg.replace("invalid type: ", "found ").replacen(
            ", expected a string",
            &format!(", expected {expected}"),
            1,
        ))
    })
}

/// What was found, in words, for "expected …, found …".
fn found(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "nothing".into(),
        serde_json::Value::Bool(b) => format!("boolean `{b}`"),
        serde_json::Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        serde_json::Value::Number(n) => format!("integer `{n}`"),
        serde_json::Value::String(s) => format!("string {s:?}"),
        serde_json::Value::Array(_) => "a list".into(),
        serde_json::Value::Object(_) => "a table".into(),
    }
}

/// The error for a value of none of the shapes `expected` names.
fn wrong_shape<T, E: serde::de::Error>(value: &serde_json::Value, expected: &str) -> Result<T, E> {
    Err(E::custom(format!(
        "found {}, expected {expected}",
        found(value)
    )))
}

impl<'de> Deserialize<'de> for LicenseFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a path, or `[path, lines to skip]`";
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(LicenseFile::Path(s)),
            v @ serde_json::Value::Array(_) => one_of(v, EXPECTED).map(LicenseFile::WithSkip),
            v => wrong_shape(&v, EXPECTED),
        }
    }
}

impl<'de> Deserialize<'de> for DependencyList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a string like `libc6 (>= 2.31)` or a list of them";
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(DependencyList::String(s)),
            v @ serde_json::Value::Array(_) => one_of(v, EXPECTED).map(DependencyList::List),
            v => wrong_shape(&v, EXPECTED),
        }
    }
}

impl<'de> Deserialize<'de> for SystemdUnits {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a table or a list of tables";
        match serde_json::Value::deserialize(d)? {
            v @ serde_json::Value::Object(_) => one_of(v, EXPECTED).map(SystemdUnits::One),
            v @ serde_json::Value::Array(_) => one_of(v, EXPECTED).map(SystemdUnits::Many),
            v => wrong_shape(&v, EXPECTED),
        }
    }
}

/// One entry of `assets`.
#[derive(Clone, Debug)]
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

/// Written by hand like the `Deserialize` impl below: the forms are told apart by shape, with
/// cargo-deb's error message, which serde's `untagged` cannot give.
impl JsonSchema for AssetSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AssetSpec".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "One asset: `[source, dest, mode]`, `{ source, dest, mode }`, `{ dest, link_name }` or `\"$auto\"`.",
            "anyOf": [
                {
                    "type": "array",
                    "prefixItems": [
                        { "type": "string", "title": "source" },
                        { "type": "string", "title": "dest" },
                        { "type": "string", "title": "mode" }
                    ],
                    "minItems": 2,
                    "maxItems": 3,
                    "items": false
                },
                {
                    "type": "object",
                    "title": "a file",
                    "properties": {
                        "source": { "type": "string", "description": "Path or glob, relative to the package; `target/release/` means the build output for the target and profile." },
                        "dest": { "type": "string", "description": "Path in the package; ending in `/` means a directory." },
                        "mode": { "type": "string", "description": "Octal mode, e.g. `\"755\"`. Default: 755 for built binaries, 644 otherwise." },
                        "preserve_symlinks": { "type": "boolean", "description": "Package a symlinked source as a symlink. Default: the table's `preserve-symlinks`." }
                    },
                    "required": ["source", "dest"]
                },
                {
                    "type": "object",
                    "title": "a symlink",
                    "properties": {
                        "dest": { "type": "string", "description": "Path of the symlink in the package." },
                        "link_name": { "type": "string", "description": "What it points to." }
                    },
                    "required": ["dest", "link_name"]
                },
                { "const": "$auto" }
            ]
        })
    }
}

/// Written in the form the `Deserialize` impl reads (a table, or `"$auto"`), so that a plan
/// holding the metadata reads back the same.
impl Serialize for AssetSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            AssetSpec::Auto => s.serialize_str("$auto"),
            AssetSpec::File {
                source,
                dest,
                mode,
                preserve_symlinks,
            } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("source", source)?;
                m.serialize_entry("dest", dest)?;
                if let Some(mode) = mode {
                    m.serialize_entry("mode", mode)?;
                }
                if let Some(p) = preserve_symlinks {
                    m.serialize_entry("preserve_symlinks", p)?;
                }
                m.end()
            }
            AssetSpec::Symlink { dest, link_name } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("dest", dest)?;
                m.serialize_entry("link_name", link_name)?;
                m.end()
            }
        }
    }
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeAssets {
    /// Entries added after the inherited `assets`.
    pub append: Option<Vec<AssetSpec>>,
    /// `{ src = [...] }` or `{ dest = [...] }`: entries replacing inherited ones with the same
    /// source or destination (the others are kept).
    pub by: Option<MergeBy>,
}

/// `merge-assets.by`: exactly one of `src` or `dest`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum MergeBy {
    /// Replace by source path.
    Src(Vec<AssetSpec>),
    /// Replace by destination path.
    Dest(Vec<AssetSpec>),
}

/// `systemd-units`: one table or an array of tables.
#[derive(Clone, Debug, Serialize, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SystemdUnitsConfig {
    /// Directory holding the unit files, relative to the package. Default: `maintainer-scripts`,
    /// else `systemd/`.
    pub unit_scripts: Option<String>,
    /// The unit name (debhelper's `--name`): files `<package>.<unit-name>.<type>` or
    /// `<unit-name>.<type>` are installed as `<unit-name>.<type>`. Default: the package name
    /// (`<package>.<type>` or plain `<type>`).
    pub unit_name: Option<String>,
    /// Enable the units on installation. Default `true`.
    pub enable: Option<bool>,
    /// Start the units on installation. Default `true`.
    pub start: Option<bool>,
    /// Restart the units after an upgrade instead of stopping them before it. Default `true`.
    pub restart_after_upgrade: Option<bool>,
    /// Stop the units before an upgrade (when not restarted after it). Default `true`.
    pub stop_on_upgrade: Option<bool>,
    /// The units this table's `enable`/`start` settings apply to, by file name (debhelper's
    /// `dh_installsystemd UNIT…` arguments; units they name with `Also=` follow). Every unit found
    /// is installed; the others get no maintainer-script code. Default: every unit found. Example:
    /// `units = ["backup.timer"]` enables and starts the timer, not the service it triggers.
    pub units: Option<Vec<String>>,
    /// The units are systemd *user* units (debhelper's `dh_installsystemduser`): files
    /// `<package>.user.<type>`, `user.<type>` (with `unit-name`: `<unit-name>.user.<type>`,
    /// `<package>.<unit-name>.user.<type>`) installed into `usr/lib/systemd/user/`, enabled for
    /// every user (`deb-systemd-helper --user`, like `systemctl --global enable`) unless
    /// `enable = false`, and never started or stopped by the maintainer scripts (each user's
    /// session starts them). Default `false`.
    pub user: Option<bool>,
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ForgeDebConfig {
    /// Compression of `data.tar` and `control.tar`: `"xz"`, `"zstd"`, `"gzip"` or `"none"`.
    /// Default `"xz"` (zstd members are not readable by dpkg before Debian 12);
    /// `--compress` overrides it.
    pub compress: Option<String>,
    /// Compression level of that format (xz 0–9, zstd 1–22, gzip 1–9). Default: xz 4, zstd 19,
    /// gzip 9; `--compress-level` overrides it.
    pub compress_level: Option<u32>,
    /// Directories to create in the package even when empty. Default: none. Example:
    /// `dirs = [{ path = "/var/lib/acme", mode = "750", user = "acme", group = "acme" }]`.
    #[serde(default)]
    pub dirs: Vec<DirSpec>,
    /// Owner and group of installed paths (root otherwise). Default: none. Example:
    /// `owners = [{ path = "/etc/acme", user = "acme", group = "acme" }]`.
    #[serde(default)]
    pub owners: Vec<OwnerSpec>,
    /// Write `md5sums` into the control archive (conffiles excluded). Default `true`.
    pub md5sums: Option<bool>,
    /// `Section` when `section` is unset. Default `"utils"`.
    pub default_section: Option<String>,
    /// What `--install-test` runs once the package is installed in the clean root. Default:
    /// every program the package installs, with `--version`, for at most 120 s. Example, for
    /// a daemon that does not know `--version`:
    /// `install-test = { command = ["app", "--check-config"], timeout = 30 }`; `command = []`
    /// only installs and purges.
    pub install_test: Option<InstallTestConfig>,
}

/// `install-test` of `[package.metadata.forge.deb]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstallTestConfig {
    /// The command to run in the root instead of `<program> --version` (a program name is
    /// looked up in the package's files, then in `PATH`); it must exit 0. `[]` runs nothing.
    pub command: Option<Vec<String>>,
    /// Seconds each command may run. Default `120`.
    pub timeout: Option<u64>,
}

/// An empty directory in the package.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DirSpec {
    /// Absolute path in the package, e.g. `/var/lib/acme`.
    pub path: String,
    /// Octal mode as a string. Default `"755"`.
    pub mode: Option<String>,
    /// Owner (a user name). Default `root`.
    pub user: Option<String>,
    /// Group. Default: same as `user`.
    pub group: Option<String>,
}

/// Owner and group of a path in the package.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OwnerSpec {
    /// Path in the package; a directory applies to everything below it.
    pub path: String,
    /// Owner (a user name).
    pub user: String,
    /// Group. Default: same as `user`.
    pub group: Option<String>,
}

/// The reference sections of `cargo forge-deb`'s tables (see [`forge_core::reference`]).
pub fn reference_tables() -> Vec<forge_core::reference::Table> {
    use forge_core::reference::Table;
    vec![
        Table::of::<DebMetadata>(
            "package.metadata.deb",
            &[],
            "What `cargo forge-deb` packages, read exactly as cargo-deb 3.x reads it: a crate that \
             works with `cargo deb` works unchanged. Package tables only (no workspace table); \
             `--variant NAME` applies `[package.metadata.deb.variants.NAME]` over it.",
        ),
        Table::of::<ForgeDebConfig>(
            "package.metadata.forge.deb",
            &["workspace.metadata.forge.deb"],
            "cargo-forge's own additions to the package, kept apart so that `cargo deb` still \
             accepts the Cargo.toml.",
        ),
    ]
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

    /// A plan holding the metadata (a release plan written on one machine, executed on
    /// another) reads back what was written.
    #[test]
    fn metadata_round_trips_through_json() {
        let m = parse(json!({
            "name": "x",
            "depends": "$auto, libc6",
            "license-file": ["LICENSE", "2"],
            "assets": [
                ["target/release/x", "usr/bin/", "755"],
                {"source": "a", "dest": "b", "preserve_symlinks": true},
                {"dest": "usr/bin/y", "link_name": "x"},
                "$auto"
            ],
            "systemd-units": {"unit-name": "x", "enable": false},
            "variants": {"min": {"assets": [["target/release/x", "usr/bin/", "755"]]}}
        }))
        .unwrap();
        let once = serde_json::to_value(&m).unwrap();
        let back = parse(once.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), once);
        assert_eq!(once["assets"][0]["source"], "target/release/x");
        assert_eq!(once["assets"][3], "$auto");
    }

    #[test]
    fn every_asset_form_of_the_schema_parses() {
        let schema = forge_core::reference::schema_for::<AssetSpec>();
        let forms = schema.as_value()["anyOf"].as_array().unwrap();
        assert_eq!(forms.len(), 4);
        let samples = [
            json!(["a", "usr/bin/", "755"]),
            json!({"source": "a", "dest": "b", "mode": "644", "preserve_symlinks": true}),
            json!({"dest": "usr/bin/y", "link_name": "x"}),
            json!("$auto"),
        ];
        for (form, sample) in forms.iter().zip(samples) {
            if let Some(props) = form.get("properties").and_then(|p| p.as_object()) {
                for key in sample.as_object().unwrap().keys() {
                    assert!(props.contains_key(key), "schema lacks `{key}`");
                }
            }
            let parsed: AssetSpec = serde_json::from_value(sample.clone()).unwrap();
            assert!(!matches!(parsed, AssetSpec::Auto) || sample == "$auto");
        }
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
