import { WarpError } from '../errors'
import { describe, duration } from '../args'
import { Emitter, Operator, StreamEvent, decodeTime, encodeTime } from './operator'

/**
 * Discovered correlation ("entanglement"): each tracked series (input, key, field) is averaged
 * per bucket of event time; when the watermark (the lowest of the inputs') passes a bucket's
 * end, the bucket closes and every pair with a value on both sides in it takes that joint
 * value into its rolling window and is scored. A pair links after `sustain` consecutive
 * scored buckets with |r| ≥ threshold and unlinks after `sustain` with |r| < threshold −
 * hysteresis. Nothing is decided before a bucket closes, and a bucket's mean is summed
 * exactly, so arrival order does not change a bit of the results. An event for a bucket that
 * has closed is late (`out.late`); one behind the watermark in a bucket still open counts.
 */
export interface CorrelateSpec {
  /** Unique among the database's stream operators: names the operator's state and results. */
  name: string
  /** Numeric fields of the stream(s) to consider. A tracked series is (input, key, field). */
  fields: string[]
  /** Alignment bucket: each series' values are averaged per bucket of this width (event time). */
  every: number | string
  /**
   * Buckets in the rolling window: a pair's r is over its last `window` buckets where both
   * series have a value (at least 3). A bucket missing either side is skipped, not counted;
   * a pair is scored only once its window is full.
   */
  window: number
  /** |r| at or above this links (0 < threshold ≤ 1). */
  threshold: number
  /** Consecutive scored buckets with |r| ≥ threshold before linking, and with |r| < threshold − hysteresis before unlinking. Default 3. */
  sustain?: number
  /** Default 0.1; must stay below the threshold. */
  hysteresis?: number
  /** Which pairs: 'fields' pairs the fields of one key (temp{room=a} ~ power{room=a}); 'all' every pair of tracked series. Default 'fields'. */
  pairs?: 'fields' | 'all'
  /**
   * Bound on tracked series (default 1,000), first come first tracked: values of series past
   * it are dropped and counted (`ignored`). Each pair keeps its window (2 × `window` numbers),
   * so 'all' keeps up to maxSeries²/2 of them.
   */
  maxSeries?: number
}

export interface SeriesRef {
  input: number
  key: string
  field: string
}

export interface CorrelationChange {
  /** The pair, `a` before `b` (by input, then key, then field). */
  a: SeriesRef
  b: SeriesRef
  /** Pearson r at the change. */
  r: number
  linked: boolean
  /** End of the bucket that decided it. */
  ts: number
}

/** A spec after `checkCorrelate`: every option present, `every` in milliseconds. */
export type CheckedCorrelate = Required<CorrelateSpec> & { every: number }

export type CorrelationOperator = Operator & {
  readonly spec: CheckedCorrelate
  /** Values dropped because their series was past `maxSeries`. */
  readonly ignored: number
}

/** Values all pair windows of a `pairs: 'all'` correlation may hold (about 100 MB). */
const MAX_PAIR_VALUES = 5_000_000

const OPTIONS = ['name', 'fields', 'every', 'window', 'threshold', 'sustain', 'hysteresis', 'pairs', 'maxSeries']

/** A correlate spec validated and copied from own properties, with defaults filled in. */
export function checkCorrelate(spec: unknown): CheckedCorrelate {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw invalid('spec', `must be an object, not ${describe(spec)}`)
  const s = Object.assign(Object.create(null) as Record<string, unknown>, spec)
  const unknown = Object.keys(s).find((k) => !OPTIONS.includes(k))
  if (unknown !== undefined) throw invalid(unknown, `is not a correlate option (${OPTIONS.join(', ')})`)
  const { name, threshold } = s
  if (typeof name !== 'string' || name === '') throw invalid('name', `must be a non-empty string, not ${describe(name)}`)
  const pairs = s.pairs ?? 'fields'
  if (pairs !== 'fields' && pairs !== 'all') throw invalid('pairs', `must be 'fields' or 'all', not ${describe(pairs)}`)
  const fields = checkFields(s.fields, pairs)
  const every = duration(s.every, 'correlate every')
  const window = integer(s.window, 'window', 3)
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) {
    throw invalid('threshold', `must be a number above 0 and at most 1, not ${describe(threshold)}`)
  }
  const hysteresis = s.hysteresis ?? 0.1
  if (typeof hysteresis !== 'number' || !(hysteresis >= 0 && hysteresis < threshold)) {
    // Otherwise a link could never be undone (|r| < 0 never holds).
    const given = s.hysteresis === undefined ? ' (the default)' : ''
    throw invalid('hysteresis', `must be a number at least 0 and below the threshold (${threshold}), not ${describe(hysteresis)}${given}`)
  }
  const sustain = s.sustain === undefined ? 3 : integer(s.sustain, 'sustain', 1)
  const maxSeries = s.maxSeries === undefined ? (pairs === 'all' ? 100 : 1000) : integer(s.maxSeries, 'maxSeries', 1)
  // 'all' keeps a window of values per pair: bound series² × window, or state and snapshots explode.
  if (pairs === 'all' && (maxSeries * (maxSeries - 1)) / 2 * window > MAX_PAIR_VALUES) {
    throw invalid('maxSeries', `× window is too large for pairs 'all': ${maxSeries} series make ${(maxSeries * (maxSeries - 1)) / 2} pairs of ${window} values each, over the bound of ${MAX_PAIR_VALUES.toLocaleString('en')} values (lower maxSeries or window)`)
  }
  return { name, fields, every, window, threshold, sustain, hysteresis, pairs, maxSeries }
}

