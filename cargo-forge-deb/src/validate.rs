//! Checks of `[package.metadata.deb]` beyond cargo-deb's: metadata that can only produce a broken
//! package is a usage error (exit code 2) naming the key, the table and the fix, before anything
//! is built.
//!
//! cargo-deb accepts a `depends` that dpkg cannot parse (the package then fails to install), a
//! `maintainer-scripts` directory that does not exist, a named systemd unit that is not there (a
//! warning), a `conf-files` entry the package does not ship (dpkg then fails to install it). Here:
//!
//! * relation fields (`depends`, `pre-depends`, `recommends`, `suggests`, `enhances`,
//!   `conflicts`, `breaks`, `replaces`, `provides`) are parsed with dpkg's grammar (the
//!   `debian-control` crate), `$auto` aside, and package names checked as dpkg does;
//! * referenced files and directories (`maintainer-scripts`, `systemd-units.unit-scripts`,
//!   `changelog`, `triggers-file`, `extended-description-file`, `license-file`) must exist;
//! * a `systemd-units` table must find its unit (a named one by name), and when it finds none
//!   the error says where unit files are (e.g. `debian/`) and which key points there; its
//!   `units` must be among the units it finds, and a user-unit table (`user = true`) refuses the
//!   start/stop keys, which user units do not have;
//! * every `conf-files` entry must be a file the package ships ([`check_conffiles`], once the
//!   assets are known).

use std::path::Path;

use anyhow::Result;

use forge_core::exit::{usage, with_hint};

use crate::manifest::DebMetadata;

/// The relation fields and their keys.
fn relation_fields(meta: &DebMetadata) -> Vec<(&'static str, String)> {
    [
        ("depends", &meta.depends),
        ("pre-depends", &meta.pre_depends),
        ("recommends", &meta.recommends),
        ("suggests", &meta.suggests),
        ("enhances", &meta.enhances),
        ("conflicts", &meta.conflicts),
        ("breaks", &meta.breaks),
        ("replaces", &meta.replaces),
        ("provides", &meta.provides),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.joined())))
    .collect()
}

/// dpkg's package name rule: lower case letters, digits, `+`, `-`, `.`; at least two
/// characters, starting with a letter or digit.
pub fn valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// Why a relation field is not one dpkg accepts, if it is not.
pub fn relation_error(value: &str) -> Option<String> {
    for entry in value.split(',').map(str::trim) {
        if entry == "$auto" || entry.is_empty() {
            continue;
        }
        let parsed: Result<debian_control::lossy::Relations, String> = entry.parse();
        match parsed {
            Err(e) => {
                return Some(format!(
                    "`{entry}` is not a dpkg relation ({})",
                    e.to_lowercase()
                ))
            }
            Ok(rels) => {
                for alt in rels.iter().flatten() {
                    if !valid_package_name(&alt.name) {
                        return Some(format!(
                            "`{}` in `{entry}` is not a valid Debian package name (lower case letters, digits, `+`, `-` and `.`)",
                            alt.name
                        ));
                    }
                }
            }
        }
    }
    None
}

