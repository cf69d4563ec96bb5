//! Table of WAL and checkpoint damage: which records survive, and what is reported.

mod common;

use common::*;
use warp_core::storage::{FaultyStorage, Storage};
use warp_core::Options;

const POINTS: i64 = 400;

/// A database whose WAL holds one record per point, spread over several segments.
fn build() -> FaultyStorage {
    let storage = FaultyStorage::new();
    let engine = open(
        &storage,
        Options {
            segment_bytes: 4096,
            ..sync_options()
        },
    )
    .unwrap();
    let id = numeric(&engine, "m");
    for i in 0..POINTS {
        let seq = engine.put_numeric(id, i, i as f64).unwrap();
        engine.wait_durable(seq).unwrap();
    }
    drop(engine);
    assert!(segments(&storage).len() >= 3);
    storage
}

/// Point timestamps held by each frame, in log order (frame 0 is the series record).
fn frame_map(storage: &FaultyStorage) -> Vec<(std::path::PathBuf, usize, usize, Option<i64>)> {
    let mut out = Vec::new();
    let mut next_point = -1i64;
    for seg in segments(storage) {
        for (offset, len) in frames(storage, &seg) {
            let point = (next_point >= 0).then_some(next_point);
            out.push((seg.clone(), offset, len, point));
            next_point += 1;
        }
    }
    out
}

fn survivors(storage: &FaultyStorage, repair: bool) -> Result<Vec<i64>, String> {
    let engine = open(
        storage,
        Options {
            repair,
            ..sync_options()
        },
    )
    .map_err(|e| e.code().to_string())?;
    let points = dump(&engine).remove("m").unwrap_or_default();
    Ok(points.into_iter().map(|(t, _)| t).collect())
}

fn all_but(skip: &[i64]) -> Vec<i64> {
    (0..POINTS).filter(|t| !skip.contains(t)).collect()
}

fn reopen_stats(storage: &FaultyStorage, repair: bool) -> warp_core::RecoveryStats {
    let engine = open(
        storage,
        Options {
            repair,
            ..sync_options()
        },
    )
    .unwrap();
    engine.stats().unwrap().recovery
}

fn set_crc_valid_type(storage: &FaultyStorage, seg: &std::path::Path, offset: usize, ty: u8) {
    let mut data = storage.read(seg).unwrap();
    let len = u32::from_le_bytes(data[offset + 4..offset + 8].try_into().unwrap()) as usize;
    data[offset + 8] = ty;
    let crc = crc32c::crc32c(&data[offset + 4..offset + 9 + len]);
    storage.corrupt(seg, offset, &crc.to_le_bytes()).unwrap();
    storage.corrupt(seg, offset + 8, &[ty]).unwrap();
}

#[test]
fn intact_log_replays_everything() {
    let storage = build();
    assert_eq!(survivors(&storage, false).unwrap(), all_but(&[]));
}

#[test]
fn torn_last_record_is_truncated_and_reported() {
    let storage = build();
    let map = frame_map(&storage);
    let (seg, offset, _, point) = map.last().unwrap().clone();
    storage.truncate(&seg, (offset + 5) as u64).unwrap();
    let stats = reopen_stats(&storage, false);
    assert_eq!(stats.wal.torn_bytes, 5);
    assert_eq!(
        survivors(&storage, false).unwrap(),
        all_but(&[point.unwrap()])
    );
}

#[test]
fn bad_length_in_last_record_is_a_torn_tail() {
    let storage = build();
    let (seg, offset, _, point) = frame_map(&storage).last().unwrap().clone();
    storage
        .corrupt(&seg, offset + 4, &0xFFFFu32.to_le_bytes())
        .unwrap();
    assert_eq!(
        survivors(&storage, false).unwrap(),
        all_but(&[point.unwrap()])
    );
}

#[test]
fn zero_filled_tail_is_dropped() {
    let storage = build();
    let seg = segments(&storage).last().unwrap().clone();
    let len = storage.read(&seg).unwrap().len();
    storage.corrupt(&seg, len, &[0; 4096]).unwrap();
    assert_eq!(reopen_stats(&storage, false).wal.torn_bytes, 4096);
    assert_eq!(survivors(&storage, false).unwrap(), all_but(&[]));
}

#[test]
fn bad_checksum_mid_log_is_an_error_or_repaired() {
    let storage = build();
    let map = frame_map(&storage);
    let (seg, offset, len, point) = map[map.len() - 3].clone();
    storage.corrupt(&seg, offset + 12, &[0xAA]).unwrap();
    assert_eq!(survivors(&storage, false), Err("CORRUPT_WAL".into()));
    let stats = reopen_stats(&storage, true);
    assert_eq!(stats.wal.dropped_bytes, len as u64);
    // Repair checkpointed, so a plain open now works and sees the same data.
    assert_eq!(
        survivors(&storage, false).unwrap(),
        all_but(&[point.unwrap()])
    );
}

#[test]
fn unknown_record_type_is_corruption_even_at_the_tail() {
    let storage = build();
    let (seg, offset, _, point) = frame_map(&storage).last().unwrap().clone();
    set_crc_valid_type(&storage, &seg, offset, 77);
    assert_eq!(survivors(&storage, false), Err("CORRUPT_WAL".into()));
    assert_eq!(
        survivors(&storage, true).unwrap(),
        all_but(&[point.unwrap()])
    );
}

#[test]
fn damage_in_an_older_segment_is_corruption() {
    let storage = build();
    let map = frame_map(&storage);
    let first = segments(&storage)[0].clone();
    let (seg, offset, _, point) = map.iter().rfind(|f| f.0 == first).unwrap().clone();
    storage.corrupt(&seg, offset + 10, &[0x55]).unwrap();
    assert_eq!(survivors(&storage, false), Err("CORRUPT_WAL".into()));
    assert_eq!(
        survivors(&storage, true).unwrap(),
        all_but(&[point.unwrap()])
    );
}

#[test]
fn missing_segment_is_corruption() {
    let storage = build();
    let map = frame_map(&storage);
    let middle = segments(&storage)[1].clone();
    let lost: Vec<i64> = map
        .iter()
        .filter(|f| f.0 == middle)
        .filter_map(|f| f.3)
        .collect();
    storage.remove(&middle).unwrap();
    assert_eq!(survivors(&storage, false), Err("CORRUPT_WAL".into()));
    assert_eq!(reopen_stats(&storage, true).wal.missing_segments, vec![2]);
    assert_eq!(survivors(&storage, false).unwrap(), all_but(&lost));
}

#[test]
fn segment_with_torn_header_is_dropped() {
    let storage = build();
    let map = frame_map(&storage);
    let last = segments(&storage).last().unwrap().clone();
    let lost: Vec<i64> = map
        .iter()
        .filter(|f| f.0 == last)
        .filter_map(|f| f.3)
        .collect();
    storage.truncate(&last, 10).unwrap();
    assert_eq!(survivors(&storage, false).unwrap(), all_but(&lost));
}

#[test]
fn damaged_checkpoint_is_reported() {
    let storage = build();
    let engine = open(&storage, sync_options()).unwrap();
    engine.checkpoint().unwrap();
    drop(engine);
    let dir = std::path::Path::new(DIR).join("temporal/live/checkpoints");
    let name = storage.list(&dir).unwrap().pop().unwrap();
    storage.corrupt(&dir.join(name), 30, &[0xFF]).unwrap();
    assert_eq!(survivors(&storage, false), Err("CORRUPT_CHECKPOINT".into()));
}
