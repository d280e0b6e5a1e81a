//! The rpm header structure (used twice in a package: the signature header and the header):
//! an 8-byte magic and version, the index (16 bytes per tag: tag, type, offset, count), then the
//! data store, all big-endian.
//!
//! Both headers rpm 4.18 writes are one *immutable region*: the first index entry
//! (`HEADER_SIGNATURES` = 62 or `HEADER_IMMUTABLE` = 63) points at a 16-byte trailer at the end
//! of the store that repeats the region's tag with the negated size of the index. rpm refuses a
//! header without it ("region tag" errors), so every header this writer makes is one region.
//! Entries are sorted by tag (rpm looks tags up by binary search) and their data is aligned to
//! its type's size in the store, as rpm's own writer does.

use anyhow::{bail, Result};

/// The magic that opens a header: `8e ad e8`, version 1, 4 reserved bytes.
const MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];

/// The region tag of the signature header.
pub const HEADER_SIGNATURES: u32 = 62;
/// The region tag of the header.
pub const HEADER_IMMUTABLE: u32 = 63;

/// A tag's value, one variant per rpm data type used here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int16(Vec<u16>),
    Int32(Vec<u32>),
    Int64(Vec<u64>),
    Str(String),
    Bin(Vec<u8>),
    StrArray(Vec<String>),
    I18n(Vec<String>),
}

impl Value {
    fn type_code(&self) -> u32 {
        match self {
            Value::Int16(_) => 3,
            Value::Int32(_) => 4,
            Value::Int64(_) => 5,
            Value::Str(_) => 6,
            Value::Bin(_) => 7,
            Value::StrArray(_) => 8,
            Value::I18n(_) => 9,
        }
    }

    fn alignment(&self) -> usize {
        match self {
            Value::Int16(_) => 2,
            Value::Int32(_) => 4,
            Value::Int64(_) => 8,
            _ => 1,
        }
    }

    fn count(&self) -> usize {
        match self {
            Value::Int16(v) => v.len(),
            Value::Int32(v) => v.len(),
            Value::Int64(v) => v.len(),
            Value::Str(_) => 1,
            Value::Bin(b) => b.len(),
            Value::StrArray(v) | Value::I18n(v) => v.len(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int16(v) => v.iter().for_each(|x| out.extend(x.to_be_bytes())),
            Value::Int32(v) => v.iter().for_each(|x| out.extend(x.to_be_bytes())),
            Value::Int64(v) => v.iter().for_each(|x| out.extend(x.to_be_bytes())),
            Value::Str(s) => {
                out.extend(s.as_bytes());
                out.push(0);
            }
            Value::Bin(b) => out.extend(b),
            Value::StrArray(v) | Value::I18n(v) => {
                for s in v {
                    out.extend(s.as_bytes());
                    out.push(0);
                }
            }
        }
    }
}

/// A header being assembled: tags and values, serialised by [`Header::to_bytes`].
#[derive(Clone, Debug, Default)]
pub struct Header {
    entries: Vec<(u32, Value)>,
}

impl Header {
    /// Sets `tag` (a tag set twice keeps the last value).
    pub fn put(&mut self, tag: u32, value: Value) {
        self.entries.retain(|(t, _)| *t != tag);
        self.entries.push((tag, value));
    }

    pub fn put_str(&mut self, tag: u32, s: &str) {
        self.put(tag, Value::Str(s.to_string()));
    }

    pub fn put_u32(&mut self, tag: u32, v: u32) {
        self.put(tag, Value::Int32(vec![v]));
    }

    /// The header's bytes, one immutable region tagged `region`. Fails only when a string holds
    /// a NUL byte (which would cut it short for every reader) or an array is empty (rpm rejects
    /// an entry with no elements).
    pub fn to_bytes(&self, region: u32) -> Result<Vec<u8>> {
        let mut entries: Vec<&(u32, Value)> = self.entries.iter().collect();
        entries.sort_by_key(|(tag, _)| *tag);
        let index_len = entries.len() + 1;
        let mut index: Vec<[u32; 4]> = Vec::with_capacity(index_len);
        let mut store: Vec<u8> = Vec::new();
        for (tag, value) in entries {
            check_value(*tag, value)?;
            let align = value.alignment();
            while !store.len().is_multiple_of(align) {
                store.push(0);
            }
            let offset = store.len() as u32;
            value.encode(&mut store);
            index.push([*tag, value.type_code(), offset, value.count() as u32]);
        }
        // The region's trailer: its tag, BIN, the negated size of the index, 16.
        let trailer_offset = store.len() as u32;
        let negated = (-((index_len * 16) as i64)) as i32 as u32;
        for word in [region, 7, negated, 16] {
            store.extend(word.to_be_bytes());
        }
        index.insert(0, [region, 7, trailer_offset, 16]);

        let mut out = Vec::with_capacity(16 + index.len() * 16 + store.len());
        out.extend(MAGIC);
        out.extend((index.len() as u32).to_be_bytes());
        out.extend((store.len() as u32).to_be_bytes());
        for entry in &index {
            for word in entry {
                out.extend(word.to_be_bytes());
            }
        }
        out.extend(store);
        Ok(out)
    }
}

fn check_value(tag: u32, value: &Value) -> Result<()> {
    let has_nul = match value {
        Value::Str(s) => s.contains('\0'),
        Value::StrArray(v) | Value::I18n(v) => v.iter().any(|s| s.contains('\0')),
        _ => false,
    };
    if has_nul {
        bail!("rpm header tag {tag}: a text value holds a NUL character, which rpm cannot store");
    }
    if value.count() == 0 {
        bail!("rpm header tag {tag} has no values (internal error: empty tags are left out)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_region_first_sorted_tags_and_aligned_data() {
        let mut h = Header::default();
        h.put_str(1000, "abc");
        h.put(1030, Value::Int16(vec![0o100644]));
        h.put_u32(1009, 7);
        let b = h.to_bytes(HEADER_IMMUTABLE).unwrap();
        assert_eq!(&b[..8], &MAGIC);
        let word = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
        assert_eq!(word(8), 4, "three tags and the region");
        let store_len = word(12) as usize;
        assert_eq!(b.len(), 16 + 4 * 16 + store_len);
        // Index: 63 first, then 1000, 1009, 1030.
        let tags: Vec<u32> = (0..4).map(|i| word(16 + i * 16)).collect();
        assert_eq!(tags, vec![63, 1000, 1009, 1030]);
        // "abc\0" at 0, the int32 aligned to 4 (offset 4), the int16 at 8.
        assert_eq!(word(16 + 16 + 8), 0);
        assert_eq!(word(16 + 32 + 8), 4);
        assert_eq!(word(16 + 48 + 8), 8);
        // The trailer: region tag, BIN, -(4 * 16), 16, at the end of the store.
        let store = 16 + 64;
        let trailer = store + word(16 + 8) as usize;
        assert_eq!(trailer + 16, b.len());
        assert_eq!(word(trailer), 63);
        assert_eq!(word(trailer + 8) as i32, -64);
    }

    #[test]
    fn nul_in_a_string_is_refused() {
        let mut h = Header::default();
        h.put_str(1000, "a\0b");
        let e = h.to_bytes(HEADER_IMMUTABLE).unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
    }
}
