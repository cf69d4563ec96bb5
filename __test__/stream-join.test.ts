// Interval and window joins: hand-written cases at the edges, brute-force references over random
// out-of-order arrival and watermarks, snapshot/restore mid-stream, and bounded state.
import test from 'ava'
import fc from 'fast-check'
import assert from 'node:assert/strict'

import { checkIntervalJoin, checkWindowJoin, intervalJoin, JoinResult, windowJoin } from '../ts/stream/join'
import { Emitter, Operator, StreamEvent } from '../ts/stream/operator'
import { codeOf } from './helpers'

type Op = { kind: 'event'; input: number; e: StreamEvent } | { kind: 'wm'; input: number; wm: number }

const LEFT = 0
const RIGHT = 1
const ev = (input: number, key: string, ts: number, id = `${input ? 'b' : 'a'}${ts}`): Op => ({ kind: 'event', input, e: { key, ts, event: { id } } })
const wm = (input: number, w: number): Op => ({ kind: 'wm', input, wm: w })
const both = (w: number): Op[] => [wm(LEFT, w), wm(RIGHT, w)]

/** An emitter that records results (and that each was final) and late events. */
function sink() {
  const results: JoinResult[] = []
  const late: { input: number; id: unknown }[] = []
  const out: Emitter<JoinResult> = {
    emit(r, final) {
      assert.equal(final, true)
      results.push(r)
    },
    late: (input, e) => late.push({ input, id: e.event.id }),
  }
  return { out, results, late }
}

function run(make: (out: Emitter<JoinResult>) => Operator, ops: Op[]) {
  const s = sink()
  const op = make(s.out)
  feed(op, ops)
  return { ...s, op }
}

function feed(op: Operator, ops: Op[]): void {
  for (const o of ops) {
    if (o.kind === 'event') op.onEvent(o.input, o.e)
    else op.onWatermark(o.input, o.wm)
  }
}

const pairs = (results: JoinResult[]): string[] => results.map((r) => `${r.key}:${r.left.id}-${r.right.id}`)
const withWindows = (results: JoinResult[]): string[] => results.map((r) => `[${r.start},${r.end}) ${r.key}:${r.left.id}-${r.right.id}`)

// ---- interval join ----

const interval = (between: [number | string, number | string]) => (out: Emitter<JoinResult>) => intervalJoin({ name: 'j', between }, out)

test('interval join: both bounds are inclusive, in either arrival order', (t) => {
  const rights = [94, 95, 100, 110, 111].map((ts) => ev(RIGHT, 'k', ts))
  const leftFirst = run(interval([-5, 10]), [ev(LEFT, 'k', 100), ...rights])
  t.deepEqual(pairs(leftFirst.results), ['k:a100-b95', 'k:a100-b100', 'k:a100-b110'])
  t.deepEqual(leftFirst.results[0], { key: 'k', left: { id: 'a100' }, right: { id: 'b95' }, leftTs: 100, rightTs: 95 })
  const rightFirst = run(interval(['-5ms', '10ms']), [...rights, ev(LEFT, 'k', 100)])
  t.deepEqual(pairs(rightFirst.results), pairs(leftFirst.results), 'partners come in time order')
})

test('interval join: negative bounds and a single exact offset', (t) => {
  const ops = [ev(LEFT, 'k', 20_000), ...[9_999, 10_000, 12_000, 15_000, 15_001, 20_000].map((ts) => ev(RIGHT, 'k', ts))]
  t.deepEqual(pairs(run(interval(['-10s', '-5s']), ops).results), ['k:a20000-b10000', 'k:a20000-b12000', 'k:a20000-b15000'])
  t.deepEqual(pairs(run(interval(['-5s', '-5s']), ops).results), ['k:a20000-b15000'])
  t.deepEqual(pairs(run(interval([0, 0]), ops).results), ['k:a20000-b20000'])
})

test('interval join: keys never meet, and every pair comes once, when its second event arrives', (t) => {
  const { results } = run(interval([0, 10]), [ev(LEFT, 'x', 0, 'x0'), ev(LEFT, 'y', 0, 'y0'), ev(RIGHT, 'y', 5, 'y5'), ev(LEFT, 'y', 1, 'y1'), ev(RIGHT, 'x', 20, 'x20')])
  t.deepEqual(pairs(results), ['y:y0-y5', 'y:y1-y5'])
})

test('interval join: an event behind its own input watermark is late and joins nothing', (t) => {
  const { results, late } = run(interval([-10, 10]), [
    ev(LEFT, 'k', 50),
    wm(RIGHT, 40),
    ev(RIGHT, 'k', 39), // behind the right watermark: late
    ev(RIGHT, 'k', 40), // at the watermark: on time
    wm(LEFT, 100),
    ev(LEFT, 'k', 45), // behind the left watermark, though the right one is at 40
    ev(RIGHT, 'k', 55), // the right watermark is still 40: on time, pairs with a50
  ])
  t.deepEqual(late, [
    { input: RIGHT, id: 'b39' },
    { input: LEFT, id: 'a45' },
  ])
  t.deepEqual(pairs(results), ['k:a50-b40', 'k:a50-b55'])
})

