//! Differential test: random operation sequences — puts, overwrites, batches, late and extreme
//! timestamps, events, checkpoints, lifecycle passes with a moving clock and changing rules
//! (compression, ripeness), explicit compactions, retention, backups, reopens, crashes with
//! out-of-order page loss — run against a plain in-memory model, every answer compared after
//! every step. proptest shrinks a failure to a short reproduction.
//!
//! CI runs a fixed seed; a longer run with a new seed is
//! `PROPTEST_CASES=5000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p warp-core --test model`.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use warp_core::storage::FaultyStorage;
use warp_core::Tier;
use warp_core::{Engine, PassPlan, RangeOptions, RangeResult, SeriesKey, SeriesKind, Value};
use warp_core::{MAX_TIMESTAMP, MIN_TIMESTAMP};

const HOUR: i64 = 3_600_000;
/// Points fall on a 6-hour grid from 2025-01-01: 200 steps span 50 days (hours, days, months).
const STEP: i64 = 6 * HOUR;
const BASE: i64 = 1_735_689_600_000;

const SERIES: [&str; 3] = ["a", "b{x=\"1\"}", "c"];

#[derive(Debug, Clone)]
enum Op {
    Put {
        series: usize,
        ts: i64,
        value: f64,
    },
    Batch {
        series: usize,
        start: i64,
        step: i64,
        values: Vec<f64>,
    },
    Event {
        ts: i64,
        byte: u8,
    },
    Checkpoint,
    /// A lifecycle pass `hours` later than the last, sealing what is older than `live` hours,
    /// under the compression rule `lz4` (bit per tier), with the partitions whose id bit is
    /// set in `ripe` judged ripe; retention of `keep` steps if given.
    Pass {
        hours: i64,
        live: i64,
        lz4: u8,
        ripe: u8,
        keep: Option<i64>,
        recompress: bool,
    },
    Compact {
        tier: usize,
        at: i64,
    },
    Reopen,
    /// A power loss; with a seed, unsynced pages are lost out of order.
    Crash {
        pages: Option<u64>,
    },
    /// A backup, and from then on the copy is the database.
    Backup,
}

fn ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => (0..200i64).prop_map(|k| BASE + k * STEP),
        1 => Just(MIN_TIMESTAMP),
        1 => Just(MAX_TIMESTAMP),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..3usize, ts(), any::<f64>()).prop_map(|(series, ts, value)| Op::Put { series, ts, value }),
        2 => (0..3usize, 0..200i64, -3..4i64, prop::collection::vec(-1e6..1e6f64, 0..20))
            .prop_map(|(series, start, step, values)| Op::Batch { series, start, step, values }),
        2 => (ts(), any::<u8>()).prop_map(|(ts, byte)| Op::Event { ts, byte }),
        1 => Just(Op::Checkpoint),
        4 => (0..30 * 24i64, 0..72i64, any::<u8>(), any::<u8>(), prop::option::weighted(0.1, 20..400i64), any::<bool>())
            .prop_map(|(hours, live, lz4, ripe, keep, recompress)| Op::Pass { hours, live, lz4, ripe, keep, recompress }),
        1 => (0..4usize, 0..200i64).prop_map(|(tier, at)| Op::Compact { tier, at: BASE + at * STEP }),
        1 => Just(Op::Reopen),
        1 => prop::option::of(any::<u64>()).prop_map(|pages| Op::Crash { pages }),
        1 => Just(Op::Backup),
    ]
}

/// The reference: each series a map from timestamp to the last value written there, and the
/// retention horizon (nothing older exists; writes older than it vanish).
#[derive(Default)]
struct Model {
    numeric: BTreeMap<usize, BTreeMap<i64, u64>>,
    events: BTreeMap<i64, u8>,
    horizon: i64,
    clock: i64,
}

impl Model {
    fn put(&mut self, series: usize, ts: i64, value: f64) {
        if ts >= self.horizon {
            self.numeric
                .entry(series)
                .or_default()
                .insert(ts, value.to_bits());
        }
    }

    fn expire(&mut self, horizon: i64) {
        self.horizon = self.horizon.max(horizon);
        let h = self.horizon;
        for column in self.numeric.values_mut() {
            column.retain(|&t, _| t >= h);
        }
        self.events.retain(|&t, _| t >= h);
    }
}

fn ids(engine: &Engine) -> (Vec<u32>, u32) {
    let numeric = SERIES
        .iter()
        .map(|s| {
            engine
                .ensure_series(&SeriesKey::parse(s).unwrap(), SeriesKind::Numeric)
                .unwrap()
        })
        .collect();
    let event = engine
        .ensure_series(&SeriesKey::parse("log").unwrap(), SeriesKind::Event)
        .unwrap();
    (numeric, event)
}

