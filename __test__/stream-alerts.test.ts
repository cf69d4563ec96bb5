// Alert rules: every transition at its edges (thresholds, hysteresis, `for`, rate, absence),
// out-of-order arrival against a reference state machine run over ts-sorted events,
// snapshot/restore mid-stream, and bounded state.
import test from 'ava'
import fc from 'fast-check'
import assert from 'node:assert/strict'

import { AlertEvent, AlertOperator, AlertSpec, alertOperator, checkAlert } from '../ts/stream/alerts'
import { Emitter, StreamEvent } from '../ts/stream/operator'
import { codeOf } from './helpers'

type Op = { kind: 'event'; e: StreamEvent } | { kind: 'wm'; wm: number }

const at = (ts: number, v: unknown, key = 'k'): Op => ({ kind: 'event', e: { key, ts, event: v === undefined ? {} : { v } } })
const wm = (w: number): Op => ({ kind: 'wm', wm: w })

function sink() {
  const alerts: AlertEvent[] = []
  const late: StreamEvent[] = []
  const out: Emitter<AlertEvent> = {
    emit(a, final) {
      assert.equal(final, true)
      alerts.push(a)
    },
    late(input, e) {
      assert.equal(input, 0)
      late.push(e)
    },
  }
  return { out, alerts, late }
}

function feed(op: AlertOperator, ops: Op[]): void {
  for (const o of ops) {
    if (o.kind === 'event') op.onEvent(0, o.e)
    else op.onWatermark(0, o.wm)
  }
}

function run(spec: Omit<AlertSpec, 'name' | 'field'>, ops: Op[]) {
  const s = sink()
  const op = alertOperator({ name: 'r', field: 'v', ...spec }, s.out)
  feed(op, ops)
  return { ...s, op, brief: brief(s.alerts) }
}

/** `state@ts=value`, one per alert (key too, when not 'k'). */
const brief = (alerts: AlertEvent[]): string[] => alerts.map((a) => `${a.key === 'k' ? '' : `${a.key} `}${a.state}@${a.ts}=${a.value}`)

const values = (pairs: [number, unknown][]): Op[] => pairs.map(([ts, v]) => at(ts, v))

test('threshold: fires strictly above, resolves at the threshold, evaluated once the watermark passes', (t) => {
  const { op, brief: b, alerts } = run({ above: 90 }, values([[1, 90], [2, 91], [3, 95], [4, 90], [5, 91]]))
  t.deepEqual(b, [], 'nothing before the watermark')
  feed(op, [wm(5)])
  t.deepEqual(brief(alerts), ['firing@2=91', 'resolved@4=90'], 'the event at the watermark waits')
  feed(op, [wm(6)])
  t.deepEqual(brief(alerts), ['firing@2=91', 'resolved@4=90', 'firing@5=91'])
  t.deepEqual(alerts[0], { rule: 'r', key: 'k', state: 'firing', ts: 2, value: 91, reason: 'v is 91, above 90' })
  t.is(alerts[1].reason, 'v is 90, no longer above 90')
})

test('threshold: below, and both bounds (outside the band)', (t) => {
  t.deepEqual(run({ below: 10 }, [...values([[1, 10], [2, 9.5], [3, 10]]), wm(9)]).brief, ['firing@2=9.5', 'resolved@3=10'])
  t.deepEqual(run({ above: 90, below: 10 }, [...values([[1, 10], [2, 5], [3, 95], [4, 90], [5, 91]]), wm(9)]).brief, ['firing@2=5', 'resolved@4=90', 'firing@5=91'])
})

