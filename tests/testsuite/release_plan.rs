//! Issue 11: the release plan as the contract between phases, secrets only where they are
//! used, workspaces, `latest` that never moves backwards, and `--bump` and `/`-in-tag defects —
//! end to end through the binaries, against the registry, SeaweedFS and the GitHub/Gitea
//! emulator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use forge_tests::github::Emulator;
use forge_tests::registry::Registry;
use forge_tests::*;

use crate::release::{git, ReleaseRepo};

const TOKEN: &str = "sentinel-gh-token-plan-11";

fn tools() -> bool {
    require_tools(&["git", "gpg", "/usr/bin/cargo", "skopeo", "docker-registry"])
}

/// The GitHub emulator's environment for a run.
fn github_env(gh: &Emulator) -> Vec<(String, String)> {
    vec![
        ("GITHUB_API_URL".into(), gh.url()),
        ("GITHUB_TOKEN".into(), TOKEN.into()),
    ]
}

fn envs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn remote_tag_list(repo: &ReleaseRepo) -> Vec<String> {
    repo.remote_tags()
        .lines()
        .filter_map(|l| l.split("refs/tags/").nth(1))
        .filter(|t| !t.ends_with("^{}"))
        .map(String::from)
        .collect()
}

/// Every tag the emulator holds a release of exactly once, published, and every asset
/// uploaded once.
fn assert_published_once(gh: &Emulator, tags: &[&str]) {
    let releases = gh.releases();
    for tag in tags {
        let of_tag: Vec<_> = releases.iter().filter(|r| r.tag_name == *tag).collect();
        assert_eq!(of_tag.len(), 1, "{tag}: {releases:?}");
        assert!(!of_tag[0].draft, "{tag} is still a draft");
    }
    // Each asset of each release uploaded once (the upload path names the release).
    let mut seen = std::collections::BTreeMap::new();
    for l in gh.uploads().iter().filter(|l| l.status == 201) {
        *seen
            .entry((l.path.clone(), l.name_param().unwrap_or_default()))
            .or_insert(0) += 1;
    }
    for ((path, name), count) in seen {
        assert_eq!(count, 1, "{name} uploaded {count} times to {path}");
    }
}

