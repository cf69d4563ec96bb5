//! Partitions on real files: sealing, moves down the tiers, retention, backup, the block cache,
//! and damaged partition and manifest files.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use common::files_under;
use warp_core::{Engine, Options, RangeOptions, RangeResult, SeriesKey, SeriesKind, Tier};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_737_331_200_000; // 2025-01-20T00:00:00Z

fn gauge(engine: &Engine, hours: i64) -> u32 {
    let id = engine
        .ensure_series(
            &SeriesKey::parse("cpu{host=a}").unwrap(),
            SeriesKind::Numeric,
        )
        .unwrap();
    let ts: Vec<i64> = (0..hours * 360).map(|i| T0 + i * 10_000).collect();
    let vs: Vec<f64> = (0..ts.len())
        .map(|i| ((i * 37) % 1000) as f64 / 100.0)
        .collect();
    engine.put_batch(id, &ts, &vs).unwrap();
    id
}

fn all(engine: &Engine, id: u32) -> (Vec<i64>, Vec<f64>) {
    match engine
        .range(id, i64::MIN / 2, i64::MAX / 2, RangeOptions::default())
        .unwrap()
    {
        RangeResult::Numeric { timestamps, values } => (timestamps, values),
        RangeResult::Event { .. } => panic!("numeric expected"),
    }
}

#[test]
fn data_moves_down_the_tiers_and_reads_stay_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let id = gauge(&engine, 50);
    let before = all(&engine, id);

    assert_eq!(engine.seal(T0 + 48 * HOUR, false).unwrap(), 48 * 360);
    assert_eq!(engine.partitions().unwrap().len(), 48);
    assert!(dir
        .path()
        .join("temporal/recent/hourly/2025-01-20-13/summary.json")
        .exists());
    assert_eq!(all(&engine, id), before);

    // A late point into a sealed hour is visible at once and wins over the sealed value.
    engine.put_numeric(id, T0 + 10_000, 99.5).unwrap();
    assert_eq!(
        engine.get(id, T0 + 15_000).unwrap().map(|p| p.0),
        Some(T0 + 10_000)
    );
    engine.seal(T0 + HOUR, false).unwrap();
    assert!(dir
        .path()
        .join("temporal/recent/hourly/2025-01-20-00.2")
        .exists());

    let daily = engine.compact(Tier::Daily, T0, true).unwrap().unwrap();
    assert_eq!(
        (daily.dir.as_str(), daily.points),
        ("historical/daily/2025-01-20", 24 * 360)
    );
    assert!(dir
        .path()
        .join("temporal/historical/daily/2025-01-20/blocks")
        .exists());
    assert!(!dir
        .path()
        .join("temporal/recent/hourly/2025-01-20-00")
        .exists());
    engine
        .compact(Tier::Daily, T0 + DAY, true)
        .unwrap()
        .unwrap();
    engine.compact(Tier::Monthly, T0, true).unwrap().unwrap();
    engine.compact(Tier::Yearly, T0, true).unwrap().unwrap();
    let (ts, vs) = all(&engine, id);
    assert_eq!(ts, before.0);
    assert_eq!(vs[1], 99.5);
    assert_eq!(&vs[2..], &before.1[2..]);

    let stats = engine.stats().unwrap();
    assert_eq!(stats.lifecycle.moves, 4);
    assert!(stats.lifecycle.bytes_after < stats.lifecycle.bytes_before);
    engine.close().unwrap();

    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let (ts2, vs2) = all(&engine, id);
    assert_eq!((ts2, vs2), (ts, vs));
    assert_eq!(
        engine.latest(id).unwrap().map(|p| p.0),
        before.0.last().copied()
    );
    // Hours 48 and 49 are still live and newer than every partition: no partition is read.
    let reads = |e: &Engine| e.partitions().unwrap().iter().map(|p| p.reads).sum::<u64>();
    let before_reads = reads(&engine);
    engine.latest(id).unwrap();
    assert_eq!(reads(&engine), before_reads);
    assert!(engine.stats().unwrap().wormhole_hits >= 2);
}

