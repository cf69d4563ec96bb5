//! An in-memory file system for tests that fails chosen operations and models crashes.
//!
//! Every mutating operation is numbered, so a test can fail the n-th one (or several), after a
//! clean run has counted them. [`FaultyStorage::crash`] builds the image a power loss would
//! leave: a file keeps its fsynced bytes (and, through [`FaultyStorage::crash_with`], any
//! subset of its unsynced pages, out of order); a file or directory entry survives only if its
//! directory was fsynced after the entry was made, and its directory survives too. Removing
//! and re-creating a directory makes a new incarnation: entries made durable in the old one
//! never reappear in the new one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{LockGuard, Mapped, Storage, WritableFile};

/// The mutating operations, each a place where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Mkdir,
    Create,
    Write,
    Sync,
    Rename,
    Remove,
    Truncate,
}

/// Unsynced data reaches the disk in pages of this size, in any order.
pub const PAGE: usize = 4096;

#[derive(Debug, Default, Clone)]
struct Node {
    data: Vec<u8>,
    synced_len: usize,
}

/// A directory incarnation.
type Inc = u64;

#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// The n-th mutating operation of any kind (counted from the storage's creation).
    Nth(u64),
    /// The n-th operation of one kind.
    NthOf(Op, u64),
}

#[derive(Debug)]
struct MemFs {
    nodes: Vec<Node>,
    /// Visible files → node.
    files: BTreeMap<PathBuf, usize>,
    /// Visible directories → incarnation.
    dirs: BTreeMap<PathBuf, Inc>,
    /// File entries a crash keeps: path → (node, incarnation of the directory synced).
    durable_files: BTreeMap<PathBuf, (usize, Inc)>,
    /// Directory entries a crash keeps: path → (its incarnation, its parent's incarnation).
    durable_dirs: BTreeMap<PathBuf, (Inc, Inc)>,
    next_inc: Inc,
    locks: HashSet<PathBuf>,
    ops: u64,
    per_kind: HashMap<Op, u64>,
    faults: Vec<Trigger>,
}

fn root() -> PathBuf {
    PathBuf::from("/")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
}

impl Default for MemFs {
    fn default() -> Self {
        MemFs {
            nodes: Vec::new(),
            files: BTreeMap::new(),
            dirs: BTreeMap::from([(root(), 0)]),
            durable_files: BTreeMap::new(),
            durable_dirs: BTreeMap::from([(root(), (0, 0))]),
            next_inc: 1,
            locks: HashSet::new(),
            ops: 0,
            per_kind: HashMap::new(),
            faults: Vec::new(),
        }
    }
}

impl MemFs {
    /// Counts an operation; fails it if a trigger matches.
    fn trip(&mut self, op: Op) -> io::Result<()> {
        let nth = self.ops;
        self.ops += 1;
        let count = self.per_kind.entry(op).or_default();
        let nth_of = *count;
        *count += 1;
        let hit = self.faults.iter().position(|t| match *t {
            Trigger::Nth(n) => n == nth,
            Trigger::NthOf(kind, n) => kind == op && n == nth_of,
        });
        match hit {
            Some(i) => {
                self.faults.swap_remove(i);
                Err(io::Error::other(format!(
                    "injected {op:?} failure (#{nth})"
                )))
            }
            None => Ok(()),
        }
    }

