//! Running aggregation queries: select series through the tag index, gather each series'
//! sources (the partitions' blocks in range, the points being sealed, the live points), and
//! fold them into per-bucket cells — a whole block from its summary when it lies inside one
//! bucket and no other source overlaps it, decoded points otherwise, the "later write wins"
//! merge where sources overlap. Large scans run on every core: by group when there are many
//! groups (each thread owns its groups' cells), by series otherwise (partial cells merged).

use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;

use super::read::{block, merge, Run};
use super::{Engine, Inner};
use crate::cache::BlockCache;
use crate::codec::block::BlockMeta;
use crate::codec::{BlockPoints, Payload};
use crate::error::{Error, Result};
use crate::partition::BlockRef;
use crate::query::aggregate::{Agg, Cell, CounterState, Needs};
use crate::query::buckets::Grid;
use crate::query::fill::{fill, moving_average, Fill};
use crate::query::{Explain, Group, GroupBy, Query, QueryResult, QuerySpec, MAX_CELLS, MAX_GROUPS};
use crate::series::{canonical_metric, canonical_tags, SeriesId, SeriesKind, METRIC_TAG};
use crate::tiers::TierSet;

impl Engine {
    /// Runs an aggregation query (see [`QuerySpec`]).
    pub fn query(&self, spec: &QuerySpec) -> Result<QueryResult> {
        let query = spec.compile()?;
        self.inner.run_query(&query)
    }
}

/// The selected series and the groups they fall in.
#[derive(Default)]
pub(super) struct Selection {
    pub ids: Vec<SeriesId>,
    pub keys: Vec<String>,
    pub kinds: Vec<SeriesKind>,
    /// The group of each series.
    pub group_of: Vec<usize>,
    /// Each group's key (tag values, or the series key).
    pub groups: Vec<Vec<Option<String>>>,
}

/// The points of one series copied out of memory under the state lock.
#[derive(Default)]
pub(super) struct InMemory {
    pub sealing: Run<f64>,
    pub live: Run<f64>,
    /// The range's start for this series: moved up to its retention horizon.
    pub from: i64,
}

/// Counts for `explain`, summed over threads.
#[derive(Default, Clone)]
struct Stats {
    blocks: u64,
    decoded: u64,
    from_summaries: u64,
    points_decoded: u64,
    points_live: u64,
    merged: usize,
    /// Per partition (by position): blocks, decoded, from summaries.
    per_partition: HashMap<usize, (u64, u64, u64)>,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.blocks += other.blocks;
        self.decoded += other.decoded;
        self.from_summaries += other.from_summaries;
        self.points_decoded += other.points_decoded;
        self.points_live += other.points_live;
        self.merged += other.merged;
        for (p, (a, b, c)) in other.per_partition {
            let e = self.per_partition.entry(p).or_default();
            e.0 += a;
            e.1 += b;
            e.2 += c;
        }
    }
}

/// One series' sources.
struct Sources<'a> {
    numeric: bool,
    blocks: &'a [(usize, BlockRef)],
    memory: &'a InMemory,
    /// The last sample before the range, for counter functions.
    before: Option<(i64, f64)>,
}

/// A source of one series' points in a scan without overlaps.
enum Piece<'a> {
    Block(usize, &'a BlockRef),
    Memory(&'a Run<f64>),
}

/// How series are read in a range: what every series' walk shares (each series' start is
/// its own: `InMemory::from`).
pub(super) struct Scan<'a> {
    cache: &'a BlockCache,
    tiers: &'a TierSet,
    to: i64,
}

/// Where a series' points go in time order: a query's cells, or a list (tables).
pub(super) trait Sink {
    /// Takes a whole block (numeric, inside the range, without NaN, with a summary) from its
    /// metadata instead of its points, if it can.
    fn whole_block(&mut self, _meta: &BlockMeta) -> bool {
        false
    }
    fn points(&mut self, ts: &[i64], vs: &[f64]);
}

/// What folding series into cells needs.
struct Aggregation<'a> {
    scan: Scan<'a>,
    grid: &'a Grid,
    needs: Needs,
    counters: bool,
    /// Whether block summaries can answer every aggregate.
    summaries: bool,
}

