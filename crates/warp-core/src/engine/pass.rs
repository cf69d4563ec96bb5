//! The lifecycle mechanisms, carried out as one pass with one commit; the TypeScript policy
//! decides what (see [`PassPlan`]).
//!
//! - **expire**: the retention horizon moves forward; points older than it are gone at once
//!   (reads skip them, rewrites drop them) and partitions whose window ended before it are
//!   deleted. Deciding per point means no older version of a point can ever come back.
//! - **seal**: live points older than a cutoff become hourly partitions.
//! - **compact**: the partitions inside a window of a coarser tier are merged into one
//!   partition of that tier, later writes winning. Into a large partition already there, late
//!   data goes as an overlay (a second partition of the window) until the overlays are worth a
//!   rewrite: at most [`MAX_PER_WINDOW`] partitions per window, overlays at most a quarter of
//!   the base, bases under [`FOLD_BELOW_BYTES`] always rewritten.
//! - **cascade**: every window whose finer partitions are all ripe is compacted, tier after
//!   tier, so data can move from hourly to yearly in one pass.
//! - **recompress**: partitions written under another compression rule are rewritten.
//!
//! New partitions are built in memory: one that a later step of the same pass consumes (an
//! hour folded into its day, a day into its month) never touches the disk. The ones that
//! survive are written and fsynced together at the end of the pass, then everything is
//! committed at once. Puts and reads go on meanwhile: readers see the old generation (plus the
//! points being sealed) until the commit.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::read::{self, Run};
use std::sync::MutexGuard;

use super::{lock, Inner, State};
use crate::codec::Payload;
use crate::error::{Error, Result};
use crate::live::{LiveTier, Points};
use crate::manifest::Manifest;
use crate::names;
use crate::partition::{self, Built, Partition, PartitionMeta, PartitionWriter, Tier};
use crate::retention::{self, Horizons, Rule};
use crate::sample::Sample;
use crate::series::{SeriesId, SeriesKind};
use crate::tiers::{unique_dir, TierSet};
use crate::types::{Move, PassPlan, PassReport};
use crate::wal;

/// Partitions of one tier a window may hold (its base and overlays) before they are folded.
pub const MAX_PER_WINDOW: usize = 4;
/// A base smaller than this is always rewritten rather than given an overlay.
pub const FOLD_BELOW_BYTES: u64 = 8 << 20;