test('hysteresis: once firing, only a value past `clear` resolves it', (t) => {
  const up = run({ above: 90, clear: 80 }, [...values([[1, 95], [2, 85], [3, 80], [4, 79.9], [5, 85], [6, 90.5]]), wm(9)])
  t.deepEqual(up.brief, ['firing@1=95', 'resolved@4=79.9', 'firing@6=90.5'], 'equal to clear keeps it firing; 85 after resolving is not above 90')
  t.is(up.alerts[1].reason, 'v is 79.9, past the clear level 80')
  const down = run({ below: 10, clear: 20 }, [...values([[1, 5], [2, 15], [3, 20], [4, 21], [5, 15]]), wm(9)])
  t.deepEqual(down.brief, ['firing@1=5', 'resolved@4=21'])
  t.deepEqual(run({ above: 90, clear: 90 }, [...values([[1, 91], [2, 90], [3, 89]]), wm(9)]).brief, ['firing@1=91', 'resolved@3=89'])
})

test('for: pending from the first value meeting the condition, firing once it held that long', (t) => {
  // A value exactly at t0 + for that still meets the condition fires there.
  const held = run({ above: 90, for: 10 }, [...values([[100, 95], [105, 91], [110, 96]]), wm(110)])
  t.deepEqual(held.brief, ['pending@100=95'], 'an event at t0 + for could still come')
  feed(held.op, [wm(111)])
  t.deepEqual(brief(held.alerts), ['pending@100=95', 'firing@110=96'])
  t.is(held.alerts[1].reason, 'v has been above 90 for 10ms, since 100')
  // One failing exactly at t0 + for: it did not hold at that instant.
  t.deepEqual(run({ above: 90, for: '10ms' }, [...values([[100, 95], [110, 90]]), wm(1000)]).brief, ['pending@100=95'])
  // With no event at t0 + for, the watermark passing it fires (the last value stands).
  const quiet = run({ above: 90, for: 10 }, [...values([[100, 95], [103, 97]]), wm(110)])
  t.deepEqual(quiet.brief, ['pending@100=95'])
  feed(quiet.op, [wm(111)])
  t.deepEqual(brief(quiet.alerts), ['pending@100=95', 'firing@110=97'])
  // Failing before: back to inactive silently, and the next run counts from its own start.
  t.deepEqual(run({ above: 90, for: 10 }, [...values([[100, 95], [105, 80], [107, 95], [116, 95], [118, 50]]), wm(1000)]).brief, [
    'pending@100=95',
    'pending@107=95',
    'firing@117=95',
    'resolved@118=50',
  ])
  t.deepEqual(run({ above: 90, for: 0 }, [...values([[1, 95]]), wm(9)]).brief, ['firing@1=95'], 'for: 0 fires at once')
})

test('rate: (v − previous) per second by default, strictly past its bounds', (t) => {
  const { brief: b, alerts } = run({ rate: { above: 1 } }, [
    ...values([
      [0, 0], // no previous value: no rate
      [1000, 1], // 1/s: not above 1
      [2000, 3], // 2/s
      [2000, 100], // the same instant: no rate, and it stands as the previous value
      [2500, 100.5], // 1/s: resolves
      [3000, 50],
      [3500, 'n/a'], // skipped
      [4000, 60], // 10/s
    ]),
    wm(9000),
  ])
  t.deepEqual(b, ['firing@2000=2', 'resolved@2500=1', 'firing@4000=10'])
  t.is(alerts[0].reason, 'v rate (per 1000ms) is 2, above 1')
  t.deepEqual(run({ rate: { below: -30, per: '1m' } }, [...values([[0, 10], [60_000, -20], [120_000, -51]]), wm(1e6)]).brief, ['firing@120000=-31'])
  t.deepEqual(run({ rate: { above: 5, per: 1000 }, clear: 1, for: 1000 }, [...values([[0, 0], [500, 5], [1500, 15], [2500, 16], [3500, 16.5]]), wm(1e6)]).brief, [
    'pending@500=10',
    'firing@1500=10',
    'resolved@3500=0.5',
  ], 'a rate equal to clear (1/s at 2500) keeps it firing')
})

