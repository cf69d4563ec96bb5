//! The read path of one series across the live tier, a pass in progress and the partitions:
//! the planner picks partitions and blocks by time range and index entries (temporal shard
//! routing), decodes blocks through the event horizon cache, and merges the sources so that for
//! equal timestamps the later write wins (newer partitions over older ones, the pass's sealing
//! set over all partitions, the live tier over all). Nothing older than the retention horizon
//! is returned.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Inner;
use crate::cache::BlockCache;
use crate::codec::{BlockPoints, Payload};
use crate::error::Result;
use crate::live::Points;
use crate::partition::{BlockRef, Partition};
use crate::sample::Sample;
use crate::series::{SeriesId, SeriesKind};
use crate::tiers::TierSet;
use crate::types::{RangeOptions, RangeResult, Value};

/// Points from one source, sorted by time.
pub type Run<V> = (Vec<i64>, Vec<V>);

impl Inner {
    /// The retention horizon of series `id` (see `retention`).
    pub(super) fn horizon_of(&self, tiers: &TierSet, id: SeriesId) -> i64 {
        let horizons = &tiers.horizons;
        if horizons.uniform() {
            return horizons.default_horizon();
        }
        self.catalog()
            .key(id)
            .map_or(horizons.default_horizon(), |key| horizons.of(key))
    }

