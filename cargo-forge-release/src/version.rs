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

/// The git tag for a version: `tag-format` with `{{version}}` replaced.
pub fn tag(format: &str, v: &semver::Version) -> Result<String> {
    if !format.contains("{{version}}") {
        return Err(usage(format!(
            "invalid `tag-format` `{format}`: it must contain `{{{{version}}}}`"
        )));
    }
    let tag = format.replace("{{version}}", &v.to_string());
    if tag.contains(' ')
        || tag.contains("..")
        || tag.ends_with('.')
        || tag.ends_with(".lock")
        || tag.contains(['~', '^', ':', '?', '*', '[', '\\'])
    {
        return Err(usage(format!(
            "`tag-format` `{format}` gives `{tag}`, which git does not accept as a tag"
        )))
        .hint("a tag has no spaces, `~`, `^`, `:`, `?`, `*`, `[`, `\\` or `..` (see `git check-ref-format`)");
    }
    Ok(tag)
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
        assert_eq!(tag("v{{version}}", &v).unwrap(), "v1.2.3");
        assert_eq!(tag("app-{{version}}", &v).unwrap(), "app-1.2.3");
        assert!(tag("release", &v).is_err());
        assert!(tag("v {{version}}", &v).is_err());
    }
}
