//! Every byte the engine reads or writes goes through [`Storage`], so tests can swap the real
//! file system for `FaultyStorage` (feature `test-util`), which injects I/O failures and
//! rebuilds the image a crash would leave behind (only fsynced bytes and entries survive).

#[cfg(any(test, feature = "test-util"))]
mod faulty;
mod fs;

#[cfg(any(test, feature = "test-util"))]
pub use faulty::{FaultyStorage, Op, Paused};
pub use fs::FsStorage;

use std::any::Any;
use std::io;
use std::path::{Path, PathBuf};
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
    /// The size of a file in bytes.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// The whole file, mapped read-only. Only immutable files are mapped.
    fn map(&self, path: &Path) -> io::Result<Mapped>;
    /// Creates `path` (replacing any file there) and opens it for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Makes the contents of a file written and closed earlier durable.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
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
    /// The absolute path of an existing file or directory, with every symbolic link resolved.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
}

/// `path` made absolute with links resolved, even when its last components do not exist yet:
/// the nearest existing ancestor is canonicalized and the rest appended.
pub fn resolve(storage: &dyn Storage, path: &Path) -> io::Result<PathBuf> {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        match storage.canonicalize(existing) {
            Ok(mut resolved) => {
                resolved.extend(missing.iter().rev());
                return Ok(resolved);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(e);
                };
                missing.push(name.to_os_string());
                existing = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates `dir` (and missing ancestors) so that it survives a crash: each directory created
/// is made durable by syncing its parent.
pub fn create_dir_durably(storage: &dyn Storage, dir: &Path) -> io::Result<()> {
    if storage.is_dir(dir)? == Some(true) {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durably(storage, parent)?;
        storage.create_dir_all(dir)?;
        storage.sync_dir(parent)
    } else {
        storage.create_dir_all(dir)
    }
}

/// The bytes of the file at `path`, or `None` if there is none.
pub fn read_if_present(
    storage: &dyn Storage,
    path: &Path,
) -> crate::error::Result<Option<Vec<u8>>> {
    use crate::error::Error;
    if storage.is_dir(path).map_err(Error::io("inspect", path))? != Some(false) {
        return Ok(None);
    }
    storage
        .read(path)
        .map(Some)
        .map_err(Error::io("read", path))
}

/// [`write_replacing`], then an fsync of the directory: the new bytes are the file's, durably.
pub fn replace_durably(
    storage: &dyn Storage,
    path: &Path,
    bytes: &[u8],
) -> crate::error::Result<()> {
    use crate::error::Error;
    write_replacing(storage, path, bytes).map_err(Error::io("write", path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    storage
        .sync_dir(dir)
        .map_err(Error::io("fsync directory", dir))
}

/// Deletes the files in `dir` that `doomed` picks, and makes their removal durable.
pub fn remove_files(
    storage: &dyn Storage,
    dir: &Path,
    doomed: impl Fn(&str) -> bool,
) -> crate::error::Result<()> {
    use crate::error::Error;
    let mut removed = false;
    for name in storage.list(dir).map_err(Error::io("list", dir))? {
        if doomed(&name) {
            let path = dir.join(&name);
            storage.remove(&path).map_err(Error::io("remove", &path))?;
            removed = true;
        }
    }
    if removed {
        storage
            .sync_dir(dir)
            .map_err(Error::io("fsync directory", dir))?;
    }
    Ok(())
}

/// Temporary file, write, fsync, rename over `path`: after a crash the file holds the old
/// bytes or the new ones. The caller syncs the directory when the rename must be durable.
pub fn write_replacing(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = storage.create(&tmp)?;
    file.write_all(bytes)?;
    file.sync()?;
    drop(file);
    storage.rename(&tmp, path)
}
