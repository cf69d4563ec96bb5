//! Rollups in the engine: declared and dropped (their definitions file under
//! `temporal/recent/aggregations/`), fed by writes (each write to a source marks its span
//! dirty), refreshed (dirty spans recomputed from raw points and written as cell series, by
//! every lifecycle pass before it seals), and read by queries (see `query.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use super::{lock, Engine, Inner, State as EngineState};
use super::{Target, Write};
use crate::catalog::{Catalog, Match, Selector};
use crate::error::{Error, Result};
use crate::live::Points;
use crate::names;
use crate::rollup::cells::{bucket, compute};
use crate::rollup::marks::{Dirty, Marks};
use crate::rollup::{self, Rollup, RollupSpec, MAX_ROLLUPS};
use crate::series::{SeriesId, SeriesKind};
use crate::storage::{read_if_present, replace_durably};
use crate::time::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use crate::types::RollupInfo;

/// Sources refreshed together (with a day of raw points at a time, this bounds a refresh's
/// memory).
const REFRESH_BATCH: usize = 64;
const DAY: i64 = 86_400_000;

/// The rollups of a database and what feeds them (part of the engine's state).
#[derive(Default)]
pub(super) struct Rollups {
    /// By slot (a source's bitmask bit); `None` for a free slot.
    pub slots: Vec<Option<Arc<Rollup>>>,
    pub marks: Marks,
    /// The cell series of a source, by (slot, source), in the rollup's `states` order.
    cells: HashMap<(usize, SeriesId), Arc<[SeriesId]>>,
    pub refreshes: u64,
    pub cells_written: u64,
    pub queries: u64,
    /// The smallest id the next rollup may get (persisted with the definitions).
    pub next_id: u64,
}

impl Rollups {
    /// A new series feeds every rollup that selects it.
    pub fn classify(&mut self, id: SeriesId, key: &str, kind: SeriesKind) {
        if kind != SeriesKind::Numeric {
            return;
        }
        for (slot, r) in self.slots.iter().enumerate() {
            if r.as_ref().is_some_and(|r| r.selects(key)) {
                self.marks.feed(id, slot);
            }
        }
    }

    pub fn active(&self) -> impl Iterator<Item = (usize, &Arc<Rollup>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r.as_ref()?)))
    }

    /// Whether any rollup still holds cells of series `id` (key `key`).
    pub fn has_cells(&self, catalog: &Catalog, id: SeriesId, key: &str) -> bool {
        let mask = self.marks.rollups_of(id);
        self.active()
            .filter(|(slot, _)| mask & (1 << slot) != 0)
            .any(|(_, r)| {
                catalog
                    .id(&r.cell_key(crate::rollup::State::Count, key))
                    .is_some()
            })
    }

    pub fn cells_of(&self, slot: usize, source: SeriesId) -> Option<Arc<[SeriesId]>> {
        self.cells.get(&(slot, source)).cloned()
    }
}

