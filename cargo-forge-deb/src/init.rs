//! `cargo forge-deb init`: a commented starter `[package.metadata.deb]`.
//!
//! The values come from the package: the maintainer from `authors`, a section from its
//! `categories`, one asset per binary in cargo-deb's `target/release/NAME` form plus the README,
//! and `$auto` dependencies. Keys most packages grow into (conffiles, systemd units, maintainer
//! scripts) are written as commented examples; a test loads every one of them with
//! [`DebMetadata`], so none can name a key `cargo forge-deb` does not read.

use anyhow::Result;
use cargo_metadata::Package;

use forge_core::init::{toml_str, toml_str_array, InitArgs, Starter};
use forge_core::project::binaries;
use forge_core::Shell;

use crate::manifest::DebMetadata;

/// `cargo forge-deb init`.
pub fn run(args: &InitArgs, shell: &Shell) -> Result<()> {
    forge_core::init::run(
        args,
        shell,
        |_, pkg| Ok(starter(pkg)),
        |value, manifest| {
            crate::config_error::parse_table::<DebMetadata>(value, manifest, "package.metadata.deb")
                .map(drop)
        },
    )
}

/// The Debian section for a crate's categories (crates.io slugs), `utils` when none matches.
fn section(categories: &[String]) -> &'static str {
    for c in categories {
        let top = c.split("::").next().unwrap_or(c);
        let s = match top {
            "command-line-utilities" | "command-line-interface" => "utils",
            "network-programming" | "email" | "web-programming" => "net",
            "development-tools" => "devel",
            "database" | "database-implementations" => "database",
            "text-editors" => "editors",
            "games" => "games",
            "multimedia" => "video",
            "science" | "mathematics" => "science",
            "cryptography" | "authentication" => "utils",
            "filesystem" | "hardware-support" | "os" => "admin",
            "text-processing" => "text",
            _ => continue,
        };
        return s;
    }
    "utils"
}

