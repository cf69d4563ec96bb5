import { WarpError } from '../errors'
import { describe, duration, ownFields as own } from '../args'
import { decodeTime, Emitter, encodeTime, Operator, StreamEvent } from './operator'
import { Heap } from './heap'

/**
 * Two-stream joins on the stream key, after Flink's interval join and window join. Input 0 is
 * the left stream (a), input 1 the right (b).
 *
 * Lateness is judged per input: an event whose time is behind its own input's watermark is
 * late, goes to `out.late` and joins nothing (Flink drops it). That is exactly the stream's
 * promise ("no more on-time events with ts < wm"), so what joins never depends on how far the
 * other input has got.
 */

export interface IntervalJoinSpec {
  name: string
  /** b.ts − a.ts must lie in [lower, upper] (inclusive; ms or '5s'; negative allowed as numbers or '-5s') */
  between: [number | string, number | string]
}

export interface WindowJoinSpec {
  name: string
  window: { type: 'tumbling'; size: number | string } | { type: 'sliding'; size: number | string; slide: number | string }
}

export interface JoinResult {
  key: string
  left: Readonly<Record<string, unknown>>
  right: Readonly<Record<string, unknown>>
  leftTs: number
  rightTs: number
  /** window joins: the window */
  start?: number
  end?: number
}

/** A buffered event and its arrival number, which orders equal times deterministically. */
interface Held {
  seq: number
  e: StreamEvent
}

/**
 * Interval join: every pair (a, b) with a.key = b.key and a.ts + lower ≤ b.ts ≤ a.ts + upper is
 * emitted once, when the second of the two arrives; the new event's partners come in order of
 * (time, arrival). A left event is kept only while an on-time right event could still pair
 * with it (a.ts + upper ≥ right watermark), a right one while b.ts − lower ≥ left watermark.
 */
export function intervalJoin(spec: IntervalJoinSpec, out: Emitter<JoinResult>): Operator {
  const { name, lower, upper } = parseIntervalJoin(spec)
  let wm = [-Infinity, -Infinity]
  let seq = 0
  let sides = [new Side(), new Side()]
  // The earliest time a buffered event of `input` can have and still find a partner to come.
  const keepFrom = (input: number): number => (input === 0 ? wm[1] - upper : wm[0] + lower)

  return {
    name,
    onEvent(input, e) {
      if (e.ts < wm[input]) return out.late(input, e)
      const held = { seq: seq++, e }
      const [from, to] = input === 0 ? [e.ts + lower, e.ts + upper] : [e.ts - upper, e.ts - lower]
      for (const other of sides[1 - input].range(e.key, from, to)) {
        out.emit(input === 0 ? pair(e, other.e) : pair(other.e, e), true)
      }
      if (e.ts >= keepFrom(input)) sides[input].add(held)
    },
    onWatermark(input, w) {
      if (!(w > wm[input])) return
      wm[input] = w
      sides[1 - input].dropBefore(keepFrom(1 - input))
    },
    snapshot: () => ({ wm: wm.map(encodeTime), seq, held: sides.map((s) => s.all()) }),
    restore(state) {
      const s = state as { wm: (number | string)[]; seq: number; held: Held[][] }
      wm = s.wm.map(decodeTime)
      seq = s.seq
      sides = s.held.map((held) => {
        const side = new Side()
        for (const h of held) side.add(h)
        return side
      })
    },
  }
}

function pair(a: StreamEvent, b: StreamEvent): JoinResult {
  return { key: a.key, left: a.event, right: b.event, leftTs: a.ts, rightTs: b.ts }
}

/** One input's buffered events: per key in (time, arrival) order, and all of them earliest first. */
class Side {
  private readonly byKey = new Map<string, Held[]>()
  private readonly byTime = new Heap<Held>(earlier)

  add(h: Held): void {
    let list = this.byKey.get(h.e.key)
    if (list === undefined) this.byKey.set(h.e.key, (list = []))
    // Mostly in order, so the insertion point is near the end.
    let i = list.length
    while (i > 0 && earlier(h, list[i - 1])) i--
    list.splice(i, 0, h)
    this.byTime.push(h)
  }

  /** `key`'s events with from ≤ ts ≤ to. */
  range(key: string, from: number, to: number): Held[] {
    const list = this.byKey.get(key) ?? []
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (list[mid].e.ts < from) lo = mid + 1
      else hi = mid
    }
    const found: Held[] = []
    for (let i = lo; i < list.length && list[i].e.ts <= to; i++) found.push(list[i])
    return found
  }

  dropBefore(ts: number): void {
    for (let h = this.byTime.peek(); h !== undefined && h.e.ts < ts; h = this.byTime.peek()) {
      this.byTime.pop()
      // The earliest event overall is also the earliest of its key: the head of its list.
      const list = this.byKey.get(h.e.key)!
      list.shift()
      if (list.length === 0) this.byKey.delete(h.e.key)
    }
  }

  all(): Held[] {
    return [...this.byKey.values()].flat()
  }
}

/**
 * Window join: the pairs of each key whose events fall in the same window (Flink's windows:
 * aligned to the epoch, [start, start + size)), emitted when both watermarks have passed the
 * window's end, in order of (window start, left arrival, right arrival).
 */