impl Inner {
    pub(super) fn run_pass(&self, plan: &PassPlan) -> Result<PassReport> {
        if plan.expire_rules.len() > retention::MAX_RULES {
            return Err(Error::InvalidArgument(format!(
                "{} retention rules (at most {})",
                plan.expire_rules.len(),
                retention::MAX_RULES
            )));
        }
        for (metric, _) in &plan.expire_rules {
            retention::glob(metric).map_err(Error::InvalidArgument)?;
        }
        let _one_at_a_time = lock(&self.manifest_lock);
        self.writable().map(drop)?;
        self.sealer.follow(plan);
        let (base, series) = {
            let st = self.readable()?;
            let kinds: Vec<SeriesKind> = st.live.iter().map(Points::kind).collect();
            (st.tiers.clone(), kinds)
        };
        let mut stage = Stage {
            inner: self,
            manifest: base.manifest.clone(),
            partitions: base.partitions.clone(),
            base,
            series,
            created: HashMap::new(),
            written: HashSet::new(),
            report: PassReport::default(),
            horizons: Horizons::default(),
            cleanup_failures: 0,
        };
        if let Some(horizon) = plan.expire_before {
            stage.manifest.horizon = stage.manifest.horizon.max(horizon);
        }
        let planned = plan
            .expire_rules
            .iter()
            .map(|(metric, horizon)| Rule {
                metric: metric.clone(),
                horizon: *horizon,
            })
            .collect::<Vec<_>>();
        stage.manifest.retention = retention::merge(
            &stage.base.manifest.retention,
            stage.base.manifest.horizon,
            &planned,
            stage.manifest.horizon,
        );
        if stage.manifest.retention.len() > retention::MAX_KEPT {
            return Err(Error::InvalidArgument(format!(
                "{} retention rules would be in force (at most {}): rules removed from the \
                 plan stay until the default horizon passes them",
                stage.manifest.retention.len(),
                retention::MAX_KEPT
            )));
        }
        stage.horizons = Horizons::new(stage.manifest.horizon, &stage.manifest.retention);
        let outcome = (|| {
            // Cells first, so most of them are sealed with their raw points; then again for
            // what came meanwhile, so nothing sealed is dirty (see `rollup::marks`).
            self.refresh_rollups()?;
            let sealing = match plan.seal_before {
                Some(cutoff) if self.readable()?.live.has_before(cutoff) => {
                    let next_segment = self.wal.roll()?;
                    let sealed = self.take_sealing(cutoff)?;
                    self.refresh_rollups()?;
                    stage.seal(&sealed, plan.lz4[Tier::Hourly as usize])?;
                    Some(next_segment)
                }
                _ => None,
            };
            stage.expire();
            for &(tier, at) in &plan.compact {
                stage.compact(tier, at, plan.lz4[tier as usize], false)?;
            }
            if plan.cascade {
                stage.cascade(plan)?;
            }
            if plan.recompress {
                stage.recompress(&plan.lz4)?;
            }
            if sealing.is_none() && stage.manifest == stage.base.manifest {
                return Ok(());
            }
            let added = stage.write()?;
            self.commit(sealing, stage.manifest.clone(), added)
                .map(drop)
        })();
        if outcome.is_err() {
            // Before the commit point the pass leaves nothing behind; after it, nothing is
            // undone (the new generation is the current one).
            let generation = lock(&self.state).tiers.manifest.generation;
            if generation == stage.base.manifest.generation {
                stage.abandon();
                self.restore_sealing();
            }
        }
        lock(&self.state).lifecycle.cleanup_failures += stage.cleanup_failures;
        outcome?;
        let dropped = self.drop_expired()?;
        let mut st = lock(&self.state);
        st.lifecycle.series_dropped += dropped;
        let report = stage.report;
        let l = &mut st.lifecycle;
        l.passes += 1;
        l.seals += (report.sealed_points > 0) as u64;
        l.sealed_points += report.sealed_points;
        l.moves += report.moves.len() as u64;
        for m in &report.moves {
            l.bytes_before += m.inputs.iter().map(|p| p.bytes).sum::<u64>();
            l.bytes_after += m.output.bytes;
        }
        l.partitions_dropped += report.dropped.len() as u64;
        l.bytes_dropped += report.dropped.iter().map(|p| p.bytes).sum::<u64>();
        Ok(report)
    }

    /// Moves the live points older than `cutoff` into the sealing set, series by series:
    /// readers still find them there, and writers wait for one series' split, never for the
    /// whole tier.
    fn take_sealing(&self, cutoff: i64) -> Result<Arc<LiveTier>> {
        for id in 0.. {
            let mut st = self.readable()?;
            if id as usize >= st.live.len() {
                break;
            }
            let taken = st.live.split_series(id, cutoff)?;
            let sealing = st.sealing.get_or_insert_with(Default::default);
            Arc::make_mut(sealing).push_with(taken);
        }
        Ok(self.readable()?.sealing.clone().unwrap_or_default())
    }

    /// Drops from the catalog the series whose newest point is older than the retention
    /// horizon (nothing of them can be read any more), logging the drop so recovery repeats it.
    /// A write to a dropped series' id revives it (see `write`). Returns how many.
    fn drop_expired(&self) -> Result<u64> {
        let mut st = self.writable()?;
        let tiers = st.tiers.clone();
        let horizons = &tiers.horizons;
        let horizon = horizons.floor();
        if horizons.uniform() && horizon <= st.dropped_below {
            return Ok(0);
        }
        let ids: Vec<SeriesId> = {
            let catalog = self.catalog();
            st.live
                .ids()
                .filter(|&id| {
                    let Some(key) = catalog.key(id) else {
                        return false;
                    };
                    st.live.newest(id).is_some_and(|n| n.ts < horizons.of(key))
                        // A source whose rollup cells outlive it stays selectable for them.
                        && !st.rollups.has_cells(&catalog, id, key)
                })
                .collect()
        };
        st.dropped_below = horizon;
        self.drop_locked(st, &ids)?;
        Ok(ids.len() as u64)
    }

