//! Rollups (continuous aggregates): for every source series a rollup selects, per fixed bucket
//! of `every` ms, the partial aggregates (count, sum, min, max, first, last, squared
//! deviations) a whole-bucket answer is derived from — as TimescaleDB's continuous aggregates
//! and VictoriaMetrics' downsampling keep them.
//!
//! Cells are stored as ordinary numeric series under a reserved metric,
//! `__rollup:<name>:<state>` with the source's tags, one point per bucket at its start: they
//! are logged, checkpointed, sealed, compacted and tiered exactly as raw points are, and a
//! rewritten cell replaces the old one by "later write wins". What is not materialized yet is
//! a dirty span per source series ([`marks`]): queries read raw points there, and a refresh
//! recomputes it from raw points. So a rollup's answer equals the raw answer at every moment,
//! whatever was refreshed.

pub mod cells;
pub mod marks;
pub mod sketch;

use serde::{Deserialize, Serialize};

use crate::catalog::{Match, Matcher};
use crate::error::{Error, Result};
use crate::query::aggregate::Agg;
use crate::series::{canonical_metric, canonical_tags, RESERVED};

/// The most rollups a database may have (each source series keeps a bitmask of its rollups).
pub const MAX_ROLLUPS: usize = 64;
/// The widest rollup bucket: a year.
pub const MAX_EVERY: i64 = 366 * 86_400_000;

/// One partial aggregate a rollup keeps per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Count,
    Sum,
    Min,
    Max,
    First,
    FirstAt,
    Last,
    LastAt,
    /// The sum of squared deviations from the bucket's mean.
    M2,
}

impl State {
    #[cfg(test)]
    pub const ALL: [State; 9] = [
        State::Count,
        State::Sum,
        State::Min,
        State::Max,
        State::First,
        State::FirstAt,
        State::Last,
        State::LastAt,
        State::M2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Count => "count",
            State::Sum => "sum",
            State::Min => "min",
            State::Max => "max",
            State::First => "first",
            State::FirstAt => "first_at",
            State::Last => "last",
            State::LastAt => "last_at",
            State::M2 => "m2",
        }
    }

    /// The states an aggregate is derived from (`count` is always kept: it says whether a
    /// bucket has values).
    pub fn of(agg: &Agg) -> Option<&'static [State]> {
        Some(match agg.base() {
            Agg::Count => &[State::Count],
            Agg::Sum | Agg::Avg => &[State::Count, State::Sum],
            Agg::Min => &[State::Count, State::Min],
            Agg::Max => &[State::Count, State::Max],
            Agg::Spread => &[State::Count, State::Min, State::Max],
            Agg::First => &[State::Count, State::First, State::FirstAt],
            Agg::Last => &[State::Count, State::Last, State::LastAt],
            Agg::Stddev | Agg::Variance => &[State::Count, State::Sum, State::M2],
            // And the bucket's sketch (see `Rollup::sketch`).
            Agg::Median | Agg::Percentile(_) => &[State::Count],
            _ => return None,
        })
    }
}

/// A tag condition as declared and stored (the compiled [`Matcher`] is rebuilt from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub name: String,
    /// `equal`, `oneOf`, `regex` or `present`.
    pub op: String,
    pub values: Vec<String>,
    pub negated: bool,
}

impl Condition {
    pub fn compile(&self) -> std::result::Result<Matcher, String> {
        let one = || {
            self.values
                .first()
                .cloned()
                .ok_or_else(|| format!("'{}' needs a value", self.name))
        };
        let matching = match self.op.as_str() {
            "equal" => Match::Equal(one()?),
            "oneOf" => Match::OneOf(self.values.clone()),
            "regex" => Match::regex(&one()?)
                .map_err(|e| format!("the regex of '{}' does not compile: {e}", self.name))?,
            "present" => Match::Any,
            other => return Err(format!("unknown matcher '{other}'")),
        };
        Ok(Matcher {
            name: self.name.clone(),
            matching,
            negated: self.negated,
        })
    }

    /// The condition a compiled matcher was built from.
    pub fn of(m: &Matcher) -> Condition {
        let (op, values) = match &m.matching {
            Match::Equal(v) => ("equal", vec![v.clone()]),
            Match::OneOf(v) => ("oneOf", v.clone()),
            Match::Regex(re) => {
                let text = re.as_str();
                let pattern = text
                    .strip_prefix("^(?:")
                    .and_then(|t| t.strip_suffix(")$"))
                    .unwrap_or(text);
                ("regex", vec![pattern.to_owned()])
            }
            Match::Any => ("present", Vec::new()),
        };
        Condition {
            name: m.name.clone(),
            op: op.to_owned(),
            values,
            negated: m.negated,
        }
    }
}

