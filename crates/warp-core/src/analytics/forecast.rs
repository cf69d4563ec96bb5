//! Forecast: additive Holt–Winters exponential smoothing (Holt's linear trend without a
//! season), its smoothing weights chosen by Nelder–Mead to minimise the one-step errors, and
//! prediction intervals from the model's h-step error variance (Hyndman et al., ETS(A,A,A)).

use super::stats::{normal_upper, unit_scale};
use crate::error::{Error, Result};

/// The most points a forecast is fitted on (each trial of the weights runs over all of them).
pub const MAX_FORECAST_POINTS: usize = 1_000_000;

/// The most steps a forecast reaches.
pub const MAX_HORIZON: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastOptions {
    /// Steps ahead.
    pub horizon: usize,
    /// Points per season, for a seasonal model.
    pub period: Option<usize>,
    /// Coverage of the prediction intervals, e.g. 0.95.
    pub level: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub values: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// The smoothing weights fitted: level, trend (as a share of α) and season (0 without one).
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    /// Root mean square of the one-step errors over the points.
    pub rmse: f64,
}

pub fn forecast(values: &[f64], opts: &ForecastOptions) -> Result<Forecast> {
    if opts.horizon == 0 || opts.horizon > MAX_HORIZON {
        return Err(Error::InvalidArgument(format!(
            "horizon must be 1 to {MAX_HORIZON} steps, not {}",
            opts.horizon
        )));
    }
    if !(opts.level > 0.0 && opts.level < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "level must be between 0 and 1, not {}",
            opts.level
        )));
    }
    if values.len() > MAX_FORECAST_POINTS {
        return Err(Error::InvalidArgument(format!(
            "a forecast is fitted on at most {MAX_FORECAST_POINTS} points, not {} (bucket them)",
            values.len()
        )));
    }
    let period = match opts.period {
        Some(p) if p < 2 || values.len() < 2 * p + 1 => {
            return Err(Error::InvalidArgument(format!(
                "a seasonal forecast needs a period of at least 2 points and more than two \
                 seasons: period {p}, {} points",
                values.len()
            )))
        }
        None if values.len() < 4 => {
            return Err(Error::InvalidArgument(format!(
                "a forecast needs at least 4 points, not {}",
                values.len()
            )))
        }
        p => p,
    };
    // Fitted at unit scale (sums of squares of 1e200 would overflow), scaled back at the end.
    let (scaled, scale) = unit_scale(values);
    let model = Model {
        values: &scaled,
        period,
    };
    let weights = model.fit();
    let run = model.run(weights);
    let [alpha, beta, gamma] = weights;
    let params = if period.is_some() { 3.0 } else { 2.0 };
    let dof = (values.len() as f64 - params).max(1.0);
    let sigma2 = run.sse / dof;
    let z = normal_upper((1.0 - opts.level) / 2.0);
    let (mut out, mut lower, mut upper) = (Vec::new(), Vec::new(), Vec::new());
    let mut spread = 0.0; // Σ c_j² for j < h
    for h in 1..=opts.horizon {
        let season = period.map_or(0.0, |p| run.season[(values.len() + h - 1) % p]);
        let y = run.level + h as f64 * run.trend + season;
        let half = z * (sigma2 * (1.0 + spread)).sqrt();
        out.push(y * scale);
        lower.push((y - half) * scale);
        upper.push((y + half) * scale);
        let seasonal_step = period.is_some_and(|p| h % p == 0);
        let c = alpha * (1.0 + h as f64 * beta) + if seasonal_step { gamma } else { 0.0 };
        spread += c * c;
    }
    Ok(Forecast {
        values: out,
        lower,
        upper,
        alpha,
        beta,
        gamma,
        rmse: (run.sse / values.len() as f64).sqrt() * scale,
    })
}

struct Model<'a> {
    values: &'a [f64],
    period: Option<usize>,
}

/// The state after the last point, and the squared one-step errors summed.
struct Run {
    level: f64,
    trend: f64,
    season: Vec<f64>,
    sse: f64,
}