test('interval join: a buffered event goes once no on-time partner can come', (t) => {
  const held = (op: Operator) => (JSON.parse(JSON.stringify(op.snapshot())) as { held: unknown[][] }).held.map((h) => h.length)
  const { op, results } = run(interval([-5, 10]), [ev(LEFT, 'k', 100), ev(RIGHT, 'k', 100)])
  t.deepEqual(held(op), [1, 1])
  feed(op, [wm(RIGHT, 110)])
  t.deepEqual(held(op), [1, 1], 'a right event at 110 could still pair with a100')
  feed(op, [wm(RIGHT, 111)])
  t.deepEqual(held(op), [0, 1])
  feed(op, [wm(LEFT, 105)])
  t.deepEqual(held(op), [0, 1], 'a left event at 105 could still pair with b100')
  feed(op, [wm(LEFT, 106)])
  t.deepEqual(held(op), [0, 0])
  // An on-time event that can meet no future partner pairs with what is held and is not kept.
  feed(op, [ev(RIGHT, 'k', 200), wm(RIGHT, 300), ev(LEFT, 'k', 195)])
  t.deepEqual(held(op), [0, 1])
  t.is(results.length, 2)
  // Kept right at the edge: a right event at the watermark can still pair with it.
  const edge = run(interval([0, 10]), [wm(RIGHT, 50), ev(LEFT, 'k', 40), ev(RIGHT, 'k', 50)])
  t.deepEqual(pairs(edge.results), ['k:a40-b50'])
})

test('interval join specs: validated, copied, errors name the field', async (t) => {
  const spec = { name: 'j', between: ['-5s', 10] as [string, number] }
  const copy = checkIntervalJoin(spec)
  t.deepEqual(copy, spec)
  t.not(copy.between, spec.between)
  const bad = async (s: unknown, field: string) => {
    t.is(await codeOf(() => checkIntervalJoin(s)), 'INVALID_ARGUMENT')
    t.throws(() => checkIntervalJoin(s), { message: new RegExp(field.replace(/[[\]]/g, '\\$&')) })
  }
  await bad(null, 'must be an object')
  await bad({ between: [0, 1] }, 'name')
  await bad({ name: 'j' }, 'between')
  await bad({ name: 'j', between: [0] }, 'between')
  await bad({ name: 'j', between: [0, '5x'] }, 'between[1]')
  await bad({ name: 'j', between: [1.5, 2] }, 'between[0]')
  await bad({ name: 'j', between: ['5s', '-5s'] }, 'lower ≤ upper')
  await bad({ name: 'j', between: [0, 1], lateness: 5 }, 'lateness')
  t.is(await codeOf(() => intervalJoin({ name: 'j', between: [2, 1] }, sink().out)), 'INVALID_ARGUMENT')
})

// ---- window join ----

const tumbling = (size: number) => (out: Emitter<JoinResult>) => windowJoin({ name: 'w', window: { type: 'tumbling', size } }, out)
const sliding = (size: number | string, slide: number | string) => (out: Emitter<JoinResult>) => windowJoin({ name: 'w', window: { type: 'sliding', size, slide } }, out)

test('window join: pairs in a window come when both watermarks pass its end, ordered by left then right arrival', (t) => {
  const { op, results } = run(tumbling(10), [ev(RIGHT, 'k', 3), ev(LEFT, 'k', 9), ev(LEFT, 'k', 0), ev(RIGHT, 'k', 1), ev(RIGHT, 'k', 10), ev(LEFT, 'k', 19)])
  feed(op, [wm(LEFT, 50), wm(RIGHT, 9)])
  t.deepEqual(results, [], 'the window [0, 10) is complete only once both inputs are past 10')
  feed(op, [wm(RIGHT, 10)])
  t.deepEqual(withWindows(results), ['[0,10) k:a9-b3', '[0,10) k:a9-b1', '[0,10) k:a0-b3', '[0,10) k:a0-b1'])
  t.deepEqual(results[0], { key: 'k', left: { id: 'a9' }, right: { id: 'b3' }, leftTs: 9, rightTs: 3, start: 0, end: 10 })
  feed(op, both(20))
  t.deepEqual(withWindows(results.slice(4)), ['[10,20) k:a19-b10'], 'an event at the end belongs to the next window')
})