export function windowJoin(spec: WindowJoinSpec, out: Emitter<JoinResult>): Operator {
  const { name, size, slide } = parseWindowJoin(spec)
  let wm = [-Infinity, -Infinity]
  let panes = new Map<number, Pane>()
  let starts = new Heap<number>((a, b) => a < b)

  const paneAt = (start: number): Pane => {
    let pane = panes.get(start)
    if (pane === undefined) {
      panes.set(start, (pane = { start, left: [], right: new Map() }))
      starts.push(start)
    }
    return pane
  }
  const fire = (pane: Pane): void => {
    const end = pane.start + size
    for (const a of pane.left) {
      for (const b of pane.right.get(a.key) ?? []) out.emit({ ...pair(a, b), start: pane.start, end }, true)
    }
  }

  return {
    name,
    onEvent(input, e) {
      if (e.ts < wm[input]) return out.late(input, e)
      for (const start of windowStarts(e.ts, size, slide)) addToPane(paneAt(start), input, e)
    },
    onWatermark(input, w) {
      if (!(w > wm[input])) return
      wm[input] = w
      const joint = Math.min(wm[0], wm[1])
      for (let s = starts.peek(); s !== undefined && s + size <= joint; s = starts.peek()) {
        starts.pop()
        fire(panes.get(s)!)
        panes.delete(s)
      }
    },
    snapshot: () => ({
      wm: wm.map(encodeTime),
      panes: [...panes.values()].map((p) => ({ start: p.start, left: [...p.left], right: [...p.right.values()].flat() })),
    }),
    restore(state) {
      const s = state as { wm: (number | string)[]; panes: { start: number; left: StreamEvent[]; right: StreamEvent[] }[] }
      wm = s.wm.map(decodeTime)
      panes = new Map()
      starts = new Heap<number>((a, b) => a < b)
      for (const p of s.panes) {
        const pane = paneAt(p.start)
        for (const e of p.left) addToPane(pane, 0, e)
        for (const e of p.right) addToPane(pane, 1, e)
      }
    },
  }
}

/** One window's events: the left ones in arrival order, the right ones by key (each in arrival order). */
interface Pane {
  start: number
  left: StreamEvent[]
  right: Map<string, StreamEvent[]>
}

function addToPane(pane: Pane, input: number, e: StreamEvent): void {
  if (input === 0) return void pane.left.push(e)
  const list = pane.right.get(e.key)
  if (list === undefined) pane.right.set(e.key, [e])
  else list.push(e)
}

/** The starts of the windows holding `ts` (Flink's assigners, offset 0). */
function windowStarts(ts: number, size: number, slide: number): number[] {
  const starts: number[] = []
  for (let start = ts - mod(ts, slide); start > ts - size; start -= slide) starts.push(start)
  return starts
}

const mod = (a: number, n: number): number => ((a % n) + n) % n

/** Watermarks start at −∞ (and may reach +∞), which JSON has no number for. */

const earlier = (a: Held, b: Held): boolean => a.e.ts < b.e.ts || (a.e.ts === b.e.ts && a.seq < b.seq)


export function checkIntervalJoin(spec: unknown): IntervalJoinSpec {
  const s = ownFields(spec, 'interval join', ['name', 'between'])
  const between = s.between
  if (!Array.isArray(between) || between.length !== 2) {
    throw invalid('between', `must be [lower, upper], such as [0, '5s'] or ['-1m', '1m'], not ${describe(between)}`)
  }
  const [lower, upper] = [offset(between[0], 'between[0]'), offset(between[1], 'between[1]')]
  if (lower > upper) throw invalid('between', `must have lower ≤ upper, not ${lower}ms > ${upper}ms`)
  return { name: nameOf(s), between: [between[0] as number | string, between[1] as number | string] }
}

export function checkWindowJoin(spec: unknown): WindowJoinSpec {
  const s = ownFields(spec, 'window join', ['name', 'window'])
  const name = nameOf(s)
  const w = s.window
  const type = w !== null && typeof w === 'object' ? (w as { type?: unknown }).type : undefined
  if (type === 'tumbling') {
    const { size } = ownFields(w, 'window', ['type', 'size'], 'window.')
    duration(size, 'window.size')
    return { name, window: { type, size: size as number | string } }
  }
  if (type === 'sliding') {
    const { size, slide } = ownFields(w, 'window', ['type', 'size', 'slide'], 'window.')
    if (duration(slide, 'window.slide') > duration(size, 'window.size')) throw invalid('window.slide', 'must not exceed window.size')
    return { name, window: { type, size: size as number | string, slide: slide as number | string } }
  }
  throw invalid('window', `must be { type: 'tumbling', size } or { type: 'sliding', size, slide }, not ${describe(w)}`)
}

function parseIntervalJoin(spec: IntervalJoinSpec): { name: string; lower: number; upper: number } {
  const { name, between } = checkIntervalJoin(spec)
  return { name, lower: offset(between[0], 'between[0]'), upper: offset(between[1], 'between[1]') }
}

function parseWindowJoin(spec: WindowJoinSpec): { name: string; size: number; slide: number } {
  const { name, window: w } = checkWindowJoin(spec)
  const size = duration(w.size, 'window.size')
  return { name, size, slide: w.type === 'sliding' ? duration(w.slide, 'window.slide') : size }
}

/** A signed duration: milliseconds, or text such as '5s' or '-5s'. */
function offset(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value
  if (typeof value === 'string') {
    const text = value.trim()
    const negative = text.startsWith('-')
    try {
      const ms = duration(negative ? text.slice(1) : text, field, { allowZero: true })
      return negative ? 0 - ms : ms
    } catch {
      // reported below, where the message mentions negative values
    }
  }
  throw invalid(field, `must be a whole number of milliseconds or text such as '5s' or '-5s', not ${describe(value)}`)
}


function nameOf(s: Record<string, unknown>): string {
  if (typeof s.name !== 'string' || s.name.length === 0) throw invalid('name', `must be a non-empty string, not ${describe(s.name)}`)
  return s.name
}

const ownFields = (spec: unknown, what: string, known: string[], prefix = '') => own(spec, what, known, invalid, prefix)

function invalid(field: string, message: string): WarpError {
  return new WarpError('INVALID_ARGUMENT', `join ${field} ${message}`)
}
