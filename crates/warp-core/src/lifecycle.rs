//! The mechanisms that move data down the tiers; the TypeScript lifecycle policy decides when.
//!
//! - **seal**: live points older than a cutoff become hourly partitions, and the live tier is
//!   checkpointed without them, in one manifest commit.
//! - **compact**: every partition inside a window of a coarser tier (hourly → daily → monthly →
//!   yearly) is merged into one partition of that tier; late overlays are folded in, later
//!   writes winning. Compacting a window into its own tier with another `lz4` setting
//!   recompresses it.
//! - **drop_before**: retention deletes partitions whose window has ended.
//! - **backup**: a consistent copy of the whole database.
//!
//! Each runs under `manifest_lock` and commits by replacing the manifest, so a crash at any
//! point leaves the old set of files or the new one. Puts and queries continue meanwhile:
//! writers wait only while one series is split or copied, readers see the old set until the
//! commit.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::codec::{BlockPoints, Payload};
use crate::engine::{lock, Inner};
use crate::error::{Error, Result};
use crate::live::{LiveTier, Points};
use crate::partition::{Column, Partition, PartitionMeta, PartitionWriter, SeriesColumn, Tier};
use crate::query::{self, Run};
use crate::series::SeriesId;
use crate::storage::Storage;
use crate::tiers::unique_dir;

/// What the lifecycle mechanisms have done since the database was opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleStats {
    pub seals: u64,
    pub sealed_points: u64,
    /// Compactions (tier moves and recompressions).
    pub moves: u64,
    /// Bytes of the partitions compacted, and of what they became.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub partitions_dropped: u64,
    pub bytes_dropped: u64,
}

impl Inner {
    pub(crate) fn seal(&self, cutoff: i64, lz4: bool) -> Result<u64> {
        let _one_at_a_time = lock(&self.manifest_lock);
        if !self.readable()?.live.has_before(cutoff) {
            return Ok(0);
        }
        let next_segment = self.roll()?;
        // Series by series, move the old points into the sealing set, where readers still find
        // them: writers wait for one series' split, never for the whole tier.
        for id in 0.. {
            let mut st = self.readable()?;
            if id as usize >= st.live.len() {
                break;
            }
            let key = st.live.get(id)?.key.clone();
            let taken = st.live.split_series(id, cutoff)?;
            let sealing = st.sealing.get_or_insert_with(Default::default);
            Arc::make_mut(sealing).add_with(key, taken);
        }
        let sealed = self.readable()?.sealing.clone().unwrap_or_default();
        match self.write_sealed(&sealed, next_segment, lz4) {
            Ok(points) => Ok(points),
            Err(e) => {
                // Nothing was committed: put the points back where readers expect them.
                drop(sealed);
                let mut st = lock(&self.state);
                if let Some(sealed) = st.sealing.take() {
                    st.live.restore(Arc::unwrap_or_clone(sealed));
                }
                Err(e)
            }
        }
    }

