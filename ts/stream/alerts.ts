import { WarpError } from '../errors'
import { describe, duration, ownFields as own } from '../args'
import { decodeTime, Emitter, encodeTime, Operator, StreamEvent } from './operator'
import { Heap } from './heap'

export interface AlertSpec {
  name: string
  /** numeric field of the event */
  field: string
  /** threshold condition (one or both; with both, the rule fires outside [below, above]) */
  above?: number
  below?: number
  /** condition must hold this long (event time) before firing (Prometheus `for`): pending → firing */
  for?: number | string
  /** hysteresis: once firing, resolves only when the value crosses back past `clear` (e.g. above 90, clear 80) */
  clear?: number
  /** rate-of-change rule: (v − previous v) / Δt, per second by default */
  rate?: { above?: number; below?: number; per?: number | string }
  /** absence-of-data: fires when a key sent no event for this long (fired by the watermark), resolves on its next event */
  absent?: number | string
  /**
   * Rate and absence rules: a key silent this long (event time: once the watermark passes its
   * last value's time, for a rate rule, or its last event's, for an absence rule, plus
   * `forget`) is forgotten, so keys that come and go do not grow the state for ever. A rate
   * rule's forgotten key measures no rate across the gap (its next value is a first value); a
   * firing one stays firing until a value resolves it, without its previous value. An absence
   * rule's key has fired by then and emits nothing more: its return is a new key's first event
   * (no `resolved`). Default: for a rate rule the largest of 100 × `per`, `for` and one hour;
   * for an absence rule the larger of 10 × `absent` and one hour. It must be at least `for`
   * (rate) and longer than `absent`. Not for threshold rules, which keep no inactive key.
   */
  forget?: number | string
}

export interface AlertEvent {
  rule: string
  key: string
  state: 'pending' | 'firing' | 'resolved'
  ts: number
  value: number | null
  /** why, for people */
  reason: string
}

export interface AlertOperator extends Operator {
  /** Events left out of a threshold or rate rule: the field missing or not a finite number. */
  readonly skipped: number
}

/**
 * An alert rule, per key, in event time. Events wait until the watermark passes them and are
 * then taken in order of (ts, arrival), so out-of-order arrival raises the same alerts as
 * in-order arrival; an event behind the watermark is late (`out.late`) and not evaluated.
 *
 * Threshold and rate rules (Prometheus' alert states): a key is inactive until a value meets
 * the condition (`> above` or `< below`, strictly). With `for`, it is then pending from that
 * event's time t0, and fires at t0 + for if every value with ts ≤ t0 + for met the condition
 * (a value between events holds until the next one, as a Prometheus sample does): at an event
 * at exactly t0 + for, or once the watermark passes t0 + for with no event at that instant. A
 * value that fails while pending returns the key to inactive silently. Without `for` a key
 * fires at the first value meeting the condition. A firing key resolves at the first value
 * that no longer meets it or, with `clear`, that is past `clear` (`< clear` for an `above`
 * rule, `> clear` for a `below` one; a value equal to `clear` keeps it firing).
 *
 * A rate rule measures (v − previous v) · per / Δt between a key's consecutive values (none for
 * its first value, or for a value at the same instant as the previous one, which then stands
 * in for it).
 *
 * Absence rules: a key that has sent an event fires, at last ts + absent, once the watermark
 * reaches that time with no newer event of the key, and resolves at its next event (any event,
 * whatever its field holds).
 *
 * Bounded state: a threshold rule keeps only its pending and firing keys. Rate and absence rules
 * forget a key once the watermark passes its last value's (event's) time + `forget` (see
 * `AlertSpec.forget`), so they keep the keys heard from within `forget`, and firing rate keys.
 */
