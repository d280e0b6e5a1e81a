//! Secret hygiene: sentinel tokens and passwords given through the environment never appear in
//! stdout, stderr (even with `-vv`), JSON output, plans or state files, for any command.

use std::process::Command;

use forge_tests::registry::Registry;
use forge_tests::*;

const SENTINELS: &[(&str, &str)] = &[
    ("GITHUB_TOKEN", "sentinel-github-7f3a9"),
    ("GITEA_TOKEN", "sentinel-gitea-51c2e"),
    ("AWS_SECRET_ACCESS_KEY", "sentinel-aws-secret-88d1"),
    ("AWS_ACCESS_KEY_ID", "sentinel-aws-id-3b7"),
    ("FORGE_REGISTRY_PASSWORD", "sentinel-registry-pass-0c4"),
    ("MINISIGN_PASSWORD", "sentinel-minisign-9a2"),
];

fn assert_clean(what: &str, text: &str) {
    for (_, s) in SENTINELS {
        assert!(!text.contains(s), "{what} leaks `{s}`:\n{text}");
    }
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
}

#[test]
fn image_push_with_env_credentials_leaks_nothing() {
    if !require_tools(&["docker-registry"]) {
        return;
    }
    let reg = Registry::start_with_htpasswd("forge", "sentinel-registry-pass-0c4");
    let fx = Fixture::copy("cli-tool");
    for format in ["human", "json"] {
        let mut cmd = Command::new(bin("cargo-forge-image"));
        cmd.args([
            "forge-image",
            "--tag",
            &format!("{}/s/cli:0.1.0", reg.host()),
            "--push",
            "-vv",
            "--message-format",
            format,
        ])
        .current_dir(fx.path())
        .envs(SENTINELS.iter().copied())
        .env("FORGE_REGISTRY_USERNAME", "forge");
        let out = run(&mut cmd);
        assert_success(&out, "push with FORGE_REGISTRY_* credentials");
        assert_clean("forge-image stdout", &stdout(&out));
        assert_clean("forge-image stderr", &stderr(&out));
    }
    // And with a wrong password, the error does not show it either.
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.args([
        "forge-image",
        "--tag",
        &format!("{}/s/cli:0.1.0", reg.host()),
        "--push",
        "-vv",
    ])
    .current_dir(fx.path())
    .env("FORGE_REGISTRY_USERNAME", "forge")
    .env("FORGE_REGISTRY_PASSWORD", "sentinel-wrong-pass-77");
    let out = run(&mut cmd);
    assert!(!out.status.success());
    assert!(
        !stderr(&out).contains("sentinel-wrong-pass-77")
            && !stdout(&out).contains("sentinel-wrong-pass-77"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn release_plans_and_state_leak_nothing() {
    if !require_tools(&["git", "gpg", "dpkg-shlibdeps"]) {
        return;
    }
    let gh = forge_tests::github::Emulator::github("acme/cli", "sentinel-github-7f3a9");
    let repo = crate::release::ReleaseRepo::new(
        "hosts = [{ kind = \"github\", repo = \"acme/cli\" }, { kind = \"dir\", path = \"dist\" }]",
    );
    let mut envs: Vec<(&str, String)> =
        SENTINELS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    envs.push(("GITHUB_API_URL", gh.url()));
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for args in [
        &["v0.1.0", "--stage-only", "--message-format", "json", "-vv"][..],
        &["plan", "v0.1.0", "-vv"][..],
        &["v0.1.0", "--yes", "-vv"][..],
    ] {
        let out = repo.release(args, &envs);
        assert_success(&out, &format!("forge-release {args:?}"));
        assert_clean(&format!("forge-release {args:?} stdout"), &stdout(&out));
        assert_clean(&format!("forge-release {args:?} stderr"), &stderr(&out));
    }
    let mut files = Vec::new();
    files_under(&repo.path().join("target/forge"), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("state.json"))
            && files.iter().any(|f| f.ends_with("plan.json")),
        "{files:?}"
    );
    for f in files {
        assert_clean(
            &f.display().to_string(),
            &std::fs::read_to_string(&f).unwrap_or_default(),
        );
    }
    assert!(
        gh.releases().iter().any(|r| !r.draft),
        "the release was published"
    );
}

/// A build script that prints a token (found anywhere: here it is in its source) to stderr:
/// at `-vv`, where cargo shows build script output, the line reaches the terminal through the
/// shell with the token masked, because the value of every credential variable is a secret from
/// the start of the run (issue 13).
#[test]
fn build_script_output_is_masked_at_very_verbose() {
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    const SENTINEL: &str = "sentinel-build-script-5521";
    let fx = Fixture::copy("cli-tool");
    std::fs::write(
        fx.path().join("build.rs"),
        format!(
            "fn main() {{\n    eprintln!(\"build script says {SENTINEL}\");\n    \
             println!(\"cargo:warning=build script warns {SENTINEL}\");\n}}\n"
        ),
    )
    .unwrap();
    let out = run(Command::new(bin("cargo-forge-deb"))
        .args(["forge-deb", "-vv"])
        .current_dir(fx.path())
        .env("NO_COLOR", "1")
        .env("GITHUB_TOKEN", SENTINEL));
    assert_success(&out, "forge-deb -vv");
    let err = stderr(&out);
    assert!(err.contains("build script says ***"), "{err}");
    assert!(err.contains("build script warns ***"), "{err}");
    assert!(
        !err.contains(SENTINEL) && !stdout(&out).contains(SENTINEL),
        "{err}"
    );
}
