import { WarpError } from '../errors'
import { describe, duration, ownFields } from '../args'
import { decodeTime, Emitter, encodeTime, Operator, StreamEvent } from './operator'
import { Heap } from './heap'

/**
 * Complex event processing: patterns over each key's events in event time, after Flink CEP
 * (https://nightlies.apache.org/flink/flink-docs-stable/docs/libs/cep/).
 *
 * How it runs. Events wait until the watermark passes them; then each key's events are matched
 * in (event time, arrival) order. An event already behind the watermark is late. A partial
 * match (a "run") is the events bound so far plus the ways it may still go on (its "targets":
 * another event of the same step, the first event of a later step, or, before an absent last
 * step, the deadline). An event either extends a run along a target or passes it by, which ends
 * the targets that may not skip over it. A run's deadline (first event + `within`) falls before
 * the events at that same time, so results never depend on how the watermark advances.
 *
 * Decisions where Flink is silent, ambiguous or shaped by its implementation:
 * - `within` is exclusive as in Flink: last − first < within.
 * - Skipping an optional step: the next step's contiguity is measured from the last bound event.
 * - An absent step in the middle forbids its events between the last event of the step before
 *   and the next bound event, that event included (an event that is both ends the match, as in
 *   Flink). It only judges that gap: with a repeated step before it, a forbidden event between
 *   two of that step's events does not end the run (Flink drops the whole partial match).
 * - An absent last step, `notNext` or `notFollowedBy`, fires at the deadline, with `end` = the
 *   deadline; events from the deadline on are outside (Flink fires `notNext` on the next event).
 * - Skip strategies prune as Flink does (by the start of the partial match). As in Flink, a
 *   match is then held back while a partial match that started earlier lives, so matches come
 *   in order of start, then completion; with `noSkip` each comes when it completes, in order of
 *   completion, then start. Ties (same start and completion) go by the bound events, in order.
 *   `skipToFirst`/`skipToLast` naming a step the match has no events for prune nothing (Flink's
 *   default, which only throws with `throwExceptionOnMiss`).
 * - Without `within` a partial match lives until the watermark reaches +Infinity (end of
 *   input); with a skip strategy it also holds back later matches until then.
 * - A `where` that throws: the event counts as not matching that step (the stream goes on and
 *   stays deterministic, since the same input throws again on replay), and `errors` counts it,
 *   so a broken condition is visible rather than silently matching nothing.
 * - `events` of a match lists every non-absent step, `[]` for a skipped optional one.
 * - Not supported: greedy, allowCombinations, until, groups of patterns.
 */

type Rec = Readonly<Record<string, unknown>>
type Matched = Readonly<Record<string, readonly Rec[]>>

export interface PatternStep {
  name: string // unique within the pattern
  /** Default: any event. `matched` = events bound so far, by step name (iterative conditions). */
  where?: (e: Rec, matched: Matched) => boolean
  /** How this step follows the previous one: 'next' (strict: the very next event of the key), 'followedBy' (relaxed: skips non-matching events, takes the first match), 'followedByAny' (non-deterministic relaxed: every later match starts a branch). Ignored on the first step. Default 'followedBy'. */
  contiguity?: 'next' | 'followedBy' | 'followedByAny'
  /** Repetition: exactly n, or { min, max? } (max absent: unbounded, i.e. A{3,}); repeated events are relaxed-contiguous among themselves unless `consecutive: true`. Default 1. */
  times?: number | { min: number; max?: number }
  consecutive?: boolean
  optional?: boolean
  /** Absence: the pattern matches only if NO event satisfying `where` occurs here (notNext / notFollowedBy). As the last step it needs `within` and is fired by the watermark: "A not followed by B within T". */
  absent?: boolean
}

export interface PatternSpec {
  name: string
  steps: PatternStep[]
  /** The whole match must lie within this event-time span (first to last event). */
  within?: number | string
  /** After-match skip strategy. Default 'noSkip'. */
  skip?: 'noSkip' | 'skipToNext' | 'skipPastLastEvent' | { skipToFirst: string } | { skipToLast: string }
}

export interface PatternMatch {
  key: string
  /** Event time of the first and last event of the match (for an absence match: the deadline that fired it, as `end`). */
  start: number
  end: number
  /** Events bound to each step, by step name (events as StreamEvent.event). */
  events: Record<string, Readonly<Record<string, unknown>>[]>
}

