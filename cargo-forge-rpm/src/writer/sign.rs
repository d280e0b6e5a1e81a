//! The signature header, and the OpenPGP signature of the header that may go into it.
//!
//! What rpmbuild 4.18 writes: `SHA1` and `SHA256` of the header (hex), `SIZE` and `MD5` of
//! header + payload, `PAYLOADSIZE` (the uncompressed archive; `LONGSIZE`/`LONGARCHIVESIZE`
//! past 4 GiB), and 4 KiB of `RESERVEDSPACE` so that a later `rpmsign --addsign` can sign in
//! place. A signature is header-only, as rpmsign 4.18 makes it (the header holds the payload's
//! digest, so signing the header covers both): a binary OpenPGP signature packet made by a
//! [`Signer`] (the user's gpg through [`GpgSigner`]), under the tag rpmsign uses for the key's
//! algorithm — `RSA` (268) for RSA and EdDSA keys, `DSA` (267) for DSA keys; rpm 4.18 verifies
//! no other algorithm.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use forge_core::exit::ResultExt;
use forge_core::gpg::Gpg;
use forge_core::Shell;

use super::header::{Header, Value, HEADER_SIGNATURES};
use super::Signer;

const SIG_SIZE: u32 = 1000;
const SIG_MD5: u32 = 1004;
const SIG_PAYLOADSIZE: u32 = 1007;
const SIG_RESERVEDSPACE: u32 = 1008;
const SIG_DSA: u32 = 267;
const SIG_RSA: u32 = 268;
const SIG_SHA1: u32 = 269;
const SIG_LONGSIZE: u32 = 270;
const SIG_LONGARCHIVESIZE: u32 = 271;
const SIG_SHA256: u32 = 273;

/// The room rpmbuild reserves for signatures added later.
const RESERVED_SPACE: usize = 4128;

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

/// What the signature header records.
pub struct Digests {
    pub header_sha1: String,
    pub header_sha256: String,
    /// Header + compressed payload.
    pub size: u64,
    /// MD5 of header + compressed payload.
    pub md5: [u8; 16],
    /// The uncompressed cpio archive.
    pub archive_size: u64,
}

/// The signature header's bytes, padded to 8 bytes; `signature` is `(tag, packet)`.
pub fn signature_header(d: &Digests, signature: Option<&(u32, Vec<u8>)>) -> Result<Vec<u8>> {
    let mut h = Header::default();
    h.put_str(SIG_SHA1, &d.header_sha1);
    h.put_str(SIG_SHA256, &d.header_sha256);
    match u32::try_from(d.size) {
        Ok(s) => h.put_u32(SIG_SIZE, s),
        Err(_) => h.put(SIG_LONGSIZE, Value::Int64(vec![d.size])),
    }
    h.put(SIG_MD5, Value::Bin(d.md5.to_vec()));
    match u32::try_from(d.archive_size) {
        Ok(s) => h.put_u32(SIG_PAYLOADSIZE, s),
        Err(_) => h.put(SIG_LONGARCHIVESIZE, Value::Int64(vec![d.archive_size])),
    }
    match signature {
        Some((tag, packet)) => {
            h.put(*tag, Value::Bin(packet.clone()));
            // What rpmsign leaves of the reserved room after adding the signature's entry.
            let used = packet.len() + 16;
            if used < RESERVED_SPACE {
                h.put(
                    SIG_RESERVEDSPACE,
                    Value::Bin(vec![0; RESERVED_SPACE - used]),
                );
            }
        }
        None => h.put(SIG_RESERVEDSPACE, Value::Bin(vec![0; RESERVED_SPACE])),
    }
    let mut bytes = h.to_bytes(HEADER_SIGNATURES)?;
    while !bytes.len().is_multiple_of(8) {
        bytes.push(0);
    }
    Ok(bytes)
}

/// Signs `header` (written to a temporary file in `dir` for the signer); returns the tag and
/// the signature packet.
pub fn sign_header(signer: &dyn Signer, header: &[u8], dir: &Path) -> Result<(u32, Vec<u8>)> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".rpm-header.")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    tmp.write_all(header)
        .and_then(|()| tmp.flush())
        .with_context(|| format!("failed to write `{}`", tmp.path().display()))?;
    let packet = signer.sign(tmp.path())?;
    let tag = signature_tag(&packet)?;
    Ok((tag, packet))
}

