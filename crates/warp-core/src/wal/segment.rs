//! Segment files (`wal/<index>.wal`, see `names`), each a 32-byte header followed by frames.
//! Header: `magic "WARPWAL\0" | version u32 | reserved u32 | index u64 | salt u64`.
//!
//! A segment is created under a temporary name, its header fsynced, then renamed into place,
//! so a segment without a whole header never exists. The salt is random per segment: sync
//! markers carry it, so bytes inside a record (user data) can never pass for a marker.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::frame::push_marker;
use crate::error::{Error, Result};
use crate::names;
use crate::storage::{Storage, WritableFile};

pub const MAGIC: &[u8; 8] = b"WARPWAL\0";
pub const VERSION: u32 = 2;
pub const HEADER_LEN: usize = 32;

pub fn header(index: u64, salt: u64) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&index.to_le_bytes());
    h[24..32].copy_from_slice(&salt.to_le_bytes());
    h
}

/// Checks a segment's header; its salt, or the reason it is unusable.
pub fn check_header(data: &[u8], index: u64) -> Result<u64, String> {
    let mut c = crate::cursor::Cursor::new(data);
    let short = |_| format!("{} bytes is shorter than the header", data.len());
    if c.bytes(8).map_err(short)? != MAGIC {
        return Err("bad magic".into());
    }
    let version = c.u32().map_err(short)?;
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    c.u32().map_err(short)?;
    let stored = c.u64().map_err(short)?;
    if stored != index {
        return Err(format!("header says segment {stored}"));
    }
    c.u64().map_err(short)
}

/// A salt nobody outside this process can predict: std's per-process random hash keys.
fn new_salt(index: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(index);
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Sizes of the WAL on disk, readable without the writer's lock (which is held across I/O).
#[derive(Debug, Default)]
pub struct WalGauge {
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
}

/// Appends to the newest segment and rolls to a new one past the size limit.
pub struct SegmentWriter {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    file: Box<dyn WritableFile>,
    index: u64,
    salt: u64,
    size: u64,
    /// Bytes of the current segment known to be on stable storage.
    synced: u64,
    /// The `synced` value the last sync marker of this segment announced.
    announced: Option<u64>,
    roll_bytes: u64,
    /// Size of every segment still on disk, by index.
    sizes: BTreeMap<u64, u64>,
    gauge: Arc<WalGauge>,
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
        let salt = new_salt(index);
        let file = create_segment(storage.as_ref(), dir, index, salt)?;
        let mut writer = SegmentWriter {
            storage,
            dir: dir.to_path_buf(),
            file,
            index,
            salt,
            size: HEADER_LEN as u64,
            synced: HEADER_LEN as u64,
            announced: None,
            roll_bytes,
            sizes: existing,
            gauge: Arc::default(),
        };
        writer.sizes.insert(index, HEADER_LEN as u64);
        writer.publish();
        Ok(writer)
    }

    pub fn gauge(&self) -> Arc<WalGauge> {
        self.gauge.clone()
    }

    fn path(&self) -> PathBuf {
        self.dir.join(names::segment(self.index))
    }

    fn publish(&self) {
        let bytes = self.sizes.values().sum();
        self.gauge.bytes.store(bytes, Ordering::Relaxed);
        let segments = self.sizes.len() as u64;
        self.gauge.segments.store(segments, Ordering::Relaxed);
    }

    /// Writes whole records; rolls to a new segment once this one is past the limit. The first
    /// write after a sync is preceded by a marker saying how much of the segment is durable, so
    /// recovery can tell damage in synced bytes (corruption) from lost unsynced pages (a torn
    /// tail).
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.announced != Some(self.synced) {
            let mut marker = Vec::with_capacity(32);
            push_marker(&mut marker, self.salt, self.synced);
            self.write(&marker)?;
            self.announced = Some(self.synced);
        }
        self.write(bytes)?;
        if self.size >= self.roll_bytes {
            self.roll()?;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let written = self.file.write_all(bytes);
        // A failed write may have written part of the bytes; count them as possibly there.
        self.size += bytes.len() as u64;
        self.sizes.insert(self.index, self.size);
        self.publish();
        written.map_err(Error::io("append to", self.path()))
    }

    pub fn sync(&mut self) -> Result<()> {
        self.file.sync().map_err(Error::io("fsync", self.path()))?;
        self.synced = self.size;
        Ok(())
    }

    /// Syncs the current segment and starts the next; returns the index of the new one.
    pub fn roll(&mut self) -> Result<u64> {
        self.sync()?;
        let next = self.index + 1;
        let salt = new_salt(next);
        self.file = create_segment(self.storage.as_ref(), &self.dir, next, salt)?;
        self.index = next;
        self.salt = salt;
        self.size = HEADER_LEN as u64;
        self.synced = self.size;
        self.announced = None;
        self.sizes.insert(next, self.size);
        self.publish();
        Ok(next)
    }

    /// Deletes every segment before `index` (their contents are in a checkpoint).
    pub fn retire_before(&mut self, index: u64) -> Result<()> {
        let retired: Vec<u64> = self.sizes.range(..index).map(|(&i, _)| i).collect();
        for i in &retired {
            let path = self.dir.join(names::segment(*i));
            self.storage
                .remove(&path)
                .map_err(Error::io("remove", path))?;
            self.sizes.remove(i);
            self.publish();
        }
        if !retired.is_empty() {
            self.storage
                .sync_dir(&self.dir)
                .map_err(Error::io("fsync directory", &self.dir))?;
        }
        Ok(())
    }
}

/// Creates segment `index` atomically: header written and fsynced under a temporary name, then
/// renamed into place and the directory fsynced.
fn create_segment(
    storage: &dyn Storage,
    dir: &Path,
    index: u64,
    salt: u64,
) -> Result<Box<dyn WritableFile>> {
    let path = dir.join(names::segment(index));
    let tmp = dir.join(names::temporary(&names::segment(index)));
    let mut file = storage.create(&tmp).map_err(Error::io("create", &tmp))?;
    file.write_all(&header(index, salt))
        .map_err(Error::io("write header of", &tmp))?;
    file.sync().map_err(Error::io("fsync", &tmp))?;
    storage
        .rename(&tmp, &path)
        .map_err(Error::io("rename", &tmp))?;
    storage
        .sync_dir(dir)
        .map_err(Error::io("fsync directory", dir))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        assert_eq!(check_header(&header(7, 99), 7), Ok(99));
        assert!(check_header(&header(7, 99), 8).is_err());
        assert!(check_header(&header(7, 99)[..10], 7).is_err());
        assert!(check_header(&header(7, 99)[..HEADER_LEN - 1], 7).is_err());
        assert!(check_header(&[0; HEADER_LEN], 7).is_err());
    }
}
