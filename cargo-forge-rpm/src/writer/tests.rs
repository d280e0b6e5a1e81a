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
        summary: "Says hello".to_string(),
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
            file(
                "/usr/lib/hello/generated.txt",
                FileKind::Bytes(b"generated\n".to_vec()),
                0o600,
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
        "Summary     : Says hello",
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
    assert_eq!(generated[4], "0100600");
    let flags = query(d, &out, &["--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]"]);
    assert!(flags.contains("/etc/hello/hello.toml cn"), "{flags}");

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
