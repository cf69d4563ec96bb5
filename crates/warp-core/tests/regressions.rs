//! Ways the engine once lost data, answered wrongly or broke, found by trying it as a hostile
//! user and a bad day would; each test fails on the engine as it was and passes now.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use warp_core::format::MAX_EVENT_BYTES;
use warp_core::storage::{FaultyStorage, Storage};
use warp_core::Tier;
use warp_core::{
    Engine, Options, PassPlan, RangeOptions, RangeResult, SeriesKey, SeriesKind, Target, Value,
    Write,
};
use warp_core::{MAX_TIMESTAMP, MIN_TIMESTAMP};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn key(s: &str) -> SeriesKey {
    SeriesKey::parse(s).unwrap()
}

/// A pass that seals everything older than `now` and moves every ended window down.
fn settle(engine: &Engine, now: i64) -> warp_core::PassReport {
    let plan = PassPlan {
        now,
        seal_before: Some(now),
        cascade: true,
        ripe: engine
            .partitions()
            .unwrap()
            .iter()
            .map(|p| p.meta.id)
            .collect(),
        ripe_after_ms: [Some(0), Some(0), Some(0), None],
        lz4: [false, true, true, true],
        ..PassPlan::default()
    };
    engine.run_pass(&plan).unwrap()
}

fn event_count(engine: &Engine, id: u32) -> usize {
    match engine
        .range(
            id,
            MIN_TIMESTAMP,
            MAX_TIMESTAMP + 1,
            RangeOptions::default(),
        )
        .unwrap()
    {
        RangeResult::Event { payloads, .. } => payloads.len(),
        RangeResult::Numeric { .. } => panic!("events expected"),
    }
}

#[test]
fn large_events_survive_checkpoints_seals_compactions_and_reopens() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let big = engine
        .ensure_series(&key("big"), SeriesKind::Event)
        .unwrap();
    let many = engine
        .ensure_series(&key("many"), SeriesKind::Event)
        .unwrap();
    // 17 events at the size limit (68 MiB in one series) and 9,000 of 9 KB.
    let payload = vec![b'x'; MAX_EVENT_BYTES];
    for i in 0..17 {
        engine.put_event(big, i * 1000, &payload).unwrap();
    }
    let small = vec![b'y'; 9 * 1024];
    for i in 0..9000 {
        engine.put_event(many, i * 100, &small).unwrap();
    }
    // One byte past the limit is refused before it is acknowledged.
    let err = engine
        .put_event(big, 99_999, &vec![b'x'; MAX_EVENT_BYTES + 1])
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_VALUE");
    // Every way the events move: checkpoint and reopen, seal and compactions, reopen.
    let reopened = |engine: Engine| {
        engine.close().unwrap();
        drop(engine);
        let engine = open(&storage, sync_options()).unwrap();
        let counts = (event_count(&engine, big), event_count(&engine, many));
        assert_eq!(counts, (17, 9000));
        engine
    };
    let engine = reopened(engine);
    settle(&engine, 3 * DAY);
    for tier in [Tier::Monthly, Tier::Yearly] {
        engine.compact(tier, 0, true).unwrap();
    }
    assert_eq!(
        (event_count(&engine, big), event_count(&engine, many)),
        (17, 9000)
    );
    let engine = reopened(engine);
    match engine.get(big, 16_000).unwrap() {
        Some((16_000, Value::Event(p))) => assert_eq!(p.len(), MAX_EVENT_BYTES),
        other => panic!("{other:?}"),
    }
}

/// A database on real files with partitions in two tiers and a checkpoint.
fn sample_db(dir: &Path) -> Vec<(i64, u64)> {
    let engine = Engine::open(dir, Options::default()).unwrap();
    let id = engine
        .ensure_series(&key("m"), SeriesKind::Numeric)
        .unwrap();
    let ts: Vec<i64> = (0..3000).map(|i| i * 60_000).collect();
    let vs: Vec<f64> = ts.iter().map(|&t| (t / 60_000) as f64 / 4.0).collect();
    engine.put_batch(id, &ts, &vs).unwrap();
    engine.seal(40 * HOUR, false).unwrap();
    engine.compact(Tier::Daily, 0, true).unwrap();
    let points = dump(&engine).remove("m").unwrap();
    engine.close().unwrap();
    points
}

