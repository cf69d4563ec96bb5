//! The engine: ties the WAL, the live tier and checkpoints together behind one handle.
//!
//! Locking: `writer` (the segment file) is always taken before `state` (live tier and the WAL
//! buffer). Writes take only `state`: they append to memory and to the buffer, so a single
//! point costs a lock and two pushes. Whoever needs durability takes `writer`, grabs the whole
//! buffer and writes and fsyncs it: every write buffered so far rides on that one fsync.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::live::{mismatch, LiveTier, Payload, Points};
use crate::options::{Durability, Options};
use crate::series::{SeriesId, SeriesKey, SeriesKind};
use crate::storage::{FsStorage, LockGuard, Storage};
use crate::time::check_timestamp;
use crate::wal::{self, Entry, FrameBuffer, ReplayReport, SegmentWriter, MAX_EVENT_BYTES};

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
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub series: u64,
    pub points: u64,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    /// WAL fsyncs done; far fewer than writes when group commit works.
    pub wal_syncs: u64,
    pub buffered_bytes: u64,
    pub checkpoints_written: u64,
    pub last_checkpoint_bytes: u64,
    pub recovery: RecoveryStats,
}

struct State {
    live: LiveTier,
    wal: FrameBuffer,
    /// Count of writes accepted so far; a write's number is its sequence.
    seq: u64,
    /// Set when writing the WAL failed: writes are refused from then on.
    failed: Option<String>,
    closed: bool,
    checkpoints_written: u64,
    last_checkpoint_bytes: u64,
}

struct Inner {
    storage: Arc<dyn Storage>,
    layout: Layout,
    options: Options,
    state: Mutex<State>,
    /// `None` once closed.
    writer: Mutex<Option<SegmentWriter>>,
    durable_seq: AtomicU64,
    wal_syncs: AtomicU64,
    checkpointing: Mutex<()>,
    stop_flusher: (Mutex<bool>, Condvar),
    recovery: RecoveryStats,
}

pub struct Engine {
    inner: Arc<Inner>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    lock: Mutex<Option<LockGuard>>,
}

