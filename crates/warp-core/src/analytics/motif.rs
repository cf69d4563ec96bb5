//! Motifs and discords from the matrix profile: for every subsequence of `window` points, the
//! z-normalised Euclidean distance to its nearest non-trivial match, along each diagonal of the
//! distance matrix with each covariance from the previous one in O(1) (the MPX form of STOMP),
//! so O(n²) in all and half of it by symmetry.
//! The closest pairs are the motifs (a shape that recurs); the farthest are the discords (a
//! shape seen nowhere else).

use rayon::prelude::*;

use super::stats::unit_scale;
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
    // z-normalised distances do not depend on scale; unit scale keeps the sums finite.
    let (x, _) = unit_scale(x);
    let (profile, index) = matrix_profile(&x, m);
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
    let mf = m as f64;
    // Each window's mean and centred norm, summed directly: exact whatever its neighbours.
    let mean: Vec<f64> = x.windows(m).map(|w| w.iter().sum::<f64>() / mf).collect();
    let norm: Vec<f64> = x
        .windows(m)
        .zip(&mean)
        .map(|(w, mu)| w.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>().sqrt())
        .collect();
    // A window is flat when its spread is rounding next to the series' own.
    let scale = norm
        .iter()
        .filter(|n| n.is_finite())
        .fold(0.0f64, |a, &b| a.max(b));
    let flat: Vec<bool> = norm.iter().map(|&n| n <= scale * 1e-10).collect();
    let cov = |i: usize, j: usize| -> f64 {
        x[i..i + m]
            .iter()
            .zip(&x[j..j + m])
            .map(|(a, b)| (a - mean[i]) * (b - mean[j]))
            .sum()
    };
    // The centred covariance of windows (i, j) follows from that of (i − 1, j − 1) by two
    // products (the MPX update of Zimmerman et al.): terms stay on each window's own scale.
    let mut df = vec![0.0; l];
    let mut dg = vec![0.0; l];
    for i in 1..l {
        df[i] = (x[i + m - 1] - x[i - 1]) / 2.0;
        dg[i] = (x[i + m - 1] - mean[i]) + (x[i - 1] - mean[i - 1]);
    }
    let tiny = (scale * 1e-10).powi(2);
    // One diagonal: every pair (row, row + diag), folded into `best`.
    let diagonal = |diag: usize, best: &mut Best| {
        let mut c = cov(0, diag);
        // What the updates have added up since the last exact sum: large next to the current
        // windows' own scale (a spike or level shift passed through), the sum is redone.
        let mut moved = 0.0;
        for row in 0..l - diag {
            let col = row + diag;
            if row > 0 {
                let (a, b) = (df[row] * dg[col], df[col] * dg[row]);
                c += a + b;
                moved += a.abs() + b.abs();
                // (A non-finite window poisons the running sum: it is redone past it.)
                if !c.is_finite()
                    || moved.is_nan()
                    || moved > 1e4 * (norm[row] * norm[col]).max(tiny)
                {
                    c = cov(row, col);
                    moved = 0.0;
                }
            }
            // A window holding a non-finite value matches nothing.
            if !(norm[row].is_finite() && norm[col].is_finite()) {
                continue;
            }
            let d = match (flat[row], flat[col]) {
                (true, true) => 0.0,
                (true, false) | (false, true) => mf.sqrt(),
                _ => {
                    let corr = (c / (norm[row] * norm[col])).clamp(-1.0, 1.0);
                    (2.0 * mf * (1.0 - corr)).sqrt()
                }
            };
            best.offer(row, d, col);
            best.offer(col, d, row);
        }
    };
    // Diagonals are independent: interleaved over as many parts as make the cores busy (their
    // lengths fall with their offset), each part keeping its own nearest matches, merged after.
    let first = exclusion(m);
    let parts = (4 * rayon::current_num_threads())
        .min(l.saturating_sub(first))
        .max(1);
    let best = (0..parts)
        .into_par_iter()
        .map(|part| {
            let mut best = Best::new(l);
            (first + part..l)
                .step_by(parts)
                .for_each(|diag| diagonal(diag, &mut best));
            best
        })
        .reduce(|| Best::new(l), Best::merge);
    (best.distance, best.index)
}

/// Each subsequence's nearest match so far: the least distance, ties to the earliest start, so
/// the profile does not depend on how the work was split.
struct Best {
    distance: Vec<f64>,
    index: Vec<usize>,
}

impl Best {
    fn new(l: usize) -> Best {
        Best {
            distance: vec![f64::INFINITY; l],
            index: vec![0; l],
        }
    }

    fn offer(&mut self, i: usize, d: f64, j: usize) {
        if d < self.distance[i] || (d == self.distance[i] && j < self.index[i]) {
            self.distance[i] = d;
            self.index[i] = j;
        }
    }

