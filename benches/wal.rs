//! Criterion benches of the WAL: appending points (the write path up to the OS) and replaying
//! a WAL on open (recovery). `cargo bench -p warp-core`.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use warp_core::{Durability, Engine, Options, SeriesKey, SeriesKind};

const POINTS: usize = 1_000_000;

fn options() -> Options {
    Options {
        durability: Durability::None,
        flush_interval: Duration::from_secs(3600),
        checkpoint_on_close: false,
        ..Options::default()
    }
}

fn series(engine: &Engine) -> u32 {
    let key = SeriesKey::parse("bench{host=\"a\"}").unwrap();
    engine.ensure_series(&key, SeriesKind::Numeric).unwrap()
}

/// An empty database in a temporary directory, with its one series.
fn fresh() -> (tempfile::TempDir, Engine, u32) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), options()).unwrap();
    let id = series(&engine);
    (dir, engine, id)
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("put_numeric x100k", |b| {
        b.iter_batched(
            fresh,
            |(_dir, engine, id)| {
                for i in 0..100_000i64 {
                    engine.put_numeric(id, i, i as f64 * 0.5).unwrap();
                }
                engine.flush().unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    let ts: Vec<i64> = (0..100_000).collect();
    let vs: Vec<f64> = ts.iter().map(|&t| t as f64 * 0.5).collect();
    group.bench_function("put_batch 100k", |b| {
        b.iter_batched(
            fresh,
            |(_dir, engine, id)| {
                engine
                    .put_batch(id, black_box(&ts), black_box(&vs))
                    .unwrap();
                engine.flush().unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path(), options()).unwrap();
        let id = series(&engine);
        // Half single-point records, half batch records: both replay paths.
        for i in 0..(POINTS / 2) as i64 {
            engine.put_numeric(id, i, i as f64).unwrap();
        }
        let ts: Vec<i64> = ((POINTS / 2) as i64..POINTS as i64).collect();
        for chunk in ts.chunks(10_000) {
            let vs: Vec<f64> = chunk.iter().map(|&t| t as f64).collect();
            engine.put_batch(id, chunk, &vs).unwrap();
        }
        engine.close().unwrap();
    }
    let mut group = c.benchmark_group("recovery");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.sample_size(10);
    group.bench_function("replay 1M points", |b| {
        b.iter(|| {
            let engine = Engine::open(dir.path(), options()).unwrap();
            assert_eq!(
                engine.stats().unwrap().recovery.replayed_points,
                POINTS as u64
            );
            engine.close().unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, append, replay);
criterion_main!(benches);
