//! WarpEngine's storage engine, in plain Rust: a segmented write-ahead log, a columnar live
//! tier, checkpoints, tiered partitions and the reads over them. The Node binding
//! (`warp-node`) only translates types and errors to and from this crate.
//!
//! The public surface is the re-export list below: the engine and its data, the storage trait
//! (with a fault-injecting implementation for tests behind the `test-util` feature), and the
//! byte formats for tools and benches. Everything else is private.
// Unit tests build values by casting freely.
#![cfg_attr(
    test,
    allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

pub mod analytics;
mod cache;
mod catalog;
mod checkpoint;
mod codec;
mod column;
mod cursor;
mod engine;
mod error;
mod layout;
mod links;
mod live;
mod manifest;
mod names;
mod options;
mod partition;
pub mod query;
mod retention;
mod rollup;
mod sample;
mod series;
pub mod storage;
mod tiers;
mod time;
mod types;
mod wal;

pub use cache::CacheStats;
pub use catalog::{Match, Matcher, Selector};
pub use codec::Payload;
pub use engine::{Engine, Target, Write};
pub use error::{Error, ErrorCode, Result};
pub use links::{Link, Origin as LinkOrigin, MAX_LINKS};
pub use options::{Durability, OnPressure, Options, MAX_LIVE_BYTES, MIN_LIVE_BYTES};
pub use partition::{PartitionMeta, Tier};
pub use retention::MAX_RULES as MAX_RETENTION_RULES;
pub use rollup::{Condition, RollupSpec};
pub use series::{
    SeriesId, SeriesKey, SeriesKind, MAX_KEY_BYTES, MAX_METRIC_BYTES, MAX_TAGS, MAX_TAG_KEY_BYTES,
    MAX_TAG_VALUE_BYTES,
};
pub use time::{bound_from_f64, timestamp_from_f64, MAX_TIMESTAMP, MIN_TIMESTAMP};
pub use types::{
    LifecycleStats, Move, PartitionInfo, PassPlan, PassReport, Pressure, PressureStats,
    RangeOptions, RangeResult, RecoveryStats, RollupInfo, RollupStats, SeriesInfo, Stats,
    TierStats, Value,
};

/// The byte formats of `docs/format.md`, for tools, benches and tests.
pub mod format {
    pub use crate::codec::block::{
        decode as decode_block, encode_events, encode_numeric, MAX_BLOCK_BYTES, MAX_BLOCK_POINTS,
        MAX_EVENT_BYTES,
    };
    pub use crate::names::{checkpoint as checkpoint_name, segment as segment_name};
    pub use crate::wal::SEGMENT_HEADER_LEN;
}
