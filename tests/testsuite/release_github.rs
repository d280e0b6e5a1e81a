//! The `github` and `gitea` release hosts against the REST emulator of `forge_tests::github`:
//! draft → uploads → verify → publish, re-runs that upload nothing, failed uploads that leave
//! nothing published and resume from the saved state without duplicates, `starter` leftovers,
//! pre-releases, immutable published releases, rollback, and credential errors that never show
//! the token.
//!
//! The hosts are called as a library (the command's `ops` drive them the same way), with the
//! state saved to a JSON file after every step as the state file is, and read back for re-runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cargo_forge_release::hosts::gitea::GiteaHost;
use cargo_forge_release::hosts::github::GithubHost;
use cargo_forge_release::hosts::{Host, HostState, Progress};
use cargo_forge_release::stage::{Asset, AssetKind, Staged};
use forge_core::exit::{code_of, hints};
use forge_core::http::{Auth, HttpClient, Request, RetryPolicy};
use forge_core::secret::Secret;
use forge_core::shell::{ColorChoice, MessageFormat, Verbosity};
use forge_core::Shell;
use forge_tests::github::{EmuRelease, Emulator};

const TOKEN: &str = "ghp_emulator-token-0815";
const REPO: &str = "acme/app";
const COMMIT: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// A release staged in a temporary directory: an archive, a .deb and SHA256SUMS.
struct Fixture {
    _dir: tempfile::TempDir,
    staged: Staged,
    state_file: PathBuf,
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn stage(version: &str, prerelease: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491u32;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect()
    };
    let archive = write(
        dir.path(),
        &format!("app-{version}-x86_64-unknown-linux-gnu.tar.gz"),
        &noise(150_000),
    );
    let deb = write(
        dir.path(),
        &format!("app_{version}_amd64.deb"),
        &noise(40_000),
    );
    let mut assets = vec![
        Asset::of_file(
            &archive,
            AssetKind::Archive,
            Some("x86_64-unknown-linux-gnu".into()),
        )
        .unwrap(),
        Asset::of_file(
            &deb,
            AssetKind::Deb,
            Some("x86_64-unknown-linux-gnu".into()),
        )
        .unwrap(),
    ];
    let sums: String = assets
        .iter()
        .map(|a| format!("{}  {}\n", a.sha256, a.name))
        .collect();
    let sums = write(dir.path(), "SHA256SUMS", sums.as_bytes());
    assets.push(Asset::of_file(&sums, AssetKind::Checksums, None).unwrap());
    let state_file = dir.path().join("state.json");
    Fixture {
        staged: Staged {
            package: "app".into(),
            version: version.into(),
            tag: format!("v{version}"),
            prerelease,
            commit: Some(COMMIT.into()),
            dir: dir.path().to_path_buf(),
            assets,
            image: None,
            notes: format!("## app {version}\n\n- things got better\n"),
            packages: vec!["app".into()],
            tag_template: "v{{version}}".into(),
            latest: "latest".into(),
            target: None,
        },
        _dir: dir,
        state_file,
    }
}

impl Fixture {
    fn name(&self, kind: AssetKind) -> String {
        self.staged.assets_of(kind).next().unwrap().name.clone()
    }

    /// The state as the last `save` wrote it.
    fn saved(&self) -> HostState {
        serde_json::from_slice(&std::fs::read(&self.state_file).unwrap()).unwrap()
    }

    fn publish(&self, host: &dyn Host, state: &mut HostState) -> anyhow::Result<()> {
        let file = self.state_file.clone();
        let mut save = move |s: &HostState| -> anyhow::Result<()> {
            std::fs::write(&file, serde_json::to_vec_pretty(s)?)?;
            Ok(())
        };
        host.publish(&self.staged, &mut Progress::new(state, &mut save), &shell())
    }

