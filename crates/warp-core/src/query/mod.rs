//! Queries: what a caller asks ([`QuerySpec`], [`TableSpec`]), checked and compiled into a
//! plan ([`Query`]), and what comes back ([`QueryResult`], [`TableResult`], [`Explain`]). The
//! engine runs them (`engine/query.rs`); the pieces that need no engine live here: the bucket
//! grid, aggregates and their per-bucket state, fills.
//!
//! Ranges are half-open everywhere: `from` inclusive, `to` exclusive.

pub mod aggregate;
pub mod buckets;
pub mod fill;

use aggregate::Agg;
use buckets::{CalendarUnit, Every};
use fill::Fill;

use crate::catalog::Selector;
use crate::error::{Error, Result};
use crate::time::{MAX_TIMESTAMP, MIN_TIMESTAMP};

/// The most groups one query may return.
pub const MAX_GROUPS: usize = 100_000;
/// The most result values (groups × buckets × columns) one query may build.
pub const MAX_CELLS: usize = 20_000_000;
/// The widest fixed bucket: ten thousand years.
const MAX_WIDTH: i64 = 10_000 * 366 * 86_400_000;

/// How series are gathered into groups.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupBy {
    /// All selected series merged per bucket.
    All,
    /// One group per distinct value of these tags (a missing tag is a value of its own);
    /// `__name__` stands for the metric.
    Tags(Vec<String>),
    /// Each series on its own.
    Series,
}

/// A comparison for `having` (on a group's buckets) and `filter` (on a table's rows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Ne,
}

impl Op {
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "gt" | ">" => Op::Gt,
            "gte" | ">=" => Op::Gte,
            "lt" | "<" => Op::Lt,
            "lte" | "<=" => Op::Lte,
            "eq" | "=" | "==" => Op::Eq,
            "ne" | "!=" => Op::Ne,
            _ => return None,
        })
    }

    /// Whether `v op bound` holds (never for NaN, except `ne`).
    pub fn holds(self, v: f64, bound: f64) -> bool {
        match self {
            Op::Gt => v > bound,
            Op::Gte => v >= bound,
            Op::Lt => v < bound,
            Op::Lte => v <= bound,
            Op::Eq => v == bound,
            Op::Ne => v != bound,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub op: Op,
    pub value: f64,
}

/// A bucket width as given: milliseconds, or text such as `10s`, `5m`, `1h`, `1d`, `1w`,
/// `1mo` (days, weeks and months are calendar units in `tz`, UTC by default).
#[derive(Debug, Clone, PartialEq)]
pub enum EverySpec {
    Ms(f64),
    Text(String),
}

/// A fill as given: `none`, `null`, `previous`, `linear`, or a number.
#[derive(Debug, Clone, PartialEq)]
pub enum FillSpec {
    Text(String),
    Value(f64),
}

/// An aggregation query, as a caller gives it.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub selector: Selector,
    pub from: i64,
    pub to: i64,
    pub aggregates: Vec<String>,
    pub every: Option<EverySpec>,
    pub offset: Option<EverySpec>,
    pub tz: Option<String>,
    pub fill: Option<FillSpec>,
    pub group_by: GroupBy,
    /// A column, and whether descending.
    pub order_by: Option<(String, bool)>,
    pub limit: Option<usize>,
    pub having: Vec<Condition>,
    pub explain: bool,
    /// Whether a rollup that fits may answer (false: raw points only).
    pub rollups: bool,
    /// Whether the series linked to the selected ones are answered too, each on its own.
    pub with_linked: bool,
}

/// A query checked and compiled.
#[derive(Debug, Clone)]
pub struct Query {
    pub selector: Selector,
    pub from: i64,
    pub to: i64,
    pub aggregates: Vec<Agg>,
    pub every: Every,
    pub fill: Fill,
    pub group_by: GroupBy,
    /// Index into `aggregates`, and whether descending.
    pub order_by: Option<(usize, bool)>,
    pub limit: Option<usize>,
    /// Index into `aggregates`, comparison.
    pub having: Vec<(usize, Op, f64)>,
    pub explain: bool,
    pub rollups: bool,
    pub with_linked: bool,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::invalid_query(field, reason)
}

/// Checks `from < to` and clamps both to the storable range widened by one.
fn range(from: i64, to: i64) -> Result<(i64, i64)> {
    if from >= to {
        return Err(invalid(
            "from",
            format!("from ({from}) must be before to ({to})"),
        ));
    }
    Ok((from.max(MIN_TIMESTAMP - 1), to.min(MAX_TIMESTAMP + 1)))
}

