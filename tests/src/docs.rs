//! The configuration reference of the book (docs/src/reference/config.md), rendered from the
//! config types of the three commands and forge-core (see `forge_core::reference`). The tidy test
//! compares it with the committed page; `cargo xtask docs` writes it through the
//! `forge-docs` binary. Also the book's link check ([`check_links`]) and the extraction of the
//! README's tested code blocks ([`marked_code_blocks`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use forge_core::reference::{render, Rendered};
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// Where the page lives, relative to the workspace root.
pub const CONFIG_REFERENCE_PATH: &str = "docs/src/reference/config.md";

const PREAMBLE: &str = "\
# Configuration reference

<!-- Generated from the config types by `cargo xtask docs`; edit the `///` doc comments in the
code, not this file. -->

Every key cargo-forge reads from `Cargo.toml`, generated from the code, so it is complete and
current. All keys are optional unless marked required. Unknown keys and values of the wrong type
are errors (exit code 2) that name the file and the key, reported before anything is built.

Where a setting comes from, last one wins: `[workspace.metadata.forge]`, then
`[package.metadata.forge]`, then the command line. `[package.metadata.deb]` is cargo-deb's table
and is read from the package only.";

/// The whole page, and the keys that lack a doc comment.
pub fn config_reference() -> Rendered {
    let mut tables = forge_core::config::reference_tables();
    tables.extend(cargo_forge_deb::manifest::reference_tables());
    tables.extend(cargo_forge_image::config::reference_tables());
    tables.extend(cargo_forge_release::config::reference_tables());
    render(PREAMBLE, &tables)
}

