//! A block: up to [`MAX_BLOCK_POINTS`] points of one series and at most [`MAX_BLOCK_BYTES`] of
//! body, with a header that lets queries skip the block or answer from it without decoding
//! (count, time bounds, value summary). Writers cut blocks with [`split`], which keeps both
//! limits for any points the engine accepts; the decoder refuses anything past them, so a
//! damaged length can neither make it allocate wildly nor reject what a writer wrote.
//!
//! ```text
//! count u32 | kind u8 | value codec u8 | flags u8 | reserved u8
//! min_ts i64 | max_ts i64 | min f64 | max f64 | sum f64 | first f64 | last f64
//! ts_len u32 | raw_len u32 | body_len u32 | crc32c u32 | body (body_len bytes)
//! ```
//! The CRC covers the header before it and the stored body. The body is the timestamp column (`ts_len` bytes) followed by the value column; with the
//! LZ4 flag it is LZ4-compressed as a whole (`raw_len` bytes once decompressed). Numeric value
//! summaries ignore NaN; event blocks keep zeros there.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::bits::{put_varint, DecodeResult};
use super::{timestamps, values};
use crate::cursor::{Cursor, Put};

/// An event's stored bytes (shared, cheap to clone).
pub type Payload = std::sync::Arc<[u8]>;

pub const MAX_BLOCK_POINTS: usize = 8192;
/// The largest body (before LZ4) a block may have.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;
/// Event payloads are packed into a block until it holds this many bytes (a larger event
/// gets a block of its own).
pub const TARGET_BLOCK_BYTES: usize = 1 << 20;
/// The largest event payload the engine accepts (it must fit one WAL record too).
pub const MAX_EVENT_BYTES: usize = (4 << 20) - 64;
/// Worst case of a point's timestamp (two varints) and value bookkeeping in a body.
const POINT_OVERHEAD: usize = 32;
// Any block `split` cuts fits the decoder's limit: a full block of numbers, a block of events
// up to the target size, or one largest event alone, each with its timestamps and lengths.
const MAX_BOOKKEEPING: usize = MAX_BLOCK_POINTS * POINT_OVERHEAD;
const _: () = assert!(TARGET_BLOCK_BYTES + MAX_BOOKKEEPING <= MAX_BLOCK_BYTES);
const _: () = assert!(MAX_EVENT_BYTES + MAX_BOOKKEEPING <= MAX_BLOCK_BYTES);
pub const HEADER_LEN: usize = 80;
/// Event payloads: varint lengths then the bytes, always LZ4-compressed.
pub const EVENTS: u8 = 3;
const FLAG_LZ4: u8 = 1;
const KIND_NUMERIC: u8 = 1;
const KIND_EVENT: u8 = 2;
/// LZ4 expands at most this much (a run-length of 255 per length byte).
const LZ4_MAX_RATIO: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: f64,
    pub last: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockHeader {
    pub count: u32,
    pub numeric: bool,
    pub value_codec: u8,
    pub lz4: bool,
    pub min_ts: i64,
    pub max_ts: i64,
    pub summary: Summary,
    ts_len: usize,
    raw_len: usize,
    body_len: usize,
    crc: u32,
}

impl BlockHeader {
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.body_len
    }
}

/// Decoded points of one block.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockPoints {
    Numeric(Vec<i64>, Vec<f64>),
    Event(Vec<i64>, Vec<Payload>),
}

impl BlockPoints {
    pub fn timestamps(&self) -> &[i64] {
        match self {
            BlockPoints::Numeric(ts, _) | BlockPoints::Event(ts, _) => ts,
        }
    }

    /// Approximate memory held, for the block cache's budget.
    pub fn weight(&self) -> usize {
        match self {
            BlockPoints::Numeric(ts, _) => ts.len() * 16,
            BlockPoints::Event(ts, p) => {
                ts.len() * 8 + p.iter().map(|x| x.len() + 24).sum::<usize>()
            }
        }
    }
}

/// The summary of event blocks.
const ZERO: Summary = Summary {
    min: 0.0,
    max: 0.0,
    sum: 0.0,
    first: 0.0,
    last: 0.0,
};

fn summarize(values: &[f64]) -> Summary {
    let finite = values.iter().copied().filter(|v| !v.is_nan());
    Summary {
        min: finite.clone().fold(f64::INFINITY, f64::min),
        max: finite.clone().fold(f64::NEG_INFINITY, f64::max),
        sum: finite.sum(),
        first: values.first().copied().unwrap_or(0.0),
        last: values.last().copied().unwrap_or(0.0),
    }
}

/// Cuts `len` points into blocks: at most [`MAX_BLOCK_POINTS`] each, and (by `bytes(i)`, the
/// stored size of point i's value) at most [`TARGET_BLOCK_BYTES`] each unless one point alone
/// is larger.
pub fn split(len: usize, bytes: impl Fn(usize) -> usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for i in 0..len {
        let b = bytes(i);
        let full = i - start == MAX_BLOCK_POINTS || (i > start && size + b > TARGET_BLOCK_BYTES);
        if full {
            out.push(start..i);
            (start, size) = (i, 0);
        }
        size += b;
    }
    if start < len {
        out.push(start..len);
    }
    out
}