#[test]
fn a_lost_or_damaged_manifest_is_corruption_nothing_is_deleted_and_repair_rebuilds_it() {
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 5] = [
        ("removed", |f| std::fs::remove_file(f).unwrap()),
        ("emptied", |f| std::fs::write(f, b"").unwrap()),
        ("cut short", |f| {
            let bytes = std::fs::read(f).unwrap();
            std::fs::write(f, &bytes[..bytes.len() / 2]).unwrap()
        }),
        ("null", |f| std::fs::write(f, b"null").unwrap()),
        ("a changed digit", |f| {
            let text = std::fs::read_to_string(f).unwrap();
            std::fs::write(f, text.replacen("\"generation\": ", "\"generation\": 9", 1)).unwrap()
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let points = sample_db(dir.path());
        damage(&dir.path().join("temporal/manifest.json"));
        let before = files_under(dir.path());
        let err = Engine::open(dir.path(), Options::default()).err().unwrap();
        assert_eq!(err.code(), "CORRUPT_MANIFEST", "{what}");
        assert!(err.to_string().contains("repair"), "{what}: {err}");
        assert_eq!(
            files_under(dir.path()),
            before,
            "{what}: nothing may be deleted"
        );
        let repair = Options {
            repair: true,
            ..Options::default()
        };
        let engine = Engine::open(dir.path(), repair).unwrap();
        assert!(engine.stats().unwrap().recovery.rebuilt_manifest, "{what}");
        assert_eq!(dump(&engine)["m"], points, "{what}");
        engine.close().unwrap();
        let engine = Engine::open(dir.path(), Options::default()).unwrap();
        assert_eq!(dump(&engine)["m"], points, "{what}");
    }
}

#[test]
fn repair_rebuilds_a_partition_without_its_damaged_blocks_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    // Two series in one daily partition, each in several blocks (8192 points at most).
    let ts: Vec<i64> = (0..20_000).map(|i| i * 4_000).collect();
    for name in ["a", "b"] {
        let id = numeric(&engine, name);
        let vs: Vec<f64> = ts.iter().map(|&t| (t % 977) as f64).collect();
        engine.put_batch(id, &ts, &vs).unwrap();
    }
    engine.seal(DAY, false).unwrap();
    engine.compact(Tier::Daily, 0, false).unwrap();
    let full = dump(&engine);
    let part = engine.partitions().unwrap().pop().unwrap().meta;
    engine.close().unwrap();

    // Damage the body of series b's second block.
    let blocks = dir.path().join("temporal").join(&part.dir).join("blocks");
    let mut bytes = std::fs::read(&blocks).unwrap();
    let len = bytes.len();
    bytes[len * 7 / 10] ^= 0x5A;
    std::fs::write(&blocks, bytes).unwrap();

    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let b = engine.series_id(&key("b")).unwrap().unwrap();
    let err = engine.range(b, 0, DAY, Default::default()).unwrap_err();
    assert_eq!(err.code(), "CORRUPT_PARTITION");
    assert!(err.to_string().contains("repair"), "{err}");
    engine.close().unwrap();

    let repair = Options {
        repair: true,
        ..Options::default()
    };
    let engine = Engine::open(dir.path(), repair).unwrap();
    let stats = engine.stats().unwrap();
    assert_eq!(stats.recovery.repaired_partitions.len(), 1, "{stats:?}");
    let kept = dump(&engine);
    assert_eq!(kept["a"], full["a"], "series a lost nothing");
    let lost = full["b"].len() - kept["b"].len();
    assert!(
        lost > 0 && lost <= 8192,
        "one block's points are gone: {lost}"
    );
    assert!(
        kept["b"].iter().all(|p| full["b"].contains(p)),
        "nothing invented"
    );
    assert_eq!(stats.points, (full["a"].len() + kept["b"].len()) as u64);
    // The repair committed: a plain open and a lifecycle pass work again.
    engine.close().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    assert_eq!(dump(&engine), kept);
    engine.compact(Tier::Monthly, 0, true).unwrap();
    assert_eq!(dump(&engine), kept);
}

