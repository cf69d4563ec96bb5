import native = require('./native')
import type { ExternalObject, NativeEngine, NativeRange, Durability } from './native'
import { WarpError, guard, guardAsync, toWarpError } from './errors'
import { Timestamp, describe, optionsOf, toBound, toMillis } from './args'

export type { Durability }

/** `put` returns a promise (resolved after fsync) only in `sync` mode. */
export type PutResult<D extends Durability> = D extends 'sync' ? Promise<void> : void

/** A series: `'cpu'`, `'cpu{host="a"}'`, or `{ metric: 'cpu', tags: { host: 'a' } }`. */
export type SeriesSpec = string | { metric: string; tags?: Record<string, string> }

export interface Point<V = unknown> {
  ts: number
  value: V
}

export interface NumericRange {
  timestamps: Float64Array
  values: Float64Array
}

/** Typed arrays for numeric series, `{ ts, value }` objects for event series. */
export type RangeResult = NumericRange | Point[]

export interface RangeOptions {
  /** At most this many points: the first ones, or the last ones with `order: 'desc'`. */
  limit?: number
  order?: 'asc' | 'desc'
}

/** What a `Series` needs from its database. */
export interface SeriesOwner {
  readonly durability: Durability
  /** The native engine after draining buffered puts (reads and ordered writes), or `CLOSED`. */
  live(): NativeEngine
  /** The native engine without draining (series creation), or `CLOSED`. */
  engine(): NativeEngine
  /** Buffers one numeric point (interval and none durability). */
  buffer(id: number, ts: number, value: number): void
}

/** Whether `v` is a plain object: made by `{}` or `Object.create(null)`, not a class instance. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** A series object's metric and tags, from its own properties only (never inherited ones). */
function specParts(spec: object): { metric: string; keys: string[]; values: string[] } {
  if (!isPlainObject(spec)) throw new WarpError('INVALID_SERIES', `a series is a string or a plain { metric, tags } object, not ${describe(spec)}`)
  const metric = Object.hasOwn(spec, 'metric') ? spec.metric : undefined
  if (typeof metric !== 'string') throw new WarpError('INVALID_SERIES', `a series object needs a string metric, not ${describe(metric)}`)
  const tags = Object.hasOwn(spec, 'tags') ? spec.tags : undefined
  if (tags === undefined) return { metric, keys: [], values: [] }
  if (!isPlainObject(tags)) throw new WarpError('INVALID_SERIES', `tags must be a plain object, not ${describe(tags)}`)
  const keys = Object.keys(tags)
  if (keys.length > 1) keys.sort()
  const values = keys.map((k) => {
    const v = tags[k]
    if (typeof v !== 'string') throw new WarpError('INVALID_SERIES', `tag '${k}' must be a string, not ${describe(v)}`)
    return v
  })
  return { metric, keys, values }
}

/**
 * A key that names a series object by its contents (so a reused object that was changed
 * names what it holds now), distinct for distinct contents: every part is length-prefixed.
 * Only a cache key: the native layer validates.
 */
export function objectKey(spec: object): string {
  const { metric, keys, values } = specParts(spec)
  let key = `${metric.length}:${metric}`
  keys.forEach((k, i) => (key += `|${k.length}:${k}${values[i].length}:${values[i]}`))
  return key
}

/** The canonical text of a series spec (validated by the native layer). */
export function canonicalKey(spec: SeriesSpec): string {
  if (typeof spec === 'string') return guard(() => native.canonicalSeries(wellFormed(spec)))
  if (spec === null || typeof spec !== 'object') {
    throw new WarpError('INVALID_SERIES', `a series is a string or { metric, tags }, not ${describe(spec)}`)
  }
  const { metric, keys, values } = specParts(spec)
  for (const text of [metric, ...keys, ...values]) wellFormed(text)
  return guard(() => native.canonicalSeriesOf(metric, keys, values))
}

/** A lone UTF-16 surrogate has no UTF-8 form: passed on, it would become U+FFFD and two
 * different names would write to one series. */
