//! An in-memory file system for tests that fails chosen operations and models crashes.
//!
//! Each file remembers how many of its bytes were fsynced, and each directory which of its
//! entries were fsynced. [`FaultyStorage::crash`] builds the image a power loss would leave:
//! unsynced bytes are dropped (or a prefix of them kept, to model torn writes) and entries
//! created, renamed or removed since the last directory sync are rolled back. Directories
//! themselves are treated as durable once created.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{LockGuard, Mapped, Storage, WritableFile};

/// The kind of operation a fault is injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Write,
    Sync,
}

#[derive(Debug, Default)]
struct Node {
    data: Vec<u8>,
    synced_len: usize,
}

#[derive(Debug, Default)]
struct MemFs {
    nodes: Vec<Node>,
    names: BTreeMap<PathBuf, usize>,
    durable_names: BTreeMap<PathBuf, usize>,
    dirs: BTreeSet<PathBuf>,
    locks: HashSet<PathBuf>,
    /// (kind, how many more operations of that kind succeed before one fails)
    armed: Option<(Fault, u64)>,
    writes: u64,
    syncs: u64,
}

impl MemFs {
    fn trip(&mut self, kind: Fault) -> io::Result<()> {
        match kind {
            Fault::Write => self.writes += 1,
            Fault::Sync => self.syncs += 1,
        }
        match &mut self.armed {
            Some((armed, 0)) if *armed == kind => {
                self.armed = None;
                Err(io::Error::other(format!("injected {kind:?} failure")))
            }
            Some((armed, left)) if *armed == kind => {
                *left -= 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn node(&self, path: &Path) -> io::Result<usize> {
        self.names
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))
    }
}

/// Cheap to clone: clones share one file system.
#[derive(Debug, Clone, Default)]
pub struct FaultyStorage {
    fs: Arc<Mutex<MemFs>>,
}

impl FaultyStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn fs(&self) -> MutexGuard<'_, MemFs> {
        // A test that panicked while holding the lock leaves plain data behind; keep using it.
        self.fs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The operation of `kind` after the next `after` successful ones fails (once).
    pub fn fail_after(&self, kind: Fault, after: u64) {
        self.fs().armed = Some((kind, after));
    }

    /// How many operations of `kind` were attempted so far.
    pub fn count(&self, kind: Fault) -> u64 {
        let fs = self.fs();
        match kind {
            Fault::Write => fs.writes,
            Fault::Sync => fs.syncs,
        }
    }

    /// The image after a power loss: only fsynced bytes and fsynced entries survive.
    pub fn crash(&self) -> FaultyStorage {
        self.crash_keeping(|_, _| 0)
    }

    /// Like [`crash`](Self::crash), but `keep(path, unsynced)` says how many of a file's
    /// unsynced bytes reached the disk anyway (a torn write).
    pub fn crash_keeping(&self, mut keep: impl FnMut(&Path, usize) -> usize) -> FaultyStorage {
        let fs = self.fs();
        let mut image = MemFs {
            dirs: fs.dirs.clone(),
            ..MemFs::default()
        };
        for (path, &id) in &fs.durable_names {
            let node = &fs.nodes[id];
            let unsynced = node.data.len() - node.synced_len;
            let kept = node.synced_len + keep(path, unsynced).min(unsynced);
            image.nodes.push(Node {
                data: node.data[..kept].to_vec(),
                synced_len: kept,
            });
            let new_id = image.nodes.len() - 1;
            image.names.insert(path.clone(), new_id);
            image.durable_names.insert(path.clone(), new_id);
        }
        FaultyStorage {
            fs: Arc::new(Mutex::new(image)),
        }
    }

    /// Overwrites bytes of a file in place (and marks them durable): for corruption tests.
    pub fn corrupt(&self, path: &Path, offset: usize, bytes: &[u8]) -> io::Result<()> {
        let mut fs = self.fs();
        let id = fs.node(path)?;
        let node = &mut fs.nodes[id];
        let end = offset + bytes.len();
        if node.data.len() < end {
            node.data.resize(end, 0);
        }
        node.data[offset..end].copy_from_slice(bytes);
        node.synced_len = node.synced_len.max(end);
        Ok(())
    }
}

struct FaultyFile {
    storage: FaultyStorage,
    node: usize,
}

impl WritableFile for FaultyFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut fs = self.storage.fs();
        fs.trip(Fault::Write)?;
        fs.nodes[self.node].data.extend_from_slice(buf);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut fs = self.storage.fs();
        fs.trip(Fault::Sync)?;
        let node = &mut fs.nodes[self.node];
        node.synced_len = node.data.len();
        Ok(())
    }
}

struct FaultyLock {
    storage: FaultyStorage,
    path: PathBuf,
}

impl Drop for FaultyLock {
    fn drop(&mut self) {
        self.storage.fs().locks.remove(&self.path);
    }
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        for ancestor in dir.ancestors() {
            if fs.names.contains_key(ancestor) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file is in the way",
                ));
            }
            fs.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn is_dir(&self, path: &Path) -> io::Result<Option<bool>> {
        let fs = self.fs();
        Ok(if fs.dirs.contains(path) {
            Some(true)
        } else if fs.names.contains_key(path) {
            Some(false)
        } else {
            None
        })
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let fs = self.fs();
        if !fs.dirs.contains(dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                dir.display().to_string(),
            ));
        }
        let files = fs.names.keys();
        let subdirs = fs.dirs.iter();
        Ok(files
            .chain(subdirs)
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let fs = self.fs();
        let id = fs.node(path)?;
        Ok(fs.nodes[id].data.clone())
    }

    fn map(&self, path: &Path) -> io::Result<Mapped> {
        Ok(Arc::new(self.read(path)?))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut fs = self.fs();
        match path.parent() {
            Some(parent) if fs.dirs.contains(parent) => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no parent directory",
                ))
            }
        }
        fs.nodes.push(Node::default());
        let node = fs.nodes.len() - 1;
        fs.names.insert(path.to_path_buf(), node);
        Ok(Box::new(FaultyFile {
            storage: self.clone(),
            node,
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut fs = self.fs();
        fs.trip(Fault::Sync)?;
        let id = fs.node(path)?;
        let node = &mut fs.nodes[id];
        let len = usize::try_from(len).map_err(io::Error::other)?;
        node.data.truncate(len);
        node.synced_len = node.data.len();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        let id = fs.node(from)?;
        fs.names.remove(from);
        fs.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        fs.node(path)?;
        fs.names.remove(path);
        Ok(())
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        if !fs.dirs.contains(dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                dir.display().to_string(),
            ));
        }
        fs.names.retain(|p, _| !p.starts_with(dir));
        fs.dirs.retain(|p| !p.starts_with(dir));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        fs.trip(Fault::Sync)?;
        // Entries below subdirectories removed since the last sync are gone for good.
        let dirs = fs.dirs.clone();
        fs.durable_names
            .retain(|p, _| !p.starts_with(dir) || p.parent().is_some_and(|d| dirs.contains(d)));
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        let visible: Vec<(PathBuf, usize)> = fs
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, &id)| (p.clone(), id))
            .collect();
        fs.durable_names.retain(|p, _| !in_dir(p));
        fs.durable_names.extend(visible);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        if !self.fs().locks.insert(path.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(Box::new(FaultyLock {
            storage: self.clone(),
            path: path.to_path_buf(),
        }))
    }
}
