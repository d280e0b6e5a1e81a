//! `.xz` streams assembled from independently compressed blocks, so that an index update
//! recompresses only the blocks whose text changed.
//!
//! An `.xz` stream is a header, blocks, an index of the blocks' sizes and a footer (the format
//! is specified in "The .xz File Format" 1.1.0, tukaani.org). Each block is compressed on its
//! own (LZMA2 starts afresh), which is how `xz -T` compresses in parallel; a block can therefore
//! be lifted out of one stream and placed in another unchanged. [`compress_block`] compresses a
//! chunk of text as a one-block stream with liblzma and lifts its block out; [`blocks`] lifts every
//! block out of a previous index file; [`StreamWriter`] writes a new stream from blocks, writing
//! the index and footer itself.
//!
//! Why one stream and not concatenated streams: apt (2.6) decodes only the first stream of a
//! `.xz` file, so `Packages.xz` must be a single stream. Hand-written because no crate splices
//! xz blocks; liblzma does all the compressing and decoding, this module only moves the bytes
//! and writes the two small records (index, footer) the format defines, checked in the tests by
//! liblzma's own decoder.

use std::io::Write;

use anyhow::{bail, ensure, Context, Result};
use crc_fast::CrcAlgorithm;
use liblzma::stream::{Check, Filters, LzmaOptions, Stream};

const HEADER_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Stream flags: no reserved bits, check type 0x04 (CRC64), the one every block here carries.
const STREAM_FLAGS: [u8; 2] = [0x00, 0x04];
const CHECK_SIZE: usize = 8;

/// One compressed block: its bytes as they sit in a stream (header, data, padding, check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub bytes: Vec<u8>,
    /// The block's size without its padding, as the index records it.
    pub unpadded: u64,
    /// The size of the text it decompresses to.
    pub uncompressed: u64,
}

impl Block {
    /// The CRC64 of the block's text, as stored in the block.
    pub fn check(&self) -> u64 {
        let tail = &self.bytes[self.bytes.len() - CHECK_SIZE..];
        u64::from_le_bytes(tail.try_into().expect("eight bytes"))
    }

    /// Whether this block decompresses to `text`, as far as its CRC64 and size tell.
    pub fn holds(&self, text: &[u8]) -> bool {
        self.uncompressed == text.len() as u64
            && self.check() == crc_fast::checksum(CrcAlgorithm::Crc64Xz, text)
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, bytes) as u32
}

/// Compresses `text` (not empty) as one block at `level`, with a dictionary no larger than the
/// text needs (so a small block does not pay for a level's 8 MiB dictionary).
pub fn compress_block(text: &[u8], level: u32) -> Result<Block> {
    ensure!(!text.is_empty(), "an xz block holds at least one byte");
    let mut opts = LzmaOptions::new_preset(level).context("invalid xz level")?;
    let dict = (text.len() as u64)
        .next_power_of_two()
        .clamp(4096, 64 << 20) as u32;
    opts.dict_size(dict);
    let mut filters = Filters::new();
    filters.lzma2(&opts);
    let stream = Stream::new_stream_encoder(&filters, Check::Crc64)
        .context("failed to start the xz encoder")?;
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(text).context("failed to compress with xz")?;
    let stream = enc.finish().context("failed to compress with xz")?;
    let mut blocks = blocks(&stream)?;
    ensure!(blocks.len() == 1, "liblzma wrote {} blocks", blocks.len());
    Ok(blocks.remove(0))
}

/// Reads an xz multibyte integer at `*at`.
fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let Some(&b) = bytes.get(*at) else {
            bail!("truncated xz index");
        };
        *at += 1;
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("invalid xz index: an integer longer than nine bytes")
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn round4(n: u64) -> u64 {
    (n + 3) & !3
}

