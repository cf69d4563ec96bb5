//! Injected I/O failures and crashes: a failure at every mutating operation (before, at and
//! after each commit point), two failures in a row, a crash at every operation, and crashes
//! that lose unsynced pages out of order. Each time: no acknowledged point is lost, nothing
//! that was never written appears, no failure is swallowed, and the database opens.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use std::time::Duration;

use common::*;
use warp_core::storage::{FaultyStorage, Op};
use warp_core::Tier;
use warp_core::{Durability, Engine, Options, PassPlan};

const WRITES: i64 = 60;
const STEP: i64 = 3_600_000;

fn value(ts: i64) -> f64 {
    (ts / STEP) as f64 * 1.5
}

#[derive(Debug, Default)]
struct Outcome {
    acked: Vec<i64>,
    attempted: i64,
    /// Points older than this may be gone (the last retention asked for, committed or not).
    horizon: i64,
    failed: bool,
    lifecycle: warp_core::LifecycleStats,
}

/// Every lifecycle step the engine has: sealing, a cascade down the tiers, an explicit
/// compaction, retention, recompression.
fn pass(engine: &Engine, i: i64, outcome: &mut Outcome) -> warp_core::Result<()> {
    let now = i * STEP;
    let mut plan = PassPlan {
        now,
        seal_before: Some(now - 2 * STEP),
        cascade: true,
        ripe_after_ms: [Some(3_600_000), Some(24 * 3_600_000), Some(0), None],
        lz4: [false, true, true, true],
        recompress: i % 40 == 29,
        ..PassPlan::default()
    };
    plan.ripe = engine.partitions()?.iter().map(|p| p.meta.id).collect();
    if i % 40 == 29 {
        plan.lz4 = [true; 4];
        plan.expire_before = Some(now - 8 * STEP);
        outcome.horizon = now - 8 * STEP;
    }
    if i % 20 == 9 {
        plan.compact.push((Tier::Daily, 0));
    }
    engine.run_pass(&plan).map(drop)
}

/// Sync-mode writes (some overwriting sealed points) with checkpoints and passes in between,
/// stopping at the first error.
fn workload(storage: &FaultyStorage) -> Outcome {
    let mut out = Outcome::default();
    let options = Options {
        segment_bytes: 4096,
        ..sync_options()
    };
    let Ok(engine) = open(storage, options) else {
        out.failed = true;
        return out;
    };
    let Ok(id) = numeric_checked(&engine, "m") else {
        out.failed = true;
        return out;
    };
    for i in 0..WRITES {
        out.attempted = i + 1;
        // Every fifth write goes back to an hour that may already be sealed or moved.
        let ts = if i % 5 == 4 {
            (i - 12).max(0) * STEP
        } else {
            i * STEP
        };
        let acked = engine
            .put_numeric(id, ts, value(ts))
            .and_then(|seq| engine.wait_durable(seq));
        if acked.is_ok() {
            out.acked.push(ts);
        }
        let step = match i % 10 {
            9 => pass(&engine, i, &mut out),
            4 => engine.checkpoint().map(drop),
            _ => Ok(()),
        };
        if acked.is_err() || step.is_err() {
            out.failed = true;
            break;
        }
    }
    // Failures after a commit point that cannot hurt (deleting what is no longer named) are
    // counted instead of reported.
    if let Ok(stats) = engine.stats() {
        out.failed |= stats.lifecycle.cleanup_failures > 0;
        out.lifecycle = stats.lifecycle;
    }
    out
}

/// Reopens the crash image: it opens, acked ⊆ recovered ⊆ attempted, values intact; and it
/// keeps working (a write, a clean close, another open).
fn check_recovery(image: &FaultyStorage, outcome: &Outcome, context: &str) {
    let engine = open(image, sync_options()).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
    let points = dump(&engine).remove("m").unwrap_or_default();
    for &(ts, bits) in &points {
        assert!(
            ts < outcome.attempted * STEP,
            "{context}: point {ts} was never written"
        );
        assert_eq!(f64::from_bits(bits), value(ts), "{context}: value of {ts}");
    }
    let recovered: Vec<i64> = points.iter().map(|p| p.0).collect();
    for ts in outcome.acked.iter().filter(|&&t| t >= outcome.horizon) {
        assert!(
            recovered.contains(ts),
            "{context}: acknowledged point {ts} lost"
        );
    }
    let id = numeric_checked(&engine, "m").unwrap();
    let ts = outcome.attempted * STEP;
    engine.put_numeric(id, ts, value(ts)).unwrap();
    engine.close().unwrap();
    drop(engine);
    let engine =
        open(image, sync_options()).unwrap_or_else(|e| panic!("{context}: second open: {e}"));
    assert_eq!(dump(&engine)["m"].len(), recovered.len() + 1, "{context}");
}

fn clean_run() -> u64 {
    let clean = FaultyStorage::new();
    let baseline = workload(&clean);
    assert!(!baseline.failed, "{baseline:?}");
    assert_eq!(baseline.acked.len() as i64, WRITES);
    // Every mechanism ran: seals, moves down the tiers and recompressions, retention.
    let l = &baseline.lifecycle;
    assert!(
        l.seals >= 4 && l.moves >= 4 && l.partitions_dropped >= 1,
        "{l:?}"
    );
    clean.ops()
}

