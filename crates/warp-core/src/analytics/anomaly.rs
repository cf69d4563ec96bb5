//! Anomalies: Rosner's generalized ESD test (extreme Studentized deviate) for up to `r`
//! outliers, on what is left after an optional seasonal baseline (the median of each phase of
//! the period), with the median and MAD in place of the mean and standard deviation when
//! `robust` (the "hybrid" test of Hochenbaum, Vallis and Kejariwal). Each candidate carries its
//! statistic, the critical value at `alpha` and a p-value: the plan's "cosmic significance".

use super::stats::{median, student_tail, student_upper, unit_scale};
use crate::error::{Error, Result};

/// The most points the test takes (a few arrays of each in memory).
pub const MAX_ANOMALY_POINTS: usize = 2_000_000;

/// MAD × this estimates the standard deviation of normal data.
const MAD_TO_SD: f64 = 1.482_602_218_505_602;
/// The mean absolute deviation × this (√(π/2)) does too.
const MEAN_AD_TO_SD: f64 = 1.253_314_137_315_500_3;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyOptions {
    pub alpha: f64,
    /// The most anomalies the test looks for (its `r`; at most half the points).
    pub max_anomalies: usize,
    /// Points per season, for a seasonal baseline.
    pub period: Option<usize>,
    /// Median and MAD instead of mean and standard deviation.
    pub robust: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// Position in the values.
    pub index: usize,
    pub value: f64,
    /// What the baseline and the remaining points put there.
    pub expected: f64,
    /// The test statistic R: the deviation in (robust) standard deviations.
    pub score: f64,
    /// The critical value λ at `alpha` for this step.
    pub critical: f64,
    /// The probability of a deviation this extreme among the points left, were none an outlier.
    pub p_value: f64,
}

/// The candidates in the order the test removed them; the first `count` are the anomalies.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomalies {
    pub candidates: Vec<Anomaly>,
    pub count: usize,
}

pub fn anomalies(values: &[f64], opts: &AnomalyOptions) -> Result<Anomalies> {
    let n = values.len();
    if !(3..=MAX_ANOMALY_POINTS).contains(&n) {
        return Err(Error::InvalidArgument(format!(
            "anomaly detection takes 3 to {MAX_ANOMALY_POINTS} points, not {n}"
        )));
    }
    if !(opts.alpha > 0.0 && opts.alpha < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "alpha must be between 0 and 1, not {}",
            opts.alpha
        )));
    }
    // At unit scale, so squares of 1e200 neither overflow nor those of 1e-200 vanish.
    let original = values;
    let (scaled, scale) = unit_scale(values);
    let values = scaled.as_slice();
    let baseline = baseline(values, opts.period)?;
    let residuals: Vec<f64> = values.iter().zip(&baseline).map(|(v, b)| v - b).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| residuals[a].total_cmp(&residuals[b]));
    let shift = median(&mut residuals.clone());
    // Deviations below this are rounding, not signal: a series that repeats its season exactly
    // leaves residuals of 1e-14, whose spread would make each of them "significant".
    let floor = values.iter().fold(0.0f64, |m, v| m.max(v.abs())) * 1e-9;
    // The residuals in order, about the median (so large offsets cost no precision), with
    // the running sums of them and of their squares. The points left at each step are a
    // contiguous run of them, whose mean and variance come from the sums in O(1) and whose
    // robust centre and spread in O(log n) (see `robust_center`).
    let sorted: Vec<f64> = order.iter().map(|&i| residuals[i] - shift).collect();
    let prefix = running_sums(sorted.iter().copied());
    let prefix_sq = running_sums(sorted.iter().map(|r| r * r));
    let (mut lo, mut hi) = (0, n - 1);
    // At most half the points: the last steps of a longer test run on a handful of points,
    // pass by chance, and Rosner's rule would then call everything before them anomalous.
    let steps = opts.max_anomalies.min(n / 2).min(n - 2);
    let mut candidates = Vec::with_capacity(steps);
    let mut count = 0;
    for i in 1..=steps {
        let m = (hi - lo + 1) as f64;
        let (center, spread) = if opts.robust {
            let (center, spread) = robust_center(&sorted[lo..=hi], &prefix[lo..=hi + 1]);
            (center + shift, spread)
        } else {
            let sum = prefix[hi + 1] - prefix[lo];
            let mean = sum / m;
            let var = ((prefix_sq[hi + 1] - prefix_sq[lo] - sum * mean) / (m - 1.0)).max(0.0);
            (mean + shift, var.sqrt())
        };
        let spread = spread.max(floor);
        if !(spread > 0.0 && spread.is_finite()) {
            break;
        }
        let (low, high) = (order[lo], order[hi]);
        let pick_high = (residuals[high] - center).abs() >= (residuals[low] - center).abs();
        let index = if pick_high { high } else { low };
        let score = (residuals[index] - center).abs() / spread;
        let (critical, p_value) = significance(score, n, i, opts.alpha);
        if score > critical {
            count = i;
        }
        candidates.push(Anomaly {
            index,
            value: original[index],
            expected: (baseline[index] + center) * scale,
            score,
            critical,
            p_value,
        });
        if pick_high {
            hi -= 1;
        } else {
            lo += 1;
        }
    }
    Ok(Anomalies { candidates, count })
}