/** A pattern operator also counts the `where` calls that threw (each counted as no match). */
export interface PatternOperator extends Operator {
  readonly errors: number
}

/** Matches `spec` per key of input `input`, emitting each match once, as final. */
export function patternOperator(spec: PatternSpec, out: Emitter<PatternMatch>, input = 0): PatternOperator {
  if (!Number.isSafeInteger(input) || input < 0) throw invalid(`input must be a non-negative integer, not ${describe(input)}`)
  return new Matcher(compile(parse(spec).rules), out, input)
}

// ---------------------------------------------------------------------------------------------
// Checking a spec

/**
 * A checked step with every option spelled out as an own property, so nothing is ever read from
 * a prototype (one someone polluted), unlike the user-shaped copy `checkPattern` returns.
 */
interface StepRule {
  readonly name: string
  readonly where: PatternStep['where']
  readonly contiguity: NonNullable<PatternStep['contiguity']>
  readonly min: number
  readonly max: number
  readonly consecutive: boolean
  readonly optional: boolean
  readonly absent: boolean
}

type Skip = { kind: 'noSkip' | 'skipToNext' | 'skipPastLastEvent' } | { kind: 'skipToFirst' | 'skipToLast'; step: number }

interface Rules {
  readonly name: string
  readonly steps: readonly StepRule[]
  /** ms; Infinity without `within` */
  readonly within: number
  readonly skip: Skip
}

const STEP_FIELDS = ['name', 'where', 'contiguity', 'times', 'consecutive', 'optional', 'absent']
const CONTIGUITIES = ['next', 'followedBy', 'followedByAny'] as const
const SKIPS = ['noSkip', 'skipToNext', 'skipPastLastEvent'] as const

/** Validates `spec` and returns a copy of it (own properties only). */
export function checkPattern(spec: unknown): PatternSpec {
  return parse(spec).copy
}

function parse(spec: unknown): { copy: PatternSpec; rules: Rules } {
  const f = fieldsOf(spec, 'pattern', ['name', 'steps', 'within', 'skip'])
  const name = nameOf(f.name, 'pattern.name')
  if (!Array.isArray(f.steps) || f.steps.length === 0) {
    throw invalid(`pattern.steps must be a non-empty array of steps, not ${describe(f.steps)}`)
  }
  const steps = ownItems(f.steps).map((s, i) => checkStep(s, `pattern.steps[${i}]`))
  const stepRules = steps.map((s) => s.rule)
  const within = f.within === undefined ? Infinity : duration(f.within, 'pattern.within')
  checkShape(stepRules, within !== Infinity)
  const skip = f.skip === undefined ? { copy: undefined, rule: { kind: 'noSkip' as const } } : skipOf(f.skip, stepRules)
  const copy = defined({ name, steps: steps.map((s) => s.copy), within: f.within as PatternSpec['within'], skip: skip.copy })
  return { copy, rules: { name, steps: stepRules, within, skip: skip.rule } }
}

function checkStep(value: unknown, what: string): { copy: PatternStep; rule: StepRule } {
  const f = fieldsOf(value, what, STEP_FIELDS)
  const name = nameOf(f.name, `${what}.name`)
  if (f.where !== undefined && typeof f.where !== 'function') throw invalid(`${what}.where must be a function, not ${describe(f.where)}`)
  const where = f.where as PatternStep['where']
  const contiguity = f.contiguity === undefined ? undefined : oneOf(f.contiguity, CONTIGUITIES, `${what}.contiguity`)
  const times = f.times === undefined ? undefined : timesOf(f.times, `${what}.times`)
  const [consecutive, optional, absent] = (['consecutive', 'optional', 'absent'] as const).map((flag) => {
    if (f[flag] !== undefined && typeof f[flag] !== 'boolean') throw invalid(`${what}.${flag} must be a boolean, not ${describe(f[flag])}`)
    return f[flag] as boolean | undefined
  })
  if (absent && (times !== undefined || optional || consecutive)) throw invalid(`${what}.absent: an absent step takes no times, optional or consecutive`)
  const copy = defined({ name, where, contiguity, times, consecutive, optional, absent })
  const rule: StepRule = {
    name,
    where,
    contiguity: contiguity ?? 'followedBy',
    ...boundsOf(times),
    consecutive: consecutive ?? false,
    optional: optional ?? false,
    absent: absent ?? false,
  }
  return { copy, rule }
}

