//! Writes: every write is checked whole before anything changes, then applied to the live tier
//! and appended to the WAL buffer under one lock, so the log's order is the apply order and a
//! rejected write leaves no trace (not even a new series). Writes from outside the engine first
//! wait for room in the live tier, or are refused, per its memory bound (see `pressure`).

use std::mem::size_of;

use super::{Engine, Inner};
use crate::catalog::Catalog;
use crate::codec::{Payload, MAX_EVENT_BYTES};
use crate::error::{Error, Result};
use crate::live::{mismatch, LiveTier};
use crate::options::OnPressure;
use crate::series::{canonical_of, is_engine_series, SeriesId, SeriesKey, SeriesKind};
use crate::time::check_timestamp;
use crate::wal::{self, FrameBuffer};

/// The points of one write to one series.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    Number {
        ts: i64,
        value: f64,
    },
    Batch {
        timestamps: &'a [i64],
        values: &'a [f64],
    },
    Event {
        ts: i64,
        payload: &'a [u8],
    },
}

/// The series a write goes to: an existing one by id, or one by key (or by any text form of
/// it), created by the write if it does not exist yet.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Id(SeriesId),
    Key(&'a SeriesKey),
    /// Text as callers write it (`cpu{host=a}`): looked up as given first (the canonical form
    /// needs no parse), parsed only when that misses.
    Text(&'a str),
}

impl Write<'_> {
    fn kind(&self) -> SeriesKind {
        match self {
            Write::Number { .. } | Write::Batch { .. } => SeriesKind::Numeric,
            Write::Event { .. } => SeriesKind::Event,
        }
    }

    /// Everything that can be checked before looking at the database.
    fn validate(&self) -> Result<()> {
        match *self {
            Write::Number { ts, .. } => check_timestamp(ts).map(drop),
            Write::Batch { timestamps, values } => {
                if timestamps.len() != values.len() {
                    return Err(Error::InvalidArgument(format!(
                        "{} timestamps but {} values",
                        timestamps.len(),
                        values.len()
                    )));
                }
                timestamps
                    .iter()
                    .try_for_each(|&t| check_timestamp(t).map(drop))
            }
            Write::Event { ts, payload } => {
                check_timestamp(ts)?;
                if payload.len() > MAX_EVENT_BYTES {
                    return Err(Error::InvalidValue(format!(
                        "an event payload of {} bytes exceeds the limit of {MAX_EVENT_BYTES}",
                        payload.len()
                    )));
                }
                Ok(())
            }
        }
    }

    /// About the memory the write adds to the live tier (see `Column::bytes`).
    fn bytes(&self) -> usize {
        match *self {
            Write::Number { .. } => NUMERIC_POINT,
            Write::Batch { timestamps, .. } => NUMERIC_POINT * timestamps.len(),
            Write::Event { payload, .. } => {
                size_of::<i64>() + size_of::<Payload>() + 2 * size_of::<usize>() + payload.len()
            }
        }
    }

    /// The earliest and latest timestamp written.
    fn span(&self) -> Option<(i64, i64)> {
        match *self {
            Write::Number { ts, .. } | Write::Event { ts, .. } => Some((ts, ts)),
            Write::Batch { timestamps, .. } => {
                Some((*timestamps.iter().min()?, *timestamps.iter().max()?))
            }
        }
    }

    fn log(&self, frames: &mut FrameBuffer, id: SeriesId) {
        match *self {
            Write::Number { ts, value } => wal::push_point(frames, id, ts, value),
            Write::Batch { timestamps, values } => wal::push_batch(frames, id, timestamps, values),
            Write::Event { ts, payload } => wal::push_event(frames, id, ts, payload),
        }
    }

    /// Applies the write to series `id`, whose kind was checked.
    fn apply(&self, live: &mut LiveTier, id: SeriesId) -> Result<()> {
        match *self {
            Write::Number { ts, value } => {
                live.numeric_mut(id)?.push(ts, value);
                live.note(id, ts, value);
            }
            Write::Batch { timestamps, values } => {
                live.numeric_mut(id)?.extend(timestamps, values);
                live.note_batch(id, timestamps, values);
            }
            Write::Event { ts, payload } => {
                live.event_mut(id)?.push(ts, Payload::from(payload));
                live.note(id, ts, f64::NAN);
            }
        }
        Ok(())
    }
}

/// A numeric point's memory in a live column: its timestamp and value.
const NUMERIC_POINT: usize = size_of::<i64>() + size_of::<f64>();

impl Engine {
    /// Applies one write; returns the series' id and the write's sequence number (see
    /// [`wait_durable`](Engine::wait_durable)). At the live tier's hard limit it waits for
    /// room, or fails with `Backpressure`, per `Options::on_pressure`.
    pub fn write(&self, target: Target<'_>, write: Write<'_>) -> Result<(SeriesId, u64)> {
        let inner = &self.inner;
        inner.make_room(write.bytes(), inner.options.on_pressure)?;
        inner.write(target, write)
    }

