//! Criterion benches of the column codecs: encoding and decoding 8192-point blocks of a decimal
//! gauge (the decimal codec) and of full-precision floats (Gorilla). `cargo bench -p warp-core`.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warp_core::format::MAX_BLOCK_POINTS;
use warp_core::format::{decode_block as decode, encode_numeric};

/// A 10-second gauge; `decimals` rounds the random walk (None keeps full precision).
fn walk(decimals: Option<i32>) -> (Vec<i64>, Vec<f64>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut v = 50.0;
    let ts = (0..MAX_BLOCK_POINTS as i64)
        .map(|i| 1_700_000_000_000 + i * 10_000)
        .collect();
    let vs = (0..MAX_BLOCK_POINTS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            v += (state % 1000) as f64 / 1000.0 - 0.5;
            match decimals {
                Some(d) => (v * 10f64.powi(d)).round() / 10f64.powi(d),
                None => v,
            }
        })
        .collect();
    (ts, vs)
}

fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(MAX_BLOCK_POINTS as u64));
    for (name, decimals, lz4) in [
        ("decimal 2dp", Some(2), false),
        ("decimal 2dp + lz4", Some(2), true),
        ("gorilla full precision", None, false),
    ] {
        let (ts, vs) = walk(decimals);
        let mut block = Vec::new();
        let meta = encode_numeric(&ts, &vs, lz4, &mut block);
        println!(
            "{name}: {:.3} bytes/point",
            block.len() as f64 / MAX_BLOCK_POINTS as f64
        );
        group.bench_function(format!("encode {name}"), |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(block.len());
                encode_numeric(black_box(&ts), black_box(&vs), lz4, &mut out);
                out
            })
        });
        group.bench_function(format!("decode {name}"), |b| {
            b.iter(|| decode(black_box(&meta), black_box(&block)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