    fn prepare(&self, host: &dyn Host, state: &mut HostState) -> anyhow::Result<()> {
        let file = self.state_file.clone();
        let mut save = move |s: &HostState| -> anyhow::Result<()> {
            std::fs::write(&file, serde_json::to_vec_pretty(s)?)?;
            Ok(())
        };
        host.prepare(&self.staged, &mut Progress::new(state, &mut save), &shell())
    }

    /// Checks that `rel` holds exactly the staged files, byte for byte.
    fn assert_holds_exactly(&self, rel: &EmuRelease) {
        let mut names: Vec<&str> = rel.assets.iter().map(|a| a.name.as_str()).collect();
        names.sort();
        let mut expected: Vec<&str> = self.staged.assets.iter().map(|a| a.name.as_str()).collect();
        expected.sort();
        assert_eq!(names, expected);
        for a in &self.staged.assets {
            let remote = rel.assets.iter().find(|r| r.name == a.name).unwrap();
            assert_eq!(remote.state, "uploaded", "{}", a.name);
            assert!(
                remote.bytes == std::fs::read(&a.path).unwrap(),
                "{} differs",
                a.name
            );
        }
    }
}

/// `-vv`, so that the logging paths run too (their lines are redacted by the shell).
fn shell() -> Shell {
    Shell::new(
        Verbosity::VeryVerbose,
        ColorChoice::Never,
        MessageFormat::Human,
    )
}

/// The client with `attempts` attempts and short backoffs.
fn http(attempts: u32) -> HttpClient {
    HttpClient::new(
        RetryPolicy {
            attempts,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(40),
        },
        vec![],
    )
}

fn github(emu: &Emulator, attempts: u32) -> GithubHost {
    GithubHost::new(REPO, emu.url(), Secret::new(TOKEN), http(attempts)).unwrap()
}

fn gitea(emu: &Emulator, attempts: u32) -> GiteaHost {
    GiteaHost::new(emu.url(), REPO, Secret::new(TOKEN), http(attempts)).unwrap()
}

fn only_release(emu: &Emulator) -> EmuRelease {
    let all = emu.releases();
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap()
}

/// The whole error as a user would see it: message, causes, hints and debug form.
fn everything(err: &anyhow::Error) -> String {
    format!("{err:#}\n{err:?}\n{}", hints(err).join("\n"))
}

