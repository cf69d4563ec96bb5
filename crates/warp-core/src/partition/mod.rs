//! Immutable partitions: the points of one tier window (an hour, a day, a month, a year) for
//! many series, as a part (a file of blocks and the index of their metadata) and a JSON
//! summary for people.
//!
//! A partition directory is written once, fsynced, and only then named in the manifest; it is
//! never modified afterwards, only deleted once a newer manifest no longer names it.

mod index;
mod salvage;
mod tier;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use index::{BlockRef, Bounds, Index};
pub use salvage::{salvage, Salvage};
pub use tier::Tier;
pub use writer::{Built, PartWriter, PartitionWriter};

use crate::codec::block::{self, BlockPoints};
use crate::error::{Error, Result};
use crate::names;
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

/// Makes a partition written by [`Built::write`] durable: its files and its
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

/// Checks what the manifest says of a partition against its window.
fn check_meta(meta: &PartitionMeta) -> Result<(), String> {
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
    if meta.min_ts < meta.start || meta.max_ts >= meta.end || meta.min_ts > meta.max_ts {
        return Err(format!(
            "bounds [{}, {}] outside its window [{}, {})",
            meta.min_ts, meta.max_ts, meta.start, meta.end
        ));
    }
    Ok(())
}

/// An open partition: its files mapped, its index's table checked (groups are checked as they
/// are read, blocks as they are decoded).
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
        let corrupt = |reason: String| Error::CorruptPartition {
            path: path.clone(),
            reason,
        };
        check_meta(&meta).map_err(corrupt)?;
        let bounds = Bounds {
            min_ts: meta.min_ts,
            max_ts: meta.max_ts,
            data_len: (*data).as_ref().len() as u64,
        };
        let len = (*index).as_ref().len();
        let index = Index::parse(index, 0..len, bounds)
            .map_err(|r| corrupt(format!("{}: {r}", names::INDEX)))?;
        if index.len() != meta.blocks {
            return Err(corrupt(format!(
                "{} blocks indexed, the manifest says {}",
                index.len(),
                meta.blocks
            )));
        }
        Ok(Partition {
            meta,
            path,
            data,
            index,
            reads: AtomicU64::new(0),
            last_read_ms: AtomicI64::new(0),
        })
    }

    fn damaged(&self, reason: String) -> Error {
        Error::CorruptPartition {
            path: self.path.clone(),
            reason: format!("{}: {reason}", names::INDEX),
        }
    }

    /// Blocks of `series` that may hold points in `[from, to]`, in time order.
    pub fn find(&self, series: SeriesId, from: i64, to: i64) -> Result<Vec<BlockRef>> {
        self.find_many(&[series], from, to)
    }

    /// Blocks of any of `series` (sorted) that may hold points in `[from, to]`, by series then
    /// time.
    pub fn find_many(&self, series: &[SeriesId], from: i64, to: i64) -> Result<Vec<BlockRef>> {
        if from > self.meta.max_ts || to < self.meta.min_ts {
            return Ok(Vec::new());
        }
        self.index
            .find_many(series, from, to)
            .map_err(|r| self.damaged(r))
    }

    /// Every block, by series then time (the points they hold adding up to the manifest's).
    pub fn blocks(&self) -> Result<Vec<BlockRef>> {
        let all = self.index.all().map_err(|r| self.damaged(r))?;
        let points: u64 = all.iter().map(|r| u64::from(r.count())).sum();
        if points != self.meta.points {
            return Err(self.damaged(format!(
                "entries hold {points} points, the manifest says {}",
                self.meta.points
            )));
        }
        Ok(all)
    }

    /// For a repair: the blocks of every index group that can be read, and for each group that
    /// cannot, its entry count and why.
    pub fn readable_blocks(&self) -> (Vec<BlockRef>, Vec<(u32, String)>) {
        let (mut blocks, mut lost) = (Vec::new(), Vec::new());
        for (entries, group) in self.index.groups() {
            match group {
                Ok(refs) => blocks.extend(refs),
                Err(reason) => lost.push((entries, reason)),
            }
        }
        (blocks, lost)
    }

    /// Decodes one block, checking it fully.
    pub fn decode(&self, r: &BlockRef) -> Result<BlockPoints> {
        let start = usize::try_from(r.offset).unwrap_or(usize::MAX);
        // Index groups were checked against the data file's length when decoded.
        let body = (*self.data)
            .as_ref()
            .get(start..start.saturating_add(r.meta.len as usize))
            .unwrap_or_default();
        block::decode(&r.meta, body).map_err(|reason| Error::CorruptPartition {
            path: self.path.clone(),
            reason: format!("block at byte {}: {reason}", r.offset),
        })
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
