import { Writable } from 'node:stream'
import native = require('../native')
import type { NativeEngine } from '../native'
import { WarpError, guard, toWarpError } from '../errors'
import { describe, duration } from '../args'
import { BoundedMap } from '../cache'
import { ensureSeries, storable, wellFormed } from '../series'
import { EMPTY_BYTES, LOG_BATCH_BYTES, LogRecord, LogSchema, stringBytes } from './log'
import { Host } from './host'
import type { StreamHub } from './hub'
import { Emitter, Numbered, Operator, Output, StreamEvent } from './operator'
import { WindowResult, WindowSpec, checkWindow, windowOperator } from './window'
import { PartitionedWindows } from './partitioned'
import { IntervalJoinSpec, JoinResult, WindowJoinSpec, intervalJoin, windowJoin } from './join'
import { AlertEvent, AlertSpec, alertOperator } from './alerts'
import { PatternMatch, PatternSpec, patternOperator } from './pattern'
import { CorrelateSpec, CorrelationChange, SeriesRef, correlationOperator } from './correlate'

const { MAX_EVENT_BYTES } = native
/** What one event's log record may take: a batch holding it alone must fit in one event. */
const LOG_RECORD_BYTES = LOG_BATCH_BYTES - EMPTY_BYTES

export interface StreamOptions {
  /** The property that keys events (a string or number): windows, joins and patterns are per key, and the key is the series' tag. */
  key: string
  /** The property holding the event time (ms since the epoch, or a Date). Not needed with `time: 'processing'`. */
  timestamp?: string
  /** Numeric properties, each stored as series `<stream>.<field>{<key>=…}` and available to aggregates. */
  fields?: string[]
  /** String properties kept for operators (patterns, joins, alerts) beside the fields. */
  attributes?: string[]
  /** Also store every whole event (JSON) as event series `<stream>{<key>=…}`, and give operators the whole event. */
  keepEvents?: boolean
  /** `'event'` (default): the event's own time, with watermarks. `'processing'`: the time it arrives. */
  time?: 'event' | 'processing'
  /** How far out of order events may come (default `'1s'`): the watermark trails the newest event time by this. */
  outOfOrder?: number | string
  /** After this long without an event, the watermark moves on with the clock, so windows close on a quiet stream (default: never). */
  idle?: number | string
  /** What `write` does with a bad event: `'deadLetter'` (default) sends it to `deadLetters()` and the stream keeps going; `'throw'` throws a `WarpError` (code `INVALID_EVENT`). */
  onInvalid?: 'deadLetter' | 'throw'
  /** Results queued for slow consumers past which `write()` returns false (default 10,000). */
  highWaterMark?: number
}

/** An event the stream refused, and why. */
export interface DeadLetter {
  stream: string
  /** `NOT_AN_OBJECT`, `MISSING_KEY`, `INVALID_KEY`, `INVALID_TIMESTAMP`, `INVALID_FIELD`, `NON_FINITE`, `INVALID_ATTRIBUTE`, `INVALID_EVENT`. */
  code: string
  reason: string
  event: unknown
}

/** An event an operator dropped because it came later than its allowed lateness. */
export interface LateEvent {
  operator: string
  key: string
  ts: number
  event: Readonly<Record<string, unknown>>
}

export interface StreamStats {
  accepted: number
  deadLetters: number
  late: number
  /** The event-time watermark (null before the first event). */
  watermark: number | null
  keys: number
  backpressure: { engaged: number; engagedMs: number; active: boolean }
}

/** Keys whose series ids a stream keeps (bounded: churning keys do not grow memory). */
const KEY_CACHE = 65_536

/** One key's series ids per field (−1: not yet resolved) and its string-table slot in the log batch. */
interface KeyState {
  key: string
  ids: Int32Array
  events: number
  batch: number
  slot: number
}

/** What a stream needs from its database. */
export interface StreamOwner {
  hub: StreamHub
  engine(): NativeEngine
  buffer(id: number, ts: number, value: number): void
}

/**
 * A named stream of events. Each accepted event is written through the engine's write path
 * (its fields as series, under the database's durability mode) and handed to the stream's
 * operators (windows, joins, patterns, alerts, correlation) in the order it came.
 *
 * ```ts
 * const s = db.stream('cpu', { key: 'host', timestamp: 'ts', fields: ['usage'], outOfOrder: '2s' })
 * const w = s.window({ name: 'cpu_1m', type: 'tumbling', size: '1m', aggregate: { avg: { avg: 'usage' } } })
 * s.write({ host: 'a', ts: Date.now(), usage: 0.42 })
 * for await (const r of w) console.log(r.key, r.start, r.values.avg)
 * ```
 */