test('absence: fires at last ts + absent once the watermark reaches it, resolves at the next event', (t) => {
  const { op, alerts } = run({ absent: 10 }, [at(0, 1), at(3, 1, 'other'), wm(9)])
  t.deepEqual(brief(alerts), [])
  feed(op, [wm(10)])
  t.deepEqual(brief(alerts), ['firing@10=null'], 'a key quiet for exactly `absent` fires')
  t.is(alerts[0].reason, 'no event for 10ms since 0')
  feed(op, [at(15, 7), wm(13), wm(16)])
  t.deepEqual(brief(alerts), ['firing@10=null', 'other firing@13=null', 'resolved@15=7'])
  t.is(alerts[2].reason, 'an event came after 15ms without one')
  // An event exactly at the deadline comes after it: the key was quiet for `absent`.
  t.deepEqual(run({ absent: 10 }, [at(0, 1), at(10, 1), wm(20)]).brief, ['firing@10=null', 'resolved@10=1', 'firing@20=null'])
  // Any event is data, whatever its field holds; a key never seen never fires.
  t.deepEqual(run({ absent: '10ms' }, [at(0, 'x'), at(8, undefined), at(17, NaN), wm(27)]).brief, ['firing@27=null'])
  t.deepEqual(run({ absent: 10 }, [wm(1000)]).brief, [])
  // A watermark far ahead fires once, not again.
  t.deepEqual(run({ absent: 10 }, [at(0, 1), wm(50), wm(100), at(101, 2), wm(102)]).brief, ['firing@10=null', 'resolved@101=2'])
})

test('values missing or not finite are skipped and counted, and change nothing', (t) => {
  const { op, brief: b } = run({ above: 90 }, [...values([[1, 95], [2, 'x'], [3, NaN], [4, undefined], [5, Infinity], [6, null], [7, 80]]), wm(9)])
  t.deepEqual(b, ['firing@1=95', 'resolved@7=80'])
  t.is(op.skipped, 5)
  const restored = alertOperator({ name: 'r', field: 'v', above: 1 }, sink().out)
  restored.restore(JSON.parse(JSON.stringify(op.snapshot())))
  t.is(restored.skipped, 5)
})

test('events are taken in (ts, arrival) order; one behind the watermark is late', (t) => {
  const { brief: b, late } = run({ above: 90, for: 5 }, [at(5, 95), at(3, 80), at(0, 95), at(3, 95), wm(4), at(3, 10), at(4, 10), at(4, 91), wm(100)])
  // In time order: 95@0 pending; 80@3 then 95@3 (arrival order) pending again; 10@4 then 91@4
  // pending again, held until 4 + 5 by 95@5.
  t.deepEqual(b, ['pending@0=95', 'pending@3=95', 'pending@4=91', 'firing@9=95'])
  t.deepEqual(late, [{ key: 'k', ts: 3, event: { v: 10 } }])
})

test('keys are independent, and events of other inputs are not the rule’s', (t) => {
  const s = sink()
  const op = alertOperator({ name: 'r', field: 'v', above: 5 }, s.out, 1)
  op.onEvent(1, { key: 'a', ts: 1, event: { v: 9 } })
  op.onEvent(1, { key: 'b', ts: 2, event: { v: 1 } })
  op.onEvent(0, { key: 'b', ts: 2, event: { v: 9 } })
  op.onWatermark(0, 100)
  t.deepEqual(s.alerts, [])
  op.onWatermark(1, 100)
  t.deepEqual(brief(s.alerts), ['a firing@1=9'])
})