    /// Drops series from the catalog (their points, wherever stored, read as nothing).
    pub(super) fn drop_series(&self, ids: &[SeriesId]) -> Result<()> {
        let st = self.writable()?;
        let ids: Vec<SeriesId> = {
            let catalog = self.catalog();
            ids.iter()
                .copied()
                .filter(|&id| catalog.kind(id).is_some())
                .collect()
        };
        self.drop_locked(st, &ids)
    }

    /// Drops live series `ids`, logging the drop so recovery repeats it.
    fn drop_locked(&self, mut st: MutexGuard<'_, State>, ids: &[SeriesId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let seq = self.wal.record(|frames| wal::push_dropped(frames, ids))?;
        self.catalog_mut().drop_series(ids);
        st.live.clear(ids);
        drop(st);
        self.wal.after_write(seq, self.has_flusher())
    }

    /// Puts the points of a failed pass back where readers expect them.
    fn restore_sealing(&self) {
        let mut st = lock(&self.state);
        if let Some(sealed) = st.sealing.take() {
            st.live.restore(Arc::unwrap_or_clone(sealed));
        }
    }
}

/// The generation a pass is building.
struct Stage<'a> {
    /// The retention of the manifest being built.
    horizons: Horizons,
    inner: &'a Inner,
    /// The committed generation.
    base: Arc<TierSet>,
    manifest: Manifest,
    /// Open partitions `manifest` names.
    partitions: Vec<Arc<Partition>>,
    /// The kind of every series, by id, when the pass began.
    series: Vec<SeriesKind>,
    /// Partitions this pass built, by id: in memory until `write`.
    created: HashMap<u64, Built>,
    /// Those `write` has put on disk.
    written: HashSet<u64>,
    report: PassReport,
    /// Files of this pass it could not delete (no manifest names them; the next open does).
    cleanup_failures: u64,
}

