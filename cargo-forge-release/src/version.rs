//! The release version: strict semver, `v` prefix allowed, tag from the tag format.

use anyhow::Result;

use forge_core::exit::{usage, ResultExt};

/// Parses `1.2.3`, `v1.2.3`, `1.3.0-rc.1`. Rejects `v1.2`, `1.2.3.4`, `01.2.3` with one message
/// that says what a version looks like.
pub fn parse(text: &str) -> Result<semver::Version> {
    let t = text.trim();
    let bare = t.strip_prefix('v').unwrap_or(t);
    semver::Version::parse(bare).map_err(|e| {
        usage(format!(
            "invalid version `{text}`: {e}; expected MAJOR.MINOR.PATCH[-PRERELEASE] such as 1.2.3, v1.2.3 or 1.3.0-rc.1"
        ))
    })
}

/// The placeholders of `tag-format`.
const TAG_PLACEHOLDERS: &[&str] = &["version", "name"];

/// The git tag of package `name` at a version: `tag-format` with `{{version}}` (required) and
/// `{{name}}` replaced. Unknown placeholders and what git does not accept as a tag
/// (`git check-ref-format`) are usage errors; `/` is allowed (`release/v{{version}}`).
pub fn tag(format: &str, name: &str, v: &semver::Version) -> Result<String> {
    if !format.contains("{{version}}") {
        return Err(usage(format!(
            "invalid `tag-format` `{format}`: it must contain `{{{{version}}}}`"
        )));
    }
    let mut rest = format;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let placeholder = &after[..end];
        if !TAG_PLACEHOLDERS.contains(&placeholder) {
            return Err(usage(format!(
                "invalid `tag-format` `{format}`: unknown placeholder `{{{{{placeholder}}}}}` (known: `{{{{version}}}}`, `{{{{name}}}}`)"
            )));
        }
        rest = &after[(end + 2).min(after.len())..];
    }
    let tag = format
        .replace("{{version}}", &v.to_string())
        .replace("{{name}}", name);
    let components_ok = tag
        .split('/')
        .all(|c| !c.is_empty() && !c.starts_with('.') && !c.ends_with(".lock"));
    if tag.contains(' ')
        || tag.contains("..")
        || tag.contains("@{")
        || tag.ends_with('.')
        || !components_ok
        || tag.contains(['~', '^', ':', '?', '*', '[', '\\'])
        || tag.chars().any(|c| c.is_control())
    {
        return Err(usage(format!(
            "`tag-format` `{format}` gives `{tag}`, which git does not accept as a tag"
        )))
        .hint("a tag has no spaces, `~`, `^`, `:`, `?`, `*`, `[`, `\\` or `..`, and no empty, `.`-led or `.lock`-ending part between `/` (see `git check-ref-format`)");
    }
    Ok(tag)
}

/// The version a tag of `template` (a `tag-format` with `{{name}}` already replaced, so only
/// `{{version}}` is left) names, if `tag` is one of them.
pub fn version_of_tag(template: &str, tag: &str) -> Option<semver::Version> {
    let (prefix, suffix) = template.split_once("{{version}}")?;
    let v = tag.strip_prefix(prefix)?.strip_suffix(suffix)?;
    semver::Version::parse(v).ok()
}

/// Whether `version` is the highest stable version among `held` (a pre-release never is): a
/// `latest` pointer moves only then.
pub fn is_highest(version: &semver::Version, held: &[semver::Version]) -> bool {
    version.pre.is_empty() && !held.iter().any(|h| h.pre.is_empty() && h > version)
}

/// Whether the version is a pre-release (`-rc.1`).
pub fn is_prerelease(v: &semver::Version) -> bool {
    !v.pre.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        assert_eq!(parse("v1.2.3").unwrap().to_string(), "1.2.3");
        assert!(is_prerelease(&parse("0.3.0-rc.1").unwrap()));
        for bad in ["v1.2", "1.2.3.4", "01.2.3", "", "latest"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("invalid version `{bad}`")) && e.contains("MAJOR.MINOR.PATCH"),
                "{e}"
            );
        }
    }

    #[test]
    fn tags() {
        let v = parse("1.2.3").unwrap();
        assert_eq!(tag("v{{version}}", "app", &v).unwrap(), "v1.2.3");
        assert_eq!(tag("app-{{version}}", "x", &v).unwrap(), "app-1.2.3");
        assert_eq!(
            tag("{{name}}-v{{version}}", "alpha", &v).unwrap(),
            "alpha-v1.2.3"
        );
        assert_eq!(
            tag("release/{{name}}/v{{version}}", "alpha", &v).unwrap(),
            "release/alpha/v1.2.3"
        );
        assert!(tag("release", "x", &v).is_err());
        assert!(tag("v {{version}}", "x", &v).is_err());
        for bad in [
            "/v{{version}}",
            "v{{version}}/",
            "a//v{{version}}",
            "a/.b/{{version}}",
        ] {
            assert!(tag(bad, "x", &v).is_err(), "{bad}");
        }
        let e = tag("{{crate}}-{{version}}", "x", &v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown placeholder `{{crate}}`"), "{e}");
    }

    #[test]
    fn versions_of_tags_and_the_highest() {
        assert_eq!(
            version_of_tag("alpha-v{{version}}", "alpha-v1.3.0"),
            Some(parse("1.3.0").unwrap())
        );
        assert_eq!(version_of_tag("alpha-v{{version}}", "beta-v1.3.0"), None);
        assert_eq!(version_of_tag("v{{version}}", "v1.3"), None);
        let held = [parse("1.3.0").unwrap(), parse("2.0.0-rc.1").unwrap()];
        assert!(!is_highest(&parse("1.2.4").unwrap(), &held));
        assert!(is_highest(&parse("1.3.0").unwrap(), &held));
        assert!(is_highest(&parse("1.3.1").unwrap(), &held));
        assert!(!is_highest(&parse("2.0.0-rc.2").unwrap(), &held));
    }
}