    fn node(&self, path: &Path) -> io::Result<usize> {
        self.files.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn require_dir(&self, dir: &Path) -> io::Result<Inc> {
        self.dirs.get(dir).copied().ok_or_else(|| not_found(dir))
    }
}

/// Cheap to clone: clones share one file system.
#[derive(Debug, Clone, Default)]
pub struct FaultyStorage {
    fs: Arc<Mutex<MemFs>>,
    pause: Arc<PauseGate>,
}

/// Holds the next fsync of a matching path until released (see [`FaultyStorage::pause_sync`]).
#[derive(Debug, Default)]
struct PauseGate {
    state: Mutex<Pause>,
    changed: Condvar,
}

#[derive(Debug, Default)]
enum Pause {
    #[default]
    Off,
    Armed(String),
    Holding,
    Released,
}

/// A paused fsync: [`wait`](Paused::wait) until it is reached, [`release`](Paused::release) it.
pub struct Paused(Arc<PauseGate>);

impl Paused {
    /// Blocks until an fsync has reached the pause.
    pub fn wait(&self) {
        let mut s = lock_ignoring_poison(&self.0.state);
        while !matches!(*s, Pause::Holding) {
            s = self.0.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Lets the held fsync go on.
    pub fn release(self) {
        *lock_ignoring_poison(&self.0.state) = Pause::Released;
        self.0.changed.notify_all();
    }
}

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PauseGate {
    /// Called by every fsync before it touches the file system.
    fn pass(&self, path: &Path) {
        let mut s = lock_ignoring_poison(&self.state);
        match &*s {
            Pause::Armed(part) if path.to_string_lossy().contains(part.as_str()) => {
                *s = Pause::Holding;
                self.changed.notify_all();
                while matches!(*s, Pause::Holding) {
                    s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                *s = Pause::Off;
            }
            _ => {}
        }
    }
}

impl FaultyStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn fs(&self) -> MutexGuard<'_, MemFs> {
        // A test that panicked while holding the lock leaves plain data behind; keep using it.
        self.fs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mutating operations attempted so far (the numbering of [`fail_op`](Self::fail_op)).
    pub fn ops(&self) -> u64 {
        self.fs().ops
    }

    /// The mutating operation numbered `n` (counting from this storage's creation) fails.
    pub fn fail_op(&self, n: u64) {
        self.fs().faults.push(Trigger::Nth(n));
    }

    /// The next operation of kind `op` fails.
    pub fn fail_next(&self, op: Op) {
        let mut fs = self.fs();
        let n = fs.per_kind.get(&op).copied().unwrap_or(0);
        fs.faults.push(Trigger::NthOf(op, n));
    }

    /// The next fsync of a file or directory whose path contains `part` waits, without
    /// holding any lock of this storage, until the returned handle releases it: a test can
    /// act while the engine is in the middle of an operation.
    pub fn pause_sync(&self, part: &str) -> Paused {
        *lock_ignoring_poison(&self.pause.state) = Pause::Armed(part.to_owned());
        Paused(self.pause.clone())
    }

    /// The image after a power loss: only fsynced bytes and fsynced entries survive.
    pub fn crash(&self) -> FaultyStorage {
        self.crash_with(|_, _, _| Vec::new())
    }

    /// Like [`crash`](Self::crash), but `unsynced(path, synced_len, unsynced_bytes)` returns
    /// what reached the disk of each file's unsynced tail (a prefix, zeroed pages, ...).
    pub fn crash_with(
        &self,
        mut unsynced: impl FnMut(&Path, usize, &[u8]) -> Vec<u8>,
    ) -> FaultyStorage {
        let fs = self.fs();
        let mut image = MemFs {
            dirs: BTreeMap::new(),
            durable_dirs: BTreeMap::new(),
            next_inc: fs.next_inc,
            ..MemFs::default()
        };
        // Parents sort before their children, so each directory's parent is decided first.
        for (path, &(inc, parent_inc)) in &fs.durable_dirs {
            let survives = match path.parent() {
                None => true,
                Some(parent) => image.dirs.get(parent) == Some(&parent_inc),
            };
            if survives {
                image.dirs.insert(path.clone(), inc);
                image.durable_dirs.insert(path.clone(), (inc, parent_inc));
            }
        }
        for (path, &(id, parent_inc)) in &fs.durable_files {
            let parent = path.parent().unwrap_or(Path::new("/"));
            if image.dirs.get(parent) != Some(&parent_inc) {
                continue;
            }
            let node = &fs.nodes[id];
            let mut data = node.data[..node.synced_len].to_vec();
            let tail = unsynced(path, node.synced_len, &node.data[node.synced_len..]);
            let keep = tail.len().min(node.data.len() - node.synced_len);
            data.extend_from_slice(&tail[..keep]);
            let synced_len = data.len();
            image.nodes.push(Node { data, synced_len });
            let new_id = image.nodes.len() - 1;
            image.files.insert(path.clone(), new_id);
            image
                .durable_files
                .insert(path.clone(), (new_id, parent_inc));
        }
        FaultyStorage {
            fs: Arc::new(Mutex::new(image)),
            pause: Arc::default(),
        }
    }

    /// A crash in which each file's unsynced pages reach the disk or not independently (lost
    /// ones read as zeros) and the file may end at any page boundary: what a file system may do
    /// with pages written but never fsynced. `seed` picks the outcome.
    pub fn crash_losing_pages(&self, seed: u64) -> FaultyStorage {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        self.crash_with(|_, synced, tail| {
            let end = synced + tail.len();
            // Page boundaries (absolute file offsets) inside the unsynced tail, and its end.
            let mut cuts: Vec<usize> = (synced / PAGE + 1..=end / PAGE)
                .map(|p| p * PAGE)
                .filter(|&c| c > synced && c < end)
                .collect();
            cuts.push(end);
            let pick = usize::try_from(next() % cuts.len() as u64).unwrap_or(0);
            let len = cuts.get(pick).copied().unwrap_or(end) - synced;
            let mut kept = tail[..len].to_vec();
            let mut page_start = 0;
            while page_start < len {
                let page_end = ((synced + page_start) / PAGE + 1) * PAGE - synced;
                let page_end = page_end.min(len);
                if next() % 2 == 0 {
                    kept[page_start..page_end].fill(0);
                }
                page_start = page_end;
            }
            kept
        })
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
    path: PathBuf,
}

impl WritableFile for FaultyFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut fs = self.storage.fs();
        let tripped = fs.trip(Op::Write);
        // A failed write may still have written part of the buffer (ENOSPC half-way).
        let written = if tripped.is_ok() {
            buf
        } else {
            &buf[..buf.len() / 2]
        };
        fs.nodes[self.node].data.extend_from_slice(written);
        tripped
    }

    fn sync(&mut self) -> io::Result<()> {
        self.storage.pause.pass(&self.path);
        let mut fs = self.storage.fs();
        fs.trip(Op::Sync)?;
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
        fs.trip(Op::Mkdir)?;
        let mut ancestors: Vec<&Path> = dir.ancestors().collect();
        ancestors.reverse();
        for path in ancestors {
            if fs.files.contains_key(path) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file is in the way",
                ));
            }
            if !fs.dirs.contains_key(path) {
                let inc = fs.next_inc;
                fs.next_inc += 1;
                fs.dirs.insert(path.to_path_buf(), inc);
            }
        }
        Ok(())
    }

    fn is_dir(&self, path: &Path) -> io::Result<Option<bool>> {
        let fs = self.fs();
        Ok(if fs.dirs.contains_key(path) {
            Some(true)
        } else if fs.files.contains_key(path) {
            Some(false)
        } else {
            None
        })
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let fs = self.fs();
        fs.require_dir(dir)?;
        let files = fs.files.keys();
        let subdirs = fs.dirs.keys();
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

    fn len(&self, path: &Path) -> io::Result<u64> {
        let fs = self.fs();
        let id = fs.node(path)?;
        Ok(fs.nodes[id].data.len() as u64)
    }

    fn map(&self, path: &Path) -> io::Result<Mapped> {
        Ok(Arc::new(self.read(path)?))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut fs = self.fs();
        fs.trip(Op::Create)?;
        fs.require_dir(path.parent().unwrap_or(Path::new("")))?;
        if fs.dirs.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a directory is in the way",
            ));
        }
        fs.nodes.push(Node::default());
        let node = fs.nodes.len() - 1;
        fs.files.insert(path.to_path_buf(), node);
        Ok(Box::new(FaultyFile {
            storage: self.clone(),
            node,
            path: path.to_path_buf(),
        }))
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.pause.pass(path);
        let mut fs = self.fs();
        let id = fs.node(path)?;
        fs.trip(Op::Sync)?;
        let node = &mut fs.nodes[id];
        node.synced_len = node.data.len();
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut fs = self.fs();
        let id = fs.node(path)?;
        fs.trip(Op::Truncate)?;
        let node = &mut fs.nodes[id];
        let len = usize::try_from(len).map_err(io::Error::other)?;
        node.data.truncate(len);
        node.synced_len = node.data.len();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        let id = fs.node(from)?;
        fs.require_dir(to.parent().unwrap_or(Path::new("")))?;
        fs.trip(Op::Rename)?;
        fs.files.remove(from);
        fs.files.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        fs.node(path)?;
        fs.trip(Op::Remove)?;
        fs.files.remove(path);
        Ok(())
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        fs.require_dir(dir)?;
        fs.trip(Op::Remove)?;
        fs.files.retain(|p, _| !p.starts_with(dir));
        fs.dirs.retain(|p, _| !p.starts_with(dir));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.pause.pass(dir);
        let mut fs = self.fs();
        let inc = fs.require_dir(dir)?;
        fs.trip(Op::Sync)?;
        let child = |p: &PathBuf| p.parent() == Some(dir);
        fs.durable_files.retain(|p, _| !child(p));
        let files: Vec<(PathBuf, usize)> = fs
            .files
            .iter()
            .filter(|(p, _)| child(p))
            .map(|(p, &id)| (p.clone(), id))
            .collect();
        for (p, id) in files {
            fs.durable_files.insert(p, (id, inc));
        }
        fs.durable_dirs.retain(|p, _| !child(p));
        let dirs: Vec<(PathBuf, Inc)> = fs
            .dirs
            .iter()
            .filter(|(p, _)| child(p))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        for (p, i) in dirs {
            fs.durable_dirs.insert(p, (i, inc));
        }
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

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        // No links here: resolving is lexical normalization against the root.
        let mut out = root();
        for c in path.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(name) => out.push(name),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        let fs = self.fs();
        if fs.dirs.contains_key(&out) || fs.files.contains_key(&out) {
            Ok(out)
        } else {
            Err(not_found(path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(s: &FaultyStorage, path: &str, bytes: &[u8], sync: bool) {
        let mut f = s.create(Path::new(path)).unwrap();
        f.write_all(bytes).unwrap();
        if sync {
            f.sync().unwrap();
        }
    }

    #[test]
    fn only_synced_entries_and_bytes_survive() {
        let s = FaultyStorage::new();
        s.create_dir_all(Path::new("/a/b")).unwrap();
        write(&s, "/a/b/f", b"hello", true);
        let lost = s.crash();
        assert_eq!(
            lost.is_dir(Path::new("/a")).unwrap(),
            None,
            "/a never synced into /"
        );
        s.sync_dir(Path::new("/")).unwrap();
        s.sync_dir(Path::new("/a")).unwrap();
        s.sync_dir(Path::new("/a/b")).unwrap();
        let kept = s.crash();
        assert_eq!(kept.read(Path::new("/a/b/f")).unwrap(), b"hello");
        // A removed and re-created directory does not bring back the old entries.
        s.remove_dir_all(Path::new("/a/b")).unwrap();
        s.create_dir_all(Path::new("/a/b")).unwrap();
        s.sync_dir(Path::new("/a")).unwrap();
        assert_eq!(
            s.crash().list(Path::new("/a/b")).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn faults_hit_the_numbered_operation_once() {
        let s = FaultyStorage::new();
        let start = s.ops();
        s.fail_op(start + 1);
        s.create_dir_all(Path::new("/d")).unwrap();
        assert!(s.create(Path::new("/d/x")).is_err());
        assert!(s.create(Path::new("/d/x")).is_ok());
        s.fail_next(Op::Sync);
        assert!(s.sync_dir(Path::new("/d")).is_err());
        assert!(s.sync_dir(Path::new("/d")).is_ok());
    }

    #[test]
    fn lost_pages_read_as_zeros_and_synced_bytes_stay() {
        let s = FaultyStorage::new();
        let mut f = s.create(Path::new("/f")).unwrap();
        f.write_all(&[1; 100]).unwrap();
        f.sync().unwrap();
        f.write_all(&[2; 3 * PAGE]).unwrap();
        s.sync_dir(Path::new("/")).unwrap();
        for seed in 0..32 {
            let data = s.crash_losing_pages(seed).read(Path::new("/f")).unwrap();
            assert_eq!(&data[..100], &[1; 100][..]);
            assert!(data[100..].iter().all(|&b| b == 0 || b == 2));
        }
    }
}