impl Stage<'_> {
    /// The horizon of series `id` in the manifest being built.
    fn horizon(&self, id: SeriesId) -> i64 {
        if self.horizons.uniform() {
            return self.horizons.default_horizon();
        }
        self.inner
            .catalog()
            .key(id)
            .map_or(self.horizons.default_horizon(), |key| self.horizons.of(key))
    }

    fn temporal(&self) -> PathBuf {
        self.inner.layout.temporal()
    }

    /// A writer for a new partition; its directory is named by neither the committed
    /// generation nor this one, so no file a crash could bring back is ever overwritten.
    fn writer(&mut self, tier: Tier, start: i64, lz4: bool) -> PartitionWriter {
        let id = self.manifest.next_partition_id;
        self.manifest.next_partition_id += 1;
        let dir = unique_dir(&[&self.base.manifest, &self.manifest], tier, start);
        PartitionWriter::new(id, tier, dir, tier.window(start), lz4)
    }

    fn add(&mut self, writer: PartitionWriter) -> Result<Option<PartitionMeta>> {
        if writer.is_empty() {
            return Ok(None);
        }
        let built = writer.finish()?;
        let staged = Partition::staged(&built, &self.temporal())?;
        let meta = built.meta.clone();
        self.created.insert(meta.id, built);
        self.manifest.partitions.push(meta.clone());
        self.partitions.push(Arc::new(staged));
        Ok(Some(meta))
    }

    /// Takes partitions out of the generation. Those this pass built are simply dropped (no
    /// manifest ever named them); the others go when the commit's cleanup runs.
    fn remove(&mut self, ids: &[u64]) -> Vec<PartitionMeta> {
        let gone: Vec<PartitionMeta> = self
            .manifest
            .partitions
            .iter()
            .filter(|m| ids.contains(&m.id))
            .cloned()
            .collect();
        self.manifest.partitions.retain(|m| !ids.contains(&m.id));
        self.partitions.retain(|p| !ids.contains(&p.meta.id));
        for m in &gone {
            self.created.remove(&m.id);
        }
        gone
    }

    /// Writes sealed points to hourly partitions, dropping those past the horizon.
    fn seal(&mut self, sealed: &LiveTier, lz4: bool) -> Result<()> {
        let mut writers: BTreeMap<i64, PartitionWriter> = BTreeMap::new();
        for (id, points) in (0..=SeriesId::MAX).zip(sealed.iter()) {
            let horizon = self.horizon(id);
            match points {
                Points::Numeric(c) => self.seal_series::<f64>(&mut writers, id, c, horizon, lz4),
                Points::Event(c) => self.seal_series::<Payload>(&mut writers, id, c, horizon, lz4),
            }
        }
        for writer in writers.into_values() {
            if let Some(meta) = self.add(writer)? {
                self.report.sealed_points += meta.points;
            }
        }
        Ok(())
    }

    fn seal_series<V: Sample>(
        &mut self,
        writers: &mut BTreeMap<i64, PartitionWriter>,
        id: SeriesId,
        column: &crate::column::Column<V>,
        horizon: i64,
        lz4: bool,
    ) {
        // Sealed columns come out of `split_before` sorted.
        let (ts, vs) = column.range_sorted(horizon, i64::MAX).unwrap_or_default();
        let mut i = 0;
        while i < ts.len() {
            let (start, end) = Tier::Hourly.window(ts[i]);
            let j = i + ts[i..].partition_point(|&t| t < end);
            writers
                .entry(start)
                .or_insert_with(|| self.writer(Tier::Hourly, start, lz4))
                .add(id, &ts[i..j], &vs[i..j]);
            i = j;
        }
    }

    /// Deletes the partitions whose window ended by the earliest horizon of all.
    fn expire(&mut self) {
        let horizon = self.horizons.floor();
        let expired: Vec<u64> = self
            .manifest
            .partitions
            .iter()
            .filter(|m| m.end <= horizon)
            .map(|m| m.id)
            .collect();
        let gone = self.remove(&expired);
        self.report.dropped.extend(gone);
    }

    /// Compacts, tier after tier, every window that has ended and whose finer partitions are
    /// all ripe.
    fn cascade(&mut self, plan: &PassPlan) -> Result<()> {
        for tier in [Tier::Hourly, Tier::Daily, Tier::Monthly] {
            let Some(target) = tier.next() else { continue };
            let starts: BTreeSet<i64> = self
                .partitions
                .iter()
                .filter(|p| p.meta.tier == tier)
                .map(|p| target.window(p.meta.start).0)
                .collect();
            for start in starts {
                let (s, e) = target.window(start);
                let ripe = e <= plan.now
                    && self
                        .partitions
                        .iter()
                        .filter(|p| p.meta.start >= s && p.meta.end <= e && p.meta.tier < target)
                        .all(|p| self.ripe(&p.meta, plan));
                if ripe {
                    self.compact(target, start, plan.lz4[target as usize], false)?;
                }
            }
        }
        Ok(())
    }

    fn ripe(&self, meta: &PartitionMeta, plan: &PassPlan) -> bool {
        let age = plan.now.saturating_sub(meta.end);
        plan.ripe.contains(&meta.id)
            || (self.created.contains_key(&meta.id)
                && plan.ripe_after_ms[meta.tier as usize].is_some_and(|after| age >= after))
    }

    /// Rewrites every partition written under another compression rule (with its window).
    fn recompress(&mut self, lz4: &[bool; 4]) -> Result<()> {
        let windows: BTreeSet<(Tier, i64)> = self
            .partitions
            .iter()
            .filter(|p| p.meta.lz4 != lz4[p.meta.tier as usize])
            .map(|p| (p.meta.tier, p.meta.start))
            .collect();
        for (tier, start) in windows {
            self.compact(tier, start, lz4[tier as usize], true)?;
        }
        Ok(())
    }

    /// Merges the partitions inside the `tier` window holding `at` into a partition of `tier`:
    /// all of them, or only the newest ones as an overlay when the window's base is large.
    fn compact(&mut self, tier: Tier, at: i64, lz4: bool, recompression: bool) -> Result<()> {
        let (start, end) = tier.window(at);
        let mut inside: Vec<Arc<Partition>> = self
            .partitions
            .iter()
            .filter(|p| p.meta.start >= start && p.meta.end <= end)
            .cloned()
            .collect();
        inside.sort_by_key(|p| p.meta.id);
        let same: Vec<&PartitionMeta> = inside
            .iter()
            .map(|p| &p.meta)
            .filter(|m| m.tier == tier)
            .collect();
        let finer = inside
            .iter()
            .filter(|p| p.meta.tier < tier)
            .map(|p| p.meta.id)
            .min();
        let mismatched = same.iter().any(|m| m.lz4 != lz4);
        let fold_all = match (finer, same.first()) {
            (None, _) | (_, None) => true,
            (Some(_), Some(base)) => {
                let rest: u64 = inside.iter().map(|p| p.meta.bytes).sum::<u64>() - base.bytes;
                mismatched
                    || base.bytes < FOLD_BELOW_BYTES
                    || rest * 4 >= base.bytes
                    || same.len() >= MAX_PER_WINDOW
            }
        };
        let inputs: Vec<Arc<Partition>> = match finer {
            // Only the partitions at least as new as the oldest finer one: merging a suffix
            // in priority order keeps "later writes win" across what is left.
            Some(oldest) if !fold_all => {
                inside.into_iter().filter(|p| p.meta.id >= oldest).collect()
            }
            _ => inside,
        };
        let done = inputs.len() == 1 && inputs[0].meta.tier == tier && inputs[0].meta.lz4 == lz4;
        if inputs.is_empty() || done {
            return Ok(());
        }
        let mut writer = self.writer(tier, start, lz4);
        let mut series: Vec<SeriesId> = inputs
            .iter()
            .map(|p| p.blocks())
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .map(|r| r.series)
            .collect();
        series.sort_unstable();
        series.dedup();
        for id in series {
            match self.series.get(id as usize) {
                Some(SeriesKind::Event) => {
                    let (ts, vs) = merged::<Payload>(&inputs, id, self.horizon(id))?;
                    writer.add(id, &ts, &vs);
                }
                _ => {
                    let (ts, vs) = merged::<f64>(&inputs, id, self.horizon(id))?;
                    writer.add(id, &ts, &vs);
                }
            }
        }
        let ids: Vec<u64> = inputs.iter().map(|p| p.meta.id).collect();
        let gone = self.remove(&ids);
        if let Some(output) = self.add(writer)? {
            self.report.moves.push(Move {
                inputs: gone,
                output,
                recompression,
            });
        }
        Ok(())
    }

    /// Writes the partitions this pass built and that survived it, and makes them durable:
    /// their files and directories, then the tier directories that hold them. Returns them,
    /// opened from disk.
    fn write(&mut self) -> Result<Vec<Arc<Partition>>> {
        let storage = self.inner.storage.as_ref();
        let temporal = self.temporal();
        let mut tiers = BTreeSet::new();
        for built in self.created.values() {
            self.written.insert(built.meta.id);
            built.write(storage, &temporal)?;
        }
        for built in self.created.values() {
            partition::sync(storage, &temporal, &built.meta)?;
            tiers.insert(built.meta.tier);
        }
        for tier in tiers {
            let dir = temporal.join(names::tier_dir(tier));
            storage
                .sync_dir(&dir)
                .map_err(Error::io("fsync directory", &dir))?;
        }
        self.created
            .values()
            .map(|b| Partition::open(storage, &temporal, b.meta.clone()).map(Arc::new))
            .collect()
    }

    /// After a failure before the commit: deletes what the pass wrote, best effort (no
    /// manifest names it, so the next open deletes what is left); failures are counted.
    fn abandon(&mut self) {
        let dirs: Vec<String> = self
            .manifest
            .partitions
            .iter()
            .filter(|m| self.written.contains(&m.id))
            .map(|m| m.dir.clone())
            .collect();
        for dir in dirs {
            let path = self.temporal().join(dir);
            let removed = self.inner.storage.remove_dir_all(&path);
            let missing = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
            self.cleanup_failures += removed.is_err_and(|e| !missing(&e)) as u64;
        }
    }
}

/// All points of one series across `inputs` (oldest first), later partitions winning ties,
/// none older than `horizon`.
fn merged<V: Sample>(inputs: &[Arc<Partition>], series: SeriesId, horizon: i64) -> Result<Run<V>> {
    let mut runs = Vec::with_capacity(inputs.len());
    for p in inputs {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for r in p.find(series, horizon, i64::MAX)? {
            let block = p.decode(&r)?;
            if let Some((bt, bv)) = V::points(&block) {
                let from = bt.partition_point(|&t| t < horizon);
                ts.extend_from_slice(&bt[from..]);
                vs.extend_from_slice(&bv[from..]);
            }
        }
        runs.push((ts, vs));
    }
    Ok(read::merge(runs))
}
