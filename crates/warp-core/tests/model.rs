//! Property test: random writes (out of order, duplicates, late points, events), checkpoints,
//! seals into partitions, compactions down the tiers, clean reopens and crashes, checked
//! against a plain in-memory model after every step. Timestamps step by 15 minutes so the data
//! spans several hours and days.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use warp_core::partition::Tier;
use warp_core::storage::FaultyStorage;
use warp_core::{Engine, RangeOptions, RangeResult, SeriesKey, SeriesKind, Value};

const STEP: i64 = 900_000;

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
    Seal {
        cutoff: i64,
    },
    Compact {
        tier: usize,
        at: i64,
    },
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..3usize, 0..200i64, any::<f64>()).prop_map(|(series, ts, value)| Op::Put { series, ts, value }),
        2 => (0..3usize, 0..200i64, -3..4i64, prop::collection::vec(-1e6..1e6f64, 0..20))
            .prop_map(|(series, start, step, values)| Op::Batch { series, start, step, values }),
        2 => (0..200i64, any::<u8>()).prop_map(|(ts, byte)| Op::Event { ts, byte }),
        1 => Just(Op::Checkpoint),
        2 => (0..220i64).prop_map(|c| Op::Seal { cutoff: c * STEP }),
        2 => (0..4usize, 0..200i64).prop_map(|(tier, at)| Op::Compact { tier, at: at * STEP }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

/// The reference: each series a map from timestamp to the last value written there.
#[derive(Default)]
struct Model {
    numeric: BTreeMap<usize, BTreeMap<i64, u64>>,
    events: BTreeMap<i64, u8>,
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
    for (i, &id) in numeric.iter().enumerate() {
        let expected = model.numeric.get(&i).cloned().unwrap_or_default();
        let RangeResult::Numeric { timestamps, values } = engine
            .range(id, -1000 * STEP, 1000 * STEP, RangeOptions::default())
            .unwrap()
        else {
            panic!("numeric series returned events");
        };
        let got: BTreeMap<i64, u64> = timestamps
            .into_iter()
            .zip(values.iter().map(|v| v.to_bits()))
            .collect();
        assert_eq!(got, expected, "range of {}", SERIES[i]);
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
            0,
            1000 * STEP,
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
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(ops in prop::collection::vec(op(), 1..60), probe in -60..200i64) {
        let probe = probe * STEP;
        let mut storage = FaultyStorage::new();
        let mut engine = open(&storage, sync_options()).unwrap();
        let mut model = Model::default();
        for op in ops {
            let (numeric, event) = ids(&engine);
            match op {
                Op::Put { series, ts, value } => {
                    let ts = ts * STEP;
                    let seq = engine.put_numeric(numeric[series], ts, value).unwrap();
                    engine.wait_durable(seq).unwrap();
                    model.numeric.entry(series).or_default().insert(ts, value.to_bits());
                }
                Op::Batch { series, start, step, values } => {
                    let ts: Vec<i64> = (0..values.len() as i64).map(|i| (start + i * step) * STEP).collect();
                    let seq = engine.put_batch(numeric[series], &ts, &values).unwrap();
                    engine.wait_durable(seq).unwrap();
                    let column = model.numeric.entry(series).or_default();
                    for (t, v) in ts.iter().zip(&values) {
                        column.insert(*t, v.to_bits());
                    }
                }
                Op::Event { ts, byte } => {
                    let ts = ts * STEP;
                    let seq = engine.put_event(event, ts, &[byte]).unwrap();
                    engine.wait_durable(seq).unwrap();
                    model.events.insert(ts, byte);
                }
                Op::Checkpoint => {
                    engine.checkpoint().unwrap();
                }
                Op::Seal { cutoff } => {
                    engine.seal(cutoff, false).unwrap();
                }
                Op::Compact { tier, at } => {
                    engine.compact(Tier::ALL[tier], at, tier > 0).unwrap();
                }
                Op::Reopen => {
                    engine.close().unwrap();
                    drop(engine);
                    engine = open(&storage, sync_options()).unwrap();
                }
                Op::Crash => {
                    // Everything was acknowledged as durable, so a crash must lose nothing.
                    storage = storage.crash();
                    drop(engine);
                    engine = open(&storage, sync_options()).unwrap();
                }
            }
            check(&engine, &model, probe);
        }

    }
}
