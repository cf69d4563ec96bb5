//! What a column says for buckets without data (`fill`), and moving averages over a column.

/// How empty buckets are filled. `count` is never filled: an empty bucket counts 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// Empty buckets are left out of the result.
    None,
    /// Empty buckets hold NaN (typed arrays have no null).
    Null,
    /// The last value before, NaN before the first.
    Previous,
    /// Interpolated between the values on either side, by bucket start; NaN at the ends.
    Linear,
    Value(f64),
}

/// Fills the NaN entries of `column` (one per bucket, starting at `starts`) where `empty` says
/// the bucket had no data.
pub fn fill(column: &mut [f64], empty: &[bool], starts: &[i64], how: Fill) {
    match how {
        Fill::None | Fill::Null => {}
        Fill::Value(v) => {
            for (x, &e) in column.iter_mut().zip(empty) {
                if e {
                    *x = v;
                }
            }
        }
        Fill::Previous => {
            let mut previous = f64::NAN;
            for (x, &e) in column.iter_mut().zip(empty) {
                if e {
                    *x = previous;
                } else {
                    previous = *x;
                }
            }
        }
        Fill::Linear => {
            let known: Vec<usize> = (0..column.len())
                .filter(|&i| !empty[i] && !column[i].is_nan())
                .collect();
            for pair in known.windows(2) {
                let (j, k) = (pair[0], pair[1]);
                let (vj, vk) = (column[j], column[k]);
                let span = (starts[k] - starts[j]) as f64;
                for i in j + 1..k {
                    if empty[i] {
                        column[i] = vj + (vk - vj) * ((starts[i] - starts[j]) as f64 / span);
                    }
                }
            }
        }
    }
}

/// The mean of the values that are not NaN among each bucket's last `n` (itself included);
/// NaN where there is none.
pub fn moving_average(column: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(column.len());
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, &v) in column.iter().enumerate() {
        if !v.is_nan() {
            sum += v;
            count += 1;
        }
        if let Some(old) = i.checked_sub(n).map(|j| column[j]) {
            if !old.is_nan() {
                sum -= old;
                count -= 1;
            }
        }
        out.push(if count > 0 {
            sum / count as f64
        } else {
            f64::NAN
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: f64 = f64::NAN;

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-12)
    }

    #[test]
    fn fills_each_way() {
        let empty = [true, false, true, true, false, true];
        let starts = [0, 10, 20, 30, 40, 50];
        let base = [N, 1.0, N, N, 4.0, N];
        let filled = |how| {
            let mut c = base;
            fill(&mut c, &empty, &starts, how);
            c
        };
        assert!(same(&filled(Fill::Null), &base));
        assert!(same(
            &filled(Fill::Value(7.0)),
            &[7.0, 1.0, 7.0, 7.0, 4.0, 7.0]
        ));
        assert!(same(&filled(Fill::Previous), &[N, 1.0, 1.0, 1.0, 4.0, 4.0]));
        assert!(same(&filled(Fill::Linear), &[N, 1.0, 2.0, 3.0, 4.0, N]));
    }

    #[test]
    fn moving_averages_skip_gaps() {
        let got = moving_average(&[1.0, N, 3.0, 5.0, N, N, N], 2);
        assert!(same(&got, &[1.0, 1.0, 3.0, 4.0, 5.0, N, N]));
        assert!(same(
            &moving_average(&[2.0, 4.0, 6.0], 10),
            &[2.0, 3.0, 4.0]
        ));
    }
}
