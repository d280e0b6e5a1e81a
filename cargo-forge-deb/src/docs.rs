//! Generated documentation files: `copyright` (DEP-5) and `changelog.Debian.gz`.
//!
//! cargo-deb writes a copyright file that is not valid DEP-5 (no `Files:` paragraph, license text
//! not indented) and no changelog unless one is configured, which lintian reports as an error
//! (`no-changelog`). Here the copyright is machine-readable DEP-5 with a `Files: *` paragraph and
//! the license text from `license-file` (or the package's LICENSE files) as indented standalone
//! paragraphs; the changelog comes from the `changelog` key (a Debian changelog, used as is), else
//! from the section of `CHANGELOG.md` for this version, else a generated entry, in Debian format.

use std::path::Path;

use anyhow::Result;
use time::OffsetDateTime;

/// Inputs of the copyright file.
pub struct CopyrightInput<'a> {
    pub upstream_name: &'a str,
    pub source: Option<&'a str>,
    pub copyright: Option<&'a str>,
    pub license: Option<&'a str>,
    /// License texts: (name for the paragraph, text).
    pub license_texts: Vec<(String, String)>,
}

/// Licenses whose full text Debian ships in `/usr/share/common-licenses`.
const COMMON_LICENSES: &[&str] = &[
    "Apache-2.0",
    "Artistic",
    "BSD",
    "CC0-1.0",
    "GFDL-1.2",
    "GFDL-1.3",
    "GPL-1",
    "GPL-2",
    "GPL-3",
    "LGPL-2",
    "LGPL-2.1",
    "LGPL-3",
    "MPL-1.1",
    "MPL-2.0",
];

/// Converts an SPDX expression to DEP-5 syntax (`MIT OR Apache-2.0` → `MIT or Apache-2.0`) and
/// lists the license names it mentions.
pub fn dep5_license(spdx: &str) -> (String, Vec<String>) {
    let expr = spdx
        .replace(" OR ", " or ")
        .replace(" AND ", " and ")
        .replace(" WITH ", " with ")
        .replace('/', " or ");
    let names = expr
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty() && !["or", "and", "with"].contains(w))
        .map(str::to_string)
        .collect();
    (expr, names)
}

