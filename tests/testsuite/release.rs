//! `cargo forge-release` end to end on a fixture git repository with a bare `origin`: a release
//! to a directory, an APT repository and a registry, with checksums and gpg signatures; dry
//! runs, confirmation, resumption, and bad input stopping before any side effect.

use std::path::{Path, PathBuf};
use std::process::Command;

use forge_tests::registry::Registry;
use forge_tests::*;

/// A fixture crate in a git repository whose `origin` is a bare repository.
pub struct ReleaseRepo {
    pub fx: Fixture,
    /// The bare `origin` repository (kept alive for the test's duration).
    #[allow(dead_code)]
    pub origin: tempfile::TempDir,
    pub gnupg: tempfile::TempDir,
}

pub fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = run(Command::new("git")
        .args([
            "-c",
            "user.email=forge@example.com",
            "-c",
            "user.name=Forge Test",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir));
    assert_success(&out, &format!("git {args:?}"));
    out
}

impl ReleaseRepo {
    /// `release_table` is appended to Cargo.toml as `[package.metadata.forge.release]`.
    pub fn new(release_table: &str) -> ReleaseRepo {
        ReleaseRepo::of_fixture("cli-tool", release_table)
    }

    /// [`ReleaseRepo::new`] of another fixture crate.
    pub fn of_fixture(fixture: &str, release_table: &str) -> ReleaseRepo {
        ReleaseRepo::with_table(fixture, "package.metadata.forge.release", release_table)
    }

    /// [`ReleaseRepo::new`] of a workspace fixture, the table in
    /// `[workspace.metadata.forge.release]`.
    pub fn of_workspace(fixture: &str, release_table: &str) -> ReleaseRepo {
        ReleaseRepo::with_table(fixture, "workspace.metadata.forge.release", release_table)
    }

    fn with_table(fixture: &str, table: &str, release_table: &str) -> ReleaseRepo {
        let fx = Fixture::copy(fixture);
        let gnupg = gpg_home("Forge Release <release@example.com>");
        let manifest = fx.path().join("Cargo.toml");
        let mut s = std::fs::read_to_string(&manifest).unwrap();
        s.push_str(&format!("\n[{table}]\n{release_table}\n"));
        std::fs::write(&manifest, s).unwrap();
        std::fs::write(fx.path().join(".gitignore"), "target/\ndist/\napt/\n").unwrap();
        std::fs::write(fx.path().join("CHANGELOG.md"), "# Changelog\n\n## [0.1.0]\n- first release\n\n## [0.2.0]\n- second release with `more`\n").unwrap();
        let origin = tempfile::tempdir().unwrap();
        git(origin.path(), &["init", "-q", "--bare"]);
        git(fx.path(), &["init", "-q"]);
        git(fx.path(), &["add", "-A"]);
        git(fx.path(), &["commit", "-q", "-m", "initial"]);
        git(
            fx.path(),
            &["remote", "add", "origin", origin.path().to_str().unwrap()],
        );
        git(fx.path(), &["push", "-q", "origin", "main"]);
        ReleaseRepo { fx, origin, gnupg }
    }

    pub fn path(&self) -> &Path {
        self.fx.path()
    }