test('window join: sliding windows join a pair in every window both are in; keys apart; late events out', (t) => {
  const { results, late } = run(sliding(10, 5), [
    ev(LEFT, 'k', 7),
    ev(RIGHT, 'k', 8),
    ev(RIGHT, 'other', 8),
    ev(RIGHT, 'k', 12),
    wm(RIGHT, 12),
    ev(RIGHT, 'k', 11, 'late'),
    ...both(Infinity),
    ev(LEFT, 'k', 100, 'after the end'),
  ])
  t.deepEqual(withWindows(results), ['[0,10) k:a7-b8', '[5,15) k:a7-b8', '[5,15) k:a7-b12'])
  t.deepEqual(late, [
    { input: RIGHT, id: 'late' },
    { input: LEFT, id: 'after the end' },
  ])
})

test('window join: negative times fall in epoch-aligned windows', (t) => {
  const { results } = run(tumbling(10), [ev(LEFT, 'k', -1), ev(RIGHT, 'k', -10), ev(RIGHT, 'k', 0), ...both(10)])
  t.deepEqual(withWindows(results), ['[-10,0) k:a-1-b-10'])
})

test('window join specs: validated, copied, errors name the field', async (t) => {
  const spec = { name: 'w', window: { type: 'sliding' as const, size: '1m', slide: '10s' } }
  const copy = checkWindowJoin(spec)
  t.deepEqual(copy, spec)
  t.not(copy.window, spec.window)
  for (const [s, field] of [
    [{ name: 'w' }, 'window'],
    [{ name: 'w', window: { type: 'hopping', size: 1 } }, 'window'],
    [{ name: 'w', window: { type: 'tumbling', size: 0 } }, 'window.size'],
    [{ name: 'w', window: { type: 'tumbling', size: 5, slide: 1 } }, 'window.slide'],
    [{ name: 'w', window: { type: 'sliding', size: 5 } }, 'window.slide'],
    [{ name: 'w', window: { type: 'sliding', size: 5, slide: 6 } }, 'window.slide'],
    [{ name: '', window: { type: 'tumbling', size: 5 } }, 'name'],
  ] as const) {
    t.is(await codeOf(() => checkWindowJoin(s)), 'INVALID_ARGUMENT')
    t.throws(() => checkWindowJoin(s), { message: new RegExp(field) })
  }
})

// ---- against brute force ----

/**
 * Random arrivals on two inputs (three keys; step i brings an event up to 20 ms before i/2, so
 * equal times and exact bounds are common) with each input's watermark trailing its newest
 * event by a random lag, now and then: about one event in ten is late.
 */
const arrivals = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ input: fc.integer({ min: 0, max: 1 }), key: fc.constantFrom('x', 'y', 'z'), early: fc.integer({ min: 0, max: 20 }) }) },
      { weight: 1, arbitrary: fc.record({ input: fc.integer({ min: 0, max: 1 }), lag: fc.integer({ min: 0, max: 25 }) }) },
    ),
    { maxLength: 150, size: 'medium' },
  )
  .map((steps) => {
    const newest = [-Infinity, -Infinity]
    return steps.map((s, i): Op => {
      if ('early' in s) {
        const ts = (i >> 1) - s.early
        newest[s.input] = Math.max(newest[s.input], ts)
        return ev(s.input, s.key, ts, `#${i}`)
      }
      return wm(s.input, newest[s.input] - s.lag)
    })
  })

/** The on-time events of each input, in arrival order: the reference's whole input. */
function onTime(ops: Op[]): { a: StreamEvent[]; b: StreamEvent[]; late: { input: number; id: unknown }[] } {
  const w = [-Infinity, -Infinity]
  const kept: StreamEvent[][] = [[], []]
  const late: { input: number; id: unknown }[] = []
  for (const o of ops) {
    if (o.kind === 'wm') w[o.input] = Math.max(w[o.input], o.wm)
    else if (o.e.ts < w[o.input]) late.push({ input: o.input, id: o.e.event.id })
    else kept[o.input].push(o.e)
  }
  return { a: kept[0], b: kept[1], late }
}

const bounds = fc.tuple(fc.integer({ min: -15, max: 15 }), fc.integer({ min: -15, max: 15 })).map(([x, y]): [number, number] => (x <= y ? [x, y] : [y, x]))