#[test]
fn a_lost_checkpoint_costs_only_its_live_points_and_a_lost_catalog_stops_a_repair() {
    let dir = tempfile::tempdir().unwrap();
    let points = sample_db(dir.path());
    let remove_all = |sub: &str| {
        for entry in std::fs::read_dir(dir.path().join(sub)).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    };
    remove_all("temporal/live/checkpoints");
    let before = files_under(dir.path());
    let err = Engine::open(dir.path(), Options::default()).err().unwrap();
    assert_eq!(err.code(), "CORRUPT_CHECKPOINT", "{err}");
    assert_eq!(files_under(dir.path()), before, "nothing may be deleted");

    // Without the catalog as well (and the manifest), nothing can name the partitions' series:
    // the repair refuses and deletes nothing.
    let copy = tempfile::tempdir().unwrap();
    for file in &before {
        let rel = std::path::Path::new(file).strip_prefix(dir.path()).unwrap();
        let to = copy.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(file, to).unwrap();
    }
    for entry in std::fs::read_dir(copy.path().join("temporal/live/indices")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    std::fs::remove_file(copy.path().join("temporal/manifest.json")).unwrap();
    let copied = files_under(copy.path());
    let repair = Options {
        repair: true,
        ..Options::default()
    };
    let err = Engine::open(copy.path(), repair.clone()).err().unwrap();
    assert_eq!(err.code(), "CORRUPT_CATALOG", "{err}");
    assert_eq!(files_under(copy.path()), copied, "nothing may be deleted");

    // With the catalog there, a repair keeps every sealed point and loses the live ones the
    // checkpoint held (their WAL segments were retired by it).
    let engine = Engine::open(dir.path(), repair).unwrap();
    let stats = engine.stats().unwrap();
    assert!(stats.recovery.lost_checkpoint.is_some());
    let sealed: Vec<(i64, u64)> = points.iter().copied().filter(|p| p.0 < 40 * HOUR).collect();
    assert_eq!(dump(&engine)["m"], sealed);
    engine.close().unwrap();
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    assert_eq!(dump(&engine)["m"], sealed);
}

type Dump = std::collections::BTreeMap<String, Vec<(i64, u64)>>;

/// A database with partitions and live points; returns its storage, engine and data.
fn backup_source() -> (FaultyStorage, Engine, Dump) {
    let storage = FaultyStorage::new();
    let engine = open(&storage, Options::default()).unwrap();
    let id = numeric(&engine, "m");
    let ts: Vec<i64> = (0..500).map(|i| i * 600_000).collect();
    engine.put_batch(id, &ts, &vec![1.5; 500]).unwrap();
    engine.seal(50 * HOUR, false).unwrap();
    engine.put_numeric(id, 100 * HOUR, 2.5).unwrap();
    let rules = vec![("retention_policies.json".to_owned(), b"{}".to_vec())];
    engine.write_rules(&rules).unwrap();
    let data = dump(&engine);
    (storage, engine, data)
}

/// Whether any file lies under `dir` (the directories a copy creates first hold nothing).
fn holds_files(storage: &dyn Storage, dir: &Path) -> bool {
    storage.list(dir).unwrap_or_default().iter().any(|name| {
        let path = dir.join(name);
        match storage.is_dir(&path).unwrap() {
            Some(true) => holds_files(storage, &path),
            _ => true,
        }
    })
}

#[test]
fn a_backup_cut_short_never_opens_as_part_of_the_data() {
    let (storage, engine, _) = backup_source();
    let start = storage.ops();
    engine.backup(Path::new("/copy")).unwrap();
    let ops = storage.ops() - start;
    for n in 0..ops {
        let (storage, engine, full) = backup_source();
        storage.fail_op(storage.ops() + n);
        if engine.backup(Path::new("/copy")).is_ok() {
            continue;
        }
        for image in [storage.clone(), storage.crash()] {
            let empty = !holds_files(&image, Path::new("/copy"));
            match Engine::open_with(Arc::new(image), Path::new("/copy"), Options::default()) {
                Err(e) => assert_eq!(e.code(), "CORRUPT_MANIFEST", "op {n}: {e}"),
                // Only a copy that wrote no file yet may open, and then as a new database.
                Ok(copy) => {
                    let data = dump(&copy);
                    assert!(
                        (empty && data.is_empty()) || data == full,
                        "op {n}: a partial copy opened"
                    );
                }
            }
        }
    }
}

#[test]
fn a_backup_into_the_database_itself_is_refused_even_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    sample_db(dir.path());
    let engine = Engine::open(dir.path(), Options::default()).unwrap();
    let before = files_under(dir.path());
    let inside = dir.path().join("temporal/copy");
    assert_eq!(
        engine.backup(&inside).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        engine.backup(dir.path()).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        let link = outside.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let err = engine.backup(&link.join("copy")).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
    }
    assert_eq!(files_under(dir.path()), before, "no file was written");
}