#[test]
fn retention_hides_every_older_point_and_drops_whole_windows() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let id = gauge(&engine, 5);
    engine.seal(T0 + 4 * HOUR, false).unwrap();
    let horizon = T0 + 2 * HOUR + 1;
    assert_eq!(engine.expire(horizon).unwrap(), 2);
    // Per point: the straddling hour keeps only its points at or after the horizon.
    assert_eq!(all(&engine, id).0.first(), Some(&(T0 + 2 * HOUR + 10_000)));
    let stats = engine.stats().unwrap();
    assert_eq!(stats.lifecycle.partitions_dropped, 2);
    assert_eq!(stats.retention_horizon, Some(horizon));
    assert_eq!(stats.points, all(&engine, id).0.len() as u64);
    assert_eq!(engine.get(id, T0 + 2 * HOUR).unwrap(), None);
    // The horizon never moves back, and survives a reopen.
    engine.expire(T0).unwrap();
    engine.close().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    assert_eq!(all(&engine, id).0.first(), Some(&(T0 + 2 * HOUR + 10_000)));
    assert_eq!(engine.stats().unwrap().retention_horizon, Some(horizon));
}

#[test]
fn repeated_reads_hit_the_block_cache() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let id = gauge(&engine, 3);
    engine.seal(T0 + 3 * HOUR, false).unwrap();
    for _ in 0..5 {
        all(&engine, id);
    }
    let cache = engine.stats().unwrap().cache;
    assert_eq!((cache.misses, cache.hits), (3, 12));
    assert!(engine.partitions().unwrap().iter().all(|p| p.reads == 5));
}

#[test]
fn backup_is_a_database_with_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let id = gauge(&engine, 3);
    engine.seal(T0 + 2 * HOUR, false).unwrap();
    engine.put_numeric(id, T0 + 10 * HOUR, 1.0).unwrap();
    let target = tempfile::tempdir().unwrap();
    let copy_dir = target.path().join("copy");
    engine.backup(&copy_dir).unwrap();
    assert_eq!(
        engine.backup(&copy_dir).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let copy = Engine::open(&copy_dir, Options::default()).unwrap();
    assert_eq!(all(&copy, id), all(&engine, id));
}

#[test]
fn damaged_partitions_and_manifests_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path(), Options::default()).unwrap();
        gauge(&engine, 2);
        engine.seal(T0 + 2 * HOUR, false).unwrap();
        engine.close().unwrap();
    }
    let hour = dir.path().join("temporal/recent/hourly/2025-01-20-01");
    // A flipped byte in a block: the open succeeds (the index is fine), the read fails.
    let data = hour.join("blocks");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[200] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    {
        let engine = Engine::open(dir.path(), Options::default()).unwrap();
        let err = engine
            .range(0, T0 + HOUR, T0 + 2 * HOUR, RangeOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "CORRUPT_PARTITION");
        assert!(engine
            .range(0, T0, T0 + HOUR - 1, RangeOptions::default())
            .is_ok());
    }
    // A truncated index fails the open; repair drops the partition and says so.
    let index = hour.join("index");
    let len = std::fs::metadata(&index).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let err = Engine::open(dir.path(), Options::default()).err().unwrap();
    assert_eq!(err.code(), "CORRUPT_PARTITION");
    let repair = Options {
        repair: true,
        ..Options::default()
    };
    let engine = Engine::open(dir.path(), repair).unwrap();
    assert_eq!(engine.stats().unwrap().recovery.dropped_partitions.len(), 1);
    assert_eq!(all(&engine, 0).0.len(), 360);
    engine.close().unwrap();
    assert!(!hour.exists(), "the dropped partition's files are cleared");
    Engine::open(dir.path(), Options::default())
        .unwrap()
        .close()
        .unwrap();

    let manifest = dir.path().join("temporal/manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replacen(
        "\"points\": 360",
        "\"points\": 361",
        1,
    );
    std::fs::write(&manifest, text).unwrap();
    assert_eq!(
        Engine::open(dir.path(), Options::default())
            .err()
            .unwrap()
            .code(),
        "CORRUPT_MANIFEST"
    );
}

