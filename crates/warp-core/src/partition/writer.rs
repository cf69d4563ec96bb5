//! Writing parts: the blocks of many series and their index, built in memory. A partition is
//! a part on disk (plus its summary); a checkpoint holds one too.

use std::path::Path;
use std::sync::Arc;

use super::index::{BlockRef, IndexWriter};
use super::{PartitionMeta, Tier};
use crate::error::{Error, Result};
use crate::names;
use crate::sample::{encode_blocks, Sample};
use crate::series::SeriesId;
use crate::storage::Storage;

/// Builds a part one series at a time, in id order; a series may come in several calls, each
/// later in time than the one before (a checkpoint copies large series in chunks).
pub struct PartWriter {
    lz4: bool,
    data: Vec<u8>,
    index: IndexWriter,
    last_series: Option<SeriesId>,
    pub series: u64,
    pub points: u64,
    pub blocks: u64,
    pub min_ts: i64,
    pub max_ts: i64,
}

/// A part in memory: its data and index files.
pub struct Part {
    pub data: Vec<u8>,
    pub index: Vec<u8>,
}

impl PartWriter {
    pub fn new(lz4: bool) -> Self {
        PartWriter {
            lz4,
            data: Vec::new(),
            index: IndexWriter::default(),
            last_series: None,
            series: 0,
            points: 0,
            blocks: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        }
    }

    /// Adds sorted points of series `id`.
    pub fn add<V: Sample>(&mut self, id: SeriesId, ts: &[i64], values: &[V]) {
        let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
            return;
        };
        if self.last_series != Some(id) {
            self.series += 1;
            self.last_series = Some(id);
        }
        let index = &mut self.index;
        let blocks = &mut self.blocks;
        encode_blocks(ts, values, self.lz4, &mut self.data, |meta, offset| {
            index.push(BlockRef {
                series: id,
                offset,
                meta,
            });
            *blocks += 1;
        });
        self.points += ts.len() as u64;
        self.min_ts = self.min_ts.min(first);
        self.max_ts = self.max_ts.max(last);
    }

    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    pub fn finish(self) -> Part {
        Part {
            data: self.data,
            index: self.index.finish(),
        }
    }
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
    part: PartWriter,
}

impl PartitionWriter {
    pub fn new(id: u64, tier: Tier, dir: String, window: (i64, i64), lz4: bool) -> Self {
        PartitionWriter {
            id,
            tier,
            dir,
            window,
            lz4,
            part: PartWriter::new(lz4),
        }
    }

    /// Adds the next series' sorted points.
    pub fn add<V: Sample>(&mut self, id: SeriesId, ts: &[i64], values: &[V]) {
        debug_assert!(ts.first().is_none_or(|&t| t >= self.window.0));
        debug_assert!(ts.last().is_none_or(|&t| t < self.window.1));
        self.part.add(id, ts, values);
    }

    /// Whether no point was added.
    pub fn is_empty(&self) -> bool {
        self.part.is_empty()
    }

    /// The partition's files, in memory: readable at once (see `Partition::staged`), written
    /// by [`Built::write`] only if the caller keeps it.
    pub fn finish(self) -> Result<Built> {
        let w = &self.part;
        let (series, points, blocks, min_ts, max_ts) =
            (w.series, w.points, w.blocks, w.min_ts, w.max_ts);
        let part = self.part.finish();
        let meta = PartitionMeta {
            id: self.id,
            tier: self.tier,
            dir: self.dir,
            start: self.window.0,
            end: self.window.1,
            min_ts,
            max_ts,
            points,
            series,
            blocks,
            bytes: (part.data.len() + part.index.len()) as u64,
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
            data: Arc::new(part.data),
            index: Arc::new(part.index),
            summary,
        })
    }
}

/// A partition built in memory: its manifest entry and the bytes of its files.
pub struct Built {
    pub meta: PartitionMeta,
    pub(super) data: Arc<Vec<u8>>,
    pub(super) index: Arc<Vec<u8>>,
    summary: Vec<u8>,
}

impl Built {
    /// Writes the files (not yet durable: see `partition::sync`) into a fresh directory; the
    /// partition is live once they are synced and a manifest names it.
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

fn write_file(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = storage.create(path).map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))
}