#[test]
fn github_publishes_a_verified_draft_and_a_rerun_uploads_nothing() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let host = github(&emu, 3);
    let mut state = HostState::default();
    host.preflight(&fx.staged, &state, &shell()).unwrap();

    // prepare: a draft holding every asset, invisible to readers.
    fx.prepare(&host, &mut state).unwrap();
    let draft = only_release(&emu);
    assert!(draft.draft);
    fx.assert_holds_exactly(&draft);
    let tag_lookup = HttpClient::new(RetryPolicy::new(1), vec![])
        .request(
            &Request::get(format!("{}/repos/{REPO}/releases/tags/v1.2.3", emu.url()))
                .auth(Some(Auth::Bearer(Secret::new(TOKEN)))),
            &shell(),
        )
        .unwrap();
    assert_eq!(tag_lookup.status, 404, "drafts are not found by tag");
    assert_eq!(emu.count("PATCH", "/releases/"), 0);

    // publish: only the undraft is left to do.
    let uploads_before = emu.uploads().len();
    fx.publish(&host, &mut state).unwrap();
    assert_eq!(emu.uploads().len(), uploads_before);
    let rel = only_release(&emu);
    assert!(!rel.draft && !rel.prerelease);
    assert_eq!(rel.make_latest.as_deref(), Some("true"));
    assert_eq!(rel.tag_name, "v1.2.3");
    assert_eq!(rel.target_commitish, COMMIT);
    assert_eq!(rel.body, fx.staged.notes);
    fx.assert_holds_exactly(&rel);
    for a in &fx.staged.assets {
        let remote = rel.assets.iter().find(|r| r.name == a.name).unwrap();
        assert_eq!(remote.content_type, a.content_type());
    }
    assert!(state.published);
    assert_eq!(state, fx.saved());
    for a in &fx.staged.assets {
        assert!(state.is_done(&format!("upload:{}", a.name)), "{state:?}");
    }
    assert!(state.is_done("verified") && state.is_done("published"));

    // Order: every upload before the one PATCH that published; each asset uploaded once.
    let log = emu.requests();
    let patch = log.iter().position(|l| l.method == "PATCH").unwrap();
    assert!(log.iter().rposition(|l| l.is_upload()).unwrap() < patch);
    assert_eq!(log.iter().filter(|l| l.method == "PATCH").count(), 1);
    assert!(emu.successful_uploads().values().all(|n| *n == 1));
    assert_eq!(emu.successful_uploads().len(), 3);
    assert_eq!(
        emu.count("POST", "/repos/acme/app/releases"),
        1 + 3,
        "one create, three uploads"
    );

    // What every request of the host carried (the tag lookup above is the test's own).
    for l in log.iter().filter(|l| !l.path.contains("/releases/tags/")) {
        assert_eq!(
            l.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{l:?}"
        );
        assert_eq!(
            l.header("x-github-api-version"),
            Some("2022-11-28"),
            "{l:?}"
        );
        assert!(
            l.header("user-agent")
                .is_some_and(|u| u.starts_with("cargo-forge-release/")),
            "{l:?}"
        );
        assert!(
            l.header("accept")
                .is_some_and(|a| a.contains("application/vnd.github+json")),
            "{l:?}"
        );
    }
    for l in log.iter().filter(|l| l.is_upload()) {
        assert!(
            l.path.starts_with("/uploads/repos/acme/app/releases/"),
            "{l:?}"
        );
        assert!(
            l.header("content-length").is_some() && l.header("content-type").is_some(),
            "{l:?}"
        );
    }

    // The public download URL serves the bytes.
    let dl = HttpClient::new(RetryPolicy::new(1), vec![]);
    let a = &fx.staged.assets[0];
    let resp = dl
        .request(
            &Request::get(format!(
                "{}/{REPO}/releases/download/v1.2.3/{}",
                emu.url(),
                a.name
            )),
            &shell(),
        )
        .unwrap();
    assert_eq!(
        (resp.status, resp.body == std::fs::read(&a.path).unwrap()),
        (200, true)
    );

    // Re-run with the saved state: nothing to do, not a single request.
    let before = emu.requests().len();
    let mut saved = fx.saved();
    fx.publish(&host, &mut saved).unwrap();
    assert_eq!(emu.requests().len(), before);

    // Re-run with the state file lost: the published release is recognised, nothing uploaded.
    let mut fresh = HostState::default();
    host.preflight(&fx.staged, &fresh, &shell()).unwrap();
    fx.publish(&host, &mut fresh).unwrap();
    assert!(fresh.published);
    assert_eq!(emu.uploads().len(), 3);
    assert_eq!(emu.count("POST", "/repos/acme/app/releases"), 1 + 3);
    assert_eq!(emu.count("PATCH", "/releases/"), 1);
    only_release(&emu);
}

