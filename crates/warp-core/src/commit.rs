//! Commits: every change of the live set of files (checkpoint, seal, compaction, retention)
//! ends in one new manifest generation, written after the files it names and before the files
//! it drops are deleted.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::checkpoint;
use crate::engine::{lock, Inner};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::partition::{Partition, PartitionMeta, Tier};

impl Inner {
    pub(crate) fn checkpoint(&self) -> Result<u64> {
        let _one_at_a_time = lock(&self.manifest_lock);
        self.checkpoint_locked()
    }

    /// `checkpoint` for a caller that holds `manifest_lock`.
    pub(crate) fn checkpoint_locked(&self) -> Result<u64> {
        let next_segment = self.roll()?;
        self.commit(Some(next_segment), |manifest| manifest, Vec::new())
    }

    /// Writes the WAL buffer out and starts a new segment; returns its index. Every write
    /// accepted before the roll is in the segments before it.
    pub(crate) fn roll(&self) -> Result<u64> {
        let mut writer = lock(&self.writer);
        let w = writer.as_mut().ok_or(Error::Closed)?;
        let (bytes, upto) = self.take_buffer()?;
        let next = w.append(&bytes).and_then(|()| w.roll());
        let next = next.map_err(|e| self.fail(e))?;
        self.durable_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(next)
    }

    /// Encodes a checkpoint of the live tier one series at a time, holding the state lock only
    /// while copying one series, so writers never wait for the whole tier. The result is a
    /// fuzzy snapshot: every write before the roll to `next_segment`, plus perhaps some after.
    /// That is enough, because replaying the segments from `next_segment` re-applies those
    /// later writes in order, and re-applying a write is harmless (the last write wins).
    fn encode_checkpoint(&self, next_segment: u64) -> Result<Vec<u8>> {
        let mut encoder = checkpoint::Encoder::new(next_segment);
        for id in 0.. {
            let copy = {
                let mut st = self.readable()?;
                let Ok(series) = st.live.get_mut(id) else {
                    break;
                };
                series.points.normalize();
                (series.key.clone(), series.points.clone())
            };
            encoder.add(&copy.0, &copy.1);
        }
        Ok(encoder.finish())
    }

    /// Commits a new manifest generation: a new checkpoint of the live tier if given the
    /// segment it starts from (see `encode_checkpoint`), and the partitions `edit` leaves in
    /// the manifest plus `added`. Then deletes what the new generation no longer
    /// names. Returns the size of the checkpoint written (0 if none).
    pub(crate) fn commit(
        &self,
        next_segment: Option<u64>,
        edit: impl FnOnce(Manifest) -> Manifest,
        added: Vec<Arc<Partition>>,
    ) -> Result<u64> {
        let dir = self.layout.checkpoints();
        let written = match next_segment {
            Some(next_segment) => {
                let bytes = self.encode_checkpoint(next_segment)?;
                let name = checkpoint::write(self.storage.as_ref(), &dir, &bytes, next_segment)?;
                Some((name, bytes.len() as u64, next_segment))
            }
            None => None,
        };
        let old = self.readable()?.tiers.clone();
        let mut manifest = edit(old.manifest.clone());
        manifest.generation += 1;
        if let Some((name, _, _)) = &written {
            manifest.checkpoint = Some(name.clone());
        }
        manifest::store(self.storage.as_ref(), &self.layout.temporal(), &manifest)?;
        let next = Arc::new(old.next(manifest, added));
        let gone: Vec<PartitionMeta> = old
            .partitions
            .iter()
            .filter(|p| !next.partitions.iter().any(|n| n.meta.id == p.meta.id))
            .map(|p| p.meta.clone())
            .collect();
        {
            let mut st = lock(&self.state);
            st.tiers = next;
            st.sealing = None;
            if let Some((_, size, _)) = &written {
                st.checkpoints_written += 1;
                st.last_checkpoint_bytes = *size;
            }
        }
        // Everything below is cleanup: a crash here leaves files the next open deletes.
        if let Some((name, _, _)) = &written {
            checkpoint::remove_others(self.storage.as_ref(), &dir, Some(name))?;
        }
        let temporal = self.layout.temporal();
        for meta in &gone {
            self.cache.forget_partition(meta.id);
            let path = temporal.join(&meta.dir);
            self.storage
                .remove_dir_all(&path)
                .map_err(Error::io("remove", &path))?;
        }
        if !gone.is_empty() {
            for tier in Tier::ALL {
                let d = temporal.join(tier.dir());
                self.storage
                    .sync_dir(&d)
                    .map_err(Error::io("fsync directory", &d))?;
            }
        }
        if let Some((_, size, next_segment)) = written {
            if let Some(w) = lock(&self.writer).as_mut() {
                w.retire_before(next_segment)?;
            }
            return Ok(size);
        }
        Ok(0)
    }
}