impl QuerySpec {
    /// The query checked and compiled; `INVALID_QUERY` naming the field for anything wrong.
    pub fn compile(&self) -> Result<Query> {
        let (from, to) = range(self.from, self.to)?;
        if self.aggregates.is_empty() {
            return Err(invalid("aggregate", "needs at least one aggregate"));
        }
        let mut aggregates: Vec<Agg> = Vec::new();
        for text in &self.aggregates {
            let agg = Agg::parse(text).map_err(|e| invalid("aggregate", e))?;
            if aggregates.iter().any(|a| a.name() == agg.name()) {
                return Err(invalid(
                    "aggregate",
                    format!("'{}' is asked twice", agg.name()),
                ));
            }
            aggregates.push(agg);
        }
        let every = self.every()?;
        let fill = match &self.fill {
            None => Fill::Null,
            Some(FillSpec::Value(v)) if v.is_finite() => Fill::Value(*v),
            Some(FillSpec::Value(v)) => return Err(invalid("fill", format!("{v} is not finite"))),
            Some(FillSpec::Text(t)) => match t.as_str() {
                "none" => Fill::None,
                "null" => Fill::Null,
                "previous" => Fill::Previous,
                "linear" => Fill::Linear,
                other => {
                    return Err(invalid(
                        "fill",
                        format!("'{other}' is not none, null, previous, linear or a number"),
                    ))
                }
            },
        };
        let column = |field: &str, name: &str| {
            aggregates
                .iter()
                .position(|a| a.name() == name || Agg::parse(name).is_ok_and(|p| p == *a))
                .ok_or_else(|| invalid(field, format!("'{name}' is not one of the aggregates")))
        };
        let order_by = match &self.order_by {
            Some((name, desc)) => {
                let i = column("orderBy", name)?;
                if matches!(aggregates[i].base(), Agg::Derivative) {
                    return Err(invalid(
                        "orderBy",
                        "groups cannot be ordered by a derivative",
                    ));
                }
                Some((i, *desc))
            }
            None => None,
        };
        let having = self
            .having
            .iter()
            .map(|c| {
                if c.value.is_nan() {
                    return Err(invalid("having", "compares with NaN"));
                }
                Ok((column("having", &c.column)?, c.op, c.value))
            })
            .collect::<Result<_>>()?;
        if let GroupBy::Tags(tags) = &self.group_by {
            if tags.is_empty() {
                return Err(invalid("groupBy", "lists no tag"));
            }
        }
        Ok(Query {
            selector: self.selector.clone(),
            from,
            to,
            aggregates,
            every,
            fill,
            group_by: self.group_by.clone(),
            order_by,
            limit: self.limit,
            having,
            explain: self.explain,
            rollups: self.rollups,
            with_linked: self.with_linked,
        })
    }

    fn every(&self) -> Result<Every> {
        let offset = match &self.offset {
            None => 0,
            Some(spec) => match width(spec).map_err(|e| invalid("offset", e))? {
                Width::Fixed(ms) => ms,
                Width::Calendar(_) => return Err(invalid("offset", "must be a fixed duration")),
            },
        };
        let tz = match &self.tz {
            None => jiff::tz::TimeZone::UTC,
            Some(name) => jiff::tz::TimeZone::get(name)
                .map_err(|e| invalid("tz", format!("'{name}' is not a known time zone: {e}")))?,
        };
        Ok(match &self.every {
            None => {
                if self.tz.is_some() || self.offset.is_some() {
                    return Err(invalid("every", "tz and offset need buckets"));
                }
                Every::Whole
            }
            Some(spec) => match width(spec).map_err(|e| invalid("every", e))? {
                Width::Fixed(width) if self.tz.is_some() => {
                    return Err(invalid(
                        "tz",
                        format!("a {width} ms bucket is the same in every zone: tz is for days, weeks and months"),
                    ))
                }
                Width::Fixed(width) => Every::Fixed {
                    width,
                    offset: offset.rem_euclid(width),
                },
                Width::Calendar(unit) => Every::Calendar { unit, tz, offset },
            },
        })
    }
}

enum Width {
    Fixed(i64),
    Calendar(CalendarUnit),
}

/// A fixed duration in ms (no calendar unit), as `every` accepts it.
pub fn fixed_ms(spec: &EverySpec) -> std::result::Result<i64, String> {
    match width(spec)? {
        Width::Fixed(ms) => Ok(ms),
        Width::Calendar(_) => Err("must be a fixed duration (ms, s, m, h)".into()),
    }
}

