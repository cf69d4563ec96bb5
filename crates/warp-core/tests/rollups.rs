//! Rollups against raw points: every query a rollup answers must equal the same query over raw
//! points, through late writes, duplicates, NaN, seals, compactions, reopens and crashes.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

mod common;

use common::rollups::*;
use common::{open, sync_options, DIR};
use warp_core::query::{EverySpec, GroupBy, QuerySpec};
use warp_core::storage::FaultyStorage;
use warp_core::{
    Condition, Engine, ErrorCode, Match, Matcher, PassPlan, RollupSpec, Selector, SeriesKey,
    SeriesKind, Target, Tier, Write,
};

fn pass(db: &Engine, now: i64, seal_before: i64) {
    db.run_pass(&PassPlan {
        now,
        seal_before: Some(seal_before),
        ..PassPlan::default()
    })
    .unwrap();
}

/// Every aggregate per series in 5-minute buckets over the hour from `start`, rollups allowed.
fn first_hour_by_5m(start: i64) -> QuerySpec {
    query(
        start,
        start + 60 * MINUTE,
        5 * MINUTE,
        &AGGS,
        GroupBy::Series,
        true,
    )
}

#[test]
fn a_rollup_answers_as_raw_points_do() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let mut rng = Rng(0x5eed);
    let start = START;
    let span = 3 * 60 * MINUTE;
    write_random(&db, &mut rng, 3000, start, span);
    let info = db
        .create_rollup(rollup_spec("cpu_1m", MINUTE, Vec::new()))
        .unwrap();
    assert!(info.ready);
    assert_eq!((info.sources, info.dirty), (4, 0));
    let mut routed = 0;
    for round in 0..40 {
        match rng.below(5) {
            0 => write_random(&db, &mut rng, 200, start, span),
            1 => pass(&db, start + span, start + rng.below(span as u64) as i64),
            2 => {
                db.refresh_rollups().unwrap();
            }
            _ => {}
        }
        for _ in 0..10 {
            let q = random_query(&mut rng, start, span);
            routed += usize::from(check(&db, &q, &format!("round {round}")));
        }
    }
    assert!(routed > 100, "only {routed} queries used the rollup");
    let stats = db.stats().unwrap();
    assert!(stats.rollups.cells_written > 0 && stats.rollups.queries > 0);
}

#[test]
fn a_query_uses_the_rollup_only_where_it_fits() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let mut rng = Rng(7);
    let start = START;
    write_random(&db, &mut rng, 500, start, 60 * MINUTE);
    let dc = Condition {
        name: "host".into(),
        op: "oneOf".into(),
        values: vec!["h0".into(), "h1".into()],
        negated: false,
    };
    db.create_rollup(rollup_spec("some", 5 * MINUTE, vec![dc.clone()]))
        .unwrap();
    let fits = |q: &QuerySpec| check(&db, q, "fit");
    let mut q = query(
        start,
        start + 60 * MINUTE,
        10 * MINUTE,
        &["avg"],
        GroupBy::All,
        true,
    );
    assert!(
        !fits(&q),
        "the query selects hosts the rollup does not keep"
    );
    q.selector.matchers.push(dc.compile().unwrap());
    assert!(fits(&q));
    assert!(!fits(&QuerySpec {
        aggregates: vec!["median".into()],
        ..q.clone()
    }));
    assert!(!fits(&QuerySpec {
        every: Some(EverySpec::Ms(7.0 * 60_000.0)),
        ..q.clone()
    }));
    assert!(fits(&QuerySpec {
        from: start + 1234,
        to: start + 47 * MINUTE + 5,
        ..q.clone()
    }));
    let other = Matcher {
        name: "host".into(),
        matching: Match::Equal("h1".into()),
        negated: false,
    };
    let mut narrower = q.clone();
    narrower.selector.matchers.push(other);
    assert!(fits(&narrower), "a narrower selection of the same sources");
}

