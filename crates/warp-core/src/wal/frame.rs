//! Record framing: `crc32c u32 | payload_len u32 | type u8 | payload`, little-endian, the CRC
//! covering length, type and payload. Records are built in place in a [`FrameBuffer`] so a
//! run of single-point writes becomes one record (group commit) without copying.

use std::mem;

pub const FRAME_HEADER: usize = 9;
/// Upper bound on one record's payload; larger writes are split into several records.
pub const MAX_PAYLOAD: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Series = 1,
    Points = 2,
    Batch = 3,
    Events = 4,
}

impl RecordType {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(RecordType::Series),
            2 => Some(RecordType::Points),
            3 => Some(RecordType::Batch),
            4 => Some(RecordType::Events),
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
        let len = (self.buf.len() - start - FRAME_HEADER) as u32;
        self.buf[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
        self.buf[start + 8] = ty as u8;
        let crc = crc32c::crc32c(&self.buf[start + 4..]);
        self.buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
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

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
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

fn le_u32(data: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&data[at..at + 4]);
    u32::from_le_bytes(bytes)
}

/// Decodes the frame at `pos`, checking bounds, length, CRC and type.
pub fn read_frame(data: &[u8], pos: usize) -> Result<Frame<'_>, FrameError> {
    if data.len().saturating_sub(pos) < FRAME_HEADER {
        return Err(FrameError::Truncated);
    }
    let crc = le_u32(data, pos);
    let len = le_u32(data, pos + 4);
    if len as usize > MAX_PAYLOAD {
        return Err(FrameError::BadLength(len));
    }
    let end = pos + FRAME_HEADER + len as usize;
    if end > data.len() {
        return Err(FrameError::Truncated);
    }
    if crc32c::crc32c(&data[pos + 4..end]) != crc {
        return Err(FrameError::BadChecksum);
    }
    let ty = data[pos + 8];
    let ty = RecordType::from_byte(ty).ok_or(FrameError::BadType(ty))?;
    Ok(Frame {
        ty,
        payload: &data[pos + FRAME_HEADER..end],
        end,
    })
}

/// The first offset at or after `from` where a valid frame starts, if any. Used to tell a torn
/// tail (nothing valid follows) from corruption in the middle of the log.
pub fn next_valid_frame(data: &[u8], from: usize) -> Option<usize> {
    (from..data.len()).find(|&pos| read_frame(data, pos).is_ok())
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
        assert!(fb.is_empty());
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
        let mut garbage = vec![7u8; 5];
        garbage.extend_from_slice(&good);
        assert_eq!(next_valid_frame(&garbage, 0), Some(5));
        assert_eq!(next_valid_frame(&[0; 64], 0), None);
    }
}
