//! GitHub Actions integration end to end: each command runs with `GITHUB_ACTIONS=true` and
//! `GITHUB_STEP_SUMMARY`/`GITHUB_OUTPUT` pointing at temporary files, and the test checks the
//! annotations on stderr, the Markdown summary and the outputs exactly (values computed from the
//! produced files, the registry and the GitHub emulator): forge-deb on a fixture, forge-image
//! pushed to a loopback registry and written to an OCI layout, `--push-by-digest` and `merge`,
//! forge-release to a directory and the GitHub emulator, and failing invocations giving one
//! `::error` each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use forge_tests::registry::Registry;
use forge_tests::*;

/// The files a GitHub runner provides, in a temporary directory. The output file starts with
/// another step's output, which must survive (appending is GitHub's contract).
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        let runner = Runner {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(runner.output_file(), "earlier-step=kept\n").unwrap();
        runner
    }

    fn summary_file(&self) -> PathBuf {
        self.dir.path().join("step_summary.md")
    }

    fn output_file(&self) -> PathBuf {
        self.dir.path().join("output")
    }

    fn apply(&self, cmd: &mut Command) {
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", self.summary_file())
            .env("GITHUB_OUTPUT", self.output_file());
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.summary_file()).unwrap_or_default()
    }

    /// The outputs, parsed as the runner does (`name=value` and `name<<DELIMITER` heredocs);
    /// `earlier-step` is checked and removed. A name set twice fails the test.
    fn outputs(&self) -> BTreeMap<String, String> {
        let text = std::fs::read_to_string(self.output_file()).unwrap();
        let mut out = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let (name, value) = match line.split_once('=') {
                Some((name, value)) if !name.contains("<<") => {
                    (name.to_string(), value.to_string())
                }
                _ => {
                    let (name, delimiter) = line
                        .split_once("<<")
                        .unwrap_or_else(|| panic!("bad output line `{line}` in:\n{text}"));
                    assert!(
                        delimiter.starts_with("ghadelimiter_"),
                        "delimiter `{delimiter}`"
                    );
                    let mut value = Vec::new();
                    loop {
                        let l = lines
                            .next()
                            .unwrap_or_else(|| panic!("unterminated `{name}` in:\n{text}"));
                        if l == delimiter {
                            break;
                        }
                        value.push(l);
                    }
                    (name.to_string(), value.join("\n"))
                }
            };
            assert!(
                out.insert(name.clone(), value).is_none(),
                "output `{name}` set twice:\n{text}"
            );
        }
        assert_eq!(
            out.remove("earlier-step").as_deref(),
            Some("kept"),
            "{text}"
        );
        out
    }
}

/// The workflow commands on stderr.
fn annotations(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("::"))
        .map(str::to_owned)
        .collect()
}

fn outputs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn forge_deb(dir: &Path, args: &[&str], runner: Option<&Runner>) -> Output {
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.arg("forge-deb")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("GITHUB_ACTIONS");
    if let Some(r) = runner {
        r.apply(&mut cmd);
    }
    run(&mut cmd)
}

