//! The payload of `deb-package`: a crate whose binary is prebuilt (Debian's cargo, a real Rust
//! binary of ≥ 20 MB) with a README, a man page, a bash completion and deterministic documents,
//! the shape of a typical command-line tool's package. Written under `target/bench/`, afresh.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::common::{first_line, megabytes};
use crate::cmd::{self, status, warn};

/// The payload binary: Debian's cargo (package cargo-web, installed by `cargo xtask setup`).
pub(super) const PAYLOAD_BINARY: &str = "/usr/bin/cargo";
pub(super) const MIN_PAYLOAD_BYTES: u64 = 20_000_000;
pub(super) const PAYLOAD_NAME: &str = "forge-bench-payload";
pub(super) const PAYLOAD_VERSION: &str = "1.0.0";

/// Writes the payload crate to `dir` (afresh) and puts the prebuilt binary where cargo would have
/// built it. Returns what the payload is, for the report.
pub(super) fn make_payload(dir: &Path, forge_deb: &Path) -> Result<Value> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("could not remove {}", dir.display()))?;
    }
    let write = |rel: &str, text: &str| -> Result<()> {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("relative path has a parent"))
            .with_context(|| format!("could not create {}", path.display()))?;
        std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))
    };
    let n = PAYLOAD_NAME;
    write(
        "Cargo.toml",
        &format!(
            r#"[package]
name = "{n}"
version = "{PAYLOAD_VERSION}"
edition = "2021"
description = "Benchmark payload of cargo xtask bench: a prebuilt Rust binary with its documentation"
license = "MIT"
authors = ["cargo-forge bench <bench@example.com>"]
homepage = "https://example.com/{n}"
repository = "https://example.com/cargo-forge/{n}"
readme = "README.md"
publish = false

# Its own workspace: written under target/bench/ of cargo-forge, never part of it.
[workspace]

[[bin]]
name = "{n}"
path = "src/main.rs"

[package.metadata.deb]
maintainer = "cargo-forge bench <bench@example.com>"
copyright = "2026, cargo-forge bench <bench@example.com>"
section = "devel"
assets = [
    ["target/release/{n}", "usr/bin/", "755"],
    ["README.md", "usr/share/doc/{n}/README", "644"],
    ["doc/{n}.1.gz", "usr/share/man/man1/", "644"],
    ["doc/guide.md", "usr/share/doc/{n}/guide.md", "644"],
    ["doc/configuration.md", "usr/share/doc/{n}/configuration.md", "644"],
    ["doc/commands.md", "usr/share/doc/{n}/commands.md", "644"],
    ["doc/completions.bash", "usr/share/bash-completion/completions/{n}", "644"],
]
"#
        ),
    )?;
    write(
        "src/main.rs",
        "//! Stand-in source: the packaged binary is prebuilt.\nfn main() {}\n",
    )?;
    write("LICENSE", MIT_LICENSE)?;
    write(
        "CHANGELOG.md",
        &format!(
            "# Changelog\n\n## {PAYLOAD_VERSION}\n\n- First release of the benchmark payload.\n"
        ),
    )?;
    write("README.md", &readme_text())?;
    write("doc/guide.md", &doc_text("Guide", 120))?;
    write("doc/configuration.md", &doc_text("Configuration", 80))?;
    write("doc/commands.md", &doc_text("Commands", 160))?;
    write("doc/completions.bash", &completions_text())?;
    write(&format!("doc/{n}.1"), &man_text())?;
    cmd::output(
        Command::new("gzip")
            .args(["-9nf"])
            .arg(dir.join(format!("doc/{n}.1"))),
    )?;

    // The binary: Debian's cargo, else the cargo running xtask, else our own build (smaller).
    let candidates: Vec<(PathBuf, &str)> = [
        Some((
            PathBuf::from(PAYLOAD_BINARY),
            "Debian's cargo (package cargo-web)",
        )),
        std::env::var_os("CARGO").map(|c| (PathBuf::from(c), "the toolchain's cargo ($CARGO)")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let chosen = candidates.iter().find(|(p, _)| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.len() >= MIN_PAYLOAD_BYTES)
            && is_elf(p)
    });
    let (source, what) = match chosen {
        Some((p, what)) => {
            if p != Path::new(PAYLOAD_BINARY) {
                warn(format!(
                    "{PAYLOAD_BINARY} is missing (run `cargo xtask setup --only debian` for cargo-web); \
                     packaging {} instead: numbers are not comparable with docs/benchmarks.md",
                    p.display()
                ));
            }
            (p.clone(), (*what).to_owned())
        }
        None => {
            warn(format!(
                "{PAYLOAD_BINARY} is missing and no other Rust binary of ≥ 20 MB was found; packaging \
                 cargo-forge-deb's own release build instead: numbers are not comparable with \
                 docs/benchmarks.md (run `cargo xtask setup --only debian`)"
            ));
            (
                forge_deb.to_path_buf(),
                "cargo-forge-deb's release build (fallback)".to_owned(),
            )
        }
    };
    let dest = dir.join("target/release").join(n);
    std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
    std::fs::copy(&source, &dest)
        .with_context(|| format!("could not copy {} to {}", source.display(), dest.display()))?;
    let binary_bytes = dest.metadata()?.len();
    let assets_bytes: u64 = [
        "README.md",
        "doc/guide.md",
        "doc/configuration.md",
        "doc/commands.md",
        "doc/completions.bash",
    ]
    .iter()
    .map(|f| dir.join(f))
    .chain(std::iter::once(dir.join(format!("doc/{n}.1.gz"))))
    .filter_map(|p| p.metadata().ok().map(|m| m.len()))
    .sum();
    let file = first_line(Command::new("file").arg("-b").arg(&source));
    status(
        "Payload",
        format!(
            "{} ({}, {}) + {} of assets, in {}",
            source.display(),
            what,
            megabytes(binary_bytes),
            megabytes(assets_bytes),
            dir.display()
        ),
    );
    Ok(json!({
        "crate": dir,
        "binary_source": source,
        "binary_description": what,
        "binary_bytes": binary_bytes,
        "binary_file": file,
        "assets_bytes": assets_bytes,
    }))
}

