//! The live tier: every series' newest points, in memory, rebuilt from the checkpoint and the
//! WAL on open. It knows the memory it holds: every change of a column goes through a
//! [`Tracked`] borrow that re-measures it, so the total is exact and costs O(1) per change.

use std::mem::size_of;
use std::ops::{Deref, DerefMut, Range};

use crate::column::Column;
use crate::error::{Error, Result};
use crate::sample::Sample;
use crate::series::{SeriesId, SeriesKind};

pub use crate::codec::Payload;

#[derive(Debug, Clone)]
pub enum Points {
    Numeric(Column<f64>),
    Event(Column<Payload>),
}

/// What the live tier does with a column, whatever kind of value it holds.
trait AnyColumn {
    fn len(&self) -> usize;
    fn has_before(&self, cutoff: i64) -> bool;
    fn split_before(&mut self, cutoff: i64) -> Points;
    /// Puts back points taken out by `split_before` (writes made since win on equal times).
    fn restore(&mut self, taken: Points);
    fn bounds(&self) -> Option<(i64, i64)>;
    fn normalize(&mut self);
    fn bytes(&self) -> usize;
    fn count_before(&self, cutoff: i64) -> usize;
}

impl<V: Sample> AnyColumn for Column<V> {
    fn len(&self) -> usize {
        Column::len(self)
    }

    fn has_before(&self, cutoff: i64) -> bool {
        Column::has_before(self, cutoff)
    }

    fn split_before(&mut self, cutoff: i64) -> Points {
        V::wrap(Column::split_before(self, cutoff))
    }

    fn restore(&mut self, mut taken: Points) {
        let Some(taken) = V::column_mut(&mut taken) else {
            return;
        };
        let (ts, vs) = taken.all();
        let mut newer = std::mem::replace(self, Column::from_sorted(ts.to_vec(), vs.to_vec()));
        let (ts, vs) = newer.all();
        self.extend(ts, vs);
    }

    fn bounds(&self) -> Option<(i64, i64)> {
        Column::bounds(self)
    }

    fn normalize(&mut self) {
        Column::normalize(self)
    }

    fn bytes(&self) -> usize {
        Column::bytes(self)
    }

    fn count_before(&self, cutoff: i64) -> usize {
        Column::count_before(self, cutoff)
    }
}

impl Points {
    fn new(kind: SeriesKind) -> Self {
        match kind {
            SeriesKind::Numeric => f64::wrap(Column::default()),
            SeriesKind::Event => Payload::wrap(Column::default()),
        }
    }

    fn any(&self) -> &dyn AnyColumn {
        match self {
            Points::Numeric(c) => c,
            Points::Event(c) => c,
        }
    }

    fn any_mut(&mut self) -> &mut dyn AnyColumn {
        match self {
            Points::Numeric(c) => c,
            Points::Event(c) => c,
        }
    }

    pub fn kind(&self) -> SeriesKind {
        match self {
            Points::Numeric(_) => f64::KIND,
            Points::Event(_) => Payload::KIND,
        }
    }

    /// Number of points (exact once normalized).
    pub fn len(&self) -> usize {
        self.any().len()
    }

    /// (first, last, points) once normalized, if not empty.
    pub fn span(&self) -> Option<(i64, i64, u64)> {
        let (first, last) = self.any().bounds()?;
        Some((first, last, self.len() as u64))
    }

    fn normalize(&mut self) {
        self.any_mut().normalize()
    }

    /// The newest live point once normalized: its time and, for numbers, its value (NaN for
    /// events).
    pub fn last(&self) -> Option<(i64, f64)> {
        match self {
            Points::Numeric(c) => c.last().map(|(t, v)| (t, *v)),
            Points::Event(c) => c.last().map(|(t, _)| (t, f64::NAN)),
        }
    }
}

/// Something whose memory the live tier counts.
pub trait Footprint {
    fn bytes(&self) -> usize;
}

impl Footprint for Points {
    fn bytes(&self) -> usize {
        self.any().bytes()
    }
}

impl<V: Sample> Footprint for Column<V> {
    fn bytes(&self) -> usize {
        Column::bytes(self)
    }
}

/// A series' points borrowed for change (reads change them too: a sort, a dropped duplicate);
/// the tier's total follows when the borrow ends.
pub struct Tracked<'a, T: Footprint> {
    value: &'a mut T,
    total: &'a mut usize,
    before: usize,
}

impl<'a, T: Footprint> Tracked<'a, T> {
    fn new(value: &'a mut T, total: &'a mut usize) -> Self {
        let before = value.bytes();
        Tracked {
            value,
            total,
            before,
        }
    }
}

impl<T: Footprint> Deref for Tracked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: Footprint> DerefMut for Tracked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
    }
}

impl<T: Footprint> Drop for Tracked<'_, T> {
    fn drop(&mut self) {
        *self.total = *self.total - self.before + self.value.bytes();
    }
}

