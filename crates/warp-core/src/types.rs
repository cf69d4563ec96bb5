//! The engine's public data: what calls take and return, and what `stats()` reports.

use std::collections::HashSet;

use crate::cache::CacheStats;
use crate::codec::Payload;
use crate::partition::{PartitionMeta, Tier};
use crate::series::{SeriesId, SeriesKind};
use crate::wal::ReplayReport;

/// A point's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Event(Payload),
}

/// Points of one series in time order.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeResult {
    Numeric {
        timestamps: Vec<i64>,
        values: Vec<f64>,
    },
    Event {
        timestamps: Vec<i64>,
        payloads: Vec<Payload>,
    },
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RangeOptions {
    /// At most this many points: the first ones, or the last ones when `descending`.
    pub limit: Option<usize>,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// Stable for the life of the database (ids are never reused).
    pub id: SeriesId,
    pub key: String,
    pub kind: SeriesKind,
    /// Points a full-range read returns.
    pub points: u64,
}

/// A rollup, as `rollups()` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupInfo {
    pub spec: crate::rollup::RollupSpec,
    /// Whether its cells were computed over the data there was when it was declared.
    pub ready: bool,
    /// Series feeding it, and those of them with points not materialized yet.
    pub sources: u64,
    pub dirty: u64,
}

/// What the rollups have done since the database was opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollupStats {
    pub rollups: u64,
    pub refreshes: u64,
    pub cells_written: u64,
    /// Queries answered from a rollup.
    pub queries: u64,
    /// Series with points not materialized yet.
    pub dirty_series: u64,
}

/// What the last open found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryStats {
    pub checkpoint_loaded: bool,
    pub checkpoint_points: u64,
    pub replayed_points: u64,
    pub wal: ReplayReport,
    /// With `repair`: partitions left out of the live set because they failed their checks.
    pub dropped_partitions: Vec<String>,
    /// With `repair`: partitions with damaged blocks, rebuilt from the readable ones.
    pub repaired_partitions: Vec<String>,
    /// With `repair`: the checkpoint could not be read (its live points are lost; the WAL that
    /// is left was replayed), and why.
    pub lost_checkpoint: Option<String>,
    /// With `repair`: the manifest was missing and was rebuilt from the files found.
    pub rebuilt_manifest: bool,
    pub duration_ms: f64,
}

/// One tier's share of the data.
#[derive(Debug, Clone, PartialEq)]
pub struct TierStats {
    pub tier: Tier,
    pub partitions: u64,
    /// Points stored in the tier's files (a point rewritten later counts in each copy).
    pub points: u64,
    pub bytes: u64,
}

/// A partition as the lifecycle policy sees it: what the manifest says plus how it is read.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionInfo {
    pub meta: PartitionMeta,
    /// Reads since the database was opened.
    pub reads: u64,
    /// Time of the last read in ms since the epoch, 0 if never read.
    pub last_read_ms: i64,
}

/// What the lifecycle mechanisms have done since the database was opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleStats {
    pub passes: u64,
    pub seals: u64,
    pub sealed_points: u64,
    /// Compactions (tier moves, overlay folds and recompressions).
    pub moves: u64,
    /// Bytes of the partitions compacted, and of what they became.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub partitions_dropped: u64,
    pub bytes_dropped: u64,
    /// Series dropped from the catalog: no point left inside retention.
    pub series_dropped: u64,
    /// Files a commit no longer needed but could not delete (the next open deletes them).
    pub cleanup_failures: u64,
}

/// How full the live tier and the WAL buffer are: what a producer checks to slow down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Memory held by the live tier, with the points a seal is writing out.
    pub live_bytes: u64,
    /// The bound past which the live tier is sealed early (`Options::max_live_bytes`); writes
    /// wait or fail at twice it.
    pub live_bound: u64,
    pub wal_buffered_bytes: u64,
    /// Buffered WAL bytes past which writes hand the buffer to the OS.
    pub wal_bound: u64,
    /// A seal is asked for or under way (early or a lifecycle pass's): memory drops when it
    /// commits.
    pub sealing: bool,
}

/// The live tier's memory bound at work since the database was opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PressureStats {
    pub live_bytes: u64,
    pub live_bound: u64,
    pub wal_buffered_bytes: u64,
    pub wal_bound: u64,
    /// Writes that met the hard limit: waited for room, or were refused.
    pub engaged: u64,
    /// Time writes spent waiting for room, in total.
    pub engaged_ms: f64,
    /// Early seals that sealed points (asked for by the bound, or by `relieve`).
    pub early_seals: u64,
    /// Writes refused with `BACKPRESSURE`.
    pub rejected: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub series: u64,
    /// Memory held by the series catalog and its tag index.
    pub catalog_bytes: u64,
    /// Points a full-range read of every series returns.
    pub points: u64,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    /// WAL fsyncs done; far fewer than writes when group commit works.
    pub wal_syncs: u64,
    /// Latest/as-of reads answered by a series' newest-point pointer, no tier walked.
    pub wormhole_hits: u64,
    pub buffered_bytes: u64,
    pub checkpoints_written: u64,
    pub last_checkpoint_bytes: u64,
    pub manifest_generation: u64,
    /// Points older than this are gone (retention); `None` if nothing has expired.
    pub retention_horizon: Option<i64>,
    pub live_points: u64,
    pub tiers: Vec<TierStats>,
    pub cache: CacheStats,
    pub lifecycle: LifecycleStats,
    pub recovery: RecoveryStats,
    pub rollups: RollupStats,
    pub pressure: PressureStats,
}

/// One lifecycle pass: what to seal, move, recompress and expire, all committed at once. The
/// TypeScript policy decides; the engine carries it out.
#[derive(Debug, Clone, Default)]
pub struct PassPlan {
    /// The pass's clock: windows that end after it are never moved.
    pub now: i64,
    /// Move live points older than this into hourly partitions.
    pub seal_before: Option<i64>,
    /// Points older than this are gone: partitions whose window ended by then are deleted.
    pub expire_before: Option<i64>,
    /// Retention per metric pattern (`*` for any run of characters), first match wins: points
    /// of a series a pattern names older than its horizon are gone instead.
    pub expire_rules: Vec<(String, i64)>,
    /// Move every window of the next tier that has ended and whose finer partitions are all
    /// ripe into one partition of that tier (cascading down the tiers in one pass).
    pub cascade: bool,
    /// Partitions the policy judges ripe.
    pub ripe: HashSet<u64>,
    /// A partition written by this pass is ripe once its window ended this long ago, per
    /// tier (`None`: never).
    pub ripe_after_ms: [Option<i64>; 4],
    /// Compaction of explicit windows, in order: (target tier, any time in the window).
    pub compact: Vec<(Tier, i64)>,
    /// The compression rule per tier: new partitions follow it, and with `recompress` every
    /// partition written under another rule is rewritten.
    pub lz4: [bool; 4],
    pub recompress: bool,
}

/// One compaction a pass made.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub inputs: Vec<PartitionMeta>,
    pub output: PartitionMeta,
    /// Rewritten only to follow another compression rule.
    pub recompression: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassReport {
    pub sealed_points: u64,
    pub moves: Vec<Move>,
    pub dropped: Vec<PartitionMeta>,
}
