//! Tag templates and the semver rules people expect (docker/metadata-action).
//!
//! Templates: `{{version}}`, `{{major}}`, `{{minor}}`, `{{patch}}`, `{{short_sha}}`, `{{sha}}`, and
//! plain text such as `latest`. The defaults are `{{version}}`, `{{major}}.{{minor}}`, `{{major}}`
//! and `latest`: version 1.2.3 gives `1.2.3`, `1.2`, `1`, `latest`. A pre-release (1.3.0-rc.1)
//! gets only the tags that carry its full version (and `sha-…` tags), never `latest` nor the
//! short ones that would move a stable tag. Version 0.x keeps `0.x` and `0` as metadata-action does.

use anyhow::Result;

use forge_core::exit::{usage, ResultExt};

/// The default templates.
pub const DEFAULT_TAGS: &[&str] = &["{{version}}", "{{major}}.{{minor}}", "{{major}}", "latest"];

const KNOWN: &[&str] = &["version", "major", "minor", "patch", "short_sha", "sha"];

/// What templates are rendered with.
#[derive(Clone, Debug)]
pub struct TagContext {
    pub version: semver::Version,
    /// The git commit, when known.
    pub sha: Option<String>,
}

/// Checks a template's syntax (unknown placeholders, unclosed braces).
pub fn check_template(t: &str) -> Result<()> {
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(usage(format!(
                "invalid tag template `{t}`: `{{{{` without `}}}}`"
            )));
        };
        let name = after[..end].trim();
        if !KNOWN.contains(&name) {
            return Err(usage(format!(
                "invalid tag template `{t}`: unknown placeholder `{{{{{name}}}}}` (known: {})",
                KNOWN
                    .iter()
                    .map(|k| format!("{{{{{k}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(usage(format!(
            "invalid tag template `{t}`: `}}}}` without `{{{{`"
        )));
    }
    Ok(())
}

/// Renders the templates that apply to this version, in order, without duplicates.
pub fn render(templates: &[String], ctx: &TagContext) -> Result<Vec<String>> {
    let v = &ctx.version;
    let pre = !v.pre.is_empty();
    let full = v.to_string().replace('+', "_");
    let mut out: Vec<String> = Vec::new();
    for t in templates {
        check_template(t)?;
        let uses_sha = t.contains("short_sha") || t.contains("{{sha") || t.contains("{{ sha");
        if pre && !(t.contains("{{version}}") || t.contains("{{ version }}") || uses_sha) {
            continue;
        }
        let mut s = t.clone();
        for (k, val) in [
            ("version", full.clone()),
            ("major", v.major.to_string()),
            ("minor", v.minor.to_string()),
            ("patch", v.patch.to_string()),
        ] {
            s = s
                .replace(&format!("{{{{{k}}}}}"), &val)
                .replace(&format!("{{{{ {k} }}}}"), &val);
        }
        if uses_sha {
            let Some(sha) = &ctx.sha else {
                return Err(usage(format!("tag template `{t}` needs the git commit, but the package is not in a git repository")))
                    .hint("build from a git checkout, or leave `{{sha}}` and `{{short_sha}}` out of `tags`");
            };
            let short: String = sha.chars().take(7).collect();
            s = s
                .replace("{{short_sha}}", &short)
                .replace("{{ short_sha }}", &short)
                .replace("{{sha}}", sha)
                .replace("{{ sha }}", sha);
        }
        check_tag(&s)?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// A tag must match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (OCI distribution spec).
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid tag `{tag}`: a tag is 1 to 128 of A-Z a-z 0-9 _ . - and must not start with . or -"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(version: &str, templates: &[&str]) -> Vec<String> {
        let t: Vec<String> = templates.iter().map(|s| s.to_string()).collect();
        render(
            &t,
            &TagContext {
                version: semver::Version::parse(version).unwrap(),
                sha: Some("0123456789abcdef".into()),
            },
        )
        .unwrap()
    }

    #[test]
    fn stable_and_prerelease() {
        assert_eq!(tags("1.2.3", DEFAULT_TAGS), ["1.2.3", "1.2", "1", "latest"]);
        assert_eq!(tags("1.3.0-rc.1", DEFAULT_TAGS), ["1.3.0-rc.1"]);
        assert_eq!(
            tags(
                "1.3.0-rc.1",
                &["{{version}}", "sha-{{short_sha}}", "latest"]
            ),
            ["1.3.0-rc.1", "sha-0123456"]
        );
        assert_eq!(tags("1.0.0+build.5", &["{{version}}"]), ["1.0.0_build.5"]);
    }

    #[test]
    fn bad_templates() {
        assert!(check_template("{{versoin}}")
            .unwrap_err()
            .to_string()
            .contains("unknown placeholder"));
        assert!(check_template("{{version").is_err());
        assert!(check_tag("-x").is_err());
        assert!(check_tag("a/b").is_err());
    }
}