export class Stream {
  readonly keyField: string
  readonly timeField: string | undefined
  readonly fields: readonly string[]
  readonly attributes: readonly string[]
  readonly keep: boolean
  readonly processingTime: boolean
  readonly outOfOrder: number
  readonly idle: number | undefined
  readonly throwInvalid: boolean
  readonly highWaterMark: number
  /** The checked options as text, in a fixed order: a stream is reopened only with the same. */
  readonly options: string
  /** What of the options decides what operators see: part of their definitions. */
  readonly definition: string
  /** The operators reading this stream, with the input number it is to each. */
  readonly hosts: { host: Host; input: number }[] = []
  readonly lateOutput = new Output<LateEvent>()
  readonly deadLetterOutput = new Output<DeadLetter>()
  private readonly schema: LogSchema
  /** The event operators see, built by code made once per stream (fixed property names are far faster than computed ones). */
  private readonly projection: (key: string, ts: number, values: ArrayLike<number>, attributes: ArrayLike<string | undefined>) => Record<string, unknown>
  private readonly attributeValues: (string | undefined)[]
  /** Reads the key, time, fields and attributes (own properties only) into `own`, in that order. */
  private readonly read: (event: Record<string, unknown>, own: unknown[]) => void
  private readonly own: unknown[]
  /** The log batch generation and this stream's schema slot in it. */
  private schemaBatch = -1
  /** At most what the schema adds to a log batch's header (see `LogBatch.bytes`). */
  private readonly schemaBytes: number
  /** At most what a record adds to a log batch besides its strings. */
  private readonly recordBytes: number
  private schemaSlot = -1
  private readonly keys = new BoundedMap<KeyState>(KEY_CACHE)
  private readonly values: Float64Array
  private deadSeries = -1
  private deadAt = 0
  /** Whether the log must carry this stream's events (an operator needs them, now or after a restart). */
  private logging: boolean
  private maxTs = -Infinity
  private wm = -Infinity
  private lastArrival = 0
  private idleTimer: NodeJS.Timeout | null = null
  private ended = false
  private readonly counts = { accepted: 0, deadLetters: 0, late: 0 }
  private readonly pressure = { engaged: 0, engagedMs: 0, since: 0, active: false }
  private drainWaiters: (() => void)[] = []
  /** The poll that ends a spell of backpressure. */
  private relief: NodeJS.Timeout | null = null

  constructor(
    readonly name: string,
    options: StreamOptions,
    private readonly owner: StreamOwner,
  ) {
    const o = checkOptions(name, options)
    this.options = optionsText(o)
    this.definition = JSON.stringify([name, o.key, o.timestamp ?? null, o.fields, o.attributes, o.keepEvents, o.time, o.outOfOrder])
    this.keyField = o.key
    this.timeField = o.timestamp
    this.fields = o.fields
    this.attributes = o.attributes
    this.keep = o.keepEvents
    this.processingTime = o.time === 'processing'
    this.outOfOrder = o.outOfOrder
    this.idle = o.idle
    this.throwInvalid = o.onInvalid === 'throw'
    this.highWaterMark = o.highWaterMark
    this.values = new Float64Array(this.fields.length)
    this.schema = { name, fields: this.fields, attributes: this.attributes, keep: this.keep }
    this.schemaBytes = 3 * JSON.stringify(this.schema).length + 1
    this.recordBytes = this.schemaBytes + 20 + 8 * this.fields.length + 4 * this.attributes.length
    this.projection = projector(this.keyField, this.timeField, this.fields, this.attributes)
    this.attributeValues = this.attributes.map(() => undefined)
    const names = [this.keyField, this.timeField ?? '', ...this.fields, ...this.attributes]
    this.read = reader(names)
    this.own = names.map(() => undefined)
    this.logging = owner.hub.hasSnapshots(name)
    this.lateOutput.on(() => this.counts.late++)
  }