fn indent_text(text: &str) -> String {
    let mut out = String::new();
    for line in text.trim_end().lines() {
        if line.trim().is_empty() {
            out.push_str(" .\n");
        } else {
            out.push(' ');
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// The DEP-5 copyright file.
pub fn copyright(input: &CopyrightInput<'_>) -> String {
    let mut out = String::from(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
    );
    out.push_str(&format!("Upstream-Name: {}\n", input.upstream_name));
    if let Some(s) = input.source {
        out.push_str(&format!("Source: {s}\n"));
    }
    out.push('\n');
    out.push_str("Files: *\n");
    out.push_str(&format!(
        "Copyright: {}\n",
        input.copyright.unwrap_or("the upstream authors")
    ));
    let (expr, names) = match input.license {
        Some(l) => dep5_license(l),
        None if !input.license_texts.is_empty() => {
            ("custom".to_string(), vec!["custom".to_string()])
        }
        None => ("UNLICENSED".to_string(), vec![]),
    };
    out.push_str(&format!("License: {expr}\n"));
    if names.len() == 1 {
        // A single license: its text goes right here.
        let name = &names[0];
        if let Some((_, text)) = input
            .license_texts
            .iter()
            .find(|(n, _)| n == name)
            .or(input.license_texts.first())
        {
            out.push_str(&indent_text(text));
        } else if let Some(c) = COMMON_LICENSES.iter().find(|c| name.starts_with(*c)) {
            out.push_str(&format!(" On Debian systems, the complete text of the license can be found in\n `/usr/share/common-licenses/{c}'.\n"));
        }
        return out;
    }
    for name in names {
        out.push_str(&format!("\nLicense: {name}\n"));
        if let Some((_, text)) = input.license_texts.iter().find(|(n, _)| *n == name) {
            out.push_str(&indent_text(text));
        } else if let Some(c) = COMMON_LICENSES.iter().find(|c| name.starts_with(*c)) {
            out.push_str(&format!(" On Debian systems, the complete text of the license can be found in\n `/usr/share/common-licenses/{c}'.\n"));
        } else {
            out.push_str(&format!(
                " See the {name} license text in the upstream sources.\n"
            ));
        }
    }
    out
}

/// Finds license texts next to a package: `LICENSE-MIT` → ("MIT", text), `LICENSE`/`COPYING` →
/// (the single license name, text).
pub fn find_license_texts(dirs: &[&Path], license: Option<&str>) -> Vec<(String, String)> {
    let names: Vec<String> = license.map(|l| dep5_license(l).1).unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Some(stem) = f.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let upper = stem.to_uppercase();
            let base = upper.split('.').next().unwrap_or("").to_string();
            if !(base.starts_with("LICENSE")
                || base.starts_with("LICENCE")
                || base.starts_with("COPYING"))
                || !f.is_file()
            {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let suffix = stem
                .split_once(['-', '_'])
                .map(|(_, s)| s.split('.').next().unwrap_or(s).to_string());
            let name = match suffix {
                Some(s) => names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(&s))
                    .cloned()
                    .unwrap_or(s),
                None if names.len() == 1 => names[0].clone(),
                None => continue,
            };
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, text));
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

/// RFC 2822 date for changelogs and Release files.
pub fn rfc2822(epoch: u64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(epoch as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// A Debian changelog with one entry.
pub fn changelog_entry(
    package: &str,
    version: &str,
    items: &[String],
    maintainer: &str,
    epoch: u64,
) -> String {
    let mut out = format!("{package} ({version}) unstable; urgency=medium\n\n");
    for item in items {
        let wrapped = textwrap::wrap(
            item,
            textwrap::Options::new(76)
                .initial_indent("  * ")
                .subsequent_indent("    "),
        );
        for l in wrapped {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push_str(&format!("\n -- {maintainer}  {}\n", rfc2822(epoch)));
    out
}

/// The items of `version`'s section in a Keep-a-Changelog style Markdown file.
pub fn changelog_items_from_markdown(md: &str, version: &str) -> Option<Vec<String>> {
    let mut in_section = false;
    let mut level = 0;
    let mut items = Vec::new();
    for line in md.lines() {
        let t = line.trim_start();
        if t.starts_with('#') {
            let l = t.chars().take_while(|c| *c == '#').count();
            let heading = t[l..].trim();
            if in_section && l <= level {
                break;
            }
            let v = heading.trim_start_matches('[').trim_start_matches('v');
            if !in_section
                && (v.starts_with(&format!("{version}]"))
                    || v.starts_with(&format!("{version} "))
                    || v == version)
            {
                in_section = true;
                level = l;
            }
            continue;
        }
        if in_section {
            if let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
                items.push(item.replace('`', "").trim().to_string());
            } else if !t.is_empty() && line.starts_with("  ") {
                if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(t);
                }
            }
        }
    }
    (in_section && !items.is_empty()).then_some(items)
}

/// A Debian changelog from the sources cargo-forge knows, in order of preference.
pub fn changelog(
    package_dir: &Path,
    configured: Option<&Path>,
    package: &str,
    deb_version: &str,
    cargo_version: &str,
    maintainer: &str,
    epoch: u64,
) -> Result<Vec<u8>> {
    if let Some(path) = configured {
        return forge_core::fsx::read(path);
    }
    let md = ["CHANGELOG.md", "Changelog.md", "changelog.md"]
        .iter()
        .map(|n| package_dir.join(n))
        .find(|p| p.is_file());
    let items = match md {
        Some(p) => {
            changelog_items_from_markdown(&forge_core::fsx::read_to_string(&p)?, cargo_version)
        }
        None => None,
    };
    let items = items.unwrap_or_else(|| vec![format!("Release {cargo_version}.")]);
    Ok(changelog_entry(package, deb_version, &items, maintainer, epoch).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep5_with_two_licenses() {
        let c = copyright(&CopyrightInput {
            upstream_name: "tool",
            source: Some("https://x"),
            copyright: Some("2024, Me"),
            license: Some("MIT OR Apache-2.0"),
            license_texts: vec![("MIT".into(), "Permission is granted\n\nTHE SOFTWARE".into())],
        });
        assert!(
            c.contains("Files: *\nCopyright: 2024, Me\nLicense: MIT or Apache-2.0\n"),
            "{c}"
        );
        assert!(
            c.contains("\nLicense: MIT\n Permission is granted\n .\n THE SOFTWARE\n"),
            "{c}"
        );
        assert!(
            c.contains("\nLicense: Apache-2.0\n On Debian systems"),
            "{c}"
        );
    }

    #[test]
    fn changelog_from_markdown() {
        let md = "# Changelog\n\n## [0.2.0] - 2026-01-01\n- new `thing`\n- fix\n  continued\n\n## [0.1.0]\n- old\n";
        assert_eq!(
            changelog_items_from_markdown(md, "0.2.0").unwrap(),
            ["new thing", "fix continued"]
        );
        assert!(changelog_items_from_markdown(md, "9.9.9").is_none());
        let entry = changelog_entry("p", "0.2.0-1", &["x".into()], "A <a@b.c>", 0);
        assert_eq!(entry, "p (0.2.0-1) unstable; urgency=medium\n\n  * x\n\n -- A <a@b.c>  Thu, 01 Jan 1970 00:00:00 +0000\n");
    }
}