function timesOf(value: unknown, what: string): PatternStep['times'] {
  if (typeof value === 'number') return count(value, what)
  const f = fieldsOf(value, what, ['min', 'max'])
  const min = count(f.min, `${what}.min`)
  if (f.max === undefined) return { min }
  const max = count(f.max, `${what}.max`)
  if (max < min) throw invalid(`${what}.max must be at least min (${min}), not ${max}`)
  return { min, max }
}

function count(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw invalid(`${what} must be a positive integer (use optional for none), not ${describe(value)}`)
  }
  return value as number
}

function boundsOf(times: PatternStep['times']): { min: number; max: number } {
  const t = times ?? 1
  return typeof t === 'number' ? { min: t, max: t } : { min: t.min, max: t.max ?? Infinity }
}

/** The rules between steps: names, absence placement, repetition options. */
function checkShape(steps: readonly StepRule[], hasWithin: boolean): void {
  const names = new Set<string>()
  steps.forEach((step, i) => {
    const at = `pattern.steps[${i}]`
    if (names.has(step.name)) throw invalid(`${at}.name '${step.name}' is already the name of an earlier step`)
    names.add(step.name)
    if (step.consecutive && step.max === 1) throw invalid(`${at}.consecutive applies only to a repeated step (times above 1)`)
    if (step.absent) checkAbsent(steps, i, at, hasWithin)
  })
  if (!steps.some(required)) throw invalid('pattern.steps must have a step that is neither optional nor absent')
}

/** Flink's rules for not-patterns: between required steps (or last, with a time limit). */
function checkAbsent(steps: readonly StepRule[], i: number, at: string, hasWithin: boolean): void {
  if (i === 0) throw invalid(`${at}.absent: a pattern cannot start with an absent step`)
  if (steps[i].contiguity === 'followedByAny') {
    throw invalid(`${at}.contiguity of an absent step is 'next' (notNext) or 'followedBy' (notFollowedBy), not 'followedByAny'`)
  }
  if (!required(steps[i - 1])) throw invalid(`${at}.absent: the step before an absent step must be neither optional nor absent`)
  if (i + 1 < steps.length && !required(steps[i + 1])) {
    throw invalid(`${at}.absent: the step after an absent step must be neither optional nor absent`)
  }
  if (i + 1 === steps.length && !hasWithin) throw invalid(`pattern.within is required when the last step is absent: it says how long the absence is awaited`)
}

function skipOf(value: unknown, steps: readonly StepRule[]): { copy: PatternSpec['skip']; rule: Skip } {
  if (typeof value === 'string') {
    const kind = oneOf(value, SKIPS, 'pattern.skip')
    return { copy: kind, rule: { kind } }
  }
  const expected = `${SKIPS.map((s) => `'${s}'`).join(', ')}, { skipToFirst: step } or { skipToLast: step }`
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`pattern.skip must be ${expected}, not ${describe(value)}`)
  const f = fieldsOf(value, 'pattern.skip', ['skipToFirst', 'skipToLast'])
  const kinds = Object.keys(f) as ('skipToFirst' | 'skipToLast')[]
  if (kinds.length !== 1) throw invalid(`pattern.skip must be ${expected}`)
  const [kind] = kinds
  const name = f[kind]
  const step = steps.findIndex((s) => s.name === name && !s.absent)
  if (step < 0) throw invalid(`pattern.skip.${kind} must name a step of the pattern that binds events, not ${describe(name)}`)
  return { copy: { [kind]: name } as PatternSpec['skip'], rule: { kind, step } }
}

function invalid(message: string): WarpError {
  return new WarpError('INVALID_ARGUMENT', message)
}

/** A copy of an object's own enumerable properties; unknown ones are refused (typos). */
function fieldsOf(value: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  // `ownFields` reads a missing spec as empty; a pattern's parts are never optional.
  if (value === undefined) throw invalid(`${what} must be an object, not ${describe(value)}`)
  return ownFields(value, what, allowed, (field, message) => invalid(`${field} ${message}`), `${what}.`)
}

