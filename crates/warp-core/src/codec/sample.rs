//! The kinds of values a series holds, behind one trait: how a value is stored in a block and
//! how a decoded block reads as columns of that kind. Code that moves points around (seal,
//! compaction, checkpoints, reads) is written once, generic over `Sample`.

use std::ops::Range;

use super::block::{self, BlockPoints, Payload};
use crate::series::SeriesKind;

pub trait Sample: Clone + std::fmt::Debug + Send + Sync + 'static {
    const KIND: SeriesKind;
    /// Bytes this value adds to a block body, for cutting blocks by size.
    fn stored_bytes(&self) -> usize;
    /// Appends one block of sorted points.
    fn encode(ts: &[i64], values: &[Self], lz4: bool, out: &mut Vec<u8>);
    /// The points of a decoded block, if it holds this kind.
    fn points(block: &BlockPoints) -> Option<(&[i64], &[Self])>;
    /// The value as a number, for statistics (`None` for events).
    fn as_number(&self) -> Option<f64>;
}

impl Sample for f64 {
    const KIND: SeriesKind = SeriesKind::Numeric;

    fn stored_bytes(&self) -> usize {
        8
    }

    fn encode(ts: &[i64], values: &[f64], lz4: bool, out: &mut Vec<u8>) {
        block::encode_numeric(ts, values, lz4, out);
    }

    fn points(block: &BlockPoints) -> Option<(&[i64], &[f64])> {
        match block {
            BlockPoints::Numeric(ts, vs) => Some((ts, vs)),
            BlockPoints::Event(..) => None,
        }
    }

    fn as_number(&self) -> Option<f64> {
        Some(*self)
    }
}

impl Sample for Payload {
    const KIND: SeriesKind = SeriesKind::Event;

    fn stored_bytes(&self) -> usize {
        self.len() + 2
    }

    /// Event bodies are always LZ4-compressed (JSON text compresses well).
    fn encode(ts: &[i64], values: &[Payload], _lz4: bool, out: &mut Vec<u8>) {
        block::encode_events(ts, values, out);
    }

    fn points(block: &BlockPoints) -> Option<(&[i64], &[Payload])> {
        match block {
            BlockPoints::Event(ts, ps) => Some((ts, ps)),
            BlockPoints::Numeric(..) => None,
        }
    }

    fn as_number(&self) -> Option<f64> {
        None
    }
}

/// Encodes sorted points as blocks cut by [`block::split`], calling `each(range, offset, len)`
/// for every block written to `out`.
pub fn encode_blocks<V: Sample>(
    ts: &[i64],
    values: &[V],
    lz4: bool,
    out: &mut Vec<u8>,
    mut each: impl FnMut(Range<usize>, usize, usize),
) {
    for range in block::split(ts.len(), |i| values[i].stored_bytes()) {
        let offset = out.len();
        V::encode(&ts[range.clone()], &values[range.clone()], lz4, out);
        each(range, offset, out.len() - offset);
    }
}
