import native = require('./native')
import type { NativeEngine, NativeRange } from './native'
import { WarpError, guard, guardAsync, toWarpError } from './errors'
import { Timestamp, describe, toMillis } from './time'

/** When an acknowledged write is on stable storage; see the README's durability section. */
export type Durability = 'sync' | 'interval' | 'none'

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

const NO_POINTS: NumericRange = { timestamps: new Float64Array(0), values: new Float64Array(0) }

/** The canonical text of a series spec (validated by the native layer). */
export function canonicalKey(spec: SeriesSpec): string {
  if (typeof spec === 'string') return guard(() => native.canonicalSeries(spec))
  if (spec === null || typeof spec !== 'object' || typeof spec.metric !== 'string') {
    throw new WarpError('INVALID_SERIES', `a series is a string or { metric, tags }, not ${describe(spec)}`)
  }
  const tags = spec.tags ?? {}
  for (const [k, v] of Object.entries(tags)) {
    if (typeof v !== 'string') throw new WarpError('INVALID_SERIES', `tag '${k}' must be a string, not ${describe(v)}`)
  }
  return guard(() => native.canonicalSeriesOf(spec.metric, tags))
}

/** The same rule as the native layer's: a finite integer within ±(2^53 − 1). */
function badTimestamp(t: number): WarpError {
  return new WarpError('INVALID_TIMESTAMP', `invalid timestamp: ${t} is not an integer number of milliseconds within ±(2^53 − 1)`)
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

function rangeArgs(from: Timestamp, to: Timestamp, opts: RangeOptions = {}): [number, number, number | undefined, boolean] {
  const f = toMillis(from, 'from')
  const t = toMillis(to, 'to')
  if (f > t) throw new WarpError('INVALID_RANGE', `from (${f}) is after to (${t})`)
  const { limit, order = 'asc' } = opts
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0 && limit <= 0xffffffff)) {
    throw new WarpError('INVALID_ARGUMENT', `limit must be a non-negative integer, not ${describe(limit)}`)
  }
  if (order !== 'asc' && order !== 'desc') {
    throw new WarpError('INVALID_ARGUMENT', `order must be 'asc' or 'desc', not ${describe(order)}`)
  }
  return [f, t, limit, order === 'desc']
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
      // The hot path: no native call per point (see PutBuffer).
      this.owner.engine()
      if (!Number.isSafeInteger(t)) throw badTimestamp(t)
      this.owner.buffer(this.numericId >= 0 ? this.numericId : this.create('numeric'), t, value)
      return undefined as PutResult<D>
    }
    const engine = this.owner.live()
    let seq: number
    try {
      if (typeof value === 'number') {
        seq = engine.putNumber(this.numericId >= 0 ? this.numericId : this.create('numeric'), t, value)
      } else {
        const payload = encodeEvent(value)
        seq = engine.putEvent(this.eventId >= 0 ? this.eventId : this.create('event'), t, payload)
      }
    } catch (e) {
      throw toWarpError(e)
    }
    return this.acknowledge(seq)
  }

  /** Appends many numeric points; the typed arrays are read in place by the native layer. */
  putBatch(timestamps: Float64Array | BigInt64Array, values: Float64Array): PutResult<D> {
    if (!(timestamps instanceof Float64Array || timestamps instanceof BigInt64Array)) {
      throw new WarpError('INVALID_ARGUMENT', `timestamps must be a Float64Array or BigInt64Array, not ${describe(timestamps)}`)
    }
    if (!(values instanceof Float64Array)) {
      throw new WarpError('INVALID_ARGUMENT', `values must be a Float64Array, not ${describe(values)}`)
    }
    if (timestamps.length !== values.length) {
      throw new WarpError('INVALID_ARGUMENT', `${timestamps.length} timestamps but ${values.length} values`)
    }
    const engine = this.owner.live()
    const id = this.numericId >= 0 ? this.numericId : this.create('numeric')
    const seq = guard(() => engine.putBatch(id, timestamps, values))
    return this.acknowledge(seq)
  }

  /** The point at or before `ts` (as-of), or null. */
  get(ts: Timestamp): Point | null {
    const id = this.existingId()
    const at = toMillis(ts)
    if (id === undefined) return null
    return decodePoint(guard(() => this.owner.live().get(id, at)))
  }

  /** The newest point, or null. */
  latest(): Point | null {
    const id = this.existingId()
    if (id === undefined) return null
    return decodePoint(guard(() => this.owner.live().latest(id)))
  }

  /** Points with `from <= ts <= to`, in time order; read off the JS thread. */
  async range(from: Timestamp, to: Timestamp, opts?: RangeOptions): Promise<RangeResult> {
    const args = rangeArgs(from, to, opts)
    const id = this.existingId()
    if (id === undefined) return NO_POINTS
    const engine = this.owner.live()
    return decodeRange(await guardAsync(() => engine.range(id, ...args) as Promise<NativeRange>))
  }

  /** The synchronous twin of `range`, for small reads. */
  rangeSync(from: Timestamp, to: Timestamp, opts?: RangeOptions): RangeResult {
    const args = rangeArgs(from, to, opts)
    const id = this.existingId()
    if (id === undefined) return NO_POINTS
    return decodeRange(guard(() => this.owner.live().rangeSync(id, ...args)))
  }

  private create(kind: 'numeric' | 'event'): number {
    const id = guard(() => this.owner.engine().ensureSeries(this.key, kind))
    if (kind === 'numeric') this.numericId = id
    else this.eventId = id
    return id
  }

  private existingId(): number | undefined {
    if (this.numericId >= 0) return this.numericId
    if (this.eventId >= 0) return this.eventId
    return guard(() => this.owner.live().seriesId(this.key)) ?? undefined
  }

  private acknowledge(seq: number): PutResult<D> {
    if (this.owner.durability !== 'sync') return undefined as PutResult<D>
    const engine = this.owner.live()
    return guardAsync(() => engine.waitDurable(seq) as Promise<void>) as PutResult<D>
  }
}
