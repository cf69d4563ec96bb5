//! Checkpoints: a snapshot of the live tier that lets recovery skip the WAL segments it covers.
//!
//! The manifest names the current checkpoint. File `temporal/live/checkpoints/<next>.ckpt`
//! (see `names`), little-endian:
//! `magic "WARPCKP\0" | version u32 | reserved u32 | next_segment u64 | series u32`, then per
//! series in id order `kind u8 | key_len u16 | key | count u64 | points`, then `crc32c u32` of
//! everything before it. The points are blocks of at most 8192 points in the partition block
//! format (see `docs/format.md`), so a checkpoint is as compact as an hourly partition. It is
//! written to a temporary name, fsynced, renamed into place and its directory fsynced before a
//! manifest names it.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::Path;

use crate::codec::block;
use crate::codec::Payload;
use crate::column::Column;
use crate::cursor::{Cursor, Put};
use crate::error::{Error, Result};
use crate::live::{LiveTier, Points};
use crate::names;
use crate::sample::{encode_blocks, Sample};
use crate::series::SeriesKind;
use crate::storage::{write_replacing, Storage};
use crate::time::check_timestamp;
use crate::time::strictly_increasing;

const MAGIC: &[u8; 8] = b"WARPCKP\0";
const VERSION: u32 = 2;

/// Builds a checkpoint one series at a time (in id order), each series' points given in
/// sorted chunks, so a large series never has to be copied whole.
pub struct Encoder {
    out: Vec<u8>,
    series: u32,
    /// Where the point count of the series being added goes, and its count so far.
    open: Option<(usize, u64)>,
}

