//! Segment files: `wal/<index, 20 digits>.wal`, each a 24-byte header followed by frames.
//! Header: `magic "WARPWAL\0" | version u32 | reserved u32 | index u64`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::{Storage, WritableFile};

pub const MAGIC: &[u8; 8] = b"WARPWAL\0";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 24;

pub fn file_name(index: u64) -> String {
    format!("{index:020}.wal")
}

/// The index a segment file name stands for, if it is one.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub fn header(index: u64) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&index.to_le_bytes());
    h
}

/// Checks a segment's header; the reason it is unusable otherwise.
pub fn check_header(data: &[u8], index: u64) -> Result<(), String> {
    if data.len() < HEADER_LEN {
        return Err(format!("{} bytes is shorter than the header", data.len()));
    }
    if &data[..8] != MAGIC {
        return Err("bad magic".into());
    }
    let mut word = [0; 4];
    word.copy_from_slice(&data[8..12]);
    let version = u32::from_le_bytes(word);
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let mut word = [0; 8];
    word.copy_from_slice(&data[16..24]);
    let stored = u64::from_le_bytes(word);
    if stored != index {
        return Err(format!("header says segment {stored}"));
    }
    Ok(())
}

/// Appends to the newest segment and rolls to a new one past the size limit.
pub struct SegmentWriter {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    file: Box<dyn WritableFile>,
    index: u64,
    size: u64,
    roll_bytes: u64,
    /// Size of every segment still on disk, by index.
    sizes: BTreeMap<u64, u64>,
}

impl SegmentWriter {
    /// Starts a new segment `index`; `existing` holds the sizes of older segments on disk.
    pub fn start(
        storage: Arc<dyn Storage>,
        dir: &Path,
        index: u64,
        roll_bytes: u64,
        existing: BTreeMap<u64, u64>,
    ) -> Result<Self> {
        let file = create_segment(storage.as_ref(), dir, index)?;
        let mut sizes = existing;
        sizes.insert(index, HEADER_LEN as u64);
        Ok(SegmentWriter {
            storage,
            dir: dir.to_path_buf(),
            file,
            index,
            size: HEADER_LEN as u64,
            roll_bytes,
            sizes,
        })
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    fn path(&self) -> PathBuf {
        self.dir.join(file_name(self.index))
    }

    /// Writes whole records; rolls to a new segment once this one is past the limit.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(bytes)
            .map_err(Error::io("append to", self.path()))?;
        self.size += bytes.len() as u64;
        self.sizes.insert(self.index, self.size);
        if self.size >= self.roll_bytes {
            self.roll()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> Result<()> {
        self.file.sync().map_err(Error::io("fsync", self.path()))
    }

    /// Syncs the current segment and starts the next; returns the index of the new one.
    pub fn roll(&mut self) -> Result<u64> {
        self.sync()?;
        let next = self.index + 1;
        self.file = create_segment(self.storage.as_ref(), &self.dir, next)?;
        self.index = next;
        self.size = HEADER_LEN as u64;
        self.sizes.insert(next, self.size);
        Ok(next)
    }

    /// Deletes every segment before `index` (their contents are in a checkpoint).
    pub fn retire_before(&mut self, index: u64) -> Result<()> {
        let retired: Vec<u64> = self.sizes.range(..index).map(|(&i, _)| i).collect();
        for i in &retired {
            let path = self.dir.join(file_name(*i));
            self.storage
                .remove(&path)
                .map_err(Error::io("remove", path))?;
            self.sizes.remove(i);
        }
        if !retired.is_empty() {
            self.storage
                .sync_dir(&self.dir)
                .map_err(Error::io("fsync directory", &self.dir))?;
        }
        Ok(())
    }

    /// Bytes in all segments on disk.
    pub fn bytes_on_disk(&self) -> u64 {
        self.sizes.values().sum()
    }

    pub fn segment_count(&self) -> usize {
        self.sizes.len()
    }
}

fn create_segment(storage: &dyn Storage, dir: &Path, index: u64) -> Result<Box<dyn WritableFile>> {
    let path = dir.join(file_name(index));
    let mut file = storage.create(&path).map_err(Error::io("create", &path))?;
    file.write_all(&header(index))
        .map_err(Error::io("write header of", &path))?;
    file.sync().map_err(Error::io("fsync", &path))?;
    storage
        .sync_dir(dir)
        .map_err(Error::io("fsync directory", dir))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&file_name(42)), Some(42));
        assert_eq!(parse_name("42.wal"), None);
        assert_eq!(parse_name("0000000000000000004x.wal"), None);
    }

    #[test]
    fn header_checks() {
        assert!(check_header(&header(7), 7).is_ok());
        assert!(check_header(&header(7), 8).is_err());
        assert!(check_header(&header(7)[..10], 7).is_err());
        assert!(check_header(&[0; HEADER_LEN], 7).is_err());
    }
}
