//! A part's index: the metadata of every block (see [`BlockMeta`]), by series then time, in
//! groups of up to [`GROUP`] entries encoded as varints against their neighbours, behind a
//! fixed-size table of the groups.
//!
//! ```text
//! header (40 B): magic "WARPIDX\0" | version u32 = 2 | group size u32 | entries u64 |
//!                groups u32 | table crc32c u32 | reserved u64
//! table: per group (48 B): first series u32 | last series u32 | entries u32 | bytes u32 |
//!                position u64 | data offset u64 | data bytes u64 | crc32c u32 | reserved u32
//! groups: per entry: series gap varint | count varint | time varint(s) | span varint |
//!         len varint | flags u8 | crc u32 | ts_len varint | [raw_len varint] | [summary]
//! ```
//! Opening a part reads only the header and the table, so a partition of a million series
//! opens in microseconds; a group is checked (its CRC, order, bounds, lengths, offsets) when
//! first decoded, and a few decoded groups are kept. A ten-point series costs about 15 bytes
//! here and nothing else beyond its encoded points.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::codec::bits::{put_varint, unzigzag, zigzag};
use crate::codec::block::{BlockMeta, Summary};
use crate::cursor::{len32, Cursor, Put};
use crate::series::SeriesId;
use crate::storage::Mapped;

const MAGIC: &[u8; 8] = b"WARPIDX\0";
const VERSION: u32 = 2;
const HEADER: usize = 40;
const TABLE_ENTRY: usize = 48;
/// Entries per group.
pub const GROUP: usize = 256;
/// Decoded groups an index keeps.
const KEPT_GROUPS: usize = 64;

const FLAG_EVENT: u8 = 1;
const FLAG_LZ4: u8 = 2;
const FLAG_SUMMARY: u8 = 4;
const FLAG_NAN: u8 = 8;

/// Where one block of one series lies in the part's data, and what it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockRef {
    pub series: SeriesId,
    pub offset: u64,
    pub meta: BlockMeta,
}

impl BlockRef {
    pub fn count(&self) -> u32 {
        self.meta.count
    }

    pub fn min_ts(&self) -> i64 {
        self.meta.min_ts
    }

    pub fn max_ts(&self) -> i64 {
        self.meta.max_ts
    }

    fn key(&self) -> (SeriesId, i64) {
        (self.series, self.meta.min_ts)
    }
}

/// One group in the table.
#[derive(Debug, Clone)]
struct Group {
    first: SeriesId,
    last: SeriesId,
    entries: u32,
    bytes: Range<usize>,
    data: Range<u64>,
    crc: u32,
}

/// Builds an index as blocks are added (in `(series, min_ts)` order), a group at a time, so a
/// writer holds one group of metadata, not all of it.
#[derive(Default)]
pub struct IndexWriter {
    groups: Vec<u8>,
    table: Vec<u8>,
    current: Vec<BlockRef>,
    entries: u64,
    group_count: u32,
    data_end: u64,
}

impl IndexWriter {
    pub fn push(&mut self, r: BlockRef) {
        debug_assert!(self.current.last().is_none_or(|p| p.key() < r.key()));
        self.current.push(r);
        if self.current.len() == GROUP {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let (Some(first), Some(last)) = (self.current.first(), self.current.last()) else {
            return;
        };
        let (first_series, last_series) = (first.series, last.series);
        let data_start = first.offset;
        let start = self.groups.len();
        let mut previous: Option<&BlockRef> = None;
        for r in &self.current {
            encode_entry(&mut self.groups, previous, r);
            previous = Some(r);
        }
        let bytes = self.groups.get(start..).unwrap_or_default();
        let data_end = last.offset + u64::from(last.meta.len);
        self.table.put_u32(first_series);
        self.table.put_u32(last_series);
        self.table.put_u32(len32(self.current.len()));
        self.table.put_u32(len32(bytes.len()));
        self.table.put_u64(start as u64);
        self.table.put_u64(data_start);
        self.table.put_u64(data_end - data_start);
        self.table.put_u32(crc32c::crc32c(bytes));
        self.table.put_u32(0);
        self.entries += self.current.len() as u64;
        self.group_count += 1;
        self.data_end = data_end;
        self.current.clear();
    }

    /// The index file.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        let mut out = Vec::with_capacity(HEADER + self.table.len() + self.groups.len());
        out.extend_from_slice(MAGIC);
        out.put_u32(VERSION);
        out.put_u32(len32(GROUP));
        out.put_u64(self.entries);
        out.put_u32(self.group_count);
        out.put_u32(crc32c::crc32c(&self.table));
        out.put_u64(0);
        out.extend_from_slice(&self.table);
        out.extend_from_slice(&self.groups);
        out
    }
}

