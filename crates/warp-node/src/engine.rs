//! `NativeEngine`: one open database, as the TypeScript `WarpEngine` class sees it.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use warp_core::{
    bound_from_f64, timestamp_from_f64, Engine, LinkOrigin, Options, RangeOptions, SeriesKey,
    Target, Write,
};

use crate::convert::{
    self, whole, Durability, NativePartition, NativePassPlan, NativePoint, NativePressure,
    NativeRange, NativeRuleFile, NativeSeriesList, NativeStats, OnPressure, Order, SeriesKind,
};
use crate::error::{IntoJs, Result};
use crate::query::{self, NativeLastpoint, NativeQuery, NativeQueryResult, NativeTable};
use crate::rollups::{self, NativeRollup, NativeRollupSpec};
use crate::select::{self, NativeSelector};
use crate::tasks::{guarded, job, Job};

#[napi(object)]
pub struct NativeTagValue {
    pub value: String,
    /// Live series with this value.
    pub series: f64,
}

#[napi(object)]
pub struct NativeLink {
    pub a: String,
    pub b: String,
    pub kind: String,
    /// `declared` or `discovered`.
    pub origin: String,
    pub score: Option<f64>,
    /// When it was made or last confirmed, ms since the epoch.
    pub since: f64,
}

#[napi(object)]
pub struct NativeOpenOptions {
    pub durability: Option<Durability>,
    pub flush_interval_ms: Option<f64>,
    pub repair: Option<bool>,
    pub segment_bytes: Option<f64>,
    pub checkpoint_on_close: Option<bool>,
    /// Memory budget of the decoded-block cache, in bytes.
    pub cache_bytes: Option<f64>,
    /// Queries reading at least this many points run on every core (0: always).
    pub parallel_query_points: Option<f64>,
    /// Memory bound of the live tier, in bytes: past it the engine seals early.
    pub max_live_bytes: Option<f64>,
    /// What a write does at twice `maxLiveBytes`.
    pub on_pressure: Option<OnPressure>,
}

fn options(js: Option<NativeOpenOptions>) -> warp_core::Result<Options> {
    let mut options = Options::default();
    let Some(js) = js else {
        return Ok(options);
    };
    if let Some(d) = js.durability {
        options.durability = d.into();
    }
    if let Some(ms) = js.flush_interval_ms {
        options.flush_interval = Duration::from_millis(whole("flushIntervalMs", ms)?);
    }
    if let Some(repair) = js.repair {
        options.repair = repair;
    }
    if let Some(bytes) = js.segment_bytes {
        options.segment_bytes = whole("segmentBytes", bytes)?;
    }
    if let Some(bytes) = js.cache_bytes {
        options.cache_bytes = usize::try_from(whole("cacheBytes", bytes)?).unwrap_or(usize::MAX);
    }
    if let Some(points) = js.parallel_query_points {
        options.parallel_query_points = whole("parallelQueryPoints", points)?;
    }
    if let Some(checkpoint) = js.checkpoint_on_close {
        options.checkpoint_on_close = checkpoint;
    }
    if let Some(bytes) = js.max_live_bytes {
        options.max_live_bytes =
            usize::try_from(whole("maxLiveBytes", bytes)?).unwrap_or(usize::MAX);
    }
    if let Some(policy) = js.on_pressure {
        options.on_pressure = policy.into();
    }
    options.validate()?;
    Ok(options)
}

/// Timestamps of points, as JavaScript numbers.
fn points_ts(ms: &[f64]) -> warp_core::Result<Vec<i64>> {
    ms.iter().map(|&t| timestamp_from_f64(t)).collect()
}

/// Timestamps of a batch: JavaScript numbers, or 64-bit integers read as they are.
fn batch_ts(ts: &Either<Float64ArraySlice, BigInt64ArraySlice>) -> warp_core::Result<Vec<i64>> {
    match ts {
        Either::A(ms) => points_ts(ms),
        Either::B(ints) => Ok(ints.to_vec()),
    }
}

/// A range's bounds and options, checked.
fn range_args(
    from: f64,
    to: f64,
    limit: Option<f64>,
    order: Option<Order>,
) -> warp_core::Result<(i64, i64, RangeOptions)> {
    let limit = limit
        .map(|l| whole("limit", l).map(|l| usize::try_from(l).unwrap_or(usize::MAX)))
        .transpose()?;
    let descending = matches!(order, Some(Order::Desc));
    let options = RangeOptions { limit, descending };
    Ok((bound_from_f64(from)?, bound_from_f64(to)?, options))
}

