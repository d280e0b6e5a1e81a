//! The RPM repository (`cargo forge-rpm repo`'s library, `cargo_forge_rpm::repo::update`): its
//! repodata compared with createrepo_c's for the same packages, read by dnf with `gpgcheck` and
//! `repo_gpgcheck` for x86_64 and aarch64, updated incrementally and reproducibly, refused by dnf
//! when tampered with, and safe under concurrent updates.
//!
//! The packages are made by rpmbuild from a tiny spec until forge-rpm writes its own; their
//! payload is architecture-independent, their headers say x86_64 or aarch64 (`--target`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_forge_rpm::repo::{update, RepoOptions, RepoReport};
use forge_core::Shell;
use forge_tests::*;

/// A spec with dependencies of every kind createrepo_c filters (a file the package holds, rpmlib,
/// a `Requires(post)`, an explicit and an automatic `/bin/sh`), a config file, a directory, a
/// ghost, libc symbol versions as a Rust binary needs them, and a changelog with characters XML
/// escapes.
const SPEC_WITH_DEPS: &str = r#"Name: forge-hello
Version: %{ver}
Release: 1
Summary: A <tiny> & "test" package
License: MIT
URL: https://example.com/hello?a=1&b=2
Requires: /bin/sh
Requires: /usr/bin/forge-hello
Requires(post): coreutils
Requires: libc.so.6()(64bit) libc.so.6(GLIBC_2.2.5)(64bit) libc.so.6(GLIBC_2.34)(64bit)
Recommends: less
Provides: hello-tool = %{ver}
Conflicts: old-hello < 0.5
Obsoletes: hello-classic <= 1:0.9-2
%description
A tiny package for repository tests, with <markup> & ampersands.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/doc/forge-hello %{buildroot}/etc/forge-hello
printf '#!/bin/sh\necho hello\n' > %{buildroot}/usr/bin/forge-hello
chmod 755 %{buildroot}/usr/bin/forge-hello
echo readme > %{buildroot}/usr/share/doc/forge-hello/README
echo 'x = 1' > %{buildroot}/etc/forge-hello/hello.conf
%files
/usr/bin/forge-hello
%dir /usr/share/doc/forge-hello
/usr/share/doc/forge-hello/README
%config(noreplace) /etc/forge-hello/hello.conf
%ghost /var/log/forge-hello.log
%post
true
%changelog
* Tue Jan 02 2024 Forge <forge@example.com> - 1.0-1
- Second & <better> entry
* Mon Jan 01 2024 Forge <forge@example.com> - 0.9-1
- First entry
"#;

/// A spec dnf can install into an empty root: no dependencies, a Lua scriptlet (no shell).
const SPEC_NO_DEPS: &str = r#"Name: forge-hello
Version: %{ver}
Release: 1
Summary: A tiny test package
License: MIT
AutoReqProv: no
%description
A tiny package for repository tests.
%install
mkdir -p %{buildroot}/usr/share/forge-hello
echo hello %{ver} > %{buildroot}/usr/share/forge-hello/hello.txt
%files
/usr/share/forge-hello/hello.txt
%post -p <lua>
print("installed")
"#;

const TOOLS: &[&str] = &["rpmbuild", "createrepo_c", "dnf", "gpg", "rpmsign"];

/// Builds `spec` at `version` for `arch` in `dir` and returns the package.
fn rpmbuild(dir: &Path, spec: &str, version: &str, arch: &str) -> PathBuf {
    let spec_path = dir.join("hello.spec");
    std::fs::write(&spec_path, spec).unwrap();
    let top = dir.join(format!("top-{version}-{arch}"));
    let out = run(Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("ver {version}"))
        .args(["--target", arch])
        .arg(&spec_path)
        .env("HOME", dir));
    assert_success(&out, "rpmbuild");
    top.join("RPMS")
        .join(arch)
        .join(format!("forge-hello-{version}-1.{arch}.rpm"))
}

