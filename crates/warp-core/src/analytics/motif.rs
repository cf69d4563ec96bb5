//! Motifs and discords from the matrix profile: for every subsequence of `window` points, the
//! z-normalised Euclidean distance to its nearest non-trivial match (STOMP: each row's dot
//! products from the previous row's in O(1) each, so O(n²) in all, and half of it by symmetry).
//! The closest pairs are the motifs (a shape that recurs); the farthest are the discords (a
//! shape seen nowhere else).

use crate::error::{Error, Result};

/// The most points a matrix profile takes (its cost grows with their square).
pub const MAX_MOTIF_POINTS: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotifOptions {
    /// Points per subsequence.
    pub window: usize,
    /// How many motifs and discords to report.
    pub count: usize,
}

/// Subsequence `a`, its nearest match `b`, and their distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub a: usize,
    pub b: usize,
    pub distance: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Motifs {
    /// Per subsequence start: the distance to its nearest match.
    pub profile: Vec<f64>,
    /// Per subsequence start: where that match starts.
    pub index: Vec<usize>,
    /// Closest pairs first, no two overlapping.
    pub motifs: Vec<Pair>,
    /// Most isolated subsequences first, no two overlapping.
    pub discords: Vec<Pair>,
}

pub fn motifs(x: &[f64], opts: &MotifOptions) -> Result<Motifs> {
    let (n, m) = (x.len(), opts.window);
    if m < 4 || n < 2 * m {
        return Err(Error::InvalidArgument(format!(
            "motifs need a window of at least 4 points and twice as many points: window {m}, {n} points"
        )));
    }
    if n > MAX_MOTIF_POINTS {
        return Err(Error::InvalidArgument(format!(
            "motifs take at most {MAX_MOTIF_POINTS} points, not {n} (bucket them)"
        )));
    }
    let (profile, index) = matrix_profile(x, m);
    let motifs = pick(&profile, &index, m, opts.count, false);
    let discords = pick(&profile, &index, m, opts.count, true);
    Ok(Motifs {
        profile,
        index,
        motifs,
        discords,
    })
}

/// Subsequences this close to one another are trivial matches (a quarter window, as STOMP).
fn exclusion(m: usize) -> usize {
    m.div_ceil(4)
}

fn matrix_profile(x: &[f64], m: usize) -> (Vec<f64>, Vec<usize>) {
    let l = x.len() - m + 1;
    // Centred on the series' mean so the sums keep their precision.
    let shift = x.iter().sum::<f64>() / x.len() as f64;
    let x: Vec<f64> = x.iter().map(|v| v - shift).collect();
    let mf = m as f64;
    let (mut mean, mut sd) = (Vec::with_capacity(l), Vec::with_capacity(l));
    for w in x.windows(m) {
        let mu = w.iter().sum::<f64>() / mf;
        let var = w.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / mf;
        mean.push(mu);
        // Below this the window is flat (rounding noise only).
        sd.push(if var > 1e-20 * (1.0 + mu * mu) {
            var.sqrt()
        } else {
            0.0
        });
    }
    let distance = |i: usize, j: usize, qt: f64| -> f64 {
        match (sd[i] == 0.0, sd[j] == 0.0) {
            (true, true) => 0.0,
            (true, false) | (false, true) => mf.sqrt(),
            _ => {
                let corr = (qt - mf * mean[i] * mean[j]) / (mf * sd[i] * sd[j]);
                (2.0 * mf * (1.0 - corr)).max(0.0).sqrt()
            }
        }
    };
    let excl = exclusion(m);
    let mut profile = vec![f64::INFINITY; l];
    let mut index = vec![0; l];
    // qt[j] = dot(x[i..i+m], x[j..j+m]) for the current row i, kept for j ≥ i.
    let mut qt: Vec<f64> = (0..l)
        .map(|j| x[..m].iter().zip(&x[j..j + m]).map(|(a, b)| a * b).sum())
        .collect();
    for i in 0..l {
        if i > 0 {
            for j in (i..l).rev() {
                qt[j] = qt[j - 1] - x[i - 1] * x[j - 1] + x[i + m - 1] * x[j + m - 1];
            }
        }
        for j in i + excl..l {
            let d = distance(i, j, qt[j]);
            if d < profile[i] {
                profile[i] = d;
                index[i] = j;
            }
            if d < profile[j] {
                profile[j] = d;
                index[j] = i;
            }
        }
    }
    (profile, index)
}