/// A rollup as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollupSpec {
    pub name: String,
    /// Given by the engine when the rollup is declared, never reused: its cell series' keys
    /// carry it, so a rollup declared again under the same name starts afresh.
    #[serde(default)]
    pub id: u64,
    pub metric: String,
    #[serde(rename = "where", default)]
    pub conditions: Vec<Condition>,
    /// Bucket width in ms.
    pub every: i64,
    pub aggregates: Vec<String>,
}

/// A rollup as the engine keeps it.
#[derive(Debug, Clone)]
pub struct Rollup {
    pub spec: RollupSpec,
    pub matchers: Vec<Matcher>,
    /// The numeric states, sorted, `Count` first.
    pub states: Vec<State>,
    /// Whether it keeps a quantile sketch per bucket (for `median` and `percentile(p)`), in an
    /// event series beside the numeric ones.
    pub sketch: bool,
    /// Whether every source's cells were computed once (a rollup declared over existing data
    /// is not used by queries until then).
    pub ready: bool,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::invalid_query(field, reason)
}

impl Rollup {
    /// Checks a declaration; `INVALID_QUERY` naming the field for anything wrong.
    pub fn new(spec: RollupSpec) -> Result<Rollup> {
        let name_ok = !spec.name.is_empty()
            && spec.name.len() <= 64
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !name_ok {
            return Err(invalid(
                "name",
                format!("'{}' must be 1–64 of A-Z a-z 0-9 _ - .", spec.name),
            ));
        }
        crate::series::SeriesKey::new(&spec.metric, [])
            .map_err(|e| invalid("metric", e.to_string()))?;
        if !(1..=MAX_EVERY).contains(&spec.every) {
            return Err(invalid(
                "every",
                format!(
                    "{} ms: a rollup's buckets are 1 ms to {} ms wide",
                    spec.every, MAX_EVERY
                ),
            ));
        }
        let matchers = spec
            .conditions
            .iter()
            .map(|c| c.compile().map_err(|e| invalid("where", e)))
            .collect::<Result<Vec<_>>>()?;
        if spec.aggregates.is_empty() {
            return Err(invalid("aggregates", "needs at least one aggregate"));
        }
        let mut states = vec![State::Count];
        let mut sketch = false;
        for text in &spec.aggregates {
            let agg = Agg::parse(text).map_err(|e| invalid("aggregates", e))?;
            let needs = State::of(&agg)
                .filter(|_| agg == *agg.base())
                .ok_or_else(|| {
                    invalid(
                        "aggregates",
                        format!(
                        "'{text}' cannot be kept per bucket (count, sum, avg, min, max, first, \
                         last, spread, stddev, variance, median, percentile(p) can)"
                    ),
                    )
                })?;
            states.extend_from_slice(needs);
            sketch |= agg.needs_values();
        }
        states.sort();
        states.dedup();
        Ok(Rollup {
            spec,
            matchers,
            states,
            sketch,
            ready: false,
        })
    }

    /// Whether a series (by canonical key) is one of this rollup's sources.
    pub fn selects(&self, key: &str) -> bool {
        canonical_metric(key) == self.spec.metric
            && self.matchers.iter().all(|m| {
                let hit = canonical_tags(key)
                    .find(|(n, _)| *n == m.name)
                    .is_some_and(|(_, v)| m.matching.matches(&v));
                hit != m.negated
            })
    }

    /// The metric of its cell series, up to the state's name.
    pub fn cell_prefix(&self) -> String {
        format!("{RESERVED}rollup:{}@{}:", self.spec.name, self.spec.id)
    }

    /// The canonical key of the series holding `state` cells of source `key`.
    pub fn cell_key(&self, state: State, key: &str) -> String {
        let tags = &key[canonical_metric(key).len()..];
        format!("{}{}{tags}", self.cell_prefix(), state.name())
    }

    /// The canonical key of the event series holding the sketches of source `key`.
    pub fn sketch_key(&self, key: &str) -> String {
        let tags = &key[canonical_metric(key).len()..];
        format!("{}sketch{tags}", self.cell_prefix())
    }

    /// Whether it keeps every state `aggs` need.
    pub fn derives(&self, aggs: &[Agg]) -> bool {
        aggs.iter().all(|a| {
            State::of(a).is_some_and(|needs| needs.iter().all(|s| self.states.contains(s)))
                && (self.sketch || !a.needs_values())
        })
    }

    /// Whether each of its conditions is one of `matchers` (so what the query selects, the
    /// rollup covers).
    pub fn covers(&self, matchers: &[Matcher]) -> bool {
        let theirs: Vec<Condition> = matchers.iter().map(Condition::of).collect();
        self.spec.conditions.iter().all(|c| theirs.contains(c))
    }
}

