//! Immutable partitions: the points of one tier window (an hour, a day, a month, a year) for
//! many series, as a file of blocks, a B+tree index of them and a JSON summary.
//!
//! A partition directory is written once, fsynced, and only then named in the manifest; it is
//! never modified afterwards, only deleted once a newer manifest no longer names it.

mod index;
mod salvage;
mod tier;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use index::BlockRef;
use index::Index;
pub use salvage::{salvage, Salvage};
pub use tier::Tier;

use crate::codec::block::{self, BlockHeader, BlockPoints};
use crate::cursor::len32;
use crate::error::{Error, Result};
use crate::names;
use crate::sample::{encode_blocks, Sample};
use crate::series::SeriesId;
use crate::storage::{Mapped, Storage};
use crate::time::{MAX_TIMESTAMP, MIN_TIMESTAMP};

/// What the manifest records about a partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionMeta {
    /// Unique and increasing: for equal timestamps a higher id holds the later write.
    pub id: u64,
    pub tier: Tier,
    /// Directory relative to `temporal/`.
    pub dir: String,
    /// The calendar window `[start, end)`; every point lies inside it.
    pub start: i64,
    pub end: i64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub points: u64,
    pub series: u64,
    pub blocks: u64,
    pub bytes: u64,
    /// Whether block bodies are LZ4-compressed (the compression rule of its tier when written).
    pub lz4: bool,
}

fn write_file(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = storage.create(path).map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))
}

/// Builds a partition of `tier` for the window `[start, end)` under `temporal/<dir>`, one
/// series at a time (in id order, each column sorted and inside the window), so compacting a
/// large window holds one decoded series in memory, not the whole window.
pub struct PartitionWriter {
    id: u64,
    tier: Tier,
    dir: String,
    window: (i64, i64),
    lz4: bool,
    data: Vec<u8>,
    refs: Vec<BlockRef>,
    series: u64,
    points: u64,
    min_ts: i64,
    max_ts: i64,
}

impl PartitionWriter {
    pub fn new(id: u64, tier: Tier, dir: String, window: (i64, i64), lz4: bool) -> Self {
        PartitionWriter {
            id,
            tier,
            dir,
            window,
            lz4,
            data: Vec::new(),
            refs: Vec::new(),
            series: 0,
            points: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        }
    }

    /// Adds the next series' sorted points.
    pub fn add<V: Sample>(&mut self, id: SeriesId, ts: &[i64], values: &[V]) {
        let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
            return;
        };
        debug_assert!(first >= self.window.0 && last < self.window.1);
        let refs = &mut self.refs;
        encode_blocks(
            ts,
            values,
            self.lz4,
            &mut self.data,
            |range, offset, len| {
                refs.push(BlockRef {
                    series: id,
                    count: len32(range.len()),
                    min_ts: ts[range.start],
                    max_ts: ts[range.end - 1],
                    offset: offset as u64,
                    len: len32(len),
                })
            },
        );
        self.points += ts.len() as u64;
        self.series += 1;
        self.min_ts = self.min_ts.min(first);
        self.max_ts = self.max_ts.max(last);
    }

    /// Whether no point was added.
    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// The partition's files, in memory: readable at once (see [`Partition::staged`]),
    /// written by [`Built::write`] only if the caller keeps it.
    pub fn finish(self) -> Result<Built> {
        let index = index::encode(&self.refs);
        let meta = PartitionMeta {
            id: self.id,
            tier: self.tier,
            dir: self.dir,
            start: self.window.0,
            end: self.window.1,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            points: self.points,
            series: self.series,
            blocks: self.refs.len() as u64,
            bytes: (self.data.len() + index.len()) as u64,
            lz4: self.lz4,
        };
        // Partition-level figures only: its size does not grow with the series it holds.
        let summary = serde_json::json!({
            "tier": self.tier.name(),
            "window": names::window(self.tier, self.window.0),
            "compression": if self.lz4 { "lz4" } else { "none" },
            "partition": &meta,
        });
        let summary =
            serde_json::to_vec_pretty(&summary).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Built {
            meta,
            data: Arc::new(self.data),
            index: Arc::new(index),
            summary,
        })
    }
}