impl Inner {
    pub(super) fn run_query(&self, q: &Query) -> Result<QueryResult> {
        let started = Instant::now();
        let selection = self.select_groups(q)?;
        let linked = q
            .with_linked
            .then(|| {
                let mut ids = self.linked_ids(&selection.ids);
                // Linked event series answer only what events can (a count).
                if q.aggregates.iter().any(Agg::needs_numbers) {
                    let catalog = self.catalog();
                    ids.retain(|&id| catalog.kind(id) == Some(SeriesKind::Numeric));
                }
                self.grouped(ids, &GroupBy::Series)
            })
            .transpose()?;
        let mut result = self.run_selected(q, selection, started)?;
        if let Some(linked) = linked {
            // Linked series are not what the query selects: no rollup stands for them.
            let each = Query {
                group_by: GroupBy::Series,
                order_by: None,
                limit: None,
                rollups: false,
                ..q.clone()
            };
            result.linked = self.run_selected(&each, linked, Instant::now())?.groups;
        }
        Ok(result)
    }

    /// Runs a query over the series selected.
    fn run_selected(
        &self,
        q: &Query,
        selection: Selection,
        started: Instant,
    ) -> Result<QueryResult> {
        if let Some(agg) = q.aggregates.iter().find(|a| a.needs_numbers()) {
            if let Some(i) = selection.kinds.iter().position(|&k| k == SeriesKind::Event) {
                return Err(Error::invalid_query(
                    "aggregate",
                    format!(
                        "'{}' needs numbers, and {} holds events (only count works on events)",
                        agg.name(),
                        selection.keys[i]
                    ),
                ));
            }
        }
        let grid =
            Grid::new(&q.every, q.from, q.to).map_err(|e| Error::invalid_query("every", e))?;
        let nb = grid.len();
        let ng = selection.groups.len();
        if ng > MAX_GROUPS {
            return Err(Error::invalid_query(
                "groupBy",
                format!("{ng} groups (at most {MAX_GROUPS})"),
            ));
        }
        if ng.saturating_mul(nb).saturating_mul(q.aggregates.len()) > MAX_CELLS {
            return Err(Error::invalid_query(
                "every",
                format!(
                    "{ng} groups × {nb} buckets × {} aggregates exceed {MAX_CELLS} values",
                    q.aggregates.len()
                ),
            ));
        }
        let select_ms = ms_since(started);
        if q.rollups {
            if let Some(route) = self.route(q, &grid, &selection)? {
                return self.run_from_rollup(q, &grid, &selection, &route, started, select_ms);
            }
        }
        let scan_started = Instant::now();
        let (tiers, memory, from) =
            self.snapshot(&selection.ids, &selection.kinds, q.from, q.to)?;
        let to = q.to;
        let counters = q.aggregates.iter().any(Agg::is_counter);
        let needs = Needs::of(&q.aggregates);
        let aggregation = Aggregation {
            scan: Scan {
                cache: &self.cache,
                tiers: &tiers,
                to,
            },
            grid: &grid,
            needs,
            counters,
            summaries: !needs.moments
                && !needs.values
                && !counters
                && q.aggregates.iter().all(Agg::from_summary),
        };
        let (blocks, in_range) = blocks_of(&tiers, &selection.ids, from, to)?;
        let before: Vec<Option<(i64, f64)>> = if counters && from < to {
            selection
                .ids
                .iter()
                .zip(&memory)
                .map(|(&id, m)| self.walk_as_of::<f64>(id, m.from - 1))
                .collect::<Result<_>>()?
        } else {
            vec![None; selection.ids.len()]
        };
        let sources: Vec<Sources<'_>> = (0..selection.ids.len())
            .map(|i| Sources {
                numeric: selection.kinds[i] == SeriesKind::Numeric,
                blocks: &blocks[i],
                memory: &memory[i],
                before: before[i],
            })
            .collect();
        let work: u64 = blocks
            .iter()
            .flatten()
            .map(|(_, r)| u64::from(r.count()))
            .chain(
                memory
                    .iter()
                    .map(|m| (m.live.0.len() + m.sealing.0.len()) as u64),
            )
            .sum();
        let threads = if work >= self.options.parallel_query_points && sources.len() > 1 {
            rayon::current_num_threads()
        } else {
            1
        };
        let (mut cells, stats) = if from >= to {
            (vec![Cell::default(); ng * nb], Stats::default())
        } else {
            aggregation.run(&sources, &selection.group_of, ng, threads)?
        };
        let scan_ms = ms_since(scan_started);
        let finish_started = Instant::now();
        let groups = finish(q, &grid, &selection, &mut cells);
        let explain = q.explain.then(|| Explain {
            series: selection.ids.len(),
            groups: groups.len(),
            buckets: nb,
            partitions_total: tiers.partitions.len(),
            partitions_in_range: in_range,
            partitions_read: stats.per_partition.len(),
            blocks: stats.blocks,
            blocks_decoded: stats.decoded,
            blocks_from_summaries: stats.from_summaries,
            points_decoded: stats.points_decoded,
            points_live: stats.points_live,
            series_merged: stats.merged,
            threads,
            select_ms,
            scan_ms,
            finish_ms: ms_since(finish_started),
            total_ms: ms_since(started),
            rollup: None,
            rollup_cells: 0,
            rollup_raw_points: 0,
            partitions: {
                let mut read: Vec<_> = stats.per_partition.iter().collect();
                read.sort_by_key(|(p, _)| **p);
                read.into_iter()
                    .map(|(&p, &(b, d, s))| {
                        let meta = &tiers.partitions[p].meta;
                        (meta.dir.clone(), meta.tier.name().to_owned(), b, d, s)
                    })
                    .collect()
            },
        });
        Ok(QueryResult {
            groups,
            explain,
            linked: Vec::new(),
        })
    }

