//! `cargo forge-deb repo`: a signed APT repository that apt accepts, for amd64 and arm64.

use std::process::Command;

use forge_tests::*;

/// The cli-tool fixture packaged for amd64 and arm64, and `cargo forge-deb repo ARGS` over
/// both packages, signed by a new key: (the key's GNUPGHOME, the fixture, the repository).
fn signed_repo(args: &[&str]) -> (tempfile::TempDir, Fixture, tempfile::TempDir) {
    let gnupg = gpg_home("Forge Repo <repo@example.com>");
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
        .args(args)
        .args(["--sign-key", "repo@example.com"])
        .args(fx.debs())
        .env("GNUPGHOME", gnupg.path());
    assert_success(&run(&mut cmd), "forge-deb repo");
    (gnupg, fx, repo)
}

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
    let (gnupg, _fx, repo) = signed_repo(&["--suite", "stable"]);
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
    let opts = isolated_apt(
        apt.path(),
        &format!(
            "deb [arch=amd64,arm64 signed-by={}] file://{} stable main",
            key.display(),
            repo.path().display()
        ),
        &["amd64", "arm64"],
    );
    let out = run(Command::new("apt-get").args(&opts).arg("update"));
    assert_success(&out, "apt-get update");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("NO_PUBKEY") && !all.contains("not signed") && !all.contains("W:"),
        "{all}"
    );
    for arch in ["amd64", "arm64"] {
        let out = run(Command::new("apt-cache")
            .args(&opts)
            .arg("show")
            .arg(format!("forge-fixture-cli:{arch}")));
        assert_success(&out, &format!("apt-cache show forge-fixture-cli:{arch}"));
        assert!(
            stdout(&out).contains(&format!("Architecture: {arch}")),
            "{}",
            stdout(&out)
        );
        // Depends (libc6) are not in this repository: fetch our package only (hash and
        // signature checked by apt).
        let out = run(Command::new("apt-get")
            .args(&opts)
            .arg("download")
            .arg(format!("forge-fixture-cli:{arch}"))
            .current_dir(apt.path()));
        assert_success(&out, &format!("apt-get download forge-fixture-cli:{arch}"));
    }
}

/// `apt-get install` from the signed repository, inside clean Debian roots of both
/// architectures (arm64 through qemu), then the installed program runs.
#[test]
fn apt_installs_from_the_repository_in_clean_roots() {
    if !require_tools(&[
        "/usr/bin/cargo",
        "aarch64-linux-gnu-gcc",
        "gpg",
        "debootstrap",
        "chroot",
        "dpkg-shlibdeps",
    ]) {
        return;
    }
    if std::env::var_os("FORGE_SKIP_INSTALL_TEST").is_some() {
        eprintln!("note: FORGE_SKIP_INSTALL_TEST is set");
        return;
    }
    let (gnupg, fx, repo) = signed_repo(&[]);
    let key = run(Command::new("gpg")
        .args(["--batch", "--export", "repo@example.com"])
        .env("GNUPGHOME", gnupg.path()));
    assert_success(&key, "gpg --export");

    let shell = forge_core::Shell::plain();
    for (arch, triple) in [
        ("amd64", "x86_64-unknown-linux-gnu"),
        ("arm64", "aarch64-unknown-linux-gnu"),
    ] {
        let target = forge_core::target::lookup(triple).unwrap();
        let t = cargo_forge_deb::install_test::InstallTest {
            deb: fx
                .debs()
                .into_iter()
                .find(|d| d.to_string_lossy().ends_with(&format!("_{arch}.deb")))
                .unwrap(),
            arch: arch.into(),
            target,
            binaries: vec![],
            cache_dir: roots_cache(),
            command: None,
            timeout: 120,
        };
        let clean =
            cargo_forge_deb::install_test::CleanRoot::create(&t, &shell).expect("clean root");
        let root = &clean.root;
        copy_tree(repo.path(), &root.join("srv/repo"));
        std::fs::create_dir_all(root.join("etc/apt/keyrings")).unwrap();
        std::fs::write(root.join("etc/apt/keyrings/forge.gpg"), &key.stdout).unwrap();
        let list = root.join("etc/apt/sources.list.d/forge.list");
        std::fs::create_dir_all(list.parent().unwrap()).unwrap();
        std::fs::write(
            &list,
            "deb [signed-by=/etc/apt/keyrings/forge.gpg] file:/srv/repo stable main\n",
        )
        .unwrap();
        // Only this repository: the test must not depend on the Debian mirror.
        let only = [
            "-o",
            "Dir::Etc::SourceList=/etc/apt/sources.list.d/forge.list",
            "-o",
            "Dir::Etc::SourceParts=-",
        ];
        let out = clean
            .command()
            .arg("apt-get")
            .args(only)
            .arg("update")
            .output_unchecked(&shell)
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !text.contains("W:") && !text.contains("NO_PUBKEY"),
            "apt-get update ({arch}):\n{text}"
        );
        let out = clean
            .command()
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg("apt-get")
            .args(only)
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "forge-fixture-cli",
            ])
            .output_unchecked(&shell)
            .unwrap();
        assert!(
            out.status.success(),
            "apt-get install ({arch}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = clean
            .command()
            .args(["forge-fixture-cli", "--version"])
            .output_unchecked(&shell)
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "forge-fixture-cli 0.1.0",
            "{arch}"
        );
    }
}

fn roots_cache() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("FORGE_ROOTS_CACHE") {
        return d.into();
    }
    let home = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache")
        });
    home.join("cargo-forge/roots")
}

fn copy_tree(src: &std::path::Path, dst: &std::path::Path) {
    let out = run(Command::new("cp").arg("-a").arg(src).arg(dst));
    assert_success(&out, "cp -a");
}
