//! Retention per metric pattern: each series expires by the first rule naming its metric (or
//! the default), through reads, queries, seals, compactions, checkpoints and reopens; horizons
//! only move forward; rollup cells outlive the raw points they summarise.
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

mod common;

use common::{aggregation, numeric, open, sync_options};
use warp_core::query::{GroupBy, QuerySpec};
use warp_core::storage::FaultyStorage;
use warp_core::{Engine, PassPlan, RangeOptions, RangeResult, RollupSpec};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;

fn timestamps(engine: &Engine, id: u32) -> Vec<i64> {
    match engine
        .range(id, i64::MIN / 2, i64::MAX / 2, RangeOptions::default())
        .unwrap()
    {
        RangeResult::Numeric { timestamps, .. } => timestamps,
        RangeResult::Event { timestamps, .. } => timestamps,
    }
}

/// One point an hour for 30 days.
fn fill(engine: &Engine, id: u32) {
    let ts: Vec<i64> = (0..30 * 24).map(|h| T0 + h * HOUR).collect();
    let vs: Vec<f64> = ts.iter().map(|&t| ((t / HOUR) % 100) as f64).collect();
    engine.put_batch(id, &ts, &vs).unwrap();
}

/// Declares a rollup of `metric` keeping `aggregates` per bucket of `every` ms.
fn declare(engine: &Engine, name: &str, metric: &str, every: i64, aggregates: &[&str]) {
    engine
        .create_rollup(RollupSpec {
            name: name.to_owned(),
            metric: metric.to_owned(),
            id: 0,
            conditions: Vec::new(),
            every,
            aggregates: aggregates.iter().map(|&a| a.to_owned()).collect(),
        })
        .unwrap();
}

fn pass(engine: &Engine, now: i64, default_days: Option<i64>, rules: &[(&str, i64)]) {
    engine
        .run_pass(&PassPlan {
            now,
            seal_before: Some(now - 2 * HOUR),
            expire_before: default_days.map(|d| now - d * DAY),
            expire_rules: rules
                .iter()
                .map(|(m, days)| ((*m).to_owned(), now - days * DAY))
                .collect(),
            cascade: true,
            ripe_after_ms: [Some(0), Some(0), Some(0), None],
            ..PassPlan::default()
        })
        .unwrap();
}

#[test]
fn each_series_expires_by_its_first_matching_rule() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let raw = numeric(&db, "raw{h=1}");
    let kept = numeric(&db, "keep.me{h=1}");
    let forever = numeric(&db, "archive{h=1}");
    for id in [raw, kept, forever] {
        fill(&db, id);
    }
    let now = T0 + 30 * DAY;
    pass(&db, now, Some(7), &[("keep.*", 20), ("arch*", 100_000)]);
    let oldest = |id| timestamps(&db, id).first().copied().unwrap();
    assert_eq!(oldest(raw), now - 7 * DAY);
    assert_eq!(oldest(kept), now - 20 * DAY);
    assert_eq!(oldest(forever), T0);
    assert_eq!(db.get(raw, now - 8 * DAY).unwrap(), None);
    assert!(db.get(kept, now - 8 * DAY).unwrap().is_some());
    let points: Vec<u64> = db.series().unwrap().iter().map(|s| s.points).collect();
    assert_eq!(points, vec![7 * 24, 20 * 24, 30 * 24]);
    let q = QuerySpec {
        explain: false,
        ..aggregation(None, T0, now, &["count"], Some(DAY), GroupBy::Series)
    };
    let counts: Vec<f64> = db
        .query(&q)
        .unwrap()
        .groups
        .iter()
        .map(|g| g.columns[0].1.iter().sum())
        .collect();
    assert_eq!(
        counts,
        vec![(30 * 24) as f64, (20 * 24) as f64, (7 * 24) as f64]
    );

    // Reopened (and after a checkpoint), the same.
    db.checkpoint().unwrap();
    drop(db);
    let db = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(timestamps(&db, raw).first().copied(), Some(now - 7 * DAY));
    assert_eq!(timestamps(&db, kept).first().copied(), Some(now - 20 * DAY));

    // Horizons only move forward: a longer age, or a new rule, brings nothing back.
    pass(&db, now + HOUR, Some(7), &[("keep.*", 25), ("raw", 30)]);
    assert_eq!(timestamps(&db, kept).first().copied(), Some(now - 20 * DAY));
    assert_eq!(timestamps(&db, raw).first().copied(), Some(now - 7 * DAY));
    // A stricter rule cuts at once; dropped from the plan, it stays (frozen) until the
    // default passes it, so its series never get points back.
    pass(&db, now + 2 * HOUR, Some(7), &[("raw", 1)]);
    assert_eq!(
        timestamps(&db, raw).first().copied(),
        Some(now + 2 * HOUR - DAY)
    );
    pass(&db, now + 3 * HOUR, Some(7), &[]);
    assert_eq!(
        timestamps(&db, raw).first().copied(),
        Some(now + 2 * HOUR - DAY)
    );
    // A longer rule dropped from the plan: its series follow the default again.
    assert_eq!(
        timestamps(&db, kept).first().copied(),
        Some(now + 3 * HOUR - 7 * DAY)
    );
    pass(&db, now + 10 * DAY, Some(7), &[]);
    assert!(
        timestamps(&db, raw).is_empty(),
        "the default passed every point"
    );
}

