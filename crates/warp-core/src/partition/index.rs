//! The per-partition index: a static B+tree mapping `(series, min_ts)` to blocks.
//!
//! ```text
//! magic "WARPIDX\0" | version u32 | fanout u32 | entries u64 | crc32c u32 | reserved u32
//! leaf level:  entries × (series u32 | count u32 | min_ts i64 | max_ts i64 | offset u64 | len u32)
//! inner levels, bottom up: the first key (series u32 | min_ts i64) of every node below,
//! until a level fits in one node (the root).
//! ```
//! Level sizes follow from `entries` and `fanout`, so the file has no pointers to corrupt; the
//! CRC covers everything after the header.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::cursor::{Cursor, Put};
use crate::series::SeriesId;
use crate::storage::Mapped;

const MAGIC: &[u8; 8] = b"WARPIDX\0";
const VERSION: u32 = 1;
const HEADER: usize = 32;
const ENTRY: usize = 36;
const KEY: usize = 12;
const FANOUT: usize = 64;

/// Where one block of one series lies in the partition's data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub series: SeriesId,
    pub count: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    pub offset: u64,
    pub len: u32,
}

impl BlockRef {
    fn key(&self) -> (SeriesId, i64) {
        (self.series, self.min_ts)
    }
}

/// Sizes of the inner levels, bottom up (empty when the leaves fit in one node).
fn inner_levels(entries: usize, fanout: usize) -> Vec<usize> {
    let mut levels = Vec::new();
    let mut n = entries;
    while n > fanout {
        n = n.div_ceil(fanout);
        levels.push(n);
    }
    levels
}

/// Serializes `blocks`, which must be sorted by `(series, min_ts)`.
pub fn encode(blocks: &[BlockRef]) -> Vec<u8> {
    debug_assert!(blocks
        .iter()
        .zip(blocks.iter().skip(1))
        .all(|(a, b)| a.key() < b.key()));
    let mut body = Vec::with_capacity(blocks.len() * ENTRY);
    for b in blocks {
        body.put_u32(b.series);
        body.put_u32(b.count);
        body.put_i64(b.min_ts);
        body.put_i64(b.max_ts);
        body.put_u64(b.offset);
        body.put_u32(b.len);
    }
    let mut keys: Vec<(SeriesId, i64)> = blocks.iter().map(BlockRef::key).collect();
    for _ in inner_levels(blocks.len(), FANOUT) {
        keys = keys.iter().step_by(FANOUT).copied().collect();
        for &(s, t) in &keys {
            body.put_u32(s);
            body.put_i64(t);
        }
    }
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.put_u32(VERSION);
    out.put_len32(FANOUT);
    out.put_u64(blocks.len() as u64);
    out.put_u32(crc32c::crc32c(&body));
    out.put_u32(0);
    out.extend_from_slice(&body);
    out
}

/// A checked index file.
pub struct Index {
    data: Mapped,
    entries: usize,
    fanout: usize,
    /// (offset, len) of each inner level, bottom up.
    levels: Vec<(usize, usize)>,
}

impl Index {
    pub fn parse(file: Mapped) -> Result<Index, String> {
        let data = (*file).as_ref();
        let mut c = Cursor::new(data);
        let short = |_| String::from("not an index file (too short)");
        if c.bytes(MAGIC.len()).map_err(short)? != MAGIC {
            return Err("not an index file (bad magic)".into());
        }
        let version = c.u32().map_err(short)?;
        if version != VERSION {
            return Err(format!("unsupported index version {version}"));
        }
        let fanout = c.len32().map_err(short)?;
        let entries = usize::try_from(c.u64().map_err(short)?).map_err(|e| e.to_string())?;
        let crc = c.u32().map_err(short)?;
        c.u32().map_err(short)?;
        // Bounding both by the file size keeps every offset below computable without overflow.
        if fanout < 2 || fanout > data.len() || entries > data.len() / ENTRY {
            return Err(format!(
                "index claims {entries} entries with fanout {fanout}"
            ));
        }
        let mut levels = Vec::new();
        let mut offset = HEADER + entries * ENTRY;
        for n in inner_levels(entries, fanout) {
            levels.push((offset, n));
            offset += n * KEY;
        }
        if offset != data.len() {
            return Err(format!(
                "index is {} bytes, its header implies {offset}",
                data.len()
            ));
        }
        if crc32c::crc32c(c.rest()) != crc {
            return Err("index checksum mismatch".into());
        }
        let index = Index {
            data: file,
            entries,
            fanout,
            levels,
        };
        index.check_inner_levels()?;
        Ok(index)
    }

