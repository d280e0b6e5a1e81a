//! `cargo forge-release` (and `cargo forge-deb`) under hostile conditions: a full disk under the
//! staging directory, every host answering 401, 403 or 404, and secret sentinels for signing
//! passphrases. Each stops with one error that says where and what to do, and leaves nothing
//! half-written or published.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use forge_tests::faults::FaultProxy;
use forge_tests::github::Emulator;
use forge_tests::registry::Registry;
use forge_tests::s3::{self, SeaweedS3};
use forge_tests::*;

use crate::release::{git, ReleaseRepo};

/// A small tmpfs mounted on a directory for the test's duration.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// `None` (with a note) when this process may not mount: not root, or no `CAP_SYS_ADMIN`.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(dir));
        if !out.status.success() {
            eprintln!(
                "note: skipping: cannot mount a tmpfs on `{}` (needs root and CAP_SYS_ADMIN): {}",
                dir.display(),
                stderr(&out).trim()
            );
            return None;
        }
        Some(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Files under `dir`, recursively, relative.
fn files(dir: &Path) -> Vec<String> {
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

fn error_lines(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("error"))
        .map(str::to_string)
        .collect()
}

/// The staging directory on a full file system: the release stops with one error naming the
/// file and "no space left", leaves no archive under its final name and no temporary files, and
/// publishes nothing.
#[test]
fn full_disk_under_the_staging_dir() {
    if !require_tools(&["git", "gpg", "mount"]) {
        return;
    }
    let repo = ReleaseRepo::new("hosts = [{ kind = \"dir\", path = \"dist\" }]");
    // Built first, so that only the staging is on the small file system.
    assert_success(
        &run(Command::new("cargo")
            .args(["build", "--release", "--offline"])
            .current_dir(repo.path())),
        "cargo build",
    );
    let forge_dir = repo.path().join("target/forge");
    let Some(_tmpfs) = Tmpfs::mount(&forge_dir, "48k") else {
        return;
    };
    let out = repo.release(&["v0.1.0", "--yes"], &[]);
    assert_ne!(out.status.code(), Some(0));
    assert_ne!(out.status.code(), Some(101), "{}", stderr(&out));
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "one error: {}", stderr(&out));
    let all = stderr(&out).to_lowercase();
    assert!(all.contains("no space left"), "{}", stderr(&out));
    assert!(
        all.contains(&forge_dir.display().to_string().to_lowercase()),
        "the message names the path: {}",
        stderr(&out)
    );
    assert!(all.contains("hint:"), "says what to do: {}", stderr(&out));
    let left = files(&forge_dir);
    assert!(
        left.iter()
            .all(|f| !f.ends_with(".tar.gz") && !f.ends_with(".tmp") && !f.contains("/.")),
        "no archive or temporary file left: {left:?}"
    );
    assert!(!repo.path().join("dist").exists());
    assert!(repo.remote_tags().is_empty(), "{}", repo.remote_tags());
}

