//! The Node.js binding of WarpEngine. It converts JavaScript values to `warp-core` calls and
//! core errors to JavaScript errors; every decision is made in `warp-core` or in the
//! TypeScript layer.
#![deny(clippy::all)]
// napi-rs registers exports only outside cfg(test); clippy --all-targets checks that cfg too.
#![cfg_attr(test, allow(dead_code))]

mod analyze;
mod convert;
mod engine;
mod error;
mod query;
mod rollups;
mod select;
mod series;
mod tasks;

pub use engine::{ensure_series, NativeEngine};
