//! Analyses of one numeric series: its trend (Theil–Sen slope with a Mann–Kendall test), its
//! anomalies (seasonal hybrid generalized ESD, each with a p-value), a forecast (Holt–Winters
//! with prediction intervals), and its motifs and discords (matrix profile).
//!
//! Each takes a series' points as slices. [`prepare`] first drops non-finite values and, where
//! asked or where the points are too many for the analysis, averages them into fixed buckets;
//! the analyses that need a regular grid fill empty buckets in between by interpolation.

mod anomaly;
mod forecast;
mod motif;
mod prepare;
mod stats;
mod trend;

pub use anomaly::{anomalies, Anomalies, Anomaly, AnomalyOptions, MAX_ANOMALY_POINTS};
pub use forecast::{forecast, Forecast, ForecastOptions, MAX_FORECAST_POINTS};
pub use motif::{motifs, MotifOptions, Motifs, Pair, MAX_MOTIF_POINTS};
pub use prepare::{prepare, Prepared};
pub use trend::{trend, Direction, Trend, MAX_TREND_POINTS};

/// Deterministic test data.
#[cfg(test)]
mod testdata {
    /// Draws from a xorshift64 generator.
    pub struct Draws(u64);

    impl Draws {
        pub fn new(seed: u64) -> Self {
            Draws(seed)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Uniform in [0, 1).
        pub fn uniform(&mut self) -> f64 {
            (self.next_u64() % 1_000_000) as f64 / 1e6
        }

        /// Close to a standard normal: twelve uniforms summed, less 6.
        pub fn normal(&mut self) -> f64 {
            (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
        }
    }
}
