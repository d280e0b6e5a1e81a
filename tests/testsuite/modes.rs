//! File modes (issue 13): new files follow the umask, as every Unix tool's do. With `umask 077`
//! every file the commands write is `0600` (`0700` for executables and directories): packages,
//! repositories, image layouts and archives, the blob cache, release staging and state.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use forge_tests::*;

/// `program ARGS` under `umask 077`.
fn umasked(program: PathBuf) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", "umask 077 && exec \"$0\" \"$@\""])
        .arg(program);
    c
}

/// Every file and directory under `root` (itself included), with its permission bits.
fn modes(root: &Path, out: &mut Vec<(PathBuf, u32)>) {
    let meta = std::fs::symlink_metadata(root).unwrap();
    if meta.file_type().is_symlink() {
        return;
    }
    out.push((root.to_path_buf(), meta.permissions().mode() & 0o7777));
    if meta.is_dir() {
        for e in std::fs::read_dir(root).unwrap() {
            modes(&e.unwrap().path(), out);
        }
    }
}

#[track_caller]
fn assert_private(roots: &[PathBuf]) {
    let mut all = Vec::new();
    for r in roots {
        assert!(r.exists(), "{} was not written", r.display());
        modes(r, &mut all);
    }
    let open: Vec<String> = all
        .iter()
        .filter(|(_, m)| !matches!(m, 0o600 | 0o700))
        .map(|(p, m)| format!("{:o} {}", m, p.display()))
        .collect();
    assert!(
        open.is_empty(),
        "not 0600/0700 under umask 077:\n{}",
        open.join("\n")
    );
    assert!(all.len() > roots.len(), "nothing was checked");
}

#[test]
fn umask_077_makes_every_output_private() {
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    let scratch = tempfile::tempdir().unwrap();
    let cache = scratch.path().join("blob-cache");
    let repo = scratch.path().join("apt");
    let layout = scratch.path().join("layout");
    let archive = scratch.path().join("image.tar");

    // One build for both commands: forge-image finds binaries under target/<triple>/.
    let out = run(umasked(bin("cargo-forge-deb"))
        .args(["forge-deb", "--target", forge_core::target::host_triple()])
        .current_dir(fx.path())
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-deb under umask 077");
    let out = run(umasked(bin("cargo-forge-deb"))
        .args(["forge-deb", "repo", "--dir"])
        .arg(&repo)
        .args(fx.debs())
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-deb repo under umask 077");
    let out = run(umasked(bin("cargo-forge-image"))
        .args(["forge-image", "--no-build", "--output"])
        .arg(format!("oci:{}", layout.display()))
        .arg("--output")
        .arg(format!("docker-archive:{}", archive.display()))
        .current_dir(fx.path())
        .env("FORGE_BLOB_CACHE", &cache)
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-image under umask 077");
    assert_private(&[
        fx.path().join("target/debian"),
        repo,
        layout,
        archive,
        cache,
    ]);
}