#[test]
fn a_crafted_index_whose_offsets_wrap_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    sample_db(dir.path());
    let index = dir
        .path()
        .join("temporal/recent/hourly/1970-01-02-00/index");
    let mut bytes = std::fs::read(&index).unwrap();
    // The first group's data span (header 40 bytes; table entries of 48, the data offset at
    // 24 and its length at 32), so that offset + length wraps around u64; the table's CRC
    // made to match.
    let groups = u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize;
    bytes[40 + 32..40 + 40].copy_from_slice(&(u64::MAX - 5).to_le_bytes());
    let crc = crc32c::crc32c(&bytes[40..40 + groups * 48]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&index, &bytes).unwrap();
    let err = Engine::open(dir.path(), Options::default()).err().unwrap();
    assert_eq!(err.code(), "CORRUPT_PARTITION");
}

/// Runs `f` on another thread; fails the test if it does not finish in time (instead of
/// hanging the whole run).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} waited for an fsync"))
}

#[test]
fn stats_and_puts_never_wait_for_an_fsync() {
    let storage = FaultyStorage::new();
    let engine = Arc::new(open(&storage, sync_options()).unwrap());
    let id = numeric(&engine, "m");
    let paused = storage.pause_sync("/wal/");
    let writer = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.wait_durable(engine.put_numeric(id, 1, 1.0)?))
    };
    paused.wait();
    // The group commit is inside fsync, holding the WAL writer.
    let e = engine.clone();
    within("stats()", move || e.stats().unwrap());
    let e = engine.clone();
    within("put", move || e.put_numeric(id, 2, 2.0).unwrap());
    paused.release();
    writer.join().unwrap().unwrap();
}

#[test]
fn latest_and_as_of_see_a_late_correction_made_while_a_seal_is_writing() {
    let storage = FaultyStorage::new();
    let engine = Arc::new(open(&storage, sync_options()).unwrap());
    let id = numeric(&engine, "m");
    let ts: Vec<i64> = (0..100).map(|i| i * 60_000).collect();
    engine.put_batch(id, &ts, &vec![1.0; 100]).unwrap();
    let paused = storage.pause_sync("recent/hourly");
    let sealer = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.seal(10 * HOUR, false))
    };
    paused.wait();
    // Every point is in the seal's set now; the live tier gets a late correction.
    engine.put_numeric(id, 50 * 60_000, 7.0).unwrap();
    let check = |when: &str| {
        let latest = engine.latest(id).unwrap().map(|p| p.0);
        assert_eq!(latest, Some(99 * 60_000), "{when}: latest");
        assert_eq!(
            engine.get(id, 60 * 60_000).unwrap().map(|p| p.0),
            Some(60 * 60_000),
            "{when}"
        );
        assert_eq!(
            engine.get(id, 50 * 60_000).unwrap(),
            Some((50 * 60_000, Value::Number(7.0)))
        );
    };
    check("during the seal");
    paused.release();
    assert_eq!(sealer.join().unwrap().unwrap(), 100);
    check("after the seal");
}

