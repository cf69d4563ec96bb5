import native = require('./native')
import type { NativeEngine, NativePressure, NativeSeriesList, NativeStats } from './native'
import { Rules, loadRules } from './config'
import { WarpError, guard, guardAsync, toWarpError } from './errors'
import { PutBuffer } from './buffer'
import { Lifecycle, LifecycleReport, PartitionScore } from './lifecycle'
import { Durability, Point, PutResult, RangeOptions, RangeResult, Series, SeriesOwner, SeriesSpec, badTimestamp, canonicalKey, ensureSeries, objectKey, storable, wellFormed } from './series'
import { Timestamp, describe, optionsOf, toMillis } from './args'
import { Selection, invalid, toSelector } from './select'
import { BoundedMap } from './cache'

/** Series handles cached by spec (each generation). */
const HANDLES = 65_536
const SERIES_CACHE = 1_048_576
import { Query, QueryResult, runQuery, runQuerySync } from './query'
import { Rollups } from './rollups'
import { Analyze, AnalyticsStats } from './analyze'
import { StreamHub } from './stream/hub'
import { Stream, StreamOptions, StreamStats, streamOptions } from './stream/stream'

export interface OpenOptions<D extends Durability = Durability> {
  /**
   * - `'sync'`: `put` returns a promise that resolves once the point is fsynced; concurrent
   *   writers share one fsync (group commit).
   * - `'interval'` (default): `put` returns at once; the WAL is fsynced every `flushIntervalMs`.
   *   A crash loses at most the last interval's writes.
   * - `'none'`: the WAL is handed to the OS every `flushIntervalMs` and never fsynced except by
   *   `flush()`, `checkpoint()` and `close()`.
   */
  durability?: D
  /** Flush period of the `interval` and `none` modes (default 100 ms). */
  flushIntervalMs?: number
  /** Open a damaged WAL by keeping every valid record; what was dropped is in `stats().recovery`. */
  repair?: boolean
  /** Size past which a WAL segment is closed and a new one begun (default 64 MiB). */
  segmentBytes?: number
  /** Write a checkpoint on `close()` so the next open replays nothing (default true). */
  checkpointOnClose?: boolean
  /** Memory budget of the decoded-block cache, the event horizon cache (default 256 MiB). */
  cacheBytes?: number
  /** Series names whose ids `put` keeps, to skip the name lookup (default 1,048,576; at most
   * twice that many are held, whatever the churn); series handles are cached up to the smaller
   * of this and 65,536. */
  seriesCacheSize?: number
  /** Queries reading at least this many points run on every core (default 500,000; 0: always). */
  parallelQueryPoints?: number
  /**
   * Memory bound of the live tier in bytes (default 512 MiB, at least 64 KiB). Past it the
   * engine seals the live tier to hourly partitions early, on a thread of its own, without
   * waiting for the lifecycle; a write that would take it past twice this (the hard limit)
   * waits or fails, per `onPressure`.
   */
  maxLiveBytes?: number
  /**
   * What a write does at the hard limit:
   * - `'block'` (default): it waits until the early seal has made room. The JS thread blocks
   *   meanwhile (about as long as sealing `maxLiveBytes` of points takes). If that seal fails
   *   (a full disk), the write throws `BACKPRESSURE` naming why instead of waiting for ever.
   * - `'fail'`: it throws `BACKPRESSURE` and leaves no trace; retry once `pressure()` shows room
   *   or `relieve()` has resolved. Single numeric puts that already returned (buffered in
   *   `interval` and `none` modes) are never refused: their hand-over waits instead.
   */
  onPressure?: 'block' | 'fail'
}

/** How full the live tier and the WAL buffer are, in bytes (see `WarpEngine.pressure`). */
export type Pressure = NativePressure

/** A series, its id, kind and the points a full read of it returns. */
export interface SeriesInfo {
  /** Stable for the life of the database (ids are never reused). */
  id: number
  key: string
  kind: 'numeric' | 'event'
  /** Points a full-range read returns. */
  points: number
}

/** Series from their native columns. */
function seriesInfos(list: NativeSeriesList): SeriesInfo[] {
  if (list.ids.length === 0) return []
  const keys = list.keys.split('\n')
  return keys.map((key, i) => ({ id: list.ids[i], key, kind: list.kinds[i] === 2 ? 'event' : 'numeric', points: list.points[i] }))
}

