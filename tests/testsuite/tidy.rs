//! Keeps the codebase honest (rust-analyzer's `tidy`): module docs everywhere, no debug macros, no
//! todo macros outside tests, no `println!` in libraries (output goes through `Shell`), the docs
//! mention every subcommand, the generated configuration reference is current, the book's links
//! resolve, and the book builds without warnings. It also checks the invariants ARCHITECTURE.md
//! states about the code: subprocesses only through `forge_core::process`, HTTP only through
//! `forge_core::http`, archives only through `forge_core::archive`, and module docs and the book
//! naming only files that exist. Each of these rules is a function of (path, text), so a unit test
//! below plants a violation and shows the rule catches it.

use forge_tests::docs::{
    check_links, config_reference, documented_commands, documented_toml, CONFIG_REFERENCE_PATH,
};
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

/// The Rust sources under `dirs` (of the workspace root): (path from the root, text).
fn sources(dirs: &[&str]) -> Vec<(String, String)> {
    let root = workspace_root();
    let mut files = Vec::new();
    for d in dirs {
        rust_files(&root.join(d), &mut files);
    }
    assert!(
        files.len() > 20,
        "only {} files under {dirs:?}",
        files.len()
    );
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let rel = f.strip_prefix(&root).unwrap().display().to_string();
            (rel, text)
        })
        .collect()
}