/// Appends one entry, coded against the one before it in its group.
fn encode_entry(out: &mut Vec<u8>, previous: Option<&BlockRef>, r: &BlockRef) {
    let m = &r.meta;
    let same_series = previous.is_some_and(|p| p.series == r.series);
    put_varint(
        out,
        u64::from(r.series - previous.map_or(r.series, |p| p.series)),
    );
    put_varint(out, u64::from(m.count));
    match previous {
        // The next block of a series starts after the last one ends.
        Some(p) if same_series => put_varint(out, (m.min_ts - p.meta.max_ts).unsigned_abs()),
        Some(p) => put_varint(out, zigzag(m.min_ts.wrapping_sub(p.meta.min_ts))),
        None => put_varint(out, zigzag(m.min_ts)),
    }
    put_varint(out, (m.max_ts - m.min_ts).unsigned_abs());
    put_varint(out, u64::from(m.len));
    let mut flags = m.value_codec << 4;
    for (on, bit) in [
        (!m.numeric, FLAG_EVENT),
        (m.lz4, FLAG_LZ4),
        (m.summary.is_some(), FLAG_SUMMARY),
        (m.has_nan, FLAG_NAN),
    ] {
        if on {
            flags |= bit;
        }
    }
    out.put_u8(flags);
    out.put_u32(m.crc);
    put_varint(out, u64::from(m.ts_len));
    if m.lz4 {
        put_varint(out, u64::from(m.raw_len));
    }
    if let Some(s) = &m.summary {
        if m.has_nan {
            put_varint(out, u64::from(s.valid));
        }
        for v in [s.min, s.max, s.sum, s.first, s.last] {
            out.put_f64(v);
        }
    }
}

/// What every entry of a part must lie within: its time bounds and its data's length.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min_ts: i64,
    pub max_ts: i64,
    pub data_len: u64,
}

/// An index, its header and table checked; groups are checked as they are decoded.
pub struct Index {
    file: Mapped,
    /// Where the index lies in `file` (all of it, or a part of a checkpoint).
    span: Range<usize>,
    entries: u64,
    groups: Vec<Group>,
    bounds: Bounds,
    kept: Mutex<Vec<(usize, Decoded)>>,
}

/// A decoded group, shared with readers.
type Decoded = Arc<Vec<BlockRef>>;

