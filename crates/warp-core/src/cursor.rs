//! Bytes in, bytes out: a bounds-checked reader over a byte slice, shared by every decoder
//! (WAL records, checkpoints, blocks, indexes), and its writing twin for the encoders. Running
//! out of input is an error, never a panic; every field is little-endian.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// A little-endian reader that fails instead of panicking when the data is short.
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

/// The body of a file that ends with a CRC-32C of everything before it and starts with
/// `magic` and a `u32` version: checked, and a cursor placed just after the version.
pub fn sealed<'a>(data: &'a [u8], magic: &[u8], version: u32) -> Result<Cursor<'a>, String> {
    let body_len = data
        .len()
        .checked_sub(4)
        .ok_or("file is shorter than its checksum")?;
    let (body, crc) = data.split_at(body_len);
    let mut stored = [0; 4];
    stored.copy_from_slice(crc);
    if crc32c::crc32c(body) != u32::from_le_bytes(stored) {
        return Err("checksum mismatch".into());
    }
    let mut c = Cursor::new(body);
    if c.bytes(magic.len())? != magic {
        return Err("bad magic".into());
    }
    let found = c.u32()?;
    if found != version {
        return Err(format!("unsupported version {found}"));
    }
    Ok(c)
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    /// A cursor at byte `pos` of `data` (reads fail if that is past the end).
    pub fn at(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Everything not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let out = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or_else(|| {
                format!(
                    "needs {n} more bytes at offset {} but only {} remain",
                    self.pos,
                    self.remaining()
                )
            })?;
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, String> {
        self.array().map(u8::from_le_bytes)
    }
    pub fn u16(&mut self) -> Result<u16, String> {
        self.array().map(u16::from_le_bytes)
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }
    pub fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }
    pub fn i64(&mut self) -> Result<i64, String> {
        self.array().map(i64::from_le_bytes)
    }
    pub fn f64(&mut self) -> Result<f64, String> {
        self.array().map(f64::from_le_bytes)
    }

    /// An unsigned LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8().map_err(|_| "varint runs past the end")?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// `count` little-endian 8-byte words, with the length checked before allocating.
    pub fn words<T>(&mut self, count: usize, from: fn([u8; 8]) -> T) -> Result<Vec<T>, String> {
        let raw = self.bytes(count.checked_mul(8).ok_or("count overflows")?)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0; 8];
                w.copy_from_slice(c);
                from(w)
            })
            .collect())
    }
}

/// The writing twin of [`Cursor`]: little-endian fields appended to a buffer.
pub trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_i64(&mut self, v: i64);
    fn put_f64(&mut self, v: f64);
    /// A length or count as a `u32` field. Every length the engine writes (a block, a record,
    /// a count of points) is bounded far below 2^32 by construction; a larger one is a bug.
    fn put_len32(&mut self, n: usize);
    /// A length as a `u16` field (series keys, at most 8 KiB).
    fn put_len16(&mut self, n: usize);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_f64(&mut self, v: f64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_len32(&mut self, n: usize) {
        self.put_u32(u32::try_from(n).expect("lengths are bounded by construction"));
    }
    fn put_len16(&mut self, n: usize) {
        self.put_u16(u16::try_from(n).expect("keys are bounded by construction"));
    }
}

/// A length or count that the format stores in 32 bits, bounded by construction (see
/// [`Put::put_len32`]).
pub fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("lengths are bounded by construction")
}
