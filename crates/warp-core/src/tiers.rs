//! The partitions named by the current manifest, open and ready to read. A `TierSet` is
//! immutable: every commit builds a new one, and readers keep the one they started with, so a
//! query sees either the old set of files or the new one, never a mix.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::names;
use crate::partition::{Partition, PartitionMeta, Tier};
use crate::retention::Horizons;
use crate::storage::Storage;

#[derive(Default)]
pub struct TierSet {
    pub manifest: Manifest,
    /// The manifest's retention, per series.
    pub horizons: Horizons,
    /// Sorted by id: for equal timestamps, later partitions hold later writes.
    pub partitions: Vec<Arc<Partition>>,
}

impl TierSet {
    /// Opens every partition the manifest names. With `repair`, a partition that fails its
    /// checks is left out of the set (and reported in `dropped`) instead of failing the open.
    pub fn open(
        storage: &dyn Storage,
        temporal: &Path,
        mut manifest: Manifest,
        repair: bool,
        dropped: &mut Vec<String>,
    ) -> Result<TierSet> {
        let mut partitions = Vec::new();
        let mut kept = Vec::new();
        for meta in &manifest.partitions {
            match Partition::open(storage, temporal, meta.clone()) {
                Ok(p) => {
                    partitions.push(Arc::new(p));
                    kept.push(meta.clone());
                }
                Err(e @ Error::CorruptPartition { .. }) if repair => dropped.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        manifest.partitions = kept;
        partitions.sort_by_key(|p| p.meta.id);
        Ok(TierSet {
            horizons: Horizons::new(manifest.horizon, &manifest.retention),
            manifest,
            partitions,
        })
    }

    /// The set after a commit: `manifest` names what stays; `added` are newly opened.
    pub fn next(&self, manifest: Manifest, added: Vec<Arc<Partition>>) -> TierSet {
        let named: HashSet<u64> = manifest.partitions.iter().map(|m| m.id).collect();
        let mut partitions: Vec<Arc<Partition>> = self
            .partitions
            .iter()
            .filter(|p| named.contains(&p.meta.id))
            .cloned()
            .collect();
        partitions.extend(added);
        partitions.sort_by_key(|p| p.meta.id);
        TierSet {
            horizons: Horizons::new(manifest.horizon, &manifest.retention),
            manifest,
            partitions,
        }
    }
}

/// A directory name for a new partition of `tier` starting at `start`, named by none of
/// `manifests` (a second partition of a window, an overlay, gets a `.N` suffix).
pub fn unique_dir(manifests: &[&Manifest], tier: Tier, start: i64) -> String {
    let taken = |d: &str| {
        manifests
            .iter()
            .flat_map(|m| &m.partitions)
            .any(|p: &PartitionMeta| p.dir == d)
    };
    (1..)
        .map(|n| names::partition_dir(tier, start, n))
        .find(|d| !taken(d))
        .unwrap_or_default()
}

/// Partition directories on disk, relative to `temporal/`.
pub fn partition_dirs(storage: &dyn Storage, temporal: &Path) -> Result<Vec<(Tier, String)>> {
    let mut out = Vec::new();
    for tier in Tier::ALL {
        let dir = temporal.join(names::tier_dir(tier));
        for name in storage.list(&dir).map_err(Error::io("list", &dir))? {
            let path = dir.join(&name);
            if storage.is_dir(&path).map_err(Error::io("inspect", &path))? == Some(true) {
                out.push((tier, format!("{}/{name}", names::tier_dir(tier))));
            }
        }
    }
    Ok(out)
}

/// Deletes partition directories the manifest does not name: leftovers of a pass that crashed
/// before its commit, or of one that committed but crashed before deleting its inputs.
pub fn collect_garbage(storage: &dyn Storage, temporal: &Path, manifest: &Manifest) -> Result<()> {
    let named: HashSet<&str> = manifest.partitions.iter().map(|p| p.dir.as_str()).collect();
    for tier in Tier::ALL {
        let dir = temporal.join(names::tier_dir(tier));
        let mut removed = false;
        for name in storage.list(&dir).map_err(Error::io("list", &dir))? {
            let rel = format!("{}/{name}", names::tier_dir(tier));
            let path = dir.join(&name);
            let is_dir = storage.is_dir(&path).map_err(Error::io("inspect", &path))? == Some(true);
            let leftover = if is_dir {
                !named.contains(rel.as_str())
            } else {
                names::is_temporary(&name)
            };
            if leftover && is_dir {
                storage
                    .remove_dir_all(&path)
                    .map_err(Error::io("remove", &path))?;
                removed = true;
            } else if leftover {
                storage.remove(&path).map_err(Error::io("remove", &path))?;
                removed = true;
            }
        }
        if removed {
            storage
                .sync_dir(&dir)
                .map_err(Error::io("fsync directory", &dir))?;
        }
    }
    Ok(())
}
