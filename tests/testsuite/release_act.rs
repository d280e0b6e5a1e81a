//! The workflow `cargo forge-release ci` generates, run end to end with act (see
//! `forge_tests::act`): a tag push of a crate released to GitHub (the REST emulator), an OCI
//! registry (docker-registry with a password) and S3 (SeaweedFS), for amd64 and arm64 (the arm64
//! job runs on this amd64 machine as a self-hosted `ubuntu-24.04-arm` runner would, cross-compiling
//! with Debian's toolchain, which is why the crate says `toolchain = "/usr"`).
//!
//! The run is the one a user gets: `forge` finds cargo-forge on the runner's PATH (the binaries
//! under test, stripped) and builds nothing, `plan` plans, each `build` job builds and its
//! `push-image` step pushes the platform image by digest, `publish` imports the gpg key (a
//! passphrase-protected one) and publishes, `merge` tags the index. The first run has the
//! emulator fail every upload of one asset: publish fails and nothing is visible anywhere; the
//! second run — a new workflow run, rebuilding everything — completes the release, each asset
//! uploaded once over both runs.
//!
//! Only the lines act's schema cannot take are changed before running: `queue: max` (GitHub's
//! concurrency queue, May 2026, newer than act 0.2.89's schema; act runs no concurrency groups
//! anyway). The test checks that nothing else differs.
//!
//! A Forgejo-flavoured run of the same kind (a `gitea` host on the emulator's Gitea mode, the
//! `docker` runner label, publishing by `workflow_dispatch`) is cheaper: one target, archives
//! only.

use std::path::{Path, PathBuf};
use std::process::Command;

use forge_tests::act::{git, Act, Remote};
use forge_tests::github::{EmuRelease, Emulator};
use forge_tests::registry::{Registry, REGISTRY_BIN};
use forge_tests::s3::{require_weed, SeaweedS3, ACCESS_KEY, BUCKET, SECRET_KEY};
use forge_tests::*;

const REPO: &str = "acme/app";
const TOKEN: &str = "ghp_act-test-token-3141";
const TAG: &str = "v0.1.0";
const VERSION: &str = "0.1.0";
const PACKAGE: &str = "forge-fixture-cli";
const AMD64: &str = "x86_64-unknown-linux-gnu";
const ARM64: &str = "aarch64-unknown-linux-gnu";
const REGISTRY_USER: &str = "registry-bot";
const REGISTRY_PASSWORD: &str = "registry-pass-2718";
const GPG_UID: &str = "App Releases <releases@example.com>";
const GPG_EMAIL: &str = "releases@example.com";
const GPG_PASS: &str = "gpg-pass-1618";
const S3_PREFIX: &str = "releases";

fn prerequisites() -> bool {
    require_tools(&[
        "act",
        "git",
        "gpg",
        "gpgconf",
        "skopeo",
        "objcopy",
        "aarch64-linux-gnu-gcc",
        "/usr/bin/cargo",
        "/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib",
        REGISTRY_BIN,
    ]) && require_weed()
}

/// A directory holding the binaries under test, stripped (the debug build is a quarter of a
/// gigabyte, and the `forge` job hands it to the other jobs as an artifact, copying it).
fn forge_on_path(dir: &Path) -> PathBuf {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let out = run(Command::new("objcopy")
        .arg("--strip-debug")
        .arg(bin("cargo-forge-release"))
        .arg(bin_dir.join("cargo-forge-release")));
    assert_success(&out, "objcopy --strip-debug");
    bin_dir
}

