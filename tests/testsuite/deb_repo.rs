//! `cargo forge-deb repo`: a signed APT repository that apt accepts, for amd64 and arm64.

use std::process::Command;

use forge_tests::*;

#[test]
fn apt_accepts_a_signed_repository_for_both_architectures() {
    if !require_tools(&[
        "/usr/bin/cargo",
        "aarch64-linux-gnu-gcc",
        "gpg",
        "apt-get",
        "dpkg-shlibdeps",
    ]) {
        return;
    }
    let gnupg = tempfile::tempdir().unwrap();
    assert_success(
        &run(Command::new("gpg")
            .args([
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "Forge Repo <repo@example.com>",
                "ed25519",
                "sign",
                "never",
            ])
            .env("GNUPGHOME", gnupg.path())),
        "gpg key generation",
    );
    let fx = Fixture::copy("cli-tool");
    assert_success(
        &fx.forge_deb(&[
            "--target",
            "x86_64-unknown-linux-gnu",
            "--target",
            "aarch64-unknown-linux-gnu",
            "--toolchain",
            "/usr",
        ]),
        "forge-deb",
    );
    let repo = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.args(["forge-deb", "repo", "--dir"])
        .arg(repo.path())
        .args(["--suite", "stable", "--sign-key", "repo@example.com"])
        .args(fx.debs())
        .env("GNUPGHOME", gnupg.path());
    assert_success(&run(&mut cmd), "forge-deb repo");
    for f in [
        "dists/stable/InRelease",
        "dists/stable/Release.gpg",
        "dists/stable/main/binary-amd64/Packages",
        "dists/stable/main/binary-arm64/Packages.xz",
    ] {
        assert!(repo.path().join(f).is_file(), "{f} missing");
    }
    // The public key, dearmored, for signed-by.
    let key = repo.path().join("key.gpg");
    assert_success(
        &run(Command::new("gpg")
            .args(["--batch", "--yes", "--output"])
            .arg(&key)
            .args(["--export", "repo@example.com"])
            .env("GNUPGHOME", gnupg.path())),
        "gpg --export",
    );

    // An isolated apt: its own state, cache and sources; both architectures.
    let apt = tempfile::tempdir().unwrap();
    let a = apt.path();
    for d in [
        "state/lists/partial",
        "cache/archives/partial",
        "etc/preferences.d",
        "etc/apt.conf.d",
        "etc/sources.list.d",
    ] {
        std::fs::create_dir_all(a.join(d)).unwrap();
    }
    std::fs::write(a.join("state/status"), "").unwrap();
    let sources = a.join("etc/sources.list");
    std::fs::write(
        &sources,
        format!(
            "deb [arch=amd64,arm64 signed-by={}] file://{} stable main\n",
            key.display(),
            repo.path().display()
        ),
    )
    .unwrap();
    let opts = |cmd: &mut Command| {
        cmd.arg("-o")
            .arg(format!("Dir::State={}", a.join("state").display()))
            .arg("-o")
            .arg(format!(
                "Dir::State::status={}",
                a.join("state/status").display()
            ))
            .arg("-o")
            .arg(format!("Dir::Cache={}", a.join("cache").display()))
            .arg("-o")
            .arg(format!("Dir::Etc::SourceList={}", sources.display()))
            .arg("-o")
            .arg(format!(
                "Dir::Etc::SourceParts={}",
                a.join("etc/sources.list.d").display()
            ))
            .arg("-o")
            .arg(format!(
                "Dir::Etc::Preferences={}",
                a.join("etc/preferences").display()
            ))
            .arg("-o")
            .arg(format!(
                "Dir::Etc::PreferencesParts={}",
                a.join("etc/preferences.d").display()
            ))
            .arg("-o")
            .arg("APT::Architectures::=amd64")
            .arg("-o")
            .arg("APT::Architectures::=arm64")
            .arg("-o")
            .arg("Debug::NoLocking=1");
    };
    let mut update = Command::new("apt-get");
    opts(&mut update);
    update.arg("update");
    let out = run(&mut update);
    assert_success(&out, "apt-get update");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("NO_PUBKEY") && !all.contains("not signed") && !all.contains("W:"),
        "{all}"
    );
    for arch in ["amd64", "arm64"] {
        let mut dl = Command::new("apt-get");
        opts(&mut dl);
        dl.args([
            "--download-only",
            "-y",
            "--no-install-recommends",
            "install",
        ])
        .arg(format!("forge-fixture-cli:{arch}"));
        // Depends (libc6) are not in this repository: ask apt only to fetch our package.
        dl.arg("-o").arg("APT::Get::Download-Only=true");
        let mut show = Command::new("apt-cache");
        opts(&mut show);
        show.args(["show"]).arg(format!("forge-fixture-cli:{arch}"));
        let out = run(&mut show);
        assert_success(&out, &format!("apt-cache show forge-fixture-cli:{arch}"));
        assert!(
            stdout(&out).contains(&format!("Architecture: {arch}")),
            "{}",
            stdout(&out)
        );
        let mut get = Command::new("apt-get");
        opts(&mut get);
        get.args(["download"])
            .arg(format!("forge-fixture-cli:{arch}"))
            .current_dir(a);
        assert_success(
            &run(&mut get),
            &format!("apt-get download forge-fixture-cli:{arch}"),
        );
    }
}
