//! Bit-level primitives of the codecs: a bit writer/reader (MSB first), LEB128 varint
//! writing and zigzag. The reader never panics: running out of input is an error.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
// Packing bits MSB first is the format, and keeping the low bits of a word is the operation.
#![allow(clippy::big_endian_bytes, clippy::cast_possible_truncation)]

pub type DecodeResult<T> = Result<T, String>;

#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    used: u32,
}

impl BitWriter {
    /// Appends the low `n` bits of `value` (n ≤ 64).
    pub fn write(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut left = n;
        while left > 0 {
            let room = 64 - self.used;
            let take = left.min(room);
            let chunk = (value >> (left - take)) & mask(take);
            self.acc = if take == 64 {
                chunk
            } else {
                (self.acc << take) | chunk
            };
            self.used += take;
            left -= take;
            if self.used == 64 {
                self.bytes.extend_from_slice(&self.acc.to_be_bytes());
                self.acc = 0;
                self.used = 0;
            }
        }
    }

    pub fn bit(&mut self, b: bool) {
        self.write(b as u64, 1);
    }

    pub fn finish(mut self) -> Vec<u8> {
        let full = self.used.div_ceil(8);
        if full > 0 {
            let aligned = self.acc << (64 - self.used);
            let bytes = aligned.to_be_bytes();
            self.bytes.extend(bytes.iter().take(full as usize));
        }
        self.bytes
    }
}

fn mask(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// Reads `n` bits (n ≤ 64) as the low bits of the result.
    pub fn read(&mut self, n: u32) -> DecodeResult<u64> {
        if n == 0 {
            return Ok(0);
        }
        if n > 56 {
            let high = self.read(n - 32)?;
            return Ok((high << 32) | self.read(32)?);
        }
        let end = self.pos + n as usize;
        if end > self.data.len() * 8 {
            return Err("bit stream ends early".into());
        }
        // One unaligned big-endian window holds any n ≤ 56 bits at any bit offset.
        let byte = self.pos / 8;
        let mut window = [0u8; 8];
        match self.data.get(byte..byte + 8) {
            Some(eight) => window.copy_from_slice(eight),
            None => {
                let tail = self.data.get(byte..).unwrap_or_default();
                for (w, b) in window.iter_mut().zip(tail) {
                    *w = *b;
                }
            }
        }
        let word = u64::from_be_bytes(window) << (self.pos % 8);
        self.pos = end;
        Ok(word >> (64 - n))
    }

    pub fn bit(&mut self) -> DecodeResult<bool> {
        let byte = *self.data.get(self.pos / 8).ok_or("bit stream ends early")?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

pub fn unzigzag(v: u64) -> i64 {
    (v >> 1).cast_signed() ^ (v & 1).cast_signed().wrapping_neg()
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::default();
        let items = [
            (1u64, 1u32),
            (0b1011, 4),
            (u64::MAX, 64),
            (0, 0),
            (12345, 17),
            (1, 64),
        ];
        for (v, n) in items {
            w.write(v, n);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for (v, n) in items {
            assert_eq!(r.read(n).unwrap(), v & mask(n), "{n} bits");
        }
        assert!(r.read(64).is_err());
    }

    #[test]
    fn varints_and_zigzag() {
        let mut out = Vec::new();
        for v in [0, 1, 127, 128, u64::MAX] {
            put_varint(&mut out, v);
        }
        let mut r = crate::cursor::Cursor::new(&out);
        for v in [0, 1, 127, 128, u64::MAX] {
            assert_eq!(r.varint().unwrap(), v);
        }
        assert!(r.varint().is_err());
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