impl Index {
    pub fn parse(file: Mapped, span: Range<usize>, bounds: Bounds) -> Result<Index, String> {
        let data = (*file)
            .as_ref()
            .get(span.clone())
            .ok_or("index outside its file")?;
        let mut c = Cursor::new(data);
        let short = |_| String::from("not an index (too short)");
        if c.bytes(MAGIC.len()).map_err(short)? != MAGIC {
            return Err("not an index (bad magic)".into());
        }
        let version = c.u32().map_err(short)?;
        if version != VERSION {
            return Err(format!("unsupported index version {version}"));
        }
        let group_size = c.u32().map_err(short)?;
        let entries = c.u64().map_err(short)?;
        let count = c.u32().map_err(short)? as usize;
        let crc = c.u32().map_err(short)?;
        let reserved = c.u64().map_err(short)?;
        if count > data.len() / TABLE_ENTRY || group_size as usize != GROUP || reserved != 0 {
            return Err(format!("index claims {count} groups of {group_size}"));
        }
        let table = c.bytes(count * TABLE_ENTRY).map_err(short)?;
        if crc32c::crc32c(table) != crc {
            return Err("index table checksum mismatch".into());
        }
        let mut t = Cursor::new(table);
        let mut groups: Vec<Group> = Vec::with_capacity(count);
        let (mut pos, mut data_at, mut total) = (HEADER + table.len(), 0u64, 0u64);
        for g in 0..count {
            let (first, last, n, bytes) = (t.u32()?, t.u32()?, t.u32()?, t.u32()? as usize);
            let (at, data_start, data_bytes) = (t.u64()?, t.u64()?, t.u64()?);
            let group_crc = t.u32()?;
            t.u32()?;
            let end = pos.checked_add(bytes).filter(|&e| e <= data.len());
            let data_end = data_start.checked_add(data_bytes);
            let ordered = groups.last().is_none_or(|p| p.last <= first) && first <= last;
            if at != (pos - HEADER - table.len()) as u64
                || end.is_none()
                || data_start != data_at
                || data_end.is_none_or(|e| e > bounds.data_len)
                || !ordered
                || n == 0
                || n as usize > GROUP
            {
                return Err(format!("index table entry {g} is inconsistent"));
            }
            groups.push(Group {
                first,
                last,
                entries: n,
                bytes: pos..pos + bytes,
                data: data_start..data_start + data_bytes,
                crc: group_crc,
            });
            pos += bytes;
            data_at += data_bytes;
            total += u64::from(n);
        }
        if pos != data.len() || total != entries || data_at != bounds.data_len {
            return Err(format!(
                "index of {} bytes holds {total} of {entries} entries over {data_at} of {} data bytes",
                data.len(),
                bounds.data_len
            ));
        }
        Ok(Index {
            file,
            span,
            entries,
            groups,
            bounds,
            kept: Mutex::new(Vec::new()),
        })
    }

    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Group `g`, decoded and checked (kept for the next reader).
    fn group(&self, g: usize) -> Result<Decoded, String> {
        let hit = {
            let k = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            k.iter().find(|(i, _)| *i == g).map(|(_, v)| v.clone())
        };
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let decoded = Arc::new(self.decode(g)?);
        let mut k = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if k.len() >= KEPT_GROUPS {
            k.remove(0);
        }
        k.push((g, decoded.clone()));
        Ok(decoded)
    }

    fn decode(&self, g: usize) -> Result<Vec<BlockRef>, String> {
        let group = self.groups.get(g).ok_or("no such group")?;
        let file = (*self.file).as_ref();
        let bytes = file
            .get(self.span.start + group.bytes.start..self.span.start + group.bytes.end)
            .ok_or("index group outside its file")?;
        if crc32c::crc32c(bytes) != group.crc {
            return Err(format!("index group {g} checksum mismatch"));
        }
        let mut c = Cursor::new(bytes);
        let mut out: Vec<BlockRef> = Vec::with_capacity(group.entries as usize);
        let mut offset = group.data.start;
        for _ in 0..group.entries {
            let r = decode_entry(&mut c, out.last(), group.first, offset)
                .map_err(|e| format!("index group {g}: {e}"))?;
            let b = &self.bounds;
            if r.meta.min_ts < b.min_ts || r.meta.max_ts > b.max_ts || r.series > group.last {
                return Err(format!("index group {g}: an entry outside the part: {r:?}"));
            }
            r.meta
                .check()
                .map_err(|e| format!("index group {g}: {e}"))?;
            offset += u64::from(r.meta.len);
            out.push(r);
        }
        if !c.is_empty()
            || offset != group.data.end
            || out.last().map(|r| r.series) != Some(group.last)
        {
            return Err(format!("index group {g} disagrees with the table"));
        }
        Ok(out)
    }

    /// The groups that may hold blocks of series `from..=to`.
    fn groups_of(&self, from: SeriesId, to: SeriesId) -> Range<usize> {
        let start = self.groups.partition_point(|g| g.last < from);
        let end = self.groups.partition_point(|g| g.first <= to);
        start..end.max(start)
    }