    /// The series a query selects, sorted by id, and their groups.
    fn select_groups(&self, q: &Query) -> Result<Selection> {
        self.readable().map(drop)?;
        let ids = self.indexed_catalog().select(&q.selector);
        self.grouped(ids, &q.group_by)
    }

    /// Series (sorted by id) gathered into groups.
    fn grouped(&self, ids: Vec<SeriesId>, group_by: &GroupBy) -> Result<Selection> {
        let catalog = self.catalog();
        let mut keys = Vec::with_capacity(ids.len());
        let mut kinds = Vec::with_capacity(ids.len());
        for &id in &ids {
            keys.push(catalog.key(id).unwrap_or_default().to_owned());
            kinds.push(catalog.kind(id).unwrap_or(SeriesKind::Numeric));
        }
        drop(catalog);
        let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
        let mut groups = Vec::new();
        let group_of = keys
            .iter()
            .map(|key| {
                let group: Vec<Option<String>> = match group_by {
                    GroupBy::All => Vec::new(),
                    GroupBy::Series => vec![Some(key.clone())],
                    GroupBy::Tags(names) => names
                        .iter()
                        .map(|name| {
                            if name == METRIC_TAG {
                                return Some(canonical_metric(key).to_owned());
                            }
                            canonical_tags(key)
                                .find(|(n, _)| n == name)
                                .map(|(_, v)| v.into_owned())
                        })
                        .collect(),
                };
                *index.entry(group.clone()).or_insert_with(|| {
                    groups.push(group);
                    groups.len() - 1
                })
            })
            .collect();
        Ok(Selection {
            ids,
            keys,
            kinds,
            group_of,
            groups,
        })
    }

    /// The tier set, and each series' sealing and live points in range (copied under the state
    /// lock, a batch of series at a time); the range's start moved up to the retention horizon.
    pub(super) fn snapshot(
        &self,
        ids: &[SeriesId],
        kinds: &[SeriesKind],
        from: i64,
        to: i64,
    ) -> Result<(std::sync::Arc<TierSet>, Vec<InMemory>, i64)> {
        let mut out = Vec::with_capacity(ids.len());
        let tiers = self.readable()?.tiers.clone();
        // Every series' start, moved up to its horizon; the earliest bounds the block search.
        let starts: Vec<i64> = ids
            .iter()
            .map(|&id| from.max(self.horizon_of(&tiers, id)))
            .collect();
        let earliest = starts.iter().copied().min().unwrap_or(from);
        for ((batch, kinds), starts) in ids
            .chunks(256)
            .zip(kinds.chunks(256))
            .zip(starts.chunks(256))
        {
            let mut st = self.readable()?;
            for ((&id, &kind), &from) in batch.iter().zip(kinds).zip(starts) {
                let mut m = InMemory {
                    from,
                    ..InMemory::default()
                };
                if from < to {
                    let sealing = st.sealing.clone();
                    match kind {
                        SeriesKind::Numeric => {
                            let mut column = st.live.column_mut::<f64>(id)?;
                            let (ts, vs) = column.range(from, to - 1);
                            m.live = (ts.to_vec(), vs.to_vec());
                            if let Some((ts, vs)) = sealing
                                .as_ref()
                                .and_then(|s| s.column::<f64>(id))
                                .and_then(|c| c.range_sorted(from, to - 1))
                            {
                                m.sealing = (ts.to_vec(), vs.to_vec());
                            }
                        }
                        SeriesKind::Event => {
                            let mut column = st.live.column_mut::<Payload>(id)?;
                            let (ts, _) = column.range(from, to - 1);
                            m.live = (ts.to_vec(), vec![0.0; ts.len()]);
                            if let Some((ts, _)) = sealing
                                .as_ref()
                                .and_then(|s| s.column::<Payload>(id))
                                .and_then(|c| c.range_sorted(from, to - 1))
                            {
                                m.sealing = (ts.to_vec(), vec![0.0; ts.len()]);
                            }
                        }
                    }
                }
                out.push(m);
            }
        }
        Ok((tiers, out, earliest))
    }
}

