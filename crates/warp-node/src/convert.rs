//! What crosses the boundary: the enums and plain objects JavaScript sees, and their
//! conversion from and to core types. Each enum mirrors a core one; the matches are exhaustive,
//! so the compiler keeps them in step.

use napi::bindgen_prelude::{Buffer, Float64Array, Uint32Array, Uint8Array};
use napi_derive::napi;
use warp_core::{
    bound_from_f64, CacheStats, LifecycleStats, Move, PartitionInfo, PartitionMeta, PassPlan,
    PassReport, Pressure, PressureStats, RangeResult, RecoveryStats, SeriesInfo, Stats, TierStats,
    Value,
};

/// A JS number that must be a whole, non-negative count.
pub fn whole(name: &str, n: f64) -> warp_core::Result<u64> {
    if n.is_finite() && n.fract() == 0.0 && n >= 0.0 && n <= u64::MAX as f64 {
        // Checked above: a whole number in range, so the conversion is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(n as u64)
    } else {
        Err(warp_core::Error::InvalidArgument(format!(
            "{name} must be a whole non-negative number, not {n}"
        )))
    }
}

/// When an acknowledged write is on stable storage (see the README's durability section).
#[napi(string_enum = "lowercase")]
pub enum Durability {
    Sync,
    Interval,
    None,
}

impl From<Durability> for warp_core::Durability {
    fn from(d: Durability) -> Self {
        match d {
            Durability::Sync => warp_core::Durability::Sync,
            Durability::Interval => warp_core::Durability::Interval,
            Durability::None => warp_core::Durability::None,
        }
    }
}

/// What a write does at the live tier's hard limit (see the README's memory section).
#[napi(string_enum = "lowercase")]
pub enum OnPressure {
    /// Wait for the early seal to make room (the JS thread blocks).
    Block,
    /// Refuse the write with `BACKPRESSURE`.
    Fail,
}

impl From<OnPressure> for warp_core::OnPressure {
    fn from(p: OnPressure) -> Self {
        match p {
            OnPressure::Block => warp_core::OnPressure::Block,
            OnPressure::Fail => warp_core::OnPressure::Fail,
        }
    }
}

/// What a series holds: numbers or events (any JSON value). Numbered as the core numbers
/// them, and a number rather than a string: it crosses on the by-name put path.
#[napi]
pub enum SeriesKind {
    Numeric = 1,
    Event = 2,
}

impl From<SeriesKind> for warp_core::SeriesKind {
    fn from(k: SeriesKind) -> Self {
        match k {
            SeriesKind::Numeric => warp_core::SeriesKind::Numeric,
            SeriesKind::Event => warp_core::SeriesKind::Event,
        }
    }
}

impl From<warp_core::SeriesKind> for SeriesKind {
    fn from(k: warp_core::SeriesKind) -> Self {
        match k {
            warp_core::SeriesKind::Numeric => SeriesKind::Numeric,
            warp_core::SeriesKind::Event => SeriesKind::Event,
        }
    }
}

/// A storage tier below the live tier.
#[napi(string_enum = "lowercase")]
pub enum Tier {
    Hourly,
    Daily,
    Monthly,
    Yearly,
}

impl From<warp_core::Tier> for Tier {
    fn from(t: warp_core::Tier) -> Self {
        match t {
            warp_core::Tier::Hourly => Tier::Hourly,
            warp_core::Tier::Daily => Tier::Daily,
            warp_core::Tier::Monthly => Tier::Monthly,
            warp_core::Tier::Yearly => Tier::Yearly,
        }
    }
}

/// The order of a range's points.
#[napi(string_enum = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

#[napi(object)]
pub struct NativePoint {
    pub ts: f64,
    /// Set for numeric series.
    pub value: Option<f64>,
    /// Set for event series: the stored JSON bytes.
    pub payload: Option<Buffer>,
}

pub fn point(found: Option<(i64, Value)>) -> Option<NativePoint> {
    found.map(|(ts, value)| match value {
        Value::Number(v) => NativePoint {
            ts: ts as f64,
            value: Some(v),
            payload: None,
        },
        Value::Event(p) => NativePoint {
            ts: ts as f64,
            value: None,
            payload: Some(p.to_vec().into()),
        },
    })
}

