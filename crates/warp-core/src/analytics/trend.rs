//! Trend: the Theil–Sen slope (the median of the slopes between every pair of points, robust
//! to outliers up to 29% of the points), an ordinary least-squares fit beside it, and the
//! Mann–Kendall test of whether values rise or fall monotonically, with its p-value.

use super::stats::{median, normal_tail, unit_scale};
use crate::error::{Error, Result};

/// The most points a trend takes: every pair is visited (n² / 2 slopes in memory).
pub const MAX_TREND_POINTS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Increasing,
    Decreasing,
    /// No monotonic trend at the significance level asked.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub points: usize,
    /// Theil–Sen slope, in value units per millisecond.
    pub slope: f64,
    /// The Theil–Sen line's value at the first point's time.
    pub intercept: f64,
    pub ols_slope: f64,
    pub ols_intercept: f64,
    /// Share of the variance the least-squares line explains.
    pub r_squared: f64,
    /// Mann–Kendall S: concordant minus discordant pairs.
    pub s: f64,
    /// Kendall's tau-b between time and value.
    pub tau: f64,
    /// The normal approximation of S (continuity-corrected, with the tie correction).
    pub z: f64,
    /// Two-sided p-value of "no monotonic trend".
    pub p_value: f64,
    pub direction: Direction,
}

/// The trend of `values` over `ts` (strictly increasing), tested at level `alpha`.
pub fn trend(ts: &[i64], values: &[f64], alpha: f64) -> Result<Trend> {
    let n = values.len();
    if n < 3 || ts.len() != n {
        return Err(Error::InvalidArgument(format!(
            "a trend needs at least 3 points with values, not {n}"
        )));
    }
    if n > MAX_TREND_POINTS {
        return Err(Error::InvalidArgument(format!(
            "a trend takes at most {MAX_TREND_POINTS} points, not {n} (bucket them)"
        )));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "alpha must be between 0 and 1, not {alpha}"
        )));
    }
    // Values at unit scale (what carries their unit is scaled back below), times relative to
    // the first point: the sums keep their precision and stay finite.
    let (values, scale) = unit_scale(values);
    let values = values.as_slice();
    let t: Vec<f64> = ts.iter().map(|&x| (x - ts[0]) as f64).collect();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let dv = values[j] - values[i];
            slopes.push(dv / (t[j] - t[i]));
            s += sign(dv);
        }
    }
    let slope = median(&mut slopes);
    let mut offsets: Vec<f64> = t.iter().zip(values).map(|(t, v)| v - slope * t).collect();
    let intercept = median(&mut offsets);
    let (ols_slope, ols_intercept, r_squared) = least_squares(&t, values);
    let nf = n as f64;
    let pairs = nf * (nf - 1.0) / 2.0;
    let ties = tie_groups(values);
    let tie_var: f64 = ties.iter().map(|&g| g * (g - 1.0) * (2.0 * g + 5.0)).sum();
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - tie_var) / 18.0;
    let z = if var <= 0.0 || s == 0.0 {
        0.0
    } else {
        (s - s.signum()) / var.sqrt()
    };
    let p_value = (2.0 * normal_tail(z.abs())).min(1.0);
    let tied_pairs: f64 = ties.iter().map(|&g| g * (g - 1.0) / 2.0).sum();
    let tau = if pairs - tied_pairs > 0.0 {
        s / (pairs * (pairs - tied_pairs)).sqrt()
    } else {
        0.0
    };
    let direction = match () {
        _ if p_value >= alpha || s == 0.0 => Direction::None,
        _ if s > 0.0 => Direction::Increasing,
        _ => Direction::Decreasing,
    };
    Ok(Trend {
        points: n,
        slope: slope * scale,
        intercept: intercept * scale,
        ols_slope: ols_slope * scale,
        ols_intercept: ols_intercept * scale,
        r_squared,
        s,
        tau,
        z,
        p_value,
        direction,
    })
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Slope, intercept and r² of the least-squares line.
fn least_squares(t: &[f64], v: &[f64]) -> (f64, f64, f64) {
    let n = t.len() as f64;
    let (mt, mv) = (t.iter().sum::<f64>() / n, v.iter().sum::<f64>() / n);
    let (mut stt, mut stv, mut svv) = (0.0, 0.0, 0.0);
    for (&a, &b) in t.iter().zip(v) {
        stt += (a - mt) * (a - mt);
        stv += (a - mt) * (b - mv);
        svv += (b - mv) * (b - mv);
    }
    let slope = if stt > 0.0 { stv / stt } else { 0.0 };
    let r2 = if svv > 0.0 && stt > 0.0 {
        (stv * stv) / (stt * svv)
    } else {
        0.0
    };
    (slope, mv - slope * mt, r2)
}