#[test]
fn rollups_survive_reopen_and_crash_exactly() {
    let storage = FaultyStorage::new();
    let mut rng = Rng(99);
    let start = START;
    let span = 2 * 60 * MINUTE;
    {
        let db = open(&storage, sync_options()).unwrap();
        write_random(&db, &mut rng, 1000, start, span);
        db.create_rollup(rollup_spec("cpu_1m", MINUTE, Vec::new()))
            .unwrap();
        write_random(&db, &mut rng, 300, start, span);
        pass(&db, start + span, start + span / 2);
        write_random(&db, &mut rng, 300, start, span);
        db.checkpoint().unwrap();
        write_random(&db, &mut rng, 300, start, span);
        // Dropped without close: the crash image keeps only what was made durable.
    }
    for image in [storage.crash(), storage.crash_losing_pages(3)] {
        let db = open(&image, sync_options()).unwrap();
        let listed = db.rollups().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].ready);
        for every in [MINUTE, 10 * MINUTE, 60 * MINUTE] {
            for group_by in [GroupBy::All, GroupBy::Series] {
                let q = query(start, start + span, every, &AGGS, group_by, true);
                assert!(check(&db, &q, "after the crash"));
            }
        }
        // Refreshed, every cell stored equals one recomputed from raw points.
        db.refresh_rollups().unwrap();
        assert_eq!(db.rollups().unwrap()[0].dirty, 0);
        let q = query(start, start + span, MINUTE, &AGGS, GroupBy::Series, true);
        assert!(check(&db, &q, "after the refresh"));
    }
}

#[test]
fn a_failure_at_any_step_of_a_declaration_leaves_exact_answers() {
    let start = START;
    let q = first_hour_by_5m(start);
    for n in 0.. {
        let storage = FaultyStorage::new();
        let db = open(&storage, sync_options()).unwrap();
        write_random(&db, &mut Rng(3), 300, start, 60 * MINUTE);
        storage.fail_op(storage.ops() + n);
        let outcome = db.create_rollup(rollup_spec("late", MINUTE, Vec::new()));
        drop(db);
        let reopened = open(&storage.crash(), sync_options()).unwrap();
        check(&reopened, &q, &format!("failure at op {n}"));
        let listed = reopened.rollups().unwrap();
        if outcome.is_ok() {
            assert!(listed[0].ready, "failure at op {n}");
            break;
        }
        // Declared or not; if declared and not ready, a refresh makes it ready.
        reopened.refresh_rollups().unwrap();
        assert!(reopened.rollups().unwrap().iter().all(|r| r.ready));
        check(&reopened, &q, &format!("failure at op {n}, refreshed"));
        assert!(n < 500, "the declaration never succeeded");
    }
}

#[test]
fn rollup_cells_stay_out_of_sight() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let mut rng = Rng(11);
    write_random(&db, &mut rng, 100, 0, 600_000);
    db.create_rollup(rollup_spec("r", MINUTE, Vec::new()))
        .unwrap();
    assert!(db
        .series()
        .unwrap()
        .iter()
        .all(|s| !s.key.starts_with("__")));
    let everything = Selector {
        metric: Some(Match::regex(".*").unwrap()),
        matchers: Vec::new(),
    };
    assert_eq!(db.find_series(&everything, 100, None).unwrap().len(), 4);
    assert_eq!(db.tag_values(None).unwrap(), vec![("cpu".to_owned(), 4)]);
    let err =
        SeriesKey::parse("__rollup:r@1:sum").map(|k| db.ensure_series(&k, SeriesKind::Numeric));
    assert_eq!(err.unwrap_err().code(), ErrorCode::InvalidSeries);

    // Declared twice, bad declarations, dropped, declared again: answers stay exact.
    let twice = db
        .create_rollup(rollup_spec("r", MINUTE, Vec::new()))
        .unwrap_err();
    assert_eq!(twice.code(), ErrorCode::InvalidQuery);
    for bad in [
        RollupSpec {
            every: 0,
            ..rollup_spec("x", MINUTE, Vec::new())
        },
        RollupSpec {
            name: "a b".into(),
            ..rollup_spec("x", MINUTE, Vec::new())
        },
        RollupSpec {
            metric: "__x".into(),
            ..rollup_spec("x", MINUTE, Vec::new())
        },
        RollupSpec {
            aggregates: vec!["rate".into()],
            ..rollup_spec("x", MINUTE, Vec::new())
        },
    ] {
        assert_eq!(
            db.create_rollup(bad).unwrap_err().code(),
            ErrorCode::InvalidQuery
        );
    }
    let empty = db
        .create_rollup(RollupSpec {
            metric: "nothing".into(),
            ..rollup_spec("e", MINUTE, Vec::new())
        })
        .unwrap();
    assert!(empty.ready && empty.sources == 0);
    assert!(db.drop_rollup("e").unwrap());
    assert!(db.drop_rollup("r").unwrap());
    assert!(!db.drop_rollup("r").unwrap());
    assert!(db.rollups().unwrap().is_empty());
    write_random(&db, &mut rng, 100, 0, 600_000);
    db.create_rollup(rollup_spec("r", MINUTE, Vec::new()))
        .unwrap();
    let q = query(0, 600_000, MINUTE, &AGGS, GroupBy::Series, true);
    assert!(check(&db, &q, "declared again"));
    db.close().unwrap();
    let db = open(&storage, sync_options()).unwrap();
    assert!(check(&db, &q, "reopened"));
    let _ = (DIR, Tier::Hourly);
}

