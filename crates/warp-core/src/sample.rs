//! The kinds of values a series holds, behind one trait: how a value is stored in a block,
//! how a decoded block and a live column read as that kind, and how it is handed back. Code
//! that moves points around (writes, reads, seals, compactions, checkpoints) is written once,
//! generic over `Sample`, and dispatches on the kind once at its edge; another kind of value
//! (integer counters, histograms) is one more impl.

use crate::codec::block::{self, BlockMeta, BlockPoints};
use crate::codec::Payload;
use crate::column::Column;
use crate::live::Points;
use crate::series::SeriesKind;
use crate::types::{RangeResult, Value};

pub trait Sample: Clone + std::fmt::Debug + Send + Sync + 'static {
    const KIND: SeriesKind;
    /// Bytes this value adds to a block body, for cutting blocks by size.
    fn stored_bytes(&self) -> usize;
    /// Bytes this value holds in memory outside its slot of a live column.
    fn heap_bytes(&self) -> usize;
    /// Appends the body of one block of sorted points; returns its metadata.
    fn encode(ts: &[i64], values: &[Self], lz4: bool, out: &mut Vec<u8>) -> BlockMeta;
    /// The points of a decoded block, if it holds this kind.
    fn points(block: &BlockPoints) -> Option<(&[i64], &[Self])>;
    /// The same, taking the block.
    fn into_points(block: BlockPoints) -> Option<(Vec<i64>, Vec<Self>)>;
    /// The live column of a series, if it holds this kind.
    fn column(points: &Points) -> Option<&Column<Self>>;
    fn column_mut(points: &mut Points) -> Option<&mut Column<Self>>;
    fn wrap(column: Column<Self>) -> Points;
    /// The value as callers receive it.
    fn value(self) -> Value;
    fn range(timestamps: Vec<i64>, values: Vec<Self>) -> RangeResult;
    /// A block's last value from its metadata, if that holds it (numbers large enough to carry
    /// a summary do; events do not), so the newest point of a block can be read without
    /// decoding it.
    fn last_in(meta: &BlockMeta) -> Option<Self>;
    /// The value of a series' newest point as the live tier keeps it (numbers only).
    fn from_newest(value: f64) -> Option<Self>;
}

impl Sample for f64 {
    const KIND: SeriesKind = SeriesKind::Numeric;

    fn stored_bytes(&self) -> usize {
        8
    }

    fn heap_bytes(&self) -> usize {
        0
    }

    fn encode(ts: &[i64], values: &[f64], lz4: bool, out: &mut Vec<u8>) -> BlockMeta {
        block::encode_numeric(ts, values, lz4, out)
    }

    fn points(block: &BlockPoints) -> Option<(&[i64], &[f64])> {
        match block {
            BlockPoints::Numeric(ts, vs) => Some((ts, vs)),
            BlockPoints::Event(..) => None,
        }
    }

    fn into_points(block: BlockPoints) -> Option<(Vec<i64>, Vec<f64>)> {
        match block {
            BlockPoints::Numeric(ts, vs) => Some((ts, vs)),
            BlockPoints::Event(..) => None,
        }
    }

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

    fn wrap(column: Column<f64>) -> Points {
        Points::Numeric(column)
    }

    fn value(self) -> Value {
        Value::Number(self)
    }

    fn range(timestamps: Vec<i64>, values: Vec<f64>) -> RangeResult {
        RangeResult::Numeric { timestamps, values }
    }

    fn last_in(meta: &BlockMeta) -> Option<f64> {
        meta.last()
    }

    fn from_newest(value: f64) -> Option<f64> {
        Some(value)
    }
}

impl Sample for Payload {
    const KIND: SeriesKind = SeriesKind::Event;

    fn stored_bytes(&self) -> usize {
        self.len() + 2
    }

    /// The shared allocation: the payload and its strong and weak counts.
    fn heap_bytes(&self) -> usize {
        self.len() + 2 * std::mem::size_of::<usize>()
    }

    /// Event bodies are always LZ4-compressed (JSON text compresses well).
    fn encode(ts: &[i64], values: &[Payload], _lz4: bool, out: &mut Vec<u8>) -> BlockMeta {
        block::encode_events(ts, values, out)
    }

    fn points(block: &BlockPoints) -> Option<(&[i64], &[Payload])> {
        match block {
            BlockPoints::Event(ts, ps) => Some((ts, ps)),
            BlockPoints::Numeric(..) => None,
        }
    }

    fn into_points(block: BlockPoints) -> Option<(Vec<i64>, Vec<Payload>)> {
        match block {
            BlockPoints::Event(ts, ps) => Some((ts, ps)),
            BlockPoints::Numeric(..) => None,
        }
    }

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

    fn wrap(column: Column<Payload>) -> Points {
        Points::Event(column)
    }

    fn value(self) -> Value {
        Value::Event(self)
    }

    fn range(timestamps: Vec<i64>, payloads: Vec<Payload>) -> RangeResult {
        RangeResult::Event {
            timestamps,
            payloads,
        }
    }

    fn last_in(_: &BlockMeta) -> Option<Payload> {
        None
    }

    fn from_newest(_: f64) -> Option<Payload> {
        None
    }
}

/// Encodes sorted points as blocks cut by [`block::split`], calling `each(meta, offset)` for
/// every block whose body it appends to `out`.
pub fn encode_blocks<V: Sample>(
    ts: &[i64],
    values: &[V],
    lz4: bool,
    out: &mut Vec<u8>,
    mut each: impl FnMut(BlockMeta, u64),
) {
    for range in block::split(ts.len(), |i| values[i].stored_bytes()) {
        let offset = out.len() as u64;
        let meta = V::encode(&ts[range.clone()], &values[range], lz4, out);
        each(meta, offset);
    }
}