export function wellFormed(text: string): string {
  if (!(text as WellFormedText).isWellFormed()) {
    throw new WarpError('INVALID_SERIES', `series names must be well-formed Unicode: ${JSON.stringify(text)} holds a lone surrogate`)
  }
  return text
}

/** Each engine's handle for `ensureSeries`, fetched once. */
const handles = new WeakMap<NativeEngine, ExternalObject<'Engine'>>()

/** The id of series `key` (any text form), created as `kind` if new: the call each new series
 * name costs the put path (a plain native function, which crosses faster than a method). */
export function ensureSeries(engine: NativeEngine, key: string, kind: native.SeriesKind): number {
  let handle = handles.get(engine)
  if (handle === undefined) handles.set(engine, (handle = engine.handle))
  return native.ensureSeries(handle, key, kind)
}

/** `String.prototype.isWellFormed` (Node 20+; ES2024, past this project's ES2022 typings):
 * fifteen times faster than a `\p{Cs}` regex, which matters when every new series name is checked. */
type WellFormedText = string & { isWellFormed(): boolean }

/** The storable range, from the native layer (years 0 to 9999), read once: the put path is hot. */
const MIN_TIMESTAMP = native.MIN_TIMESTAMP
const MAX_TIMESTAMP = native.MAX_TIMESTAMP

export function badTimestamp(t: number): WarpError {
  return new WarpError('INVALID_TIMESTAMP', `invalid timestamp: ${t} is not an integer number of milliseconds from ${MIN_TIMESTAMP} (year 0) to ${MAX_TIMESTAMP} (year 9999)`)
}

export function storable(t: number): boolean {
  return Number.isInteger(t) && t >= MIN_TIMESTAMP && t <= MAX_TIMESTAMP
}

function describeArray(v: unknown): string {
  return ArrayBuffer.isView(v) ? `a ${v.constructor.name}` : describe(v)
}

function encodeEvent(value: unknown): Buffer {
  if (value === undefined) throw new WarpError('INVALID_VALUE', 'value is undefined: pass a number or a JSON value')
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (e) {
    throw new WarpError('INVALID_VALUE', `value cannot be stored as JSON: ${(e as Error).message}`, { cause: e })
  }
  if (text === undefined) throw new WarpError('INVALID_VALUE', `value cannot be stored as JSON: ${describe(value)}`)
  return Buffer.from(text)
}

function decodePoint(p: { ts: number; value?: number; payload?: Buffer } | null | undefined): Point | null {
  if (!p) return null
  return { ts: p.ts, value: p.payload ? JSON.parse(p.payload.toString()) : p.value }
}

function decodeRange(r: NativeRange): RangeResult {
  if (r.values) return { timestamps: r.timestamps, values: r.values }
  const payloads = r.payloads ?? []
  return payloads.map((p, i) => ({ ts: r.timestamps[i], value: JSON.parse(p.toString()) }))
}

/** A range's bounds and options as the native layer takes them (which checks them). */
function rangeArgs(from: Timestamp, to: Timestamp, opts?: RangeOptions): [number, number, number | undefined, 'asc' | 'desc' | undefined] {
  const { limit, order } = optionsOf(opts, 'range options')
  return [toMillis(from, 'from'), toMillis(to, 'to'), limit, order]
}

/**
 * A handle on one series. It resolves the series' id once, so writing through it costs one
 * native call per point and no name lookup.
 */
export class Series<D extends Durability = Durability> {
  private numericId = -1
  private eventId = -1

  constructor(
    private readonly owner: SeriesOwner,
    /** The canonical form, e.g. `cpu{host="a"}`. */
    readonly key: string,
  ) {}

