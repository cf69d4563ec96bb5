//! Writers racing checkpoints, seals and compactions: checkpoints are fuzzy (taken series by
//! series while writes go on) and seals split the live tier series by series, so a crash right
//! after must still give back every acknowledged point, with its value.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;
use warp_core::storage::FaultyStorage;
use warp_core::Tier;
use warp_core::{SeriesKey, SeriesKind};

const MINUTE: i64 = 60_000;

fn value(series: usize, ts: i64) -> f64 {
    (ts / MINUTE) as f64 * 0.5 + series as f64
}

#[test]
fn writes_racing_checkpoints_seals_and_compactions_survive_a_crash() {
    for round in 0..12 {
        let storage = FaultyStorage::new();
        let engine = Arc::new(open(&storage, sync_options()).unwrap());
        let newest = Arc::new(AtomicI64::new(0));
        let steps = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (engine, newest, steps) = (engine.clone(), newest.clone(), steps.clone());
            thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..2500i64 {
                    // Every 500 writes, wait for three more lifecycle steps: the race is certain,
                    // however the two threads happen to be scheduled.
                    if i % 500 == 499 {
                        let want = (i as usize / 500 + 1) * 3;
                        while steps.load(Ordering::Relaxed) < want {
                            thread::yield_now();
                        }
                    }
                    // New series keep appearing while checkpoints run.
                    let series = (i % 5 + i / 400 * 5) as usize;
                    let key = SeriesKey::parse(&format!("s{series}")).unwrap();
                    let id = engine.ensure_series(&key, SeriesKind::Numeric).unwrap();
                    // Mostly in order, every 7th a late point hours back.
                    let ts = if i % 7 == 0 {
                        (i - 300).max(0) * MINUTE
                    } else {
                        i * MINUTE
                    };
                    let seq = engine.put_numeric(id, ts, value(series, ts)).unwrap();
                    engine.wait_durable(seq).unwrap();
                    acked.push((format!("s{series}"), ts));
                    newest.fetch_max(ts, Ordering::Relaxed);
                }
                acked
            })
        };
        let mut step = 0;
        // Until the writer ends (normally or by panicking, which join then reports).
        while !writer.is_finished() {
            let cutoff = newest.load(Ordering::Relaxed) - 120 * MINUTE;
            match step % 3 {
                0 => drop(engine.checkpoint().unwrap()),
                1 => drop(engine.seal(cutoff, false).unwrap()),
                _ => drop(
                    engine
                        .compact(Tier::Daily, cutoff - 24 * 60 * MINUTE, true)
                        .unwrap(),
                ),
            }
            step += 1;
            steps.store(step, Ordering::Relaxed);
        }
        let acked = writer.join().unwrap();
        let image = storage.crash();
        drop(engine);
        let reopened = open(&image, sync_options()).unwrap();
        let stored = dump(&reopened);
        for (key, ts) in acked {
            let series: usize = key[1..].parse().unwrap();
            let points = stored
                .get(&key)
                .unwrap_or_else(|| panic!("round {round}: {key} lost"));
            let found = points
                .iter()
                .find(|p| p.0 == ts)
                .map(|p| f64::from_bits(p.1));
            assert_eq!(
                found,
                Some(value(series, ts)),
                "round {round} after {step} steps: {key}@{ts}"
            );
        }
    }
}