    pub fn release(&self, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(bin("cargo-forge-release"));
        cmd.arg("forge-release")
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("GNUPGHOME", self.gnupg.path())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .stdin(std::process::Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// The release key's public part, exported for apt's `signed-by`.
    pub fn export_public_key(&self) -> PathBuf {
        let key = self.path().join("target/release-key.gpg");
        assert_success(
            &run(Command::new("gpg")
                .args(["--batch", "--yes", "--output"])
                .arg(&key)
                .args(["--export", "release@example.com"])
                .env("GNUPGHOME", self.gnupg.path())),
            "gpg --export",
        );
        key
    }

    pub fn remote_tags(&self) -> String {
        stdout(&git(self.path(), &["ls-remote", "--tags", "origin"]))
    }

    pub fn bump_to(&self, version: &str) {
        self.fx
            .edit_manifest("version = \"0.1.0\"", &format!("version = \"{version}\""));
        self.fx.edit_manifest_at(
            "Cargo.lock",
            "name = \"forge-fixture-cli\"\nversion = \"0.1.0\"",
            &format!("name = \"forge-fixture-cli\"\nversion = \"{version}\""),
        );
        git(
            self.path(),
            &["commit", "-q", "-am", &format!("version {version}")],
        );
        git(self.path(), &["push", "-q", "origin", "main"]);
    }
}

fn tools() -> bool {
    require_tools(&[
        "git",
        "gpg",
        "/usr/bin/cargo",
        "aarch64-linux-gnu-gcc",
        "dpkg-shlibdeps",
        "docker-registry",
        "skopeo",
        "sha256sum",
    ])
}

/// v0.2.0 to a directory, SeaweedFS S3, a registry, an APT repository and the GitHub emulator:
/// checksums verify, every signature verifies, apt accepts the repository, the tag is on origin,
/// the image is tagged, `latest` points at it everywhere, GitHub holds one published release with
/// every asset.
#[test]
fn release_to_dir_apt_and_registry() {
    if !tools() || !forge_tests::s3::require_weed() {
        return;
    }
    let reg = Registry::start();
    let s3 = forge_tests::s3::SeaweedS3::start();
    let gh = forge_tests::github::Emulator::github("acme/cli", "gh-token-for-tests");
    let repo = ReleaseRepo::new(&format!(
        "targets = [\"x86_64-unknown-linux-gnu\", \"aarch64-unknown-linux-gnu\"]\nartifacts = [\"archive\", \"deb\", \"image\"]\nsign = {{ gpg = \"release@example.com\" }}\nhosts = [{{ kind = \"dir\", path = \"dist\" }}, {{ kind = \"apt\", dir = \"apt\", sign-key = \"release@example.com\" }}, {{ kind = \"oci\", repository = \"{}/rel/cli\" }}, {{ kind = \"s3\", bucket = \"{}\", prefix = \"cli\", endpoint = \"{}\" }}, {{ kind = \"github\", repo = \"acme/cli\" }}]",
        reg.host(),
        forge_tests::s3::BUCKET,
        s3.endpoint()
    ));
    let env_owned = [
        ("AWS_ACCESS_KEY_ID", forge_tests::s3::ACCESS_KEY.to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            forge_tests::s3::SECRET_KEY.to_string(),
        ),
        ("GITHUB_API_URL", gh.url()),
        ("GITHUB_TOKEN", "gh-token-for-tests".to_string()),
    ];
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    repo.bump_to("0.2.0");
    let out = repo.release(&["v0.2.0", "--toolchain", "/usr", "--yes"], &env);
    assert_success(&out, "forge-release v0.2.0");
    // S3: every file under cli/v0.2.0/, then release.json, then latest.json pointing at it.
    let listed: Vec<String> = s3.list("cli/v0.2.0/").into_iter().map(|(k, _)| k).collect();
    assert!(
        listed.iter().any(|k| k.ends_with("/SHA256SUMS"))
            && listed.iter().any(|k| k.ends_with("/release.json")),
        "{listed:?}"
    );
    let latest = String::from_utf8(s3.get("cli/latest.json").expect("latest.json")).unwrap();
    assert!(latest.contains("v0.2.0"), "{latest}");
    // GitHub: one published release holding every asset.
    let releases = gh.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert!(!releases[0].draft);
    assert!(
        releases[0]
            .assets
            .iter()
            .any(|a| a.name == "SHA256SUMS.asc"),
        "{:?}",
        releases[0]
            .assets
            .iter()
            .map(|a| &a.name)
            .collect::<Vec<_>>()
    );
    let dir = repo.path().join("dist/v0.2.0");
    let sums = run(Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(&dir));
    assert_success(&sums, "sha256sum -c SHA256SUMS");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "forge-fixture-cli-0.2.0-x86_64-unknown-linux-gnu.tar.gz",
        "forge-fixture-cli-0.2.0-aarch64-unknown-linux-gnu.tar.gz",
        "forge-fixture-cli_0.2.0-1_amd64.deb",
        "forge-fixture-cli_0.2.0-1_arm64.deb",
        "SHA256SUMS",
        "SHA256SUMS.asc",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} missing from {names:?}"
        );
    }
    let mut signed = 0;
    for n in names.iter().filter(|n| n.ends_with(".asc")) {
        let file = dir.join(n.trim_end_matches(".asc"));
        let v = run(Command::new("gpg")
            .arg("--verify")
            .arg(dir.join(n))
            .arg(&file)
            .env("GNUPGHOME", repo.gnupg.path()));
        assert_success(&v, &format!("gpg --verify {n}"));
        signed += 1;
    }
    assert_eq!(
        signed,
        names.iter().filter(|n| !n.ends_with(".asc")).count(),
        "every file is signed: {names:?}"
    );
    assert_eq!(
        std::fs::read_link(repo.path().join("dist/latest")).unwrap(),
        PathBuf::from("v0.2.0")
    );
    assert!(
        repo.remote_tags().contains("refs/tags/v0.2.0"),
        "{}",
        repo.remote_tags()
    );
    // apt accepts the signed repository and fetches both packages (verifying hashes and the
    // signature through `signed-by`).
    let key = repo.export_public_key();
    let aptdir = tempfile::tempdir().unwrap();
    let opts = isolated_apt(
        aptdir.path(),
        &format!(
            "deb [arch=amd64,arm64 signed-by={}] file://{} stable main",
            key.display(),
            repo.path().join("apt").display()
        ),
        &["amd64", "arm64"],
    );
    let out = run(Command::new("apt-get").args(&opts).arg("update"));
    assert_success(&out, "apt-get update");
    assert!(
        !format!("{}{}", stdout(&out), stderr(&out)).contains("W:"),
        "{}",
        stderr(&out)
    );
    for arch in ["amd64", "arm64"] {
        let out = run(Command::new("apt-get")
            .args(&opts)
            .arg("download")
            .arg(format!("forge-fixture-cli:{arch}=0.2.0-1"))
            .current_dir(aptdir.path()));
        assert_success(&out, &format!("apt-get download forge-fixture-cli:{arch}"));
    }
    // The image runs on both platforms.
    let scratch = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let rootfs = crate::image::unpack(
            &format!("{}/rel/cli:0.2.0", reg.host()),
            arch,
            scratch.path(),
        );
        assert_eq!(
            crate::image::run_in_rootfs(&rootfs, "/usr/local/bin/forge-fixture-cli", arch).trim(),
            "forge-fixture-cli 0.2.0"
        );
    }
    let index = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{}/rel/cli:0.2.0", reg.host())));
    assert_success(&index, "the image is tagged 0.2.0");
    let latest = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{}/rel/cli:latest", reg.host())));
    assert_eq!(stdout(&index), stdout(&latest));
    // The archive holds the binary, README and LICENSE under one directory, and runs.
    let tar =
        std::fs::read(dir.join("forge-fixture-cli-0.2.0-x86_64-unknown-linux-gnu.tar.gz")).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(tar.as_slice()), &mut raw)
        .unwrap();
    let paths: Vec<String> = tar_entries(&raw)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == 'f')
        .map(|e| e.path)
        .collect();
    for p in ["forge-fixture-cli", "README.md", "LICENSE"] {
        assert!(
            paths.contains(&format!(
                "forge-fixture-cli-0.2.0-x86_64-unknown-linux-gnu/{p}"
            )),
            "{p} not in {paths:?}"
        );
    }

    // Re-running is a no-op.
    let again = repo.release(&["v0.2.0", "--toolchain", "/usr", "--yes"], &env);
    assert_success(&again, "re-run");
    assert!(
        stderr(&again).contains("already published"),
        "{}",
        stderr(&again)
    );
}