#[test]
fn every_file_has_module_docs_and_no_debug_leftovers() {
    let mut problems = Vec::new();
    for (rel, text) in &sources(&[
        "forge-core",
        "cargo-forge-deb",
        "cargo-forge-image",
        "cargo-forge-release",
        "cargo-forge-rpm",
        "xtask",
        "tests",
    ]) {
        let (rel, text) = (rel.as_str(), text.as_str());
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
            && !rel.ends_with("build.rs")
            // `tests.rs` files are `#[cfg(test)] mod tests;` modules.
            && !rel.ends_with("/tests.rs");
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
        "docs/src/deb.md",
        "docs/src/rpm.md",
        "docs/src/image.md",
        "docs/src/release.md",
        "docs/src/getting-started.md",
    ] {
        let p = root.join(f);
        all.push_str(&std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{f} is missing")));
    }
    for cmd in [
        "cargo forge-deb",
        "cargo forge-deb repo",
        "cargo forge-rpm",
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
    let doc = std::fs::read_to_string(root.join(CONFIG_REFERENCE_PATH)).unwrap();
    let keys = forge_core::reference::keys_of::<cargo_forge_deb::manifest::DebMetadata>();
    assert!(keys.len() >= 33, "{keys:?}");
    for key in keys {
        assert!(
            doc.contains(&format!("### `package.metadata.deb.{key}`")),
            "{CONFIG_REFERENCE_PATH} does not document `{key}`: run `cargo xtask docs`"
        );
    }
}

#[test]
fn config_reference_is_current_and_every_key_documented() {
    let page = config_reference();
    assert!(
        page.undocumented.is_empty(),
        "these config keys have no `///` doc comment (it becomes their description in \
         {CONFIG_REFERENCE_PATH}):\n  {}",
        page.undocumented.join("\n  ")
    );
    let path = workspace_root().join(CONFIG_REFERENCE_PATH);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != page.markdown {
        let first = committed
            .lines()
            .zip(page.markdown.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| committed.lines().count().min(page.markdown.lines().count()) + 1);
        panic!(
            "{CONFIG_REFERENCE_PATH} is stale (first difference at line {first}): \
             run `cargo xtask docs` and commit the result"
        );
    }
}

#[test]
fn book_and_readme_links_resolve() {
    let problems = check_links(&workspace_root());
    assert!(
        problems.is_empty(),
        "broken links:\n  {}",
        problems.join("\n  ")
    );
}

/// The book builds with mdbook (`FORGE_MDBOOK`, set by `cargo xtask test`) without a warning.
#[test]
fn book_builds_without_warnings() {
    let Some(mdbook) = std::env::var_os("FORGE_MDBOOK").map(PathBuf::from) else {
        if forge_tests::e2e_required() {
            panic!("FORGE_MDBOOK is not set: run the tests with `cargo xtask test`");
        }
        eprintln!("skipping: FORGE_MDBOOK is not set (`cargo xtask test` sets it)");
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&mdbook)
        .arg("build")
        .arg(workspace_root().join("docs"))
        .arg("--dest-dir")
        .arg(out_dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("failed to run `{}`: {e}", mdbook.display()));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mdbook build failed:\n{log}");
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(
        warnings.is_empty(),
        "mdbook warned:\n{}",
        warnings.join("\n")
    );
    for page in [
        "index.html",
        "getting-started.html",
        "reference/config.html",
        "troubleshooting.html",
    ] {
        assert!(out_dir.path().join(page).is_file(), "the book lacks {page}");
    }
}

/// Every `cargo forge-…` command shown in a shell block of the book or the README parses with the
/// command's own clap parser, so the docs cannot show a flag that does not exist.
#[test]
fn documented_commands_parse_with_the_real_cli() {
    use clap::Parser;
    let commands = documented_commands(&workspace_root());
    assert!(
        commands.len() >= 40,
        "only {} commands found",
        commands.len()
    );
    let mut problems = Vec::new();
    for (file, words) in &commands {
        let result = match words[1].as_str() {
            "forge-deb" => cargo_forge_deb::cli::Cargo::try_parse_from(words).map(drop),
            "forge-image" => cargo_forge_image::cli::Cargo::try_parse_from(words).map(drop),
            "forge-release" => cargo_forge_release::cli::Cargo::try_parse_from(words).map(drop),
            "forge-rpm" => cargo_forge_rpm::cli::Cargo::try_parse_from(words).map(drop),
            other => {
                problems.push(format!(
                    "{file}: `{}`: no command `cargo {other}`",
                    words.join(" ")
                ));
                continue;
            }
        };
        if let Err(e) = result {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            problems.push(format!("{file}: `{}`: {first}", words.join(" ")));
        }
    }
    assert!(
        problems.is_empty(),
        "documented commands the CLI rejects:\n  {}",
        problems.join("\n  ")
    );
}

/// Every config table shown in a ```toml block of the book or the README is accepted by the type
/// that reads it (unknown keys are errors there), so the docs cannot show a key that does not
/// exist or a value of the wrong type. A block that is a fragment (keys without their table
/// header) is parsed as the table its keys belong to when it names one of the known keys.
#[test]
fn documented_config_tables_parse() {
    use cargo_forge_deb::manifest::{DebMetadata, ForgeDebConfig};
    use cargo_forge_image::config::ImageConfig;
    use cargo_forge_release::config::ReleaseConfig;
    use forge_core::config::{parse_table, ForgeLayer};
    use serde_json::Value;

    let blocks = documented_toml(&workspace_root());
    assert!(blocks.len() >= 8, "only {} toml blocks", blocks.len());
    let manifest = Path::new("Cargo.toml");
    let mut checked = 0;
    let mut problems = Vec::new();
    for (file, text) in &blocks {
        let value: Value = match toml::from_str::<toml::Value>(text) {
            Ok(v) => serde_json::to_value(v).unwrap(),
            Err(e) => {
                problems.push(format!("{file}: not valid TOML: {e}\n{text}"));
                continue;
            }
        };
        // Fragments: a lone `hosts = [...]` is part of the release table.
        let value = if value.get("package").is_none() && value.get("workspace").is_none() {
            if value.get("hosts").is_some() {
                serde_json::json!({"package": {"metadata": {"forge": {"release": value}}}})
            } else {
                continue;
            }
        } else {
            value
        };
        let mut check = |table: &str, v: &Value| {
            let result = match table {
                "deb" => parse_table::<DebMetadata>(v, manifest, table).map(drop),
                "forge" => parse_table::<ForgeLayer>(v, manifest, table).map(drop),
                "forge.deb" => parse_table::<ForgeDebConfig>(v, manifest, table).map(drop),
                "forge.image" => parse_table::<ImageConfig>(v, manifest, table).map(drop),
                "forge.release" => parse_table::<ReleaseConfig>(v, manifest, table).map(drop),
                "forge.vm" => {
                    parse_table::<cargo_forge_image::vm::config::VmConfig>(v, manifest, table)
                        .map(drop)
                }
                _ => unreachable!(),
            };
            checked += 1;
            if let Err(e) = result {
                problems.push(format!("{file}: {e:#}"));
            }
        };
        for scope in ["package", "workspace"] {
            let Some(meta) = value.get(scope).and_then(|p| p.get("metadata")) else {
                continue;
            };
            if let Some(deb) = meta.get("deb") {
                check("deb", deb);
            }
            if let Some(forge) = meta.get("forge") {
                check("forge", forge);
                for sub in ["deb", "image", "release", "vm"] {
                    if let Some(t) = forge.get(sub) {
                        check(&format!("forge.{sub}"), t);
                    }
                }
            }
        }
    }
    assert!(checked >= 8, "only {checked} tables checked");
    assert!(
        problems.is_empty(),
        "config in the docs that cargo-forge rejects:\n  {}",
        problems.join("\n  ")
    );
}

/// The product crates, whose non-test code the architecture rules govern. `xtask` (std only: it
/// installs the tools the rest of the suite runs) and `tests` (which drive the real binaries and
/// tools as a user would) are exempt, as is test code (`#[cfg(test)]`, `tests.rs` modules).
const PRODUCT_CRATES: &[&str] = &[
    "forge-core",
    "cargo-forge-deb",
    "cargo-forge-image",
    "cargo-forge-release",
    "cargo-forge-rpm",
];

/// A rule of ARCHITECTURE.md's invariants: none of `needles` in non-test product code outside
/// the one module that owns the thing (`owner`: its path without `.rs`, so that a module split
/// into a directory, `owner/…`, still owns it).
struct CodeRule {
    needles: &'static [&'static str],
    owner: &'static str,
    fix: &'static str,
}

const CODE_RULES: &[CodeRule] = &[
    CodeRule {
        needles: &[
            "std::process::Command",
            "process::Command::new",
            "Command::new(",
        ],
        owner: "forge-core/src/process",
        fix: "run subprocesses with `forge_core::process::Cmd`",
    },
    CodeRule {
        needles: &["ureq::", "use ureq"],
        owner: "forge-core/src/http",
        fix: "make HTTP requests with `forge_core::http::HttpClient`",
    },
    CodeRule {
        needles: &[
            "tar::Builder",
            "zip::ZipWriter",
            "ar::Builder",
            "ar::Header::new",
        ],
        owner: "forge-core/src/archive",
        fix: "write archives with `forge_core::archive` (`write_tar`, `write_zip`, `ArWriter`)",
    },
];

/// The non-test part of a source file: what comes before its first `#[cfg(test)]`, nothing for a
/// `tests.rs` module or a file under a `tests/` directory of a crate.
fn non_test_code<'a>(rel: &str, text: &'a str) -> &'a str {
    if rel.ends_with("/tests.rs") || rel.contains("/tests/") {
        return "";
    }
    text.split("#[cfg(test)]").next().unwrap_or("")
}

