//! Recovery: reads segments in order and hands every entry to the caller.
//!
//! A damaged record is a *torn tail* when it sits in the newest segment and no valid record
//! follows it: the write that made it was never acknowledged, so the segment is cut there and
//! the cut reported. Anything else (damage followed by valid records, damage in an older
//! segment, a missing segment) is corruption: an error, unless `repair` is set, in which case
//! the damaged bytes are skipped and counted in the report.

use std::collections::BTreeMap;
use std::path::Path;

use super::frame::{next_valid_frame, read_frame, FrameError};
use super::record::{decode, Entry};
use super::segment::{check_header, file_name, parse_name, HEADER_LEN};
use crate::error::{Error, Result};
use crate::storage::Storage;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub segments: u64,
    pub records: u64,
    pub bytes: u64,
    /// Bytes cut from the end of the newest segment (an unacknowledged, torn write).
    pub torn_bytes: u64,
    /// With `repair`: records and bytes skipped because they were damaged.
    pub dropped_records: u64,
    pub dropped_bytes: u64,
    /// With `repair`: segment indices that should have been there and were not.
    pub missing_segments: Vec<u64>,
}

impl ReplayReport {
    /// Whether repair had to throw anything away.
    pub fn repaired(&self) -> bool {
        self.dropped_records > 0 || self.dropped_bytes > 0 || !self.missing_segments.is_empty()
    }
}

pub struct Replayed {
    pub report: ReplayReport,
    /// Where the next segment should start.
    pub next_index: u64,
    /// Sizes of the segments left on disk, by index.
    pub sizes: BTreeMap<u64, u64>,
}

/// Replays segments from `first` on (older ones are covered by the checkpoint and deleted).
pub fn replay(
    storage: &dyn Storage,
    dir: &Path,
    first: u64,
    repair: bool,
    apply: &mut dyn FnMut(Entry<'_>) -> Result<(), String>,
) -> Result<Replayed> {
    let mut indices: Vec<u64> = storage
        .list(dir)
        .map_err(Error::io("list", dir))?
        .iter()
        .filter_map(|name| parse_name(name))
        .collect();
    indices.sort_unstable();

    let mut report = ReplayReport::default();
    let mut sizes = BTreeMap::new();
    let mut expected = first;
    let last = indices.last().copied();
    for index in indices {
        let path = dir.join(file_name(index));
        if index < first {
            // Left over from a checkpoint that finished before its cleanup did.
            storage.remove(&path).map_err(Error::io("remove", &path))?;
            continue;
        }
        if index != expected {
            let missing: Vec<u64> = (expected..index).collect();
            if !repair {
                return Err(corrupt(
                    expected,
                    0,
                    format!("segments {missing:?} are missing"),
                ));
            }
            report.missing_segments.extend(missing);
        }
        expected = index + 1;
        let is_last = Some(index) == last;
        let data = storage.read(&path).map_err(Error::io("read", &path))?;
        let kept = replay_segment(&data, index, is_last, repair, &mut report, apply)?;
        if kept < data.len() {
            storage
                .truncate(&path, kept as u64)
                .map_err(Error::io("truncate", &path))?;
        }
        report.segments += 1;
        report.bytes += kept as u64;
        sizes.insert(index, kept as u64);
    }
    Ok(Replayed {
        report,
        next_index: expected,
        sizes,
    })
}

/// Replays one segment; returns how many of its bytes are valid and kept.
fn replay_segment(
    data: &[u8],
    index: u64,
    is_last: bool,
    repair: bool,
    report: &mut ReplayReport,
    apply: &mut dyn FnMut(Entry<'_>) -> Result<(), String>,
) -> Result<usize> {
    if let Err(reason) = check_header(data, index) {
        // A segment whose header never reached the disk: nothing in it was acknowledged.
        if is_last && next_valid_frame(data, 0).is_none() {
            report.torn_bytes += data.len() as u64;
            return Ok(0);
        }
        if !repair {
            return Err(corrupt(index, 0, reason));
        }
        report.dropped_bytes += data.len() as u64;
        return Ok(data.len());
    }
    let mut pos = HEADER_LEN;
    while pos < data.len() {
        let frame = match read_frame(data, pos) {
            Ok(frame) => frame,
            Err(damage) => match next_valid_frame(data, pos + 1) {
                // A well-formed record of an unknown type was written whole: not a torn write.
                None if is_last && !matches!(damage, FrameError::BadType(_)) => {
                    report.torn_bytes += (data.len() - pos) as u64;
                    return Ok(pos);
                }
                _ if !repair => return Err(corrupt(index, pos as u64, damage.to_string())),
                next => {
                    let resume = next.unwrap_or(data.len());
                    report.dropped_bytes += (resume - pos) as u64;
                    pos = resume;
                    continue;
                }
            },
        };
        match decode(frame.ty, frame.payload, &mut *apply) {
            Ok(()) => report.records += 1,
            Err(reason) if !repair => return Err(corrupt(index, pos as u64, reason)),
            Err(_) => {
                report.dropped_records += 1;
                report.dropped_bytes += (frame.end - pos) as u64;
            }
        }
        pos = frame.end;
    }
    Ok(data.len())
}

fn corrupt(index: u64, offset: u64, reason: String) -> Error {
    Error::CorruptWal {
        segment: file_name(index),
        offset,
        reason,
    }
}
