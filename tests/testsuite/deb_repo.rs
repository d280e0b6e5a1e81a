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

/// A small `Architecture: all` package without dependencies, written with forge-deb's writer.
fn tiny_deb(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}_1.0.0_all.deb"));
    let contents = cargo_forge_deb::writer::DebContents {
        control: format!(
            "Package: {name}\nVersion: 1.0.0\nArchitecture: all\nMaintainer: Forge Tests \
             <tests@example.com>\nDescription: concurrency fixture {name}\n A package without \
             dependencies.\n"
        ),
        control_files: vec![],
        data: vec![forge_core::archive::Entry::bytes(
            &format!("usr/share/{name}/README"),
            format!("{name}\n").into_bytes(),
            0o644,
        )
        .unwrap()],
        mtime: 1_700_000_000,
    };
    cargo_forge_deb::writer::write_deb(
        &path,
        contents,
        &cargo_forge_deb::writer::CompressionSettings {
            format: cargo_forge_deb::writer::Compression::Gzip,
            level: 6,
            threads: 1,
        },
    )
    .unwrap();
    path
}

fn repo_cmd(repo: &std::path::Path, extra: &[&str], deb: &std::path::Path) -> Command {
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.args(["forge-deb", "repo", "--dir"])
        .arg(repo)
        .args(extra)
        .arg(deb)
        .env("NO_COLOR", "1");
    cmd
}

/// Two `cargo forge-deb repo` runs on one directory at the same moment (issue 13): the second
/// waits for the first's lock, then merges with what it wrote; apt sees both packages. With
/// `--no-wait`, a run fails at once naming the holder.
#[test]
fn concurrent_repo_updates_are_serialised_and_both_listed() {
    if !require_tools(&["apt-get"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let names = ["forge-race-alpha", "forge-race-beta", "forge-race-gamma"];
    let debs: Vec<_> = names.iter().map(|n| tiny_deb(tmp.path(), n)).collect();

    // Held by this process: `--no-wait` fails naming it; a waiting run says so and finishes
    // once the lock is released.
    let shell = forge_core::Shell::plain();
    let held = forge_core::fsx::lock_dir(&repo, "the APT repository", false, &shell).unwrap();
    let out = run(&mut repo_cmd(&repo, &["--no-wait"], &debs[2]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "the APT repository `{}` is locked by another run, held by pid {}",
            repo.display(),
            std::process::id()
        )),
        "{}",
        stderr(&out)
    );
    let waiting = repo_cmd(&repo, &[], &debs[2])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(!repo.join("dists").exists(), "the waiting run wrote under the lock");
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    assert_success(&out, "the run that waited");
    assert!(
        stderr(&out).contains(&format!("Waiting for the lock on the APT repository `{}`", repo.display())),
        "{}",
        stderr(&out)
    );

    // Two runs started together.
    let children: Vec<_> = debs[..2]
        .iter()
        .map(|d| repo_cmd(&repo, &[], d).stderr(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    for child in children {
        assert_success(&child.wait_with_output().unwrap(), "concurrent forge-deb repo");
    }

    let apt = tempfile::tempdir().unwrap();
    let opts = isolated_apt(
        apt.path(),
        &format!("deb [trusted=yes] file://{} stable main", repo.display()),
        &["amd64"],
    );
    assert_success(&run(Command::new("apt-get").args(&opts).arg("update")), "apt-get update");
    let out = run(Command::new("apt-get")
        .args(&opts)
        .args(["install", "--simulate", "--no-install-recommends"])
        .args(names));
    assert_success(&out, "apt-get install --simulate");
    for n in names {
        assert!(stdout(&out).contains(&format!("Inst {n} ")), "{n} missing:\n{}", stdout(&out));
    }
}
