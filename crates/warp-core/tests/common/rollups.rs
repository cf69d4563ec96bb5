//! What the rollup tests and the pressure tests share: random writes and queries over
//! `cpu{host=h0..h3}`, and the check that a rollup answers exactly as raw points do.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

use super::aggregation;
use warp_core::query::{GroupBy, QueryResult, QuerySpec};
use warp_core::{Condition, Engine, RollupSpec, SeriesKey, Target, Write};

/// A small deterministic generator (xorshift), so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub const MINUTE: i64 = 60_000;
/// A whole hour to start the data at.
pub const START: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (60 * MINUTE);
pub const AGGS: [&str; 10] = [
    "count", "sum", "avg", "min", "max", "first", "last", "spread", "stddev", "variance",
];

pub fn rollup_spec(name: &str, every: i64, conditions: Vec<Condition>) -> RollupSpec {
    RollupSpec {
        name: name.into(),
        metric: "cpu".into(),
        id: 0,
        conditions,
        every,
        aggregates: AGGS.iter().map(|s| (*s).to_owned()).collect(),
    }
}

pub fn query(
    from: i64,
    to: i64,
    every: i64,
    aggs: &[&str],
    group_by: GroupBy,
    rollups: bool,
) -> QuerySpec {
    QuerySpec {
        rollups,
        ..aggregation(Some("cpu"), from, to, aggs, Some(every), group_by)
    }
}

/// Writes `n` random points to `cpu{host=h0..h3}` in `[start, start + span)`: out of order,
/// some on timestamps already written (later write wins), some NaN.
pub fn write_random(db: &Engine, rng: &mut Rng, n: usize, start: i64, span: i64) {
    for _ in 0..n {
        let host = rng.below(4);
        let ts = start + (rng.below(span as u64 / 1000) as i64) * 1000;
        let value = if rng.below(20) == 0 {
            f64::NAN
        } else {
            (rng.below(10_000) as f64) / 100.0
        };
        let key = SeriesKey::parse(&format!("cpu{{host=h{host}}}")).unwrap();
        db.write(Target::Key(&key), Write::Number { ts, value })
            .unwrap();
    }
}

pub fn close_enough(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Runs `q` from the rollup and from raw points; asserts they agree; whether a rollup answered.
pub fn check(db: &Engine, q: &QuerySpec, context: &str) -> bool {
    let routed = db.query(q).unwrap();
    let raw = db
        .query(&QuerySpec {
            rollups: false,
            ..q.clone()
        })
        .unwrap();
    assert_same(&routed, &raw, &format!("{context}: {q:?}"));
    routed.explain.unwrap().rollup.is_some()
}

pub fn assert_same(a: &QueryResult, b: &QueryResult, context: &str) {
    assert_eq!(a.groups.len(), b.groups.len(), "{context}");
    for (ga, gb) in a.groups.iter().zip(&b.groups) {
        assert_eq!(ga.tags, gb.tags, "{context}");
        assert_eq!(ga.timestamps, gb.timestamps, "{context}");
        for ((name, va), (_, vb)) in ga.columns.iter().zip(&gb.columns) {
            for (i, (x, y)) in va.iter().zip(vb).enumerate() {
                assert!(
                    close_enough(*x, *y),
                    "{context}: {name} of bucket {} is {x} from the rollup, {y} raw",
                    ga.timestamps[i]
                );
            }
        }
    }
}

pub fn random_query(rng: &mut Rng, start: i64, span: i64) -> QuerySpec {
    let every = *rng.pick(&[MINUTE, 2 * MINUTE, 5 * MINUTE, 90_000, 60 * MINUTE]);
    let aligned = rng.below(2) == 0;
    let mut from = start - MINUTE + rng.below((span / 1000) as u64) as i64 * 1000;
    let mut to = from + 1000 + rng.below((span / 1000) as u64) as i64 * 1000;
    if aligned {
        from -= from.rem_euclid(MINUTE);
        to -= to.rem_euclid(MINUTE);
        to += MINUTE;
    }
    let n = 1 + rng.below(3) as usize;
    let mut aggs: Vec<&str> = (0..n).map(|_| *rng.pick(&AGGS)).collect();
    aggs.sort_unstable();
    aggs.dedup();
    let group_by = match rng.below(3) {
        0 => GroupBy::All,
        1 => GroupBy::Series,
        _ => GroupBy::Tags(vec!["host".into()]),
    };
    query(from, to, every, &aggs, group_by, true)
}
