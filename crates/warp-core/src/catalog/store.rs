//! The catalog's files on storage: written once each, named by the manifest, read in order.

use std::path::Path;

use super::Catalog;
use crate::error::{Error, Result};
use crate::names;
use crate::storage::{remove_files, write_replacing, Storage};

/// Past this many files, a commit writes one file of every live series instead of another.
pub const MAX_FILES: usize = 16;

/// Writes catalog file `name` durably (temporary file, fsync, rename, directory fsync).
pub fn write(storage: &dyn Storage, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    write_replacing(storage, &path, bytes).map_err(Error::io("write", &path))?;
    storage
        .sync_dir(dir)
        .map_err(Error::io("fsync directory", dir))
}

/// The catalog made of `files`, read in order.
pub fn load(storage: &dyn Storage, dir: &Path, files: &[String]) -> Result<Catalog> {
    let mut contents = Vec::with_capacity(files.len());
    for name in files {
        let path = dir.join(name);
        let corrupt = |reason: String| Error::CorruptCatalog {
            path: path.clone(),
            reason,
        };
        match storage.read(&path) {
            Ok(bytes) => contents.push(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(corrupt("the manifest names it, but it is missing".into()))
            }
            Err(e) => return Err(Error::io("read", &path)(e)),
        }
    }
    Catalog::load(&contents).map_err(|reason| Error::CorruptCatalog {
        path: dir.to_path_buf(),
        reason,
    })
}

/// For a repair: every catalog file in `dir` whose contents load on their own, oldest first.
pub fn loadable(storage: &dyn Storage, dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = storage
        .list(dir)
        .map_err(Error::io("list", dir))?
        .into_iter()
        .filter(|n| names::parse_catalog(n).is_some())
        .collect();
    names.sort_unstable();
    names.retain(|name| {
        storage
            .read(&dir.join(name))
            .is_ok_and(|bytes| Catalog::load(&[bytes]).is_ok())
    });
    Ok(names)
}

/// Deletes catalog files (and temporaries of them) in `dir` that `keep` does not name.
pub fn remove_others(storage: &dyn Storage, dir: &Path, keep: &[String]) -> Result<()> {
    remove_files(storage, dir, |name| {
        let ours = names::parse_catalog(name)
            .or_else(|| names::parse_catalog(name.strip_suffix(".tmp")?))
            .is_some();
        ours && !keep.iter().any(|k| k == name)
    })
}
