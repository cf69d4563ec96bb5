//! Small order statistics and the distributions the tests use.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The median of `xs` (reordered in place); NaN if empty.
pub fn median(xs: &mut [f64]) -> f64 {
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, &mut hi, _) = xs.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    let lo = xs[..n / 2]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    (lo + hi) / 2.0
}

/// `values` divided by their largest magnitude, and that magnitude (1 if there is none to
/// divide by): the analyses work at unit scale, so 1e300 or 1e-300 neither overflows nor
/// underflows their sums of squares, and multiply back what carries units.
pub fn unit_scale(values: &[f64]) -> (Vec<f64>, f64) {
    let top = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if top > 0.0 { top } else { 1.0 };
    (values.iter().map(|v| v / scale).collect(), scale)
}

/// The standard normal distribution's upper tail `P(Z > z)`.
pub fn normal_tail(z: f64) -> f64 {
    Normal::standard().sf(z)
}

/// The z whose upper tail is `q` (0 < q < 1), computed from the tail itself: `1 − q` would
/// round to 1 for the small tails significance tests ask for.
pub fn normal_upper(q: f64) -> f64 {
    -Normal::standard().inverse_cdf(q)
}

/// Past this many degrees of freedom Student's t is taken from its expansion about the normal
/// (Cornish–Fisher, error below 1e-9 here): statrs' incomplete beta does not converge for
/// millions of degrees of freedom.
const LARGE_DF: f64 = 2000.0;

/// The t (with `df` degrees of freedom) whose upper tail is `q`; None unless `df` > 0.
pub fn student_upper(q: f64, df: f64) -> Option<f64> {
    if df.is_nan() || df <= 0.0 {
        return None;
    }
    if df > LARGE_DF {
        let z = normal_upper(q);
        let (z3, z5) = (z.powi(3), z.powi(5));
        return Some(
            z + (z3 + z) / (4.0 * df) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df),
        );
    }
    StudentsT::new(0.0, 1.0, df).ok().map(|t| -t.inverse_cdf(q))
}

/// `P(T > t)` for Student's t with `df` degrees of freedom; None unless `df` > 0.
pub fn student_tail(t: f64, df: f64) -> Option<f64> {
    if df.is_nan() || df <= 0.0 {
        return None;
    }
    // The tail itself (a continued fraction) converges for any df; only the quantile needs help.
    StudentsT::new(0.0, 1.0, df).ok().map(|d| d.sf(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn distributions_match_tables() {
        assert!((normal_upper(0.025) - 1.959_964).abs() < 1e-6);
        assert!((normal_tail(1.959_964) - 0.025).abs() < 1e-6);
        // t(0.975; 10) = 2.228139
        assert!((student_upper(0.025, 10.0).unwrap() - 2.228_139).abs() < 1e-5);
        // Tiny tails keep their precision: z(1e-20) = 9.262340.
        assert!((normal_upper(1e-20) - 9.262_340).abs() < 1e-5);
        assert!(student_upper(1e-20, 50.0).unwrap().is_finite());
        assert_eq!(student_upper(0.05, 0.0), None);
    }

    /// The expansion past `LARGE_DF` agrees with statrs just below it, both ways.
    #[test]
    fn the_large_df_expansion_agrees_with_the_exact_distribution() {
        for q in [0.25, 0.025, 1e-4, 1e-8] {
            let exact = -StudentsT::new(0.0, 1.0, LARGE_DF).unwrap().inverse_cdf(q);
            let z = normal_upper(q);
            let (z3, z5) = (z.powi(3), z.powi(5));
            let approx = z
                + (z3 + z) / (4.0 * LARGE_DF)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * LARGE_DF.powi(2));
            assert!(
                (exact - approx).abs() < 1e-6 * exact.abs(),
                "{q}: {exact} vs {approx}"
            );
            let tail = student_tail(approx, LARGE_DF).unwrap();
            assert!((tail - q).abs() < 1e-4 * q, "{q}: {tail}");
        }
        // Millions of degrees of freedom answer at once.
        assert!((student_upper(0.025, 2e7).unwrap() - 1.959_964).abs() < 1e-5);
        assert!((student_tail(1.959_964, 2e7).unwrap() - 0.025).abs() < 1e-6);
    }
}