#[test]
fn every_single_failure_is_reported_and_loses_nothing_acknowledged() {
    let total = clean_run();
    assert!(total > 500, "only {total} operations");
    for n in 0..total {
        let storage = FaultyStorage::new();
        storage.fail_op(n);
        let outcome = workload(&storage);
        let context = format!("failure at op {n}");
        assert!(outcome.failed, "{context}: the failure was swallowed");
        check_recovery(&storage.crash(), &outcome, &context);
    }
}

#[test]
fn two_failures_in_a_row_lose_nothing_acknowledged() {
    let total = clean_run();
    for n in (0..total).step_by(3) {
        for gap in [1, 4] {
            let storage = FaultyStorage::new();
            storage.fail_op(n);
            storage.fail_op(n + gap);
            let outcome = workload(&storage);
            let context = format!("failures at ops {n} and {}", n + gap);
            assert!(outcome.failed, "{context}: the failures were swallowed");
            check_recovery(&storage.crash(), &outcome, &context);
            check_recovery(&storage.crash_losing_pages(n), &outcome, &context);
        }
    }
}

#[test]
fn a_crash_at_any_operation_loses_nothing_acknowledged() {
    let total = clean_run();
    for n in 0..total {
        let storage = FaultyStorage::new();
        // The disk dies at op n: nothing from then on reaches it.
        for k in n..total + 200 {
            storage.fail_op(k);
        }
        let outcome = workload(&storage);
        let context = format!("crash at op {n}");
        check_recovery(&storage.crash(), &outcome, &context);
        check_recovery(&storage.crash_losing_pages(n), &outcome, &context);
    }
}

#[test]
fn a_failed_fsync_refuses_later_writes() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let id = numeric(&engine, "m");
    storage.fail_next(Op::Sync);
    let seq = engine.put_numeric(id, 1, 1.0).unwrap();
    assert!(engine.wait_durable(seq).is_err());
    let err = engine.put_numeric(id, 2, 2.0).unwrap_err();
    assert_eq!(err.code(), "STORAGE_FAILED");
    assert_eq!(engine.checkpoint().unwrap_err().code(), "STORAGE_FAILED");
}

#[test]
fn a_commit_that_may_not_be_durable_refuses_later_writes_and_commits() {
    let mut uncertain = 0;
    for n in 0..30 {
        let storage = FaultyStorage::new();
        let engine = open(&storage, sync_options()).unwrap();
        let id = numeric(&engine, "m");
        let seq = engine.put_batch(id, &[1, 2, 3], &[1.0, 2.0, 3.0]).unwrap();
        engine.wait_durable(seq).unwrap();
        let generation = engine.stats().unwrap().manifest_generation;
        storage.fail_op(storage.ops() + n);
        if engine.checkpoint().is_ok() {
            continue;
        }
        // Failed after the rename: the new generation is current, but a crash may bring back
        // the old one, so the engine must not build on it.
        if engine.stats().unwrap().manifest_generation > generation {
            uncertain += 1;
            let refused = engine.put_numeric(id, 4, 4.0).unwrap_err();
            assert_eq!(refused.code(), "STORAGE_FAILED", "op +{n}");
            assert_eq!(engine.checkpoint().unwrap_err().code(), "STORAGE_FAILED");
        }
        let reopened = open(&storage.crash(), sync_options()).unwrap();
        assert_eq!(dump(&reopened)["m"].len(), 3, "op +{n}");
    }
    assert_eq!(
        uncertain, 1,
        "exactly one operation (the directory fsync) is past the rename"
    );
}

#[test]
fn a_crash_keeps_flushed_points_and_drops_only_unflushed_ones() {
    for durability in [Durability::Interval, Durability::None] {
        for seed in 0..16 {
            let storage = FaultyStorage::new();
            let options = Options {
                durability,
                flush_interval: Duration::from_secs(3600),
                checkpoint_on_close: false,
                ..Options::default()
            };
            let engine = open(&storage, options).unwrap();
            let id = numeric(&engine, "m");
            for i in 0..100 {
                engine.put_numeric(id, i * STEP, value(i * STEP)).unwrap();
            }
            engine.flush().unwrap();
            // Unsynced writes, handed to the OS in several pieces: a crash may keep any of
            // their pages, in any order (the recovery must see a torn tail, not corruption).
            for i in 100..3000 {
                engine.put_numeric(id, i * STEP, value(i * STEP)).unwrap();
                if i % 500 == 0 {
                    engine.checkpoint().map(drop).unwrap_or(());
                }
            }
            let image = storage.crash_losing_pages(seed);
            drop(engine);
            let outcome = Outcome {
                acked: (0..100).map(|i| i * STEP).collect(),
                attempted: 3000,
                ..Outcome::default()
            };
            check_recovery(&image, &outcome, &format!("{durability:?} seed {seed}"));
        }
    }
}