/// A pre-release is published as such and never moves `latest`.
#[test]
fn prerelease_never_moves_latest() {
    if !tools() {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"dir\", path = \"dist\" }]");
    assert_success(&repo.release(&["0.1.0", "--yes"], &[]), "0.1.0");
    repo.bump_to("0.3.0-rc.1");
    let out = repo.release(&["0.3.0-rc.1", "--yes"], &[]);
    assert_success(&out, "0.3.0-rc.1");
    assert!(repo.path().join("dist/v0.3.0-rc.1/SHA256SUMS").is_file());
    assert_eq!(
        std::fs::read_link(repo.path().join("dist/latest")).unwrap(),
        PathBuf::from("v0.1.0")
    );
}

/// `--dry-run` prints the plan and builds, writes and publishes nothing (as in every command);
/// `--stage-only` builds and stages but publishes nothing; without a terminal and without
/// `--yes`, nothing is built or published.
#[test]
fn dry_run_stage_only_and_confirmation() {
    if !tools() {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"dir\", path = \"dist\" }]");
    let out = repo.release(&["v0.1.0", "--dry-run", "--message-format", "json"], &[]);
    assert_success(&out, "dry run");
    let v = crate::json::document(&out, "cargo-forge/release-plan/v1");
    assert_eq!(v["releases"][0]["tag"], "v0.1.0");
    assert!(v.get("staged").is_none(), "a dry run staged: {v}");
    assert!(
        !repo.path().join("target/forge").exists(),
        "a dry run wrote files"
    );
    let out = repo.release(&["v0.1.0", "--stage-only", "--message-format", "json"], &[]);
    assert_success(&out, "stage only");
    let v = crate::json::document(&out, "cargo-forge/release-staged/v1");
    assert_eq!(v["plan"]["releases"][0]["tag"], "v0.1.0");
    assert!(v["staged"][0]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "SHA256SUMS"));
    assert!(
        !repo.path().join("dist").exists(),
        "a staging run published"
    );
    assert!(!repo.remote_tags().contains("v0.1.0"));
    std::fs::remove_dir_all(repo.path().join("target/forge")).unwrap();
    let out = repo.release(&["v0.1.0"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing to publish without confirmation")
            && stderr(&out).contains("--yes"),
        "{}",
        stderr(&out)
    );
    assert!(!repo.path().join("dist").exists());
    assert!(
        !repo
            .path()
            .join("target/forge/release/forge-fixture-cli/0.1.0/staging")
            .exists(),
        "nothing is built before confirmation"
    );
}