function checkFields(fields: unknown, pairs: 'fields' | 'all'): string[] {
  if (!Array.isArray(fields)) throw invalid('fields', `must be a list of field names, not ${describe(fields)}`)
  if (pairs === 'fields' && fields.length < 2) throw invalid('fields', `must name at least 2 fields (pairs 'fields' pairs a key's fields), not ${fields.length}`)
  if (fields.length === 0) throw invalid('fields', 'must name at least 1 field')
  const bad = fields.findIndex((f) => typeof f !== 'string' || f === '')
  if (bad >= 0) throw invalid('fields', `must be non-empty strings, not ${describe(fields[bad])} (item ${bad})`)
  const twice = fields.find((f, i) => fields.indexOf(f) !== i)
  if (twice !== undefined) throw invalid('fields', `name '${twice}' twice`)
  return [...fields]
}

function integer(value: unknown, field: string, least: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < least) throw invalid(field, `must be a whole number of at least ${least}, not ${describe(value)}`)
  return value as number
}

function invalid(field: string, message: string): WarpError {
  return new WarpError('INVALID_ARGUMENT', `correlate ${field} ${message}`)
}

/** A correlation operator over `inputs` streams (numbered from 0). */
export function correlationOperator(spec: CorrelateSpec, out: Emitter<CorrelationChange>, inputs = 1): CorrelationOperator {
  if (!Number.isSafeInteger(inputs) || inputs < 1) throw new WarpError('INVALID_ARGUMENT', `correlate inputs must be a whole number of at least 1, not ${describe(inputs)}`)
  return new Correlation(checkCorrelate(spec), out, inputs)
}

/** One series' values in one open bucket: their exact sum (see `addExact`) and how many. */
interface BucketValues {
  partials: number[]
  count: number
}

/**
 * A pair's rolling window: the joint values themselves (a ring, oldest at `head` once full,
 * so the oldest can be taken out again) and running sums over them of u = x − kx, v = y − ky
 * (and u², v², uv). The shift (kx, ky) is a recent value of the window: the textbook
 * formula's cancellation grows with ((mean − shift)/deviation)², which the shift keeps small,
 * where unshifted sums of x² for 1e9 + noise lose every digit.
 */
interface Pair {
  a: number
  b: number
  xs: number[]
  ys: number[]
  head: number
  kx: number
  ky: number
  n: number
  su: number
  sv: number
  suu: number
  svv: number
  suv: number
  /** Slides since the sums were last rebuilt from the ring. */
  slides: number
  /** Consecutive scored buckets pointing to the other state (linking or unlinking). */
  streak: number
  linked: boolean
}

interface Snapshot {
  wms: (number | string)[]
  series: SeriesRef[]
  open: [number, [number, BucketValues][]][]
  pairs: Pair[]
  ignored: number
}

/** A variance that falls below this fraction of what it was in one slide has lost most of its digits to cancellation. */
const CANCELLED = 1e-3

class Correlation implements CorrelationOperator {
  readonly name: string
  private wms: number[]
  /** Buckets with an index below this have closed (an event for them is late). */
  private closedBefore = -Infinity
  private series: SeriesRef[] = []
  private ids = new Map<string, number>()
  /** Open buckets by index, then values by series id. */
  private open = new Map<number, Map<number, BucketValues>>()
  private pairs = new Map<string, Pair>()
  private dropped = 0

  constructor(
    readonly spec: CheckedCorrelate,
    private readonly out: Emitter<CorrelationChange>,
    inputs: number,
  ) {
    this.name = spec.name
    this.wms = new Array<number>(inputs).fill(-Infinity)
  }

  get ignored(): number {
    return this.dropped
  }