/// Sizes of the groups of equal values (groups of one left out).
fn tie_groups(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut groups = Vec::new();
    let mut run = 1.0;
    for w in sorted.windows(2) {
        if w[0] == w[1] {
            run += 1.0;
        } else {
            if run > 1.0 {
                groups.push(run);
            }
            run = 1.0;
        }
    }
    if run > 1.0 {
        groups.push(run);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::super::testdata::Draws;
    use super::*;

    #[test]
    fn a_line_with_outliers_keeps_its_theil_sen_slope() {
        let ts: Vec<i64> = (0..100).map(|i| i * 1000).collect();
        let mut vs: Vec<f64> = ts.iter().map(|&t| 5.0 + 0.002 * t as f64).collect();
        for i in [3, 40, 77] {
            vs[i] += 500.0;
        }
        let r = trend(&ts, &vs, 0.05).unwrap();
        assert!((r.slope - 0.002).abs() < 1e-12, "{}", r.slope);
        assert!((r.intercept - 5.0).abs() < 1e-9);
        assert!(
            r.ols_slope != r.slope,
            "least squares is pulled by the outliers"
        );
        assert_eq!(r.direction, Direction::Increasing);
        assert!(r.p_value < 1e-10);
    }

    /// Mann–Kendall S, its variance with ties and the p-value against a hand computation:
    /// values [1, 2, 2, 3, 1] give S = 2 (5 rising pairs, 3 falling), and their two pairs of
    /// ties make the variance (5·4·15 − 2·(2·1·9)) / 18 = (300 − 36) / 18.
    #[test]
    fn mann_kendall_matches_a_hand_computation() {
        let r = trend(&[0, 1, 2, 3, 4], &[1.0, 2.0, 2.0, 3.0, 1.0], 0.05).unwrap();
        assert_eq!(r.s, 2.0);
        let var: f64 = (300.0 - 36.0) / 18.0;
        assert!((r.z - 1.0 / var.sqrt()).abs() < 1e-12);
        assert!((r.p_value - 2.0 * normal_tail(1.0 / var.sqrt())).abs() < 1e-12);
        assert_eq!(r.direction, Direction::None);
        // tau-b: 2 / sqrt(10 · (10 − 2))
        assert!((r.tau - 2.0 / 80f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn noise_has_no_trend_and_falling_values_decrease() {
        let ts: Vec<i64> = (0..200).collect();
        let mut d = Draws::new(0x9e37_79b9);
        let noise: Vec<f64> = (0..200).map(|_| 1000.0 * d.uniform()).collect();
        assert_eq!(trend(&ts, &noise, 0.01).unwrap().direction, Direction::None);
        let falling: Vec<f64> = noise
            .iter()
            .enumerate()
            .map(|(i, v)| v - 20.0 * i as f64)
            .collect();
        let r = trend(&ts, &falling, 0.01).unwrap();
        assert_eq!(r.direction, Direction::Decreasing);
        assert!(r.tau < -0.5);
        let flat = trend(&[0, 1, 2], &[4.0, 4.0, 4.0], 0.05).unwrap();
        assert_eq!(
            (flat.s, flat.z, flat.p_value, flat.slope),
            (0.0, 0.0, 1.0, 0.0)
        );
    }

    #[test]
    fn any_scale_gives_the_same_test_and_scaled_slopes() {
        let ts: Vec<i64> = (0..50).collect();
        let vs: Vec<f64> = (0..50)
            .map(|i| (i as f64 * 0.7).sin() + i as f64 * 0.05)
            .collect();
        let unit = trend(&ts, &vs, 0.05).unwrap();
        for k in [1e-300, 1e-150, 1e150, 1e300] {
            let big: Vec<f64> = vs.iter().map(|v| v * k).collect();
            let r = trend(&ts, &big, 0.05).unwrap();
            assert_eq!(
                (r.s, r.p_value, r.direction),
                (unit.s, unit.p_value, unit.direction)
            );
            assert!(
                (r.slope / k - unit.slope).abs() < 1e-12 * unit.slope.abs(),
                "{k}"
            );
            assert!(
                (r.ols_slope / k - unit.ols_slope).abs() < 1e-9 * unit.ols_slope.abs(),
                "{k}"
            );
            assert!(
                (r.r_squared - unit.r_squared).abs() < 1e-9,
                "{k}: {}",
                r.r_squared
            );
        }
    }

    #[test]
    fn refuses_too_few_points_too_many_and_a_bad_alpha() {
        assert!(trend(&[0, 1], &[1.0, 2.0], 0.05).is_err());
        assert!(trend(&[0, 1, 2], &[1.0, 2.0, 3.0], 1.0).is_err());
        assert!(trend(&[0, 1, 2], &[1.0, 2.0, 3.0], f64::NAN).is_err());
        let big: Vec<i64> = (0..=MAX_TREND_POINTS as i64).collect();
        let vs = vec![0.0; big.len()];
        assert!(trend(&big, &vs, 0.05).is_err());
    }
}