#[test]
fn rollup_cells_outlive_the_raw_points_they_summarise() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let id = numeric(&db, "cpu{h=1}");
    fill(&db, id);
    declare(&db, "cpu_1d", "cpu", DAY, &["avg", "max"]);
    let now = T0 + 30 * DAY;
    let q = |rollups: bool| QuerySpec {
        rollups,
        ..aggregation(
            Some("cpu"),
            T0,
            T0 + 30 * DAY,
            &["avg", "max"],
            Some(DAY),
            GroupBy::All,
        )
    };
    let before = db.query(&q(true)).unwrap();
    pass(&db, now, Some(3), &[("__rollup:cpu_1d@*", 365)]);
    let raw = db.query(&q(false)).unwrap();
    let from_rollup = db.query(&q(true)).unwrap();
    assert_eq!(
        from_rollup.explain.as_ref().unwrap().rollup.as_deref(),
        Some("cpu_1d")
    );
    let avg = |r: &warp_core::query::QueryResult| r.groups[0].columns[0].1.clone();
    // Raw points are gone but for the last three days; the daily cells all stay.
    assert_eq!(avg(&raw).iter().filter(|v| !v.is_nan()).count(), 3);
    assert_eq!(avg(&from_rollup), avg(&before));
    drop(db);
    let db = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(avg(&db.query(&q(true)).unwrap()), avg(&before));
}

#[test]
fn cells_that_expire_before_their_raw_points_leave_the_raw_answer() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let id = numeric(&db, "cpu{h=1}");
    fill(&db, id);
    declare(&db, "short", "cpu", HOUR, &["sum", "max"]);
    let now = T0 + 30 * DAY;
    pass(&db, now, Some(20), &[("__rollup:short@*", 2)]);
    let q = |rollups: bool| QuerySpec {
        rollups,
        ..aggregation(
            Some("cpu"),
            T0,
            now,
            &["sum", "max", "count"],
            Some(DAY),
            GroupBy::All,
        )
    };
    let (routed, raw) = (db.query(&q(true)).unwrap(), db.query(&q(false)).unwrap());
    assert_eq!(
        routed.explain.as_ref().unwrap().rollup.as_deref(),
        Some("short")
    );
    assert_eq!(
        format!("{:?}", routed.groups[0].columns),
        format!("{:?}", raw.groups[0].columns)
    );
    assert_eq!(
        raw.groups[0].columns[2]
            .1
            .iter()
            .filter(|&&c| c > 0.0)
            .count(),
        20,
        "twenty days of raw points"
    );
}

#[test]
fn a_source_whose_raw_points_expired_keeps_its_cells_selectable() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let old = numeric(&db, "cpu{h=old}");
    let current = numeric(&db, "cpu{h=new}");
    let ts: Vec<i64> = (0..48).map(|h| T0 + h * HOUR).collect();
    let vs: Vec<f64> = (0..48).map(f64::from).collect();
    db.put_batch(old, &ts, &vs).unwrap();
    fill(&db, current);
    declare(&db, "cpu_1d", "cpu", DAY, &["max"]);
    let now = T0 + 30 * DAY;
    pass(&db, now, None, &[("__rollup:*", 365), ("cpu", 2)]);
    pass(&db, now + HOUR, None, &[("__rollup:*", 365), ("cpu", 2)]);
    let q = aggregation(
        Some("cpu"),
        T0,
        T0 + 2 * DAY,
        &["max"],
        Some(DAY),
        GroupBy::Series,
    );
    let r = db.query(&q).unwrap();
    let keys: Vec<_> = r.groups.iter().filter_map(|g| g.key.clone()).collect();
    assert_eq!(keys, vec![r#"cpu{h="new"}"#, r#"cpu{h="old"}"#]);
    assert_eq!(r.groups[1].columns[0].1, vec![23.0, 47.0]);
}

#[test]
fn rollup_buckets_that_start_before_year_zero_do_not_stop_the_lifecycle() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let id = numeric(&db, "x{h=a}");
    let first = warp_core::MIN_TIMESTAMP;
    db.put_batch(id, &[first + 5, first + 9 * DAY], &[2.0, 3.0])
        .unwrap();
    for every in [7 * DAY, 366 * DAY, 7000] {
        declare(&db, &format!("r{every}"), "x", every, &["max", "median"]);
    }
    db.put_numeric(id, first + 1, 1.0).unwrap();
    db.refresh_rollups().unwrap();
    pass(&db, first + 400 * DAY, None, &[]);
    for every in [7 * DAY, 14 * DAY] {
        let q = QuerySpec {
            explain: false,
            ..aggregation(
                Some("x"),
                first,
                first + 20 * DAY,
                &["max"],
                Some(every),
                GroupBy::All,
            )
        };
        let routed = db.query(&q).unwrap();
        let raw = db
            .query(&QuerySpec {
                rollups: false,
                ..q
            })
            .unwrap();
        assert_eq!(format!("{:?}", routed.groups), format!("{:?}", raw.groups));
    }
}

#[test]
fn retention_rule_limits_hold_at_and_one_past() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let plan = |n: usize| PassPlan {
        now: T0,
        expire_rules: (0..n).map(|i| (format!("m{i}*"), T0 - DAY)).collect(),
        ..PassPlan::default()
    };
    let err = db
        .run_pass(&plan(warp_core::MAX_RETENTION_RULES + 1))
        .unwrap_err();
    assert_eq!(err.code(), warp_core::ErrorCode::InvalidArgument);
    db.run_pass(&plan(warp_core::MAX_RETENTION_RULES)).unwrap();
    let bad = PassPlan {
        now: T0,
        expire_rules: vec![(String::new(), T0)],
        ..PassPlan::default()
    };
    assert_eq!(
        db.run_pass(&bad).unwrap_err().code(),
        warp_core::ErrorCode::InvalidArgument
    );
    drop(db);
    let db = open(&storage.crash(), sync_options()).unwrap();
    db.run_pass(&plan(1)).unwrap(); // the other 255 stay, frozen: stricter than the default
}