#[test]
fn writes_during_refreshes_are_never_lost_from_the_rollup() {
    let storage = FaultyStorage::new();
    let db = std::sync::Arc::new(open(&storage, sync_options()).unwrap());
    let start = START;
    write_random(&db, &mut Rng(5), 200, start, 30 * MINUTE);
    db.create_rollup(rollup_spec("r", MINUTE, Vec::new()))
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, done) = (db.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(6);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                write_random(&db, &mut rng, 1, start, 30 * MINUTE);
            }
        })
    };
    for _ in 0..2000 {
        db.refresh_rollups().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let q = query(
        start,
        start + 30 * MINUTE,
        MINUTE,
        &AGGS,
        GroupBy::Series,
        true,
    );
    assert!(check(&db, &q, "after concurrent refreshes"));
    db.refresh_rollups().unwrap();
    assert!(check(&db, &q, "refreshed"));
}

#[test]
fn whole_blocks_of_cells_answer_from_their_summaries() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let start = START;
    let span = 3 * 60 * MINUTE;
    let mut rng = Rng(21);
    for host in 0..2 {
        let key = SeriesKey::parse(&format!("cpu{{host=h{host}}}")).unwrap();
        let timestamps: Vec<i64> = (0..span / 500).map(|i| start + i * 500).collect();
        let values: Vec<f64> = timestamps
            .iter()
            .map(|_| (rng.below(10_000) as f64) / 100.0)
            .collect();
        db.write(
            Target::Key(&key),
            Write::Batch {
                timestamps: &timestamps,
                values: &values,
            },
        )
        .unwrap();
    }
    let mut spec = rollup_spec("cpu_1s", 1000, Vec::new());
    spec.aggregates.retain(|a| a != "stddev" && a != "variance");
    db.create_rollup(spec).unwrap();
    pass(&db, start + span + 60 * MINUTE, start + span);
    // A late write: its buckets are read raw until refreshed, whole blocks around them not.
    write_random(&db, &mut rng, 5, start, span);
    let aggs = [
        "count", "sum", "avg", "min", "max", "first", "last", "spread",
    ];
    for every in [MINUTE, 10 * MINUTE, 60 * MINUTE] {
        for group_by in [GroupBy::All, GroupBy::Series] {
            let q = query(start, start + span, every, &aggs, group_by.clone(), true);
            assert!(check(&db, &q, "summaries"));
            if every == 60 * MINUTE {
                let explain = db.query(&q).unwrap().explain.unwrap();
                assert!(explain.blocks_from_summaries > 0, "{explain:?}");
            }
        }
    }
}

