//! The live tier's memory bound (backpressure).
//!
//! Writes from outside the engine ask [`Inner::make_room`] first. Past the bound
//! (`Options::max_live_bytes`) it asks the sealer thread for an early seal and the write goes
//! on; a write that would take the tier past the hard limit, [`HARD_LIMIT`] times the bound,
//! waits for a seal to end or is refused with `BACKPRESSURE`, per `Options::on_pressure`. A
//! tier at or below its bound takes any write, so memory stays within the hard limit plus one
//! write (or one step of its column's growth, see `column`, if that is more).
//!
//! The early seal is an ordinary lifecycle pass that only seals, so it keeps every invariant
//! of one: rollups refreshed before and after the split, the WAL synced and rolled, readers
//! finding the points being sealed until the commit, one atomic commit, the points put back
//! if it fails.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{lock, Engine, Inner, State};
use crate::error::{Error, Result};
use crate::options::OnPressure;
use crate::partition::Tier;
use crate::series::SeriesId;
use crate::types::{PassPlan, Pressure, PressureStats};

/// The hard limit as a multiple of the bound. A seal holds its points in memory until it
/// commits, and writes go on meanwhile: twice the bound gives them a bound's worth of room,
/// so a steady writer never waits unless it outruns the disk.
const HARD_LIMIT: usize = 2;
/// A seal must free at least the bound over this, or it is not asked for: every early seal
/// writes sizeable partitions, and a tier whose fixed per-series cost alone passes the bound
/// (a cardinality problem no seal can fix) never stalls writes.
const WORTH_SEALING: usize = 4;
/// Series whose points are weighed per hold of the state lock, choosing a cutoff.
const CHUNK_IDS: SeriesId = 4096;
/// A failed early seal is not retried sooner than this (waiting writers get its error).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The state the sealer thread shares with writers, and its counters.
#[derive(Default)]
pub(super) struct Sealer {
    signal: Mutex<Signal>,
    /// Wakes the sealer thread.
    wake: Condvar,
    /// Wakes writers and `relieve` when a round ends.
    ended: Condvar,
    engaged: AtomicU64,
    engaged_ns: AtomicU64,
    early_seals: AtomicU64,
    rejected: AtomicU64,
    /// The live tier's footprint as the last write left it: a write checks it without taking
    /// the state lock, and takes the lock only once it passes the bound.
    footprint: AtomicUsize,
    /// The hourly compression of the last pass that sealed: early seals follow the policy's
    /// rule instead of making the next pass recompress what they wrote.
    hourly_lz4: AtomicBool,
}

#[derive(Default)]
struct Signal {
    /// The tier passed its bound: seal if it still has when the round starts.
    asked: bool,
    running: bool,
    stop: bool,
    /// Rounds ended so far.
    rounds: u64,
    /// Why the last round failed, if it did.
    failed: Option<String>,
}

impl Sealer {
    fn signal(&self) -> MutexGuard<'_, Signal> {
        lock(&self.signal)
    }

    fn ask(&self) -> MutexGuard<'_, Signal> {
        let mut s = self.signal();
        s.asked = true;
        self.wake.notify_one();
        s
    }

    /// Asks for a seal and waits for the next round to end; what it failed with, if anything.
    fn wait_round(&self) -> Result<Option<String>> {
        let s = self.ask();
        let target = s.rounds + 1;
        let s = self
            .ended
            .wait_while(s, |s| s.rounds < target && !s.stop)
            .unwrap_or_else(|e| e.into_inner());
        if s.stop {
            return Err(Error::Closed);
        }
        Ok(s.failed.clone())
    }

    fn busy(&self) -> bool {
        let s = self.signal();
        s.asked || s.running
    }

    /// Notes the compression of a pass that seals.
    pub(super) fn follow(&self, plan: &PassPlan) {
        if plan.seal_before.is_some() {
            let lz4 = plan.lz4[Tier::Hourly as usize];
            self.hourly_lz4.store(lz4, Ordering::Relaxed);
        }
    }

    /// Ends the sealer thread (after its round) and wakes everyone waiting for one.
    pub(super) fn stop(&self) {
        self.signal().stop = true;
        self.wake.notify_all();
        self.ended.notify_all();
    }
}

