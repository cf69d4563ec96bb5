//! Queries as JavaScript gives them and their columnar results: typed arrays handed over
//! without a copy.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use warp_core::query::{
    Condition, EverySpec, Explain, FillSpec, GroupBy, Lastpoint, Op, QueryResult, QuerySpec,
    TableResult, TableSpec,
};
use warp_core::{bound_from_f64, Error};

use crate::convert::whole;
use crate::select::{selector, NativeSelector};

#[napi(object)]
pub struct NativeCondition {
    pub column: String,
    /// gt, gte, lt, lte, eq or ne.
    pub op: String,
    pub value: f64,
}

#[napi(object)]
pub struct NativeQuery {
    pub selector: NativeSelector,
    pub from: f64,
    pub to: f64,
    pub aggregates: Vec<String>,
    pub every: Option<Either<f64, String>>,
    pub offset: Option<Either<f64, String>>,
    pub tz: Option<String>,
    pub fill: Option<Either<f64, String>>,
    /// Tags to group by; absent: all series merged; `groupBySeries`: each series alone.
    pub group_by: Option<Vec<String>>,
    pub group_by_series: Option<bool>,
    pub order_by: Option<String>,
    pub descending: Option<bool>,
    pub limit: Option<f64>,
    pub having: Option<Vec<NativeCondition>>,
    pub explain: Option<bool>,
    /// Whether a rollup that fits may answer (default true).
    pub use_rollups: Option<bool>,
    /// Whether series linked to the selected ones are answered too (after the groups).
    pub with_linked: Option<bool>,
}

#[napi(object)]
pub struct NativeTable {
    pub selector: NativeSelector,
    pub from: f64,
    pub to: f64,
    pub filter: Option<Vec<NativeCondition>>,
    pub limit: Option<f64>,
    pub explain: Option<bool>,
}

fn text_or_number(v: Either<f64, String>) -> EverySpec {
    match v {
        Either::A(ms) => EverySpec::Ms(ms),
        Either::B(text) => EverySpec::Text(text),
    }
}

fn conditions(field: &str, js: Option<Vec<NativeCondition>>) -> warp_core::Result<Vec<Condition>> {
    js.unwrap_or_default()
        .into_iter()
        .map(|c| {
            let op = Op::parse(&c.op).ok_or_else(|| {
                Error::invalid_query(
                    format!("{field}.{}", c.column),
                    format!("'{}' is not gt, gte, lt, lte, eq or ne", c.op),
                )
            })?;
            Ok(Condition {
                column: c.column,
                op,
                value: c.value,
            })
        })
        .collect()
}

