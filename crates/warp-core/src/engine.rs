//! The engine: ties the WAL, the live tier, checkpoints and the partition tiers together
//! behind one handle.
//!
//! Locking: `writer` (the segment file) is always taken before `state` (live tier and the WAL
//! buffer). Writes take only `state`: they append to memory and to the buffer, so a single
//! point costs a lock and two pushes. Whoever needs durability takes `writer`, grabs the whole
//! buffer and writes and fsyncs it: every write buffered so far rides on that one fsync.
//! `manifest_lock` (outermost) serializes everything that commits a new manifest: checkpoints,
//! seals, compactions, retention and backups.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::cache::{BlockCache, CacheStats};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::lifecycle::LifecycleStats;
use crate::live::{mismatch, LiveTier, Payload};
use crate::options::{Durability, Options};
use crate::partition::{PartitionMeta, Tier};
use crate::read::select;
use crate::recovery::{recover, Recovered};
use crate::series::{SeriesId, SeriesKey, SeriesKind};
use crate::storage::{FsStorage, LockGuard, Storage};
use crate::tiers::{self, TierSet};
use crate::time::check_timestamp;
use crate::wal::{self, FrameBuffer, ReplayReport, SegmentWriter, MAX_EVENT_BYTES};

/// A point's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Event(Payload),
}

/// Points of one series in time order.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeResult {
    Numeric {
        timestamps: Vec<i64>,
        values: Vec<f64>,
    },
    Event {
        timestamps: Vec<i64>,
        payloads: Vec<Payload>,
    },
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RangeOptions {
    /// At most this many points: the first ones, or the last ones when `descending`.
    pub limit: Option<usize>,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    pub key: String,
    pub kind: SeriesKind,
    pub points: u64,
}

/// What the last open found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryStats {
    pub checkpoint_loaded: bool,
    pub checkpoint_points: u64,
    pub replayed_points: u64,
    pub wal: ReplayReport,
    /// With `repair`: partitions left out of the live set because they failed their checks.
    pub dropped_partitions: Vec<String>,
    pub duration_ms: f64,
}

/// One tier's share of the data.
#[derive(Debug, Clone, PartialEq)]
pub struct TierStats {
    pub tier: Tier,
    pub partitions: u64,
    pub points: u64,
    pub bytes: u64,
}

/// A partition as the lifecycle policy sees it: what the manifest says plus how it is read.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionInfo {
    pub meta: PartitionMeta,
    /// Reads since the database was opened.
    pub reads: u64,
    /// Time of the last read in ms since the epoch, 0 if never read.
    pub last_read_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub series: u64,
    pub points: u64,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    /// WAL fsyncs done; far fewer than writes when group commit works.
    pub wal_syncs: u64,
    /// Latest/as-of reads answered by the live tier's newest-point pointer, no partition read.
    pub wormhole_hits: u64,
    pub buffered_bytes: u64,
    pub checkpoints_written: u64,
    pub last_checkpoint_bytes: u64,
    pub manifest_generation: u64,
    pub live_points: u64,
    pub tiers: Vec<TierStats>,
    pub cache: CacheStats,
    pub lifecycle: LifecycleStats,
    pub recovery: RecoveryStats,
}

pub(crate) struct State {
    pub(crate) live: LiveTier,
    /// Points a seal has taken out of `live` and is writing to partitions; still readable.
    pub(crate) sealing: Option<Arc<LiveTier>>,
    /// The partitions of the current manifest.
    pub(crate) tiers: Arc<TierSet>,
    pub(crate) wal: FrameBuffer,
    /// Count of writes accepted so far; a write's number is its sequence.
    pub(crate) seq: u64,
    /// Set when writing the WAL failed: writes are refused from then on.
    pub(crate) failed: Option<String>,
    pub(crate) closed: bool,
    pub(crate) checkpoints_written: u64,
    pub(crate) last_checkpoint_bytes: u64,
    pub(crate) lifecycle: LifecycleStats,
}

#[derive(Default)]
pub(crate) struct FlusherSignal {
    stop: bool,
    /// The WAL buffer passed its soft limit.
    kick: bool,
}

