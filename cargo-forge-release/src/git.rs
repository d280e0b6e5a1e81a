//! git, through the git CLI (as the user's own git would do it, with their config and signing
//! keys): state checks before a release, and the release tag.

use std::path::Path;

use anyhow::Result;

use forge_core::process::Cmd;
use forge_core::Shell;

fn git(dir: &Path) -> Cmd {
    Cmd::new("git")
        .cwd(dir)
        .install_hint("install git: `apt-get install git`")
}

/// Whether `dir` is inside a git work tree.
pub fn is_repo(dir: &Path, shell: &Shell) -> bool {
    git(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .output_unchecked(shell)
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Uncommitted changes (`git status --porcelain`), empty when clean.
pub fn dirty_files(dir: &Path, shell: &Shell) -> Result<Vec<String>> {
    let out = git(dir)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .read(shell)?;
    Ok(out
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// The current branch, `None` when detached.
pub fn branch(dir: &Path, shell: &Shell) -> Result<Option<String>> {
    let b = git(dir)
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .read(shell)?;
    Ok((b != "HEAD").then_some(b))
}

/// `HEAD`'s commit.
pub fn head(dir: &Path, shell: &Shell) -> Result<String> {
    git(dir).args(["rev-parse", "HEAD"]).read(shell)
}

/// The subject of `HEAD`'s commit, `None` without one.
pub fn last_subject(dir: &Path, shell: &Shell) -> Option<String> {
    git(dir).args(["log", "-1", "--format=%s"]).read(shell).ok()
}

/// Whether a tag exists locally.
pub fn tag_exists(dir: &Path, tag: &str, shell: &Shell) -> Result<bool> {
    let out = git(dir)
        .args(["rev-parse", "-q", "--verify"])
        .arg(format!("refs/tags/{tag}"))
        .output_unchecked(shell)?;
    Ok(out.status.success())
}

/// The commit a local tag points to.
pub fn tag_commit(dir: &Path, tag: &str, shell: &Shell) -> Result<Option<String>> {
    let out = git(dir)
        .args(["rev-parse", "-q", "--verify"])
        .arg(format!("refs/tags/{tag}^{{commit}}"))
        .output_unchecked(shell)?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Whether `remote` exists.
pub fn has_remote(dir: &Path, remote: &str, shell: &Shell) -> bool {
    git(dir)
        .args(["remote", "get-url", remote])
        .output_unchecked(shell)
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether the tag exists on the remote (`git ls-remote`).
pub fn remote_tag_exists(dir: &Path, remote: &str, tag: &str, shell: &Shell) -> Result<bool> {
    // A credential helper may read the user's token from the environment.
    let out = git(dir)
        .keep_credentials()
        .args(["ls-remote", "--tags", remote])
        .arg(format!("refs/tags/{tag}"))
        .read(shell)?;
    Ok(!out.trim().is_empty())
}

/// How the release tag is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagKind {
    /// `git tag -a`.
    Annotated,
    /// `git tag -s`, with `-u KEY` (an OpenPGP key for gpg) when given, else git's
    /// `user.signingkey` (or its default key).
    Signed(Option<String>),
}

/// Creates an annotated (optionally signed) tag at HEAD.
pub fn create_tag(
    dir: &Path,
    tag: &str,
    message: &str,
    kind: &TagKind,
    shell: &Shell,
) -> Result<()> {
    let mut cmd = git(dir);
    cmd = match kind {
        TagKind::Annotated => cmd.args(["tag", "-a"]),
        // The key is a gpg key id (`sign.gpg`), whatever `gpg.format` the user's git has.
        TagKind::Signed(Some(key)) => cmd
            .args(["-c", "gpg.format=openpgp", "tag", "-s", "-u"])
            .arg(key),
        TagKind::Signed(None) => cmd.args(["tag", "-s"]),
    };
    cmd.arg(tag).args(["-m", message]).run(shell)
}

/// git's `user.signingkey`, if set.
pub fn signing_key(dir: &Path, shell: &Shell) -> Option<String> {
    git(dir)
        .args(["config", "--get", "user.signingkey"])
        .output_unchecked(shell)
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|k| !k.is_empty())
}

/// Pushes a tag (and, with `with_branch`, the current branch, atomically with it: the bump commit).
pub fn push_tag(
    dir: &Path,
    remote: &str,
    tag: &str,
    with_branch: bool,
    shell: &Shell,
) -> Result<()> {
    // A credential helper may read the user's token from the environment.
    let mut cmd = git(dir)
        .keep_credentials()
        .args(["push", "--atomic", "-q", remote]);
    if with_branch {
        cmd = cmd.arg("HEAD");
    }
    cmd.arg(format!("refs/tags/{tag}")).run(shell)
}

/// Commits the given files.
pub fn commit(dir: &Path, files: &[&Path], message: &str, shell: &Shell) -> Result<()> {
    let mut add = git(dir).arg("add").arg("--");
    for f in files {
        add = add.arg(f);
    }
    add.run(shell)?;
    git(dir).args(["commit", "-q", "-m", message]).run(shell)
}
