//! The engine on real files: reopen sees what was written, the directory is locked.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use warp_core::{Engine, Options, RangeOptions, RangeResult, SeriesKey, SeriesKind};

fn key(s: &str) -> SeriesKey {
    SeriesKey::parse(s).unwrap()
}

#[test]
fn reopen_after_close_and_after_checkpoint_plus_writes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let id = engine
        .ensure_series(&key("cpu{host=a}"), SeriesKind::Numeric)
        .unwrap();
    let ts: Vec<i64> = (0..10_000).collect();
    let values: Vec<f64> = ts.iter().map(|&t| t as f64 / 8.0).collect();
    engine.put_batch(id, &ts, &values).unwrap();
    engine.checkpoint().unwrap();
    engine.put_numeric(id, 20_000, 1.0).unwrap();
    engine.put_numeric(id, 5, -5.0).unwrap();
    engine.flush().unwrap();
    drop(engine); // no close: the last writes must come back from the WAL

    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let stats = engine.stats().unwrap();
    assert!(stats.recovery.checkpoint_loaded);
    assert_eq!(stats.recovery.replayed_points, 2);
    let RangeResult::Numeric { timestamps, values } = engine
        .range(id, 0, 30_000, RangeOptions::default())
        .unwrap()
    else {
        panic!("numeric series expected");
    };
    assert_eq!(timestamps.len(), 10_001);
    assert_eq!(values[5], -5.0);
    assert_eq!(timestamps.last(), Some(&20_000));
    engine.close().unwrap();
    assert_eq!(engine.latest(id).unwrap_err().code(), "CLOSED");
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Engine::open(dir.path(), Options::default()).unwrap();
    let err = Engine::open(dir.path(), Options::default()).err().unwrap();
    assert_eq!(err.code(), "LOCKED");
    first.close().unwrap();
    Engine::open(dir.path(), Options::default()).unwrap();
}

#[test]
fn a_file_is_not_a_database_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = Engine::open(&file, Options::default()).err().unwrap();
    assert_eq!(err.code(), "NOT_A_DIRECTORY");
}

#[test]
fn a_full_wal_buffer_is_written_by_the_flusher_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_buffer_bytes: 64 << 10,
        flush_interval: std::time::Duration::from_secs(3600),
        ..Options::default()
    };
    let engine = Engine::open(dir.path(), options).unwrap();
    let id = engine
        .ensure_series(&key("m"), SeriesKind::Numeric)
        .unwrap();
    for batch in 0..200i64 {
        let ts: Vec<i64> = (0..1000).map(|i| batch * 1000 + i).collect();
        engine.put_batch(id, &ts, &vec![1.5; 1000]).unwrap();
        // One batch is 16 KB: the buffer never passes the hard limit (8 × 64 KB) by more.
        assert!(engine.stats().unwrap().buffered_bytes <= (8 << 16) + 16_100);
    }
    // No flush and an hour-long interval, yet the data reaches the WAL files (kicked flusher,
    // or the writer itself at the hard limit).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.stats().unwrap().wal_bytes < 2_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the flusher never wrote the buffer"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
