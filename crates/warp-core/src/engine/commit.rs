//! Commits: every change of the live set of files (checkpoint, lifecycle pass) ends in one new
//! manifest generation.
//!
//! 1. Before the commit point everything the new generation names is written and fsynced
//!    (partitions by the pass, the checkpoint here). A failure here leaves the old generation,
//!    on disk and in memory, and the engine usable.
//! 2. The rename of the new manifest over the old is the commit point. From then on memory
//!    follows disk: the new generation is adopted whatever happens next.
//! 3. The directory fsync makes the rename durable. If it fails, a crash may still bring back
//!    the old generation, so nothing the old one names may be deleted: the engine refuses
//!    writes and commits until reopened (`STORAGE_FAILED`).
//! 4. Cleanup deletes what only the old generation named. It is best effort: a file left
//!    behind is counted and deleted by the next open.

use std::sync::Arc;

use super::{lock, Inner};
use crate::catalog;
use crate::checkpoint;
use crate::codec::Payload;
use crate::error::{Error, Result};
use crate::live::Newest;
use crate::manifest::{self, Manifest};
use crate::names;
use crate::partition::{Partition, Tier};
use crate::retention::Horizons;
use crate::sample::Sample;
use crate::series::{SeriesId, SeriesKind};
use crate::tiers::TierSet;

/// Points copied out of the live tier at a time while writing a checkpoint: writers wait for
/// one chunk's copy, never for a whole series.
const CHUNK: usize = 8192;
/// Series whose newest points are copied at a time.
const CHUNK_IDS: SeriesId = 65_536;

impl Inner {
    pub(super) fn checkpoint(&self) -> Result<u64> {
        let _one_at_a_time = lock(&self.manifest_lock);
        self.checkpoint_locked()
    }

    /// `checkpoint` for a caller that holds `manifest_lock`.
    pub(super) fn checkpoint_locked(&self) -> Result<u64> {
        self.writable().map(drop)?;
        let next_segment = self.wal.roll()?;
        let manifest = self.readable()?.tiers.manifest.clone();
        self.commit(Some(next_segment), manifest, Vec::new())
    }

    /// Encodes a checkpoint of the live tier chunk by chunk, holding the state lock only while
    /// copying one chunk. The result is a fuzzy snapshot: every write before the roll to
    /// `next_segment`, plus perhaps some after. That is enough, because replaying the segments
    /// from `next_segment` re-applies those later writes in order, and re-applying a write is
    /// harmless (the last write wins). Points older than their series' horizon are left out.
    fn encode_checkpoint(&self, next_segment: u64, horizons: &Horizons) -> Result<Vec<u8>> {
        let mut encoder = checkpoint::Encoder::new(next_segment);
        for id in 0.. {
            let kind = {
                let st = self.readable()?;
                let Ok(points) = st.live.get(id) else {
                    break;
                };
                points.kind()
            };
            let horizon = if horizons.uniform() {
                horizons.default_horizon()
            } else {
                self.catalog()
                    .key(id)
                    .map_or(horizons.default_horizon(), |k| horizons.of(k))
            };
            match kind {
                SeriesKind::Numeric => self.copy_series::<f64>(&mut encoder, id, horizon)?,
                SeriesKind::Event => self.copy_series::<Payload>(&mut encoder, id, horizon)?,
            }
        }
        // The newest point of every series, a chunk of ids at a time.
        let mut from: SeriesId = 0;
        loop {
            let chunk: Vec<(SeriesId, Newest)> = {
                let st = self.readable()?;
                let ids = st.live.ids();
                (from.min(ids.end)..from.saturating_add(CHUNK_IDS).min(ids.end))
                    .filter_map(|id| Some((id, st.live.newest(id)?)))
                    .collect()
            };
            encoder.add_newest(&chunk);
            from = from.saturating_add(CHUNK_IDS);
            if from >= self.readable()?.live.ids().end {
                break;
            }
        }
        Ok(encoder.finish())
    }

    fn copy_series<V: Sample>(
        &self,
        encoder: &mut checkpoint::Encoder,
        id: u32,
        horizon: i64,
    ) -> Result<()> {
        let mut from = horizon;
        loop {
            let (ts, vs) = {
                let mut st = self.readable()?;
                let mut column = st.live.column_mut::<V>(id)?;
                let (ts, vs) = column.chunk_from(from, CHUNK);
                (ts.to_vec(), vs.to_vec())
            };
            encoder.add(id, &ts, &vs);
            match ts.last() {
                Some(&last) if ts.len() == CHUNK => from = last + 1,
                _ => return Ok(()),
            }
        }
    }

