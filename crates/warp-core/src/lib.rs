//! WarpEngine's storage engine, in plain Rust: a segmented write-ahead log, a columnar live
//! tier, checkpoints, tiered partitions and the reads over them. The Node binding
//! (`warp-node`) only translates types and errors to and from this crate.
#![deny(unsafe_code)]

mod cache;
mod checkpoint;
pub mod codec;
mod column;
mod cursor;
mod engine;
mod error;
mod layout;
mod live;
mod manifest;
mod options;
pub mod partition;
pub mod series;
pub mod storage;
mod tiers;
pub mod time;
mod types;
pub mod wal;

pub use cache::CacheStats;
pub use engine::{Engine, Target, Write};
pub use error::{Error, Result};
pub use live::Payload;
pub use options::{Durability, Options};
pub use series::{SeriesId, SeriesKey, SeriesKind};
pub use types::{
    LifecycleStats, Move, PartitionInfo, PassPlan, PassReport, RangeOptions, RangeResult,
    RecoveryStats, SeriesInfo, Stats, TierStats, Value,
};
