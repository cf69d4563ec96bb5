//! Reading one series across the tiers: the planner picks partitions and blocks by time range
//! and index entries (temporal shard routing), decodes blocks through the event horizon cache,
//! and merges the sources so that for equal timestamps the later write wins (newer partitions
//! over older ones, the live tier over all).

use std::sync::Arc;

use crate::cache::BlockCache;
use crate::codec::{BlockPoints, Payload};
use crate::error::Result;
use crate::partition::{BlockRef, Partition};
use crate::series::SeriesId;

/// Points from one source, sorted by time.
pub type Run<V> = (Vec<i64>, Vec<V>);

/// Access to one kind of value inside decoded blocks.
pub trait Kind: Clone + Send + Sync + 'static {
    fn slice(block: &BlockPoints) -> Option<(&[i64], &[Self])>;
}

impl Kind for f64 {
    fn slice(block: &BlockPoints) -> Option<(&[i64], &[f64])> {
        match block {
            BlockPoints::Numeric(ts, vs) => Some((ts, vs)),
            BlockPoints::Event(..) => None,
        }
    }
}

impl Kind for Payload {
    fn slice(block: &BlockPoints) -> Option<(&[i64], &[Payload])> {
        match block {
            BlockPoints::Event(ts, ps) => Some((ts, ps)),
            BlockPoints::Numeric(..) => None,
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A block, from the cache or decoded (and then cached).
pub fn block(cache: &BlockCache, p: &Partition, r: &BlockRef) -> Result<Arc<BlockPoints>> {
    let key = (p.meta.id, r.offset);
    if let Some(hit) = cache.get(key) {
        return Ok(hit);
    }
    let decoded = Arc::new(p.decode(r)?);
    cache.insert(key, decoded.clone());
    Ok(decoded)
}

/// The points of `series` in `[from, to]` held by each partition, oldest partition first.
pub fn partition_runs<V: Kind>(
    cache: &BlockCache,
    partitions: &[Arc<Partition>],
    series: SeriesId,
    from: i64,
    to: i64,
) -> Result<Vec<Run<V>>> {
    let now = now_ms();
    let mut runs = Vec::new();
    for p in partitions {
        let refs = p.find(series, from, to);
        if refs.is_empty() {
            continue;
        }
        p.touch(now);
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for r in &refs {
            let b = block(cache, p, r)?;
            let Some((bt, bv)) = V::slice(&b) else {
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
pub fn merge<V: Clone>(runs: Vec<Run<V>>) -> Run<V> {
    let mut runs: Vec<Run<V>> = runs.into_iter().filter(|r| !r.0.is_empty()).collect();
    match runs.len() {
        0 => return (Vec::new(), Vec::new()),
        1 => return runs.pop().unwrap_or_default(),
        _ => {}
    }
    // Common case: runs cover disjoint time spans (older windows, then live data).
    let mut by_start: Vec<&Run<V>> = runs.iter().collect();
    by_start.sort_by_key(|r| r.0[0]);
    if by_start
        .windows(2)
        .all(|w| w[0].0[w[0].0.len() - 1] < w[1].0[0])
    {
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
/// (its position in `partitions`): the caller compares it with the live tier's.
pub fn partition_as_of<V: Kind>(
    cache: &BlockCache,
    partitions: &[Arc<Partition>],
    series: SeriesId,
    at: i64,
) -> Result<Option<(i64, usize, V)>> {
    let mut best: Option<(i64, usize, V)> = None;
    let now = now_ms();
    // Newest data first: once a point is found, partitions ending before it cannot beat it.
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(partitions[i].meta.max_ts));
    for prio in order {
        let p = &partitions[prio];
        if best.as_ref().is_some_and(|b| p.meta.max_ts < b.0) {
            break;
        }
        if p.meta.min_ts > at {
            continue;
        }
        let Some(last) = p.find(series, i64::MIN, at).pop() else {
            continue;
        };
        p.touch(now);
        let b = block(cache, p, &last)?;
        let Some((ts, vs)) = V::slice(&b) else {
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
}
