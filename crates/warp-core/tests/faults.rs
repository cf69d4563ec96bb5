//! Injected I/O failures and crashes: no acknowledged point is lost, no failure is swallowed,
//! and nothing appears that was never written.

mod common;

use std::time::Duration;

use common::*;
use warp_core::partition::Tier;
use warp_core::storage::{Fault, FaultyStorage};
use warp_core::{Durability, Options};

const WRITES: i64 = 60;

struct Outcome {
    acked: Vec<i64>,
    attempted: i64,
    failed: bool,
}

/// Sync-mode writes with checkpoints, seals and compactions in between, stopping at the first
/// error.
fn workload(storage: &FaultyStorage) -> Outcome {
    let mut out = Outcome {
        acked: Vec::new(),
        attempted: 0,
        failed: false,
    };
    let options = Options {
        segment_bytes: 4096,
        ..sync_options()
    };
    let Ok(engine) = open(storage, options) else {
        out.failed = true;
        return out;
    };
    let id = numeric(&engine, "m");
    for i in 0..WRITES {
        out.attempted = i + 1;
        let acked = engine
            .put_numeric(id, i, i as f64 * 1.5)
            .and_then(|seq| engine.wait_durable(seq));
        // Every commit kind: checkpoints, seals into partitions, compactions down the tiers.
        let checkpointed = match i % 20 {
            19 => engine.checkpoint().map(drop),
            9 => engine.seal(i - 3, false).map(drop),
            14 => engine.compact(Tier::Daily, 0, true).map(drop),
            _ => Ok(()),
        };
        if acked.is_ok() {
            out.acked.push(i);
        }
        if acked.is_err() || checkpointed.is_err() {
            out.failed = true;
            break;
        }
    }
    out
}

/// Reopens the crash image and checks acked ⊆ recovered ⊆ attempted, values intact.
fn check_recovery(image: &FaultyStorage, outcome: &Outcome, context: &str) {
    let engine = open(image, sync_options()).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
    let points = dump(&engine).remove("m").unwrap_or_default();
    for &(ts, bits) in &points {
        assert!(
            ts < outcome.attempted,
            "{context}: point {ts} was never written"
        );
        assert_eq!(
            f64::from_bits(bits),
            ts as f64 * 1.5,
            "{context}: value of {ts}"
        );
    }
    let recovered: Vec<i64> = points.iter().map(|p| p.0).collect();
    for ts in &outcome.acked {
        assert!(
            recovered.contains(ts),
            "{context}: acknowledged point {ts} lost"
        );
    }
}

#[test]
fn every_single_failed_write_or_fsync_is_reported_and_loses_nothing_acknowledged() {
    for kind in [Fault::Write, Fault::Sync] {
        let clean = FaultyStorage::new();
        let baseline = workload(&clean);
        assert!(!baseline.failed);
        let total = clean.count(kind);
        assert!(total > 20, "{kind:?}: only {total} operations");
        for n in 0..total {
            let storage = FaultyStorage::new();
            storage.fail_after(kind, n);
            let outcome = workload(&storage);
            let context = format!("{kind:?} #{n}");
            assert!(outcome.failed, "{context}: the failure was swallowed");
            check_recovery(&storage.crash(), &outcome, &context);
        }
    }
}

#[test]
fn a_failed_fsync_refuses_later_writes() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let id = numeric(&engine, "m");
    storage.fail_after(Fault::Sync, 0);
    let seq = engine.put_numeric(id, 1, 1.0).unwrap();
    assert!(engine.wait_durable(seq).is_err());
    let err = engine.put_numeric(id, 2, 2.0).unwrap_err();
    assert_eq!(err.code(), "WAL_FAILED");
}

#[test]
fn a_crash_keeps_flushed_points_and_drops_only_unflushed_ones() {
    let storage = FaultyStorage::new();
    let options = Options {
        durability: Durability::Interval,
        flush_interval: Duration::from_secs(3600),
        checkpoint_on_close: false,
        ..Options::default()
    };
    let engine = open(&storage, options).unwrap();
    let id = numeric(&engine, "m");
    for i in 0..100 {
        engine.put_numeric(id, i, i as f64 * 1.5).unwrap();
    }
    engine.flush().unwrap();
    for i in 100..150 {
        engine.put_numeric(id, i, i as f64 * 1.5).unwrap();
    }
    let image = storage.crash();
    drop(engine);
    let outcome = Outcome {
        acked: (0..100).collect(),
        attempted: 150,
        failed: false,
    };
    check_recovery(&image, &outcome, "interval crash");
    let engine = open(&image, sync_options()).unwrap();
    assert_eq!(dump(&engine)["m"].len(), 100);
}

#[test]
fn torn_writes_at_a_crash_lose_nothing_acknowledged() {
    for keep_fraction in [1, 2, 3, 5, 7] {
        let storage = FaultyStorage::new();
        let outcome = workload(&storage);
        // Unsynced bytes: none in sync mode, so also write some unacknowledged ones.
        let engine = open(&storage, sync_options()).unwrap();
        let id = numeric(&engine, "m");
        for i in WRITES..WRITES + 30 {
            engine.put_numeric(id, i, i as f64 * 1.5).unwrap();
        }
        let image = storage.crash_keeping(|_, unsynced| unsynced / keep_fraction);
        drop(engine);
        let outcome = Outcome {
            attempted: WRITES + 30,
            ..outcome
        };
        check_recovery(&image, &outcome, &format!("torn 1/{keep_fraction}"));
    }
}