#[napi(object)]
pub struct NativeRange {
    pub timestamps: Float64Array,
    /// Set for numeric series.
    pub values: Option<Float64Array>,
    /// Set for event series.
    pub payloads: Option<Vec<Buffer>>,
}

pub fn range(result: RangeResult) -> NativeRange {
    // Timestamps stay within the storable range, so they are exact as JavaScript numbers.
    let as_numbers = |ts: Vec<i64>| Float64Array::new(ts.into_iter().map(|t| t as f64).collect());
    match result {
        RangeResult::Numeric { timestamps, values } => NativeRange {
            timestamps: as_numbers(timestamps),
            values: Some(Float64Array::new(values)),
            payloads: None,
        },
        RangeResult::Event {
            timestamps,
            payloads,
        } => NativeRange {
            timestamps: as_numbers(timestamps),
            values: None,
            payloads: Some(payloads.iter().map(|p| p.to_vec().into()).collect()),
        },
    }
}

/// An empty range of a series that does not exist.
pub fn no_points() -> NativeRange {
    range(RangeResult::Numeric {
        timestamps: Vec::new(),
        values: Vec::new(),
    })
}

/// Series as columns: one string of keys (joined by newlines, which keys cannot hold) and one
/// typed array per field, so a million series cross into JavaScript as a handful of values.
#[napi(object)]
pub struct NativeSeriesList {
    /// Stable for the life of the database (never reused).
    pub ids: Uint32Array,
    pub keys: String,
    /// 1 numeric, 2 event.
    pub kinds: Uint8Array,
    /// Points a full-range read returns.
    pub points: Float64Array,
}

pub fn series_list(all: Vec<SeriesInfo>) -> NativeSeriesList {
    let mut keys = String::with_capacity(all.iter().map(|s| s.key.len() + 1).sum());
    for (i, s) in all.iter().enumerate() {
        if i > 0 {
            keys.push('\n');
        }
        keys.push_str(&s.key);
    }
    NativeSeriesList {
        ids: Uint32Array::new(all.iter().map(|s| s.id).collect()),
        keys,
        kinds: Uint8Array::new(all.iter().map(|s| s.kind as u8).collect()),
        points: Float64Array::new(all.iter().map(|s| s.points as f64).collect()),
    }
}

#[napi(object)]
pub struct NativeRecovery {
    pub checkpoint_loaded: bool,
    pub checkpoint_points: f64,
    pub replayed_points: f64,
    pub replayed_segments: f64,
    pub replayed_records: f64,
    pub replayed_bytes: f64,
    pub torn_bytes_truncated: f64,
    pub dropped_records: f64,
    pub dropped_bytes: f64,
    pub missing_segments: Vec<f64>,
    /// Bytes searched for resynchronisation markers after damage.
    pub scanned_bytes: f64,
    /// With `repair`: partitions left out because they failed their checks.
    pub dropped_partitions: Vec<String>,
    /// With `repair`: partitions with damaged blocks, rebuilt from the readable ones.
    pub repaired_partitions: Vec<String>,
    /// With `repair`: why the checkpoint could not be read (its live points are lost).
    pub lost_checkpoint: Option<String>,
    /// With `repair`: the manifest was missing or damaged and was rebuilt from the files.
    pub rebuilt_manifest: bool,
    pub duration_ms: f64,
}

#[napi(object)]
pub struct NativeStats {
    pub series: f64,
    /// Memory held by the series catalog and its tag index, in bytes.
    pub catalog_bytes: f64,
    /// Points a full-range read of every series returns.
    pub points: f64,
    pub wal_bytes: f64,
    pub wal_segments: f64,
    pub wal_syncs: f64,
    pub wormhole_hits: f64,
    pub buffered_bytes: f64,
    pub checkpoints_written: f64,
    pub last_checkpoint_bytes: f64,
    pub manifest_generation: f64,
    /// Points older than this are gone (retention); null if nothing has expired.
    pub retention_horizon: Option<f64>,
    pub live_points: f64,
    pub tiers: Vec<NativeTierStats>,
    pub cache: NativeCacheStats,
    pub lifecycle: NativeLifecycleStats,
    pub recovery: NativeRecovery,
    pub rollups: NativeRollupStats,
    pub pressure: NativePressureStats,
}

