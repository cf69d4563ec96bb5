//! Answering an aggregation query from a rollup: each rollup bucket inside the query's range
//! is folded in as a partial cell, except where the source is dirty (points not materialized
//! yet) and at the range's edges when they cut a rollup bucket: there raw points are read, as
//! the raw path reads them. The answer is the raw answer (up to the order floating-point sums
//! are added in).

use std::sync::Arc;
use std::time::Instant;

use super::query::{finish, ms_since, Collect, Selection, Sink};
use super::Inner;
use crate::catalog::Match;
use crate::codec::block::BlockMeta;
use crate::codec::Payload;
use crate::error::{Error, Result};
use crate::query::aggregate::{Agg, Cell, Needs};
use crate::query::buckets::Grid;
use crate::query::{Explain, Query, QueryResult};
use crate::rollup::cells::{bucket, partial};
use crate::rollup::sketch::Sketch;
use crate::rollup::{Rollup, State};
use crate::series::{canonical_metric, SeriesId, SeriesKind};

/// The rollup a query reads.
pub(super) struct Route {
    slot: usize,
    rollup: Arc<Rollup>,
    /// The part of the range rollup buckets cover whole: `[inner_from, inner_to)`.
    inner_from: i64,
    inner_to: i64,
    /// The range's start, moved up to the retention horizon.
    from: i64,
}

impl Inner {
    /// The coarsest rollup that can answer `q` exactly, if any: same metric, conditions the
    /// query repeats, aggregates it keeps, and every query bucket a union of rollup buckets.
    pub(super) fn route(&self, q: &Query, grid: &Grid, sel: &Selection) -> Result<Option<Route>> {
        let Some(Match::Equal(metric)) = &q.selector.metric else {
            return Ok(None);
        };
        if sel.ids.is_empty()
            || sel.kinds.iter().any(|&k| k != SeriesKind::Numeric)
            || sel.keys.iter().any(|k| canonical_metric(k) != metric)
        {
            return Ok(None);
        }
        let bases: Vec<Agg> = q.aggregates.iter().map(|a| a.base().clone()).collect();
        if bases.iter().any(|a| State::of(a).is_none()) {
            return Ok(None);
        }
        let st = self.readable()?;
        // Cells may outlive raw points (retention per metric): the earliest horizon bounds
        // what there is; each series' own applies when it is read.
        let from = q.from.max(st.tiers.horizons.floor());
        let best = st
            .rollups
            .active()
            .filter(|(_, r)| {
                r.spec.metric == *metric
                    && r.covers(&q.selector.matchers)
                    && r.derives(&bases)
                    && tiles(grid, from, q.to, r.spec.every)
            })
            .max_by_key(|(_, r)| r.spec.every);
        Ok(best.map(|(slot, r)| {
            let every = r.spec.every;
            Route {
                slot,
                rollup: r.clone(),
                inner_from: ceil(from, every),
                inner_to: bucket(q.to, every),
                from,
            }
        }))
    }