impl Engine {
    /// Declares a rollup and computes its cells over the data already stored; returns once they
    /// are. `INVALID_QUERY` for a bad declaration or a name in use.
    pub fn create_rollup(&self, spec: RollupSpec) -> Result<RollupInfo> {
        let inner = &self.inner;
        let mut rollup = Rollup::new(spec)?;
        let _one_at_a_time = lock(&inner.manifest_lock);
        inner.writable().map(drop)?;
        let slot = {
            let mut st = inner.writable()?;
            if st
                .rollups
                .active()
                .any(|(_, r)| r.spec.name == rollup.spec.name)
            {
                return Err(Error::invalid_query(
                    "name",
                    format!("a rollup named '{}' exists", rollup.spec.name),
                ));
            }
            if st.rollups.active().count() >= MAX_ROLLUPS {
                return Err(Error::invalid_query(
                    "name",
                    format!("a database holds at most {MAX_ROLLUPS} rollups"),
                ));
            }
            rollup.spec.id = inner.next_rollup_id(&st);
            st.rollups.next_id = rollup.spec.id.saturating_add(1);
            let slot = st
                .rollups
                .slots
                .iter()
                .position(Option::is_none)
                .unwrap_or(st.rollups.slots.len());
            let rollup = Arc::new(rollup.clone());
            if slot == st.rollups.slots.len() {
                st.rollups.slots.push(Some(rollup));
            } else {
                st.rollups.slots[slot] = Some(rollup);
            }
            inner.feed_all(&mut st, slot, false);
            slot
        };
        let outcome = inner.save_rollups().and_then(|()| inner.refresh_rollups());
        if let Err(e) = outcome {
            // Not declared after all: the file is rewritten without it (or, if that fails
            // too, the next open finds it not ready and computes its cells then).
            let mut st = lock(&inner.state);
            st.rollups.slots[slot] = None;
            st.rollups.marks.forget(slot);
            drop(st);
            let _ = inner.save_rollups();
            return Err(e);
        }
        self.rollups()?
            .into_iter()
            .find(|r| r.spec.name == rollup.spec.name)
            .ok_or_else(|| Error::InvalidArgument("the rollup vanished".into()))
    }

    /// Drops a rollup and its cells; whether it existed.
    pub fn drop_rollup(&self, name: &str) -> Result<bool> {
        let inner = &self.inner;
        let _one_at_a_time = lock(&inner.manifest_lock);
        let (cells, prefix): (Vec<SeriesId>, String) = {
            let mut st = inner.writable()?;
            let Some((slot, r)) = st.rollups.active().find(|(_, r)| r.spec.name == name) else {
                return Ok(false);
            };
            let prefix = r.cell_prefix();
            st.rollups.slots[slot] = None;
            st.rollups.marks.forget(slot);
            let mut cells = Vec::new();
            st.rollups.cells.retain(|&(s, _), ids| {
                if s == slot {
                    cells.extend_from_slice(ids);
                }
                s != slot
            });
            (cells, prefix)
        };
        inner.save_rollups()?;
        // The cell series go as series whose retention ended do (their points with the
        // partitions that hold them); their keys carry the rollup's id, so a rollup declared
        // later under the same name never finds them.
        let doomed = {
            let catalog = inner.catalog();
            let mut ids = cells;
            ids.extend(
                catalog
                    .iter()
                    .filter(|(_, key, _)| key.starts_with(&prefix))
                    .map(|(id, _, _)| id),
            );
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        inner.drop_series(&doomed)?;
        Ok(true)
    }

    /// Every rollup, with how many series feed it and how many of those are dirty.
    pub fn rollups(&self) -> Result<Vec<RollupInfo>> {
        let st = self.inner.readable()?;
        Ok(st
            .rollups
            .active()
            .map(|(slot, r)| {
                let sources = st.rollups.marks.fed_by(slot);
                RollupInfo {
                    spec: r.spec.clone(),
                    ready: r.ready,
                    sources: sources.len() as u64,
                    dirty: sources
                        .iter()
                        .filter(|&&id| st.rollups.marks.span(id).is_some())
                        .count() as u64,
                }
            })
            .collect())
    }

    /// Computes every dirty cell now (a lifecycle pass does it before it seals); returns how
    /// many cells were written.
    pub fn refresh_rollups(&self) -> Result<u64> {
        let _one_at_a_time = lock(&self.inner.manifest_lock);
        let before = self.inner.readable()?.rollups.cells_written;
        self.inner.refresh_rollups()?;
        Ok(self.inner.readable()?.rollups.cells_written - before)
    }
}

impl Inner {
    /// Loads the definitions at open and marks what recovery cannot vouch for: every live
    /// point of a source (see `rollup::marks`), everything of a rollup not ready.
    pub(super) fn load_rollups(&self) -> Result<()> {
        let path = self.layout.aggregations().join(names::ROLLUPS);
        let Some(bytes) = read_if_present(self.storage.as_ref(), &path)? else {
            return Ok(());
        };
        let (rollups, next_id) = match rollup::decode(&bytes) {
            Ok(decoded) => decoded,
            Err(reason) => return self.set_aside(&path, reason),
        };
        let mut st = lock(&self.state);
        st.rollups.next_id = next_id;
        for (slot, r) in rollups.into_iter().enumerate() {
            let ready = r.ready;
            st.rollups.slots.push(Some(Arc::new(r)));
            self.feed_all(&mut st, slot, ready);
        }
        Ok(())
    }