impl Model<'_> {
    /// Smoothing with weights `[α, β, γ]` from the first points' initial state.
    fn run(&self, [alpha, beta, gamma]: [f64; 3]) -> Run {
        let x = self.values;
        let (mut level, mut trend, mut season) = match self.period {
            Some(p) => {
                let first = x[..p].iter().sum::<f64>() / p as f64;
                let second = x[p..2 * p].iter().sum::<f64>() / p as f64;
                let season = x[..p].iter().map(|v| v - first).collect();
                (first, (second - first) / p as f64, season)
            }
            None => (x[0], x[1] - x[0], Vec::new()),
        };
        // The state is the one before the first point, whose forecast is level + trend: the
        // first season's mean sits at its middle, (p − 1) / 2 steps after the first point.
        level -= trend * self.period.map_or(1.0, |p| (p as f64 + 1.0) / 2.0);
        let mut sse = 0.0;
        for (t, &v) in x.iter().enumerate() {
            let s = self.period.map_or(0.0, |p| season[t % p]);
            let e = v - (level + trend + s);
            sse += e * e;
            level += trend + alpha * e;
            trend += alpha * beta * e;
            if let Some(p) = self.period {
                season[t % p] += gamma * e;
            }
        }
        Run {
            level,
            trend,
            season,
            sse,
        }
    }

    /// The weights that minimise the one-step errors: the best of a coarse grid, refined by
    /// Nelder–Mead over logits (so every weight stays inside (0, 1)).
    fn fit(&self) -> [f64; 3] {
        let dims = if self.period.is_some() { 3 } else { 2 };
        let cost = |u: &[f64]| {
            let w = weights(u);
            let sse = self.run(w).sse;
            if sse.is_finite() {
                sse
            } else {
                f64::MAX
            }
        };
        let grid = [-2.0, 0.0, 2.0];
        let mut best = vec![0.0; dims];
        let mut best_cost = f64::INFINITY;
        for &a in &grid {
            for &b in &grid {
                for &g in grid.iter().take(if dims == 3 { 3 } else { 1 }) {
                    let u = [a, b, g];
                    let c = cost(&u[..dims]);
                    if c < best_cost {
                        best_cost = c;
                        best = u[..dims].to_vec();
                    }
                }
            }
        }
        weights(&nelder_mead(&cost, best, 300))
    }
}

/// Weights in (0, 1) from unconstrained values (the logistic function).
fn weights(u: &[f64]) -> [f64; 3] {
    let w = |x: f64| 1.0 / (1.0 + (-x).exp());
    [w(u[0]), w(u[1]), u.get(2).map_or(0.0, |&g| w(g))]
}