#[test]
fn github_failed_upload_publishes_nothing_and_the_rerun_uploads_each_asset_once() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let host = github(&emu, 2);
    let deb = fx.name(AssetKind::Deb);
    let archive = fx.name(AssetKind::Archive);
    emu.fail_uploads_of(&deb, 2, 500);
    let mut state = HostState::default();
    let err = fx.publish(&host, &mut state).unwrap_err();
    let text = everything(&err);
    assert_eq!(code_of(&err), 5, "{text}");
    assert!(
        err.to_string()
            .contains(&format!("failed to upload `{deb}` to draft release v1.2.3")),
        "{text}"
    );
    assert!(
        err.to_string().contains("/acme/app after 2 attempts"),
        "{text}"
    );
    assert!(
        hints(&err)
            .iter()
            .any(|h| h.contains("re-run the same command")),
        "{text}"
    );

    // Nothing visible: the only release is a draft, and the tag endpoint does not know it.
    let draft = only_release(&emu);
    assert!(draft.draft);
    assert_eq!(emu.count("PATCH", "/releases/"), 0);
    let saved = fx.saved();
    assert!(!saved.published);
    assert!(saved.is_done(&format!("upload:{archive}")));
    assert!(!saved.is_done(&format!("upload:{deb}")));
    assert_eq!(saved.data.get("release_id"), Some(&draft.id.to_string()));

    // As if a killed run had left an upload half-done.
    emu.add_starter(draft.id, "SHA256SUMS");

    // A new run from the saved state completes, uploading what is missing, once.
    emu.fail_uploads(0, 0);
    let mut state = fx.saved();
    fx.publish(&host, &mut state).unwrap();
    let rel = only_release(&emu);
    assert_eq!(rel.id, draft.id, "the draft was resumed, not created again");
    assert!(!rel.draft);
    fx.assert_holds_exactly(&rel);
    assert_eq!(
        emu.count("POST", "/repos/acme/app/releases"),
        1 + 2 + 3,
        "one create, two failed and three good uploads"
    );
    let ok = emu.successful_uploads();
    assert_eq!(ok.len(), 3);
    assert!(ok.values().all(|n| *n == 1), "{ok:?}");
    assert_eq!(
        emu.count("DELETE", "/releases/assets/"),
        1,
        "the starter leftover"
    );
}

#[test]
fn github_502_starter_leftover_is_deleted_before_the_retry() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let archive = fx.name(AssetKind::Archive);
    emu.fail_uploads_of(&archive, 1, 502);
    let mut state = HostState::default();
    fx.publish(&github(&emu, 3), &mut state).unwrap();
    let rel = only_release(&emu);
    assert!(!rel.draft);
    fx.assert_holds_exactly(&rel);
    let tries: Vec<u16> = emu
        .uploads()
        .iter()
        .filter(|l| l.name_param().as_deref() == Some(archive.as_str()))
        .map(|l| l.status)
        .collect();
    assert_eq!(tries, [502, 201], "no 422: the starter was deleted first");
    assert_eq!(emu.count("DELETE", "/releases/assets/"), 1);
    assert!(emu.successful_uploads().values().all(|n| *n == 1));
}

#[test]
fn github_lost_upload_answer_is_recognised_not_duplicated() {
    // A gateway error after GitHub stored the asset: the listing shows it complete, so it is
    // neither sent again (which would end in 422 `already_exists`) nor deleted.
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let host = github(&emu, 3);
    let archive = fx.name(AssetKind::Archive);
    emu.fail_uploads_of(&archive, 1, 504);
    let mut state = HostState::default();
    fx.prepare(&host, &mut state).unwrap();
    let tries: Vec<u16> = emu
        .uploads()
        .iter()
        .filter(|l| l.name_param().as_deref() == Some(archive.as_str()))
        .map(|l| l.status)
        .collect();
    assert_eq!(tries, [504]);
    assert_eq!(emu.count("DELETE", "/assets/"), 0);
    fx.assert_holds_exactly(&only_release(&emu));

    // A state file that forgot the uploads changes nothing either: the draft holds them.
    let mut forgetful = HostState {
        data: state.data.clone(),
        ..HostState::default()
    };
    fx.publish(&host, &mut forgetful).unwrap();
    assert_eq!(emu.uploads().len(), 3);
    let rel = only_release(&emu);
    assert!(!rel.draft);
    fx.assert_holds_exactly(&rel);
}

#[test]
fn github_prerelease_is_not_marked_latest() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("2.0.0-rc.1", true);
    let mut state = HostState::default();
    fx.publish(&github(&emu, 3), &mut state).unwrap();
    let rel = only_release(&emu);
    assert!(!rel.draft);
    assert!(rel.prerelease);
    assert_eq!(rel.make_latest.as_deref(), Some("false"));
    assert_eq!(rel.tag_name, "v2.0.0-rc.1");
    fx.assert_holds_exactly(&rel);
}