/// Link problems in the book (docs/src), README.md and ARCHITECTURE.md: relative links to files
/// that do not exist, anchors no heading of the target has, book pages missing from SUMMARY.md
/// (mdbook would not render them, so links to them break), and book links leaving docs/src
/// (mdbook copies only src/). mdbook itself checks none of this.
pub fn check_links(root: &Path) -> Vec<String> {
    let book = root.join("docs/src");
    let mut pages = Vec::new();
    markdown_files(&book, &mut pages);
    pages.sort();
    let summary_path = book.join("SUMMARY.md");
    let mut problems = Vec::new();
    let summary: BTreeSet<PathBuf> = match std::fs::read_to_string(&summary_path) {
        Ok(text) => parse(&text)
            .links
            .iter()
            .filter(|l| !is_external(l))
            .map(|l| normalize(&book.join(l.split('#').next().unwrap_or(""))))
            .collect(),
        Err(_) => {
            problems.push("docs/src/SUMMARY.md is missing".to_owned());
            BTreeSet::new()
        }
    };
    for page in &pages {
        if *page != summary_path && !summary.contains(page) {
            problems.push(format!(
                "{}: not listed in docs/src/SUMMARY.md, so not in the book",
                rel(root, page)
            ));
        }
    }
    let mut files = pages.clone();
    files.extend([root.join("README.md"), root.join("ARCHITECTURE.md")]);
    let mut ids_cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            problems.push(format!("{} is missing", rel(root, file)));
            continue;
        };
        let parsed = parse(&text);
        ids_cache.insert(file.clone(), parsed.ids.clone());
        let in_book = file.starts_with(&book);
        for link in &parsed.links {
            if is_external(link) {
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                normalize(&file.parent().unwrap_or(root).join(path))
            };
            let where_ = rel(root, file);
            if !target.exists() {
                problems.push(format!("{where_}: broken link `{link}`"));
                continue;
            }
            if in_book && !target.starts_with(&book) {
                problems.push(format!(
                    "{where_}: `{link}` leaves docs/src, so it breaks in the rendered book \
                     (link to the repository's URL instead)"
                ));
                continue;
            }
            if in_book
                && target.extension().is_some_and(|e| e == "md")
                && !summary.contains(&target)
            {
                problems.push(format!(
                    "{where_}: `{link}` points to a page that is not in SUMMARY.md"
                ));
            }
            if let Some(anchor) = anchor.filter(|a| !a.is_empty()) {
                if target.extension().is_some_and(|e| e == "md") {
                    let ids = ids_cache.entry(target.clone()).or_insert_with(|| {
                        parse(&std::fs::read_to_string(&target).unwrap_or_default()).ids
                    });
                    if !ids.contains(anchor) {
                        problems.push(format!(
                            "{where_}: `{link}`: no heading with id `{anchor}` in {}",
                            rel(root, &target)
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// The code blocks of `markdown` that directly follow an HTML comment starting with `marker`
/// (e.g. `<!-- readme-test: … -->`), with the comment's text.
pub fn marked_code_blocks(markdown: &str, marker: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    let mut in_block: Option<(String, String)> = None;
    for event in Parser::new_ext(markdown, Options::empty()) {
        match event {
            Event::Html(html) | Event::InlineHtml(html) => {
                let t = html.trim();
                if let Some(rest) = t.strip_prefix("<!--").map(str::trim_start) {
                    if let Some(body) = rest.strip_prefix(marker) {
                        let body = body.trim_end().trim_end_matches("-->").trim();
                        pending = Some(body.to_owned());
                    }
                }
            }
            Event::Start(Tag::CodeBlock(_)) => {
                if let Some(p) = pending.take() {
                    in_block = Some((p, String::new()));
                }
            }
            Event::Text(text) => {
                if let Some((_, code)) = in_block.as_mut() {
                    code.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(done) = in_block.take() {
                    out.push(done);
                }
            }
            Event::Start(Tag::Paragraph) | Event::Start(Tag::Heading { .. }) => pending = None,
            _ => {}
        }
    }
    out
}

/// Every `cargo forge-…` command line in the shell code blocks (and the `run:` steps of the YAML
/// blocks) of the book and the README, with the file it is in: each `&&`/`;`/`|` part of a line that starts with `cargo forge-`, the
/// trailing `# comment` removed, split as a shell splits it (shell variables stay as words).
pub fn documented_commands(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut files = Vec::new();
    markdown_files(&root.join("docs/src"), &mut files);
    files.sort();
    files.push(root.join("README.md"));
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut in_sh = false;
        let mut in_yaml = false;
        for event in Parser::new_ext(&text, Options::empty()) {
            match event {
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) => {
                    in_sh = matches!(lang.as_ref(), "sh" | "bash" | "shell" | "console");
                    in_yaml = matches!(lang.as_ref(), "yaml" | "yml");
                }
                Event::End(TagEnd::CodeBlock) => {
                    in_sh = false;
                    in_yaml = false;
                }
                Event::Text(block) if in_sh || in_yaml => {
                    for line in block.lines() {
                        let line = if in_yaml {
                            match line
                                .trim_start()
                                .trim_start_matches("- ")
                                .strip_prefix("run: ")
                            {
                                Some(run) => run,
                                None => continue,
                            }
                        } else {
                            line
                        };
                        let code = match line.find(" #") {
                            Some(i) => &line[..i],
                            None => line,
                        };
                        for part in code.split(&['&', ';', '|'][..]) {
                            let part = part.trim();
                            if !part.starts_with("cargo forge-") {
                                continue;
                            }
                            let words = shlex::split(part)
                                .unwrap_or_else(|| vec![format!("unbalanced quotes in `{part}`")]);
                            out.push((rel(root, &file), words));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The ```toml blocks of the book and the README, with the file each is in.
pub fn documented_toml(root: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    markdown_files(&root.join("docs/src"), &mut files);
    files.sort();
    files.push(root.join("README.md"));
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut block: Option<String> = None;
        for event in Parser::new_ext(&text, Options::empty()) {
            match event {
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang)))
                    if lang.as_ref() == "toml" =>
                {
                    block = Some(String::new())
                }
                Event::Text(t) => {
                    if let Some(b) = block.as_mut() {
                        b.push_str(&t);
                    }
                }
                Event::End(TagEnd::CodeBlock) => {
                    if let Some(b) = block.take() {
                        out.push((rel(root, &file), b));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The heading id mdbook (and, for these headings, GitHub) gives a heading's text.
pub fn heading_id(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c)
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

struct Parsed {
    links: Vec<String>,
    ids: BTreeSet<String>,
}

fn parse(markdown: &str) -> Parsed {
    let mut links = Vec::new();
    let mut ids = BTreeSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::Start(Tag::Heading { id, .. }) => {
                heading = Some(String::new());
                if let Some(id) = id {
                    ids.insert(id.to_string());
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(h) = heading.take() {
                    let id = heading_id(&h);
                    let mut unique = id.clone();
                    let mut n = 1;
                    while !ids.insert(unique.clone()) {
                        unique = format!("{id}-{n}");
                        n += 1;
                    }
                }
            }
            _ => {}
        }
    }
    Parsed { links, ids }
}

fn is_external(link: &str) -> bool {
    link.contains("://") || link.starts_with("mailto:")
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            markdown_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn link_check_finds_every_kind_of_broken_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "docs/src/SUMMARY.md",
            "# Summary\n\n- [A](a.md)\n- [B](sub/b.md)\n",
        );
        write(
            root,
            "docs/src/a.md",
            "# A\n\n## Some `code` heading\n\n[ok](sub/b.md#the-b) [self](#some-code-heading) \
             [gone](missing.md) [anchor](sub/b.md#nope) [orphan](orphan.md) \
             [out](../../README.md) [web](https://example.com/x.md)\n\n```sh\n[not](a-link.md)\n```\n",
        );
        write(root, "docs/src/sub/b.md", "# The B\n\n[up](../a.md#a)\n");
        write(root, "docs/src/orphan.md", "# Orphan\n");
        write(
            root,
            "README.md",
            "[guide](docs/src/a.md) [bad](docs/nothing.md)\n",
        );
        write(root, "ARCHITECTURE.md", "# Architecture\n");
        let problems = check_links(root);
        let expected = [
            "docs/src/orphan.md: not listed in docs/src/SUMMARY.md, so not in the book",
            "docs/src/a.md: broken link `missing.md`",
            "docs/src/a.md: `sub/b.md#nope`: no heading with id `nope` in docs/src/sub/b.md",
            "docs/src/a.md: `orphan.md` points to a page that is not in SUMMARY.md",
            "docs/src/a.md: `../../README.md` leaves docs/src, so it breaks in the rendered book \
             (link to the repository's URL instead)",
            "README.md: broken link `docs/nothing.md`",
        ];
        for e in expected {
            assert!(
                problems.iter().any(|p| p == e),
                "missing `{e}` in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn marked_blocks_and_heading_ids() {
        let md = "text\n\n<!-- readme-test: in a copy -->\n```sh\ncargo a\ncargo b\n```\n\n\
                  ```sh\nnot marked\n```\n";
        assert_eq!(
            marked_code_blocks(md, "readme-test:"),
            [("in a copy".to_owned(), "cargo a\ncargo b\n".to_owned())]
        );
        assert_eq!(heading_id("`[package.metadata.deb]`"), "packagemetadatadeb");
        assert_eq!(
            heading_id("Differences from cargo-deb (the improvements)"),
            "differences-from-cargo-deb-the-improvements"
        );
    }
}
