//! The header signature: an OpenPGP signature of the header bytes, made by a [`Signer`] (the
//! user's gpg through [`GpgSigner`]), stored under the tag rpmsign 4.18 uses for the key's
//! algorithm (`RSA` for RSA and EdDSA keys, `DSA` for DSA keys).

use std::path::Path;

use anyhow::Result;

use forge_core::gpg::Gpg;
use forge_core::Shell;

use super::Signer;

/// Signs with gpg: `key` (an id or fingerprint), or gpg's default key; the keyring is the
/// `Gpg`'s home directory, or `GNUPGHOME`, or `~/.gnupg`.
pub struct GpgSigner<'a> {
    pub gpg: Gpg,
    pub key: Option<String>,
    pub shell: &'a Shell,
}

impl Signer for GpgSigner<'_> {
    fn sign(&self, data: &Path) -> Result<Vec<u8>> {
        self.gpg
            .detach_sign_binary(data, self.key.as_deref(), self.shell)
    }
}
