//! A block: up to [`MAX_BLOCK_POINTS`] points of one series and at most [`MAX_BLOCK_BYTES`] of
//! body. The body holds only the encoded columns; what a reader needs to find the block, check
//! it, skip it or answer an aggregate from it without decoding — its count, time bounds,
//! lengths, CRC and, for blocks large enough to be worth it, a value summary — is its
//! [`BlockMeta`], which the index keeps (see `partition::index`). A ten-point series thus costs
//! a few bytes of metadata, not a fixed header.
//!
//! Body: the timestamp column (`ts_len` bytes, the first time relative to `min_ts`), then the
//! value column; with LZ4 both are compressed as a whole (`raw_len` bytes once decompressed).
//! Writers cut blocks with [`split`], which keeps both limits for any points the engine
//! accepts; the decoder refuses anything past them, so a damaged length can neither make it
//! allocate wildly nor reject what a writer wrote.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::bits::{put_varint, DecodeResult};
use super::{timestamps, values};
use crate::cursor::{len32, Cursor};

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
/// Numeric blocks of at least this many points carry a value summary: smaller ones decode in
/// less time than the summary would cost in bytes per point.
pub const SUMMARY_MIN_POINTS: usize = 128;
/// Worst case of a point's timestamp (two varints) and value bookkeeping in a body.
const POINT_OVERHEAD: usize = 32;
// Any block `split` cuts fits the decoder's limit: a full block of numbers, a block of events
// up to the target size, or one largest event alone, each with its timestamps and lengths.
const MAX_BOOKKEEPING: usize = MAX_BLOCK_POINTS * POINT_OVERHEAD;
const _: () = assert!(TARGET_BLOCK_BYTES + MAX_BOOKKEEPING <= MAX_BLOCK_BYTES);
const _: () = assert!(MAX_EVENT_BYTES + MAX_BOOKKEEPING <= MAX_BLOCK_BYTES);
/// The value codec of event blocks: varint lengths then the bytes, always LZ4-compressed.
pub const EVENTS: u8 = 3;
/// LZ4 expands at most this much (a run-length of 255 per length byte).
const LZ4_MAX_RATIO: usize = 255;

/// The values of a numeric block, NaN left out: answers count, sum, min, max, avg, first and
/// last over the whole block without decoding it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Values that are not NaN.
    pub valid: u32,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: f64,
    pub last: f64,
}

/// Everything about a block but where it lies (the index adds series and offset).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockMeta {
    pub count: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    /// Stored body bytes.
    pub len: u32,
    /// CRC of the stored body.
    pub crc: u32,
    pub numeric: bool,
    pub lz4: bool,
    pub value_codec: u8,
    /// Whether any value is NaN (then the last value is read from the body).
    pub has_nan: bool,
    /// Bytes of the timestamp column, and of the body once decompressed.
    pub ts_len: u32,
    pub raw_len: u32,
    pub summary: Option<Summary>,
}

impl BlockMeta {
    /// The block's last value, if known without decoding.
    pub fn last(&self) -> Option<f64> {
        self.summary.filter(|_| !self.has_nan).map(|s| s.last)
    }

