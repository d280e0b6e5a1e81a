//! The `control` file: field order and formatting as cargo-deb writes it, plus `Description`
//! layout rules of dpkg (continuation lines start with a space, blank lines are ` .`).

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
        let opts = textwrap::Options::new(78).break_words(false);
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
    fn markdown_is_cleaned() {
        let md = "# tool\n\n[![ci](x)](y)\n\nA [fast](https://x) tool for **things**.\n\n```sh\ncargo install\n```\n\n## Usage\n\nRun it.\n";
        let d = description_from_markdown(md, "tool", 20).unwrap();
        assert_eq!(d, "A fast tool for things.\n\nUsage\n\nRun it.");
    }
}
