//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod rollups;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use warp_core::storage::{FaultyStorage, Storage};
use warp_core::{Durability, Engine, Options, RangeOptions, RangeResult, SeriesKey, SeriesKind};

pub const DIR: &str = "/db";

pub fn wal_dir() -> PathBuf {
    Path::new(DIR).join("wal")
}

pub fn sync_options() -> Options {
    Options {
        durability: Durability::Sync,
        checkpoint_on_close: false,
        ..Options::default()
    }
}

pub fn open(storage: &FaultyStorage, options: Options) -> warp_core::Result<Engine> {
    Engine::open_with(Arc::new(storage.clone()), Path::new(DIR), options)
}

pub fn numeric(engine: &Engine, name: &str) -> u32 {
    numeric_checked(engine, name).unwrap()
}

pub fn numeric_checked(engine: &Engine, name: &str) -> warp_core::Result<u32> {
    let key = SeriesKey::parse(name).unwrap();
    engine.ensure_series(&key, SeriesKind::Numeric)
}

/// Every numeric series as `key -> [(ts, value bits)]`, sorted.
pub fn dump(engine: &Engine) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut out = BTreeMap::new();
    for info in engine.series().unwrap() {
        let points = match engine
            .range(info.id, i64::MIN / 2, i64::MAX / 2, RangeOptions::default())
            .unwrap()
        {
            RangeResult::Numeric { timestamps, values } => timestamps
                .into_iter()
                .zip(values.into_iter().map(f64::to_bits))
                .collect(),
            RangeResult::Event { timestamps, .. } => {
                timestamps.into_iter().map(|t| (t, 0)).collect()
            }
        };
        out.insert(info.key, points);
    }
    out
}

/// Segment files in index order.
pub fn segments(storage: &FaultyStorage) -> Vec<PathBuf> {
    let mut names: Vec<String> = storage
        .list(&wal_dir())
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .collect();
    names.sort();
    names.into_iter().map(|n| wal_dir().join(n)).collect()
}

/// (offset, total length) of every frame in a segment, read from the format.
pub fn frames(storage: &FaultyStorage, segment: &Path) -> Vec<(usize, usize)> {
    let data = storage.read(segment).unwrap();
    let mut pos = warp_core::format::SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while pos + 9 <= data.len() {
        let len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        // Sync markers (type 5) carry no writes.
        if data[pos + 8] != 5 {
            out.push((pos, 9 + len));
        }
        pos += 9 + len;
    }
    out
}

/// A proptest configuration: `cases` unless `PROPTEST_CASES` says otherwise, and a fixed seed
/// (so CI runs the same cases every time) unless `PROPTEST_RNG_SEED` gives another.
pub fn model_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let config = Config::default();
    let seed_given = std::env::var_os("PROPTEST_RNG_SEED").is_some();
    let cases_given = std::env::var_os("PROPTEST_CASES").is_some();
    Config {
        cases: if cases_given { config.cases } else { cases },
        rng_seed: if seed_given {
            config.rng_seed
        } else {
            RngSeed::Fixed(0x5eed)
        },
        ..config
    }
}

/// Every file below `dir` on the real file system, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out.sort();
    out
}

/// An aggregation query of `metric` (every metric: `None`) over `[from, to)`, in buckets of
/// `every` ms (one bucket: `None`), grouped by `group_by`; explained, rollups allowed.
pub fn aggregation(
    metric: Option<&str>,
    from: i64,
    to: i64,
    aggregates: &[&str],
    every: Option<i64>,
    group_by: warp_core::query::GroupBy,
) -> warp_core::query::QuerySpec {
    #[allow(clippy::cast_precision_loss)]
    warp_core::query::QuerySpec {
        selector: warp_core::Selector {
            metric: metric.map(|m| warp_core::Match::Equal(m.to_owned())),
            matchers: Vec::new(),
        },
        from,
        to,
        aggregates: aggregates.iter().map(|&a| a.to_owned()).collect(),
        every: every.map(|ms| warp_core::query::EverySpec::Ms(ms as f64)),
        offset: None,
        tz: None,
        fill: None,
        group_by,
        order_by: None,
        limit: None,
        having: Vec::new(),
        explain: true,
        rollups: true,
        with_linked: false,
    }
}
