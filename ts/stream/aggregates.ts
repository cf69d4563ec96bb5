import { WarpError } from '../errors'
import { describe } from '../args'
import { Sketch, SketchState } from './sketch'

/**
 * A custom aggregate: `init` makes an empty state, `add` folds one value in (in arrival
 * order), `merge` combines the states of two panes, `result` reads it. The state must be a
 * JSON value: it is checkpointed with the window.
 */
export interface Reducer<S = unknown, R = unknown> {
  init(): S
  add(state: S, value: number | undefined, event: Readonly<Record<string, unknown>>): S
  merge(a: S, b: S): S
  result(state: S): R
}

/**
 * One aggregate of a window, named by its key in `aggregate`. The names are the query
 * engine's (`count`, `sum`, `avg`, `min`, `max`, `first`, `last`, `stddev`, `variance`,
 * `median`, `percentile`); each reads one numeric field of the stream. An event without the
 * field is left out of that aggregate, as the query engine leaves gaps out.
 */
export type WindowAggregate =
  | 'count'
  | { count: string }
  | { sum: string }
  | { avg: string }
  | { min: string }
  | { max: string }
  | { first: string }
  | { last: string }
  | { stddev: string }
  | { variance: string }
  | { median: string }
  | { percentile: number; of: string }
  | { reduce: Reducer; of?: string }

/** The sketches and custom states of windows that have none: shared, as nothing writes to them. */
const NONE: never[] = []

const FIELD_KINDS = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'stddev', 'variance', 'median'] as const
type FieldKind = (typeof FIELD_KINDS)[number]

/** A pane's or a window's partial aggregates. */
export interface Acc {
  /** Events in it. */
  n: number
  /** Number slots (sums, counts, extremes…), laid out by `Aggregates`. */
  s: Float64Array
  /** Percentile sketches and custom states, in the order of their aggregates. */
  k: Sketch[]
  c: unknown[]
}

interface Part {
  name: string
  add(acc: Acc, ts: number, event: Readonly<Record<string, unknown>>): void
  merge(into: Acc, from: Acc): void
  result(acc: Acc): unknown
}

/** A window's aggregates, compiled: where each keeps its state, and how it adds and merges. */
export class Aggregates {
  readonly names: string[]
  /** Calls of custom reducers that threw (or made a result JSON cannot hold). */
  errors = 0
  private readonly parts: Part[] = []
  private readonly init: Float64Array
  private readonly sketches: number
  private readonly reducers: Reducer[] = []
  private readonly read = new Set<string>()
  /** The name of the first custom reducer, if any (only declarative aggregates can run elsewhere). */
  custom: string | undefined

