//! Writers racing checkpoints, seals and compactions: checkpoints are fuzzy (taken series by
//! series while writes go on) and seals split the live tier series by series, so a crash right
//! after must still give back every acknowledged point, with its value.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;
use warp_core::partition::Tier;
use warp_core::storage::FaultyStorage;
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
        let done = Arc::new(AtomicBool::new(false));
        let newest = Arc::new(AtomicI64::new(0));
        let writer = {
            let (engine, done, newest) = (engine.clone(), done.clone(), newest.clone());
            thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..2500i64 {
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
                done.store(true, Ordering::Relaxed);
                acked
            })
        };
        let mut step = 0;
        while !done.load(Ordering::Relaxed) {
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
        }
        let acked = writer.join().unwrap();
        assert!(
            step >= 3,
            "round {round}: only {step} operations raced the writer"
        );
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
