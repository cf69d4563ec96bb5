//! Checkpoints: a snapshot of the live tier that lets recovery skip the WAL segments it covers.
//!
//! The manifest names the current checkpoint. File `temporal/live/checkpoints/<next>.ckpt`
//! (see `names`), little-endian: `magic "WARPCKP\0" | version u32 | reserved u32 |
//! next_segment u64 | min_ts i64 | max_ts i64 | data_len u64 | index_len u64`, then a part (the
//! live points as blocks, then their index, in the partition formats of `docs/format.md`, so a
//! checkpoint is as compact as an hourly partition), then the newest point of every series
//! that has one (the wormhole): `count u32`, then chunks of at most 8192 entries, `n varint |
//! ids (varint gaps) | times (zigzag varint deltas) | value codec u8 | len varint | values`,
//! then `crc32c u32` of everything before it. Series are named by id: their keys and kinds are
//! in the catalog. It is written to a temporary name, fsynced, renamed into place and its
//! directory fsynced before a manifest names it.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use crate::codec::bits::{put_varint, unzigzag, zigzag};
use crate::codec::{values, BlockPoints, Payload};
use crate::column::Column;
use crate::cursor::{len32, sealed, Cursor, Put};
use crate::error::{Error, Result};
use crate::live::{LiveTier, Newest, Points};
use crate::names;
use crate::partition::{BlockRef, Bounds, Index, PartWriter};
use crate::sample::Sample;
use crate::series::SeriesId;
#[cfg(test)]
use crate::series::SeriesKind;
use crate::storage::{remove_files, write_replacing, Storage};
use crate::time::check_timestamp;

const MAGIC: &[u8; 8] = b"WARPCKP\0";
const VERSION: u32 = 4;
const HEADER: usize = 56;

/// Entries of the newest-point section per chunk.
const NEWEST_CHUNK: usize = 8192;

/// Builds a checkpoint one series at a time (in id order), each series' points given in
/// sorted chunks, so a large series never has to be copied whole.
pub struct Encoder {
    next_segment: u64,
    part: PartWriter,
    newest: Vec<u8>,
    newest_count: u32,
    /// The last id and time written to `newest`.
    newest_last: (Option<SeriesId>, i64),
}

impl Encoder {
    pub fn new(next_segment: u64) -> Self {
        Encoder {
            next_segment,
            // Live points are read back at the next open only: no LZ4 for numbers.
            part: PartWriter::new(false),
            newest: Vec::new(),
            newest_count: 0,
            newest_last: (None, 0),
        }
    }

    /// Adds points of series `id` (ids in increasing order), sorted and later than those of
    /// the series added before.
    pub fn add<V: Sample>(&mut self, id: SeriesId, ts: &[i64], values: &[V]) {
        self.part.add(id, ts, values);
    }

    /// Adds the newest points of some series (ids increasing across calls).
    pub fn add_newest(&mut self, entries: &[(SeriesId, Newest)]) {
        for chunk in entries.chunks(NEWEST_CHUNK) {
            put_varint(&mut self.newest, chunk.len() as u64);
            for &(id, _) in chunk {
                let gap = self
                    .newest_last
                    .0
                    .map_or(u64::from(id), |last| u64::from(id - last - 1));
                put_varint(&mut self.newest, gap);
                self.newest_last.0 = Some(id);
            }
            for &(_, n) in chunk {
                put_varint(
                    &mut self.newest,
                    zigzag(n.ts.wrapping_sub(self.newest_last.1)),
                );
                self.newest_last.1 = n.ts;
            }
            let values: Vec<f64> = chunk.iter().map(|(_, n)| n.value).collect();
            let mut encoded = Vec::new();
            let codec = values::encode(&values, &mut encoded);
            self.newest.put_u8(codec);
            put_varint(&mut self.newest, encoded.len() as u64);
            self.newest.extend_from_slice(&encoded);
            self.newest_count += len32(chunk.len());
        }
    }

