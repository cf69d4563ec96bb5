//! Table queries (several metrics of one tag set side by side, by timestamp, filtered by
//! value) and `lastpoint` (the newest point of every selected series, from the wormhole).

use std::collections::BTreeMap;
use std::time::Instant;

use super::Engine;
use crate::catalog::Selector;
use crate::error::{Error, Result};
use crate::query::{Explain, Lastpoint, TableGroup, TableResult, TableSpec, MAX_CELLS};
use crate::series::{canonical_metric, canonical_tags, SeriesId, SeriesKind};

type Tags = Vec<(String, String)>;

impl Engine {
    /// Runs a table query (see [`TableSpec`]): per tag set, the union of its series'
    /// timestamps in `[from, to)`, one column per metric (NaN where a metric has no point
    /// then), rows kept where every filter holds.
    pub fn table(&self, spec: &TableSpec) -> Result<TableResult> {
        let started = Instant::now();
        let (from, to) = spec.check()?;
        self.inner.readable().map(drop)?;
        // Tag set → (metric, id), from the catalog.
        let mut sets: BTreeMap<Tags, Vec<(String, SeriesId)>> = BTreeMap::new();
        {
            let catalog = self.inner.indexed_catalog();
            for id in catalog.select(&spec.selector) {
                let key = catalog.key(id).unwrap_or_default();
                if catalog.kind(id) == Some(SeriesKind::Event) {
                    return Err(Error::invalid_query(
                        "metric",
                        format!("a table holds numbers, and {key} holds events"),
                    ));
                }
                let tags = canonical_tags(key)
                    .map(|(n, v)| (n.to_owned(), v.into_owned()))
                    .collect();
                let metric = canonical_metric(key).to_owned();
                sets.entry(tags).or_default().push((metric, id));
            }
        }
        for c in &spec.filter {
            if !sets.values().flatten().any(|(m, _)| *m == c.column) {
                return Err(Error::invalid_query(
                    "filter",
                    format!("'{}' is not a selected metric", c.column),
                ));
            }
        }
        // Every series' points, read together.
        let members: Vec<(Tags, Vec<(String, SeriesId)>)> = sets
            .into_iter()
            .map(|(tags, mut m)| {
                m.sort();
                (tags, m)
            })
            .collect();
        let mut ids: Vec<SeriesId> = members
            .iter()
            .flat_map(|(_, m)| m.iter().map(|x| x.1))
            .collect();
        ids.sort_unstable();
        let kinds = vec![SeriesKind::Numeric; ids.len()];
        let mut runs: Vec<Option<(Vec<i64>, Vec<f64>)>> = self
            .inner
            .points_of(&ids, &kinds, from, to)?
            .into_iter()
            .map(Some)
            .collect();
        let mut groups = Vec::with_capacity(members.len());
        let mut cells = 0usize;
        let mut points = 0u64;
        for (tags, members) in members {
            let runs: Vec<(Vec<i64>, Vec<f64>)> = members
                .iter()
                .map(|(_, id)| {
                    ids.binary_search(id)
                        .ok()
                        .and_then(|i| runs[i].take())
                        .unwrap_or_default()
                })
                .collect();
            points += runs.iter().map(|r| r.0.len() as u64).sum::<u64>();
            let timestamps = union(&runs);
            // Rows passing the filters, read off the filter columns only.
            let filters: Vec<(usize, crate::query::Op, f64)> = spec
                .filter
                .iter()
                .filter_map(|c| {
                    let i = members.iter().position(|(m, _)| *m == c.column)?;
                    Some((i, c.op, c.value))
                })
                .collect();
            let mut keep: Vec<usize> = (0..timestamps.len()).collect();
            for &(i, op, bound) in &filters {
                let column = aligned(&timestamps, &runs[i], &keep);
                keep = keep
                    .iter()
                    .zip(column)
                    .filter(|&(_, v)| op.holds(v, bound))
                    .map(|(&r, _)| r)
                    .collect();
            }
            // A filter on a metric the tag set lacks keeps nothing.
            if filters.len() < spec.filter.len() {
                keep.clear();
            }
            keep.truncate(spec.limit.unwrap_or(usize::MAX));
            if keep.is_empty() {
                continue;
            }
            cells += keep.len() * (members.len() + 1);
            if cells > MAX_CELLS {
                return Err(Error::invalid_query(
                    "to",
                    format!("the table holds more than {MAX_CELLS} values"),
                ));
            }
            groups.push(TableGroup {
                tags,
                timestamps: keep.iter().map(|&r| timestamps[r]).collect(),
                columns: members
                    .iter()
                    .zip(&runs)
                    .map(|((metric, _), run)| (metric.clone(), aligned(&timestamps, run, &keep)))
                    .collect(),
            });
        }
        let explain = spec.explain.then(|| Explain {
            series: groups.iter().map(|g| g.columns.len()).sum(),
            groups: groups.len(),
            points_decoded: points,
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
            ..Explain::default()
        });
        Ok(TableResult { groups, explain })
    }

    /// The newest point of every selected series (in id order), in one call: each from its
    /// newest-point pointer, whatever tier holds it. Events get a NaN value.
    pub fn lastpoint(&self, selector: &Selector) -> Result<Lastpoint> {
        let st = self.inner.readable()?;
        let catalog = self.inner.indexed_catalog();
        let horizons = &st.tiers.horizons;
        let mut out = Lastpoint::default();
        for id in catalog.select(selector) {
            let (Some(key), Some(kind)) = (catalog.key(id), catalog.kind(id)) else {
                continue;
            };
            let Some(newest) = st.live.newest(id).filter(|n| n.ts >= horizons.of(key)) else {
                continue;
            };
            if !out.keys.is_empty() {
                out.keys.push('\n');
            }
            out.keys.push_str(key);
            out.timestamps.push(newest.ts);
            out.values.push(match kind {
                SeriesKind::Numeric => newest.value,
                SeriesKind::Event => f64::NAN,
            });
        }
        self.inner.wormhole_hits.fetch_add(
            out.timestamps.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(out)
    }
}

/// Every timestamp of any run, sorted and unique (the runs' own, when they all agree).
fn union(runs: &[(Vec<i64>, Vec<f64>)]) -> Vec<i64> {
    match runs.split_first() {
        None => Vec::new(),
        Some((first, rest)) if rest.iter().all(|r| r.0 == first.0) => first.0.clone(),
        Some(_) => {
            let mut all: Vec<i64> = runs.iter().flat_map(|r| r.0.iter().copied()).collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    }
}

/// A run's values at the rows `keep` (indices into `timestamps`, increasing); NaN where the
/// run has no point.
fn aligned(timestamps: &[i64], run: &(Vec<i64>, Vec<f64>), keep: &[usize]) -> Vec<f64> {
    let (ts, vs) = run;
    if ts.len() == timestamps.len() {
        // The run holds every row.
        return keep.iter().map(|&r| vs[r]).collect();
    }
    let mut out = Vec::with_capacity(keep.len());
    let mut j = 0;
    for &r in keep {
        let t = timestamps[r];
        j += ts[j..].partition_point(|&x| x < t);
        out.push(if ts.get(j) == Some(&t) {
            vs[j]
        } else {
            f64::NAN
        });
    }
    out
}