    pub(super) fn run_from_rollup(
        &self,
        q: &Query,
        grid: &Grid,
        sel: &Selection,
        route: &Route,
        started: Instant,
        select_ms: f64,
    ) -> Result<QueryResult> {
        let scan_started = Instant::now();
        let r = &route.rollup;
        let every = r.spec.every;
        let (a, b) = (route.inner_from, route.inner_to);
        let needs = Needs::of(&q.aggregates);
        let n = sel.ids.len();
        let kinds = vec![SeriesKind::Numeric; n];
        // Dirty spans as rollup buckets inside [a, b), taken before the cells are read: a
        // refresh settling meanwhile only makes the cells read fresher.
        let (spans, tiers) = {
            let mut st = self.readable()?;
            st.rollups.queries += 1;
            let spans: Vec<Option<(i64, i64)>> = sel
                .ids
                .iter()
                .map(|&id| {
                    let span = st.rollups.marks.span(id)?;
                    Some((
                        bucket(span.min, every),
                        bucket(span.max, every).saturating_add(every),
                    ))
                })
                .collect();
            (spans, st.tiers.clone())
        };
        // Every cell series, sorted for one walk of each partition's index: (id, source,
        // state).
        let mut flat: Vec<(SeriesId, usize, usize)> = Vec::new();
        let mut sketches: Vec<Option<SeriesId>> = vec![None; n];
        // Where each source's cells start: `a`, or later where its cells expired first (or it
        // has none: a rollup dropped meanwhile); raw points are read before that.
        let mut cells_from = vec![b; n];
        for (i, &id) in sel.ids.iter().enumerate() {
            if let Some(cells) = self.existing_cells(route.slot, r, id) {
                let states = r.states.len().min(cells.len());
                flat.extend(cells[..states].iter().enumerate().map(|(k, &c)| (c, i, k)));
                sketches[i] = cells.get(states).copied().filter(|_| needs.values);
                if let Some(&count) = cells.first() {
                    cells_from[i] = ceil(self.horizon_of(&tiers, count).max(a), every).min(b);
                }
            }
        }
        // The spans each source is read raw in, inside [a, b): its dirty span and the part
        // before its cells, as one span (the gap between them is read raw too).
        let dirty: Vec<Option<(i64, i64)>> = (0..n)
            .map(|i| {
                let before = (a < cells_from[i]).then_some((a, cells_from[i]));
                let (lo, hi) = match (spans[i], before) {
                    (Some(d), Some(p)) => (d.0.min(p.0), d.1.max(p.1)),
                    (Some(d), None) => d,
                    (None, Some(p)) => p,
                    (None, None) => return None,
                };
                let (lo, hi) = (lo.max(a), hi.min(b));
                (lo < hi).then_some((lo, hi))
            })
            .collect();
        flat.sort_unstable_by_key(|f| f.0);
        let cell_ids: Vec<SeriesId> = flat.iter().map(|f| f.0).collect();
        let walker = self.walker(&cell_ids, &vec![SeriesKind::Numeric; cell_ids.len()], a, b)?;
        // Position in the walker of each source's state series.
        let mut position: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (pos, &(_, i, k)) in flat.iter().enumerate() {
            let slots = &mut position[i];
            slots.resize(slots.len().max(k + 1), usize::MAX);
            slots[k] = pos;
        }
        let mut raw: Vec<Vec<(Vec<i64>, Vec<f64>)>> = vec![Vec::new(); n];
        for (lo, hi) in [(route.from, a), (b, q.to)] {
            if lo < hi {
                for (i, run) in self
                    .points_of(&sel.ids, &kinds, lo, hi)?
                    .into_iter()
                    .enumerate()
                {
                    raw[i].push(run);
                }
            }
        }
        // The dirty sources, read over the union of their spans, each cut to its own.
        let spans_read: Vec<(usize, (i64, i64))> =
            (0..n).filter_map(|i| Some((i, dirty[i]?))).collect();
        let union = spans_read
            .iter()
            .map(|&(_, d)| d)
            .reduce(|x, y| (x.0.min(y.0), x.1.max(y.1)));
        if let Some((lo, hi)) = union {
            let ids: Vec<SeriesId> = spans_read.iter().map(|&(i, _)| sel.ids[i]).collect();
            let runs = self.points_of(&ids, &kinds[..ids.len()], lo, hi)?;
            for (&(i, (dlo, dhi)), (ts, vs)) in spans_read.iter().zip(runs) {
                let s = ts.partition_point(|&t| t < dlo);
                let e = ts.partition_point(|&t| t < dhi);
                raw[i].push((ts[s..e].to_vec(), vs[s..e].to_vec()));
            }
        }
        let nb = grid.len();
        let ng = sel.groups.len();
        let mut out = vec![Cell::default(); ng * nb];
        let (mut rollup_cells, mut raw_points, mut from_summaries) = (0u64, 0u64, 0u64);
        let mut acc = vec![0.0; r.states.len() * nb];
        for i in 0..n {
            let group = &mut out[sel.group_of[i] * nb..(sel.group_of[i] + 1) * nb];
            for (ts, vs) in &raw[i] {
                raw_points += ts.len() as u64;
                fold_points(grid, group, ts, vs, needs);
            }
            if position[i].len() != r.states.len() {
                continue; // no cells: read raw over [a, b) as its dirty span
            }
            let skip = dirty[i];
            if let Some(sketch) = sketches[i] {
                rollup_cells += self.fold_sketches(grid, group, sketch, a, b, skip)?;
            }
            if needs.moments {
                // Squared deviations merge cell by cell (they need each cell's mean).
                let runs = position[i]
                    .iter()
                    .map(|&pos| {
                        let mut run = Collect::default();
                        walker.walk(&self.cache, pos, &mut run)?;
                        Ok((run.ts, run.vs))
                    })
                    .collect::<Result<Vec<_>>>()?;
                rollup_cells += fold_cells(grid, group, &r.states, &runs, skip, needs);
                continue;
            }
            for (k, &state) in r.states.iter().enumerate() {
                let acc = &mut acc[k * nb..(k + 1) * nb];
                acc.fill(identity(state));
                let mut feed = StateFeed {
                    grid,
                    state,
                    acc,
                    skip,
                    cells: 0,
                    blocks: 0,
                };
                walker.walk(&self.cache, position[i][k], &mut feed)?;
                from_summaries += feed.blocks;
                if state == State::Count {
                    rollup_cells += feed.cells;
                }
            }
            for (b, cell) in group.iter_mut().enumerate() {
                let row: Vec<f64> = (0..r.states.len()).map(|k| acc[k * nb + b]).collect();
                if let Some(partial) = partial(grid.start(b), &r.states, &row) {
                    cell.merge(partial, needs);
                }
            }
        }
        let scan_ms = ms_since(scan_started);
        let finish_started = Instant::now();
        let groups = finish(q, grid, sel, &mut out);
        let explain = q.explain.then(|| Explain {
            series: n,
            groups: groups.len(),
            buckets: nb,
            threads: 1,
            select_ms,
            scan_ms,
            finish_ms: ms_since(finish_started),
            total_ms: ms_since(started),
            rollup: Some(r.spec.name.clone()),
            rollup_cells,
            rollup_raw_points: raw_points,
            blocks_from_summaries: from_summaries,
            ..Explain::default()
        });
        Ok(QueryResult {
            groups,
            explain,
            linked: Vec::new(),
        })
    }
}

