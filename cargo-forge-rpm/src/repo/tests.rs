//! Unit tests of the repository's pieces; the end-to-end tests (tests/testsuite/rpm_repo.rs) run
//! rpmbuild, createrepo_c and dnf against whole repositories.

use super::rpmfile::*;
use super::xml::*;

#[test]
fn evr_is_split_as_createrepo_splits_it() {
    assert_eq!(
        split_evr("1.2-3"),
        ("0".into(), "1.2".into(), Some("3".into()))
    );
    assert_eq!(split_evr("2:1.2"), ("2".into(), "1.2".into(), None));
    assert_eq!(split_evr("2.34"), ("0".into(), "2.34".into(), None));
}

#[test]
fn primary_files_are_createrepos_subset() {
    assert!(is_primary_file("/usr/bin/app"));
    assert!(is_primary_file("/usr/sbin/appd"));
    assert!(is_primary_file("/etc/app/app.toml"));
    assert!(is_primary_file("/usr/lib/sendmail"));
    assert!(!is_primary_file("/usr/share/doc/app/README"));
    assert!(!is_primary_file("/etc"));
}

fn info() -> RpmInfo {
    RpmInfo {
        name: "app".into(),
        version: "1.0".into(),
        release: "1".into(),
        arch: "x86_64".into(),
        summary: "a <tool> & \"more\"\u{1}".into(),
        deps: vec![(
            "requires",
            vec![Dep {
                name: "libc.so.6(GLIBC_2.34)(64bit)".into(),
                flags: "",
                version: String::new(),
                pre: false,
            }],
        )],
        files: vec![
            ("/usr/bin/app".into(), FileKind::File),
            ("/usr/share/doc/app".into(), FileKind::Dir),
        ],
        changelogs: (0..12)
            .map(|i| Changelog {
                author: format!("A <a@example.com> - 1.{i}"),
                date: 2000 - i,
                text: format!("- change {i}"),
            })
            .collect(),
        ..RpmInfo::default()
    }
}

#[test]
fn fragments_escape_and_read_back_byte_for_byte() {
    let e = render(
        &info(),
        &"a".repeat(64),
        "Packages/a/app-1.0-1.x86_64.rpm",
        10,
        20,
    );
    let primary = String::from_utf8(e.fragments[0].clone()).unwrap();
    assert!(
        primary.contains("<summary>a &lt;tool&gt; &amp; &quot;more&quot;</summary>"),
        "{primary}"
    );
    assert!(primary.contains("<file>/usr/bin/app</file>"), "{primary}");
    assert!(!primary.contains("/usr/share/doc"), "{primary}");
    let other = String::from_utf8(e.fragments[2].clone()).unwrap();
    assert_eq!(other.matches("<changelog").count(), CHANGELOG_LIMIT);
    // Oldest of the ten newest first.
    assert!(other.find("change 9").unwrap() < other.find("change 0").unwrap());
    assert!(!other.contains("change 10"));

    let mut docs: [Vec<u8>; 3] = Default::default();
    for (i, doc) in docs.iter_mut().enumerate() {
        write_document(doc, i, &[&e, &e]).unwrap();
    }
    let back = entries_from_documents(&docs).unwrap();
    assert_eq!(back.len(), 1, "one pkgid: the fragments pair up once");
    assert_eq!(back[0], e);
}

#[test]
fn repomd_keeps_other_kinds_of_metadata() {
    use super::repomd::*;
    let w = Written {
        kind: "primary",
        href: "repodata/x-primary.xml.gz".into(),
        checksum: "c".into(),
        open_checksum: "o".into(),
        size: 1,
        open_size: 2,
    };
    let extra = br#"<data type="group"><location href="repodata/comps.xml"/></data>"#.to_vec();
    let text = render(7, &[w], std::slice::from_ref(&extra));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repomd.xml");
    std::fs::write(&path, &text).unwrap();
    let prev = Previous::read(&path).unwrap();
    assert_eq!(prev.location("primary"), Some("repodata/x-primary.xml.gz"));
    assert_eq!(prev.location("group"), Some("repodata/comps.xml"));
    assert_eq!(prev.extra, vec![extra]);
}

#[test]
fn glibc_versions_compare_numerically() {
    let v = glibc_version;
    assert!(v("libc.so.6(GLIBC_2.34)(64bit)") > v("libc.so.6(GLIBC_2.4)(64bit)"));
    assert!(v("libc.so.6(GLIBC_2.2.5)(64bit)") > v("libc.so.6()(64bit)"));
}
