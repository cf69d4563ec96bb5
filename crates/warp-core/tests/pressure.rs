//! The live tier's memory bound. The memory it accounts is the memory its points hold; past
//! the bound it is sealed early (on the engine's own thread, through an ordinary pass), so
//! while far more than the bound is written memory stays within the hard limit, every point
//! stays readable (during the early seals, after them, after a reopen, and after a crash in
//! the middle of one) and rollups stay exact; the 'fail' policy refuses writes without losing
//! anything acknowledged or leaving a trace.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::rollups::{check, query, random_query, rollup_spec, write_random, Rng, AGGS};
use common::rollups::{MINUTE, START};
use common::*;
use warp_core::query::GroupBy;
use warp_core::storage::{FaultyStorage, Op};
use warp_core::{
    Engine, ErrorCode, OnPressure, Options, SeriesKey, SeriesKind, Target, Tier, Write,
    MAX_LIVE_BYTES, MIN_LIVE_BYTES,
};

/// Counts the heap each thread holds (what it allocated minus what it freed), so a test can
/// weigh what its own writes cost.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = HELD.try_with(|h| h.set(h.get() + delta));
}

fn held() -> isize {
    HELD.with(Cell::get)
}

// SAFETY: every call goes to the system allocator unchanged; counting touches only a
// thread-local integer (no allocation, no destructor).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What one write may add beyond its own points: a step of its column's growth (the crate's
/// `GROWTH_STEP` points of 16 bytes, for columns under eight steps like these).
const GROWTH_BYTES: u64 = 65_536 * 16;
const SECOND: i64 = 1000;
const HOUR: i64 = 3600 * SECOND;

fn bounded(bound: usize, on_pressure: OnPressure) -> Options {
    Options {
        max_live_bytes: bound,
        on_pressure,
        ..sync_options()
    }
}

fn value(series: u32, ts: i64) -> f64 {
    (ts % 10_007) as f64 + f64::from(series) / 4.0
}

fn live_bytes(db: &Engine) -> u64 {
    db.pressure().unwrap().live_bytes
}

#[test]
fn the_bound_is_validated() {
    for bad in [0, 1000, MIN_LIVE_BYTES - 1, MAX_LIVE_BYTES + 1, usize::MAX] {
        let Err(err) = open(&FaultyStorage::new(), bounded(bad, OnPressure::Block)) else {
            panic!("a bound of {bad} bytes was accepted");
        };
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{bad}");
    }
    let db = open(
        &FaultyStorage::new(),
        bounded(MIN_LIVE_BYTES, OnPressure::Fail),
    )
    .unwrap();
    let p = db.pressure().unwrap();
    assert_eq!(
        (p.live_bound, p.wal_bound),
        (MIN_LIVE_BYTES as u64, 4 << 20)
    );
    assert!(!p.sealing);
}

