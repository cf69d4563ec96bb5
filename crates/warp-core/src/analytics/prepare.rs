//! The points an analysis runs on: finite values only, averaged into buckets where asked or
//! where there are more than the analysis takes.

use crate::error::{Error, Result};

/// Points ready for an analysis, and the bucket width used (0: the raw points).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub ts: Vec<i64>,
    pub values: Vec<f64>,
    pub every: i64,
}

/// Drops non-finite values; averages into buckets of `every` ms (aligned to the epoch) if
/// given, or, if there are more than `max_points` points, of the smallest whole width that
/// leaves at most `max_points` buckets. With `regular`, empty buckets between the first and
/// the last are filled by linear interpolation (an analysis on a grid needs every step); raw
/// points must then be evenly spaced already, or `every` must be given.
pub fn prepare(
    ts: &[i64],
    values: &[f64],
    every: Option<i64>,
    max_points: usize,
    regular: bool,
) -> Result<Prepared> {
    if ts.len() != values.len() {
        return Err(Error::InvalidArgument(format!(
            "{} timestamps but {} values",
            ts.len(),
            values.len()
        )));
    }
    if ts.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::InvalidArgument(
            "timestamps must be strictly increasing".into(),
        ));
    }
    let (ts, values): (Vec<i64>, Vec<f64>) = ts
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .map(|(&t, &v)| (t, v))
        .unzip();
    let every = match every {
        Some(e) if e <= 0 => {
            return Err(Error::InvalidArgument(format!(
                "every must be a positive number of milliseconds, not {e}"
            )))
        }
        Some(e) => e,
        None if ts.len() > max_points.max(1) => width_for(&ts, max_points.max(1)),
        None if regular => return evenly_spaced(ts, values),
        None => {
            return Ok(Prepared {
                ts,
                values,
                every: 0,
            })
        }
    };
    let (ts, values) = bucket_means(&ts, &values, every);
    let buckets = match (ts.first(), ts.last()) {
        (Some(first), Some(last)) if regular => (last - first) / every + 1,
        _ => i64::try_from(ts.len()).unwrap_or(i64::MAX),
    };
    if usize::try_from(buckets).map_or(true, |b| b > max_points.max(1)) {
        return Err(Error::InvalidArgument(format!(
            "{buckets} buckets of {every} ms; this analysis takes at most {max_points} (use a wider `every`)"
        )));
    }
    let (ts, values) = if regular {
        fill_gaps(&ts, &values, every)
    } else {
        (ts, values)
    };
    Ok(Prepared { ts, values, every })
}

/// The smallest whole bucket width that splits the points' span into at most `max` buckets.
fn width_for(ts: &[i64], max: usize) -> i64 {
    let (Some(first), Some(last)) = (ts.first(), ts.last()) else {
        return 1;
    };
    let span = i128::from(*last) - i128::from(*first) + 1;
    // Aligned buckets can straddle one more boundary than the span holds.
    let slots = i128::try_from(max.saturating_sub(1).max(1)).unwrap_or(i128::MAX);
    i64::try_from((span + slots - 1) / slots)
        .unwrap_or(i64::MAX)
        .max(1)
}

/// Means of the points in each bucket `[k·every, (k+1)·every)` that has any, keyed by its start.
fn bucket_means(ts: &[i64], values: &[f64], every: i64) -> (Vec<i64>, Vec<f64>) {
    let mut starts = Vec::new();
    let mut means = Vec::new();
    let mut i = 0;
    while i < ts.len() {
        let start = ts[i].div_euclid(every) * every;
        // A running mean: a sum of values near f64::MAX would overflow.
        let (mut mean, mut n) = (0.0, 0.0);
        while i < ts.len() && ts[i].div_euclid(every) * every == start {
            n += 1.0;
            mean += (values[i] - mean) / n;
            i += 1;
        }
        starts.push(start);
        means.push(mean);
    }
    (starts, means)
}

/// Every bucket from the first to the last (the caller has bounded their number), the empty
/// ones interpolated from their neighbours.
fn fill_gaps(ts: &[i64], values: &[f64], every: i64) -> (Vec<i64>, Vec<f64>) {
    let mut out_ts = Vec::new();
    let mut out = Vec::new();
    for w in 0..ts.len() {
        out_ts.push(ts[w]);
        out.push(values[w]);
        if let (Some(&t1), Some(&v1)) = (ts.get(w + 1), values.get(w + 1)) {
            let gap = (t1 - ts[w]) / every;
            for k in 1..gap {
                let f = k as f64 / gap as f64;
                out_ts.push(ts[w] + k * every);
                out.push(values[w] + f * (v1 - values[w]));
            }
        }
    }
    (out_ts, out)
}

/// Raw points used as a grid: their spacing must be constant.
fn evenly_spaced(ts: Vec<i64>, values: Vec<f64>) -> Result<Prepared> {
    let every = match ts.as_slice() {
        [a, b, ..] => b - a,
        _ => 1,
    };
    if ts.windows(2).any(|w| w[1] - w[0] != every) {
        return Err(Error::InvalidArgument(
            "the points are not evenly spaced: give `every` to average them onto a grid".into(),
        ));
    }
    Ok(Prepared { ts, values, every })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_average_skip_nan_and_fill_gaps_on_a_grid() {
        let ts = [0, 5, 10, 15, 40, 45];
        let vs = [1.0, 3.0, f64::NAN, 5.0, 9.0, 11.0];
        let p = prepare(&ts, &vs, Some(10), 100, false).unwrap();
        assert_eq!(p.ts, vec![0, 10, 40]);
        assert_eq!(p.values, vec![2.0, 5.0, 10.0]);
        let g = prepare(&ts, &vs, Some(10), 100, true).unwrap();
        assert_eq!(g.ts, vec![0, 10, 20, 30, 40]);
        let expected = [2.0, 5.0, 5.0 + 5.0 / 3.0, 5.0 + 10.0 / 3.0, 10.0];
        assert!(g
            .values
            .iter()
            .zip(expected)
            .all(|(a, b)| (a - b).abs() < 1e-12));
        assert_eq!(g.every, 10);
    }

    #[test]
    fn too_many_points_are_bucketed_to_at_most_the_limit() {
        let ts: Vec<i64> = (0..10_000).map(|i| i * 7 + 3).collect();
        let vs: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
        let p = prepare(&ts, &vs, None, 100, false).unwrap();
        assert!(p.ts.len() <= 100 && p.ts.len() >= 90, "{}", p.ts.len());
        assert!(p.every > 0);
        let raw = prepare(&ts, &vs, None, 10_000, true).unwrap();
        assert_eq!((raw.every, raw.ts.len()), (7, 10_000));
        let uneven = prepare(&[0, 1, 3], &[1.0, 2.0, 3.0], None, 10, true);
        assert!(uneven.is_err());
        assert!(prepare(&[0, 0], &[1.0, 2.0], None, 10, false).is_err());
        assert!(prepare(&[0], &[1.0], Some(0), 10, false).is_err());
        // A grid finer than the analysis takes is refused before it is built.
        assert!(prepare(&[0, i64::MAX / 2], &[1.0, 2.0], Some(1), 10, true).is_err());
        assert!(prepare(&[0, 10], &[1.0, 2.0], Some(1), 10, true).is_err());
        assert_eq!(
            prepare(&[0, 9], &[1.0, 2.0], Some(1), 10, true)
                .unwrap()
                .ts
                .len(),
            10
        );
    }
}