/// The newest point a series has anywhere (live, being sealed, in any partition): its time
/// and, for numbers, its value. This is the wormhole: `latest`, `lastpoint` and as-of reads at
/// or after it are answered here, however long ago the series stopped writing. It follows every
/// write (the later write wins at equal times) and is kept in checkpoints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Newest {
    pub ts: i64,
    /// The value of a numeric series' newest point (NaN for events: read at `ts`).
    pub value: f64,
}

impl Newest {
    pub const NONE: Newest = Newest {
        ts: i64::MIN,
        value: f64::NAN,
    };

    pub fn get(self) -> Option<Newest> {
        (self.ts != i64::MIN).then_some(self)
    }
}

/// The live points of every series, by id (the catalog holds their keys), and each series'
/// newest point. An idle series costs an empty column and its newest point: no allocation.
#[derive(Debug, Clone, Default)]
pub struct LiveTier {
    series: Vec<Points>,
    /// By id; empty in a seal's set, which only carries points.
    newest: Vec<Newest>,
    /// The memory every column holds, kept as they change (see [`Tracked`]).
    point_bytes: usize,
}

impl LiveTier {
    pub fn with_capacity(series: usize) -> Self {
        LiveTier {
            series: Vec::with_capacity(series),
            newest: Vec::with_capacity(series),
            point_bytes: 0,
        }
    }

    /// The memory the tier holds: its points, and a fixed cost per series (its column and
    /// newest point, allocated or not).
    pub fn bytes(&self) -> usize {
        self.point_bytes
            + self.series.capacity() * size_of::<Points>()
            + self.newest.capacity() * size_of::<Newest>()
    }

    /// The memory the points hold: what sealing them frees.
    pub fn point_bytes(&self) -> usize {
        self.point_bytes
    }

    /// The memory held by the points of series `ids` older than `cutoff`, each series'
    /// share in proportion to its points.
    pub fn bytes_before(&self, ids: Range<SeriesId>, cutoff: i64) -> usize {
        let range = ids.start as usize..(ids.end as usize).min(self.series.len());
        self.series
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let (len, before) = (p.len(), p.any().count_before(cutoff));
                if before == 0 {
                    0
                } else {
                    // Two 64-bit factors: the product fits a u128.
                    usize::try_from(p.bytes() as u128 * before as u128 / len as u128)
                        .unwrap_or(usize::MAX)
                }
            })
            .sum()
    }

    /// The newest timestamp of any series, live or not.
    pub fn newest_ts(&self) -> Option<i64> {
        self.newest
            .iter()
            .filter_map(|n| n.get())
            .map(|n| n.ts)
            .max()
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Every series' id.
    pub fn ids(&self) -> std::ops::Range<SeriesId> {
        0..SeriesId::try_from(self.series.len()).unwrap_or(SeriesId::MAX)
    }

    /// Adds the column of the next series (the catalog gave it the same id).
    pub fn push(&mut self, kind: SeriesKind) {
        self.series.push(Points::new(kind));
        self.newest.push(Newest::NONE);
    }

    /// Adds the next series with its points (for a seal's set).
    pub fn push_with(&mut self, points: Points) {
        self.point_bytes += points.bytes();
        self.series.push(points);
    }

    /// The newest point series `id` has anywhere, if it has any.
    pub fn newest(&self, id: SeriesId) -> Option<Newest> {
        self.newest.get(id as usize).copied().and_then(Newest::get)
    }

    /// Notes a write at `ts` (`value` NaN for events): the newest point if not older.
    pub fn note(&mut self, id: SeriesId, ts: i64, value: f64) {
        if let Some(n) = self.newest.get_mut(id as usize) {
            if ts >= n.ts {
                *n = Newest { ts, value };
            }
        }
    }

    /// Notes a batch: its newest point (the last of equal newest times wins).
    pub fn note_batch(&mut self, id: SeriesId, ts: &[i64], values: &[f64]) {
        let newest = ts
            .iter()
            .zip(values)
            .fold(None, |best: Option<(i64, f64)>, (&t, &v)| match best {
                Some((b, _)) if b > t => best,
                _ => Some((t, v)),
            });
        if let Some((t, v)) = newest {
            self.note(id, t, v);
        }
    }

    /// Sets the newest point (from a checkpoint, or recomputed after a repair).
    pub fn set_newest(&mut self, id: SeriesId, newest: Newest) {
        if let Some(n) = self.newest.get_mut(id as usize) {
            *n = newest;
        }
    }

    pub fn get(&self, id: SeriesId) -> Result<&Points> {
        self.series
            .get(id as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("no series with id {id}")))
    }

    pub fn get_mut(&mut self, id: SeriesId) -> Result<Tracked<'_, Points>> {
        let points = self
            .series
            .get_mut(id as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("no series with id {id}")))?;
        Ok(Tracked::new(points, &mut self.point_bytes))
    }

    /// The column of series `id`, which must hold values of kind `V`.
    pub fn column_mut<V: Sample>(&mut self, id: SeriesId) -> Result<Tracked<'_, Column<V>>> {
        let points = self
            .series
            .get_mut(id as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("no series with id {id}")))?;
        let kind = points.kind();
        let column = V::column_mut(points).ok_or_else(|| {
            Error::Internal(format!(
                "series {id} holds {} points, not {}",
                kind.name(),
                V::KIND.name()
            ))
        })?;
        Ok(Tracked::new(column, &mut self.point_bytes))
    }

    /// Sorts the points of series `id` if needed (see [`Column`]) and returns them.
    pub fn normalize(&mut self, id: SeriesId) -> Result<&Points> {
        self.get_mut(id)?.normalize();
        self.get(id)
    }

    /// Sorts every series' points if needed.
    pub fn normalize_all(&mut self) {
        for id in self.ids() {
            if let Ok(mut points) = self.get_mut(id) {
                points.normalize();
            }
        }
    }

    /// Like [`column_mut`](Self::column_mut), for a tier that is only read (a seal's set).
    pub fn column<V: Sample>(&self, id: SeriesId) -> Option<&Column<V>> {
        self.series.get(id as usize).and_then(V::column)
    }

    pub fn numeric_mut(&mut self, id: SeriesId) -> Result<Tracked<'_, Column<f64>>> {
        self.column_mut(id)
    }

    pub fn event_mut(&mut self, id: SeriesId) -> Result<Tracked<'_, Column<Payload>>> {
        self.column_mut(id)
    }

    pub fn has_before(&self, cutoff: i64) -> bool {
        self.series.iter().any(|s| s.any().has_before(cutoff))
    }

    /// Removes the points of series `id` older than `cutoff` and returns them.
    pub fn split_series(&mut self, id: SeriesId, cutoff: i64) -> Result<Points> {
        Ok(self.get_mut(id)?.any_mut().split_before(cutoff))
    }

    /// Puts back points taken by `split_series` (after a failed seal).
    pub fn restore(&mut self, taken: LiveTier) {
        for (id, t) in self.ids().zip(taken.series) {
            if let Ok(mut points) = self.get_mut(id) {
                points.any_mut().restore(t);
            }
        }
    }

    /// Empties the columns of dropped series, and forgets their newest points.
    pub fn clear(&mut self, ids: &[SeriesId]) {
        for &id in ids {
            if let Ok(mut points) = self.get_mut(id) {
                *points = Points::new(points.kind());
            }
            self.set_newest(id, Newest::NONE);
        }
    }

    /// Makes series `id` of `kind` again (a dropped series written to anew), empty.
    pub fn revive(&mut self, id: SeriesId, kind: SeriesKind) {
        if let Ok(mut points) = self.get_mut(id) {
            *points = Points::new(kind);
        }
        self.set_newest(id, Newest::NONE);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Points> {
        self.series.iter()
    }
}