/// Encodes sorted numeric points; `lz4` additionally compresses the body.
pub fn encode_numeric(ts: &[i64], vs: &[f64], lz4: bool, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(ts.len() * 2);
    timestamps::encode(ts, &mut body);
    let ts_len = body.len();
    let codec = values::encode(vs, &mut body);
    finish(
        out,
        ts,
        KIND_NUMERIC,
        codec,
        summarize(vs),
        ts_len,
        body,
        lz4,
    );
}

/// Encodes sorted events; payloads are always LZ4-compressed.
pub fn encode_events(ts: &[i64], payloads: &[Payload], out: &mut Vec<u8>) {
    let mut body = Vec::new();
    timestamps::encode(ts, &mut body);
    let ts_len = body.len();
    for p in payloads {
        put_varint(&mut body, p.len() as u64);
    }
    for p in payloads {
        body.extend_from_slice(p);
    }
    finish(out, ts, KIND_EVENT, EVENTS, ZERO, ts_len, body, true);
}

#[allow(clippy::too_many_arguments)]
fn finish(
    out: &mut Vec<u8>,
    ts: &[i64],
    kind: u8,
    codec: u8,
    s: Summary,
    ts_len: usize,
    raw: Vec<u8>,
    lz4: bool,
) {
    let raw_len = raw.len();
    let body = if lz4 {
        lz4_flex::block::compress(&raw)
    } else {
        raw
    };
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.put_len32(ts.len());
    header.extend_from_slice(&[kind, codec, if lz4 { FLAG_LZ4 } else { 0 }, 0]);
    header.put_i64(ts.first().copied().unwrap_or(0));
    header.put_i64(ts.last().copied().unwrap_or(0));
    for v in [s.min, s.max, s.sum, s.first, s.last] {
        header.put_f64(v);
    }
    for n in [ts_len, raw_len, body.len()] {
        header.put_len32(n);
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header), &body);
    header.put_u32(crc);
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
}

/// Reads and checks a block header at the start of `data`.
pub fn read_header(data: &[u8]) -> DecodeResult<BlockHeader> {
    let mut c = Cursor::new(data);
    let short = |_| String::from("block header runs past the end");
    let count = c.u32().map_err(short)?;
    let numeric = match c.u8().map_err(short)? {
        KIND_NUMERIC => true,
        KIND_EVENT => false,
        k => return Err(format!("unknown block kind {k}")),
    };
    let value_codec = c.u8().map_err(short)?;
    let lz4 = c.u8().map_err(short)? & FLAG_LZ4 != 0;
    c.u8().map_err(short)?;
    let (min_ts, max_ts) = (c.i64().map_err(short)?, c.i64().map_err(short)?);
    let mut f = || c.f64().map_err(short);
    let summary = Summary {
        min: f()?,
        max: f()?,
        sum: f()?,
        first: f()?,
        last: f()?,
    };
    let header = BlockHeader {
        count,
        numeric,
        value_codec,
        lz4,
        min_ts,
        max_ts,
        summary,
        ts_len: c.len32().map_err(short)?,
        raw_len: c.len32().map_err(short)?,
        body_len: c.len32().map_err(short)?,
        crc: c.u32().map_err(short)?,
    };
    let (raw, body) = (header.raw_len, header.body_len);
    let expandable = if header.lz4 {
        body.saturating_mul(LZ4_MAX_RATIO).saturating_add(64)
    } else {
        body
    };
    if header.count as usize > MAX_BLOCK_POINTS || raw > MAX_BLOCK_BYTES || raw > expandable {
        return Err(format!(
            "block claims {} points / {raw} bytes from {body} stored (at most \
             {MAX_BLOCK_POINTS} points / {MAX_BLOCK_BYTES} bytes)",
            header.count
        ));
    }
    Ok(header)
}

/// The header of the block at the start of `data`, and its stored body, once the CRC (which
/// covers both) holds: enough to answer from the header's summary without decoding.
pub fn checked(data: &[u8]) -> DecodeResult<(BlockHeader, &[u8])> {
    let header = read_header(data)?;
    let mut c = Cursor::new(data);
    let covered = c.bytes(HEADER_LEN - 4)?;
    c.u32()?;
    let body = c
        .bytes(header.body_len)
        .map_err(|_| "block body runs past the end")?;
    if crc32c::crc32c_append(crc32c::crc32c(covered), body) != header.crc {
        return Err("block checksum mismatch".into());
    }
    Ok((header, body))
}