export function alertOperator(spec: AlertSpec, out: Emitter<AlertEvent>, input = 0): AlertOperator {
  const rule = parseAlert(spec)
  let wm = -Infinity
  let seq = 0
  let line = new Heap<Due>(dueBefore)
  const emit = (a: Omit<AlertEvent, 'rule'>): void => out.emit({ rule: rule.name, ...a }, true)
  const schedule = (d: Due): void => line.push(d)
  const logic = rule.absent !== undefined ? absence(rule.field, rule.absent, rule.forget!, emit, schedule) : condition(rule, emit, schedule)

  return {
    name: rule.name,
    get skipped() {
      return logic.skipped
    },
    onEvent(i, e) {
      if (i !== input) return
      if (e.ts < wm) return out.late(i, e)
      line.push({ at: e.ts, rank: EVENT, seq: seq++, key: e.key, e })
    },
    onWatermark(i, w) {
      if (i !== input || !(w > wm)) return
      wm = w
      for (let d = line.peek(); d !== undefined && isDue(d, wm); d = line.peek()) {
        line.pop()
        if (d.e !== undefined) logic.event(d, d.e)
        else logic.timer(d)
      }
    },
    snapshot: () => ({
      wm: encodeTime(wm),
      seq,
      events: [...line.items()].flatMap((d) => (d.e === undefined ? [] : [{ seq: d.seq, e: d.e }])),
      rule: logic.save(),
    }),
    restore(state) {
      const s = state as { wm: number | string; seq: number; events: { seq: number; e: StreamEvent }[]; rule: unknown }
      wm = decodeTime(s.wm)
      seq = s.seq
      line = new Heap<Due>(dueBefore)
      for (const { seq, e } of s.events) line.push({ at: e.ts, rank: EVENT, seq, key: e.key, e })
      logic.load(s.rule)
    },
  }
}

/** What is due on the event-time line: a waiting event, or a deadline a key set. */
interface Due {
  at: number
  rank: number
  /** An event's arrival number; a `for` deadline's, that of the first event of its pending run. */
  seq: number
  key: string
  e?: StreamEvent
}

// At one instant: an absence deadline first (it is due once the watermark reaches it, before
// any event at that instant is known), then the events, then a `for` deadline (which needs them).
const ABSENT_SINCE = 0
const EVENT = 1
const HELD_FOR = 2
/** A key silent since `at − forget` is forgotten: last at an instant, after a `for` deadline there has fired. */
const FORGET = 3

const isDue = (d: Due, wm: number): boolean => (d.rank === ABSENT_SINCE ? d.at <= wm : d.at < wm)

// Events at one instant go in arrival order, deadlines in key order (which a restore rebuilds).
const dueBefore = (a: Due, b: Due): boolean => (a.at !== b.at ? a.at < b.at : a.rank !== b.rank ? a.rank < b.rank : a.rank === EVENT ? a.seq < b.seq : a.key < b.key)

/** A rule kind's per-key state machine, fed in event-time order. */
interface Logic {
  readonly skipped: number
  event(d: Due, e: StreamEvent): void
  /** A deadline it scheduled came due (it may be stale: the state moved on since). */
  timer(d: Due): void
  save(): unknown
  /** Replaces the state with a saved one, scheduling its deadlines again. */
  load(state: unknown): void
}

type Emit = (a: Omit<AlertEvent, 'rule'>) => void

interface Measured {
  phase: 'inactive' | 'pending' | 'firing'
  /** pending: the time and arrival number of the first value that met the condition */
  since: number
  sinceSeq: number
  /** The last value measured (the rate, for a rate rule). */
  value: number
  /** Rate rules: the previous value and its time. */
  prev?: [number, number]
}

/**
 * Threshold and rate rules. A rate rule's key with a previous value has one `FORGET` deadline
 * scheduled (at that value's time + forget when set; moved on when it comes due after newer values).
 */
