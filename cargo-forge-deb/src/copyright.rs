//! The machine-readable (DEP-5) `copyright` file of a package, written the way lintian wants it.
//!
//! cargo-deb pastes the licence file into `copyright`, which lintian rejects for the licences
//! Debian ships in `/usr/share/common-licenses` (`copyright-file-contains-full-apache-2-license`,
//! `copyright-not-using-common-license-for-gpl`, …). Here:
//!
//! * the crate's SPDX `license` expression is parsed with the `spdx` crate (lax mode, as
//!   crates.io accepts `MIT/Apache-2.0`) and rendered in DEP-5 syntax (`or`, `and`,
//!   `GPL-2+ with Classpath-2.0 exception`), with Debian's short names (`GPL-3+`, `BSD-3-clause`);
//! * the `Files: *` paragraph names the expression, and every licence in it gets one stand-alone
//!   `License:` paragraph;
//! * a licence Debian ships gets the short paragraph pointing at its file in
//!   `/usr/share/common-licenses` (plus the "any later version" grant for `-or-later`), never
//!   the full text, even when the crate's LICENSE file holds it;
//! * any other licence gets its full text: from `license-file`, else from the package's licence
//!   files (`LICENSE-MIT`, `LICENSE-APACHE`, `UNLICENSE`, `COPYING`, … matched by name, then by
//!   content), else the canonical SPDX text of the common permissive licences bundled in
//!   `licenses/` (MIT, BSD-2/3-Clause, ISC, Zlib, Unlicense, 0BSD, BSL-1.0, MIT-0);
//! * a `license-file` without `license` is recognised by its text: a GPL or Apache text becomes a
//!   reference to the common licence, anything else is the `custom` licence, quoted in full.
//!
//! The licence detection by text is a handful of title phrases, written by hand: the `spdx`
//! crate's detection needs its 6 MB licence corpus in the binary, which is far more than the
//! dozen licences crates actually ship.

use std::path::Path;

/// One licence text found for the package.
#[derive(Clone, Debug)]
pub struct LicenseText {
    /// The file it came from (its name matters: `LICENSE-MIT`).
    pub file: String,
    pub text: String,
    /// From `license-file` (cargo-deb's key or Cargo's): used whatever its name.
    pub explicit: bool,
}

/// Inputs of the copyright file.
pub struct CopyrightInput<'a> {
    pub upstream_name: &'a str,
    pub source: Option<&'a str>,
    /// `copyright` of the metadata; when `None`, one line per author.
    pub copyright: Option<&'a str>,
    pub authors: &'a [String],
    /// The year of the release (`SOURCE_DATE_EPOCH`), put before holders given without one
    /// (lintian: `copyright-without-copyright-notice`).
    pub year: i32,
    /// The crate's SPDX expression.
    pub license: Option<&'a str>,
    pub license_texts: Vec<LicenseText>,
}

/// A licence of the expression, as DEP-5 names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep5License {
    /// The SPDX identifier as written (`GPL-3.0-or-later`, `MIT`, `LicenseRef-acme`).
    pub spdx: String,
    /// The DEP-5 short name (`GPL-3+`, `MIT`, `BSD-3-clause`), with ` with X exception`.
    pub name: String,
    /// The file in `/usr/share/common-licenses`, for licences Debian ships.
    pub common: Option<&'static str>,
    /// Whether a later version may be chosen (`-or-later`, `+`).
    pub or_later: bool,
    /// The SPDX exception (`LLVM-exception`).
    pub exception: Option<String>,
}

/// A licence expression in DEP-5 form.
#[derive(Clone, Debug)]
pub struct Dep5Expression {
    /// `MIT or Apache-2.0`.
    pub text: String,
    /// Each licence once, in order of appearance.
    pub licenses: Vec<Dep5License>,
}

