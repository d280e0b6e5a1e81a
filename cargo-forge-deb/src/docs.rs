//! Generated documentation files: `changelog.Debian.gz` (the `copyright` file is
//! [`crate::copyright`]'s).
//!
//! cargo-deb writes no changelog unless one is configured, which lintian reports as an error
//! (`no-changelog`). Here the changelog comes from the `changelog` key (a Debian changelog, used
//! as is), else from the section of `CHANGELOG.md` for this version, else a generated entry, in
//! Debian format.

use std::path::Path;

use anyhow::Result;
use time::OffsetDateTime;

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