#[test]
fn the_accounted_memory_is_the_memory_the_points_hold() {
    let dir = tempfile::tempdir().unwrap();
    // Sync mode on a real directory: no flusher thread takes the WAL buffer off this thread's
    // count, no in-memory file grows on it, and a bound never reached keeps the sealer asleep.
    let options = Options {
        segment_bytes: 1 << 30,
        ..bounded(MAX_LIVE_BYTES, OnPressure::Block)
    };
    let db = Engine::open(dir.path(), options).unwrap();
    let numbers: Vec<u32> = (0..100).map(|i| numeric(&db, &format!("n{i}"))).collect();
    let events: Vec<u32> = (0..10)
        .map(|i| {
            let key = SeriesKey::parse(&format!("e{i}")).unwrap();
            db.ensure_series(&key, SeriesKind::Event).unwrap()
        })
        .collect();
    // The WAL buffer reaches its steady capacity first.
    let warm = numeric(&db, "warm");
    let ts: Vec<i64> = (0..400_000).collect();
    db.put_batch(warm, &ts, &vec![0.0; ts.len()]).unwrap();
    db.flush().unwrap();

    let (heap_before, accounted_before) = (held(), live_bytes(&db));
    let mut rng = Rng(42);
    let mut points = 0usize;
    let mut payload_bytes = 0usize;
    for round in 0..100i64 {
        for &id in &numbers {
            let n = 1 + rng.below(300) as usize;
            let ts: Vec<i64> = (0..n as i64).map(|k| round * 1000 + k).collect();
            db.put_batch(id, &ts, &vec![1.5; n]).unwrap();
            points += n;
        }
        for _ in 0..300 {
            // Singles, a third of them late (sorted in by the reads below).
            let id = numbers[rng.below(100) as usize];
            let ts = round * 1000 + 500 + rng.below(400) as i64 - 300 * (rng.below(3) == 0) as i64;
            db.put_numeric(id, ts, 2.5).unwrap();
        }
        for &id in &events {
            let payload = vec![b'x'; rng.below(400) as usize];
            payload_bytes += payload.len();
            db.put_event(id, round, &payload).unwrap();
        }
    }
    for &id in &numbers {
        db.range(id, 0, i64::MAX / 2, Default::default()).unwrap();
    }
    db.flush().unwrap();
    let heap = (held() - heap_before) as u64;
    let accounted = live_bytes(&db) - accounted_before;
    eprintln!(
        "{points} numeric points and 1000 events ({payload_bytes} payload bytes): \
         {heap} bytes allocated, {accounted} accounted ({:.1} per numeric point)",
        accounted as f64 / points as f64
    );
    assert!(
        heap.abs_diff(accounted) <= heap / 100,
        "{accounted} bytes accounted for {heap} held"
    );
}