/// The definitions file: every rollup and whether it is ready.
#[derive(Serialize, Deserialize)]
pub struct File {
    pub version: u32,
    /// The smallest id a rollup declared next may get: ids of dropped rollups are never
    /// given again (their cell series' keys carry them).
    #[serde(default)]
    pub next_id: u64,
    pub rollups: Vec<Stored>,
}

#[derive(Serialize, Deserialize)]
pub struct Stored {
    #[serde(flatten)]
    pub spec: RollupSpec,
    pub ready: bool,
}

pub const FILE_VERSION: u32 = 1;

/// The definitions file's bytes.
pub fn encode(rollups: &[Rollup], next_id: u64) -> Vec<u8> {
    let file = File {
        version: FILE_VERSION,
        next_id,
        rollups: rollups
            .iter()
            .map(|r| Stored {
                spec: r.spec.clone(),
                ready: r.ready,
            })
            .collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The rollups a definitions file declares and the next id to give; the reason if it is
/// damaged.
pub fn decode(bytes: &[u8]) -> std::result::Result<(Vec<Rollup>, u64), String> {
    let file: File = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != FILE_VERSION {
        return Err(format!("unsupported version {}", file.version));
    }
    if file.rollups.len() > MAX_ROLLUPS {
        return Err(format!(
            "{} rollups (at most {MAX_ROLLUPS})",
            file.rollups.len()
        ));
    }
    let mut out: Vec<Rollup> = Vec::new();
    for stored in file.rollups {
        let mut rollup = Rollup::new(stored.spec).map_err(|e| e.to_string())?;
        if out.iter().any(|r| r.spec.name == rollup.spec.name) {
            return Err(format!("rollup '{}' declared twice", rollup.spec.name));
        }
        rollup.ready = stored.ready;
        out.push(rollup);
    }
    Ok((out, file.next_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(aggs: &[&str]) -> RollupSpec {
        RollupSpec {
            name: "cpu_1m".into(),
            metric: "cpu".into(),
            conditions: vec![Condition {
                name: "dc".into(),
                op: "regex".into(),
                values: vec!["eu-.*".into()],
                negated: false,
            }],
            id: 0,
            every: 60_000,
            aggregates: aggs.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn states_follow_the_aggregates() {
        let r = Rollup::new(spec(&["avg", "max", "last"])).unwrap();
        assert_eq!(
            r.states,
            vec![
                State::Count,
                State::Sum,
                State::Max,
                State::Last,
                State::LastAt
            ]
        );
        assert!(r.derives(&[Agg::Count, Agg::Sum, Agg::Avg]));
        assert!(!r.derives(&[Agg::Min]));
        assert!(!r.derives(&[Agg::Median]));
        assert!(Rollup::new(spec(&["median"]))
            .unwrap()
            .derives(&[Agg::Percentile(0.9)]));
        for bad in [&["rate"][..], &["movingAverage(3)"], &[]] {
            assert!(Rollup::new(spec(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn selection_and_cell_keys() {
        let r = Rollup::new(spec(&["avg"])).unwrap();
        assert!(r.selects(r#"cpu{dc="eu-1",host="a"}"#));
        assert!(!r.selects(r#"cpu{dc="us-1",host="a"}"#));
        assert!(!r.selects(r#"cpu{host="a"}"#));
        assert!(!r.selects(r#"mem{dc="eu-1"}"#));
        assert_eq!(
            r.cell_key(State::Sum, r#"cpu{dc="eu-1",host="a"}"#),
            r#"__rollup:cpu_1m@0:sum{dc="eu-1",host="a"}"#
        );
        let (round, next) = decode(&encode(std::slice::from_ref(&r), 7)).unwrap();
        assert_eq!(next, 7);
        assert_eq!(round[0].spec, r.spec);
        assert!(round[0].covers(&r.matchers));
        assert!(!round[0].covers(&[]));
    }

    #[test]
    fn damaged_definitions_are_refused() {
        let good = encode(&[Rollup::new(spec(&["avg"])).unwrap()], 0);
        for cut in 0..good.len() {
            let _ = decode(&good[..cut]);
        }
        assert!(decode(b"{\"version\":2,\"rollups\":[]}").is_err());
        let twice = String::from_utf8(good.clone()).unwrap();
        let body = twice.split_once('[').unwrap().1.rsplit_once(']').unwrap().0;
        let doubled = format!("{{\"version\":1,\"rollups\":[{body},{body}]}}");
        assert!(decode(doubled.as_bytes()).is_err());
    }
}