/// SPDX base identifier → (Debian short name, file in `/usr/share/common-licenses`).
fn debian_name(spdx: &str) -> (String, Option<&'static str>) {
    let base = spdx
        .trim_end_matches('+')
        .trim_end_matches("-or-later")
        .trim_end_matches("-only");
    let common = |name: &str, file: &'static str| (name.to_string(), Some(file));
    match base {
        "Apache-2.0" => common("Apache-2.0", "Apache-2.0"),
        "GPL-1.0" => common("GPL-1", "GPL-1"),
        "GPL-2.0" => common("GPL-2", "GPL-2"),
        "GPL-3.0" => common("GPL-3", "GPL-3"),
        "LGPL-2.0" => common("LGPL-2", "LGPL-2"),
        "LGPL-2.1" => common("LGPL-2.1", "LGPL-2.1"),
        "LGPL-3.0" => common("LGPL-3", "LGPL-3"),
        "MPL-1.1" => common("MPL-1.1", "MPL-1.1"),
        "MPL-2.0" | "MPL-2.0-no-copyleft-exception" => common("MPL-2.0", "MPL-2.0"),
        "CC0-1.0" => common("CC0-1.0", "CC0-1.0"),
        "Artistic-1.0" | "Artistic-1.0-Perl" => common("Artistic", "Artistic"),
        "GFDL-1.2" => common("GFDL-1.2", "GFDL-1.2"),
        "GFDL-1.3" => common("GFDL-1.3", "GFDL-1.3"),
        // DEP-5 spells the BSD clauses in lower case.
        "BSD-2-Clause" => ("BSD-2-clause".into(), None),
        "BSD-3-Clause" => ("BSD-3-clause".into(), None),
        "BSD-4-Clause" => ("BSD-4-clause".into(), None),
        other => (other.to_string(), None),
    }
}

/// The full name of a common licence, for its reference paragraph.
fn full_name(file: &str) -> &'static str {
    match file {
        "Apache-2.0" => "the Apache License, Version 2.0",
        "GPL-1" => "the GNU General Public License version 1",
        "GPL-2" => "the GNU General Public License version 2",
        "GPL-3" => "the GNU General Public License version 3",
        "LGPL-2" => "the GNU Library General Public License version 2",
        "LGPL-2.1" => "the GNU Lesser General Public License version 2.1",
        "LGPL-3" => "the GNU Lesser General Public License version 3",
        "MPL-1.1" => "the Mozilla Public License, version 1.1",
        "MPL-2.0" => "the Mozilla Public License, version 2.0",
        "CC0-1.0" => "the Creative Commons CC0 1.0 Universal license",
        "Artistic" => "the Artistic License",
        "GFDL-1.2" => "the GNU Free Documentation License version 1.2",
        "GFDL-1.3" => "the GNU Free Documentation License version 1.3",
        _ => "the license",
    }
}

fn license_of(spdx: &str, or_later_flag: bool, exception: Option<String>) -> Dep5License {
    let or_later = or_later_flag || spdx.ends_with("-or-later") || spdx.ends_with('+');
    let (mut name, common) = debian_name(spdx);
    let gnu = ["GPL-", "LGPL-", "AGPL-", "GFDL-"]
        .iter()
        .any(|p| name.starts_with(p));
    if or_later && gnu {
        name.push('+');
    }
    if let Some(e) = &exception {
        // lintian wants `<license> with <name> exception`.
        let short = e.trim_end_matches("-exception").replace("-exception-", "-");
        name = format!("{name} with {short} exception");
    }
    Dep5License {
        spdx: spdx.to_string(),
        name,
        common,
        or_later,
        exception,
    }
}

/// Parses an SPDX expression (lax, as crates.io) into DEP-5 form. Unknown identifiers are kept
/// as they are; an expression that does not parse at all is taken word by word.
pub fn dep5_expression(spdx_expr: &str) -> Dep5Expression {
    let lax_unknown = spdx::ParseMode {
        allow_unknown: true,
        ..spdx::ParseMode::LAX
    };
    let parsed = spdx::Expression::parse_mode(spdx_expr, spdx::ParseMode::LAX)
        .or_else(|_| spdx::Expression::parse_mode(spdx_expr, lax_unknown));
    let Ok(expr) = parsed else {
        return fallback_expression(spdx_expr);
    };
    // The expression is in postfix order: a stack of (text, precedence) renders it with the
    // parentheses it needs (`and` binds tighter than `or`).
    let mut stack: Vec<(String, u8)> = Vec::new();
    let mut licenses: Vec<Dep5License> = Vec::new();
    for node in expr.iter() {
        match node {
            spdx::expression::ExprNode::Req(r) => {
                let (id, or_later) = match &r.req.license {
                    spdx::LicenseItem::Spdx { id, or_later } => (id.name.to_string(), *or_later),
                    spdx::LicenseItem::Other(o) => (format!("LicenseRef-{}", o.lic_ref), false),
                };
                let exception = r.req.addition.as_ref().map(|a| match a {
                    spdx::AdditionItem::Spdx(e) => e.name.to_string(),
                    spdx::AdditionItem::Other(o) => format!("AdditionRef-{}", o.add_ref),
                });
                let l = license_of(&id, or_later, exception);
                stack.push((l.name.clone(), 2));
                if !licenses.iter().any(|x| x.name == l.name) {
                    licenses.push(l);
                }
            }
            spdx::expression::ExprNode::Op(op) => {
                let (word, prec) = match op {
                    spdx::expression::Operator::And => ("and", 1),
                    spdx::expression::Operator::Or => ("or", 0),
                };
                let (Some(b), Some(a)) = (stack.pop(), stack.pop()) else {
                    return fallback_expression(spdx_expr);
                };
                let wrap = |(t, p): (String, u8)| if p < prec { format!("({t})") } else { t };
                stack.push((format!("{} {word} {}", wrap(a), wrap(b)), prec));
            }
        }
    }
    match stack.pop() {
        Some((text, _)) if stack.is_empty() => Dep5Expression { text, licenses },
        _ => fallback_expression(spdx_expr),
    }
}

