import { WarpError } from '../errors'
import { describe, duration } from '../args'
import { Acc, Aggregates, WindowAggregate } from './aggregates'
import { firstAbove, firstAtLeast } from './search'
import { Emitter, JSON_RESULTS, Operator, ResultCodec, StreamEvent, decodeTime, encodeTime } from './operator'

export type WindowType = 'tumbling' | 'sliding' | 'session'

export interface WindowSpec {
  /** Unique among the database's stream operators: names the window's state and results. */
  name: string
  type: WindowType
  /** Tumbling and sliding windows: width (ms or text such as `'1m'`). */
  size?: number | string
  /** Sliding windows: how far each window starts after the previous one (divides nothing: any value ≤ size). */
  slide?: number | string
  /** Session windows: a key's session ends after this long without an event. */
  gap?: number | string
  aggregate: Record<string, WindowAggregate>
  /** How long after a window closes a late event still updates it (re-emitted as `late`); later ones go to `late()`. Default 0. */
  lateness?: number | string
  /** `'close'` (default): one result when the watermark passes the window's end. `'update'`: also one per event, at once. */
  emit?: 'close' | 'update'
  /** Also write each closed window's aggregates as series `<stream>.<window>.<aggregate>{<key>=…}` at the window's start. */
  store?: boolean
  /**
   * Worker threads to split the window's keys over (default 0: the stream's own thread).
   * Each key stays on one worker, in arrival order; results come in an order fixed by the
   * input alone (see docs/streams.md). Declarative aggregates only: a custom reducer's
   * functions cannot be sent to another thread.
   */
  workers?: number
}

export interface WindowResult {
  window: string
  key: string
  /** The window, `[start, end)` in event time. */
  start: number
  end: number
  /** Events in the window. */
  count: number
  values: Record<string, unknown>
  /** `update`: an intermediate result (emit mode `update`); `close`: the on-time result; `late`: a revision after a late event. */
  kind: 'update' | 'close' | 'late'
  /** 0 for the on-time result, then 1, 2… for each late revision. */
  revision: number
  /** Final results only: the result's number in the window's sequence (1, 2, …), the same across a crash. */
  seq?: number
}

/** A window spec, checked: durations in milliseconds (size and slide 0 for sessions, gap 0 for the rest). */
export interface CheckedWindow {
  name: string
  type: WindowType
  size: number
  slide: number
  gap: number
  aggregate: WindowSpec['aggregate']
  lateness: number
  emit: 'close' | 'update'
  store: boolean
  workers: number
}

/** At most this many worker threads per window. */
export const MAX_WORKERS = 64

/** A window spec validated and copied from own properties. */
export function checkWindow(spec: unknown): CheckedWindow {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw invalid('spec', `must be an object, not ${describe(spec)}`)
  const own = (k: string): unknown => (Object.hasOwn(spec, k) ? (spec as Record<string, unknown>)[k] : undefined)
  const type = own('type')
  if (type !== 'tumbling' && type !== 'sliding' && type !== 'session') throw invalid('type', `must be 'tumbling', 'sliding' or 'session', not ${describe(type)}`)
  const size = type === 'session' ? 0 : duration(own('size'), 'window size')
  const slide = type === 'sliding' ? duration(own('slide'), 'window slide') : size
  if (slide > size) throw invalid('slide', `(${slide} ms) must not exceed the size (${size} ms)`)
  const gap = type === 'session' ? duration(own('gap'), 'session gap') : 0
  const emit = own('emit') ?? 'close'
  if (emit !== 'close' && emit !== 'update') throw invalid('emit', `must be 'close' or 'update', not ${describe(emit)}`)
  const store = own('store') ?? false
  if (typeof store !== 'boolean') throw invalid('store', `must be a boolean, not ${describe(store)}`)
  const lateness = own('lateness') === undefined ? 0 : duration(own('lateness'), 'window lateness', { allowZero: true })
  const workers = own('workers') === undefined ? 0 : own('workers')
  if (!Number.isSafeInteger(workers) || (workers as number) < 0 || (workers as number) > MAX_WORKERS) throw invalid('workers', `must be a whole number from 0 to ${MAX_WORKERS}, not ${describe(workers)}`)
  return { name: own('name') as string, type, size, slide, gap, aggregate: own('aggregate') as WindowSpec['aggregate'], lateness, emit, store, workers: workers as number }
}