pub(crate) struct Inner {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) layout: Layout,
    pub(crate) options: Options,
    pub(crate) state: Mutex<State>,
    /// `None` once closed.
    pub(crate) writer: Mutex<Option<SegmentWriter>>,
    pub(crate) durable_seq: AtomicU64,
    pub(crate) wal_syncs: AtomicU64,
    pub(crate) wormhole_hits: AtomicU64,
    pub(crate) manifest_lock: Mutex<()>,
    pub(crate) cache: BlockCache,
    /// Signals to the flusher thread of the `interval` and `none` modes, and its wake-up.
    pub(crate) flusher_signal: (Mutex<FlusherSignal>, Condvar),
    pub(crate) recovery: RecoveryStats,
}

pub struct Engine {
    inner: Arc<Inner>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    lock: Mutex<Option<LockGuard>>,
}

/// Locks a mutex, ignoring poisoning: a panic elsewhere leaves plain data that is still
/// consistent at every await point of this module (no invariant spans an unlock).
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

        let Recovered {
            live,
            tiers,
            writer,
            mut recovery,
        } = recover(storage.clone(), &layout, &options)?;
        recovery.duration_ms = started.elapsed().as_secs_f64() * 1000.0;

        let repaired = recovery.wal.repaired() || !recovery.dropped_partitions.is_empty();
        let inner = Arc::new(Inner {
            storage,
            layout,
            cache: BlockCache::new(options.cache_bytes),
            options,
            state: Mutex::new(State {
                live,
                sealing: None,
                tiers: Arc::new(tiers),
                wal: FrameBuffer::default(),
                seq: 0,
                failed: None,
                closed: false,
                checkpoints_written: 0,
                last_checkpoint_bytes: 0,
                lifecycle: LifecycleStats::default(),
            }),
            writer: Mutex::new(Some(writer)),
            durable_seq: AtomicU64::new(0),
            wal_syncs: AtomicU64::new(0),
            wormhole_hits: AtomicU64::new(0),
            manifest_lock: Mutex::new(()),
            flusher_signal: (Mutex::new(FlusherSignal::default()), Condvar::new()),
            recovery,
        });
        if repaired {
            // Commit the repaired state now, so the next open does not meet the damage again,
            // and clear the files of partitions the repair left out.
            inner.checkpoint()?;
            let manifest = inner.readable()?.tiers.manifest.clone();
            tiers::collect_garbage(inner.storage.as_ref(), &inner.layout.temporal(), &manifest)?;
        }
        let flusher = match inner.options.durability {
            Durability::Sync => None,
            Durability::Interval | Durability::None => {
                let inner = inner.clone();
                Some(std::thread::spawn(move || inner.run_flusher()))
            }
        };
        Ok(Engine {
            inner,
            flusher: Mutex::new(flusher),
            lock: Mutex::new(Some(guard)),
        })
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The id of an existing series.
    pub fn series_id(&self, key: &SeriesKey) -> Result<Option<SeriesId>> {
        let st = self.inner.readable()?;
        Ok(st.live.id(&key.canonical()))
    }

    /// The id of a series, creating it (as `kind`) if it does not exist.
    pub fn ensure_series(&self, key: &SeriesKey, kind: SeriesKind) -> Result<SeriesId> {
        let canonical = key.canonical();
        let mut st = self.inner.writable()?;
        if let Some(id) = st.live.id(&canonical) {
            let existing = st.live.get(id)?.points.kind();
            if existing != kind {
                return Err(mismatch(&canonical, existing, kind));
            }
            return Ok(id);
        }
        let id = st.live.add(&canonical, kind);
        wal::push_series(&mut st.wal, id, kind, &canonical);
        st.seq += 1;
        Ok(id)
    }

    /// Appends one numeric point; returns the write's sequence number.
    pub fn put_numeric(&self, id: SeriesId, ts: i64, value: f64) -> Result<u64> {
        check_timestamp(ts)?;
        let mut st = self.inner.writable()?;
        st.live.numeric_mut(id)?.push(ts, value);
        wal::push_point(&mut st.wal, id, ts, value);
        self.inner.accepted(st)
    }

    /// Appends numeric points of any series (point i is `ids[i]`, `ts[i]`, `values[i]`), all or
    /// none: everything is checked before anything is applied. Returns the sequence number.
    pub fn put_points(&self, ids: &[SeriesId], ts: &[i64], values: &[f64]) -> Result<u64> {
        if ids.len() != ts.len() || ts.len() != values.len() {
            return Err(Error::InvalidArgument(format!(
                "{} ids, {} timestamps and {} values",
                ids.len(),
                ts.len(),
                values.len()
            )));
        }
        for &t in ts {
            check_timestamp(t)?;
        }
        let mut st = self.inner.writable()?;
        for &id in ids {
            st.live.numeric_mut(id)?;
        }
        for ((&id, &t), &v) in ids.iter().zip(ts).zip(values) {
            st.live.numeric_mut(id)?.push(t, v);
            wal::push_point(&mut st.wal, id, t, v);
        }
        self.inner.accepted(st)
    }

    /// Appends many numeric points of one series; returns the write's sequence number.
    pub fn put_batch(&self, id: SeriesId, timestamps: &[i64], values: &[f64]) -> Result<u64> {
        if timestamps.len() != values.len() {
            return Err(Error::InvalidArgument(format!(
                "{} timestamps but {} values",
                timestamps.len(),
                values.len()
            )));
        }
        for &ts in timestamps {
            check_timestamp(ts)?;
        }
        let mut st = self.inner.writable()?;
        st.live.numeric_mut(id)?.extend(timestamps, values);
        wal::push_batch(&mut st.wal, id, timestamps, values);
        self.inner.accepted(st)
    }

    /// Appends one event (opaque payload bytes); returns the write's sequence number.
    pub fn put_event(&self, id: SeriesId, ts: i64, payload: &[u8]) -> Result<u64> {
        check_timestamp(ts)?;
        if payload.len() > MAX_EVENT_BYTES {
            return Err(Error::InvalidValue(format!(
                "event payload of {} bytes exceeds {MAX_EVENT_BYTES}",
                payload.len()
            )));
        }
        let mut st = self.inner.writable()?;
        st.live.event_mut(id)?.push(ts, Payload::from(payload));
        wal::push_event(&mut st.wal, id, ts, payload);
        self.inner.accepted(st)
    }

    /// Returns once the write numbered `seq` (and every earlier one) is fsynced.
    pub fn wait_durable(&self, seq: u64) -> Result<()> {
        self.inner.sync_to(seq, true)
    }

    /// Writes and fsyncs everything accepted so far.
    pub fn flush(&self) -> Result<()> {
        let seq = self.inner.readable()?.seq;
        self.inner.sync_to(seq, true)
    }

    /// The point of series `id` at or before `at`, whichever tier holds it.
    pub fn get(&self, id: SeriesId, at: i64) -> Result<Option<(i64, Value)>> {
        let kind = self.inner.kind(id)?;
        match kind {
            SeriesKind::Numeric => self
                .inner
                .as_of::<f64>(id, at)
                .map(|p| p.map(|(t, v)| (t, Value::Number(v)))),
            SeriesKind::Event => self
                .inner
                .as_of::<Payload>(id, at)
                .map(|p| p.map(|(t, v)| (t, Value::Event(v)))),
        }
    }

    /// The newest point of series `id`, whichever tier holds it.
    pub fn latest(&self, id: SeriesId) -> Result<Option<(i64, Value)>> {
        self.get(id, i64::MAX)
    }

    /// Points of series `id` with `from <= ts <= to`, in time order (or reversed), across tiers.
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
        Ok(match self.inner.kind(id)? {
            SeriesKind::Numeric => {
                let (ts, vs) = self.inner.range::<f64>(id, from, to)?;
                let (timestamps, values) = select(ts, vs, opts);
                RangeResult::Numeric { timestamps, values }
            }
            SeriesKind::Event => {
                let (ts, ps) = self.inner.range::<Payload>(id, from, to)?;
                let (timestamps, payloads) = select(ts, ps, opts);
                RangeResult::Event {
                    timestamps,
                    payloads,
                }
            }
        })
    }

    /// Every series with its kind and stored points (live and partitions).
    pub fn series(&self) -> Result<Vec<SeriesInfo>> {
        let mut st = self.inner.readable()?;
        let mut points: Vec<u64> = vec![0; st.live.len()];
        for p in &st.tiers.partitions {
            for r in p.blocks() {
                if let Some(n) = points.get_mut(r.series as usize) {
                    *n += r.count as u64;
                }
            }
        }
        if let Some(sealing) = &st.sealing {
            for (n, s) in points.iter_mut().zip(sealing.iter()) {
                *n += s.points.len() as u64;
            }
        }
        Ok(st
            .live
            .iter_mut()
            .zip(points)
            .map(|(s, stored)| {
                s.points.normalize();
                SeriesInfo {
                    key: s.key.clone(),
                    kind: s.points.kind(),
                    points: s.points.len() as u64 + stored,
                }
            })
            .collect())
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

    /// Moves the live points older than `cutoff` into hourly partitions (LZ4-compressed if
    /// `lz4`); returns how many.
    pub fn seal(&self, cutoff: i64, lz4: bool) -> Result<u64> {
        self.inner.seal(cutoff, lz4)
    }

    /// Merges every partition inside the `tier` window containing `window_start` into one
    /// partition of `tier` (a move down the tiers, or with another `lz4` setting a
    /// recompression); returns it, if anything changed.
    pub fn compact(
        &self,
        tier: Tier,
        window_start: i64,
        lz4: bool,
    ) -> Result<Option<PartitionMeta>> {
        self.inner.compact(tier, window_start, lz4)
    }

    /// Deletes the partitions whose window ended at or before `cutoff` (retention); returns
    /// how many.
    pub fn drop_before(&self, cutoff: i64) -> Result<u64> {
        self.inner.drop_before(cutoff)
    }

    /// Writes a consistent copy of the database to `target` (a new or empty directory).
    pub fn backup(&self, target: &Path) -> Result<()> {
        self.inner.backup(target)
    }

    /// Snapshots the live tier to a checkpoint and retires the WAL segments it covers.
    pub fn checkpoint(&self) -> Result<u64> {
        self.inner.checkpoint()
    }

    pub fn stats(&self) -> Result<Stats> {
        let (wal_bytes, wal_segments) = {
            let writer = lock(&self.inner.writer);
            let w = writer.as_ref().ok_or(Error::Closed)?;
            (w.bytes_on_disk(), w.segment_count() as u64)
        };
        let mut st = self.inner.readable()?;
        let mut live_points = 0;
        for s in st.live.iter_mut() {
            s.points.normalize();
            live_points += s.points.len() as u64;
        }
        if let Some(sealing) = &st.sealing {
            live_points += sealing.iter().map(|s| s.points.len() as u64).sum::<u64>();
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
        Ok(Stats {
            series: st.live.len() as u64,
            points: live_points + st.tiers.points(),
            live_points,
            wal_bytes,
            wal_segments,
            wal_syncs: self.inner.wal_syncs.load(Ordering::Relaxed),
            wormhole_hits: self.inner.wormhole_hits.load(Ordering::Relaxed),
            buffered_bytes: st.wal.len() as u64,
            checkpoints_written: st.checkpoints_written,
            last_checkpoint_bytes: st.last_checkpoint_bytes,
            manifest_generation: st.tiers.manifest.generation,
            tiers,
            cache: self.inner.cache.stats(),
            lifecycle: st.lifecycle.clone(),
            recovery: self.inner.recovery.clone(),
        })
    }

    /// Makes everything durable, writes a final checkpoint (unless disabled) and releases the
    /// directory. Later calls return `Closed`; closing twice is fine.
    pub fn close(&self) -> Result<()> {
        if lock(&self.inner.state).closed {
            return Ok(());
        }
        self.stop_flusher();
        let result = if self.inner.options.checkpoint_on_close {
            self.inner.checkpoint().map(drop)
        } else {
            self.flush()
        };
        lock(&self.inner.state).closed = true;
        *lock(&self.inner.writer) = None;
        *lock(&self.lock) = None;
        result
    }

    fn stop_flusher(&self) {
        let (signal, wake) = &self.inner.flusher_signal;
        lock(signal).stop = true;
        wake.notify_all();
        if let Some(handle) = lock(&self.flusher).take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Dropping without close (a crash of the host, or a forgotten handle) keeps the
        // durability promise of the mode: the flusher stops, buffered writes are written.
        self.stop_flusher();
        if !lock(&self.inner.state).closed {
            let _ = self.flush();
        }
    }
}

impl Inner {
    /// The state, for reading: fails once closed.
    pub(crate) fn readable(&self) -> Result<MutexGuard<'_, State>> {
        let st = lock(&self.state);
        if st.closed {
            return Err(Error::Closed);
        }
        Ok(st)
    }

    /// The state, for writing: fails once closed or after a WAL failure.
    fn writable(&self) -> Result<MutexGuard<'_, State>> {
        let st = self.readable()?;
        if let Some(reason) = &st.failed {
            return Err(Error::WalFailed(reason.clone()));
        }
        Ok(st)
    }

    /// Counts an accepted write; hands the buffer to the OS when it has grown too large.
    /// Counts an accepted write. Past `max_buffer_bytes` the flusher thread (if any) is asked
    /// to hand the buffer to the OS, off the writer's thread; past eight times that, or with no
    /// flusher (`sync` mode), the writer does it itself: memory stays bounded (backpressure).
    fn accepted(&self, mut st: MutexGuard<'_, State>) -> Result<u64> {
        st.seq += 1;
        let seq = st.seq;
        let buffered = st.wal.len();
        drop(st);
        let soft = self.options.max_buffer_bytes;
        if buffered >= soft {
            let has_flusher = self.options.durability != Durability::Sync;
            if has_flusher && buffered < soft * 8 {
                let (signal, wake) = &self.flusher_signal;
                lock(signal).kick = true;
                wake.notify_one();
            } else {
                self.sync_to(seq, false)?;
            }
        }
        Ok(seq)
    }

    /// Takes the buffered WAL records and the sequence number they reach. The caller holds
    /// `writer`, so the bytes are appended in the order they were taken.
    pub(crate) fn take_buffer(&self) -> Result<(Vec<u8>, u64)> {
        let mut st = lock(&self.state);
        if let Some(reason) = &st.failed {
            return Err(Error::WalFailed(reason.clone()));
        }
        Ok((st.wal.take(), st.seq))
    }

    /// Writes the buffer out; with `fsync`, returns once write `target` is durable.
    fn sync_to(&self, target: u64, fsync: bool) -> Result<()> {
        let mut writer = lock(&self.writer);
        if fsync && self.durable_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let w = writer.as_mut().ok_or(Error::Closed)?;
        let (bytes, upto) = self.take_buffer()?;
        let written = w
            .append(&bytes)
            .and_then(|()| if fsync { w.sync() } else { Ok(()) });
        match written {
            Ok(()) if fsync => {
                self.durable_seq.fetch_max(upto, Ordering::AcqRel);
                self.wal_syncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Records a WAL failure: the taken bytes are not durable, so no later write may be
    /// acknowledged on top of them.
    pub(crate) fn fail(&self, e: Error) -> Error {
        lock(&self.state).failed = Some(e.to_string());
        e
    }

    /// Background loop of the `interval` and `none` modes: every `flush_interval` write the
    /// buffer out (and fsync it in `interval` mode); when kicked by a full buffer, write it out.
    fn run_flusher(&self) {
        let periodic_fsync = self.options.durability == Durability::Interval;
        let (signal, wake) = &self.flusher_signal;
        let mut last_fsync = Instant::now();
        loop {
            let mut s = wake
                .wait_timeout_while(lock(signal), self.options.flush_interval, |s| {
                    !s.stop && !s.kick
                })
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if s.stop {
                return;
            }
            let kicked = std::mem::take(&mut s.kick);
            drop(s);
            // Kicks never postpone the periodic fsync: it is due every interval regardless.
            let due = !kicked || last_fsync.elapsed() >= self.options.flush_interval;
            let fsync = periodic_fsync && due;
            if fsync {
                last_fsync = Instant::now();
            }
            let seq = lock(&self.state).seq;
            // A failure is recorded in `state.failed` and reported by the next write.
            let _ = self.sync_to(seq, fsync);
        }
    }
}