    /// A damaged definitions file: with `repair`, renamed `*.damaged` (and the open goes on
    /// without it), else the error.
    pub(super) fn set_aside(&self, path: &std::path::Path, reason: String) -> Result<()> {
        if !self.options.repair {
            return Err(Error::CorruptDefinitions {
                path: path.to_path_buf(),
                reason,
            });
        }
        let mut aside = path.as_os_str().to_owned();
        aside.push(".damaged");
        let aside = std::path::PathBuf::from(aside);
        let storage = self.storage.as_ref();
        storage
            .rename(path, &aside)
            .map_err(Error::io("set aside", path))?;
        if let Some(dir) = path.parent() {
            storage
                .sync_dir(dir)
                .map_err(Error::io("fsync directory", dir))?;
        }
        Ok(())
    }

    /// Feeds every existing source to the rollup in `slot`, marking each dirty: over its live
    /// points if the rollup is `ready`, over all time if not.
    fn feed_all(&self, st: &mut EngineState, slot: usize, ready: bool) {
        let Some(r) = st.rollups.slots[slot].clone() else {
            return;
        };
        let ids = {
            let catalog = self.indexed_catalog();
            let selector = Selector {
                metric: Some(Match::Equal(r.spec.metric.clone())),
                matchers: r.matchers.clone(),
            };
            catalog
                .select(&selector)
                .into_iter()
                .filter(|&id| catalog.kind(id) == Some(SeriesKind::Numeric))
                .collect::<Vec<_>>()
        };
        for id in ids {
            st.rollups.marks.feed(id, slot);
            if !ready {
                st.rollups.marks.mark(id, MIN_TIMESTAMP, MAX_TIMESTAMP);
            } else if let Some((min, max, _)) = st.live.normalize(id).ok().and_then(Points::span) {
                st.rollups.marks.mark(id, min, max);
            }
        }
    }

    /// A rollup id never used before in this database.
    fn next_rollup_id(&self, st: &EngineState) -> u64 {
        let now = u64::try_from(super::read::now_ms()).unwrap_or(0);
        let used = st
            .rollups
            .active()
            .map(|(_, r)| r.spec.id.saturating_add(1))
            .max()
            .unwrap_or(0);
        now.max(used).max(st.rollups.next_id)
    }

    /// Writes the definitions file (atomically, durably). The caller holds `manifest_lock`.
    fn save_rollups(&self) -> Result<()> {
        let (rollups, next_id): (Vec<Rollup>, u64) = {
            let st = self.readable()?;
            let all = st.rollups.active().map(|(_, r)| (**r).clone()).collect();
            (all, st.rollups.next_id)
        };
        let path = self.layout.aggregations().join(names::ROLLUPS);
        replace_durably(
            self.storage.as_ref(),
            &path,
            &rollup::encode(&rollups, next_id),
        )
    }

