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
            let catalog = self.inner.catalog();
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
        let mut groups = Vec::with_capacity(sets.len());
        let mut cells = 0usize;
        let mut points = 0u64;
        for (tags, mut members) in sets {
            members.sort();
            let mut runs = Vec::with_capacity(members.len());
            for &(_, id) in &members {
                let run = if from < to {
                    self.inner.range::<f64>(id, from, to - 1)?
                } else {
                    (Vec::new(), Vec::new())
                };
                points += run.0.len() as u64;
                runs.push(run);
            }
            let mut timestamps: Vec<i64> = runs.iter().flat_map(|r| r.0.iter().copied()).collect();
            timestamps.sort_unstable();
            timestamps.dedup();
            let mut columns: Vec<Vec<f64>> = runs
                .iter()
                .map(|(ts, vs)| {
                    let mut column = vec![f64::NAN; timestamps.len()];
                    let mut row = 0;
                    for (t, v) in ts.iter().zip(vs) {
                        while timestamps[row] < *t {
                            row += 1;
                        }
                        column[row] = *v;
                    }
                    column
                })
                .collect();
            let keep: Vec<usize> = (0..timestamps.len())
                .filter(|&r| {
                    spec.filter.iter().all(|c| {
                        members
                            .iter()
                            .position(|(m, _)| *m == c.column)
                            .is_some_and(|i| c.op.holds(columns[i][r], c.value))
                    })
                })
                .take(spec.limit.unwrap_or(usize::MAX))
                .collect();
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
                    .zip(columns.iter_mut())
                    .map(|((metric, _), column)| {
                        (metric.clone(), keep.iter().map(|&r| column[r]).collect())
                    })
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
        self.inner.readable().map(drop)?;
        let selected: Vec<(SeriesId, String, SeriesKind)> = {
            let catalog = self.inner.catalog();
            catalog
                .select(selector)
                .into_iter()
                .filter_map(|id| Some((id, catalog.key(id)?.to_owned(), catalog.kind(id)?)))
                .collect()
        };
        let st = self.inner.readable()?;
        let horizon = st.tiers.manifest.horizon;
        let mut out = Lastpoint::default();
        for (id, key, kind) in selected {
            let Some(newest) = st.live.newest(id).filter(|n| n.ts >= horizon) else {
                continue;
            };
            out.keys.push(key);
            out.timestamps.push(newest.ts);
            out.values.push(match kind {
                SeriesKind::Numeric => newest.value,
                SeriesKind::Event => f64::NAN,
            });
        }
        self.inner
            .wormhole_hits
            .fetch_add(out.keys.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(out)
    }
}