    /// Commits `manifest` as the next generation, with a new checkpoint of the live tier if
    /// given the segment it starts from, and `added`, the partitions it names that were
    /// written (and fsynced) since the last commit. Returns the checkpoint's size (0 if none).
    pub(super) fn commit(
        &self,
        next_segment: Option<u64>,
        mut manifest: Manifest,
        added: Vec<Arc<Partition>>,
    ) -> Result<u64> {
        let dir = self.layout.checkpoints();
        let temporal = self.layout.temporal();
        let old = self.readable()?.tiers.clone();
        let written = match next_segment {
            Some(next) => {
                let horizons = Horizons::new(manifest.horizon, &manifest.retention);
                let bytes = self.encode_checkpoint(next, &horizons)?;
                let name = checkpoint::write(self.storage.as_ref(), &dir, &bytes, next)?;
                manifest.checkpoint = Some(name);
                Some((bytes.len() as u64, next))
            }
            None => None,
        };
        manifest.generation = old.manifest.generation + 1;
        let catalog = self.write_catalog(&mut manifest)?;
        manifest::store(self.storage.as_ref(), &temporal, &manifest)?;

        // Committed: memory follows disk from here on.
        if let Some(pending) = &catalog {
            self.catalog_mut().persisted(pending);
        }
        let new = Arc::new(old.next(manifest, added));
        {
            let mut st = lock(&self.state);
            st.tiers = new.clone();
            st.sealing = None;
            if let Some((size, _)) = written {
                st.checkpoints_written += 1;
                st.last_checkpoint_bytes = size;
            }
        }
        if let Err(e) = self.storage.sync_dir(&temporal) {
            let e = Error::io("fsync directory", &temporal)(e);
            return Err(self.wal.fail(Error::StorageFailed(format!(
                "the manifest commit may not be durable: {e}"
            ))));
        }
        self.clean_up(&old, &new, written.map(|w| w.1));
        Ok(written.map_or(0, |w| w.0))
    }

    /// Writes the series created and dropped since the last commit to a new catalog file (or,
    /// once the manifest names many, every live series to one) and names it in `manifest`.
    /// Series created after the WAL roll that precedes a checkpoint may be included: their
    /// WAL records, replayed, then find them already there.
    fn write_catalog(&self, manifest: &mut Manifest) -> Result<Option<catalog::Pending>> {
        let compact = manifest.catalog.len() >= catalog::store::MAX_FILES;
        let Some(pending) = self.catalog().pending(compact) else {
            return Ok(None);
        };
        let name = names::catalog(manifest.generation);
        catalog::store::write(
            self.storage.as_ref(),
            &self.layout.indices(),
            &name,
            &pending.bytes,
        )?;
        if compact {
            manifest.catalog.clear();
        }
        manifest.catalog.push(name);
        Ok(Some(pending))
    }

    /// Deletes what only the old generation named; failures are counted, not returned (the
    /// next open deletes what is left).
    fn clean_up(&self, old: &TierSet, new: &TierSet, retire_before: Option<u64>) {
        let storage = self.storage.as_ref();
        let temporal = self.layout.temporal();
        let mut failures = 0;
        if retire_before.is_some() {
            let keep = new.manifest.checkpoint.as_deref();
            failures += checkpoint::remove_others(storage, &self.layout.checkpoints(), keep)
                .is_err() as u64;
        }
        if old.manifest.catalog != new.manifest.catalog {
            let keep = &new.manifest.catalog;
            failures += catalog::store::remove_others(storage, &self.layout.indices(), keep)
                .is_err() as u64;
        }
        let mut removed = false;
        for p in &old.partitions {
            if new.partitions.iter().any(|n| n.meta.id == p.meta.id) {
                continue;
            }
            self.cache.forget_partition(p.meta.id);
            failures += storage.remove_dir_all(&temporal.join(&p.meta.dir)).is_err() as u64;
            removed = true;
        }
        if removed {
            for tier in Tier::ALL {
                let dir = temporal.join(names::tier_dir(tier));
                failures += storage.sync_dir(&dir).is_err() as u64;
            }
        }
        if let Some(next) = retire_before {
            failures += self.wal.retire_before(next).is_err() as u64;
        }
        failures += manifest::write_listings(storage, &temporal, &new.manifest);
        lock(&self.state).lifecycle.cleanup_failures += failures;
    }
}