/// The violations of [`CODE_RULES`] in one product source file (`rel`: its path from the root).
fn code_rule_violations(rel: &str, text: &str) -> Vec<String> {
    let code = non_test_code(rel, text);
    let mut problems = Vec::new();
    for rule in CODE_RULES {
        if rel == format!("{}.rs", rule.owner) || rel.starts_with(&format!("{}/", rule.owner)) {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            // clap's `Command` is not a subprocess.
            let line = line.replace("clap::Command::new(", "");
            if let Some(needle) = rule.needles.iter().find(|needle| line.contains(**needle)) {
                problems.push(format!(
                    "{rel}:{}: `{needle}` outside `{}`: {}",
                    n + 1,
                    rule.owner,
                    rule.fix
                ));
            }
        }
    }
    problems
}

#[test]
fn subprocesses_http_and_archives_only_through_their_modules() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for (rel, text) in &sources(PRODUCT_CRATES) {
        problems.extend(code_rule_violations(rel, text));
    }
    // The HTTP client's crate is a dependency of forge-core only.
    for d in PRODUCT_CRATES.iter().chain(&["xtask", "tests"]) {
        let manifest = std::fs::read_to_string(root.join(d).join("Cargo.toml")).unwrap();
        if *d != "forge-core" && manifest.lines().any(|l| l.trim_start().starts_with("ureq")) {
            problems.push(format!(
                "{d}/Cargo.toml: depends on ureq: use `forge_core::http::HttpClient`"
            ));
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn code_rules_catch_planted_violations() {
    let planted = [
        (
            "cargo-forge-deb/src/lint.rs",
            "//! x\nfn f() { let _ = std::process::Command::new(\"lintian\").status(); }\n",
            "forge_core::process::Cmd",
        ),
        (
            "forge-core/src/archive.rs",
            "//! x\nuse std::process::Command;\n",
            "forge_core::process::Cmd",
        ),
        (
            "cargo-forge-image/src/registry.rs",
            "//! x\nfn f() { let _ = ureq::get(\"http://x\").call(); }\n",
            "HttpClient",
        ),
        (
            "cargo-forge-release/src/artifacts.rs",
            "//! x\nfn f(w: W) { let z = zip::ZipWriter::new_stream(w); }\n",
            "forge_core::archive",
        ),
        (
            "cargo-forge-deb/src/writer.rs",
            "//! x\nfn f(w: W) { let z = ar::Builder::new(w); }\n",
            "forge_core::archive",
        ),
        (
            "cargo-forge-image/src/layer.rs",
            "//! x\nfn f(w: W) { let z = tar::Builder::new(w); }\n",
            "forge_core::archive",
        ),
    ];
    for (rel, text, fix) in planted {
        let problems = code_rule_violations(rel, text);
        assert_eq!(problems.len(), 1, "{rel}: {problems:?}");
        assert!(problems[0].contains(fix), "{problems:?}");
        assert!(
            problems[0].starts_with(&format!("{rel}:2: ")),
            "{problems:?}"
        );
    }
    // The owners, test code, comments and clap's `Command` are not violations.
    let allowed = [
        (
            "forge-core/src/process.rs",
            "fn f() { std::process::Command::new(\"x\"); }",
        ),
        (
            "forge-core/src/http/transfer.rs",
            "fn f() { ureq::get(\"http://x\"); }",
        ),
        (
            "forge-core/src/archive.rs",
            "fn f(w: W) { zip::ZipWriter::new_stream(w); }",
        ),
        (
            "forge-core/src/help.rs",
            "fn f() { clap::Command::new(\"cargo\"); }",
        ),
        (
            "cargo-forge-deb/src/writer.rs",
            "// not std::process::Command::new\n#[cfg(test)]\nmod t { fn f() { std::process::Command::new(\"x\"); } }",
        ),
        (
            "cargo-forge-deb/src/repo/tests.rs",
            "fn f() { std::process::Command::new(\"x\"); }",
        ),
    ];
    for (rel, text) in allowed {
        assert_eq!(
            code_rule_violations(rel, text),
            Vec::<String>::new(),
            "{rel}"
        );
    }
}

/// Files named in prose that are the user's, not ours (a crate's changelog, its build script),
/// and so need not exist in this repository.
/// And files of other projects a module cites (rpm.org's format description, in the rpm writer).
const USER_FILES: &[&str] = &["CHANGELOG.md", "build.rs", "docs/manual/format.md"];

/// Every path of the repository, relative to its root, with `/` separators (`target`, hidden
/// directories and the example crates' build output excluded).
fn repository_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// The `.md` and `.rs` files `text` names (in a module doc, in the book) that are not in the
/// repository. `rel` is the citing file's path from the root; a name resolves from the root,
/// from the citing file's directory, or as the tail of a repository path (`hosts/s3.rs`,
/// `main.rs`). Generated files (`target/…`) and [`USER_FILES`] are not checked.
fn missing_files_named(rel: &str, text: &str, files: &[String]) -> Vec<String> {
    let dir = Path::new(rel).parent().unwrap_or(Path::new(""));
    let mut missing = Vec::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || "._/-".contains(c))) {
        let word = word.trim_end_matches('.');
        if !(word.ends_with(".md") || word.ends_with(".rs"))
            || word.starts_with("target/")
            || USER_FILES.contains(&word)
            || word.contains("//")
            // An extension named on its own ("`.md` files").
            || word.rsplit('/').next().is_some_and(|name| name.starts_with('.'))
        {
            continue;
        }
        // `../deb.md` from `docs/src/recipes/x.md`: normalise against the citing directory.
        let mut joined = Vec::<String>::new();
        for part in dir.join(word).to_string_lossy().split('/') {
            match part {
                ".." => {
                    joined.pop();
                }
                "." | "" => {}
                p => joined.push(p.to_owned()),
            }
        }
        let relative = joined.join("/");
        let tail = format!("/{}", word.trim_start_matches("./"));
        let found = files
            .iter()
            .any(|f| f == word || *f == relative || f.ends_with(&tail));
        if !found && !missing.contains(&word.to_owned()) {
            missing.push(word.to_owned());
        }
    }
    missing
}