/// forge-deb: a warning becomes a `::warning` annotation; the summary has the package's row
/// (size and SHA-256 of the file produced); `debs` is its path. Outside Actions nothing of this
/// happens, even with the files' variables set.
#[test]
fn deb_annotations_summary_and_outputs() {
    if !require_tools(&["/usr/bin/cargo"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    // A second asset for the same destination: a warning (the first is kept).
    fx.edit_manifest(
        "    [\"conf/config.toml\"",
        "    [\"Cargo.toml\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"],\n    [\"conf/config.toml\"",
    );
    let runner = Runner::new();
    let out = forge_deb(fx.path(), &[], Some(&runner));
    assert_success(&out, "forge-deb under GITHUB_ACTIONS");
    let deb = fx
        .path()
        .join("target/debian/forge-fixture-cli_0.1.0-1_amd64.deb");
    assert_eq!(stdout(&out).trim(), deb.display().to_string());
    assert_eq!(
        annotations(&out),
        [format!(
            "::warning title=cargo forge-deb::two assets have the destination `usr/share/doc/forge-fixture-cli/README`: the first (`{}`) is kept",
            fx.path().join("README.md").display()
        )]
    );
    let size = std::fs::metadata(&deb).unwrap().len();
    assert_eq!(
        runner.summary(),
        format!(
            "### cargo forge-deb\n\n\
             | Package | Architecture | Version | Path | Size (bytes) | SHA-256 |\n\
             | --- | --- | --- | --- | --- | --- |\n\
             | forge-fixture-cli | amd64 | 0.1.0-1 | `{}` | {size} | `{}` |\n\n",
            deb.display(),
            sha256_file(&deb)
        )
    );
    assert_eq!(
        runner.outputs(),
        outputs(&[("debs", &deb.display().to_string())])
    );

    // Not in Actions: the same run writes no annotation and leaves the files alone.
    let before = (runner.summary(), runner.outputs());
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.arg("forge-deb").current_dir(fx.path());
    runner.apply(&mut cmd);
    cmd.env("GITHUB_ACTIONS", "false");
    let out = run(&mut cmd);
    assert_success(&out, "forge-deb outside Actions");
    assert!(annotations(&out).is_empty(), "{}", stderr(&out));
    assert_eq!((runner.summary(), runner.outputs()), before);
}

/// Failing invocations: exactly one `::error` each, with the hint in the same annotation
/// (`%0A`-escaped), titled with the command; nothing in the summary or the outputs.
#[test]
fn failures_are_error_annotations() {
    if !require_tools(&["/usr/bin/cargo"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    fx.edit_manifest("[\"conf/config.toml\"", "[\"conf/missing.toml\"");
    let runner = Runner::new();
    let out = forge_deb(fx.path(), &[], Some(&runner));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let manifest = fx.path().join("Cargo.toml");
    assert_eq!(
        annotations(&out),
        [format!(
            "::error title=cargo forge-deb::asset `conf/missing.toml` in `package.metadata.deb.assets[3]` of `{}` does not exist: `{}`%0Ahint: create the file, or fix the path in `package.metadata.deb.assets[3]` (paths are relative to the package directory)",
            manifest.display(),
            fx.path().join("conf/missing.toml").display()
        )]
    );
    // The human lines are still there, unchanged.
    assert!(
        stderr(&out).contains("\nhint: create the file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(runner.summary(), "");
    assert!(runner.outputs().is_empty());

    // A failed build: the error and its cause, one annotation (`%0A` between the lines).
    let broken = Fixture::copy("cli-tool");
    let main_rs = broken.path().join("src/main.rs");
    let mut code = std::fs::read_to_string(&main_rs).unwrap();
    code.push_str("\nfn unclosed(\n");
    std::fs::write(&main_rs, code).unwrap();
    let out = forge_deb(broken.path(), &[], Some(&runner));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let errors = annotations(&out);
    assert_eq!(errors.len(), 1, "{}", stderr(&out));
    // The cargo that runs is whichever is first on PATH: the line ends with its arguments.
    let tail = format!(
        " build --message-format=json-render-diagnostics --manifest-path {dir}/Cargo.toml --profile release --target-dir {dir}/target -p forge-fixture-cli` failed with exit status: 101",
        dir = broken.path().display()
    );
    assert!(
        errors[0].starts_with(
            "::error title=cargo forge-deb::failed to build for host%0A%0ACaused by:%0A  `"
        ) && errors[0].ends_with(&tail),
        "{}",
        errors[0]
    );
    assert_eq!(runner.summary(), "");
    assert!(runner.outputs().is_empty());

    // forge-image: a bad reference (exit 2) is an annotation too; `%` and `,` escaped.
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.args([
        "forge-image",
        "--tag",
        "localhost:5000/UPPER%,case:1",
        "--push",
    ])
    .current_dir(fx.path())
    .env("NO_COLOR", "1");
    runner.apply(&mut cmd);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let errors = annotations(&out);
    assert_eq!(errors.len(), 1, "{}", stderr(&out));
    assert!(
        errors[0].starts_with("::error title=cargo forge-image::")
            && errors[0].contains("UPPER%25,case")
            && !errors[0].contains('\n'),
        "{}",
        errors[0]
    );
    assert_eq!(runner.summary(), "");
    assert!(runner.outputs().is_empty());
}

/// forge-image for two platforms, pushed to a loopback registry and written to an OCI layout:
/// `digest` is the pushed index's digest, `tags` the tag, `image` `registry/repo@digest`; the
/// summary lists the platform manifests (read back from the layout) and both destinations.
#[test]
fn image_summary_and_outputs() {
    if !require_tools(&["docker-registry", "/usr/bin/cargo", "aarch64-linux-gnu-gcc"]) {
        return;
    }
    let reg = Registry::start();
    let fx = Fixture::copy("cli-tool");
    let scratch = tempfile::tempdir().unwrap();
    let layout = scratch.path().join("layout");
    let reference = format!("{}/fixtures/gha:0.1.0", reg.host());
    let runner = Runner::new();
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.arg("forge-image")
        .args([
            "--platform",
            "linux/amd64,linux/arm64",
            "--toolchain",
            "/usr",
        ])
        .args(["--tag", &reference, "--push"])
        .arg("--output")
        .arg(format!("oci:{}", layout.display()))
        .current_dir(fx.path())
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    runner.apply(&mut cmd);
    let out = run(&mut cmd);
    assert_success(&out, "forge-image under GITHUB_ACTIONS");
    assert!(annotations(&out).is_empty(), "{}", stderr(&out));

    // What was pushed and written, independently of the summary.
    let pushed = stdout(&out).trim().to_string();
    let (_, digest) = pushed.split_once('@').expect("ref@digest on stdout");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest);
    let top: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap(),
    )
    .unwrap();
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platform = |i: usize| top["manifests"][i]["digest"].as_str().unwrap().to_string();

    assert_eq!(
        runner.outputs(),
        outputs(&[
            ("digest", digest),
            ("tags", &reference),
            ("image", &format!("{}/fixtures/gha@{digest}", reg.host())),
        ])
    );
    assert_eq!(
        runner.summary(),
        format!(
            "### cargo forge-image: forge-fixture-cli 0.1.0\n\n\
             | Platform | Manifest digest |\n\
             | --- | --- |\n\
             | linux/amd64 | `{}` |\n\
             | linux/arm64/v8 | `{}` |\n\n\
             Index digest: `{digest}`\n\n\
             | Destination | Reference |\n\
             | --- | --- |\n\
             | registry | `{pushed}` |\n\
             | file | `oci:{}` |\n\n",
            platform(0),
            platform(1),
            layout.display()
        )
    );
}

/// forge-release to a directory and the GitHub emulator: `release-url` is the GitHub release
/// page, `artifacts` the published files (each identical to the copy in the directory host), the
/// summary lists both hosts with where the release is and every asset; the token appears
/// nowhere.
#[test]
fn release_summary_and_outputs() {
    if !require_tools(&["git", "gpg", "/usr/bin/cargo"]) {
        return;
    }
    const TOKEN: &str = "sentinel-gha-token-7007";
    let gh = forge_tests::github::Emulator::github("acme/cli", TOKEN);
    let repo = crate::release::ReleaseRepo::new(
        "artifacts = [\"archive\"]\nhosts = [{ kind = \"dir\", path = \"dist\" }, { kind = \"github\", repo = \"acme/cli\" }]",
    );
    let runner = Runner::new();
    let mut cmd = Command::new(bin("cargo-forge-release"));
    cmd.args(["forge-release", "0.1.0", "--yes"])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("GNUPGHOME", repo.gnupg.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_TOKEN", TOKEN)
        .stdin(std::process::Stdio::null());
    runner.apply(&mut cmd);
    let out = run(&mut cmd);
    assert_success(&out, "forge-release under GITHUB_ACTIONS");
    assert!(annotations(&out).is_empty(), "{}", stderr(&out));

    let outs = runner.outputs();
    let artifacts: Vec<PathBuf> = outs["artifacts"].lines().map(PathBuf::from).collect();
    let names: Vec<String> = artifacts
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let archive = "forge-fixture-cli-0.1.0-x86_64-unknown-linux-gnu.tar.gz";
    assert_eq!(names, [archive, "SHA256SUMS"], "{outs:?}");
    let published = repo.path().join("dist/v0.1.0");
    let mut rows = String::new();
    for (path, name) in artifacts.iter().zip(&names) {
        assert_eq!(
            std::fs::read(path).unwrap(),
            std::fs::read(published.join(name)).unwrap(),
            "{name}"
        );
        let target = if name == archive {
            "x86_64-unknown-linux-gnu"
        } else {
            "—"
        };
        rows.push_str(&format!(
            "| `{name}` | {target} | {} | `{}` |\n",
            std::fs::metadata(path).unwrap().len(),
            sha256_file(path)
        ));
    }
    let page = format!("{}/acme/cli/releases/tag/v0.1.0", gh.url());
    assert_eq!(
        outs,
        outputs(&[
            ("version", "0.1.0"),
            ("tag", "v0.1.0"),
            ("release-url", &page),
            ("artifacts", &outs["artifacts"]),
        ])
    );
    let authority = gh.url().trim_start_matches("http://").to_string();
    assert_eq!(
        runner.summary(),
        format!(
            "### cargo forge-release: forge-fixture-cli 0.1.0 (tag `v0.1.0`)\n\n\
             | Host | Published at |\n\
             | --- | --- |\n\
             | `dir:{dist}` | {published} |\n\
             | `github:{authority}/acme/cli` | {page} |\n\n\
             | Asset | Target | Size (bytes) | SHA-256 |\n\
             | --- | --- | --- | --- |\n\
             {rows}\n",
            dist = repo.path().join("dist").display(),
            published = published.display(),
        )
    );
    for text in [runner.summary(), stderr(&out), stdout(&out)] {
        assert!(!text.contains(TOKEN));
    }
}

/// The CI fan-out: `--push-by-digest` outputs the platform manifest (`tags` empty: nothing is
/// tagged yet), and `merge` outputs the index it pushed and tagged, with its own summary.
#[test]
fn push_by_digest_and_merge_outputs() {
    if !require_tools(&["docker-registry", "/usr/bin/cargo"]) {
        return;
    }
    let reg = Registry::start();
    let fx = Fixture::copy("cli-tool");
    let scratch = tempfile::tempdir().unwrap();
    let digest_file = scratch.path().join("amd64.json");
    let repository = format!("{}/fixtures/merge", reg.host());
    let reference = format!("{repository}:0.1.0");

    let runner = Runner::new();
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.arg("forge-image")
        .args([
            "--platform",
            "linux/amd64",
            "--repository",
            &repository,
            "--push-by-digest",
        ])
        .arg("--digest-file")
        .arg(&digest_file)
        .current_dir(fx.path())
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    runner.apply(&mut cmd);
    let out = run(&mut cmd);
    assert_success(&out, "forge-image --push-by-digest");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&digest_file).unwrap()).unwrap();
    let manifest = written["digest"].as_str().unwrap();
    assert_eq!(
        runner.outputs(),
        outputs(&[
            ("digest", manifest),
            ("tags", ""),
            ("image", &format!("{repository}@{manifest}")),
        ])
    );
    assert_eq!(
        runner.summary(),
        format!(
            "### cargo forge-image: forge-fixture-cli 0.1.0\n\n\
             | Platform | Manifest digest |\n\
             | --- | --- |\n\
             | linux/amd64 | `{manifest}` |\n\n\
             Manifest digest: `{manifest}`\n\n\
             | Destination | Reference |\n\
             | --- | --- |\n\
             | registry | `{repository}@{manifest}` |\n\n"
        )
    );

    let runner = Runner::new();
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.args(["forge-image", "merge", "--tag", &reference])
        .arg(&digest_file)
        .current_dir(fx.path())
        .env("NO_COLOR", "1");
    runner.apply(&mut cmd);
    let out = run(&mut cmd);
    assert_success(&out, "forge-image merge");
    assert!(annotations(&out).is_empty(), "{}", stderr(&out));
    let tagged = stdout(&out).trim().to_string();
    let index = tagged
        .strip_prefix(&format!("{reference}@"))
        .unwrap_or_else(|| panic!("stdout `{tagged}`"));
    assert_ne!(index, manifest);
    assert_eq!(
        runner.outputs(),
        outputs(&[
            ("digest", index),
            ("tags", &reference),
            ("image", &format!("{repository}@{index}")),
        ])
    );
    assert_eq!(
        runner.summary(),
        format!(
            "### cargo forge-image merge: {repository}\n\n\
             | Platform | Manifest digest |\n\
             | --- | --- |\n\
             | linux/amd64 | `{manifest}` |\n\n\
             Index digest: `{index}`\n\n\
             | Destination | Reference |\n\
             | --- | --- |\n\
             | registry | `{tagged}` |\n\n"
        )
    );
}