/// `cargo forge-deb --output` on a full file system: one error naming the path and "no space
/// left", no `.deb` (complete or not) and no temporary file left in the output directory.
#[test]
fn full_disk_under_the_deb_output_dir() {
    if !require_tools(&["mount", "dpkg-shlibdeps"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    assert_success(
        &run(Command::new("cargo")
            .args(["build", "--release", "--offline"])
            .current_dir(fx.path())),
        "cargo build",
    );
    let out_dir = fx.path().join("small");
    let Some(_tmpfs) = Tmpfs::mount(&out_dir, "16k") else {
        return;
    };
    let out = fx.forge_deb(&["--no-build", "--output", out_dir.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert_ne!(out.status.code(), Some(101), "{}", stderr(&out));
    assert_eq!(error_lines(&out).len(), 1, "one error: {}", stderr(&out));
    let all = stderr(&out).to_lowercase();
    assert!(all.contains("no space left"), "{}", stderr(&out));
    assert!(
        all.contains(&out_dir.display().to_string().to_lowercase()),
        "the message names the path: {}",
        stderr(&out)
    );
    let left = files(&out_dir);
    assert!(left.is_empty(), "nothing left in the output dir: {left:?}");
}

/// One release host behind a proxy that answers every request with one status.
struct Case {
    name: &'static str,
    artifacts: &'static str,
    host: String,
    env: Vec<(&'static str, String)>,
    /// What identifies the host in a message.
    names: String,
}

/// Every kind of remote host answering 401, 403 and 404: the release stops before anything is
/// visible, with exit code 5 (a host failed), one error naming the host, and a hint.
#[test]
fn every_host_refusing_stops_with_one_clear_error() {
    if !require_tools(&["git", "gpg", "docker-registry", "dpkg-shlibdeps"]) || !s3::require_weed() {
        return;
    }
    let reg = Registry::start();
    let store = SeaweedS3::start();
    let gh = Emulator::github("acme/cli", "gh-token-sentinel");
    let gt = Emulator::gitea("acme/cli", "gitea-token-sentinel");
    let strip = |u: String| u.trim_start_matches("http://").to_string();
    let p_gh = FaultProxy::start(&strip(gh.url()), 0.0, 1);
    let p_gt = FaultProxy::start(&strip(gt.url()), 0.0, 2);
    let p_s3 = FaultProxy::start(&store.host(), 0.0, 3);
    let p_reg = FaultProxy::start(reg.host(), 0.0, 4);
    let aws = || {
        vec![
            ("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY.to_string()),
        ]
    };
    let cases = vec![
        Case {
            name: "github",
            artifacts: "[\"archive\"]",
            host: "{ kind = \"github\", repo = \"acme/cli\" }".into(),
            env: vec![
                ("GITHUB_API_URL", format!("http://{}", p_gh.host())),
                ("GITHUB_TOKEN", "gh-token-sentinel".into()),
            ],
            names: p_gh.host().to_string(),
        },
        Case {
            name: "gitea",
            artifacts: "[\"archive\"]",
            host: format!(
                "{{ kind = \"gitea\", url = \"http://{}\", repo = \"acme/cli\" }}",
                p_gt.host()
            ),
            env: vec![("GITEA_TOKEN", "gitea-token-sentinel".into())],
            names: p_gt.host().to_string(),
        },
        Case {
            name: "s3",
            artifacts: "[\"archive\"]",
            host: format!(
                "{{ kind = \"s3\", bucket = \"{}\", prefix = \"rel\", endpoint = \"http://{}\" }}",
                s3::BUCKET,
                p_s3.host()
            ),
            env: aws(),
            names: p_s3.host().to_string(),
        },
        Case {
            name: "apt-on-s3",
            artifacts: "[\"deb\"]",
            host: format!(
                "{{ kind = \"apt\", url = \"s3://{}/apt\", endpoint = \"http://{}\" }}",
                s3::BUCKET,
                p_s3.host()
            ),
            env: aws(),
            names: p_s3.host().to_string(),
        },
        Case {
            name: "oci",
            artifacts: "[\"image\"]",
            host: format!(
                "{{ kind = \"oci\", repository = \"{}/rel/cli\" }}",
                p_reg.host()
            ),
            env: vec![],
            names: p_reg.host().to_string(),
        },
    ];
    let repo = ReleaseRepo::new("# per case");
    let manifest = repo.path().join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    let mut report = Vec::new();
    for case in &cases {
        std::fs::write(
            &manifest,
            original.replace(
                "# per case",
                &format!("artifacts = {}\nhosts = [{}]", case.artifacts, case.host),
            ),
        )
        .unwrap();
        for status in [401, 403, 404] {
            for p in [&p_gh, &p_gt, &p_s3, &p_reg] {
                p.set_status(Some(status));
            }
            let _ = std::fs::remove_dir_all(repo.path().join("target/forge/release"));
            let env: Vec<(&str, &str)> = case.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let refused_before: usize = [&p_gh, &p_gt, &p_s3, &p_reg]
                .iter()
                .map(|p| p.seen().len())
                .sum();
            let out = repo.release(
                &["v0.1.0", "--toolchain", "/usr", "--yes", "--allow-dirty"],
                &env,
            );
            let what = format!("{} answering {status}", case.name);
            let err = stderr(&out);
            report.push(format!("--- {what} (exit {:?}):\n{err}", out.status.code()));
            // 5: a host failed (nothing visible; the state file allows a resume).
            assert_eq!(out.status.code(), Some(5), "{what}: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert_eq!(error_lines(&out).len(), 1, "{what}: one error line:\n{err}");
            assert!(
                err.contains(&case.names),
                "{what}: the message names the host `{}`:\n{err}",
                case.names
            );
            assert!(err.contains("hint:"), "{what}: says what to do:\n{err}");
            for secret in ["gh-token-sentinel", "gitea-token-sentinel", s3::SECRET_KEY] {
                assert!(!err.contains(secret), "{what}: leaks a secret:\n{err}");
            }
            // A refusal is final: it is not retried (a retried 401 would be one refused
            // request per attempt, six by default, for each request the host makes).
            let refused = [&p_gh, &p_gt, &p_s3, &p_reg]
                .iter()
                .map(|p| p.seen().len())
                .sum::<usize>()
                - refused_before;
            report.push(format!("    ({refused} refused requests)"));
            assert!(
                (1..=MAX_REFUSED).contains(&refused),
                "{what}: {refused} requests refused (a refusal must stop the release, unretried)"
            );
            // Nothing is visible: no tag pushed, nothing behind the proxies.
            assert!(repo.remote_tags().is_empty(), "{what}: tag pushed");
            assert!(
                gh.releases().is_empty() && gt.releases().is_empty(),
                "{what}"
            );
            assert!(
                store.list("rel/").is_empty() && store.list("apt/").is_empty(),
                "{what}"
            );
        }
    }
    // The messages, for the test log.
    eprintln!("{}", report.join("\n"));
    drop(git(repo.path(), &["status", "--short"]));
}

/// The most refused requests one release may make against a host that refuses everything: the
/// preflight's and the first upload's, never a retry loop.
const MAX_REFUSED: usize = 3;

const GPG_PASS: &str = "sentinel-gpg-passphrase-6e1b";

/// A gpg home whose signing key is protected by [`GPG_PASS`], the passphrase preset in the
/// agent (as `gpg-preset-passphrase` or a CI's agent setup does), so that `gpg --batch` signs
/// without asking. Returns the home (short path under /tmp, for the agent's socket).
fn gpg_home_with_passphrase(uid: &str) -> tempfile::TempDir {
    let home = tempfile::Builder::new()
        .prefix("fgpp")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::write(
        home.path().join("gpg-agent.conf"),
        "allow-preset-passphrase\nallow-loopback-pinentry\n",
    )
    .unwrap();
    let gpg = |args: &[&str]| {
        let out = run(Command::new("gpg")
            .arg("--batch")
            .args(args)
            .env("GNUPGHOME", home.path()));
        assert_success(&out, &format!("gpg {args:?}"));
        out
    };
    gpg(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        GPG_PASS,
        "--quick-gen-key",
        uid,
        "ed25519",
        "sign",
        "never",
    ]);
    let listing = stdout(&gpg(&[
        "--with-colons",
        "--with-keygrip",
        "--list-secret-keys",
    ]));
    let grip = listing
        .lines()
        .find_map(|l| l.strip_prefix("grp:"))
        .map(|l| l.trim_matches(':').to_string())
        .expect("a keygrip");
    let preset = run(Command::new("/usr/lib/gnupg/gpg-preset-passphrase")
        .args(["--preset", "-P", GPG_PASS])
        .arg(&grip)
        .env("GNUPGHOME", home.path()));
    assert_success(&preset, "gpg-preset-passphrase");
    home
}

fn assert_no_passphrase(what: &str, out: &Output) {
    for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        assert!(
            !text.contains(GPG_PASS),
            "{what}: the passphrase is in {stream}:\n{text}"
        );
    }
}

/// forge-deb `--sign --key` and a signed APT repository (forge-deb `repo --sign-key`, and the
/// release's `apt` host) with a passphrase-protected key held by the agent: the signatures
/// verify, and the passphrase appears nowhere in the output, even at `-vv`.
#[test]
fn signing_passphrases_never_show() {
    if !require_tools(&["gpg", "gpg-agent", "git", "dpkg-shlibdeps"]) {
        return;
    }
    let home = gpg_home_with_passphrase("Deb Signer <signer@example.com>");
    let fx = Fixture::copy("cli-tool");
    let out = run(Command::new(bin("cargo-forge-deb"))
        .args(["forge-deb", "-vv", "--sign", "--key", "signer@example.com"])
        .current_dir(fx.path())
        .env("GNUPGHOME", home.path())
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-deb --sign");
    assert_no_passphrase("forge-deb --sign -vv", &out);
    let deb = fx.debs().into_iter().next().expect("a .deb");
    let members = ar_members(&deb).unwrap();
    assert!(
        members.iter().any(|(n, _)| n == "_gpgorigin"),
        "the package is signed"
    );

    let repo_dir = fx.path().join("apt");
    let out = run(Command::new(bin("cargo-forge-deb"))
        .args(["forge-deb", "repo", "-vv", "--dir"])
        .arg(&repo_dir)
        .args(["--sign-key", "signer@example.com"])
        .arg(&deb)
        .current_dir(fx.path())
        .env("GNUPGHOME", home.path())
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-deb repo --sign-key");
    assert_no_passphrase("forge-deb repo -vv", &out);
    let verify = run(Command::new("gpg")
        .args(["--batch", "--verify"])
        .arg(repo_dir.join("dists/stable/InRelease"))
        .env("GNUPGHOME", home.path()));
    assert_success(&verify, "gpg --verify InRelease");

    // The release: files, the tag and the APT repository signed with the protected key.
    let release = ReleaseRepo::new(
        "artifacts = [\"archive\", \"deb\"]\nsign = { gpg = \"signer@example.com\", tag = true }\nhosts = [{ kind = \"apt\", dir = \"apt\", sign-key = \"signer@example.com\" }]",
    );
    let out = run(Command::new(bin("cargo-forge-release"))
        .args([
            "forge-release",
            "v0.1.0",
            "--yes",
            "-vv",
            "--toolchain",
            "/usr",
        ])
        .current_dir(release.path())
        .env("GNUPGHOME", home.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null()));
    assert_success(&out, "forge-release with a protected key");
    assert_no_passphrase("forge-release -vv", &out);
    assert!(release.path().join("apt/dists/stable/InRelease").is_file());
    for f in files(
        &release
            .path()
            .join("target/forge/release/forge-fixture-cli/0.1.0"),
    ) {
        let text = std::fs::read(
            release
                .path()
                .join("target/forge/release/forge-fixture-cli/0.1.0")
                .join(&f),
        )
        .unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(GPG_PASS),
            "{f} holds the passphrase"
        );
    }
    let tag = run(Command::new("git")
        .args(["tag", "-v", "v0.1.0"])
        .current_dir(release.path())
        .env("GNUPGHOME", home.path()));
    assert_success(&tag, "git tag -v");
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", home.path())
        .status();
}
