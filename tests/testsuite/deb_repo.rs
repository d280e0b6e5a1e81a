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
    let debs: Vec<_> = names
        .iter()
        .map(|n| small_deb(tmp.path(), n, "1.0", "all"))
        .collect();

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
    assert!(
        !repo.join("dists").exists(),
        "the waiting run wrote under the lock"
    );
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    assert_success(&out, "the run that waited");
    assert!(
        stderr(&out).contains(&format!(
            "Waiting for the lock on the APT repository `{}`",
            repo.display()
        )),
        "{}",
        stderr(&out)
    );

    // Two runs started together.
    let children: Vec<_> = debs[..2]
        .iter()
        .map(|d| {
            repo_cmd(&repo, &[], d)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        assert_success(
            &child.wait_with_output().unwrap(),
            "concurrent forge-deb repo",
        );
    }

    let apt = tempfile::tempdir().unwrap();
    let opts = isolated_apt(
        apt.path(),
        &format!("deb [trusted=yes] file://{} stable main", repo.display()),
        &["amd64"],
    );
    assert_success(
        &run(Command::new("apt-get").args(&opts).arg("update")),
        "apt-get update",
    );
    let out = run(Command::new("apt-get")
        .args(&opts)
        .args(["install", "--simulate", "--no-install-recommends"])
        .args(names));
    assert_success(&out, "apt-get install --simulate");
    for n in names {
        assert!(
            stdout(&out).contains(&format!("Inst {n} ")),
            "{n} missing:\n{}",
            stdout(&out)
        );
    }
}

/// `cargo forge-deb repo ARGS` (unsigned), asserting success; returns stderr.
fn forge_repo(args: &[&std::ffi::OsStr]) -> String {
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.args(["forge-deb", "repo"]).args(args);
    let out = run(&mut cmd);
    assert_success(&out, "forge-deb repo");
    stderr(&out)
}

/// An isolated apt for the unsigned repository `repo` (amd64): its options, after an
/// `apt-get update` that must pass without warnings.
fn apt_update(apt: &std::path::Path, repo: &std::path::Path) -> Vec<String> {
    let opts = isolated_apt(
        apt,
        &format!(
            "deb [arch=amd64 trusted=yes] file://{} stable main",
            repo.display()
        ),
        &["amd64"],
    );
    let out = run(Command::new("apt-get").args(&opts).arg("update"));
    assert_success(&out, "apt-get update");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("W:") && !all.contains("E:"), "{all}");
    opts
}

/// The versions apt offers for `package`, from `apt-cache madison`.
fn apt_versions(opts: &[String], package: &str) -> Vec<String> {
    let out = run(Command::new("apt-cache")
        .args(opts)
        .args(["madison", package]));
    assert_success(&out, "apt-cache madison");
    stdout(&out)
        .lines()
        .filter_map(|l| l.split('|').nth(1).map(|v| v.trim().to_string()))
        .collect()
}

/// Retention: `--keep 2` keeps the two highest versions per package and architecture, deletes
/// the pool files of the others unless another suite lists them, and apt sees just those.
#[test]
fn keep_retains_the_newest_versions_and_prunes_the_pool() {
    if !require_tools(&["apt-get"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path().as_os_str();
    let v = |version: &str| small_deb(work.path(), "forge-keep", version, "amd64");
    let (v1, v2, v3) = (v("1.0-1"), v("1.10-1"), v("1.9-1"));
    let docs = small_deb(work.path(), "forge-keep-doc", "1.0", "all");
    // `old` lists 1.0-1 too: its pool file must survive retention in `stable`.
    forge_repo(&[
        "--dir".as_ref(),
        r,
        "--suite".as_ref(),
        "old".as_ref(),
        v1.as_os_str(),
    ]);
    forge_repo(&[
        "--dir".as_ref(),
        r,
        v1.as_os_str(),
        v2.as_os_str(),
        docs.as_os_str(),
    ]);
    let err = forge_repo(&[
        "--dir".as_ref(),
        r,
        "--keep".as_ref(),
        "2".as_ref(),
        v3.as_os_str(),
    ]);
    assert!(
        err.contains("Removed forge-keep 1.0-1 (amd64) from stable/main"),
        "{err}"
    );
    let apt = tempfile::tempdir().unwrap();
    let opts = apt_update(apt.path(), repo.path());
    assert_eq!(apt_versions(&opts, "forge-keep"), ["1.10-1", "1.9-1"]);
    assert_eq!(apt_versions(&opts, "forge-keep-doc"), ["1.0"]);
    let pool = repo.path().join("pool/main/f/forge-keep");
    assert!(
        pool.join("forge-keep_1.0-1_amd64.deb").is_file(),
        "still in suite `old`"
    );

    // `--keep 1`: 1.9-1 goes too.
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.args(["forge-deb", "repo", "--dir"])
        .arg(repo.path())
        .args(["--keep", "1", "--message-format", "json"])
        .arg(&v3);
    let out = run(&mut cmd);
    assert_success(&out, "forge-deb repo --keep 1");
    let report = crate::json::document(&out, "cargo-forge/deb-repo/v1");
    let removed: Vec<(&str, bool)> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["version"].as_str().unwrap(),
                r["deleted"].as_bool().unwrap(),
            )
        })
        .collect();
    // Given again, 1.9-1 is still not among the highest one: it leaves, and no suite lists it.
    assert_eq!(removed, [("1.9-1", true)]);
    assert!(!pool.join("forge-keep_1.9-1_amd64.deb").exists());
    let opts = apt_update(apt.path(), repo.path());
    assert_eq!(apt_versions(&opts, "forge-keep"), ["1.10-1"]);
    forge_repo(&[
        "--dir".as_ref(),
        r,
        "--suite".as_ref(),
        "old".as_ref(),
        "--keep".as_ref(),
        "1".as_ref(),
        v2.as_os_str(),
    ]);
    assert!(
        !pool.join("forge-keep_1.0-1_amd64.deb").exists(),
        "no suite lists 1.0-1 now"
    );
    assert!(pool.join("forge-keep_1.10-1_amd64.deb").is_file());

    // --keep 0 is a usage error, before anything is written.
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.args(["forge-deb", "repo", "--dir"])
        .arg(repo.path())
        .args(["--keep", "0"])
        .arg(&v3);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// An add to a large repository: 2,000 packages indexed in one call, then one more added in the