/// A series' blocks in a range, each with its partition's position (its priority).
type Blocks = Vec<(usize, BlockRef)>;

/// Series prepared for walks over one range: their points in memory copied and their blocks
/// found, with one walk of each partition's index for all of them.
pub(super) struct Walker {
    tiers: std::sync::Arc<TierSet>,
    memory: Vec<InMemory>,
    blocks: Vec<Blocks>,
    kinds: Vec<SeriesKind>,
    from: i64,
    to: i64,
}

impl Inner {
    /// A walker over `[from, to)` of `ids` (sorted); the range's start moved up to the
    /// retention horizon.
    pub(super) fn walker(
        &self,
        ids: &[SeriesId],
        kinds: &[SeriesKind],
        from: i64,
        to: i64,
    ) -> Result<Walker> {
        let (tiers, memory, from) = self.snapshot(ids, kinds, from, to)?;
        let (blocks, _) = blocks_of(&tiers, ids, from, to)?;
        Ok(Walker {
            tiers,
            memory,
            blocks,
            kinds: kinds.to_vec(),
            from,
            to,
        })
    }

    /// The points in `[from, to)` of each of `ids` (sorted), merged across tiers as a range
    /// read merges them.
    pub(super) fn points_of(
        &self,
        ids: &[SeriesId],
        kinds: &[SeriesKind],
        from: i64,
        to: i64,
    ) -> Result<Vec<Run<f64>>> {
        let walker = self.walker(ids, kinds, from, to)?;
        (0..ids.len())
            .map(|i| {
                let mut run = Collect::default();
                walker.walk(&self.cache, i, &mut run)?;
                Ok((run.ts, run.vs))
            })
            .collect()
    }
}

impl Walker {
    /// Hands the points of series `i` (by position in the walker's ids) to `sink`, whole
    /// blocks offered first.
    pub(super) fn walk(&self, cache: &BlockCache, i: usize, sink: &mut impl Sink) -> Result<()> {
        if self.from >= self.to {
            return Ok(());
        }
        let scan = Scan {
            cache,
            tiers: &self.tiers,
            to: self.to,
        };
        let sources = Sources {
            numeric: self.kinds[i] == SeriesKind::Numeric,
            blocks: &self.blocks[i],
            memory: &self.memory[i],
            before: None,
        };
        scan.walk(&sources, sink, &mut Stats::default())
    }
}

/// A series' points, collected.
#[derive(Default)]
pub(super) struct Collect {
    pub ts: Vec<i64>,
    pub vs: Vec<f64>,
}

impl Sink for Collect {
    fn points(&mut self, ts: &[i64], vs: &[f64]) {
        self.ts.extend_from_slice(ts);
        self.vs.extend_from_slice(vs);
    }
}

/// The blocks in `[from, to)` of each series (by position in `ids`); and how many partitions
/// meet the range.
pub(super) fn blocks_of(
    tiers: &TierSet,
    ids: &[SeriesId],
    from: i64,
    to: i64,
) -> Result<(Vec<Blocks>, usize)> {
    let mut out: Vec<Blocks> = vec![Vec::new(); ids.len()];
    let mut in_range = 0;
    if from >= to || ids.is_empty() {
        return Ok((out, 0));
    }
    let now = super::read::now_ms();
    for (p, partition) in tiers.partitions.iter().enumerate() {
        if partition.meta.max_ts < from || partition.meta.min_ts >= to {
            continue;
        }
        in_range += 1;
        let refs = partition.find_many(ids, from, to - 1)?;
        if !refs.is_empty() {
            partition.touch(now);
        }
        let mut slot = 0;
        for r in refs {
            while ids.get(slot).is_some_and(|&id| id < r.series) {
                slot += 1;
            }
            if let Some(series) = out.get_mut(slot) {
                series.push((p, r));
            }
        }
    }
    Ok((out, in_range))
}

