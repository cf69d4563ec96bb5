//! Timestamps are integer milliseconds since the Unix epoch, kept within ±(2^53 − 1) so every
//! stored timestamp is exactly representable as a JavaScript number.

use crate::error::{Error, Result};

pub const MAX_TIMESTAMP: i64 = (1 << 53) - 1;
pub const MIN_TIMESTAMP: i64 = -MAX_TIMESTAMP;

/// Checks that an integer timestamp is in the representable range.
pub fn check_timestamp(ts: i64) -> Result<i64> {
    if (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&ts) {
        Ok(ts)
    } else {
        Err(Error::InvalidTimestamp(format!(
            "{ts} is outside ±{MAX_TIMESTAMP} (±2^53 − 1 ms)"
        )))
    }
}

/// Converts a JavaScript number to a timestamp: it must be a finite integer in range.
pub fn timestamp_from_f64(ts: f64) -> Result<i64> {
    if !ts.is_finite() {
        return Err(Error::InvalidTimestamp(format!("{ts} is not finite")));
    }
    if ts.fract() != 0.0 {
        return Err(Error::InvalidTimestamp(format!(
            "{ts} is not an integer number of milliseconds"
        )));
    }
    if ts.abs() > MAX_TIMESTAMP as f64 {
        return Err(Error::InvalidTimestamp(format!(
            "{ts} is outside ±{MAX_TIMESTAMP} (±2^53 − 1 ms)"
        )));
    }
    Ok(ts as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_integers_and_rejects_the_rest() {
        assert_eq!(
            timestamp_from_f64(1_700_000_000_000.0).unwrap(),
            1_700_000_000_000
        );
        assert_eq!(timestamp_from_f64(-5.0).unwrap(), -5);
        for bad in [f64::NAN, f64::INFINITY, 1.5, 2f64.powi(60)] {
            assert_eq!(
                timestamp_from_f64(bad).unwrap_err().code(),
                "INVALID_TIMESTAMP"
            );
        }
        assert!(check_timestamp(i64::MAX).is_err());
    }
}