/// How full the live tier and the WAL buffer are, in bytes.
#[napi(object)]
pub struct NativePressure {
    /// Memory held by the live tier, with the points a seal is writing out.
    pub live_bytes: f64,
    /// Past it the live tier is sealed early; writes wait or fail at twice it.
    pub live_bound: f64,
    pub wal_buffered_bytes: f64,
    /// Past it writes hand the WAL buffer to the OS.
    pub wal_bound: f64,
    /// A seal is asked for or under way: memory drops when it commits.
    pub sealing: bool,
}

#[napi(object)]
pub struct NativePressureStats {
    pub live_bytes: f64,
    pub live_bound: f64,
    pub wal_buffered_bytes: f64,
    pub wal_bound: f64,
    /// Writes that met the hard limit: waited for room or were refused.
    pub engaged: f64,
    /// Time writes spent waiting for room, in total.
    pub engaged_ms: f64,
    /// Early seals that sealed points (asked for by the bound, or by `relieve()`).
    pub early_seals: f64,
    /// Writes refused with `BACKPRESSURE`.
    pub rejected: f64,
}

pub fn pressure(p: Pressure) -> NativePressure {
    NativePressure {
        live_bytes: p.live_bytes as f64,
        live_bound: p.live_bound as f64,
        wal_buffered_bytes: p.wal_buffered_bytes as f64,
        wal_bound: p.wal_bound as f64,
        sealing: p.sealing,
    }
}

fn pressure_stats(p: PressureStats) -> NativePressureStats {
    NativePressureStats {
        live_bytes: p.live_bytes as f64,
        live_bound: p.live_bound as f64,
        wal_buffered_bytes: p.wal_buffered_bytes as f64,
        wal_bound: p.wal_bound as f64,
        engaged: p.engaged as f64,
        engaged_ms: p.engaged_ms,
        early_seals: p.early_seals as f64,
        rejected: p.rejected as f64,
    }
}

#[napi(object)]
pub struct NativeRollupStats {
    pub rollups: f64,
    pub refreshes: f64,
    pub cells_written: f64,
    /// Queries answered from a rollup.
    pub queries: f64,
    /// Source series with points not materialized yet.
    pub dirty_series: f64,
}

#[napi(object)]
pub struct NativeTierStats {
    pub tier: Tier,
    pub partitions: f64,
    /// Points stored in the tier's files (a point rewritten later counts in each copy).
    pub points: f64,
    pub bytes: f64,
}

#[napi(object)]
pub struct NativeCacheStats {
    pub hits: f64,
    pub misses: f64,
    pub hit_rate: f64,
    pub evictions: f64,
    pub entries: f64,
    pub bytes: f64,
    pub capacity: f64,
}

#[napi(object)]
pub struct NativeLifecycleStats {
    pub passes: f64,
    pub seals: f64,
    pub sealed_points: f64,
    pub moves: f64,
    pub bytes_before: f64,
    pub bytes_after: f64,
    pub partitions_dropped: f64,
    pub bytes_dropped: f64,
    /// Files a commit no longer needed but could not delete (the next open deletes them).
    /// Series dropped from the catalog: no point left inside retention.
    pub series_dropped: f64,
    pub cleanup_failures: f64,
}

#[napi(object)]
pub struct NativePartition {
    pub id: f64,
    pub tier: Tier,
    /// Directory relative to `temporal/`.
    pub dir: String,
    pub start: f64,
    pub end: f64,
    pub min_ts: f64,
    pub max_ts: f64,
    pub points: f64,
    pub series: f64,
    pub blocks: f64,
    pub bytes: f64,
    pub lz4: bool,
    pub reads: f64,
    pub last_read_ms: f64,
}

fn partition_meta(m: PartitionMeta) -> NativePartition {
    partition(PartitionInfo {
        meta: m,
        reads: 0,
        last_read_ms: 0,
    })
}