  /**
   * Accepts one event: checks it, writes its fields (and, with `keepEvents`, the whole event)
   * to the database and hands it to the operators. A bad event goes to `deadLetters()` (or
   * throws, with `onInvalid: 'throw'`) and changes nothing. Returns false when the caller
   * should wait for `'drain'` (`await s.drained()`) before writing more.
   */
  write(event: unknown): boolean {
    if (this.ended) throw new WarpError('CLOSED', `stream '${this.name}' is closed`)
    this.owner.hub.check()
    const e = event as Record<string, unknown>
    if (e === null || typeof e !== 'object' || Array.isArray(e)) return this.reject(event, 'NOT_AN_OBJECT', `an event is a plain object, not ${describe(event)}`)
    // With keepEvents the event is what JSON.stringify makes of it (toJSON, getters run once):
    // the stored event, the fields and what operators see all come from that one copy.
    let whole: string | undefined
    let source = e
    if (this.keep) {
      try {
        whole = JSON.stringify(event)
        source = whole === undefined ? (undefined as never) : JSON.parse(whole)
      } catch (err) {
        return this.reject(event, 'INVALID_EVENT', `the event cannot be stored as JSON: ${(err as Error).message}`)
      }
      if (source === null || typeof source !== 'object' || Array.isArray(source)) return this.reject(event, 'INVALID_EVENT', `the event's JSON form is ${describe(source)}, not an object`)
    }
    const own = this.own
    try {
      this.read(source, own)
    } catch (err) {
      return this.reject(event, 'INVALID_EVENT', `reading the event threw: ${(err as Error)?.message ?? err}`)
    }
    const rawKey = own[0]
    let key: string
    if (typeof rawKey === 'string') key = rawKey
    else if (typeof rawKey === 'number' && Number.isFinite(rawKey)) key = String(rawKey)
    else return this.reject(event, 'MISSING_KEY', rawKey === undefined ? `the key '${this.keyField}' is missing` : `the key '${this.keyField}' must be a string or a finite number, not ${describe(rawKey)}`)
    let ts: number
    if (this.processingTime) ts = Date.now()
    else {
      const t = own[1]
      ts = typeof t === 'number' ? t : t instanceof Date ? t.getTime() : NaN
      if (!storable(ts)) return this.reject(event, 'INVALID_TIMESTAMP', `the timestamp '${this.timeField}' must be whole milliseconds from year 0 to 9999 (a number or a Date), not ${describe(t)}`)
    }
    const fields = this.fields
    const values = this.values
    for (let i = 0; i < fields.length; i++) {
      const v = own[2 + i]
      if (v === undefined || v === null) values[i] = NaN
      else if (typeof v !== 'number') return this.reject(event, 'INVALID_FIELD', `field '${fields[i]}' must be a number, not ${describe(v)}`)
      else if (!Number.isFinite(v)) return this.reject(event, 'NON_FINITE', `field '${fields[i]}' is ${v}: only finite numbers are stored`)
      else values[i] = v
    }
    const attributes = this.attributeValues
    for (let i = 0; i < attributes.length; i++) {
      const v = own[2 + fields.length + i]
      if (v !== undefined && v !== null && typeof v !== 'string') return this.reject(event, 'INVALID_ATTRIBUTE', `attribute '${this.attributes[i]}' must be a string, not ${describe(v)}`)
      attributes[i] = v ?? undefined
    }
    const logBytes = this.logBytes(key, whole)
    if (logBytes > LOG_RECORD_BYTES) {
      const exact = this.exactLogBytes(key, whole)
      if (exact > LOG_RECORD_BYTES) return this.reject(event, 'INVALID_EVENT', `the event takes ${exact} bytes in the stream log, over the ${LOG_RECORD_BYTES} one log record may`)
    }
    let k: KeyState
    try {
      k = this.keys.get(key) ?? this.newKey(key)
    } catch (err) {
      return this.reject(event, 'INVALID_KEY', toWarpError(err).message)
    }
    this.store(k, ts, whole)
    this.counts.accepted++
    if (this.hosts.length > 0 || this.logging) this.process(k, ts, whole, source, logBytes)
    if (this.idle !== undefined) this.lastArrival = Date.now()
    return this.counts.accepted % 1024 === 0 ? !this.checkPressure() : !this.pressure.active
  }

  /** Writes many events; resolves once they are acknowledged under the database's durability mode (and backpressure has eased). */
  async writeBatch(events: Iterable<unknown>): Promise<void> {
    for (const e of events) if (!this.write(e)) await this.drained()
    await this.acknowledged()
  }

  /** Writes every event of an async (or sync) iterable, awaiting backpressure; resolves when all are acknowledged. */
  async consume(source: AsyncIterable<unknown> | Iterable<unknown>): Promise<number> {
    let n = 0
    for await (const e of source as AsyncIterable<unknown>) {
      n++
      if (!this.write(e)) await this.drained()
    }
    await this.acknowledged()
    return n
  }

  /** A `Writable` in object mode (for `stream.pipeline`): each write's callback runs once it is acknowledged. */
  writable(): Writable {
    return new Writable({
      objectMode: true,
      highWaterMark: 1024,
      writev: (chunks, done) => {
        try {
          for (const c of chunks) this.write(c.chunk)
        } catch (err) {
          return done(toWarpError(err))
        }
        this.drained()
          .then(() => this.acknowledged())
          .then(() => done(), (err) => done(toWarpError(err)))
      },
      final: (done) => {
        this.acknowledged().then(() => done(), (err) => done(toWarpError(err)))
      },
    })
  }