fn fallback_expression(s: &str) -> Dep5Expression {
    let text = s
        .replace(" OR ", " or ")
        .replace(" AND ", " and ")
        .replace(" WITH ", " with ")
        .replace('/', " or ");
    let licenses = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty() && !["or", "and", "with"].contains(w))
        .map(|w| license_of(w, false, None))
        .collect();
    Dep5Expression { text, licenses }
}

/// What a licence text is, from its title phrases: an SPDX identifier.
pub fn detect_license(text: &str) -> Option<&'static str> {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let has = |s: &str| t.contains(s);
    let upper = t.to_uppercase();
    Some(if upper.contains("GNU LESSER GENERAL PUBLIC LICENSE") {
        if upper.contains("VERSION 3") {
            "LGPL-3.0"
        } else {
            "LGPL-2.1"
        }
    } else if upper.contains("GNU LIBRARY GENERAL PUBLIC LICENSE") {
        "LGPL-2.0"
    } else if upper.contains("GNU AFFERO GENERAL PUBLIC LICENSE") {
        "AGPL-3.0"
    } else if upper.contains("GNU GENERAL PUBLIC LICENSE") && upper.contains("VERSION 3") {
        "GPL-3.0"
    } else if upper.contains("GNU GENERAL PUBLIC LICENSE") && upper.contains("VERSION 2") {
        "GPL-2.0"
    } else if has("Apache License") && (has("Version 2.0") || has("VERSION 2.0")) {
        "Apache-2.0"
    } else if has("Mozilla Public License Version 2.0") || has("Mozilla Public License, v. 2.0") {
        "MPL-2.0"
    } else if has("This is free and unencumbered software released into the public domain") {
        "Unlicense"
    } else if has("Permission is hereby granted, free of charge") {
        "MIT"
    } else if has("Redistribution and use in source and binary forms") {
        if upper.contains("NEITHER THE NAME") || has("names of its contributors") {
            "BSD-3-Clause"
        } else {
            "BSD-2-Clause"
        }
    } else if has("Permission to use, copy, modify, and/or distribute this software") {
        if has("provided that the above copyright notice") {
            "ISC"
        } else {
            "0BSD"
        }
    } else if has("This software is provided 'as-is', without any express or implied warranty") {
        "Zlib"
    } else if has("Boost Software License") {
        "BSL-1.0"
    } else if has("CC0 1.0 Universal") {
        "CC0-1.0"
    } else {
        return None;
    })
}

/// The canonical text of a licence bundled in `licenses/`.
fn bundled_text(spdx: &str) -> Option<&'static str> {
    let base = spdx.trim_end_matches('+');
    Some(match base {
        "MIT" => include_str!("../licenses/MIT.txt"),
        "MIT-0" => include_str!("../licenses/MIT-0.txt"),
        "BSD-2-Clause" => include_str!("../licenses/BSD-2-Clause.txt"),
        "BSD-3-Clause" => include_str!("../licenses/BSD-3-Clause.txt"),
        "ISC" => include_str!("../licenses/ISC.txt"),
        "Zlib" => include_str!("../licenses/Zlib.txt"),
        "Unlicense" => include_str!("../licenses/Unlicense.txt"),
        "0BSD" => include_str!("../licenses/0BSD.txt"),
        "BSL-1.0" => include_str!("../licenses/BSL-1.0.txt"),
        "LLVM-exception" => include_str!("../licenses/LLVM-exception.txt"),
        _ => return None,
    })
}