test('alert specs: validated, copied, errors name the field', async (t) => {
  const spec = { name: 'hot', field: 'cpu', above: 90, clear: 80, for: '5m' }
  t.deepEqual(checkAlert(spec), spec)
  const rate = { name: 'r', field: 'v', rate: { below: -1, per: '1m' } }
  t.not(checkAlert(rate).rate, rate.rate)
  t.deepEqual(checkAlert({ name: 'a', field: 'v', absent: '1m' }), { name: 'a', field: 'v', absent: '1m' })
  for (const [s, field] of [
    [undefined, 'name'],
    [{ field: 'v', above: 1 }, 'name'],
    [{ name: 'r', above: 1 }, 'field'],
    [{ name: 'r', field: 'v' }, 'exactly one condition'],
    [{ name: 'r', field: 'v', above: 1, absent: 5 }, 'exactly one condition'],
    [{ name: 'r', field: 'v', above: 1, rate: { above: 1 } }, 'exactly one condition'],
    [{ name: 'r', field: 'v', above: '1' }, 'above'],
    [{ name: 'r', field: 'v', below: NaN }, 'below'],
    [{ name: 'r', field: 'v', above: 1, below: 2 }, 'below'],
    [{ name: 'r', field: 'v', above: 1, fro: '5m' }, 'fro'],
    [{ name: 'r', field: 'v', above: 1, for: '5 minutes' }, 'for'],
    [{ name: 'r', field: 'v', above: 90, clear: 95 }, 'clear'],
    [{ name: 'r', field: 'v', below: 10, clear: 5 }, 'clear'],
    [{ name: 'r', field: 'v', above: 90, below: 10, clear: 50 }, 'clear'],
    [{ name: 'r', field: 'v', rate: {} }, 'rate'],
    [{ name: 'r', field: 'v', rate: { above: 1, per: 0 } }, 'rate.per'],
    [{ name: 'r', field: 'v', rate: { above: 1, every: 5 } }, 'rate.every'],
    [{ name: 'r', field: 'v', rate: { above: 1 }, clear: 2 }, 'clear'],
    [{ name: 'r', field: 'v', absent: 0 }, 'absent'],
    [{ name: 'r', field: 'v', absent: 5, for: 5 }, 'for'],
  ] as const) {
    t.is(await codeOf(() => checkAlert(s)), 'INVALID_ARGUMENT', field)
    t.throws(() => checkAlert(s), { message: new RegExp(field) })
  }
  t.is(await codeOf(() => alertOperator({ name: 'r', field: 'v' }, sink().out)), 'INVALID_ARGUMENT')
})

// ---- against a reference ----

const rules: fc.Arbitrary<Omit<AlertSpec, 'name' | 'field'>> = fc.oneof(
  fc.tuple(
    fc.constantFrom<Omit<AlertSpec, 'name' | 'field'>>({ above: 6 }, { below: 3 }, { above: 7, below: 2 }, { above: 6, clear: 4 }, { below: 3, clear: 5 }, { rate: { above: 2, per: 10 } }, { rate: { below: -2, per: 10 }, clear: 0 }),
    fc.integer({ min: 0, max: 8 }),
  ).map(([rule, forMs]) => ({ ...rule, for: forMs })),
  fc.integer({ min: 1, max: 8 }).map((absent) => ({ absent })),
)

const value = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 10 }) }, { weight: 1, arbitrary: fc.constantFrom(NaN, undefined, 'x') })

/** Step i brings an event up to 10 ms before i/2 or moves the watermark to a random lag behind the newest event; then a last watermark. */
const arrivals = fc
  .tuple(
    fc.array(
      fc.oneof(
        { weight: 5, arbitrary: fc.record({ key: fc.constantFrom('x', 'y'), early: fc.integer({ min: 0, max: 10 }), v: value }) },
        { weight: 1, arbitrary: fc.record({ lag: fc.integer({ min: 0, max: 12 }) }) },
      ),
      { maxLength: 150, size: 'medium' },
    ),
    fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(Infinity)),
  )
  .map(([steps, lastLag]) => {
    let newest = 0
    const ops = steps.map((s, i): Op => {
      if ('early' in s) {
        const ts = (i >> 1) - s.early
        newest = Math.max(newest, ts)
        return at(ts, s.v, s.key)
      }
      return wm(newest - s.lag)
    })
    return [...ops, wm(Number.isFinite(lastLag) ? newest + 10 - lastLag : Infinity)]
  })

/** The events on time (not behind the watermark when they came), in arrival order, and the last watermark. */
function onTime(ops: Op[]): { events: StreamEvent[]; late: StreamEvent[]; end: number } {
  let w = -Infinity
  const events: StreamEvent[] = []
  const late: StreamEvent[] = []
  for (const o of ops) {
    if (o.kind === 'wm') w = Math.max(w, o.wm)
    else (o.e.ts < w ? late : events).push(o.e)
  }
  return { events, late, end: w }
}

