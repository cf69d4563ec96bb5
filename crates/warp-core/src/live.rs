//! The live tier: every series and its newest points, in memory, rebuilt from the checkpoint
//! and the WAL on open.

use std::collections::HashMap;

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

    pub fn normalize(&mut self) {
        self.any_mut().normalize()
    }
}

#[derive(Debug, Clone)]
pub struct LiveSeries {
    pub key: String,
    pub points: Points,
}

#[derive(Debug, Clone, Default)]
pub struct LiveTier {
    series: Vec<LiveSeries>,
    by_key: HashMap<String, SeriesId>,
}

impl LiveTier {
    pub fn id(&self, key: &str) -> Option<SeriesId> {
        self.by_key.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Adds a series under the next id.
    pub fn add(&mut self, key: &str, kind: SeriesKind) -> Result<SeriesId> {
        self.add_with(key.to_owned(), Points::new(kind))
    }

    /// The id the next series will get.
    pub fn next_id(&self) -> Result<SeriesId> {
        SeriesId::try_from(self.series.len())
            .map_err(|_| Error::InvalidArgument("a database holds at most 2^32 series".into()))
    }

    /// Adds a series with its points under the next id.
    pub fn add_with(&mut self, key: String, points: Points) -> Result<SeriesId> {
        let id = self.next_id()?;
        self.by_key.insert(key.clone(), id);
        self.series.push(LiveSeries { key, points });
        Ok(id)
    }

    pub fn get(&self, id: SeriesId) -> Result<&LiveSeries> {
        self.series
            .get(id as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("no series with id {id}")))
    }

    pub fn get_mut(&mut self, id: SeriesId) -> Result<&mut LiveSeries> {
        self.series
            .get_mut(id as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("no series with id {id}")))
    }

    /// The column of series `id`, which must hold values of kind `V`.
    pub fn column_mut<V: Sample>(&mut self, id: SeriesId) -> Result<&mut Column<V>> {
        let series = self.get_mut(id)?;
        let kind = series.points.kind();
        V::column_mut(&mut series.points).ok_or_else(|| mismatch(&series.key, kind, V::KIND))
    }

    /// Like [`column_mut`](Self::column_mut), for a tier that is only read (a seal's set).
    pub fn column<V: Sample>(&self, id: SeriesId) -> Option<&Column<V>> {
        self.series
            .get(id as usize)
            .and_then(|s| V::column(&s.points))
    }

    pub fn numeric_mut(&mut self, id: SeriesId) -> Result<&mut Column<f64>> {
        self.column_mut(id)
    }

    pub fn event_mut(&mut self, id: SeriesId) -> Result<&mut Column<Payload>> {
        self.column_mut(id)
    }

    pub fn has_before(&self, cutoff: i64) -> bool {
        self.series
            .iter()
            .any(|s| s.points.any().has_before(cutoff))
    }

    /// Removes the points of series `id` older than `cutoff` and returns them.
    pub fn split_series(&mut self, id: SeriesId, cutoff: i64) -> Result<Points> {
        Ok(self.get_mut(id)?.points.any_mut().split_before(cutoff))
    }

    /// Puts back points taken by `split_series` (after a failed seal).
    pub fn restore(&mut self, taken: LiveTier) {
        for (s, t) in self.series.iter_mut().zip(taken.series) {
            s.points.any_mut().restore(t.points);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &LiveSeries> {
        self.series.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut LiveSeries> {
        self.series.iter_mut()
    }
}

pub fn mismatch(key: &str, existing: SeriesKind, attempted: SeriesKind) -> Error {
    Error::TypeMismatch {
        series: key.to_owned(),
        existing: existing.name(),
        attempted: attempted.name(),
    }
}
