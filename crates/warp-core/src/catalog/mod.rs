//! The series catalog: one per database, numbering every series (id ↔ canonical key ↔ kind)
//! and indexing its tags. Partitions, checkpoints and the WAL name series by id only; the
//! catalog is the one place keys are kept, in memory and on disk (see [`file`]).
//!
//! Ids are dense and never reused: a dropped series (the lifecycle drops those with no point
//! left inside retention) keeps its number as a gap, so nothing stored under an old id can
//! ever be read as another series. A handle still holding a dropped id revives it on its next
//! write, under the same id and key (see [`Catalog::revive`]).

pub mod file;
mod interner;
mod postings;
pub mod store;
mod tags;

use file::Record;
use interner::Interner;
pub use tags::{Match, Matcher, TagIndex};

use crate::error::{Error, Result};
use crate::series::{SeriesId, SeriesKind};

/// Kinds by id; a dropped (or lost) id has none.
const DROPPED: u8 = 0;

#[derive(Default)]
pub struct Catalog {
    keys: Interner,
    kinds: Vec<u8>,
    /// Built by the first selection (see [`Catalog::index_tags`]), then kept up to date: a
    /// database only written to never pays for it.
    tags: Option<TagIndex>,
    live: usize,
    /// Ids below this have their series record in a catalog file the manifest names.
    persisted: u32,
    /// Ids below `persisted` dropped or revived since, not yet in a catalog file.
    changed: Vec<SeriesId>,
}

/// Which series: a metric condition (none: any metric) and tag conditions, all of which must
/// hold.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub metric: Option<Match>,
    pub matchers: Vec<Matcher>,
}

/// What a commit adds to the catalog files, and how to mark it done once committed.
pub struct Pending {
    pub bytes: Vec<u8>,
    persisted: u32,
    changed: usize,
}

/// What reviving a dropped id found.
#[derive(Debug, PartialEq, Eq)]
pub enum Revived {
    /// The series is back under its id.
    Same,
    /// Its key was written to again meanwhile, and is now this series.
    Moved(SeriesId),
    /// Its key is no longer known (dropped before this open).
    Unknown,
}

impl Catalog {
    /// The catalog the files say, read in order.
    pub fn load(files: &[Vec<u8>]) -> Result<Catalog, String> {
        let mut next_id = 0u32;
        let mut kinds: Vec<u8> = Vec::new();
        let mut keys: Vec<&str> = Vec::new();
        for bytes in files {
            let (next, records) = file::decode(bytes)?;
            next_id = next_id.max(next);
            kinds.resize(next_id as usize, DROPPED);
            keys.resize(next_id as usize, "");
            for r in records {
                match r {
                    Record::Series { id, kind, key } => {
                        kinds[id as usize] = kind as u8;
                        keys[id as usize] = key;
                    }
                    Record::Dropped { id } => {
                        kinds[id as usize] = DROPPED;
                        keys[id as usize] = "";
                    }
                }
            }
        }
        let mut catalog = Catalog {
            keys: Interner::with_capacity(keys.len(), keys.iter().map(|k| k.len()).sum()),
            kinds: Vec::with_capacity(kinds.len()),
            ..Catalog::default()
        };
        for (id, (&kind, key)) in (0u32..).zip(kinds.iter().zip(keys)) {
            match SeriesKind::from_byte(kind) {
                Some(kind) => {
                    // One probe: a key already numbered is damage, not a second series.
                    if catalog.keys.intern(key) != Some(id) {
                        return Err(format!("series {key} is named twice"));
                    }
                    catalog.kinds.push(kind as u8);
                    catalog.live += 1;
                }
                None => catalog.push_gap(),
            }
        }
        catalog.persisted = next_id;
        Ok(catalog)
    }

    /// The number of ids given out (live and dropped).
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Every id given out, live or dropped.
    pub fn ids(&self) -> std::ops::Range<SeriesId> {
        0..SeriesId::try_from(self.kinds.len()).unwrap_or(SeriesId::MAX)
    }

    pub fn id(&self, key: &str) -> Option<SeriesId> {
        self.keys.find(key)
    }

    /// The key of a live series.
    pub fn key(&self, id: SeriesId) -> Option<&str> {
        self.kind(id).map(|_| self.keys.get(id))
    }

    /// The key a dropped series had, while this catalog still knows it (see [`Catalog::revive`]).
    pub fn dropped_key(&self, id: SeriesId) -> Option<&str> {
        let known = self.kind(id).is_none() && (id as usize) < self.kinds.len();
        Some(self.keys.get(id)).filter(|k| known && !k.is_empty())
    }

