//! The Node.js binding of WarpEngine. It converts JavaScript values to `warp-core` calls and
//! core errors to JavaScript errors; every decision is made in `warp-core` or in the
//! TypeScript layer.
#![deny(clippy::all)]

mod convert;
mod engine;
mod error;
mod series;
mod tasks;

pub use engine::NativeEngine;