function condition(rule: Rule, emit: Emit, schedule: (d: Due) => void): Logic {
  const { field, above, below, clear, forMs, per, forget } = rule
  const armForget = (key: string, s: Measured): void => schedule({ at: s.prev![0] + forget!, rank: FORGET, seq: 0, key })
  let keys = new Map<string, Measured>()
  let skipped = 0
  const label = per === undefined ? field : `${field} rate (per ${per}ms)`
  const when = above !== undefined && below !== undefined ? `outside [${below}, ${above}]` : above !== undefined ? `above ${above}` : `below ${below}`
  const meets = (m: number): boolean => (above !== undefined && m > above) || (below !== undefined && m < below)
  const resolves = (m: number): boolean => (clear === undefined ? !meets(m) : above !== undefined ? m < clear : m > clear)

  const measure = (s: Measured, ts: number, v: number): number | undefined => {
    if (per === undefined) return v
    const prev = s.prev
    s.prev = [ts, v]
    if (prev === undefined) return undefined
    const rate = ((v - prev[1]) * per) / (ts - prev[0])
    // None across no time (the same instant: ±∞ or NaN), nor past the largest number.
    return Number.isFinite(rate) ? rate : undefined
  }

  const step = (key: string, s: Measured, d: Due, m: number): void => {
    s.value = m
    if (s.phase === 'inactive') {
      if (!meets(m)) return
      if (forMs === 0) {
        s.phase = 'firing'
        return emit({ key, state: 'firing', ts: d.at, value: m, reason: `${label} is ${m}, ${when}` })
      }
      s.phase = 'pending'
      s.since = d.at
      s.sinceSeq = d.seq
      schedule({ at: d.at + forMs, rank: HELD_FOR, seq: d.seq, key })
      emit({ key, state: 'pending', ts: d.at, value: m, reason: `${label} is ${m}, ${when}; fires if it stays so for ${forMs}ms` })
    } else if (s.phase === 'pending') {
      // As in Prometheus, a pending alert whose condition fails goes back to inactive unannounced.
      if (!meets(m)) s.phase = 'inactive'
    } else if (resolves(m)) {
      s.phase = 'inactive'
      const why = clear === undefined ? `no longer ${when}` : `past the clear level ${clear}`
      emit({ key, state: 'resolved', ts: d.at, value: m, reason: `${label} is ${m}, ${why}` })
    }
  }

  return {
    get skipped() {
      return skipped
    },
    event(d, e) {
      const v = e.event[field]
      if (typeof v !== 'number' || !Number.isFinite(v)) return void skipped++
      const s: Measured = keys.get(d.key) ?? { phase: 'inactive', since: 0, sinceSeq: 0, value: 0 }
      const unarmed = s.prev === undefined
      const m = measure(s, d.at, v)
      if (m !== undefined) step(d.key, s, d, m)
      // An inactive key of a threshold rule remembers nothing; a rate rule keeps its previous
      // value, until it is forgotten.
      if (s.phase === 'inactive' && per === undefined) keys.delete(d.key)
      else {
        keys.set(d.key, s)
        if (per !== undefined && unarmed) armForget(d.key, s)
      }
    },
    timer(d) {
      if (d.rank === FORGET) {
        const s = keys.get(d.key)
        if (s?.prev === undefined) return
        if (s.prev[0] + forget! > d.at) return armForget(d.key, s)
        // `forget` ≥ `for`, so a pending key has fired by now; a firing one stays open.
        if (s.phase === 'inactive') keys.delete(d.key)
        else delete s.prev
        return
      }
      const s = keys.get(d.key)
      if (s === undefined || s.phase !== 'pending' || s.sinceSeq !== d.seq) return
      s.phase = 'firing'
      emit({ key: d.key, state: 'firing', ts: d.at, value: s.value, reason: `${label} has been ${when} for ${forMs}ms, since ${s.since}` })
    },
    save: () => ({ skipped, keys: [...keys].map(([k, s]) => [k, { ...s }]) }),
    load(state) {
      const s = state as { skipped: number; keys: [string, Measured][] }
      skipped = s.skipped
      keys = new Map(s.keys)
      for (const [key, m] of keys) {
        if (m.phase === 'pending') schedule({ at: m.since + forMs, rank: HELD_FOR, seq: m.sinceSeq, key })
        if (per !== undefined && m.prev !== undefined) armForget(key, m)
      }
    },
  }
}

interface Presence {
  lastTs: number
  firing: boolean
}

/**
 * Absence rules. Every quiet key has one deadline scheduled; an event only moves `lastTs`, and a
 * deadline that comes due after a newer event is set again from it (one entry per key, not per event).
 * A key that fires gets a `FORGET` deadline at lastTs + forget (> lastTs + absent), which does
 * nothing if the key had an event since (at most forget / absent of them per key are pending).
 */