/// Locks a mutex, ignoring poisoning: a panic elsewhere leaves plain data that is still
/// consistent at every await point of this module (no invariant spans an unlock).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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

        let mut recovery = RecoveryStats::default();
        let (mut live, first_segment) =
            match checkpoint::load_latest(storage.as_ref(), &layout.checkpoints())? {
                Some((live, next_segment, _)) => {
                    recovery.checkpoint_loaded = true;
                    recovery.checkpoint_points = live.iter().map(|s| s.points.len() as u64).sum();
                    (live, next_segment)
                }
                None => (LiveTier::default(), 1),
            };
        let mut replayed_points = 0u64;
        let replayed = wal::replay(
            storage.as_ref(),
            &layout.wal(),
            first_segment,
            options.repair,
            &mut |entry| {
                replayed_points += apply(&mut live, entry).map_err(|e| e.to_string())?;
                Ok(())
            },
        )?;
        recovery.replayed_points = replayed_points;
        recovery.wal = replayed.report;
        let writer = SegmentWriter::start(
            storage.clone(),
            &layout.wal(),
            replayed.next_index,
            options.segment_bytes,
            replayed.sizes,
        )?;
        recovery.duration_ms = started.elapsed().as_secs_f64() * 1000.0;

        let repaired = recovery.wal.repaired();
        let inner = Arc::new(Inner {
            storage,
            layout,
            options,
            state: Mutex::new(State {
                live,
                wal: FrameBuffer::default(),
                seq: 0,
                failed: None,
                closed: false,
                checkpoints_written: 0,
                last_checkpoint_bytes: 0,
            }),
            writer: Mutex::new(Some(writer)),
            durable_seq: AtomicU64::new(0),
            wal_syncs: AtomicU64::new(0),
            checkpointing: Mutex::new(()),
            stop_flusher: (Mutex::new(false), Condvar::new()),
            recovery,
        });
        if repaired {
            // Retire the damaged segments now, so the next open does not meet them again.
            inner.checkpoint()?;
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

    /// The point of series `id` at or before `at`.
    pub fn get(&self, id: SeriesId, at: i64) -> Result<Option<(i64, Value)>> {
        let mut st = self.inner.readable()?;
        Ok(match &mut st.live.get_mut(id)?.points {
            Points::Numeric(c) => c.as_of(at).map(|(t, v)| (t, Value::Number(v))),
            Points::Event(c) => c.as_of(at).map(|(t, v)| (t, Value::Event(v))),
        })
    }

    pub fn latest(&self, id: SeriesId) -> Result<Option<(i64, Value)>> {
        let st = self.inner.readable()?;
        Ok(match &st.live.get(id)?.points {
            Points::Numeric(c) => c.latest().map(|(t, v)| (t, Value::Number(v))),
            Points::Event(c) => c.latest().map(|(t, v)| (t, Value::Event(v))),
        })
    }

    /// Points of series `id` with `from <= ts <= to`, in time order (or reversed).
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
        let mut st = self.inner.readable()?;
        Ok(match &mut st.live.get_mut(id)?.points {
            Points::Numeric(c) => {
                let (ts, vs) = c.range(from, to);
                let (timestamps, values) = select(ts, vs, opts);
                RangeResult::Numeric { timestamps, values }
            }
            Points::Event(c) => {
                let (ts, vs) = c.range(from, to);
                let (timestamps, payloads) = select(ts, vs, opts);
                RangeResult::Event {
                    timestamps,
                    payloads,
                }
            }
        })
    }

    pub fn series(&self) -> Result<Vec<SeriesInfo>> {
        let mut st = self.inner.readable()?;
        Ok(st
            .live
            .iter_mut()
            .map(|s| {
                s.points.normalize();
                SeriesInfo {
                    key: s.key.clone(),
                    kind: s.points.kind(),
                    points: s.points.len() as u64,
                }
            })
            .collect())
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
        let mut points = 0;
        for s in st.live.iter_mut() {
            s.points.normalize();
            points += s.points.len() as u64;
        }
        Ok(Stats {
            series: st.live.len() as u64,
            points,
            wal_bytes,
            wal_segments,
            wal_syncs: self.inner.wal_syncs.load(Ordering::Relaxed),
            buffered_bytes: st.wal.len() as u64,
            checkpoints_written: st.checkpoints_written,
            last_checkpoint_bytes: st.last_checkpoint_bytes,
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
        let (stop, wake) = &self.inner.stop_flusher;
        *lock(stop) = true;
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
    fn readable(&self) -> Result<MutexGuard<'_, State>> {
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
    fn accepted(&self, mut st: MutexGuard<'_, State>) -> Result<u64> {
        st.seq += 1;
        let seq = st.seq;
        let full = st.wal.len() >= self.options.max_buffer_bytes;
        drop(st);
        if full {
            self.sync_to(seq, false)?;
        }
        Ok(seq)
    }

    /// Writes the buffer out; with `fsync`, returns once write `target` is durable.
    fn sync_to(&self, target: u64, fsync: bool) -> Result<()> {
        let mut writer = lock(&self.writer);
        if fsync && self.durable_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let w = writer.as_mut().ok_or(Error::Closed)?;
        let (bytes, upto) = {
            let mut st = lock(&self.state);
            if let Some(reason) = &st.failed {
                return Err(Error::WalFailed(reason.clone()));
            }
            (st.wal.take(), st.seq)
        };
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
    fn fail(&self, e: Error) -> Error {
        lock(&self.state).failed = Some(e.to_string());
        e
    }

    fn checkpoint(&self) -> Result<u64> {
        let _one_at_a_time = lock(&self.checkpointing);
        let (mut snapshot, next_segment) = {
            let mut writer = lock(&self.writer);
            let w = writer.as_mut().ok_or(Error::Closed)?;
            let (bytes, upto, snapshot) = {
                let mut st = lock(&self.state);
                if let Some(reason) = &st.failed {
                    return Err(Error::WalFailed(reason.clone()));
                }
                (st.wal.take(), st.seq, st.live.clone())
            };
            let next = w.append(&bytes).and_then(|()| w.roll());
            let next = next.map_err(|e| self.fail(e))?;
            self.durable_seq.fetch_max(upto, Ordering::AcqRel);
            (snapshot, next)
        };
        let bytes = checkpoint::encode(&mut snapshot, next_segment);
        let dir = self.layout.checkpoints();
        let size = checkpoint::write(self.storage.as_ref(), &dir, &bytes, next_segment)?;
        if let Some(w) = lock(&self.writer).as_mut() {
            w.retire_before(next_segment)?;
        }
        let mut st = lock(&self.state);
        st.checkpoints_written += 1;
        st.last_checkpoint_bytes = size;
        Ok(size)
    }

    /// Background loop of the `interval` and `none` modes.
    fn run_flusher(&self) {
        let fsync = self.options.durability == Durability::Interval;
        let (stop, wake) = &self.stop_flusher;
        loop {
            let stopped = wake
                .wait_timeout_while(lock(stop), self.options.flush_interval, |stopped| !*stopped)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if *stopped {
                return;
            }
            drop(stopped);
            let seq = lock(&self.state).seq;
            // A failure is recorded in `state.failed` and reported by the next write.
            let _ = self.sync_to(seq, fsync);
        }
    }
}

/// Copies the selected part of a range out, honouring limit and order.
fn select<V: Clone>(ts: &[i64], vs: &[V], opts: RangeOptions) -> (Vec<i64>, Vec<V>) {
    let n = opts.limit.unwrap_or(usize::MAX).min(ts.len());
    if opts.descending {
        let start = ts.len() - n;
        (
            ts[start..].iter().rev().copied().collect(),
            vs[start..].iter().rev().cloned().collect(),
        )
    } else {
        (ts[..n].to_vec(), vs[..n].to_vec())
    }
}

/// Applies one replayed WAL entry to the live tier; returns how many points it added.
fn apply(live: &mut LiveTier, entry: Entry<'_>) -> Result<u64> {
    match entry {
        Entry::Series { id, kind, key } => {
            if id as usize != live.len() || live.id(key).is_some() {
                return Err(Error::Internal(format!(
                    "series record {id} ({key}) is out of sequence"
                )));
            }
            live.add(key, kind);
            Ok(0)
        }
        Entry::Point { id, ts, value } => {
            live.numeric_mut(id)?.push(ts, value);
            Ok(1)
        }
        Entry::Batch {
            id,
            timestamps,
            values,
        } => {
            live.numeric_mut(id)?.extend(&timestamps, &values);
            Ok(timestamps.len() as u64)
        }
        Entry::Event { id, ts, payload } => {
            live.event_mut(id)?.push(ts, Payload::from(payload));
            Ok(1)
        }
    }
}