    pub fn finish(self) -> Vec<u8> {
        let (min_ts, max_ts) = (self.part.min_ts, self.part.max_ts);
        let part = self.part.finish();
        let mut out = Vec::with_capacity(HEADER + part.data.len() + part.index.len() + 8);
        out.extend_from_slice(MAGIC);
        out.put_u32(VERSION);
        out.put_u32(0);
        out.put_u64(self.next_segment);
        out.put_i64(min_ts);
        out.put_i64(max_ts);
        out.put_u64(part.data.len() as u64);
        out.put_u64(part.index.len() as u64);
        out.extend_from_slice(&part.data);
        out.extend_from_slice(&part.index);
        out.put_u32(self.newest_count);
        out.extend_from_slice(&self.newest);
        let crc = crc32c::crc32c(&out);
        out.put_u32(crc);
        out
    }
}

/// A checkpoint of a whole tier at once.
#[cfg(test)]
pub fn encode(tier: &mut LiveTier, next_segment: u64) -> Vec<u8> {
    fn add<V: Sample>(encoder: &mut Encoder, id: SeriesId, points: &Points) {
        if let Some((ts, vs)) = V::column(points).and_then(|c| c.range_sorted(i64::MIN, i64::MAX)) {
            encoder.add(id, ts, vs);
        }
    }
    let mut encoder = Encoder::new(next_segment);
    tier.normalize_all();
    for (id, points) in (0..).zip(tier.iter()) {
        add::<f64>(&mut encoder, id, points);
        add::<Payload>(&mut encoder, id, points);
    }
    let newest: Vec<(SeriesId, Newest)> = tier
        .ids()
        .filter_map(|id| Some((id, tier.newest(id)?)))
        .collect();
    encoder.add_newest(&newest);
    encoder.finish()
}

/// Decodes a checkpoint into `tier` (which holds an empty column for every id of the catalog);
/// returns the first WAL segment it does not cover, or the reason it is damaged. A series'
/// points must be of the kind its column holds, unless the caller marked the id dropped
/// (`dropped`): its column is then replaced, and the caller empties it.
pub fn decode(
    data: Vec<u8>,
    tier: &mut LiveTier,
    dropped: &dyn Fn(SeriesId) -> bool,
) -> Result<u64, String> {
    let mut c = sealed(&data, MAGIC, VERSION)?;
    let body = data.get(..data.len() - 4).unwrap_or_default();
    c.u32()?;
    let next_segment = c.u64()?;
    let (min_ts, max_ts) = (c.i64()?, c.i64()?);
    let data_len = usize::try_from(c.u64()?).map_err(|e| e.to_string())?;
    let index_len = usize::try_from(c.u64()?).map_err(|e| e.to_string())?;
    c.bytes(data_len)?;
    c.bytes(index_len)?;
    let newest_at = HEADER + data_len + index_len;
    let mut rest = Cursor::at(body, newest_at);
    decode_newest(&mut rest, tier)?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.remaining()));
    }
    let file: Arc<Vec<u8>> = Arc::new(data);
    let bounds = Bounds {
        min_ts,
        max_ts,
        data_len: data_len as u64,
    };
    let index = Index::parse(file.clone(), HEADER + data_len..newest_at, bounds)?;
    let blocks = index.all()?;
    // Each series' run of blocks, then decoded on every core (a million series of a few
    // points each is a million small decodes).
    let mut runs: Vec<&[BlockRef]> = Vec::new();
    let mut i = 0;
    while let Some(first) = blocks.get(i) {
        let rest = blocks.get(i..).unwrap_or_default();
        let len = rest.iter().take_while(|r| r.series == first.series).count();
        runs.push(rest.get(..len).unwrap_or_default());
        i += len;
    }
    let decoded: Vec<(SeriesId, Points)> = runs
        .par_iter()
        .map(|run| decode_series(&file, run))
        .collect::<Result<_, String>>()?;
    for (id, points) in decoded {
        let mut slot = tier
            .get_mut(id)
            .map_err(|_| format!("series {id} is not in the catalog"))?;
        if points.kind() != slot.kind() && !dropped(id) {
            return Err(format!("series {id} holds {} points", points.kind().name()));
        }
        *slot = points;
    }
    Ok(next_segment)
}

