//! Unit tests of the repository update: layout, merges, refusals, reproducibility, retention,
//! the input cache, and the full loop through a real `apt-get`.
#![allow(clippy::print_stderr)]

use super::release::release_date_from;
use super::*;
use crate::debfile::hash_file;
use forge_core::process::Cmd;
use std::io::Read;

fn have(tool: &str) -> bool {
    forge_core::process::exists(tool)
}

/// Builds a small package with dpkg-deb: one script in /usr/bin.
pub(crate) fn build_deb(
    dir: &Path,
    name: &str,
    version: &str,
    arch: &str,
    compress: &str,
) -> PathBuf {
    let root = dir.join(format!("{name}-{version}-{arch}-{compress}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    let bin = root.join("usr/bin").join(name);
    std::fs::write(&bin, format!("#!/bin/sh\necho {name} {version}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@example.com>\n\
             Section: utils\nPriority: optional\nDescription: test package {name}\n a longer\n .\n description\n"
        ),
    )
    .unwrap();
    let deb = dir.join(format!("{name}_{version}_{arch}.{compress}.deb"));
    Cmd::new("dpkg-deb")
        .args(["--root-owner-group", &format!("-Z{compress}"), "--build"])
        .arg(&root)
        .arg(&deb)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output(&Shell::plain())
        .unwrap();
    deb
}

#[test]
fn pool_paths() {
    assert_eq!(pool_dir("main", "hello"), "pool/main/h/hello");
    assert_eq!(pool_dir("main", "libfoo"), "pool/main/libf/libfoo");
    assert_eq!(pool_dir("main", "lib"), "pool/main/l/lib");
}

#[test]
fn rejects_non_debs_and_bad_names() {
    let shell = Shell::plain();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("readme.deb");
    std::fs::write(&f, "not an archive").unwrap();
    let mut opts = RepoOptions::new(dir.path().join("repo"));
    let e = update(&opts, std::slice::from_ref(&f), &shell).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("readme.deb") && msg.contains("(.deb): it is not an ar archive"),
        "{msg}"
    );
    assert_eq!(forge_core::exit::code_of(&e), 2);
    assert!(
        !dir.path().join("repo").exists(),
        "nothing may be written for bad input"
    );
    opts.suite = "../x".into();
    assert!(format!("{:#}", update(&opts, &[f], &shell).unwrap_err()).contains("invalid suite"));
}

fn packages_text(repo: &Path, suite: &str, arch: &str) -> String {
    std::fs::read_to_string(repo.join(format!("dists/{suite}/main/binary-{arch}/Packages")))
        .unwrap()
}

#[test]
fn builds_updates_and_refuses_changed_versions() {
    let shell = Shell::plain();
    if !have("dpkg-deb") {
        eprintln!("skipping: dpkg-deb is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&work).unwrap();
    let hello = build_deb(&work, "hello-forge", "1.0-1", "amd64", "xz");
    let libx = build_deb(&work, "libforge-x", "0.2", "arm64", "zstd");
    let docs = build_deb(&work, "forge-docs", "1.0", "all", "gzip");
    let opts = RepoOptions {
        origin: Some("Forge Test".into()),
        ..RepoOptions::new(&repo)
    };
    let report = update(&opts, &[hello.clone(), libx.clone(), docs.clone()], &shell).unwrap();
    assert_eq!(report.architectures, ["amd64", "arm64"]);
    assert!(report.added.iter().all(|a| !a.already_present));
    assert!(repo
        .join("pool/main/h/hello-forge/hello-forge_1.0-1_amd64.deb")
        .is_file());
    assert!(repo
        .join("pool/main/libf/libforge-x/libforge-x_0.2_arm64.deb")
        .is_file());
    assert!(repo
        .join("pool/main/f/forge-docs/forge-docs_1.0_all.deb")
        .is_file());

    let amd64 = packages_text(&repo, "stable", "amd64");
    let stanzas = parse_paragraphs(&amd64, "Packages").unwrap();
    let names: Vec<&str> = stanzas.iter().map(|p| p.get("Package").unwrap()).collect();
    assert_eq!(
        names,
        ["forge-docs", "hello-forge"],
        "arch-all packages are in every index"
    );
    let h = &stanzas[1];
    assert_eq!(
        h.get("Filename"),
        Some("pool/main/h/hello-forge/hello-forge_1.0-1_amd64.deb")
    );
    let (size, md5, sha) = hash_file(&hello).unwrap();
    assert_eq!(h.get("Size"), Some(size.to_string().as_str()));
    assert_eq!(h.get("MD5sum"), Some(md5.as_str()));
    assert_eq!(h.get("SHA256"), Some(sha.as_str()));
    assert_eq!(
        h.get("Description"),
        Some("test package hello-forge\n a longer\n .\n description")
    );
    // dpkg-scanpackages agrees on the control fields and checksums.
    if have("dpkg-scanpackages") {
        let theirs = Cmd::new("dpkg-scanpackages")
            .args(["-m", "pool/main/h"])
            .cwd(&repo)
            .read(&shell)
            .unwrap();
        let theirs = &parse_paragraphs(&theirs, "scan").unwrap()[0];
        for f in [
            "Package",
            "Version",
            "Architecture",
            "Filename",
            "Size",
            "MD5sum",
            "SHA256",
            "Description",
        ] {
            assert_eq!(h.get(f), theirs.get(f), "{f}");
        }
    }
    let arm64 = packages_text(&repo, "stable", "arm64");
    assert!(arm64.contains("Package: libforge-x") && arm64.contains("Package: forge-docs"));
    assert!(!arm64.contains("hello-forge"));

    // Compressed indexes match the plain one, and Release lists them all with right sums.
    let plain = std::fs::read(repo.join("dists/stable/main/binary-amd64/Packages")).unwrap();
    let mut xz = Vec::new();
    liblzma::read::XzDecoder::new(
        File::open(repo.join("dists/stable/main/binary-amd64/Packages.xz")).unwrap(),
    )
    .read_to_end(&mut xz)
    .unwrap();
    let mut gz = Vec::new();
    flate2::read::GzDecoder::new(
        File::open(repo.join("dists/stable/main/binary-amd64/Packages.gz")).unwrap(),
    )
    .read_to_end(&mut gz)
    .unwrap();
    assert_eq!((&xz, &gz), (&plain, &plain));
    let release = std::fs::read_to_string(repo.join("dists/stable/Release")).unwrap();
    let rel = &parse_paragraphs(&release, "Release").unwrap()[0];
    assert_eq!(rel.get("Origin"), Some("Forge Test"));
    assert_eq!(rel.get("Label"), Some("Forge Test"));
    assert_eq!(rel.get("Suite"), Some("stable"));
    assert_eq!(rel.get("Codename"), Some("stable"));
    assert_eq!(rel.get("Architectures"), Some("amd64 arm64"));
    assert_eq!(rel.get("Components"), Some("main"));
    let sha_lines: Vec<&str> = rel
        .get("SHA256")
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(sha_lines.len(), 6);
    for line in sha_lines {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let path = repo.join("dists/stable").join(parts[2]);
        let (size, _, sha) = hash_file(&path).unwrap();
        assert_eq!(
            (parts[0], parts[1]),
            (sha.as_str(), size.to_string().as_str()),
            "{line}"
        );
        assert!(path
            .parent()
            .unwrap()
            .join("by-hash/SHA256")
            .join(parts[0])
            .is_file());
    }
    assert!(rel.get("MD5Sum").is_some());
    assert!(!repo.join("dists/stable/InRelease").exists());

    // Update: a new version joins, the old one stays; a re-add of the same file is a no-op.
    let hello2 = build_deb(&work, "hello-forge", "1.10-1", "amd64", "xz");
    let hello_rc = build_deb(&work, "hello-forge", "1.10~rc1-1", "amd64", "xz");
    let report = update(
        &RepoOptions::new(&repo),
        &[hello2, hello.clone(), hello_rc],
        &shell,
    )
    .unwrap();
    assert_eq!(report.added.iter().filter(|a| a.already_present).count(), 1);
    let amd64 = packages_text(&repo, "stable", "amd64");
    let versions: Vec<String> = parse_paragraphs(&amd64, "Packages")
        .unwrap()
        .iter()
        .filter(|p| p.get("Package") == Some("hello-forge"))
        .map(|p| p.get("Version").unwrap().to_string())
        .collect();
    assert_eq!(
        versions,
        ["1.0-1", "1.10~rc1-1", "1.10-1"],
        "sorted by dpkg version"
    );
    assert!(
        packages_text(&repo, "stable", "arm64").contains("libforge-x"),
        "other arches kept"
    );
    let release = std::fs::read_to_string(repo.join("dists/stable/Release")).unwrap();
    assert!(
        release.contains("Origin: Forge Test"),
        "origin kept from the previous Release"
    );

    // by-hash keeps the current and the previous generation only.
    let by_hash = repo.join("dists/stable/main/binary-amd64/by-hash/SHA256");
    assert_eq!(std::fs::read_dir(&by_hash).unwrap().count(), 6);
    update(&RepoOptions::new(&repo), &[], &shell).unwrap();
    assert_eq!(
        std::fs::read_dir(&by_hash).unwrap().count(),
        3,
        "unchanged indexes, one generation"
    );

    // Same name, different bytes: refused, naming both, and nothing changes.
    let before = std::fs::read(repo.join("dists/stable/Release")).unwrap();
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let changed = {
        let root = work.join("hello-forge-1.0-1-amd64-xz");
        std::fs::write(
            root.join("usr/bin/hello-forge"),
            "#!/bin/sh\necho changed\n",
        )
        .unwrap();
        let deb = other.join("hello-forge_1.0-1_amd64.deb");
        Cmd::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(&deb)
            .output(&shell)
            .unwrap();
        deb
    };
    let e = update(
        &RepoOptions::new(&repo),
        std::slice::from_ref(&changed),
        &shell,
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains(&changed.display().to_string()), "{msg}");
    assert!(
        msg.contains("pool/main/h/hello-forge/hello-forge_1.0-1_amd64.deb"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(repo.join("dists/stable/Release")).unwrap(),
        before
    );
}

#[test]
fn reproducible_with_source_date_epoch() {
    let shell = Shell::plain();
    if !have("dpkg-deb") {
        eprintln!("skipping: dpkg-deb is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path(), "repro", "1.0", "amd64", "xz");
    assert_eq!(
        release_date_from(Some("1700000000")).unwrap(),
        "Tue, 14 Nov 2023 22:13:20 UTC"
    );
    assert_eq!(
        forge_core::exit::code_of(&release_date_from(Some("soon")).unwrap_err()),
        2
    );
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    update(&RepoOptions::new(&a), std::slice::from_ref(&deb), &shell).unwrap();
    update(&RepoOptions::new(&b), &[deb], &shell).unwrap();
    for f in [
        "main/binary-amd64/Packages",
        "main/binary-amd64/Packages.gz",
        "main/binary-amd64/Packages.xz",
    ] {
        assert_eq!(
            std::fs::read(a.join("dists/stable").join(f)).unwrap(),
            std::fs::read(b.join("dists/stable").join(f)).unwrap(),
            "{f}"
        );
    }
}

/// apt isolated from the host configuration: its own sources, lists, cache and status.
struct IsolatedApt {
    root: tempfile::TempDir,
}

impl IsolatedApt {
    fn new(sources: &str) -> IsolatedApt {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in [
            "etc/sources.list.d",
            "etc/preferences.d",
            "state/lists/partial",
            "cache/archives/partial",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("etc/sources.list"), sources).unwrap();
        std::fs::write(r.join("status"), "").unwrap();
        IsolatedApt { root }
    }

    fn cmd(&self, tool: &str) -> Cmd {
        let r = self.root.path();
        let o = |k: &str, v: &Path| format!("{k}={}", v.display());
        Cmd::new(tool)
            .args([
                "-o",
                &o("Dir::Etc::SourceList", &r.join("etc/sources.list")),
            ])
            .args([
                "-o",
                &o("Dir::Etc::SourceParts", &r.join("etc/sources.list.d")),
            ])
            .args([
                "-o",
                &o("Dir::Etc::PreferencesParts", &r.join("etc/preferences.d")),
            ])
            .args(["-o", &o("Dir::State", &r.join("state"))])
            .args(["-o", &o("Dir::State::status", &r.join("status"))])
            .args(["-o", &o("Dir::Cache", &r.join("cache"))])
            .args(["-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"])
            .args(["-o", "Acquire::Languages=none"])
            .env("LC_ALL", "C")
    }
}

/// The full loop: a signed repository, served from disk, accepted by a real `apt-get update`
/// with `signed-by`, then installable (`--download-only`); an updated repository is accepted
/// again; a tampered index is refused.
#[test]
fn signed_repo_is_accepted_by_apt() {
    let shell = Shell::plain();
    for tool in ["dpkg-deb", "gpg", "apt-get"] {
        if !have(tool) {
            eprintln!("skipping: {tool} is not installed");
            return;
        }
    }
    let (home, fpr) = crate::sign::test_support::throwaway_key(&shell);
    let gpg = Gpg::new(Some(home.path()));
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let repo = tmp.path().join("repo");
    let host_arch = Cmd::new("dpkg")
        .arg("--print-architecture")
        .read(&shell)
        .unwrap();
    let one = build_deb(&work, "forge-apt-one", "1.0", &host_arch, "xz");
    let two = build_deb(&work, "forge-apt-two", "2.0", "all", "gzip");
    let opts = RepoOptions {
        origin: Some("Forge".into()),
        sign_key: Some(fpr.clone()),
        gpg_homedir: Some(home.path().to_path_buf()),
        ..RepoOptions::new(&repo)
    };
    let report = update(&opts, &[one, two], &shell).unwrap();
    assert!(report.signed);
    let inrelease = std::fs::read_to_string(repo.join("dists/stable/InRelease")).unwrap();
    assert!(inrelease.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
    gpg.verify_detached(
        &repo.join("dists/stable/Release.gpg"),
        &repo.join("dists/stable/Release"),
        &shell,
    )
    .unwrap();

    let key = tmp.path().join("forge-test.gpg");
    std::fs::write(&key, gpg.export_public(&fpr, &shell).unwrap()).unwrap();
    let apt = IsolatedApt::new(&format!(
        "deb [signed-by={}] file:{} stable main\n",
        key.display(),
        repo.display()
    ));
    let check_update = |apt: &IsolatedApt| {
        let out = apt.cmd("apt-get").arg("update").output(&shell).unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains("W:") && !all.contains("E:") && !all.contains("Err:"),
            "{all}"
        );
    };
    check_update(&apt);
    let policy = apt
        .cmd("apt-cache")
        .args(["policy", "forge-apt-one", "forge-apt-two"])
        .read(&shell)
        .unwrap();
    assert!(
        policy.contains("Candidate: 1.0") && policy.contains("Candidate: 2.0"),
        "{policy}"
    );
    apt.cmd("apt-get")
        .args([
            "install",
            "-y",
            "--download-only",
            "forge-apt-one",
            "forge-apt-two",
        ])
        .output(&shell)
        .unwrap();

    // An update with a new version is accepted too (by-hash files, new Release).
    let one_b = build_deb(&work, "forge-apt-one", "1.1", &host_arch, "xz");
    update(&opts, &[one_b], &shell).unwrap();
    check_update(&apt);
    let policy = apt
        .cmd("apt-cache")
        .args(["policy", "forge-apt-one"])
        .read(&shell)
        .unwrap();
    assert!(policy.contains("Candidate: 1.1"), "{policy}");

    // Without the key, the signed repository is not silently turned unsigned.
    let e = update(&RepoOptions::new(&repo), &[], &shell).unwrap_err();
    assert!(format!("{e:#}").contains("is a signed repository"), "{e:#}");

    // A different key in signed-by: apt refuses.
    let (home2, fpr2) = crate::sign::test_support::throwaway_key(&shell);
    let key2 = tmp.path().join("other.gpg");
    std::fs::write(
        &key2,
        Gpg::new(Some(home2.path()))
            .export_public(&fpr2, &shell)
            .unwrap(),
    )
    .unwrap();
    let apt2 = IsolatedApt::new(&format!(
        "deb [signed-by={}] file:{} stable main\n",
        key2.display(),
        repo.display()
    ));
    let out = apt2
        .cmd("apt-get")
        .arg("update")
        .output_unchecked(&shell)
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("NO_PUBKEY") || all.contains("not signed"),
        "{all}"
    );
    crate::sign::test_support::stop_agent(home.path(), &shell);
    crate::sign::test_support::stop_agent(home2.path(), &shell);
}

#[test]
fn missing_sign_key_fails_before_writing() {
    let shell = Shell::plain();
    if !have("dpkg-deb") || !have("gpg") {
        eprintln!("skipping: dpkg-deb or gpg is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path(), "nokey", "1.0", "amd64", "xz");
    let home = tempfile::Builder::new()
        .prefix("fgpg")
        .tempdir_in("/tmp")
        .unwrap();
    let opts = RepoOptions {
        sign_key: Some("MISSINGKEY".into()),
        gpg_homedir: Some(home.path().to_path_buf()),
        ..RepoOptions::new(tmp.path().join("repo"))
    };
    let e = update(&opts, &[deb], &shell).unwrap_err();
    assert!(
        format!("{e:#}").contains("no secret gpg key `MISSINGKEY`"),
        "{e:#}"
    );
    assert!(!tmp.path().join("repo").exists());
    crate::sign::test_support::stop_agent(home.path(), &shell);
}

/// An update rewrites only the indexes whose stanzas changed, and a package given again under
/// its pool name is recognised from the index (nothing but `Release` is written).
#[test]
fn only_changed_indexes_are_written() {
    let shell = Shell::plain();
    if !have("dpkg-deb") {
        eprintln!("skipping: dpkg-deb is not installed");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let repo = tmp.path().join("repo");
    let a = build_deb(&work, "forge-a", "1.0", "amd64", "xz");
    let b = build_deb(&work, "forge-b", "1.0", "arm64", "xz");
    update(&RepoOptions::new(&repo), &[a.clone(), b], &shell).unwrap();
    let arm64 = repo.join("dists/stable/main/binary-arm64/Packages.xz");
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let arm64_before = ino(&arm64);

    let a2 = build_deb(&work, "forge-a", "1.1", "amd64", "gzip");
    let report = update(&RepoOptions::new(&repo), &[a2], &shell).unwrap();
    assert_eq!(ino(&arm64), arm64_before, "arm64 was not touched");
    let written: Vec<String> = report
        .index_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        written.iter().all(|p| !p.contains("binary-arm64")),
        "{written:?}"
    );
    assert!(written
        .iter()
        .any(|p| p.ends_with("binary-amd64/Packages.xz")));
    // Release still lists arm64's files, with their right sums.
    let release = std::fs::read_to_string(repo.join("dists/stable/Release")).unwrap();
    let (_, _, sha) = hash_file(&arm64).unwrap();
    assert!(release.contains(&format!("{sha} ")), "{release}");

    // The same file under its pool name: found in the index, only hashed.
    let canonical = work.join("forge-a_1.0_amd64.deb");
    std::fs::copy(&a, &canonical).unwrap();
    let report = update(&RepoOptions::new(&repo), &[canonical], &shell).unwrap();
    assert!(report.added[0].already_present);
    assert_eq!(
        report.index_files,
        [PathBuf::from("dists/stable/Release")],
        "nothing changed but the Release date"
    );
    // A different file under that name is still refused.
    let other = build_deb(&work, "forge-a", "1.0", "amd64", "gzip");
    let renamed = work.join("x").join("forge-a_1.0_amd64.deb");
    std::fs::create_dir_all(renamed.parent().unwrap()).unwrap();
    std::fs::copy(&other, &renamed).unwrap();
    let e = update(&RepoOptions::new(&repo), &[renamed], &shell).unwrap_err();
    assert!(format!("{e:#}").contains("with different content"), "{e:#}");
}

/// `keep`: the highest versions stay; the pool file of a removed version goes, unless another
/// suite lists it.
#[test]
fn keep_removes_old_versions() {
    let shell = Shell::plain();
    if !have("dpkg-deb") {
        eprintln!("skipping: dpkg-deb is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let repo = tmp.path().join("repo");
    let v: Vec<PathBuf> = ["1.0", "1.2", "1.10"]
        .iter()
        .map(|v| build_deb(&work, "forge-k", v, "amd64", "gzip"))
        .collect();
    let testing = RepoOptions {
        suite: "testing".into(),
        ..RepoOptions::new(&repo)
    };
    update(&testing, &v[..1], &shell).unwrap();
    update(&RepoOptions::new(&repo), &v, &shell).unwrap();
    let report = update(
        &RepoOptions {
            keep: Some(1),
            ..RepoOptions::new(&repo)
        },
        &[],
        &shell,
    )
    .unwrap();
    let removed: Vec<(&str, bool)> = report
        .removed
        .iter()
        .map(|r| (r.version.as_str(), r.deleted))
        .collect();
    assert_eq!(removed, [("1.0", false), ("1.2", true)]);
    let pool = repo.join("pool/main/f/forge-k");
    assert!(pool.join("forge-k_1.0_amd64.deb").is_file());
    assert!(!pool.join("forge-k_1.2_amd64.deb").exists());
    let text = packages_text(&repo, "stable", "amd64");
    assert!(
        text.contains("Version: 1.10") && !text.contains("Version: 1.2\n"),
        "{text}"
    );
    let e = update(
        &RepoOptions {
            keep: Some(0),
            ..RepoOptions::new(&repo)
        },
        &[],
        &shell,
    )
    .unwrap_err();
    assert_eq!(forge_core::exit::code_of(&e), 2);
}