/** `fields` without those that are undefined (the options left out). */
function defined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as T
}

/** An array's elements, a hole (which would read Array.prototype) as undefined. */
function ownItems(array: unknown[]): unknown[] {
  return Array.from({ length: array.length }, (_, i) => (Object.hasOwn(array, i) ? array[i] : undefined))
}

function nameOf(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${what} must be a non-empty string, not ${describe(value)}`)
  return value
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) throw invalid(`${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, not ${describe(value)}`)
  return value as T
}

function required(step: StepRule): boolean {
  return !step.optional && !step.absent
}

// ---------------------------------------------------------------------------------------------
// Compiling checked rules

/** What an event passed over by a run does to a target: ends it, ends it if it matches, nothing. */
type Mode = 'strict' | 'first' | 'any'

interface Step extends StepRule {
  readonly index: number
  /** How a run whose last event is bound here may go on: this step again, then later steps. */
  targets: Target[]
  /** With `min` events here a run is a whole match: every later step is optional. */
  complete: boolean
}

interface Target {
  /** The step the next event binds to; null: the absent last step, met by the deadline. */
  readonly to: Step | null
  /** Another event of the same step (open while below `max`); else open from `min` on. */
  readonly inner: boolean
  readonly mode: Mode
  /** Absent steps in between: an event satisfying one ends the target. */
  readonly absents: readonly Step[]
}

interface Compiled {
  readonly name: string
  readonly steps: readonly Step[]
  /** Steps a match can start with: the first, and past it while they are optional. */
  readonly starts: readonly Step[]
  /** Steps that bind events (not absent), in order: the shape of `matched` and `events`. */
  readonly present: readonly Step[]
  readonly within: number
  readonly skip: Skip
}

function compile(rules: Rules): Compiled {
  const steps: Step[] = rules.steps.map((rule, index) => ({ ...rule, index, targets: [], complete: false }))
  for (const step of steps) {
    if (step.absent) continue
    const inner: Target = { to: step, inner: true, mode: step.consecutive ? 'strict' : 'first', absents: [] }
    const { targets, complete } = exitsFrom(steps, step.index)
    step.targets = step.max > 1 ? [inner, ...targets] : targets
    step.complete = complete
  }
  return {
    name: rules.name,
    steps,
    starts: steps.slice(0, steps.findIndex(required) + 1),
    present: steps.filter((s) => !s.absent),
    within: rules.within,
    skip: rules.skip,
  }
}

/** The later steps a run at step `from` may bind its next event to (skipping optional ones). */
function exitsFrom(steps: Step[], from: number): { targets: Target[]; complete: boolean } {
  const targets: Target[] = []
  const next = from + 1
  if (steps[next]?.absent) {
    // Absent steps sit between required ones (checkShape), so this is the only way on.
    const to = steps[next + 1] ?? null
    targets.push({ to, inner: false, mode: to ? modeOf(to) : 'any', absents: [steps[next]] })
    return { targets, complete: false }
  }
  for (let i = next; i < steps.length; i++) {
    targets.push({ to: steps[i], inner: false, mode: modeOf(steps[i]), absents: [] })
    if (!steps[i].optional) return { targets, complete: false }
  }
  return { targets, complete: true }
}

function modeOf(step: Step): Mode {
  return step.contiguity === 'next' ? 'strict' : step.contiguity === 'followedBy' ? 'first' : 'any'
}

// ---------------------------------------------------------------------------------------------
// Matching

/** A point in a key's processing order: event time, then arrival (n = −1: before all events). */
interface Point {
  readonly ts: number
  readonly n: number
}

/** An on-time event and its arrival number. */
interface Ev extends Point {
  readonly event: Rec
}

/** The events of a (partial) match as a list shared between runs: last first. */
interface Bound {
  readonly step: number
  readonly ev: Ev
  readonly prev: Bound | null
}

interface Run {
  readonly start: Ev
  readonly last: Bound
  /** Events bound to the last event's step. */
  readonly count: number
  alive: Target[]
  /** No event has come since the last bound one (what notNext judges). */
  fresh: boolean
  /** `matched` for its `where` calls, built once. */
  matched?: Matched
}

/** A complete match: `at` orders it by when it became certain. */
interface Done {
  readonly start: Ev
  readonly last: Bound
  readonly absence: boolean
  readonly at: Point
}

interface KeyState {
  readonly key: string
  /** Partial matches, in order of start. */
  runs: Run[]
  /** Complete matches waiting for earlier-starting runs (skip strategies), in emission order. */
  held: Done[]
  timer: Timer | null
}

interface Pending {
  readonly key: string
  readonly ev: Ev
}

/** When the earliest run of `key` reaches its deadline. */
interface Timer {
  readonly at: number
  readonly key: string
}

interface Snapshot {
  v: 1
  watermark: number | string
  arrivals: number
  errors: number
  /** [ts, arrival, event] of every event the state holds, each once. */
  events: [number, number, Rec][]
  /** [key, event] */
  pending: [string, number][]
  /** [key, runs as [bound, count, alive targets, fresh], held as [bound, absence]]; bound: [step, event]… first to last */
  keys: [string, [number[], number, number[], boolean][], [number[], boolean][]][]
}

class Matcher implements PatternOperator {
  readonly name: string
  private watermark = -Infinity
  private arrivals = 0
  private failures = 0
  private pending = new Heap<Pending>(pendingBefore)
  private timers = new Heap<Timer>(timerBefore)
  private keys = new Map<string, KeyState>()
  /** `matched` before any event is bound. */
  private readonly nothing: Matched

  constructor(
    private readonly p: Compiled,
    private readonly out: Emitter<PatternMatch>,
    private readonly input: number,
  ) {
    this.name = p.name
    this.nothing = this.matchedOf(null)
  }

  get errors(): number {
    return this.failures
  }

  onEvent(input: number, e: StreamEvent): void {
    if (input !== this.input) return
    if (e.ts < this.watermark) return this.out.late(input, e)
    this.pending.push({ key: e.key, ev: { ts: e.ts, n: this.arrivals++, event: e.event } })
  }

  /** Matches the events the watermark passed and fires the deadlines it reached, in time order. */
  onWatermark(input: number, wm: number): void {
    if (input !== this.input || !(wm > this.watermark)) return
    this.watermark = wm
    for (;;) {
      const event = this.pending.peek()
      const timer = this.timers.peek()
      const eventDue = event !== undefined && event.ev.ts < wm
      if (timer !== undefined && timer.at <= wm && (!eventDue || timer.at <= event.ev.ts)) {
        this.timers.pop()
        this.onTimer(timer)
      } else if (eventDue) {
        this.pending.pop()
        this.onTimely(event)
      } else {
        return
      }
    }
  }

  private onTimely({ key, ev }: Pending): void {
    let ks = this.keys.get(key)
    if (!ks) this.keys.set(key, (ks = { key, runs: [], held: [], timer: null }))
    const next: Run[] = []
    const done: Done[] = []
    for (const run of ks.runs) this.advance(run, ev, next, done)
    for (const step of this.p.starts) {
      if (this.holds(step, ev, null)) this.bind(ev, { step: step.index, ev, prev: null }, 1, next, done)
    }
    ks.runs = next
    this.settle(ks, done)
  }

  /** A run meets `ev`: it may bind it along each open target, and lives on if a target stays open. */
  private advance(run: Run, ev: Ev, next: Run[], done: Done[]): void {
    const alive: Target[] = []
    for (const t of run.alive) {
      if (this.forbids(t, run, ev)) continue
      const to = t.to
      const takes = to !== null && this.holds(to, ev, run)
      if (takes) this.bind(run.start, { step: to.index, ev, prev: run.last }, t.inner ? run.count + 1 : 1, next, done)
      if (t.mode === 'any' || (t.mode === 'first' && !takes)) alive.push(t)
    }
    if (alive.length === 0) return
    run.alive = alive
    run.fresh = false
    next.push(run)
  }

  /** An absent step between the run's last event and the target's next one rules `ev` out. */
  private forbids(t: Target, run: Run, ev: Ev): boolean {
    return t.absents.some((a) => (run.fresh || a.contiguity !== 'next') && this.holds(a, ev, run))
  }

  /** A run that just bound `last`: a match if it completes the pattern, a run if it can go on. */
  private bind(start: Ev, last: Bound, count: number, next: Run[], done: Done[]): void {
    const step = this.p.steps[last.step]
    if (step.complete && count >= step.min) done.push(this.done(start, last, false))
    const alive = step.targets.filter((t) => (t.inner ? count < step.max : count >= step.min))
    if (alive.length > 0) next.push({ start, last, count, alive, fresh: true })
  }

  private onTimer(timer: Timer): void {
    const ks = this.keys.get(timer.key)
    if (ks?.timer !== timer) return // the key's state ended since
    ks.timer = null
    // Runs are in order of start, so those past their deadline come first.
    let expired = 0
    while (expired < ks.runs.length && this.deadline(ks.runs[expired]) <= timer.at) expired++
    const done = ks.runs
      .slice(0, expired)
      .filter((run) => run.alive.some((t) => t.to === null))
      .map((run) => this.done(run.start, run.last, true))
    ks.runs = ks.runs.slice(expired)
    this.settle(ks, done)
  }

  private deadline(run: Run): number {
    return run.start.ts + this.p.within
  }

  /** Emits (or holds) new matches, then drops the key's state if it is empty, else keeps a timer. */
  private settle(ks: KeyState, done: Done[]): void {
    if (this.p.skip.kind === 'noSkip') {
      // All of `done` became certain at one point (an event or a deadline): emit now, by start.
      for (const m of done.sort(emissionOrder)) this.emit(ks.key, m)
    } else {
      ks.held.push(...done)
      ks.held.sort(emissionOrder)
      this.release(ks)
    }
    if (ks.runs.length === 0) this.keys.delete(ks.key) // nothing is held either: no run precedes it
    else this.schedule(ks)
  }

  /** One timer per key, at (or before) its earliest deadline, which never moves earlier: new runs start later. */
  private schedule(ks: KeyState): void {
    if (ks.timer) return
    ks.timer = { at: this.deadline(ks.runs[0]), key: ks.key }
    this.timers.push(ks.timer)
  }

  /** Emits held matches no earlier-starting run could still prune, pruning after each (Flink). */
  private release(ks: KeyState): void {
    while (ks.held.length > 0) {
      const m = ks.held[0]
      if (ks.runs.length > 0 && cmpPoint(ks.runs[0].start, m.start) < 0) return
      ks.held.shift()
      this.emit(ks.key, m)
      const prunes = this.pruner(m)
      if (!prunes) continue
      ks.runs = ks.runs.filter((r) => !prunes(r.start))
      ks.held = ks.held.filter((h) => !prunes(h.start))
    }
  }

  /** Which (partial) matches, by their first event, emitting `m` discards. */
  private pruner(m: Done): ((start: Ev) => boolean) | null {
    const skip = this.p.skip
    switch (skip.kind) {
      case 'noSkip':
        return null
      case 'skipToNext':
        return (start) => cmpPoint(start, m.start) <= 0
      case 'skipPastLastEvent':
        return (start) => cmpPoint(start, m.last.ev) <= 0
      case 'skipToFirst':
      case 'skipToLast': {
        const bound = boundsIn(m.last).filter((b) => b.step === skip.step)
        const to = skip.kind === 'skipToFirst' ? bound[0] : bound.at(-1)
        return to ? (start) => cmpPoint(start, to.ev) < 0 : null
      }
    }
  }

  private done(start: Ev, last: Bound, absence: boolean): Done {
    return { start, last, absence, at: absence ? { ts: start.ts + this.p.within, n: -1 } : last.ev }
  }

  private emit(key: string, m: Done): void {
    const events = this.byStep(m.last, (list) => list)
    this.out.emit({ key, start: m.start.ts, end: m.absence ? m.at.ts : m.last.ev.ts, events }, true)
  }

  /** Whether `ev` satisfies `step` for `run` (no run: as a first event). */
  private holds(step: Step, ev: Ev, run: Run | null): boolean {
    if (!step.where) return true
    try {
      return Boolean(step.where(ev.event, run ? (run.matched ??= this.matchedOf(run.last)) : this.nothing))
    } catch {
      this.failures++
      return false
    }
  }

  private matchedOf(last: Bound | null): Matched {
    return Object.freeze(this.byStep(last, (list) => Object.freeze(list)))
  }

  /** The events of `last`'s chain by step name, every non-absent step present. */
  private byStep<T>(last: Bound | null, wrap: (list: Rec[]) => T): Record<string, T> {
    const lists = new Map<number, Rec[]>(this.p.present.map((s) => [s.index, []]))
    for (const b of boundsIn(last)) lists.get(b.step)!.push(b.ev.event)
    // fromEntries defines properties, so even a step named __proto__ is an ordinary key.
    return Object.fromEntries(this.p.present.map((s) => [s.name, wrap(lists.get(s.index)!)]))
  }

  snapshot(): Snapshot {
    const ids = new Map<Ev, number>()
    const events: Snapshot['events'] = []
    const id = (ev: Ev): number => {
      let i = ids.get(ev)
      if (i === undefined) {
        ids.set(ev, (i = events.length))
        events.push([ev.ts, ev.n, ev.event])
      }
      return i
    }
    const chain = (last: Bound): number[] => boundsIn(last).flatMap((b) => [b.step, id(b.ev)])
    const keys: Snapshot['keys'] = [...this.keys.values()].map((ks) => [
      ks.key,
      ks.runs.map((r) => [chain(r.last), r.count, r.alive.map((t) => this.p.steps[r.last.step].targets.indexOf(t)), r.fresh]),
      ks.held.map((m) => [chain(m.last), m.absence]),
    ])
    const pending = this.pending.items().map((p): [string, number] => [p.key, id(p.ev)])
    return { v: 1, watermark: encodeTime(this.watermark), arrivals: this.arrivals, errors: this.failures, events, pending, keys }
  }

  restore(state: unknown): void {
    const s = state as Snapshot
    if (s?.v !== 1) throw invalid(`pattern ${this.name}: not a snapshot of a pattern operator`)
    const events: Ev[] = s.events.map(([ts, n, event]) => ({ ts, n, event }))
    const chain = (flat: number[]): Bound => {
      let last: Bound | null = null
      for (let i = 0; i < flat.length; i += 2) last = { step: flat[i], ev: events[flat[i + 1]], prev: last }
      return last!
    }
    this.watermark = decodeTime(s.watermark)
    this.arrivals = s.arrivals
    this.failures = s.errors
    this.pending = new Heap<Pending>(pendingBefore)
    for (const [key, i] of s.pending) this.pending.push({ key, ev: events[i] })
    this.keys = new Map()
    this.timers = new Heap<Timer>(timerBefore)
    for (const [key, runs, held] of s.keys) {
      const ks: KeyState = { key, runs: [], held: [], timer: null }
      ks.runs = runs.map(([flat, count, alive, fresh]) => {
        const last = chain(flat)
        return { start: boundsIn(last)[0].ev, last, count, alive: alive.map((i) => this.p.steps[last.step].targets[i]), fresh }
      })
      ks.held = held.map(([flat, absence]) => {
        const last = chain(flat)
        return this.done(boundsIn(last)[0].ev, last, absence)
      })
      this.keys.set(key, ks)
      this.schedule(ks)
    }
  }
}

/** A chain's entries, first to last. */
function boundsIn(last: Bound | null): Bound[] {
  const list: Bound[] = []
  for (let b = last; b; b = b.prev) list.push(b)
  return list.reverse()
}

function cmpPoint(a: Point, b: Point): number {
  return a.ts - b.ts || a.n - b.n
}

/** Tie-break between matches: their events (then steps) in order, a prefix first. */
function cmpChains(a: Bound, b: Bound): number {
  const x = boundsIn(a)
  const y = boundsIn(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = cmpPoint(x[i].ev, y[i].ev) || x[i].step - y[i].step
    if (c !== 0) return c
  }
  return x.length - y.length
}

/** By start, then by when they became certain, then by their events. */
function emissionOrder(a: Done, b: Done): number {
  return cmpPoint(a.start, b.start) || cmpPoint(a.at, b.at) || cmpChains(a.last, b.last)
}

function pendingBefore(a: Pending, b: Pending): boolean {
  return cmpPoint(a.ev, b.ev) < 0
}

/** Timers fire in time order, keys breaking ties, so a restored heap pops as the original. */
function timerBefore(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.key < b.key)
}


