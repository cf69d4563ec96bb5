//! The series catalog: one per database, through checkpoints, seals, compactions, retention,
//! crashes and reopens, at a hundred thousand series; selections by tag; churn that leaves
//! nothing behind.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use warp_core::storage::{FaultyStorage, Storage};
use warp_core::{
    Durability, Engine, Match, Matcher, Options, Selector, SeriesKey, Target, Tier, Write,
};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn none_mode() -> Options {
    Options {
        durability: Durability::None,
        checkpoint_on_close: false,
        ..Options::default()
    }
}

fn key(i: usize) -> SeriesKey {
    SeriesKey::parse(&format!("m{{host=h{i},dc=d{}}}", i % 7)).unwrap()
}

fn write(engine: &Engine, i: usize, ts: i64, value: f64) {
    engine
        .write(Target::Key(&key(i)), Write::Number { ts, value })
        .unwrap();
}

fn in_dc(dc: usize) -> Selector {
    Selector {
        metric: Some(Match::Equal("m".into())),
        matchers: vec![Matcher {
            name: "dc".into(),
            matching: Match::Equal(format!("d{dc}")),
            negated: false,
        }],
    }
}

fn keys(engine: &Engine) -> BTreeSet<String> {
    engine
        .series()
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect()
}

#[test]
fn a_hundred_thousand_series_survive_checkpoint_seal_compaction_and_crash() {
    const N: usize = 100_000;
    let storage = FaultyStorage::new();
    let engine = open(&storage, none_mode()).unwrap();
    for i in 0..N {
        write(&engine, i, (i as i64 % 24) * HOUR, i as f64);
    }
    engine.checkpoint().unwrap();
    engine.seal(DAY, true).unwrap();
    engine.compact(Tier::Daily, 0, true).unwrap();
    // Series created after the last commit live in the WAL only until the crash.
    for i in N..N + 10 {
        write(&engine, i, 2 * DAY, i as f64);
    }
    engine.flush().unwrap();
    let before = dump(&engine);
    assert_eq!(before.len(), N + 10);
    let crashed = storage.crash();
    drop(engine);
    let engine = open(&crashed, none_mode()).unwrap();
    assert_eq!(dump(&engine), before);
    let dc3 = engine.find_series(&in_dc(3), usize::MAX, None).unwrap();
    assert_eq!(dc3.len(), (0..N + 10).filter(|i| i % 7 == 3).count());
    assert!(dc3
        .iter()
        .all(|s| s.key.contains("dc=\"d3\"") && s.points == 1));
    // Paging by id walks the same series.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = engine.find_series(&in_dc(3), 1000, after).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        paged.extend(page);
    }
    assert_eq!(paged, dc3);
    let hosts = engine.tag_values(Some("host")).unwrap();
    assert_eq!(hosts.len(), N + 10);
    assert_eq!(
        engine.tag_values(None).unwrap(),
        vec![("m".to_owned(), N + 10)]
    );
}

#[test]
fn catalog_files_are_compacted_and_every_one_named_is_read() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, none_mode()).unwrap();
    for round in 0..40 {
        write(&engine, round, round as i64, 1.0);
        engine.checkpoint().unwrap();
    }
    let files = storage
        .list(&std::path::Path::new(DIR).join("temporal/live/indices"))
        .unwrap();
    assert!(files.len() <= 16, "{files:?}");
    let before = dump(&engine);
    engine.close().unwrap();
    let engine = open(&storage, none_mode()).unwrap();
    assert_eq!(dump(&engine), before);
}

#[test]
fn series_past_retention_leave_the_catalog_and_its_postings_and_come_back_when_written() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, none_mode()).unwrap();
    for i in 0..1000 {
        // Series 0..500 stop writing on day 1; the rest write on day 10 too.
        write(&engine, i, DAY, 1.0);
        if i >= 500 {
            write(&engine, i, 10 * DAY, 2.0);
        }
    }
    let stale = engine.series_id(&key(3)).unwrap().unwrap();
    let plan = warp_core::PassPlan {
        now: 11 * DAY,
        seal_before: Some(11 * DAY),
        expire_before: Some(5 * DAY),
        ..Default::default()
    };
    engine.run_pass(&plan).unwrap();
    let stats = engine.stats().unwrap();
    assert_eq!(stats.series, 500);
    assert_eq!(stats.lifecycle.series_dropped, 500);
    let all_dcs: usize = (0..7)
        .map(|dc| {
            engine
                .find_series(&in_dc(dc), usize::MAX, None)
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(all_dcs, 500, "no postings left for dropped series");
    assert_eq!(engine.tag_values(Some("host")).unwrap().len(), 500);
    assert_eq!(engine.series_id(&key(3)).unwrap(), None);
    // A handle that still holds the dropped id writes to its series again, under that id.
    engine.put_numeric(stale, 12 * DAY, 3.0).unwrap();
    assert_eq!(engine.series_id(&key(3)).unwrap(), Some(stale));
    // By key, a dropped series comes back under a new id.
    write(&engine, 4, 12 * DAY, 4.0);
    let four = engine.series_id(&key(4)).unwrap().unwrap();
    assert!(four >= 1000);
    let expected = keys(&engine);
    assert_eq!(expected.len(), 502);
    // Drops and revivals are in the WAL (then in the catalog files): a crash repeats them.
    engine.flush().unwrap();
    let crashed = storage.crash();
    let before = dump(&engine);
    drop(engine);
    let engine = open(&crashed, none_mode()).unwrap();
    assert_eq!(keys(&engine), expected);
    assert_eq!(dump(&engine), before);
    engine.checkpoint().unwrap();
    engine.close().unwrap();
    let engine = open(&storage, none_mode()).unwrap();
    assert_eq!(dump(&engine), before);
}

#[test]
fn a_small_series_costs_a_few_bytes_per_partition_and_summaries_do_not_grow() {
    let mut summaries = Vec::new();
    for n in [1_000usize, 20_000] {
        let storage = FaultyStorage::new();
        let engine = open(&storage, none_mode()).unwrap();
        for i in 0..n {
            let id = engine
                .ensure_series(&key(i), warp_core::SeriesKind::Numeric)
                .unwrap();
            let ts: Vec<i64> = (0..10).map(|k| k * 10_000).collect();
            let vs: Vec<f64> = (0..10).map(|k| 20.0 + f64::from(k) / 4.0).collect();
            engine.put_batch(id, &ts, &vs).unwrap();
        }
        engine.seal(HOUR, false).unwrap();
        let part = engine.partitions().unwrap().pop().unwrap().meta;
        let dir = std::path::Path::new(DIR).join("temporal").join(&part.dir);
        let index = storage.len(&dir.join("index")).unwrap();
        let per_series = index as f64 / n as f64;
        assert!(per_series < 16.0, "{per_series} index bytes per series");
        let data_per_series = (part.bytes - index) as f64 / n as f64;
        assert!(
            data_per_series < 24.0,
            "{data_per_series} data bytes per 10 points"
        );
        summaries.push(storage.len(&dir.join("summary.json")).unwrap());
    }
    // Partition-level figures only: a few digits longer, never a list of series.
    assert!(summaries[1] < summaries[0] + 16, "{summaries:?}");
}