/** A link between two series (`a` < `b`, canonical keys). */
export interface Link {
  a: string
  b: string
  kind: string
  /** `declared` by `db.link`, or `discovered` by a stream's correlation. */
  origin: 'declared' | 'discovered'
  /** The correlation that made a discovered link. */
  score?: number
  /** When it was made or last confirmed, ms since the epoch. */
  since: number
}

/** A `findSeries` query: a selection, and a page of its result. */
export interface FindSeries extends Selection {
  limit?: number
  /** The id of the last series of the previous page. */
  after?: number
}

export type Stats = NativeStats & {
  durability: Durability
  /** Entries the name caches hold: numeric ids by put text, and series handles (both bounded). */
  caches: { names: number; handles: number }
  /** The lifecycle policy: last pass, last background error, every partition's entropy. */
  policy: ReturnType<Lifecycle['status']>
  /** Each stream opened in this process, by name. */
  streams: Record<string, StreamStats>
  /** Analyses run in this process, and the anomalies their significance tests found. */
  analytics: AnalyticsStats
}

/**
 * An open database directory.
 *
 * ```ts
 * const db = await WarpEngine.open('./data')
 * db.put('cpu{host="a"}', 0.42)
 * const { timestamps, values } = await db.range('cpu{host="a"}', 0, Date.now()) as NumericRange
 * await db.close()
 * ```
 */
export class WarpEngine<D extends Durability = 'interval'> {
  /** Handles by canonical key, and the same handles by the text and object specs seen: bounded,
   * so churning series names do not grow memory. */
  readonly #handles: BoundedMap<Series<D>>
  readonly #byText: BoundedMap<Series<D>>
  readonly #byObject: BoundedMap<Series<D>>
  /** Numeric series ids by the text `put` was given (the by-name fast path), bounded. */
  readonly #ids: BoundedMap<number>
  #native: NativeEngine | null
  #closing: Promise<void> | null = null
  readonly #pending = new PutBuffer(() => this.#engine())
  /** What series handles use of this database; not part of the public API. */
  readonly #owner: SeriesOwner
  /** The lifecycle policy: its rules (changeable at runtime) and each partition's entropy. */
  readonly lifecycle: Lifecycle
  /** Rollups (continuous aggregates): `create`, `list`, `drop`, `refresh`. */
  readonly rollups: Rollups
  /** Trend, anomalies, forecast and motifs of one numeric series. */
  readonly analyze: Analyze
  /** The streams and their operators. */
  readonly #hub: StreamHub

  private constructor(
    readonly dir: string,
    readonly durability: D,
    engine: NativeEngine,
    rules: Rules,
    seriesCache: number,
    flushIntervalMs: number,
  ) {
    this.#native = engine
    const handles = Math.min(HANDLES, seriesCache)
    this.#handles = new BoundedMap(handles)
    this.#byText = new BoundedMap(handles)
    this.#byObject = new BoundedMap(handles)
    this.#ids = new BoundedMap(seriesCache)
    this.#owner = {
      durability,
      live: () => this.#live(),
      engine: () => this.#engine(),
      buffer: (id, ts, value) => this.#pending.push(id, ts, value),
    }
    this.lifecycle = new Lifecycle(
      () => this.#live(),
      () => this.#hub.logRetention(),
    )
    this.rollups = new Rollups(() => this.#live())
    this.analyze = new Analyze({
      range: (series, from, to) => this.range(series, from, to),
      exists: (series) => guard(() => this.#live().seriesId(canonicalKey(series))) !== null,
    })
    this.lifecycle.use(rules)
    this.#hub = new StreamHub({ ...this.#owner, dir, flushIntervalMs })
  }

  /** Opens the database in `dir`, creating it if needed, and recovers its WAL. */
  static async open<D extends Durability = 'interval'>(dir: string, options: OpenOptions<D> = {}): Promise<WarpEngine<D>> {
    if (typeof dir !== 'string' || dir.length === 0) {
      throw new WarpError('INVALID_ARGUMENT', `dir must be a non-empty path, not ${describe(dir)}`)
    }
    const own = optionsOf(options, 'options')
    const durability = (own.durability ?? 'interval') as D
    own.durability = durability
    const seriesCache = own.seriesCacheSize ?? SERIES_CACHE
    if (!Number.isSafeInteger(seriesCache) || seriesCache < 1) {
      throw new WarpError('INVALID_ARGUMENT', `seriesCacheSize must be a positive whole number, not ${describe(seriesCache)}`)
    }
    delete own.seriesCacheSize
    const engine = await guardAsync(() => native.open(dir, own))
    try {
      return new WarpEngine(dir, durability, engine, await loadRules(engine), seriesCache, own.flushIntervalMs ?? 100)
    } catch (e) {
      await engine.close()
      throw e
    }
  }

  /** The native engine with every buffered put applied, or `CLOSED`. */
  #live(): NativeEngine {
    const engine = this.#engine()
    this.#pending.drain()
    return engine
  }

