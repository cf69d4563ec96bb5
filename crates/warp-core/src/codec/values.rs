//! Float columns, two ways; a block keeps whichever is smaller.
//!
//! - **Decimal** (as VictoriaMetrics does): when every value is `m / 10^e` exactly for integer
//!   mantissas `m` (|m| < 2^53) and one exponent `e`, store `e`, the first mantissa, and the
//!   mantissa deltas zigzagged and bit-packed at the block's widest width. Metrics with a few
//!   decimals take about one byte per point; a constant column takes none.
//! - **Gorilla XOR** (Facebook's Gorilla paper): each value XORed with the previous, storing only
//!   the meaningful bits. Lossless for every bit pattern, NaN payloads and -0 included.
//!
//! Decimal is only chosen when decoding gives back the exact bits, so both are lossless.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
// Mantissas and exponents are checked to round-trip before they are narrowed.
#![allow(clippy::cast_possible_truncation, clippy::big_endian_bytes)]

use super::bits::{put_varint, unzigzag, zigzag, BitReader, BitWriter, DecodeResult};
use crate::cursor::Cursor;

pub const DECIMAL: u8 = 1;
pub const GORILLA: u8 = 2;

const MAX_EXPONENT: u32 = 15;
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0; // 2^53

/// 10^e for the exponents a decimal block may have.
const POW10: [f64; MAX_EXPONENT as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

fn pow10(e: u32) -> f64 {
    POW10.get(e as usize).copied().unwrap_or(f64::NAN)
}

/// Encodes `values`, returning the codec used.
pub fn encode(values: &[f64], out: &mut Vec<u8>) -> u8 {
    let gorilla = encode_gorilla(values);
    if let Some(decimal) = encode_decimal(values) {
        if decimal.len() <= gorilla.len() {
            out.extend_from_slice(&decimal);
            return DECIMAL;
        }
    }
    out.extend_from_slice(&gorilla);
    GORILLA
}

pub fn decode(codec: u8, data: &[u8], count: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    out.reserve(count);
    match codec {
        DECIMAL => decode_decimal(data, count, out),
        GORILLA => decode_gorilla(data, count, out),
        other => Err(format!("unknown value codec {other}")),
    }
}

/// The smallest exponent at which `v` is an exact decimal, if any.
fn exponent_of(v: f64) -> Option<u32> {
    (0..=MAX_EXPONENT).find(|&e| {
        let scaled = v * pow10(e);
        // Through an integer, as the decoder does: -0.0 must not pass as 0.
        scaled.abs() < MAX_MANTISSA
            && ((scaled.round() as i64) as f64 / pow10(e)).to_bits() == v.to_bits()
    })
}

/// Values that are not exact decimals (NaN stale markers, ±∞, −0, odd outliers) ride along
/// as exceptions, as long as they are rare; more than this fraction and Gorilla takes over.
const MAX_EXCEPTION_SHARE: usize = 8;

fn encode_decimal(values: &[f64]) -> Option<Vec<u8>> {
    // Give up as soon as too many values are not decimals (full-precision data).
    let mut exponents = Vec::with_capacity(values.len());
    let mut misses = 0;
    for &v in values {
        let exponent = exponent_of(v);
        misses += exponent.is_none() as usize;
        if misses * MAX_EXCEPTION_SHARE > values.len() {
            return None;
        }
        exponents.push(exponent);
    }
    let e = exponents.iter().flatten().copied().max().unwrap_or(0);
    let scale = pow10(e);
    let mut mantissas = Vec::with_capacity(values.len());
    let mut exceptions = Vec::new();
    let mut previous = 0i64;
    for (i, (&v, exponent)) in values.iter().zip(&exponents).enumerate() {
        let m = (v * scale).round();
        // A value exact at a smaller exponent can still fail at a larger one if the mantissa
        // leaves the exactly representable range: check every value at the block's exponent.
        let exact = exponent.is_some()
            && m.abs() < MAX_MANTISSA
            && ((m as i64) as f64 / scale).to_bits() == v.to_bits();
        if exact {
            previous = m as i64;
        } else {
            // Repeat the previous mantissa, so an exception costs no delta width.
            exceptions.push((i, v.to_bits()));
        }
        mantissas.push(previous);
    }
    if exceptions.len() * MAX_EXCEPTION_SHARE > values.len() {
        return None;
    }
    let deltas: Vec<u64> = mantissas
        .iter()
        .zip(mantissas.iter().skip(1))
        .map(|(a, b)| zigzag(b - a))
        .collect();
    let width = deltas
        .iter()
        .map(|d| 64 - d.leading_zeros())
        .max()
        .unwrap_or(0);
    let mut out = vec![e as u8, width as u8];
    put_varint(&mut out, exceptions.len() as u64);
    let mut last = 0;
    for &(i, bits) in &exceptions {
        put_varint(&mut out, (i - last) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        last = i;
    }
    if let Some(&first) = mantissas.first() {
        put_varint(&mut out, zigzag(first));
    }
    let mut bits = BitWriter::default();
    for d in deltas {
        bits.write(d, width);
    }
    out.extend_from_slice(&bits.finish());
    Some(out)
}

fn decode_decimal(data: &[u8], count: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    let mut r = Cursor::new(data);
    let e = r.u8()? as u32;
    let width = r.u8()? as u32;
    if e > MAX_EXPONENT || width > 64 {
        return Err(format!(
            "decimal exponent {e} or width {width} out of range"
        ));
    }
    let mut exceptions = Vec::new();
    let mut at = 0usize;
    for k in 0..r.varint()? {
        let gap = usize::try_from(r.varint()?).map_err(|e| e.to_string())?;
        at = at
            .checked_add(gap)
            .filter(|&i| i < count && (k == 0 || gap > 0))
            .ok_or("decimal exception indices out of range or out of order")?;
        let bits = r.bytes(8)?;
        exceptions.push((
            at,
            u64::from_le_bytes(bits.try_into().map_err(|_| "short exception")?),
        ));
    }
    if count == 0 {
        return Ok(());
    }
    let start = out.len();
    decode_mantissas(&mut r, e, width, count, out)?;
    for (i, bits) in exceptions {
        let slot = out
            .get_mut(start + i)
            .ok_or("decimal exception past the values")?;
        *slot = f64::from_bits(bits);
    }
    Ok(())
}

/// The mantissa stream of a decimal column: first mantissa, then bit-packed deltas.
// Audited: the hot loop slices a padded copy whose length is checked against the count first.
#[allow(clippy::indexing_slicing)]
fn decode_mantissas(
    r: &mut Cursor<'_>,
    e: u32,
    width: u32,
    count: usize,
    out: &mut Vec<f64>,
) -> DecodeResult<()> {
    let scale = pow10(e);
    let mut m = unzigzag(r.varint()?);
    out.push(m as f64 / scale);
    let packed = r.rest();
    if (count as u64 - 1) * width as u64 > packed.len() as u64 * 8 {
        return Err("decimal deltas run past the end".into());
    }
    if width > 56 {
        let mut bits = BitReader::new(packed);
        for _ in 1..count {
            m = m.wrapping_add(unzigzag(bits.read(width)?));
            out.push(m as f64 / scale);
        }
        return Ok(());
    }
    // Hot path: the length was checked above, so unpack branch-free from a zero-padded copy,
    // each delta a shift of one unaligned 8-byte window.
    let mut padded = Vec::with_capacity(packed.len() + 8);
    padded.extend_from_slice(packed);
    padded.extend_from_slice(&[0; 8]);
    let shift = 64 - width;
    for i in 0..count - 1 {
        let bit = i * width as usize;
        let mut window = [0u8; 8];
        window.copy_from_slice(&padded[bit / 8..bit / 8 + 8]);
        let delta = if width == 0 {
            0
        } else {
            (u64::from_be_bytes(window) << (bit % 8)) >> shift
        };
        m = m.wrapping_add(unzigzag(delta));
        out.push(m as f64 / scale);
    }
    Ok(())
}

fn encode_gorilla(values: &[f64]) -> Vec<u8> {
    let mut w = BitWriter::default();
    let Some(first) = values.first() else {
        return Vec::new();
    };
    let mut prev = first.to_bits();
    w.write(prev, 64);
    // The previous window of meaningful bits: (leading zeros, length).
    let mut window: Option<(u32, u32)> = None;
    for v in values.iter().skip(1) {
        let bits = v.to_bits();
        let xor = bits ^ prev;
        prev = bits;
        if xor == 0 {
            w.bit(false);
            continue;
        }
        w.bit(true);
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        match window {
            Some((l, len)) if leading >= l && trailing >= 64 - l - len => {
                w.bit(false);
                w.write(xor >> (64 - l - len), len);
            }
            _ => {
                let len = 64 - leading - trailing;
                w.bit(true);
                w.write(leading as u64, 5);
                // A length of 64 is stored as 0 (it cannot otherwise occur).
                w.write((len % 64) as u64, 6);
                w.write(xor >> trailing, len);
                window = Some((leading, len));
            }
        }
    }
    w.finish()
}

fn decode_gorilla(data: &[u8], count: usize, out: &mut Vec<f64>) -> DecodeResult<()> {
    if count == 0 {
        return Ok(());
    }
    let mut r = BitReader::new(data);
    let mut prev = r.read(64)?;
    out.push(f64::from_bits(prev));
    let mut window: Option<(u32, u32)> = None;
    for _ in 1..count {
        if r.bit()? {
            if r.bit()? {
                let leading = r.read(5)? as u32;
                let len = match r.read(6)? as u32 {
                    0 => 64,
                    n => n,
                };
                if leading + len > 64 {
                    return Err(format!("gorilla window {leading}+{len} exceeds 64 bits"));
                }
                window = Some((leading, len));
            }
            let (leading, len) = window.ok_or("gorilla reuses a window before defining one")?;
            let meaningful = r.read(len)?;
            prev ^= meaningful << (64 - leading - len);
        }
        out.push(f64::from_bits(prev));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy;

    fn round_trip(values: &[f64]) -> (u8, usize) {
        let mut bytes = Vec::new();
        let codec = encode(values, &mut bytes);
        let mut back = Vec::new();
        decode(codec, &bytes, values.len(), &mut back).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(values));
        (codec, bytes.len())
    }

    #[test]
    fn decimal_data_takes_about_a_byte_per_point() {
        let mut v = 50.0f64;
        let walk: Vec<f64> = (0..8192)
            .map(|i| {
                v += ((i * 7919) % 101) as f64 / 100.0 - 0.5;
                (v * 100.0).round() / 100.0
            })
            .collect();
        let (codec, len) = round_trip(&walk);
        assert_eq!(codec, DECIMAL);
        assert!(len < 8192, "{len} bytes");
        assert_eq!(round_trip(&[3.0; 100]).1, 4);
    }

    #[test]
    fn every_bit_pattern_survives() {
        let odd = [
            f64::NAN,
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            1e-300,
            f64::from_bits(0x7ff8_dead_beef_0001),
        ];
        assert_eq!(round_trip(&odd).0, GORILLA);
        // A few odd values among decimals stay in the decimal codec as exceptions.
        let mut mostly: Vec<f64> = (0..100).map(|i| i as f64 / 4.0).collect();
        mostly[3] = -0.0;
        mostly[50] = f64::NAN;
        mostly[99] = f64::from_bits(0x7ff8_dead_beef_0001);
        let (codec, len) = round_trip(&mostly);
        assert_eq!(codec, DECIMAL);
        assert!(len < 200, "{len} bytes");
        round_trip(&[0.1, 0.2, 0.30000000000000004]);
        round_trip(&[-0.0]);
        round_trip(&[1.5, -0.0, 2.25]);
        round_trip(&[1e15, 1e15 + 1.0, -1e15]);
        round_trip(&[]);
        round_trip(&[42.0]);
    }

    proptest::proptest! {
        #[test]
        fn any_mix_of_decimals_and_odd_values_round_trips(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => (-1_000_000i64..1_000_000).prop_map(|k| k as f64 / 100.0),
                    1 => proptest::num::f64::ANY,
                ],
                0..300,
            )
        ) {
            round_trip(&values);
        }
    }

    #[test]
    fn damaged_input_is_an_error() {
        let mut out = Vec::new();
        assert!(decode(DECIMAL, &[99, 0, 0], 2, &mut out).is_err());
        assert!(decode(DECIMAL, &[2, 40, 0], 10, &mut out).is_err());
        assert!(decode(GORILLA, &[0; 7], 1, &mut out).is_err());
        assert!(decode(9, &[], 0, &mut out).is_err());
    }
}
