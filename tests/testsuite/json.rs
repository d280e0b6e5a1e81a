//! `--message-format json` as a contract: the committed schemas (docs/schemas/) are the ones
//! the output types generate, real output validates against them ([`document`], used by every
//! test that reads a command's JSON), and a failure in JSON mode ends with one error document
//! on stdout for every command and subcommand.

use std::path::Path;
use std::process::{Command, Output};

use forge_tests::schemas::{committed, committed_schema, generated, SCHEMAS_DIR};
use forge_tests::*;

/// The one JSON document on stdout: its `"schema"` is `schema`, and it validates against the
/// committed schema of that name.
#[track_caller]
pub fn document(out: &Output, schema: &str) -> serde_json::Value {
    let text = stdout(out);
    // In JSON mode stdout holds documents only, one per line.
    let docs: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON on stdout: {l}")))
        .collect();
    assert_eq!(docs.len(), 1, "one JSON document on stdout:\n{text}");
    let doc = docs.into_iter().next().unwrap();
    assert_eq!(doc["schema"], schema, "{doc}");
    validate(&doc);
    doc
}

/// Validates a document against the committed schema its `"schema"` names.
#[track_caller]
pub fn validate(doc: &serde_json::Value) {
    let name = doc["schema"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"schema\" in {doc}"));
    let schema = committed_schema(&workspace_root(), name).unwrap();
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("the schema of {name} is not a valid JSON Schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "output of {name} does not match {SCHEMAS_DIR}:\n  {}\n{doc}",
        errors.join("\n  ")
    );
}

/// The committed schemas are the generated ones, file for file.
#[test]
fn schemas_are_current() {
    let root = workspace_root();
    let want = generated();
    let have = committed(&root);
    let names =
        |m: &std::collections::BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&have),
        names(&want),
        "{SCHEMAS_DIR} holds other files than the documents': run `cargo xtask docs`"
    );
    for (name, text) in &want {
        assert!(
            have.get(name) == Some(text),
            "{SCHEMAS_DIR}/{name} is stale: run `cargo xtask docs` and commit the result"
        );
    }
    // Every schema is a valid JSON Schema, and names its document.
    for (name, schema) in forge_tests::schemas::documents() {
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(schema["title"], name);
    }
}

/// Output fields are snake_case (outside the tables copied from Cargo.toml, which keep the
/// config's spelling, and maps whose keys are data).
#[test]
fn schema_properties_are_snake_case() {
    fn walk(v: &serde_json::Value, path: &str, bad: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Object(props)) = m.get("properties") {
                    for k in props.keys() {
                        if k.chars().any(|c| c.is_ascii_uppercase()) {
                            bad.push(format!("{path}.{k}"));
                        }
                    }
                }
                for (k, c) in m {
                    walk(c, &format!("{path}/{k}"), bad);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, path, bad)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    for (name, schema) in forge_tests::schemas::documents() {
        walk(&schema, name, &mut bad);
    }
    assert!(bad.is_empty(), "fields not in snake_case: {bad:?}");
}

fn forge(program: &str, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin(&format!("cargo-{program}")));
    cmd.arg(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// A failed run in JSON mode: the exit code, and its error document last on stdout (the only
/// one), with the same code and the message stderr shows.
#[track_caller]
fn assert_error_document(out: &Output, code: i32, words: &[&str]) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    let doc = document(out, "cargo-forge/error/v1");
    assert_eq!(doc["exit_code"], code, "{doc}");
    let message = doc["message"].as_str().unwrap();
    assert!(
        stderr(out).contains(message),
        "the error document's message is not the error line:\n{doc}\n{}",
        stderr(out)
    );
    let all = doc.to_string();
    for w in words {
        assert!(all.contains(w), "`{w}` not in {doc}");
    }
    doc
}