  /** Resolves when the stream is not holding writers back. */
  drained(): Promise<void> {
    if (!this.checkPressure()) return Promise.resolve()
    this.relief?.ref()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  /** A window over this stream (tumbling, sliding or session); its results as an async iterator. */
  window(spec: WindowSpec): Output<WindowResult> {
    let store: ((r: WindowResult) => void) | undefined
    const make = (out: Emitter<WindowResult>) => {
      const checked = checkWindow(spec)
      const op = checked.workers > 0 ? new PartitionedWindows(checked, out) : windowOperator(checked, out)
      if (op.spec.store) store = this.windowStore(op.name, op.aggregates.names)
      return op
    }
    return this.attach<WindowResult>('window', spec, make, [this], (r) => store?.(r))
  }

  /**
   * Joins this stream (left) with `other` (right) on the key: an interval join
   * (`{ name, between: ['-5s', '5s'] }`: every pair with `left.ts + lower ≤ right.ts ≤
   * left.ts + upper`, at once) or a window join (`{ name, window: { type: 'tumbling', size } }`:
   * the pairs of each window when it closes). State is bounded by the watermarks.
   */
  join(other: Stream, spec: IntervalJoinSpec | WindowJoinSpec): Output<Numbered<JoinResult>> {
    this.sameDatabase(other)
    const interval = spec !== null && typeof spec === 'object' && Object.hasOwn(spec, 'between')
    const make = (out: Emitter<JoinResult>) => (interval ? intervalJoin(spec as IntervalJoinSpec, out) : windowJoin(spec as WindowJoinSpec, out))
    return this.attach<JoinResult>(interval ? 'interval join' : 'window join', spec, make, [this, other])
  }

  /** Complex event processing: a pattern of steps matched per key in event time (Flink CEP's semantics). */
  pattern(spec: PatternSpec): Output<Numbered<PatternMatch>> {
    return this.attach<PatternMatch>('pattern', spec, (out) => patternOperator(spec, out), [this])
  }

  /**
   * An alert rule per key (threshold with `for` and hysteresis, rate of change, or absence of
   * data): its transitions pending → firing → resolved, also kept as event series
   * `<stream>.alert.<rule>{<key>=…}` so alert history can be queried.
   */
  alert(spec: AlertSpec): Output<Numbered<AlertEvent>> {
    let keep: ((a: AlertEvent) => void) | undefined
    return this.attach<AlertEvent>(
      'alert',
      spec,
      (out) => {
        const op = alertOperator(spec, out)
        keep = this.eventStore(`${this.name}.alert.${op.name}`)
        return op
      },
      [this],
      (a) => keep!(a),
    )
  }

  /**
   * Discovers correlated series: a rolling Pearson correlation over aligned buckets of the
   * fields of this stream (and of `others`); pairs whose |r| stays above the threshold are
   * linked in the link store (`origin: 'discovered'`, kind `'correlated'`, with the score),
   * and unlinked when it stays below. The changes are also this operator's results.
   */
  correlate(spec: CorrelateSpec, ...others: Stream[]): Output<Numbered<CorrelationChange>> {
    for (const o of others) this.sameDatabase(o)
    const inputs = [this, ...others]
    const key = (r: SeriesRef) => {
      const s = inputs[r.input]
      return native.canonicalSeriesOf(`${s.name}.${r.field}`, [s.keyField], [r.key])
    }
    return this.attach<CorrelationChange>(
      'correlation',
      spec,
      (out) => correlationOperator(spec, out, inputs.length),
      inputs,
      (c) => {
        const engine = this.owner.engine()
        if (c.linked) guard(() => engine.link(key(c.a), key(c.b), 'correlated', true, c.r))
        else guard(() => engine.unlink(key(c.a), key(c.b), 'correlated'))
      },
    )
  }

  /** Events an operator dropped as later than its allowed lateness (Flink's late side output). */
  late(): Output<LateEvent> {
    return this.lateOutput
  }

  /** Events the stream refused, with the reason. */
  deadLetters(): Output<DeadLetter> {
    return this.deadLetterOutput
  }

  stats(): StreamStats {
    const p = this.pressure
    const engagedMs = p.engagedMs + (p.active ? Date.now() - p.since : 0)
    return {
      ...this.counts,
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      keys: this.keys.size,
      backpressure: { engaged: p.engaged, engagedMs, active: p.active },
    }
  }

  /**
   * Attaches an operator reading `inputs` (this stream first): restores and replays it if it
   * was checkpointed. Its results come out of the returned `Output`.
   */
  attach<T>(kind: string, spec: unknown, make: (out: Emitter<T>) => Operator, inputs: Stream[], store?: (result: T) => void): Output<Numbered<T>> {
    const hub = this.owner.hub
    const host = new Host<T>(inputs, { engine: () => this.owner.engine(), wake: () => hub.wake() }, store, definitionOf(kind, spec, inputs))
    host.op = make(host)
    try {
      checkName('an operator', host.op.name)
      // Hosts of every result type share the hub's bookkeeping, which never reads a result.
      hub.attach(host as unknown as Host)
    } catch (e) {
      host.op.stop?.()
      throw e
    }
    for (const s of inputs) s.startLogging()
    return host.output as Output<Numbered<T>>
  }

  /** The event an operator sees, rebuilt from a log record exactly as `process` built it. */
  fromLog(rec: Extract<LogRecord, { key: string }>): StreamEvent {
    let values: ArrayLike<number> = rec.values
    let attributes: ArrayLike<string | undefined> = rec.attributes
    // Logged under other field or attribute names (or order): mapped by name.
    if (rec.fields.join('\n') !== this.fields.join('\n')) values = this.fields.map((f) => rec.values[rec.fields.indexOf(f)] ?? NaN)
    if (rec.attributeNames.join('\n') !== this.attributes.join('\n')) attributes = this.attributes.map((a) => rec.attributes[rec.attributeNames.indexOf(a)])
    const event = rec.event !== undefined ? this.declared(parseLogged(rec.event)) : this.projection(rec.key, rec.ts, values, attributes)
    return { key: rec.key, ts: rec.ts, event }
  }

  /** A whole event as operators get it: declared fields and attributes it lacks are own
   * `undefined` properties, so nothing on `Object.prototype` stands in for them. */
  private declared(event: Record<string, unknown>): Record<string, unknown> {
    for (const name of [...this.fields, ...this.attributes]) if (!Object.hasOwn(event, name)) event[name] = undefined
    return event
  }

  /** The stream's event-time watermark (−Infinity before any event). */
  get watermark(): number {
    return this.wm
  }

  /** After a recovery: the watermark the operators reached, so the stream (and its idle clock) goes on from there. */
  adopt(wm: number): void {
    if (!(wm > this.wm)) return
    this.wm = wm
    this.maxTs = Math.max(this.maxTs, wm + this.outOfOrder)
    if (this.lastArrival === 0) this.lastArrival = Date.now()
  }

  /** The watermark after an event at `ts`, given the watermark before it. */
  watermarkAfter(ts: number, before: number): number {
    return Math.max(before, ts - this.outOfOrder)
  }

  end(): void {
    this.ended = true
    if (this.idleTimer) clearInterval(this.idleTimer)
    this.lateOutput.end()
    this.deadLetterOutput.end()
    for (const w of this.drainWaiters.splice(0)) w()
  }

  private startLogging(): void {
    this.logging = true
    if (this.idle !== undefined && !this.idleTimer) {
      this.idleTimer = setInterval(() => this.idleTick(), Math.max(10, this.idle / 4))
      this.idleTimer.unref()
    }
  }

  /** With `idle`: a quiet stream's watermark follows the clock, and the advance is logged (replay must see it). */
  private idleTick(): void {
    if (this.ended || this.lastArrival === 0 || !Number.isFinite(this.maxTs)) return
    const quiet = Date.now() - this.lastArrival
    if (quiet < this.idle!) return
    const wm = this.maxTs - this.outOfOrder + quiet
    if (wm <= this.wm) return
    this.wm = wm
    const hub = this.owner.hub
    hub.fit(this.schemaBytes + 16)
    hub.batch.watermark(this.schemaIn(hub.batch), wm)
    hub.logged()
    for (const { host, input } of this.hosts) host.watermark(input, wm)
  }

  private newKey(key: string): KeyState {
    // Every key must be a tag value, whatever series it ends up in (fields, alerts, stored windows).
    native.canonicalSeriesOf(this.name, [this.keyField], [wellFormed(key)])
    const engine = this.owner.engine()
    const ids = new Int32Array(this.fields.length)
    for (let i = 0; i < ids.length; i++) {
      ids[i] = ensureSeries(engine, native.canonicalSeriesOf(`${this.name}.${this.fields[i]}`, [this.keyField], [key]), native.SeriesKind.Numeric)
    }
    const events = this.keep ? ensureSeries(engine, native.canonicalSeriesOf(this.name, [this.keyField], [key]), native.SeriesKind.Event) : -1
    const k: KeyState = { key, ids, events, batch: -1, slot: -1 }
    this.keys.set(key, k)
    return k
  }

  /** Writes the event's fields (and whole event) to their series. */
  private store(k: KeyState, ts: number, whole: string | undefined): void {
    const values = this.values
    for (let i = 0; i < values.length; i++) if (values[i] === values[i]) this.owner.buffer(k.ids[i], ts, values[i])
    if (whole !== undefined) guard(() => this.owner.engine().putEvent(k.events, ts, Buffer.from(whole)))
  }

  /** At most the bytes the event's log record adds to a batch (as `LogBatch.bytes` counts them). */
  private logBytes(key: string, whole: string | undefined, size = stringBytes, fixed = this.recordBytes): number {
    let bytes = fixed + size(key)
    const attributes = this.attributeValues
    for (let i = 0; i < attributes.length; i++) if (attributes[i] !== undefined) bytes += size(attributes[i]!)
    return whole === undefined ? bytes : bytes + size(whole)
  }

  /** The bytes the event's log record takes alone in a batch, exactly (the strings as the header's JSON holds them). */
  private exactLogBytes(key: string, whole: string | undefined): number {
    const json = (s: string) => Buffer.byteLength(JSON.stringify(s)) + 1
    return this.logBytes(key, whole, json, this.recordBytes - this.schemaBytes + Buffer.byteLength(JSON.stringify(this.schema)) + 1)
  }

  /** Logs the event and hands it to the operators, then moves the watermark. */
  private process(k: KeyState, ts: number, whole: string | undefined, parsed: Record<string, unknown>, logBytes: number): void {
    const hub = this.owner.hub
    hub.fit(logBytes)
    const batch = hub.batch
    if (k.batch !== batch.generation) {
      k.batch = batch.generation
      k.slot = batch.string(k.key)
    }
    batch.event(this.schemaIn(batch), k.slot, ts)
    const values = this.values
    for (let i = 0; i < values.length; i++) batch.value(values[i])
    const attributes = this.attributeValues
    for (let i = 0; i < attributes.length; i++) {
      const v = attributes[i]
      batch.attribute(v === undefined ? -1 : batch.string(v))
    }
    if (whole !== undefined) batch.whole(whole)
    hub.logged()
    if (this.hosts.length === 0) return
    const event = whole !== undefined ? this.declared(parsed) : this.projection(k.key, ts, values, attributes)
    const se: StreamEvent = { key: k.key, ts, event }
    if (ts > this.maxTs) this.maxTs = ts
    const wm = this.watermarkAfter(ts, this.wm)
    for (const { host, input } of this.hosts) host.event(input, se)
    if (wm > this.wm) {
      this.wm = wm
      for (const { host, input } of this.hosts) host.watermark(input, wm)
    }
  }

  /** This stream's schema slot in the current log batch. */
  private schemaIn(batch: StreamHub['batch']): number {
    if (this.schemaBatch !== batch.generation) {
      this.schemaBatch = batch.generation
      this.schemaSlot = batch.schema(this.schema)
    }
    return this.schemaSlot
  }

  private reject(event: unknown, code: string, reason: string): boolean {
    if (this.throwInvalid) throw new WarpError('INVALID_EVENT', `stream '${this.name}' refused an event (${code}): ${reason}`)
    this.counts.deadLetters++
    let json: string
    try {
      json = JSON.stringify({ code, reason, event }) ?? ''
    } catch {
      json = JSON.stringify({ code, reason, event: describe(event) })
    }
    // An event too large to keep is stored described (the dead-letter output still hands it over whole).
    if (Buffer.byteLength(json) > MAX_EVENT_BYTES) json = JSON.stringify({ code, reason, event: `${describe(event)} of ${json.length} characters in JSON, too large to keep` })
    const engine = this.owner.engine()
    if (this.deadSeries < 0) this.deadSeries = guard(() => ensureSeries(engine, `${this.name}.dead_letters`, native.SeriesKind.Event))
    // At arrival time, but never two at one millisecond: a series keeps one point per time.
    this.deadAt = Math.max(Date.now(), this.deadAt + 1)
    guard(() => engine.putEvent(this.deadSeries, this.deadAt, Buffer.from(json)))
    this.deadLetterOutput.push({ stream: this.name, code, reason, event })
    return !this.pressure.active
  }

  /** Whether writers must wait: results pile up for slow consumers. Updates the engagement counts. */
  private checkPressure(): boolean {
    const over = this.overloaded(this.highWaterMark)
    const p = this.pressure
    if (over && !p.active) {
      p.active = true
      p.engaged++
      p.since = Date.now()
      this.waitForRelief()
    }
    return over
  }

  /**
   * Whether writers must wait: a consumer has `limit` results unread, or the engine is past a
   * memory bound (the live tier's `maxLiveBytes`, which an early seal is bringing down, or the
   * WAL buffer's), where writes would soon block the thread or be refused.
   */
  private overloaded(limit: number): boolean {
    for (const { host } of this.hosts) if (host.output.pending + host.unrecorded >= limit) return true
    const engine = this.owner.engine()
    const e = guard(() => engine.pressure())
    return e.liveBytes >= e.liveBound || e.walBufferedBytes >= e.walBound
  }

  private waitForRelief(): void {
    const poll = setInterval(() => {
      if (!this.ended && this.overloaded(Math.ceil(this.highWaterMark / 2))) return
      clearInterval(poll)
      const p = this.pressure
      p.active = false
      p.engagedMs += Date.now() - p.since
      for (const w of this.drainWaiters.splice(0)) w()
    }, 1)
    // It keeps the process alive only while a writer awaits `drained()`.
    if (this.drainWaiters.length === 0) poll.unref()
    this.relief = poll
  }

  /** Resolves once everything written so far is acknowledged under the durability mode. */
  private acknowledged(): Promise<void> {
    return this.owner.hub.acknowledge()
  }

  private sameDatabase(other: Stream): void {
    if (!(other instanceof Stream) || other.owner.hub !== this.owner.hub) throw new WarpError('INVALID_ARGUMENT', 'streams joined or correlated must be streams of the same database')
  }

  /** Writes results that carry a key and a time as events of series `<metric>{<key>=…}`: at
   * their time, or a millisecond after the key's previous one (a series keeps one point per
   * millisecond; the result itself holds its exact time). */
  private eventStore(metric: string): (r: { key: string; ts: number }) => void {
    const keys = new BoundedMap<{ id: number; at: number }>(KEY_CACHE)
    return (r) => {
      const engine = this.owner.engine()
      let k = keys.get(r.key)
      if (k === undefined) keys.set(r.key, (k = { id: guard(() => ensureSeries(engine, native.canonicalSeriesOf(metric, [this.keyField], [r.key]), native.SeriesKind.Event)), at: -Infinity }))
      k.at = Math.max(r.ts, k.at + 1)
      guard(() => engine.putEvent(k!.id, k!.at, Buffer.from(JSON.stringify(r))))
    }
  }

  /** Writes each numeric aggregate of a closed window as a point of `<stream>.<window>.<aggregate>{<key>=…}`; a series is made at its first number. */
  private windowStore(window: string, names: string[]): (r: WindowResult) => void {
    const ids = new BoundedMap<Int32Array>(KEY_CACHE)
    return (r) => {
      let k = ids.get(r.key)
      if (!k) ids.set(r.key, (k = new Int32Array(names.length).fill(-1)))
      names.forEach((n, i) => {
        const v = r.values[n]
        if (typeof v !== 'number' || !Number.isFinite(v)) return
        if (k![i] < 0) {
          const engine = this.owner.engine()
          k![i] = guard(() => ensureSeries(engine, native.canonicalSeriesOf(`${this.name}.${window}.${n}`, [this.keyField], [r.key]), native.SeriesKind.Numeric))
        }
        this.owner.buffer(k![i], r.start, v)
      })
    }
  }}

/** The checked options as text, in a fixed order. */
function optionsText(o: ReturnType<typeof checkOptions>): string {
  return JSON.stringify([o.key, o.timestamp ?? null, o.fields, o.attributes, o.keepEvents, o.time, o.outOfOrder, o.idle ?? null, o.onInvalid, o.highWaterMark])
}

/** The options of stream `name`, checked, as text in a fixed order (how `db.stream` tells a reopen with the same options). */
export function streamOptions(name: string, options: unknown): string {
  return optionsText(checkOptions(name, options))
}

function checkOptions(name: string, options: unknown): Required<Omit<StreamOptions, 'timestamp' | 'idle' | 'outOfOrder'>> & { timestamp?: string; idle?: number; outOfOrder: number } {
  checkName('a stream', name)
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw bad('options', `must be an object, not ${describe(options)}`)
  const own = (k: string): unknown => (Object.hasOwn(options, k) ? (options as Record<string, unknown>)[k] : undefined)
  const key = own('key')
  if (typeof key !== 'string' || key.length === 0) throw bad('key', `must name the property that keys events, not ${describe(key)}`)
  const time = own('time') ?? 'event'
  if (time !== 'event' && time !== 'processing') throw bad('time', `must be 'event' or 'processing', not ${describe(time)}`)
  const timestamp = own('timestamp')
  if (timestamp !== undefined && (typeof timestamp !== 'string' || timestamp.length === 0)) throw bad('timestamp', `must name a property, not ${describe(timestamp)}`)
  if (time === 'event' && timestamp === undefined) throw bad('timestamp', `must name the event-time property (or use time: 'processing')`)
  const names = (k: string): string[] => {
    const v = own(k) ?? []
    if (!Array.isArray(v) || !v.every((f) => typeof f === 'string' && f.length > 0)) throw bad(k, `must be an array of property names, not ${describe(v)}`)
    if (new Set(v).size !== v.length) throw bad(k, 'names a property twice')
    return [...v]
  }
  const fields = names('fields')
  const attributes = names('attributes')
  // Operators get these as properties of plain objects, where `__proto__` would be the prototype.
  const named = [key, ...(timestamp === undefined ? [] : [timestamp]), ...fields, ...attributes]
  for (const n of named) if (n === '__proto__') throw bad('options', "cannot name the property '__proto__'")
  const twice = named.find((n, i) => named.indexOf(n) !== i)
  if (twice !== undefined) throw bad('options', `name the property '${twice}' twice (key, timestamp, fields and attributes are distinct properties)`)
  for (const f of fields) {
    // The field series must be nameable: fail now, not at the first event.
    guard(() => native.canonicalSeriesOf(`${name}.${f}`, [key], ['x']))
  }
  const keepEvents = own('keepEvents') ?? false
  if (typeof keepEvents !== 'boolean') throw bad('keepEvents', `must be a boolean, not ${describe(keepEvents)}`)
  const onInvalid = own('onInvalid') ?? 'deadLetter'
  if (onInvalid !== 'deadLetter' && onInvalid !== 'throw') throw bad('onInvalid', `must be 'deadLetter' or 'throw', not ${describe(onInvalid)}`)
  const highWaterMark = own('highWaterMark') ?? 10_000
  if (!Number.isSafeInteger(highWaterMark) || (highWaterMark as number) < 1) throw bad('highWaterMark', `must be a positive whole number, not ${describe(highWaterMark)}`)
  const outOfOrder = own('outOfOrder') === undefined ? 1000 : duration(own('outOfOrder'), 'outOfOrder', { allowZero: true })
  const idle = own('idle') === undefined ? undefined : duration(own('idle'), 'idle')
  return { key, time, timestamp: timestamp as string | undefined, fields, attributes, keepEvents, onInvalid, highWaterMark: highWaterMark as number, outOfOrder, idle }
}

/**
 * The function that builds the event operators see: key, time, fields and attributes, as an
 * object literal with fixed names.
 */
function projector(key: string, time: string | undefined, fields: readonly string[], attributes: readonly string[]): (key: string, ts: number, values: ArrayLike<number>, attributes: ArrayLike<string | undefined>) => Record<string, unknown> {
  const name = (n: string) => JSON.stringify(n)
  // Absent fields and attributes are own `undefined` properties: one shape for every event, and
  // nothing on a polluted `Object.prototype` stands in for them.
  const props = [
    `${name(key)}: k`,
    ...(time === undefined ? [] : [`${name(time)}: t`]),
    ...fields.map((f, i) => `${name(f)}: v[${i}] === v[${i}] ? v[${i}] : undefined`),
    ...attributes.map((a, i) => `${name(a)}: a[${i}]`),
  ]
  const body = `return { ${props.join(', ')} }`
  return new Function('k', 't', 'v', 'a', body) as ReturnType<typeof projector>
}

/**
 * The function that reads an event's properties `names` into an array: own properties only
 * (an inherited one, e.g. on a polluted `Object.prototype`, reads as missing), with fixed
 * names so the loads stay monomorphic on the hot path.
 */
function reader(names: string[]): (event: Record<string, unknown>, own: unknown[]) => void {
  const body = names.map((n, i) => `o[${i}] = has(e, ${JSON.stringify(n)}) ? e[${JSON.stringify(n)}] : undefined`).join('\n')
  return new Function('has', `return (e, o) => {\n${body}\n}`)(Object.hasOwn) as ReturnType<typeof reader>
}

/** A whole event from the log: an object, or the log is damaged. */
function parseLogged(text: string): Record<string, unknown> {
  let event: unknown
  try {
    event = JSON.parse(text)
  } catch (e) {
    throw new WarpError('CORRUPT_WAL', `a stream log batch is damaged: a kept event is not JSON (${(e as Error).message})`, { cause: e })
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new WarpError('CORRUPT_WAL', 'a stream log batch is damaged: a kept event is not an object')
  return event as Record<string, unknown>
}

/**
 * An operator's definition as text, the same for the same kind, inputs and options (keys in
 * any order; functions by their source): a snapshot restores only into the same definition.
 */
function definitionOf(kind: string, spec: unknown, inputs: Stream[]): string {
  const seen = new Set<unknown>()
  const plain = (v: unknown): unknown => {
    if (typeof v === 'function') return `function ${v.toString()}`
    if (typeof v === 'bigint' || typeof v === 'symbol') return String(v)
    if (v === null || typeof v !== 'object') return v
    if (seen.has(v)) throw new WarpError('INVALID_ARGUMENT', `the ${kind} options refer to themselves`)
    seen.add(v)
    const out = Array.isArray(v) ? v.map(plain) : Object.fromEntries(Object.keys(v).sort().map((k) => [k, plain((v as Record<string, unknown>)[k])]))
    seen.delete(v)
    return out
  }
  return JSON.stringify([kind, inputs.map((s) => s.definition), plain(spec)])
}

/** Stream and operator names name series and files: a letter or '_', then up to 127 letters, digits or '_'. */
function checkName(what: string, name: unknown): void {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) {
    throw new WarpError('INVALID_ARGUMENT', `${what} name is a letter or '_' then at most 127 letters, digits or '_' (it names series and files), not ${describe(name)}`)
  }
}

function bad(field: string, message: string): WarpError {
  return new WarpError('INVALID_ARGUMENT', `stream ${field} ${message}`)
}
