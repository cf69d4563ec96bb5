//! Record framing: `crc32c u32 | payload_len u32 | type u8 | payload`, little-endian, the CRC
//! covering length, type and payload. Records are built in place in a [`FrameBuffer`] so a
//! run of single-point writes becomes one record (group commit) without copying.
//!
//! A `Marker` frame (`salt u64 | synced u64`) is written by the segment writer before the
//! first record after each fsync: it says how many bytes of the segment were durable then.
//! Recovery resynchronises only at markers, whose salt user data cannot know.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::mem;

use crate::cursor::{len32, Cursor, Put};

pub const FRAME_HEADER: usize = 9;
/// Upper bound on one record's payload; larger writes are split into several records.
pub const MAX_PAYLOAD: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Series = 1,
    Points = 2,
    Batch = 3,
    Events = 4,
    Marker = 5,
    Dropped = 6,
}

impl RecordType {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(RecordType::Series),
            2 => Some(RecordType::Points),
            3 => Some(RecordType::Batch),
            4 => Some(RecordType::Events),
            5 => Some(RecordType::Marker),
            6 => Some(RecordType::Dropped),
            _ => None,
        }
    }
}

/// Bytes of sealed records waiting to be written, plus at most one open record.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
    open: Option<(usize, RecordType)>,
}

impl FrameBuffer {
    /// Makes sure an open record of type `ty` can take `extra` more payload bytes, sealing the
    /// current one first when its type differs or it would grow past [`MAX_PAYLOAD`].
    pub fn reserve(&mut self, ty: RecordType, extra: usize) -> &mut Vec<u8> {
        if let Some((start, open_ty)) = self.open {
            let payload = self.buf.len() - start - FRAME_HEADER;
            if open_ty != ty || payload + extra > MAX_PAYLOAD {
                self.seal();
            }
        }
        if self.open.is_none() {
            self.open = Some((self.buf.len(), ty));
            self.buf.extend_from_slice(&[0; FRAME_HEADER]);
        }
        &mut self.buf
    }

    /// Closes the open record: fills in its length, type and CRC.
    pub fn seal(&mut self) {
        let Some((start, ty)) = self.open.take() else {
            return;
        };
        let payload = self.buf.get(start + FRAME_HEADER..).unwrap_or_default();
        let header = frame_header(ty, payload);
        if let Some(placeholder) = self.buf.get_mut(start..start + FRAME_HEADER) {
            placeholder.copy_from_slice(&header);
        }
    }

    /// Seals and hands over everything buffered.
    pub fn take(&mut self) -> Vec<u8> {
        self.seal();
        let capacity = self.buf.capacity().min(MAX_PAYLOAD);
        mem::replace(&mut self.buf, Vec::with_capacity(capacity))
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub ty: RecordType,
    pub payload: &'a [u8],
    /// Offset just past this frame.
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The header or payload runs past the end of the data.
    Truncated,
    BadLength(u32),
    BadChecksum,
    BadType(u8),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Truncated => write!(f, "record runs past the end of the segment"),
            FrameError::BadLength(len) => write!(f, "record length {len} exceeds {MAX_PAYLOAD}"),
            FrameError::BadChecksum => write!(f, "record checksum mismatch"),
            FrameError::BadType(t) => write!(f, "unknown record type {t}"),
        }
    }
}

/// The header of a frame holding `payload`: its CRC (over length, type and payload), length
/// and type.
fn frame_header(ty: RecordType, payload: &[u8]) -> [u8; FRAME_HEADER] {
    let mut covered = [0; 5];
    covered[..4].copy_from_slice(&len32(payload.len()).to_le_bytes());
    covered[4] = ty as u8;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&covered), payload);
    let mut header = [0; FRAME_HEADER];
    header[..4].copy_from_slice(&crc.to_le_bytes());
    header[4..].copy_from_slice(&covered);
    header
}

/// Decodes the frame at `pos`, checking bounds, length, CRC and type.
pub fn read_frame(data: &[u8], pos: usize) -> Result<Frame<'_>, FrameError> {
    let mut c = Cursor::at(data, pos);
    let truncated = |_| FrameError::Truncated;
    let crc = c.u32().map_err(truncated)?;
    let covered_from = pos + 4;
    let len = c.u32().map_err(truncated)?;
    let ty = c.u8().map_err(truncated)?;
    if len as usize > MAX_PAYLOAD {
        return Err(FrameError::BadLength(len));
    }
    let payload = c.bytes(len as usize).map_err(truncated)?;
    let end = pos + FRAME_HEADER + payload.len();
    let covered = data.get(covered_from..end).ok_or(FrameError::Truncated)?;
    if crc32c::crc32c(covered) != crc {
        return Err(FrameError::BadChecksum);
    }
    let ty = RecordType::from_byte(ty).ok_or(FrameError::BadType(ty))?;
    Ok(Frame { ty, payload, end })
}

