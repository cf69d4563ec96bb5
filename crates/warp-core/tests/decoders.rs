//! Every decoder fed arbitrary bytes and mutations of valid files, through the real open and
//! read paths: WAL frames and records, checkpoints, the manifest, partition indexes and
//! blocks, and partition summaries (read when `repair` rebuilds a lost manifest). Each case
//! must end in an error or a value: never a panic, a hang, or an allocation larger than the
//! input justifies (a counting allocator checks the largest single allocation).
//!
//! CI runs a fixed seed; a longer run is
//! `PROPTEST_CASES=20000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p warp-core --test decoders`.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use common::*;
use proptest::prelude::*;
use warp_core::storage::{FaultyStorage, Storage};
use warp_core::{Engine, Options, RangeOptions, SeriesKey, SeriesKind};
use warp_core::{MAX_TIMESTAMP, MIN_TIMESTAMP};

/// Passes every allocation to the system allocator, remembering per thread the largest.
struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY (audited): forwards to `System` unchanged; only records sizes in a thread-local.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A small database with every kind of file: WAL segments holding every record type, a
/// checkpoint, a manifest, hourly and daily partitions with summaries.
fn base() -> &'static (FaultyStorage, Vec<PathBuf>) {
    static BASE: OnceLock<(FaultyStorage, Vec<PathBuf>)> = OnceLock::new();
    BASE.get_or_init(|| {
        let storage = FaultyStorage::new();
        let engine = open(&storage, sync_options()).unwrap();
        let num = numeric(&engine, "cpu{host=\"a\"}");
        let ev = engine
            .ensure_series(&SeriesKey::parse("log").unwrap(), SeriesKind::Event)
            .unwrap();
        let hour = 3_600_000;
        let ts: Vec<i64> = (0..200).map(|i| i * 600_000).collect();
        let vs: Vec<f64> = ts.iter().map(|&t| (t % 7919) as f64 / 100.0).collect();
        engine.put_batch(num, &ts, &vs).unwrap();
        for i in 0..20 {
            engine
                .put_event(ev, i * hour / 2, format!("{{\"i\":{i}}}").as_bytes())
                .unwrap();
        }
        engine.seal(20 * hour, false).unwrap();
        engine.compact(warp_core::Tier::Daily, 0, true).unwrap();
        engine.seal(30 * hour, false).unwrap();
        engine.checkpoint().unwrap();
        // Writes after the checkpoint stay in the WAL: single points, a batch, an event.
        engine.put_numeric(num, 40 * hour, 1.5).unwrap();
        engine
            .put_batch(num, &[41 * hour, 42 * hour], &[2.5, f64::NAN])
            .unwrap();
        engine.put_event(ev, 43 * hour, b"[1,2]").unwrap();
        engine.flush().unwrap();
        drop(engine);
        let files = all_files(&storage, Path::new(DIR));
        (storage, files)
    })
}

fn all_files(storage: &FaultyStorage, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut names = storage.list(dir).unwrap();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        if storage.is_dir(&path).unwrap() == Some(true) {
            out.extend(all_files(storage, &path));
        } else if name != "LOCK" {
            out.push(path);
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the whole file with these bytes.
    Replace(Vec<u8>),
    /// Overwrite bytes at (fractions of) the length.
    Flip(Vec<(prop::sample::Index, u8)>),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    /// Copy a run of the file elsewhere in it (plausible-looking garbage).
    Splice(prop::sample::Index, prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..2048).prop_map(Mutation::Replace),
        4 => prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..8).prop_map(Mutation::Flip),
        2 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>(), 1..200usize)
            .prop_map(|(from, to, len)| Mutation::Splice(from, to, len)),
    ]
}

fn apply(data: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = data.to_vec();
    let at = |i: &prop::sample::Index| {
        if data.is_empty() {
            0
        } else {
            i.index(data.len())
        }
    };
    match m {
        Mutation::Replace(bytes) => out = bytes.clone(),
        Mutation::Flip(flips) => {
            for (i, x) in flips {
                if !out.is_empty() {
                    let i = at(i);
                    out[i] ^= x;
                }
            }
        }
        Mutation::Truncate(i) => out.truncate(at(i)),
        Mutation::Insert(i, bytes) => {
            let i = at(i);
            out.splice(i..i, bytes.iter().copied());
        }
        Mutation::Splice(from, to, len) => {
            let from = at(from);
            let run: Vec<u8> = data[from..(from + len).min(data.len())].to_vec();
            let to = at(to);
            let end = (to + run.len()).min(out.len());
            out.splice(to..end, run);
        }
    }
    out
}

/// Opens the damaged image and reads everything; any error is fine, as is any value.
fn exercise(image: &FaultyStorage, repair: bool) {
    let options = Options {
        repair,
        ..sync_options()
    };
    let Ok(engine) = Engine::open_with(Arc::new(image.clone()), Path::new(DIR), options) else {
        return;
    };
    let Ok(series) = engine.series() else {
        return;
    };
    for id in 0..series.len() as u32 {
        let _ = engine.range(
            id,
            MIN_TIMESTAMP,
            MAX_TIMESTAMP + 1,
            RangeOptions::default(),
        );
        let _ = engine.latest(id);
        let _ = engine.get(id, 20 * 3_600_000);
    }
    let _ = engine.stats();
}

fn check(file: prop::sample::Index, m: Mutation, repair: bool, lose_manifest: bool) {
    let (storage, files) = base();
    let image = storage.crash();
    let path = &files[file.index(files.len())];
    let damaged = apply(&image.read(path).unwrap(), &m);
    let mut f = image.create(path).unwrap();
    f.write_all(&damaged).unwrap();
    f.sync().unwrap();
    if lose_manifest {
        // Repair then rebuilds the manifest from the partitions' summaries.
        let _ = image.remove(&Path::new(DIR).join("temporal/manifest.json"));
    }
    let input: usize = files
        .iter()
        .map(|p| image.read(p).map_or(0, |d| d.len()))
        .sum();
    LARGEST.with(|l| l.set(0));
    exercise(&image, repair);
    let largest = LARGEST.with(Cell::get);
    assert!(
        largest <= 256 * input + (2 << 20),
        "an allocation of {largest} bytes from {input} bytes of files ({path:?}, {m:?})"
    );
}

#[test]
fn the_base_image_is_valid_and_holds_every_kind_of_file() {
    let (storage, files) = base();
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    for kind in [
        ".wal",
        ".ckpt",
        "manifest.json",
        "/blocks",
        "/index",
        "summary.json",
        "daily/",
    ] {
        assert!(
            names.iter().any(|n| n.contains(kind)),
            "no {kind} file in {names:?}"
        );
    }
    let engine = open(&storage.crash(), sync_options()).unwrap();
    assert_eq!(dump(&engine).len(), 2);
}

proptest! {
    #![proptest_config(model_config(512))]

    #[test]
    fn damaged_files_give_errors_or_values_never_panics_hangs_or_huge_allocations(
        file in any::<prop::sample::Index>(),
        m in mutation(),
        repair in any::<bool>(),
        lose_manifest in prop::bool::weighted(0.15),
    ) {
        check(file, m, repair, lose_manifest);
    }
}