    /// Blocks of any of `series` (sorted, unique) that may hold points in `[from, to]`, by
    /// series then time: one walk over the groups they fall in.
    pub fn find_many(
        &self,
        series: &[SeriesId],
        from: i64,
        to: i64,
    ) -> Result<Vec<BlockRef>, String> {
        let (Some(&lo), Some(&hi)) = (series.first(), series.last()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut wanted = series.iter().peekable();
        for g in self.groups_of(lo, hi) {
            let group = self.groups.get(g).ok_or("no such group")?;
            while wanted.next_if(|&&s| s < group.first).is_some() {}
            if wanted.peek().is_none_or(|&&s| s > group.last) {
                continue;
            }
            for r in self.group(g)?.iter() {
                while wanted.next_if(|&&s| s < r.series).is_some() {}
                if wanted.peek() == Some(&&r.series) && r.meta.max_ts >= from && r.meta.min_ts <= to
                {
                    if out.last().is_some_and(|p: &BlockRef| p.key() >= r.key()) {
                        return Err(format!("index entries out of order at {r:?}"));
                    }
                    out.push(*r);
                }
            }
        }
        Ok(out)
    }

    /// Each group's entry count and its entries, or why they cannot be read (for a repair,
    /// which keeps the groups that can).
    pub fn groups(&self) -> impl Iterator<Item = (u32, Result<Vec<BlockRef>, String>)> + '_ {
        (0..self.groups.len()).map(|g| {
            let entries = self.groups.get(g).map_or(0, |group| group.entries);
            (entries, self.decode(g))
        })
    }

    /// Every entry, in key order.
    pub fn all(&self) -> Result<Vec<BlockRef>, String> {
        let mut out: Vec<BlockRef> = Vec::new();
        for g in 0..self.groups.len() {
            let decoded = self.decode(g)?;
            if let (Some(p), Some(f)) = (out.last(), decoded.first()) {
                if p.key() >= f.key() || (p.series == f.series && p.meta.max_ts >= f.meta.min_ts) {
                    return Err(format!("index groups {} and {g} overlap", g - 1));
                }
            }
            out.extend(decoded);
        }
        Ok(out)
    }
}

