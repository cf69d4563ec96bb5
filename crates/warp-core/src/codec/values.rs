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

use super::bits::{put_varint, unzigzag, zigzag, BitReader, BitWriter, ByteReader, DecodeResult};

pub const DECIMAL: u8 = 1;
pub const GORILLA: u8 = 2;

const MAX_EXPONENT: u32 = 15;
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0; // 2^53

fn pow10(e: u32) -> f64 {
    10f64.powi(e as i32)
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

fn encode_decimal(values: &[f64]) -> Option<Vec<u8>> {
    let mut e = 0;
    for &v in values {
        e = e.max(exponent_of(v)?);
    }
    let scale = pow10(e);
    let mut mantissas = Vec::with_capacity(values.len());
    for &v in values {
        let m = (v * scale).round();
        // A value exact at a smaller exponent can still fail at a larger one if the mantissa
        // leaves the exactly representable range: check every value at the block's exponent.
        if m.abs() >= MAX_MANTISSA || ((m as i64) as f64 / scale).to_bits() != v.to_bits() {
            return None;
        }
        mantissas.push(m as i64);
    }
    let deltas: Vec<u64> = mantissas.windows(2).map(|w| zigzag(w[1] - w[0])).collect();
    let width = deltas
        .iter()
        .map(|d| 64 - d.leading_zeros())
        .max()
        .unwrap_or(0);
    let mut out = vec![e as u8, width as u8];
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
    let mut r = ByteReader::new(data);
    let e = r.u8()? as u32;
    let width = r.u8()? as u32;
    if e > MAX_EXPONENT || width > 64 {
        return Err(format!(
            "decimal exponent {e} or width {width} out of range"
        ));
    }
    if count == 0 {
        return Ok(());
    }
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
    for v in &values[1..] {
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
        assert_eq!(round_trip(&[3.0; 100]).1, 3);
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
        round_trip(&[0.1, 0.2, 0.30000000000000004]);
        round_trip(&[-0.0]);
        round_trip(&[1.5, -0.0, 2.25]);
        round_trip(&[1e15, 1e15 + 1.0, -1e15]);
        round_trip(&[]);
        round_trip(&[42.0]);
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
