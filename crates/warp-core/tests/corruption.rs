//! Table of WAL and checkpoint damage: which records survive, and what is reported.
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

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

mod crafted {
    use std::path::Path;
    use std::time::Duration;

    use super::common::*;
    use warp_core::storage::{FaultyStorage, Storage};
    use warp_core::{Durability, Options};

    fn none_mode() -> Options {
        Options {
            durability: Durability::None,
            flush_interval: Duration::from_millis(1),
            checkpoint_on_close: false,
            ..Options::default()
        }
    }

    /// A frame as the WAL writes it: crc | len | type | payload.
    fn frame(ty: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = (payload.len() as u32).to_le_bytes().to_vec();
        body.push(ty);
        body.extend_from_slice(payload);
        let mut out = crc32c::crc32c(&body).to_le_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    /// Values whose bytes hold a well-formed record writing 666 at ts 424242 to series 0,
    /// and a marker frame (with a guessed salt) claiming the whole segment was durable.
    fn forged_values() -> Vec<f64> {
        let mut point = 0u32.to_le_bytes().to_vec();
        point.extend_from_slice(&424_242i64.to_le_bytes());
        point.extend_from_slice(&666.0f64.to_le_bytes());
        let mut bytes = frame(2, &point);
        let mut marker = 0u64.to_le_bytes().to_vec();
        marker.extend_from_slice(&u64::MAX.to_le_bytes());
        bytes.extend(frame(5, &marker));
        bytes.resize(bytes.len().next_multiple_of(8), 0);
        bytes
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn user_data_cannot_pass_for_a_record_or_a_marker_in_a_torn_tail() {
        let storage = FaultyStorage::new();
        let engine = open(&storage, none_mode()).unwrap();
        let id = numeric(&engine, "m");
        engine.put_numeric(id, 1, 1.0).unwrap();
        engine.flush().unwrap();
        // A batch handed to the OS but never fsynced, ending in forged frames.
        let mut values = vec![0.5; 2000];
        values.extend(forged_values());
        let ts: Vec<i64> = (0..values.len() as i64).map(|i| 10 + i).collect();
        engine.put_batch(id, &ts, &values).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // The crash loses the batch's first page but keeps the page with the forged bytes.
        let crash = || {
            storage.crash_with(|_, _, unsynced| {
                let mut kept = unsynced.to_vec();
                let page = 4096.min(kept.len());
                kept[..page].fill(0);
                kept
            })
        };
        let images = [crash(), crash()];
        drop(engine);
        for (image, repair) in images.iter().zip([false, true]) {
            let engine = open(
                image,
                Options {
                    repair,
                    ..sync_options()
                },
            )
            .unwrap();
            let stored: Vec<i64> = dump(&engine)["m"].iter().map(|p| p.0).collect();
            assert_eq!(
                stored,
                vec![1],
                "repair {repair}: only the flushed point survives"
            );
            assert!(engine.stats().unwrap().recovery.wal.torn_bytes > 0);
        }
    }

    /// An 8 MiB segment in which every offset looks like the start of a 4 MiB record and the
    /// segment's salt appears every 25 bytes: recovery stays linear in its size.
    fn crafted_segment(storage: &FaultyStorage) -> (std::path::PathBuf, usize) {
        let engine = open(storage, sync_options()).unwrap();
        numeric(&engine, "m");
        engine.flush().unwrap();
        drop(engine);
        let seg = segments(storage).last().unwrap().clone();
        let header = storage.read(&seg).unwrap()[..32].to_vec();
        let salt = &header[24..32];
        let mut data = header.clone();
        while data.len() < 8 << 20 {
            data.extend_from_slice(&[0x00, 0x00, 0x3F, 0x00]);
            if data.len() % 25 < 4 {
                data.extend_from_slice(salt);
            }
        }
        let mut file = storage.create(&seg).unwrap();
        file.write_all(&data).unwrap();
        file.sync().unwrap();
        (seg, data.len())
    }

    #[test]
    fn a_crafted_segment_is_scanned_once_not_once_per_byte() {
        let storage = FaultyStorage::new();
        let (_, len) = crafted_segment(&storage);
        // The newest segment: nothing valid after the damage, so a torn tail.
        let engine = open(&storage, sync_options()).unwrap();
        let report = engine.stats().unwrap().recovery.wal;
        assert!(report.torn_bytes > 0);
        assert!(report.scanned_bytes <= len as u64, "{report:?}");
        drop(engine);
        // An older segment: corruption, found as fast; repair keeps what is valid.
        let storage = FaultyStorage::new();
        let (seg, _) = crafted_segment(&storage);
        let index: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let mut next = b"WARPWAL\0".to_vec();
        next.extend_from_slice(&2u32.to_le_bytes());
        next.extend_from_slice(&0u32.to_le_bytes());
        next.extend_from_slice(&(index + 1).to_le_bytes());
        next.extend_from_slice(&7u64.to_le_bytes());
        let next_path = seg.with_file_name(warp_core::format::segment_name(index + 1));
        let mut file = storage.create(&next_path).unwrap();
        file.write_all(&next).unwrap();
        file.sync().unwrap();
        storage.sync_dir(&Path::new(DIR).join("wal")).unwrap();
        let err = open(&storage, sync_options()).err().unwrap();
        assert_eq!(err.code(), "CORRUPT_WAL");
        let engine = open(
            &storage,
            Options {
                repair: true,
                ..sync_options()
            },
        )
        .unwrap();
        let report = engine.stats().unwrap().recovery.wal;
        assert!(
            report.dropped_bytes > 0 && report.scanned_bytes <= len as u64,
            "{report:?}"
        );
    }

    #[test]
    fn a_header_less_newest_segment_is_removed_so_a_second_crash_is_harmless() {
        let storage = FaultyStorage::new();
        let engine = open(&storage, sync_options()).unwrap();
        let id = numeric(&engine, "m");
        engine
            .wait_durable(engine.put_numeric(id, 1, 1.0).unwrap())
            .unwrap();
        drop(engine);
        // What a crash between creating a segment and writing its header left before
        // segments were created under a temporary name.
        let next = segments(&storage).len() as u64 + 1;
        let empty = Path::new(DIR)
            .join("wal")
            .join(warp_core::format::segment_name(next));
        storage.create(&empty).unwrap().sync().unwrap();
        storage.sync_dir(&Path::new(DIR).join("wal")).unwrap();
        for round in 0..3 {
            let engine = open(&storage, sync_options()).unwrap();
            let id = numeric(&engine, "m");
            let ts = 10 + round;
            engine
                .wait_durable(engine.put_numeric(id, ts, 1.0).unwrap())
                .unwrap();
            drop(engine);
            let crashed = storage.crash();
            assert_eq!(
                dump(&open(&crashed, sync_options()).unwrap())["m"].len() as i64,
                2 + round
            );
        }
        let names = storage.list(&Path::new(DIR).join("wal")).unwrap();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