  onEvent(input: number, e: StreamEvent): void {
    this.checkInput(input)
    const bucket = Math.floor(e.ts / this.spec.every)
    if (bucket < this.closedBefore) return this.out.late(input, e)
    for (const field of this.spec.fields) {
      const v = e.event[field]
      if (typeof v !== 'number' || !Number.isFinite(v)) continue
      const id = this.track(input, e.key, field)
      if (id === undefined) this.dropped++
      else this.collect(bucket, id, v)
    }
  }

  onWatermark(input: number, wm: number): void {
    this.checkInput(input)
    if (wm <= this.wms[input]) return
    this.wms[input] = wm
    const closedBefore = this.frontier()
    if (closedBefore <= this.closedBefore) return
    this.closedBefore = closedBefore
    const due = [...this.open.keys()].filter((b) => b < closedBefore).sort((x, y) => x - y)
    for (const b of due) {
      this.close(b, this.open.get(b)!)
      this.open.delete(b)
    }
  }

  snapshot(): unknown {
    const s: Snapshot = {
      // JSON has no infinities: an input without a watermark yet (or at its end) is kept as text.
      wms: this.wms.map(encodeTime),
      series: this.series,
      open: [...this.open].map(([b, values]) => [b, [...values]]),
      pairs: [...this.pairs.values()],
      ignored: this.dropped,
    }
    return structuredClone(s)
  }

  restore(state: unknown): void {
    const s = structuredClone(state) as Snapshot
    this.wms = s.wms.map(decodeTime)
    this.closedBefore = this.frontier()
    this.series = s.series
    this.ids = new Map(s.series.map((ref, id) => [seriesKey(ref), id]))
    this.open = new Map(s.open.map(([b, values]) => [b, new Map(values)]))
    this.pairs = new Map(s.pairs.map((p) => [pairKey(p.a, p.b), p]))
    this.dropped = s.ignored
  }

  private checkInput(input: number): void {
    if (!Number.isInteger(input) || input < 0 || input >= this.wms.length) {
      throw new WarpError('INVALID_ARGUMENT', `correlate ${this.name} has inputs 0 to ${this.wms.length - 1}, not ${describe(input)}`)
    }
  }

  /** The first bucket not yet closed by every input's watermark. */
  private frontier(): number {
    return Math.floor(Math.min(...this.wms) / this.spec.every)
  }

  /** The series' id, tracking it if there is room; undefined past `maxSeries`. */
  private track(input: number, key: string, field: string): number | undefined {
    const ref = { input, key, field }
    const k = seriesKey(ref)
    let id = this.ids.get(k)
    if (id === undefined && this.series.length < this.spec.maxSeries) {
      id = this.series.push(ref) - 1
      this.ids.set(k, id)
    }
    return id
  }

  private collect(bucket: number, id: number, v: number): void {
    let values = this.open.get(bucket)
    if (!values) this.open.set(bucket, (values = new Map()))
    const acc = values.get(id)
    if (acc) {
      addExact(acc.partials, v)
      acc.count++
    } else values.set(id, { partials: [v], count: 1 })
  }

  /** Scores every pair with a value on both sides in the closing bucket, emitting in (a, b) order. */
  private close(bucket: number, values: Map<number, BucketValues>): void {
    const present = [...values]
      .map(([id, acc]) => ({ id, ref: this.series[id], mean: exactSum(acc.partials) / acc.count }))
      .filter((s) => Number.isFinite(s.mean)) // a sum past the double range counts as missing
      .sort((p, q) => compareRefs(p.ref, q.ref))
    const end = (bucket + 1) * this.spec.every
    for (let i = 0; i < present.length; i++) {
      for (let j = i + 1; j < present.length; j++) {
        const [a, b] = [present[i], present[j]]
        // Sorted by (input, key, field): the fields of a's key follow it, then other keys.
        if (this.spec.pairs === 'fields' && (a.ref.input !== b.ref.input || a.ref.key !== b.ref.key)) break
        this.score(this.pair(a.id, b.id), a.mean, b.mean, end)
      }
    }
  }

  private pair(a: number, b: number): Pair {
    const k = pairKey(a, b)
    let p = this.pairs.get(k)
    if (!p) {
      p = { a, b, xs: [], ys: [], head: 0, kx: 0, ky: 0, n: 0, su: 0, sv: 0, suu: 0, svv: 0, suv: 0, slides: 0, streak: 0, linked: false }
      this.pairs.set(k, p)
    }
    return p
  }