function absence(field: string, after: number, forget: number, emit: Emit, schedule: (d: Due) => void): Logic {
  let keys = new Map<string, Presence>()
  const arm = (key: string, p: Presence): void => schedule({ at: p.lastTs + after, rank: ABSENT_SINCE, seq: 0, key })
  const forgetAt = (key: string, p: Presence): void => schedule({ at: p.lastTs + forget, rank: FORGET, seq: 0, key })

  return {
    skipped: 0,
    event(d, e) {
      const p = keys.get(d.key)
      if (p === undefined) {
        const first = { lastTs: d.at, firing: false }
        keys.set(d.key, first)
        return arm(d.key, first)
      }
      const gap = d.at - p.lastTs
      p.lastTs = d.at
      if (!p.firing) return
      p.firing = false
      arm(d.key, p)
      const v = e.event[field]
      emit({ key: d.key, state: 'resolved', ts: d.at, value: typeof v === 'number' && Number.isFinite(v) ? v : null, reason: `an event came after ${gap}ms without one` })
    },
    timer(d) {
      const p = keys.get(d.key)
      if (p === undefined) return
      if (d.rank === FORGET) {
        // Silent since it fired, for `forget`: it is gone (its return will be a new key's).
        if (p.firing && p.lastTs + forget <= d.at) keys.delete(d.key)
        return
      }
      if (p.lastTs + after > d.at) return arm(d.key, p)
      p.firing = true
      emit({ key: d.key, state: 'firing', ts: d.at, value: null, reason: `no event for ${after}ms since ${p.lastTs}` })
      forgetAt(d.key, p)
    },
    save: () => ({ keys: [...keys].map(([k, p]) => [k, { ...p }]) }),
    load(state) {
      keys = new Map((state as { keys: [string, Presence][] }).keys)
      for (const [key, p] of keys) {
        if (!p.firing) arm(key, p)
        else forgetAt(key, p)
      }
    },
  }
}


/** An alert spec, parsed: the bounds are the rate's for a rate rule (`per` set). */
interface Rule {
  name: string
  field: string
  above?: number
  below?: number
  clear?: number
  forMs: number
  per?: number
  absent?: number
  /** Rate and absence rules: how long a silent key is remembered (see `AlertSpec.forget`). */
  forget?: number
}

const HOUR = 3_600_000

function parseAlert(spec: AlertSpec): Rule {
  const s = checkAlert(spec)
  const bounds = s.rate ?? s
  const forMs = s.for === undefined ? 0 : duration(s.for, 'for', { allowZero: true })
  const per = s.rate === undefined ? undefined : s.rate.per === undefined ? 1000 : duration(s.rate.per, 'rate.per')
  const absent = s.absent === undefined ? undefined : duration(s.absent, 'absent')
  return { name: s.name, field: s.field, above: bounds.above, below: bounds.below, clear: s.clear, forMs, per, absent, forget: forgetOf(s, forMs, per, absent) }
}

/**
 * How long a rate or absence rule remembers a silent key: `forget`, or by default
 * - absence: the larger of 10 × `absent` and one hour. By then the key fired long ago (ten of
 *   its periods at least): a key that quiet is most likely gone for good (a host retired, a
 *   short-lived id), and remembering every key ever seen only to announce a return that may
 *   never come is what grew the state. The hour is for short periods (`absent: '10s'`): a
 *   forgotten key's return resolves nothing, so an ordinary outage (a reboot, a deploy) should
 *   end before its key is forgotten.
 * - rate: the largest of 100 × `per`, `for` and one hour. A rate over a gap longer than 100 of
 *   its units is a long-run average, not the rate of change the rule watches for, so little is
 *   lost by measuring none; the hour keeps rules whose `per` is short (1 s by default) working
 *   for keys sampled every few minutes (a 5-minute scrape with `per` 1 s: a gap of 300 units);
 *   and at least `for`, so a pending key's deadline comes first and it fires as it should.
 * So a rule keeps the keys heard from within that time (plus, for a rate rule, firing ones):
 * keys that churn cost state for an hour or so each, not for ever.
 */