/// One series' points from its run of blocks in the checkpoint.
fn decode_series(file: &[u8], run: &[BlockRef]) -> Result<(SeriesId, Points), String> {
    let first = run.first().ok_or("an empty run of blocks")?;
    let mut points = Vec::with_capacity(run.len());
    for r in run {
        let start = usize::try_from(HEADER as u64 + r.offset).map_err(|e| e.to_string())?;
        let bytes = file
            .get(start..start.saturating_add(r.meta.len as usize))
            .ok_or("a block outside the checkpoint")?;
        points.push(crate::codec::block::decode(&r.meta, bytes)?);
    }
    let column = if first.meta.numeric {
        column::<f64>(points).map(f64::wrap)
    } else {
        column::<Payload>(points).map(Payload::wrap)
    };
    Ok((
        first.series,
        column.map_err(|e| format!("series {}: {e}", first.series))?,
    ))
}

/// One series' points from its decoded blocks (already in time order, as the index checked).
fn column<V: Sample>(blocks: Vec<BlockPoints>) -> Result<Column<V>, String> {
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    for b in blocks {
        let (t, v) = V::into_points(b).ok_or("a block of the wrong kind")?;
        if ts.is_empty() {
            // Most series fit one block: its vectors become the column's, no copy.
            (ts, values) = (t, v);
        } else {
            ts.extend(t);
            values.extend(v);
        }
    }
    if let Some(bad) = ts.iter().find(|&&t| check_timestamp(t).is_err()) {
        return Err(format!("timestamp {bad} is outside the storable range"));
    }
    Ok(Column::from_sorted(ts, values))
}

/// Reads the newest-point section into `tier`.
fn decode_newest(c: &mut Cursor<'_>, tier: &mut LiveTier) -> Result<(), String> {
    let total = c.u32()? as usize;
    let (mut done, mut last_id, mut last_ts) = (0usize, None::<SeriesId>, 0i64);
    let mut ids = Vec::new();
    let mut values = Vec::new();
    while done < total {
        let n = usize::try_from(c.varint()?).map_err(|e| e.to_string())?;
        if n == 0 || n > NEWEST_CHUNK || done + n > total {
            return Err(format!("a chunk of {n} newest points"));
        }
        ids.clear();
        for _ in 0..n {
            let gap = SeriesId::try_from(c.varint()?).map_err(|e| e.to_string())?;
            let id = match last_id {
                None => Some(gap),
                Some(last) => last.checked_add(gap).and_then(|i| i.checked_add(1)),
            }
            .filter(|&id| (id as usize) < tier.len())
            .ok_or("a newest point of a series not in the catalog")?;
            ids.push(id);
            last_id = Some(id);
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            last_ts = last_ts.wrapping_add(unzigzag(c.varint()?));
            times.push(check_timestamp(last_ts).map_err(|e| e.to_string())?);
        }
        let codec = c.u8()?;
        let len = usize::try_from(c.varint()?).map_err(|e| e.to_string())?;
        values.clear();
        values::decode(codec, c.bytes(len)?, n, &mut values)?;
        for ((&id, &ts), &value) in ids.iter().zip(&times).zip(&values) {
            tier.set_newest(id, Newest { ts, value });
        }
        done += n;
    }
    Ok(())
}

/// Writes a checkpoint atomically; returns its file name. It is live once the manifest names it.
pub fn write(storage: &dyn Storage, dir: &Path, bytes: &[u8], next_segment: u64) -> Result<String> {
    let name = names::checkpoint(next_segment);
    let path = dir.join(&name);
    write_replacing(storage, &path, bytes).map_err(Error::io("write", &path))?;
    storage
        .sync_dir(dir)
        .map_err(Error::io("fsync directory", dir))?;
    Ok(name)
}