/// A series by id (a handle's) or by key (text, canonicalized by the core).
fn target(series: &Either<u32, String>) -> warp_core::Result<TargetKey> {
    Ok(match series {
        Either::A(id) => TargetKey::Id(*id),
        Either::B(key) => TargetKey::Key(SeriesKey::parse(key)?),
    })
}

enum TargetKey {
    Id(u32),
    Key(SeriesKey),
}

impl TargetKey {
    fn as_target(&self) -> Target<'_> {
        match self {
            TargetKey::Id(id) => Target::Id(*id),
            TargetKey::Key(key) => Target::Key(key),
        }
    }
}

/// Opens (creating if needed) the database in `dir`, replaying its WAL.
#[napi(ts_return_type = "Promise<NativeEngine>")]
pub fn open(
    dir: String,
    options_js: Option<NativeOpenOptions>,
) -> Result<AsyncTask<Job<Engine, NativeEngine>>> {
    let options = options(options_js).js()?;
    Ok(job(
        move || Engine::open(dir.as_ref(), options),
        NativeEngine::wrap,
    ))
}

#[napi]
pub struct NativeEngine {
    engine: Arc<Engine>,
}

/// The engine as a plain JavaScript value, for the few calls made once per new series on the
/// put path. They are plain functions taking it, not methods: napi-rs 3 records every
/// method's `&self` borrow (a registry entry, guards, a class check), which costs about
/// 0.25 µs a call, as much as the call's own work.
pub type EngineHandle = External<Arc<Engine>>;

/// The id of series `key` (any accepted text form), creating it as `kind` if new.
#[napi(ts_args_type = "engine: ExternalObject<'Engine'>, key: string, kind: SeriesKind")]
pub fn ensure_series(engine: &EngineHandle, key: String, kind: SeriesKind) -> Result<u32> {
    guarded(|| engine.ensure_named(&key, kind.into()))
}

impl NativeEngine {
    pub fn wrap(engine: Engine) -> Self {
        NativeEngine {
            engine: Arc::new(engine),
        }
    }

    /// A write to series `key`, creating it; `[id, seq]`.
    fn put_new<'a>(
        &self,
        key: &str,
        write: impl FnOnce() -> warp_core::Result<Write<'a>>,
    ) -> Result<Vec<f64>> {
        guarded(|| {
            let key = SeriesKey::parse(key)?;
            let (id, seq) = self.engine.write(Target::Key(&key), write()?)?;
            Ok(vec![id as f64, seq as f64])
        })
    }

    /// Resolves with nothing once `work` is done.
    fn done(
        &self,
        work: impl FnOnce(&Engine) -> warp_core::Result<()> + Send + 'static,
    ) -> AsyncTask<Job<(), ()>> {
        let engine = self.engine.clone();
        job(move || work(&engine), |()| ())
    }
}

#[napi]
impl NativeEngine {
    /// This engine as a plain value, for [`ensure_series`].
    #[napi(getter, ts_return_type = "ExternalObject<'Engine'>")]
    pub fn handle(&self) -> EngineHandle {
        External::new(self.engine.clone())
    }

    /// The id of the stream layer's series `__stream:<name>` (its log, its result logs),
    /// created as `kind` if new.
    #[napi]
    pub fn stream_series(&self, name: String, kind: SeriesKind) -> Result<u32> {
        guarded(|| self.engine.stream_series(&name, kind.into()))
    }

    /// The id of an existing series, or null.
    #[napi]
    pub fn series_id(&self, key: String) -> Result<Option<u32>> {
        guarded(|| self.engine.series_id(&SeriesKey::parse(&key)?))
    }

    /// Appends one numeric point; returns the write's sequence number.
    #[napi]
    pub fn put_number(&self, id: u32, ts: f64, value: f64) -> Result<f64> {
        guarded(|| self.engine.put_numeric(id, timestamp_from_f64(ts)?, value)).map(|s| s as f64)
    }

