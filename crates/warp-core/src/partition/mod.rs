//! Immutable partitions: the points of one tier window (an hour, a day, a month, a year) for
//! many series, as a data file of blocks, a B+tree index and a JSON summary.
//!
//! A partition directory is written once, fsynced, and only then named in the manifest; it is
//! never modified afterwards, only deleted once a newer manifest no longer names it.

mod index;
mod tier;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use index::BlockRef;
use index::Index;
pub use tier::Tier;

use crate::codec::block::{self, BlockPoints, Payload};
use crate::codec::MAX_BLOCK_POINTS;
use crate::error::{Error, Result};
use crate::series::SeriesId;
use crate::storage::{Mapped, Storage};

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

/// One series' sorted points, as the writer takes them.
pub enum Column<'a> {
    Numeric(&'a [i64], &'a [f64]),
    Event(&'a [i64], &'a [Payload]),
}

impl<'a> Column<'a> {
    pub fn timestamps(&self) -> &'a [i64] {
        match self {
            Column::Numeric(ts, _) | Column::Event(ts, _) => ts,
        }
    }

    /// The points at positions `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Column<'a> {
        match self {
            Column::Numeric(ts, vs) => Column::Numeric(&ts[range.clone()], &vs[range]),
            Column::Event(ts, ps) => Column::Event(&ts[range.clone()], &ps[range]),
        }
    }
}

pub struct SeriesColumn<'a> {
    pub id: SeriesId,
    pub key: &'a str,
    pub column: Column<'a>,
}

fn write_file(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = storage.create(path).map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))?;
    file.sync().map_err(Error::io("fsync", path))
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
    summaries: Vec<serde_json::Value>,
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
            summaries: Vec::new(),
            series: 0,
            points: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        }
    }

    pub fn add(&mut self, s: SeriesColumn<'_>) {
        let ts = s.column.timestamps();
        let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
            return;
        };
        debug_assert!(first >= self.window.0 && last < self.window.1);
        for chunk in 0..ts.len().div_ceil(MAX_BLOCK_POINTS) {
            let range = chunk * MAX_BLOCK_POINTS..((chunk + 1) * MAX_BLOCK_POINTS).min(ts.len());
            let offset = self.data.len() as u64;
            match &s.column {
                Column::Numeric(t, v) => block::encode_numeric(
                    &t[range.clone()],
                    &v[range.clone()],
                    self.lz4,
                    &mut self.data,
                ),
                Column::Event(t, p) => {
                    block::encode_events(&t[range.clone()], &p[range.clone()], &mut self.data)
                }
            }
            self.refs.push(BlockRef {
                series: s.id,
                count: range.len() as u32,
                min_ts: ts[range.start],
                max_ts: ts[range.end - 1],
                offset,
                len: (self.data.len() as u64 - offset) as u32,
            });
        }
        self.points += ts.len() as u64;
        self.series += 1;
        self.min_ts = self.min_ts.min(first);
        self.max_ts = self.max_ts.max(last);
        // Hourly summaries stay partition-level: per-series detail there would cost more bytes
        // per point than the data. Historical analytics carry per-series statistics.
        if self.tier == Tier::Hourly {
            return;
        }
        let mut summary = serde_json::json!({
            "key": s.key, "id": s.id, "points": ts.len(), "min_ts": first, "max_ts": last,
        });
        if let Column::Numeric(_, v) = &s.column {
            let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            if !finite.is_empty() {
                let sum: f64 = finite.iter().sum();
                summary["min"] = finite.iter().copied().fold(f64::INFINITY, f64::min).into();
                summary["max"] = finite
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max)
                    .into();
                summary["mean"] = (sum / finite.len() as f64).into();
            }
        }
        self.summaries.push(summary);
    }

    /// Writes and fsyncs the files; the partition is live once a manifest names it.
    pub fn finish(self, storage: &dyn Storage, temporal: &Path) -> Result<PartitionMeta> {
        let path = temporal.join(&self.dir);
        storage
            .create_dir_all(&path)
            .map_err(Error::io("create directory", &path))?;
        let index = index::encode(&self.refs);
        let (data_name, index_name, summary_name) = self.tier.files();
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
        let mut summary = serde_json::json!({
            "tier": self.tier.name(),
            "window": self.tier.window_name(self.window.0),
            "partition": &meta,
        });
        if self.tier != Tier::Hourly {
            summary["series"] = self.summaries.into();
        }
        let summary =
            serde_json::to_vec_pretty(&summary).map_err(|e| Error::Internal(e.to_string()))?;
        write_file(storage, &path.join(data_name), &self.data)?;
        write_file(storage, &path.join(index_name), &index)?;
        write_file(storage, &path.join(summary_name), &summary)?;
        storage
            .sync_dir(&path)
            .map_err(Error::io("fsync directory", &path))?;
        let parent = path.parent().unwrap_or(temporal);
        storage
            .sync_dir(parent)
            .map_err(Error::io("fsync directory", parent))?;
        Ok(meta)
    }
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
        let (data_name, index_name, _) = meta.tier.files();
        let corrupt = |reason: String| Error::CorruptPartition {
            path: path.clone(),
            reason,
        };
        let data = storage
            .map(&path.join(data_name))
            .map_err(|e| corrupt(format!("cannot map {data_name}: {e}")))?;
        let index = storage
            .map(&path.join(index_name))
            .map_err(|e| corrupt(format!("cannot map {index_name}: {e}")))?;
        let index = Index::parse(index).map_err(|r| corrupt(format!("{index_name}: {r}")))?;
        let data_len = (*data).as_ref().len() as u64;
        if let Some(bad) = index.all().find(|r| r.offset + r.len as u64 > data_len) {
            return Err(corrupt(format!(
                "index points past the end of {data_name}: {bad:?}"
            )));
        }
        if index.all().map(|r| r.count as u64).sum::<u64>() != meta.points {
            return Err(corrupt(
                "index and manifest disagree on the point count".into(),
            ));
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

    /// Decodes one block, checking it fully.
    pub fn decode(&self, r: &BlockRef) -> Result<BlockPoints> {
        let bytes = &(*self.data).as_ref()[r.offset as usize..(r.offset + r.len as u64) as usize];
        let (header, points) = block::decode(bytes).map_err(|reason| Error::CorruptPartition {
            path: self.path.clone(),
            reason: format!("block at byte {}: {reason}", r.offset),
        })?;
        if header.count != r.count || header.min_ts != r.min_ts || header.max_ts != r.max_ts {
            return Err(Error::CorruptPartition {
                path: self.path.clone(),
                reason: format!("block at byte {} disagrees with its index entry", r.offset),
            });
        }
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