pub(super) fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

pub(super) const MIT_LICENSE: &str = "MIT License

Copyright (c) 2026 cargo-forge bench

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the \"Software\"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
";

pub(super) fn readme_text() -> String {
    format!(
        "# {PAYLOAD_NAME}\n\n\
         The payload `cargo xtask bench deb-package` packages: a prebuilt Rust binary (Debian's\n\
         cargo, renamed) with a README, a manual page, a bash completion and a few documents, the\n\
         shape of a typical command-line tool's package.\n\n\
         ## Installing\n\n\
         Install the package with `apt install ./{PAYLOAD_NAME}_{PAYLOAD_VERSION}-1_amd64.deb`; the\n\
         binary lands in `/usr/bin`, the documents in `/usr/share/doc/{PAYLOAD_NAME}`.\n\n\
         ## Using\n\n\
         Run `{PAYLOAD_NAME} --help` for the list of commands; `man {PAYLOAD_NAME}` has the details.\n"
    )
}

/// Deterministic, text-like documentation: `sections` sections of a few paragraphs each.
pub(super) fn doc_text(title: &str, sections: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "package",
        "build",
        "target",
        "binary",
        "release",
        "profile",
        "manifest",
        "workspace",
        "dependency",
        "feature",
        "version",
        "archive",
        "compress",
        "install",
        "directory",
        "option",
        "configuration",
        "value",
        "default",
        "command",
        "output",
        "error",
        "warning",
        "file",
        "path",
        "when",
        "with",
        "from",
        "into",
        "each",
        "every",
        "is",
        "are",
        "and",
        "or",
        "of",
        "to",
        "a",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d ^ title.len() as u64;
    let mut next = move || {
        // xorshift64*: deterministic pseudo-random word choice.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut text = format!("# {title}\n");
    for s in 1..=sections {
        text.push_str(&format!("\n## {title} {s}\n\n"));
        for _ in 0..3 {
            let mut line_len = 0;
            let words = 40 + (next() % 40) as usize;
            for w in 0..words {
                let word = WORDS[(next() % WORDS.len() as u64) as usize];
                if line_len + word.len() + 1 > 96 {
                    text.push('\n');
                    line_len = 0;
                } else if w > 0 {
                    text.push(' ');
                    line_len += 1;
                }
                text.push_str(word);
                line_len += word.len();
            }
            text.push_str(".\n\n");
        }
    }
    text
}

pub(super) fn man_text() -> String {
    let mut text = format!(
        ".TH {} 1 2026-11-22 {PAYLOAD_VERSION} \"User Commands\"\n.SH NAME\n{PAYLOAD_NAME} \\- benchmark payload\n.SH SYNOPSIS\n.B {PAYLOAD_NAME}\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR\n.SH DESCRIPTION\n",
        PAYLOAD_NAME.to_uppercase()
    );
    for para in doc_text("Options", 30)
        .split("\n\n")
        .filter(|p| !p.starts_with('#'))
    {
        text.push_str(".PP\n");
        text.push_str(para.trim());
        text.push('\n');
    }
    text
}

pub(super) fn completions_text() -> String {
    let commands = [
        "build",
        "check",
        "clean",
        "doc",
        "new",
        "init",
        "add",
        "remove",
        "run",
        "test",
        "bench",
        "update",
        "search",
        "publish",
        "install",
        "uninstall",
    ];
    let mut text = format!("# bash completion for {PAYLOAD_NAME}\n_{}() {{\n    local cur=${{COMP_WORDS[COMP_CWORD]}}\n    case $COMP_CWORD in\n", PAYLOAD_NAME.replace('-', "_"));
    text.push_str(&format!(
        "        1) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")) ;;\n",
        commands.join(" ")
    ));
    text.push_str("        *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n    esac\n}\n");
    text.push_str(&format!(
        "complete -F _{} {PAYLOAD_NAME}\n",
        PAYLOAD_NAME.replace('-', "_")
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_text_is_deterministic() {
        assert_eq!(doc_text("Guide", 3), doc_text("Guide", 3));
        assert!(doc_text("Guide", 3).lines().all(|l| l.len() <= 100));
    }
}