/// Every `cargo forge-deb` command: a failure in JSON mode ends with the error document.
#[test]
fn deb_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let j = ["--message-format", "json"];
    // No Cargo.toml here: the error has a cause (cargo metadata's) and a hint-free chain.
    let out = forge("forge-deb", dir.path(), &j, &[]);
    let doc = assert_error_document(&out, 2, &[]);
    assert!(doc["causes"].is_array() && doc["hints"].is_array(), "{doc}");
    let out = forge("forge-deb", dir.path(), &["init", j[0], j[1]], &[]);
    assert_error_document(&out, 2, &[]);
    let missing = dir.path().join("missing_1.0_amd64.deb");
    let repo = dir.path().join("repo");
    let out = forge(
        "forge-deb",
        dir.path(),
        &[
            "repo",
            "--dir",
            repo.to_str().unwrap(),
            missing.to_str().unwrap(),
            j[0],
            j[1],
        ],
        &[],
    );
    assert_error_document(&out, 1, &["missing_1.0_amd64.deb"]);
    // A command line clap refuses: its message, exit code 2, no shell needed.
    let out = forge("forge-deb", dir.path(), &["--frobnicate", j[0], j[1]], &[]);
    assert_error_document(&out, 2, &["--frobnicate"]);
    // `--message-format=json` is read too; help still exits 0 without a document.
    let out = forge(
        "forge-deb",
        dir.path(),
        &["--frobnicate", "--message-format=json"],
        &[],
    );
    assert_error_document(&out, 2, &[]);
    let out = forge("forge-deb", dir.path(), &["--help", j[0], j[1]], &[]);
    assert_success(&out, "--help");
    assert!(!stdout(&out).contains("cargo-forge/error"));
}

/// Every `cargo forge-image` command: a failure in JSON mode ends with the error document, and
/// a secret in the message is masked there as on stderr.
#[test]
fn image_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let j = ["--message-format", "json"];
    let out = forge("forge-image", dir.path(), &j, &[]);
    assert_error_document(&out, 2, &[]);
    let out = forge("forge-image", dir.path(), &["init", j[0], j[1]], &[]);
    assert_error_document(&out, 2, &[]);
    let out = forge(
        "forge-image",
        dir.path(),
        &[
            "merge",
            "--tag",
            "localhost:1/x:1",
            "no-such.digest",
            j[0],
            j[1],
        ],
        &[],
    );
    // (A missing input file is exit code 1 today: the document says the same code.)
    assert_error_document(&out, 1, &["no-such.digest"]);
    // A token that reaches an error message is masked in the document too.
    let token = "sentinel-json-token-5e1d";
    let manifest = format!("{}/{token}/Cargo.toml", dir.path().display());
    let out = forge(
        "forge-image",
        dir.path(),
        &["--manifest-path", &manifest, j[0], j[1]],
        &[("GITHUB_TOKEN", token)],
    );
    assert_error_document(&out, 2, &[]);
    assert!(
        !stdout(&out).contains(token) && !stderr(&out).contains(token),
        "{}",
        stdout(&out)
    );
}

/// Every `cargo forge-release` command: a failure in JSON mode ends with the error document.
#[test]
fn release_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let j = ["--message-format", "json"];
    // Not a version: usage, with the rule in the message.
    let out = forge("forge-release", dir.path(), &["v1.2", j[0], j[1]], &[]);
    assert_error_document(&out, 2, &["1.2"]);
    let out = forge(
        "forge-release",
        dir.path(),
        &["plan", "1.0.0", j[0], j[1]],
        &[],
    );
    assert_error_document(&out, 2, &[]);
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, "{}").unwrap();
    let plan = plan.to_str().unwrap();
    let out_dir = dir.path().join("out");
    let out_dir = out_dir.to_str().unwrap();
    for args in [
        &["build", "--plan", plan, "--out", out_dir][..],
        &[
            "push-image",
            "--plan",
            plan,
            "--artifacts",
            out_dir,
            "--digests",
            out_dir,
        ][..],
        &["publish", "--plan", plan, "--artifacts", out_dir][..],
        &["merge", "--plan", plan, "--digests", out_dir][..],
    ] {
        let mut all = args.to_vec();
        all.extend(j);
        let out = forge("forge-release", dir.path(), &all, &[]);
        assert!(!out.status.success(), "{args:?}");
        let doc = document(&out, "cargo-forge/error/v1");
        assert_eq!(
            Some(doc["exit_code"].as_i64().unwrap() as i32),
            out.status.code(),
            "{args:?}: {doc}"
        );
    }
    let out = forge(
        "forge-release",
        dir.path(),
        &["ci", "--provider", "github", j[0], j[1]],
        &[],
    );
    assert!(!out.status.success());
    document(&out, "cargo-forge/error/v1");
    let out = forge("forge-release", dir.path(), &["init", j[0], j[1]], &[]);
    assert_error_document(&out, 2, &[]);
}
