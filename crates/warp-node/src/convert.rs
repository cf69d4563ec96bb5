//! Plain-object shapes returned to JavaScript and their conversion from core types.

use napi::bindgen_prelude::{Buffer, Float64Array};
use napi_derive::napi;
use warp_core::{RangeResult, RecoveryStats, SeriesInfo, SeriesKind, Stats, Value};

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
    // Timestamps stay within ±2^53, so they are exact as JavaScript numbers.
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

pub fn kind_name(kind: SeriesKind) -> String {
    kind.name().to_owned()
}

#[napi(object)]
pub struct NativeSeriesInfo {
    pub key: String,
    pub kind: String,
    pub points: f64,
}

pub fn series_info(info: SeriesInfo) -> NativeSeriesInfo {
    NativeSeriesInfo {
        key: info.key,
        kind: kind_name(info.kind),
        points: info.points as f64,
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
    pub duration_ms: f64,
}

#[napi(object)]
pub struct NativeStats {
    pub series: f64,
    pub points: f64,
    pub wal_bytes: f64,
    pub wal_segments: f64,
    pub wal_syncs: f64,
    pub buffered_bytes: f64,
    pub checkpoints_written: f64,
    pub last_checkpoint_bytes: f64,
    pub recovery: NativeRecovery,
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
        duration_ms: r.duration_ms,
    }
}

pub fn stats(s: Stats) -> NativeStats {
    NativeStats {
        series: s.series as f64,
        points: s.points as f64,
        wal_bytes: s.wal_bytes as f64,
        wal_segments: s.wal_segments as f64,
        wal_syncs: s.wal_syncs as f64,
        buffered_bytes: s.buffered_bytes as f64,
        checkpoints_written: s.checkpoints_written as f64,
        last_checkpoint_bytes: s.last_checkpoint_bytes as f64,
        recovery: recovery(s.recovery),
    }
}
