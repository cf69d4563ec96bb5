//! Catalog files, `temporal/live/indices/<n>.catalog`: written once, named by the manifest,
//! read in order on open. Each commit that created or dropped series adds one file of those
//! records; when the manifest names too many, one file with every live series replaces them.
//!
//! ```text
//! magic "WARPCAT\0" | version u32 | next_id u32 | records u32 | reserved u32
//! records: series  = 1 u8 | id u32 | kind u8 | key_len u16 | key
//!          dropped = 2 u8 | id u32
//! crc32c u32 of everything before it
//! ```
//! `next_id` is the catalog's length when the file was written: ids below it without a series
//! record anywhere were dropped.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::cursor::{sealed, Put};
use crate::series::{SeriesId, SeriesKind, MAX_KEY_BYTES};

const MAGIC: &[u8; 8] = b"WARPCAT\0";
const VERSION: u32 = 1;
const SERIES: u8 = 1;
const DROPPED: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Series {
        id: SeriesId,
        kind: SeriesKind,
        key: &'a str,
    },
    Dropped {
        id: SeriesId,
    },
}

/// One catalog file.
pub fn encode<'a>(next_id: u32, records: impl IntoIterator<Item = Record<'a>>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.put_u32(VERSION);
    out.put_u32(next_id);
    let count_at = out.len();
    out.put_u32(0);
    out.put_u32(0);
    let mut count = 0u32;
    for r in records {
        match r {
            Record::Series { id, kind, key } => {
                out.put_u8(SERIES);
                out.put_u32(id);
                out.put_u8(kind as u8);
                out.put_len16(key.len());
                out.extend_from_slice(key.as_bytes());
            }
            Record::Dropped { id } => {
                out.put_u8(DROPPED);
                out.put_u32(id);
            }
        }
        count += 1;
    }
    if let Some(slot) = out.get_mut(count_at..count_at + 4) {
        slot.copy_from_slice(&count.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.put_u32(crc);
    out
}

/// The records of one catalog file and its `next_id`; the reason if it is damaged.
pub fn decode(data: &[u8]) -> Result<(u32, Vec<Record<'_>>), String> {
    let mut c = sealed(data, MAGIC, VERSION)?;
    let next_id = c.u32()?;
    let count = c.u32()?;
    c.u32()?;
    // Each record takes at least 5 bytes: a count past that is damage, not a reason to reserve.
    let mut records = Vec::with_capacity((count as usize).min(c.remaining() / 5));
    for _ in 0..count {
        let record = match c.u8()? {
            SERIES => {
                let id = c.u32()?;
                let kind = c.u8()?;
                let kind = SeriesKind::from_byte(kind).ok_or(format!("unknown kind {kind}"))?;
                let len = c.u16()? as usize;
                if len > MAX_KEY_BYTES {
                    return Err(format!("a key of {len} bytes"));
                }
                let key = std::str::from_utf8(c.bytes(len)?).map_err(|e| e.to_string())?;
                Record::Series { id, kind, key }
            }
            DROPPED => Record::Dropped { id: c.u32()? },
            other => return Err(format!("unknown record type {other}")),
        };
        let id = match record {
            Record::Series { id, .. } | Record::Dropped { id } => id,
        };
        if id >= next_id {
            return Err(format!(
                "record for series {id} in a file of {next_id} series"
            ));
        }
        records.push(record);
    }
    if !c.is_empty() {
        return Err(format!("{} trailing bytes", c.remaining()));
    }
    Ok((next_id, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let records = vec![
            Record::Series {
                id: 0,
                kind: SeriesKind::Numeric,
                key: "cpu{host=\"a\"}",
            },
            Record::Series {
                id: 2,
                kind: SeriesKind::Event,
                key: "log",
            },
            Record::Dropped { id: 1 },
        ];
        let bytes = encode(3, records.clone());
        assert_eq!(decode(&bytes).unwrap(), (3, records));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(decode(&damaged).is_err(), "byte {i}");
        }
        let bad_id = encode(
            1,
            [Record::Series {
                id: 1,
                kind: SeriesKind::Numeric,
                key: "m",
            }],
        );
        assert!(decode(&bad_id).is_err());
    }
}