/// The checks that need only the metadata and the file system.
pub fn check_metadata(
    meta: &DebMetadata,
    table: &str,
    package_dir: &Path,
    manifest: &Path,
    package_name: &str,
) -> Result<()> {
    let shown = manifest.display();
    for (key, value) in relation_fields(meta) {
        if let Some(why) = relation_error(&value) {
            return Err(with_hint(
                usage(format!("invalid `{key}` in `[{table}]` of `{shown}`: {why}")),
                "write relations as dpkg does: `name`, `name (>= 1.2)`, `a | b`, `name [!i386]`, separated by commas".into(),
            ));
        }
    }
    let must_exist = |key: &str, rel: &str, dir: bool| -> Result<()> {
        let p = package_dir.join(rel);
        let ok = if dir { p.is_dir() } else { p.is_file() };
        if ok {
            return Ok(());
        }
        let what = if dir { "directory" } else { "file" };
        Err(with_hint(
            usage(format!(
                "`{key}` in `[{table}]` of `{shown}` names the {what} `{rel}`, which does not exist"
            )),
            format!(
                "create `{}` or fix the path (it is relative to `{}`)",
                p.display(),
                package_dir.display()
            ),
        ))
    };
    if let Some(d) = &meta.maintainer_scripts {
        must_exist("maintainer-scripts", d, true)?;
    }
    for (key, f) in [
        ("changelog", &meta.changelog),
        ("triggers-file", &meta.triggers_file),
        ("extended-description-file", &meta.extended_description_file),
    ] {
        if let Some(f) = f {
            must_exist(key, f, false)?;
        }
    }
    if let Some(crate::manifest::LicenseFile::Path(f)) = &meta.license_file {
        must_exist("license-file", f, false)?;
    }
    if let Some(crate::manifest::LicenseFile::WithSkip(v)) = &meta.license_file {
        if let Some(f) = v.first() {
            must_exist("license-file", f, false)?;
        }
    }
    check_conffiles_static(meta, table, manifest)?;
    let units = meta
        .systemd_units
        .as_ref()
        .map(|u| u.list())
        .unwrap_or_default();
    for (i, u) in units.iter().enumerate() {
        let key = if units.len() > 1 {
            format!("systemd-units[{i}]")
        } else {
            "systemd-units".into()
        };
        if let Some(d) = &u.unit_scripts {
            must_exist(&format!("{key}.unit-scripts"), d, true)?;
        }
        let dir_rel = u
            .unit_scripts
            .clone()
            .or_else(|| meta.maintainer_scripts.clone())
            .unwrap_or_else(|| "systemd".into());
        let dir = package_dir.join(&dir_rel);
        let user = u.user.unwrap_or(false);
        if user {
            let set: Vec<&str> = [
                ("start", u.start),
                ("restart-after-upgrade", u.restart_after_upgrade),
                ("stop-on-upgrade", u.stop_on_upgrade),
            ]
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| *k)
            .collect();
            if let Some(k) = set.first() {
                return Err(with_hint(
                    usage(format!(
                        "`{key}.{k}` in `[{table}]` of `{shown}` does not apply to user units (`user = true`): the maintainer scripts enable them for every user but never start, stop or restart them"
                    )),
                    format!("remove `{k}` from the table; each user's session starts enabled user units at login"),
                ));
            }
        }
        let found = crate::systemd::find_units(&dir, package_name, u);
        if !found.is_empty() {
            for name in u.units.iter().flatten() {
                let known = found.iter().any(|a| {
                    Path::new(&a.dest).file_name().and_then(|n| n.to_str()) == Some(name.as_str())
                });
                if !known {
                    let have: Vec<&str> = found
                        .iter()
                        .filter_map(|a| Path::new(&a.dest).file_name()?.to_str())
                        .collect();
                    return Err(with_hint(
                        usage(format!(
                            "`{key}.units` in `[{table}]` of `{shown}` names `{name}`, which is not among the units the table finds in `{dir_rel}` ({})",
                            have.join(", ")
                        )),
                        "name units by their installed file name, e.g. `units = [\"backup.timer\"]`".into(),
                    ));
                }
            }
            continue;
        }
        let ty = if user { "user.service" } else { "service" };
        let what = match &u.unit_name {
            Some(n) => format!("the unit `{n}` (files `{n}.{ty}`, `{package_name}.{n}.{ty}`, `.socket`, `.timer`…)"),
            None => format!("no unit (files `{package_name}.{ty}`, `{ty}`, `.socket`, `.timer`…)"),
        };
        let err = usage(format!(
            "`{key}` in `[{table}]` of `{shown}` finds {what} in `{dir_rel}`",
        ));
        // Where are unit files, then?
        let elsewhere = ["debian", "systemd", "dist", "contrib", "."]
            .iter()
            .filter(|d| **d != dir_rel.trim_end_matches('/'))
            .find(|d| crate::systemd::has_unit_files(&package_dir.join(d)));
        let hint = match elsewhere {
            Some(d) => format!(
                "unit files are in `{d}/`: set `unit-scripts = \"{d}/\"` in `systemd-units` (or `maintainer-scripts = \"{d}/\"`, which also holds the maintainer scripts)"
            ),
            None => format!(
                "put the unit in `{}` (named after the package or `unit-name`), or point `unit-scripts` at its directory",
                dir.display()
            ),
        };
        return Err(with_hint(err, hint));
    }
    Ok(())
}

/// `conf-files` against the destinations known before the build: explicit assets without globs
/// (a conffile under a glob's or `$auto`'s reach is left to [`check_conffiles`]).
fn check_conffiles_static(meta: &DebMetadata, table: &str, manifest: &Path) -> Result<()> {
    use crate::manifest::AssetSpec;
    let Some(conf) = &meta.conf_files else {
        return Ok(());
    };
    let assets = meta.assets.clone().unwrap_or_else(|| vec![AssetSpec::Auto]);
    let mut known = Vec::new();
    for a in &assets {
        match a {
            AssetSpec::File { source, dest, .. } => {
                if source.contains(['*', '?', '[']) {
                    // A glob is resolved later: leave the check to `check_conffiles`.
                    return Ok(());
                }
                let dest = dest.trim_start_matches('/');
                if dest.ends_with('/') {
                    let file = Path::new(source)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    known.push(format!("{dest}{file}"));
                } else {
                    known.push(dest.to_string());
                }
            }
            AssetSpec::Symlink { dest, .. } => known.push(dest.trim_start_matches('/').to_string()),
            AssetSpec::Auto => {}
        }
    }
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    check_conffiles(conf, &known, table, manifest)
}

