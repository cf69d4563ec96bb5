//! Opening a database: load the manifest, the series catalog and the checkpoint it names,
//! collect files it does not name, open the partitions, and replay the WAL from where the
//! checkpoint ends.
//!
//! A new database gets its first manifest before anything else is written, so a missing
//! manifest where partitions or checkpoints exist is corruption (a lost file, a backup cut
//! short): nothing is deleted and the open fails with `CORRUPT_MANIFEST`, unless `repair`
//! rebuilds it from the files found (each partition checked, the catalog files that load, the
//! newest readable checkpoint).

use std::path::Path;
use std::sync::Arc;

use crate::catalog::{self, Catalog, Revived};
use crate::checkpoint;
use crate::codec::BlockPoints;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::live::{LiveTier, Newest, Payload};
use crate::manifest::{self, Manifest};
use crate::names;
use crate::options::Options;
use crate::partition::{self, salvage, BlockRef, Partition, PartitionMeta, Salvage, Tier};
use crate::series::{SeriesId, SeriesKind};
use crate::storage::Storage;
use crate::tiers::{self, TierSet};
use crate::time::check_timestamp;
use crate::types::RecoveryStats;
use crate::wal::{self, Entry, SegmentWriter};

pub(super) struct Recovered {
    pub catalog: Catalog,
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
    catalog::store::remove_others(storage.as_ref(), &layout.indices(), &manifest.catalog)?;
    tiers::collect_garbage(storage.as_ref(), &temporal, &manifest)?;
    let mut catalog = catalog::store::load(storage.as_ref(), &layout.indices(), &manifest.catalog)?;
    let mut tiers = TierSet::open(
        storage.as_ref(),
        &temporal,
        manifest,
        options.repair,
        &mut recovery.dropped_partitions,
    )?;
    let mut live = columns(&catalog);
    let dropped = |id| catalog.kind(id).is_none();
    let first_segment = match &tiers.manifest.checkpoint {
        Some(name) => {
            match checkpoint::load(storage.as_ref(), &ckpt_dir, name, &mut live, &dropped) {
                Ok(next_segment) => {
                    recovery.checkpoint_loaded = true;
                    recovery.checkpoint_points = live.iter().map(|p| p.len() as u64).sum();
                    next_segment
                }
                // The catalog names the series apart from the checkpoint: a repair loses only the
                // live points the checkpoint held (and replays the WAL that is left).
                Err(e @ Error::CorruptCheckpoint { .. }) if options.repair => {
                    recovery.lost_checkpoint = Some(e.to_string());
                    live.clear(&catalog.ids().collect::<Vec<_>>());
                    1
                }
                Err(e) => return Err(e),
            }
        }
        None => 1,
    };
    let mut replayed_points = 0u64;
    let replayed = wal::replay(
        storage.as_ref(),
        &layout.wal(),
        first_segment,
        options.repair,
        &mut |entry| {
            replayed_points += apply(&mut catalog, &mut live, entry).map_err(|e| e.to_string())?;
            Ok(())
        },
    )?;
    recovery.replayed_points = replayed_points;
    recovery.wal = replayed.report;
    // Points logged for series dropped since are older than the retention horizon: unread.
    let gone: Vec<SeriesId> = catalog
        .ids()
        .filter(|&id| catalog.kind(id).is_none())
        .collect();
    live.clear(&gone);
    if options.repair {
        salvage_all(storage.as_ref(), &temporal, &mut tiers, &mut recovery)?;
    }
    let repaired = recovery.wal.repaired()
        || recovery.rebuilt_manifest
        || recovery.lost_checkpoint.is_some()
        || !recovery.dropped_partitions.is_empty()
        || !recovery.repaired_partitions.is_empty();
    if repaired {
        recompute_newest(&catalog, &mut live, &tiers)?;
    }
    let writer = SegmentWriter::start(
        storage.clone(),
        &layout.wal(),
        replayed.next_index,
        options.segment_bytes,
        replayed.sizes,
    )?;