/// Folds a source's cells into its group's cells one by one (each a partial cell); how many.
fn fold_cells(
    grid: &Grid,
    group: &mut [Cell],
    states: &[State],
    runs: &[(Vec<i64>, Vec<f64>)],
    skip: Option<(i64, i64)>,
    needs: Needs,
) -> u64 {
    let Some((count_ts, _)) = runs.first() else {
        return 0;
    };
    let mut folded = 0;
    let mut cursors = vec![0usize; runs.len()];
    let mut row = vec![f64::NAN; runs.len()];
    for &start in count_ts {
        if skip.is_some_and(|(lo, hi)| start >= lo && start < hi) {
            continue;
        }
        for (k, (ts, vs)) in runs.iter().enumerate() {
            let c = &mut cursors[k];
            *c += ts[*c..].partition_point(|&t| t < start);
            row[k] = if ts.get(*c) == Some(&start) {
                vs[*c]
            } else {
                f64::NAN
            };
        }
        if let Some(cell) = partial(start, states, &row) {
            folded += 1;
            group[grid.index(start)].merge(cell, needs);
        }
    }
    folded
}

/// One state series of a source folded per query bucket: from block summaries where a block
/// lies inside one bucket and outside the dirty span, point by point elsewhere.
struct StateFeed<'a> {
    grid: &'a Grid,
    state: State,
    acc: &'a mut [f64],
    skip: Option<(i64, i64)>,
    /// Cells folded, and blocks of them answered from their summaries.
    cells: u64,
    blocks: u64,
}

/// The value a state's fold starts from.
fn identity(state: State) -> f64 {
    match state {
        State::Count | State::Sum | State::M2 => 0.0,
        State::Min | State::FirstAt => f64::INFINITY,
        State::Max | State::LastAt => f64::NEG_INFINITY,
        State::First | State::Last => f64::NAN,
    }
}

