//! The `control` file: field order and formatting as cargo-deb writes it, plus `Description`
//! layout rules of dpkg (continuation lines start with a space, blank lines are ` .`).
//!
//! The description is where cargo-deb's packages most often fail lintian, so [`describe`] makes
//! the synopsis and the extended description the way lintian checks them: a synopsis of at most
//! 80 characters (the first line of a multi-line `description`, else cut at a sentence, else at a
//! word boundary) that neither starts with the package name nor with an article, and is more
//! than one word; an extended description that never repeats the synopsis and is never empty —
//! the rest of the `description`, else `extended-description`, else the README, else the crate's
//! `//!` documentation, else a sentence made from the package's own metadata.

use serde::Serialize;

/// The fields of a binary package's `control` file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Control {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub multi_arch: Option<String>,
    /// `debug-symbols` for a `-dbgsym` package.
    pub auto_built_package: Option<String>,
    pub homepage: Option<String>,
    pub section: Option<String>,
    pub priority: String,
    pub maintainer: Option<String>,
    pub installed_size: u64,
    pub depends: Option<String>,
    pub pre_depends: Option<String>,
    pub recommends: Option<String>,
    pub suggests: Option<String>,
    pub enhances: Option<String>,
    pub conflicts: Option<String>,
    pub breaks: Option<String>,
    pub replaces: Option<String>,
    pub provides: Option<String>,
    /// The one-line summary.
    pub description: String,
    /// The extended description (plain text, paragraphs separated by blank lines).
    pub extended_description: Option<String>,
}

impl Control {
    /// The text of the control file.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut field = |name: &str, value: Option<&str>| {
            if let Some(v) = value {
                out.push_str(name);
                out.push_str(": ");
                out.push_str(v.trim());
                out.push('\n');
            }
        };
        field("Package", Some(&self.package));
        field("Version", Some(&self.version));
        field("Architecture", Some(&self.architecture));
        field("Multi-Arch", self.multi_arch.as_deref());
        field("Auto-Built-Package", self.auto_built_package.as_deref());
        field("Homepage", self.homepage.as_deref());
        field("Section", self.section.as_deref());
        field("Priority", Some(&self.priority));
        field("Maintainer", self.maintainer.as_deref());
        field("Installed-Size", Some(&self.installed_size.to_string()));
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        field("Depends", nonempty(&self.depends).as_deref());
        field("Pre-Depends", nonempty(&self.pre_depends).as_deref());
        field("Recommends", nonempty(&self.recommends).as_deref());
        field("Suggests", nonempty(&self.suggests).as_deref());
        field("Enhances", nonempty(&self.enhances).as_deref());
        field("Conflicts", nonempty(&self.conflicts).as_deref());
        field("Breaks", nonempty(&self.breaks).as_deref());
        field("Replaces", nonempty(&self.replaces).as_deref());
        field("Provides", nonempty(&self.provides).as_deref());
        out.push_str("Description: ");
        out.push_str(&description_field(
            &self.description,
            self.extended_description.as_deref(),
        ));
        out
    }
}

/// `Description:` value: the synopsis, then the extended text wrapped at 79 columns, one space
/// of indent, blank lines as ` .`.
pub fn description_field(summary: &str, extended: Option<&str>) -> String {
    let summary = summary
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = format!("{summary}\n");
    if let Some(ext) = extended {
        // No hyphenation: `fresh-apache` stays one word.
        let opts = textwrap::Options::new(78)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        let mut blank = false;
        for line in ext.trim().replace('\t', "  ").lines() {
            if line.trim().is_empty() {
                blank = true;
                continue;
            }
            if blank {
                out.push_str(" .\n");
                blank = false;
            }
            let indent: String = line.chars().take_while(|c| *c == ' ').collect();
            for wrapped in textwrap::wrap(
                line.trim_start(),
                opts.clone()
                    .initial_indent(&indent)
                    .subsequent_indent(&indent),
            ) {
                out.push(' ');
                out.push_str(&wrapped);
                out.push('\n');
            }
        }
    }
    out
}