/// Nelder–Mead minimisation of `f` from `start`, for at most `iterations` steps.
fn nelder_mead(f: &impl Fn(&[f64]) -> f64, start: Vec<f64>, iterations: usize) -> Vec<f64> {
    let d = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = (0..=d)
        .map(|k| {
            let mut p = start.clone();
            if k > 0 {
                p[k - 1] += 1.0;
            }
            let c = f(&p);
            (p, c)
        })
        .collect();
    let along = |a: &[f64], b: &[f64], t: f64| -> Vec<f64> {
        a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect()
    };
    for _ in 0..iterations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        if (simplex[d].1 - simplex[0].1).abs() <= 1e-12 * (1.0 + simplex[0].1.abs()) {
            break;
        }
        let centroid: Vec<f64> = (0..d)
            .map(|i| simplex[..d].iter().map(|(p, _)| p[i]).sum::<f64>() / d as f64)
            .collect();
        let worst = simplex[d].0.clone();
        let reflected = along(&worst, &centroid, 2.0);
        let fr = f(&reflected);
        if fr < simplex[0].1 {
            let expanded = along(&worst, &centroid, 3.0);
            let fe = f(&expanded);
            simplex[d] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[d - 1].1 {
            simplex[d] = (reflected, fr);
        } else {
            let contracted = along(&worst, &centroid, 0.5);
            let fc = f(&contracted);
            if fc < simplex[d].1 {
                simplex[d] = (contracted, fc);
            } else {
                let best = simplex[0].0.clone();
                for (p, c) in simplex.iter_mut().skip(1) {
                    *p = along(&best, p, 0.5);
                    *c = f(p);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0).0
}

#[cfg(test)]
mod tests {
    use super::super::testdata::Draws;
    use super::*;

    const AHEAD: ForecastOptions = ForecastOptions {
        horizon: 10,
        period: None,
        level: 0.95,
    };

    #[test]
    fn a_line_continues_exactly() {
        let values: Vec<f64> = (0..50).map(|t| 3.0 + 2.0 * t as f64).collect();
        let f = forecast(&values, &AHEAD).unwrap();
        for (h, y) in f.values.iter().enumerate() {
            assert!((y - (3.0 + 2.0 * (50 + h) as f64)).abs() < 1e-6, "{h}: {y}");
        }
        assert!(f.rmse < 1e-9 && f.upper[9] - f.lower[9] < 1e-6);
    }

    #[test]
    fn a_season_on_a_trend_is_carried_forward() {
        let truth = |t: usize| {
            10.0 + 0.5 * t as f64 + 5.0 * (t as f64 / 12.0 * std::f64::consts::TAU).sin()
        };
        let values: Vec<f64> = (0..120).map(truth).collect();
        let opts = ForecastOptions {
            horizon: 24,
            period: Some(12),
            level: 0.95,
        };
        let f = forecast(&values, &opts).unwrap();
        for (h, y) in f.values.iter().enumerate() {
            assert!(
                (y - truth(120 + h)).abs() < 0.5,
                "{h}: {y} vs {}",
                truth(120 + h)
            );
        }
        let plain = forecast(
            &values,
            &ForecastOptions {
                period: None,
                ..opts
            },
        )
        .unwrap();
        let err = |g: &Forecast| {
            g.values
                .iter()
                .enumerate()
                .map(|(h, y)| (y - truth(120 + h)).abs())
                .sum::<f64>()
        };
        assert!(err(&f) * 5.0 < err(&plain), "the season matters");
    }

    #[test]
    fn intervals_widen_with_the_horizon_and_cover_noisy_data() {
        let mut d = Draws::new(0x5851_f42d);
        let values: Vec<f64> = (0..400).map(|_| 50.0 + d.normal()).collect();
        let f = forecast(
            &values[..300],
            &ForecastOptions {
                horizon: 100,
                ..AHEAD
            },
        )
        .unwrap();
        let widths: Vec<f64> = f.upper.iter().zip(&f.lower).map(|(u, l)| u - l).collect();
        assert!(widths.windows(2).all(|w| w[1] >= w[0]));
        let inside = values[300..]
            .iter()
            .zip(f.lower.iter().zip(&f.upper))
            .filter(|(v, (l, u))| l <= v && v <= u)
            .count();
        assert!(inside >= 88, "{inside} of 100 inside the 95% intervals");
    }

    #[test]
    fn huge_and_alternating_values_forecast_finite_numbers() {
        let line: Vec<f64> = (0..50).map(|t| (3.0 + 2.0 * t as f64) * 1e300).collect();
        let f = forecast(&line, &AHEAD).unwrap();
        assert!(
            (f.values[0] / 1e300 - 103.0).abs() < 1e-6,
            "{}",
            f.values[0]
        );
        let alternating: Vec<f64> = (0..40)
            .map(|t| if t % 2 == 0 { 1e308 } else { -1e308 })
            .collect();
        let g = forecast(
            &alternating,
            &ForecastOptions {
                period: Some(2),
                ..AHEAD
            },
        )
        .unwrap();
        assert!(g.values.iter().all(|v| v.is_finite()), "{:?}", g.values);
    }

    #[test]
    fn refuses_what_it_cannot_fit() {
        assert!(forecast(&[1.0, 2.0, 3.0], &AHEAD).is_err());
        assert!(forecast(
            &[1.0; 10],
            &ForecastOptions {
                horizon: 0,
                ..AHEAD
            }
        )
        .is_err());
        assert!(forecast(
            &[1.0; 10],
            &ForecastOptions {
                horizon: MAX_HORIZON + 1,
                ..AHEAD
            }
        )
        .is_err());
        assert!(forecast(
            &[1.0; 10],
            &ForecastOptions {
                level: 1.0,
                ..AHEAD
            }
        )
        .is_err());
        assert!(forecast(
            &[1.0; 10],
            &ForecastOptions {
                period: Some(5),
                ..AHEAD
            }
        )
        .is_err());
        assert!(forecast(
            &[1.0; 11],
            &ForecastOptions {
                period: Some(5),
                ..AHEAD
            }
        )
        .is_ok());
    }
}
