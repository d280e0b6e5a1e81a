//! Keeps the codebase honest (rust-analyzer's `tidy`): module docs everywhere, no debug macros, no
//! todo macros outside tests, no `println!` in libraries (output goes through `Shell`), and the docs
//! mention every subcommand.

use forge_tests::workspace_root;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name == "fixtures" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_file_has_module_docs_and_no_debug_leftovers() {
    let root = workspace_root();
    let mut files = Vec::new();
    for d in [
        "forge-core",
        "cargo-forge-deb",
        "cargo-forge-image",
        "cargo-forge-release",
        "xtask",
        "tests",
    ] {
        rust_files(&root.join(d), &mut files);
    }
    assert!(files.len() > 20);
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!("{rel}: missing `//!` module docs at the top"));
        }
        let dbg = ["dbg", "!("].concat();
        if text.contains(&dbg) {
            problems.push(format!("{rel}: contains {dbg}"));
        }
        let code = text.split("#[cfg(test)]").next().unwrap();
        let todo = ["todo", "!("].concat();
        if code.contains(&todo) {
            problems.push(format!("{rel}: contains {todo} outside tests"));
        }
        let is_lib = !rel.starts_with("xtask")
            && !rel.starts_with("tests")
            && !rel.ends_with("main.rs")
            && !rel.ends_with("build.rs");
        if is_lib && (code.contains("println!(") || code.contains("eprintln!(")) {
            problems.push(format!("{rel}: prints directly; use `Shell`"));
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn docs_mention_every_subcommand_and_exist() {
    let root = workspace_root();
    let mut all = String::new();
    for f in [
        "README.md",
        "ARCHITECTURE.md",
        "docs/deb.md",
        "docs/image.md",
    ] {
        let p = root.join(f);
        all.push_str(&std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{f} is missing")));
    }
    for cmd in [
        "cargo forge-deb",
        "cargo forge-deb repo",
        "cargo forge-image",
        "cargo forge-release",
        "cargo xtask demo",
        "cargo xtask test",
        "cargo xtask setup",
    ] {
        assert!(all.contains(cmd), "the docs never mention `{cmd}`");
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let demo = readme
        .find("cargo xtask demo")
        .expect("README shows cargo xtask demo");
    let test = readme
        .find("cargo xtask test")
        .expect("README shows cargo xtask test");
    assert!(
        demo < 1500 && test < 1500,
        "the README must open with the two set-up commands"
    );
}

#[test]
fn every_deb_metadata_key_is_documented() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/deb.md")).unwrap();
    let src = std::fs::read_to_string(root.join("cargo-forge-deb/src/manifest.rs")).unwrap();
    let body = src
        .split("pub struct DebMetadata {")
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap();
    for line in body.lines() {
        let Some(field) = line
            .trim()
            .strip_prefix("pub ")
            .and_then(|l| l.split(':').next())
        else {
            continue;
        };
        let key = field.replace('_', "-");
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/deb.md does not document `{key}`"
        );
    }
}