function invalid(field: string, message: string): WarpError {
  return new WarpError('INVALID_ARGUMENT', `window ${field} ${message}`)
}

/** Inserts `x` into ascending `a` if absent (mostly an append: panes come in time order). */
function insertSorted(a: number[], x: number): void {
  if (a.length === 0 || a[a.length - 1] < x) return void a.push(x)
  const i = firstAtLeast(a, x)
  if (a[i] !== x) a.splice(i, 0, x)
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b]
  return a
}

type Spec = CheckedWindow

interface Panes {
  panes: Map<number, Acc>
  /** The starts of `panes`, ascending. */
  starts: number[]
  /** Final results emitted per window (by start): the next one's revision. */
  emitted: Map<number, number>
  /** Partial merges of whole chunks of panes (sliding windows), by chunk start. */
  chunks: Map<number, Chunk>
}

/**
 * A chunk of panes `[start, start + size)`, aligned to multiples of the window size, with the
 * merges of its panes from each one to its end (suffixes) and from its start to each one
 * (prefixes), each made once. Every sliding window covers the end of one chunk and the start
 * of the next, so its result is one suffix merged with one prefix: a constant cost per window
 * and per pane, instead of size/slide merges per window. The grouping of the merges depends
 * only on where panes are, so a restored window computes bit for bit what it would have.
 */
interface Chunk {
  suffix: (Acc | null)[] | null
  prefix: (Acc | null)[]
}

/**
 * Tumbling and sliding windows over panes (Li et al., "No pane, no gain"): time is cut into
 * panes of gcd(size, slide), every event is added to exactly one pane, and a window's result
 * merges its size/slide panes when it fires. An event's cost does not depend on how many
 * windows overlap it. Windows are aligned to the epoch, `[k·slide, k·slide + size)`.
 */
class PaneWindows {
  private readonly pane: number
  /** Per key: its panes by start, and how many final results each of its windows (by start) had. */
  private readonly keys = new Map<string, Panes>()
  /** Distinct pane starts holding data, ascending: what decides which windows fire next. */
  private starts: number[] = []
  private wm = -Infinity

  constructor(
    private readonly spec: Spec,
    private readonly aggs: Aggregates,
    private readonly out: Emitter<WindowResult>,
  ) {
    this.pane = gcd(spec.size, spec.slide)
  }

  add(input: number, e: StreamEvent): void {
    const { size, slide, lateness } = this.spec
    const p = Math.floor(e.ts / this.pane) * this.pane
    // The windows holding pane p start at multiples of `slide` in (p + pane − size, p].
    const last = Math.floor(p / slide) * slide
    if (last + size + lateness <= this.wm) return this.out.late(input, e)
    let k = this.keys.get(e.key)
    if (!k) this.keys.set(e.key, (k = { panes: new Map(), starts: [], emitted: new Map(), chunks: new Map() }))
    let acc = k.panes.get(p)
    if (!acc) {
      k.panes.set(p, (acc = this.aggs.empty()))
      insertSorted(this.starts, p)
      insertSorted(k.starts, p)
    }
    this.aggs.add(acc, e.ts, e.event)
    // A late event may change a pane already merged into a chunk's merges: they are made again.
    if (e.ts < this.wm && k.chunks.size > 0) k.chunks.delete(Math.floor(p / size) * size)
    for (let s = last; s + size > p; s -= slide) {
      const end = s + size
      // Windows that ended by the watermark were dealt with when it passed them.
      if (end <= this.wm) {
        if (end + lateness > this.wm) this.emit(e.key, k, s, 'late')
      } else if (this.spec.emit === 'update') this.emit(e.key, k, s, 'update')
    }
  }

  watermark(wm: number): void {
    if (wm <= this.wm) return
    const from = this.wm
    this.wm = wm
    for (let end = this.nextEnd(from); end !== undefined && end <= wm; end = this.nextEnd(end)) this.fire(end - this.spec.size)
    this.purge()
  }