#[test]
fn retention_never_brings_back_an_overwritten_value() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let id = numeric(&engine, "m");
    let jan_2025 = 1_736_000_000_000; // 2025-01-04
    let jun_2026 = 1_781_000_000_000; // 2026-06-09
    for t in [jan_2025, jun_2026] {
        engine.put_numeric(id, t, 1.0).unwrap();
    }
    let dec_01_2026 = 1_796_083_200_000;
    settle(&engine, dec_01_2026);
    let yearly = engine.partitions().unwrap();
    assert!(
        yearly.iter().any(|p| p.meta.tier == Tier::Yearly),
        "{yearly:?}"
    );
    // Overwrites of points now in the yearly tier, sealed into overlays.
    for t in [jan_2025, jun_2026] {
        engine.put_numeric(id, t, 2.0).unwrap();
    }
    settle(&engine, dec_01_2026 + HOUR);
    let dec_20_2026 = dec_01_2026 + 19 * DAY;
    let plan = PassPlan {
        now: dec_20_2026,
        expire_before: Some(dec_20_2026 - 365 * DAY),
        ..PassPlan::default()
    };
    engine.run_pass(&plan).unwrap();
    // Older than the horizon: gone wherever it was stored. Newer: the overwrite.
    assert_eq!(engine.get(id, jan_2025).unwrap(), None);
    assert_eq!(
        engine.get(id, jun_2026).unwrap(),
        Some((jun_2026, Value::Number(2.0)))
    );
    drop(engine);
    let engine = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(engine.get(id, jan_2025).unwrap(), None);
    assert_eq!(dump(&engine)["m"], vec![(jun_2026, 2.0f64.to_bits())]);
}

#[test]
fn late_writes_into_a_compacted_year_converge_into_the_yearly_tier() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let id = numeric(&engine, "m");
    let year_2025 = 1_735_689_600_000;
    let ts: Vec<i64> = (0..2000).map(|i| year_2025 + i * 4 * HOUR).collect();
    engine.put_batch(id, &ts, &vec![1.0; 2000]).unwrap();
    let now = year_2025 + 400 * DAY;
    settle(&engine, now);
    for round in 0..12 {
        // A late point into the compacted year, then a pass.
        engine
            .put_numeric(id, year_2025 + round * 7 * DAY + 1, 5.0)
            .unwrap();
        settle(&engine, now + round * HOUR);
        let of_2025: Vec<_> = engine
            .partitions()
            .unwrap()
            .into_iter()
            .filter(|p| p.meta.start >= year_2025 && p.meta.end <= year_2025 + 365 * DAY)
            .collect();
        assert!(
            of_2025.iter().all(|p| p.meta.tier == Tier::Yearly),
            "round {round}: {of_2025:?}"
        );
        assert!(
            of_2025.len() <= 4,
            "round {round}: {} partitions",
            of_2025.len()
        );
    }
    assert_eq!(dump(&engine)["m"].len(), 2012);
}

#[test]
fn a_rejected_write_creates_nothing() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let c = key("c");
    let bad_batch = Write::Batch {
        timestamps: &[MAX_TIMESTAMP + 1],
        values: &[1.0],
    };
    assert_eq!(
        engine.write(Target::Key(&c), bad_batch).unwrap_err().code(),
        "INVALID_TIMESTAMP"
    );
    let too_big = vec![0u8; MAX_EVENT_BYTES + 1];
    let bad_event = Write::Event {
        ts: 1,
        payload: &too_big,
    };
    assert_eq!(
        engine.write(Target::Key(&c), bad_event).unwrap_err().code(),
        "INVALID_VALUE"
    );
    assert_eq!(engine.series_id(&c).unwrap(), None);
    // Its first real write decides its kind.
    engine
        .write(
            Target::Key(&c),
            Write::Event {
                ts: 1,
                payload: b"{}",
            },
        )
        .unwrap();
    drop(engine);
    let engine = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(engine.series().unwrap().len(), 1);
    assert_eq!(engine.series().unwrap()[0].kind, SeriesKind::Event);
}