    /// Recomputes every dirty span from raw points and writes the cells; a rollup not ready
    /// becomes ready once its first full computation is written. Returns once the cells are
    /// as durable as a sealed partition will be (see `rollup::marks`). The caller holds
    /// `manifest_lock`.
    pub(super) fn refresh_rollups(&self) -> Result<()> {
        let (dirty, slots) = {
            let st = self.readable()?;
            let all_ready = st.rollups.active().all(|(_, r)| r.ready);
            if all_ready && st.rollups.marks.dirty_count() == 0 {
                return Ok(());
            }
            (st.rollups.marks.dirty(), st.rollups.slots.clone())
        };
        let bounds = match dirty.is_empty() {
            true => (0, -1),
            false => self.data_bounds()?.unwrap_or((0, -1)),
        };
        let mut written = 0u64;
        let mut last_seq = None;
        for (slot, r) in slots.iter().enumerate() {
            let Some(r) = r else { continue };
            let mine: Vec<&Dirty> = dirty
                .iter()
                .filter(|d| d.rollups & (1 << slot) != 0)
                .collect();
            for batch in mine.chunks(REFRESH_BATCH) {
                if let Some((n, seq)) = self.refresh_batch(slot, r, batch, bounds)? {
                    written += n;
                    last_seq = Some(seq);
                }
            }
        }
        if let Some(seq) = last_seq {
            self.wal
                .sync_to(seq, self.options.durability != crate::Durability::None)?;
        }
        let became_ready = {
            let mut st = lock(&self.state);
            for d in &dirty {
                st.rollups.marks.settle(d);
            }
            st.rollups.refreshes += 1;
            st.rollups.cells_written += written;
            let mut any = false;
            for slot in 0..st.rollups.slots.len() {
                // A rollup not ready had all its sources dirty: this refresh computed them.
                let done = dirty.iter().any(|d| d.rollups & (1 << slot) != 0)
                    || st.rollups.marks.fed_by(slot).is_empty();
                if let Some(r) = st.rollups.slots[slot].as_mut().filter(|r| !r.ready) {
                    if done {
                        Arc::make_mut(r).ready = true;
                        any = true;
                    }
                }
            }
            any
        };
        if became_ready {
            self.save_rollups()?;
        }
        Ok(())
    }

    /// Recomputes the dirty spans of one batch of a rollup's sources; the cells written and
    /// the write's sequence number.
    fn refresh_batch(
        &self,
        slot: usize,
        r: &Rollup,
        batch: &[&Dirty],
        (first, last): (i64, i64),
    ) -> Result<Option<(u64, u64)>> {
        let every = r.spec.every;
        // Each source's span as whole buckets, cut to where there are points at all (a
        // rollup declared over stored data marks all time).
        let spans: Vec<(i64, i64)> = batch
            .iter()
            .map(|d| {
                let lo = bucket(d.span.min.max(first), every);
                let hi = bucket(d.span.min.max(d.span.max.min(last)), every).saturating_add(every);
                (lo, hi.min(MAX_TIMESTAMP + 1))
            })
            .collect();
        let lo = spans.iter().map(|s| s.0).min().unwrap_or(0);
        let hi = spans.iter().map(|s| s.1).max().unwrap_or(0);
        // A window of raw points at a time (a day, or one bucket if longer): memory stays
        // bounded whatever the span.
        let window = every.saturating_mul((DAY / every).max(1));
        let (mut written, mut seq) = (0u64, None);
        let mut start = lo;
        while start < hi {
            let end = start.saturating_add(window).min(hi);
            let members: Vec<usize> = (0..batch.len())
                .filter(|&i| spans[i].0 < end && spans[i].1 > start)
                .collect();
            let ids: Vec<SeriesId> = members.iter().map(|&i| batch[i].id).collect();
            let runs = self.points_of(&ids, &vec![SeriesKind::Numeric; ids.len()], start, end)?;
            let (mut cell_ids, mut ts, mut vs) = (Vec::new(), Vec::new(), Vec::new());
            for (&i, (rts, rvs)) in members.iter().zip(runs) {
                let (lo, hi) = spans[i];
                let a = rts.partition_point(|&t| t < lo);
                let b = rts.partition_point(|&t| t < hi);
                if a == b {
                    continue;
                }
                let computed = compute(&rts[a..b], &rvs[a..b], every, &r.states, r.sketch);
                let Some(cells) = self.cells_for(slot, r, batch[i].id)? else {
                    continue;
                };
                if let Some(&sketches) = cells.get(r.states.len()) {
                    for (&at, payload) in computed.starts.iter().zip(&computed.sketches) {
                        let write = Write::Event {
                            ts: stored_at(at),
                            payload,
                        };
                        self.write(Target::Id(sketches), write)?;
                    }
                }
                for (state, column) in computed.columns.iter().enumerate() {
                    for (&at, &v) in computed.starts.iter().zip(column) {
                        cell_ids.push(cells[state]);
                        ts.push(stored_at(at));
                        vs.push(v);
                    }
                }
            }
            if !ts.is_empty() {
                // After the sketches: its sequence number covers them.
                seq = Some(self.put_points(&cell_ids, &ts, &vs)?);
                written += ts.len() as u64;
            }
            start = end;
        }
        Ok(seq.map(|seq| (written, seq)))
    }

