//! Which series feed which rollups, and what of each is not materialized yet: one dirty span
//! of raw time per source series (conservative: the buckets between two late writes are
//! recomputed too), with a version so a refresh clears only what no write touched meanwhile.
//!
//! Crash safety needs no file of its own: raw points reach partitions only by sealing the live
//! tier, and a pass refreshes (and makes the cells durable) before it commits a seal, so
//! everything dirty is in the live tier. Recovery marks every live point of every source.

use std::collections::HashMap;

use crate::series::SeriesId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub min: i64,
    pub max: i64,
    pub version: u64,
}

#[derive(Debug, Default, Clone)]
struct Source {
    /// Bit `i`: feeds the rollup in slot `i`.
    rollups: u64,
    dirty: Option<Span>,
}

/// One dirty source as a refresh found it.
#[derive(Debug, Clone, Copy)]
pub struct Dirty {
    pub id: SeriesId,
    pub rollups: u64,
    pub span: Span,
}

#[derive(Debug, Default)]
pub struct Marks {
    sources: HashMap<SeriesId, Source>,
    version: u64,
}

impl Marks {
    /// Whether no series feeds a rollup (writes then skip marking).
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Series `id` feeds the rollup in `slot`.
    pub fn feed(&mut self, id: SeriesId, slot: usize) {
        self.sources.entry(id).or_default().rollups |= 1 << slot;
    }

    /// The rollup in `slot` is gone: no series feeds it.
    pub fn forget(&mut self, slot: usize) {
        self.sources.retain(|_, s| {
            s.rollups &= !(1 << slot);
            s.rollups != 0
        });
    }

    /// Series `id` was written in `[min, max]` (a no-op for series feeding no rollup).
    #[inline]
    pub fn mark(&mut self, id: SeriesId, min: i64, max: i64) {
        if let Some(s) = self.sources.get_mut(&id) {
            self.version += 1;
            let version = self.version;
            s.dirty = Some(match s.dirty {
                Some(d) => Span {
                    min: d.min.min(min),
                    max: d.max.max(max),
                    version,
                },
                None => Span { min, max, version },
            });
        }
    }

    /// The rollups (by slot bit) series `id` feeds.
    pub fn rollups_of(&self, id: SeriesId) -> u64 {
        self.sources.get(&id).map_or(0, |s| s.rollups)
    }

    /// The dirty span of series `id`, if any.
    pub fn span(&self, id: SeriesId) -> Option<Span> {
        self.sources.get(&id).and_then(|s| s.dirty)
    }

    /// The series feeding the rollup in `slot`, sorted.
    pub fn fed_by(&self, slot: usize) -> Vec<SeriesId> {
        let mut ids: Vec<SeriesId> = self
            .sources
            .iter()
            .filter(|(_, s)| s.rollups & (1 << slot) != 0)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Every dirty source, sorted by id.
    pub fn dirty(&self) -> Vec<Dirty> {
        let mut out: Vec<Dirty> = self
            .sources
            .iter()
            .filter_map(|(&id, s)| {
                Some(Dirty {
                    id,
                    rollups: s.rollups,
                    span: s.dirty?,
                })
            })
            .collect();
        out.sort_unstable_by_key(|d| d.id);
        out
    }

    /// The cells of `d` are materialized: clean, unless a write came after the snapshot.
    pub fn settle(&mut self, d: &Dirty) {
        if let Some(s) = self.sources.get_mut(&d.id) {
            if s.dirty.is_some_and(|now| now.version == d.span.version) {
                s.dirty = None;
            }
        }
    }

    /// How many sources are dirty.
    pub fn dirty_count(&self) -> usize {
        self.sources.values().filter(|s| s.dirty.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_during_a_refresh_keeps_the_span_dirty() {
        let mut m = Marks::default();
        m.mark(1, 5, 5);
        assert!(
            m.is_empty() && m.dirty().is_empty(),
            "series 1 feeds nothing"
        );
        m.feed(1, 0);
        m.feed(2, 3);
        m.mark(1, 10, 20);
        m.mark(1, 5, 7);
        let snapshot = m.dirty();
        assert_eq!(snapshot.len(), 1);
        assert_eq!((snapshot[0].span.min, snapshot[0].span.max), (5, 20));
        m.mark(1, 30, 30);
        m.settle(&snapshot[0]);
        assert_eq!(m.span(1).map(|s| (s.min, s.max)), Some((5, 30)));
        let again = m.dirty();
        m.settle(&again[0]);
        assert_eq!(m.span(1), None);
        assert_eq!(m.fed_by(3), vec![2]);
        m.forget(3);
        assert!(m.fed_by(3).is_empty());
        assert_eq!(m.fed_by(0), vec![1]);
    }
}