impl Encoder {
    pub fn new(next_segment: u64) -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&next_segment.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // series count, patched by `finish`
        Encoder {
            out,
            series: 0,
            open: None,
        }
    }

    /// Starts the next series.
    pub fn begin(&mut self, key: &str, kind: SeriesKind) {
        self.end();
        self.out.put_u8(kind as u8);
        self.out.put_len16(key.len());
        self.out.extend_from_slice(key.as_bytes());
        self.open = Some((self.out.len(), 0));
        self.out.extend_from_slice(&0u64.to_le_bytes()); // point count, patched by `end`
        self.series += 1;
    }

    /// Adds points of the current series, sorted and later than those added before.
    pub fn add<V: Sample>(&mut self, ts: &[i64], values: &[V]) {
        if let Some((_, count)) = &mut self.open {
            *count += ts.len() as u64;
            encode_blocks(ts, values, false, &mut self.out, |_, _, _| {});
        }
    }

    fn end(&mut self) {
        if let Some((at, count)) = self.open.take() {
            patch(&mut self.out, at, &count.to_le_bytes());
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.end();
        patch(&mut self.out, 24, &self.series.to_le_bytes());
        let crc = crc32c::crc32c(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}

/// Overwrites the placeholder at `at` with `bytes`.
fn patch(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(placeholder) = out.get_mut(at..at + bytes.len()) {
        placeholder.copy_from_slice(bytes);
    }
}

/// A checkpoint of a whole tier at once.
#[cfg(test)]
pub fn encode(tier: &mut LiveTier, next_segment: u64) -> Vec<u8> {
    fn add<V: Sample>(encoder: &mut Encoder, points: &Points) {
        if let Some((ts, vs)) = V::column(points).and_then(|c| c.range_sorted(i64::MIN, i64::MAX)) {
            encoder.add(ts, vs);
        }
    }
    let mut encoder = Encoder::new(next_segment);
    for s in tier.iter_mut() {
        s.points.normalize();
        encoder.begin(&s.key, s.points.kind());
        add::<f64>(&mut encoder, &s.points);
        add::<Payload>(&mut encoder, &s.points);
    }
    encoder.finish()
}

/// Decodes a checkpoint; the reason if it is damaged.
pub fn decode(data: &[u8]) -> Result<(LiveTier, u64), String> {
    let body_len = data
        .len()
        .checked_sub(4)
        .ok_or("file is shorter than its checksum")?;
    let (body, crc) = data.split_at(body_len);
    let mut stored = [0; 4];
    stored.copy_from_slice(crc);
    if crc32c::crc32c(body) != u32::from_le_bytes(stored) {
        return Err("checksum mismatch".into());
    }
    let mut c = Cursor::new(body);
    if c.bytes(8)? != MAGIC {
        return Err("bad magic".into());
    }
    let version = c.u32()?;
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    c.u32()?;
    let next_segment = c.u64()?;
    let count = c.u32()?;
    let mut tier = LiveTier::default();
    for _ in 0..count {
        let kind = c.u8()?;
        let kind = SeriesKind::from_byte(kind).ok_or(format!("unknown series kind {kind}"))?;
        let key_len = c.u16()? as usize;
        let key = std::str::from_utf8(c.bytes(key_len)?).map_err(|e| e.to_string())?;
        if tier.id(key).is_some() {
            return Err(format!("series {key} appears twice"));
        }
        let n = usize::try_from(c.u64()?).map_err(|e| e.to_string())?;
        let points = decode_points(&mut c, kind, n).map_err(|e| format!("series {key}: {e}"))?;
        tier.add_with(key.to_owned(), points)
            .map_err(|e| e.to_string())?;
    }
    if !c.is_empty() {
        return Err(format!("{} trailing bytes", c.remaining()));
    }
    Ok((tier, next_segment))
}

/// Reads the blocks holding one series' `n` points.
fn decode_points(c: &mut Cursor<'_>, kind: SeriesKind, n: usize) -> Result<Points, String> {
    match kind {
        SeriesKind::Numeric => decode_column::<f64>(c, n).map(f64::wrap),
        SeriesKind::Event => decode_column::<Payload>(c, n).map(Payload::wrap),
    }
}

fn decode_column<V: Sample>(c: &mut Cursor<'_>, n: usize) -> Result<Column<V>, String> {
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    while ts.len() < n {
        let len = block::read_header(c.rest())?.total_len();
        let (t, v) =
            V::into_points(block::decode(c.bytes(len)?)?.1).ok_or("a block of the wrong kind")?;
        ts.extend(t);
        values.extend(v);
    }
    if ts.len() != n || !strictly_increasing(&ts) {
        return Err(format!(
            "{} timestamps, not {n} strictly increasing ones",
            ts.len()
        ));
    }
    if let Some(bad) = ts.iter().find(|&&t| check_timestamp(t).is_err()) {
        return Err(format!("timestamp {bad} is outside the storable range"));
    }
    Ok(Column::from_sorted(ts, values))
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

/// Loads the checkpoint `name` (the one the manifest names): the live tier and the first WAL
/// segment it does not cover.
pub fn load(storage: &dyn Storage, dir: &Path, name: &str) -> Result<(LiveTier, u64)> {
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
    let (tier, next_segment) = decode(&data).map_err(corrupt)?;
    if names::checkpoint(next_segment) != name {
        return Err(corrupt(format!("names segment {next_segment} inside")));
    }
    Ok((tier, next_segment))
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
    let mut removed = false;
    for name in storage.list(dir).map_err(Error::io("list", dir))? {
        let ours = names::parse_checkpoint(&name)
            .or_else(|| names::parse_checkpoint(name.strip_suffix(".tmp")?))
            .is_some();
        if ours && Some(name.as_str()) != keep {
            let path = dir.join(&name);
            storage.remove(&path).map_err(Error::io("remove", &path))?;
            removed = true;
        }
    }
    if removed {
        storage
            .sync_dir(dir)
            .map_err(Error::io("fsync directory", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LiveTier {
        let mut tier = LiveTier::default();
        let a = tier.add("cpu", SeriesKind::Numeric).unwrap();
        tier.numeric_mut(a)
            .unwrap()
            .extend(&[1, 2, 3], &[0.5, f64::NAN, -0.0]);
        let b = tier.add("log", SeriesKind::Event).unwrap();
        tier.event_mut(b)
            .unwrap()
            .push(7, crate::codec::Payload::from(&b"{}"[..]));
        tier
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let bytes = encode(&mut sample(), 9);
        let (mut tier, next) = decode(&bytes).unwrap();
        assert_eq!(next, 9);
        assert_eq!(tier.len(), 2);
        let (ts, values) = tier.numeric_mut(0).unwrap().all();
        assert_eq!(ts, &[1, 2, 3]);
        let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            bits,
            vec![0.5f64.to_bits(), f64::NAN.to_bits(), (-0.0f64).to_bits()]
        );
        assert_eq!(&*tier.event_mut(1).unwrap().all().1[0], b"{}");
    }

    #[test]
    fn any_damage_is_detected() {
        let bytes = encode(&mut sample(), 9);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated to {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flipped byte {i}");
        }
    }
}