/// Loads the checkpoint `name` (the one the manifest names) into `tier`; returns the first WAL
/// segment it does not cover.
pub fn load(
    storage: &dyn Storage,
    dir: &Path,
    name: &str,
    tier: &mut LiveTier,
    dropped: &dyn Fn(SeriesId) -> bool,
) -> Result<u64> {
    let path = dir.join(name);
    let corrupt = |reason: String| Error::CorruptCheckpoint {
        path: path.clone(),
        reason,
    };
    let data = match storage.read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt("the manifest names it, but it is missing".into()))
        }
        read => read.map_err(Error::io("read", &path))?,
    };
    let next_segment = decode(data, tier, dropped).map_err(corrupt)?;
    if names::checkpoint(next_segment) != name {
        return Err(corrupt(format!("names segment {next_segment} inside")));
    }
    Ok(next_segment)
}

/// Every checkpoint in `dir`, newest (highest next segment) first: what a repair without a
/// manifest can choose from.
pub fn candidates(storage: &dyn Storage, dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = storage
        .list(dir)
        .map_err(Error::io("list", dir))?
        .into_iter()
        .filter(|n| names::parse_checkpoint(n).is_some())
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

/// Deletes every checkpoint or temporary file in `dir` except `keep`.
pub fn remove_others(storage: &dyn Storage, dir: &Path, keep: Option<&str>) -> Result<()> {
    remove_files(storage, dir, |name| {
        let ours = names::parse_checkpoint(name)
            .or_else(|| names::parse_checkpoint(name.strip_suffix(".tmp")?))
            .is_some();
        ours && Some(name) != keep
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> LiveTier {
        let mut tier = LiveTier::default();
        tier.push(SeriesKind::Numeric);
        tier.push(SeriesKind::Numeric);
        tier.push(SeriesKind::Event);
        tier
    }

    fn sample() -> LiveTier {
        let mut tier = empty();
        tier.numeric_mut(0)
            .unwrap()
            .extend(&[1, 2, 3], &[0.5, f64::NAN, -0.0]);
        tier.note_batch(0, &[1, 2, 3], &[0.5, f64::NAN, -0.0]);
        tier.event_mut(2)
            .unwrap()
            .push(7, crate::codec::Payload::from(&b"{}"[..]));
        tier.note(2, 7, f64::NAN);
        // A series whose points were all sealed keeps its newest point only.
        tier.note(1, 99, 4.25);
        tier
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let bytes = encode(&mut sample(), 9);
        let mut tier = empty();
        assert_eq!(decode(bytes.clone(), &mut tier, &|_| false).unwrap(), 9);
        let mut column = tier.numeric_mut(0).unwrap();
        let (ts, values) = column.all();
        assert_eq!(ts, &[1, 2, 3]);
        let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            bits,
            vec![0.5f64.to_bits(), f64::NAN.to_bits(), (-0.0f64).to_bits()]
        );
        drop(column);
        assert_eq!(tier.numeric_mut(1).unwrap().len(), 0);
        assert_eq!(
            tier.newest(1),
            Some(Newest {
                ts: 99,
                value: 4.25
            })
        );
        assert_eq!(tier.newest(0).unwrap().ts, 3);
        assert_eq!(tier.newest(2).unwrap().ts, 7);
        assert_eq!(&*tier.event_mut(2).unwrap().all().1[0], b"{}");
    }

    #[test]
    fn any_damage_is_detected() {
        let bytes = encode(&mut sample(), 9);
        for cut in 0..bytes.len() {
            let decoded = decode(bytes[..cut].to_vec(), &mut empty(), &|_| false);
            assert!(decoded.is_err(), "truncated to {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let decoded = decode(bad, &mut empty(), &|_| false);
            assert!(decoded.is_err(), "flipped byte {i}");
        }
        // A series the catalog does not have, or of another kind, is damage too.
        let mut short = LiveTier::default();
        short.push(SeriesKind::Numeric);
        assert!(decode(bytes.clone(), &mut short, &|_| false).is_err());
        let mut swapped = LiveTier::default();
        for kind in [
            SeriesKind::Numeric,
            SeriesKind::Numeric,
            SeriesKind::Numeric,
        ] {
            swapped.push(kind);
        }
        assert!(decode(bytes.clone(), &mut swapped, &|_| false).is_err());
        assert!(decode(bytes.clone(), &mut swapped, &|id| id == 2).is_ok());
    }
}