  /** The end of the earliest window ending after `after` that holds data. */
  private nextEnd(after: number): number | undefined {
    const { size, slide } = this.spec
    // Panes at or before `after − size` are in no window ending after `after`.
    for (let i = firstAbove(this.starts, after - size); i < this.starts.length; i++) {
      const p = this.starts[i]
      // The first window end after `after` that holds pane p, if p is in any.
      const lo = Math.max(after + 1, p + this.pane)
      const end = Math.ceil((lo - size) / slide) * slide + size
      if (end - size <= p) return end
    }
    return undefined
  }

  private fire(start: number): void {
    const end = start + this.spec.size
    for (const [key, k] of this.keys) {
      // Does the key have a pane in [start, end)? At once for a key with data at the start, by
      // a binary search of its own panes otherwise.
      if (k.panes.has(start) || (k.starts[firstAbove(k.starts, start - 1)] ?? Infinity) < end) this.emit(key, k, start, 'close')
    }
  }

  private emit(key: string, k: Panes, start: number, kind: WindowResult['kind']): void {
    const end = start + this.spec.size
    const acc = kind === 'close' ? this.closing(k, start) : this.merged(k, start)
    let revision = 0
    if (kind !== 'update') {
      revision = k.emitted.get(start) ?? 0
      k.emitted.set(start, revision + 1)
    }
    const result: WindowResult = { window: this.spec.name, key, start, end, count: acc.n, values: this.aggs.result(acc), kind, revision }
    this.out.emit(result, kind !== 'update')
  }

  /** A window's panes merged one by one (updates and late revisions: not the common path). */
  private merged(k: Panes, start: number): Acc {
    const acc = this.aggs.empty()
    for (let p = start; p < start + this.spec.size; p += this.pane) {
      const a = k.panes.get(p)
      if (a) this.aggs.merge(acc, a)
    }
    return acc
  }

  /** A closing window's merge: its one pane (tumbling), or a chunk suffix and the next chunk's prefix. */
  private closing(k: Panes, start: number): Acc {
    const { size } = this.spec
    const width = size / this.pane
    if (width === 1) return k.panes.get(start) ?? this.aggs.empty()
    const first = Math.floor(start / size) * size
    const at = (start - first) / this.pane
    const acc = this.aggs.empty()
    const head = this.suffix(k, first)[at]
    if (head) this.aggs.merge(acc, head)
    if (at > 0) {
      const tail = this.prefix(k, first + size, at - 1)
      if (tail) this.aggs.merge(acc, tail)
    }
    // Chunks before this window's are done with.
    for (const c of k.chunks.keys()) if (c < first) k.chunks.delete(c)
    return acc
  }

  private chunk(k: Panes, start: number): Chunk {
    let c = k.chunks.get(start)
    if (!c) k.chunks.set(start, (c = { suffix: null, prefix: [] }))
    return c
  }

  /** The merges of chunk `start`'s panes from each to the chunk's end (null: no data). */
  private suffix(k: Panes, start: number): (Acc | null)[] {
    const c = this.chunk(k, start)
    if (c.suffix) return c.suffix
    const width = this.spec.size / this.pane
    const suffix: (Acc | null)[] = new Array(width).fill(null)
    let later: Acc | null = null
    for (let i = width - 1; i >= 0; i--) {
      const pane = k.panes.get(start + i * this.pane)
      if (pane) {
        const acc = this.aggs.copy(pane)
        if (later) this.aggs.merge(acc, later)
        later = acc
      }
      suffix[i] = later
    }
    return (c.suffix = suffix)
  }

  /** The merge of chunk `start`'s panes 0 to `upto` (null: no data), made pane by pane as windows need them. */
  private prefix(k: Panes, start: number, upto: number): Acc | null {
    const { prefix } = this.chunk(k, start)
    for (let i = prefix.length; i <= upto; i++) {
      const earlier = i > 0 ? prefix[i - 1] : null
      const pane = k.panes.get(start + i * this.pane)
      if (!pane) prefix.push(earlier)
      else {
        const acc = earlier ? this.aggs.copy(earlier) : this.aggs.empty()
        this.aggs.merge(acc, pane)
        prefix.push(acc)
      }
    }
    return prefix[upto]
  }