/// Turns a Markdown README into a plain extended description: drops badges, images, HTML,
/// code fences and link targets, keeps headings as text; at most `max_lines` lines.
pub fn description_from_markdown(md: &str, summary: &str, max_lines: usize) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut in_code = false;
    for raw in md.lines() {
        let line = raw.trim_end();
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let t = line.trim();
        if t.starts_with("[![")
            || t.starts_with("![")
            || t.starts_with('<')
            || t.starts_with("---")
            || t.starts_with("===")
            || t.starts_with('|')
        {
            continue;
        }
        let text = strip_links(t.trim_start_matches('#').trim());
        let text = text.replace("**", "").replace('`', "");
        if text.is_empty() {
            if lines.last().is_some_and(|l| !l.is_empty()) {
                lines.push(String::new());
            }
            continue;
        }
        // Skip a title that repeats the package name or the summary.
        if lines.is_empty()
            && (t.starts_with('#') || text.trim_end_matches('.') == summary.trim_end_matches('.'))
        {
            continue;
        }
        lines.push(text);
        if lines.len() >= max_lines {
            break;
        }
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// `[text](url)` → `text`.
fn strip_links(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        match (after.find("]("), after.find(']')) {
            (Some(close), Some(first_close)) if close == first_close => {
                if let Some(end) = after[close + 2..].find(')') {
                    out.push_str(&rest[..start]);
                    out.push_str(&after[..close]);
                    rest = &after[close + 2 + end + 1..];
                    continue;
                }
                out.push_str(&rest[..=start]);
                rest = after;
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// lintian's `synopsis-too-long` limit.
pub const SYNOPSIS_MAX: usize = 80;

/// Where the extended description may come from, in order of preference (each is tried only
/// when the earlier ones are absent or only repeat the synopsis).
#[derive(Debug, Default)]
pub struct DescriptionSources {
    /// `extended-description` or the text of `extended-description-file`.
    pub configured: Option<String>,
    /// The README (Markdown).
    pub readme: Option<String>,
    /// The `//!` documentation of the crate's main source file (Markdown).
    pub crate_docs: Option<String>,
    /// The last resort, made from the package's metadata.
    pub generated: String,
}

/// The synopsis and the extended description of a package.
pub fn describe(
    package: &str,
    description: &str,
    sources: &DescriptionSources,
) -> (String, String) {
    let (synopsis, rest) = synopsis(package, description);
    let candidates = [
        rest,
        sources.configured.clone(),
        sources
            .readme
            .as_deref()
            .and_then(|md| description_from_markdown(md, &synopsis, 20)),
        sources
            .crate_docs
            .as_deref()
            .and_then(|md| description_from_markdown(md, &synopsis, 20)),
    ];
    let extended = candidates
        .into_iter()
        .flatten()
        .filter_map(|text| without_synopsis(&text, &synopsis))
        .next()
        .unwrap_or_else(|| sources.generated.clone());
    (synopsis, extended)
}

/// Lowercase letters and digits only: lintian's fuzzy comparison of a line with the synopsis.
fn fuzzy(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `text` without a first paragraph that only repeats the synopsis; `None` when nothing is left.
fn without_synopsis(text: &str, synopsis: &str) -> Option<String> {
    let text = text.trim();
    let first = text.split("\n\n").next().unwrap_or("");
    let first_joined = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let rest = if fuzzy(&first_joined) == fuzzy(synopsis)
        || fuzzy(first.lines().next().unwrap_or("")) == fuzzy(synopsis)
    {
        text[first.len()..].trim()
    } else {
        text
    };
    (!rest.is_empty()).then(|| rest.to_string())
}

/// Splits a `description` into a synopsis lintian accepts and the text that did not fit in it.
pub fn synopsis(package: &str, description: &str) -> (String, Option<String>) {
    let description = description.trim();
    let (first, rest) = match description.split_once('\n') {
        Some((first, rest)) if !rest.trim().is_empty() => (first.trim(), Some(rest.trim())),
        _ => (description, None),
    };
    let first = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut_rest = None;
    let mut line = first.clone();
    if line.chars().count() > SYNOPSIS_MAX {
        // A sentence that fits, else as many words as fit; the whole text then opens the
        // extended description, so nothing is lost.
        let fits = |s: &str| s.chars().count() <= SYNOPSIS_MAX;
        let sentence = line
            .match_indices(". ")
            .map(|(i, _)| &line[..i])
            .filter(|s| fits(s) && s.contains(' '))
            .last()
            .map(str::to_string);
        line = match sentence {
            Some(s) => {
                cut_rest = Some(line[s.len() + 1..].trim().to_string());
                s
            }
            None => {
                let mut out = String::new();
                for w in line.split(' ') {
                    let next = if out.is_empty() {
                        w.to_string()
                    } else {
                        format!("{out} {w}")
                    };
                    if !fits(&next) {
                        break;
                    }
                    out = next;
                }
                cut_rest = Some(line.clone());
                out.trim_end_matches([',', ';', ':', ' ']).to_string()
            }
        };
    }
    let line = tidy_synopsis(package, &line);
    let rest = match (cut_rest, rest) {
        (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
        (a, b) => a.or(b.map(str::to_string)),
    };
    (line, rest)
}

/// lintian's synopsis rules: not starting with the package name (`ripgrep is a search tool` →
/// `Search tool`), no leading article, more than one word, no trailing full stop.
fn tidy_synopsis(package: &str, line: &str) -> String {
    let mut s = line.trim().to_string();
    let lower = s.to_lowercase();
    let pkg = package.to_lowercase();
    if lower.starts_with(&pkg)
        && !lower[pkg.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    {
        let rest = s[pkg.len()..].trim_start_matches([' ', ':', ',', '-', '\u{2014}', '\u{2013}']);
        let rest = ["is ", "are ", "provides ", "- "]
            .iter()
            .find_map(|w| rest.strip_prefix(w))
            .unwrap_or(rest);
        s = rest.trim().to_string();
    }
    for article in ["a ", "an ", "the "] {
        if s.len() > article.len() && s[..article.len()].eq_ignore_ascii_case(article) {
            s = s[article.len()..].to_string();
            break;
        }
    }
    let s = s.trim().trim_end_matches('.').trim().to_string();
    let mut chars = s.chars();
    let s = match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    };
    // One word (or nothing left): lintian's description-too-short / description-is-pkg-name.
    if s.is_empty() || fuzzy(&s) == fuzzy(package) {
        return format!("Rust program {package}");
    }
    if !s.contains(' ') {
        return format!("{s} (Rust program)");
    }
    s
}

/// The `//!` documentation at the top of a Rust source file, as Markdown.
pub fn crate_docs(source: &str) -> Option<String> {
    let mut lines = Vec::new();
    for line in source.lines() {
        let t = line.trim_start();
        if let Some(doc) = t.strip_prefix("//!") {
            lines.push(doc.strip_prefix(' ').unwrap_or(doc).to_string());
        } else if t.is_empty() && lines.is_empty() || t.starts_with("#![") {
            continue;
        } else if !lines.is_empty() || !t.starts_with("//") {
            break;
        }
    }
    let text = lines.join("\n");
    (!text.trim().is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_and_description() {
        let c = Control {
            package: "p".into(),
            version: "1.0.0-1".into(),
            architecture: "arm64".into(),
            section: Some("utils".into()),
            priority: "optional".into(),
            maintainer: Some("A <a@b.c>".into()),
            installed_size: 12,
            depends: Some("libc6 (>= 2.34)".into()),
            conflicts: Some(" ".into()),
            description: "short".into(),
            extended_description: Some("para one\n\npara two".into()),
            ..Default::default()
        };
        assert_eq!(
            c.render(),
            "Package: p\nVersion: 1.0.0-1\nArchitecture: arm64\nSection: utils\nPriority: optional\nMaintainer: A <a@b.c>\nInstalled-Size: 12\nDepends: libc6 (>= 2.34)\nDescription: short\n para one\n .\n para two\n"
        );
    }

    #[test]
    fn wraps_long_lines() {
        let long = "word ".repeat(40);
        let d = description_field("s", Some(&long));
        assert!(
            d.lines()
                .skip(1)
                .all(|l| l.len() <= 80 && l.starts_with(' ')),
            "{d}"
        );
    }

    #[test]
    fn synopsis_rules() {
        // The issue's cases: a multi-line description, one that starts with the package name.
        let (s, rest) = synopsis("tool", "A fast tool.\nIt does things\nand more things.");
        assert_eq!(s, "Fast tool");
        assert_eq!(rest.as_deref(), Some("It does things\nand more things."));
        let (s, _) = synopsis("ripgrep", "ripgrep is a line-oriented search tool");
        assert_eq!(s, "Line-oriented search tool");
        let (s, _) = synopsis("tool", "Tool");
        assert_eq!(s, "Rust program tool");
        let (s, _) = synopsis("tool", "Searcher");
        assert_eq!(s, "Searcher (Rust program)");
        let long = "Blazing fast recursive search that respects your gitignore rules. It also searches archives and more and more.";
        let (s, rest) = synopsis("rg", long);
        assert_eq!(
            s,
            "Blazing fast recursive search that respects your gitignore rules"
        );
        assert_eq!(
            rest.as_deref(),
            Some("It also searches archives and more and more.")
        );
        let words = "word ".repeat(30);
        let (s, rest) = synopsis("x", &words);
        assert!(s.len() <= SYNOPSIS_MAX && s.len() > 70, "{s}");
        assert_eq!(rest.as_deref(), Some(words.trim()));
    }

    #[test]
    fn extended_never_empty_nor_a_repeat() {
        let sources = DescriptionSources {
            readme: Some("# tool\n\nFast tool\n".into()),
            crate_docs: Some("Fast tool.\n\nReads files and writes them.".into()),
            generated: "generated".into(),
            ..Default::default()
        };
        let (s, e) = describe("tool", "Fast tool", &sources);
        assert_eq!(
            (s.as_str(), e.as_str()),
            ("Fast tool", "Reads files and writes them.")
        );
        let (_, e) = describe(
            "tool",
            "Fast tool",
            &DescriptionSources {
                generated: "generated".into(),
                ..Default::default()
            },
        );
        assert_eq!(e, "generated");
        assert_eq!(
            crate_docs("#![forbid(unsafe_code)]\n//! Line one\n//!\n//! Two\nuse x;\n//! not this")
                .as_deref(),
            Some("Line one\n\nTwo")
        );
    }

    #[test]
    fn markdown_is_cleaned() {
        let md = "# tool\n\n[![ci](x)](y)\n\nA [fast](https://x) tool for **things**.\n\n```sh\ncargo install\n```\n\n## Usage\n\nRun it.\n";
        let d = description_from_markdown(md, "tool", 20).unwrap();
        assert_eq!(d, "A fast tool for things.\n\nUsage\n\nRun it.");
    }
}