/// Every `conf-files` entry must be a file of the package (dpkg refuses to install a package
/// whose conffile is missing).
pub fn check_conffiles(
    conf_files: &[String],
    shipped: &[&str],
    table: &str,
    manifest: &Path,
) -> Result<()> {
    for c in conf_files {
        let rel = c.trim_start_matches('/');
        if !shipped.contains(&rel) {
            let near: Vec<&str> = shipped
                .iter()
                .copied()
                .filter(|s| s.starts_with("etc/"))
                .collect();
            let hint = if near.is_empty() {
                "add the file to `assets` (e.g. `[\"config.toml\", \"etc/app/config.toml\", \"644\"]`), or remove the entry".to_string()
            } else {
                format!(
                    "the package ships these files under /etc: {}; add the file to `assets` or fix the entry",
                    near.iter().map(|s| format!("/{s}")).collect::<Vec<_>>().join(", ")
                )
            };
            return Err(with_hint(
                usage(format!(
                    "`conf-files` in `[{table}]` of `{}` names `{c}`, which the package does not ship",
                    manifest.display()
                )),
                hint,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_with_dpkg_grammar() {
        for ok in [
            "libc6 (>= 2.34), ca-certificates",
            "$auto, git | subversion",
            "foo [!i386], bar:any",
            "$auto",
            "",
        ] {
            assert_eq!(relation_error(ok), None, "{ok}");
        }
        for bad in ["libc6 (>= )", "Foo", "foo (>= 1", "a | | b", "libfoo (~ 1)"] {
            assert!(relation_error(bad).is_some(), "{bad} accepted");
        }
    }

    #[test]
    fn missing_files_and_units_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("debian")).unwrap();
        std::fs::write(dir.path().join("debian/app.service"), "[Service]\n").unwrap();
        let manifest = dir.path().join("Cargo.toml");
        let meta = |v: serde_json::Value| -> DebMetadata { serde_json::from_value(v).unwrap() };
        let err = |v| {
            check_metadata(
                &meta(v),
                "package.metadata.deb",
                dir.path(),
                &manifest,
                "app",
            )
            .unwrap_err()
        };
        let e = err(serde_json::json!({"maintainer-scripts": "scripts/"}));
        assert!(e.to_string().contains("`maintainer-scripts`"), "{e}");
        assert_eq!(forge_core::exit::code_of(&e), 2);
        let e = err(serde_json::json!({"systemd-units": {}}));
        let text = format!("{e:#}");
        assert!(text.contains("`systemd-units`"), "{text}");
        let hints = forge_core::exit::hints(&e).join("\n");
        assert!(hints.contains("unit-scripts = \"debian/\""), "{hints}");
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let e = err(
            serde_json::json!({"maintainer-scripts": "empty/", "systemd-units": {"unit-name": "nope"}}),
        );
        assert!(e.to_string().contains("the unit `nope`"), "{e}");
        let e = err(serde_json::json!({"depends": "libc6 (>= )"}));
        assert!(e.to_string().contains("invalid `depends`"), "{e}");
        check_metadata(
            &meta(serde_json::json!({"maintainer-scripts": "debian/", "systemd-units": {}})),
            "package.metadata.deb",
            dir.path(),
            &manifest,
            "app",
        )
        .unwrap();
        // `units` must name a unit the table finds; user tables refuse start/stop keys.
        let e = err(
            serde_json::json!({"maintainer-scripts": "debian/", "systemd-units": {"units": ["app.timer"]}}),
        );
        assert!(e.to_string().contains("`systemd-units.units`"), "{e}");
        assert!(
            e.to_string().contains("`app.timer`") && e.to_string().contains("app.service"),
            "{e}"
        );
        std::fs::write(dir.path().join("debian/app.user.service"), "[Service]\n").unwrap();
        let e = err(
            serde_json::json!({"maintainer-scripts": "debian/", "systemd-units": [{}, {"user": true, "start": true}]}),
        );
        assert!(e.to_string().contains("`systemd-units[1].start`"), "{e}");
        assert_eq!(forge_core::exit::code_of(&e), 2);
        check_metadata(
            &meta(serde_json::json!({"maintainer-scripts": "debian/", "systemd-units": [{"units": ["app.service"]}, {"user": true}]})),
            "package.metadata.deb",
            dir.path(),
            &manifest,
            "app",
        )
        .unwrap();
    }

    #[test]
    fn conffiles_must_be_shipped() {
        let meta: DebMetadata = serde_json::from_value(serde_json::json!({
            "assets": [["conf/app.toml", "etc/app/", "644"]],
            "conf-files": ["/etc/app/app.toml", "/etc/app/other.toml"]
        }))
        .unwrap();
        let e = check_conffiles_static(&meta, "t", Path::new("Cargo.toml")).unwrap_err();
        assert!(e.to_string().contains("`/etc/app/other.toml`"), "{e}");
        let m = Path::new("Cargo.toml");
        check_conffiles(&["/etc/app.toml".into()], &["etc/app.toml"], "t", m).unwrap();
        let e = check_conffiles(&["/etc/nope.toml".into()], &["etc/app.toml"], "t", m).unwrap_err();
        assert!(e.to_string().contains("`/etc/nope.toml`"), "{e}");
    }
}