#[test]
fn a_backup_keeps_its_rollups() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let start = START;
    write_random(&db, &mut Rng(8), 500, start, 60 * MINUTE);
    db.create_rollup(rollup_spec("r", MINUTE, Vec::new()))
        .unwrap();
    write_random(&db, &mut Rng(9), 100, start, 60 * MINUTE);
    let target = std::path::Path::new("/copy");
    db.backup(target).unwrap();
    let copy =
        Engine::open_with(std::sync::Arc::new(storage.clone()), target, sync_options()).unwrap();
    assert_eq!(copy.rollups().unwrap().len(), 1);
    let q = first_hour_by_5m(start);
    assert!(check(&copy, &q, "the backup"));
    assert_same(
        &copy.query(&q).unwrap(),
        &db.query(&q).unwrap(),
        "backup and source",
    );
}

#[test]
fn percentiles_from_a_rollup_are_within_the_sketch_bound() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let start = START;
    let span = 2 * 60 * MINUTE;
    let mut rng = Rng(77);
    write_random(&db, &mut rng, 3000, start, span);
    let mut spec = rollup_spec("q", MINUTE, Vec::new());
    spec.aggregates = vec!["median".into(), "percentile(0.9)".into(), "count".into()];
    db.create_rollup(spec).unwrap();
    pass(&db, start + span + 60 * MINUTE, start + span / 2);
    write_random(&db, &mut rng, 200, start, span);
    db.refresh_rollups().unwrap();
    // A dirty span at the end, read raw beside the sketches.
    write_random(&db, &mut rng, 20, start + span - 15 * MINUTE, 15 * MINUTE);
    // Every raw value, by time, to find each bucket's ranks.
    let mut all: Vec<(i64, f64)> = Vec::new();
    for info in db.series().unwrap() {
        if let warp_core::RangeResult::Numeric { timestamps, values } = db
            .range(
                info.id,
                start,
                start + span,
                warp_core::RangeOptions::default(),
            )
            .unwrap()
        {
            all.extend(
                timestamps
                    .into_iter()
                    .zip(values)
                    .filter(|(_, v)| !v.is_nan()),
            );
        }
    }
    for (p, agg) in [(0.5, "median"), (0.9, "percentile(0.9)")] {
        let q = query(
            start,
            start + span,
            10 * MINUTE,
            &[agg, "count"],
            GroupBy::All,
            true,
        );
        let r = db.query(&q).unwrap();
        let explain = r.explain.as_ref().unwrap();
        assert_eq!(explain.rollup.as_deref(), Some("q"));
        assert!(
            explain.rollup_raw_points > 0 && explain.rollup_cells > 0,
            "{explain:?}"
        );
        let g = &r.groups[0];
        for (b, &t) in g.timestamps.iter().enumerate() {
            let mut values: Vec<f64> = all
                .iter()
                .filter(|(ts, _)| *ts >= t && *ts < t + 10 * MINUTE)
                .map(|&(_, v)| v)
                .collect();
            values.sort_by(f64::total_cmp);
            assert_eq!(g.columns[1].1[b], values.len() as f64);
            let rank = (p * (values.len() - 1) as f64).floor() as usize;
            let (got, want) = (g.columns[0].1[b], values[rank]);
            assert!(
                (got - want).abs() <= 0.01 * want.abs() + 1e-9,
                "{agg} of bucket {t}: {got} from the sketches, {want} exact"
            );
        }
    }
}

#[test]
fn a_rollup_over_days_of_stored_data_is_computed_a_window_at_a_time() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let start = START;
    let span = 10 * 24 * 60 * MINUTE;
    let mut rng = Rng(31);
    write_random(&db, &mut rng, 4000, start, span);
    pass(&db, start + span + 60 * MINUTE, start + span - 60 * MINUTE);
    let info = db
        .create_rollup(rollup_spec("long", 5 * MINUTE, Vec::new()))
        .unwrap();
    assert!(info.ready && info.dirty == 0);
    for every in [5 * MINUTE, 60 * MINUTE, 24 * 60 * MINUTE] {
        let q = query(start, start + span, every, &AGGS, GroupBy::Series, true);
        assert!(check(&db, &q, "ten days"));
    }
    assert!(db.stats().unwrap().rollups.cells_written >= 4 * 10 * 24 * 5);
}

