//! Every byte the engine reads or writes goes through [`Storage`], so tests can swap the real
//! file system for [`FaultyStorage`], which injects I/O failures and rebuilds the image a crash
//! would leave behind (only fsynced bytes and fsynced directory entries survive).

mod faulty;
mod fs;

pub use faulty::{Fault, FaultyStorage};
pub use fs::FsStorage;

use std::any::Any;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A file opened for appending. Bytes are durable only after `sync` returns.
pub trait WritableFile: Send {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    fn sync(&mut self) -> io::Result<()>;
}

/// The bytes of a whole file, typically memory-mapped.
pub type Mapped = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// An exclusive lock on a path, released when dropped.
pub type LockGuard = Box<dyn Any + Send + Sync>;

pub trait Storage: Send + Sync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// `Ok(None)` when nothing exists at `path`, else whether it is a directory.
    fn is_dir(&self, path: &Path) -> io::Result<Option<bool>>;
    /// File names (not paths) in `dir`, unsorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The whole file, mapped read-only. Only immutable files are mapped.
    fn map(&self, path: &Path) -> io::Result<Mapped>;
    /// Creates `path` (replacing any file there) and opens it for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Cuts the file to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything below it.
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals inside `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` without waiting; `WouldBlock` if it is held.
    fn lock(&self, path: &Path) -> io::Result<LockGuard>;
}
