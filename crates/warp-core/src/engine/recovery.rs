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
use crate::partition::{self, salvage, Partition, PartitionMeta, Salvage, Tier};
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
    let manifest = match manifest::load(storage.as_ref(), &temporal) {
        Ok(Some(manifest)) => manifest,
        Ok(None) => {
            let found = found_files(storage.as_ref(), layout)?;
            if found.is_empty() {
                create(storage.as_ref(), &temporal)?
            } else if options.repair {
                recovery.rebuilt_manifest = true;
                rebuild(storage.as_ref(), layout)?
            } else {
                return Err(Error::CorruptManifest {
                    path: manifest::path(&temporal),
                    reason: format!(
                        "it is missing, yet the directory holds {} (an interrupted copy or a \
                         lost file)",
                        found.join(", ")
                    ),
                });
            }
        }
        Err(Error::CorruptManifest { .. }) if options.repair => {
            recovery.rebuilt_manifest = true;
            rebuild(storage.as_ref(), layout)?
        }
        Err(e) => return Err(e),
    };
    remove_temporary(storage.as_ref(), &temporal)?;
    checkpoint::remove_others(storage.as_ref(), &ckpt_dir, manifest.checkpoint.as_deref())?;
    tiers::collect_garbage(storage.as_ref(), &temporal, &manifest)?;
    let mut tiers = TierSet::open(
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
    if options.repair {
        salvage_all(
            storage.as_ref(),
            &temporal,
            &mut tiers,
            &live,
            &mut recovery,
        )?;
    }
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

/// Repair of damaged blocks: each partition is read whole, and one with damaged blocks is
/// replaced by a partition of its readable blocks (under the same id, so the same priority);
/// the open's commit then names the replacement and retires the damaged files.
fn salvage_all(
    storage: &dyn Storage,
    temporal: &Path,
    tiers: &mut TierSet,
    live: &LiveTier,
    recovery: &mut RecoveryStats,
) -> Result<()> {
    let key_of = |id| live.get(id).map(|s| s.key.clone()).unwrap_or_default();
    let mut kept = Vec::with_capacity(tiers.partitions.len());
    for old in std::mem::take(&mut tiers.partitions) {
        let meta = &old.meta;
        let dir = tiers::unique_dir(&[&tiers.manifest], meta.tier, meta.start);
        let Salvage::Rebuilt {
            built,
            lost_blocks,
            lost_points,
            first_error,
        } = salvage(&old, dir, &key_of)?
        else {
            kept.push(old);
            continue;
        };
        recovery.repaired_partitions.push(format!(
            "{}: {lost_blocks} damaged blocks ({lost_points} points) left out, the first: \
             {first_error}",
            meta.dir
        ));
        let entry = tiers
            .manifest
            .partitions
            .iter_mut()
            .find(|m| m.id == meta.id);
        if built.meta.points == 0 {
            tiers.manifest.partitions.retain(|m| m.id != meta.id);
            continue;
        }
        built.write(storage, temporal)?;
        partition::sync(storage, temporal, &built.meta)?;
        let tier_dir = temporal.join(names::tier_dir(built.meta.tier));
        storage
            .sync_dir(&tier_dir)
            .map_err(Error::io("fsync directory", &tier_dir))?;
        kept.push(Arc::new(Partition::open(
            storage,
            temporal,
            built.meta.clone(),
        )?));
        if let Some(entry) = entry {
            *entry = built.meta;
        }
    }
    tiers.partitions = kept;
    Ok(())
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

/// What a database directory holds besides its empty skeleton, in words: a new database has
/// none of it, since its first manifest is written before anything else.
fn found_files(storage: &dyn Storage, layout: &Layout) -> Result<Vec<String>> {
    let temporal = layout.temporal();
    let partitions = tiers::partition_dirs(storage, &temporal)?.len();
    let checkpoints = checkpoint::candidates(storage, &layout.checkpoints())?.len();
    let wal = layout.wal();
    let segments = storage
        .list(&wal)
        .map_err(Error::io("list", &wal))?
        .iter()
        .filter(|n| names::parse_segment(n).is_some())
        .count();
    let config = layout.configuration();
    let rules = storage
        .list(&config)
        .map_err(Error::io("list", &config))?
        .iter()
        .filter(|n| !names::is_temporary(n))
        .count();
    Ok([
        (partitions, "partitions"),
        (checkpoints, "checkpoints"),
        (segments, "WAL segments"),
        (rules, "rule files"),
    ]
    .into_iter()
    .filter(|&(n, _)| n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect())
}

/// A manifest from the files found: every partition whose summary names it and whose files
/// pass their checks, and the newest checkpoint that loads. The retention horizon starts over
/// (the next lifecycle pass sets it again from the rules).
///
/// Partitions name series by id, and the series catalog lives in the checkpoint and the WAL:
/// with no checkpoint that loads and a WAL that no longer starts at its first segment, the
/// partitions could not be read, so the repair refuses rather than commit a database that has
/// lost its catalog.
fn rebuild(storage: &dyn Storage, layout: &Layout) -> Result<Manifest> {
    let (temporal, ckpt_dir) = (&layout.temporal(), &layout.checkpoints());
    let partitions = tiers::partition_dirs(storage, temporal)?;
    let checkpoints = checkpoint::candidates(storage, ckpt_dir)?;
    let mut manifest = Manifest::default();
    for (tier, dir) in &partitions {
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
    let first_segment = layout.wal().join(names::segment(1));
    let whole_wal = storage
        .is_dir(&first_segment)
        .map_err(Error::io("inspect", &first_segment))?
        .is_some();
    if manifest.checkpoint.is_none() && !manifest.partitions.is_empty() && !whole_wal {
        return Err(Error::CorruptCheckpoint {
            path: ckpt_dir.clone(),
            reason: format!(
                "no checkpoint loads ({} found) and the WAL no longer starts at its first \
                 segment: the series catalog that names the {} partitions is lost; restore \
                 from a backup",
                checkpoints.len(),
                manifest.partitions.len()
            ),
        });
    }
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