/// Decodes the block at the start of `data`, checking its CRC and every length.
pub fn decode(data: &[u8]) -> DecodeResult<(BlockHeader, BlockPoints)> {
    let (header, body) = checked(data)?;
    let raw_owned;
    let raw: &[u8] = if header.lz4 {
        raw_owned =
            lz4_flex::block::decompress(body, header.raw_len).map_err(|e| format!("lz4: {e}"))?;
        &raw_owned
    } else {
        body
    };
    if raw.len() != header.raw_len || header.ts_len > raw.len() {
        return Err("block lengths disagree".into());
    }
    let (ts_bytes, value_bytes) = raw.split_at(header.ts_len);
    let count = header.count as usize;
    let mut ts = Vec::new();
    timestamps::decode(ts_bytes, count, &mut ts)?;
    if ts.first().is_some_and(|&t| t != header.min_ts)
        || ts.last().is_some_and(|&t| t != header.max_ts)
    {
        return Err("block time bounds disagree with its timestamps".into());
    }
    let points = if header.numeric {
        let mut vs = Vec::new();
        values::decode(header.value_codec, value_bytes, count, &mut vs)?;
        BlockPoints::Numeric(ts, vs)
    } else {
        BlockPoints::Event(ts, decode_payloads(value_bytes, count)?)
    };
    Ok((header, points))
}

fn decode_payloads(data: &[u8], count: usize) -> DecodeResult<Vec<Payload>> {
    let mut r = Cursor::new(data);
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        lens.push(usize::try_from(r.varint()?).map_err(|e| e.to_string())?);
    }
    let mut out = Vec::with_capacity(count);
    for len in lens {
        if len > MAX_EVENT_BYTES {
            return Err(format!(
                "an event of {len} bytes (at most {MAX_EVENT_BYTES})"
            ));
        }
        out.push(Payload::from(r.bytes(len)?));
    }
    if !r.is_empty() {
        return Err("trailing bytes after event payloads".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_blocks_round_trip_with_and_without_lz4() {
        let ts: Vec<i64> = (0..1000).map(|i| i * 10).collect();
        let vs: Vec<f64> = (0..1000).map(|i| (i % 17) as f64 / 4.0).collect();
        for lz4 in [false, true] {
            let mut bytes = Vec::new();
            encode_numeric(&ts, &vs, lz4, &mut bytes);
            let (h, points) = decode(&bytes).unwrap();
            assert_eq!(h.total_len(), bytes.len());
            assert_eq!((h.count, h.min_ts, h.max_ts), (1000, 0, 9990));
            assert_eq!(h.summary.max, 4.0);
            assert_eq!(points, BlockPoints::Numeric(ts.clone(), vs.clone()));
        }
    }

    #[test]
    fn event_blocks_round_trip() {
        let payloads: Vec<Payload> = [&b"{\"a\":1}"[..], b"", b"[1,2,3]"]
            .map(Payload::from)
            .to_vec();
        let mut bytes = Vec::new();
        encode_events(&[1, 2, 3], &payloads, &mut bytes);
        let (_, points) = decode(&bytes).unwrap();
        assert_eq!(points, BlockPoints::Event(vec![1, 2, 3], payloads));
    }

    #[test]
    fn split_keeps_both_limits() {
        let ranges = split(20_000, |_| 8);
        assert_eq!(ranges, vec![0..8192, 8192..16384, 16384..20_000]);
        let sizes = [10, TARGET_BLOCK_BYTES, 5, 5, MAX_EVENT_BYTES, 1];
        assert_eq!(
            split(sizes.len(), |i| sizes[i]),
            vec![0..1, 1..2, 2..4, 4..5, 5..6]
        );
        assert!(split(0, |_| 1).is_empty());
    }

    #[test]
    fn the_largest_event_round_trips_and_one_byte_more_is_refused() {
        let big = Payload::from(vec![b'x'; MAX_EVENT_BYTES]);
        let mut bytes = Vec::new();
        encode_events(&[1], std::slice::from_ref(&big), &mut bytes);
        assert_eq!(
            decode(&bytes).unwrap().1,
            BlockPoints::Event(vec![1], vec![big])
        );
        // A block holding one byte more is refused by the decoder (it was never written).
        let mut raw = Vec::new();
        super::timestamps::encode(&[1], &mut raw);
        let ts_len = raw.len();
        put_varint(&mut raw, MAX_EVENT_BYTES as u64 + 1);
        raw.resize(raw.len() + MAX_EVENT_BYTES + 1, b'x');
        let mut too_big = Vec::new();
        finish(
            &mut too_big,
            &[1],
            KIND_EVENT,
            EVENTS,
            ZERO,
            ts_len,
            raw,
            true,
        );
        assert!(decode(&too_big).unwrap_err().contains("at most"));
    }

    #[test]
    fn a_length_past_the_limits_is_refused_before_allocating() {
        let mut bytes = Vec::new();
        encode_numeric(&[1, 2], &[1.0, 2.0], false, &mut bytes);
        // raw_len larger than the stored body can be (uncompressed), or than LZ4 can expand.
        bytes[68..72].copy_from_slice(&(MAX_BLOCK_BYTES as u32).to_le_bytes());
        assert!(read_header(&bytes).is_err());
        bytes[6] = FLAG_LZ4;
        assert!(read_header(&bytes).is_err());
        bytes[0..4].copy_from_slice(&(MAX_BLOCK_POINTS as u32 + 1).to_le_bytes());
        assert!(read_header(&bytes).is_err());
    }

    #[test]
    fn any_damage_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode_numeric(&[1, 2, 3], &[1.5, 2.5, 3.5], true, &mut bytes);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x21;
            assert!(decode(&bad).is_err(), "flipped byte {i}");
        }
    }
}