#[test]
fn github_adopts_an_existing_draft_and_corrects_its_assets() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let archive = fx.name(AssetKind::Archive);
    let id = emu.seed_release(
        "v1.2.3",
        true,
        &[
            (archive.as_str(), b"an older build"),
            ("notes.txt", b"stale"),
        ],
    );
    let mut state = HostState::default();
    fx.publish(&github(&emu, 3), &mut state).unwrap();
    let rel = only_release(&emu);
    assert_eq!(rel.id, id);
    assert!(!rel.draft);
    fx.assert_holds_exactly(&rel);
    assert_eq!(
        emu.count("POST", "/repos/acme/app/releases"),
        3,
        "no new draft, three uploads"
    );
    assert_eq!(emu.count("DELETE", "/releases/assets/"), 2);
}

#[test]
fn github_published_release_with_other_assets_is_refused() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    emu.seed_release("v1.2.3", false, &[("app-1.2.3.zip", b"something else")]);
    let host = github(&emu, 3);
    let state = HostState::default();
    let err = host.preflight(&fx.staged, &state, &shell()).unwrap_err();
    let text = everything(&err);
    assert_eq!(code_of(&err), 2, "{text}");
    assert!(
        err.to_string()
            .contains("release v1.2.3 is already published"),
        "{text}"
    );
    assert!(err.to_string().contains("/acme/app"), "{text}");
    assert!(
        hints(&err).iter().any(|h| h.contains("immutable")),
        "{text}"
    );

    let mut state = HostState::default();
    let err = fx.publish(&host, &mut state).unwrap_err();
    assert_eq!(code_of(&err), 2);
    assert!(emu.uploads().is_empty());
    assert_eq!(emu.count("POST", "/releases"), 0);
    let rel = only_release(&emu);
    assert_eq!(rel.assets.len(), 1);
    assert!(!state.published);
}

#[test]
fn github_rollback_deletes_our_draft_but_never_a_published_release() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let host = github(&emu, 1);
    emu.fail_uploads(1, 500);
    let mut state = HostState::default();
    fx.publish(&host, &mut state).unwrap_err();
    assert!(only_release(&emu).draft);
    host.rollback(&fx.staged, &mut state, &shell()).unwrap();
    assert!(emu.releases().is_empty());
    assert!(!state.data.contains_key("release_id"));
    assert!(
        !state.done.iter().any(|s| s.starts_with("upload:")),
        "{state:?}"
    );

    // After the rollback a re-run starts over and completes.
    fx.publish(&host, &mut state).unwrap();
    let rel = only_release(&emu);
    assert!(!rel.draft);
    fx.assert_holds_exactly(&rel);

    // A published release is never rolled back, whatever the state says.
    let mut stale = HostState {
        published: false,
        ..state.clone()
    };
    host.rollback(&fx.staged, &mut stale, &shell()).unwrap();
    assert!(!only_release(&emu).draft);
    assert_eq!(emu.count("DELETE", &format!("/releases/{}", rel.id)), 0);
}

#[test]
fn github_bad_token_is_a_clear_error_without_the_token() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let wrong = "ghp_wrong-token-4711-do-not-print";
    let url = emu.url();
    let host = GithubHost::from_vars(REPO, http(2), |k| match k {
        "GITHUB_TOKEN" => Some(wrong.into()),
        "GITHUB_API_URL" => Some(format!("{url}/")),
        _ => None,
    })
    .unwrap();
    assert_eq!(host.forge.api_url, url);
    let err = host
        .preflight(&fx.staged, &HostState::default(), &shell())
        .unwrap_err();
    let text = everything(&err);
    assert_eq!(code_of(&err), 5, "{text}");
    assert!(!text.contains(wrong) && !text.contains("4711"), "{text}");
    assert!(err.to_string().contains("acme/app"), "{text}");
    assert!(
        err.to_string()
            .contains("rejected the token from GITHUB_TOKEN"),
        "{text}"
    );
    assert!(
        err.to_string()
            .contains("401 Unauthorized: Bad credentials"),
        "{text}"
    );
    assert!(
        hints(&err)
            .iter()
            .any(|h| h.contains("GITHUB_TOKEN or GH_TOKEN")),
        "{text}"
    );
    assert!(!format!("{host:?}").contains(wrong));

    let mut state = HostState::default();
    let err = fx.publish(&host, &mut state).unwrap_err();
    assert!(!everything(&err).contains(wrong));
    assert!(emu.releases().is_empty());
    assert_eq!(emu.count("GET", "/releases"), 1, "a 401 is not retried");
}