/// The suffix of a licence file's name (`LICENSE-MIT` → `mit`, `LICENSE.Apache-2.0.txt` →
/// `apache-2.0`, `UNLICENSE` → `unlicense`), or `None` for a plain `LICENSE`/`COPYING`.
fn file_suffix(file: &str) -> Option<String> {
    let lower = file.to_lowercase();
    let lower = lower
        .trim_end_matches(".txt")
        .trim_end_matches(".md")
        .trim_end_matches(".rst");
    if lower == "unlicense" {
        return Some("unlicense".into());
    }
    let rest = ["license", "licence", "copying"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))?;
    let rest = rest.trim_start_matches(['-', '_', '.', 's']);
    (!rest.is_empty()).then(|| rest.to_string())
}

/// Whether a file-name suffix names an SPDX licence (`apache` ~ `Apache-2.0`, `lesser` ~ LGPL).
fn suffix_matches(suffix: &str, spdx: &str) -> bool {
    let id = spdx.to_lowercase();
    let base = id.split(['-', '.']).next().unwrap_or(&id);
    id == suffix
        || id.starts_with(&format!("{suffix}-"))
        || suffix.starts_with(&id)
        || (suffix.split(['-', '.']).next() == Some(base) && !base.is_empty())
        || (suffix == "lesser" && id.starts_with("lgpl"))
}

/// Finds the licence files of a package: `LICENSE*`, `LICENCE*`, `COPYING*`, `UNLICENSE` in the
/// first of `dirs` that has any (the package, then the workspace).
pub fn find_license_files(dirs: &[&Path]) -> Vec<LicenseText> {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        let found: Vec<LicenseText> = files
            .iter()
            .filter(|f| f.is_file())
            .filter_map(|f| {
                let name = f.file_name()?.to_string_lossy().into_owned();
                let upper = name.to_uppercase();
                let wanted = ["LICENSE", "LICENCE", "COPYING", "UNLICENSE"]
                    .iter()
                    .any(|p| upper.starts_with(p));
                if !wanted {
                    return None;
                }
                let text = std::fs::read_to_string(f).ok()?;
                Some(LicenseText {
                    file: name,
                    text,
                    explicit: false,
                })
            })
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

fn indent_text(text: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
    let mut blank = false;
    for line in &lines[start..] {
        if line.trim().is_empty() {
            blank = true;
            continue;
        }
        if blank {
            out.push_str(" .\n");
            blank = false;
        }
        out.push(' ');
        out.push_str(&line.trim_end().replace('\t', "    "));
        out.push('\n');
    }
    out
}

/// The reference paragraph body of a licence Debian ships.
fn common_paragraph(l: &Dep5License, file: &str) -> String {
    let name = full_name(file);
    let mut out = String::new();
    if l.or_later && l.name.contains('+') {
        let version = file.rsplit('-').next().unwrap_or("");
        out.push_str(&format!(
            " This program is free software: you can redistribute it and/or modify it under\n the terms of {name} as published by the Free Software\n Foundation, either version {version} of the License, or (at your option) any later\n version.\n .\n"
        ));
    }
    out.push_str(&format!(
        " On Debian systems, the complete text of {name}\n can be found in \"/usr/share/common-licenses/{file}\".\n"
    ));
    out
}

/// Picks the text of one (non-common) licence from the files found.
fn text_for<'t>(
    l: &Dep5License,
    texts: &'t [LicenseText],
    single: bool,
) -> Option<&'t LicenseText> {
    texts
        .iter()
        .find(|t| file_suffix(&t.file).is_some_and(|s| suffix_matches(&s, &l.spdx)))
        .or_else(|| {
            texts.iter().find(|t| {
                detect_license(&t.text).is_some_and(|d| {
                    let spdx = l.spdx.trim_end_matches('+');
                    spdx == d || spdx.starts_with(&format!("{d}-"))
                })
            })
        })
        .or_else(|| {
            // A single licence and a plain LICENSE (or an explicit license-file) that says
            // nothing recognisable: it is that licence's text.
            texts
                .iter()
                .find(|t| single && (t.explicit || file_suffix(&t.file).is_none()))
        })
}