/// Writes `batches` batches of 2048 points to `m{s=0..3}` in turn, each series 10 ms apart
/// (hours of data), every 16th batch of `s=3` rewriting an hour back (an overlay once that
/// hour is sealed); checks after each write that memory is within the hard limit.
#[test]
fn memory_stays_within_the_hard_limit_and_every_point_stays_readable() {
    const BOUND: usize = 4 << 20;
    const BATCH: i64 = 2048;
    const SERIES: u32 = 4;
    let storage = FaultyStorage::new();
    let db = Arc::new(open(&storage, bounded(BOUND, OnPressure::Block)).unwrap());
    let ids: Vec<u32> = (0..SERIES)
        .map(|s| numeric(&db, &format!("m{{s={s}}}")))
        .collect();
    let limit = 2 * BOUND as u64 + BATCH as u64 * 16 + GROWTH_BYTES;

    // A reader meanwhile: every point of `s=0` acknowledged before a read is in it.
    let acked0 = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (db, acked0, done, id) = (db.clone(), acked0.clone(), done.clone(), ids[0]);
        thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                let before = acked0.load(Ordering::Acquire);
                let got = db.range(id, 0, i64::MAX / 2, Default::default()).unwrap();
                let warp_core::RangeResult::Numeric { timestamps, values } = got else {
                    panic!("not numeric")
                };
                assert!(
                    timestamps.len() >= before,
                    "{} < {before}",
                    timestamps.len()
                );
                for (t, v) in timestamps.iter().zip(&values).step_by(997) {
                    assert_eq!(*v, value(0, *t));
                }
                reads += 1;
                thread::sleep(Duration::from_millis(2));
            }
            reads
        })
    };

    let mut written = vec![0i64; SERIES as usize];
    let mut peak = 0;
    for b in 0..2000 {
        let s = b % SERIES as usize;
        let start = if s == 3 && b % 64 == 63 && written[s] * 10 > HOUR {
            START + written[s] * 10 - HOUR
        } else {
            let start = START + written[s] * 10;
            written[s] += BATCH;
            start
        };
        let ts: Vec<i64> = (0..BATCH).map(|k| start + k * 10).collect();
        let vs: Vec<f64> = ts.iter().map(|&t| value(s as u32, t)).collect();
        db.put_batch(ids[s], &ts, &vs).unwrap();
        if s == 0 {
            acked0.store(written[0] as usize, Ordering::Release);
        }
        let now = live_bytes(&db);
        peak = peak.max(now);
        assert!(
            now <= limit,
            "{now} bytes live after batch {b} (limit {limit})"
        );
        if b % 200 == 199 {
            for (s, &id) in ids.iter().enumerate() {
                assert_eq!(point_count(&db, id), written[s] as usize, "batch {b}");
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let stats = db.stats().unwrap();
    let written_bytes = written.iter().sum::<i64>() as u64 * 16;
    eprintln!(
        "{written_bytes} bytes written under a bound of {BOUND}: peak {peak}, {:?}",
        stats.pressure
    );
    assert!(written_bytes > 15 * BOUND as u64);
    assert!(peak > BOUND as u64, "the bound was never reached");
    assert!(stats.pressure.early_seals >= 4, "{:?}", stats.pressure);
    assert_eq!(stats.pressure.live_bound, BOUND as u64);

    let expected = expected(&written);
    same(&dump(&db), &expected, "after writing");
    db.close().unwrap();
    drop(db);
    for image in [storage.clone(), storage.crash()] {
        let db = open(&image, sync_options()).unwrap();
        same(&dump(&db), &expected, "after reopening");
    }
}

/// Asserts two dumps are equal, naming the first difference.
fn same(
    got: &BTreeMap<String, Vec<(i64, u64)>>,
    want: &BTreeMap<String, Vec<(i64, u64)>>,
    context: &str,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{context}"
    );
    for (key, points) in want {
        let have = &got[key];
        let first = have.iter().zip(points).position(|(a, b)| a != b);
        assert!(
            first.is_none() && have.len() == points.len(),
            "{context}: {key} has {} points, {} wanted; first difference at {first:?}: {:?} vs {:?}",
            have.len(),
            points.len(),
            first.map(|i| have[i]),
            first.map(|i| points[i]),
        );
    }
}

fn point_count(db: &Engine, id: u32) -> usize {
    db.series()
        .unwrap()
        .iter()
        .find(|s| s.id == id)
        .map_or(0, |s| s.points as usize)
}

/// What `memory_stays_within_the_hard_limit…` wrote: `n` points of each series from START.
fn expected(written: &[i64]) -> BTreeMap<String, Vec<(i64, u64)>> {
    (0u32..)
        .zip(written)
        .map(|(s, &n)| {
            let points = (0..n)
                .map(|k| {
                    let t = START + k * 10;
                    (t, value(s, t).to_bits())
                })
                .collect();
            (format!("m{{s=\"{s}\"}}"), points)
        })
        .collect()
}

/// Sync-mode batches of 1024 points a second apart (four an hour), each acknowledged, until
/// `stop`; returns how many were attempted. `acked` counts the acknowledged ones.
fn write_until(db: &Engine, acked: &AtomicUsize, stop: &AtomicBool) -> usize {
    let id = numeric(db, "m");
    let mut b = 0;
    while !stop.load(Ordering::Relaxed) {
        let ts: Vec<i64> = (0..1024).map(|k| START + (b * 1024 + k) * SECOND).collect();
        let vs: Vec<f64> = ts.iter().map(|&t| value(0, t)).collect();
        let seq = db.put_batch(id, &ts, &vs).unwrap();
        db.wait_durable(seq).unwrap();
        b += 1;
        acked.store(b as usize, Ordering::Release);
    }
    b as usize
}

/// The image holds every acknowledged batch, with its values, and nothing never written.
fn check_image(image: &FaultyStorage, acked: usize, attempted: usize, context: &str) {
    let db = open(image, sync_options()).unwrap();
    let points = dump(&db).remove("m").unwrap_or_default();
    assert!(
        points.len() >= acked * 1024,
        "{context}: {} points",
        points.len()
    );
    for (t, bits) in points {
        assert!(
            t < START + attempted as i64 * 1024 * SECOND,
            "{context}: {t}"
        );
        assert_eq!(f64::from_bits(bits), value(0, t), "{context}: {t}");
    }
}

#[test]
fn a_crash_in_the_middle_of_an_early_seal_loses_nothing_acknowledged() {
    // The first fsync of the seal's partitions, of its checkpoint, of its manifest (the commit
    // point): each step of the pass.
    for part in ["recent/hourly/", ".ckpt", "manifest.json"] {
        let storage = FaultyStorage::new();
        let db = Arc::new(open(&storage, bounded(256 << 10, OnPressure::Block)).unwrap());
        let (acked, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let paused = storage.pause_sync(part);
        let writer = {
            let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
            thread::spawn(move || write_until(&db, &acked, &stop))
        };
        paused.wait();
        assert!(db.pressure().unwrap().sealing, "{part}");
        let before = acked.load(Ordering::Acquire);
        let images = [storage.crash(), storage.crash_losing_pages(before as u64)];
        paused.release();
        // More early seals after the one that was cut.
        while db.stats().unwrap().pressure.early_seals < 3 {
            thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::Relaxed);
        let attempted = writer.join().unwrap();
        for image in &images {
            check_image(image, before, attempted, &format!("paused at {part}"));
        }
        let all = acked.load(Ordering::Acquire);
        drop(db);
        check_image(&storage.crash(), all, attempted, "after the run");
    }
}

#[test]
fn crash_images_taken_while_early_seals_run_keep_every_acknowledged_point() {
    let storage = FaultyStorage::new();
    let db = Arc::new(open(&storage, bounded(128 << 10, OnPressure::Block)).unwrap());
    let (acked, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let writer = {
        let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
        thread::spawn(move || write_until(&db, &acked, &stop))
    };
    let mut images = Vec::new();
    for n in 0..40 {
        thread::sleep(Duration::from_millis(3));
        let before = acked.load(Ordering::Acquire);
        let image = if n % 2 == 0 {
            storage.crash()
        } else {
            storage.crash_losing_pages(n)
        };
        images.push((image, before));
    }
    stop.store(true, Ordering::Relaxed);
    let attempted = writer.join().unwrap();
    assert!(db.stats().unwrap().pressure.early_seals >= 3);
    for (n, (image, before)) in images.iter().enumerate() {
        check_image(image, *before, attempted, &format!("image {n}"));
    }
}

#[test]
fn fail_refuses_writes_without_a_trace_and_loses_nothing_acknowledged() {
    let storage = FaultyStorage::new();
    let db = Arc::new(open(&storage, bounded(MIN_LIVE_BYTES, OnPressure::Fail)).unwrap());
    let id = numeric(&db, "m");
    // The early seal cannot commit until released.
    let paused = storage.pause_sync("recent/hourly/");
    let batch = |b: i64| -> (Vec<i64>, Vec<f64>) {
        let ts: Vec<i64> = (0..256).map(|k| START + (b * 256 + k) * SECOND).collect();
        let vs = ts.iter().map(|&t| value(0, t)).collect();
        (ts, vs)
    };
    let mut acked = 0;
    let mut refused = 0;
    let mut write_until_refused = |db: &Engine| loop {
        let (ts, vs) = batch(acked);
        match db.put_batch(id, &ts, &vs) {
            Ok(seq) => db.wait_durable(seq).unwrap(),
            Err(e) => {
                refused += 1;
                break e;
            }
        }
        acked += 1;
        assert!(acked < 1000, "never refused");
    };
    let err = write_until_refused(&db);
    assert_eq!(err.code(), ErrorCode::Backpressure, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("hard limit") && message.contains("maxLiveBytes"),
        "{message}"
    );
    // Once the seal is stuck before its commit, memory cannot drop (its split may have freed
    // spare capacity before: a few more batches may fit).
    paused.wait();
    write_until_refused(&db);
    assert!(
        acked * 256 * 16 >= MIN_LIVE_BYTES as i64,
        "refused after {acked} batches"
    );
    let mut expected: Vec<i64> = (0..acked * 256).map(|k| START + k * SECOND).collect();
    let stored = |db: &Engine| -> Vec<i64> {
        dump(db)
            .remove("m")
            .unwrap_or_default()
            .iter()
            .map(|p| p.0)
            .collect()
    };
    assert_eq!(stored(&db), expected, "a refused batch left a trace");
    // Nor does a refused single point, or a refused write that would create a series.
    let mut single = START + acked * 256 * SECOND;
    let err = loop {
        match db.put_numeric(id, single, value(0, single)) {
            Ok(_) => expected.push(single),
            Err(e) => break e,
        }
        single += SECOND;
    };
    assert_eq!(err.code(), ErrorCode::Backpressure);
    let fresh = SeriesKey::parse("fresh").unwrap();
    let write = Write::Number { ts: 0, value: 1.0 };
    let err = db.write(Target::Key(&fresh), write).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Backpressure);
    assert_eq!(db.series_id(&fresh).unwrap(), None);
    assert_eq!(stored(&db), expected);
    refused += 2;

    // A put buffer's hand-over (points it already acknowledged) waits instead.
    let ts: Vec<i64> = (0..256).map(|k| single + k * SECOND).collect();
    let vs: Vec<f64> = ts.iter().map(|&t| value(0, t)).collect();
    let handover = {
        let (db, ts, vs) = (db.clone(), ts.clone(), vs.clone());
        thread::spawn(move || db.put_points(&vec![id; ts.len()], &ts, &vs))
    };
    thread::sleep(Duration::from_millis(100));
    let waited = !handover.is_finished();
    paused.release();
    assert!(waited, "the hand-over did not wait");
    handover.join().unwrap().unwrap();
    expected.extend(&ts);

    // Whatever the sealer has not sealed yet (perhaps nothing).
    db.relieve().unwrap();
    assert_eq!(db.stats().unwrap().live_points, 0);
    let ts: Vec<i64> = (0..256).map(|k| single + (256 + k) * SECOND).collect();
    let vs: Vec<f64> = ts.iter().map(|&t| value(0, t)).collect();
    db.put_batch(id, &ts, &vs).unwrap();
    expected.extend(&ts);
    let p = db.stats().unwrap().pressure;
    assert!(p.rejected == refused && p.engaged == refused + 1, "{p:?}");
    assert!(p.engaged_ms >= 50.0, "{p:?}");
    assert!(p.early_seals >= 1, "{p:?}");
    assert_eq!(stored(&db), expected);
    db.flush().unwrap();
    drop(db);
    let db = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(stored(&db), expected);
    assert_eq!(db.series_id(&fresh).unwrap(), None);
}

#[test]
fn a_failed_early_seal_fails_the_waiting_write_and_loses_nothing() {
    let storage = FaultyStorage::new();
    let db = Arc::new(open(&storage, bounded(MIN_LIVE_BYTES, OnPressure::Block)).unwrap());
    let id = numeric(&db, "m");
    // The seal's first step, the WAL roll, waits until released (the writer never fsyncs).
    let paused = storage.pause_sync("wal/");
    let writer = {
        let db = db.clone();
        thread::spawn(move || {
            for b in 0i64.. {
                let ts: Vec<i64> = (0..256).map(|k| START + (b * 256 + k) * SECOND).collect();
                let vs: Vec<f64> = ts.iter().map(|&t| value(0, t)).collect();
                if let Err(e) = db.put_batch(id, &ts, &vs) {
                    return (b, e);
                }
            }
            unreachable!()
        })
    };
    paused.wait();
    // The writer reaches the hard limit and waits; then the seal fails making its partition.
    while db.stats().unwrap().pressure.engaged == 0 {
        thread::sleep(Duration::from_millis(1));
    }
    storage.fail_next(Op::Mkdir);
    paused.release();
    let (acked, err) = writer.join().unwrap();
    assert_eq!(err.code(), ErrorCode::Backpressure, "{err}");
    assert!(err.to_string().contains("injected"), "{err}");
    let stored = |db: &Engine| dump(db).remove("m").unwrap_or_default().len() as i64;
    assert_eq!(stored(&db), acked * 256, "the failed write left a trace");
    // The same write again goes through, and seals work again.
    let ts: Vec<i64> = (0..256)
        .map(|k| START + (acked * 256 + k) * SECOND)
        .collect();
    let vs: Vec<f64> = ts.iter().map(|&t| value(0, t)).collect();
    db.put_batch(id, &ts, &vs).unwrap();
    db.flush().unwrap();
    assert!(db.relieve().unwrap() > 0);
    drop(db);
    let db = open(&storage.crash(), sync_options()).unwrap();
    let points = dump(&db).remove("m").unwrap();
    assert_eq!(points.len() as i64, (acked + 1) * 256);
    assert!(points
        .iter()
        .all(|&(t, v)| f64::from_bits(v) == value(0, t)));
}

#[test]
fn rollups_answer_as_raw_points_across_early_seals() {
    let storage = FaultyStorage::new();
    let db = open(&storage, bounded(MIN_LIVE_BYTES, OnPressure::Block)).unwrap();
    let mut rng = Rng(0xfeed);
    let span = 3 * 60 * MINUTE;
    write_random(&db, &mut rng, 2000, START, span);
    db.create_rollup(rollup_spec("cpu_1m", MINUTE, Vec::new()))
        .unwrap();
    let mut routed = 0;
    for round in 0..60 {
        write_random(&db, &mut rng, 500, START, span);
        if round % 20 == 10 {
            db.relieve().unwrap();
        }
        for _ in 0..5 {
            let q = random_query(&mut rng, START, span);
            routed += usize::from(check(&db, &q, &format!("round {round}")));
        }
    }
    assert!(routed > 50, "only {routed} queries used the rollup");
    assert!(db.stats().unwrap().pressure.early_seals >= 5);
    db.close().unwrap();
    drop(db);
    let db = open(&storage, sync_options()).unwrap();
    db.refresh_rollups().unwrap();
    for every in [MINUTE, 60 * MINUTE] {
        let q = query(START, START + span, every, &AGGS, GroupBy::Series, true);
        assert!(check(&db, &q, "after reopening"));
    }
}

#[test]
fn an_early_seal_cuts_at_the_newest_hour_when_the_hours_before_hold_most() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let id = numeric(&db, "m");
    let put = |from: i64, n: i64| {
        let ts: Vec<i64> = (0..n).map(|k| from + k * SECOND).collect();
        let vs: Vec<f64> = ts.iter().map(|&t| value(0, t)).collect();
        db.put_batch(id, &ts, &vs).unwrap();
    };
    // Five whole hours and half of a sixth: the whole hours are sealed, once each.
    put(START, 5 * 3600 + 1800);
    assert_eq!(db.relieve().unwrap(), 5 * 3600);
    assert_eq!(db.stats().unwrap().live_points, 1800);
    let hourly = |db: &Engine| {
        let parts = db.partitions().unwrap();
        assert!(parts.iter().all(|p| p.meta.tier == Tier::Hourly));
        parts.iter().map(|p| p.meta.start).collect::<Vec<_>>()
    };
    let hours: Vec<i64> = (0..5).map(|h| START + h * HOUR).collect();
    assert_eq!(hourly(&db), hours);
    // Now the newest hour is all the tier holds: everything is sealed.
    put(START + 5 * HOUR + 1800 * SECOND, 100);
    assert_eq!(db.relieve().unwrap(), 1900);
    assert_eq!(db.stats().unwrap().live_points, 0);
    assert_eq!(hourly(&db).len(), 6);
    assert_eq!(db.pressure().unwrap().live_bytes, live_bytes(&db));
    assert_eq!(dump(&db)["m"].len() as i64, 5 * 3600 + 1900);
}