    Ok(Recovered {
        catalog,
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
    recovery: &mut RecoveryStats,
) -> Result<()> {
    let mut kept = Vec::with_capacity(tiers.partitions.len());
    for old in std::mem::take(&mut tiers.partitions) {
        let meta = &old.meta;
        let dir = tiers::unique_dir(&[&tiers.manifest], meta.tier, meta.start);
        let Salvage::Rebuilt {
            built,
            lost_blocks,
            lost_points,
            first_error,
        } = salvage(&old, dir)?
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

/// Finds every series' newest point again from what is stored, after a repair lost some of it
/// (or the checkpoint that kept it): the newest block end of each series in any partition (a
/// later partition winning at equal times), unless its live points go further.
fn recompute_newest(catalog: &Catalog, live: &mut LiveTier, tiers: &TierSet) -> Result<()> {
    let mut best: Vec<Option<(i64, usize, BlockRef)>> = vec![None; catalog.len()];
    for (at, p) in tiers.partitions.iter().enumerate() {
        for r in p.blocks()? {
            if let Some(slot) = best.get_mut(r.series as usize) {
                if slot.is_none_or(|(ts, _, _)| r.max_ts() >= ts) {
                    *slot = Some((r.max_ts(), at, r));
                }
            }
        }
    }
    for (id, stored) in (0..).zip(best) {
        live.set_newest(id, Newest::NONE);
        let mut newest = match stored {
            Some((ts, at, r)) => {
                let value = match catalog.kind(id) {
                    Some(SeriesKind::Numeric) => match r.meta.last() {
                        Some(last) => last,
                        None => match tiers.partitions[at].decode(&r)? {
                            BlockPoints::Numeric(_, vs) => vs.last().copied().unwrap_or(f64::NAN),
                            BlockPoints::Event(..) => f64::NAN,
                        },
                    },
                    _ => f64::NAN,
                };
                Some(Newest { ts, value })
            }
            None => None,
        };
        let points = live.normalize(id)?;
        if let Some(last) = points.last() {
            if newest.is_none_or(|n| last.0 >= n.ts) {
                newest = Some(Newest {
                    ts: last.0,
                    value: last.1,
                });
            }
        }
        if let Some(n) = newest {
            live.set_newest(id, n);
        }
    }
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
/// Partitions name series by id, and their names are in the catalog files (and the WAL's
/// series records): with no catalog file that loads and a WAL that no longer starts at its
/// first segment, the partitions could not be read, so the repair refuses rather than commit a
/// database that has lost its catalog.
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
    let indices = layout.indices();
    manifest.catalog = catalog::store::loadable(storage, &indices)?;
    let catalog = catalog::store::load(storage, &indices, &manifest.catalog)?;
    let dropped = |id| catalog.kind(id).is_none();
    manifest.checkpoint = checkpoints
        .iter()
        .find(|name| {
            let mut live = columns(&catalog);
            checkpoint::load(storage, ckpt_dir, name, &mut live, &dropped).is_ok()
        })
        .cloned();
    let first_segment = layout.wal().join(names::segment(1));
    let whole_wal = storage
        .is_dir(&first_segment)
        .map_err(Error::io("inspect", &first_segment))?
        .is_some();
    if manifest.catalog.is_empty() && !manifest.partitions.is_empty() && !whole_wal {
        return Err(Error::CorruptCatalog {
            path: indices,
            reason: format!(
                "no catalog file loads and the WAL no longer starts at its first segment: the \
                 names of the series in the {} partitions are lost; restore from a backup",
                manifest.partitions.len()
            ),
        });
    }
    Ok(manifest)
}

/// An empty column for every id of the catalog, of its kind.
fn columns(catalog: &Catalog) -> LiveTier {
    let mut live = LiveTier::with_capacity(catalog.len());
    for id in catalog.ids() {
        live.push(catalog.kind(id).unwrap_or(SeriesKind::Numeric));
    }
    live
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

/// Applies one replayed WAL entry to the catalog and the live tier, as the write did; returns
/// how many points it added.
fn apply(catalog: &mut Catalog, live: &mut LiveTier, entry: Entry<'_>) -> Result<u64> {
    let known = |catalog: &Catalog, id| catalog.kind(id).is_some();
    match entry {
        Entry::Series { id, kind, key } => {
            // The catalog may already hold a series created after the checkpoint's segment
            // began (its files are written at every commit), or have dropped it since.
            if (id as usize) < catalog.len() {
                return match catalog.key(id) {
                    None => match catalog.revive(id, kind, Some(key)) {
                        Revived::Same => {
                            live.revive(id, kind);
                            Ok(0)
                        }
                        _ => Err(Error::Internal(format!(
                            "series record {id} ({key}) revives a series named otherwise"
                        ))),
                    },
                    Some(k) if k == key && catalog.kind(id) == Some(kind) => Ok(0),
                    Some(k) => Err(Error::Internal(format!(
                        "series record {id} ({key}) disagrees with the catalog ({k})"
                    ))),
                };
            }
            if id as usize != catalog.len() || catalog.id(key).is_some() {
                return Err(Error::Internal(format!(
                    "series record {id} ({key}) is out of sequence"
                )));
            }
            catalog.add(key, kind)?;
            live.push(kind);
            Ok(0)
        }
        Entry::Dropped { id } => {
            catalog.drop_series(&[id]);
            live.clear(&[id]);
            Ok(0)
        }
        Entry::Point { id, ts, value } if known(catalog, id) => {
            live.numeric_mut(id)?.push(check_timestamp(ts)?, value);
            live.note(id, ts, value);
            Ok(1)
        }
        Entry::Batch {
            id,
            timestamps,
            values,
        } if known(catalog, id) => {
            timestamps
                .iter()
                .try_for_each(|&t| check_timestamp(t).map(drop))?;
            live.numeric_mut(id)?.extend(&timestamps, &values);
            live.note_batch(id, &timestamps, &values);
            Ok(timestamps.len() as u64)
        }
        Entry::Event { id, ts, payload } if known(catalog, id) => {
            live.event_mut(id)?
                .push(check_timestamp(ts)?, Payload::from(payload));
            live.note(id, ts, f64::NAN);
            Ok(1)
        }
        Entry::Point { id, .. } | Entry::Batch { id, .. } | Entry::Event { id, .. } => {
            if (id as usize) < catalog.len() {
                Ok(0) // a series dropped since: its points are older than the horizon
            } else {
                Err(Error::Internal(format!("a point of unknown series {id}")))
            }
        }
    }
}
