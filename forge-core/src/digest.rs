//! Content digests: SHA-256 for OCI blobs, checksums files and reproducibility checks.
//!
//! Hashing happens while bytes are written ([`HashingWriter`]) or read ([`HashingReader`]), so a
//! file is read once, not once for writing and again for its digest.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    read_chunks(path, |b| hasher.update(b))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Feeds the bytes of a file to `each`, 64 KiB at a time: one read of the file for any number of
/// digests (a .deb's MD5 and SHA-256 for an APT index), with memory that does not grow with it.
pub fn read_chunks(path: &Path, mut each: impl FnMut(&[u8])) -> Result<()> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        each(&buf[..n]);
    }
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits: the only form that may become part
/// of a path (a blob cache, an OCI layout). Digests from registries and files are checked with
/// this before any path is made of them.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A reader that hashes (SHA-256) and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The inner reader, the hex digest and the byte count.
    pub fn finish(self) -> (R, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// A writer that hashes (SHA-256) and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the hex digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, digest, len) = w.finish();
        assert_eq!((inner.len(), len), (3, 3));
        assert_eq!(digest, sha256_hex(b"abc"));
        let mut r = HashingReader::new(&b"abc"[..]);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert_eq!(r.finish().1, sha256_hex(b"abc"));
    }

    #[test]
    fn only_canonical_digests_may_name_files() {
        assert!(is_sha256_digest(&format!("sha256:{}", sha256_hex(b"x"))));
        for bad in [
            "sha256:/some/dir/x",
            "sha256:../../../../etc/passwd",
            &format!("sha256:{}", sha256_hex(b"x").to_uppercase()),
            &format!("sha512:{}", sha256_hex(b"x")),
            &format!("sha256:{}/", &sha256_hex(b"x")[..63]),
            "",
        ] {
            assert!(!is_sha256_digest(bad), "{bad}");
        }
    }
}