    /// The earliest and latest timestamp stored anywhere (`None` if nothing is).
    fn data_bounds(&self) -> Result<Option<(i64, i64)>> {
        let mut st = self.readable()?;
        let mut bounds: Option<(i64, i64)> = None;
        let mut widen = |lo: i64, hi: i64| {
            bounds = Some(bounds.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        };
        for p in &st.tiers.partitions {
            widen(p.meta.min_ts, p.meta.max_ts);
        }
        // Points being sealed come sorted out of the split.
        if let Some(sealing) = st.sealing.clone() {
            for (lo, hi, _) in sealing.iter().filter_map(|p| p.span()) {
                widen(lo, hi);
            }
        }
        st.live.normalize_all();
        for points in st.live.iter() {
            if let Some((lo, hi, _)) = points.span() {
                widen(lo, hi);
            }
        }
        Ok(bounds)
    }

    /// The cell series of `source` for the rollup in `slot` (its states in order, then its
    /// sketches' event series if it keeps them), created if missing; none if the source is
    /// gone.
    fn cells_for(
        &self,
        slot: usize,
        r: &Rollup,
        source: SeriesId,
    ) -> Result<Option<Arc<[SeriesId]>>> {
        if let Some(ids) = self.readable()?.rollups.cells_of(slot, source) {
            return Ok(Some(ids));
        }
        let Some(key) = self.catalog().key(source).map(str::to_owned) else {
            return Ok(None);
        };
        let mut ids = r
            .states
            .iter()
            .map(|&s| self.ensure_canonical(&r.cell_key(s, &key), SeriesKind::Numeric))
            .collect::<Result<Vec<_>>>()?;
        if r.sketch {
            ids.push(self.ensure_canonical(&r.sketch_key(&key), SeriesKind::Event)?);
        }
        let ids: Arc<[SeriesId]> = ids.into();
        lock(&self.state)
            .rollups
            .cells
            .insert((slot, source), ids.clone());
        Ok(Some(ids))
    }

    /// The cell series of `source` if they exist (for reads: nothing is created).
    pub(super) fn existing_cells(
        &self,
        slot: usize,
        r: &Rollup,
        source: SeriesId,
    ) -> Option<Arc<[SeriesId]>> {
        if let Some(ids) = lock(&self.state).rollups.cells_of(slot, source) {
            return Some(ids);
        }
        let catalog = self.catalog();
        let key = catalog.key(source)?;
        let mut ids = r
            .states
            .iter()
            .map(|&s| catalog.id(&r.cell_key(s, key)))
            .collect::<Option<Vec<_>>>()?;
        if r.sketch {
            ids.push(catalog.id(&r.sketch_key(key))?);
        }
        let ids: Arc<[SeriesId]> = ids.into();
        drop(catalog);
        lock(&self.state)
            .rollups
            .cells
            .insert((slot, source), ids.clone());
        Some(ids)
    }
}

/// Where a cell of the bucket starting at `start` is stored: its start, or the first storable
/// time for the bucket that holds it (queries read that bucket raw: it is cut by any range).
fn stored_at(start: i64) -> i64 {
    start.max(MIN_TIMESTAMP)
}