fn failed_with(out: &Output, code: i32, words: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for w in words {
        assert!(err.contains(w), "`{w}` not in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Two packages of a workspace at one version: released one after the other (tags of their
/// own with `{{name}}`), then together with `--workspace` (a tag each), then with one shared
/// tag (`tag-format` without `{{name}}`): each is published and tagged once, with its own
/// release state and `latest` pointer.
#[test]
fn workspace_packages_one_by_one_and_together() {
    if !tools() {
        return;
    }
    let gh = Emulator::github("acme/ws", TOKEN);
    let repo = ReleaseRepo::of_workspace(
        "release-workspace",
        "tag-format = \"{{name}}-v{{version}}\"\nhosts = [{ kind = \"dir\", path = \"dist\" }, { kind = \"github\", repo = \"acme/ws\" }]",
    );
    let env_owned = github_env(&gh);
    let env = envs(&env_owned);
    let tc = ["--toolchain", "/usr"];

    // A library without a binary cannot be archived: said at plan time, with the fix.
    let out = repo.release(&["1.0.0", "--workspace", "--yes", tc[0], tc[1]], &env);
    failed_with(
        &out,
        2,
        &["`forge-ws-probe` has no binary", "--exclude forge-ws-probe"],
    );
    // `{{name}}` is the package's name (it was released as literal text).
    let out = repo.release(
        &[
            "plan",
            "1.0.0",
            "-p",
            "forge-ws-alpha",
            "--message-format",
            "json",
        ],
        &[],
    );
    assert_success(&out, "plan with {{name}}");
    let planned = crate::json::document(&out, "cargo-forge/release-planned/v1");
    let plan: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo.path().join("target/forge/release/plan.json")).unwrap(),
    )
    .unwrap();
    // plan.json is the `cargo-forge/release-plan/v1` document, and what `plan` printed.
    crate::json::validate(&plan);
    assert_eq!(planned["plan"], plan);
    assert_eq!(plan["releases"][0]["tag"], "forge-ws-alpha-v1.0.0");

    for pkg in ["forge-ws-alpha", "forge-ws-beta"] {
        let out = repo.release(&["1.0.0", "-p", pkg, "--yes", tc[0], tc[1]], &env);
        assert_success(&out, &format!("release {pkg}"));
        assert!(
            !stderr(&out).contains("already published"),
            "{}",
            stderr(&out)
        );
        let dir = repo.path().join(format!("dist/{pkg}-v1.0.0"));
        assert!(
            dir.join(format!("{pkg}-1.0.0-{}.tar.gz", host_triple()))
                .is_file(),
            "{pkg} not published: {}",
            stderr(&out)
        );
        assert!(repo
            .path()
            .join(format!("target/forge/release/{pkg}/1.0.0/state.json"))
            .is_file());
        assert_eq!(
            std::fs::read_link(repo.path().join(format!("dist/{pkg}-latest"))).unwrap(),
            PathBuf::from(format!("{pkg}-v1.0.0"))
        );
    }
    // Released again: nothing to do, for each.
    let out = repo.release(&["1.0.0", "-p", "forge-ws-beta", "--yes"], &env);
    assert_success(&out, "again");
    assert!(
        stderr(&out).contains("already published"),
        "{}",
        stderr(&out)
    );

    // Both together, a tag each, the version bumped once for the workspace.
    let out = repo.release(
        &[
            "1.1.0",
            "--workspace",
            "--exclude",
            "forge-ws-probe",
            "--bump",
            "--yes",
            tc[0],
            tc[1],
        ],
        &env,
    );
    assert_success(&out, "--workspace 1.1.0");
    let bumps = stdout(&git(repo.path(), &["log", "--format=%s"]));
    assert_eq!(bumps.matches("Release 1.1.0").count(), 1, "{bumps}");
    for pkg in ["forge-ws-alpha", "forge-ws-beta"] {
        assert!(repo
            .path()
            .join(format!("dist/{pkg}-v1.1.0/SHA256SUMS"))
            .is_file());
        assert_eq!(
            std::fs::read_link(repo.path().join(format!("dist/{pkg}-latest"))).unwrap(),
            PathBuf::from(format!("{pkg}-v1.1.0"))
        );
    }

    // One shared tag: both packages in one release.
    repo.fx.edit_manifest(
        "tag-format = \"{{name}}-v{{version}}\"",
        "tag-format = \"v{{version}}\"",
    );
    git(
        repo.path(),
        &["commit", "-q", "-am", "one tag for the workspace"],
    );
    let out = repo.release(
        &[
            "1.2.0",
            "--workspace",
            "--exclude",
            "forge-ws-probe",
            "--bump",
            "--yes",
            tc[0],
            tc[1],
        ],
        &env,
    );
    assert_success(&out, "--workspace 1.2.0, one tag");
    let shared = repo.path().join("dist/v1.2.0");
    for pkg in ["forge-ws-alpha", "forge-ws-beta"] {
        assert!(
            shared
                .join(format!("{pkg}-1.2.0-{}.tar.gz", host_triple()))
                .is_file(),
            "{pkg} missing from the shared release"
        );
    }
    assert_eq!(
        std::fs::read_link(repo.path().join("dist/latest")).unwrap(),
        PathBuf::from("v1.2.0")
    );
    assert!(repo
        .path()
        .join("target/forge/release/forge-ws-alpha+forge-ws-beta/1.2.0/state.json")
        .is_file());

    let tags = [
        "forge-ws-alpha-v1.0.0",
        "forge-ws-beta-v1.0.0",
        "forge-ws-alpha-v1.1.0",
        "forge-ws-beta-v1.1.0",
        "v1.2.0",
    ];
    assert_published_once(&gh, &tags);
    assert_eq!(gh.releases().len(), tags.len(), "{:?}", gh.releases());
    let mut remote = remote_tag_list(&repo);
    remote.sort();
    let mut expected: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(remote, expected);
    let shared_release = gh
        .releases()
        .into_iter()
        .find(|r| r.tag_name == "v1.2.0")
        .unwrap();
    let names: Vec<&str> = shared_release
        .assets
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    for pkg in ["forge-ws-alpha", "forge-ws-beta"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(&format!("{pkg}-1.2.0-"))),
            "{names:?}"
        );
    }
}