  /** Drops panes and revisions no window can use again: their last window closed more than `lateness` ago. */
  private purge(): void {
    const { size, slide, lateness } = this.spec
    const expired = (p: number) => Math.floor(p / slide) * slide + size + lateness <= this.wm
    if (this.starts.length === 0 || !expired(this.starts[0])) return
    let cut = 0
    while (cut < this.starts.length && expired(this.starts[cut])) cut++
    const gone = new Set(this.starts.slice(0, cut))
    this.starts = this.starts.slice(cut)
    for (const [key, k] of this.keys) {
      for (const p of gone) k.panes.delete(p)
      k.starts.splice(0, firstAbove(k.starts, this.starts.length > 0 ? this.starts[0] - 1 : Infinity))
      for (const s of k.emitted.keys()) if (s + size + lateness <= this.wm) k.emitted.delete(s)
      if (k.panes.size === 0 && k.emitted.size === 0) this.keys.delete(key)
    }
  }

  snapshot(): unknown {
    const keys = [...this.keys].map(([key, k]) => [key, [...k.panes].map(([p, a]) => [p, this.aggs.toJSON(a)]), [...k.emitted]])
    return { wm: encodeTime(this.wm), keys }
  }

  restore(state: unknown): void {
    const s = state as { wm: number | string; keys: [string, [number, unknown][], [number, number][]][] }
    this.wm = decodeTime(s.wm)
    this.keys.clear()
    const starts = new Set<number>()
    for (const [key, panes, emitted] of list(s.keys, 'keys')) {
      checkKey(key)
      for (const [p] of list(panes, `the panes of key ${key}`)) if (whole(p, 'a pane start') % this.pane !== 0) throw new Error(`pane start ${p} is not on a pane boundary`)
      for (const [start, revision] of list(emitted, `the results of key ${key}`)) {
        whole(start, 'a window start')
        count(revision, 'a revision')
      }
      const own = panes.map(([p]) => p).sort((a, b) => a - b)
      own.forEach((p) => starts.add(p))
      this.keys.set(key, { panes: new Map(panes.map(([p, a]) => [p, this.aggs.fromJSON(a)])), starts: own, emitted: new Map(emitted), chunks: new Map() })
    }
    this.starts = [...starts].sort((a, b) => a - b)
  }
}

interface Session {
  start: number
  /** Last event time + gap: the session is `[start, end)`. */
  end: number
  acc: Acc
  /** Results emitted for it so far (0: none yet). */
  emitted: number
}

/**
 * Session windows (Flink's merging windows): each event opens `[ts, ts + gap)`, and sessions
 * of a key that overlap it merge. A session closes when the watermark passes its end.
 */
class SessionWindows {
  private readonly keys = new Map<string, Session[]>()
  /** No unfired session ends before this (a lower bound, so most watermarks cost nothing). */
  private nextEnd = Infinity
  private wm = -Infinity

  constructor(
    private readonly spec: Spec,
    private readonly aggs: Aggregates,
    private readonly out: Emitter<WindowResult>,
  ) {}

  add(input: number, e: StreamEvent): void {
    const { gap, lateness } = this.spec
    // Sessions past their lateness are gone, whether or not a watermark has purged them yet.
    const sessions = (this.keys.get(e.key) ?? []).filter((s) => s.end + lateness > this.wm)
    let start = e.ts
    let end = e.ts + gap
    const overlapping = sessions.filter((s) => s.start < e.ts + gap && e.ts < s.end)
    for (const s of overlapping) {
      start = Math.min(start, s.start)
      end = Math.max(end, s.end)
    }
    if (end + lateness <= this.wm) return this.out.late(input, e)
    const acc = this.aggs.empty()
    let emitted = 0
    for (const s of overlapping) {
      this.aggs.merge(acc, s.acc)
      emitted = Math.max(emitted, s.emitted)
    }
    this.aggs.add(acc, e.ts, e.event)
    const merged: Session = { start, end, acc, emitted }
    const kept = sessions.filter((s) => !overlapping.includes(s))
    kept.push(merged)
    kept.sort((a, b) => a.start - b.start)
    this.keys.set(e.key, kept)
    if (end <= this.wm) this.emit(e.key, merged, 'late')
    else {
      this.nextEnd = Math.min(this.nextEnd, end)
      if (this.spec.emit === 'update') this.emit(e.key, merged, 'update')
    }
  }