  constructor(spec: unknown) {
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
      throw bad('aggregate', `must be an object of named aggregates such as { n: 'count', avg_cpu: { avg: 'cpu' } }, not ${describe(spec)}`)
    }
    const names = Object.keys(spec)
    if (names.length === 0) throw bad('aggregate', 'names no aggregate')
    const slots: number[] = []
    let sketches = 0
    const slot = (init: number): number => slots.push(init) - 1
    for (const name of names) {
      // Results are plain objects, where `__proto__` would be the prototype.
      if (name === '__proto__') throw bad(name, 'is not a usable name')
      const a = (spec as Record<string, unknown>)[name]
      this.parts.push(this.compile(name, a, slot, () => sketches++))
    }
    this.names = names
    const fields = names.map((n, i) => `${JSON.stringify(n)}: p[${i}].result(acc)`).join(', ')
    this.result = new Function('p', `return (acc) => ({ ${fields} })`)(this.parts)
    this.init = Float64Array.from(slots)
    this.sketches = sketches
  }

  empty(): Acc {
    const k = this.sketches === 0 ? NONE : Array.from({ length: this.sketches }, () => new Sketch())
    const c = this.reducers.length === 0 ? NONE : this.reducers.map((r) => r.init())
    return { n: 0, s: this.init.slice(), k: k as Sketch[], c }
  }

  add(acc: Acc, ts: number, event: Readonly<Record<string, unknown>>): void {
    acc.n++
    for (const p of this.parts) p.add(acc, ts, event)
  }

  /** Folds `from` into `into`; `from` is older (earlier panes) when `into` is newer and vice versa does not matter except for custom reducers, which get (older, newer). */
  merge(into: Acc, from: Acc): void {
    into.n += from.n
    for (const p of this.parts) p.merge(into, from)
  }

  /** A copy of `acc` (so merging into it leaves panes untouched). */
  copy(acc: Acc): Acc {
    const c = this.empty()
    this.merge(c, acc)
    return c
  }

  /** The named results, built by code made once per window (an object literal with fixed names). */
  readonly result: (acc: Acc) => Record<string, unknown>

  toJSON(acc: Acc): unknown {
    return { n: acc.n, s: Array.from(acc.s, (v) => (Number.isFinite(v) ? v : String(v))), k: acc.k.map((k) => k.toJSON()), c: acc.c }
  }

  /**
   * The accumulator `toJSON` saved. Anything else (it comes from a snapshot file) is
   * `CORRUPT_CHECKPOINT`: `n` must be a non-negative safe integer, `s` one number per slot of
   * these aggregates (non-finite ones as the text 'Infinity', '-Infinity' or 'NaN'), `k` one
   * sketch state per percentile aggregate (see `Sketch.from`), `c` one state per custom
   * reducer (any JSON: only the reducer knows its shape).
   */
  fromJSON(state: unknown): Acc {
    const fail = (why: string): never => {
      throw new WarpError('CORRUPT_CHECKPOINT', `the saved state of aggregates ${this.names.join(', ')} is damaged: ${why}`)
    }
    if (state === null || typeof state !== 'object' || Array.isArray(state)) return fail(`it is ${describe(state)}, not an object`)
    const j = state as { n: unknown; s: unknown; k: unknown; c: unknown }
    if (!Number.isSafeInteger(j.n) || (j.n as number) < 0) return fail(`its event count is ${describe(j.n)}, not a non-negative whole number`)
    const list = (v: unknown, length: number, what: string): unknown[] =>
      Array.isArray(v) && v.length === length ? v : fail(`its ${what} are ${Array.isArray(v) ? `an array of ${v.length}` : describe(v)}, not an array of ${length}`)
    const s = list(j.s, this.init.length, 'number slots')
    const k = list(j.k, this.sketches, 'sketches')
    const c = list(j.c, this.reducers.length, 'custom states')
    const slots = new Float64Array(s.length)
    for (let i = 0; i < s.length; i++) {
      const v = s[i]
      if (typeof v === 'number') slots[i] = v
      else if (v === 'Infinity' || v === '-Infinity' || v === 'NaN') slots[i] = Number(v)
      else fail(`number slot ${i} is ${describe(v)}, not a number`)
    }
    return { n: j.n as number, s: slots, k: k.length === 0 ? (NONE as Sketch[]) : k.map((x) => Sketch.from(x as SketchState)), c: c.length === 0 ? NONE : c }
  }

  /** The fields the aggregates read, each once, in the order they first appear. */
  get fields(): string[] {
    return [...this.read]
  }

  private field(name: string, f: unknown): string {
    if (typeof f !== 'string' || f.length === 0) throw bad(name, `needs a field name, not ${describe(f)}`)
    this.read.add(f)
    return f
  }

  private compile(name: string, a: unknown, slot: (init: number) => number, sketch: () => number): Part {
    if (a === 'count') {
      const i = slot(0)
      return { name, add: (acc) => void (acc.s[i] += 1), merge: (x, y) => void (x.s[i] += y.s[i]), result: (acc) => acc.s[i] }
    }
    if (a === null || typeof a !== 'object' || Array.isArray(a)) throw bad(name, `must be 'count' or an object such as { avg: 'cpu' }, not ${describe(a)}`)
    const own = Object.keys(a)
    if (Object.hasOwn(a, 'reduce')) return this.reducer(name, a as { reduce: unknown; of?: unknown })
    if (Object.hasOwn(a, 'percentile')) {
      const { percentile: q, of } = a as { percentile: unknown; of: unknown }
      if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw bad(name, `percentile must be a number from 0 to 1, not ${describe(q)}`)
      return this.quantile(name, q, this.field(name, of), sketch())
    }
    const kind = own.length === 1 ? (own[0] as FieldKind) : undefined
    if (kind === undefined || !FIELD_KINDS.includes(kind)) {
      throw bad(name, `must be one of ${FIELD_KINDS.map((k) => `{ ${k}: field }`).join(', ')}, { percentile, of } or { reduce, of }, not an object with ${own.join(', ') || 'no keys'}`)
    }
    const f = this.field(name, (a as Record<string, unknown>)[kind])
    if (kind === 'median') return this.quantile(name, 0.5, f, sketch())
    return numberPart(name, kind, f, slot)
  }

  private quantile(name: string, q: number, f: string, k: number): Part {
    return {
      name,
      add: (acc, _ts, e) => {
        const v = e[f]
        if (typeof v === 'number') acc.k[k].add(v)
      },
      merge: (x, y) => x.k[k].merge(y.k[k]),
      result: (acc) => {
        const x = acc.k[k].count === 0 ? NaN : acc.k[k].quantile(q)
        return Number.isFinite(x) ? x : null
      },
    }
  }

  private reducer(name: string, a: { reduce: unknown; of?: unknown }): Part {
    const r = a.reduce as Reducer
    if (r === null || typeof r !== 'object' || !['init', 'add', 'merge', 'result'].every((m) => typeof (r as unknown as Record<string, unknown>)[m] === 'function')) {
      throw bad(name, 'reduce must be an object with init, add, merge and result functions')
    }
    const f = a.of === undefined ? undefined : this.field(name, a.of)
    this.custom ??= name
    // A reducer is user code: what it throws is counted (`errors`) and leaves its state as it was
    // (the event out of this aggregate, the merge undone), as a pattern's `where` that throws.
    // Results go through JSON, as the result log records them: what JSON cannot hold is null.
    const safely = <V>(fn: () => V, otherwise: V): V => {
      try {
        return fn()
      } catch {
        this.errors++
        return otherwise
      }
    }
    const i = this.reducers.push({ ...r, init: () => safely(() => r.init(), null) }) - 1
    return {
      name,
      add: (acc, _ts, e) => {
        const v = f === undefined ? undefined : e[f]
        acc.c[i] = safely(() => r.add(acc.c[i], typeof v === 'number' ? v : undefined, e), acc.c[i])
      },
      merge: (x, y) => void (x.c[i] = safely(() => r.merge(x.c[i], y.c[i]), x.c[i])),
      result: (acc) => safely(() => (JSON.parse(JSON.stringify([r.result(acc.c[i])])) as unknown[])[0] ?? null, null),
    }
  }
}

