//! Opening a database: load the manifest and the checkpoint it names, collect files it does
//! not name, open the partitions, and replay the WAL from where the checkpoint ends.

use std::sync::Arc;

use crate::checkpoint;
use crate::engine::RecoveryStats;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::live::{LiveTier, Payload};
use crate::manifest;
use crate::options::Options;
use crate::storage::Storage;
use crate::tiers::{self, TierSet};
use crate::wal::{self, Entry, SegmentWriter};

pub(crate) struct Recovered {
    pub live: LiveTier,
    pub tiers: TierSet,
    pub writer: SegmentWriter,
    pub recovery: RecoveryStats,
}

pub(crate) fn recover(
    storage: Arc<dyn Storage>,
    layout: &Layout,
    options: &Options,
) -> Result<Recovered> {
    let mut recovery = RecoveryStats::default();
    let temporal = layout.temporal();
    let manifest = manifest::load(storage.as_ref(), &temporal)?.unwrap_or_default();
    let ckpt_dir = layout.checkpoints();
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
            live.add(key, kind);
            Ok(0)
        }
        Entry::Point { id, ts, value } => {
            live.numeric_mut(id)?.push(ts, value);
            Ok(1)
        }
        Entry::Batch {
            id,
            timestamps,
            values,
        } => {
            live.numeric_mut(id)?.extend(&timestamps, &values);
            Ok(timestamps.len() as u64)
        }
        Entry::Event { id, ts, payload } => {
            live.event_mut(id)?.push(ts, Payload::from(payload));
            Ok(1)
        }
    }
}