fn check(engine: &Engine, model: &Model, probe: i64) {
    let (numeric, event) = ids(engine);
    let mut total = 0;
    let counts: BTreeMap<String, u64> = engine
        .series()
        .unwrap()
        .into_iter()
        .map(|s| (s.key, s.points))
        .collect();
    for (i, &id) in numeric.iter().enumerate() {
        let expected = model.numeric.get(&i).cloned().unwrap_or_default();
        let RangeResult::Numeric { timestamps, values } = engine
            .range(
                id,
                MIN_TIMESTAMP,
                MAX_TIMESTAMP + 1,
                RangeOptions::default(),
            )
            .unwrap()
        else {
            panic!("numeric series returned events");
        };
        let got: BTreeMap<i64, u64> = timestamps
            .into_iter()
            .zip(values.iter().map(|v| v.to_bits()))
            .collect();
        assert_eq!(got, expected, "range of {}", SERIES[i]);
        let key = SeriesKey::parse(SERIES[i]).unwrap().canonical();
        assert_eq!(
            counts[&key],
            expected.len() as u64,
            "point count of {}",
            SERIES[i]
        );
        total += expected.len() as u64;
        let as_of = engine.get(id, probe).unwrap().map(|(t, v)| match v {
            Value::Number(n) => (t, n.to_bits()),
            Value::Event(_) => panic!("event in numeric series"),
        });
        let want = expected.range(..=probe).next_back().map(|(t, v)| (*t, *v));
        assert_eq!(as_of, want, "get({probe}) of {}", SERIES[i]);
        let latest = engine.latest(id).unwrap().map(|(t, _)| t);
        assert_eq!(
            latest,
            expected.keys().next_back().copied(),
            "latest of {}",
            SERIES[i]
        );
    }
    let RangeResult::Event {
        timestamps,
        payloads,
    } = engine
        .range(
            event,
            MIN_TIMESTAMP,
            MAX_TIMESTAMP + 1,
            RangeOptions {
                limit: None,
                descending: true,
            },
        )
        .unwrap()
    else {
        panic!("event series returned numbers");
    };
    let want: Vec<(i64, u8)> = model.events.iter().rev().map(|(t, b)| (*t, *b)).collect();
    let got: Vec<(i64, u8)> = timestamps
        .into_iter()
        .zip(payloads.iter().map(|p| p[0]))
        .collect();
    assert_eq!(got, want, "events, descending");
    total += want.len() as u64;
    assert_eq!(engine.stats().unwrap().points, total, "stats().points");
}

fn reopen(storage: &FaultyStorage, dir: &str) -> Engine {
    Engine::open_with(Arc::new(storage.clone()), Path::new(dir), sync_options()).unwrap()
}

fn run(ops: Vec<Op>, probe: i64) {
    let mut storage = FaultyStorage::new();
    let mut dir = DIR.to_owned();
    let mut engine = reopen(&storage, &dir);
    let mut model = Model {
        horizon: MIN_TIMESTAMP,
        clock: BASE,
        ..Model::default()
    };
    let mut backups = 0;
    for op in ops {
        let (numeric, event) = ids(&engine);
        match op {
            Op::Put { series, ts, value } => {
                let seq = engine.put_numeric(numeric[series], ts, value).unwrap();
                engine.wait_durable(seq).unwrap();
                model.put(series, ts, value);
            }
            Op::Batch {
                series,
                start,
                step,
                values,
            } => {
                let ts: Vec<i64> = (0..values.len() as i64)
                    .map(|i| BASE + (start + i * step) * STEP)
                    .collect();
                let seq = engine.put_batch(numeric[series], &ts, &values).unwrap();
                engine.wait_durable(seq).unwrap();
                for (t, v) in ts.iter().zip(&values) {
                    model.put(series, *t, *v);
                }
            }
            Op::Event { ts, byte } => {
                let seq = engine.put_event(event, ts, &[byte]).unwrap();
                engine.wait_durable(seq).unwrap();
                if ts >= model.horizon {
                    model.events.insert(ts, byte);
                }
            }
            Op::Checkpoint => {
                engine.checkpoint().unwrap();
            }
            Op::Pass {
                hours,
                live,
                lz4,
                ripe,
                keep,
                recompress,
            } => {
                model.clock += hours * HOUR;
                let now = model.clock;
                let plan = PassPlan {
                    now,
                    seal_before: Some(now - live * HOUR),
                    expire_before: keep.map(|k| now - k * STEP),
                    expire_rules: Vec::new(),
                    cascade: true,
                    ripe: engine
                        .partitions()
                        .unwrap()
                        .iter()
                        .map(|p| p.meta.id)
                        .filter(|id| ripe >> (id % 8) & 1 == 1)
                        .collect(),
                    ripe_after_ms: [Some(2 * HOUR), Some(3 * 24 * HOUR), Some(0), None],
                    lz4: [0, 1, 2, 3].map(|t| lz4 >> t & 1 == 1),
                    recompress,
                    compact: Vec::new(),
                };
                engine.run_pass(&plan).unwrap();
                if let Some(h) = plan.expire_before {
                    model.expire(h);
                }
            }
            Op::Compact { tier, at } => {
                engine.compact(Tier::ALL[tier], at, tier > 0).unwrap();
            }
            Op::Reopen => {
                engine.close().unwrap();
                drop(engine);
                engine = reopen(&storage, &dir);
            }
            Op::Crash { pages } => {
                // Everything was acknowledged as durable, so a crash must lose nothing.
                storage = match pages {
                    Some(seed) => storage.crash_losing_pages(seed),
                    None => storage.crash(),
                };
                drop(engine);
                engine = reopen(&storage, &dir);
            }
            Op::Backup => {
                backups += 1;
                let copy = format!("/backup{backups}");
                engine.backup(Path::new(&copy)).unwrap();
                engine.close().unwrap();
                drop(engine);
                dir = copy;
                engine = reopen(&storage, &dir);
            }
        }
        check(&engine, &model, probe);
    }
}

proptest! {
    #![proptest_config(model_config(256))]

    #[test]
    fn engine_matches_the_model(ops in prop::collection::vec(op(), 1..60), probe in 0..200i64) {
        run(ops, BASE + probe * STEP);
    }
}
