//! Recovery: reads segments in order and hands every entry to the caller.
//!
//! Older segments were fsynced whole before the next one began, so any damage in them is
//! corruption. In the newest segment, damage is a *torn tail* when no marker after it announces
//! that the damaged bytes had been made durable: they were written after the last fsync and
//! lost or half-written by the crash (pages may reach the disk out of order, so valid frames
//! may follow), and were never acknowledged under `sync` durability. The segment is cut there
//! and the cut reported. Anything else (damage in synced bytes, damage in an older segment, a
//! missing segment, a record of an unknown type) is corruption: an error, unless `repair` is
//! set, in which case the damaged bytes are skipped up to the next marker and counted.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;
use std::path::Path;

use super::frame::{marker_claim, markers, read_frame, FrameError, RecordType};
use super::record::{decode, Entry};
use super::segment::{check_header, HEADER_LEN};
use crate::error::{Error, Result};
use crate::names;
use crate::storage::Storage;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub segments: u64,
    pub records: u64,
    pub bytes: u64,
    /// Bytes cut from the end of the newest segment (writes never made durable).
    pub torn_bytes: u64,
    /// With `repair`: records and bytes skipped because they were damaged.
    pub dropped_records: u64,
    pub dropped_bytes: u64,
    /// With `repair`: segment indices that should have been there and were not.
    pub missing_segments: Vec<u64>,
    /// Bytes searched for markers after damage: at most once per damaged segment, so opening a
    /// crafted log stays linear in its size.
    pub scanned_bytes: u64,
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
    let mut indices = Vec::new();
    for name in storage.list(dir).map_err(Error::io("list", dir))? {
        if let Some(index) = names::parse_segment(&name) {
            indices.push(index);
        } else if names::is_temporary_segment(&name) {
            // A segment whose creation did not finish: never written to.
            let path = dir.join(&name);
            storage.remove(&path).map_err(Error::io("remove", &path))?;
        }
    }
    indices.sort_unstable();

    let mut report = ReplayReport::default();
    let mut sizes = BTreeMap::new();
    let mut expected = first;
    let last = indices.last().copied();
    for index in indices {
        let path = dir.join(names::segment(index));
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
        let data = storage.read(&path).map_err(Error::io("read", &path))?;
        let segment = Segment {
            data: &data,
            index,
            is_last: Some(index) == last,
        };
        let kept = match segment.replay(repair, &mut report, apply)? {
            Kept::All => data.len(),
            Kept::Prefix(len) => {
                storage
                    .truncate(&path, len as u64)
                    .map_err(Error::io("truncate", &path))?;
                len
            }
            Kept::Nothing => {
                // A header-less newest segment: remove it and reuse its index.
                storage.remove(&path).map_err(Error::io("remove", &path))?;
                expected = index;
                continue;
            }
        } as u64;
        expected = index + 1;
        report.segments += 1;
        report.bytes += kept;
        sizes.insert(index, kept);
    }
    Ok(Replayed {
        report,
        next_index: expected,
        sizes,
    })
}

enum Kept {
    All,
    Prefix(usize),
    Nothing,
}

struct Segment<'a> {
    data: &'a [u8],
    index: u64,
    is_last: bool,
}

impl Segment<'_> {
    fn replay(
        &self,
        repair: bool,
        report: &mut ReplayReport,
        apply: &mut dyn FnMut(Entry<'_>) -> Result<(), String>,
    ) -> Result<Kept> {
        let data = self.data;
        let salt = match check_header(data, self.index) {
            Ok(salt) => salt,
            // Segments are renamed into place only once their header is durable, so a bad
            // header with nothing after it can only be a segment the crash cut short.
            Err(_) if self.is_last && data.len() <= HEADER_LEN => {
                report.torn_bytes += data.len() as u64;
                return Ok(Kept::Nothing);
            }
            Err(reason) if !repair => return Err(corrupt(self.index, 0, reason)),
            Err(_) => {
                report.dropped_bytes += data.len() as u64;
                return Ok(Kept::All);
            }
        };
        // Found on the first damage only: (offset, announced durable length) of every marker.
        let mut found: Option<Vec<(usize, u64)>> = None;
        let mut pos = HEADER_LEN;
        while pos < data.len() {
            let damage = match read_frame(data, pos) {
                Ok(frame) if frame.ty == RecordType::Marker => match marker_claim(&frame, salt) {
                    Some(_) => {
                        pos = frame.end;
                        continue;
                    }
                    None => Damage::Frame(FrameError::BadChecksum),
                },
                Ok(frame) => match decode(frame.ty, frame.payload, &mut *apply) {
                    Ok(()) => {
                        report.records += 1;
                        pos = frame.end;
                        continue;
                    }
                    Err(_) if repair => {
                        report.dropped_records += 1;
                        report.dropped_bytes += (frame.end - pos) as u64;
                        pos = frame.end;
                        continue;
                    }
                    Err(reason) => Damage::Record(reason),
                },
                Err(e) => Damage::Frame(e),
            };
            let markers = found.get_or_insert_with(|| {
                report.scanned_bytes += (data.len() - pos) as u64;
                markers(data, pos + 1, salt)
            });
            let after = markers.partition_point(|&(at, _)| at <= pos);
            let durable = markers.iter().skip(after).map(|m| m.1).max().unwrap_or(0);
            if self.is_last && !damage.written_whole() && durable <= pos as u64 {
                report.torn_bytes += (data.len() - pos) as u64;
                return Ok(Kept::Prefix(pos));
            }
            if !repair {
                return Err(corrupt(self.index, pos as u64, damage.to_string()));
            }
            let resume = markers.get(after).map_or(data.len(), |m| m.0);
            report.dropped_bytes += (resume - pos) as u64;
            pos = resume;
        }
        Ok(Kept::All)
    }
}

enum Damage {
    Frame(FrameError),
    Record(String),
}

impl Damage {
    /// A record whose checksum holds (an unknown type, contents that do not decode) was
    /// written whole: it is not a torn write.
    fn written_whole(&self) -> bool {
        matches!(
            self,
            Damage::Record(_) | Damage::Frame(FrameError::BadType(_))
        )
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Frame(e) => e.fmt(f),
            Damage::Record(reason) => f.write_str(reason),
        }
    }
}

fn corrupt(index: u64, offset: u64, reason: String) -> Error {
    Error::CorruptWal {
        segment: names::segment(index),
        offset,
        reason,
    }
}