function forgetOf(s: AlertSpec, forMs: number, per: number | undefined, absent: number | undefined): number | undefined {
  if (s.forget !== undefined) return duration(s.forget, 'forget')
  if (absent !== undefined) return Math.max(10 * absent, HOUR)
  if (per !== undefined) return Math.max(100 * per, forMs, HOUR)
  return undefined
}

const FIELDS = ['name', 'field', 'above', 'below', 'for', 'clear', 'rate', 'absent', 'forget']

/** An alert spec validated and copied from its own properties. */
export function checkAlert(spec: unknown): AlertSpec {
  const s = ownFields(spec, 'alert', FIELDS)
  const out: AlertSpec = { name: text(s, 'name'), field: text(s, 'field') }
  for (const f of ['above', 'below', 'clear'] as const) if (s[f] !== undefined) out[f] = finite(s[f], f)
  if (s.for !== undefined) duration((out.for = s.for as number | string), 'for', { allowZero: true })
  if (s.absent !== undefined) duration((out.absent = s.absent as number | string), 'absent')
  if (s.rate !== undefined) out.rate = checkRate(s.rate)
  if (s.forget !== undefined) duration((out.forget = s.forget as number | string), 'forget')

  const threshold = out.above !== undefined || out.below !== undefined
  if ([threshold, out.rate !== undefined, out.absent !== undefined].filter(Boolean).length !== 1) {
    throw invalid('spec', 'needs exactly one condition: above and/or below, rate, or absent')
  }
  if (out.forget !== undefined) {
    const forget = duration(out.forget, 'forget')
    if (threshold) throw invalid('forget', 'does not apply to a threshold rule (it keeps no inactive key)')
    if (out.absent !== undefined && forget <= duration(out.absent, 'absent')) throw invalid('forget', `(${forget}ms) must be longer than absent (${out.absent}): a key fires before it is forgotten`)
    if (out.for !== undefined && forget < duration(out.for, 'for', { allowZero: true })) throw invalid('forget', `(${forget}ms) must be at least for (${out.for}): a pending key fires before it is forgotten`)
  }
  if (out.absent !== undefined) {
    for (const f of ['for', 'clear'] as const) if (out[f] !== undefined) throw invalid(f, 'does not apply to an absent rule')
    return out
  }
  const b = out.rate ?? out
  const where = out.rate === undefined ? '' : 'rate.'
  if (b.above !== undefined && b.below !== undefined && b.below > b.above) throw invalid(`${where}below`, `(${b.below}) must not exceed ${where}above (${b.above})`)
  if (out.clear !== undefined) checkClear(out.clear, b.above, b.below, where)
  return out
}

function checkRate(rate: unknown): NonNullable<AlertSpec['rate']> {
  const r = ownFields(rate, 'alert rate', ['above', 'below', 'per'], 'rate.')
  const out: NonNullable<AlertSpec['rate']> = {}
  for (const f of ['above', 'below'] as const) if (r[f] !== undefined) out[f] = finite(r[f], `rate.${f}`)
  if (out.above === undefined && out.below === undefined) throw invalid('rate', 'needs above and/or below')
  if (r.per !== undefined) duration((out.per = r.per as number | string), 'rate.per')
  return out
}

/** `clear` sits on the inner side of one bound: a rule with both bounds has no single side. */
function checkClear(clear: number, above: number | undefined, below: number | undefined, where: string): void {
  if (above !== undefined && below !== undefined) throw invalid('clear', `needs a rule with one bound, not both ${where}above and ${where}below`)
  if (above !== undefined && clear > above) throw invalid('clear', `(${clear}) must not exceed ${where}above (${above})`)
  if (below !== undefined && clear < below) throw invalid('clear', `(${clear}) must not be less than ${where}below (${below})`)
}

function finite(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(field, `must be a finite number, not ${describe(v)}`)
  return v
}

function text(s: Record<string, unknown>, field: string): string {
  const v = s[field]
  if (typeof v !== 'string' || v.length === 0) throw invalid(field, `must be a non-empty string, not ${describe(v)}`)
  return v
}


const ownFields = (spec: unknown, what: string, known: string[], prefix = '') => own(spec, what, known, invalid, prefix)

function invalid(field: string, message: string): WarpError {
  return new WarpError('INVALID_ARGUMENT', `alert ${field} ${message}`)
}