/**
 * The rules as a plain state machine over one key's events sorted by time (stable, so equal
 * times keep their arrival order), up to the last watermark `end`. With a `forget` (in ms), a
 * key whose next event (value, for a rate rule) comes more than `forget` after its last one
 * was forgotten in between: an absence rule's return resolves nothing, a rate rule measures no
 * rate across the gap.
 */
function reference(rule: Omit<AlertSpec, 'name' | 'field'>, sorted: StreamEvent[], end: number): string[] {
  const out: string[] = []
  const say = (state: string, ts: number, value: number | null) => out.push(`${state}@${ts}=${value}`)
  const events = sorted.filter((e) => e.ts < end)
  const forget = rule.forget as number | undefined
  if (rule.absent !== undefined) {
    const absent = rule.absent as number
    let last: number | undefined
    let firing = false
    for (const e of events) {
      if (last !== undefined && !firing && e.ts - last >= absent) {
        say('firing', last + absent, null)
        firing = true
      }
      if (forget !== undefined && last !== undefined && e.ts - last > forget) firing = false
      if (firing) say('resolved', e.ts, Number.isFinite(e.event.v) ? (e.event.v as number) : null)
      firing = false
      last = e.ts
    }
    if (last !== undefined && !firing && end - last >= absent) say('firing', last + absent, null)
    return out
  }
  const { above, below } = rule.rate ?? rule
  const forMs = rule.for as number
  const meets = (m: number) => (above !== undefined && m > above) || (below !== undefined && m < below)
  const clears = (m: number) => (rule.clear === undefined ? !meets(m) : above !== undefined ? m < rule.clear : m > rule.clear)
  let state = 'inactive'
  let since = 0
  let last = 0
  let prev: StreamEvent | undefined
  const heldUntil = (t: number) => {
    if (state === 'pending' && since + forMs < t) {
      say('firing', since + forMs, last)
      state = 'firing'
    }
  }
  for (const e of events) {
    heldUntil(e.ts)
    const v = e.event.v
    if (typeof v !== 'number' || !Number.isFinite(v)) continue
    let m = v
    if (rule.rate !== undefined) {
      const p = prev
      prev = e
      if (p === undefined || p.ts === e.ts) continue
      if (forget !== undefined && e.ts - p.ts > forget) continue
      m = ((v - (p.event.v as number)) * (rule.rate.per as number)) / (e.ts - p.ts)
    }
    last = m
    if (state === 'inactive' && meets(m)) {
      state = forMs === 0 ? 'firing' : 'pending'
      since = e.ts
      say(state, e.ts, m)
    } else if (state === 'pending' && !meets(m)) state = 'inactive'
    else if (state === 'firing' && clears(m)) {
      state = 'inactive'
      say('resolved', e.ts, m)
    }
  }
  heldUntil(end)
  return out
}

const byKey = (alerts: AlertEvent[]): Record<string, string[]> => {
  const keys: Record<string, string[]> = {}
  for (const a of alerts) (keys[a.key] ??= []).push(`${a.state}@${a.ts}=${a.value}`)
  return keys
}

test('out-of-order arrival raises what a reference state machine raises over the ts-sorted on-time events, and what in-order arrival raises', (t) => {
  fc.assert(
    fc.property(rules, arrivals, (rule, ops) => {
      const { events, late, end } = onTime(ops)
      const sorted = [...events].sort((a, b) => a.ts - b.ts)
      const expected: Record<string, string[]> = {}
      for (const key of ['x', 'y']) {
        const alerts = reference(rule, sorted.filter((e) => e.key === key), end)
        if (alerts.length > 0) expected[key] = alerts
      }
      const shuffled = run(rule, ops)
      assert.deepEqual(byKey(shuffled.alerts), expected)
      assert.deepEqual(shuffled.late, late)
      const inOrder = run(rule, [...sorted.flatMap((e) => [{ kind: 'event' as const, e }, wm(Math.min(e.ts, end))]), wm(end)])
      assert.deepEqual(byKey(inOrder.alerts), expected)
      assert.deepEqual(inOrder.late, [])
    }),
    { numRuns: 1000 },
  )
  t.pass()
})