const MARKER_PAYLOAD: usize = 16;
/// A whole marker frame.
pub const MARKER_LEN: usize = FRAME_HEADER + MARKER_PAYLOAD;

/// Appends a marker frame: the segment's `salt` and its durable length `synced`.
pub fn push_marker(out: &mut Vec<u8>, salt: u64, synced: u64) {
    let mut payload = Vec::with_capacity(MARKER_PAYLOAD);
    payload.put_u64(salt);
    payload.put_u64(synced);
    out.extend_from_slice(&frame_header(RecordType::Marker, &payload));
    out.extend_from_slice(&payload);
}

/// The durable length a marker frame announces, if it carries `salt`.
pub fn marker_claim(frame: &Frame<'_>, salt: u64) -> Option<u64> {
    let mut c = Cursor::new(frame.payload);
    let ok = frame.ty == RecordType::Marker && frame.payload.len() == MARKER_PAYLOAD;
    (ok && c.u64().ok()? == salt)
        .then(|| c.u64().ok())
        .flatten()
}

/// Every valid marker at or after `from`: (offset, announced durable length), in order. One
/// pass: candidates are found by their salt and checked over their fixed 25 bytes only, so the
/// work is linear in the data whatever the bytes are, and user data (which never holds the
/// salt) cannot pass for a marker.
pub fn markers(data: &[u8], from: usize, salt: u64) -> Vec<(usize, u64)> {
    let salt_bytes = salt.to_le_bytes();
    let tail = data.get(from..).unwrap_or_default();
    let mut out = Vec::new();
    for (i, frame) in tail.windows(MARKER_LEN).enumerate() {
        if frame.get(FRAME_HEADER..FRAME_HEADER + 8) != Some(&salt_bytes[..]) {
            continue;
        }
        if let Ok(f) = read_frame(frame, 0) {
            if let Some(claim) = marker_claim(&f, salt) {
                out.push((from + i, claim));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_one_type_share_a_record() {
        let mut fb = FrameBuffer::default();
        fb.reserve(RecordType::Points, 3).extend_from_slice(b"abc");
        fb.reserve(RecordType::Points, 2).extend_from_slice(b"de");
        fb.reserve(RecordType::Series, 1).push(b'x');
        let data = fb.take();
        let first = read_frame(&data, 0).unwrap();
        assert_eq!(
            (first.ty, first.payload),
            (RecordType::Points, &b"abcde"[..])
        );
        let second = read_frame(&data, first.end).unwrap();
        assert_eq!((second.ty, second.payload), (RecordType::Series, &b"x"[..]));
        assert_eq!(second.end, data.len());
        assert_eq!(fb.len(), 0);
    }

    #[test]
    fn detects_damage() {
        let mut fb = FrameBuffer::default();
        fb.reserve(RecordType::Batch, 4).extend_from_slice(b"1234");
        let good = fb.take();
        assert_eq!(
            read_frame(&good[..good.len() - 1], 0),
            Err(FrameError::Truncated)
        );
        let mut flipped = good.clone();
        flipped[10] ^= 1;
        assert_eq!(read_frame(&flipped, 0), Err(FrameError::BadChecksum));
        assert_eq!(read_frame(&[0; 9], 0), Err(FrameError::BadChecksum));
        let mut unknown = vec![0, 0, 0, 0, 0, 0, 0, 0, 9];
        let crc = crc32c::crc32c(&unknown[4..]).to_le_bytes();
        unknown[..4].copy_from_slice(&crc);
        assert_eq!(read_frame(&unknown, 0), Err(FrameError::BadType(9)));
    }

    #[test]
    fn markers_are_found_by_salt_only() {
        let mut data = vec![7u8; 5];
        push_marker(&mut data, 42, 100);
        data.extend_from_slice(&[1; 30]);
        push_marker(&mut data, 43, 200); // another segment's salt: not ours
        push_marker(&mut data, 42, 300);
        let found = markers(&data, 0, 42);
        assert_eq!(found, vec![(5, 100), (5 + 2 * MARKER_LEN + 30, 300)]);
        assert_eq!(markers(&data, 6, 42), vec![(5 + 2 * MARKER_LEN + 30, 300)]);
        assert!(markers(&[0; 64], 0, 0).is_empty());
    }
}
