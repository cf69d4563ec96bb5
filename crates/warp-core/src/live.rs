//! The live tier: every series and its newest points, in memory, rebuilt from the checkpoint
//! and the WAL on open.

use std::collections::HashMap;

use crate::codec::Sample;
use crate::column::Column;
use crate::error::{Error, Result};
use crate::series::{SeriesId, SeriesKind};

pub use crate::codec::Payload;

/// A kind of value as the live tier holds it: the column of a series of that kind.
pub trait LiveValue: Sample {
    fn column(points: &Points) -> Option<&Column<Self>>;
    fn column_mut(points: &mut Points) -> Option<&mut Column<Self>>;
}

impl LiveValue for f64 {
    fn column(points: &Points) -> Option<&Column<f64>> {
        match points {
            Points::Numeric(c) => Some(c),
            Points::Event(_) => None,
        }
    }

    fn column_mut(points: &mut Points) -> Option<&mut Column<f64>> {
        match points {
            Points::Numeric(c) => Some(c),
            Points::Event(_) => None,
        }
    }
}

impl LiveValue for Payload {
    fn column(points: &Points) -> Option<&Column<Payload>> {
        match points {
            Points::Event(c) => Some(c),
            Points::Numeric(_) => None,
        }
    }

    fn column_mut(points: &mut Points) -> Option<&mut Column<Payload>> {
        match points {
            Points::Event(c) => Some(c),
            Points::Numeric(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Points {
    Numeric(Column<f64>),
    Event(Column<Payload>),
}

impl Points {
    fn new(kind: SeriesKind) -> Self {
        match kind {
            SeriesKind::Numeric => Points::Numeric(Column::default()),
            SeriesKind::Event => Points::Event(Column::default()),
        }
    }

    pub fn kind(&self) -> SeriesKind {
        match self {
            Points::Numeric(_) => SeriesKind::Numeric,
            Points::Event(_) => SeriesKind::Event,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Points::Numeric(c) => c.len(),
            Points::Event(c) => c.len(),
        }
    }

    fn has_before(&self, cutoff: i64) -> bool {
        match self {
            Points::Numeric(c) => c.has_before(cutoff),
            Points::Event(c) => c.has_before(cutoff),
        }
    }

    fn split_before(&mut self, cutoff: i64) -> Points {
        match self {
            Points::Numeric(c) => Points::Numeric(c.split_before(cutoff)),
            Points::Event(c) => Points::Event(c.split_before(cutoff)),
        }
    }

    /// Puts back points taken out by `split_before` (writes made since win on equal times).
    fn restore(&mut self, mut taken: Points) {
        match (self, &mut taken) {
            (Points::Numeric(c), Points::Numeric(t)) => restore_column(c, t),
            (Points::Event(c), Points::Event(t)) => restore_column(c, t),
            _ => {}
        }
    }

    /// (first, last, points) once normalized, if not empty.
    pub fn span(&self) -> Option<(i64, i64, u64)> {
        let bounds = match self {
            Points::Numeric(c) => c.bounds(),
            Points::Event(c) => c.bounds(),
        }?;
        Some((bounds.0, bounds.1, self.len() as u64))
    }

    pub fn normalize(&mut self) {
        match self {
            Points::Numeric(c) => c.normalize(),
            Points::Event(c) => c.normalize(),
        }
    }
}

fn restore_column<V: Clone>(current: &mut Column<V>, taken: &mut Column<V>) {
    let (ts, vs) = taken.all();
    let mut newer = std::mem::replace(current, Column::from_sorted(ts.to_vec(), vs.to_vec()));
    let (ts, vs) = newer.all();
    current.extend(ts, vs);
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
    pub fn add(&mut self, key: &str, kind: SeriesKind) -> SeriesId {
        self.add_with(key.to_owned(), Points::new(kind))
    }

    /// Adds a series with its points under the next id.
    pub fn add_with(&mut self, key: String, points: Points) -> SeriesId {
        let id = self.series.len() as SeriesId;
        self.by_key.insert(key.clone(), id);
        self.series.push(LiveSeries { key, points });
        id
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
    pub fn column_mut<V: LiveValue>(&mut self, id: SeriesId) -> Result<&mut Column<V>> {
        let series = self.get_mut(id)?;
        let kind = series.points.kind();
        V::column_mut(&mut series.points).ok_or_else(|| mismatch(&series.key, kind, V::KIND))
    }

    /// Like [`column_mut`](Self::column_mut), for a tier that is only read (a seal's set).
    pub fn column<V: LiveValue>(&self, id: SeriesId) -> Option<&Column<V>> {
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
        self.series.iter().any(|s| s.points.has_before(cutoff))
    }

    /// Removes the points of series `id` older than `cutoff` and returns them.
    pub fn split_series(&mut self, id: SeriesId, cutoff: i64) -> Result<Points> {
        Ok(self.get_mut(id)?.points.split_before(cutoff))
    }

    /// Puts back points taken by `split_series` (after a failed seal).
    pub fn restore(&mut self, taken: LiveTier) {
        for (s, t) in self.series.iter_mut().zip(taken.series) {
            s.points.restore(t.points);
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