    /// Checks what a decoder relies on before touching the body: the limits, and lengths that
    /// agree with one another.
    pub fn check(&self) -> DecodeResult<()> {
        let (raw, stored) = (self.raw_len as usize, self.len as usize);
        let expandable = if self.lz4 {
            stored.saturating_mul(LZ4_MAX_RATIO).saturating_add(64)
        } else {
            stored
        };
        let count = self.count as usize;
        if count == 0 || count > MAX_BLOCK_POINTS || raw > MAX_BLOCK_BYTES || raw > expandable {
            return Err(format!(
                "block claims {count} points / {raw} bytes from {stored} stored (at most \
                 {MAX_BLOCK_POINTS} points / {MAX_BLOCK_BYTES} bytes)"
            ));
        }
        if (!self.lz4 && raw != stored) || self.ts_len > self.raw_len || self.min_ts > self.max_ts {
            return Err("block lengths or bounds disagree".into());
        }
        if (count == 1) != (self.min_ts == self.max_ts) {
            return Err("block bounds disagree with its count".into());
        }
        if self.summary.is_some_and(|s| s.valid > self.count) {
            return Err("block summary counts more values than points".into());
        }
        Ok(())
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

/// The summary of `values` (NaN left out).
pub fn summarize(values: &[f64]) -> Summary {
    let mut valid = values.iter().copied().filter(|v| !v.is_nan());
    let first = valid.clone().next().unwrap_or(f64::NAN);
    let (mut n, mut min, mut max, mut sum, mut last) =
        (0u32, f64::INFINITY, f64::NEG_INFINITY, 0.0, f64::NAN);
    for v in valid.by_ref() {
        n += 1;
        min = min.min(v);
        max = max.max(v);
        sum += v;
        last = v;
    }
    Summary {
        valid: n,
        min,
        max,
        sum,
        first,
        last,
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

/// Appends the body of a block of sorted numeric points (`lz4` compresses it); returns its
/// metadata.
pub fn encode_numeric(ts: &[i64], vs: &[f64], lz4: bool, out: &mut Vec<u8>) -> BlockMeta {
    let base = ts.first().copied().unwrap_or(0);
    let mut raw = Vec::with_capacity(ts.len() * 2);
    timestamps::encode(ts, base, &mut raw);
    let ts_len = raw.len();
    let codec = values::encode(vs, &mut raw);
    let summary = (ts.len() >= SUMMARY_MIN_POINTS).then(|| summarize(vs));
    let has_nan = vs.iter().any(|v| v.is_nan());
    finish(out, ts, true, codec, has_nan, summary, ts_len, raw, lz4)
}

/// Appends the body of a block of sorted events (always LZ4-compressed); returns its metadata.
pub fn encode_events(ts: &[i64], payloads: &[Payload], out: &mut Vec<u8>) -> BlockMeta {
    let base = ts.first().copied().unwrap_or(0);
    let mut raw = Vec::new();
    timestamps::encode(ts, base, &mut raw);
    let ts_len = raw.len();
    for p in payloads {
        put_varint(&mut raw, p.len() as u64);
    }
    for p in payloads {
        raw.extend_from_slice(p);
    }
    finish(out, ts, false, EVENTS, false, None, ts_len, raw, true)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    out: &mut Vec<u8>,
    ts: &[i64],
    numeric: bool,
    value_codec: u8,
    has_nan: bool,
    summary: Option<Summary>,
    ts_len: usize,
    raw: Vec<u8>,
    lz4: bool,
) -> BlockMeta {
    let raw_len = raw.len();
    let body = if lz4 {
        lz4_flex::block::compress(&raw)
    } else {
        raw
    };
    out.extend_from_slice(&body);
    BlockMeta {
        count: len32(ts.len()),
        min_ts: ts.first().copied().unwrap_or(0),
        max_ts: ts.last().copied().unwrap_or(0),
        len: len32(body.len()),
        crc: crc32c::crc32c(&body),
        numeric,
        lz4,
        value_codec,
        has_nan,
        ts_len: len32(ts_len),
        raw_len: len32(raw_len),
        summary,
    }
}

/// Decodes a block body, checking it against its metadata: CRC, every length, the time bounds
/// and, for numbers, the summary's count.
pub fn decode(meta: &BlockMeta, body: &[u8]) -> DecodeResult<BlockPoints> {
    meta.check()?;
    if body.len() != meta.len as usize || crc32c::crc32c(body) != meta.crc {
        return Err("block checksum mismatch".into());
    }
    let raw_owned;
    let raw: &[u8] = if meta.lz4 {
        raw_owned = lz4_flex::block::decompress(body, meta.raw_len as usize)
            .map_err(|e| format!("lz4: {e}"))?;
        &raw_owned
    } else {
        body
    };
    if raw.len() != meta.raw_len as usize {
        return Err("block lengths disagree".into());
    }
    let (ts_bytes, value_bytes) = raw.split_at(meta.ts_len as usize);
    let count = meta.count as usize;
    let mut ts = Vec::new();
    timestamps::decode(ts_bytes, count, meta.min_ts, &mut ts)?;
    if ts.last() != Some(&meta.max_ts) {
        return Err("block time bounds disagree with its timestamps".into());
    }
    if !meta.numeric {
        return Ok(BlockPoints::Event(ts, decode_payloads(value_bytes, count)?));
    }
    let mut vs = Vec::new();
    values::decode(meta.value_codec, value_bytes, count, &mut vs)?;
    let valid = vs.iter().filter(|v| !v.is_nan()).count();
    if meta.summary.is_some_and(|s| s.valid as usize != valid) || meta.has_nan != (valid < count) {
        return Err("block summary disagrees with its values".into());
    }
    Ok(BlockPoints::Numeric(ts, vs))
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

    fn encoded(ts: &[i64], vs: &[f64], lz4: bool) -> (BlockMeta, Vec<u8>) {
        let mut body = Vec::new();
        let meta = encode_numeric(ts, vs, lz4, &mut body);
        (meta, body)
    }

    #[test]
    fn numeric_blocks_round_trip_with_and_without_lz4() {
        let ts: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + i * 10).collect();
        let vs: Vec<f64> = (0..1000).map(|i| (i % 17) as f64 / 4.0).collect();
        for lz4 in [false, true] {
            let (meta, body) = encoded(&ts, &vs, lz4);
            assert_eq!((meta.count, meta.min_ts), (1000, 1_700_000_000_000));
            let s = meta.summary.unwrap();
            assert_eq!((s.valid, s.max, s.first, s.last), (1000, 4.0, 0.0, vs[999]));
            assert_eq!(
                decode(&meta, &body).unwrap(),
                BlockPoints::Numeric(ts.clone(), vs.clone())
            );
        }
    }

    #[test]
    fn a_small_block_costs_a_few_bytes_and_no_summary() {
        let ts: Vec<i64> = (0..10).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        let vs: Vec<f64> = (0..10).map(|i| 20.0 + f64::from(i) / 4.0).collect();
        let (meta, body) = encoded(&ts, &vs, false);
        assert!(meta.summary.is_none());
        assert!(body.len() <= 24, "{} bytes", body.len());
    }

    #[test]
    fn summaries_leave_nan_out_and_say_so() {
        let ts: Vec<i64> = (0..200).collect();
        let mut vs: Vec<f64> = (0..200).map(f64::from).collect();
        vs[0] = f64::NAN;
        vs[199] = f64::NAN;
        let (meta, body) = encoded(&ts, &vs, false);
        let s = meta.summary.unwrap();
        assert!(meta.has_nan);
        assert_eq!(
            (s.valid, s.min, s.max, s.first, s.last),
            (198, 1.0, 198.0, 1.0, 198.0)
        );
        assert_eq!(meta.last(), None, "the last value is NaN: read it");
        assert!(decode(&meta, &body).is_ok());
    }

    #[test]
    fn event_blocks_round_trip() {
        let payloads: Vec<Payload> = [&b"{\"a\":1}"[..], b"", b"[1,2,3]"]
            .map(Payload::from)
            .to_vec();
        let mut body = Vec::new();
        let meta = encode_events(&[1, 2, 3], &payloads, &mut body);
        assert_eq!(
            decode(&meta, &body).unwrap(),
            BlockPoints::Event(vec![1, 2, 3], payloads)
        );
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
        let mut body = Vec::new();
        let meta = encode_events(&[1], std::slice::from_ref(&big), &mut body);
        assert_eq!(
            decode(&meta, &body).unwrap(),
            BlockPoints::Event(vec![1], vec![big])
        );
        // A block holding one byte more is refused by the decoder (it was never written).
        let mut raw = Vec::new();
        super::timestamps::encode(&[1], 1, &mut raw);
        let ts_len = raw.len();
        put_varint(&mut raw, MAX_EVENT_BYTES as u64 + 1);
        raw.resize(raw.len() + MAX_EVENT_BYTES + 1, b'x');
        let mut body = Vec::new();
        let meta = finish(
            &mut body,
            &[1],
            false,
            EVENTS,
            false,
            None,
            ts_len,
            raw,
            true,
        );
        assert!(decode(&meta, &body).unwrap_err().contains("at most"));
    }

    #[test]
    fn lengths_past_the_limits_are_refused_before_allocating() {
        let (meta, body) = encoded(&[1, 2], &[1.0, 2.0], false);
        let huge = BlockMeta {
            raw_len: MAX_BLOCK_BYTES as u32,
            ..meta
        };
        assert!(decode(&huge, &body).is_err());
        let expanding = BlockMeta {
            lz4: true,
            raw_len: MAX_BLOCK_BYTES as u32,
            ..meta
        };
        assert!(decode(&expanding, &body).is_err());
        let many = BlockMeta {
            count: MAX_BLOCK_POINTS as u32 + 1,
            ..meta
        };
        assert!(decode(&many, &body).is_err());
    }

    #[test]
    fn any_damage_is_an_error_not_a_panic() {
        let (meta, body) = encoded(&[1, 2, 3], &[1.5, 2.5, 3.5], true);
        for cut in 0..body.len() {
            assert!(decode(&meta, &body[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x21;
            assert!(decode(&meta, &bad).is_err(), "flipped byte {i}");
        }
        // Metadata that lies about a sound body is caught as well.
        for lie in [
            BlockMeta { count: 2, ..meta },
            BlockMeta { max_ts: 4, ..meta },
            BlockMeta { min_ts: 0, ..meta },
            BlockMeta {
                has_nan: true,
                ..meta
            },
            BlockMeta {
                ts_len: meta.raw_len + 1,
                ..meta
            },
        ] {
            assert!(decode(&lie, &body).is_err(), "{lie:?}");
        }
    }
}