    /// The id of a series, creating it (as `kind`) if it does not exist.
    pub fn ensure_series(&self, key: &SeriesKey, kind: SeriesKind) -> Result<SeriesId> {
        self.inner.ensure_canonical(&key.canonical(), kind)
    }

    /// The id of the series `text` names (any accepted text form), created as `kind` if new:
    /// how a by-name put finds its series before its point joins the put buffer.
    /// It parses first: a caller that asks has usually not seen the name (the put path keeps
    /// the ids of names it has), and a new name would otherwise cost a second probe of the
    /// catalog, a cache miss at a million series.
    pub fn ensure_named(&self, text: &str, kind: SeriesKind) -> Result<SeriesId> {
        self.inner.ensure_canonical(&canonical_of(text)?, kind)
    }

    /// Appends one numeric point to an existing series; returns the write's sequence number.
    pub fn put_numeric(&self, id: SeriesId, ts: i64, value: f64) -> Result<u64> {
        self.write(Target::Id(id), Write::Number { ts, value })
            .map(|(_, seq)| seq)
    }

    /// Appends many numeric points of one series; returns the write's sequence number.
    pub fn put_batch(&self, id: SeriesId, timestamps: &[i64], values: &[f64]) -> Result<u64> {
        self.write(Target::Id(id), Write::Batch { timestamps, values })
            .map(|(_, seq)| seq)
    }

    /// Appends one event (opaque payload bytes); returns the write's sequence number.
    pub fn put_event(&self, id: SeriesId, ts: i64, payload: &[u8]) -> Result<u64> {
        self.write(Target::Id(id), Write::Event { ts, payload })
            .map(|(_, seq)| seq)
    }

    /// Appends numeric points of any series (point i is `ids[i]`, `ts[i]`, `values[i]`), all or
    /// none: everything is checked before anything is applied. Returns the sequence number.
    /// This is how a put buffer hands over points it has already acknowledged, so at the live
    /// tier's hard limit it waits for room whatever the policy: it is never refused for it.
    pub fn put_points(&self, ids: &[SeriesId], ts: &[i64], values: &[f64]) -> Result<u64> {
        let need = NUMERIC_POINT * ts.len();
        self.inner.make_room(need, OnPressure::Block)?;
        self.inner.put_points(ids, ts, values)
    }
}

impl Inner {
    /// The series whose canonical key is `text` as given, found without a parse; never one of
    /// the engine's own series, whose names callers may not write to (the parse refuses them).
    fn known_text(&self, text: &str) -> Option<SeriesId> {
        (!is_engine_series(text))
            .then(|| self.catalog().id(text))
            .flatten()
    }

    /// Applies one write; returns the series' id and the write's sequence number (see
    /// `Engine::wait_durable`).
    pub(super) fn write(&self, target: Target<'_>, write: Write<'_>) -> Result<(SeriesId, u64)> {
        write.validate()?;
        let target = match target {
            Target::Text(text) => self.known_text(text).map_or(target, Target::Id),
            other => other,
        };
        // The canonical key of a series the write names by key (none for an id).
        let key = match target {
            Target::Id(_) => None,
            Target::Key(key) => Some(key.canonical()),
            Target::Text(text) => Some(canonical_of(text)?),
        };
        let inner = self;
        let mut st = inner.writable()?;
        let kind = write.kind();
        let (id, new) = {
            let catalog = inner.catalog();
            let found = match target {
                Target::Id(id) => Some(id),
                Target::Key(_) | Target::Text(_) => key.as_deref().and_then(|k| catalog.id(k)),
            };
            match found {
                Some(id) => resolve(&catalog, id, kind)?,
                None => (catalog.next_id()?, key.map(New::Created)),
            }
        };
        // Nothing below can fail but the log (which then refuses everything).
        let seq = inner.wal.record(|frames| {
            if let Some(New::Created(key) | New::Revived(key)) = &new {
                wal::push_series(frames, id, kind, key);
            }
            write.log(frames, id);
        })?;
        match &new {
            Some(New::Created(key)) => {
                inner.catalog_mut().add(key, kind)?;
                st.live.push(kind);
                st.rollups.classify(id, key, kind);
            }
            Some(New::Revived(key)) => {
                inner.catalog_mut().revive(id, kind, Some(key));
                st.live.revive(id, kind);
            }
            None => {}
        }
        write.apply(&mut st.live, id)?;
        if !st.rollups.marks.is_empty() {
            if let Some((min, max)) = write.span() {
                st.rollups.marks.mark(id, min, max);
            }
        }
        inner.note_footprint(&st);
        drop(st);
        inner.wal.after_write(seq, inner.has_flusher())?;
        Ok((id, seq))
    }