/// The blocks of a single-stream `.xz` file whose blocks carry CRC64 checks (what
/// [`StreamWriter`] writes). Anything else (another check, several streams, stream padding) is
/// an error: the caller then simply compresses everything afresh.
pub fn blocks(file: &[u8]) -> Result<Vec<Block>> {
    ensure!(file.len() >= 24, "too short for an xz stream");
    let (header, rest) = file.split_at(12);
    ensure!(header[..6] == HEADER_MAGIC, "not an xz stream");
    ensure!(
        header[6..8] == STREAM_FLAGS,
        "the xz stream does not use CRC64 checks"
    );
    ensure!(
        crc32(&header[6..8]).to_le_bytes() == header[8..12],
        "the xz stream header is damaged"
    );
    let (body, footer) = rest.split_at(rest.len() - 12);
    ensure!(
        footer[10..12] == FOOTER_MAGIC,
        "the xz stream has no footer"
    );
    ensure!(footer[8..10] == STREAM_FLAGS, "the xz stream flags differ");
    ensure!(
        crc32(&footer[4..10]).to_le_bytes() == footer[..4],
        "the xz stream footer is damaged"
    );
    let backward = u32::from_le_bytes(footer[4..8].try_into().expect("four bytes"));
    let index_size = (u64::from(backward) + 1) * 4;
    ensure!(index_size <= body.len() as u64, "the xz index is too large");
    let (data, index) = body.split_at(body.len() - index_size as usize);
    ensure!(index[0] == 0, "the xz index is missing");
    ensure!(
        crc32(&index[..index.len() - 4]).to_le_bytes() == index[index.len() - 4..],
        "the xz index is damaged"
    );
    let mut at = 1;
    let count = read_varint(index, &mut at)?;
    let mut out = Vec::new();
    let mut offset = 0u64;
    for _ in 0..count {
        let unpadded = read_varint(index, &mut at)?;
        let uncompressed = read_varint(index, &mut at)?;
        let size = round4(unpadded);
        ensure!(
            unpadded >= CHECK_SIZE as u64 + 5 && offset + size <= data.len() as u64,
            "the xz index does not match its blocks"
        );
        out.push(Block {
            bytes: data[offset as usize..(offset + size) as usize].to_vec(),
            unpadded,
            uncompressed,
        });
        offset += size;
    }
    ensure!(
        offset == data.len() as u64,
        "the xz index does not match its blocks"
    );
    Ok(out)
}

/// Writes one `.xz` stream, block by block; [`StreamWriter::finish`] writes the index and footer.
pub struct StreamWriter<W: Write> {
    out: W,
    records: Vec<(u64, u64)>,
}

impl<W: Write> StreamWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<StreamWriter<W>> {
        out.write_all(&HEADER_MAGIC)?;
        out.write_all(&STREAM_FLAGS)?;
        out.write_all(&crc32(&STREAM_FLAGS).to_le_bytes())?;
        Ok(StreamWriter {
            out,
            records: Vec::new(),
        })
    }

    pub fn block(&mut self, block: &Block) -> std::io::Result<()> {
        self.out.write_all(&block.bytes)?;
        self.records.push((block.unpadded, block.uncompressed));
        Ok(())
    }

    /// Writes the index and the footer; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        let mut index = vec![0u8];
        write_varint(&mut index, self.records.len() as u64);
        for (unpadded, uncompressed) in &self.records {
            write_varint(&mut index, *unpadded);
            write_varint(&mut index, *uncompressed);
        }
        while index.len() % 4 != 0 {
            index.push(0);
        }
        index.extend_from_slice(&crc32(&index).to_le_bytes());
        self.out.write_all(&index)?;
        let mut footer = Vec::with_capacity(12);
        let backward = (index.len() / 4 - 1) as u32;
        footer.extend_from_slice(&backward.to_le_bytes());
        footer.extend_from_slice(&STREAM_FLAGS);
        let crc = crc32(&footer);
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&footer)?;
        self.out.write_all(&FOOTER_MAGIC)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn stream(blocks: &[&Block]) -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new()).unwrap();
        for b in blocks {
            w.block(b).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn spliced_blocks_decode_as_one_stream() {
        let texts: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                format!("Package: p{i}\nVersion: 1.{i}\n\n")
                    .repeat(200 + i * 7)
                    .into_bytes()
            })
            .collect();
        let made: Vec<Block> = texts
            .iter()
            .map(|t| compress_block(t, 6).unwrap())
            .collect();
        for (b, t) in made.iter().zip(&texts) {
            assert!(b.holds(t));
            assert!(!b.holds(&t[1..]));
        }
        let file = stream(&[&made[0], &made[1], &made[2]]);
        assert_eq!(decode(&file), texts.concat());
        // Lifted out again: the same blocks; re-ordered and re-used, still one valid stream.
        assert_eq!(blocks(&file).unwrap(), made);
        let again = stream(&[&made[2], &made[0]]);
        assert_eq!(
            decode(&again),
            [texts[2].clone(), texts[0].clone()].concat()
        );
        // No blocks: the empty file, as xz writes it.
        assert_eq!(decode(&stream(&[])), b"");
        assert_eq!(stream(&[]), liblzma::encode_all(&b""[..], 6).unwrap());
    }

    #[test]
    fn foreign_or_damaged_streams_are_refused() {
        let text = b"Package: a\n".repeat(50);
        // Another tool's stream (CRC64 too, several blocks from the threaded encoder) is read.
        let other = liblzma::encode_all(&text[..], 6).unwrap();
        let b = blocks(&other).unwrap();
        assert_eq!(b.len(), 1);
        assert!(b[0].holds(&text));
        let mut bad = other.clone();
        let n = bad.len();
        bad[n - 20] ^= 1;
        assert!(blocks(&bad).is_err());
        assert!(blocks(b"hello world, not xz at all").is_err());
        let mut two = other.clone();
        two.extend_from_slice(&other);
        assert!(blocks(&two).is_err(), "concatenated streams");
    }
}
