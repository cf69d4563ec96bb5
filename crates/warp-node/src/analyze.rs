//! The analyses of `warp_core::analytics` over a series' points as JavaScript reads them:
//! timestamps and values as typed arrays in, plain objects and typed arrays out, computed off
//! the JS thread. The TypeScript layer reads the points and fills in the defaults.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use warp_core::analytics::{self, Prepared};
use warp_core::timestamp_from_f64;

use crate::convert::whole;
use crate::error::{IntoJs, Result};
use crate::tasks::{job, Job};

/// How the points are readied: bucket width (ms) if any, and the most points the analysis takes.
#[napi(object)]
pub struct NativeGrid {
    pub every: Option<f64>,
    pub max_points: f64,
}

/// Copies the points (the work leaves this thread) and reads the grid options.
fn points(ts: &[f64], values: &[f64], grid: &NativeGrid) -> Result<Input> {
    let ts = ts
        .iter()
        .map(|&t| timestamp_from_f64(t))
        .collect::<warp_core::Result<Vec<i64>>>()
        .js()?;
    let every = grid
        .every
        .map(|e| whole("every", e).map(|e| i64::try_from(e).unwrap_or(i64::MAX)))
        .transpose()
        .js()?;
    let max_points = count("maxPoints", grid.max_points)?;
    Ok(Input {
        ts,
        values: values.to_vec(),
        every,
        max_points,
    })
}

struct Input {
    ts: Vec<i64>,
    values: Vec<f64>,
    every: Option<i64>,
    max_points: usize,
}

impl Input {
    /// The points bucketed as asked, and never more than `cap`, the most the analysis takes:
    /// a grid is refused before it is built, whatever `maxPoints` says.
    fn prepare(&self, regular: bool, cap: usize) -> warp_core::Result<Prepared> {
        let max = self.max_points.min(cap);
        analytics::prepare(&self.ts, &self.values, self.every, max, regular)
    }
}

/// Milliseconds as a JavaScript number (exact: timestamps and widths are within ±2^53).
#[allow(clippy::cast_precision_loss)]
fn ms(t: i64) -> f64 {
    t as f64
}

#[napi(object)]
pub struct NativeTrend {
    pub points: u32,
    /// Bucket width used, ms (0: the raw points).
    pub every: f64,
    pub first: f64,
    pub last: f64,
    pub slope: f64,
    pub intercept: f64,
    pub ols_slope: f64,
    pub ols_intercept: f64,
    pub r_squared: f64,
    pub s: f64,
    pub tau: f64,
    pub z: f64,
    pub p_value: f64,
    /// `increasing`, `decreasing` or `none`.
    pub direction: String,
}

/// Theil–Sen slope and Mann–Kendall test of the points.
#[napi(ts_return_type = "Promise<NativeTrend>")]
pub fn analyze_trend(
    timestamps: Float64ArraySlice,
    values: Float64ArraySlice,
    grid: NativeGrid,
    alpha: f64,
) -> Result<AsyncTask<Job<NativeTrend, NativeTrend>>> {
    let input = points(&timestamps, &values, &grid)?;
    Ok(job(
        move || {
            let p = input.prepare(false, analytics::MAX_TREND_POINTS)?;
            let t = analytics::trend(&p.ts, &p.values, alpha)?;
            Ok(NativeTrend {
                points: u32::try_from(t.points).unwrap_or(u32::MAX),
                every: ms(p.every),
                first: p.ts.first().copied().map_or(f64::NAN, ms),
                last: p.ts.last().copied().map_or(f64::NAN, ms),
                slope: t.slope,
                intercept: t.intercept,
                ols_slope: t.ols_slope,
                ols_intercept: t.ols_intercept,
                r_squared: t.r_squared,
                s: t.s,
                tau: t.tau,
                z: t.z,
                p_value: t.p_value,
                direction: match t.direction {
                    analytics::Direction::Increasing => "increasing",
                    analytics::Direction::Decreasing => "decreasing",
                    analytics::Direction::None => "none",
                }
                .into(),
            })
        },
        |t| t,
    ))
}

#[napi(object)]
pub struct NativeAnomaly {
    pub ts: f64,
    pub value: f64,
    pub expected: f64,
    pub score: f64,
    pub critical: f64,
    pub p_value: f64,
}

#[napi(object)]
pub struct NativeAnomalies {
    pub points: u32,
    pub every: f64,
    /// The anomalies, most extreme first.
    pub anomalies: Vec<NativeAnomaly>,
    /// Candidates the test examined (anomalies first).
    pub tested: Vec<NativeAnomaly>,
}

#[napi(object)]
pub struct NativeAnomalyOptions {
    pub alpha: f64,
    pub max_anomalies: f64,
    /// Points per season (after bucketing), if seasonal.
    pub period: Option<f64>,
    pub robust: bool,
}

/// Generalized ESD test of the points (seasonal and robust as asked).
#[napi(ts_return_type = "Promise<NativeAnomalies>")]
pub fn analyze_anomalies(
    timestamps: Float64ArraySlice,
    values: Float64ArraySlice,
    grid: NativeGrid,
    options: NativeAnomalyOptions,
) -> Result<AsyncTask<Job<NativeAnomalies, NativeAnomalies>>> {
    let input = points(&timestamps, &values, &grid)?;
    let opts = analytics::AnomalyOptions {
        alpha: options.alpha,
        max_anomalies: count("maxAnomalies", options.max_anomalies)?,
        period: options.period.map(|p| count("period", p)).transpose()?,
        robust: options.robust,
    };
    Ok(job(
        move || {
            // A season is counted in steps of a grid.
            let p = input.prepare(opts.period.is_some(), analytics::MAX_ANOMALY_POINTS)?;
            let found = analytics::anomalies(&p.values, &opts)?;
            let at = |a: &analytics::Anomaly| NativeAnomaly {
                ts: p.ts.get(a.index).copied().map_or(f64::NAN, ms),
                value: a.value,
                expected: a.expected,
                score: a.score,
                critical: a.critical,
                p_value: a.p_value,
            };
            Ok(NativeAnomalies {
                points: u32::try_from(p.values.len()).unwrap_or(u32::MAX),
                every: ms(p.every),
                anomalies: found.candidates[..found.count].iter().map(at).collect(),
                tested: found.candidates.iter().map(at).collect(),
            })
        },
        |a| a,
    ))
}