/// Bad inputs stop before any side effect, with one clear message each.
#[test]
fn bad_release_inputs() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"dir\", path = \"dist\" }]");
    let check = |args: &[&str], envs: &[(&str, &str)], words: &[&str]| {
        let out = repo.release(args, envs);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: `{w}` not in:\n{err}");
        }
        assert!(!err.contains("panicked"));
        assert!(
            !repo.path().join("dist").exists() && !repo.remote_tags().contains("refs/tags/"),
            "{args:?} had a side effect"
        );
    };
    check(&["v1.2", "--yes"], &[], &["invalid version `v1.2`"]);
    check(&["1.2.3.4", "--yes"], &[], &["invalid version `1.2.3.4`"]);
    check(&["01.2.3", "--yes"], &[], &["invalid version `01.2.3`"]);
    check(
        &["v0.9.0", "--yes"],
        &[],
        &["version mismatch", "0.1.0", "--bump"],
    );
    std::fs::write(repo.path().join("README.md"), "changed").unwrap();
    check(
        &["v0.1.0", "--yes"],
        &[],
        &["uncommitted changes", "README.md"],
    );
    git(repo.path(), &["checkout", "-q", "README.md"]);
    git(repo.path(), &["tag", "v0.1.0"]);
    check(&["v0.1.0", "--yes"], &[], &["tag `v0.1.0` already exists"]);
    git(repo.path(), &["tag", "-d", "v0.1.0"]);
    git(repo.path(), &["checkout", "-q", "-b", "feature"]);
    check(&["v0.1.0", "--yes"], &[], &["HEAD is on `feature`"]);
    git(repo.path(), &["checkout", "-q", "main"]);
    repo.fx.edit_manifest(
        "hosts = [{ kind = \"dir\", path = \"dist\" }]",
        "hosts = [{ kind = \"ftp\", path = \"dist\" }]",
    );
    check(
        &["v0.1.0", "--yes", "--allow-dirty"],
        &[],
        &["unknown variant `ftp`", "hosts"],
    );
}

/// `--bump` sets the version with formatting and comments kept, updates Cargo.lock and commits.
#[test]
fn bump_preserves_formatting() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"dir\", path = \"dist\" }]");
    let before = std::fs::read_to_string(repo.path().join("Cargo.toml")).unwrap();
    let out = repo.release(&["v0.4.0", "--bump", "--yes"], &[]);
    assert_success(&out, "--bump");
    let after = std::fs::read_to_string(repo.path().join("Cargo.toml")).unwrap();
    assert_eq!(
        after,
        before.replacen("version = \"0.1.0\"", "version = \"0.4.0\"", 1),
        "only the version changes"
    );
    let lock = std::fs::read_to_string(repo.path().join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"forge-fixture-cli\"\nversion = \"0.4.0\""),
        "{lock}"
    );
    let log = stdout(&git(repo.path(), &["log", "-1", "--format=%s"]));
    assert_eq!(log.trim(), "Release 0.4.0");
    assert!(repo.remote_tags().contains("refs/tags/v0.4.0"));
}