pub fn partition(p: PartitionInfo) -> NativePartition {
    let m = p.meta;
    NativePartition {
        id: m.id as f64,
        tier: m.tier.into(),
        dir: m.dir,
        start: m.start as f64,
        end: m.end as f64,
        min_ts: m.min_ts as f64,
        max_ts: m.max_ts as f64,
        points: m.points as f64,
        series: m.series as f64,
        blocks: m.blocks as f64,
        bytes: m.bytes as f64,
        lz4: m.lz4,
        reads: p.reads as f64,
        last_read_ms: p.last_read_ms as f64,
    }
}

fn tier_stats(t: TierStats) -> NativeTierStats {
    NativeTierStats {
        tier: t.tier.into(),
        partitions: t.partitions as f64,
        points: t.points as f64,
        bytes: t.bytes as f64,
    }
}

fn cache_stats(c: CacheStats) -> NativeCacheStats {
    let lookups = c.hits + c.misses;
    NativeCacheStats {
        hits: c.hits as f64,
        misses: c.misses as f64,
        hit_rate: if lookups == 0 {
            0.0
        } else {
            c.hits as f64 / lookups as f64
        },
        evictions: c.evictions as f64,
        entries: c.entries as f64,
        bytes: c.bytes as f64,
        capacity: c.capacity as f64,
    }
}

fn lifecycle_stats(l: LifecycleStats) -> NativeLifecycleStats {
    NativeLifecycleStats {
        passes: l.passes as f64,
        seals: l.seals as f64,
        sealed_points: l.sealed_points as f64,
        moves: l.moves as f64,
        bytes_before: l.bytes_before as f64,
        bytes_after: l.bytes_after as f64,
        partitions_dropped: l.partitions_dropped as f64,
        bytes_dropped: l.bytes_dropped as f64,
        series_dropped: l.series_dropped as f64,
        cleanup_failures: l.cleanup_failures as f64,
    }
}

fn recovery(r: RecoveryStats) -> NativeRecovery {
    NativeRecovery {
        checkpoint_loaded: r.checkpoint_loaded,
        checkpoint_points: r.checkpoint_points as f64,
        replayed_points: r.replayed_points as f64,
        replayed_segments: r.wal.segments as f64,
        replayed_records: r.wal.records as f64,
        replayed_bytes: r.wal.bytes as f64,
        torn_bytes_truncated: r.wal.torn_bytes as f64,
        dropped_records: r.wal.dropped_records as f64,
        dropped_bytes: r.wal.dropped_bytes as f64,
        missing_segments: r.wal.missing_segments.iter().map(|&i| i as f64).collect(),
        scanned_bytes: r.wal.scanned_bytes as f64,
        dropped_partitions: r.dropped_partitions,
        repaired_partitions: r.repaired_partitions,
        lost_checkpoint: r.lost_checkpoint,
        rebuilt_manifest: r.rebuilt_manifest,
        duration_ms: r.duration_ms,
    }
}

pub fn stats(s: Stats) -> NativeStats {
    NativeStats {
        series: s.series as f64,
        catalog_bytes: s.catalog_bytes as f64,
        points: s.points as f64,
        wal_bytes: s.wal_bytes as f64,
        wal_segments: s.wal_segments as f64,
        wal_syncs: s.wal_syncs as f64,
        wormhole_hits: s.wormhole_hits as f64,
        buffered_bytes: s.buffered_bytes as f64,
        checkpoints_written: s.checkpoints_written as f64,
        last_checkpoint_bytes: s.last_checkpoint_bytes as f64,
        manifest_generation: s.manifest_generation as f64,
        retention_horizon: s.retention_horizon.map(|h| h as f64),
        live_points: s.live_points as f64,
        tiers: s.tiers.into_iter().map(tier_stats).collect(),
        cache: cache_stats(s.cache),
        lifecycle: lifecycle_stats(s.lifecycle),
        recovery: recovery(s.recovery),
        rollups: NativeRollupStats {
            rollups: s.rollups.rollups as f64,
            refreshes: s.rollups.refreshes as f64,
            cells_written: s.rollups.cells_written as f64,
            queries: s.rollups.queries as f64,
            dirty_series: s.rollups.dirty_series as f64,
        },
        pressure: pressure_stats(s.pressure),
    }
}