#[test]
fn points_at_the_extreme_timestamps_keep_every_mechanism_working() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let id = numeric(&engine, "m");
    for (ok, bad) in [
        (MIN_TIMESTAMP, MIN_TIMESTAMP - 1),
        (MAX_TIMESTAMP, MAX_TIMESTAMP + 1),
    ] {
        engine.put_numeric(id, ok, 1.0).unwrap();
        assert_eq!(
            engine.put_numeric(id, bad, 1.0).unwrap_err().code(),
            "INVALID_TIMESTAMP"
        );
    }
    engine.put_numeric(id, 0, 1.0).unwrap();
    for now in [DAY, 1_800_000_000_000, MAX_TIMESTAMP + 1] {
        settle(&engine, now);
    }
    let plan = PassPlan {
        now: MAX_TIMESTAMP,
        expire_before: Some(MIN_TIMESTAMP + DAY),
        recompress: true,
        lz4: [true; 4],
        ..PassPlan::default()
    };
    engine.run_pass(&plan).unwrap();
    assert!(engine
        .partitions()
        .unwrap()
        .iter()
        .any(|p| p.meta.dir.ends_with("9999")));
    engine.close().unwrap();
    drop(engine);
    let engine = open(&storage, sync_options()).unwrap();
    let stored: Vec<i64> = dump(&engine)["m"].iter().map(|p| p.0).collect();
    assert_eq!(stored, vec![0, MAX_TIMESTAMP]);
    assert_eq!(engine.latest(id).unwrap().map(|p| p.0), Some(MAX_TIMESTAMP));
}

#[test]
fn point_counts_are_what_reads_return() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let id = numeric(&engine, "m");
    let ts: Vec<i64> = (0..100).map(|i| i * 60_000).collect();
    engine.put_batch(id, &ts, &vec![1.0; 100]).unwrap();
    engine.seal(HOUR, false).unwrap();
    // Rewrites of sealed points: once in the live tier, once in an overlay, once folded.
    engine.put_batch(id, &ts[..10], &[2.0; 10]).unwrap();
    let expect = |when: &str| {
        let read = dump(&engine)["m"].len() as u64;
        assert_eq!(read, 100, "{when}");
        assert_eq!(engine.series().unwrap()[0].points, read, "{when}: series()");
        assert_eq!(engine.stats().unwrap().points, read, "{when}: stats()");
    };
    expect("live over a partition");
    engine.seal(2 * HOUR, false).unwrap();
    expect("overlay over a partition");
    engine.compact(Tier::Daily, 0, true).unwrap();
    expect("folded");
    engine.expire(30 * 60_000).unwrap();
    let read = dump(&engine)["m"].len() as u64;
    assert_eq!(read, 70);
    assert_eq!(engine.stats().unwrap().points, read, "past the horizon");
}

#[test]
fn late_points_scattered_over_many_hours_are_one_commit() {
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let id = numeric(&engine, "m");
    let year_2025 = 1_735_689_600_000;
    engine.put_numeric(id, year_2025, 1.0).unwrap();
    let now = year_2025 + 400 * DAY;
    settle(&engine, now);
    for i in 0..400 {
        engine
            .put_numeric(id, year_2025 + (i * 7 + 1) * HOUR, 2.0)
            .unwrap();
    }
    let generation = engine.stats().unwrap().manifest_generation;
    settle(&engine, now + HOUR);
    assert_eq!(engine.stats().unwrap().manifest_generation, generation + 1);
    let tiers: Vec<Tier> = engine
        .partitions()
        .unwrap()
        .iter()
        .map(|p| p.meta.tier)
        .collect();
    assert!(
        tiers.iter().all(|&t| t == Tier::Yearly) && tiers.len() <= 2,
        "{tiers:?}"
    );
    assert_eq!(dump(&engine)["m"].len(), 401);
}

