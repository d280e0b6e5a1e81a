//! `release`: a full two-target release of `tests/fixtures/bench-app` — tar.gz archives, .debs
//! and a two-platform image for x86_64 and aarch64, `SHA256SUMS`, gpg signatures, published to a
//! directory, an APT repository (signed) and a loopback registry, with the tag pushed to a bare
//! `origin` — by `cargo forge-release 0.1.0 --toolchain /usr --yes`, vs the time of its builds
//! alone: the cargo command cargo-forge's build engine runs for both targets (the same program,
//! arguments and cross environment, taken from `cargo forge-deb --dry-run`), from clean.
//!
//! Every run starts from a fresh git repository (a copy of the vendored app, committed), a fresh
//! bare origin and an emptied registry; both sides build from a clean target directory. The gpg
//! key (ed25519, no passphrase) lives in a temporary `GNUPGHOME` under `target/bench/release/`,
//! made once per benchmark; its agent is stopped at the end.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::app::{self, App};
use super::common::{idle, round, secs, BenchResult, Row, Series};
use super::registry::Registry;
use super::Options;
use crate::cmd::{self, status};

const RATIO: f64 = 1.3;
const KEY_UID: &str = "cargo-forge bench <bench@example.com>";

pub fn run(
    forge_deb: &Path,
    forge_release: &Path,
    app: &App,
    bench_dir: &Path,
    opts: &Options,
) -> Result<BenchResult> {
    let work = bench_dir.join("release");
    app::remove(&work)?;
    std::fs::create_dir_all(&work)
        .with_context(|| format!("could not create {}", work.display()))?;
    let gnupg = work.join("gnupg");
    let key = make_key(&gnupg)?;
    let _agent = AgentGuard(gnupg.clone());
    let mut registry = Registry::start(&work.join("registry"))?;
    let repository = format!("{}/bench/{}", registry.host(), app::NAME);

    let repo = work.join("repo");
    let origin = work.join("origin.git");
    let ours_cmd = || {
        let mut c = Command::new(forge_release);
        c.arg("forge-release")
            .args([app::VERSION, "--toolchain", app::TOOLCHAIN, "--yes"]);
        super::common::neutral_env(&mut c, &repo);
        c.env("GNUPGHOME", &gnupg);
        git_identity(&mut c);
        c
    };
    let peer_dir = work.join("builds-only");
    app::fresh_copy(app, &peer_dir)?;
    let peer_cmd =
        || app::engine_build_command(forge_deb, &peer_dir, &[app::HOST_TARGET, app::ARM64_TARGET]);
    let ours_shown = cmd::display(&ours_cmd());
    let peer_shown = cmd::display(&peer_cmd()?);
    status(
        "Running",
        format!("release: {ours_shown} (in {})", repo.display()),
    );
    status("Running", format!("release: {peer_shown}"));

    let mut ours = Series::default();
    let mut peer = Series::default();
    let mut staged = Vec::new();
    for round_no in 0..=opts.runs {
        fresh_repo(app, &repo, &origin, &repository, &key)?;
        registry.restart()?;
        let waited = idle(opts, round_no);
        let o = super::common::timed(&mut ours_cmd())?;
        let files = check_release(&repo, &origin)?;
        if round_no == 0 {
            staged = files;
        }

        app::remove(&peer_dir.join("target"))?;
        let waited_p = idle(opts, round_no);
        let p = super::common::timed(&mut peer_cmd()?)?;
        for target in [app::HOST_TARGET, app::ARM64_TARGET] {
            let bin = peer_dir
                .join("target")
                .join(target)
                .join("release")
                .join(app::NAME);
            if !bin.is_file() {
                bail!("`{peer_shown}` built no {}", bin.display());
            }
        }
        let what = if round_no == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round_no}/{}", opts.runs)
        };
        status(
            "Measured",
            format!(
                "release {what}: ours {}, builds alone {}",
                super::common::describe_sample(&o),
                super::common::describe_sample(&p)
            ),
        );
        ours.record(round_no, &o, waited);
        peer.record(round_no, &p, waited_p);
    }
    drop(registry);

    let (mo, mp) = (ours.median(), peer.median());
    let ratio = mo / mp;
    let met = ratio <= RATIO;
    let target = format!("time <= {RATIO}x the builds alone");
    Ok(BenchResult {
        rows: vec![Row {
            label: "release".into(),
            ours: secs(mo),
            peer: secs(mp),
            ratio: format!("{ratio:.2}x"),
            target: target.clone(),
            met: Some(met),
        }],
        json: json!({
            "name": "release",
            "app": app.json,
            "ours": { "command": ours_shown, "times": ours.json(), "published_files": staged },
            "peer": { "command": peer_shown, "times": peer.json() },
            "time_ratio": round(ratio, 4),
            "extra_s": round(mo - mp, 3),
            "target": target,
            "met": met,
        }),
        contention: ours.background_cores().max(peer.background_cores()),
        levels: Vec::new(),
    })
}