/// Folds the state values of later cells (in time order) into `acc`; NaN (a cell without
/// values) is left out.
fn fold(state: State, acc: &mut f64, v: f64) {
    if v.is_nan() {
        return;
    }
    match state {
        State::Count | State::Sum | State::M2 => *acc += v,
        State::Min | State::FirstAt => *acc = acc.min(v),
        State::Max | State::LastAt => *acc = acc.max(v),
        State::First if acc.is_nan() => *acc = v,
        State::First => {}
        State::Last => *acc = v,
    }
}

impl Sink for StateFeed<'_> {
    fn whole_block(&mut self, m: &BlockMeta) -> bool {
        let Some(s) = &m.summary else {
            return false;
        };
        if self
            .skip
            .is_some_and(|(lo, hi)| m.min_ts < hi && m.max_ts >= lo)
        {
            return false;
        }
        let b = self.grid.index(m.min_ts);
        if b != self.grid.index(m.max_ts) {
            return false;
        }
        let acc = &mut self.acc[b];
        match self.state {
            State::Count | State::Sum | State::M2 => *acc += s.sum,
            State::Min | State::FirstAt => *acc = acc.min(s.min),
            State::Max | State::LastAt => *acc = acc.max(s.max),
            State::First => fold(State::First, acc, s.first),
            State::Last => *acc = s.last,
        }
        self.cells += u64::from(s.valid);
        self.blocks += 1;
        true
    }

    fn points(&mut self, ts: &[i64], vs: &[f64]) {
        // Bucket by bucket: a run of cells folds in one pass over a slice.
        let mut i = 0;
        while let Some(&t) = ts.get(i) {
            let end = self.grid.end_of(t);
            let j = i + ts[i..].partition_point(|&x| x < end);
            let acc = &mut self.acc[self.grid.index(t)];
            for (&t, &v) in ts[i..j].iter().zip(&vs[i..j]) {
                if !self.skip.is_some_and(|(lo, hi)| t >= lo && t < hi) {
                    fold(self.state, acc, v);
                    self.cells += 1;
                }
            }
            i = j;
        }
    }
}

impl Inner {
    /// Folds a source's stored sketches in `[a, b)` (outside its dirty span) into its group's
    /// cells; how many.
    fn fold_sketches(
        &self,
        grid: &Grid,
        group: &mut [Cell],
        series: SeriesId,
        a: i64,
        b: i64,
        skip: Option<(i64, i64)>,
    ) -> Result<u64> {
        let (ts, payloads) = self.range::<Payload>(series, a, b - 1)?;
        let mut folded = 0;
        for (t, payload) in ts.into_iter().zip(payloads) {
            if skip.is_some_and(|(lo, hi)| t >= lo && t < hi) {
                continue;
            }
            let sketch = Sketch::decode(payload.as_ref()).map_err(|reason| {
                Error::InvalidArgument(format!("a damaged rollup sketch at {t}: {reason}"))
            })?;
            group[grid.index(t)].merge_sketch(&sketch);
            folded += 1;
        }
        Ok(folded)
    }
}

/// Folds sorted points into the cells of the buckets they fall in.
fn fold_points(grid: &Grid, cells: &mut [Cell], ts: &[i64], vs: &[f64], needs: Needs) {
    let mut i = 0;
    while let Some(&t) = ts.get(i) {
        let end = grid.end_of(t);
        let j = i + ts[i..].partition_point(|&x| x < end);
        cells[grid.index(t)].add(&ts[i..j], &vs[i..j], needs);
        i = j;
    }
}

/// The first multiple of `every` at or after `t`.
fn ceil(t: i64, every: i64) -> i64 {
    let b = bucket(t, every);
    if b == t {
        t
    } else {
        b.saturating_add(every)
    }
}

/// Whether rollup buckets of `every` tile the query's buckets over the part of `[from, to)`
/// they cover whole (a bucket boundary there is a multiple of `every`), and cover something.
fn tiles(grid: &Grid, from: i64, to: i64, every: i64) -> bool {
    let (a, b) = (ceil(from, every), bucket(to, every));
    a < b
        && (1..grid.len())
            .map(|i| grid.start(i))
            .filter(|&s| s > a && s < b)
            .all(|s| s.rem_euclid(every) == 0)
}