pub fn mismatch(key: &str, existing: SeriesKind, attempted: SeriesKind) -> Error {
    Error::TypeMismatch {
        series: key.to_owned(),
        existing: existing.name(),
        attempted: attempted.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tier's total, measured again from scratch.
    fn measured(tier: &LiveTier) -> usize {
        tier.iter().map(Footprint::bytes).sum()
    }

    #[test]
    fn the_memory_total_follows_every_change() {
        let mut tier = LiveTier::default();
        tier.push(SeriesKind::Numeric);
        tier.push(SeriesKind::Event);
        let check =
            |tier: &LiveTier, what: &str| assert_eq!(tier.point_bytes(), measured(tier), "{what}");
        for i in 0..10_000 {
            tier.numeric_mut(0).unwrap().push(i, 1.0);
        }
        tier.numeric_mut(0)
            .unwrap()
            .extend(&[5, 3, 20_000], &[1.0, 2.0, 3.0]);
        check(&tier, "numbers, out of order");
        for i in 0..100 {
            let payload: Payload = vec![b'x'; i as usize % 7].into();
            tier.event_mut(1).unwrap().push(i % 40, payload);
        }
        check(&tier, "events, overwritten");
        let _ = tier.normalize(1).unwrap();
        tier.normalize_all();
        check(&tier, "normalized");
        let mut sealing = LiveTier::default();
        for id in tier.ids() {
            sealing.push_with(tier.split_series(id, 5000).unwrap());
        }
        check(&tier, "split");
        assert_eq!(sealing.point_bytes(), measured(&sealing));
        let before = tier.point_bytes() + sealing.point_bytes();
        tier.restore(sealing);
        check(&tier, "restored");
        assert!(tier.point_bytes() <= before);
        tier.clear(&[1]);
        tier.revive(0, SeriesKind::Event);
        check(&tier, "cleared and revived");
        assert_eq!(tier.point_bytes(), 0);
    }

    #[test]
    fn a_share_of_the_points_is_weighed_by_its_count() {
        let mut tier = LiveTier::default();
        tier.push(SeriesKind::Numeric);
        let ts: Vec<i64> = (0..1000).collect();
        tier.numeric_mut(0).unwrap().extend(&ts, &vec![0.0; 1000]);
        let all = tier.point_bytes();
        assert_eq!(tier.bytes_before(0..1, 250), all / 4);
        assert_eq!(tier.bytes_before(0..1, i64::MAX), all);
        assert_eq!(tier.bytes_before(1..9, i64::MAX), 0);
        assert!(tier.bytes() > all);
    }
}
