//! Unit tests of `forge_core::archive`, apart so that the module reads in one sitting.

#[test]
fn our_ar_header_is_the_ar_crates() {
    let mut w = ArWriter::new(Vec::new());
    w.append("data.tar.xz", 1_700_000_000, 3, &b"abc"[..])
        .unwrap();
    let bytes = w.into_inner().unwrap();
    assert_eq!(
        &bytes[8..68],
        ar_header_bytes("data.tar.xz", 1_700_000_000, 3).as_slice()
    );
}

#[test]
fn zips_are_reproducible_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"alpha").unwrap();
    std::fs::write(&b, b"beta").unwrap();
    let files = vec![
        ("root/b".to_string(), b.clone(), 0o755),
        ("root/a".to_string(), a.clone(), 0o644),
    ];
    let one = write_zip(Vec::new(), &files, 1_700_000_000, Path::new("x.zip")).unwrap();
    let mut reversed = files.clone();
    reversed.reverse();
    let two = write_zip(Vec::new(), &reversed, 1_700_000_000, Path::new("x.zip")).unwrap();
    assert_eq!(one, two);
    let first = one.windows(6).position(|w| w == b"root/a").unwrap();
    let second = one.windows(6).position(|w| w == b"root/b").unwrap();
    assert!(first < second);
}

use super::*;

#[test]
fn normalize_paths() {
    assert_eq!(normalize("/usr/bin/x").unwrap(), "usr/bin/x");
    assert_eq!(normalize("./usr//share/./doc/").unwrap(), "usr/share/doc");
    assert!(normalize("usr/../../etc/passwd").is_err());
    assert!(normalize("/").is_err());
    assert!(check_member_path(Path::new("/etc/passwd")).is_err());
    assert!(check_member_path(Path::new("./a/../../b")).is_err());
    assert_eq!(check_member_path(Path::new("./a/b")).unwrap(), "a/b");
}

fn listing(bytes: &[u8]) -> Vec<(String, u32, u64, u64)> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
            )
        })
        .collect()
}

#[test]
fn sorted_with_parents_and_fixed_metadata() {
    let entries = vec![
        Entry::bytes("usr/share/doc/x/README", b"hi".to_vec(), 0o644).unwrap(),
        Entry::bytes("usr/bin/x", b"bin".to_vec(), 0o755).unwrap(),
        Entry::dir("var/lib/x", 0o750).unwrap(),
    ];
    let opts = TarOptions {
        mtime: 1_700_000_000,
        dot_prefix: true,
        root_entry: true,
        ..Default::default()
    };
    let a = write_tar(Vec::new(), entries.clone(), &opts).unwrap();
    let mut reversed = entries;
    reversed.reverse();
    let b = write_tar(Vec::new(), reversed, &opts).unwrap();
    assert_eq!(a, b, "order of input must not matter");
    let names: Vec<String> = listing(&a).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "./",
            "./usr/",
            "./usr/bin/",
            "./usr/bin/x",
            "./usr/share/",
            "./usr/share/doc/",
            "./usr/share/doc/x/",
            "./usr/share/doc/x/README",
            "./var/",
            "./var/lib/",
            "./var/lib/x/"
        ]
    );
    for (name, mode, mtime, uid) in listing(&a) {
        assert_eq!((mtime, uid), (1_700_000_000, 0), "{name}");
        if name == "./var/lib/x/" {
            assert_eq!(mode, 0o750);
        }
    }
}

#[test]
fn duplicates_are_errors() {
    let e = vec![
        Entry::bytes("a", vec![], 0o644).unwrap(),
        Entry::bytes("/a", vec![1], 0o644).unwrap(),
    ];
    assert!(write_tar(Vec::new(), e, &TarOptions::default()).is_err());
}

#[test]
fn streamed_entries_and_exact_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    std::fs::write(&src, vec![7u8; 5000]).unwrap();
    let src2 = src.clone();
    let streamed = Entry::stream(
        "layer.tar",
        5000,
        Source::new(move || Ok(Box::new(std::fs::File::open(&src2)?) as Box<dyn Read>)),
        0o644,
    )
    .unwrap();
    let a = write_tar(Vec::new(), vec![streamed], &TarOptions::default()).unwrap();
    let mut ar = tar::Archive::new(a.as_slice());
    let mut e = ar.entries().unwrap().next().unwrap().unwrap();
    let mut content = Vec::new();
    e.read_to_end(&mut content).unwrap();
    assert_eq!(content, vec![7u8; 5000]);
    // A source shorter than announced is an error, not a silently padded member.
    let short = Entry::stream(
        "short",
        6000,
        Source::new(move || Ok(Box::new(std::io::repeat(1).take(10)) as Box<dyn Read>)),
        0o644,
    )
    .unwrap();
    let err = write_tar(Vec::new(), vec![short], &TarOptions::default()).unwrap_err();
    assert!(
        format!("{err:#}").contains("ended 5990 bytes early"),
        "{err:#}"
    );
}

#[test]
fn bounded_reader_stops_at_the_limit() {
    let mut exact = BoundedReader::new(std::io::repeat(0).take(100), 100);
    assert_eq!(
        std::io::copy(&mut exact, &mut std::io::sink()).unwrap(),
        100
    );
    let mut over = BoundedReader::new(std::io::repeat(0).take(101), 100);
    let err = std::io::copy(&mut over, &mut std::io::sink()).unwrap_err();
    let err = anyhow::Error::new(err).context("reading a layer");
    assert_eq!(
        LimitExceeded::find(&err),
        Some(LimitExceeded { limit: 100 })
    );
}

#[test]
fn long_names_survive() {
    let long = format!("usr/share/{}/file", "d".repeat(150));
    let a = write_tar(
        Vec::new(),
        vec![Entry::bytes(&long, vec![1], 0o644).unwrap()],
        &TarOptions::default(),
    )
    .unwrap();
    assert!(listing(&a).iter().any(|e| e.0 == long));
}