/// Signs packages with the key of `gnupg` (rpm's header signature, what dnf's gpgcheck checks).
fn rpmsign(gnupg: &Path, rpms: &[PathBuf]) {
    let out = run(Command::new("rpmsign")
        .arg("--addsign")
        .args(["--define", "_gpg_name repo@example.com"])
        .arg("--define")
        .arg(format!("_gpg_path {}", gnupg.display()))
        .arg("--define")
        .arg(format!("__gpg {}", which("gpg").unwrap().display()))
        .args(rpms)
        .env("GNUPGHOME", gnupg));
    assert_success(&out, "rpmsign --addsign");
}

fn repo_update(dir: &Path, rpms: &[PathBuf], key: Option<&Path>) -> RepoReport {
    let mut opts = RepoOptions::new(dir, rpms.to_vec());
    opts.repo_id = Some("forge".into());
    if let Some(home) = key {
        opts.sign_key = Some("repo@example.com".into());
        opts.gpg_homedir = Some(home.to_path_buf());
    }
    update(&opts, &Shell::plain()).unwrap_or_else(|e| panic!("repo update failed: {e:#}"))
}

/// dnf against the repository `repo` only, in its own root, cache and config, for `arch`, with
/// package and repository signatures checked against the exported key.
fn dnf(work: &Path, repo: &Path, arch: &str, args: &[&str]) -> std::process::Output {
    std::fs::create_dir_all(work).unwrap();
    let conf = work.join("dnf.conf");
    std::fs::write(&conf, "[main]\n").unwrap();
    let root = work.join(format!("root-{arch}"));
    std::fs::create_dir_all(&root).unwrap();
    run(Command::new("dnf")
        .arg("-c")
        .arg(&conf)
        .arg("--installroot")
        .arg(&root)
        .args(["--releasever", "1", "--setopt=reposdir=/nonexistent"])
        .arg(format!(
            "--setopt=cachedir={}",
            work.join("cache").display()
        ))
        .arg("--repofrompath")
        .arg(format!("forge,file://{}", repo.display()))
        .args(["--repo", "forge"])
        .args([
            "--setopt=forge.gpgcheck=1",
            "--setopt=forge.repo_gpgcheck=1",
        ])
        .arg(format!(
            "--setopt=forge.gpgkey=file://{}/RPM-GPG-KEY-forge",
            repo.display()
        ))
        .args(["--forcearch", arch, "-y"])
        .args(args))
}

/// An XML element: name, attributes, text, children (whitespace between elements dropped).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<Node>,
}

fn parse_xml(bytes: &[u8]) -> Node {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut stack = vec![Node {
        name: String::new(),
        attrs: BTreeMap::new(),
        text: String::new(),
        children: Vec::new(),
    }];
    let node = |e: &quick_xml::events::BytesStart| Node {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect(),
        text: String::new(),
        children: Vec::new(),
    };
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            Event::Start(e) => stack.push(node(&e)),
            Event::Empty(e) => stack.last_mut().unwrap().children.push(node(&e)),
            Event::End(_) => {
                let mut done = stack.pop().unwrap();
                if !done.children.is_empty() {
                    done.text = done.text.trim().to_string();
                }
                stack.last_mut().unwrap().children.push(done);
            }
            Event::Text(t) => stack.last_mut().unwrap().text += &t.decode().unwrap(),
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let c = match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                };
                stack.last_mut().unwrap().text += c;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    stack.pop().unwrap().children.remove(0)
}

fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The documents of a repository by type, checked against repomd.xml's sizes and checksums.
fn documents(repo: &Path) -> BTreeMap<String, Node> {
    let repomd = parse_xml(&std::fs::read(repo.join("repodata/repomd.xml")).unwrap());
    let mut out = BTreeMap::new();
    for data in repomd.children.iter().filter(|c| c.name == "data") {
        let kind = data.attrs["type"].clone();
        let field = |n: &str| data.children.iter().find(|c| c.name == n).unwrap();
        let path = repo.join(&field("location").attrs["href"]);
        assert_eq!(
            sha256_file(&path),
            field("checksum").text,
            "{kind} checksum"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len().to_string(),
            field("size").text,
            "{kind} size"
        );
        if kind == "primary" || kind == "filelists" || kind == "other" {
            let open = gunzip(&path);
            assert_eq!(open.len().to_string(), field("open-size").text);
            out.insert(kind, parse_xml(&open));
        }
    }
    out
}