/// The `Copyright:` value: the configured text, else one line per author; each with a year.
fn copyright_field(input: &CopyrightInput<'_>) -> String {
    let has_year = |s: &str| {
        s.as_bytes()
            .windows(4)
            .any(|w| w.iter().all(u8::is_ascii_digit))
    };
    let holders: Vec<String> = match input.copyright {
        Some(c) => vec![c.trim().to_string()],
        None if !input.authors.is_empty() => input.authors.to_vec(),
        None => vec![format!("the {} authors", input.upstream_name)],
    };
    holders
        .iter()
        .map(|h| {
            if has_year(h) {
                h.clone()
            } else {
                format!("{} {h}", input.year)
            }
        })
        .collect::<Vec<_>>()
        .join("\n ")
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
    out.push_str(&format!("Copyright: {}\n", copyright_field(input)));
    let explicit = input.license_texts.iter().find(|t| t.explicit);
    let expr = match (input.license, explicit) {
        (Some(l), _) => dep5_expression(l),
        // Only a license-file: what its text says it is, else `custom`.
        (None, Some(t)) => match detect_license(&t.text) {
            Some(id) => dep5_expression(id),
            None => dep5_expression("LicenseRef-custom"),
        },
        (None, None) => match input.license_texts.first() {
            Some(t) => dep5_expression(detect_license(&t.text).unwrap_or("LicenseRef-custom")),
            None => {
                out.push_str("License: UNLICENSED\n Not licensed for redistribution: the crate declares no license.\n");
                return out;
            }
        },
    };
    let name_of = |l: &Dep5License| {
        if l.spdx == "LicenseRef-custom" {
            "custom".to_string()
        } else {
            l.name.clone()
        }
    };
    let text = if expr.licenses.len() == 1 {
        name_of(&expr.licenses[0])
    } else {
        expr.text.clone()
    };
    out.push_str(&format!("License: {text}\n"));
    let single = expr.licenses.len() == 1;
    for l in &expr.licenses {
        out.push_str(&format!("\nLicense: {}\n", name_of(l)));
        if let Some(file) = l.common {
            out.push_str(&common_paragraph(l, file));
        } else if let Some(t) = text_for(l, &input.license_texts, single) {
            out.push_str(&indent_text(&t.text));
        } else if let Some(t) = bundled_text(&l.spdx) {
            out.push_str(&indent_text(t));
        } else {
            out.push_str(&format!(
                " The {} license; its text is at https://spdx.org/licenses/{}.html\n",
                l.spdx, l.spdx
            ));
        }
        if let Some(e) = &l.exception {
            out.push_str(" .\n");
            match bundled_text(e) {
                Some(t) => out.push_str(&indent_text(t)),
                None => out.push_str(&format!(
                    " The {e} exception; its text is at https://spdx.org/licenses/{e}.html\n"
                )),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(license: Option<&'a str>, texts: Vec<LicenseText>) -> CopyrightInput<'a> {
        CopyrightInput {
            upstream_name: "tool",
            source: Some("https://x"),
            copyright: Some("2024, Me"),
            authors: &[],
            year: 2026,
            license,
            license_texts: texts,
        }
    }

    fn file(name: &str, text: &str) -> LicenseText {
        LicenseText {
            file: name.into(),
            text: text.into(),
            explicit: false,
        }
    }

    const APACHE: &str = "                                 Apache License\n                           Version 2.0, January 2004\n\n   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION\n";
    const GPL3: &str =
        "                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n";

    #[test]
    fn expressions_in_dep5_syntax() {
        let cases = [
            ("MIT OR Apache-2.0", "MIT or Apache-2.0"),
            ("MIT/Apache-2.0", "MIT or Apache-2.0"),
            ("GPL-3.0-or-later", "GPL-3+"),
            ("GPL-2.0-only", "GPL-2"),
            ("LGPL-2.1+", "LGPL-2.1+"),
            (
                "BSD-3-Clause AND (MIT OR Apache-2.0)",
                "BSD-3-clause and (MIT or Apache-2.0)",
            ),
            (
                "Apache-2.0 WITH LLVM-exception",
                "Apache-2.0 with LLVM exception",
            ),
            (
                "(MIT OR Apache-2.0) AND Unicode-3.0",
                "(MIT or Apache-2.0) and Unicode-3.0",
            ),
        ];
        for (spdx, dep5) in cases {
            assert_eq!(dep5_expression(spdx).text, dep5, "{spdx}");
        }
        let e = dep5_expression("Apache-2.0 OR MIT OR Apache-2.0");
        assert_eq!(e.licenses.len(), 2);
    }

    #[test]
    fn common_licences_are_referenced_never_copied() {
        for (license, file, name) in [
            ("Apache-2.0", "LICENSE", APACHE),
            ("GPL-3.0", "COPYING", GPL3),
        ] {
            let c = copyright(&input(Some(license), vec![self::file(file, name)]));
            assert!(!c.contains("TERMS AND CONDITIONS"), "{c}");
            assert!(!c.contains("Version 3, 29 June"), "{c}");
            assert!(c.contains("/usr/share/common-licenses/"), "{c}");
        }
        let c = copyright(&input(Some("GPL-3.0-or-later"), vec![]));
        assert!(
            c.contains("License: GPL-3+\n This program is free software"),
            "{c}"
        );
        assert!(c.contains("\"/usr/share/common-licenses/GPL-3\""), "{c}");
    }

    #[test]
    fn one_standalone_paragraph_per_licence() {
        let c = copyright(&input(
            Some("MIT OR Apache-2.0"),
            vec![
                file("LICENSE-APACHE", APACHE),
                file(
                    "LICENSE-MIT",
                    "Permission is hereby granted, free of charge\n\nTHE SOFTWARE",
                ),
            ],
        ));
        assert!(
            c.contains("Files: *\nCopyright: 2024, Me\nLicense: MIT or Apache-2.0\n"),
            "{c}"
        );
        assert!(
            c.contains("\nLicense: MIT\n Permission is hereby granted, free of charge\n .\n THE SOFTWARE\n"),
            "{c}"
        );
        assert!(
            c.contains("\nLicense: Apache-2.0\n On Debian systems"),
            "{c}"
        );
        let authors = ["A <a@x>".to_string(), "B".to_string()];
        let c2 = copyright(&CopyrightInput {
            copyright: None,
            authors: &authors,
            ..input(None, vec![])
        });
        assert!(c2.contains("Copyright: 2026 A <a@x>\n 2026 B\n"), "{c2}");
        assert_eq!(c.matches("\nLicense: ").count(), 3, "{c}");
    }

    #[test]
    fn texts_matched_by_name_content_or_bundled() {
        // BurntSushi's layout: UNLICENSE + LICENSE-MIT + COPYING (which only explains).
        let c = copyright(&input(
            Some("Unlicense OR MIT"),
            vec![
                file(
                    "COPYING",
                    "This project is dual-licensed under the Unlicense and MIT licenses.",
                ),
                file(
                    "LICENSE-MIT",
                    "The MIT License (MIT)\n\nPermission is hereby granted, free of charge",
                ),
                file(
                    "UNLICENSE",
                    "This is free and unencumbered software released into the public domain.",
                ),
            ],
        ));
        assert!(
            c.contains("License: Unlicense\n This is free and unencumbered"),
            "{c}"
        );
        assert!(c.contains("License: MIT\n The MIT License (MIT)"), "{c}");
        // No file: the bundled canonical text.
        let c = copyright(&input(Some("BSD-3-Clause"), vec![]));
        assert!(
            c.contains("License: BSD-3-clause\n Redistribution and use"),
            "{c}"
        );
        // A license-file alone: recognised, or custom.
        let mut t = file("COPYING", GPL3);
        t.explicit = true;
        let c = copyright(&input(None, vec![t]));
        assert!(c.contains("License: GPL-3\n On Debian systems"), "{c}");
        let mut t = file("EULA", "You may use this.");
        t.explicit = true;
        let c = copyright(&input(None, vec![t]));
        assert!(
            c.contains("License: custom\n\nLicense: custom\n You may use this.\n"),
            "{c}"
        );
    }

    #[test]
    fn exceptions() {
        let c = copyright(&input(Some("Apache-2.0 WITH LLVM-exception"), vec![]));
        assert!(
            c.contains("License: Apache-2.0 with LLVM exception\n On Debian systems"),
            "{c}"
        );
        assert!(c.contains(" .\n As an exception"), "{c}");
    }

    #[test]
    fn licence_file_names() {
        assert_eq!(file_suffix("LICENSE-MIT").as_deref(), Some("mit"));
        assert_eq!(
            file_suffix("LICENSE.Apache-2.0.txt").as_deref(),
            Some("apache-2.0")
        );
        assert_eq!(file_suffix("LICENSE"), None);
        assert_eq!(file_suffix("LICENSES.md"), None);
        assert!(suffix_matches("apache", "Apache-2.0"));
        assert!(suffix_matches("mit", "MIT"));
        assert!(!suffix_matches("mit", "Apache-2.0"));
        assert!(suffix_matches("lesser", "LGPL-3.0-only"));
    }
}