/// The starter table for `pkg`.
pub fn starter(pkg: &Package) -> Starter {
    let name = pkg.name.to_ascii_lowercase().replace('_', "-");
    let bins: Vec<String> = binaries(pkg).map(|t| t.name.clone()).collect();
    let pkg_dir = forge_core::init::package_dir(pkg);
    let readme = pkg
        .readme
        .as_ref()
        .map(|r| r.to_string())
        .filter(|r| pkg_dir.join(r).is_file());

    let mut t = String::new();
    t.push_str(
        "\n# The Debian package `cargo forge-deb` builds (the table cargo-deb reads, so `cargo deb`\n\
         # accepts it too). Started by `cargo forge-deb init`: edit freely.\n\
         [package.metadata.deb]\n",
    );
    match pkg.authors.first() {
        Some(a) => {
            t.push_str("# The `Maintainer` field: the first of the crate's `authors`.\n");
            t.push_str(&format!("maintainer = {}\n", toml_str(a)));
        }
        None => {
            t.push_str(
                "# The `Maintainer` field (required: the crate has no `authors` to take it from).\n",
            );
            t.push_str("# maintainer = \"Your Name <you@example.com>\"\n");
        }
    }
    t.push_str(
        "# Archive section and priority (https://www.debian.org/doc/debian-policy/ch-archive.html).\n",
    );
    t.push_str(&format!(
        "section = {}\n",
        toml_str(section(&pkg.categories))
    ));
    t.push_str("priority = \"optional\"\n");
    let what = match &readme {
        Some(r) => format!("`{r}` as text"),
        None => "the crate's `description`".to_string(),
    };
    t.push_str(&format!(
        "# The extended description, after the one-line synopsis. Default: {what}.\n"
    ));
    t.push_str(&format!(
        "# extended-description = {}\n",
        toml_str("What it does and for whom, in a sentence or two.")
    ));
    t.push_str(
        "# `$auto`: the shared libraries the binaries link, found by dpkg-shlibdeps for the target\n\
         # architecture. Add packages after it, e.g. [\"$auto\", \"ca-certificates\"].\n\
         depends = \"$auto\"\n",
    );
    t.push_str(
        "# Configuration files dpkg keeps across upgrades (files under /etc already are):\n",
    );
    t.push_str(&format!(
        "# conf-files = {}\n",
        toml_str_array(&[format!("/etc/{name}/config.toml")])
    ));
    t.push_str(&format!(
        "# systemd units: put `{name}.service` in `systemd/` (or set `unit-scripts`)\n\
         # to install, enable and start it:\n"
    ));
    t.push_str(&format!(
        "# systemd-units = {{ unit-name = {}, enable = true, start = true }}\n",
        toml_str(&name)
    ));
    t.push_str("# preinst/postinst/prerm/postrm scripts from a directory:\n");
    t.push_str("# maintainer-scripts = \"debian/\"\n");
    t.push_str("# A Debian changelog; default: this version's section of CHANGELOG.md:\n");
    t.push_str("# changelog = \"debian/changelog\"\n");
    t.push_str(
        "# Files to install: [source, destination, mode]. `target/release/` sources are the build\n\
         # output for the target and profile being packaged; a destination ending in `/` is a\n\
         # directory.\n\
         assets = [\n",
    );
    for b in &bins {
        t.push_str(&format!(
            "    {},\n",
            toml_str_array(&[
                format!("target/release/{b}"),
                "usr/bin/".into(),
                "755".into()
            ])
        ));
    }
    if let Some(r) = &readme {
        t.push_str(&format!(
            "    {},\n",
            toml_str_array(&[
                r.clone(),
                format!("usr/share/doc/{name}/README"),
                "644".into()
            ])
        ));
    }
    t.push_str("]\n");
    Starter {
        table: vec!["package", "metadata", "deb"],
        text: t,
        next: "cargo forge-deb".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(authors: &[&str], bins: &[&str], categories: &[&str]) -> Package {
        let targets: Vec<serde_json::Value> = bins
            .iter()
            .map(|b| {
                serde_json::json!({
                    "name": b, "kind": ["bin"], "crate_types": ["bin"],
                    "src_path": format!("/x/src/bin/{b}.rs"), "edition": "2021",
                    "doctest": false, "test": true, "doc": true
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": "my_tool", "version": "1.0.0", "id": "my_tool 1.0.0",
            "authors": authors, "categories": categories, "keywords": [],
            "dependencies": [], "features": {}, "targets": targets,
            "manifest_path": "/nonexistent/Cargo.toml", "metadata": null,
            "readme": null, "edition": "2021", "publish": null, "source": null,
            "license": "MIT", "license_file": null, "description": "d",
            "repository": null, "homepage": null, "documentation": null,
            "links": null, "default_run": null, "rust_version": null
        }))
        .unwrap()
    }

    fn load(s: &Starter) -> DebMetadata {
        crate::config_error::parse_table(
            &s.value().unwrap(),
            std::path::Path::new("Cargo.toml"),
            "package.metadata.deb",
        )
        .unwrap()
    }

    #[test]
    fn written_table_loads_with_the_real_type() {
        let s = starter(&package(&["A <a@b.c>"], &["my-tool", "helper"], &[]));
        let m = load(&s);
        assert_eq!(m.maintainer.as_deref(), Some("A <a@b.c>"));
        assert_eq!(m.section.as_deref(), Some("utils"));
        let assets = m.assets.unwrap();
        assert_eq!(assets.len(), 2, "two binaries, no README on disk");
        assert!(
            matches!(&assets[1], crate::manifest::AssetSpec::File { source, dest, mode: Some(m), .. }
                if source == "target/release/helper" && dest == "usr/bin/" && m == "755")
        );
        assert_eq!(m.depends.unwrap().joined(), "$auto");
    }

    #[test]
    fn every_commented_example_is_a_real_key() {
        let s = starter(&package(&[], &["my-tool"], &["network-programming"]));
        let examples = forge_core::init::commented_examples(&s.text);
        assert!(examples.len() >= 6, "{examples:?}");
        for (line, value) in examples {
            crate::config_error::parse_table::<DebMetadata>(
                &value,
                std::path::Path::new("Cargo.toml"),
                "package.metadata.deb",
            )
            .unwrap_or_else(|e| panic!("`{line}`: {e}"));
        }
        // No authors: the maintainer is only an example, the rest still loads.
        let m = load(&s);
        assert!(m.maintainer.is_none());
        assert_eq!(m.section.as_deref(), Some("net"));
        assert!(s
            .text
            .contains("# systemd-units = { unit-name = \"my-tool\""));
    }
}