fn limit(js: Option<f64>) -> warp_core::Result<Option<usize>> {
    js.map(|n| whole("limit", n).map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
        .transpose()
}

pub fn query_spec(js: NativeQuery) -> warp_core::Result<QuerySpec> {
    let group_by = match (js.group_by_series, js.group_by) {
        (Some(true), _) => GroupBy::Series,
        (_, Some(tags)) => GroupBy::Tags(tags),
        _ => GroupBy::All,
    };
    Ok(QuerySpec {
        selector: selector(js.selector)?,
        from: bound_from_f64(js.from)?,
        to: bound_from_f64(js.to)?,
        aggregates: js.aggregates,
        every: js.every.map(text_or_number),
        offset: js.offset.map(text_or_number),
        tz: js.tz,
        fill: js.fill.map(|f| match f {
            Either::A(v) => FillSpec::Value(v),
            Either::B(text) => FillSpec::Text(text),
        }),
        group_by,
        order_by: js.order_by.map(|c| (c, js.descending.unwrap_or(false))),
        limit: limit(js.limit)?,
        having: conditions("having", js.having)?,
        explain: js.explain.unwrap_or(false),
        rollups: js.use_rollups.unwrap_or(true),
        with_linked: js.with_linked.unwrap_or(false),
    })
}

pub fn table_spec(js: NativeTable) -> warp_core::Result<TableSpec> {
    Ok(TableSpec {
        selector: selector(js.selector)?,
        from: bound_from_f64(js.from)?,
        to: bound_from_f64(js.to)?,
        filter: conditions("filter", js.filter)?,
        limit: limit(js.limit)?,
        explain: js.explain.unwrap_or(false),
    })
}

#[napi(object)]
pub struct NativeExplainPartition {
    pub dir: String,
    pub tier: String,
    pub blocks: f64,
    pub decoded: f64,
    pub from_summaries: f64,
}

#[napi(object)]
pub struct NativeExplain {
    pub series: f64,
    pub groups: f64,
    pub buckets: f64,
    pub partitions_total: f64,
    pub partitions_in_range: f64,
    pub partitions_read: f64,
    pub blocks: f64,
    pub blocks_decoded: f64,
    pub blocks_from_summaries: f64,
    pub points_decoded: f64,
    pub points_live: f64,
    pub series_merged: f64,
    pub threads: f64,
    pub select_ms: f64,
    pub scan_ms: f64,
    pub finish_ms: f64,
    pub total_ms: f64,
    pub partitions: Vec<NativeExplainPartition>,
    /// The rollup that answered, cells read from it, raw points read beside them.
    pub rollup: Option<String>,
    pub rollup_cells: f64,
    pub rollup_raw_points: f64,
}

/// A query's groups, column by column: one typed array per column over every group's rows,
/// and the groups' tags in one string, so crossing into JavaScript costs a few values whatever
/// the number of groups (the TypeScript layer cuts per-group views).
#[napi(object)]
pub struct NativeQueryResult {
    /// Group i holds rows `offsets[i]..offsets[i + 1]` of `timestamps` and of every column.
    pub offsets: Uint32Array,
    /// Bucket starts (row times, for tables).
    pub timestamps: Float64Array,
    /// Series per group (columns, for tables).
    pub series: Float64Array,
    /// Each group's tags as `name\x1fvalue` pairs joined by `\x1e`, groups joined by `\n`
    /// (control characters, which no tag holds), in group-by order.
    pub tags: String,
    /// Groups' series keys joined by newlines (empty for groups of several series); absent when
    /// no group is one series.
    pub keys: Option<String>,
    /// Column names (aggregates as asked; metrics, for tables), each column over all rows.
    pub names: Vec<String>,
    pub columns: Vec<Float64Array>,
    /// `group * names.length + column` for each column a group lacks (a table's tag set
    /// without that metric); its rows there are NaN.
    pub absent: Uint32Array,
    /// Groups before this one answer the query; those after are series linked to them.
    pub primary: u32,
    pub explain: Option<NativeExplain>,
}

#[napi(object)]
pub struct NativeLastpoint {
    /// The series' keys joined by newlines (which keys cannot hold): one string to cross into
    /// JavaScript instead of one per series.
    pub keys: String,
    pub timestamps: Float64Array,
    pub values: Float64Array,
}

// Timestamps stay within the storable range widened by one: exact as JavaScript numbers.
fn times(ts: Vec<i64>) -> Float64Array {
    Float64Array::new(ts.into_iter().map(|t| t as f64).collect())
}

/// One group's parts, as the core returns them.
struct Parts {
    tags: Vec<(String, String)>,
    key: Option<String>,
    series: usize,
    timestamps: Vec<i64>,
    columns: Vec<(String, Vec<f64>)>,
}

/// `primary` of `groups` answer the query; the rest are linked series.
fn columnar(groups: Vec<Parts>, primary: usize, explained: Option<Explain>) -> NativeQueryResult {
    let mut names: Vec<String> = Vec::new();
    for g in &groups {
        for (name, _) in &g.columns {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    let rows: usize = groups.iter().map(|g| g.timestamps.len()).sum();
    let mut offsets = Vec::with_capacity(groups.len() + 1);
    let mut timestamps = Vec::with_capacity(rows);
    let mut columns: Vec<Vec<f64>> = vec![Vec::with_capacity(rows); names.len()];
    let mut absent = Vec::new();
    let mut tags = String::new();
    let mut keys = groups.iter().any(|g| g.key.is_some()).then(String::new);
    offsets.push(0u32);
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            tags.push('\n');
        }
        for (k, (name, value)) in g.tags.iter().enumerate() {
            if k > 0 {
                tags.push('\x1e');
            }
            tags.push_str(name);
            tags.push('\x1f');
            tags.push_str(value);
        }
        if let Some(all) = keys.as_mut() {
            if i > 0 {
                all.push('\n');
            }
            all.push_str(g.key.as_deref().unwrap_or_default());
        }
        timestamps.extend(g.timestamps.iter().map(|&t| t as f64));
        for (c, name) in names.iter().enumerate() {
            match g.columns.iter().find(|(n, _)| n == name) {
                Some((_, values)) => columns[c].extend_from_slice(values),
                None => {
                    absent.push(u32::try_from(i * names.len() + c).unwrap_or(u32::MAX));
                    columns[c].resize(timestamps.len(), f64::NAN);
                }
            }
        }
        offsets.push(u32::try_from(timestamps.len()).unwrap_or(u32::MAX));
    }
    NativeQueryResult {
        offsets: Uint32Array::new(offsets),
        timestamps: Float64Array::new(timestamps),
        series: Float64Array::new(groups.iter().map(|g| g.series as f64).collect()),
        tags,
        keys,
        names,
        columns: columns.into_iter().map(Float64Array::new).collect(),
        absent: Uint32Array::new(absent),
        primary: u32::try_from(primary).unwrap_or(u32::MAX),
        explain: explained.map(explain),
    }
}

fn explain(e: Explain) -> NativeExplain {
    NativeExplain {
        series: e.series as f64,
        groups: e.groups as f64,
        buckets: e.buckets as f64,
        partitions_total: e.partitions_total as f64,
        partitions_in_range: e.partitions_in_range as f64,
        partitions_read: e.partitions_read as f64,
        blocks: e.blocks as f64,
        blocks_decoded: e.blocks_decoded as f64,
        blocks_from_summaries: e.blocks_from_summaries as f64,
        points_decoded: e.points_decoded as f64,
        points_live: e.points_live as f64,
        series_merged: e.series_merged as f64,
        threads: e.threads as f64,
        select_ms: e.select_ms,
        scan_ms: e.scan_ms,
        finish_ms: e.finish_ms,
        total_ms: e.total_ms,
        rollup: e.rollup,
        rollup_cells: e.rollup_cells as f64,
        rollup_raw_points: e.rollup_raw_points as f64,
        partitions: e
            .partitions
            .into_iter()
            .map(
                |(dir, tier, blocks, decoded, summaries)| NativeExplainPartition {
                    dir,
                    tier,
                    blocks: blocks as f64,
                    decoded: decoded as f64,
                    from_summaries: summaries as f64,
                },
            )
            .collect(),
    }
}

pub fn query_result(r: QueryResult) -> NativeQueryResult {
    let primary = r.groups.len();
    let groups = r
        .groups
        .into_iter()
        .chain(r.linked)
        .map(|g| Parts {
            tags: g.tags,
            key: g.key,
            series: g.series,
            timestamps: g.timestamps,
            columns: g.columns,
        })
        .collect();
    columnar(groups, primary, r.explain)
}

pub fn table_result(r: TableResult) -> NativeQueryResult {
    let groups = r
        .groups
        .into_iter()
        .map(|g| Parts {
            tags: g.tags,
            key: None,
            series: g.columns.len(),
            timestamps: g.timestamps,
            columns: g.columns,
        })
        .collect::<Vec<_>>();
    let primary = groups.len();
    columnar(groups, primary, r.explain)
}

pub fn lastpoint(l: Lastpoint) -> NativeLastpoint {
    NativeLastpoint {
        keys: l.keys,
        timestamps: times(l.timestamps),
        values: Float64Array::new(l.values),
    }
}
