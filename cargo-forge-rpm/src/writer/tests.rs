//! Tests of the rpm writer against the real readers: rpm 4.18 (`rpm -qp`, `rpm -K`, `rpm -i`),
//! rpm2cpio and cpio, rpmkeys, rpmlint, gpg.

use std::path::Path;
use std::process::Command;

use super::*;

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rpm -qp QUERY PKG`, with a private database so the host's never matters.
fn query(dir: &Path, rpm: &Path, args: &[&str]) -> String {
    run(Command::new("rpm")
        .arg("--dbpath")
        .arg(dir.join("rpmdb"))
        .arg("-qp")
        .args(args)
        .arg(rpm))
}

fn file(path: &str, kind: FileKind, mode: u32) -> RpmFile {
    RpmFile {
        path: path.to_string(),
        kind,
        mode,
        user: "root".to_string(),
        group: "root".to_string(),
        flags: FileFlags::default(),
        mtime: None,
    }
}

/// A `%ghost` file: owned, not shipped.
fn ghost(path: &str) -> RpmFile {
    let mut f = file(path, FileKind::Bytes(Vec::new()), 0o640);
    f.flags.ghost = true;
    f
}

fn req(name: &str, op: DepOp, version: &str) -> Dependency {
    Dependency {
        name: name.to_string(),
        op: Some((op, version.to_string())),
        pre: false,
    }
}

const BUILD_TIME: u64 = 1_700_000_000;

/// A package with a binary, a `%config(noreplace)` file, a doc, a license, a directory, a
/// symlink, scriptlets, relations and a changelog; its sources under `dir/src`.
fn fixture(dir: &Path) -> RpmPackage {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let bin = src.join("hello");
    std::fs::copy("/bin/true", &bin).unwrap();
    std::fs::write(src.join("hello.toml"), "greeting = \"hi\"\n").unwrap();
    std::fs::write(src.join("README.md"), "# hello\n\nSays hello.\n").unwrap();
    std::fs::write(src.join("LICENSE"), "MIT License\n").unwrap();
    let mut conf = file(
        "/etc/hello/hello.toml",
        FileKind::Regular(src.join("hello.toml")),
        0o644,
    );
    conf.flags.config = true;
    conf.flags.noreplace = true;
    let mut doc = file(
        "/usr/share/doc/hello/README.md",
        FileKind::Regular(src.join("README.md")),
        0o644,
    );
    doc.flags.doc = true;
    let mut license = file(
        "/usr/share/licenses/hello/LICENSE",
        FileKind::Regular(src.join("LICENSE")),
        0o644,
    );
    license.flags.license = true;
    let mut prereq = Dependency::any("shadow-utils");
    prereq.pre = true;
    RpmPackage {
        name: "hello".to_string(),
        epoch: None,
        version: "1.2.3".to_string(),
        release: "1".to_string(),
        arch: "x86_64".to_string(),
        summary: "Greets whoever runs it".to_string(),
        description: "Says hello to whoever runs it.\nA fixture of the rpm writer's tests."
            .to_string(),
        license: "MIT".to_string(),
        url: Some("https://example.com/hello".to_string()),
        vendor: Some("Example".to_string()),
        packager: Some("Forge Test <forge@example.com>".to_string()),
        group: None,
        build_time: BUILD_TIME,
        build_host: "forge.example.com".to_string(),
        // Unsorted on purpose: the writer sorts.
        files: vec![
            file("/usr/bin/hello", FileKind::Regular(bin), 0o755),
            conf,
            file("/etc/hello", FileKind::Dir, 0o755),
            doc,
            license,
            file("/usr/bin/hi", FileKind::Symlink("hello".to_string()), 0o777),
            ghost("/var/log/hello.log"),
            file(
                "/usr/lib/hello/generated.txt",
                FileKind::Bytes(b"generated\n".to_vec()),
                0o644,
            ),
        ],
        requires: vec![req("glibc", DepOp::Ge, "2.17"), prereq],
        provides: vec![req("greeter", DepOp::Eq, "1.2.3")],
        conflicts: vec![req("hello-legacy", DepOp::Lt, "1.0")],
        obsoletes: vec![Dependency::any("hello-old")],
        recommends: vec![Dependency::any("cowsay")],
        suggests: vec![],
        enhances: vec![],
        supplements: vec![],
        scripts: Scripts {
            pre: Some(Scriptlet::sh("echo pre-install")),
            post: Some(Scriptlet::sh("echo post-install \"$1\"")),
            preun: Some(Scriptlet::sh("echo pre-uninstall")),
            postun: Some(Scriptlet::sh("echo post-uninstall")),
            pretrans: None,
            posttrans: None,
        },
        changelog: vec![
            ChangelogEntry {
                time: 1_699_920_000,
                author: "Forge Test <forge@example.com> - 1.2.3-1".to_string(),
                text: "- Say hello louder".to_string(),
            },
            ChangelogEntry {
                time: 1_690_000_000,
                author: "Forge Test <forge@example.com> - 1.0.0-1".to_string(),
                text: "- First release".to_string(),
            },
        ],
        compression: Compression::default(),
    }
}

#[test]
fn rpm_reads_back_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = fixture(dir.path());
    let out = dir.path().join("out/hello-1.2.3-1.x86_64.rpm");
    let written = write(&pkg, &out, None).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(written.size, bytes.len() as u64);
    assert_eq!(written.sha256, hex::encode(Sha256::digest(&bytes)));
    let d = dir.path();

    let info = query(d, &out, &["--info"]);
    for want in [
        "Name        : hello",
        "Version     : 1.2.3",
        "Release     : 1",
        "Architecture: x86_64",
        "License     : MIT",
        "Summary     : Greets whoever runs it",
        "URL         : https://example.com/hello",
        "Vendor      : Example",
        "Source RPM  : hello-1.2.3-1.src.rpm",
        "Build Host  : forge.example.com",
        "Says hello to whoever runs it.",
    ] {
        assert!(info.contains(want), "`{want}` missing from:\n{info}");
    }

    let list = query(d, &out, &["--list"]);
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        vec![
            "/etc/hello",
            "/etc/hello/hello.toml",
            "/usr/bin/hello",
            "/usr/bin/hi",
            "/usr/lib/hello/generated.txt",
            "/usr/share/doc/hello/README.md",
            "/usr/share/licenses/hello/LICENSE",
            "/var/log/hello.log",
        ]
    );
    assert_eq!(
        query(d, &out, &["--configfiles"]).trim(),
        "/etc/hello/hello.toml"
    );
    assert_eq!(
        query(d, &out, &["--docfiles"]).trim(),
        "/usr/share/doc/hello/README.md"
    );
    assert_eq!(
        query(d, &out, &["--licensefiles"]).trim(),
        "/usr/share/licenses/hello/LICENSE"
    );

    let requires = query(d, &out, &["--requires"]);
    for want in [
        "/bin/sh",
        "config(hello) = 1.2.3-1",
        "glibc >= 2.17",
        "rpmlib(CompressedFileNames) <= 3.0.4-1",
        "rpmlib(FileDigests) <= 4.6.0-1",
        "rpmlib(PayloadFilesHavePrefix) <= 4.0-1",
        "rpmlib(PayloadIsZstd) <= 5.4.18-1",
        "shadow-utils",
    ] {
        assert!(
            requires.lines().any(|l| l == want),
            "`{want}` missing from:\n{requires}"
        );
    }
    let pre = query(
        d,
        &out,
        &["--qf", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]"],
    );
    assert!(pre.contains("shadow-utils pre"), "{pre}");
    let provides = query(d, &out, &["--provides"]);
    for want in [
        "config(hello) = 1.2.3-1",
        "greeter = 1.2.3",
        "hello = 1.2.3-1",
        "hello(x86-64) = 1.2.3-1",
    ] {
        assert!(
            provides.lines().any(|l| l == want),
            "`{want}` missing from:\n{provides}"
        );
    }
    assert_eq!(
        query(d, &out, &["--conflicts"]).trim(),
        "hello-legacy < 1.0"
    );
    assert_eq!(query(d, &out, &["--obsoletes"]).trim(), "hello-old");
    assert_eq!(query(d, &out, &["--recommends"]).trim(), "cowsay");

    let scripts = query(d, &out, &["--scripts"]);
    for want in [
        "preinstall scriptlet (using /bin/sh):\necho pre-install",
        "postinstall scriptlet (using /bin/sh):\necho post-install \"$1\"",
        "preuninstall scriptlet (using /bin/sh):\necho pre-uninstall",
        "postuninstall scriptlet (using /bin/sh):\necho post-uninstall",
    ] {
        assert!(scripts.contains(want), "`{want}` missing from:\n{scripts}");
    }

    let changelog = query(d, &out, &["--changelog"]);
    assert!(
        changelog.starts_with(
            "* Tue Nov 14 2023 Forge Test <forge@example.com> - 1.2.3-1\n- Say hello louder"
        ),
        "{changelog}"
    );
    assert!(changelog.contains("- First release"), "{changelog}");

    // --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink.
    let dump = query(d, &out, &["--dump"]);
    let line = |p: &str| -> Vec<String> {
        let l = dump
            .lines()
            .find(|l| l.starts_with(&format!("{p} ")))
            .unwrap_or_else(|| panic!("{p} missing from:\n{dump}"));
        l.split(' ').map(str::to_string).collect()
    };
    let bin = line("/usr/bin/hello");
    let true_bytes = std::fs::read("/bin/true").unwrap();
    assert_eq!(bin[1], true_bytes.len().to_string());
    assert!(
        bin[2].parse::<u64>().unwrap() <= BUILD_TIME,
        "mtime clamped: {bin:?}"
    );
    assert_eq!(bin[3], hex::encode(Sha256::digest(&true_bytes)));
    assert_eq!(bin[4], "0100755");
    assert_eq!((bin[5].as_str(), bin[6].as_str()), ("root", "root"));
    let conf = line("/etc/hello/hello.toml");
    assert_eq!((conf[7].as_str(), conf[8].as_str()), ("1", "0"), "{conf:?}");
    assert_eq!(line("/usr/share/doc/hello/README.md")[8], "1");
    let link = line("/usr/bin/hi");
    assert_eq!((link[4].as_str(), link[10].as_str()), ("0120777", "hello"));
    assert_eq!(line("/etc/hello")[4], "040755");
    let generated = line("/usr/lib/hello/generated.txt");
    assert_eq!(
        (generated[1].as_str(), generated[2].as_str()),
        ("10", "1700000000")
    );
    assert_eq!(generated[4], "0100644");
    let flags = query(d, &out, &["--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]"]);
    assert!(flags.contains("/etc/hello/hello.toml cn"), "{flags}");
    assert!(flags.contains("/var/log/hello.log g"), "{flags}");
    let ghost = line("/var/log/hello.log");
    assert_eq!(
        (ghost[1].as_str(), ghost[3].as_str()),
        ("0", "0".repeat(64).as_str())
    );

    // The payload, as rpm2cpio extracts it.
    let cpio = run(Command::new("sh")
        .arg("-c")
        .arg(format!("rpm2cpio '{}' | cpio -t --quiet", out.display())));
    assert_eq!(
        cpio.lines().collect::<Vec<_>>(),
        vec![
            "./etc/hello",
            "./etc/hello/hello.toml",
            "./usr/bin/hello",
            "./usr/bin/hi",
            "./usr/lib/hello/generated.txt",
            "./usr/share/doc/hello/README.md",
            "./usr/share/licenses/hello/LICENSE",
        ]
    );

    // Digests: header sha1/sha256, header+payload md5, payload sha256.
    let k = run(Command::new("rpm")
        .arg("--dbpath")
        .arg(d.join("rpmdb"))
        .args(["-Kv"])
        .arg(&out));
    for want in [
        "Header SHA256 digest: OK",
        "Header SHA1 digest: OK",
        "Payload SHA256 digest: OK",
        "MD5 digest: OK",
    ] {
        assert!(k.contains(want), "`{want}` missing from:\n{k}");
    }
}

/// A temporary gpg home with a passphrase-less signing key of `algo`; returns the home and the
/// key's fingerprint.
fn gpg_home(dir: &Path, algo: &str) -> (PathBuf, String) {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .arg("--batch")
            .arg("--homedir")
            .arg(&home)
            .args(args))
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "Forge Rpm Test <rpm@example.com>",
        algo,
        "sign",
        "never",
    ]);
    let listing = gpg(&["--with-colons", "--list-secret-keys"]);
    let fpr = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| !f.is_empty()))
        .unwrap()
        .to_string();
    (home, fpr)
}

#[test]
fn signed_package_verifies_with_the_imported_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pkg = fixture(d);
    let shell = forge_core::Shell::plain();
    for algo in ["ed25519", "rsa2048"] {
        let (home, fpr) = gpg_home(&d.join(algo), algo);
        let signer = GpgSigner {
            gpg: forge_core::gpg::Gpg::new(Some(&home)),
            key: Some(fpr.clone()),
            shell: &shell,
        };
        let out = d.join(format!("{algo}/hello.rpm"));
        write(&pkg, &out, Some(&signer)).unwrap();
        let db = d.join(format!("{algo}/rpmdb"));
        let k = |args: &[&str]| {
            let o = Command::new("rpmkeys")
                .arg("--dbpath")
                .arg(&db)
                .args(args)
                .arg(&out)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        // Before the key is known: the signature is there, its key is not.
        assert!(k(&["-Kv"]).contains("NOKEY"), "{}", k(&["-Kv"]));
        import_key(&home, &fpr, &db);
        let checked = k(&["-K"]);
        assert!(
            checked.trim_end().ends_with("digests signatures OK"),
            "{algo}: {checked}"
        );
        let verbose = k(&["-Kv"]);
        let short_id = fpr[fpr.len() - 8..].to_lowercase();
        assert!(
            verbose.contains("Header V4") && verbose.contains(&short_id),
            "{algo}: {verbose}"
        );
    }
}

#[test]
fn installs_into_a_root_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pkg = fixture(d);
    let out = d.join("hello.rpm");
    write(&pkg, &out, None).unwrap();
    install_verify_remove(d, &out);
}

/// Installs the fixture's package `out` into a new root under `d` (no dependencies, no
/// scriptlets), checks the files and `rpm -V`, removes it.
fn install_verify_remove(d: &Path, out: &Path) {
    let root = d.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let rpm = |args: &[&str]| {
        run(Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["--dbpath", "/var/lib/rpm", "--nodeps", "--noscripts"])
            .args(args))
    };
    run(Command::new("rpm").arg("--root").arg(&root).args([
        "--dbpath",
        "/var/lib/rpm",
        "--initdb",
    ]));
    rpm(&["-i", out.to_str().unwrap()]);
    let bin = root.join("usr/bin/hello");
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        std::fs::read("/bin/true").unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        std::fs::read_link(root.join("usr/bin/hi")).unwrap(),
        Path::new("hello")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hello/hello.toml")).unwrap(),
        "greeting = \"hi\"\n"
    );
    assert!(
        !root.join("var/log/hello.log").exists(),
        "a ghost is not installed"
    );
    let run_it = Command::new(&bin).status().unwrap();
    assert!(run_it.success());
    // rpm -V: every installed file matches the header (size, digest, mode, owner, mtime).
    assert_eq!(rpm(&["-V", "hello"]), "");
    rpm(&["-e", "hello"]);
    assert!(!bin.exists());
    assert!(!root.join("etc/hello/hello.toml").exists());
}

/// Imports the public key `fpr` of the gpg `home` into a new rpm database `db`.
fn import_key(home: &Path, fpr: &str, db: &Path) {
    let key = home.join("key.asc");
    run(Command::new("gpg")
        .args(["--batch", "--armor", "--homedir"])
        .arg(home)
        .arg("--output")
        .arg(&key)
        .args(["--export", fpr]));
    run(Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(db)
        .arg("--import")
        .arg(&key));
}

/// rpmlint on a signed package whose key rpm knows (rpmlint checks signatures with `rpm -Kv`
/// against the default database: a private HOME's `.rpmmacros` points it at a temporary one,
/// so the host's database is never touched). A `Group` is set: rpmlint 2.4 counts rpmbuild's
/// default, `Unspecified`, as none (`E: no-group-tag`).
#[test]
fn rpmlint_finds_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut pkg = fixture(d);
    pkg.group = Some("Applications/System".to_string());
    let (home, fpr) = gpg_home(d, "rsa2048");
    let shell = forge_core::Shell::plain();
    let signer = GpgSigner {
        gpg: forge_core::gpg::Gpg::new(Some(&home)),
        key: Some(fpr.clone()),
        shell: &shell,
    };
    let out = d.join("hello-1.2.3-1.x86_64.rpm");
    write(&pkg, &out, Some(&signer)).unwrap();
    let db = d.join("rpmdb");
    import_key(&home, &fpr, &db);
    std::fs::write(d.join(".rpmmacros"), format!("%_dbpath {}\n", db.display())).unwrap();
    let o = Command::new("rpmlint")
        .env("HOME", d)
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let summary = text.lines().last().unwrap_or_default();
    assert!(summary.contains(" 0 errors"), "{text}");
    assert!(o.status.success(), "{text}");
}

#[test]
fn same_input_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = fixture(dir.path());
    let a = write(&pkg, &dir.path().join("a/hello.rpm"), None).unwrap();
    // A later mtime on a source: clamped to the build time, so nothing changes.
    let src = dir.path().join("src/hello.toml");
    let later = std::time::SystemTime::now();
    std::fs::File::options()
        .append(true)
        .open(&src)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let b = write(&pkg, &dir.path().join("b/hello.rpm"), None).unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(
        std::fs::read(&a.path).unwrap(),
        std::fs::read(&b.path).unwrap()
    );
    let mut other = pkg.clone();
    other.build_time += 1;
    let c = write(&other, &dir.path().join("c/hello.rpm"), None).unwrap();
    assert_ne!(a.sha256, c.sha256, "the build time is in the header");
}

#[test]
fn every_compression_is_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut pkg = fixture(d);
    for (c, compressor, flags) in [
        (Compression::Zstd(3), "zstd", "3"),
        (Compression::Xz(6), "xz", "6"),
        (Compression::Gzip(9), "gzip", "9"),
        (Compression::None, "(none)", ""),
    ] {
        pkg.compression = c;
        let out = d.join(format!("{compressor}.rpm"));
        write(&pkg, &out, None).unwrap();
        let tags = query(d, &out, &["--qf", "%{PAYLOADCOMPRESSOR} %{PAYLOADFLAGS}"]);
        assert_eq!(tags.trim_end(), format!("{compressor} {flags}").trim_end());
        let listed = run(Command::new("sh").arg("-c").arg(format!(
            "rpm2cpio '{}' | cpio -t --quiet | wc -l",
            out.display()
        )));
        assert_eq!(listed.trim(), "7", "{compressor}");
        let k = run(Command::new("rpm")
            .arg("--dbpath")
            .arg(d.join("rpmdb"))
            .arg("-K")
            .arg(&out));
        assert!(k.trim_end().ends_with("digests OK"), "{compressor}: {k}");
    }
}

#[test]
fn a_missing_source_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkg = fixture(dir.path());
    let missing = dir.path().join("src/not-built-yet");
    pkg.files.push(file(
        "/usr/bin/later",
        FileKind::Regular(missing.clone()),
        0o755,
    ));
    let out = dir.path().join("hello.rpm");
    let e = write(&pkg, &out, None).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("/usr/bin/later"), "{msg}");
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn invalid_packages_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = fixture(dir.path());
    let out = dir.path().join("x.rpm");
    let mut p = pkg.clone();
    p.version = "1.0-beta".to_string();
    assert!(format!("{:#}", write(&p, &out, None).unwrap_err()).contains("rpm version `1.0-beta`"));
    let mut p = pkg.clone();
    p.files.push(file("/usr/bin/./hello", FileKind::Dir, 0o755));
    assert!(format!("{:#}", write(&p, &out, None).unwrap_err())
        .contains("`/usr/bin/hello` is listed twice"));
    let mut p = pkg.clone();
    p.files.push(file("usr/bin/x", FileKind::Dir, 0o755));
    assert!(format!("{:#}", write(&p, &out, None).unwrap_err()).contains("not absolute"));
    assert!(!out.exists());
}

#[test]
fn a_package_without_files_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkg = fixture(dir.path());
    pkg.files.clear();
    pkg.scripts = Scripts::default();
    let out = dir.path().join("meta.rpm");
    write(&pkg, &out, None).unwrap();
    assert_eq!(
        query(dir.path(), &out, &["--list"]).trim(),
        "(contains no files)"
    );
    let k = run(Command::new("rpm")
        .arg("--dbpath")
        .arg(dir.path().join("rpmdb"))
        .arg("-K")
        .arg(&out));
    assert!(k.trim_end().ends_with("digests OK"), "{k}");
}

#[test]
fn prerelease_versions_and_rich_relations_declare_their_features() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkg = fixture(dir.path());
    pkg.version = "2.0.0~beta.1".to_string();
    pkg.epoch = Some(1);
    pkg.requires.push(Dependency::any("(cowsay or figlet)"));
    let out = dir.path().join("beta.rpm");
    write(&pkg, &out, None).unwrap();
    let requires = query(dir.path(), &out, &["--requires"]);
    for want in [
        "(cowsay or figlet)",
        "config(hello) = 1:2.0.0~beta.1-1",
        "rpmlib(RichDependencies) <= 4.12.0-1",
        "rpmlib(TildeInVersions) <= 4.10.0-1",
    ] {
        assert!(
            requires.lines().any(|l| l == want),
            "`{want}` missing from:\n{requires}"
        );
    }
    let nevra = query(dir.path(), &out, &["--qf", "%{NEVRA}"]);
    assert_eq!(nevra, "hello-1:2.0.0~beta.1-1.x86_64");
}

/// The reserved space lets `rpmsign --addsign` sign an unsigned package in place, as it signs
/// rpmbuild's.
#[test]
fn rpmsign_signs_an_unsigned_package_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pkg = fixture(d);
    let out = d.join("hello.rpm");
    let written = write(&pkg, &out, None).unwrap();
    let (home, fpr) = gpg_home(d, "ed25519");
    let gpg = which::which("gpg").unwrap();
    run(Command::new("rpmsign")
        .arg("--define")
        .arg(format!("__gpg {}", gpg.display()))
        .arg("--define")
        .arg(format!("_gpg_path {}", home.display()))
        .arg("--define")
        .arg(format!("_gpg_name {fpr}"))
        .arg("--addsign")
        .arg(&out));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), written.size);
    let db = d.join("rpmdb");
    import_key(&home, &fpr, &db);
    let k = run(Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(&db)
        .arg("-K")
        .arg(&out));
    assert!(k.trim_end().ends_with("digests signatures OK"), "{k}");
}

/// A file of 4 GiB or more selects rpm's large-file layout (decided from the sources' sizes,
/// before anything is read: the file is sparse, no disk is used).
#[test]
fn a_file_of_4_gib_selects_the_large_file_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkg = fixture(dir.path());
    assert!(!sorted_files(&pkg).unwrap().1);
    let big = dir.path().join("src/huge.img");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(u64::from(u32::MAX))
        .unwrap();
    pkg.files.push(file(
        "/usr/share/hello/huge.img",
        FileKind::Regular(big),
        0o644,
    ));
    assert!(sorted_files(&pkg).unwrap().1);
}

/// The large-file layout (stripped cpio entries, `LONGFILESIZES`, `rpmlib(LargeFiles)`),
/// written for small files, read back by rpm: digests, sizes, an installation that `rpm -V`
/// finds intact.
#[test]
fn the_large_file_layout_is_read_back_by_rpm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pkg = fixture(d);
    let out = d.join("large.rpm");
    write_with(&pkg, &out, None, true).unwrap();
    let requires = query(d, &out, &["--requires"]);
    assert!(
        requires
            .lines()
            .any(|l| l == "rpmlib(LargeFiles) <= 4.12.0-1"),
        "{requires}"
    );
    let sizes = query(d, &out, &["--qf", "[%{LONGFILESIZES} %{FILENAMES}\n]"]);
    assert!(sizes.contains("16 /etc/hello/hello.toml"), "{sizes}");
    // The entries, seen in an uncompressed copy: stripped, only the trailer in newc form.
    let mut plain = pkg.clone();
    plain.compression = Compression::None;
    let raw = d.join("large-plain.rpm");
    write_with(&plain, &raw, None, true).unwrap();
    let bytes = std::fs::read(&raw).unwrap();
    let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| *w == needle).count();
    assert_eq!(
        count(b"07070X"),
        7,
        "one stripped entry per file in the payload"
    );
    assert!(count(b"07070X00000000\0\0") == 1);
    assert_eq!(count(b"070701"), 1, "the newc trailer");
    install_verify_remove(d, &raw);
    let k = run(Command::new("rpm")
        .arg("--dbpath")
        .arg(d.join("rpmdb"))
        .arg("-K")
        .arg(&out));
    assert!(k.trim_end().ends_with("digests OK"), "{k}");
    install_verify_remove(d, &out);
}