/// A partition built in memory: its manifest entry and the bytes of its files.
pub struct Built {
    pub meta: PartitionMeta,
    data: Arc<Vec<u8>>,
    index: Arc<Vec<u8>>,
    summary: Vec<u8>,
}

impl Built {
    /// Writes the files (not yet durable: see [`sync`]) into a fresh directory; the partition
    /// is live once they are synced and a manifest names it.
    pub fn write(&self, storage: &dyn Storage, temporal: &Path) -> Result<()> {
        let path = temporal.join(&self.meta.dir);
        // A directory left by a step that never committed: no manifest names it.
        if storage
            .is_dir(&path)
            .map_err(Error::io("inspect", &path))?
            .is_some()
        {
            storage
                .remove_dir_all(&path)
                .map_err(Error::io("remove", &path))?;
        }
        storage
            .create_dir_all(&path)
            .map_err(Error::io("create directory", &path))?;
        write_file(storage, &path.join(names::BLOCKS), &self.data)?;
        write_file(storage, &path.join(names::INDEX), &self.index)?;
        write_file(storage, &path.join(names::SUMMARY), &self.summary)
    }
}

/// Makes a partition written by [`PartitionWriter::finish`] durable: its files and its
/// directory (the caller syncs the tier directory that holds it).
pub fn sync(storage: &dyn Storage, temporal: &Path, meta: &PartitionMeta) -> Result<()> {
    let path = temporal.join(&meta.dir);
    for name in [names::BLOCKS, names::INDEX, names::SUMMARY] {
        let file = path.join(name);
        storage
            .sync_file(&file)
            .map_err(Error::io("fsync", &file))?;
    }
    storage
        .sync_dir(&path)
        .map_err(Error::io("fsync directory", &path))
}

/// Checks every index entry against the partition: inside its window and the data file, the
/// counts adding up to the manifest's, and each series' blocks in time order without overlap.
/// Readers then rely on all of it.
fn check_entries(index: &Index, meta: &PartitionMeta, data_len: u64) -> Result<(), String> {
    let window = (MIN_TIMESTAMP..=MAX_TIMESTAMP)
        .contains(&meta.start)
        .then(|| meta.tier.window(meta.start));
    if window != Some((meta.start, meta.end)) {
        return Err(format!(
            "[{}, {}) is not a {} window",
            meta.start,
            meta.end,
            meta.tier.name()
        ));
    }
    let mut points = 0u64;
    let mut previous: Option<BlockRef> = None;
    for r in index.all() {
        let end = r.offset.checked_add(r.len as u64);
        if end.is_none_or(|end| end > data_len) {
            return Err(format!("entry points past the end of the data: {r:?}"));
        }
        if r.min_ts > r.max_ts || r.min_ts < meta.min_ts || r.max_ts > meta.max_ts {
            return Err(format!("entry outside the partition's time bounds: {r:?}"));
        }
        if previous.is_some_and(|p| (p.series, p.min_ts) >= (r.series, r.min_ts)) {
            return Err(format!("entries out of order at {r:?}"));
        }
        if previous.is_some_and(|p| p.series == r.series && p.max_ts >= r.min_ts) {
            return Err(format!("blocks of series {} overlap", r.series));
        }
        if r.count == 0 {
            return Err(format!("an empty block: {r:?}"));
        }
        points += r.count as u64;
        previous = Some(r);
    }
    if meta.min_ts < meta.start || meta.max_ts >= meta.end || points != meta.points {
        return Err(format!(
            "entries hold {points} points, bounds [{}, {}] in window [{}, {}): the manifest disagrees",
            meta.min_ts, meta.max_ts, meta.start, meta.end
        ));
    }
    Ok(())
}

/// An open partition: its files mapped, its index checked.
pub struct Partition {
    pub meta: PartitionMeta,
    path: PathBuf,
    data: Mapped,
    index: Index,
    reads: AtomicU64,
    last_read_ms: AtomicI64,
}