/// A bucket width or offset: whole milliseconds, or a number and a unit.
fn width(spec: &EverySpec) -> Result<Width, String> {
    let ms = match spec {
        EverySpec::Ms(ms) => *ms,
        EverySpec::Text(text) => {
            let text = text.trim();
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| format!("'{text}' has no unit (ms, s, m, h, d, w, mo)"))?;
            let (number, unit) = text.split_at(split);
            let n: f64 = number
                .parse()
                .map_err(|_| format!("'{text}' does not start with a number"))?;
            let calendar = |unit| {
                if n == 1.0 {
                    Ok(Width::Calendar(unit))
                } else {
                    Err(format!(
                        "'{text}': days, weeks and months are calendar units, one at a time"
                    ))
                }
            };
            match unit {
                "ms" => n,
                "s" => n * 1e3,
                "m" | "min" => n * 60e3,
                "h" => n * 3600e3,
                "d" => return calendar(CalendarUnit::Day),
                "w" => return calendar(CalendarUnit::Week),
                "mo" => return calendar(CalendarUnit::Month),
                other => return Err(format!("'{other}' is not a unit (ms, s, m, h, d, w, mo)")),
            }
        }
    };
    if !(ms.is_finite() && ms.fract() == 0.0 && ms >= 1.0 && ms <= MAX_WIDTH as f64) {
        return Err(format!(
            "{ms} ms is not a whole, positive number of milliseconds"
        ));
    }
    // Checked above: whole and within ten thousand years.
    #[allow(clippy::cast_possible_truncation)]
    Ok(Width::Fixed(ms as i64))
}

/// A table query: several metrics of each tag set side by side, by timestamp.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub selector: Selector,
    pub from: i64,
    pub to: i64,
    /// Rows are kept where every condition holds (on a metric's column).
    pub filter: Vec<Condition>,
    pub limit: Option<usize>,
    pub explain: bool,
}

impl TableSpec {
    pub fn check(&self) -> Result<(i64, i64)> {
        if self.filter.iter().any(|c| c.value.is_nan()) {
            return Err(invalid("filter", "compares with NaN"));
        }
        range(self.from, self.to)
    }
}

/// One group of an aggregation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group's tags (the group-by tags it has; every tag, for per-series groups).
    pub tags: Vec<(String, String)>,
    /// The series' key, for per-series groups.
    pub key: Option<String>,
    pub series: usize,
    /// Bucket starts.
    pub timestamps: Vec<i64>,
    /// One column per aggregate, named by it.
    pub columns: Vec<(String, Vec<f64>)>,
}

/// How a query ran: which series, partitions and blocks it read or skipped, what answered
/// from block summaries, and the time per stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explain {
    pub series: usize,
    pub groups: usize,
    pub buckets: usize,
    pub partitions_total: usize,
    /// Partitions whose time span meets the range, and those of them holding blocks of the
    /// selected series.
    pub partitions_in_range: usize,
    pub partitions_read: usize,
    pub blocks: u64,
    pub blocks_decoded: u64,
    pub blocks_from_summaries: u64,
    pub points_decoded: u64,
    pub points_live: u64,
    /// Series whose sources overlap in time (late writes), read through the merge.
    pub series_merged: usize,
    pub threads: usize,
    pub select_ms: f64,
    pub scan_ms: f64,
    pub finish_ms: f64,
    pub total_ms: f64,
    /// Per partition read: directory, tier, blocks read, decoded, answered from summaries.
    pub partitions: Vec<(String, String, u64, u64, u64)>,
    /// The rollup that answered, the cells read from it, and the raw points read beside them
    /// (spans not materialized yet, and the range's edges that cut a rollup bucket).
    pub rollup: Option<String>,
    pub rollup_cells: u64,
    pub rollup_raw_points: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub groups: Vec<Group>,
    pub explain: Option<Explain>,
    /// With `with_linked`: each linked series not selected, as its own group.
    pub linked: Vec<Group>,
}

/// One tag set of a table: its timestamps and one column per metric (NaN where a metric has no
/// point at a row's time).
#[derive(Debug, Clone, PartialEq)]
pub struct TableGroup {
    pub tags: Vec<(String, String)>,
    pub timestamps: Vec<i64>,
    pub columns: Vec<(String, Vec<f64>)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableResult {
    pub groups: Vec<TableGroup>,
    pub explain: Option<Explain>,
}

/// The newest point of each selected series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lastpoint {
    /// The series' keys, separated by newlines (which keys cannot hold): one string for any
    /// number of series.
    pub keys: String,
    pub timestamps: Vec<i64>,
    /// NaN for event series.
    pub values: Vec<f64>,
}