    /// The id of the series with canonical key `canonical` (trusted: built by a `SeriesKey` or
    /// by the engine itself), created as `kind` if it does not exist.
    /// One lock of each kind (this is once per new series on the put path): the catalog's for
    /// writing from the look-up on, and no separate check of the log, whose record checks it.
    pub(super) fn ensure_canonical(&self, canonical: &str, kind: SeriesKind) -> Result<SeriesId> {
        let mut st = self.readable()?;
        let mut catalog = self.catalog_mut();
        if let Some(id) = catalog.id(canonical) {
            check_kind(&catalog, id, kind)?;
            return Ok(id);
        }
        let id = catalog.next_id()?;
        self.wal
            .record(|frames| wal::push_series(frames, id, kind, canonical))?;
        catalog.add(canonical, kind)?;
        drop(catalog);
        st.live.push(kind);
        st.rollups.classify(id, canonical, kind);
        Ok(id)
    }

    /// Appends numeric points of any series (point i is `ids[i]`, `ts[i]`, `values[i]`), all or
    /// none: everything is checked before anything is applied. Returns the sequence number.
    pub(super) fn put_points(&self, ids: &[SeriesId], ts: &[i64], values: &[f64]) -> Result<u64> {
        if ids.len() != ts.len() || ts.len() != values.len() {
            return Err(Error::InvalidArgument(format!(
                "{} ids, {} timestamps and {} values",
                ids.len(),
                ts.len(),
                values.len()
            )));
        }
        ts.iter().try_for_each(|&t| check_timestamp(t).map(drop))?;
        let inner = self;
        let mut st = inner.writable()?;
        // Ids of dropped series resolve to where their writes go (see `resolve`).
        let mut moved: Vec<(SeriesId, SeriesId, Option<String>)> = Vec::new();
        {
            let catalog = inner.catalog();
            for &id in ids {
                if catalog.kind(id).is_some() {
                    check_kind(&catalog, id, SeriesKind::Numeric)?;
                } else if !moved.iter().any(|m| m.0 == id) {
                    let (to, new) = resolve(&catalog, id, SeriesKind::Numeric)?;
                    let revived = new.map(|n| match n {
                        New::Created(k) | New::Revived(k) => k,
                    });
                    moved.push((id, to, revived));
                }
            }
        }
        let target = |id: SeriesId| moved.iter().find(|m| m.0 == id).map_or(id, |m| m.1);
        let seq = inner.wal.record(|frames| {
            for (id, _, key) in &moved {
                if let Some(key) = key {
                    wal::push_series(frames, *id, SeriesKind::Numeric, key);
                }
            }
            for ((&id, &t), &v) in ids.iter().zip(ts).zip(values) {
                wal::push_point(frames, target(id), t, v);
            }
        })?;
        for (id, _, key) in &moved {
            if let Some(key) = key {
                inner
                    .catalog_mut()
                    .revive(*id, SeriesKind::Numeric, Some(key));
                st.live.revive(*id, SeriesKind::Numeric);
            }
        }
        let marking = !st.rollups.marks.is_empty();
        for ((&id, &t), &v) in ids.iter().zip(ts).zip(values) {
            let id = target(id);
            st.live.numeric_mut(id)?.push(t, v);
            st.live.note(id, t, v);
            if marking {
                st.rollups.marks.mark(id, t, t);
            }
        }
        inner.note_footprint(&st);
        drop(st);
        inner.wal.after_write(seq, inner.has_flusher())?;
        Ok(seq)
    }

    /// The kind of series `id`; none for a series dropped by retention (it reads as empty), an
    /// error for an id never given out.
    pub(super) fn kind(&self, id: SeriesId) -> Result<Option<SeriesKind>> {
        self.readable().map(drop)?;
        let catalog = self.catalog();
        match catalog.kind(id) {
            None if id >= catalog.ids().end => Err(unknown(id)),
            kind => Ok(kind),
        }
    }
}

/// A series a write brings into the catalog: a new one, or a dropped one written to again.
enum New {
    Created(String),
    Revived(String),
}

/// The series a write to id `id` goes to, and what it brings back: a dropped series is
/// revived under its id (a handle held across its drop), unless its key names another series
/// since.
fn resolve(catalog: &Catalog, id: SeriesId, kind: SeriesKind) -> Result<(SeriesId, Option<New>)> {
    if catalog.kind(id).is_some() {
        check_kind(catalog, id, kind)?;
        return Ok((id, None));
    }
    let key = catalog.dropped_key(id).ok_or_else(|| unknown(id))?;
    match catalog.id(key) {
        Some(other) => {
            check_kind(catalog, other, kind)?;
            Ok((other, None))
        }
        None => Ok((id, Some(New::Revived(key.to_owned())))),
    }
}

/// Checks that series `id` exists and holds points of `kind`.
fn check_kind(catalog: &Catalog, id: SeriesId, kind: SeriesKind) -> Result<()> {
    let existing = catalog.kind(id).ok_or_else(|| unknown(id))?;
    if existing != kind {
        return Err(mismatch(
            catalog.key(id).unwrap_or_default(),
            existing,
            kind,
        ));
    }
    Ok(())
}

/// A series id that names no series: never given out, or dropped by retention (a handle held
/// across that finds its series again by key).
fn unknown(id: SeriesId) -> Error {
    Error::InvalidArgument(format!("no series with id {id}"))
}