    /// The kind of a live series.
    pub fn kind(&self, id: SeriesId) -> Option<SeriesKind> {
        self.kinds
            .get(id as usize)
            .copied()
            .and_then(SeriesKind::from_byte)
    }

    /// The id the next series will get.
    pub fn next_id(&self) -> Result<SeriesId> {
        SeriesId::try_from(self.kinds.len())
            .ok()
            .filter(|&id| id < SeriesId::MAX)
            .ok_or_else(|| {
                Error::InvalidArgument("a database holds at most 2^32 − 1 series".into())
            })
    }

    /// Adds a series (its key must be new) under the next id.
    pub fn add(&mut self, key: &str, kind: SeriesKind) -> Result<SeriesId> {
        let id = self.next_id()?;
        debug_assert!(self.keys.find(key).is_none());
        self.keys.push(key);
        self.kinds.push(kind as u8);
        if let Some(tags) = &mut self.tags {
            tags.add(id, key);
        }
        self.live += 1;
        Ok(id)
    }

    /// Takes the next id for a series whose record was lost.
    fn push_gap(&mut self) {
        self.keys.push("");
        self.kinds.push(DROPPED);
    }

    /// Drops live series (sorted ids): their keys and postings go, their ids stay gaps.
    pub fn drop_series(&mut self, ids: &[SeriesId]) {
        let live: Vec<SeriesId> = ids
            .iter()
            .copied()
            .filter(|&id| self.kind(id).is_some())
            .collect();
        let keyed: Vec<(SeriesId, String)> = live
            .iter()
            .map(|&id| (id, self.keys.get(id).to_owned()))
            .collect();
        let refs: Vec<(SeriesId, &str)> = keyed.iter().map(|(id, k)| (*id, k.as_str())).collect();
        if let Some(tags) = &mut self.tags {
            tags.remove(&refs);
        }
        for (id, key) in &keyed {
            self.keys.forget(key);
            if let Some(kind) = self.kinds.get_mut(*id as usize) {
                *kind = DROPPED;
            }
        }
        self.live -= live.len();
        self.changed.extend(live);
    }

    /// Brings back dropped series `id` as `kind`, under `key` if given (a replayed record
    /// says it), else under the key it had, if that is still known.
    pub fn revive(&mut self, id: SeriesId, kind: SeriesKind, key: Option<&str>) -> Revived {
        if self.kind(id).is_some() {
            return Revived::Same;
        }
        if id as usize >= self.kinds.len() {
            return Revived::Unknown;
        }
        let key = key.unwrap_or(self.keys.get(id)).to_owned();
        if key.is_empty() {
            return Revived::Unknown;
        }
        if let Some(other) = self.keys.find(&key) {
            return Revived::Moved(other);
        }
        self.keys.restore(id, Some(&key));
        if let Some(k) = self.kinds.get_mut(id as usize) {
            *k = kind as u8;
        }
        if let Some(tags) = &mut self.tags {
            tags.add(id, &key);
        }
        self.live += 1;
        self.changed.push(id);
        Revived::Same
    }

    /// Every live series, by id.
    pub fn iter(&self) -> impl Iterator<Item = (SeriesId, &str, SeriesKind)> {
        (0..)
            .zip(&self.kinds)
            .filter_map(|(id, &kind)| Some((id, self.keys.get(id), SeriesKind::from_byte(kind)?)))
    }

    /// Every live series id, sorted.
    pub fn live_ids(&self) -> Vec<SeriesId> {
        self.iter().map(|(id, _, _)| id).collect()
    }

    /// Whether the tag index is built.
    pub fn is_indexed(&self) -> bool {
        self.tags.is_some()
    }

    /// Builds the tag index, kept up to date from then on.
    pub fn index_tags(&mut self) {
        if self.tags.is_none() {
            self.tags = Some(self.build_tags());
        }
    }

    fn build_tags(&self) -> TagIndex {
        let mut tags = TagIndex::default();
        for (id, key, _) in self.iter() {
            tags.add(id, key);
        }
        tags
    }

    /// The live series a selection matches, sorted by id. (Callers build the index first with
    /// [`Catalog::index_tags`]; without it, one is built for this selection alone.)
    pub fn select(&self, selector: &Selector) -> Vec<SeriesId> {
        let built;
        let tags = match &self.tags {
            Some(tags) => tags,
            None => {
                built = self.build_tags();
                &built
            }
        };
        tags.select(selector.metric.as_ref(), &selector.matchers, || {
            self.live_ids()
        })
    }