/// `[0, x0, x0 + x1, …]`: the sum of any run of `xs` is a difference of two of these.
fn running_sums(xs: impl Iterator<Item = f64>) -> Vec<f64> {
    std::iter::once(0.0)
        .chain(xs.scan(0.0, |acc, x| {
            *acc += x;
            Some(*acc)
        }))
        .collect()
}

/// The seasonal baseline: each point's phase median, less the median of those (0 without a period).
fn baseline(values: &[f64], period: Option<usize>) -> Result<Vec<f64>> {
    let Some(p) = period else {
        return Ok(vec![0.0; values.len()]);
    };
    if p < 2 || values.len() < 2 * p {
        return Err(Error::InvalidArgument(format!(
            "a seasonal baseline needs a period of at least 2 points and two whole seasons: \
             period {p}, {} points",
            values.len()
        )));
    }
    let mut phases: Vec<f64> = (0..p)
        .map(|k| {
            median(
                &mut values
                    .iter()
                    .skip(k)
                    .step_by(p)
                    .copied()
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let level = median(&mut phases.clone());
    phases.iter_mut().for_each(|s| *s -= level);
    Ok((0..values.len()).map(|i| phases[i % p]).collect())
}

/// Median and MAD-based standard deviation of `run` (sorted), whose running sums `prefix`
/// holds (`prefix[k] − prefix[0]` = the sum of its first k), in O(log n): the deviations from the median
/// are two sorted sequences (falling to its left, rising to its right), and their median is
/// the middle of the two merged, found by bisection.
fn robust_center(run: &[f64], prefix: &[f64]) -> (f64, f64) {
    let m = run.len();
    let q = m / 2;
    let mid = if m % 2 == 1 {
        run[q]
    } else {
        (run[q - 1] + run[q]) / 2.0
    };
    // Deviations left of q, nearest first, and from q on: both non-decreasing.
    let left = |t: usize| mid - run[q - 1 - t];
    let right = |t: usize| run[q + t] - mid;
    let kth = |k: usize| kth_of_two(q, &left, m - q, &right, k);
    let mad = if m % 2 == 1 {
        kth(m / 2)
    } else {
        (kth(m / 2 - 1) + kth(m / 2)) / 2.0
    };
    if mad > 0.0 {
        return (mid, mad * MAD_TO_SD);
    }
    // More than half the points are equal: the mean absolute deviation still sees the rest.
    let below = q as f64 * mid - (prefix[q] - prefix[0]);
    let above = (prefix[m] - prefix[q]) - (m - q) as f64 * mid;
    (mid, (below + above) / m as f64 * MEAN_AD_TO_SD)
}

/// The k-th smallest (from 0) of two non-decreasing sequences given by length and accessor.
fn kth_of_two(
    a_len: usize,
    a: &impl Fn(usize) -> f64,
    b_len: usize,
    b: &impl Fn(usize) -> f64,
    k: usize,
) -> f64 {
    // Take i from `a` and k + 1 − i from `b`: the least i whose next `a` is not below the last `b` taken.
    let (mut lo, mut hi) = ((k + 1).saturating_sub(b_len), (k + 1).min(a_len));
    while lo < hi {
        let i = (lo + hi) / 2;
        let j = k + 1 - i;
        if j > 0 && a(i) < b(j - 1) {
            lo = i + 1;
        } else {
            hi = i;
        }
    }
    let j = k + 1 - lo;
    let last_a = if lo > 0 { a(lo - 1) } else { f64::NEG_INFINITY };
    let last_b = if j > 0 { b(j - 1) } else { f64::NEG_INFINITY };
    last_a.max(last_b)
}

/// Rosner's critical value λ for step `i` of `n` points, and the p-value of statistic `r`:
/// the Bonferroni-bounded two-sided tail of the t statistic that λ's formula maps `r` back to.
fn significance(r: f64, n: usize, i: usize, alpha: f64) -> (f64, f64) {
    let a = (n - i) as f64; // points left after this step
    let df = a - 1.0;
    let Some(tc) = student_upper(alpha / (2.0 * (a + 1.0)), df) else {
        return (f64::INFINITY, 1.0);
    };
    let critical = a * tc / ((df + tc * tc) * (a + 1.0)).sqrt();
    let room = a * a - r * r * (a + 1.0);
    let p_value = if room <= 0.0 {
        0.0
    } else {
        let t_obs = r * ((a * a - 1.0) / room).sqrt();
        student_tail(t_obs, df).map_or(1.0, |p| (2.0 * (a + 1.0) * p).min(1.0))
    };
    (critical, p_value)
}

#[cfg(test)]
mod tests {
    use super::super::testdata::Draws;
    use super::*;

    const CLASSIC: AnomalyOptions = AnomalyOptions {
        alpha: 0.05,
        max_anomalies: 10,
        period: None,
        robust: false,
    };

    /// The NIST/SEMATECH e-Handbook's worked example (§1.3.5.17.3, Rosner's 54 values): ten
    /// candidates at α = 0.05, three outliers. The handbook prints R and λ cut to three decimals.
    #[test]
    fn matches_the_nist_handbook_example() {
        let values = [
            -0.25, 0.68, 0.94, 1.15, 1.20, 1.26, 1.26, 1.34, 1.38, 1.43, 1.49, 1.49, 1.55, 1.56,
            1.58, 1.65, 1.69, 1.70, 1.76, 1.77, 1.81, 1.91, 1.94, 1.96, 1.99, 2.06, 2.09, 2.10,
            2.14, 2.15, 2.23, 2.24, 2.26, 2.35, 2.37, 2.40, 2.47, 2.54, 2.62, 2.64, 2.90, 2.92,
            2.92, 2.93, 3.21, 3.26, 3.30, 3.59, 3.68, 4.30, 4.64, 5.34, 5.42, 6.01,
        ];
        let table = [
            (3.118, 3.158),
            (2.942, 3.151),
            (3.179, 3.143),
            (2.810, 3.136),
            (2.815, 3.128),
            (2.848, 3.120),
            (2.279, 3.111),
            (2.310, 3.103),
            (2.101, 3.094),
            (2.067, 3.085),
        ];
        let found = anomalies(&values, &CLASSIC).unwrap();
        assert_eq!(found.candidates.len(), 10);
        for (c, (r, lambda)) in found.candidates.iter().zip(table) {
            assert!(
                c.score - r >= 0.0 && c.score - r < 0.001,
                "R {} vs {r}",
                c.score
            );
            assert!(
                c.critical - lambda >= 0.0 && c.critical - lambda < 0.001,
                "λ {} vs {lambda}",
                c.critical
            );
            assert_eq!(
                c.p_value < 0.05,
                c.score > c.critical,
                "p-value agrees with λ"
            );
        }
        assert_eq!(found.count, 3);
        let outliers: Vec<f64> = found.candidates[..3].iter().map(|c| c.value).collect();
        assert_eq!(outliers, vec![6.01, 5.42, 5.34]);
    }

    #[test]
    fn a_seasonal_spike_is_found_against_its_season_not_the_whole_series() {
        // A daily shape of 24 points, 10 days; the spike at a low hour is as high as a normal
        // peak, so only the seasonal baseline shows it.
        let mut d = Draws::new(0x9e37_79b9_7f4a_7c15);
        let mut values: Vec<f64> = (0..240)
            .map(|i| 100.0 + 50.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin())
            .map(|v| v + 4.0 * d.uniform() - 2.0)
            .collect();
        values[18 + 24 * 4] = 150.0;
        let plain = anomalies(
            &values,
            &AnomalyOptions {
                robust: true,
                ..CLASSIC
            },
        )
        .unwrap();
        assert!(!plain.candidates[..plain.count]
            .iter()
            .any(|a| a.index == 114));
        let seasonal = anomalies(
            &values,
            &AnomalyOptions {
                period: Some(24),
                robust: true,
                ..CLASSIC
            },
        )
        .unwrap();
        assert_eq!(seasonal.count, 1);
        let a = &seasonal.candidates[0];
        assert_eq!((a.index, a.value), (114, 150.0));
        assert!(a.expected < 60.0 && a.p_value < 1e-6, "{a:?}");
    }

    #[test]
    fn clean_noise_has_no_anomalies_and_constant_values_stop_the_test() {
        let mut d = Draws::new(0x2545_f491);
        let noise: Vec<f64> = (0..500).map(|_| d.normal()).collect();
        assert_eq!(anomalies(&noise, &CLASSIC).unwrap().count, 0);
        let flat = anomalies(&[5.0; 20], &CLASSIC).unwrap();
        assert_eq!(flat.count, 0);
        // A season repeated exactly leaves rounding in the residuals, which is not an anomaly;
        // a spike on it is.
        let mut exact: Vec<f64> = (0..240)
            .map(|i| 50.0 + 10.0 * (i as f64 / 24.0 * std::f64::consts::TAU).sin())
            .collect();
        let seasonal = AnomalyOptions {
            period: Some(24),
            robust: true,
            ..CLASSIC
        };
        assert_eq!(anomalies(&exact, &seasonal).unwrap().count, 0);
        exact[100] += 5.0;
        let found = anomalies(&exact, &seasonal).unwrap();
        assert_eq!((found.count, found.candidates[0].index), (1, 100));
        let one_off = anomalies(&[5.0, 5.0, 5.0, 5.0, 9.0, 5.0, 5.0], &CLASSIC).unwrap();
        assert_eq!(one_off.candidates[0].index, 4);
        // Robust, the MAD of mostly equal values is 0: the mean absolute deviation stands in.
        let robust = AnomalyOptions {
            robust: true,
            ..CLASSIC
        };
        let one_off = anomalies(&[5.0, 5.0, 5.0, 5.0, 9.0, 5.0, 5.0], &robust).unwrap();
        assert_eq!((one_off.count, one_off.candidates[0].index), (1, 4));
    }

    #[test]
    fn the_robust_centre_matches_sorting_on_every_run() {
        let mut d = Draws::new(0x1234_5678);
        for len in 1..60 {
            let mut run: Vec<f64> = (0..len)
                .map(|_| {
                    let x = d.next_u64();
                    // Few distinct values, so ties and zero MADs occur.
                    ((x % 9) as f64 - 4.0) * if x.is_multiple_of(5) { 10.0 } else { 1.0 }
                })
                .collect();
            run.sort_by(f64::total_cmp);
            // The run sits inside a longer sorted sequence, as the test's remaining points do.
            let all: Vec<f64> = [vec![-100.0; 3], run.clone(), vec![100.0; 2]].concat();
            let sums = running_sums(all.iter().copied());
            let prefix = &sums[3..=3 + len];
            let mid = median(&mut run.clone());
            let devs: Vec<f64> = run.iter().map(|r| (r - mid).abs()).collect();
            let mad = median(&mut devs.clone());
            let expected = if mad > 0.0 {
                mad * MAD_TO_SD
            } else {
                devs.iter().sum::<f64>() / len as f64 * MEAN_AD_TO_SD
            };
            let (c, s) = robust_center(&all[3..3 + len], prefix);
            assert_eq!(c, mid, "{run:?}");
            assert!((s - expected).abs() < 1e-12, "{run:?}: {s} vs {expected}");
        }
    }

    /// Asking for as many anomalies as points stops at half of them, and noise stays noise.
    #[test]
    fn a_test_as_long_as_the_series_does_not_call_noise_anomalous() {
        let mut d = Draws::new(0x7f4a_7c15);
        let noise: Vec<f64> = (0..2000).map(|_| d.normal()).collect();
        for robust in [false, true] {
            let opts = AnomalyOptions {
                max_anomalies: 2000,
                robust,
                ..CLASSIC
            };
            let found = anomalies(&noise, &opts).unwrap();
            assert_eq!(found.candidates.len(), 1000);
            assert!(found.count < 10, "robust {robust}: {}", found.count);
        }
    }

    #[test]
    fn any_scale_finds_the_same_anomalies() {
        let values: Vec<f64> = (0..60)
            .map(|i| ((i * 37) % 11) as f64 + if i == 30 { 40.0 } else { 0.0 })
            .collect();
        let unit = anomalies(&values, &CLASSIC).unwrap();
        assert_eq!(
            unit.candidates[..unit.count]
                .iter()
                .map(|a| a.index)
                .collect::<Vec<_>>(),
            vec![30]
        );
        for k in [1e-300, 1e-160, 1e160, 1e300] {
            let big: Vec<f64> = values.iter().map(|v| v * k).collect();
            let r = anomalies(&big, &CLASSIC).unwrap();
            assert_eq!(r.count, unit.count, "{k}");
            let (a, b) = (&r.candidates[0], &unit.candidates[0]);
            assert_eq!((a.index, a.value), (b.index, b.value * k));
            assert!(
                (a.score - b.score).abs() < 1e-9 && (a.expected / k - b.expected).abs() < 1e-9,
                "{k}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_test() {
        assert!(anomalies(&[1.0, 2.0], &CLASSIC).is_err());
        let bad_alpha = AnomalyOptions {
            alpha: 0.0,
            ..CLASSIC
        };
        assert!(anomalies(&[1.0, 2.0, 3.0], &bad_alpha).is_err());
        let short_season = AnomalyOptions {
            period: Some(4),
            ..CLASSIC
        };
        assert!(anomalies(&[1.0; 7], &short_season).is_err());
        let one_period = AnomalyOptions {
            period: Some(1),
            ..CLASSIC
        };
        assert!(anomalies(&[1.0; 7], &one_period).is_err());
    }
}
