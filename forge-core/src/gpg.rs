//! The one gpg wrapper of the suite: `.deb` signatures and APT repository signing (cargo
//! forge-deb), the release's detached `.asc` signatures (cargo forge-release).
//!
//! gpg is driven through its command line, the one interface every gpg installation, agent setup
//! and smartcard supports: `--batch` always, `--homedir` when given (otherwise `GNUPGHOME` or
//! `~/.gnupg`, as gpg itself decides), `--local-user` for the key. Before signing, the secret key
//! is looked up (`--with-colons`, a `sec:` line required, not just gpg's exit status) so that a
//! missing key is reported as such, naming the keyring, with how to create or import one, rather
//! than as gpg's generic failure. Keys and passphrases never pass through us: gpg and its agent
//! hold them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::{ErrorKind, ResultExt};
use crate::process::Cmd;
use crate::Shell;

/// What to do when gpg is not installed.
pub const GPG_INSTALL_HINT: &str = "install gpg with `apt-get install gnupg`";

/// The gpg command line, with an optional home directory.
#[derive(Clone, Debug, Default)]
pub struct Gpg {
    /// `--homedir`; `None` lets gpg use `GNUPGHOME` or `~/.gnupg`.
    pub homedir: Option<PathBuf>,
}

impl Gpg {
    pub fn new(homedir: Option<&Path>) -> Gpg {
        Gpg {
            homedir: homedir.map(Path::to_path_buf),
        }
    }

    /// `gpg --batch [--homedir DIR]`.
    pub fn cmd(&self) -> Cmd {
        let mut cmd = Cmd::new("gpg")
            .arg("--batch")
            .install_hint(GPG_INSTALL_HINT);
        if let Some(home) = &self.homedir {
            cmd = cmd.arg("--homedir").arg(home);
        }
        cmd
    }

    fn keyring_name(&self) -> String {
        match &self.homedir {
            Some(h) => format!("`{}`", h.display()),
            None => match std::env::var_os("GNUPGHOME") {
                Some(h) => format!("`{}` (GNUPGHOME)", Path::new(&h).display()),
                None => "`~/.gnupg`".to_string(),
            },
        }
    }

    /// Checks that a secret key usable for signing exists: `key`, or any when `None` (gpg's
    /// default key). Fails with a usage error naming the key and how to get one.
    pub fn check_secret_key(&self, key: Option<&str>, shell: &Shell) -> Result<()> {
        let mut cmd = self.cmd().args(["--with-colons", "--list-secret-keys"]);
        if let Some(k) = key {
            cmd = cmd.arg(k);
        }
        let out = cmd.output_unchecked(shell)?;
        let listing = String::from_utf8_lossy(&out.stdout);
        let found = out.status.success() && listing.lines().any(|l| l.starts_with("sec:"));
        if found {
            return Ok(());
        }
        let what = match key {
            Some(k) => format!(
                "no secret gpg key `{k}` in the keyring {}",
                self.keyring_name()
            ),
            None => format!(
                "no secret gpg key to sign with: the keyring {} has none",
                self.keyring_name()
            ),
        };
        Err(crate::exit::usage(what)).hint(
            "import the key with `gpg --import PRIVATE-KEY-FILE`, or create one with \
             `gpg --quick-gen-key 'Name <email>' ed25519 sign never`, then pass its id or fingerprint",
        )
    }

    fn sign_with(
        &self,
        mode: &[&str],
        input: &Path,
        key: Option<&str>,
        shell: &Shell,
    ) -> Result<Vec<u8>> {
        let dir =
            tempfile::tempdir().context("failed to create a temporary directory for gpg output")?;
        let out = dir.path().join("signature");
        let mut cmd = self.cmd().arg("--yes");
        if let Some(k) = key {
            cmd = cmd.arg("--local-user").arg(k);
        }
        let cmd = cmd.args(mode).arg("--output").arg(&out).arg(input);
        cmd.output(shell).with_context(|| match key {
            Some(k) => format!("failed to sign `{}` with gpg key `{k}`", input.display()),
            None => format!(
                "failed to sign `{}` with the default gpg key",
                input.display()
            ),
        })?;
        crate::fsx::read(&out)
    }

    /// An ASCII-armored detached signature of `input`.
    pub fn detach_sign(&self, input: &Path, key: Option<&str>, shell: &Shell) -> Result<Vec<u8>> {
        self.sign_with(&["--armor", "--detach-sign"], input, key, shell)
    }

    /// A binary detached signature of `input` made with a SHA-256 digest (what an RPM header
    /// signature holds: rpm reads binary OpenPGP packets, not armor).
    pub fn detach_sign_binary(
        &self,
        input: &Path,
        key: Option<&str>,
        shell: &Shell,
    ) -> Result<Vec<u8>> {
        self.sign_with(
            &["--no-armor", "--digest-algo", "SHA256", "--detach-sign"],
            input,
            key,
            shell,
        )
    }

    /// A clear-signed copy of `input` (what APT reads as `InRelease`).
    pub fn clearsign(&self, input: &Path, key: Option<&str>, shell: &Shell) -> Result<Vec<u8>> {
        self.sign_with(&["--clearsign"], input, key, shell)
    }

    /// Verifies a detached signature of `data`; returns the fingerprint of the signing key.
    /// A bad or unverifiable signature is a [`ErrorKind::Check`] failure with gpg's words.
    pub fn verify_detached(&self, signature: &Path, data: &Path, shell: &Shell) -> Result<String> {
        let cmd = self
            .cmd()
            .args(["--status-fd", "1", "--verify"])
            .arg(signature)
            .arg(data);
        let out = cmd.output_unchecked(shell)?;
        let status = String::from_utf8_lossy(&out.stdout);
        let valid = status
            .lines()
            .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string);
        match valid {
            Some(fpr) if out.status.success() => Ok(fpr),
            _ => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.trim_end().lines().rev().take(10).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(anyhow::anyhow!(
                    "gpg could not verify the signature `{}` of `{}`\n{}",
                    signature.display(),
                    data.display(),
                    tail.join("\n")
                ))
                .kind(ErrorKind::Check)
            }
        }
    }

    /// The public key `key` (binary OpenPGP), e.g. for an APT `signed-by` keyring.
    pub fn export_public(&self, key: &str, shell: &Shell) -> Result<Vec<u8>> {
        let out = self
            .cmd()
            .args(["--export", key])
            .output(shell)
            .with_context(|| format!("failed to export the public gpg key `{key}`"))?;
        if out.stdout.is_empty() {
            return Err(anyhow::anyhow!(
                "gpg has no public key `{key}` in the keyring {}",
                self.keyring_name()
            ))
            .hint(
                "check the key id with `gpg --list-keys`, or import the key with `gpg --import`",
            );
        }
        Ok(out.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_gpg_is_a_missing_tool() {
        let shell = Shell::plain();
        let mut gpg = Gpg::default().cmd();
        gpg.program = PathBuf::from("gpg-definitely-missing");
        let e = gpg.arg("--version").output(&shell).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), 6);
        assert_eq!(crate::exit::hints(&e), vec![GPG_INSTALL_HINT.to_string()]);
    }
}