#[napi(object)]
pub struct NativeForecastOptions {
    pub horizon: f64,
    pub period: Option<f64>,
    pub level: f64,
}

#[napi(object)]
pub struct NativeForecast {
    pub points: u32,
    pub every: f64,
    pub timestamps: Float64Array,
    pub values: Float64Array,
    pub lower: Float64Array,
    pub upper: Float64Array,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub rmse: f64,
}

/// A result with the grid it was computed on.
pub struct Gridded<T> {
    ts: Vec<i64>,
    every: i64,
    result: T,
}

/// Holt–Winters forecast of the points, on a regular grid.
#[napi(ts_return_type = "Promise<NativeForecast>")]
pub fn analyze_forecast(
    timestamps: Float64ArraySlice,
    values: Float64ArraySlice,
    grid: NativeGrid,
    options: NativeForecastOptions,
) -> Result<AsyncTask<Job<Gridded<analytics::Forecast>, NativeForecast>>> {
    let input = points(&timestamps, &values, &grid)?;
    let opts = analytics::ForecastOptions {
        horizon: count("horizon", options.horizon)?,
        period: options.period.map(|p| count("period", p)).transpose()?,
        level: options.level,
    };
    Ok(job(
        move || {
            let p = input.prepare(true, analytics::MAX_FORECAST_POINTS)?;
            let reach = p.ts.last().map(|&last| {
                i128::from(last)
                    + i128::try_from(opts.horizon).unwrap_or(i128::MAX) * i128::from(p.every)
            });
            if reach.is_some_and(|t| t > i128::from(warp_core::MAX_TIMESTAMP)) {
                return Err(warp_core::Error::InvalidArgument(format!(
                    "{} steps of {} ms after the last point run past the storable range (year 9999)",
                    opts.horizon, p.every
                )));
            }
            let result = analytics::forecast(&p.values, &opts)?;
            Ok(Gridded {
                ts: p.ts,
                every: p.every,
                result,
            })
        },
        |g| {
            let last = g.ts.last().copied().unwrap_or(0);
            let f = g.result;
            NativeForecast {
                points: u32::try_from(g.ts.len()).unwrap_or(u32::MAX),
                every: ms(g.every),
                timestamps: Float64Array::new(
                    (1..=f.values.len())
                        .map(|h| ms(last) + h as f64 * ms(g.every))
                        .collect(),
                ),
                values: Float64Array::new(f.values),
                lower: Float64Array::new(f.lower),
                upper: Float64Array::new(f.upper),
                alpha: f.alpha,
                beta: f.beta,
                gamma: f.gamma,
                rmse: f.rmse,
            }
        },
    ))
}

#[napi(object)]
pub struct NativeMotifOptions {
    /// Points per subsequence (after bucketing).
    pub window: f64,
    pub count: f64,
}

/// Two subsequences by their start times, and their distance.
#[napi(object)]
pub struct NativePair {
    pub a: f64,
    pub b: f64,
    pub distance: f64,
}

#[napi(object)]
pub struct NativeMotifs {
    pub points: u32,
    pub every: f64,
    /// Start time of each subsequence, its distance to its nearest match, and that match's start.
    pub starts: Float64Array,
    pub profile: Float64Array,
    pub nearest: Float64Array,
    pub motifs: Vec<NativePair>,
    pub discords: Vec<NativePair>,
}

/// Matrix profile of the points, on a regular grid: motifs and discords.
#[napi(ts_return_type = "Promise<NativeMotifs>")]
pub fn analyze_motifs(
    timestamps: Float64ArraySlice,
    values: Float64ArraySlice,
    grid: NativeGrid,
    options: NativeMotifOptions,
) -> Result<AsyncTask<Job<Gridded<analytics::Motifs>, NativeMotifs>>> {
    let input = points(&timestamps, &values, &grid)?;
    let opts = analytics::MotifOptions {
        window: count("window", options.window)?,
        count: count("count", options.count)?,
    };
    Ok(job(
        move || {
            let p = input.prepare(true, analytics::MAX_MOTIF_POINTS)?;
            let result = analytics::motifs(&p.values, &opts)?;
            Ok(Gridded {
                ts: p.ts,
                every: p.every,
                result,
            })
        },
        |g| {
            let at = |i: usize| g.ts.get(i).copied().map_or(f64::NAN, ms);
            let pair = |p: &analytics::Pair| NativePair {
                a: at(p.a),
                b: at(p.b),
                distance: p.distance,
            };
            let m = g.result;
            NativeMotifs {
                points: u32::try_from(g.ts.len()).unwrap_or(u32::MAX),
                every: ms(g.every),
                starts: Float64Array::new((0..m.profile.len()).map(at).collect()),
                nearest: Float64Array::new(m.index.iter().map(|&i| at(i)).collect()),
                profile: Float64Array::new(m.profile),
                motifs: m.motifs.iter().map(pair).collect(),
                discords: m.discords.iter().map(pair).collect(),
            }
        },
    ))
}

/// A count option: a whole number.
fn count(name: &str, n: f64) -> Result<usize> {
    Ok(usize::try_from(whole(name, n).js()?).unwrap_or(usize::MAX))
}