#[test]
fn series_key_limits_hold_at_the_limit_and_one_past_on_write_and_reopen() {
    use warp_core::{MAX_KEY_BYTES, MAX_METRIC_BYTES, MAX_TAGS, MAX_TAG_VALUE_BYTES};
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let tags = |n: usize, value_len: usize| -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("k{i:02}"), "v".repeat(value_len)))
            .collect()
    };
    // The widest key that fits: as many tags as allowed, values as long as the key allows.
    let longest_value = (MAX_KEY_BYTES - MAX_METRIC_BYTES - 2) / MAX_TAGS - 8;
    let metric = "m".repeat(MAX_METRIC_BYTES);
    let widest = SeriesKey::new(
        &metric,
        tags(MAX_TAGS, longest_value.min(MAX_TAG_VALUE_BYTES)),
    )
    .unwrap();
    assert!(widest.canonical().len() <= MAX_KEY_BYTES);
    let refused = [
        SeriesKey::new(&metric, tags(MAX_TAGS + 1, 1)),
        SeriesKey::new(&format!("{metric}m"), tags(1, 1)),
        SeriesKey::new("m", tags(1, MAX_TAG_VALUE_BYTES + 1)),
        SeriesKey::new(&metric, tags(MAX_TAGS, longest_value + 20)),
    ];
    for r in refused {
        assert_eq!(r.unwrap_err().code(), "INVALID_SERIES");
    }
    let write = Write::Number { ts: 5, value: 1.0 };
    let (id, _) = engine.write(Target::Key(&widest), write).unwrap();
    engine.checkpoint().unwrap();
    engine
        .write(Target::Key(&widest), Write::Number { ts: 6, value: 2.0 })
        .unwrap();
    drop(engine);
    let engine = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(engine.series_id(&widest).unwrap(), Some(id));
    assert_eq!(dump(&engine)[&widest.canonical()].len(), 2);
}

#[test]
fn the_engines_own_series_cannot_be_written_by_name() {
    // A by-name write looks the text up before parsing it; it once found the engine's own
    // series that way (`__stream:…`, rollup cells) and wrote into them.
    let storage = FaultyStorage::new();
    let engine = open(&storage, sync_options()).unwrap();
    let own = engine.stream_series("log", SeriesKind::Numeric).unwrap();
    let name = "__stream:log";
    let write = Write::Number { ts: 5, value: 1.0 };
    fn code<T: std::fmt::Debug>(r: warp_core::Result<T>) -> warp_core::ErrorCode {
        r.unwrap_err().code()
    }
    assert_eq!(
        code(engine.write(Target::Text(name), write)),
        "INVALID_SERIES"
    );
    assert_eq!(
        code(engine.ensure_named(name, SeriesKind::Numeric)),
        "INVALID_SERIES"
    );
    let read = engine.range(own, 0, 10, RangeOptions::default()).unwrap();
    assert!(matches!(read, RangeResult::Numeric { timestamps, .. } if timestamps.is_empty()));
    assert!(engine.series_id(&key("cpu")).unwrap().is_none());
    // Any other text form of a series is found as before, canonical or not.
    let id = engine
        .ensure_named(r#"cpu{host="a",dc="x"}"#, SeriesKind::Numeric)
        .unwrap();
    assert_eq!(
        engine
            .ensure_named(r#"cpu{dc="x",host="a"}"#, SeriesKind::Numeric)
            .unwrap(),
        id
    );
    assert_eq!(
        engine
            .ensure_named("cpu{dc=x, host=a}", SeriesKind::Numeric)
            .unwrap(),
        id
    );
    assert_eq!(
        code(engine.ensure_named("cpu{dc=x,host=a}", SeriesKind::Event)),
        "TYPE_MISMATCH"
    );
    assert_eq!(
        code(engine.ensure_named("cpu{", SeriesKind::Numeric)),
        "INVALID_SERIES"
    );
}