impl Partition {
    pub fn open(storage: &dyn Storage, temporal: &Path, meta: PartitionMeta) -> Result<Partition> {
        let path = temporal.join(&meta.dir);
        let (data_name, index_name) = (names::BLOCKS, names::INDEX);
        let corrupt = |reason: String| Error::CorruptPartition {
            path: path.clone(),
            reason,
        };
        // Sizes first: a file cut short must be an error here, not a fault (SIGBUS) on a read
        // through its mapping.
        let size = |name: &str| {
            storage
                .len(&path.join(name))
                .map_err(|e| corrupt(format!("cannot read {name}: {e}")))
        };
        let (data_len, index_len) = (size(data_name)?, size(index_name)?);
        if data_len.checked_add(index_len) != Some(meta.bytes) {
            return Err(corrupt(format!(
                "{data_name} and {index_name} hold {data_len} + {index_len} bytes, the manifest says {}",
                meta.bytes
            )));
        }
        let data = storage
            .map(&path.join(data_name))
            .map_err(|e| corrupt(format!("cannot map {data_name}: {e}")))?;
        let index = storage
            .map(&path.join(index_name))
            .map_err(|e| corrupt(format!("cannot map {index_name}: {e}")))?;
        Partition::new(meta, path, data, index)
    }

    /// A partition still in memory (written by this pass, not yet on disk).
    pub fn staged(built: &Built, temporal: &Path) -> Result<Partition> {
        let path = temporal.join(&built.meta.dir);
        Partition::new(
            built.meta.clone(),
            path,
            built.data.clone(),
            built.index.clone(),
        )
    }

    fn new(meta: PartitionMeta, path: PathBuf, data: Mapped, index: Mapped) -> Result<Partition> {
        let index_name = names::INDEX;
        let corrupt = |reason: String| Error::CorruptPartition {
            path: path.clone(),
            reason,
        };
        let data_len = (*data).as_ref().len() as u64;
        let index = Index::parse(index).map_err(|r| corrupt(format!("{index_name}: {r}")))?;
        check_entries(&index, &meta, data_len)
            .map_err(|r| corrupt(format!("{index_name}: {r}")))?;
        Ok(Partition {
            meta,
            path,
            data,
            index,
            reads: AtomicU64::new(0),
            last_read_ms: AtomicI64::new(0),
        })
    }

    /// Blocks of `series` that may hold points in `[from, to]`, in time order.
    pub fn find(&self, series: SeriesId, from: i64, to: i64) -> Vec<BlockRef> {
        if from > self.meta.max_ts || to < self.meta.min_ts {
            return Vec::new();
        }
        self.index.find(series, from, to)
    }

    /// Every block, by series then time.
    pub fn blocks(&self) -> Vec<BlockRef> {
        self.index.all().collect()
    }

    /// The header of one block (its CRC checked, its body not decoded).
    pub fn header(&self, r: &BlockRef) -> Result<BlockHeader> {
        let (header, _) =
            block::checked(self.block_bytes(r)).map_err(|reason| self.corrupt(r, reason))?;
        self.agrees(r, &header)?;
        Ok(header)
    }

    fn block_bytes(&self, r: &BlockRef) -> &[u8] {
        // Index entries were checked against the data file's length at open.
        let start = usize::try_from(r.offset).unwrap_or(usize::MAX);
        (*self.data)
            .as_ref()
            .get(start..start.saturating_add(r.len as usize))
            .unwrap_or_default()
    }

    fn corrupt(&self, r: &BlockRef, reason: String) -> Error {
        Error::CorruptPartition {
            path: self.path.clone(),
            reason: format!("block at byte {}: {reason}", r.offset),
        }
    }

    fn agrees(&self, r: &BlockRef, header: &BlockHeader) -> Result<()> {
        if header.count != r.count || header.min_ts != r.min_ts || header.max_ts != r.max_ts {
            return Err(self.corrupt(r, "it disagrees with its index entry".into()));
        }
        Ok(())
    }

    /// Decodes one block, checking it fully.
    pub fn decode(&self, r: &BlockRef) -> Result<BlockPoints> {
        let (header, points) =
            block::decode(self.block_bytes(r)).map_err(|reason| self.corrupt(r, reason))?;
        self.agrees(r, &header)?;
        Ok(points)
    }

    /// Counts a read (the access frequency behind temporal entropy and time dilation).
    pub fn touch(&self, now_ms: i64) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.last_read_ms.store(now_ms, Ordering::Relaxed);
    }

    /// (reads since open, time of the last read in ms, 0 if never).
    pub fn reads(&self) -> (u64, i64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.last_read_ms.load(Ordering::Relaxed),
        )
    }
}
