//! The analyses on arbitrary input: any values (huge, tiny, infinite, NaN), any sizes and
//! options give a result or an error, never a panic; finite input gives finite figures.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use proptest::prelude::*;
use warp_core::analytics::{
    anomalies, forecast, motifs, prepare, trend, AnomalyOptions, ForecastOptions, MotifOptions,
};

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6f64..1e6,
        1 => any::<f64>(),
        1 => Just(0.0),
        1 => prop_oneof![Just(f64::MAX), Just(-f64::MAX), Just(f64::MIN_POSITIVE), Just(1e300)],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_an_analysis_panic(
        values in prop::collection::vec(value(), 0..120),
        window in 0usize..40,
        period in prop::option::of(0usize..30),
        horizon in 0usize..50,
        alpha in prop_oneof![Just(0.05), -1.0f64..2.0],
        robust in any::<bool>(),
        every in prop::option::of(-5i64..50),
    ) {
        let ts: Vec<i64> = (0..values.len() as i64).map(|i| i * 7).collect();
        let _ = trend(&ts, &values, alpha);
        let opts = AnomalyOptions { alpha, max_anomalies: values.len(), period, robust };
        let _ = anomalies(&values, &opts);
        let _ = forecast(&values, &ForecastOptions { horizon, period, level: alpha });
        let _ = motifs(&values, &MotifOptions { window, count: 3 });
        let _ = prepare(&ts, &values, every, 50, true);
    }

    #[test]
    fn finite_input_gives_finite_figures(
        values in prop::collection::vec(-1e6f64..1e6, 30..100),
    ) {
        let ts: Vec<i64> = (0..values.len() as i64).collect();
        let t = trend(&ts, &values, 0.05).unwrap();
        prop_assert!(t.slope.is_finite() && t.p_value >= 0.0 && t.p_value <= 1.0);
        let a = anomalies(&values, &AnomalyOptions { alpha: 0.05, max_anomalies: 5, period: None, robust: true }).unwrap();
        prop_assert!(a.candidates.iter().all(|c| c.score.is_finite() && (0.0..=1.0).contains(&c.p_value)));
        let f = forecast(&values, &ForecastOptions { horizon: 5, period: Some(4), level: 0.9 }).unwrap();
        prop_assert!(f.values.iter().chain(&f.lower).chain(&f.upper).all(|v| v.is_finite()));
        prop_assert!(f.lower.iter().zip(&f.upper).all(|(l, u)| l <= u));
        let m = motifs(&values, &MotifOptions { window: 8, count: 2 }).unwrap();
        prop_assert!(m.profile.iter().all(|d| d.is_finite() && *d >= 0.0));
    }
}
