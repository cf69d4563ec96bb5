//! The engine: ties the WAL, the live tier, checkpoints and the partition tiers together
//! behind one handle. Its children each own one part of the work and share the private state
//! defined here: `write` (puts), `read` (the read path across tiers), `commit` (checkpoints and
//! the commit protocol), `pass` (the lifecycle mechanisms), `pressure` (the live tier's memory
//! bound and its early seals), `backup` and `recovery` (open).
//!
//! Locks, outermost first: `manifest_lock` serializes everything that commits a new manifest
//! (checkpoints, lifecycle passes, backups); `state` guards the live tier and the current tier
//! set and is never held across I/O; `catalog` is changed only under `state` (so writers see
//! one order of series creation) and read alone by selections; the WAL's own locks
//! (`wal::Log`) and the sealer's signal (`pressure`) come last.

mod backup;
mod commit;
mod from_rollup;
mod links;
mod pass;
mod pressure;
mod query;
mod read;
mod recovery;
mod rollups;
mod rules;
mod streams;
mod table;
mod write;

pub use write::{Target, Write};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::cache::BlockCache;
use crate::catalog::{Catalog, Selector};
use crate::codec::Payload;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::live::LiveTier;
use crate::options::{Durability, Options};
use crate::partition::{PartitionMeta, Tier};
use crate::series::{is_engine_series, SeriesId, SeriesKey, SeriesKind};
use crate::storage::{FsStorage, LockGuard, Storage};
use crate::tiers::{self, TierSet};
use crate::types::{
    LifecycleStats, PartitionInfo, PassPlan, PassReport, RangeOptions, RangeResult, RecoveryStats,
    RollupStats, SeriesInfo, Stats, TierStats, Value,
};
use crate::wal::Log;

struct State {
    live: LiveTier,
    /// Points a lifecycle pass has taken out of `live` and is writing to partitions; still
    /// readable, and put back if the pass fails before its commit.
    sealing: Option<Arc<LiveTier>>,
    /// The partitions of the current manifest.
    tiers: Arc<TierSet>,
    closed: bool,
    checkpoints_written: u64,
    last_checkpoint_bytes: u64,
    lifecycle: LifecycleStats,
    /// The horizon the last drop of expired series looked at.
    dropped_below: i64,
    rollups: rollups::Rollups,
}

struct Inner {
    storage: Arc<dyn Storage>,
    layout: Layout,
    options: Options,
    state: Mutex<State>,
    catalog: RwLock<Catalog>,
    wal: Log,
    wormhole_hits: AtomicU64,
    manifest_lock: Mutex<()>,
    links: Mutex<crate::links::Links>,
    cache: BlockCache,
    recovery: RecoveryStats,
    sealer: pressure::Sealer,
}

pub struct Engine {
    inner: Arc<Inner>,
    /// The WAL flusher (`interval` and `none` modes) and the sealer.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The directory lock; also serializes `close`.
    lock: Mutex<Option<LockGuard>>,
}