/// The `count` lowest (or highest) profile entries whose subsequences overlap none picked before.
fn pick(profile: &[f64], index: &[usize], m: usize, count: usize, highest: bool) -> Vec<Pair> {
    let mut order: Vec<usize> = (0..profile.len())
        .filter(|&i| profile[i].is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        let by = profile[a].total_cmp(&profile[b]);
        if highest {
            by.reverse()
        } else {
            by
        }
    });
    let mut taken: Vec<usize> = Vec::new();
    let overlaps = |taken: &[usize], s: usize| taken.iter().any(|&t| t.abs_diff(s) < m);
    let mut out = Vec::new();
    for i in order {
        if out.len() == count {
            break;
        }
        let j = index[i];
        if overlaps(&taken, i) || (!highest && overlaps(&taken, j)) {
            continue;
        }
        taken.push(i);
        if !highest {
            taken.push(j);
        }
        let (a, b) = if highest || i < j { (i, j) } else { (j, i) };
        out.push(Pair {
            a,
            b,
            distance: profile[i],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        let mut v = 0.0;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v += (x % 2001) as f64 / 1000.0 - 1.0;
                v
            })
            .collect()
    }

    fn znorm_distance(a: &[f64], b: &[f64]) -> f64 {
        let z = |w: &[f64]| {
            let mu = w.iter().sum::<f64>() / w.len() as f64;
            let sd = (w.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / w.len() as f64).sqrt();
            w.iter().map(|v| (v - mu) / sd).collect::<Vec<_>>()
        };
        z(a).iter()
            .zip(z(b))
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn the_profile_matches_a_brute_force_search() {
        for (n, m, seed) in [(200, 12, 7u64), (150, 5, 99), (64, 16, 3)] {
            let x = walk(n, seed);
            let got = motifs(
                &x,
                &MotifOptions {
                    window: m,
                    count: 3,
                },
            )
            .unwrap();
            let l = n - m + 1;
            for i in 0..l {
                let best = (0..l)
                    .filter(|&j| i.abs_diff(j) >= exclusion(m))
                    .map(|j| znorm_distance(&x[i..i + m], &x[j..j + m]))
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    (got.profile[i] - best).abs() < 1e-6,
                    "{n}/{m}: {i}: {} vs {best}",
                    got.profile[i]
                );
                let j = got.index[i];
                let again = znorm_distance(&x[i..i + m], &x[j..j + m]);
                assert!((again - best).abs() < 1e-6 && i.abs_diff(j) >= exclusion(m));
            }
        }
    }

    #[test]
    fn a_planted_shape_is_the_top_motif_and_a_unique_one_the_top_discord() {
        let mut x: Vec<f64> = walk(2000, 42).iter().map(|v| v * 0.05).collect();
        let shape: Vec<f64> = (0..50)
            .map(|k| 10.0 * (k as f64 / 50.0 * std::f64::consts::PI * 3.0).sin())
            .collect();
        for (k, s) in shape.iter().enumerate() {
            x[300 + k] += s;
            x[1500 + k] += s;
        }
        // One spike: every window holding it is unlike every other window.
        x[900] += 30.0;
        let got = motifs(
            &x,
            &MotifOptions {
                window: 50,
                count: 2,
            },
        )
        .unwrap();
        let top = got.motifs[0];
        assert!(
            top.a.abs_diff(300) <= 2 && top.b.abs_diff(1500) <= 2,
            "{top:?}"
        );
        assert!(
            (851..=900).contains(&got.discords[0].a),
            "{:?}",
            got.discords[0]
        );
        // No two reported motifs or discords overlap.
        let starts: Vec<usize> = got.motifs.iter().flat_map(|p| [p.a, p.b]).collect();
        assert!(starts
            .iter()
            .enumerate()
            .all(|(i, a)| starts[i + 1..].iter().all(|b| a.abs_diff(*b) >= 50)));
    }

    #[test]
    fn flat_windows_match_each_other_and_nothing_else() {
        let mut x = vec![1.0; 40];
        x.extend(walk(40, 5));
        let got = motifs(
            &x,
            &MotifOptions {
                window: 8,
                count: 1,
            },
        )
        .unwrap();
        assert_eq!(got.profile[0], 0.0);
        assert!(got.profile.iter().all(|d| d.is_finite() && *d >= 0.0));
    }

    #[test]
    fn refuses_windows_and_lengths_it_cannot_use() {
        assert!(motifs(
            &[0.0; 20],
            &MotifOptions {
                window: 3,
                count: 1
            }
        )
        .is_err());
        assert!(motifs(
            &[0.0; 15],
            &MotifOptions {
                window: 8,
                count: 1
            }
        )
        .is_err());
        let big = vec![0.0; MAX_MOTIF_POINTS + 1];
        assert!(motifs(
            &big,
            &MotifOptions {
                window: 8,
                count: 1
            }
        )
        .is_err());
    }
}