/// The host triple of `/usr/bin/rustc`.
fn host_triple() -> String {
    let out = run(Command::new("/usr/bin/rustc").arg("-vV"));
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .trim()
        .to_string()
}

/// The lines the probe's build script wrote (see tests/fixtures/release-workspace/probe).
fn probe_lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Secrets only where they are used: `plan` and `build` succeed with no token in the
/// environment; with tokens there, a dependency's build script sees none of them, in `build`
/// and in `cargo forge-image --push-by-digest`, and `push-image` runs no build at all.
/// `publish` without credentials fails before any side effect, naming every variable; with
/// them it publishes, and `merge` tags the image index.
#[test]
fn secrets_only_where_used() {
    if !tools() || !forge_tests::s3::require_weed() {
        return;
    }
    let gh = Emulator::github("acme/ws", TOKEN);
    let reg = Registry::start();
    let s3 = forge_tests::s3::SeaweedS3::start();
    let repo = ReleaseRepo::of_workspace(
        "release-workspace",
        &format!(
            "artifacts = [\"archive\", \"image\"]\nhosts = [{{ kind = \"github\", repo = \"acme/ws\" }}, {{ kind = \"s3\", bucket = \"{}\", prefix = \"ws\", endpoint = \"{}\" }}, {{ kind = \"oci\", repository = \"{}/ws/alpha\" }}, {{ kind = \"dir\", path = \"dist\" }}]",
            forge_tests::s3::BUCKET,
            s3.endpoint(),
            reg.host()
        ),
    );
    let probe = repo.path().join("target/probe.txt");
    let plan_dir = repo.path().join("target/ci");
    let plan_file = plan_dir.join("plan.json");
    let no_token: Vec<(&str, &str)> = vec![
        ("GITHUB_TOKEN", ""),
        ("GH_TOKEN", ""),
        ("GITHUB_API_URL", ""),
    ];
    let out = repo.release(
        &[
            "plan",
            "1.0.0",
            "-p",
            "forge-ws-alpha",
            "--toolchain",
            "/usr",
            "--out",
            plan_dir.to_str().unwrap(),
        ],
        &no_token,
    );
    assert_success(&out, "plan without a token");
    let plan_text = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!plan_text.contains(TOKEN));

    // Build with every credential in the environment: the build script sees none.
    let sentinels = [
        ("GITHUB_TOKEN", "sentinel-build-gh-1"),
        ("GH_TOKEN", "sentinel-build-gh-2"),
        ("AWS_SECRET_ACCESS_KEY", "sentinel-build-aws-3"),
        ("FORGE_REGISTRY_PASSWORD", "sentinel-build-reg-4"),
    ];
    let mut env = sentinels.to_vec();
    env.push(("FORGE_PROBE_FILE", probe.to_str().unwrap()));
    let arts = repo.path().join("target/ci-artifacts");
    let out = repo.release(
        &[
            "build",
            "--plan",
            plan_file.to_str().unwrap(),
            "--out",
            arts.to_str().unwrap(),
        ],
        &env,
    );
    assert_success(&out, "build with tokens in the environment");
    let lines = probe_lines(&probe);
    assert!(!lines.is_empty(), "the build script did not run");
    for l in &lines {
        assert_eq!(
            l,
            "GITHUB_TOKEN=[] GH_TOKEN=[] AWS_SECRET_ACCESS_KEY=[] FORGE_REGISTRY_PASSWORD=[]"
        );
    }
    // Also `build` without any token.
    let out = repo.release(
        &[
            "build",
            "--plan",
            plan_file.to_str().unwrap(),
            "--out",
            arts.to_str().unwrap(),
            "--message-format",
            "json",
        ],
        &no_token,
    );
    assert_success(&out, "build without a token");
    let built = crate::json::document(&out, "cargo-forge/release-built/v1");
    assert_eq!(built["staged"][0]["package"], "forge-ws-alpha", "{built}");
    assert!(
        Path::new(built["staged"][0]["dir"].as_str().unwrap())
            .join("staged.json")
            .is_file(),
        "{built}"
    );

    // push-image: registry only, no cargo (the probe is not run again).
    let before = probe_lines(&probe).len();
    let digests = repo.path().join("target/ci-digests");
    let mut env = sentinels.to_vec();
    env.push(("FORGE_PROBE_FILE", probe.to_str().unwrap()));
    let out = repo.release(
        &[
            "push-image",
            "--plan",
            plan_file.to_str().unwrap(),
            "--artifacts",
            arts.to_str().unwrap(),
            "--digests",
            digests.to_str().unwrap(),
            "--message-format",
            "json",
        ],
        &env,
    );
    assert_success(&out, "push-image");
    let pushed = crate::json::document(&out, "cargo-forge/release-digests/v1");
    let written = Path::new(pushed["digest_files"][0]["path"].as_str().unwrap());
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(written).unwrap()).unwrap();
    assert_eq!(file["digest"], pushed["digest_files"][0]["digest"]);
    assert_eq!(probe_lines(&probe).len(), before, "push-image ran a build");
    assert!(
        !stderr(&out).contains("Compiling") && !stderr(&out).contains("Building"),
        "{}",
        stderr(&out)
    );
    let files: Vec<_> = std::fs::read_dir(&digests).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one digest file per platform");
    // forge-image's own push-by-digest builds: its build script sees no token either.
    let image_probe = repo.path().join("target/probe-image.txt");
    let out = run(Command::new(bin("cargo-forge-image"))
        .args([
            "forge-image",
            "-p",
            "forge-ws-alpha",
            "--toolchain",
            "/usr",
            "--repository",
            &format!("{}/ws/direct", reg.host()),
            "--push-by-digest",
            "--digest-file",
        ])
        .arg(repo.path().join("target/direct.json"))
        .current_dir(repo.path())
        .envs(sentinels.iter().copied())
        .env("FORGE_PROBE_FILE", &image_probe)
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-image --push-by-digest");
    let lines = probe_lines(&image_probe);
    assert!(!lines.is_empty(), "the build script did not run");
    assert!(lines.iter().all(|l| !l.contains("sentinel")), "{lines:?}");

    // publish without credentials: refused before any side effect, naming the variables.
    let out = repo.release(
        &[
            "publish",
            "--plan",
            plan_file.to_str().unwrap(),
            "--artifacts",
            arts.to_str().unwrap(),
            "--yes",
            "--message-format",
            "json",
        ],
        &[
            ("GITHUB_TOKEN", ""),
            ("GH_TOKEN", ""),
            ("GITHUB_API_URL", &gh.url()),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ],
    );
    failed_with(
        &out,
        2,
        &[
            "GITHUB_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "nothing was done",
        ],
    );
    let error = crate::json::document(&out, "cargo-forge/error/v1");
    assert_eq!(error["exit_code"], 2);
    assert!(
        error["message"].as_str().unwrap().contains("GITHUB_TOKEN")
            || error["causes"].to_string().contains("GITHUB_TOKEN"),
        "{error}"
    );
    assert!(gh.requests().is_empty(), "publish talked to GitHub");
    assert!(s3.list("ws/").is_empty(), "publish wrote to S3");
    assert!(!repo.path().join("dist").exists());
    assert!(!remote_tag_list(&repo).contains(&"v1.0.0".to_string()));

    // With them: published; then merge tags the index (`latest` too: nothing is newer).
    let out = repo.release(
        &[
            "publish",
            "--plan",
            plan_file.to_str().unwrap(),
            "--artifacts",
            arts.to_str().unwrap(),
            "--yes",
            "--message-format",
            "json",
        ],
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_API_URL", &gh.url()),
            ("AWS_ACCESS_KEY_ID", forge_tests::s3::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", forge_tests::s3::SECRET_KEY),
        ],
    );
    assert_success(&out, "publish with credentials");
    let published = crate::json::document(&out, "cargo-forge/release-published/v1");
    assert_eq!(published["releases"][0]["tag"], "v1.0.0", "{published}");
    assert!(!stdout(&out).contains(TOKEN));
    assert_published_once(&gh, &["v1.0.0"]);
    assert!(s3.get("ws/latest.json").is_some());
    let out = repo.release(
        &[
            "merge",
            "--plan",
            plan_file.to_str().unwrap(),
            "--digests",
            digests.to_str().unwrap(),
            "--message-format",
            "json",
        ],
        &[],
    );
    assert_success(&out, "merge");
    let merged = crate::json::document(&out, "cargo-forge/release-merged/v1");
    assert_eq!(merged["images"][0]["package"], "forge-ws-alpha", "{merged}");
    assert!(
        merged["images"][0]["pushed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(":latest@sha256:")),
        "{merged}"
    );
    let tags = registry_tags(&reg, "ws/alpha");
    for t in ["1.0.0", "1.0", "1", "latest"] {
        assert!(tags.contains(&t.to_string()), "{t} not in {tags:?}");
    }
}

fn registry_tags(reg: &Registry, repo: &str) -> Vec<String> {
    let out = run(Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{}/{repo}", reg.host())));
    assert_success(&out, "skopeo list-tags");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// The digest a tag points at.
fn tag_digest(reg: &Registry, repo: &str, tag: &str) -> String {
    let out = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{}/{repo}:{tag}", reg.host())));
    assert_success(&out, &format!("skopeo inspect {tag}"));
    sha256_hex(stdout(&out).as_bytes())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// 1.2.4 released after 1.3.0 (a backport): GitHub's latest release, the image's `latest`
/// and `1`, and the directory's `latest` stay on 1.3.0; `1.2` moves to 1.2.4.
#[test]
fn a_backport_never_moves_latest_backwards() {
    if !tools() {
        return;
    }
    let gh = Emulator::github("acme/cli", TOKEN);
    let reg = Registry::start();
    let repo = ReleaseRepo::new(&format!(
        "artifacts = [\"archive\", \"image\"]\nhosts = [{{ kind = \"dir\", path = \"dist\" }}, {{ kind = \"github\", repo = \"acme/cli\" }}, {{ kind = \"oci\", repository = \"{}/bp/cli\" }}]",
        reg.host()
    ));
    let env_owned = github_env(&gh);
    let env = envs(&env_owned);
    for v in ["1.2.3", "1.3.0", "1.2.4"] {
        let out = repo.release(&[v, "--bump", "--yes", "--toolchain", "/usr"], &env);
        assert_success(&out, v);
    }
    // GitHub: the latest release is still 1.3.0 (1.2.4 was published with make_latest false);
    // `releases()` is newest first, as GitHub's `/releases/latest` looks.
    let latest = gh
        .releases()
        .into_iter()
        .find(|r| !r.draft && !r.prerelease && r.make_latest.as_deref() != Some("false"))
        .unwrap();
    assert_eq!(latest.tag_name, "v1.3.0");
    let backport = gh
        .releases()
        .into_iter()
        .find(|r| r.tag_name == "v1.2.4")
        .unwrap();
    assert!(!backport.draft);
    assert_eq!(backport.make_latest.as_deref(), Some("false"));
    // Registry: latest and 1 on 1.3.0, 1.2 on 1.2.4.
    let d130 = tag_digest(&reg, "bp/cli", "1.3.0");
    let d124 = tag_digest(&reg, "bp/cli", "1.2.4");
    assert_ne!(d130, d124);
    assert_eq!(tag_digest(&reg, "bp/cli", "latest"), d130);
    assert_eq!(tag_digest(&reg, "bp/cli", "1"), d130);
    assert_eq!(tag_digest(&reg, "bp/cli", "1.3"), d130);
    assert_eq!(tag_digest(&reg, "bp/cli", "1.2"), d124);
    // The directory's pointer.
    assert_eq!(
        std::fs::read_link(repo.path().join("dist/latest")).unwrap(),
        PathBuf::from("v1.3.0")
    );
    assert!(repo.path().join("dist/v1.2.4/SHA256SUMS").is_file());
    // `cargo forge-image --push` of the 1.2.4 checkout follows the same rule.
    let out = run(Command::new(bin("cargo-forge-image"))
        .args([
            "forge-image",
            "--push",
            "--toolchain",
            "/usr",
            "--repository",
        ])
        .arg(format!("{}/bp/cli", reg.host()))
        .current_dir(repo.path())
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-image --push at 1.2.4");
    assert!(
        stderr(&out).contains("stays where it is"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tag_digest(&reg, "bp/cli", "latest"), d130);
    assert_eq!(tag_digest(&reg, "bp/cli", "1"), d130);
}

/// `--bump --stage-only` stages the bumped version (file names, the binary's own version, the
/// package's) and leaves Cargo.toml as it was; a `--bump` release whose publish failed after
/// the bump commit resumes when the same command runs again, with one bump commit.
#[test]
fn bump_stage_only_stages_the_new_version_and_a_failed_bump_resumes() {
    if !require_tools(&["git", "gpg", "/usr/bin/cargo", "dpkg-shlibdeps"]) {
        return;
    }
    let gh = Emulator::github("acme/cli", TOKEN);
    let repo = ReleaseRepo::new(
        "artifacts = [\"archive\", \"deb\"]\nhosts = [{ kind = \"github\", repo = \"acme/cli\" }]",
    );
    let env_owned = github_env(&gh);
    let env = envs(&env_owned);
    let manifest_before = std::fs::read(repo.path().join("Cargo.toml")).unwrap();
    let lock_before = std::fs::read(repo.path().join("Cargo.lock")).unwrap();
    let out = repo.release(
        &["0.4.0", "--bump", "--stage-only", "--toolchain", "/usr"],
        &env,
    );
    assert_success(&out, "--bump --stage-only");
    let staging = repo
        .path()
        .join("target/forge/release/forge-fixture-cli/0.4.0/staging");
    let archive = staging.join(format!("forge-fixture-cli-0.4.0-{}.tar.gz", host_triple()));
    assert!(archive.is_file(), "{}", stderr(&out));
    let deb = std::fs::read_dir(&staging)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb");
    assert_eq!(deb_control(&deb).unwrap()["Version"], "0.4.0-1");
    // The binary in the archive says 0.4.0.
    let x = tempfile::tempdir().unwrap();
    assert_success(
        &run(Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(x.path())),
        "untar",
    );
    let bin = x
        .path()
        .join(format!("forge-fixture-cli-0.4.0-{}", host_triple()))
        .join("forge-fixture-cli");
    let version = run(Command::new(&bin).arg("--version"));
    assert!(stdout(&version).contains("0.4.0"), "{}", stdout(&version));
    assert_eq!(
        std::fs::read(repo.path().join("Cargo.toml")).unwrap(),
        manifest_before
    );
    assert_eq!(
        std::fs::read(repo.path().join("Cargo.lock")).unwrap(),
        lock_before
    );
    assert!(stdout(&git(
        repo.path(),
        &["status", "--porcelain", "--untracked-files=no"]
    ))
    .trim()
    .is_empty());

    // The publish fails after the bump commit; the same command finishes it.
    gh.fail_uploads(10, 500);
    let out = repo.release(
        &[
            "0.4.0",
            "--bump",
            "--yes",
            "--retries",
            "2",
            "--toolchain",
            "/usr",
        ],
        &env,
    );
    failed_with(&out, 5, &["nothing was published"]);
    gh.fail_uploads(0, 500);
    let out = repo.release(&["0.4.0", "--bump", "--yes", "--toolchain", "/usr"], &env);
    assert_success(&out, "the same --bump command again");
    assert!(stderr(&out).contains("resuming"), "{}", stderr(&out));
    let log = stdout(&git(repo.path(), &["log", "--format=%s"]));
    assert_eq!(log.matches("Release 0.4.0").count(), 1, "{log}");
    assert_published_once(&gh, &["v0.4.0"]);
    assert!(remote_tag_list(&repo).contains(&"v0.4.0".to_string()));
}

/// A tag with `/` (`release/v{{version}}`) on every host that uses the tag: a directory (nested
/// directories, `latest` pointing into them), S3 (nested keys), GitHub and Gitea (the tag
/// name as it is), and git.
#[test]
fn a_tag_with_a_slash_works_on_every_host() {
    if !require_tools(&["git", "gpg", "/usr/bin/cargo"]) || !forge_tests::s3::require_weed() {
        return;
    }
    let gh = Emulator::github("acme/cli", TOKEN);
    let gitea = Emulator::gitea("acme/cli", "sentinel-gitea-slash");
    let s3 = forge_tests::s3::SeaweedS3::start();
    let repo = ReleaseRepo::new(&format!(
        "tag-format = \"release/v{{{{version}}}}\"\nhosts = [{{ kind = \"dir\", path = \"dist\" }}, {{ kind = \"github\", repo = \"acme/cli\" }}, {{ kind = \"gitea\", url = \"{}\", repo = \"acme/cli\" }}, {{ kind = \"s3\", bucket = \"{}\", prefix = \"cli\", endpoint = \"{}\" }}]",
        gitea.url(),
        forge_tests::s3::BUCKET,
        s3.endpoint()
    ));
    let out = repo.release(
        &["0.1.0", "--yes", "--toolchain", "/usr"],
        &[
            ("GITHUB_API_URL", &gh.url()),
            ("GITHUB_TOKEN", TOKEN),
            ("GITEA_TOKEN", "sentinel-gitea-slash"),
            ("AWS_ACCESS_KEY_ID", forge_tests::s3::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", forge_tests::s3::SECRET_KEY),
        ],
    );
    assert_success(&out, "release/v0.1.0");
    assert!(repo.path().join("dist/release/v0.1.0/SHA256SUMS").is_file());
    assert_eq!(
        std::fs::read_link(repo.path().join("dist/latest")).unwrap(),
        PathBuf::from("release/v0.1.0")
    );
    assert!(repo.path().join("dist/latest/SHA256SUMS").is_file());
    assert!(s3.get("cli/release/v0.1.0/SHA256SUMS").is_some());
    let latest = String::from_utf8(s3.get("cli/latest.json").unwrap()).unwrap();
    assert!(latest.contains("release/v0.1.0"), "{latest}");
    assert_published_once(&gh, &["release/v0.1.0"]);
    let on_gitea = gitea.releases();
    assert_eq!(on_gitea.len(), 1);
    assert_eq!(on_gitea[0].tag_name, "release/v0.1.0");
    assert!(!on_gitea[0].draft);
    assert!(remote_tag_list(&repo).contains(&"release/v0.1.0".to_string()));

    // What git refuses is refused at plan time, before anything.
    repo.fx.edit_manifest(
        "tag-format = \"release/v{{version}}\"",
        "tag-format = \"release//v{{version}}\"",
    );
    let out = repo.release(&["0.1.0", "--dry-run", "--allow-dirty"], &[]);
    failed_with(&out, 2, &["which git does not accept as a tag"]);
}