/// The signature tag for an OpenPGP signature packet: by its public-key algorithm, as rpmsign
/// chooses it.
pub fn signature_tag(packet: &[u8]) -> Result<u32> {
    if packet.starts_with(b"-----BEGIN") {
        bail!("the signer gave an ASCII-armored signature; an rpm header holds binary OpenPGP");
    }
    let body =
        packet_body(packet).context("the signer's output is not an OpenPGP signature packet")?;
    let algo = match body.first() {
        Some(4) | Some(5) => body.get(2),
        Some(3) => body.get(15),
        _ => None,
    };
    match algo {
        // RSA (encrypt or sign, sign-only) and EdDSA.
        Some(1) | Some(3) | Some(22) => Ok(SIG_RSA),
        Some(17) => Ok(SIG_DSA),
        Some(a) => Err(anyhow::anyhow!(
            "the signing key's algorithm (OpenPGP public-key algorithm {a}) is not one rpm verifies"
        ))
        .hint("rpm 4.18 verifies RSA, EdDSA (ed25519) and DSA signatures: sign with such a key"),
        None => bail!("the signer's output is not an OpenPGP signature packet"),
    }
}

/// The body of the first packet, which must be a signature packet (tag 2).
fn packet_body(p: &[u8]) -> Option<&[u8]> {
    let first = *p.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let (tag, len, start): (u8, usize, usize) = if first & 0x40 != 0 {
        let b1 = usize::from(*p.get(1)?);
        let (len, start) = match b1 {
            0..=191 => (b1, 2),
            192..=223 => (((b1 - 192) << 8) + usize::from(*p.get(2)?) + 192, 3),
            255 => (
                u32::from_be_bytes(p.get(2..6)?.try_into().ok()?) as usize,
                6,
            ),
            _ => return None,
        };
        (first & 0x3f, len, start)
    } else {
        let (len, start) = match first & 3 {
            0 => (usize::from(*p.get(1)?), 2),
            1 => (
                usize::from(u16::from_be_bytes(p.get(1..3)?.try_into().ok()?)),
                3,
            ),
            2 => (
                u32::from_be_bytes(p.get(1..5)?.try_into().ok()?) as usize,
                5,
            ),
            _ => (p.len().checked_sub(1)?, 1),
        };
        ((first >> 2) & 0x0f, len, start)
    };
    if tag != 2 {
        return None;
    }
    p.get(start..start.checked_add(len)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tag_follows_the_key_algorithm() {
        // New-format packet, v4: version, type, public-key algorithm, hash algorithm.
        assert_eq!(signature_tag(&[0xc2, 4, 4, 0, 1, 8]).unwrap(), SIG_RSA);
        assert_eq!(signature_tag(&[0xc2, 4, 4, 0, 22, 8]).unwrap(), SIG_RSA);
        // Old-format packet (tag 2, one length byte), DSA.
        assert_eq!(signature_tag(&[0x88, 4, 4, 0, 17, 8]).unwrap(), SIG_DSA);
        let e = signature_tag(&[0xc2, 4, 4, 0, 19, 8]).unwrap_err();
        assert!(format!("{e:#}").contains("algorithm 19"), "{e:#}");
        assert!(signature_tag(b"-----BEGIN PGP SIGNATURE-----").is_err());
        assert!(
            signature_tag(&[0xc6, 1, 0]).is_err(),
            "not a signature packet"
        );
        assert!(signature_tag(&[]).is_err());
    }

    #[test]
    fn signature_header_is_padded_and_large_sizes_use_long_tags() {
        let d = Digests {
            header_sha1: "a".repeat(40),
            header_sha256: "b".repeat(64),
            size: 5 << 30,
            md5: [0; 16],
            archive_size: 6 << 30,
        };
        let b = signature_header(&d, None).unwrap();
        assert_eq!(b.len() % 8, 0);
        let n = u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
        let tags: Vec<u32> = (0..n)
            .map(|i| u32::from_be_bytes(b[16 + i * 16..20 + i * 16].try_into().unwrap()))
            .collect();
        assert_eq!(tags, vec![62, 269, 270, 271, 273, 1004, 1008]);
    }
}
