//! A rollup's cells: computed from a source's raw points bucket by bucket, and read back as
//! partial [`Cell`]s that a query folds exactly as it folds points.

use super::sketch::Sketch;
use super::State;
use crate::query::aggregate::{Cell, Needs};

/// Per bucket of `every` with at least one point (NaN included), its start and the value of
/// each of `states`, from a source's points (sorted, one per timestamp).
pub struct Computed {
    pub starts: Vec<i64>,
    /// One column per state, in `states` order.
    pub columns: Vec<Vec<f64>>,
    /// With sketches asked: each bucket's sketch, encoded.
    pub sketches: Vec<Vec<u8>>,
}

/// The start of the bucket of `every` holding `t`.
pub fn bucket(t: i64, every: i64) -> i64 {
    t.div_euclid(every) * every
}

pub fn compute(ts: &[i64], vs: &[f64], every: i64, states: &[State], sketches: bool) -> Computed {
    let mut out = Computed {
        starts: Vec::new(),
        columns: vec![Vec::new(); states.len()],
        sketches: Vec::new(),
    };
    let needs = Needs {
        moments: states.contains(&State::M2),
        values: false,
    };
    let mut i = 0;
    while i < ts.len() {
        let start = bucket(ts[i], every);
        let end = i + ts[i..].partition_point(|&t| t < start.saturating_add(every));
        let mut cell = Cell::default();
        cell.add(&ts[i..end], &vs[i..end], needs);
        out.starts.push(start);
        for (column, &state) in out.columns.iter_mut().zip(states) {
            column.push(state_of(&cell, state));
        }
        if sketches {
            let mut sketch = Sketch::default();
            vs[i..end].iter().for_each(|&v| sketch.add(v));
            out.sketches.push(sketch.encode());
        }
        i = end;
    }
    out
}

/// The value of one state of a bucket's cell (NaN where the bucket has no value, but `count`).
fn state_of(cell: &Cell, state: State) -> f64 {
    if cell.n == 0 && state != State::Count {
        return f64::NAN;
    }
    #[allow(clippy::cast_precision_loss)] // timestamps are within ±2^53
    match state {
        State::Count => cell.n as f64,
        State::Sum => cell.sum,
        State::Min => cell.min,
        State::Max => cell.max,
        State::First => cell.first.1,
        State::FirstAt => cell.first.0 as f64,
        State::Last => cell.last.1,
        State::LastAt => cell.last.0 as f64,
        State::M2 => cell.m2,
    }
}

/// The partial cell of one bucket starting at `start` from its states' values (`row[i]` is
/// `states[i]`); none for a bucket without values.
pub fn partial(start: i64, states: &[State], row: &[f64]) -> Option<Cell> {
    let mut cell = Cell::default();
    for (&state, &v) in states.iter().zip(row) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        match state {
            State::Count if v >= 1.0 => cell.n = v as u64,
            State::Count => return None,
            State::Sum => cell.sum = v,
            State::Min => cell.min = v,
            State::Max => cell.max = v,
            State::First => cell.first.1 = v,
            State::FirstAt => cell.first.0 = v as i64,
            State::Last => cell.last.1 = v,
            State::LastAt => cell.last.0 = v as i64,
            State::M2 => cell.m2 = v,
        }
    }
    if !states.contains(&State::FirstAt) {
        cell.first.0 = start;
    }
    if !states.contains(&State::LastAt) {
        cell.last.0 = start;
    }
    #[allow(clippy::cast_precision_loss)]
    if states.contains(&State::Sum) {
        cell.mean = cell.sum / cell.n as f64;
    }
    Some(cell)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::aggregate::Agg;

    #[test]
    fn cells_read_back_as_the_points_would_fold() {
        let ts = [-5, 0, 3, 9, 10, 11, 25];
        let vs = [1.0, 2.0, f64::NAN, 4.0, 8.0, 16.0, f64::NAN];
        let states = State::ALL;
        let c = compute(&ts, &vs, 10, &states, true);
        assert_eq!(c.sketches.len(), c.starts.len());
        assert_eq!(c.starts, vec![-10, 0, 10, 20]);
        let needs = Needs {
            moments: true,
            values: false,
        };
        for (b, &start) in c.starts.iter().enumerate() {
            let row: Vec<f64> = c.columns.iter().map(|col| col[b]).collect();
            let mut direct = Cell::default();
            let (lo, hi) = (
                ts.partition_point(|&t| t < start),
                ts.partition_point(|&t| t < start + 10),
            );
            direct.add(&ts[lo..hi], &vs[lo..hi], needs);
            let Some(mut cell) = partial(start, &states, &row) else {
                assert_eq!(direct.n, 0, "bucket {start}");
                continue;
            };
            for agg in [
                Agg::Count,
                Agg::Sum,
                Agg::Avg,
                Agg::Min,
                Agg::Max,
                Agg::First,
                Agg::Last,
                Agg::Variance,
            ] {
                assert_eq!(
                    cell.value(&agg, 1.0).to_bits(),
                    direct.value(&agg, 1.0).to_bits(),
                    "{agg:?} of bucket {start}"
                );
            }
        }
    }
}