  private score(p: Pair, x: number, y: number, end: number): void {
    const { window, threshold, hysteresis, sustain } = this.spec
    slide(p, x, y, window)
    if (p.n < window) return
    const r = correlation(p)
    const toward = p.linked ? Math.abs(r) < threshold - hysteresis : Math.abs(r) >= threshold
    p.streak = toward ? p.streak + 1 : 0
    if (p.streak < sustain) return
    p.linked = !p.linked
    p.streak = 0
    this.out.emit({ a: { ...this.series[p.a] }, b: { ...this.series[p.b] }, r, linked: p.linked, ts: end }, true)
  }
}

function seriesKey(ref: SeriesRef): string {
  return JSON.stringify([ref.input, ref.key, ref.field])
}

function pairKey(a: number, b: number): string {
  return `${a},${b}`
}

/** By input, then key, then field (UTF-16 code units, as the link store compares keys): the same order in every process. */
function compareRefs(p: SeriesRef, q: SeriesRef): number {
  if (p.input !== q.input) return p.input - q.input
  if (p.key !== q.key) return p.key < q.key ? -1 : 1
  return p.field < q.field ? -1 : p.field > q.field ? 1 : 0
}

/**
 * Takes a joint value into a pair's window, dropping the oldest once it holds `window`:
 * O(1). Taking values out can cancel (a dominant value leaving, a variance of mostly rounding
 * error), and the window's mean drifts away from the shift, so the sums are rebuilt from the
 * ring, shifted by the newest values, when a variance collapses and every `window` slides:
 * still O(1) amortized.
 */
function slide(p: Pair, x: number, y: number, window: number): void {
  if (p.n < window) {
    if (p.n === 0) [p.kx, p.ky] = [x, y]
    p.xs.push(x)
    p.ys.push(y)
    return add(p, x, y, 1)
  }
  const before = comoments(p)
  add(p, p.xs[p.head], p.ys[p.head], -1)
  p.xs[p.head] = x
  p.ys[p.head] = y
  p.head = (p.head + 1) % window
  add(p, x, y, 1)
  const after = comoments(p)
  if (++p.slides >= window || after.xx < before.xx * CANCELLED || after.yy < before.yy * CANCELLED) rebuild(p, x, y)
}

/** Adds (sign 1) or takes out (sign −1) a joint value. */
function add(p: Pair, x: number, y: number, sign: 1 | -1): void {
  const u = x - p.kx
  const v = y - p.ky
  p.n += sign
  p.su += sign * u
  p.sv += sign * v
  p.suu += sign * u * u
  p.svv += sign * v * v
  p.suv += sign * u * v
}

/** The sums again from the ring, shifted by (kx, ky): a flat side (all its values the shift) comes out exactly 0. */
function rebuild(p: Pair, kx: number, ky: number): void {
  Object.assign(p, { kx, ky, n: 0, su: 0, sv: 0, suu: 0, svv: 0, suv: 0, slides: 0 })
  for (let i = 0; i < p.xs.length; i++) add(p, p.xs[i], p.ys[i], 1)
}

/** n × the variances and the covariance: Σ(x − x̄)², Σ(y − ȳ)², Σ(x − x̄)(y − ȳ). */
function comoments(p: Pair): { xx: number; yy: number; xy: number } {
  return { xx: p.suu - (p.su * p.su) / p.n, yy: p.svv - (p.sv * p.sv) / p.n, xy: p.suv - (p.su * p.sv) / p.n }
}

/** Pearson r of the window; 0 when a side is flat (no co-movement to measure). */
function correlation(p: Pair): number {
  const m = comoments(p)
  const r = m.xy / (Math.sqrt(m.xx) * Math.sqrt(m.yy))
  return Number.isFinite(r) ? Math.max(-1, Math.min(1, r)) : 0
}

/**
 * Shewchuk's exact summation (as Python's `math.fsum`): `partials` hold the running sum
 * exactly, as non-overlapping doubles in increasing magnitude, so the rounded total (and so a
 * bucket's mean) is the same whatever order the values arrived in.
 */
function addExact(partials: number[], value: number): void {
  let x = value
  let kept = 0
  for (let i = 0; i < partials.length; i++) {
    let y = partials[i]
    if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x]
    const hi = x + y
    const lo = y - (hi - x)
    if (lo !== 0) partials[kept++] = lo
    x = hi
  }
  partials.length = kept
  partials.push(x)
}

/** The correctly rounded total of non-empty `partials` (round half to even across them, as fsum does). */
function exactSum(partials: number[]): number {
  let n = partials.length - 1
  let hi = partials[n]
  let lo = 0
  while (n > 0) {
    const x = hi
    const y = partials[--n]
    hi = x + y
    lo = y - (hi - x)
    if (lo !== 0) break
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2
    const x = hi + y
    if (y === x - hi) hi = x
  }
  return hi
}
