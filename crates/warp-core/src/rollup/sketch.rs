//! A mergeable quantile sketch with a relative-error bound (DDSketch, Masson et al., VLDB
//! 2019): values fall in logarithmic bins of ratio γ = (1 + α) / (1 − α), so any quantile it
//! returns is within a factor 1 ± α of the value of that rank, whatever the distribution, and
//! two sketches merge by adding bin counts. A rollup keeps one per bucket so percentiles can
//! be answered from it.
//!
//! Written here rather than taken from a crate because its bytes are an on-disk format this
//! project documents and decodes defensively (docs/format.md): version, α, zero count, then
//! each side's bins as (zigzag varint index delta, varint count) pairs.

// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;

use crate::codec::bits::{put_varint, unzigzag, zigzag};
use crate::cursor::Cursor;

/// The relative accuracy: a quantile is within 1% of the value of its rank.
pub const ALPHA: f64 = 0.01;
/// Magnitudes below this (subnormal numbers) count as zero: the bound holds for every normal
/// float.
const MIN_MAGNITUDE: f64 = f64::MIN_POSITIVE;
const VERSION: u8 = 1;
/// Bins one side of a decoded sketch may hold (a sketch of 1% accuracy spans every normal
/// magnitude, 10^±308, in about 71,000 bins).
const MAX_BINS: u64 = 80_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
    zeros: u64,
}

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

#[allow(clippy::cast_possible_truncation)] // |ln v| ≤ 710: the index fits an i32
fn index(magnitude: f64) -> i32 {
    (magnitude.ln() / gamma().ln()).ceil() as i32
}

/// The value a bin stands for: within a factor 1 ± α of every value in it (the largest float
/// for the top bin, whose middle is past it).
fn value(index: i32) -> f64 {
    (gamma().powi(index - 1) * (2.0 * gamma() / (gamma() + 1.0))).min(f64::MAX)
}

impl Sketch {
    /// Adds a value (NaN and infinities are left out).
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if v.abs() < MIN_MAGNITUDE {
            self.zeros += 1;
        } else if v > 0.0 {
            *self.positive.entry(index(v)).or_default() += 1;
        } else {
            *self.negative.entry(index(-v)).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.zeros = self.zeros.saturating_add(other.zeros);
        for (side, theirs) in [
            (&mut self.positive, &other.positive),
            (&mut self.negative, &other.negative),
        ] {
            for (&i, &n) in theirs {
                let c = side.entry(i).or_default();
                *c = c.saturating_add(n);
            }
        }
    }

    /// Values added (saturating: a crafted sketch cannot wrap it).
    pub fn count(&self) -> u64 {
        self.positive
            .values()
            .chain(self.negative.values())
            .fold(self.zeros, |n, &c| n.saturating_add(c))
    }

    /// The `q`-quantile: the value of rank ⌊q·(n − 1)⌋ within a factor 1 ± α; NaN if empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        // Ascending values: the most negative first.
        for (&i, &c) in self.negative.iter().rev() {
            seen = seen.saturating_add(c);
            if seen > rank {
                return -value(i);
            }
        }
        seen = seen.saturating_add(self.zeros);
        if seen > rank {
            return 0.0;
        }
        for (&i, &c) in &self.positive {
            seen = seen.saturating_add(c);
            if seen > rank {
                return value(i);
            }
        }
        self.positive.keys().next_back().map_or(0.0, |&i| value(i))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        out.extend_from_slice(&ALPHA.to_le_bytes());
        put_varint(&mut out, self.zeros);
        for side in [&self.positive, &self.negative] {
            put_varint(&mut out, side.len() as u64);
            let mut last = 0i64;
            for (&i, &c) in side {
                put_varint(&mut out, zigzag(i64::from(i) - last));
                put_varint(&mut out, c);
                last = i64::from(i);
            }
        }
        out
    }

    /// The sketch `encode` wrote; the reason if the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Result<Sketch, String> {
        let mut c = Cursor::new(bytes);
        if c.u8()? != VERSION {
            return Err("unsupported sketch version".into());
        }
        if c.f64()?.to_bits() != ALPHA.to_bits() {
            return Err("a sketch of another accuracy".into());
        }
        let mut sketch = Sketch {
            zeros: c.varint()?,
            ..Sketch::default()
        };
        for side in [&mut sketch.positive, &mut sketch.negative] {
            let bins = c.varint()?;
            if bins > MAX_BINS {
                return Err(format!("{bins} bins (at most {MAX_BINS})"));
            }
            let mut last = 0i64;
            for _ in 0..bins {
                let i = last
                    .checked_add(unzigzag(c.varint()?))
                    .ok_or("bin index overflows")?;
                let index = i32::try_from(i).map_err(|_| "bin index out of range")?;
                if side.insert(index, c.varint()?).is_some() {
                    return Err("a bin given twice".into());
                }
                last = i;
            }
        }
        if !c.is_empty() {
            return Err("bytes after the sketch".into());
        }
        Ok(sketch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(values: &[f64], q: f64) -> f64 {
        let mut sorted: Vec<f64> = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    proptest! {
        #[test]
        fn quantiles_are_within_alpha_of_their_rank_and_merge_exactly(
            a in prop::collection::vec(-1e6f64..1e6, 1..300),
            b in prop::collection::vec(
                prop_oneof![Just(0.0), 1e-3f64..1e9, 1e-300f64..1e-290, 1e306f64..f64::MAX],
                0..300,
            ),
            q in 0.0f64..=1.0,
        ) {
            let (mut sa, mut sb) = (Sketch::default(), Sketch::default());
            a.iter().for_each(|&v| sa.add(v));
            b.iter().for_each(|&v| sb.add(v));
            let mut merged = sa.clone();
            merged.merge(&sb);
            let mut whole = Sketch::default();
            a.iter().chain(&b).for_each(|&v| whole.add(v));
            prop_assert_eq!(&merged, &whole);
            let all: Vec<f64> = a.iter().chain(&b).copied().collect();
            let (got, want) = (merged.quantile(q), exact(&all, q));
            prop_assert!((got - want).abs() <= ALPHA * want.abs() + MIN_MAGNITUDE, "{got} vs {want}");
            prop_assert_eq!(Sketch::decode(&merged.encode()).unwrap(), merged);
        }

        #[test]
        fn any_bytes_decode_to_a_sketch_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Sketch::decode(&bytes);
        }
    }

    #[test]
    fn damaged_sketches_are_errors() {
        let mut s = Sketch::default();
        [1.0, -2.0, 0.0, 5e5].iter().for_each(|&v| s.add(v));
        let good = s.encode();
        for cut in 0..good.len() {
            assert!(Sketch::decode(&good[..cut]).is_err());
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x55;
            let _ = Sketch::decode(&bad);
        }
        assert!(Sketch::default().quantile(0.5).is_nan());
    }
}
