//! The cpio "newc" (SVR4, `070701`) entry headers of the payload.
//!
//! Hand-written: the format is 110 bytes of hex fields, and the cpio crates on crates.io either
//! read only or take each file as one in-memory buffer, while the payload here is streamed. rpm
//! reads only the name, mode and size of an entry (ownership, times and digests come from the
//! header), so uid/gid are 0 and the names are `./`-prefixed absolute paths
//! (`rpmlib(PayloadFilesHavePrefix)`). A newc size field has 8 hex digits: a package with a file
//! of 4 GiB or more takes rpm's *stripped* entries instead (`07070X` and the file's index in the
//! header, sizes in the header's `LONGFILESIZES`, `rpmlib(LargeFiles)`), as rpmbuild writes it.

use std::io::Write;

/// The largest file a newc entry holds by rpm's rule (rpmbuild switches to large files at
/// `UINT32_MAX`).
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64 - 1;

/// What one entry header says.
pub struct EntryHeader<'a> {
    /// `./usr/bin/foo`.
    pub name: &'a str,
    pub ino: u32,
    /// The full `st_mode` (file type and permissions).
    pub mode: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub size: u32,
    /// A stripped entry (large-file packages): only the index, `ino - 1`.
    pub stripped: bool,
}

/// Writes an entry header and its name, padded to 4 bytes; the data (then [`pad`]) follows.
pub fn write_header(out: &mut impl Write, h: &EntryHeader<'_>) -> std::io::Result<u64> {
    if h.stripped {
        return write_stripped_header(out, h.ino.saturating_sub(1));
    }
    let namesize = h.name.len() + 1;
    let fields = [
        h.ino,
        h.mode,
        0,
        0,
        h.nlink,
        h.mtime,
        h.size,
        0,
        0,
        0,
        0,
        namesize as u32,
        0,
    ];
    let mut buf = Vec::with_capacity(110 + namesize + 3);
    buf.extend(b"070701");
    for f in fields {
        buf.extend(format!("{f:08x}").as_bytes());
    }
    buf.extend(h.name.as_bytes());
    buf.push(0);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
    out.write_all(&buf)?;
    Ok(buf.len() as u64)
}

/// Writes a stripped entry header (large-file packages): `07070X`, the entry's index in the
/// header's file list, padded to 4 bytes; the data (then [`pad`]) follows.
pub fn write_stripped_header(out: &mut impl Write, fx: u32) -> std::io::Result<u64> {
    let header = format!("07070X{fx:08x}\0\0");
    out.write_all(header.as_bytes())?;
    Ok(header.len() as u64)
}

/// The zero bytes that pad `len` bytes of data to a multiple of 4.
pub fn pad(out: &mut impl Write, len: u64) -> std::io::Result<u64> {
    let n = (4 - len % 4) % 4;
    out.write_all(&[0u8; 3][..n as usize])?;
    Ok(n)
}

/// Writes the `TRAILER!!!` entry that ends the archive.
pub fn write_trailer(out: &mut impl Write) -> std::io::Result<u64> {
    write_header(
        out,
        &EntryHeader {
            name: "TRAILER!!!",
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            size: 0,
            stripped: false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_newc_padded_to_four() {
        let mut out = Vec::new();
        let h = EntryHeader {
            name: "./a",
            ino: 1,
            mode: 0o100644,
            nlink: 1,
            mtime: 0x10,
            size: 5,
            stripped: false,
        };
        let n = write_header(&mut out, &h).unwrap();
        assert_eq!(n as usize, out.len());
        assert_eq!(out.len(), 116, "110 + 4 bytes of name, already aligned");
        assert!(out.starts_with(b"07070100000001000081a4"));
        assert_eq!(&out[110..114], b"./a\0");
        let mut stripped = Vec::new();
        assert_eq!(write_stripped_header(&mut stripped, 0x1f).unwrap(), 16);
        assert_eq!(&stripped, b"07070X0000001f\0\0");
        let mut data = Vec::new();
        assert_eq!(pad(&mut data, 5).unwrap(), 3);
        assert_eq!(pad(&mut data, 8).unwrap(), 0);
    }
}