#[test]
fn github_missing_token_is_a_usage_error_naming_both_variables() {
    let err = GithubHost::from_vars(REPO, http(1), |k| {
        (k == "GITHUB_API_URL").then(|| "http://127.0.0.1:9".into())
    })
    .unwrap_err();
    assert_eq!(code_of(&err), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("GITHUB_TOKEN") && msg.contains("GH_TOKEN") && msg.contains(REPO),
        "{msg}"
    );
    assert!(
        hints(&err).iter().any(|h| h.contains("contents: write")),
        "{:?}",
        hints(&err)
    );
}

#[test]
fn github_preflight_names_what_is_wrong() {
    let emu = Emulator::github(REPO, TOKEN);
    let fx = stage("1.2.3", false);

    let other = GithubHost::new("acme/missing", emu.url(), Secret::new(TOKEN), http(1)).unwrap();
    let err = other
        .preflight(&fx.staged, &HostState::default(), &shell())
        .unwrap_err();
    assert_eq!(code_of(&err), 5);
    assert!(
        err.to_string().contains("acme/missing: not found"),
        "{}",
        everything(&err)
    );
    assert!(
        hints(&err)
            .iter()
            .any(|h| h.contains("repo = \"acme/missing\"")),
        "{}",
        everything(&err)
    );

    emu.read_only(true);
    let err = github(&emu, 1)
        .preflight(&fx.staged, &HostState::default(), &shell())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("may read but not write `acme/app`"),
        "{}",
        everything(&err)
    );
    emu.read_only(false);

    emu.down(true);
    let err = github(&emu, 2)
        .preflight(&fx.staged, &HostState::default(), &shell())
        .unwrap_err();
    assert_eq!(code_of(&err), 5);
    assert!(
        err.to_string().contains("503 Service Unavailable"),
        "{}",
        everything(&err)
    );
    assert_eq!(emu.count("GET", "/repos/acme/app"), 1 + 2, "503 is retried");
    emu.down(false);

    let mut odd = stage("1.2.3", false);
    odd.staged.assets[0].name = "app 1.2.3 (linux).tar.gz".into();
    let err = github(&emu, 1)
        .preflight(&odd.staged, &HostState::default(), &shell())
        .unwrap_err();
    assert_eq!(code_of(&err), 2);
    assert!(
        err.to_string().contains("characters GitHub would rename"),
        "{}",
        everything(&err)
    );
}