/// `cargo-forge-release forge-release ARGS` in `dir`.
fn forge_release(dir: &Path, args: &[&str]) -> std::process::Output {
    run(Command::new(bin("cargo-forge-release"))
        .arg("forge-release")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1"))
}

/// A gpg home with a passphrase-protected signing key; returns it and the armoured secret key.
fn signing_key() -> (tempfile::TempDir, String) {
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str]| {
        let out = run(Command::new("gpg")
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                GPG_PASS,
            ])
            .args(args)
            .env("GNUPGHOME", home.path()));
        assert_success(&out, &format!("gpg {args:?}"));
        out.stdout
    };
    gpg(&["--quick-gen-key", GPG_UID, "ed25519", "sign", "never"]);
    let secret = String::from_utf8(gpg(&["--armor", "--export-secret-keys", GPG_EMAIL])).unwrap();
    assert!(secret.contains("BEGIN PGP PRIVATE KEY BLOCK"));
    (home, secret)
}

/// Stops the gpg-agents the publish jobs started in their `$RUNNER_TEMP/gnupg`.
fn stop_agents(scratch: &Path) {
    let mut todo = vec![scratch.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() || p.is_symlink() {
                continue;
            }
            if p.file_name().is_some_and(|n| n == "gnupg") {
                let _ = Command::new("gpgconf")
                    .args(["--kill", "gpg-agent"])
                    .env("GNUPGHOME", &p)
                    .status();
            } else {
                todo.push(p);
            }
        }
    }
}

/// The fixture crate, committed on `main`, tagged, pushed to `remote`, with its release table.
fn release_crate(release_table: &str, forge_table: &str) -> Fixture {
    let fx = Fixture::copy("cli-tool");
    let manifest = fx.path().join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(forge_table);
    text.push_str(release_table);
    std::fs::write(&manifest, text).unwrap();
    git(fx.path(), &["init", "-q", "-b", "main"]);
    git(fx.path(), &["config", "user.name", "Release Bot"]);
    git(fx.path(), &["config", "user.email", "bot@example.com"]);
    std::fs::write(fx.path().join(".gitignore"), "/target\n").unwrap();
    fx
}

/// Writes the workflow with `cargo forge-release ci`, commits everything, tags `TAG` and pushes
/// both to `remote`. Returns the workflow's path and the command's stderr (its warnings).
fn commit_and_tag(fx: &Fixture, remote: &Remote, provider: &str) -> (String, String) {
    let out = forge_release(fx.path(), &["ci", "--provider", provider]);
    assert_success(&out, "cargo forge-release ci");
    let workflow = stdout(&out).trim().to_string();
    let rel = Path::new(&workflow)
        .strip_prefix(fx.path())
        .expect("the workflow is in the crate")
        .display()
        .to_string();
    git(fx.path(), &["add", "-A"]);
    git(fx.path(), &["commit", "-q", "-m", "release 0.1.0"]);
    git(fx.path(), &["tag", "-a", TAG, "-m", TAG]);
    remote.publish(fx.path(), &["main", &format!("refs/tags/{TAG}")]);
    (rel, stderr(&out))
}

/// The workflow as act can run it: without `queue: max` (see the module docs), nothing else
/// changed. Written next to the original, which stays what `ci --check` compares.
fn for_act(dir: &Path, rel: &str) -> String {
    let text = std::fs::read_to_string(dir.join(rel)).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| l.trim() != "queue: max").collect();
    let removed = text.lines().count() - kept.len();
    assert!(
        removed <= 2,
        "only the queue lines of publish and merge go: {removed}"
    );
    let act_rel = rel.replace("release.yml", "release-act.yml");
    std::fs::write(dir.join(&act_rel), kept.join("\n") + "\n").unwrap();
    // the committed workflow is the generated one
    let check = forge_release(
        dir,
        &[
            "ci",
            "--provider",
            if rel.starts_with(".github") {
                "github"
            } else {
                "forgejo"
            },
            "--check",
        ],
    );
    assert_success(&check, "ci --check");
    act_rel
}

/// The names and digests listed in a SHA256SUMS file.
fn sums(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(d, n)| (n.trim().to_string(), d.to_string()))
        .collect()
}