/// GitHub (the emulator, through `GITHUB_API_URL`) and a registry: an upload failing with 500s
/// stops the release before anything is visible — no published release, no tag on origin, no
/// image tag — and the re-run completes it, uploading nothing twice.
#[test]
fn failed_upload_publishes_nothing_and_rerun_completes() {
    if !tools() {
        return;
    }
    let reg = Registry::start();
    let gh = forge_tests::github::Emulator::github("acme/cli", "sentinel-gh-token-0451");
    let repo = ReleaseRepo::new(&format!(
        "artifacts = [\"archive\", \"image\"]\nsign = {{ gpg = \"release@example.com\" }}\nhosts = [{{ kind = \"oci\", repository = \"{}/rel/cli\" }}, {{ kind = \"github\", repo = \"acme/cli\" }}, {{ kind = \"dir\", path = \"dist\" }}]",
        reg.host()
    ));
    repo.bump_to("0.2.0");
    let env = [
        ("GITHUB_API_URL", gh.url()),
        ("GITHUB_TOKEN", "sentinel-gh-token-0451".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    gh.fail_uploads_of("SHA256SUMS", 10, 500);
    let out = repo.release(&["v0.2.0", "--yes", "--retries", "2", "-vv"], &env);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was published"), "{err}");
    for text in [stderr(&out), stdout(&out)] {
        assert!(
            !text.contains("sentinel-gh-token-0451"),
            "the token leaked:\n{text}"
        );
    }
    assert!(
        gh.releases().iter().all(|r| r.draft),
        "a release was published: {:?}",
        gh.releases()
    );
    assert!(!repo.remote_tags().contains("v0.2.0"), "the tag was pushed");
    let tags = run(Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{}/rel/cli", reg.host())));
    assert!(
        !stdout(&tags).contains("0.2.0"),
        "an image tag moved: {}",
        stdout(&tags)
    );
    assert!(!repo.path().join("dist/v0.2.0").exists());
    let state = std::fs::read_to_string(
        repo.path()
            .join("target/forge/release/forge-fixture-cli/0.2.0/state.json"),
    )
    .unwrap();
    assert!(!state.contains("sentinel-gh-token-0451"));

    // The fault clears: the re-run completes and uploads nothing twice.
    gh.fail_uploads_of("SHA256SUMS", 0, 500);
    let out = repo.release(&["v0.2.0", "--yes"], &env);
    assert_success(&out, "re-run");
    assert!(stderr(&out).contains("Resuming"), "{}", stderr(&out));
    let releases = gh.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert!(!releases[0].draft);
    let names: Vec<&str> = releases[0].assets.iter().map(|a| a.name.as_str()).collect();
    for n in [
        "forge-fixture-cli-0.2.0-x86_64-unknown-linux-gnu.tar.gz",
        "SHA256SUMS",
        "SHA256SUMS.asc",
    ] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    for (name, count) in gh.successful_uploads() {
        assert_eq!(count, 1, "{name} uploaded {count} times");
    }
    assert!(repo.remote_tags().contains("refs/tags/v0.2.0"));
    let tags = run(Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{}/rel/cli", reg.host())));
    assert!(
        stdout(&tags).contains("0.2.0") && stdout(&tags).contains("latest"),
        "{}",
        stdout(&tags)
    );
    // Every asset's bytes match what was staged.
    let dir = repo.path().join("dist/v0.2.0");
    for a in &releases[0].assets {
        assert_eq!(
            a.bytes,
            std::fs::read(dir.join(&a.name)).unwrap(),
            "{}",
            a.name
        );
    }
}

/// Missing token and an unknown host kind stop before any side effect.
#[test]
fn missing_token_stops_before_side_effects() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"github\", repo = \"acme/cli\" }]");
    let out = repo.release(
        &["v0.1.0", "--yes"],
        &[("GITHUB_TOKEN", ""), ("GH_TOKEN", "")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("GITHUB_TOKEN") && stderr(&out).contains("GH_TOKEN"),
        "{}",
        stderr(&out)
    );
    assert!(
        !repo.path().join("target/forge").exists(),
        "nothing may be built or staged"
    );
}

/// Plain HTTP to a host that is not loopback is refused, with how to allow it, before any
/// request is sent.
#[test]
fn plain_http_api_is_refused() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"github\", repo = \"acme/cli\" }]");
    let out = repo.release(
        &["v0.1.0", "--yes"],
        &[
            ("GITHUB_TOKEN", "sentinel-plain-http-token"),
            ("GITHUB_API_URL", "http://github.example.invalid"),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refusing plain http") && err.contains("--insecure-registry"),
        "{err}"
    );
    assert!(!err.contains("sentinel-plain-http-token"));
}

/// The split phases CI uses: `plan` writes plan.json; one `build --plan` per target (as
/// separate runners would, each into a directory of its own) stages
/// `<package>/<target>/`; `publish --plan --artifacts` merges them. The plan is the contract:
/// `build` builds what it says even when Cargo.toml changes afterwards (a plan from another
/// commit is refused, naming both commits), and a target the plan does not have is refused.
#[test]
fn split_phases_plan_build_publish() {
    if !tools() {
        return;
    }
    let repo = ReleaseRepo::new("targets = [\"x86_64-unknown-linux-gnu\", \"aarch64-unknown-linux-gnu\"]\nartifacts = [\"archive\", \"deb\"]\nsign = { gpg = \"release@example.com\" }\nhosts = [{ kind = \"dir\", path = \"dist\" }]");
    repo.bump_to("0.2.0");
    let plan_dir = repo.path().join("target/ci-plan");
    let out = repo.release(
        &[
            "plan",
            "v0.2.0",
            "--out",
            plan_dir.to_str().unwrap(),
            "--toolchain",
            "/usr",
        ],
        &[],
    );
    assert_success(&out, "plan");
    let plan_file = plan_dir.join("plan.json");
    assert_eq!(stdout(&out).trim(), plan_file.display().to_string());
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(plan["schema"], "cargo-forge/release-plan/v1");
    assert_eq!(plan["releases"][0]["tag"], "v0.2.0");
    assert_eq!(plan["packages"][0]["targets"][1]["toolchain"], "/usr");
    assert_eq!(
        plan["packages"][0]["deb"]["packages"][1]["output"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next(),
        Some("forge-fixture-cli_0.2.0-1_arm64.deb")
    );
    let head = stdout(&git(repo.path(), &["rev-parse", "HEAD"]))
        .trim()
        .to_string();
    assert_eq!(plan["commit"], head.as_str());

    let arts = repo.path().join("target/ci-artifacts");
    let out = repo.release(
        &[
            "build",
            "--plan",
            plan_file.to_str().unwrap(),
            "--target",
            "riscv64gc-unknown-linux-gnu",
            "--out",
            arts.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a target of the plan"),
        "{}",
        stderr(&out)
    );
    for t in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        let runner = arts.join(format!("runner-{t}"));
        let out = repo.release(
            &[
                "build",
                "--plan",
                plan_file.to_str().unwrap(),
                "--target",
                t,
                "--out",
                runner.to_str().unwrap(),
            ],
            &[],
        );
        assert_success(&out, &format!("build {t}"));
        let dir = runner.join("forge-fixture-cli").join(t);
        assert!(dir.join("staged.json").is_file(), "{}", dir.display());
        assert!(
            dir.join(format!("forge-fixture-cli-0.2.0-{t}.tar.gz"))
                .is_file(),
            "{t}"
        );
    }
    let out = repo.release(
        &[
            "publish",
            "--plan",
            plan_file.to_str().unwrap(),
            "--artifacts",
            arts.to_str().unwrap(),
            "--yes",
        ],
        &[],
    );
    assert_success(&out, "publish");
    let dir = repo.path().join("dist/v0.2.0");
    assert_success(
        &run(Command::new("sha256sum")
            .arg("-c")
            .arg("SHA256SUMS")
            .current_dir(&dir)),
        "sha256sum -c",
    );
    for f in [
        "forge-fixture-cli-0.2.0-x86_64-unknown-linux-gnu.tar.gz",
        "forge-fixture-cli-0.2.0-aarch64-unknown-linux-gnu.tar.gz",
        "forge-fixture-cli_0.2.0-1_amd64.deb",
        "forge-fixture-cli_0.2.0-1_arm64.deb",
        "SHA256SUMS.asc",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(repo.remote_tags().contains("refs/tags/v0.2.0"));

    // A commit later, the plan is another commit's: refused, naming both.
    std::fs::write(repo.path().join("NOTES.md"), "later\n").unwrap();
    git(repo.path(), &["add", "NOTES.md"]);
    git(repo.path(), &["commit", "-q", "-m", "later"]);
    let later = stdout(&git(repo.path(), &["rev-parse", "HEAD"]))
        .trim()
        .to_string();
    let out = repo.release(
        &[
            "build",
            "--plan",
            plan_file.to_str().unwrap(),
            "--out",
            arts.join("again").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("commit {head}")) && err.contains(&format!("commit {later}")),
        "{err}"
    );
    assert!(
        !arts.join("again").exists(),
        "nothing is built for a refused plan"
    );
}

/// minisign signatures (pure Rust, key password from MINISIGN_PASSWORD) verify for every file.
#[test]
fn minisign_signatures_verify() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new(
        "sign = { minisign = \"minisign.key\" }\nhosts = [{ kind = \"dir\", path = \"dist\" }]",
    );
    let kp =
        minisign::KeyPair::generate_encrypted_keypair(Some("sentinel-minisign-pw".into())).unwrap();
    std::fs::write(
        repo.path().join("minisign.key"),
        kp.sk.to_box(None).unwrap().to_string(),
    )
    .unwrap();
    std::fs::write(
        repo.path().join(".gitignore"),
        "target/\ndist/\napt/\nminisign.key\n",
    )
    .unwrap();
    git(repo.path(), &["commit", "-q", "-am", "ignore the key"]);
    let out = repo.release(
        &["v0.1.0", "--yes"],
        &[("MINISIGN_PASSWORD", "sentinel-minisign-pw")],
    );
    assert_success(&out, "release with minisign");
    assert!(!stderr(&out).contains("sentinel-minisign-pw"));
    let dir = repo.path().join("dist/v0.1.0");
    let mut verified = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".minisig") {
            let data = std::fs::read(dir.join(name.trim_end_matches(".minisig"))).unwrap();
            let sig =
                minisign::SignatureBox::from_string(&std::fs::read_to_string(&p).unwrap()).unwrap();
            minisign::verify(&kp.pk, &sig, std::io::Cursor::new(data), true, false, false)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            verified += 1;
        }
    }
    assert!(verified >= 2, "{verified} signatures");
}

/// Crash tests: the release is killed with SIGKILL after every few recorded steps, again and
/// again, until a run completes. After every kill, no reader sees a published-but-incomplete
/// release (GitHub, S3 `latest.json`, the registry's tags, the directory's `latest`, the APT
/// `Release`); at the end everything is published and no asset was uploaded twice.
#[test]
fn sigkill_at_every_step_never_shows_an_incomplete_release() {
    if !tools() || !forge_tests::s3::require_weed() {
        return;
    }
    let reg = Registry::start();
    let s3 = forge_tests::s3::SeaweedS3::start();
    let gh = forge_tests::github::Emulator::github("acme/cli", "gh-token-for-tests");
    let repo = ReleaseRepo::new(&format!(
        "artifacts = [\"archive\", \"deb\", \"image\"]\nsign = {{ gpg = \"release@example.com\" }}\nhosts = [{{ kind = \"oci\", repository = \"{}/crash/cli\" }}, {{ kind = \"github\", repo = \"acme/cli\" }}, {{ kind = \"s3\", bucket = \"{}\", prefix = \"cli\", endpoint = \"{}\" }}, {{ kind = \"apt\", dir = \"apt\" }}, {{ kind = \"dir\", path = \"dist\" }}]",
        reg.host(),
        forge_tests::s3::BUCKET,
        s3.endpoint()
    ));
    repo.bump_to("0.2.0");
    let env_owned = [
        ("AWS_ACCESS_KEY_ID", forge_tests::s3::ACCESS_KEY.to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            forge_tests::s3::SECRET_KEY.to_string(),
        ),
        ("GITHUB_API_URL", gh.url()),
        ("GITHUB_TOKEN", "gh-token-for-tests".to_string()),
        ("FORGE_TEST_CRASH_AFTER", "4".to_string()),
    ];
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut kills = 0;
    let mut expected: Option<Vec<String>> = None;
    loop {
        let out = repo.release(&["v0.2.0", "--yes"], &env);
        if out.status.success() {
            break;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(9),
            "the run failed instead of being killed:\n{}",
            stderr(&out)
        );
        kills += 1;
        assert!(kills < 60, "no progress after {kills} kills");
        if expected.is_none() {
            let staged = repo
                .path()
                .join("target/forge/release/forge-fixture-cli/0.2.0/staging/staged.json");
            if let Ok(bytes) = std::fs::read(&staged) {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                expected = Some(
                    v["assets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a["name"].as_str().unwrap().to_string())
                        .collect(),
                );
            }
        }
        let Some(names) = &expected else { continue };
        // GitHub: a published release holds every asset.
        for r in gh.releases().iter().filter(|r| !r.draft) {
            for n in names {
                assert!(
                    r.assets
                        .iter()
                        .any(|a| &a.name == n && a.state == "uploaded"),
                    "published GitHub release lacks {n} after kill {kills}"
                );
            }
        }
        // S3: latest.json only points at a complete release.
        if let Some(latest) = s3.get("cli/latest.json") {
            let latest = String::from_utf8(latest).unwrap();
            assert!(latest.contains("v0.2.0"));
            assert!(
                s3.get("cli/v0.2.0/release.json").is_some(),
                "latest.json before release.json (kill {kills})"
            );
            for n in names {
                assert!(
                    s3.get(&format!("cli/v0.2.0/{n}")).is_some(),
                    "latest.json points at a release without {n} (kill {kills})"
                );
            }
        }
        // Registry: a tag points at a complete image.
        let tags = run(Command::new("skopeo")
            .args(["list-tags", "--tls-verify=false"])
            .arg(format!("docker://{}/crash/cli", reg.host())));
        if stdout(&tags).contains("\"0.2.0\"") {
            let copy = tempfile::tempdir().unwrap();
            assert_success(
                &run(Command::new("skopeo")
                    .args(["copy", "-q", "--all", "--src-tls-verify=false"])
                    .arg(format!("docker://{}/crash/cli:0.2.0", reg.host()))
                    .arg(format!("oci:{}:x", copy.path().display()))),
                &format!("the tagged image is complete (kill {kills})"),
            );
        }
        // Directory: `latest` and the release directory are whole.
        let dist = repo.path().join("dist/v0.2.0");
        if dist.exists() {
            for n in names {
                assert!(
                    dist.join(n).is_file(),
                    "dist/v0.2.0 lacks {n} (kill {kills})"
                );
            }
        }
        // APT: a Release file only names index files that exist.
        let release = repo.path().join("apt/dists/stable/Release");
        if let Ok(text) = std::fs::read_to_string(&release) {
            for line in text.lines().filter(|l| l.starts_with(' ')) {
                let rel = line.split_whitespace().last().unwrap();
                assert!(
                    repo.path().join("apt/dists/stable").join(rel).is_file(),
                    "Release names missing {rel} (kill {kills})"
                );
            }
        }
    }
    assert!(
        kills >= 5,
        "the crash points were not reached ({kills} kills)"
    );
    // Complete, and nothing was uploaded twice.
    let releases = gh.releases();
    assert_eq!(releases.len(), 1);
    assert!(!releases[0].draft);
    for (name, count) in gh.successful_uploads() {
        assert_eq!(
            count, 1,
            "{name} uploaded {count} times across {kills} kills"
        );
    }
    assert!(repo.remote_tags().contains("refs/tags/v0.2.0"));
    assert_success(
        &run(Command::new("sha256sum")
            .arg("-c")
            .arg("SHA256SUMS")
            .current_dir(repo.path().join("dist/v0.2.0"))),
        "sha256sum -c",
    );
    assert!(String::from_utf8(s3.get("cli/latest.json").unwrap())
        .unwrap()
        .contains("v0.2.0"));
}