  watermark(wm: number): void {
    if (wm <= this.wm) return
    const before = this.wm
    this.wm = wm
    if (wm < this.nextEnd && !this.mayPurge(before)) return
    let next = Infinity
    for (const [key, sessions] of this.keys) {
      for (const s of sessions) {
        if (s.end > before && s.end <= wm) this.emit(key, s, 'close')
        else if (s.end > wm) next = Math.min(next, s.end)
      }
      const alive = sessions.filter((s) => s.end + this.spec.lateness > wm)
      if (alive.length === 0) this.keys.delete(key)
      else if (alive.length !== sessions.length) this.keys.set(key, alive)
    }
    this.nextEnd = next
  }

  /** Whether closed sessions may have outlived their lateness (checked only when there is lateness). */
  private mayPurge(before: number): boolean {
    return this.spec.lateness > 0 && Math.floor(before / this.spec.lateness) !== Math.floor(this.wm / this.spec.lateness)
  }

  private emit(key: string, s: Session, kind: WindowResult['kind']): void {
    let revision = 0
    if (kind !== 'update') {
      revision = s.emitted
      s.emitted++
      if (kind === 'close' && revision > 0) kind = 'late'
    }
    const result: WindowResult = { window: this.spec.name, key, start: s.start, end: s.end, count: s.acc.n, values: this.aggs.result(s.acc), kind, revision }
    this.out.emit(result, kind !== 'update')
  }

  snapshot(): unknown {
    const keys = [...this.keys].map(([key, ss]) => [key, ss.map((s) => [s.start, s.end, s.emitted, this.aggs.toJSON(s.acc)])])
    return { wm: encodeTime(this.wm), keys }
  }

  restore(state: unknown): void {
    const s = state as { wm: number | string; keys: [string, [number, number, number, unknown][]][] }
    this.wm = decodeTime(s.wm)
    this.keys.clear()
    this.nextEnd = Infinity
    for (const [key, ss] of list(s.keys, 'keys')) {
      checkKey(key)
      for (const [start, end, emitted] of list(ss, `the sessions of key ${key}`)) {
        if (!(whole(start, 'a session start') < whole(end, 'a session end'))) throw new Error(`session [${start}, ${end}) is empty`)
        count(emitted, 'a session result count')
      }
      this.keys.set(key, ss.map(([start, end, emitted, acc]) => ({ start, end, emitted, acc: this.aggs.fromJSON(acc) })))
      for (const [, end] of ss) if (end > this.wm) this.nextEnd = Math.min(this.nextEnd, end)
    }
  }
}

const KINDS: WindowResult['kind'][] = ['update', 'close', 'late']

// Checks of a snapshot's parts: an Error says what is wrong (the restore is CORRUPT_CHECKPOINT).
function list<T>(v: T[], what: string): T[] {
  if (!Array.isArray(v) || v.some((x) => !Array.isArray(x))) throw new Error(`${what} are not a list of entries`)
  return v
}

function checkKey(key: unknown): void {
  if (typeof key !== 'string') throw new Error(`a key is ${JSON.stringify(key)}, not a string`)
}

function whole(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v)) throw new Error(`${what} is ${JSON.stringify(v)}, not a whole number`)
  return v as number
}

function count(v: unknown, what: string): number {
  if (whole(v, what) < 0) throw new Error(`${what} is ${v}, below 0`)
  return v as number
}

/**
 * Window results in the result log: numbers in one Float64Array (start, end, count, revision,
 * kind, then each aggregate, NaN for null), keys in a JSON header. Several times cheaper than
 * JSON, which spends its time printing doubles. Results with a value that is not a number
 * (custom reducers) fall back to JSON.
 */
