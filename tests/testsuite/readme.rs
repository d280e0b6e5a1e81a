//! The README, followed as written: its quick start holds exactly the two set-up commands (and
//! they are real `cargo xtask` commands), and its 60-second tour — the code block marked
//! `<!-- readme-test: … -->` — runs line by line in a copy of `tests/fixtures/cli-tool`, with the
//! built `cargo-forge-*` binaries on `PATH` (so `cargo forge-deb` is found the way an installed
//! one is) and a real registry on loopback standing in for `localhost:5000`.

use std::path::Path;
use std::process::{Command, Stdio};

use forge_tests::docs::marked_code_blocks;
use forge_tests::registry::{Registry, REGISTRY_BIN};
use forge_tests::{assert_success, bin, require_tools, run, stdout, workspace_root, Fixture};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).unwrap()
}

/// The commands of a shell block: lines that are neither blank nor comments.
fn commands(block: &str) -> Vec<String> {
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn quick_start_is_the_two_setup_commands_and_they_exist() {
    let readme = readme();
    let start = readme
        .find("## Quick start")
        .expect("README has a Quick start");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the quick start has a ```sh block");
    assert_eq!(
        commands(block),
        ["cargo xtask demo", "cargo xtask test"],
        "the quick start must hold exactly the two set-up commands"
    );
    // Both are commands of xtask: `cargo xtask help NAME` knows them (and an unknown one fails).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (name, known) in [("demo", true), ("test", true), ("no-such-command", false)] {
        let out = run(Command::new(&cargo)
            .args(["xtask", "help", name])
            .current_dir(workspace_root())
            .stdin(Stdio::null()));
        assert_eq!(
            out.status.success(),
            known,
            "`cargo xtask help {name}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if known {
            assert!(
                stdout(&out).contains(&format!("cargo xtask {name}")),
                "{name}"
            );
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = run(Command::new("git")
        .args([
            "-c",
            "user.email=tour@example.com",
            "-c",
            "user.name=README Tour",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir));
    assert_success(&out, &format!("git {args:?}"));
}

#[test]
fn the_tour_runs_as_written() {
    if !require_tools(&["git", "dpkg-shlibdeps", REGISTRY_BIN]) {
        return;
    }
    let readme = readme();
    let blocks = marked_code_blocks(&readme, "readme-test:");
    assert_eq!(blocks.len(), 1, "README has one tested tour block");
    let (how, block) = &blocks[0];
    assert!(
        how.contains("tests/fixtures/cli-tool") && how.contains("localhost:5000"),
        "{how}"
    );
    let lines = commands(block);
    assert!(
        lines.iter().any(|l| l.starts_with("cargo forge-deb"))
            && lines.iter().any(|l| l.starts_with("cargo forge-image"))
            && lines.iter().any(|l| l.starts_with("cargo forge-release")),
        "the tour shows the three commands: {lines:?}"
    );

    // The set-up the tour's sentence asks for: a committed crate on `main`, a registry.
    let reg = Registry::start();
    let fx = Fixture::copy("cli-tool");
    git(fx.path(), &["init", "-q"]);
    git(fx.path(), &["add", "-A"]);
    git(fx.path(), &["commit", "-q", "-m", "initial"]);
    let bin_dir = bin("cargo-forge-deb").parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();

    let mut outputs = Vec::new();
    for line in &lines {
        let line = line.replace("localhost:5000", reg.host());
        let out = run(Command::new("bash")
            .args(["-euo", "pipefail", "-c", &line])
            .current_dir(fx.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            // A user who committed has a git identity; the release's tag needs one.
            .env("GIT_AUTHOR_NAME", "README Tour")
            .env("GIT_AUTHOR_EMAIL", "tour@example.com")
            .env("GIT_COMMITTER_NAME", "README Tour")
            .env("GIT_COMMITTER_EMAIL", "tour@example.com")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .stdin(Stdio::null()));
        assert_success(&out, &line);
        outputs.push(stdout(&out));
    }

    // What the tour's comments promise.
    let debs = fx.debs();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let deb = debs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(deb.starts_with("forge-fixture-cli_0.1.0-1_"), "{deb}");
    assert!(outputs[0].trim().ends_with(&deb), "{}", outputs[0]);

    let pushed = &outputs[1];
    for tag in ["0.1.0", "0.1", "0", "latest"] {
        let reference = format!("{}/tour/app:{tag}@sha256:", reg.host());
        assert!(
            pushed.lines().any(|l| l.starts_with(&reference)),
            "no `{reference}…` in:\n{pushed}"
        );
        assert!(
            reg.count("PUT", &format!("/v2/tour/app/manifests/{tag}")) >= 1,
            "tag {tag} was not pushed"
        );
    }

    let published = fx
        .path()
        .join("target/forge/release/forge-fixture-cli/0.1.0/publish/v0.1.0");
    for file in [
        "SHA256SUMS".to_owned(),
        format!("forge-fixture-cli-0.1.0-{}.tar.gz", host_triple()),
    ] {
        assert!(
            published.join(&file).is_file(),
            "the release lacks {file} in {}",
            published.display()
        );
    }
    let tags = run(Command::new("git")
        .args(["tag", "--list", "v0.1.0"])
        .current_dir(fx.path()));
    assert_eq!(stdout(&tags).trim(), "v0.1.0");
}

fn host_triple() -> String {
    let out = run(Command::new("rustc").arg("-vV"));
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}