/// middle of the index. The index is many independently compressed chunks (gzip members, xz
/// blocks of one stream); the add copies all but the changed ones from the previous files, and
/// apt reads the result.
#[test]
fn an_add_to_a_large_repository_reuses_the_index() {
    if !require_tools(&["apt-get"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let mut args: Vec<std::ffi::OsString> = vec!["--dir".into(), repo.path().into()];
    for i in 0..2000 {
        args.push(small_deb(work.path(), &format!("forge-many-{i:04}"), "1.0", "amd64").into());
    }
    args.push(small_deb(work.path(), "forge-many-doc", "1.0", "all").into());
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    forge_repo(&refs);
    let index = repo.path().join("dists/stable/main/binary-amd64");
    let packages = std::fs::read(index.join("Packages")).unwrap();
    let gz = std::fs::read(index.join("Packages.gz")).unwrap();
    let mut first_member = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gz[..]),
        &mut first_member,
    )
    .unwrap();
    assert!(
        first_member.len() < packages.len() / 4,
        "Packages.gz is several members"
    );

    let added = small_deb(work.path(), "forge-many-1000a", "1.0", "amd64");
    let err = forge_repo(&[
        "--dir".as_ref(),
        repo.path().as_os_str(),
        "-v".as_ref(),
        added.as_os_str(),
    ]);
    let line = err
        .lines()
        .find(|l| l.contains("chunks of the previous index reusable"))
        .unwrap_or_else(|| panic!("{err}"));
    let reusable: usize = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(reusable > 10, "{line}");
    // apt decodes the first xz stream only: it must hold the whole index.
    let packages = std::fs::read(index.join("Packages")).unwrap();
    let mut xz = Vec::new();
    std::io::Read::read_to_end(
        &mut liblzma::read::XzDecoder::new(std::fs::File::open(index.join("Packages.xz")).unwrap()),
        &mut xz,
    )
    .unwrap();
    assert_eq!(xz, packages);
    let mut gz = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(
            std::fs::File::open(index.join("Packages.gz")).unwrap(),
        ),
        &mut gz,
    )
    .unwrap();
    assert_eq!(gz, packages);

    let apt = tempfile::tempdir().unwrap();
    let opts = apt_update(apt.path(), repo.path());
    for p in [
        "forge-many-0000",
        "forge-many-1000a",
        "forge-many-1999",
        "forge-many-doc",
    ] {
        assert_eq!(apt_versions(&opts, p), ["1.0"], "{p}");
    }
    let out = run(Command::new("apt-get").args(&opts).args([
        "install",
        "-y",
        "--download-only",
        "forge-many-1000a",
        "forge-many-doc",
    ]));
    assert_success(&out, "apt-get install --download-only");
    // `file:` sources are read in place; `apt-get download` copies the package, checking its hash.
    let out = run(Command::new("apt-get")
        .args(&opts)
        .args(["download", "forge-many-1000a"])
        .current_dir(apt.path()));
    assert_success(&out, "apt-get download");
    assert!(apt.path().join("forge-many-1000a_1.0_amd64.deb").is_file());
}