    fn write_sealed(&self, sealed: &LiveTier, next_segment: u64, lz4: bool) -> Result<u64> {
        let temporal = self.layout.temporal();
        let mut manifest = self.readable()?.tiers.manifest.clone();
        // Each series' sorted points, cut at hour boundaries: window start → columns.
        let mut windows: BTreeMap<i64, Vec<(SeriesId, &str, Column<'_>)>> = BTreeMap::new();
        let mut total = 0u64;
        for (id, s) in sealed.iter().enumerate() {
            // Sealed columns come out of `split_before` sorted.
            let column = match &s.points {
                Points::Numeric(c) => {
                    let (ts, vs) = c.range_sorted(i64::MIN, i64::MAX).unwrap_or_default();
                    Column::Numeric(ts, vs)
                }
                Points::Event(c) => {
                    let (ts, ps) = c.range_sorted(i64::MIN, i64::MAX).unwrap_or_default();
                    Column::Event(ts, ps)
                }
            };
            let ts = column.timestamps();
            for (start, range) in hour_runs(ts) {
                windows.entry(start).or_default().push((
                    id as SeriesId,
                    &s.key,
                    column.slice(range),
                ));
            }
            total += ts.len() as u64;
        }
        let mut added = Vec::new();
        for (start, columns) in windows {
            let id = manifest.next_partition_id;
            manifest.next_partition_id += 1;
            let dir = unique_dir(&manifest, Tier::Hourly, start);
            let mut writer =
                PartitionWriter::new(id, Tier::Hourly, dir, Tier::Hourly.window(start), lz4);
            for (series, key, column) in columns {
                writer.add(SeriesColumn {
                    id: series,
                    key,
                    column,
                });
            }
            let meta = writer.finish(self.storage.as_ref(), &temporal)?;
            manifest.partitions.push(meta.clone());
            added.push(Arc::new(Partition::open(
                self.storage.as_ref(),
                &temporal,
                meta,
            )?));
        }
        self.commit(Some(next_segment), |_| manifest, added)?;
        let mut st = lock(&self.state);
        st.lifecycle.seals += 1;
        st.lifecycle.sealed_points += total;
        Ok(total)
    }

    pub(crate) fn compact(
        &self,
        tier: Tier,
        window_start: i64,
        lz4: bool,
    ) -> Result<Option<PartitionMeta>> {
        let _one_at_a_time = lock(&self.manifest_lock);
        let (tiers, keys) = {
            let st = self.readable()?;
            let keys: Vec<String> = st.live.iter().map(|s| s.key.clone()).collect();
            (st.tiers.clone(), keys)
        };
        let (start, end) = tier.window(window_start);
        let inputs: Vec<Arc<Partition>> = tiers
            .partitions
            .iter()
            .filter(|p| p.meta.start >= start && p.meta.end <= end)
            .cloned()
            .collect();
        let already_done =
            inputs.len() == 1 && inputs[0].meta.tier == tier && inputs[0].meta.lz4 == lz4;
        if inputs.is_empty() || already_done {
            return Ok(None);
        }
        let mut manifest = tiers.manifest.clone();
        let id = manifest.next_partition_id;
        manifest.next_partition_id += 1;
        // Named before the inputs leave the manifest: their directories exist until the commit.
        let dir = unique_dir(&manifest, tier, start);
        let input_ids: Vec<u64> = inputs.iter().map(|p| p.meta.id).collect();
        manifest.partitions.retain(|m| !input_ids.contains(&m.id));
        let mut writer = PartitionWriter::new(id, tier, dir, (start, end), lz4);
        let mut series: Vec<SeriesId> = inputs
            .iter()
            .flat_map(|p| p.blocks())
            .map(|r| r.series)
            .collect();
        series.sort_unstable();
        series.dedup();
        for s in series {
            let key = keys.get(s as usize).map(String::as_str).unwrap_or("");
            match merged_series(&inputs, s)? {
                Merged::Numeric((ts, vs)) => writer.add(SeriesColumn {
                    id: s,
                    key,
                    column: Column::Numeric(&ts, &vs),
                }),
                Merged::Event((ts, ps)) => writer.add(SeriesColumn {
                    id: s,
                    key,
                    column: Column::Event(&ts, &ps),
                }),
            }
        }
        let temporal = self.layout.temporal();
        let meta = writer.finish(self.storage.as_ref(), &temporal)?;
        manifest.partitions.push(meta.clone());
        let opened = Arc::new(Partition::open(
            self.storage.as_ref(),
            &temporal,
            meta.clone(),
        )?);
        self.commit(None, |_| manifest, vec![opened])?;
        let mut st = lock(&self.state);
        st.lifecycle.moves += 1;
        st.lifecycle.bytes_before += inputs.iter().map(|p| p.meta.bytes).sum::<u64>();
        st.lifecycle.bytes_after += meta.bytes;
        Ok(Some(meta))
    }

    pub(crate) fn drop_before(&self, cutoff: i64) -> Result<u64> {
        let _one_at_a_time = lock(&self.manifest_lock);
        let tiers = self.readable()?.tiers.clone();
        let expired: Vec<&PartitionMeta> = tiers
            .manifest
            .partitions
            .iter()
            .filter(|m| m.end <= cutoff)
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let (count, bytes) = (
            expired.len() as u64,
            expired.iter().map(|m| m.bytes).sum::<u64>(),
        );
        self.commit(
            None,
            |mut manifest| {
                manifest.partitions.retain(|m| m.end > cutoff);
                manifest
            },
            Vec::new(),
        )?;
        let mut st = lock(&self.state);
        st.lifecycle.partitions_dropped += count;
        st.lifecycle.bytes_dropped += bytes;
        Ok(count)
    }

    pub(crate) fn backup(&self, target: &Path) -> Result<()> {
        let storage = self.storage.as_ref();
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
        let _one_at_a_time = lock(&self.manifest_lock);
        self.checkpoint_locked()?;
        copy_tree(storage, &self.layout.temporal(), &target.join("temporal"))?;
        let wal = target.join("wal");
        storage
            .create_dir_all(&wal)
            .map_err(Error::io("create directory", &wal))?;
        storage
            .sync_dir(target)
            .map_err(Error::io("fsync directory", target))
    }
}

/// Consecutive runs of sorted timestamps falling in the same hour: (hour start, index range).
fn hour_runs(ts: &[i64]) -> Vec<(i64, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ts.len() {
        let (start, end) = Tier::Hourly.window(ts[i]);
        let j = i + ts[i..].partition_point(|&t| t < end);
        out.push((start, i..j));
        i = j;
    }
    out
}

enum Merged {
    Numeric(Run<f64>),
    Event(Run<Payload>),
}

/// All points of one series across `inputs` (oldest first), later partitions winning ties.
fn merged_series(inputs: &[Arc<Partition>], series: SeriesId) -> Result<Merged> {
    let mut numeric = Vec::new();
    let mut events = Vec::new();
    for p in inputs {
        let (mut nts, mut nvs, mut ets, mut eps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in p.find(series, i64::MIN, i64::MAX) {
            match p.decode(&r)? {
                BlockPoints::Numeric(ts, vs) => {
                    nts.extend(ts);
                    nvs.extend(vs);
                }
                BlockPoints::Event(ts, ps) => {
                    ets.extend(ts);
                    eps.extend(ps);
                }
            }
        }
        numeric.push((nts, nvs));
        events.push((ets, eps));
    }
    let numeric = query::merge(numeric);
    if !numeric.0.is_empty() {
        return Ok(Merged::Numeric(numeric));
    }
    Ok(Merged::Event(query::merge(events)))
}

/// Copies a directory tree file by file, fsyncing each file and directory.
fn copy_tree(storage: &dyn Storage, from: &Path, to: &Path) -> Result<()> {
    storage
        .create_dir_all(to)
        .map_err(Error::io("create directory", to))?;
    for name in storage.list(from).map_err(Error::io("list", from))? {
        let (src, dst) = (from.join(&name), to.join(&name));
        if storage.is_dir(&src).map_err(Error::io("inspect", &src))? == Some(true) {
            copy_tree(storage, &src, &dst)?;
        } else if !name.ends_with(".tmp") {
            let bytes = storage.read(&src).map_err(Error::io("read", &src))?;
            let mut file = storage.create(&dst).map_err(Error::io("create", &dst))?;
            file.write_all(&bytes).map_err(Error::io("write", &dst))?;
            file.sync().map_err(Error::io("fsync", &dst))?;
        }
    }
    storage
        .sync_dir(to)
        .map_err(Error::io("fsync directory", to))
}
