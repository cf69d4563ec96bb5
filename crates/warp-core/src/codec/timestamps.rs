//! Timestamps: first value (relative to a base the caller knows: a block's first time, so it
//! costs one byte), first delta, then delta-of-deltas run-length encoded as
//! `(zigzag dod, run)` varint pairs. A regular series (constant interval) costs a few bytes per
//! block whatever its length; jittery ones about two bytes per point. A block's timestamps are
//! strictly increasing; the decoder checks it, so every reader may rely on it.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::bits::{put_varint, unzigzag, zigzag, DecodeResult};
use crate::cursor::Cursor;

pub fn encode(ts: &[i64], base: i64, out: &mut Vec<u8>) {
    let [first, rest @ ..] = ts else {
        return;
    };
    put_varint(out, zigzag(first.wrapping_sub(base)));
    let [second, ..] = rest else {
        return;
    };
    let mut prev_delta = second.wrapping_sub(*first);
    put_varint(out, zigzag(prev_delta));
    let mut run: Option<(i64, u64)> = None;
    for (a, b) in rest.iter().zip(rest.iter().skip(1)) {
        let delta = b.wrapping_sub(*a);
        let dod = delta.wrapping_sub(prev_delta);
        prev_delta = delta;
        run = match run {
            Some((d, n)) if d == dod => Some((d, n + 1)),
            Some((d, n)) => {
                put_varint(out, zigzag(d));
                put_varint(out, n);
                Some((dod, 1))
            }
            None => Some((dod, 1)),
        };
    }
    if let Some((d, n)) = run {
        put_varint(out, zigzag(d));
        put_varint(out, n);
    }
}

/// Decodes exactly `count` timestamps into `out`.
pub fn decode(data: &[u8], count: usize, base: i64, out: &mut Vec<i64>) -> DecodeResult<()> {
    let mut r = Cursor::new(data);
    out.reserve(count);
    if count == 0 {
        return if r.is_empty() {
            Ok(())
        } else {
            Err("bytes after an empty timestamp column".into())
        };
    }
    let mut t = base
        .checked_add(unzigzag(r.varint()?))
        .ok_or("first timestamp out of range")?;
    out.push(t);
    if count == 1 {
        return expect_end(&r);
    }
    let mut delta = unzigzag(r.varint()?);
    t = step(t, delta)?;
    out.push(t);
    let mut left = count - 2;
    while left > 0 {
        let dod = unzigzag(r.varint()?);
        let run = r.varint()?;
        if run == 0 || run > left as u64 {
            return Err(format!("timestamp run of {run} with {left} points left"));
        }
        for _ in 0..run {
            delta = delta.checked_add(dod).ok_or(NOT_INCREASING)?;
            t = step(t, delta)?;
            out.push(t);
        }
        left -= usize::try_from(run).map_err(|e| e.to_string())?;
    }
    expect_end(&r)
}

const NOT_INCREASING: &str = "timestamps are not strictly increasing";

/// The next timestamp, which must be later than `t`.
fn step(t: i64, delta: i64) -> DecodeResult<i64> {
    if delta <= 0 {
        return Err(NOT_INCREASING.into());
    }
    t.checked_add(delta).ok_or_else(|| NOT_INCREASING.into())
}

fn expect_end(r: &Cursor<'_>) -> DecodeResult<()> {
    if r.is_empty() {
        Ok(())
    } else {
        Err("trailing bytes after timestamps".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ts: &[i64]) -> usize {
        let mut bytes = Vec::new();
        let base = ts.first().copied().unwrap_or(0);
        encode(ts, base, &mut bytes);
        let mut back = Vec::new();
        decode(&bytes, ts.len(), base, &mut back).unwrap();
        assert_eq!(back, ts);
        bytes.len()
    }

    #[test]
    fn regular_series_cost_almost_nothing() {
        let ts: Vec<i64> = (0..8192).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        assert!(round_trip(&ts) < 16);
        round_trip(&[]);
        round_trip(&[5]);
        round_trip(&[i64::MIN, -3, 0, 5, i64::MAX]);
    }

    #[test]
    fn unsorted_or_repeated_timestamps_are_refused() {
        for bad in [&[5, 3][..], &[1, 2, 2], &[0, i64::MAX, i64::MIN]] {
            let mut bytes = Vec::new();
            encode(bad, 0, &mut bytes);
            assert!(
                decode(&bytes, bad.len(), 0, &mut Vec::new()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_runs_are_errors() {
        let mut bytes = Vec::new();
        encode(&[1, 2, 3, 4], 1, &mut bytes);
        let mut out = Vec::new();
        assert!(decode(&bytes, 3, 1, &mut out).is_err());
        assert!(decode(&bytes, 5, 1, &mut out).is_err());
        assert!(decode(&bytes[..bytes.len() - 1], 4, 1, &mut out).is_err());
        assert!(
            decode(&[2], 1, i64::MAX, &mut out).is_err(),
            "no overflow past the base"
        );
    }
}