    /// Appends numeric points of many series at once (the TypeScript layer's put buffer).
    #[napi]
    pub fn put_points(
        &self,
        ids: Uint32ArraySlice,
        timestamps: Float64ArraySlice,
        values: Float64ArraySlice,
    ) -> Result<f64> {
        guarded(|| {
            let ts = points_ts(&timestamps)?;
            self.engine.put_points(&ids, &ts, &values)
        })
        .map(|s| s as f64)
    }

    /// Appends one event whose payload is the given bytes (JSON text).
    #[napi]
    pub fn put_event(&self, id: u32, ts: f64, payload: BufferSlice) -> Result<f64> {
        guarded(|| self.engine.put_event(id, timestamp_from_f64(ts)?, &payload)).map(|s| s as f64)
    }

    /// Appends a batch; the arrays are read in place, without a copy into JS objects.
    #[napi]
    pub fn put_batch(
        &self,
        id: u32,
        timestamps: Either<Float64ArraySlice, BigInt64ArraySlice>,
        values: Float64ArraySlice,
    ) -> Result<f64> {
        guarded(|| {
            let ts = batch_ts(&timestamps)?;
            self.engine.put_batch(id, &ts, &values)
        })
        .map(|s| s as f64)
    }

    /// The first numeric point through a series handle, to series `key`: created by the write
    /// if it does not exist (a write that is refused creates nothing). Returns `[id, seq]`.
    #[napi(ts_return_type = "[id: number, seq: number]")]
    pub fn put_new_number(&self, key: String, ts: f64, value: f64) -> Result<Vec<f64>> {
        self.put_new(&key, || {
            Ok(Write::Number {
                ts: timestamp_from_f64(ts)?,
                value,
            })
        })
    }

    /// The first event through a series handle (see `putNewNumber`).
    #[napi(ts_return_type = "[id: number, seq: number]")]
    pub fn put_new_event(&self, key: String, ts: f64, payload: BufferSlice) -> Result<Vec<f64>> {
        self.put_new(&key, || {
            Ok(Write::Event {
                ts: timestamp_from_f64(ts)?,
                payload: &payload,
            })
        })
    }

    /// The first batch through a series handle (see `putNewNumber`).
    #[napi(ts_return_type = "[id: number, seq: number]")]
    pub fn put_new_batch(
        &self,
        key: String,
        timestamps: Either<Float64ArraySlice, BigInt64ArraySlice>,
        values: Float64ArraySlice,
    ) -> Result<Vec<f64>> {
        let ts = batch_ts(&timestamps).js()?;
        self.put_new(&key, || {
            Ok(Write::Batch {
                timestamps: &ts,
                values: &values,
            })
        })
    }

