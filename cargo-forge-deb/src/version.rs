//! Debian package versions from Cargo versions, as cargo-deb makes them.
//!
//! A pre-release suffix becomes `~pre` (so `1.0.0~rc.1` sorts before `1.0.0`) only when it holds
//! both a digit and a non-digit (`-rc.1`, `-beta.3`); `-alpha` or `-1` stay as they are. Build
//! metadata is kept. The revision (default `1`; `""` or `"0"` for none) is appended with `-`.

use anyhow::Result;

use forge_core::exit::usage;

/// The Debian upstream version for a Cargo version.
pub fn upstream_version(cargo_version: &str) -> String {
    match cargo_version.split_once('-') {
        Some((main, pre)) => {
            // The pre-release ends where build metadata starts.
            let (pre_only, build) = match pre.split_once('+') {
                Some((p, b)) => (p, Some(b)),
                None => (pre, None),
            };
            let has_digit = pre_only.chars().any(|c| c.is_ascii_digit());
            let has_other = pre_only.chars().any(|c| !c.is_ascii_digit());
            if has_digit && has_other {
                match build {
                    Some(b) => format!("{main}~{pre_only}+{b}"),
                    None => format!("{main}~{pre_only}"),
                }
            } else {
                cargo_version.to_string()
            }
        }
        None => cargo_version.to_string(),
    }
}

/// `upstream[-revision]`.
pub fn full_version(cargo_version: &str, revision: Option<&str>) -> String {
    let upstream = upstream_version(cargo_version);
    match revision.map(str::trim) {
        None => format!("{upstream}-1"),
        Some("") | Some("0") => upstream,
        Some(r) => format!("{upstream}-{r}"),
    }
}

/// Checks a complete Debian version (Debian Policy 5.6.12).
pub fn check(version: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(usage(format!(
            "version `{version}` is not a valid Debian version: {why}"
        )))
    };
    if version.is_empty() {
        return bad("it is empty");
    }
    let rest = match version.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.chars().all(|c| c.is_ascii_digit()) {
                return bad("the epoch before `:` must be a number");
            }
            rest
        }
        None => version,
    };
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return bad("it must start with a digit");
    }
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || ".+-~".contains(*c)))
    {
        return bad(&format!(
            "it contains `{c}`; only a-z 0-9 . + - ~ are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_deb_rules() {
        assert_eq!(full_version("1.2.0-beta.3", None), "1.2.0~beta.3-1");
        assert_eq!(full_version("1.0.0-rc.1+build", None), "1.0.0~rc.1+build-1");
        assert_eq!(full_version("1.2.0-new", None), "1.2.0-new-1");
        assert_eq!(full_version("1.2.3-1", None), "1.2.3-1-1");
        assert_eq!(full_version("0.4.0-beta.1", Some("2")), "0.4.0~beta.1-2");
        assert_eq!(full_version("1.0.0", Some("")), "1.0.0");
        assert_eq!(full_version("1.0.0", Some("0")), "1.0.0");
    }

    #[test]
    fn validation() {
        check("1:1.0.0~rc.1-1").unwrap();
        assert!(check("a1")
            .unwrap_err()
            .to_string()
            .contains("start with a digit"));
        assert!(check("1.0_0").unwrap_err().to_string().contains("`_`"));
        assert!(check("x:1").is_err());
        assert!(check("").is_err());
    }
}