#[test]
fn gitea_publishes_and_a_rerun_uploads_nothing() {
    let emu = Emulator::gitea(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let host = gitea(&emu, 3);
    let mut state = HostState::default();
    host.preflight(&fx.staged, &state, &shell()).unwrap();
    fx.prepare(&host, &mut state).unwrap();
    assert!(only_release(&emu).draft);
    fx.publish(&host, &mut state).unwrap();
    let rel = only_release(&emu);
    assert!(!rel.draft && !rel.prerelease);
    assert_eq!(rel.target_commitish, COMMIT);
    fx.assert_holds_exactly(&rel);
    assert_eq!(emu.successful_uploads().len(), 3);
    for l in emu.requests() {
        assert_eq!(
            l.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert!(l.path.starts_with("/api/v1/repos/acme/app"), "{l:?}");
    }
    for l in emu.uploads() {
        assert!(
            l.header("content-type")
                .unwrap()
                .starts_with("multipart/form-data; boundary="),
            "{l:?}"
        );
    }
    let log = emu.requests();
    assert!(
        log.iter().rposition(|l| l.is_upload()).unwrap()
            < log.iter().position(|l| l.method == "PATCH").unwrap()
    );

    let before = emu.requests().len();
    fx.publish(&host, &mut fx.saved()).unwrap();
    assert_eq!(emu.requests().len(), before);
    let mut fresh = HostState::default();
    fx.publish(&host, &mut fresh).unwrap();
    assert!(fresh.published);
    assert_eq!(emu.uploads().len(), 3);
    only_release(&emu);
}

#[test]
fn gitea_failed_upload_publishes_nothing_and_the_rerun_uploads_each_asset_once() {
    let emu = Emulator::gitea(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let host = gitea(&emu, 2);
    let deb = fx.name(AssetKind::Deb);
    emu.fail_uploads_of(&deb, 2, 500);
    let mut state = HostState::default();
    let err = fx.publish(&host, &mut state).unwrap_err();
    assert_eq!(code_of(&err), 5);
    assert!(
        err.to_string().contains(&format!("`{deb}`")),
        "{}",
        everything(&err)
    );
    assert!(only_release(&emu).draft);
    assert_eq!(emu.count("PATCH", "/releases/"), 0);

    emu.fail_uploads(0, 0);
    let mut state = fx.saved();
    fx.publish(&host, &mut state).unwrap();
    let rel = only_release(&emu);
    assert!(!rel.draft);
    fx.assert_holds_exactly(&rel);
    let ok = emu.successful_uploads();
    assert_eq!(ok.len(), 3);
    assert!(ok.values().all(|n| *n == 1), "{ok:?}");
}

#[test]
fn gitea_lost_upload_answer_leaves_no_duplicate_attachment() {
    // Gitea has no duplicate-name check: a 502 after the attachment was stored would leave two.
    let emu = Emulator::gitea(REPO, TOKEN);
    let fx = stage("1.2.3", false);
    let archive = fx.name(AssetKind::Archive);
    emu.fail_uploads_of(&archive, 1, 502);
    let mut state = HostState::default();
    fx.publish(&gitea(&emu, 3), &mut state).unwrap();
    let rel = only_release(&emu);
    assert!(!rel.draft);
    fx.assert_holds_exactly(&rel);
    assert_eq!(emu.count("DELETE", "/assets/"), 1);
}

#[test]
fn gitea_prerelease_bad_token_and_rollback() {
    let emu = Emulator::gitea(REPO, TOKEN);
    let fx = stage("2.0.0-rc.1", true);
    let mut state = HostState::default();
    fx.publish(&gitea(&emu, 3), &mut state).unwrap();
    let rel = only_release(&emu);
    assert!(rel.prerelease && !rel.draft);
    assert_eq!(rel.make_latest, None);

    let wrong = "gitea-wrong-token-4711";
    let host = GiteaHost::from_vars(emu.url(), REPO, http(1), |k| {
        (k == "GITEA_TOKEN").then(|| wrong.into())
    })
    .unwrap();
    let err = host
        .preflight(&fx.staged, &HostState::default(), &shell())
        .unwrap_err();
    let text = everything(&err);
    assert_eq!(code_of(&err), 5);
    assert!(
        err.to_string()
            .contains("rejected the token from GITEA_TOKEN")
            && !text.contains(wrong),
        "{text}"
    );

    let fx = stage("2.0.0", false);
    let host = gitea(&emu, 1);
    emu.fail_uploads(1, 500);
    let mut state = HostState::default();
    fx.publish(&host, &mut state).unwrap_err();
    assert_eq!(emu.releases().len(), 2);
    host.rollback(&fx.staged, &mut state, &shell()).unwrap();
    let left = only_release(&emu);
    assert_eq!(left.tag_name, "v2.0.0-rc.1", "only the draft was deleted");
}