    /// Each inner key must be the first key of its node below, or lookups would go astray.
    fn check_inner_levels(&self) -> Result<(), String> {
        for (level, &(_, len)) in self.levels.iter().enumerate() {
            for i in 0..len {
                let first = i * self.fanout;
                let below = match level.checked_sub(1) {
                    None => self.entry(first).map(|e| e.key()),
                    Some(below) => self.inner_key(below, first),
                };
                if below.is_none() || self.inner_key(level, i) != below {
                    return Err(format!(
                        "inner key {i} of level {level} is not its child's first key"
                    ));
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Entry `i` (`None` past the end).
    pub fn entry(&self, i: usize) -> Option<BlockRef> {
        if i >= self.entries {
            return None;
        }
        let mut c = Cursor::at((*self.data).as_ref(), HEADER + i * ENTRY);
        Some(BlockRef {
            series: c.u32().ok()?,
            count: c.u32().ok()?,
            min_ts: c.i64().ok()?,
            max_ts: c.i64().ok()?,
            offset: c.u64().ok()?,
            len: c.u32().ok()?,
        })
    }

    fn inner_key(&self, level: usize, i: usize) -> Option<(SeriesId, i64)> {
        let &(offset, len) = self.levels.get(level)?;
        if i >= len {
            return None;
        }
        let mut c = Cursor::at((*self.data).as_ref(), offset + i * KEY);
        Some((c.u32().ok()?, c.i64().ok()?))
    }

    /// Index of the first entry whose key is ≥ `key` (or `len()`), by descending the tree.
    pub fn lower_bound(&self, key: (SeriesId, i64)) -> usize {
        // The node range at the current level: the whole root level to start with.
        let (mut lo, mut hi) = (0, self.levels.last().map_or(self.entries, |l| l.1));
        for level in (0..self.levels.len()).rev() {
            // Last child whose first key is ≤ key (the first child if none is).
            let n = (lo..hi)
                .take_while(|&i| self.inner_key(level, i).is_some_and(|k| k <= key))
                .count();
            let child = (lo + n).saturating_sub(1).max(lo);
            let below = match level.checked_sub(1) {
                None => self.entries,
                Some(below) => self.levels.get(below).map_or(0, |l| l.1),
            };
            lo = child * self.fanout;
            hi = ((child + 1) * self.fanout).min(below);
        }
        lo + (lo..hi)
            .take_while(|&i| self.entry(i).is_some_and(|e| e.key() < key))
            .count()
    }

    /// Blocks of `series` that may hold points in `[from, to]`, in time order.
    pub fn find(&self, series: SeriesId, from: i64, to: i64) -> Vec<BlockRef> {
        let mut i = self.lower_bound((series, from));
        // The block before may start earlier and still reach `from`.
        if i.checked_sub(1)
            .and_then(|before| self.entry(before))
            .is_some_and(|e| e.series == series)
        {
            i -= 1;
        }
        let mut out = Vec::new();
        while let Some(e) = self.entry(i) {
            if e.series != series || e.min_ts > to {
                break;
            }
            if e.max_ts >= from {
                out.push(e);
            }
            i += 1;
        }
        out
    }

    /// Every entry, in key order.
    pub fn all(&self) -> impl Iterator<Item = BlockRef> + '_ {
        (0..self.entries).map_while(|i| self.entry(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(series: u32, per_series: i64) -> Vec<BlockRef> {
        let mut out = Vec::new();
        for s in 0..series {
            for b in 0..per_series {
                out.push(BlockRef {
                    series: s,
                    count: 10,
                    min_ts: b * 100,
                    max_ts: b * 100 + 90,
                    offset: out.len() as u64,
                    len: 1,
                });
            }
        }
        out
    }

    #[test]
    fn lookups_agree_with_a_linear_scan_at_every_size() {
        for (series, per) in [(1, 1), (3, 5), (70, 1), (50, 90), (300, 20)] {
            let all = blocks(series, per);
            let index = Index::parse(std::sync::Arc::new(encode(&all))).unwrap();
            assert_eq!(index.len(), all.len());
            for s in [0, series / 2, series - 1, series] {
                for (from, to) in [(0, 0), (95, 205), (-50, 10_000), (150, 160), (9_000, 9_001)] {
                    let want: Vec<BlockRef> = all
                        .iter()
                        .copied()
                        .filter(|b| b.series == s && b.max_ts >= from && b.min_ts <= to)
                        .collect();
                    assert_eq!(
                        index.find(s, from, to),
                        want,
                        "{series}x{per} s={s} [{from},{to}]"
                    );
                }
            }
        }
    }

    #[test]
    fn damage_is_detected() {
        let bytes = encode(&blocks(100, 3));
        let parse = |b: &[u8]| Index::parse(std::sync::Arc::new(b.to_vec()));
        for cut in [0, 10, HEADER, bytes.len() - 1] {
            assert!(parse(&bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[HEADER + 5] ^= 1;
        assert!(parse(&bad).is_err());
        let mut huge = bytes.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn inner_keys_that_lie_are_refused() {
        let mut bytes = encode(&blocks(100, 3));
        let inner = HEADER + 300 * ENTRY;
        bytes[inner + KEY] ^= 1; // the second node's first key
        let crc = crc32c::crc32c(&bytes[HEADER..]);
        bytes[24..28].copy_from_slice(&crc.to_le_bytes());
        let err = Index::parse(std::sync::Arc::new(bytes)).err().unwrap();
        assert!(err.contains("inner key"), "{err}");
    }
}