test('an alert rule restored from a snapshot mid-stream continues identically', (t) => {
  fc.assert(
    fc.property(rules, arrivals, fc.nat(), (rule, ops, at) => {
      const cut = at % (ops.length + 1)
      const whole = run(rule, ops)
      const first = run(rule, ops.slice(0, cut))
      const second = run(rule, [])
      second.op.restore(JSON.parse(JSON.stringify(first.op.snapshot())))
      feed(second.op, ops.slice(cut))
      assert.deepEqual([...first.alerts, ...second.alerts], whole.alerts)
      assert.deepEqual([...first.late, ...second.late].map((e) => [e.key, e.ts]), whole.late.map((e) => [e.key, e.ts]))
      assert.equal(second.op.skipped, whole.op.skipped)
    }),
    { numRuns: 500 },
  )
  t.pass()
})

test('alert state stays small: 100k events over 1,000 keys', (t) => {
  // A threshold rule forgets inactive keys; rate and absence rules keep a little for every key.
  for (const [rule, maxKeys] of [
    [{ above: 90, for: '2s' }, 200],
    [{ rate: { above: 50 }, clear: 0 }, 1000],
    [{ absent: '1s' }, 1000],
  ] as const) {
    const s = sink()
    const op = alertOperator({ name: 'r', field: 'v', ...rule }, s.out)
    let largest = 0
    for (let i = 0; i < 100_000; i++) {
      // 10 events a millisecond, up to 30 ms out of order; the watermark lags 40 ms. Each key
      // sends every 100 ms for 2 s, then is quiet for 1 s; its value moves by 13 (mod 100).
      const ts = Math.floor(i / 10) + ((i * 7919) % 31) - 30
      const round = Math.floor(i / 1000)
      if (round % 30 < 20) op.onEvent(0, { key: `k${i % 1000}`, ts, event: { v: ((i % 1000) * 7 + round * 13) % 100 } })
      op.onWatermark(0, Math.floor(i / 10) - 40)
      if (i % 10_000 === 0) largest = Math.max(largest, JSON.stringify(op.snapshot()).length)
    }
    t.deepEqual(s.late, [])
    t.true(s.alerts.length > 1000)
    t.true(largest < 300_000, `${largest} bytes`)
    op.onWatermark(0, 20_000)
    const state = op.snapshot() as { events: unknown[]; rule: { keys: unknown[] } }
    t.deepEqual(state.events, [], 'every event evaluated')
    t.true(state.rule.keys.length <= maxKeys, `${state.rule.keys.length} keys`)
    t.true(JSON.stringify(state).length < 100 * maxKeys, 'a little per key')
  }
})

// ---- forgetting silent keys (bounded state for rate and absence rules) ----

/** The keys a rule's snapshot holds. */
const keysOf = (op: AlertOperator): string[] => (op.snapshot() as { rule: { keys: [string, unknown][] } }).rule.keys.map(([k]) => k)