/// A value per tier.
#[napi(object)]
pub struct NativeTierFlags {
    pub hourly: bool,
    pub daily: bool,
    pub monthly: bool,
    pub yearly: bool,
}

/// An optional number per tier.
#[napi(object)]
pub struct NativeTierDurations {
    pub hourly: Option<f64>,
    pub daily: Option<f64>,
    pub monthly: Option<f64>,
    pub yearly: Option<f64>,
}

/// One lifecycle pass, as the policy decides it (see the core's `PassPlan`).
/// Points of series whose metric matches `metric` (`*`: any run of characters) older than
/// `before` are gone.
#[napi(object)]
pub struct NativeExpireRule {
    pub metric: String,
    pub before: f64,
}

#[napi(object)]
pub struct NativePassPlan {
    /// The pass's clock: windows that end after it are never moved.
    pub now: f64,
    /// Seal live points older than this into hourly partitions.
    pub seal_before: Option<f64>,
    /// Retention: points older than this are gone.
    pub expire_before: Option<f64>,
    /// Retention per metric pattern, first match wins (instead of `expire_before`).
    pub expire_rules: Option<Vec<NativeExpireRule>>,
    /// Ids of the partitions the policy judges ripe to move down a tier.
    pub ripe: Vec<f64>,
    /// A partition written by this pass is ripe once its window ended this long ago (absent:
    /// never).
    pub ripe_after_ms: NativeTierDurations,
    /// The compression rule per tier.
    pub lz4: NativeTierFlags,
    /// Rewrite partitions written under another compression rule.
    pub recompress: bool,
}

pub fn pass_plan(p: NativePassPlan) -> warp_core::Result<PassPlan> {
    let bound = |v: Option<f64>| v.map(bound_from_f64).transpose();
    let age = |name: &str, v: Option<f64>| {
        v.map(|ms| whole(name, ms).map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)))
            .transpose()
    };
    let r = &p.ripe_after_ms;
    Ok(PassPlan {
        now: bound_from_f64(p.now)?,
        seal_before: bound(p.seal_before)?,
        expire_before: bound(p.expire_before)?,
        expire_rules: p
            .expire_rules
            .unwrap_or_default()
            .into_iter()
            .map(|r| Ok((r.metric, bound_from_f64(r.before)?)))
            .collect::<warp_core::Result<_>>()?,
        cascade: true,
        ripe: p
            .ripe
            .iter()
            .map(|&id| whole("a ripe partition id", id))
            .collect::<warp_core::Result<_>>()?,
        ripe_after_ms: [
            age("ripeAfterMs.hourly", r.hourly)?,
            age("ripeAfterMs.daily", r.daily)?,
            age("ripeAfterMs.monthly", r.monthly)?,
            age("ripeAfterMs.yearly", r.yearly)?,
        ],
        compact: Vec::new(),
        lz4: [p.lz4.hourly, p.lz4.daily, p.lz4.monthly, p.lz4.yearly],
        recompress: p.recompress,
    })
}

#[napi(object)]
pub struct NativeMove {
    pub inputs: Vec<NativePartition>,
    pub output: NativePartition,
    /// Rewritten only to follow another compression rule.
    pub recompression: bool,
}

#[napi(object)]
pub struct NativePassReport {
    pub sealed_points: f64,
    pub moves: Vec<NativeMove>,
    pub dropped: Vec<NativePartition>,
}

pub fn pass_report(r: PassReport) -> NativePassReport {
    let moved = |m: Move| NativeMove {
        inputs: m.inputs.into_iter().map(partition_meta).collect(),
        output: partition_meta(m.output),
        recompression: m.recompression,
    };
    NativePassReport {
        sealed_points: r.sealed_points as f64,
        moves: r.moves.into_iter().map(moved).collect(),
        dropped: r.dropped.into_iter().map(partition_meta).collect(),
    }
}

/// A rule file, as stored.
#[napi(object)]
pub struct NativeRuleFile {
    pub name: String,
    pub text: String,
}
