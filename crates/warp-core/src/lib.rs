//! WarpEngine's storage engine, in plain Rust: a segmented write-ahead log, a columnar live
//! tier, checkpoints, and the queries over them. The Node binding (`warp-node`) only
//! translates types and errors to and from this crate.
#![deny(unsafe_code)]

mod cache;
mod checkpoint;
pub mod codec;
mod column;
mod commit;
mod cursor;
mod engine;
mod error;
mod layout;
mod lifecycle;
mod live;
mod manifest;
mod options;
pub mod partition;
mod query;
mod read;
mod recovery;
pub mod series;
pub mod storage;
mod tiers;
pub mod time;
pub mod wal;

pub use cache::CacheStats;
pub use engine::{
    Engine, PartitionInfo, RangeOptions, RangeResult, RecoveryStats, SeriesInfo, Stats, TierStats,
    Value,
};
pub use error::{Error, Result};
pub use lifecycle::LifecycleStats;
pub use live::Payload;
pub use options::{Durability, Options};
pub use series::{SeriesId, SeriesKey, SeriesKind};
