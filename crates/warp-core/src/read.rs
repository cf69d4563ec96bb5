//! The read path of one series across the live tier, a seal in progress and the partitions.

use std::sync::atomic::Ordering;

use crate::codec::Payload;
use crate::engine::{Inner, RangeOptions};
use crate::error::Result;
use crate::live::{LiveTier, Points};
use crate::query::{self, Kind, Run};
use crate::series::{SeriesId, SeriesKind};

impl Inner {
    pub(crate) fn kind(&self, id: SeriesId) -> Result<SeriesKind> {
        Ok(self.readable()?.live.get(id)?.points.kind())
    }

    /// Points of one series in `[from, to]` from every tier, merged.
    pub(crate) fn range<V: Kind + LiveValue>(
        &self,
        id: SeriesId,
        from: i64,
        to: i64,
    ) -> Result<Run<V>> {
        let (live, sealing, tiers) = {
            let mut st = self.readable()?;
            let live = V::live_range(&mut st.live, id, from, to)?;
            let sealing = match &st.sealing {
                Some(s) => V::sorted_range(s, id, from, to)?,
                None => (Vec::new(), Vec::new()),
            };
            (live, sealing, st.tiers.clone())
        };
        let mut runs = query::partition_runs::<V>(&self.cache, &tiers.partitions, id, from, to)?;
        runs.push(sealing);
        runs.push(live);
        Ok(query::merge(runs))
    }

    /// The newest point of one series at or before `at`, from every tier.
    pub(crate) fn as_of<V: Kind + LiveValue>(
        &self,
        id: SeriesId,
        at: i64,
    ) -> Result<Option<(i64, V)>> {
        let (live, sealing, tiers) = {
            let mut st = self.readable()?;
            let live = V::live_as_of(&mut st.live, id, at)?;
            let sealing = match &st.sealing {
                Some(s) => {
                    let (ts, vs) = V::sorted_range(s, id, i64::MIN, at)?;
                    ts.last().copied().zip(vs.last().cloned())
                }
                None => None,
            };
            (live, sealing, st.tiers.clone())
        };
        // Wormhole: the live tier's newest point beats every partition older than it.
        let newest_partition = tiers.partitions.iter().map(|p| p.meta.max_ts).max();
        if let Some((t, v)) = &live {
            if newest_partition.is_none_or(|m| m < *t) {
                self.wormhole_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some((*t, v.clone())));
            }
        }
        let stored = query::partition_as_of::<V>(&self.cache, &tiers.partitions, id, at)?;
        // Priority: partitions by position, then the sealing set, then the live tier.
        let top = tiers.partitions.len();
        let candidates = [
            stored,
            sealing.map(|(t, v)| (t, top, v)),
            live.map(|(t, v)| (t, top + 1, v)),
        ];
        Ok(candidates
            .into_iter()
            .flatten()
            .max_by_key(|c| (c.0, c.1))
            .map(|(t, _, v)| (t, v)))
    }
}

/// Reading the live and sealing tiers by value kind.
pub(crate) trait LiveValue: Sized + Clone {
    fn live_range(live: &mut LiveTier, id: SeriesId, from: i64, to: i64) -> Result<Run<Self>>;
    fn sorted_range(sealed: &LiveTier, id: SeriesId, from: i64, to: i64) -> Result<Run<Self>>;
    fn live_as_of(live: &mut LiveTier, id: SeriesId, at: i64) -> Result<Option<(i64, Self)>>;
}

macro_rules! live_value {
    ($ty:ty, $variant:ident, $column:ident) => {
        impl LiveValue for $ty {
            fn live_range(
                live: &mut LiveTier,
                id: SeriesId,
                from: i64,
                to: i64,
            ) -> Result<Run<Self>> {
                let (ts, vs) = live.$column(id)?.range(from, to);
                Ok((ts.to_vec(), vs.to_vec()))
            }

            fn sorted_range(
                sealed: &LiveTier,
                id: SeriesId,
                from: i64,
                to: i64,
            ) -> Result<Run<Self>> {
                match &sealed.get(id)?.points {
                    Points::$variant(c) => {
                        let (ts, vs) = c.range_sorted(from, to).unwrap_or_default();
                        Ok((ts.to_vec(), vs.to_vec()))
                    }
                    _ => Ok((Vec::new(), Vec::new())),
                }
            }

            fn live_as_of(
                live: &mut LiveTier,
                id: SeriesId,
                at: i64,
            ) -> Result<Option<(i64, Self)>> {
                Ok(live.$column(id)?.as_of(at))
            }
        }
    };
}

live_value!(f64, Numeric, numeric_mut);
live_value!(Payload, Event, event_mut);

/// Copies the selected part of a range out, honouring limit and order.
pub(crate) fn select<V>(
    mut ts: Vec<i64>,
    mut vs: Vec<V>,
    opts: RangeOptions,
) -> (Vec<i64>, Vec<V>) {
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