fn skopeo(args: &[&str], reference: &str) -> serde_json::Value {
    let out = run(Command::new("skopeo")
        .args(args)
        .args([
            "--tls-verify=false",
            "--creds",
            &format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"),
        ])
        .arg(format!("docker://{reference}")));
    assert_success(&out, &format!("skopeo {args:?} {reference}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn visible(releases: &[EmuRelease]) -> Vec<&EmuRelease> {
    releases.iter().filter(|r| !r.draft).collect()
}

#[test]
fn the_generated_github_workflow_releases_a_tag_under_act() {
    if !prerequisites() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let emu = Emulator::github(REPO, TOKEN);
    let s3 = SeaweedS3::start();
    let registry = Registry::start_with_htpasswd(REGISTRY_USER, REGISTRY_PASSWORD);
    let (gpg_home, secret_key) = signing_key();
    let repository = format!("{}/acme/app", registry.host());

    let fx = release_crate(
        &format!(
            r#"
[package.metadata.forge.release]
targets = ["{AMD64}", "{ARM64}"]
artifacts = ["archive", "image"]
sign = {{ gpg = "{GPG_EMAIL}" }}
hosts = [
  {{ kind = "github", repo = "{REPO}" }},
  {{ kind = "oci", repository = "{repository}" }},
  {{ kind = "s3", bucket = "{BUCKET}", prefix = "{S3_PREFIX}", endpoint = "{}" }},
]
"#,
            s3.endpoint()
        ),
        "
[package.metadata.forge]
toolchain = \"/usr\"

[package.metadata.forge.image]
base = \"scratch\"
",
    );
    let remote = Remote::new(REPO);
    let (rel, warnings) = commit_and_tag(&fx, &remote, "github");
    assert_eq!(rel, ".github/workflows/release.yml");
    // settings right for this self-hosted runner only are pointed out, and written all the same
    for w in [
        "`toolchain = \"/usr\"` is a directory",
        &format!("`{repository}` is on loopback"),
        &format!("`{}` is on loopback", s3.endpoint()),
    ] {
        assert!(warnings.contains(w), "no warning about {w}:\n{warnings}");
    }
    let act_rel = for_act(fx.path(), &rel);

    let bin_dir = forge_on_path(scratch.path());
    let mut act = Act::tag_push(fx.path(), &act_rel, TAG);
    act.labels = vec!["ubuntu-24.04".into(), "ubuntu-24.04-arm".into()];
    act.path_front = vec![bin_dir];
    act.env = remote.git_env();
    act.env.push(("GITHUB_API_URL".into(), emu.url()));
    // two attempts per request: the failing run gives up quickly
    act.env.push(("FORGE_RETRIES".into(), "2".into()));
    act.secrets = vec![
        ("GITHUB_TOKEN".into(), TOKEN.into()),
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ("FORGE_REGISTRY_USERNAME".into(), REGISTRY_USER.into()),
        ("FORGE_REGISTRY_PASSWORD".into(), REGISTRY_PASSWORD.into()),
        ("GPG_PRIVATE_KEY".into(), secret_key),
        ("GPG_PASSPHRASE".into(), GPG_PASS.into()),
    ];
    let builds = [format!("build {AMD64}"), format!("build {ARM64}")];
    let before_publish = ["forge amd64", "forge arm64", "plan", &builds[0], &builds[1]];

    // Run 1: every upload of the amd64 archive fails; those before it (the arm64 archive) go
    // through.
    let failing = format!("{PACKAGE}-{VERSION}-{AMD64}.tar.gz");
    emu.fail_uploads_of(&failing, 1000, 500);
    let first = act.run(scratch.path());
    stop_agents(scratch.path());
    first.assert_jobs_succeeded(&before_publish);
    assert!(
        first.failed("publish") && !first.success,
        "publish must fail: {:?}\n{}",
        first.results(),
        first.transcript()
    );
    assert!(
        !first.results().contains_key("merge"),
        "merge ran after a failed publish"
    );
    // nothing visible: no published release, no pointer on S3, no tag in the registry
    assert!(visible(&emu.releases()).is_empty(), "{:?}", emu.releases());
    let objects = s3.list(S3_PREFIX);
    assert!(
        !objects
            .iter()
            .any(|(k, _)| k.ends_with("latest.json") || k.ends_with("release.json")),
        "{objects:?}"
    );
    let tags = run(Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false", "--creds"])
        .arg(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"))
        .arg(format!("docker://{repository}")));
    let listed = String::from_utf8_lossy(&tags.stdout);
    assert!(
        !tags.status.success() || !listed.contains(VERSION) && !listed.contains("latest"),
        "tags after a failed publish: {listed}"
    );
    let uploaded_first = emu.successful_uploads();
    assert!(
        !uploaded_first.is_empty(),
        "the first run uploaded nothing before the fault: {:?}",
        emu.uploads()
    );

    // Run 2: a new run of the workflow completes the release.
    emu.fail_uploads(0, 0);
    let second = act.run(scratch.path());
    stop_agents(scratch.path());
    let mut all = before_publish.to_vec();
    all.extend(["publish", "merge"]);
    second.assert_jobs_succeeded(&all);
    assert!(second.success, "{}", second.transcript());

    // cargo-forge came from PATH: nothing was built or fetched for it, and Rust was there
    for arch in ["amd64", "arm64"] {
        let out = second.output(&format!("forge {arch}"));
        assert!(out.contains("cargo-forge 0.1.0 is on PATH"), "{out}");
    }
    let transcript = second.transcript();
    for step in [
        "Main build cargo-forge",
        "Main install rust",
        "Main fetch cargo-forge",
    ] {
        assert!(
            !transcript.contains(&format!("Success - {step}")),
            "`{step}` ran:\n{transcript}"
        );
    }

    // the build artifacts carry the staged files, not the image layouts push-image pushed
    for target in [AMD64, ARM64] {
        let artifact = second.store.join(format!("build-{target}"));
        let files = files_under(&artifact);
        assert!(
            files.iter().any(|f| f.ends_with("staged.json")),
            "{artifact:?}: {files:?}"
        );
        assert!(
            !files.iter().any(|f| f.contains("/image-")),
            "{artifact:?}: {files:?}"
        );
    }

    // GitHub: one published release holding every file of SHA256SUMS, each uploaded once
    let releases = emu.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    let rel = &releases[0];
    assert!(!rel.draft, "{rel:?}");
    assert_eq!(rel.tag_name, TAG);
    let asset = |name: &str| -> &[u8] {
        &rel.assets
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no asset {name} in {:?}", rel.assets))
            .bytes
    };
    let listed = sums(&String::from_utf8_lossy(asset("SHA256SUMS")));
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    for target in [AMD64, ARM64] {
        let archive = format!("{PACKAGE}-{VERSION}-{target}.tar.gz");
        assert!(names.contains(&archive.as_str()), "{names:?}");
    }
    for (name, digest) in &listed {
        use sha2::Digest;
        assert_eq!(
            &hex::encode(sha2::Sha256::digest(asset(name))),
            digest,
            "{name}"
        );
    }
    // signed with the imported key
    let sig_dir = tempfile::tempdir().unwrap();
    std::fs::write(sig_dir.path().join("SHA256SUMS"), asset("SHA256SUMS")).unwrap();
    std::fs::write(
        sig_dir.path().join("SHA256SUMS.asc"),
        asset("SHA256SUMS.asc"),
    )
    .unwrap();
    let verify = run(Command::new("gpg")
        .args(["--batch", "--verify", "SHA256SUMS.asc", "SHA256SUMS"])
        .current_dir(sig_dir.path())
        .env("GNUPGHOME", gpg_home.path()));
    assert_success(&verify, "gpg --verify SHA256SUMS.asc");
    let uploads = emu.successful_uploads();
    for a in &rel.assets {
        assert_eq!(uploads.get(&a.name), Some(&1), "{}: {uploads:?}", a.name);
    }

    // the registry: a two-platform index, tagged with the version and latest
    let index = skopeo(&["inspect", "--raw"], &format!("{repository}:{VERSION}"));
    let mut platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("not an index: {index}"))
        .iter()
        .map(|m| {
            format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"]).replace('"', "")
        })
        .collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{index}");
    let latest = skopeo(&["inspect", "--raw"], &format!("{repository}:latest"));
    assert_eq!(latest, index);

    // S3: every file of the release
    for (name, _) in &listed {
        let key = format!("{S3_PREFIX}/{TAG}/{name}");
        assert_eq!(
            s3.get(&key).as_deref(),
            Some(asset(name)),
            "{key} in {:?}",
            s3.list(S3_PREFIX)
        );
    }
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", gpg_home.path())
        .status();
}

#[test]
fn the_generated_forgejo_workflow_releases_a_tag_under_act() {
    if !prerequisites() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let emu = Emulator::gitea(REPO, TOKEN);
    let fx = release_crate(
        &format!(
            r#"
[package.metadata.forge.release]
targets = ["{AMD64}"]
hosts = [{{ kind = "gitea", url = "{}", repo = "{REPO}" }}]
"#,
            emu.url()
        ),
        "",
    );
    let remote = Remote::new(REPO);
    let (rel, warnings) = commit_and_tag(&fx, &remote, "forgejo");
    assert_eq!(rel, ".forgejo/workflows/release.yml");
    assert!(warnings.contains("is on loopback"), "{warnings}");
    let act_rel = for_act(fx.path(), &rel);

    let mut act = Act::tag_push(fx.path(), &act_rel, TAG);
    act.labels = vec!["docker".into()];
    act.path_front = vec![forge_on_path(scratch.path())];
    act.env = remote.git_env();
    act.secrets = vec![("FORGEJO_TOKEN".into(), TOKEN.into())];

    // a pushed tag builds and stops before publishing: the dispatch is the approval
    let pushed = act.run(scratch.path());
    pushed.assert_jobs_succeeded(&["forge amd64", "plan", &format!("build {AMD64}")]);
    assert!(
        !pushed.results().contains_key("publish"),
        "{:?}",
        pushed.results()
    );
    assert!(emu.releases().is_empty());

    act.event_name = "workflow_dispatch".into();
    act.event = serde_json::json!({ "inputs": { "tag": TAG } });
    let dispatched = act.run(scratch.path());
    dispatched.assert_jobs_succeeded(&[
        "forge amd64",
        "plan",
        &format!("build {AMD64}"),
        "publish",
    ]);
    let releases = emu.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert!(!releases[0].draft);
    assert_eq!(releases[0].tag_name, TAG);
    let mut names: Vec<&str> = releases[0].assets.iter().map(|a| a.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["SHA256SUMS", &format!("{PACKAGE}-{VERSION}-{AMD64}.tar.gz")]
    );
}

/// The stand-ins behave as the real actions on what the release workflow relies on (so a
/// workflow that works under act works on GitHub): checkout of a tag with and without history,
/// upload roots, globs, exclusions and hidden files, a second upload of a name refused unless
/// `overwrite`, `if-no-files-found`, download by name, by pattern into one directory per
/// artifact or merged, an unknown name refused, and modes not kept.
#[test]
fn the_stand_in_actions_behave_as_the_real_ones() {
    if !require_tools(&["act", "git", "python3"]) {
        return;
    }
    use cargo_forge_release::ci::{CHECKOUT, DOWNLOAD_ARTIFACT, UPLOAD_ARTIFACT};
    let scratch = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    std::fs::write(dir.join("README"), "first\n").unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "T"]);
    git(dir, &["config", "user.email", "t@example.com"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "one"]);
    std::fs::write(dir.join("README"), "second\n").unwrap();
    let workflow = format!(
        r#"name: stand-ins
on: push
jobs:
  up:
    runs-on: ubuntu-24.04
    steps:
      - uses: {CHECKOUT}
        with:
          ref: refs/tags/v1.0.0
          fetch-depth: 0
          persist-credentials: false
      - run: |
          echo "history: $(git rev-list --count HEAD)"
          git for-each-ref
          mkdir -p out/sub out/.hidden
          echo a > out/a.txt
          echo b > out/sub/b.txt
          echo h > out/.hidden/h.txt
          echo x > out/sub/skip.log
          chmod 755 out/a.txt
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: dir
          path: out
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: globbed
          path: |
            out/**/*.txt
            !out/a.txt
          include-hidden-files: true
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: single
          path: out/sub/b.txt
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: nothing
          path: out/none-*
          if-no-files-found: ignore
      - id: again
        continue-on-error: true
        uses: {UPLOAD_ARTIFACT}
        with:
          name: single
          path: out/a.txt
      - uses: {UPLOAD_ARTIFACT}
        with:
          name: single
          path: out/a.txt
          overwrite: true
      - id: none
        continue-on-error: true
        uses: {UPLOAD_ARTIFACT}
        with:
          name: empty
          path: out/none-*
          if-no-files-found: error
  down:
    needs: up
    runs-on: ubuntu-24.04-arm
    steps:
      - uses: {CHECKOUT}
        with:
          ref: refs/tags/v1.0.0
          persist-credentials: false
      - run: |
          echo "shallow: $(git rev-list --count HEAD) $(cat README)"
      - uses: {DOWNLOAD_ARTIFACT}
        with:
          name: single
          path: one
      - uses: {DOWNLOAD_ARTIFACT}
        with:
          pattern: '[dg]*'
          path: each
      - uses: {DOWNLOAD_ARTIFACT}
        with:
          pattern: '[dg]*'
          merge-multiple: true
          path: merged
      - id: missing
        continue-on-error: true
        uses: {DOWNLOAD_ARTIFACT}
        with:
          name: nope
      - run: find one each merged -type f -printf 'file %m %p\n' | sort
"#
    );
    std::fs::write(dir.join(".github/workflows/w.yml"), workflow).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "two"]);
    git(dir, &["tag", "v1.0.0"]);
    let remote = Remote::new("acme/standins");
    remote.publish(dir, &["main", "refs/tags/v1.0.0"]);

    let mut act = Act::tag_push(dir, ".github/workflows/w.yml", "v1.0.0");
    act.labels = vec!["ubuntu-24.04".into(), "ubuntu-24.04-arm".into()];
    act.env = remote.git_env();
    let result = act.run(scratch.path());
    result.assert_jobs_succeeded(&["up", "down"]);
    let up = result.output("up");
    assert!(
        up.contains("history: 2") && up.contains("commit\trefs/remotes/origin/main"),
        "{up}"
    );
    assert!(
        up.contains("an artifact with this name already exists"),
        "{up}"
    );
    assert!(
        up.contains("No files were found with the provided path: out/none-*"),
        "{up}"
    );
    let down = result.output("down");
    assert!(down.contains("shallow: 1 second"), "{down}");
    assert!(down.contains("Artifact not found for name: nope"), "{down}");
    let mut files: Vec<&str> = down
        .lines()
        .filter_map(|l| l.strip_prefix("file "))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            // `dir`: the directory is the root, hidden files left out
            "644 each/dir/a.txt",
            "644 each/dir/sub/b.txt",
            "644 each/dir/sub/skip.log",
            // `globbed`: the search path `out` is the root, a.txt excluded, hidden ones asked for
            "644 each/globbed/.hidden/h.txt",
            "644 each/globbed/sub/b.txt",
            "644 merged/.hidden/h.txt",
            "644 merged/a.txt",
            "644 merged/sub/b.txt",
            "644 merged/sub/skip.log",
            // `single`, overwritten with one file, whose parent is the root
            "644 one/a.txt",
        ]
    );
}
