//! Debian package versions from Cargo versions, as cargo-deb makes them.
//!
//! A pre-release suffix becomes `~pre` (so `1.0.0~rc.1` sorts before `1.0.0`) only when it holds
//! both a digit and a non-digit (`-rc.1`, `-beta.3`); `-alpha` or `-1` stay as they are. Build
//! metadata is kept. The revision (default `1`; `""` or `"0"` for none) is appended with `-`.
//!
//! [`compare_versions`] orders Debian versions as dpkg does (an index lists versions in that
//! order, and `--keep N` keeps the N highest).

use std::cmp::Ordering;

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

/// Compares two Debian versions as dpkg does (epoch, upstream version, revision; `~` sorts
/// before everything, letters before other characters).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((up, rev)) => (epoch, up, rev),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: u8) -> i32 {
        match c {
            0 => 0,
            b'~' => -1,
            c if c.is_ascii_digit() => 0,
            c if c.is_ascii_alphabetic() => c as i32,
            c => c as i32 + 256,
        }
    }
    fn verrevcmp(a: &str, b: &str) -> Ordering {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let at = |i: usize| a.get(i).copied().unwrap_or(0);
        let bt = |j: usize| b.get(j).copied().unwrap_or(0);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let mut first_diff = 0i32;
            while (at(i) != 0 && !at(i).is_ascii_digit()) || (bt(j) != 0 && !bt(j).is_ascii_digit())
            {
                let (ac, bc) = (order(at(i)), order(bt(j)));
                if ac != bc {
                    return ac.cmp(&bc);
                }
                i += 1;
                j += 1;
            }
            while at(i) == b'0' {
                i += 1;
            }
            while bt(j) == b'0' {
                j += 1;
            }
            while at(i).is_ascii_digit() && bt(j).is_ascii_digit() {
                if first_diff == 0 {
                    first_diff = at(i) as i32 - bt(j) as i32;
                }
                i += 1;
                j += 1;
            }
            if at(i).is_ascii_digit() {
                return Ordering::Greater;
            }
            if bt(j).is_ascii_digit() {
                return Ordering::Less;
            }
            if first_diff != 0 {
                return first_diff.cmp(&0);
            }
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
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

    #[test]
    fn versions_compare_like_dpkg() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-2", Less),
            ("1.0-10", "1.0-9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0~~", "1.0~", Less),
            ("2.0.0", "2.0", Greater),
            ("1.001", "1.1", Equal),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
        if forge_core::process::exists("dpkg") {
            for (a, b) in [
                ("1.2.3~beta.1-1", "1.2.3-1"),
                ("0.9+git20240101", "0.9"),
                ("1.0-1ubuntu1", "1.0-1+deb12u1"),
            ] {
                let lt = std::process::Command::new("dpkg")
                    .args(["--compare-versions", a, "lt", b])
                    .status()
                    .unwrap()
                    .success();
                assert_eq!(compare_versions(a, b) == Less, lt, "{a} vs {b}");
            }
        }
    }
}