    fn merge(mut self, other: Best) -> Best {
        for (i, (d, j)) in other.distance.into_iter().zip(other.index).enumerate() {
            self.offer(i, d, j);
        }
        self
    }
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
    use super::super::testdata::Draws;
    use super::*;

    fn walk(n: usize, seed: u64) -> Vec<f64> {
        let mut d = Draws::new(seed);
        let mut v = 0.0;
        (0..n)
            .map(|_| {
                v += 2.0 * d.uniform() - 1.0;
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
        // The two planted copies, aligned with each other, covering most of their shape.
        assert!(
            top.a.abs_diff(300) <= 15 && (top.b - top.a).abs_diff(1200) <= 2,
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

    /// After a level shift or a glitch many orders above the noise, and on data at any scale,
    /// windows clear of them still get their exact distances.
    #[test]
    fn a_level_shift_a_glitch_or_any_scale_costs_no_precision() {
        let (n, m) = (400, 16);
        let base = walk(n, 11);
        let mut shifted = base.clone();
        shifted[200..].iter_mut().for_each(|v| *v += 1e8);
        let mut glitch = base.clone();
        glitch[150] += 1e10;
        let tiny: Vec<f64> = base.iter().map(|v| v * 1e-10).collect();
        let huge: Vec<f64> = base.iter().map(|v| v * 1e200).collect();
        let reference = motifs(
            &base,
            &MotifOptions {
                window: m,
                count: 1,
            },
        )
        .unwrap();
        for x in [&tiny, &huge] {
            let got = motifs(
                x,
                &MotifOptions {
                    window: m,
                    count: 1,
                },
            )
            .unwrap();
            for (a, b) in got.profile.iter().zip(&reference.profile) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
        }
        for (name, x, dirty) in [
            ("shift", &shifted, 200 - m..200),
            ("glitch", &glitch, 150 + 1 - m..151),
        ] {
            let got = motifs(
                x,
                &MotifOptions {
                    window: m,
                    count: 1,
                },
            )
            .unwrap();
            let clear = |i: usize| !(dirty.contains(&i));
            for i in (0..n - m + 1).filter(|&i| clear(i)) {
                let best = (0..n - m + 1)
                    .filter(|&j| i.abs_diff(j) >= exclusion(m) && clear(j))
                    .map(|j| znorm_distance(&x[i..i + m], &x[j..j + m]))
                    .fold(f64::INFINITY, f64::min);
                // A 1e8 offset on unit noise leaves about 8 significant digits in the data itself.
                assert!(
                    got.profile[i] <= best + 1e-5,
                    "{name} {i}: {} vs {best}",
                    got.profile[i]
                );
                let j = got.index[i];
                let again = znorm_distance(&x[i..i + m], &x[j..j + m]);
                assert!(
                    (again - got.profile[i]).abs() < 1e-5,
                    "{name} {i}: {again} vs {}",
                    got.profile[i]
                );
            }
        }
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
    fn windows_with_non_finite_values_match_nothing() {
        let mut x = walk(100, 9);
        x[50] = f64::INFINITY;
        x[20] = f64::NAN;
        let got = motifs(
            &x,
            &MotifOptions {
                window: 8,
                count: 2,
            },
        )
        .unwrap();
        let touched = |i: usize| (i..i + 8).contains(&50) || (i..i + 8).contains(&20);
        for i in 0..x.len() - 7 {
            assert_eq!(
                got.profile[i].is_finite(),
                !touched(i),
                "{i}: {}",
                got.profile[i]
            );
            if touched(i) {
                continue;
            }
            let best = (0..x.len() - 7)
                .filter(|&j| i.abs_diff(j) >= exclusion(8) && !touched(j))
                .map(|j| znorm_distance(&x[i..i + 8], &x[j..j + 8]))
                .fold(f64::INFINITY, f64::min);
            assert!(
                (got.profile[i] - best).abs() < 1e-9,
                "{i}: {} vs {best}",
                got.profile[i]
            );
        }
        assert!(got
            .motifs
            .iter()
            .chain(&got.discords)
            .all(|p| p.distance.is_finite()));
    }

    /// The diagonals are split over the threads there are; the answer is the same bit for bit.
    #[test]
    fn the_profile_does_not_depend_on_the_thread_count() {
        let mut x = walk(600, 21);
        // Repeats make ties, which must break the same way.
        let copy: Vec<f64> = x[100..140].to_vec();
        x[300..340].copy_from_slice(&copy);
        x[450..490].copy_from_slice(&copy);
        let opts = MotifOptions {
            window: 40,
            count: 3,
        };
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| motifs(&x, &opts).unwrap())
        };
        let one = on(1);
        for threads in [2, 3, 8] {
            assert_eq!(on(threads), one, "{threads} threads");
        }
        assert_eq!(one.motifs[0].distance, 0.0);
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
