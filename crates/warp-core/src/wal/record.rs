//! Record payloads: what each record type carries and how it is encoded and decoded.
//!
//! - `Series`: repeated `id u32 | kind u8 | key_len u16 | key (UTF-8)`
//! - `Points`: repeated `id u32 | ts i64 | value f64`
//! - `Batch`:  `id u32 | count u32 | ts i64 × count | value f64 × count`
//! - `Events`: repeated `id u32 | ts i64 | len u32 | payload`
//! - `Dropped`: repeated `id u32` (series the lifecycle dropped: no point inside retention)
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::frame::{FrameBuffer, RecordType, MAX_PAYLOAD};
use crate::codec::MAX_EVENT_BYTES;
use crate::cursor::{Cursor, Put};
use crate::series::{SeriesId, SeriesKind};

const POINT_BYTES: usize = 4 + 8 + 8;
const BATCH_HEADER: usize = 8;
const EVENT_HEADER: usize = 4 + 8 + 4;
// The largest event the engine accepts always fits one record.
const _: () = assert!(EVENT_HEADER + MAX_EVENT_BYTES <= MAX_PAYLOAD);

/// One logical write found in the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    Series {
        id: SeriesId,
        kind: SeriesKind,
        key: &'a str,
    },
    Point {
        id: SeriesId,
        ts: i64,
        value: f64,
    },
    Batch {
        id: SeriesId,
        timestamps: Vec<i64>,
        values: Vec<f64>,
    },
    Event {
        id: SeriesId,
        ts: i64,
        payload: &'a [u8],
    },
    Dropped {
        id: SeriesId,
    },
}

pub fn push_series(fb: &mut FrameBuffer, id: SeriesId, kind: SeriesKind, key: &str) {
    let buf = fb.reserve(RecordType::Series, 7 + key.len());
    buf.put_u32(id);
    buf.put_u8(kind as u8);
    buf.put_len16(key.len());
    buf.extend_from_slice(key.as_bytes());
}

pub fn push_point(fb: &mut FrameBuffer, id: SeriesId, ts: i64, value: f64) {
    let buf = fb.reserve(RecordType::Points, POINT_BYTES);
    buf.put_u32(id);
    buf.put_i64(ts);
    buf.put_f64(value);
}

/// Appends a batch, split into records of at most [`MAX_PAYLOAD`] bytes.
pub fn push_batch(fb: &mut FrameBuffer, id: SeriesId, timestamps: &[i64], values: &[f64]) {
    let per_record = (MAX_PAYLOAD - BATCH_HEADER) / 16;
    for (ts, vs) in timestamps.chunks(per_record).zip(values.chunks(per_record)) {
        fb.seal();
        let buf = fb.reserve(RecordType::Batch, BATCH_HEADER + ts.len() * 16);
        buf.put_u32(id);
        buf.put_len32(ts.len());
        put_words(buf, ts.iter().map(|t| t.to_le_bytes()));
        put_words(buf, vs.iter().map(|v| v.to_le_bytes()));
        fb.seal();
    }
}

/// Appends 8-byte words with one resize, so the copy loop vectorizes.
fn put_words(buf: &mut Vec<u8>, words: impl ExactSizeIterator<Item = [u8; 8]>) {
    let start = buf.len();
    buf.resize(start + words.len() * 8, 0);
    for (dst, w) in buf.split_at_mut(start).1.chunks_exact_mut(8).zip(words) {
        dst.copy_from_slice(&w);
    }
}

pub fn push_event(fb: &mut FrameBuffer, id: SeriesId, ts: i64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_EVENT_BYTES);
    let buf = fb.reserve(RecordType::Events, EVENT_HEADER + payload.len());
    buf.put_u32(id);
    buf.put_i64(ts);
    buf.put_len32(payload.len());
    buf.extend_from_slice(payload);
}

pub fn push_dropped(fb: &mut FrameBuffer, ids: &[SeriesId]) {
    for chunk in ids.chunks(MAX_PAYLOAD / 4) {
        fb.seal();
        let buf = fb.reserve(RecordType::Dropped, chunk.len() * 4);
        for &id in chunk {
            buf.put_u32(id);
        }
        fb.seal();
    }
}

