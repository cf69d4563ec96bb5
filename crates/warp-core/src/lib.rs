//! WarpEngine's storage engine, in plain Rust: a segmented write-ahead log, a columnar live
//! tier, checkpoints, and the queries over them. The Node binding (`warp-node`) only
//! translates types and errors to and from this crate.
#![deny(unsafe_code)]

mod checkpoint;
pub mod codec;
mod column;
mod engine;
mod error;
mod layout;
mod live;
mod options;
pub mod series;
pub mod storage;
pub mod time;
pub mod wal;

pub use engine::{Engine, RangeOptions, RangeResult, RecoveryStats, SeriesInfo, Stats, Value};
pub use error::{Error, Result};
pub use live::Payload;
pub use options::{Durability, Options};
pub use series::{SeriesId, SeriesKey, SeriesKind};