test('forget: a rate rule measures no rate across a gap longer than `forget`, and drops the key', (t) => {
  const ops = [
    ...values([
      [0, 0],
      [1000, 5], // 5/s: fires
      [7000, 6], // 6 s later: forgotten in between, a first value again (no rate), still firing
      [8000, 6], // 0/s: resolves
      [14000, 100], // forgotten again (inactive): no rate, although 94/s
      [15000, 100],
      [20000, 200], // exactly `forget` after the last value: remembered, 20/s
    ]),
    wm(20001),
  ]
  const { brief: b, op, alerts } = run({ rate: { above: 1 }, forget: '5s' }, ops)
  t.deepEqual(b, ['firing@1000=5', 'resolved@8000=0', 'firing@20000=20'])
  t.deepEqual(keysOf(op), ['k'])
  // Firing, it stays (open) but loses its previous value; inactive, it goes altogether.
  feed(op, [wm(25001)])
  t.deepEqual(keysOf(op), ['k'])
  t.is((op.snapshot() as { rule: { keys: [string, { prev?: unknown }][] } }).rule.keys[0][1].prev, undefined)
  // Its next value is a first one; the one after measures a rate again, which resolves it.
  feed(op, [at(26000, 200), at(27000, 200), wm(27001)])
  t.deepEqual(brief(alerts), ['firing@1000=5', 'resolved@8000=0', 'firing@20000=20', 'resolved@27000=0'])
  feed(op, [wm(32002)])
  t.deepEqual(keysOf(op), [])
  // By default (an hour here) the same gaps are measured.
  const kept = run({ rate: { above: 1 } }, ops).alerts.map((a) => [a.state, a.ts, a.value])
  t.deepEqual(kept, [
    ['firing', 1000, 5],
    ['resolved', 7000, 1000 / 6000],
    ['firing', 14000, 94_000 / 6000],
    ['resolved', 15000, 0],
    ['firing', 20000, 20],
  ])
})

test('forget: churning keys leave no state behind in a rate rule, by default after an hour', (t) => {
  const { op } = run({ rate: { above: 1000 } }, [])
  for (let i = 0; i < 1000; i++) {
    feed(op, [at(i * 10, 1, `k${i}`), at(i * 10 + 1, 1, `k${i}`), wm(i * 10)])
  }
  feed(op, [wm(10_000)])
  t.is(keysOf(op).length, 1000, 'heard within the hour')
  feed(op, [wm(3_600_000 + 5_000)])
  t.is(keysOf(op).length, 500, 'the first half silent for an hour')
  feed(op, [wm(1e9)])
  t.deepEqual(keysOf(op), [])
  t.true(JSON.stringify(op.snapshot()).length < 1000)
  // `per` 1 min: 100 × per (100 min) is longer than the hour.
  const slow = run({ rate: { above: 1, per: '1m' } }, [at(0, 0), wm(1), wm(100 * 60_000)]).op
  t.deepEqual(keysOf(slow), ['k'])
  feed(slow, [wm(100 * 60_000 + 1)])
  t.deepEqual(keysOf(slow), [])
})

test('forget: an absence rule forgets a key silent that long after it fired; its return resolves nothing', (t) => {
  const { op, alerts } = run({ absent: 10, forget: 50 }, [at(0, 1), at(0, 1, 'back'), wm(10)])
  t.deepEqual(brief(alerts), ['back firing@10=null', 'firing@10=null'])
  feed(op, [at(50, 2, 'back'), wm(50)])
  t.deepEqual(keysOf(op).sort(), ['back', 'k'], 'silent for exactly `forget`: remembered')
  feed(op, [wm(51)])
  t.deepEqual(brief(alerts), ['back firing@10=null', 'firing@10=null', 'back resolved@50=2'])
  t.deepEqual(keysOf(op), ['back'])
  // Its return is a new key's first event: no `resolved`, and it can fire again.
  feed(op, [at(60, 3), wm(61)])
  t.deepEqual(brief(alerts).slice(3), ['back firing@60=null'])
  feed(op, [wm(70)])
  t.deepEqual(brief(alerts).slice(3), ['back firing@60=null', 'firing@70=null'])
  // By default an hour (10 × absent when longer): a key back after 30 minutes resolves.
  t.deepEqual(run({ absent: '1m' }, [at(0, 1), wm(30 * 60_000), at(30 * 60_000, 2), wm(30 * 60_000 + 1)]).brief, ['firing@60000=null', 'resolved@1800000=2'])
  const day = run({ absent: '1m' }, [at(0, 1), wm(3_600_000)])
  t.deepEqual(keysOf(day.op), ['k'])
  feed(day.op, [wm(3_600_001)])
  t.deepEqual(keysOf(day.op), [])
  const long = run({ absent: '10h' }, [at(0, 1), wm(99 * 3_600_000)])
  t.deepEqual(keysOf(long.op), ['k'], '10 × absent')
  feed(long.op, [wm(100 * 3_600_000 + 1)])
  t.deepEqual(keysOf(long.op), [])
})