/// The packages of a document by `name-epoch:version-release.arch`, each without the fields
/// that differ by design (the location's directory).
fn packages(doc: &Node) -> BTreeMap<String, Node> {
    assert_eq!(
        doc.attrs["packages"],
        doc.children.len().to_string(),
        "packages= count"
    );
    doc.children
        .iter()
        .map(|p| {
            let mut p = p.clone();
            let name = p.attrs.get("name").cloned().unwrap_or_else(|| {
                p.children
                    .iter()
                    .find(|c| c.name == "name")
                    .unwrap()
                    .text
                    .clone()
            });
            let arch = p.attrs.get("arch").cloned().unwrap_or_else(|| {
                p.children
                    .iter()
                    .find(|c| c.name == "arch")
                    .unwrap()
                    .text
                    .clone()
            });
            let v = &p
                .children
                .iter()
                .find(|c| c.name == "version")
                .unwrap()
                .attrs;
            let key = format!("{name}-{}:{}-{}.{arch}", v["epoch"], v["ver"], v["rel"]);
            for c in &mut p.children {
                if c.name == "location" {
                    let href = c.attrs["href"].clone();
                    let base = href.rsplit('/').next().unwrap().to_string();
                    c.attrs.insert("href".into(), base);
                }
            }
            (key, p)
        })
        .collect()
}

#[test]
fn repodata_matches_createrepo_c_on_the_same_packages() {
    if !require_tools(TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let rpms: Vec<PathBuf> = ["x86_64", "aarch64"]
        .iter()
        .map(|a| rpmbuild(work.path(), SPEC_WITH_DEPS, "1.0", a))
        .collect();
    let ours = work.path().join("ours");
    let report = repo_update(&ours, &rpms, None);
    assert_eq!(report.packages, 2);
    assert_eq!(report.architectures, vec!["aarch64", "x86_64"]);
    assert!(ours
        .join("Packages/f/forge-hello-1.0-1.aarch64.rpm")
        .is_file());

    // createrepo_c over copies with the same times (`cp -p`), no sqlite.
    let theirs = work.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    for rpm in &rpms {
        assert_success(
            &run(Command::new("cp").arg("-p").arg(rpm).arg(&theirs)),
            "cp",
        );
    }
    assert_success(
        &run(Command::new("createrepo_c")
            .arg("--no-database")
            .arg(&theirs)),
        "createrepo_c",
    );

    let (a, b) = (documents(&ours), documents(&theirs));
    for kind in ["primary", "filelists", "other"] {
        let (pa, pb) = (packages(&a[kind]), packages(&b[kind]));
        assert_eq!(
            pa.keys().collect::<Vec<_>>(),
            pb.keys().collect::<Vec<_>>(),
            "{kind}: the same packages"
        );
        for (key, p) in &pa {
            assert_eq!(p, &pb[key], "{kind} of {key} differs from createrepo_c's");
        }
    }
    // What the comparison covered, spelled out.
    let primary = &packages(&a["primary"])["forge-hello-0:1.0-1.x86_64"];
    let format = primary
        .children
        .iter()
        .find(|c| c.name == "format")
        .unwrap();
    let requires = format
        .children
        .iter()
        .find(|c| c.name == "rpm:requires")
        .unwrap();
    let names: Vec<&str> = requires
        .children
        .iter()
        .map(|e| e.attrs["name"].as_str())
        .collect();
    assert!(
        names.contains(&"coreutils") && names.contains(&"/bin/sh"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("rpmlib(")), "{names:?}");
    assert!(!names.contains(&"/usr/bin/forge-hello"), "{names:?}");
    let files: Vec<&str> = format
        .children
        .iter()
        .filter(|c| c.name == "file")
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        files,
        ["/etc/forge-hello/hello.conf", "/usr/bin/forge-hello"]
    );
}