export function windowCodec(window: string, names: string[]): ResultCodec<WindowResult> {
  const width = 5 + names.length
  return {
    encode(first, results) {
      const numeric = results.every((r) => names.every((n) => r.values[n] === null || typeof r.values[n] === 'number'))
      if (!numeric) return JSON_RESULTS.encode(first, results)
      const header = Buffer.from(JSON.stringify({ first, window, names, keys: results.map((r) => r.key) }))
      const pad = (8 - ((5 + header.length) % 8)) % 8
      const out = Buffer.alloc(5 + header.length + pad + results.length * width * 8)
      out[0] = BINARY
      out.writeUInt32LE(header.length, 1)
      header.copy(out, 5)
      const f = new Float64Array(out.buffer, out.byteOffset + 5 + header.length + pad, results.length * width)
      results.forEach((r, i) => {
        const at = i * width
        f[at] = r.start
        f[at + 1] = r.end
        f[at + 2] = r.count
        f[at + 3] = r.revision
        f[at + 4] = KINDS.indexOf(r.kind)
        names.forEach((n, j) => (f[at + 5 + j] = (r.values[n] as number | null) ?? NaN))
      })
      return out
    },
    decode(payload) {
      try {
        return check(payload[0] === BINARY ? decodeBinary(payload) : (JSON_RESULTS.decode(payload) as { first: number; results: WindowResult[] }))
      } catch (e) {
        throw new WarpError('CORRUPT_WAL', `a window result record is damaged: ${(e as Error).message}`, { cause: e })
      }
    },
  }
}

/** Binary window results, decoded by the aggregate names recorded with them (the window's aggregates may have changed since). */
function decodeBinary(payload: Buffer): { first: number; results: WindowResult[] } {
  const length = payload.readUInt32LE(1)
  const { first, names, keys, window } = JSON.parse(payload.subarray(5, 5 + length).toString()) as { first: number; names: string[]; keys: string[]; window: string }
  if (!Array.isArray(names) || !Array.isArray(keys)) throw new Error('the header lacks names or keys')
  const step = 5 + names.length
  const pad = (8 - ((5 + length) % 8)) % 8
  const bytes = payload.subarray(5 + length + pad)
  if (bytes.length !== keys.length * step * 8) throw new Error(`${bytes.length} bytes of numbers for ${keys.length} results`)
  const f = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))
  const results = keys.map((key, i): WindowResult => {
    const at = i * step
    const values: Record<string, unknown> = {}
    names.forEach((n, j) => (values[n] = Number.isNaN(f[at + 5 + j]) ? null : f[at + 5 + j]))
    return { window, key, start: f[at], end: f[at + 1], count: f[at + 2], values, kind: KINDS[f[at + 4]], revision: f[at + 3], seq: first + i }
  })
  return { first, results }
}

/** Decoded results that are what a window records, or an Error saying what is not. */
function check(d: { first: number; results: WindowResult[] }): { first: number; results: WindowResult[] } {
  if (d === null || typeof d !== 'object' || !Number.isSafeInteger(d.first) || d.first < 1 || !Array.isArray(d.results)) throw new Error('not a batch of numbered results')
  for (const r of d.results) {
    const ok = r !== null && typeof r === 'object' && typeof r.key === 'string' && KINDS.includes(r.kind) && [r.start, r.end, r.count, r.revision].every(Number.isFinite) && r.values !== null && typeof r.values === 'object'
    if (!ok) throw new Error(`a result is malformed: ${JSON.stringify(r)?.slice(0, 200)}`)
  }
  return d
}

/** The first byte of a binary window-results record (JSON ones begin with '{'). */
const BINARY = 1

/** A window operator of one stream (input 0): tumbling, sliding or session. */
export function windowOperator(spec: WindowSpec, out: Emitter<WindowResult>): Operator & { spec: Spec; aggregates: Aggregates } {
  const s = checkWindow(spec)
  const aggregates = new Aggregates(s.aggregate)
  const impl = s.type === 'session' ? new SessionWindows(s, aggregates, out) : new PaneWindows(s, aggregates, out)
  return {
    name: s.name,
    spec: s,
    aggregates,
    codec: windowCodec(s.name, aggregates.names) as ResultCodec,
    onEvent: (input, e) => impl.add(input, e),
    onWatermark: (_input, wm) => impl.watermark(wm),
    snapshot: () => impl.snapshot(),
    restore: (state) => impl.restore(state),
  }
}
