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

/// The standard normal distribution's upper tail `P(Z > z)`.
pub fn normal_tail(z: f64) -> f64 {
    standard_normal().sf(z)
}

/// The standard normal distribution's quantile.
pub fn normal_quantile(p: f64) -> f64 {
    standard_normal().inverse_cdf(p)
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// Student's t distribution with `df` degrees of freedom (`df` > 0).
pub fn student(df: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, df).ok()
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
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_tail(1.959_964) - 0.025).abs() < 1e-6);
        // t(0.975; 10) = 2.228139
        let t = student(10.0).unwrap();
        assert!((t.inverse_cdf(0.975) - 2.228_139).abs() < 1e-5);
    }
}