  /** Appends a point: a number goes to the numeric column, any other JSON value is an event. */
  put(value: unknown, ts?: Timestamp): PutResult<D> {
    const t = ts === undefined ? Date.now() : typeof ts === 'number' ? ts : toMillis(ts)
    if (typeof value === 'number' && this.owner.durability !== 'sync') {
      // The hot path: no native call per point (see PutBuffer). The buffered point must be
      // valid now, as the native layer would check it: only the timestamp can be wrong.
      this.owner.engine()
      if (!storable(t)) throw badTimestamp(t)
      if (this.numericId < 0) this.numericId = guard(() => ensureSeries(this.owner.engine(), this.key, native.SeriesKind.Numeric))
      this.owner.buffer(this.numericId, t, value)
      return undefined as PutResult<D>
    }
    const engine = this.owner.live()
    let seq: number
    try {
      if (typeof value === 'number') {
        seq = this.numericId >= 0 ? engine.putNumber(this.numericId, t, value) : this.putNew('numeric', (e) => e.putNewNumber(this.key, t, value))
      } else {
        const payload = encodeEvent(value)
        seq = this.eventId >= 0 ? engine.putEvent(this.eventId, t, payload) : this.putNew('event', (e) => e.putNewEvent(this.key, t, payload))
      }
    } catch (e) {
      throw toWarpError(e)
    }
    return this.acknowledge(seq)
  }

  /** Appends many numeric points; the typed arrays are read in place by the native layer. */
  putBatch(timestamps: Float64Array | BigInt64Array, values: Float64Array): PutResult<D> {
    const engine = this.owner.live()
    if (!(timestamps instanceof Float64Array || timestamps instanceof BigInt64Array)) {
      throw new WarpError('INVALID_ARGUMENT', `putBatch timestamps must be a Float64Array or a BigInt64Array, not ${describeArray(timestamps)}`)
    }
    if (!(values instanceof Float64Array)) {
      throw new WarpError('INVALID_ARGUMENT', `putBatch values must be a Float64Array, not ${describeArray(values)}`)
    }
    const seq = guard(() =>
      this.numericId >= 0 ? engine.putBatch(this.numericId, timestamps, values) : this.putNew('numeric', (e) => e.putNewBatch(this.key, timestamps, values)),
    )
    return this.acknowledge(seq)
  }

  /** The point at or before `ts` (as-of), or null. */
  get(ts: Timestamp): Point | null {
    const at = toBound(ts)
    const id = this.existingId()
    if (id === undefined) return null
    return decodePoint(guard(() => this.owner.live().get(id, at)))
  }

  /** The newest point, or null. */
  latest(): Point | null {
    const id = this.existingId()
    if (id === undefined) return null
    return decodePoint(guard(() => this.owner.live().latest(id)))
  }

  /** Points with `from <= ts < to` (half-open), in time order; read off the JS thread. */
  async range(from: Timestamp, to: Timestamp, opts?: RangeOptions): Promise<RangeResult> {
    const args = rangeArgs(from, to, opts)
    const engine = this.owner.live()
    return decodeRange(await guardAsync(() => engine.range(this.target(), ...args)))
  }

  /** The synchronous twin of `range`, for small reads. */
  rangeSync(from: Timestamp, to: Timestamp, opts?: RangeOptions): RangeResult {
    const args = rangeArgs(from, to, opts)
    return decodeRange(guard(() => this.owner.live().rangeSync(this.target(), ...args)))
  }

  /** The first write of a kind: the native layer checks it whole, then creates the series. */
  private putNew(kind: 'numeric' | 'event', write: (engine: NativeEngine) => [id: number, seq: number]): number {
    const [id, seq] = write(this.owner.live())
    if (kind === 'numeric') this.numericId = id
    else this.eventId = id
    return seq
  }

  /** The series for a read: its id once known, else its key (a series that does not exist
   * reads as empty). */
  private target(): number | string {
    if (this.numericId >= 0) return this.numericId
    if (this.eventId >= 0) return this.eventId
    return this.key
  }

  private existingId(): number | undefined {
    if (this.numericId >= 0) return this.numericId
    if (this.eventId >= 0) return this.eventId
    return guard(() => this.owner.live().seriesId(this.key)) ?? undefined
  }

  private acknowledge(seq: number): PutResult<D> {
    if (this.owner.durability !== 'sync') return undefined as PutResult<D>
    const engine = this.owner.live()
    return guardAsync(() => engine.waitDurable(seq)) as PutResult<D>
  }
}