#[test]
fn no_file_outside_the_manifest_survives_an_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path(), Options::default()).unwrap();
        gauge(&engine, 2);
        engine.seal(T0 + 2 * HOUR, false).unwrap();
        engine.close().unwrap();
    }
    // Leftovers of a move that crashed before its commit.
    let orphan = dir.path().join("temporal/historical/daily/2025-01-20");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("blocks"), b"half-written").unwrap();
    std::fs::write(
        dir.path()
            .join("temporal/live/checkpoints/00000000000000000099.ckpt.tmp"),
        b"x",
    )
    .unwrap();
    Engine::open(dir.path(), Options::default())
        .unwrap()
        .close()
        .unwrap();
    let files = files_under(&dir.path().join("temporal"));
    assert!(
        !files
            .iter()
            .any(|f| f.contains("historical/daily/2025-01-20") || f.ends_with(".tmp")),
        "{files:?}"
    );
}

mod damage {
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;
    use warp_core::storage::{FaultyStorage, Storage};
    use warp_core::{Engine, Options, RangeOptions, SeriesKey, SeriesKind};

    const T0: i64 = super::T0;

    fn points() -> (Vec<i64>, Vec<f64>) {
        let ts: Vec<i64> = (0..720).map(|i| T0 + i * 10_000).collect();
        let vs = ts.iter().map(|&t| (t % 977) as f64 * 0.37).collect();
        (ts, vs)
    }

    fn expected() -> warp_core::RangeResult {
        let (timestamps, values) = points();
        warp_core::RangeResult::Numeric { timestamps, values }
    }

    /// A database on `storage` with two hourly partitions; returns their files.
    fn build(storage: &FaultyStorage) -> Vec<std::path::PathBuf> {
        let engine = Engine::open_with(
            Arc::new(storage.clone()),
            Path::new("/db"),
            Options::default(),
        )
        .unwrap();
        let key = SeriesKey::parse("m").unwrap();
        let id = engine.ensure_series(&key, SeriesKind::Numeric).unwrap();
        let (ts, vs) = points();
        engine.put_batch(id, &ts, &vs).unwrap();
        engine.seal(T0 + 2 * 3_600_000, false).unwrap();
        engine.close().unwrap();
        let hourly = Path::new("/db/temporal/recent/hourly");
        let mut files = Vec::new();
        for dir in storage.list(hourly).unwrap() {
            for name in ["blocks", "index"] {
                files.push(hourly.join(&dir).join(name));
            }
        }
        files.sort();
        files
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Flipped bytes or a cut anywhere in a partition file: a clear error or correct data,
        /// never a panic, a hang or a huge allocation.
        #[test]
        fn damaged_partition_files_give_errors_not_panics(
            file in 0..4usize,
            at in any::<prop::sample::Index>(),
            xor in 1..=255u8,
            cut in any::<bool>(),
        ) {
            let storage = FaultyStorage::new();
            let files = build(&storage);
            let path = &files[file];
            let len = storage.read(path).unwrap().len();
            let offset = at.index(len);
            if cut {
                storage.truncate(path, offset as u64).unwrap();
            } else {
                let byte = storage.read(path).unwrap()[offset];
                storage.corrupt(path, offset, &[byte ^ xor]).unwrap();
            }
            match Engine::open_with(Arc::new(storage.clone()), Path::new("/db"), Options::default()) {
                Err(e) => prop_assert_eq!(e.code(), "CORRUPT_PARTITION"),
                Ok(engine) => match engine.range(0, i64::MIN / 2, i64::MAX / 2, RangeOptions::default()) {
                    Err(e) => prop_assert_eq!(e.code(), "CORRUPT_PARTITION"),
                    // Damage no check noticed must not have changed a single point.
                    Ok(r) => prop_assert_eq!(r, expected()),
                },
            }
        }
    }
}

#[test]
fn the_newest_point_of_a_block_comes_from_its_header_without_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let id = gauge(&engine, 3);
    let last = all(&engine, id);
    engine.seal(T0 + 3 * HOUR, false).unwrap();
    let misses = engine.stats().unwrap().cache.misses;
    let latest = engine.latest(id).unwrap();
    let expected = (*last.0.last().unwrap(), *last.1.last().unwrap());
    assert_eq!(
        latest,
        Some((expected.0, warp_core::Value::Number(expected.1)))
    );
    assert_eq!(
        engine.stats().unwrap().cache.misses,
        misses,
        "a block was decoded"
    );
    // An as-of read inside a block still decodes it.
    engine.get(id, T0 + HOUR + 15_000).unwrap();
    assert_eq!(engine.stats().unwrap().cache.misses, misses + 1);
}