test('forget: deadlines come back with a restore', (t) => {
  for (const rule of [{ absent: 10, forget: 50 }, { rate: { above: 1 }, forget: 50 }]) {
    const first = run(rule, [at(0, 1), at(5, 1), wm(20)])
    const second = run(rule, [])
    second.op.restore(JSON.parse(JSON.stringify(first.op.snapshot())))
    t.deepEqual(keysOf(second.op), ['k'])
    feed(second.op, [wm(56)])
    t.deepEqual(keysOf(second.op), [], JSON.stringify(rule))
  }
})

test('forget: validated, and only for rate and absence rules', async (t) => {
  t.deepEqual(checkAlert({ name: 'a', field: 'v', absent: '1m', forget: '1h' }), { name: 'a', field: 'v', absent: '1m', forget: '1h' })
  t.deepEqual(checkAlert({ name: 'r', field: 'v', rate: { above: 1 }, for: 10, forget: 10 }).forget, 10)
  for (const s of [
    { name: 'r', field: 'v', above: 1, forget: '1h' },
    { name: 'r', field: 'v', rate: { above: 1 }, forget: 0 },
    { name: 'r', field: 'v', rate: { above: 1 }, forget: '1 hour' },
    { name: 'r', field: 'v', rate: { above: 1 }, forget: -5 },
    { name: 'r', field: 'v', rate: { above: 1 }, for: '2m', forget: '1m' },
    { name: 'r', field: 'v', absent: '1m', forget: '1m' },
    { name: 'r', field: 'v', absent: '1m', forget: '30s' },
  ]) {
    t.is(await codeOf(() => checkAlert(s)), 'INVALID_ARGUMENT', JSON.stringify(s))
    t.throws(() => alertOperator(s, sink().out), { message: /forget/ }, JSON.stringify(s))
  }
})

const forgetting: fc.Arbitrary<Omit<AlertSpec, 'name' | 'field'>> = fc.oneof(
  fc
    .tuple(fc.constantFrom<Omit<AlertSpec, 'name' | 'field'>>({ rate: { above: 2, per: 10 } }, { rate: { below: -2, per: 10 }, clear: 0 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 12 }))
    .map(([rule, forMs, more]) => ({ ...rule, for: forMs, forget: Math.max(1, forMs + more) })),
  fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 12 })).map(([absent, more]) => ({ absent, forget: absent + more })),
)

test('forget: rules that forget raise what the reference raises, out of order, in order and across a restore', (t) => {
  let changed = 0
  fc.assert(
    fc.property(forgetting, arrivals, fc.nat(), (rule, ops, at) => {
      const { events, end } = onTime(ops)
      const sorted = [...events].sort((a, b) => a.ts - b.ts)
      const expected: Record<string, string[]> = {}
      for (const key of ['x', 'y']) {
        const mine = sorted.filter((e) => e.key === key)
        const alerts = reference(rule, mine, end)
        if (alerts.length > 0) expected[key] = alerts
        if (JSON.stringify(alerts) !== JSON.stringify(reference({ ...rule, forget: undefined }, mine, end))) changed++
      }
      const whole = run(rule, ops)
      assert.deepEqual(byKey(whole.alerts), expected)
      const inOrder = run(rule, [...sorted.flatMap((e) => [{ kind: 'event' as const, e }, wm(Math.min(e.ts, end))]), wm(end)])
      assert.deepEqual(byKey(inOrder.alerts), expected)
      const cut = at % (ops.length + 1)
      const first = run(rule, ops.slice(0, cut))
      const second = run(rule, [])
      second.op.restore(JSON.parse(JSON.stringify(first.op.snapshot())))
      feed(second.op, ops.slice(cut))
      assert.deepEqual([...first.alerts, ...second.alerts], whole.alerts)
    }),
    { numRuns: 1000 },
  )
  t.true(changed > 50, `forgetting changed the alerts of ${changed} keys`)
})
