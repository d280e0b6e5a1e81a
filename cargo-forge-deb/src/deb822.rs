//! deb822: the paragraph format of Debian control files, `Packages` indexes and `Release` files.
//!
//! Two views of the same text, for two jobs:
//! - [`Paragraph`] holds every field in order, for what we build or edit field by field (a
//!   package's control file, a `Release` file);
//! - [`RawStanza`] keeps one paragraph of an index as the text it was, with only the few fields
//!   an index update needs picked out. Updating a repository of thousands of packages re-reads
//!   every stanza of its index; scanning for six fields and copying the text back out verbatim is
//!   what keeps that cheap (no per-field allocation), and a stanza we did not change is written
//!   back byte for byte.
//!
//! Hand-written: the format is a few lines of rules (RFC 822-style fields, continuation lines
//! start with a space or tab, paragraphs separated by blank lines), and the crates that parse it
//! build a full field map per paragraph, which is the cost [`RawStanza`] exists to avoid.

use anyhow::{bail, Result};

/// One deb822 paragraph (a control file, a `Packages` stanza), fields in their order.
/// Values keep their continuation lines verbatim (`"first\n second line"`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field (names are case-insensitive), trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// Sets a field, replacing it in place or inserting it before `Description` (else at the end).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(slot) = self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            slot.1 = value;
            return;
        }
        let at = self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case("Description"))
            .unwrap_or(self.fields.len());
        self.fields.insert(at, (name.to_string(), value));
    }

    /// The paragraph as text, ending with a newline (no blank line).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.fields {
            s.push_str(k);
            s.push(':');
            if !v.starts_with('\n') {
                s.push(' ');
            }
            s.push_str(v);
            s.push('\n');
        }
        s
    }
}

/// Parses deb822 text into paragraphs. `what` names the source in errors.
pub fn parse_paragraphs(text: &str, what: &str) -> Result<Vec<Paragraph>> {
    let mut out = Vec::new();
    let mut cur = Paragraph::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some(last) = cur.fields.last_mut() else {
                bail!("{what}, line {}: continuation line without a field", n + 1);
            };
            last.1.push('\n');
            last.1.push_str(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            bail!(
                "{what}, line {}: expected `Field: value`, found `{line}`",
                n + 1
            );
        };
        cur.fields
            .push((name.trim().to_string(), value.trim().to_string()));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// The value of field `name` in the paragraph text `text` (first line only, trimmed), found by
/// scanning line starts; `None` when absent.
pub fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    for line in text.split('\n') {
        let bytes = line.as_bytes();
        if bytes.len() > name.len()
            && bytes[name.len()] == b':'
            && bytes[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            return Some(line[name.len() + 1..].trim());
        }
    }
    None
}

/// One paragraph of an index, as text ending with exactly one newline, and the fields an index
/// update needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawStanza {
    pub text: String,
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub filename: String,
    pub size: Option<u64>,
    pub sha256: String,
}

impl RawStanza {
    /// Picks the fields out of one paragraph's text (which must hold no blank line).
    pub fn new(text: String) -> RawStanza {
        let get = |name: &str| field(&text, name).unwrap_or_default().to_string();
        let size = field(&text, "Size").and_then(|s| s.parse().ok());
        RawStanza {
            package: get("Package"),
            version: get("Version"),
            architecture: get("Architecture"),
            filename: get("Filename"),
            sha256: get("SHA256"),
            size,
            text,
        }
    }

    /// A rendered [`Paragraph`] as a stanza.
    pub fn from_paragraph(p: &Paragraph) -> RawStanza {
        RawStanza::new(p.render())
    }
}

/// Splits index text into paragraphs (comment lines dropped, `\r\n` read as `\n`), each as a
/// [`RawStanza`]. `what` names the source in errors.
pub fn raw_stanzas(text: &str, what: &str) -> Result<Vec<RawStanza>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(RawStanza::new(std::mem::take(&mut cur)));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let continuation = line.starts_with(' ') || line.starts_with('\t');
        if (continuation && cur.is_empty()) || (!continuation && !line.contains(':')) {
            bail!(
                "{what}, line {}: expected `Field: value`, found `{line}`",
                n + 1
            );
        }
        cur.push_str(line);
        cur.push('\n');
    }
    if !cur.is_empty() {
        out.push(RawStanza::new(cur));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_round_trip() {
        let text = "Package: a\nDescription: x\n more\n .\n end\nDepends: b\n\nPackage: c\n";
        let ps = parse_paragraphs(text, "t").unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("description"), Some("x\n more\n .\n end"));
        let mut p = ps[0].clone();
        p.set("Filename", "pool/x");
        assert_eq!(
            p.render(),
            "Package: a\nFilename: pool/x\nDescription: x\n more\n .\n end\nDepends: b\n"
        );
        assert!(parse_paragraphs(" orphan\n", "t").is_err());
    }

    #[test]
    fn raw_stanzas_pick_fields_and_keep_text() {
        let text = "Package: a\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/main/a/a/a_1.0_amd64.deb\n\
                    Size: 42\nSHA256: ab\nDescription: x\n Size: 7\n\n\n# note\nPackage: c\r\nsize: 9\r\n";
        let s = raw_stanzas(text, "t").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (
                s[0].package.as_str(),
                s[0].version.as_str(),
                s[0].architecture.as_str()
            ),
            ("a", "1.0", "amd64")
        );
        assert_eq!(s[0].size, Some(42), "a continuation line is not a field");
        assert_eq!(s[0].filename, "pool/main/a/a/a_1.0_amd64.deb");
        assert!(s[0].text.ends_with(" Size: 7\n"));
        assert_eq!(s[1].text, "Package: c\nsize: 9\n");
        assert_eq!(s[1].size, Some(9), "field names are case-insensitive");
        assert!(raw_stanzas(" orphan\n", "t").is_err());
        assert!(raw_stanzas("no colon\n", "t").is_err());
        let p = &parse_paragraphs(&s[0].text, "t").unwrap()[0];
        assert_eq!(RawStanza::from_paragraph(p), s[0]);
    }
}