  /** The native engine as it is, or `CLOSED`. */
  #engine(): NativeEngine {
    if (this.#native === null) throw new WarpError('CLOSED', 'the database is closed')
    return this.#native
  }

  /** A handle on one series (cached): the fast path for repeated writes. */
  series(spec: SeriesSpec): Series<D>
  /** Every series with its kind and point count. */
  series(): SeriesInfo[]
  series(spec?: SeriesSpec): Series<D> | SeriesInfo[] {
    if (spec === undefined) {
      const engine = this.#live()
      return seriesInfos(guard(() => engine.seriesList()))
    }
    return this.#handle(spec)
  }

  /**
   * The series a selection matches, in id order, with their kind and point count: at most
   * `limit`, those after id `after` (the last id of the previous page).
   *
   * ```ts
   * let page = db.findSeries({ metric: 'cpu', where: { dc: 'eu' }, limit: 1000 })
   * while (page.length > 0) page = db.findSeries({ metric: 'cpu', where: { dc: 'eu' }, limit: 1000, after: page.at(-1)!.id })
   * ```
   */
  findSeries(query: FindSeries = {}): SeriesInfo[] {
    const { limit, after, ...selection } = optionsOf(query, 'findSeries query')
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) throw invalid('limit', `must be a whole number, not ${describe(limit)}`)
    if (after !== undefined && !(Number.isInteger(after) && after >= 0 && after <= 0xffffffff)) throw invalid('after', `must be a series id, not ${describe(after)}`)
    const selector = toSelector(selection)
    const engine = this.#live()
    return seriesInfos(guard(() => engine.findSeries(selector, limit, after)))
  }

  /**
   * Aggregates over time buckets, grouped by tags, or (with `table: true`) several metrics of
   * each tag set side by side; runs off the JS thread, on every core when it is large.
   *
   * ```ts
   * const { groups } = await db.query({
   *   metric: 'cpu.usage_user', where: { dc: 'eu' },
   *   from: Date.now() - 3_600_000, to: Date.now(),
   *   aggregate: ['avg', 'max', { percentile: 0.99 }], every: '1m', groupBy: 'hostname',
   * })
   * for (const g of groups) console.log(g.tags.hostname, g.timestamps, g.columns.avg)
   * ```
   */
  async query(query: Query): Promise<QueryResult> {
    return runQuery(this.#live(), query)
  }

  /** The synchronous twin of `query`, for small queries. */
  querySync(query: Query): QueryResult {
    return runQuerySync(this.#live(), query)
  }

  /** The newest point of every selected series, in one call (NaN values for event series). */
  lastpoint(selection: Selection = {}): { keys: string[]; timestamps: Float64Array; values: Float64Array } {
    const { metric, where } = optionsOf(selection, 'lastpoint selection')
    const selector = toSelector({ metric, where })
    const engine = this.#live()
    const { keys, timestamps, values } = guard(() => engine.lastpoint(selector))
    return { keys: keys === '' ? [] : keys.split('\n'), timestamps, values }
  }

  /** Every value of tag `tag` (of the metric name, without one) with how many series have it. */
  tagValues(tag?: string): { value: string; series: number }[] {
    if (tag !== undefined && typeof tag !== 'string') throw new WarpError('INVALID_ARGUMENT', `tag must be a string, not ${describe(tag)}`)
    const engine = this.#live()
    return guard(() => engine.tagValues(tag))
  }

  /** Appends a point (a number, or any JSON value as an event); `ts` defaults to now. */
  put(series: SeriesSpec, value: unknown, ts?: Timestamp): PutResult<D> {
    if (typeof series === 'string' && typeof value === 'number' && this.durability !== 'sync') {
      return this.#putByName(series, value, ts) as PutResult<D>
    }
    return this.#handle(series).put(value, ts)
  }

  /** A numeric put by text: the id from the name cache (the first time, from one native call
   * that finds or creates the series), and the point into the put buffer. */
  #putByName(name: string, value: number, ts?: Timestamp): void {
    const t = ts === undefined ? Date.now() : typeof ts === 'number' ? ts : toMillis(ts)
    const engine = this.#engine()
    if (!storable(t)) throw badTimestamp(t)
    let id = this.#ids.get(name)
    if (id === undefined) {
      id = guard(() => ensureSeries(engine, wellFormed(name), native.SeriesKind.Numeric))
      this.#ids.add(name, id)
    }
    this.#pending.push(id, t, value)
  }

  /** Appends numeric points from typed arrays, without per-point JS work. */
  putBatch(series: SeriesSpec, timestamps: Float64Array | BigInt64Array, values: Float64Array): PutResult<D> {
    return this.#handle(series).putBatch(timestamps, values)
  }

  /** The point at or before `ts`, or null. */
  get(series: SeriesSpec, ts: Timestamp): Point | null {
    return this.#handle(series).get(ts)
  }

  /** The newest point of a series, or null. */
  latest(series: SeriesSpec): Point | null {
    return this.#handle(series).latest()
  }

  /** Points with `from <= ts < to` (half-open, so consecutive reads tile) in time order: typed arrays for numbers, objects for events. */
  range(series: SeriesSpec, from: Timestamp, to: Timestamp, opts?: RangeOptions): Promise<RangeResult> {
    return this.#handle(series).range(from, to, opts)
  }

  /**
   * The stream `name` (made on first use; later calls with the same options return it):
   * events in, their fields stored as series `<name>.<field>{<key>=…}`, and windows, joins,
   * patterns, alerts and correlations over them. See docs/streams.md.
   *
   * ```ts
   * const s = db.stream('cpu', { key: 'host', timestamp: 'ts', fields: ['usage'] })
   * const w = s.window({ name: 'cpu_1m', type: 'tumbling', size: '1m', aggregate: { avg: { avg: 'usage' } } })
   * s.write({ host: 'a', ts: Date.now(), usage: 0.42 })
   * for await (const r of w) console.log(r.key, r.start, r.values.avg)
   * ```
   */
  stream(name: string, options: StreamOptions): Stream {
    this.#engine()
    const existing = this.#hub.streams.get(name)
    if (existing) {
      if (streamOptions(name, options) !== existing.options) throw new WarpError('INVALID_ARGUMENT', `stream '${name}' is already open with other options`)
      return existing
    }
    const stream = new Stream(name, options, { hub: this.#hub, engine: () => this.#engine(), buffer: (id, ts, v) => this.#pending.push(id, ts, v) })
    this.#hub.streams.set(name, stream)
    return stream
  }

  /** Writes and fsyncs every point accepted so far. */
  async flush(): Promise<void> {
    const engine = this.#live()
    await guardAsync(() => engine.flush())
  }

  /**
   * Links two existing series as related (undirected), with a kind (`'related'` by default);
   * queries with `withLinked: true` answer linked series beside the selected ones. Whether the
   * link is new.
   *
   * ```ts
   * db.link('temp{room=a}', 'power{room=a}', { kind: 'heats' })
   * db.links('temp{room=a}') // [{ a, b, kind: 'heats', origin: 'declared', since }]
   * ```
   */
  link(a: SeriesSpec, b: SeriesSpec, options: { kind?: string } = {}): boolean {
    const { kind = 'related' } = optionsOf(options, 'link options')
    if (typeof kind !== 'string') throw new WarpError('INVALID_ARGUMENT', `kind must be a string, not ${describe(kind)}`)
    const engine = this.#live()
    return guard(() => engine.link(canonicalKey(a), canonicalKey(b), kind))
  }

  /** Removes the links between two series (of one kind, or every kind); how many. */
  unlink(a: SeriesSpec, b: SeriesSpec, kind?: string): number {
    if (kind !== undefined && typeof kind !== 'string') throw new WarpError('INVALID_ARGUMENT', `kind must be a string, not ${describe(kind)}`)
    const engine = this.#live()
    return guard(() => engine.unlink(canonicalKey(a), canonicalKey(b), kind))
  }

  /** The links of one series, or every link: declared ones and those the stream layer discovered (with their score). */
  links(series?: SeriesSpec): Link[] {
    const engine = this.#live()
    const key = series === undefined ? undefined : canonicalKey(series)
    return guard(() => engine.links(key)).map((l) => {
      const link: Link = { a: l.a, b: l.b, kind: l.kind, origin: l.origin as Link['origin'], since: l.since }
      if (l.score != null) link.score = l.score
      return link
    })
  }

  /** Snapshots the live tier and retires the WAL segments it covers. */
  async checkpoint(): Promise<{ bytes: number }> {
    await this.#hub.snapshot()
    const engine = this.#live()
    const bytes = await guardAsync(() => engine.checkpoint())
    return { bytes }
  }

  /**
   * How full the live tier and the WAL buffer are, in bytes: cheap, for a producer to poll and
   * slow down before writes block or fail. Past `liveBound` an early seal runs (`sealing`); at
   * twice it writes wait or fail (`onPressure`).
   */
  pressure(): Pressure {
    const engine = this.#engine()
    return guard(() => engine.pressure())
  }

  /** Seals the live tier to hourly partitions now, whatever its fill; resolves to how many points. */
  async relieve(): Promise<number> {
    const engine = this.#live()
    return guardAsync(() => engine.relieve())
  }

  stats(): Stats {
    const engine = this.#live()
    const caches = { names: this.#ids.size, handles: this.#handles.size + this.#byText.size + this.#byObject.size }
    const streams = Object.fromEntries([...this.#hub.streams].map(([name, s]) => [name, s.stats()]))
    return { ...guard(() => engine.stats()), durability: this.durability, caches, policy: this.lifecycle.status(), streams, analytics: this.analyze.stats() }
  }

  /** Runs one full lifecycle pass now (seal, tier moves, recompression, retention). */
  async runLifecycle(options?: { now?: number }): Promise<LifecycleReport> {
    const { now } = optionsOf(options, 'runLifecycle options')
    this.#live()
    return this.lifecycle.run(now)
  }

  /** Every partition of every tier with its temporal entropy as of `now` (default: now). */
  partitions(options?: { now?: number }): PartitionScore[] {
    const { now } = optionsOf(options, 'partitions options')
    this.#live()
    return this.lifecycle.scores(now)
  }

  /** Writes a consistent copy of the database to `target` (a new or empty directory). */
  async backup(target: string): Promise<void> {
    if (typeof target !== 'string' || target.length === 0) {
      throw new WarpError('INVALID_ARGUMENT', `target must be a non-empty path, not ${describe(target)}`)
    }
    const engine = this.#live()
    await guardAsync(() => engine.backup(target))
  }

  /**
   * Makes everything durable, checkpoints and releases the directory. Calling it again, even
   * while the first call runs, returns the same outcome once closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    if (this.#native === null) return
    await this.lifecycle.settle()
    // Whatever the streams' last snapshot meets (a reducer's state that is not JSON, a full
    // disk), the engine is closed and the directory released; the first failure is reported.
    let failure: unknown
    try {
      await this.#hub.close()
    } catch (e) {
      failure = e
    }
    const engine = this.#native
    try {
      this.#pending.drain()
    } catch (e) {
      failure ??= e
    }
    this.#native = null
    try {
      await guardAsync(() => engine.close())
    } catch (e) {
      failure ??= e
    }
    if (failure !== undefined) throw toWarpError(failure)
  }

  /**
   * The handle of a series spec. Text specs are cached by their text; object specs by their
   * contents (own properties only), so a reused object that was changed names what it holds
   * now.
   */
  #handle(spec: SeriesSpec): Series<D> {
    const isText = typeof spec === 'string'
    const specKey = isText ? spec : spec !== null && typeof spec === 'object' ? objectKey(spec) : undefined
    const cache = isText ? this.#byText : this.#byObject
    const cached = specKey === undefined ? undefined : cache.get(specKey)
    if (cached) return cached
    this.#live()
    const key = canonicalKey(spec)
    let handle = this.#handles.get(key)
    if (!handle) {
      handle = new Series<D>(this.#owner, key)
      this.#handles.set(key, handle)
    }
    if (specKey !== undefined) cache.set(specKey, handle)
    return handle
  }
}
