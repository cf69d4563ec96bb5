//! Timestamps are integer milliseconds since the Unix epoch. A stored point lies between
//! 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: every calendar window around it (up to
//! the end of its year), every partition name (four-digit years) and every retention horizon
//! is then representable, and every timestamp is exact as a JavaScript number. Query bounds may
//! be any safe integer (±(2^53 − 1)); they are clamped to that range.

use crate::error::{Error, Result};

/// 0000-01-01T00:00:00Z.
pub const MIN_TIMESTAMP: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799_999;
/// The largest integer a JavaScript number holds exactly: the widest query bound.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Checks that a point's timestamp is in the storable range.
pub fn check_timestamp(ts: i64) -> Result<i64> {
    if (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&ts) {
        Ok(ts)
    } else {
        Err(Error::InvalidTimestamp(format!(
            "{ts} is outside the storable range {MIN_TIMESTAMP} (0000-01-01) ..= \
             {MAX_TIMESTAMP} (9999-12-31T23:59:59.999Z)"
        )))
    }
}

/// A JavaScript number as an integer: it must be finite, whole and safe.
fn whole_ms(ts: f64) -> Result<i64> {
    if !ts.is_finite() {
        return Err(Error::InvalidTimestamp(format!("{ts} is not finite")));
    }
    if ts.fract() != 0.0 {
        return Err(Error::InvalidTimestamp(format!(
            "{ts} is not an integer number of milliseconds"
        )));
    }
    if ts.abs() > MAX_SAFE_INTEGER as f64 {
        return Err(Error::InvalidTimestamp(format!(
            "{ts} is outside ±(2^53 − 1), where JavaScript numbers stop being exact"
        )));
    }
    // Checked above: a whole number within ±2^53, so the conversion is exact.
    #[allow(clippy::cast_possible_truncation)]
    Ok(ts as i64)
}

/// Converts a JavaScript number to a point's timestamp (storable range).
pub fn timestamp_from_f64(ts: f64) -> Result<i64> {
    check_timestamp(whole_ms(ts)?)
}

/// Converts a JavaScript number to a query bound: any safe integer, clamped to the storable
/// range widened by one on each side, so a bound past either end still excludes every point
/// beyond it.
pub fn bound_from_f64(ts: f64) -> Result<i64> {
    Ok(whole_ms(ts)?.clamp(MIN_TIMESTAMP - 1, MAX_TIMESTAMP + 1))
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
            assert!(bound_from_f64(bad).is_err());
        }
        assert!(check_timestamp(i64::MAX).is_err());
        // The storable range, at the limit and one past it.
        for (ok, bad) in [
            (MIN_TIMESTAMP, MIN_TIMESTAMP - 1),
            (MAX_TIMESTAMP, MAX_TIMESTAMP + 1),
        ] {
            assert_eq!(timestamp_from_f64(ok as f64).unwrap(), ok);
            assert!(timestamp_from_f64(bad as f64).is_err());
        }
        assert_eq!(
            bound_from_f64(-(MAX_SAFE_INTEGER as f64)).unwrap(),
            MIN_TIMESTAMP - 1
        );
        assert_eq!(
            bound_from_f64(MAX_SAFE_INTEGER as f64).unwrap(),
            MAX_TIMESTAMP + 1
        );
    }
}

const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1–12, day 1–31) of a day number since 1970-01-01.
// Day and month are in 1..=31 and 1..=12 by construction of the algorithm.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// UTC calendar fields of a timestamp: (year, month, day, hour).
// The hour of a day is in 0..24.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn civil(ts: i64) -> (i64, u32, u32, u32) {
    let (y, m, d) = civil_from_days(ts.div_euclid(MS_PER_DAY));
    (y, m, d, (ts.rem_euclid(MS_PER_DAY) / MS_PER_HOUR) as u32)
}

pub fn hour_start(ts: i64) -> i64 {
    ts - ts.rem_euclid(MS_PER_HOUR)
}

pub fn day_start(ts: i64) -> i64 {
    ts - ts.rem_euclid(MS_PER_DAY)
}

pub fn month_start(ts: i64) -> i64 {
    let (y, m, _, _) = civil(ts);
    days_from_civil(y, m, 1) * MS_PER_DAY
}

pub fn year_start(ts: i64) -> i64 {
    days_from_civil(civil(ts).0, 1, 1) * MS_PER_DAY
}

/// Start of the month after the one containing `ts`.
pub fn next_month(ts: i64) -> i64 {
    let (y, m, _, _) = civil(ts);
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * MS_PER_DAY
}

pub fn next_year(ts: i64) -> i64 {
    days_from_civil(civil(ts).0 + 1, 1, 1) * MS_PER_DAY
}

pub const HOUR_MS: i64 = MS_PER_HOUR;
pub const DAY_MS: i64 = MS_PER_DAY;

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for z in [-800_000, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        let ts = 1_737_381_600_000; // 2025-01-20T14:00:00Z
        assert_eq!(civil(ts + 1234), (2025, 1, 20, 14));
        assert_eq!(month_start(ts), days_from_civil(2025, 1, 1) * DAY_MS);
        assert_eq!(next_month(ts), days_from_civil(2025, 2, 1) * DAY_MS);
        assert_eq!(civil(next_year(ts)), (2026, 1, 1, 0));
        assert_eq!(civil(-1), (1969, 12, 31, 23));
        // The storable range is exactly years 0 to 9999.
        assert_eq!(civil(MIN_TIMESTAMP), (0, 1, 1, 0));
        assert_eq!(civil(MAX_TIMESTAMP), (9999, 12, 31, 23));
        assert_eq!(next_year(MAX_TIMESTAMP), MAX_TIMESTAMP + 1);
    }
}
