//! Tag templates and the semver rules people expect (docker/metadata-action).
//!
//! Templates: `{{version}}`, `{{major}}`, `{{minor}}`, `{{patch}}`, `{{short_sha}}`, `{{sha}}`, and
//! plain text such as `latest`. The defaults are `{{version}}`, `{{major}}.{{minor}}`, `{{major}}`
//! and `latest`: version 1.2.3 gives `1.2.3`, `1.2`, `1`, `latest`. A pre-release (1.3.0-rc.1)
//! gets only the tags that carry its full version (and `sha-…` tags), never `latest` nor the
//! short ones that would move a stable tag. Version 0.x keeps `0.x` and `0` as metadata-action does.
//!
//! **Moving tags never move backwards.** `latest`, `{{major}}` and `{{major}}.{{minor}}` (and
//! any template without a placeholder, such as `stable`) follow a line of versions — all of
//! them, one major, one minor — and are pushed only when the version is the highest of its line
//! among the versions the repository holds (its tags that are versions). So 1.2.4 released after
//! 1.3.0 moves `1.2` but leaves `1` and `latest` on 1.3.0. [`Track`] says what a tag follows
//! ([`track_of_template`] for templates, [`track_of_tag`] for tags given whole, as `merge`
//! gets them), [`held_versions`] reads versions from a tag list, [`moves`] decides.

use anyhow::Result;
use serde::{Deserialize, Serialize};

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

/// Which versions a tag follows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Track {
    /// Names one version or commit (`1.2.3`, `sha-0123abc`): pushed as it is.
    Fixed,
    /// The highest version of all (`latest`, or any tag without a placeholder).
    All,
    /// The highest version of one major (`{{major}}`).
    Major,
    /// The highest version of one major.minor (`{{major}}.{{minor}}`).
    Minor,
}

/// What a template's tags follow.
pub fn track_of_template(template: &str) -> Track {
    let t: String = template.chars().filter(|c| !c.is_whitespace()).collect();
    if ["{{version}}", "{{patch}}", "{{sha}}", "{{short_sha}}"]
        .iter()
        .any(|p| t.contains(p))
    {
        Track::Fixed
    } else if t.contains("{{minor}}") {
        Track::Minor
    } else if t.contains("{{major}}") {
        Track::Major
    } else {
        Track::All
    }
}

/// What a tag given whole (`merge --tag`) follows, for `version`: `latest` all versions,
/// `MAJOR.MINOR` and `MAJOR` their line; anything else is fixed.
pub fn track_of_tag(tag: &str, version: &semver::Version) -> Track {
    if tag == "latest" {
        Track::All
    } else if tag == format!("{}.{}", version.major, version.minor) {
        Track::Minor
    } else if tag == version.major.to_string() {
        Track::Major
    } else {
        Track::Fixed
    }
}

/// The versions among a repository's tags: tags that are a full version (`1.2.3`,
/// `v1.2.3`, `1.0.0-rc.1`, `1.0.0_build.5` for `1.0.0+build.5`).
pub fn held_versions(tags: &[String]) -> Vec<semver::Version> {
    tags.iter()
        .filter_map(|t| {
            let bare = t.strip_prefix('v').unwrap_or(t);
            semver::Version::parse(&bare.replace('_', "+")).ok()
        })
        .collect()
}

/// Whether a tag on `track` moves to `version`, given the versions the repository holds: a
/// fixed tag always; a moving one only for a stable version that no held stable version of its
/// line exceeds (pre-releases never move a moving tag).
pub fn moves(track: Track, version: &semver::Version, held: &[semver::Version]) -> bool {
    if track == Track::Fixed {
        return true;
    }
    if !version.pre.is_empty() {
        return false;
    }
    !held.iter().any(|h| {
        h.pre.is_empty()
            && h > version
            && match track {
                Track::All | Track::Fixed => true,
                Track::Major => h.major == version.major,
                Track::Minor => h.major == version.major && h.minor == version.minor,
            }
    })
}

/// Renders the templates that apply to this version, in order, without duplicates.
pub fn render(templates: &[String], ctx: &TagContext) -> Result<Vec<String>> {
    Ok(render_tracked(templates, ctx)?
        .into_iter()
        .map(|(t, _)| t)
        .collect())
}

/// [`render`], with what each tag follows.
pub fn render_tracked(templates: &[String], ctx: &TagContext) -> Result<Vec<(String, Track)>> {
    let v = &ctx.version;
    let pre = !v.pre.is_empty();
    let full = v.to_string().replace('+', "_");
    let mut out: Vec<(String, Track)> = Vec::new();
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
        if !out.iter().any(|(o, _)| *o == s) {
            out.push((s, track_of_template(t)));
        }
    }
    Ok(out)
}

/// A rendered tag must be one the registry accepts: the OCI distribution spec's rule, checked
/// by the registry client's `validate_tag` (one rule and one message for tags from templates,
/// references and the command line).
pub fn check_tag(tag: &str) -> Result<()> {
    crate::registry::validate_tag(tag)
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
    fn moving_tags_never_move_backwards() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        let held = held_versions(&[
            "1.2.3".into(),
            "1.3.0".into(),
            "v2.0.0-rc.1".into(),
            "latest".into(),
            "1".into(),
            "1.3".into(),
            "sha-0123abc".into(),
        ]);
        assert_eq!(held.len(), 3, "{held:?}");
        let backport = v("1.2.4");
        assert!(moves(Track::Fixed, &backport, &held));
        assert!(moves(Track::Minor, &backport, &held));
        assert!(!moves(Track::Major, &backport, &held));
        assert!(!moves(Track::All, &backport, &held));
        // A pre-release held does not hold `latest` back; a pre-release never moves it.
        assert!(moves(Track::All, &v("1.4.0"), &held));
        assert!(!moves(Track::All, &v("3.0.0-rc.1"), &held));
        // Re-releasing the highest version moves nothing backwards.
        assert!(moves(Track::All, &v("1.3.0"), &held));
        for (template, track) in [
            ("{{version}}", Track::Fixed),
            ("{{major}}.{{minor}}.{{patch}}", Track::Fixed),
            ("sha-{{short_sha}}", Track::Fixed),
            ("{{ major }}.{{ minor }}", Track::Minor),
            ("v{{major}}", Track::Major),
            ("latest", Track::All),
            ("stable", Track::All),
        ] {
            assert_eq!(track_of_template(template), track, "{template}");
        }
        let version = v("1.2.4");
        assert_eq!(track_of_tag("latest", &version), Track::All);
        assert_eq!(track_of_tag("1.2", &version), Track::Minor);
        assert_eq!(track_of_tag("1", &version), Track::Major);
        assert_eq!(track_of_tag("1.2.4", &version), Track::Fixed);
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