#[test]
fn dnf_installs_both_architectures_from_the_signed_repository_and_sees_every_version() {
    if !require_tools(TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let gnupg = gpg_home("Forge Repo <repo@example.com>");
    let rpms: Vec<PathBuf> = ["x86_64", "aarch64"]
        .iter()
        .map(|a| rpmbuild(work.path(), SPEC_NO_DEPS, "1.0", a))
        .collect();
    rpmsign(gnupg.path(), &rpms);
    let repo = work.path().join("repo");
    let report = repo_update(&repo, &rpms, Some(gnupg.path()));
    assert!(report.signed);
    for f in ["repodata/repomd.xml.asc", "RPM-GPG-KEY-forge", "forge.repo"] {
        assert!(repo.join(f).is_file(), "{f} missing");
    }
    let repo_file = std::fs::read_to_string(repo.join("forge.repo")).unwrap();
    assert!(
        repo_file.contains("repo_gpgcheck=1") && repo_file.contains("/RPM-GPG-KEY-forge"),
        "{repo_file}"
    );

    // Both architectures: listed, downloaded, signature-checked (package and repository), installed.
    for arch in ["x86_64", "aarch64"] {
        let dnf_dir = work.path().join(format!("dnf-{arch}"));
        let out = dnf(&dnf_dir, &repo, arch, &["install", "forge-hello"]);
        assert_success(&out, &format!("dnf install ({arch})"));
        let out = run(Command::new("rpm")
            .arg("--root")
            .arg(dnf_dir.join(format!("root-{arch}")))
            .args(["-q", "forge-hello", "--qf", "%{NEVRA}"]));
        assert_eq!(stdout(&out), format!("forge-hello-1.0-1.{arch}"));
    }

    // A second version: the first stays, and dnf sees both.
    let v11 = rpmbuild(work.path(), SPEC_NO_DEPS, "1.1", "x86_64");
    rpmsign(gnupg.path(), std::slice::from_ref(&v11));
    let report = repo_update(&repo, &[v11], Some(gnupg.path()));
    assert_eq!(report.packages, 3);
    assert!(repo
        .join("Packages/f/forge-hello-1.0-1.x86_64.rpm")
        .is_file());
    // This time through the .repo file the update wrote (as a user drops it into
    // /etc/yum.repos.d/): its baseurl, its key and its signature checks.
    let list = work.path().join("dnf-list");
    std::fs::create_dir_all(list.join("root")).unwrap();
    std::fs::write(list.join("dnf.conf"), "[main]\n").unwrap();
    let out = run(Command::new("dnf")
        .arg("-c")
        .arg(list.join("dnf.conf"))
        .arg("--installroot")
        .arg(list.join("root"))
        .arg("--releasever=1")
        .arg(format!("--setopt=reposdir={}", repo.display()))
        .arg(format!(
            "--setopt=cachedir={}",
            list.join("cache").display()
        ))
        .args(["-y", "list", "--showduplicates", "forge-hello"]));
    assert_success(&out, "dnf list --showduplicates");
    let listing = stdout(&out);
    assert!(
        listing.contains("1.0-1") && listing.contains("1.1-1"),
        "{listing}"
    );
}

#[test]
fn a_tampered_repomd_fails_dnfs_repo_gpgcheck() {
    if !require_tools(TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let gnupg = gpg_home("Forge Repo <repo@example.com>");
    let rpm = rpmbuild(work.path(), SPEC_NO_DEPS, "1.0", "x86_64");
    rpmsign(gnupg.path(), std::slice::from_ref(&rpm));
    let repo = work.path().join("repo");
    repo_update(&repo, &[rpm], Some(gnupg.path()));
    let out = dnf(
        &work.path().join("dnf-good"),
        &repo,
        "x86_64",
        &["makecache"],
    );
    assert_success(&out, "dnf makecache (untouched repository)");

    let repomd = repo.join("repodata/repomd.xml");
    let text = std::fs::read_to_string(&repomd).unwrap();
    std::fs::write(&repomd, text.replace("<revision>", "<revision>1")).unwrap();
    let out = dnf(
        &work.path().join("dnf-bad"),
        &repo,
        "x86_64",
        &["makecache"],
    );
    assert!(
        !out.status.success(),
        "dnf accepted a tampered repomd.xml\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("repomd.xml GPG signature verification error"),
        "{all}"
    );
}

#[test]
fn updates_reuse_unchanged_metadata_and_are_reproducible() {
    if !require_tools(TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let rpms = [
        rpmbuild(work.path(), SPEC_WITH_DEPS, "1.0", "x86_64"),
        rpmbuild(work.path(), SPEC_WITH_DEPS, "1.0", "aarch64"),
        rpmbuild(work.path(), SPEC_WITH_DEPS, "1.1", "x86_64"),
    ];
    let with_sde = |dir: &Path, rpms: &[PathBuf]| {
        let mut opts = RepoOptions::new(dir, rpms.to_vec());
        opts.source_date_epoch = Some(1_700_000_000);
        update(&opts, &Shell::plain()).unwrap()
    };
    // All at once, and one by one: byte-identical metadata.
    let at_once = work.path().join("at-once");
    with_sde(&at_once, &rpms);
    let one_by_one = work.path().join("one-by-one");
    for rpm in &rpms {
        with_sde(&one_by_one, std::slice::from_ref(rpm));
    }
    let repomd = |d: &Path| std::fs::read(d.join("repodata/repomd.xml")).unwrap();
    assert_eq!(
        String::from_utf8(repomd(&at_once)).unwrap(),
        String::from_utf8(repomd(&one_by_one)).unwrap()
    );
    assert_eq!(packages(&documents(&at_once)["primary"]).len(), 3);
    // The previous generation stays, older ones go: 3 documents now, 3 of the update before.
    let count = std::fs::read_dir(one_by_one.join("repodata"))
        .unwrap()
        .count();
    assert_eq!(
        count, 7,
        "repomd.xml and two generations of three documents"
    );

    // A package whose file keeps its size and time is not read again: its bytes replaced by
    // same-size garbage (time restored), the metadata still names the original checksum.
    let kept = one_by_one.join("Packages/f/forge-hello-1.0-1.aarch64.rpm");
    let meta = std::fs::metadata(&kept).unwrap();
    let before = sha256_file(&kept);
    std::fs::write(&kept, vec![b'x'; meta.len() as usize]).unwrap();
    let mtime = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(&kept)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let v12 = rpmbuild(work.path(), SPEC_WITH_DEPS, "1.2", "x86_64");
    with_sde(&one_by_one, &[v12]);
    let docs = documents(&one_by_one);
    let pkgs = packages(&docs["primary"]);
    let checksum = &pkgs["forge-hello-0:1.0-1.aarch64"]
        .children
        .iter()
        .find(|c| c.name == "checksum")
        .unwrap()
        .text;
    assert_eq!(checksum, &before, "an unchanged package was read again");
    assert_eq!(pkgs.len(), 4);
}

#[test]
fn concurrent_updates_serialise_and_both_land() {
    if !require_tools(TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let a = rpmbuild(work.path(), SPEC_NO_DEPS, "1.0", "x86_64");
    let b = rpmbuild(work.path(), SPEC_NO_DEPS, "1.0", "aarch64");
    let repo = work.path().join("repo");
    // Twice, so that one round races on a new directory and one on an existing repository.
    for round in 0..2 {
        let (a, b) = if round == 0 {
            (a.clone(), b.clone())
        } else {
            (
                rpmbuild(work.path(), SPEC_NO_DEPS, "2.0", "x86_64"),
                rpmbuild(work.path(), SPEC_NO_DEPS, "2.0", "aarch64"),
            )
        };
        std::thread::scope(|s| {
            for rpm in [a, b] {
                let repo = repo.clone();
                s.spawn(move || repo_update(&repo, &[rpm], None));
            }
        });
    }
    let pkgs = packages(&documents(&repo)["primary"]);
    assert_eq!(
        pkgs.keys().cloned().collect::<Vec<_>>(),
        [
            "forge-hello-0:1.0-1.aarch64",
            "forge-hello-0:1.0-1.x86_64",
            "forge-hello-0:2.0-1.aarch64",
            "forge-hello-0:2.0-1.x86_64"
        ]
    );

    // Held by someone else, `no_wait` fails at once and names the lock.
    let _held = forge_core::fsx::lock_dir(&repo, "test", true, &Shell::plain()).unwrap();
    let mut opts = RepoOptions::new(&repo, vec![]);
    opts.no_wait = true;
    let err = format!("{:#}", update(&opts, &Shell::plain()).unwrap_err());
    assert!(err.contains("locked by another run"), "{err}");
}

#[test]
fn bad_input_writes_nothing_and_a_signed_repository_needs_its_key() {
    if !require_tools(TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let not_rpm = work.path().join("fake.rpm");
    std::fs::write(&not_rpm, b"not a package").unwrap();
    let repo = work.path().join("repo");
    let err = update(&RepoOptions::new(&repo, vec![not_rpm]), &Shell::plain()).unwrap_err();
    assert!(
        format!("{err:#}").contains("is not a readable RPM package"),
        "{err:#}"
    );
    assert!(!repo.exists(), "a rejected update created the repository");

    // A real package cut short anywhere (lead, signature header, header, payload) is an error,
    // never a crash (cut inside the payload, the payload digest of its header says so).
    let rpm = rpmbuild(work.path(), SPEC_WITH_DEPS, "1.0", "x86_64");
    let bytes = std::fs::read(&rpm).unwrap();
    for cut in [0, 50, 96, 100, 200, 1000, 2000, 4000, 4600, 6000] {
        let short = work.path().join(format!("cut-{cut}.rpm"));
        std::fs::write(&short, &bytes[..cut.min(bytes.len())]).unwrap();
        let result = std::panic::catch_unwind(|| {
            update(
                &RepoOptions::new(&repo, vec![short.clone()]),
                &Shell::plain(),
            )
        });
        let result = result.unwrap_or_else(|_| panic!("a package cut at {cut} bytes panicked"));
        let e = format!("{:#}", result.expect_err("a cut package was accepted"));
        assert!(
            e.contains("not a readable RPM package") || e.contains("is damaged"),
            "cut at {cut}: {e}"
        );
    }
    std::fs::remove_dir_all(&repo).ok();

    let gnupg = gpg_home("Forge Repo <repo@example.com>");
    let rpm = rpmbuild(work.path(), SPEC_NO_DEPS, "1.0", "x86_64");
    repo_update(&repo, std::slice::from_ref(&rpm), Some(gnupg.path()));
    let err = update(&RepoOptions::new(&repo, vec![rpm]), &Shell::plain()).unwrap_err();
    assert!(format!("{err:#}").contains("signed repository"), "{err:#}");
}

#[test]
fn keep_retains_the_highest_versions_in_rpm_order() {
    if !require_tools(TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let mut last = None;
    // 1.10 is newer than 1.9 in rpm's order (not in a string's).
    for version in ["1.0", "1.9", "1.10"] {
        let rpm = rpmbuild(work.path(), SPEC_NO_DEPS, version, "x86_64");
        let mut opts = RepoOptions::new(&repo, vec![rpm]);
        opts.keep = Some(2);
        last = Some(update(&opts, &Shell::plain()).unwrap());
    }
    let report = last.unwrap();
    let removed: Vec<&str> = report.removed.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(removed, ["1.0"]);
    assert!(!repo
        .join("Packages/f/forge-hello-1.0-1.x86_64.rpm")
        .exists());
    assert!(repo
        .join("Packages/f/forge-hello-1.9-1.x86_64.rpm")
        .is_file());
    let pkgs = packages(&documents(&repo)["primary"]);
    assert_eq!(
        pkgs.keys().cloned().collect::<Vec<_>>(),
        ["forge-hello-0:1.10-1.x86_64", "forge-hello-0:1.9-1.x86_64"]
    );
    let mut opts = RepoOptions::new(&repo, vec![]);
    opts.keep = Some(0);
    assert!(update(&opts, &Shell::plain()).is_err());
}