test('interval join equals all pairs of the on-time events, each when its second event arrives', (t) => {
  fc.assert(
    fc.property(arrivals, bounds, (ops, [lower, upper]) => {
      const s = sink()
      const op = intervalJoin({ name: 'j', between: [lower, upper] }, s.out)
      const arrival = new Map<unknown, number>()
      ops.forEach((o, i) => {
        const before = s.results.length
        feed(op, [o])
        if (o.kind === 'event') arrival.set(o.e.event.id, i)
        // Whatever this step emitted has this step's event as its later half.
        for (const r of s.results.slice(before)) assert.equal(Math.max(arrival.get(r.left.id)!, arrival.get(r.right.id)!), i)
      })
      const { a, b, late } = onTime(ops)
      const expected = a.flatMap((x) => b.filter((y) => y.key === x.key && x.ts + lower <= y.ts && y.ts <= x.ts + upper).map((y) => `${x.key}:${x.event.id}-${y.event.id}`))
      assert.deepEqual(pairs(s.results).sort(), expected.sort())
      assert.deepEqual(s.late, late)
    }),
    { numRuns: 500 },
  )
  t.pass()
})

const windows = fc.oneof(
  fc.integer({ min: 1, max: 20 }).map((size) => ({ type: 'tumbling' as const, size })),
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 })).map(([x, y]) => ({ type: 'sliding' as const, size: Math.max(x, y), slide: Math.min(x, y) })),
)

test('window join equals all same-window pairs of the on-time events, in (start, left, right) order', (t) => {
  fc.assert(
    fc.property(arrivals, windows, (ops, window) => {
      const s = sink()
      const op = windowJoin({ name: 'w', window }, s.out)
      const w = [-Infinity, -Infinity]
      for (const o of ops) {
        const before = s.results.length
        feed(op, [o])
        if (o.kind === 'wm') w[o.input] = Math.max(w[o.input], o.wm)
        for (const r of s.results.slice(before)) assert.ok(r.end! <= Math.min(w[0], w[1]), 'a window fires only once complete')
      }
      feed(op, both(Infinity))
      const { a, b, late } = onTime(ops)
      const size = window.size
      const slide = window.type === 'sliding' ? window.slide : size
      const expected: [number, number, number, string][] = []
      a.forEach((x, i) =>
        b.forEach((y, j) => {
          if (x.key !== y.key) return
          for (let start = Math.floor(x.ts / slide) * slide; start > x.ts - size; start -= slide) {
            if (start <= y.ts && y.ts < start + size) expected.push([start, i, j, `[${start},${start + size}) ${x.key}:${x.event.id}-${y.event.id}`])
          }
        }),
      )
      expected.sort((p, q) => p[0] - q[0] || p[1] - q[1] || p[2] - q[2])
      assert.deepEqual(withWindows(s.results), expected.map((e) => e[3]))
      assert.deepEqual(s.late, late)
    }),
    { numRuns: 500 },
  )
  t.pass()
})

test('a join restored from a snapshot mid-stream continues identically', (t) => {
  const makers = [
    (out: Emitter<JoinResult>) => intervalJoin({ name: 'j', between: ['-10ms', 15] }, out),
    (out: Emitter<JoinResult>) => windowJoin({ name: 'w', window: { type: 'sliding', size: 20, slide: 5 } }, out),
  ]
  fc.assert(
    fc.property(arrivals, fc.nat(), fc.constantFrom(...makers), (ops, at, make) => {
      const cut = ops.length === 0 ? 0 : at % (ops.length + 1)
      const whole = run(make, [...ops, ...both(Infinity)])
      const first = run(make, ops.slice(0, cut))
      const second = run(make, [])
      second.op.restore(JSON.parse(JSON.stringify(first.op.snapshot())))
      feed(second.op, [...ops.slice(cut), ...both(Infinity)])
      assert.deepEqual([...first.results, ...second.results], whole.results)
      assert.deepEqual([...first.late, ...second.late], whole.late)
    }),
    { numRuns: 300 },
  )
  t.pass()
})

test('join state stays small: 100k events over 1,000 keys', (t) => {
  const size = (op: Operator) => JSON.stringify(op.snapshot()).length
  for (const make of [interval(['-50ms', '50ms']), tumbling(100)]) {
    const s = sink()
    const op = make(s.out)
    const newest = [-Infinity, -Infinity]
    let largest = 0
    for (let i = 0; i < 100_000; i++) {
      // 10 events a millisecond, up to 30 ms out of order, a left and a right one per key
      // every 200 ms; watermarks lag 40 ms.
      const input = i % 2
      const ts = Math.floor(i / 10) + ((i * 7919) % 31) - 30
      op.onEvent(input, { key: `k${Math.floor(i / 2) % 1000}`, ts, event: { id: i } })
      newest[input] = Math.max(newest[input], ts)
      op.onWatermark(input, newest[input] - 40)
      if (i % 10_000 === 0) largest = Math.max(largest, size(op))
    }
    t.deepEqual(s.late, [])
    t.true(s.results.length > 10_000)
    t.true(largest < 200_000, `at most a few thousand events held (${largest} bytes)`)
    feed(op, both(1e9))
    t.true(size(op) < 100, `nothing held once the watermarks pass (${JSON.stringify(op.snapshot())})`)
  }
})
