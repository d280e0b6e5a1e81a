//! `cargo forge-release` features beyond the basic release: a signed git tag, an APT
//! repository on S3 served to apt over HTTP, CycloneDX SBOMs.

use std::process::Command;

use forge_tests::*;

use crate::release::{git, ReleaseRepo};

/// `sign = { gpg = KEY, tag = true }` makes the tag with `git tag -s -u KEY`: the tag pushed to
/// the bare origin carries a signature that `git tag -v` accepts.
#[test]
fn signed_tag_verifies_on_origin() {
    if !require_tools(&["git", "gpg"]) {
        return;
    }
    let repo = ReleaseRepo::new(
        "sign = { gpg = \"release@example.com\", tag = true }\nhosts = [{ kind = \"dir\", path = \"dist\" }]",
    );
    let out = repo.release(&["v0.1.0", "--yes"], &[]);
    assert_success(&out, "release with a signed tag");
    assert!(
        stderr(&out).contains("and the git tag"),
        "the plan says the tag is signed: {}",
        stderr(&out)
    );
    let origin = repo.origin.path();
    let raw = stdout(&git(origin, &["cat-file", "tag", "v0.1.0"]));
    assert!(raw.contains("-----BEGIN PGP SIGNATURE-----"), "{raw}");
    let verify = run(Command::new("git")
        .args(["tag", "-v", "v0.1.0"])
        .current_dir(origin)
        .env("GNUPGHOME", repo.gnupg.path()));
    assert_success(&verify, "git tag -v v0.1.0 in origin");
    assert!(
        stderr(&verify).contains("Good signature"),
        "{}",
        stderr(&verify)
    );

    // Without `tag = true` the tag is annotated only.
    let plain = ReleaseRepo::new(
        "sign = { gpg = \"release@example.com\" }\nhosts = [{ kind = \"dir\", path = \"dist\" }]",
    );
    assert_success(&plain.release(&["v0.1.0", "--yes"], &[]), "release");
    let raw = stdout(&git(plain.origin.path(), &["cat-file", "tag", "v0.1.0"]));
    assert!(!raw.contains("PGP SIGNATURE"), "{raw}");

    // `tag = true` without any key is refused before anything happens.
    let nokey =
        ReleaseRepo::new("sign = { tag = true }\nhosts = [{ kind = \"dir\", path = \"dist\" }]");
    let out = nokey.release(&["v0.1.0", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("user.signingkey"), "{}", stderr(&out));
    assert!(!nokey.path().join("dist").exists());
    assert!(nokey.remote_tags().is_empty());
}