/// Locks a mutex, ignoring poisoning: no invariant of the engine spans an unlock, so the data a
/// panicking thread left behind is still consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    pub fn open(dir: &Path, options: Options) -> Result<Engine> {
        Engine::open_with(Arc::new(FsStorage), dir, options)
    }

    /// Opens (or creates) the database in `dir` on the given storage.
    pub fn open_with(storage: Arc<dyn Storage>, dir: &Path, options: Options) -> Result<Engine> {
        options.validate()?;
        let started = Instant::now();
        let layout = Layout::new(dir);
        layout.prepare_root(storage.as_ref())?;
        let guard = match storage.lock(&layout.lock_file()) {
            Ok(guard) => guard,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::Locked(layout.root.clone()))
            }
            Err(e) => return Err(Error::io("lock", layout.lock_file())(e)),
        };
        layout.create_directories(storage.as_ref())?;

        let recovered = recovery::recover(storage.clone(), &layout, &options)?;
        let mut recovery = recovered.recovery;
        recovery.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let repaired = recovery.wal.repaired()
            || !recovery.dropped_partitions.is_empty()
            || !recovery.repaired_partitions.is_empty()
            || recovery.lost_checkpoint.is_some()
            || recovery.rebuilt_manifest;
        let inner = Arc::new(Inner {
            wal: Log::new(recovered.writer, options.max_buffer_bytes),
            storage,
            layout,
            cache: BlockCache::new(options.cache_bytes),
            options,
            catalog: RwLock::new(recovered.catalog),
            state: Mutex::new(State {
                live: recovered.live,
                sealing: None,
                tiers: Arc::new(recovered.tiers),
                closed: false,
                checkpoints_written: 0,
                last_checkpoint_bytes: 0,
                lifecycle: LifecycleStats::default(),
                dropped_below: crate::time::MIN_TIMESTAMP,
                rollups: rollups::Rollups::default(),
            }),
            wormhole_hits: AtomicU64::new(0),
            manifest_lock: Mutex::new(()),
            links: Mutex::default(),
            recovery,
            sealer: pressure::Sealer::default(),
        });
        inner.load_rollups()?;
        inner.load_links()?;
        if repaired {
            // Commit the repaired state now, so the next open does not meet the damage again
            // (the commit's cleanup deletes the files the repair left out).
            inner.checkpoint()?;
            let manifest = inner.readable()?.tiers.manifest.clone();
            tiers::collect_garbage(inner.storage.as_ref(), &inner.layout.temporal(), &manifest)?;
        }
        let mut threads = Vec::new();
        if inner.has_flusher() {
            let inner = inner.clone();
            threads.push(std::thread::spawn(move || {
                let fsync = inner.options.durability == Durability::Interval;
                inner.wal.run_flusher(inner.options.flush_interval, fsync)
            }));
        }
        let sealer = inner.clone();
        threads.push(std::thread::spawn(move || sealer.run_sealer()));
        Ok(Engine {
            inner,
            threads: Mutex::new(threads),
            lock: Mutex::new(Some(guard)),
        })
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The id of an existing series.
    pub fn series_id(&self, key: &SeriesKey) -> Result<Option<SeriesId>> {
        self.inner.readable().map(drop)?;
        Ok(self.inner.catalog().id(&key.canonical()))
    }

    /// Returns once the write numbered `seq` (and every earlier one) is fsynced.
    pub fn wait_durable(&self, seq: u64) -> Result<()> {
        self.inner.readable().map(drop)?;
        self.inner.wal.sync_to(seq, true)
    }

    /// Writes and fsyncs everything accepted so far.
    pub fn flush(&self) -> Result<()> {
        self.inner.readable().map(drop)?;
        self.inner.wal.flush()
    }

    /// The point of series `id` at or before `at`, whichever tier holds it.
    pub fn get(&self, id: SeriesId, at: i64) -> Result<Option<(i64, Value)>> {
        match self.inner.kind(id)? {
            Some(SeriesKind::Numeric) => self.inner.value_at::<f64>(id, at),
            Some(SeriesKind::Event) => self.inner.value_at::<Payload>(id, at),
            None => Ok(None),
        }
    }

    /// The newest point of series `id`, whichever tier holds it.
    pub fn latest(&self, id: SeriesId) -> Result<Option<(i64, Value)>> {
        self.get(id, i64::MAX)
    }

    /// Points of series `id` with `from <= ts < to` (half-open, like every range of the API,
    /// so consecutive reads tile), in time order (or reversed), across tiers.
    pub fn range(
        &self,
        id: SeriesId,
        from: i64,
        to: i64,
        opts: RangeOptions,
    ) -> Result<RangeResult> {
        if from > to {
            return Err(Error::InvalidRange { from, to });
        }
        let (kind, last) = (self.inner.kind(id)?, to.saturating_sub(1));
        match kind {
            Some(SeriesKind::Numeric) if from < to => {
                self.inner.range_of::<f64>(id, from, last, opts)
            }
            Some(SeriesKind::Event) if from < to => {
                self.inner.range_of::<Payload>(id, from, last, opts)
            }
            Some(SeriesKind::Event) => Ok(RangeResult::Event {
                timestamps: Vec::new(),
                payloads: Vec::new(),
            }),
            _ => Ok(RangeResult::Numeric {
                timestamps: Vec::new(),
                values: Vec::new(),
            }),
        }
    }

    /// Like [`range`](Engine::range), of a series by id or by key; `None` if the key names no
    /// series (the bounds are checked all the same).
    pub fn range_of(
        &self,
        series: Target<'_>,
        from: i64,
        to: i64,
        opts: RangeOptions,
    ) -> Result<Option<RangeResult>> {
        if from > to {
            return Err(Error::InvalidRange { from, to });
        }
        let found = match series {
            Target::Id(id) => Some(id),
            Target::Key(key) => self.series_id(key)?,
            Target::Text(text) => match self.inner.catalog().id(text) {
                Some(id) => Some(id),
                None => self.series_id(&SeriesKey::parse(text)?)?,
            },
        };
        let Some(id) = found else {
            return Ok(None);
        };
        self.range(id, from, to, opts).map(Some)
    }

    /// Every series with its kind and the points a full read of it returns.
    pub fn series(&self) -> Result<Vec<SeriesInfo>> {
        let counts = self.inner.point_counts(None)?;
        let catalog = self.inner.catalog();
        Ok(catalog
            .iter()
            .filter(|(_, key, _)| !is_engine_series(key))
            .map(|(id, key, kind)| SeriesInfo {
                id,
                key: key.to_owned(),
                kind,
                points: counts.get(id as usize).copied().unwrap_or(0),
            })
            .collect())
    }

    /// The series a selection matches, in id order: at most `limit` of them, those after id
    /// `after` (the last of the previous page), each with its kind and point count.
    pub fn find_series(
        &self,
        selector: &Selector,
        limit: usize,
        after: Option<SeriesId>,
    ) -> Result<Vec<SeriesInfo>> {
        self.inner.readable().map(drop)?;
        let ids: Vec<SeriesId> = {
            let selected = self.inner.indexed_catalog().select(selector);
            let start = after.map_or(0, |a| selected.partition_point(|&id| id <= a));
            selected.into_iter().skip(start).take(limit).collect()
        };
        let counts = self.inner.point_counts(Some(&ids))?;
        let catalog = self.inner.catalog();
        Ok(ids
            .iter()
            .zip(counts)
            .filter_map(|(&id, points)| {
                Some(SeriesInfo {
                    id,
                    key: catalog.key(id)?.to_owned(),
                    kind: catalog.kind(id)?,
                    points,
                })
            })
            .collect())
    }

    /// Every value of tag `name` (of the metric name, for `None`) among live series, with how
    /// many series have it, sorted by value.
    pub fn tag_values(&self, name: Option<&str>) -> Result<Vec<(String, usize)>> {
        self.inner.readable().map(drop)?;
        let mut values = self.inner.indexed_catalog().tag_values(name);
        values.sort_unstable();
        Ok(values)
    }

    /// Every partition of every tier, with its read counts.
    pub fn partitions(&self) -> Result<Vec<PartitionInfo>> {
        let tiers = self.inner.readable()?.tiers.clone();
        Ok(tiers
            .partitions
            .iter()
            .map(|p| {
                let (reads, last_read_ms) = p.reads();
                PartitionInfo {
                    meta: p.meta.clone(),
                    reads,
                    last_read_ms,
                }
            })
            .collect())
    }

    /// Carries out one lifecycle pass (see [`PassPlan`]) and commits it at once: a crash
    /// leaves the state before the pass or after it.
    pub fn run_pass(&self, plan: &PassPlan) -> Result<PassReport> {
        self.inner.run_pass(plan)
    }

    /// Moves the live points older than `cutoff` into hourly partitions (LZ4-compressed if
    /// `lz4`); returns how many.
    pub fn seal(&self, cutoff: i64, lz4: bool) -> Result<u64> {
        let plan = PassPlan {
            seal_before: Some(cutoff),
            lz4: [lz4; 4],
            ..PassPlan::default()
        };
        Ok(self.run_pass(&plan)?.sealed_points)
    }

    /// Merges the partitions inside the `tier` window containing `at` into a partition of
    /// `tier` (a move down the tiers, or with another `lz4` setting a recompression); returns
    /// what it wrote, if anything changed.
    pub fn compact(&self, tier: Tier, at: i64, lz4: bool) -> Result<Option<PartitionMeta>> {
        let plan = PassPlan {
            compact: vec![(tier, at)],
            lz4: [lz4; 4],
            ..PassPlan::default()
        };
        Ok(self.run_pass(&plan)?.moves.pop().map(|m| m.output))
    }

    /// Retention: every point older than `horizon` is gone from now on, and partitions whose
    /// window ended by then are deleted; returns how many.
    pub fn expire(&self, horizon: i64) -> Result<u64> {
        let plan = PassPlan {
            expire_before: Some(horizon),
            ..PassPlan::default()
        };
        Ok(self.run_pass(&plan)?.dropped.len() as u64)
    }

    /// Writes a consistent copy of the database to `target` (a new or empty directory outside
    /// the database).
    pub fn backup(&self, target: &Path) -> Result<()> {
        self.inner.backup(target)
    }

    /// Snapshots the live tier to a checkpoint and retires the WAL segments it covers.
    pub fn checkpoint(&self) -> Result<u64> {
        self.inner.checkpoint()
    }

    pub fn stats(&self) -> Result<Stats> {
        let counts = self.inner.point_counts(None)?;
        let inner = &self.inner;
        let mut st = inner.readable()?;
        st.live.normalize_all();
        let mut live_points: u64 = st.live.iter().map(|p| p.len() as u64).sum();
        if let Some(sealing) = &st.sealing {
            live_points += sealing.iter().map(|p| p.len() as u64).sum::<u64>();
        }
        let tiers = Tier::ALL
            .iter()
            .map(|&tier| {
                let of_tier = st.tiers.partitions.iter().filter(|p| p.meta.tier == tier);
                TierStats {
                    tier,
                    partitions: of_tier.clone().count() as u64,
                    points: of_tier.clone().map(|p| p.meta.points).sum(),
                    bytes: of_tier.map(|p| p.meta.bytes).sum(),
                }
            })
            .collect();
        let horizon = st.tiers.manifest.horizon;
        let (series, catalog_bytes) = {
            let catalog = inner.catalog();
            // The engine's own series (rollup cells) are not counted.
            let visible = catalog
                .iter()
                .filter(|(_, k, _)| !is_engine_series(k))
                .count();
            (visible as u64, catalog.heap_bytes() as u64)
        };
        Ok(Stats {
            series,
            catalog_bytes,
            points: counts.iter().sum(),
            live_points,
            wal_bytes: inner.wal.bytes_on_disk(),
            wal_segments: inner.wal.segments(),
            wal_syncs: inner.wal.syncs(),
            wormhole_hits: inner.wormhole_hits.load(Ordering::Relaxed),
            buffered_bytes: inner.wal.buffered_bytes(),
            checkpoints_written: st.checkpoints_written,
            last_checkpoint_bytes: st.last_checkpoint_bytes,
            manifest_generation: st.tiers.manifest.generation,
            retention_horizon: (horizon > crate::time::MIN_TIMESTAMP).then_some(horizon),
            tiers,
            cache: inner.cache.stats(),
            lifecycle: st.lifecycle.clone(),
            recovery: inner.recovery.clone(),
            rollups: RollupStats {
                rollups: st.rollups.active().count() as u64,
                refreshes: st.rollups.refreshes,
                cells_written: st.rollups.cells_written,
                queries: st.rollups.queries,
                dirty_series: st.rollups.marks.dirty_count() as u64,
            },
            pressure: inner.pressure_stats(&st),
        })
    }

    /// Makes everything durable, writes a final checkpoint (unless disabled) and releases the
    /// directory. Closing twice, or from two threads at once, is fine: the later call returns
    /// once the first has closed.
    pub fn close(&self) -> Result<()> {
        let mut dir_lock = lock(&self.lock);
        if dir_lock.is_none() {
            return Ok(());
        }
        self.stop_threads();
        let result = if self.inner.options.checkpoint_on_close {
            self.inner.checkpoint().map(drop)
        } else {
            self.inner.wal.flush()
        };
        lock(&self.inner.state).closed = true;
        self.inner.wal.close();
        *dir_lock = None;
        result
    }

    fn stop_threads(&self) {
        self.inner.wal.stop_flusher();
        self.inner.sealer.stop();
        for handle in lock(&self.threads).drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Dropping without close (a crash of the host, or a forgotten handle) keeps the
        // durability promise of the mode: the flusher stops, buffered writes are written.
        self.stop_threads();
        if !lock(&self.inner.state).closed {
            let _ = self.inner.wal.flush();
        }
    }
}

impl Inner {
    /// The state, for reading: fails once closed.
    fn readable(&self) -> Result<MutexGuard<'_, State>> {
        let st = lock(&self.state);
        if st.closed {
            return Err(Error::Closed);
        }
        Ok(st)
    }

    /// The state, for changing: fails once closed or after a storage failure.
    fn writable(&self) -> Result<MutexGuard<'_, State>> {
        let st = self.readable()?;
        self.wal.check()?;
        Ok(st)
    }

    fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The catalog with its tag index built (the first selection builds it).
    fn indexed_catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        if !self.catalog().is_indexed() {
            self.catalog_mut().index_tags();
        }
        self.catalog()
    }

    /// The catalog, for adding or dropping series: only under the state lock.
    fn catalog_mut(&self) -> RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|e| e.into_inner())
    }

    fn has_flusher(&self) -> bool {
        self.options.durability != Durability::Sync
    }
}