/// Reads one entry, coded against the one before it in its group.
fn decode_entry(
    c: &mut Cursor<'_>,
    previous: Option<&BlockRef>,
    first_series: SeriesId,
    offset: u64,
) -> Result<BlockRef, String> {
    let gap = SeriesId::try_from(c.varint()?).map_err(|e| e.to_string())?;
    let series = previous
        .map_or(Some(first_series), |p| p.series.checked_add(gap))
        .filter(|_| previous.is_some() || gap == 0)
        .ok_or("series numbering overflows")?;
    let count = u32::try_from(c.varint()?).map_err(|e| e.to_string())?;
    let big = |v: u64| i64::try_from(v).map_err(|e| e.to_string());
    let min_ts = match previous {
        Some(p) if p.series == series => {
            let gap = big(c.varint()?)?;
            if gap == 0 {
                return Err("blocks of one series overlap".into());
            }
            p.meta.max_ts.checked_add(gap)
        }
        Some(p) => p.meta.min_ts.checked_add(unzigzag(c.varint()?)),
        None => Some(unzigzag(c.varint()?)),
    }
    .ok_or("time overflows")?;
    let max_ts = min_ts
        .checked_add(big(c.varint()?)?)
        .ok_or("time overflows")?;
    let len = u32::try_from(c.varint()?).map_err(|e| e.to_string())?;
    let flags = c.u8()?;
    let crc = c.u32()?;
    let ts_len = u32::try_from(c.varint()?).map_err(|e| e.to_string())?;
    let lz4 = flags & FLAG_LZ4 != 0;
    let raw_len = if lz4 {
        u32::try_from(c.varint()?).map_err(|e| e.to_string())?
    } else {
        len
    };
    let has_nan = flags & FLAG_NAN != 0;
    let summary = if flags & FLAG_SUMMARY != 0 {
        let valid = if has_nan {
            u32::try_from(c.varint()?).map_err(|e| e.to_string())?
        } else {
            count
        };
        Some(Summary {
            valid,
            min: c.f64()?,
            max: c.f64()?,
            sum: c.f64()?,
            first: c.f64()?,
            last: c.f64()?,
        })
    } else {
        None
    };
    Ok(BlockRef {
        series,
        offset,
        meta: BlockMeta {
            count,
            min_ts,
            max_ts,
            len,
            crc,
            numeric: flags & FLAG_EVENT == 0,
            lz4,
            value_codec: flags >> 4,
            has_nan,
            ts_len,
            raw_len,
            summary,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::block::encode_numeric;

    /// `series` series of `per` blocks each (of 10 points), and the data they index.
    fn part(series: u32, per: i64) -> (Vec<BlockRef>, Vec<u8>) {
        let mut data = Vec::new();
        let mut refs = Vec::new();
        for s in 0..series {
            for b in 0..per {
                let ts: Vec<i64> = (0..10).map(|i| b * 100 + i * 9).collect();
                let vs: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
                let offset = data.len() as u64;
                let meta = encode_numeric(&ts, &vs, false, &mut data);
                refs.push(BlockRef {
                    series: s,
                    offset,
                    meta,
                });
            }
        }
        (refs, data)
    }

    fn index_of(refs: &[BlockRef], data: &[u8]) -> Result<Index, String> {
        let mut w = IndexWriter::default();
        for r in refs {
            w.push(*r);
        }
        let bytes = w.finish();
        let len = bytes.len();
        let bounds = Bounds {
            min_ts: i64::MIN,
            max_ts: i64::MAX,
            data_len: data.len() as u64,
        };
        Index::parse(Arc::new(bytes), 0..len, bounds)
    }

    #[test]
    fn lookups_agree_with_a_linear_scan_at_every_size() {
        for (series, per) in [(1, 1), (3, 5), (300, 1), (50, 90), (700, 3)] {
            let (all, data) = part(series, per);
            let index = index_of(&all, &data).unwrap();
            assert_eq!(index.len(), all.len() as u64);
            assert_eq!(index.all().unwrap(), all);
            for s in [0, series / 2, series - 1, series] {
                for (from, to) in [(0, 0), (95, 205), (-50, 10_000), (150, 160), (9_000, 9_001)] {
                    let want: Vec<BlockRef> = all
                        .iter()
                        .copied()
                        .filter(|b| b.series == s && b.max_ts() >= from && b.min_ts() <= to)
                        .collect();
                    assert_eq!(
                        index.find_many(&[s], from, to).unwrap(),
                        want,
                        "{series}x{per} s={s}"
                    );
                }
            }
            let some: Vec<u32> = (0..series).step_by(7).collect();
            let want: Vec<BlockRef> = all
                .iter()
                .copied()
                .filter(|b| some.contains(&b.series))
                .collect();
            assert_eq!(index.find_many(&some, i64::MIN, i64::MAX).unwrap(), want);
        }
    }

    #[test]
    fn a_small_series_costs_a_few_bytes_of_index() {
        let (refs, data) = part(10_000, 1);
        let mut w = IndexWriter::default();
        for r in &refs {
            w.push(*r);
        }
        let per_series = w.finish().len() as f64 / 10_000.0;
        assert!(per_series < 16.0, "{per_series} bytes per series");
        assert!(index_of(&refs, &data).is_ok());
    }

    #[test]
    fn damage_is_detected_at_open_or_when_a_group_is_read() {
        let (refs, data) = part(600, 2);
        let mut w = IndexWriter::default();
        for r in &refs {
            w.push(*r);
        }
        let bytes = w.finish();
        let bounds = Bounds {
            min_ts: i64::MIN,
            max_ts: i64::MAX,
            data_len: data.len() as u64,
        };
        let open = |b: &[u8]| Index::parse(Arc::new(b.to_vec()), 0..b.len(), bounds);
        for cut in [0, 10, HEADER, bytes.len() - 1] {
            assert!(open(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in (0..bytes.len()).step_by(37) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let read = open(&bad).and_then(|index| index.all());
            assert!(read.is_err(), "flipped byte {i}");
        }
        let short = Bounds {
            data_len: data.len() as u64 - 1,
            ..bounds
        };
        assert!(Index::parse(Arc::new(bytes.clone()), 0..bytes.len(), short).is_err());
        let narrow = Bounds {
            max_ts: 50,
            ..bounds
        };
        let index = Index::parse(Arc::new(bytes.clone()), 0..bytes.len(), narrow).unwrap();
        assert!(index.all().is_err(), "entries past the part's time bounds");
    }
}
