//! Backups: a consistent copy of exactly the files the current manifest names (rule files,
//! rollup definitions, catalog, checkpoint, partitions), with the manifest written last, so a copy cut short (a
//! crash, a full disk) has no manifest and opening it fails with `CORRUPT_MANIFEST` instead
//! of showing part of the data.

use std::path::Path;

use super::{lock, Inner};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::manifest;
use crate::names;
use crate::partition::Tier;
use crate::storage::{create_dir_durably, resolve, Storage};

impl Inner {
    pub(super) fn backup(&self, target: &Path) -> Result<()> {
        let storage = self.storage.as_ref();
        let root =
            resolve(storage, &self.layout.root).map_err(Error::io("resolve", &self.layout.root))?;
        let resolved = resolve(storage, target).map_err(Error::io("resolve", target))?;
        if resolved.starts_with(&root) {
            return Err(Error::InvalidArgument(format!(
                "backup target {} is inside the database {}",
                target.display(),
                self.layout.root.display()
            )));
        }
        // One backup or commit at a time, from the check that the target is empty onwards (two
        // backups into one empty directory: the second finds it taken).
        let _one_at_a_time = lock(&self.manifest_lock);
        match storage
            .is_dir(target)
            .map_err(Error::io("inspect", target))?
        {
            Some(false) => return Err(Error::NotADirectory(target.to_path_buf())),
            Some(true)
                if !storage
                    .list(target)
                    .map_err(Error::io("list", target))?
                    .is_empty() =>
            {
                return Err(Error::InvalidArgument(format!(
                    "backup target {} is not empty",
                    target.display()
                )))
            }
            _ => {}
        }
        // Hold the manifest still: checkpoint, then copy exactly the files it names.
        self.checkpoint_locked()?;
        let tiers = self.readable()?.tiers.clone();
        let to = Layout::new(target);
        create_dir_durably(storage, target).map_err(Error::io("create directory", target))?;
        to.create_directories(storage)?;
        // The definitions: rule files and rollups (written under the same lock).
        for (from_dir, to_dir) in [
            (self.layout.configuration(), to.configuration()),
            (self.layout.aggregations(), to.aggregations()),
        ] {
            for name in storage
                .list(&from_dir)
                .map_err(Error::io("list", &from_dir))?
            {
                if !name.ends_with(".tmp") {
                    copy(storage, &from_dir.join(&name), &to_dir.join(&name))?;
                }
            }
            sync_dir(storage, &to_dir)?;
        }
        for name in &tiers.manifest.catalog {
            copy(
                storage,
                &self.layout.indices().join(name),
                &to.indices().join(name),
            )?;
        }
        let links = self.layout.indices().join(names::LINKS);
        if storage
            .is_dir(&links)
            .map_err(Error::io("inspect", &links))?
            == Some(false)
        {
            copy(storage, &links, &to.indices().join(names::LINKS))?;
        }
        sync_dir(storage, &to.indices())?;
        if let Some(name) = &tiers.manifest.checkpoint {
            let from = self.layout.checkpoints().join(name);
            copy(storage, &from, &to.checkpoints().join(name))?;
            sync_dir(storage, &to.checkpoints())?;
        }
        let (from_temporal, to_temporal) = (self.layout.temporal(), to.temporal());
        for meta in &tiers.manifest.partitions {
            let (src, dst) = (from_temporal.join(&meta.dir), to_temporal.join(&meta.dir));
            storage
                .create_dir_all(&dst)
                .map_err(Error::io("create directory", &dst))?;
            for name in [names::BLOCKS, names::INDEX, names::SUMMARY] {
                copy(storage, &src.join(name), &dst.join(name))?;
            }
            sync_dir(storage, &dst)?;
        }
        for tier in Tier::ALL {
            sync_dir(storage, &to_temporal.join(names::tier_dir(tier)))?;
        }
        // Last: the manifest that makes the copy a database.
        manifest::store(storage, &to_temporal, &tiers.manifest)?;
        sync_dir(storage, &to_temporal)
    }
}

/// Copies one file through a mapping, a chunk at a time (a yearly partition may be larger
/// than memory), and makes the copy durable (its directory is synced by the caller).
fn copy(storage: &dyn Storage, from: &Path, to: &Path) -> Result<()> {
    const CHUNK: usize = 8 << 20;
    let source = storage.map(from).map_err(Error::io("read", from))?;
    let mut file = storage.create(to).map_err(Error::io("create", to))?;
    for chunk in (*source).as_ref().chunks(CHUNK) {
        file.write_all(chunk).map_err(Error::io("write", to))?;
    }
    file.sync().map_err(Error::io("fsync", to))
}

fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    storage
        .sync_dir(dir)
        .map_err(Error::io("fsync directory", dir))
}