/** The number aggregates: slots and their arithmetic (Welford's for the spread, merged by Chan's rule). */
function numberPart(name: string, kind: FieldKind, f: string, slot: (init: number) => number): Part {
  const num = (e: Readonly<Record<string, unknown>>): number | undefined => {
    const v = e[f]
    return typeof v === 'number' ? v : undefined
  }
  const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null)
  switch (kind) {
    case 'count': {
      const i = slot(0)
      return { name, add: (acc, _t, e) => void (num(e) !== undefined && (acc.s[i] += 1)), merge: (x, y) => void (x.s[i] += y.s[i]), result: (acc) => acc.s[i] }
    }
    case 'sum':
    case 'avg': {
      const sum = slot(0)
      const n = slot(0)
      const add = (acc: Acc, _t: number, e: Readonly<Record<string, unknown>>) => {
        const v = num(e)
        if (v !== undefined) {
          acc.s[sum] += v
          acc.s[n] += 1
        }
      }
      const merge = (x: Acc, y: Acc) => {
        x.s[sum] += y.s[sum]
        x.s[n] += y.s[n]
      }
      // Non-finite results (a sum that overflowed) are null, as the result log records them.
      const result = kind === 'sum' ? (acc: Acc) => (acc.s[n] === 0 ? null : orNull(acc.s[sum])) : (acc: Acc) => (acc.s[n] === 0 ? null : orNull(acc.s[sum] / acc.s[n]))
      return { name, add, merge, result }
    }
    case 'min':
    case 'max': {
      const i = slot(kind === 'min' ? Infinity : -Infinity)
      const pick = kind === 'min' ? Math.min : Math.max
      return {
        name,
        add: (acc, _t, e) => {
          const v = num(e)
          if (v !== undefined) acc.s[i] = pick(acc.s[i], v)
        },
        merge: (x, y) => void (x.s[i] = pick(x.s[i], y.s[i])),
        result: (acc) => orNull(acc.s[i]),
      }
    }
    case 'first':
    case 'last': {
      // The value with the earliest (latest) event time; among equal times the first (last) to arrive.
      const at = slot(kind === 'first' ? Infinity : -Infinity)
      const val = slot(NaN)
      const wins = kind === 'first' ? (t: number, best: number) => t < best : (t: number, best: number) => t >= best
      return {
        name,
        add: (acc, t, e) => {
          const v = num(e)
          if (v !== undefined && wins(t, acc.s[at])) {
            acc.s[at] = t
            acc.s[val] = v
          }
        },
        merge: (x, y) => {
          if (y.s[at] !== x.s[at] ? wins(y.s[at], x.s[at]) : kind === 'last' && Number.isFinite(y.s[at])) {
            x.s[at] = y.s[at]
            x.s[val] = y.s[val]
          }
        },
        result: (acc) => orNull(acc.s[val]),
      }
    }
    case 'stddev':
    case 'variance': {
      const n = slot(0)
      const mean = slot(0)
      const m2 = slot(0)
      return {
        name,
        add: (acc, _t, e) => {
          const v = num(e)
          if (v === undefined) return
          const s = acc.s
          s[n] += 1
          const d = v - s[mean]
          s[mean] += d / s[n]
          s[m2] += d * (v - s[mean])
        },
        merge: (x, y) => {
          const a = x.s
          const b = y.s
          if (b[n] === 0) return
          const total = a[n] + b[n]
          const d = b[mean] - a[mean]
          a[m2] += b[m2] + (d * d * a[n] * b[n]) / total
          a[mean] += (d * b[n]) / total
          a[n] = total
        },
        // The population variance, as the query engine's `variance` and `stddev`.
        result: (acc) => (acc.s[n] === 0 ? null : orNull(kind === 'variance' ? acc.s[m2] / acc.s[n] : Math.sqrt(acc.s[m2] / acc.s[n]))),
      }
    }
    case 'median':
      throw new Error('unreachable: median is a quantile')
  }
}


function bad(name: string, message: string): WarpError {
  return new WarpError('INVALID_ARGUMENT', `aggregate '${name}' ${message}`)
}