#[test]
fn damaged_definition_files_are_refused_or_set_aside_by_repair() {
    use warp_core::storage::Storage;
    let storage = FaultyStorage::new();
    let rollups = std::path::Path::new(DIR).join("temporal/recent/aggregations/rollups.json");
    let links = std::path::Path::new(DIR).join("temporal/live/indices/links.json");
    {
        let db = open(&storage, sync_options()).unwrap();
        write_random(&db, &mut Rng(4), 50, 0, 600_000);
        let first = db
            .create_rollup(rollup_spec("r", MINUTE, Vec::new()))
            .unwrap();
        assert!(db.drop_rollup("r").unwrap());
        let again = db
            .create_rollup(rollup_spec("r", MINUTE, Vec::new()))
            .unwrap();
        assert!(again.spec.id > first.spec.id, "an id is never given twice");
        db.link(
            "cpu{host=h0}",
            "cpu{host=h1}",
            "x",
            warp_core::LinkOrigin::Declared,
            None,
        )
        .unwrap();
        db.close().unwrap();
    }
    for (path, bytes) in [(&rollups, &b"{garbage"[..]), (&links, &b"[]"[..])] {
        let image = storage.crash();
        warp_core::storage::write_replacing(&image, path, bytes).unwrap();
        let err = open(&image, sync_options()).err().unwrap();
        assert_eq!(err.code(), ErrorCode::CorruptManifest, "{err}");
        assert!(err.to_string().contains("repair sets it aside"), "{err}");
        let repaired = open(
            &image,
            warp_core::Options {
                repair: true,
                ..sync_options()
            },
        )
        .unwrap();
        assert!(image.read(path).is_err(), "set aside");
        let mut aside = path.as_os_str().to_owned();
        aside.push(".damaged");
        assert_eq!(image.read(std::path::Path::new(&aside)).unwrap(), bytes);
        let q = query(0, 600_000, MINUTE, &AGGS, GroupBy::Series, true);
        check(&repaired, &q, "repaired");
    }
}

#[test]
fn rollup_limits_hold_at_and_one_past_on_write_and_reopen() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    write_random(&db, &mut Rng(12), 20, START, 60 * MINUTE);
    let named = |name: String| RollupSpec {
        name,
        ..rollup_spec("x", MINUTE, Vec::new())
    };
    let code = |spec: RollupSpec| db.create_rollup(spec).unwrap_err().code();
    // Names: 64 characters, not 65.
    assert_eq!(code(named("n".repeat(65))), ErrorCode::InvalidQuery);
    db.create_rollup(named("n".repeat(64))).unwrap();
    // Bucket widths: 1 ms to 366 days.
    for every in [0, -1, 366 * 24 * 60 * MINUTE + 1] {
        assert_eq!(
            code(RollupSpec {
                every,
                ..named("w".into())
            }),
            ErrorCode::InvalidQuery
        );
    }
    for (i, every) in [1, 366 * 24 * 60 * MINUTE].into_iter().enumerate() {
        db.create_rollup(RollupSpec {
            every,
            ..named(format!("edge{i}"))
        })
        .unwrap();
    }
    // At most 64 rollups.
    for i in 3..64 {
        db.create_rollup(named(format!("r{i}"))).unwrap();
    }
    assert_eq!(db.rollups().unwrap().len(), 64);
    assert_eq!(code(named("one-more".into())), ErrorCode::InvalidQuery);
    drop(db);
    let db = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(db.rollups().unwrap().len(), 64);
    let q = query(
        START,
        START + 60 * MINUTE,
        60 * MINUTE,
        &AGGS,
        GroupBy::Series,
        true,
    );
    assert!(check(&db, &q, "64 rollups, reopened"));
    assert_eq!(
        db.create_rollup(named("one-more".into()))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidQuery
    );
    // A slot freed is taken again.
    assert!(db.drop_rollup("r10").unwrap());
    db.create_rollup(named("again".into())).unwrap();
}