#[test]
fn module_docs_and_the_book_name_only_files_that_exist() {
    let root = workspace_root();
    let files = repository_files(&root);
    let mut problems = Vec::new();
    let dirs: Vec<&str> = PRODUCT_CRATES
        .iter()
        .chain(&["xtask", "tests"])
        .copied()
        .collect();
    for (rel, text) in &sources(&dirs) {
        let docs: String = text
            .lines()
            .filter(|l| l.trim_start().starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        for m in missing_files_named(&rel, &docs, &files) {
            problems.push(format!(
                "{rel}: its module doc names `{m}`, which is not in the repository"
            ));
        }
    }
    let book: Vec<&String> = files
        .iter()
        .filter(|f| {
            (f.starts_with("docs/src/") && f.ends_with(".md"))
                || *f == "README.md"
                || *f == "ARCHITECTURE.md"
        })
        .collect();
    assert!(book.len() > 10, "only {} pages", book.len());
    for rel in book {
        let text = std::fs::read_to_string(root.join(rel)).unwrap();
        for m in missing_files_named(rel, &text, &files) {
            problems.push(format!(
                "{rel}: names `{m}`, which is not in the repository"
            ));
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn missing_file_rule_catches_a_planted_citation() {
    let files: Vec<String> = [
        "README.md",
        "docs/src/deb.md",
        "docs/src/recipes/cross.md",
        "cargo-forge-release/src/hosts/s3.rs",
        "xtask/src/main.rs",
    ]
    .map(String::from)
    .to_vec();
    // A planted citation of a document that is not in the repository.
    assert_eq!(
        missing_files_named(
            "forge-core/src/http/mod.rs",
            "//! The retry policy (design.md §6).",
            &files
        ),
        vec!["design.md".to_owned()]
    );
    assert_eq!(
        missing_files_named("docs/src/deb.md", "see [x](recipes/gone.md).", &files),
        vec!["recipes/gone.md".to_owned()]
    );
    // Names that resolve: from the root, from the citing directory, as a path's tail; generated
    // and user files are not checked.
    for (rel, text) in [
        (
            "docs/src/recipes/cross.md",
            "[deb](../deb.md) and [this](cross.md)",
        ),
        (
            "forge-core/src/lib.rs",
            "//! `README.md`, `docs/src/deb.md`, `hosts/s3.rs`, `main.rs`.",
        ),
        (
            "xtask/src/corpus.rs",
            "//! writes `target/xtask/corpus/results.md` from `CHANGELOG.md`",
        ),
        ("docs/src/deb.md", "https://example.com/a/b.md is a link"),
        ("ARCHITECTURE.md", "name only `.md` and `.rs` files"),
    ] {
        assert_eq!(
            missing_files_named(rel, text, &files),
            Vec::<String>::new(),
            "{rel}: {text}"
        );
    }
}

/// The most lines a non-test source file holds (issue 14): past that a module holds several
/// things and is split along its seams (its unit tests may move to a sibling `tests.rs`).
const MAX_FILE_LINES: usize = 800;
/// The most lines a non-test function holds, from `fn` to its closing brace: past that it is a
/// pipeline whose steps deserve names.
const MAX_FN_LINES: usize = 150;

/// Exceptions to the size rule: (path, or a directory ending in `/`; the function, or `None` for
/// the whole file: its size and every function in it). Each says why.
const SIZE_ALLOWED: &[(&str, Option<&str>)] = &[
    // A data table: one arm per target triple (Debian architecture, linker, qemu, …); split, the
    // table would be harder to read and to check against Debian's list.
    ("forge-core/src/target.rs", Some("lookup")),
];

/// Whether [`SIZE_ALLOWED`] exempts `function` (`None`: the file's own size) of `rel`.
fn size_allowed(rel: &str, function: Option<&str>) -> bool {
    SIZE_ALLOWED.iter().any(|(path, allowed)| {
        let file = if path.ends_with('/') {
            rel.starts_with(path)
        } else {
            rel == *path
        };
        file && (allowed.is_none() || (function.is_some() && *allowed == function))
    })
}

/// Whether attributes mark test code: `#[test]`, `#[cfg(test)]`.
fn is_test_code(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg")
                && a.parse_args::<syn::Meta>()
                    .is_ok_and(|m| m.path().is_ident("test")))
    })
}

/// Collects the non-test functions of a file with their first and last lines.
#[derive(Default)]
struct FnSizes {
    /// (name, line of `fn`, line of the closing brace).
    functions: Vec<(String, usize, usize)>,
    /// Lines of test code (`#[cfg(test)]` modules, `#[test]` functions).
    test_lines: usize,
}

impl FnSizes {
    fn add(&mut self, name: &syn::Ident, fn_token: &syn::token::Fn, block: &syn::Block) {
        let start = fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        self.functions.push((name.to_string(), start, end));
    }
}

impl<'ast> syn::visit::Visit<'ast> for FnSizes {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_code(&m.attrs) {
            use syn::spanned::Spanned;
            let span = m.span();
            self.test_lines += span.end().line + 1 - span.start().line;
            return;
        }
        syn::visit::visit_item_mod(self, m);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if is_test_code(&f.attrs) {
            return;
        }
        self.add(&f.sig.ident, &f.sig.fn_token, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if is_test_code(&f.attrs) {
            return;
        }
        self.add(&f.sig.ident, &f.sig.fn_token, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.add(&f.sig.ident, &f.sig.fn_token, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// The violations of the size rule in one source file (`rel`: its path from the root). Test
/// files (`tests.rs`, a crate's `tests/`) and test code are not measured.
fn size_violations(rel: &str, text: &str) -> Vec<String> {
    if rel.ends_with("/tests.rs") || rel.contains("/tests/") {
        return Vec::new();
    }
    let file = match syn::parse_file(text) {
        Ok(file) => file,
        Err(e) => return vec![format!("{rel}: could not be parsed to measure it: {e}")],
    };
    let mut sizes = FnSizes::default();
    syn::visit::Visit::visit_file(&mut sizes, &file);
    let mut problems = Vec::new();
    let lines = text.lines().count().saturating_sub(sizes.test_lines);
    if lines > MAX_FILE_LINES && !size_allowed(rel, None) {
        problems.push(format!(
            "{rel}: {lines} lines of non-test code, more than {MAX_FILE_LINES}: split the module \
             along its seams (or move its unit tests to a sibling tests.rs)"
        ));
    }
    for (name, start, end) in &sizes.functions {
        let len = end + 1 - start;
        if len > MAX_FN_LINES && !size_allowed(rel, Some(name)) {
            problems.push(format!(
                "{rel}:{start}: fn `{name}` has {len} lines, more than {MAX_FN_LINES}: split it \
                 into named steps (a data table goes in SIZE_ALLOWED, with a comment)"
            ));
        }
    }
    problems
}

#[test]
fn no_file_over_800_lines_and_no_function_over_150() {
    let dirs: Vec<&str> = PRODUCT_CRATES.iter().copied().chain(["xtask"]).collect();
    let mut problems = Vec::new();
    for (rel, text) in &sources(&dirs) {
        problems.extend(size_violations(rel, text));
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn size_rule_catches_planted_violations() {
    let long_fn = |name: &str, lines: usize| {
        let body: String = (0..lines - 2)
            .map(|i| format!("    let _x{i} = {i};\n"))
            .collect();
        format!("fn {name}() {{\n{body}}}\n")
    };
    // A function one line over the limit, and one at it.
    let text = format!(
        "//! x\n{}{}",
        long_fn("too_long", 151),
        long_fn("at_limit", 150)
    );
    let problems = size_violations("forge-core/src/planted.rs", &text);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("forge-core/src/planted.rs:2: fn `too_long` has 151 lines"),
        "{problems:?}"
    );
    // Methods and trait defaults count too; test code does not.
    let text = format!(
        "//! x\nstruct S;\nimpl S {{\n{}}}\n#[cfg(test)]\nmod tests {{\n{}}}\n#[test]\n{}",
        long_fn("method", 200),
        long_fn("in_tests", 300),
        long_fn("a_test", 300)
    );
    let problems = size_violations("xtask/src/planted.rs", &text);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("fn `method` has 200 lines"),
        "{problems:?}"
    );
    // A file over the limit; its test module does not count, nor does a tests.rs.
    let many: String = (0..801)
        .map(|i| format!("const C{i}: u32 = {i};\n"))
        .collect();
    let problems = size_violations("cargo-forge-deb/src/planted.rs", &many);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("801 lines of non-test code"),
        "{problems:?}"
    );
    let half: String = (0..500)
        .map(|i| format!("const C{i}: u32 = {i};\n"))
        .collect();
    let with_tests = format!("{half}#[cfg(test)]\nmod tests {{\n{half}}}\n");
    assert!(size_violations("cargo-forge-deb/src/planted.rs", &with_tests).is_empty());
    assert!(size_violations("cargo-forge-deb/src/planted/tests.rs", &many).is_empty());
    // The allow-list: the data table, and nothing else of its file.
    assert!(size_violations("forge-core/src/target.rs", &long_fn("lookup", 300)).is_empty());
    assert_eq!(
        size_violations("forge-core/src/target.rs", &long_fn("other", 300)).len(),
        1
    );
    assert_eq!(
        size_violations("cargo-forge-image/src/vm/mod.rs", &many).len(),
        1
    );
}