/// Decodes one record's payload, handing each entry to `visit`.
pub fn decode(
    ty: RecordType,
    payload: &[u8],
    mut visit: impl FnMut(Entry<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = Cursor::new(payload);
    match ty {
        // Markers say how much of the log was durable; they carry no writes.
        RecordType::Marker => return Ok(()),
        RecordType::Series => {
            while !c.is_empty() {
                let id = c.u32()?;
                let kind = c.u8()?;
                let kind =
                    SeriesKind::from_byte(kind).ok_or(format!("unknown series kind {kind}"))?;
                let len = c.u16()? as usize;
                let key = std::str::from_utf8(c.bytes(len)?).map_err(|e| e.to_string())?;
                visit(Entry::Series { id, kind, key })?;
            }
        }
        RecordType::Points => {
            if !payload.len().is_multiple_of(POINT_BYTES) {
                return Err(format!("points record of {} bytes", payload.len()));
            }
            while !c.is_empty() {
                let (id, ts, value) = (c.u32()?, c.i64()?, c.f64()?);
                visit(Entry::Point { id, ts, value })?;
            }
        }
        RecordType::Batch => {
            let id = c.u32()?;
            let count = c.u32()? as usize;
            let timestamps = c.words(count, i64::from_le_bytes)?;
            let values = c.words(count, f64::from_le_bytes)?;
            visit(Entry::Batch {
                id,
                timestamps,
                values,
            })?;
        }
        RecordType::Dropped => {
            while !c.is_empty() {
                visit(Entry::Dropped { id: c.u32()? })?;
            }
        }
        RecordType::Events => {
            while !c.is_empty() {
                let (id, ts) = (c.u32()?, c.i64()?);
                let len = c.u32()? as usize;
                if len > MAX_EVENT_BYTES {
                    return Err(format!(
                        "an event of {len} bytes (at most {MAX_EVENT_BYTES})"
                    ));
                }
                let payload = c.bytes(len)?;
                visit(Entry::Event { id, ts, payload })?;
            }
        }
    }
    if !c.is_empty() {
        return Err(format!("{} trailing bytes in record", c.remaining()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::frame::read_frame;
    use super::*;

    fn decode_all(data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let frame = read_frame(data, pos).unwrap();
            decode(frame.ty, frame.payload, |e| {
                out.push(format!("{e:?}"));
                Ok(())
            })
            .unwrap();
            pos = frame.end;
        }
        out
    }

    #[test]
    fn every_entry_round_trips() {
        let mut fb = FrameBuffer::default();
        push_series(&mut fb, 0, SeriesKind::Numeric, "cpu{host=\"a\"}");
        push_series(&mut fb, 1, SeriesKind::Event, "log");
        push_point(&mut fb, 0, 10, 1.5);
        push_point(&mut fb, 0, 11, f64::NAN);
        push_batch(&mut fb, 0, &[1, 2], &[3.0, -0.0]);
        push_event(&mut fb, 1, 5, b"{\"a\":1}");
        let got = decode_all(&fb.take());
        assert_eq!(
            got,
            vec![
                r#"Series { id: 0, kind: Numeric, key: "cpu{host=\"a\"}" }"#,
                r#"Series { id: 1, kind: Event, key: "log" }"#,
                "Point { id: 0, ts: 10, value: 1.5 }",
                "Point { id: 0, ts: 11, value: NaN }",
                "Batch { id: 0, timestamps: [1, 2], values: [3.0, -0.0] }",
                "Event { id: 1, ts: 5, payload: [123, 34, 97, 34, 58, 49, 125] }",
            ]
        );
    }

    #[test]
    fn short_payloads_are_errors_not_panics() {
        assert!(decode(RecordType::Points, &[0; 19], |_| Ok(())).is_err());
        assert!(decode(
            RecordType::Batch,
            &[0, 0, 0, 0, 255, 255, 255, 255],
            |_| Ok(())
        )
        .is_err());
        assert!(decode(RecordType::Series, &[0, 0, 0, 0, 9], |_| Ok(())).is_err());
        assert!(decode(RecordType::Events, &[1; 17], |_| Ok(())).is_err());
    }
}