    /// Points of one series in `[from, to]` from every tier, merged.
    pub(super) fn range<V: Sample>(&self, id: SeriesId, from: i64, to: i64) -> Result<Run<V>> {
        let (live, sealing, tiers, from) = {
            let mut st = self.readable()?;
            let from = from.max(self.horizon_of(&st.tiers, id));
            let live = if from <= to {
                let mut column = st.live.column_mut::<V>(id)?;
                let (ts, vs) = column.range(from, to);
                (ts.to_vec(), vs.to_vec())
            } else {
                (Vec::new(), Vec::new())
            };
            let sealing = st
                .sealing
                .as_ref()
                .and_then(|s| s.column::<V>(id))
                .and_then(|c| c.range_sorted(from, to))
                .map(|(ts, vs)| (ts.to_vec(), vs.to_vec()))
                .unwrap_or_default();
            (live, sealing, st.tiers.clone(), from)
        };
        if from > to {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut runs = partition_runs::<V>(&self.cache, &tiers.partitions, id, from, to)?;
        runs.push(sealing);
        runs.push(live);
        Ok(merge(runs))
    }

    /// The point at or before `at`, as callers receive it.
    pub(super) fn value_at<V: Sample>(
        &self,
        id: SeriesId,
        at: i64,
    ) -> Result<Option<(i64, Value)>> {
        Ok(self.as_of::<V>(id, at)?.map(|(t, v)| (t, v.value())))
    }

    /// A range as callers receive it, with limit and order applied.
    pub(super) fn range_of<V: Sample>(
        &self,
        id: SeriesId,
        from: i64,
        to: i64,
        opts: RangeOptions,
    ) -> Result<RangeResult> {
        let (ts, vs) = self.range::<V>(id, from, to)?;
        let (ts, vs) = select(ts, vs, opts);
        Ok(V::range(ts, vs))
    }

    /// The newest point of one series at or before `at`, from every tier. At or after the
    /// series' newest point (the wormhole) the answer is that point, without a walk.
    pub(super) fn as_of<V: Sample>(&self, id: SeriesId, at: i64) -> Result<Option<(i64, V)>> {
        let (newest, horizon) = {
            let st = self.readable()?;
            (st.live.newest(id), self.horizon_of(&st.tiers, id))
        };
        let Some(newest) = newest else {
            return Ok(None); // never written
        };
        if at >= newest.ts {
            self.wormhole_hits.fetch_add(1, Ordering::Relaxed);
            if newest.ts < horizon {
                return Ok(None);
            }
            if let Some(v) = V::from_newest(newest.value) {
                return Ok(Some((newest.ts, v)));
            }
            // An event's payload is read where it is: the walk stops at the first hit.
            return self.walk_as_of(id, newest.ts);
        }
        self.walk_as_of(id, at)
    }

    /// The newest point at or before `at`, looked for in every tier.
    pub(super) fn walk_as_of<V: Sample>(&self, id: SeriesId, at: i64) -> Result<Option<(i64, V)>> {
        let (live, sealing, tiers) = {
            let mut st = self.readable()?;
            let live = st.live.column_mut::<V>(id)?.as_of(at);
            let sealing = st
                .sealing
                .as_ref()
                .and_then(|s| s.column::<V>(id))
                .and_then(|c| c.range_sorted(i64::MIN, at))
                .and_then(|(ts, vs)| ts.last().copied().zip(vs.last().cloned()));
            (live, sealing, st.tiers.clone())
        };
        // Priority: partitions by position, then the sealing set, then the live tier.
        let top = tiers.partitions.len();
        let in_memory = [
            sealing.map(|(t, v)| (t, top, v)),
            live.map(|(t, v)| (t, top + 1, v)),
        ];
        let found = in_memory.iter().flatten().map(|c| c.0).max();
        let stored = partition_as_of::<V>(&self.cache, &tiers.partitions, id, at, found)?;
        let horizon = self.horizon_of(&tiers, id);
        Ok(in_memory
            .into_iter()
            .chain([stored])
            .flatten()
            .max_by_key(|c| (c.0, c.1))
            .filter(|c| c.0 >= horizon)
            .map(|(t, _, v)| (t, v)))
    }

    /// For each of `ids` (all series if `None`), the number of points a full read returns: a
    /// timestamp held in several places counts once, and nothing older than the horizon counts.
    /// Sources that do not overlap in time are counted from their sizes; only overlapping ones
    /// are read.
    pub(super) fn point_counts(&self, ids: Option<&[SeriesId]>) -> Result<Vec<u64>> {
        let (ids, mut spans, kinds, tiers) = {
            let mut st = self.readable()?;
            let ids: Vec<SeriesId> = match ids {
                Some(ids) => ids.to_vec(),
                None => st.live.ids().collect(),
            };
            let mut spans: Vec<Vec<Span>> = vec![Vec::new(); ids.len()];
            let mut kinds = Vec::with_capacity(ids.len());
            for (slot, &id) in ids.iter().enumerate() {
                let points = st.live.normalize(id)?;
                kinds.push(points.kind());
                spans[slot].extend(points.span());
                let sealing = st.sealing.as_ref().and_then(|s| s.get(id).ok());
                spans[slot].extend(sealing.and_then(Points::span));
            }
            (ids, spans, kinds, st.tiers.clone())
        };
        // The blocks of the wanted series: one walk of each partition's index.
        let mut slot_of = vec![usize::MAX; ids.iter().max().map_or(0, |&m| m as usize + 1)];
        for (slot, &id) in ids.iter().enumerate() {
            slot_of[id as usize] = slot;
        }
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        for p in &tiers.partitions {
            for r in p.find_many(&sorted, i64::MIN, i64::MAX)? {
                if let Some(&slot) = slot_of.get(r.series as usize) {
                    spans[slot].push(span_of(&r));
                }
            }
        }
        let mut counts = Vec::with_capacity(ids.len());
        for ((&id, spans), kind) in ids.iter().zip(spans.iter_mut()).zip(kinds) {
            let horizon = self.horizon_of(&tiers, id);
            let mut count = 0;
            for (from, to, points) in overlapping_groups(spans) {
                count += match points {
                    _ if to < horizon => 0,
                    Some(n) if from >= horizon => n,
                    // Overlapping sources, or straddling the horizon: read what a range returns.
                    _ => {
                        let read = match kind {
                            SeriesKind::Numeric => self.range::<f64>(id, from, to)?.0.len(),
                            SeriesKind::Event => self.range::<Payload>(id, from, to)?.0.len(),
                        };
                        read as u64
                    }
                };
            }
            counts.push(count);
        }
        Ok(counts)
    }
}

fn span_of(r: &BlockRef) -> Span {
    (r.min_ts(), r.max_ts(), u64::from(r.count()))
}

/// A source's time span and size: (first, last, points).
type Span = (i64, i64, u64);

/// Merges spans that overlap in time: (first, last, points), the points unknown when the group
/// holds more than one span (its count needs a read).
fn overlapping_groups(spans: &mut [Span]) -> Vec<(i64, i64, Option<u64>)> {
    spans.sort_unstable();
    let mut groups: Vec<(Span, usize)> = Vec::new();
    for &(from, to, n) in spans.iter() {
        match groups.last_mut() {
            Some(((_, last, total), members)) if from <= *last => {
                *last = (*last).max(to);
                *total += n;
                *members += 1;
            }
            _ => groups.push(((from, to, n), 1)),
        }
    }
    groups
        .into_iter()
        .map(|((from, to, n), members)| (from, to, (members == 1).then_some(n)))
        .collect()
}

/// Copies the selected part of a range out, honouring limit and order.
fn select<V>(mut ts: Vec<i64>, mut vs: Vec<V>, opts: RangeOptions) -> Run<V> {
    let n = opts.limit.unwrap_or(usize::MAX).min(ts.len());
    if opts.descending {
        let start = ts.len() - n;
        ts.drain(..start);
        vs.drain(..start);
        ts.reverse();
        vs.reverse();
    } else {
        ts.truncate(n);
        vs.truncate(n);
    }
    (ts, vs)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A block, from the cache or decoded (and then cached).
pub(super) fn block(cache: &BlockCache, p: &Partition, r: &BlockRef) -> Result<Arc<BlockPoints>> {
    let key = (p.meta.id, r.offset);
    if let Some(hit) = cache.get(key) {
        return Ok(hit);
    }
    let decoded = Arc::new(p.decode(r)?);
    cache.insert(key, decoded.clone());
    Ok(decoded)
}

/// The points of `series` in `[from, to]` held by each partition, oldest partition first.
fn partition_runs<V: Sample>(
    cache: &BlockCache,
    partitions: &[Arc<Partition>],
    series: SeriesId,
    from: i64,
    to: i64,
) -> Result<Vec<Run<V>>> {
    let now = now_ms();
    let mut runs = Vec::new();
    for p in partitions {
        let refs = p.find(series, from, to)?;
        if refs.is_empty() {
            continue;
        }
        p.touch(now);
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for r in &refs {
            let b = block(cache, p, r)?;
            let Some((bt, bv)) = V::points(&b) else {
                continue;
            };
            let start = bt.partition_point(|&t| t < from);
            let end = bt.partition_point(|&t| t <= to);
            ts.extend_from_slice(&bt[start..end]);
            vs.extend_from_slice(&bv[start..end]);
        }
        runs.push((ts, vs));
    }
    Ok(runs)
}

/// Merges runs given in increasing priority: sorted output, one point per timestamp, the
/// highest-priority run's value winning ties.
pub(super) fn merge<V: Clone>(runs: Vec<Run<V>>) -> Run<V> {
    let mut runs: Vec<Run<V>> = runs.into_iter().filter(|r| !r.0.is_empty()).collect();
    if runs.len() <= 1 {
        return runs.pop().unwrap_or_default();
    }
    // Common case: runs cover disjoint time spans (older windows, then live data).
    let first = |r: &Run<V>| r.0.first().copied().unwrap_or(i64::MAX);
    let last = |r: &Run<V>| r.0.last().copied().unwrap_or(i64::MIN);
    let mut by_start: Vec<&Run<V>> = runs.iter().collect();
    by_start.sort_by_key(|r| first(r));
    if by_start.windows(2).all(|w| last(w[0]) < first(w[1])) {
        let total = runs.iter().map(|r| r.0.len()).sum();
        let (mut ts, mut vs) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for r in by_start {
            ts.extend_from_slice(&r.0);
            vs.extend_from_slice(&r.1);
        }
        return (ts, vs);
    }
    // Overlapping runs (late points): sort (ts, priority) and keep the last of each ts.
    let mut all: Vec<(i64, usize, usize)> = Vec::new();
    for (prio, r) in runs.iter().enumerate() {
        all.extend(r.0.iter().enumerate().map(|(i, &t)| (t, prio, i)));
    }
    all.sort_unstable();
    let (mut ts, mut vs) = (Vec::with_capacity(all.len()), Vec::with_capacity(all.len()));
    for (k, &(t, prio, i)) in all.iter().enumerate() {
        if all.get(k + 1).is_some_and(|next| next.0 == t) {
            continue;
        }
        ts.push(t);
        vs.push(runs[prio].1[i].clone());
    }
    (ts, vs)
}

/// The newest point at or before `at` held by the partitions, with its partition's priority
/// (its position in `partitions`): the caller compares it with the in-memory tiers', which
/// found one at `found` (so partitions ending before that need no look).
fn partition_as_of<V: Sample>(
    cache: &BlockCache,
    partitions: &[Arc<Partition>],
    series: SeriesId,
    at: i64,
    found: Option<i64>,
) -> Result<Option<(i64, usize, V)>> {
    let mut best: Option<(i64, usize, V)> = None;
    let now = now_ms();
    // Newest data first: once a point is found, partitions ending before it cannot beat it.
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(partitions[i].meta.max_ts));
    for prio in order {
        let p = &partitions[prio];
        let bar = best.as_ref().map(|b| b.0).max(found);
        if bar.is_some_and(|b| p.meta.max_ts < b) {
            break;
        }
        if p.meta.min_ts > at {
            continue;
        }
        let Some(last) = p.find(series, i64::MIN, at)?.pop() else {
            continue;
        };
        p.touch(now);
        // The whole block is at or before `at`: its metadata holds the answer (for numbers).
        if last.max_ts() <= at {
            if let Some(v) = V::last_in(&last.meta) {
                if best
                    .as_ref()
                    .is_none_or(|b| (last.max_ts(), prio) > (b.0, b.1))
                {
                    best = Some((last.max_ts(), prio, v));
                }
                continue;
            }
        }
        let b = block(cache, p, &last)?;
        let Some((ts, vs)) = V::points(&b) else {
            continue;
        };
        let i = ts.partition_point(|&t| t <= at);
        if let Some(i) = i.checked_sub(1) {
            if best.as_ref().is_none_or(|b| (ts[i], prio) > (b.0, b.1)) {
                best = Some((ts[i], prio, vs[i].clone()));
            }
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_runs_win_ties_and_disjoint_runs_concatenate() {
        let merged = merge(vec![
            (vec![1, 2, 3], vec![1.0, 2.0, 3.0]),
            (vec![2, 4], vec![9.0, 4.0]),
        ]);
        assert_eq!(merged, (vec![1, 2, 3, 4], vec![1.0, 9.0, 3.0, 4.0]));
        let merged = merge(vec![
            (vec![5, 6], vec![5.0, 6.0]),
            (vec![1, 2], vec![1.0, 2.0]),
        ]);
        assert_eq!(merged, (vec![1, 2, 5, 6], vec![1.0, 2.0, 5.0, 6.0]));
        assert_eq!(merge::<f64>(vec![]), (vec![], vec![]));
    }

    #[test]
    fn only_overlapping_spans_need_a_read() {
        let mut spans = vec![(10, 20, 5), (0, 5, 3), (15, 30, 4), (40, 50, 2)];
        assert_eq!(
            overlapping_groups(&mut spans),
            vec![(0, 5, Some(3)), (10, 30, None), (40, 50, Some(2))]
        );
    }
}