impl Aggregation<'_> {
    /// Scans every series into cells (`groups × buckets`, group-major).
    fn run(
        &self,
        sources: &[Sources<'_>],
        group_of: &[usize],
        groups: usize,
        threads: usize,
    ) -> Result<(Vec<Cell>, Stats)> {
        let nb = self.grid.len();
        let mut cells = vec![Cell::default(); groups * nb];
        if threads <= 1 {
            let mut stats = Stats::default();
            for (s, &g) in sources.iter().zip(group_of) {
                self.series(s, &mut cells[g * nb..(g + 1) * nb], &mut stats)?;
            }
            return Ok((cells, stats));
        }
        if groups >= threads {
            // Each thread owns a run of groups and their cells.
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
            for (i, &g) in group_of.iter().enumerate() {
                members[g].push(i);
            }
            let per = groups.div_ceil(threads * 4).max(1);
            let stats = cells
                .par_chunks_mut(nb * per)
                .zip(members.par_chunks(per))
                .map(|(chunk, members)| {
                    let mut stats = Stats::default();
                    for (g, series) in members.iter().enumerate() {
                        for &i in series {
                            self.series(&sources[i], &mut chunk[g * nb..(g + 1) * nb], &mut stats)?;
                        }
                    }
                    Ok(stats)
                })
                .collect::<Result<Vec<Stats>>>()?;
            let mut total = Stats::default();
            stats.into_iter().for_each(|s| total.add(s));
            return Ok((cells, total));
        }
        // Few groups: threads take runs of series, each into cells of its own, merged after.
        let per = sources.len().div_ceil(threads * 4).max(1);
        let partials = sources
            .par_chunks(per)
            .zip(group_of.par_chunks(per))
            .map(|(sources, group_of)| {
                let mut mine = vec![Cell::default(); groups * nb];
                let mut stats = Stats::default();
                for (s, &g) in sources.iter().zip(group_of) {
                    self.series(s, &mut mine[g * nb..(g + 1) * nb], &mut stats)?;
                }
                Ok((mine, stats))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut total = Stats::default();
        for (mine, stats) in partials {
            for (cell, part) in cells.iter_mut().zip(mine) {
                cell.merge(part, self.needs);
            }
            total.add(stats);
        }
        Ok((cells, total))
    }

    /// Folds one series into its group's cells (one per bucket).
    fn series(&self, s: &Sources<'_>, cells: &mut [Cell], stats: &mut Stats) -> Result<()> {
        let mut counter = self.counters.then(|| CounterState::new(s.before));
        let mut feed = Feed {
            grid: self.grid,
            needs: self.needs,
            summaries: self.summaries,
            cells,
            counter: counter.as_mut(),
        };
        self.scan.walk(s, &mut feed, stats)?;
        if let Some(counter) = feed.counter.take() {
            let cells = &mut *feed.cells;
            counter.finish(&mut |b, c| cells[b].add_counted(c));
        }
        Ok(())
    }
}

impl Scan<'_> {
    /// Hands one series' points in `[from, to)` to `sink` in time order: source by source when
    /// they do not overlap (whole blocks offered to the sink first), merged (later writes
    /// winning) when they do.
    fn walk(&self, s: &Sources<'_>, sink: &mut impl Sink, stats: &mut Stats) -> Result<()> {
        let memory = [&s.memory.sealing, &s.memory.live];
        stats.points_live += (s.memory.live.0.len() + s.memory.sealing.0.len()) as u64;
        // Time spans of every source: any two that meet need the "later write wins" merge.
        let mut spans: Vec<(i64, i64)> = s
            .blocks
            .iter()
            .map(|(_, r)| (r.min_ts(), r.max_ts()))
            .collect();
        for run in memory {
            if let (Some(&a), Some(&b)) = (run.0.first(), run.0.last()) {
                spans.push((a, b));
            }
        }
        spans.sort_unstable();
        if spans.windows(2).any(|w| w[1].0 <= w[0].1) {
            stats.merged += 1;
            let mut runs: Vec<Run<f64>> = Vec::new();
            let mut by_partition: Vec<(usize, Run<f64>)> = Vec::new();
            for (p, r) in s.blocks {
                let (ts, vs) = self.decoded(*p, r, s, stats)?;
                match by_partition.last_mut() {
                    Some((q, run)) if q == p => {
                        run.0.extend(ts);
                        run.1.extend(vs);
                    }
                    _ => by_partition.push((*p, (ts, vs))),
                }
            }
            runs.extend(by_partition.into_iter().map(|(_, run)| run));
            runs.extend(memory.iter().map(|&run| run.clone()));
            let (ts, vs) = merge(runs);
            sink.points(&ts, &vs);
            return Ok(());
        }
        let mut pieces: Vec<(i64, Piece<'_>)> = s
            .blocks
            .iter()
            .map(|(p, r)| (r.min_ts(), Piece::Block(*p, r)))
            .collect();
        for run in memory {
            if let Some(&first) = run.0.first() {
                pieces.push((first, Piece::Memory(run)));
            }
        }
        pieces.sort_unstable_by_key(|(t, _)| *t);
        for (_, piece) in pieces {
            match piece {
                Piece::Block(p, r) => {
                    let m = &r.meta;
                    let whole = s.numeric
                        && m.summary.is_some()
                        && !m.has_nan
                        && m.min_ts >= s.memory.from
                        && m.max_ts < self.to;
                    if whole && sink.whole_block(m) {
                        stats.blocks += 1;
                        stats.from_summaries += 1;
                        let e = stats.per_partition.entry(p).or_default();
                        e.0 += 1;
                        e.2 += 1;
                    } else {
                        let (ts, vs) = self.decoded(p, r, s, stats)?;
                        sink.points(&ts, &vs);
                    }
                }
                Piece::Memory(run) => sink.points(&run.0, &run.1),
            }
        }
        Ok(())
    }

    /// A block's points inside the range (events as zeros: only counted).
    fn decoded(
        &self,
        p: usize,
        r: &BlockRef,
        s: &Sources<'_>,
        stats: &mut Stats,
    ) -> Result<Run<f64>> {
        let partition = &self.tiers.partitions[p];
        let points = block(self.cache, partition, r)?;
        stats.blocks += 1;
        stats.decoded += 1;
        stats.points_decoded += u64::from(r.count());
        let e = stats.per_partition.entry(p).or_default();
        e.0 += 1;
        e.1 += 1;
        let ts = points.timestamps();
        let start = ts.partition_point(|&t| t < s.memory.from);
        let end = ts.partition_point(|&t| t < self.to);
        let ts = ts[start..end.max(start)].to_vec();
        let vs = match (&*points, s.numeric) {
            (BlockPoints::Numeric(_, vs), true) => vs[start..end.max(start)].to_vec(),
            _ => vec![0.0; ts.len()],
        };
        Ok((ts, vs))
    }
}

/// Points of one series going into its group's cells, split at bucket boundaries.
struct Feed<'a, 'c> {
    grid: &'a Grid,
    needs: Needs,
    summaries: bool,
    cells: &'c mut [Cell],
    counter: Option<&'c mut CounterState>,
}

impl Sink for Feed<'_, '_> {
    fn whole_block(&mut self, m: &BlockMeta) -> bool {
        let (Some(summary), true) = (&m.summary, self.summaries) else {
            return false;
        };
        let b = self.grid.index(m.min_ts);
        if b != self.grid.index(m.max_ts) {
            return false;
        }
        self.cells[b].add_summary(summary, m.min_ts, m.max_ts);
        true
    }

    fn points(&mut self, ts: &[i64], vs: &[f64]) {
        let mut i = 0;
        while let Some(&t) = ts.get(i) {
            let b = self.grid.index(t);
            let end = self.grid.end_of(t);
            let j = i + ts[i..].partition_point(|&x| x < end);
            self.cells[b].add(&ts[i..j], &vs[i..j], self.needs);
            if let Some(counter) = self.counter.as_deref_mut() {
                let cells = &mut *self.cells;
                for k in i..j {
                    counter.add(b, ts[k], vs[k], &mut |bucket, c| {
                        cells[bucket].add_counted(c)
                    });
                }
            }
            i = j;
        }
    }
}

/// The groups of a query's result from their cells: columns, fill, moving averages, `having`,
/// then groups ordered and limited.
pub(super) fn finish(
    q: &Query,
    grid: &Grid,
    selection: &Selection,
    cells: &mut [Cell],
) -> Vec<Group> {
    let nb = grid.len();
    let needs = Needs::of(&q.aggregates);
    let starts: Vec<i64> = (0..nb).map(|b| grid.start(b)).collect();
    let seconds: Vec<f64> = (0..nb)
        .map(|b| {
            let (s, e) = grid.span(b);
            (e - s) as f64 / 1000.0
        })
        .collect();
    let mut members = vec![0usize; selection.groups.len()];
    for &g in &selection.group_of {
        members[g] += 1;
    }
    let mut out: Vec<(Group, f64)> = Vec::new();
    for (g, key) in selection.groups.iter().enumerate() {
        let cells = &mut cells[g * nb..(g + 1) * nb];
        let empty: Vec<bool> = cells
            .iter()
            .map(|c| c.n == 0 && c.increase.1 == 0 && c.delta.1 == 0)
            .collect();
        if empty.iter().all(|&e| e) {
            continue; // no data in range: no group
        }
        let mut columns: Vec<Vec<f64>> = Vec::with_capacity(q.aggregates.len());
        for agg in &q.aggregates {
            let base = agg.base();
            let mut column: Vec<f64> = cells
                .iter_mut()
                .zip(&seconds)
                .map(|(c, &s)| c.value(base, s))
                .collect();
            if *base != Agg::Count {
                fill(&mut column, &empty, &starts, q.fill);
            }
            if let Agg::MovingAverage { n, .. } = agg {
                column = moving_average(&column, *n);
            }
            columns.push(column);
        }
        let keep: Vec<usize> = (0..nb)
            .filter(|&b| q.fill != Fill::None || !empty[b])
            .filter(|&b| {
                q.having
                    .iter()
                    .all(|&(i, op, v)| op.holds(columns[i][b], v))
            })
            .collect();
        if keep.is_empty() {
            continue;
        }
        let order_key = match q.order_by {
            Some((i, _)) => {
                let mut total = Cell::default();
                for c in cells.iter() {
                    total.merge(c.clone(), needs);
                }
                let whole = (q.to - q.from) as f64 / 1000.0;
                total.value(q.aggregates[i].base(), whole)
            }
            None => 0.0,
        };
        let tags = group_tags(&q.group_by, key, selection, g);
        out.push((
            Group {
                tags,
                key: match q.group_by {
                    GroupBy::Series => key.first().cloned().flatten(),
                    _ => None,
                },
                series: members[g],
                timestamps: keep.iter().map(|&b| starts[b]).collect(),
                columns: q
                    .aggregates
                    .iter()
                    .zip(columns)
                    .map(|(agg, column)| (agg.name(), keep.iter().map(|&b| column[b]).collect()))
                    .collect(),
            },
            order_key,
        ));
    }
    // By key, then (stably) by the ordering column if any, NaN last either way.
    out.sort_by(|a, b| (&a.0.key, &a.0.tags).cmp(&(&b.0.key, &b.0.tags)));
    if let Some((_, desc)) = q.order_by {
        out.sort_by(|a, b| {
            let (x, y) = (a.1, b.1);
            match (x.is_nan(), y.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if desc => y.total_cmp(&x),
                _ => x.total_cmp(&y),
            }
        });
    }
    if let Some(limit) = q.limit {
        out.truncate(limit);
    }
    out.into_iter().map(|(g, _)| g).collect()
}

/// A group's tags: the group-by tags it has, or every tag (and the metric) of its series.
fn group_tags(
    by: &GroupBy,
    key: &[Option<String>],
    selection: &Selection,
    g: usize,
) -> Vec<(String, String)> {
    match by {
        GroupBy::All => Vec::new(),
        GroupBy::Tags(names) => names
            .iter()
            .zip(key)
            .filter_map(|(n, v)| Some((n.clone(), v.clone()?)))
            .collect(),
        GroupBy::Series => {
            let key = selection
                .group_of
                .iter()
                .position(|&x| x == g)
                .map_or("", |i| selection.keys[i].as_str());
            canonical_tags(key)
                .map(|(n, v)| (n.to_owned(), v.into_owned()))
                .collect()
        }
    }
}

pub(super) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