    /// Every value of tag `name` (of the metric name, for `None`) with its series count.
    pub fn tag_values(&self, name: Option<&str>) -> Vec<(String, usize)> {
        match &self.tags {
            Some(tags) => tags.values(name),
            None => self.build_tags().values(name),
        }
    }

    /// The records a commit must add to the catalog files (series created, dropped and revived
    /// since the last commit), if any. With `compact`, one file of every live series instead.
    pub fn pending(&self, compact: bool) -> Option<Pending> {
        let len = self.ids().end;
        let changed = self.changed.len();
        if !compact && len == self.persisted && changed == 0 {
            return None;
        }
        let record = |id: SeriesId| match self.kind(id) {
            Some(kind) => Record::Series {
                id,
                kind,
                key: self.keys.get(id),
            },
            None => Record::Dropped { id },
        };
        let live = |r: &Record<'_>| matches!(r, Record::Series { .. });
        let bytes = if compact {
            file::encode(len, (0..len).map(record).filter(live))
        } else {
            // Each id once, as it is now: a series created and dropped since needs no record.
            let mut ids = self.changed.clone();
            ids.sort_unstable();
            ids.dedup();
            let changed = ids
                .into_iter()
                .filter(|&id| id < self.persisted)
                .map(record);
            let created = (self.persisted..len).map(record).filter(live);
            file::encode(len, changed.chain(created))
        };
        Some(Pending {
            bytes,
            persisted: len,
            changed,
        })
    }

    /// Records that `pending` is in a committed catalog file.
    pub fn persisted(&mut self, pending: &Pending) {
        self.persisted = pending.persisted;
        self.changed
            .drain(..pending.changed.min(self.changed.len()));
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes()
            + self.kinds.capacity()
            + self.tags.as_ref().map_or(0, TagIndex::heap_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_its_files_with_creations_and_drops() {
        let mut catalog = Catalog::default();
        for i in 0..10 {
            catalog
                .add(&format!("m{{i=\"{i}\"}}"), SeriesKind::Numeric)
                .unwrap();
        }
        let first = catalog.pending(false).unwrap();
        catalog.persisted(&first);
        assert!(catalog.pending(false).is_none());
        catalog.drop_series(&[2, 3]);
        catalog.add("ev", SeriesKind::Event).unwrap();
        catalog.drop_series(&[10]);
        let second = catalog.pending(false).unwrap();
        catalog.persisted(&second);
        let loaded = Catalog::load(&[first.bytes.clone(), second.bytes.clone()]).unwrap();
        assert_eq!(loaded.len(), 11);
        assert_eq!(loaded.iter().count(), 8);
        assert_eq!(loaded.id("m{i=\"2\"}"), None);
        assert_eq!(loaded.key(4), Some("m{i=\"4\"}"));
        assert_eq!(loaded.kind(10), None);
        // A compacted file says the same in one file.
        let compact = catalog.pending(true).unwrap();
        let again = Catalog::load(&[compact.bytes]).unwrap();
        assert_eq!(
            again.iter().collect::<Vec<_>>(),
            loaded.iter().collect::<Vec<_>>()
        );
        assert_eq!(again.next_id().unwrap(), 11);
        // A handle on a dropped series revives it; after a reload its key is gone.
        assert_eq!(catalog.revive(3, SeriesKind::Event, None), Revived::Same);
        assert_eq!(catalog.kind(3), Some(SeriesKind::Event));
        catalog.add("m{i=\"2\"}", SeriesKind::Numeric).unwrap();
        assert_eq!(
            catalog.revive(2, SeriesKind::Numeric, None),
            Revived::Moved(11)
        );
        let third = catalog.pending(false).unwrap();
        catalog.persisted(&third);
        let files = [first.bytes, second.bytes, third.bytes];
        let reloaded = Catalog::load(&files).unwrap();
        assert_eq!(reloaded.key(3), Some("m{i=\"3\"}"));
        assert_eq!(reloaded.kind(3), Some(SeriesKind::Event));
        assert_eq!(reloaded.id("m{i=\"2\"}"), Some(11));
        let mut reloaded = reloaded;
        assert_eq!(
            reloaded.revive(10, SeriesKind::Event, None),
            Revived::Unknown
        );
        assert_eq!(
            reloaded.revive(10, SeriesKind::Event, Some("ev")),
            Revived::Same
        );
        assert_eq!(reloaded.id("ev"), Some(10));
        let all = Selector {
            metric: Some(Match::Equal("m".into())),
            matchers: Vec::new(),
        };
        assert_eq!(again.select(&all), vec![0, 1, 4, 5, 6, 7, 8, 9]);
    }
}