    /// Resolves once write `seq` is fsynced (group commit: one fsync serves all waiters).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn wait_durable(&self, seq: f64) -> AsyncTask<Job<(), ()>> {
        self.done(move |e| e.wait_durable(whole("seq", seq)?))
    }

    /// Writes and fsyncs every write accepted so far.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self) -> AsyncTask<Job<(), ()>> {
        self.done(Engine::flush)
    }

    /// Commits a new manifest generation with a checkpoint of the live tier; resolves to its size.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn checkpoint(&self) -> AsyncTask<Job<u64, f64>> {
        let engine = self.engine.clone();
        job(move || engine.checkpoint(), |bytes| bytes as f64)
    }

    /// Makes everything durable, checkpoints and releases the directory.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Job<(), ()>> {
        self.done(Engine::close)
    }

    /// One lifecycle pass, committed at once; resolves to what it did.
    #[napi(ts_return_type = "Promise<NativePassReport>")]
    pub fn run_pass(
        &self,
        plan: NativePassPlan,
    ) -> Result<AsyncTask<Job<warp_core::PassReport, convert::NativePassReport>>> {
        let plan = convert::pass_plan(plan).js()?;
        let engine = self.engine.clone();
        Ok(job(move || engine.run_pass(&plan), convert::pass_report))
    }

    /// Writes a consistent copy of the database into `target` (new or empty, outside it).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn backup(&self, target: String) -> AsyncTask<Job<(), ()>> {
        self.done(move |e| e.backup(target.as_ref()))
    }

    /// The rule files there are, as stored.
    #[napi]
    pub fn read_rules(&self) -> Result<Vec<NativeRuleFile>> {
        guarded(|| self.engine.read_rules()).map(|files| {
            files
                .into_iter()
                .map(|(name, bytes)| NativeRuleFile {
                    name,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                })
                .collect()
        })
    }

    /// Replaces rule files, each atomically and durably.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn write_rules(&self, files: Vec<NativeRuleFile>) -> AsyncTask<Job<(), ()>> {
        let files: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|f| (f.name, f.text.into_bytes()))
            .collect();
        self.done(move |e| e.write_rules(&files))
    }

    /// Every partition with its read counts.
    #[napi]
    pub fn partitions(&self) -> Result<Vec<NativePartition>> {
        guarded(|| self.engine.partitions())
            .map(|all| all.into_iter().map(convert::partition).collect())
    }

    /// The point at or before `ts`, or null.
    #[napi]
    pub fn get(&self, id: u32, ts: f64) -> Result<Option<NativePoint>> {
        guarded(|| self.engine.get(id, bound_from_f64(ts)?)).map(convert::point)
    }

    /// The newest point, or null.
    #[napi]
    pub fn latest(&self, id: u32) -> Result<Option<NativePoint>> {
        guarded(|| self.engine.latest(id)).map(convert::point)
    }

    /// Points with `from <= ts < to` of a series by id or key (none if the key names no
    /// series), read on the thread pool.
    #[napi(ts_return_type = "Promise<NativeRange>")]
    pub fn range(
        &self,
        series: Either<u32, String>,
        from: f64,
        to: f64,
        limit: Option<f64>,
        order: Option<Order>,
    ) -> Result<AsyncTask<Job<Option<warp_core::RangeResult>, NativeRange>>> {
        let args = range_args(from, to, limit, order).js()?;
        let series = target(&series).js()?;
        let engine = self.engine.clone();
        Ok(job(
            move || engine.range_of(series.as_target(), args.0, args.1, args.2),
            |r| r.map_or_else(convert::no_points, convert::range),
        ))
    }

    /// The synchronous twin of `range`, for small reads.
    #[napi]
    pub fn range_sync(
        &self,
        series: Either<u32, String>,
        from: f64,
        to: f64,
        limit: Option<f64>,
        order: Option<Order>,
    ) -> Result<NativeRange> {
        guarded(|| {
            let (from, to, options) = range_args(from, to, limit, order)?;
            let series = target(&series)?;
            self.engine.range_of(series.as_target(), from, to, options)
        })
        .map(|r| r.map_or_else(convert::no_points, convert::range))
    }

    /// Every series with its kind and point count.
    #[napi]
    pub fn series_list(&self) -> Result<NativeSeriesList> {
        guarded(|| self.engine.series()).map(convert::series_list)
    }

    /// Every value of tag `name` (of the metric name, when absent) with its series count.
    #[napi]
    pub fn tag_values(&self, name: Option<String>) -> Result<Vec<NativeTagValue>> {
        guarded(|| self.engine.tag_values(name.as_deref())).map(|values| {
            values
                .into_iter()
                .map(|(value, series)| NativeTagValue {
                    value,
                    series: series as f64,
                })
                .collect()
        })
    }

    /// An aggregation query, run on the thread pool (and on every core when it is large).
    #[napi(ts_return_type = "Promise<NativeQueryResult>")]
    pub fn query(
        &self,
        query: NativeQuery,
    ) -> Result<AsyncTask<Job<warp_core::query::QueryResult, NativeQueryResult>>> {
        let spec = query::query_spec(query).js()?;
        let engine = self.engine.clone();
        Ok(job(move || engine.query(&spec), query::query_result))
    }

    /// The synchronous twin of `query`, for small queries.
    #[napi]
    pub fn query_sync(&self, query: NativeQuery) -> Result<NativeQueryResult> {
        guarded(|| self.engine.query(&query::query_spec(query)?)).map(query::query_result)
    }

    /// A table query, run on the thread pool.
    #[napi(ts_return_type = "Promise<NativeQueryResult>")]
    pub fn table(
        &self,
        table: NativeTable,
    ) -> Result<AsyncTask<Job<warp_core::query::TableResult, NativeQueryResult>>> {
        let spec = query::table_spec(table).js()?;
        let engine = self.engine.clone();
        Ok(job(move || engine.table(&spec), query::table_result))
    }

    /// The synchronous twin of `table`.
    #[napi]
    pub fn table_sync(&self, table: NativeTable) -> Result<NativeQueryResult> {
        guarded(|| self.engine.table(&query::table_spec(table)?)).map(query::table_result)
    }

    /// Declares a rollup and computes its cells over the stored data, on the thread pool.
    #[napi(ts_return_type = "Promise<NativeRollup>")]
    pub fn create_rollup(
        &self,
        spec: NativeRollupSpec,
    ) -> Result<AsyncTask<Job<warp_core::RollupInfo, NativeRollup>>> {
        let spec = rollups::spec(spec).js()?;
        let engine = self.engine.clone();
        Ok(job(move || engine.create_rollup(spec), rollups::info))
    }

    /// Drops a rollup and its cells; whether it existed.
    #[napi]
    pub fn drop_rollup(&self, name: String) -> Result<bool> {
        guarded(|| self.engine.drop_rollup(&name))
    }

    #[napi]
    pub fn rollups(&self) -> Result<Vec<NativeRollup>> {
        guarded(|| self.engine.rollups()).map(|all| all.into_iter().map(rollups::info).collect())
    }

    /// Computes every dirty rollup cell now, on the thread pool; resolves to how many.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn refresh_rollups(&self) -> Result<AsyncTask<Job<u64, f64>>> {
        let engine = self.engine.clone();
        Ok(job(move || engine.refresh_rollups(), |n| n as f64))
    }

    /// Links two existing series with a kind; whether the link is new.
    #[napi]
    pub fn link(
        &self,
        a: String,
        b: String,
        kind: String,
        discovered: Option<bool>,
        score: Option<f64>,
    ) -> Result<bool> {
        let origin = if discovered.unwrap_or(false) {
            LinkOrigin::Discovered
        } else {
            LinkOrigin::Declared
        };
        guarded(|| self.engine.link(&a, &b, &kind, origin, score))
    }

    /// Removes the links between two series (of one kind, or all); how many.
    #[napi]
    pub fn unlink(&self, a: String, b: String, kind: Option<String>) -> Result<f64> {
        guarded(|| self.engine.unlink(&a, &b, kind.as_deref())).map(|n| n as f64)
    }

    /// The links of one series, or all.
    #[napi]
    pub fn links(&self, series: Option<String>) -> Result<Vec<NativeLink>> {
        guarded(|| self.engine.links(series.as_deref())).map(|all| {
            all.into_iter()
                .map(|l| NativeLink {
                    a: l.a,
                    b: l.b,
                    kind: l.kind,
                    origin: match l.origin {
                        LinkOrigin::Declared => "declared",
                        LinkOrigin::Discovered => "discovered",
                    }
                    .to_owned(),
                    score: l.score,
                    since: l.since as f64,
                })
                .collect()
        })
    }

    /// The newest point of every selected series.
    #[napi]
    pub fn lastpoint(&self, selector: NativeSelector) -> Result<NativeLastpoint> {
        guarded(|| self.engine.lastpoint(&select::selector(selector)?)).map(query::lastpoint)
    }

    /// The series a selection matches, in id order: at most `limit`, after id `after`.
    #[napi]
    pub fn find_series(
        &self,
        selector: NativeSelector,
        limit: Option<f64>,
        after: Option<u32>,
    ) -> Result<NativeSeriesList> {
        guarded(|| {
            let selector = select::selector(selector)?;
            let limit = match limit {
                Some(n) => usize::try_from(whole("limit", n)?).unwrap_or(usize::MAX),
                None => usize::MAX,
            };
            self.engine.find_series(&selector, limit, after)
        })
        .map(convert::series_list)
    }

    /// How full the live tier and the WAL buffer are: cheap, for producers to poll.
    #[napi]
    pub fn pressure(&self) -> Result<NativePressure> {
        guarded(|| self.engine.pressure()).map(convert::pressure)
    }

    /// Seals the live tier early now, whatever its fill; resolves to how many points.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn relieve(&self) -> AsyncTask<Job<u64, f64>> {
        let engine = self.engine.clone();
        job(move || engine.relieve(), |n| n as f64)
    }

    #[napi]
    pub fn stats(&self) -> Result<NativeStats> {
        guarded(|| self.engine.stats()).map(convert::stats)
    }
}