/// A gpg key without passphrase in `home`; returns its fingerprint.
fn make_key(home: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(home)
        .with_context(|| format!("could not create {}", home.display()))?;
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("could not restrict {}", home.display()))?;
    cmd::output(Command::new("gpg").env("GNUPGHOME", home).args([
        "--batch",
        "--passphrase",
        "",
        "--quick-generate-key",
        KEY_UID,
        "ed25519",
        "sign",
        "never",
    ]))?;
    let out = cmd::output(Command::new("gpg").env("GNUPGHOME", home).args([
        "--batch",
        "--with-colons",
        "--list-secret-keys",
    ]))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_owned())
        })
        .context("gpg listed no fingerprint for the new key")
}

/// Stops the gpg-agent of the temporary home.
struct AgentGuard(std::path::PathBuf);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        let _ = cmd::probe(
            Command::new("gpgconf")
                .env("GNUPGHOME", &self.0)
                .args(["--kill", "gpg-agent"]),
        );
    }
}

fn git_identity(c: &mut Command) {
    c.env("GIT_AUTHOR_NAME", "cargo-forge bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "cargo-forge bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com");
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let mut c = Command::new("git");
    c.args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir);
    git_identity(&mut c);
    cmd::output(&mut c).map(|_| ())
}

/// The app as a fresh git repository on `main` with the release table, pushed to a fresh bare
/// `origin`.
fn fresh_repo(app: &App, repo: &Path, origin: &Path, repository: &str, key: &str) -> Result<()> {
    app::fresh_copy(app, repo)?;
    app::remove(origin)?;
    std::fs::create_dir_all(origin)
        .with_context(|| format!("could not create {}", origin.display()))?;
    git(origin, &["init", "-q", "--bare"])?;
    let manifest = repo.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("could not read {}", manifest.display()))?;
    text.push_str(&format!(
        "\n[package.metadata.forge.release]\n\
         targets = [\"{}\", \"{}\"]\n\
         artifacts = [\"archive\", \"deb\", \"image\"]\n\
         sign = {{ gpg = \"{key}\" }}\n\
         hosts = [\n  {{ kind = \"dir\", path = \"dist\" }},\n  {{ kind = \"apt\", dir = \"apt\", sign-key = \"{key}\" }},\n  {{ kind = \"oci\", repository = \"{repository}\" }},\n]\n",
        app::HOST_TARGET,
        app::ARM64_TARGET
    ));
    std::fs::write(&manifest, text)
        .with_context(|| format!("could not write {}", manifest.display()))?;
    // The vendored sources stay out of git, as a CI cache would.
    std::fs::write(repo.join(".gitignore"), "target/\nvendor/\ndist/\napt/\n")
        .context("could not write .gitignore")?;
    git(repo, &["init", "-q"])?;
    git(repo, &["add", "-A"])?;
    git(repo, &["commit", "-q", "-m", "bench app"])?;
    git(
        repo,
        &["remote", "add", "origin", &origin.display().to_string()],
    )?;
    git(repo, &["push", "-q", "origin", "main"])?;
    Ok(())
}

/// The release is complete: sums verify, every file is signed, the APT repository is signed and
/// the tag is on origin. Returns the published file names.
fn check_release(repo: &Path, origin: &Path) -> Result<Vec<String>> {
    let dist = repo.join("dist").join(format!("v{}", app::VERSION));
    cmd::output(
        Command::new("sha256sum")
            .args(["-c", "--quiet", "SHA256SUMS"])
            .current_dir(&dist),
    )?;
    let mut files: Vec<String> = std::fs::read_dir(&dist)
        .with_context(|| format!("could not read {}", dist.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    files.sort();
    let unsigned: Vec<&String> = files
        .iter()
        .filter(|f| !f.ends_with(".asc"))
        .filter(|f| !files.contains(&format!("{f}.asc")))
        .collect();
    let archives = files.iter().filter(|f| f.ends_with(".tar.gz")).count();
    let debs = files.iter().filter(|f| f.ends_with(".deb")).count();
    if !unsigned.is_empty() || archives != 2 || debs != 2 {
        bail!(
            "the release in {} is incomplete (2 archives, 2 debs, every file signed expected): {files:?}",
            dist.display()
        );
    }
    let release = walk_find(&repo.join("apt"), "InRelease");
    if !release {
        bail!(
            "the APT repository in {} has no signed InRelease",
            repo.join("apt").display()
        );
    }
    let tags = cmd::output(
        Command::new("git")
            .args(["tag", "--list"])
            .current_dir(origin),
    )?;
    if !String::from_utf8_lossy(&tags.stdout).contains(&format!("v{}", app::VERSION)) {
        bail!("the tag v{} is not on {}", app::VERSION, origin.display());
    }
    Ok(files)
}

fn walk_find(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            walk_find(&p, name)
        } else {
            e.file_name() == name
        }
    })
}