/// The live tier's memory: everything, and what a seal frees (the points, live or being
/// sealed; not the fixed per-series cost).
fn footprint(st: &State) -> (usize, usize) {
    let (sealing, sealing_points) = st
        .sealing
        .as_ref()
        .map_or((0, 0), |s| (s.bytes(), s.point_bytes()));
    (
        st.live.bytes() + sealing,
        st.live.point_bytes() + sealing_points,
    )
}

impl Inner {
    fn bound(&self) -> usize {
        self.options.max_live_bytes
    }

    /// Whether the tier is past its bound with enough to seal.
    fn over_bound(&self, (total, sealable): (usize, usize)) -> bool {
        total > self.bound() && sealable >= self.bound() / WORTH_SEALING
    }

    /// Whether a write of `need` bytes must wait for room.
    fn must_wait(&self, footprint: (usize, usize), need: usize) -> bool {
        self.over_bound(footprint) && footprint.0 + need > HARD_LIMIT * self.bound()
    }

    fn footprint(&self) -> Result<(usize, usize)> {
        Ok(footprint(&*self.readable()?))
    }

    /// Called before a write of about `need` bytes from outside the engine: past the bound,
    /// asks for an early seal; at the hard limit, waits for room or refuses, per `policy`.
    /// Writes the engine makes itself (rollup cells, inside a pass) never come here.
    pub(super) fn make_room(&self, need: usize, policy: OnPressure) -> Result<()> {
        if self.sealer.footprint.load(Ordering::Relaxed) <= self.bound() {
            return Ok(());
        }
        let now = self.footprint()?;
        self.sealer.footprint.store(now.0, Ordering::Relaxed);
        if !self.over_bound(now) {
            return Ok(());
        }
        if !self.must_wait(now, need) {
            drop(self.sealer.ask());
            return Ok(());
        }
        self.sealer.engaged.fetch_add(1, Ordering::Relaxed);
        if policy == OnPressure::Fail {
            drop(self.sealer.ask());
            self.sealer.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Backpressure(format!(
                "the live tier holds {} bytes and this write adds about {need}, past the hard \
                 limit of {} (twice maxLiveBytes): an early seal is under way; retry once \
                 pressure() shows room or relieve() has resolved, write smaller batches, or \
                 open with a larger maxLiveBytes or onPressure 'block'",
                now.0,
                HARD_LIMIT * self.bound()
            )));
        }
        let started = Instant::now();
        let waited = self.wait_for_room(need);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.sealer.engaged_ns.fetch_add(ns, Ordering::Relaxed);
        waited
    }

    fn wait_for_room(&self, need: usize) -> Result<()> {
        loop {
            if let Some(reason) = self.sealer.wait_round()? {
                // A storage failure is reported as itself.
                self.writable().map(drop)?;
                return Err(Error::Backpressure(format!(
                    "the live tier is at its hard limit of {} bytes and the early seal that \
                     would make room failed: {reason}",
                    HARD_LIMIT * self.bound()
                )));
            }
            if !self.must_wait(self.footprint()?, need) {
                return Ok(());
            }
        }
    }

    /// The background loop that seals early when asked (see [`Sealer`]). Runs until
    /// [`Sealer::stop`].
    pub(super) fn run_sealer(&self) {
        let sealer = &self.sealer;
        loop {
            {
                let mut s = sealer
                    .wake
                    .wait_while(sealer.signal(), |s| !s.asked && !s.stop)
                    .unwrap_or_else(|e| e.into_inner());
                if s.stop {
                    return;
                }
                s.asked = false;
                s.running = true;
            }
            // Skipped if a seal since it was asked for (a round, a lifecycle pass, `relieve`)
            // has already made room.
            let due = self.footprint().is_ok_and(|f| self.over_bound(f));
            let outcome = if due { self.seal_early() } else { Ok(0) };
            let failed = outcome.err().map(|e| e.to_string());
            let mut s = sealer.signal();
            s.running = false;
            s.rounds += 1;
            s.failed = failed.clone();
            sealer.ended.notify_all();
            if failed.is_some() {
                drop(
                    sealer
                        .wake
                        .wait_timeout_while(s, RETRY_AFTER, |s| !s.stop)
                        .unwrap_or_else(|e| e.into_inner()),
                );
            }
        }
    }

    /// Seals the live tier now, through an ordinary pass; returns how many points.
    pub(super) fn seal_early(&self) -> Result<u64> {
        let lz4 = self.sealer.hourly_lz4.load(Ordering::Relaxed);
        let plan = PassPlan {
            seal_before: Some(self.early_cutoff()?),
            lz4: [lz4; 4],
            ..PassPlan::default()
        };
        let sealed = self.run_pass(&plan)?.sealed_points;
        if sealed > 0 {
            self.sealer.early_seals.fetch_add(1, Ordering::Relaxed);
        }
        Ok(sealed)
    }

    /// Where an early seal cuts. Sealing recent data writes partitions for hours that are
    /// still being written, and each later seal of such an hour adds an overlay. So it cuts at
    /// the start of the newest hour when the whole hours before it hold at least half the
    /// tier (a backfill, a lifecycle that keeps hours live: each hour is sealed once, whole);
    /// otherwise it seals everything, so each early seal writes at least half a bound's worth
    /// and an hour gets at most one overlay per half bound written, never a trickle of tiny
    /// ones.
    fn early_cutoff(&self) -> Result<i64> {
        let (newest, ids, points) = {
            let st = self.readable()?;
            (st.live.newest_ts(), st.live.ids(), st.live.point_bytes())
        };
        let Some(newest) = newest else {
            return Ok(i64::MAX);
        };
        let hour = Tier::Hourly.window(newest).0;
        let mut before = 0;
        for start in ids.step_by(CHUNK_IDS as usize) {
            let st = self.readable()?;
            before += st
                .live
                .bytes_before(start..start.saturating_add(CHUNK_IDS), hour);
        }
        Ok(if before >= points / 2 { hour } else { i64::MAX })
    }

    /// After a write, under the state lock: what the next write's check reads.
    pub(super) fn note_footprint(&self, st: &State) {
        self.sealer
            .footprint
            .store(footprint(st).0, Ordering::Relaxed);
    }

    /// How full the live tier and the WAL buffer are.
    pub(super) fn pressure(&self, st: &State) -> Pressure {
        Pressure {
            live_bytes: footprint(st).0 as u64,
            live_bound: self.bound() as u64,
            wal_buffered_bytes: self.wal.buffered_bytes(),
            wal_bound: self.options.max_buffer_bytes as u64,
            sealing: self.sealer.busy() || st.sealing.is_some(),
        }
    }

    pub(super) fn pressure_stats(&self, st: &State) -> PressureStats {
        let gauge = self.pressure(st);
        let s = &self.sealer;
        PressureStats {
            live_bytes: gauge.live_bytes,
            live_bound: gauge.live_bound,
            wal_buffered_bytes: gauge.wal_buffered_bytes,
            wal_bound: gauge.wal_bound,
            engaged: s.engaged.load(Ordering::Relaxed),
            #[allow(clippy::cast_precision_loss)]
            engaged_ms: s.engaged_ns.load(Ordering::Relaxed) as f64 / 1e6,
            early_seals: s.early_seals.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
        }
    }
}

impl Engine {
    /// How full the live tier and the WAL buffer are: cheap, for producers to poll.
    pub fn pressure(&self) -> Result<Pressure> {
        let st = self.inner.readable()?;
        Ok(self.inner.pressure(&st))
    }

    /// Seals the live tier early now, whatever its fill, on the calling thread (cut as the
    /// sealer thread cuts); returns how many points it sealed.
    pub fn relieve(&self) -> Result<u64> {
        self.inner.seal_early()
    }
}
