//! Opening a database: load the manifest and the checkpoint it names, collect files it does
//! not name, open the partitions, and replay the WAL from where the checkpoint ends.
//!
//! A new database gets its first manifest before anything else is written, so a missing
//! manifest where partitions or checkpoints exist is corruption (a lost file, a backup cut
//! short): nothing is deleted and the open fails with `CORRUPT_MANIFEST`, unless `repair`
//! rebuilds it from the files found (each partition checked, the newest readable checkpoint).

use std::path::Path;
use std::sync::Arc;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::live::{LiveTier, Payload};
use crate::manifest::{self, Manifest};
use crate::names;
use crate::options::Options;
use crate::partition::{Partition, PartitionMeta, Tier};
use crate::storage::Storage;
use crate::tiers::{self, TierSet};
use crate::time::check_timestamp;
use crate::types::RecoveryStats;
use crate::wal::{self, Entry, SegmentWriter};

pub(super) struct Recovered {
    pub live: LiveTier,
    pub tiers: TierSet,
    pub writer: SegmentWriter,
    pub recovery: RecoveryStats,
}

pub(super) fn recover(
    storage: Arc<dyn Storage>,
    layout: &Layout,
    options: &Options,
) -> Result<Recovered> {
    let mut recovery = RecoveryStats::default();
    let temporal = layout.temporal();
    let ckpt_dir = layout.checkpoints();
    let manifest = match manifest::load(storage.as_ref(), &temporal)? {
        Some(manifest) => manifest,
        None => {
            let partitions = tiers::partition_dirs(storage.as_ref(), &temporal)?;
            let checkpoints = checkpoint::candidates(storage.as_ref(), &ckpt_dir)?;
            if partitions.is_empty() && checkpoints.is_empty() {
                create(storage.as_ref(), &temporal)?
            } else if options.repair {
                recovery.rebuilt_manifest = true;
                rebuild(
                    storage.as_ref(),
                    &temporal,
                    &ckpt_dir,
                    &partitions,
                    &checkpoints,
                )?
            } else {
                return Err(Error::CorruptManifest {
                    path: manifest::path(&temporal),
                    reason: format!(
                        "it is missing, yet {} partitions and {} checkpoints exist (an \\
                         interrupted copy or a lost file); open with repair to rebuild it",
                        partitions.len(),
                        checkpoints.len()
                    ),
                });
            }
        }
    };
    remove_temporary(storage.as_ref(), &temporal)?;
    checkpoint::remove_others(storage.as_ref(), &ckpt_dir, manifest.checkpoint.as_deref())?;
    tiers::collect_garbage(storage.as_ref(), &temporal, &manifest)?;
    let tiers = TierSet::open(
        storage.as_ref(),
        &temporal,
        manifest,
        options.repair,
        &mut recovery.dropped_partitions,
    )?;
    let (mut live, first_segment) = match &tiers.manifest.checkpoint {
        Some(name) => {
            let (live, next_segment) = checkpoint::load(storage.as_ref(), &ckpt_dir, name)?;
            recovery.checkpoint_loaded = true;
            recovery.checkpoint_points = live.iter().map(|s| s.points.len() as u64).sum();
            (live, next_segment)
        }
        None => (LiveTier::default(), 1),
    };
    let mut replayed_points = 0u64;
    let replayed = wal::replay(
        storage.as_ref(),
        &layout.wal(),
        first_segment,
        options.repair,
        &mut |entry| {
            replayed_points += apply(&mut live, entry).map_err(|e| e.to_string())?;
            Ok(())
        },
    )?;
    recovery.replayed_points = replayed_points;
    recovery.wal = replayed.report;
    let writer = SegmentWriter::start(
        storage.clone(),
        &layout.wal(),
        replayed.next_index,
        options.segment_bytes,
        replayed.sizes,
    )?;

    Ok(Recovered {
        live,
        tiers,
        writer,
        recovery,
    })
}

/// The first manifest of a new database, made durable before anything else is written.
fn create(storage: &dyn Storage, temporal: &Path) -> Result<Manifest> {
    let manifest = Manifest::default();
    manifest::store(storage, temporal, &manifest)?;
    storage
        .sync_dir(temporal)
        .map_err(Error::io("fsync directory", temporal))?;
    Ok(manifest)
}

/// Removes the manifest's temporary file, left by a commit that crashed before its rename.
fn remove_temporary(storage: &dyn Storage, temporal: &Path) -> Result<()> {
    let tmp = temporal.join(names::temporary(names::MANIFEST));
    if storage.is_dir(&tmp).map_err(Error::io("inspect", &tmp))? == Some(false) {
        storage.remove(&tmp).map_err(Error::io("remove", &tmp))?;
    }
    Ok(())
}

/// A manifest from the files found: every partition whose summary names it and whose files
/// pass their checks, and the newest checkpoint that loads.
fn rebuild(
    storage: &dyn Storage,
    temporal: &Path,
    ckpt_dir: &Path,
    partitions: &[(Tier, String)],
    checkpoints: &[String],
) -> Result<Manifest> {
    let mut manifest = Manifest::default();
    for (tier, dir) in partitions {
        let Some(meta) = described(storage, temporal, *tier, dir) else {
            continue;
        };
        let duplicate = manifest.partitions.iter().any(|m| m.id == meta.id);
        if !duplicate && Partition::open(storage, temporal, meta.clone()).is_ok() {
            manifest.next_partition_id = manifest.next_partition_id.max(meta.id + 1);
            manifest.partitions.push(meta);
        }
    }
    manifest.partitions.sort_by_key(|m| m.id);
    manifest.checkpoint = checkpoints
        .iter()
        .find(|name| checkpoint::load(storage, ckpt_dir, name).is_ok())
        .cloned();
    Ok(manifest)
}

/// What a partition's summary file says it is, if that matches where it lies.
fn described(
    storage: &dyn Storage,
    temporal: &Path,
    tier: Tier,
    dir: &str,
) -> Option<PartitionMeta> {
    let bytes = storage
        .read(&temporal.join(dir).join(names::SUMMARY))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let meta: PartitionMeta = serde_json::from_value(value.get("partition")?.clone()).ok()?;
    let window_ok = tier.window(meta.start) == (meta.start, meta.end);
    (meta.tier == tier && meta.dir == dir && window_ok).then_some(meta)
}

/// Applies one replayed WAL entry to the live tier; returns how many points it added.
fn apply(live: &mut LiveTier, entry: Entry<'_>) -> Result<u64> {
    match entry {
        Entry::Series { id, kind, key } => {
            // A fuzzy checkpoint may already hold a series created after its segment began.
            let known = live.id(key);
            if known == Some(id) && live.get(id)?.points.kind() == kind {
                return Ok(0);
            }
            if id as usize != live.len() || known.is_some() {
                return Err(Error::Internal(format!(
                    "series record {id} ({key}) is out of sequence"
                )));
            }
            live.add(key, kind)?;
            Ok(0)
        }
        Entry::Point { id, ts, value } => {
            live.numeric_mut(id)?.push(check_timestamp(ts)?, value);
            Ok(1)
        }
        Entry::Batch {
            id,
            timestamps,
            values,
        } => {
            timestamps
                .iter()
                .try_for_each(|&t| check_timestamp(t).map(drop))?;
            live.numeric_mut(id)?.extend(&timestamps, &values);
            Ok(timestamps.len() as u64)
        }
        Entry::Event { id, ts, payload } => {
            live.event_mut(id)?
                .push(check_timestamp(ts)?, Payload::from(payload));
            Ok(1)
        }
    }
}
