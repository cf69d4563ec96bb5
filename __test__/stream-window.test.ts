import test from 'ava'
import fc from 'fast-check'
import { windowOperator, WindowResult, WindowSpec } from '../ts/stream/window'
import { Emitter, StreamEvent } from '../ts/stream/operator'

interface In {
  key: string
  ts: number
  v: number
}

interface Run {
  results: WindowResult[]
  late: In[]
}

/** Feeds events in arrival order as a stream does: each event, then the watermark it raises. */
function run(spec: WindowSpec, events: In[], outOfOrder: number, snapshotAt = -1): Run {
  const results: WindowResult[] = []
  const late: In[] = []
  const out: Emitter<WindowResult> = {
    emit: (r) => results.push(r),
    late: (_i, e: StreamEvent) => late.push({ key: e.key, ts: e.ts, v: e.event.v as number }),
  }
  let op = windowOperator(spec, out)
  let wm = -Infinity
  events.forEach((e, i) => {
    if (i === snapshotAt) {
      const state = JSON.parse(JSON.stringify(op.snapshot()))
      op = windowOperator(spec, out)
      op.restore(state)
    }
    op.onEvent(0, { key: e.key, ts: e.ts, event: { k: e.key, v: e.v } })
    const next = Math.max(wm, e.ts - outOfOrder)
    if (next > wm) op.onWatermark(0, (wm = next))
  })
  return { results, late }
}

/** The aggregates every test asks for, computed directly. */
function aggregate(events: In[]): Record<string, unknown> {
  const vs = events.map((e) => e.v)
  const byTs = [...events].map((e, i) => ({ ...e, i })).sort((a, b) => a.ts - b.ts || a.i - b.i)
  return {
    n: vs.length,
    sum: vs.reduce((a, b) => a + b, 0),
    min: Math.min(...vs),
    max: Math.max(...vs),
    first: byTs[0].v,
    last: byTs[byTs.length - 1].v,
  }
}

const AGGREGATE: WindowSpec['aggregate'] = { n: 'count', sum: { sum: 'v' }, min: { min: 'v' }, max: { max: 'v' }, first: { first: 'v' }, last: { last: 'v' } }

/** Tumbling and sliding windows by brute force: every window of every key rescanned at every step. */
function referencePanes(size: number, slide: number, lateness: number, emit: 'close' | 'update', events: In[], outOfOrder: number): Run {
  const results: WindowResult[] = []
  const late: In[] = []
  const accepted: In[] = []
  const emitted = new Map<string, number>()
  const startsOf = (ts: number) => {
    const out: number[] = []
    for (let s = Math.floor(ts / slide) * slide; s + size > ts; s -= slide) out.push(s)
    return out
  }
  const result = (key: string, start: number, kind: WindowResult['kind']): WindowResult => {
    const inside = accepted.filter((e) => e.key === key && e.ts >= start && e.ts < start + size)
    let revision = 0
    if (kind !== 'update') {
      revision = emitted.get(`${key}@${start}`) ?? 0
      emitted.set(`${key}@${start}`, revision + 1)
    }
    return { window: 'w', key, start, end: start + size, count: inside.length, values: aggregate(inside), kind, revision }
  }
  let wm = -Infinity
  for (const e of events) {
    const starts = startsOf(e.ts)
    if (Math.max(...starts) + size + lateness <= wm) {
      late.push(e)
      continue
    }
    accepted.push(e)
    for (const s of starts) {
      if (s + size <= wm) {
        if (s + size + lateness > wm) results.push(result(e.key, s, 'late'))
      } else if (emit === 'update') results.push(result(e.key, s, 'update'))
    }
    const next = Math.max(wm, e.ts - outOfOrder)
    const closing = new Set<string>()
    for (const a of accepted) for (const s of startsOf(a.ts)) if (s + size > wm && s + size <= next) closing.add(JSON.stringify([s, a.key]))
    for (const c of [...closing].map((c) => JSON.parse(c) as [number, string]).sort((x, y) => x[0] - y[0])) results.push(result(c[1], c[0], 'close'))
    wm = next
  }
  return { results, late }
}

/** Session windows by brute force: sessions recomputed from the accepted events at every step. */
function referenceSessions(gap: number, lateness: number, events: In[], outOfOrder: number): Run {
  const results: WindowResult[] = []
  const late: In[] = []
  const accepted: In[] = []
  const done: { key: string; start: number; end: number; revision: number }[] = []
  // A session's events are gone once it is past its lateness: they never merge again.
  const dead = new Set<In>()
  let wm = -Infinity
  const sessions = (key: string) => {
    const evs = accepted.filter((e) => e.key === key && !dead.has(e)).sort((a, b) => a.ts - b.ts)
    const out: { start: number; end: number; events: In[] }[] = []
    for (const e of evs) {
      const cur = out[out.length - 1]
      if (cur && e.ts < cur.end) {
        cur.events.push(e)
        cur.end = Math.max(cur.end, e.ts + gap)
      } else out.push({ start: e.ts, end: e.ts + gap, events: [e] })
    }
    return out
  }
  const emitSession = (key: string, s: { start: number; end: number; events: In[] }, kind: 'close' | 'late') => {
    const prior = done.filter((d) => d.key === key && d.start >= s.start && d.end <= s.end)
    const revision = prior.length === 0 ? 0 : Math.max(...prior.map((p) => p.revision)) + 1
    done.push({ key, start: s.start, end: s.end, revision })
    const inOrder = accepted.filter((a) => s.events.includes(a))
    results.push({ window: 'w', key, start: s.start, end: s.end, count: inOrder.length, values: aggregate(inOrder), kind: kind === 'close' && revision > 0 ? 'late' : kind, revision })
  }
  for (const e of events) {
    accepted.push(e)
    const mine = sessions(e.key).find((s) => s.events.includes(e))!
    if (mine.end + lateness <= wm) {
      accepted.pop()
      late.push(e)
      continue
    }
    if (mine.end <= wm) emitSession(e.key, mine, 'late')
    const next = Math.max(wm, e.ts - outOfOrder)
    const keys = [...new Set(accepted.map((a) => a.key))]
    for (const key of keys) for (const s of sessions(key)) if (s.end > wm && s.end <= next) emitSession(key, s, 'close')
    for (const key of keys) for (const s of sessions(key)) if (s.end + lateness <= next) s.events.forEach((x) => dead.add(x))
    wm = next
  }
  return { results, late }
}

/** Results compared as multisets (the order among keys closing together is not part of the contract). */
function canon(r: Run): string[] {
  return r.results.map((x) => JSON.stringify([x.start, x.key, x.kind, x.revision, x.end, x.count, x.values])).sort()
}

const arrivals = fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), ts: fc.integer({ min: 0, max: 200 }), v: fc.integer({ min: -50, max: 50 }) }), { maxLength: 60 })

test('tumbling and sliding windows equal a brute-force reference, for every lateness and emit mode', (t) => {
  fc.assert(
    fc.property(
      arrivals,
      fc.constantFrom([10, 10], [20, 5], [30, 10], [12, 8], [7, 7]),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 30 }),
      fc.constantFrom<'close' | 'update'>('close', 'update'),
      (events, [size, slide], lateness, outOfOrder, emit) => {
        const spec: WindowSpec = { name: 'w', type: size === slide ? 'tumbling' : 'sliding', size, slide, lateness, emit, aggregate: AGGREGATE }
        const got = run(spec, events, outOfOrder)
        const want = referencePanes(size, slide, lateness, emit, events, outOfOrder)
        t.deepEqual(canon(got), canon(want))
        t.deepEqual(got.late, want.late)
      },
    ),
    { numRuns: 400 },
  )
})

test('session windows equal a brute-force reference, with and without lateness', (t) => {
  fc.assert(
    fc.property(arrivals, fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 30 }), (events, gap, lateness, outOfOrder) => {
      const spec: WindowSpec = { name: 'w', type: 'session', gap, lateness, aggregate: AGGREGATE }
      const got = run(spec, events, outOfOrder)
      const want = referenceSessions(gap, lateness, events, outOfOrder)
      t.deepEqual(canon(got), canon(want))
      t.deepEqual(got.late, want.late)
    }),
    { numRuns: 400 },
  )
})

test('a window restored from its snapshot mid-stream continues as if never stopped', (t) => {
  fc.assert(
    fc.property(arrivals, fc.nat(60), fc.constantFrom<WindowSpec['type']>('tumbling', 'sliding', 'session'), (events, at, type) => {
      const spec: WindowSpec = { name: 'w', type, size: 20, slide: type === 'sliding' ? 5 : undefined, gap: 10, lateness: 5, aggregate: { ...AGGREGATE, p: { percentile: 0.9, of: 'v' }, sd: { stddev: 'v' } } }
      t.deepEqual(run(spec, events, 3, at), run(spec, events, 3))
    }),
    { numRuns: 200 },
  )
})

test('percentiles are within 1% of the exact nearest-rank value; stddev matches the population formula', (t) => {
  const spec: WindowSpec = { name: 'w', type: 'tumbling', size: 1000, aggregate: { p99: { percentile: 0.99, of: 'v' }, med: { median: 'v' }, sd: { stddev: 'v' }, var: { variance: 'v' } } }
  const vs = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % 1000) * 1.37)
  const { results } = run(spec, [...vs.map((v, i) => ({ key: 'a', ts: i, v })), { key: 'a', ts: 5000, v: 0 }], 0)
  const sorted = [...vs].sort((a, b) => a - b)
  const exact = (q: number) => sorted[Math.ceil(q * sorted.length) - 1]
  const r = results[0].values as Record<string, number>
  t.true(Math.abs(r.p99 - exact(0.99)) <= 0.01 * exact(0.99))
  t.true(Math.abs(r.med - exact(0.5)) <= 0.01 * exact(0.5))
  const mean = vs.reduce((a, b) => a + b, 0) / vs.length
  const variance = vs.reduce((a, v) => a + (v - mean) ** 2, 0) / vs.length
  t.true(Math.abs(r.var - variance) < 1e-9 * variance)
  t.true(Math.abs(r.sd - Math.sqrt(variance)) < 1e-9 * Math.sqrt(variance))
})

test('custom reducers fold, merge across panes, and checkpoint as JSON', (t) => {
  const distinct = { init: () => [] as number[], add: (s: number[], v: number | undefined) => (v === undefined || s.includes(v) ? s : [...s, v]), merge: (a: number[], b: number[]) => [...new Set([...a, ...b])], result: (s: number[]) => s.length }
  const spec: WindowSpec = { name: 'w', type: 'sliding', size: 20, slide: 5, aggregate: { distinct: { reduce: distinct, of: 'v' } } }
  const events = [1, 2, 2, 3, 1, 4].map((v, i) => ({ key: 'a', ts: i * 3, v }))
  const { results } = run(spec, [...events, { key: 'a', ts: 100, v: 0 }], 0)
  const w0 = results.find((r) => r.start === 0)!
  t.is(w0.values.distinct, 4)
  t.deepEqual(run(spec, events, 0, 3), run(spec, events, 0))
})

test('window specs are checked: every bad field names itself', (t) => {
  const bad: [unknown, RegExp][] = [
    [{ name: 'w', type: 'hopping', size: 10, aggregate: { n: 'count' } }, /type/],
    [{ name: 'w', type: 'tumbling', aggregate: { n: 'count' } }, /size/],
    [{ name: 'w', type: 'sliding', size: 10, slide: 20, aggregate: { n: 'count' } }, /slide/],
    [{ name: 'w', type: 'session', aggregate: { n: 'count' } }, /gap/],
    [{ name: 'w', type: 'tumbling', size: '1 minute', aggregate: { n: 'count' } }, /size/],
    [{ name: 'w', type: 'tumbling', size: 10, aggregate: {} }, /no aggregate/],
    [{ name: 'w', type: 'tumbling', size: 10, aggregate: { x: { avg: 3 } } }, /'x'/],
    [{ name: 'w', type: 'tumbling', size: 10, aggregate: { x: { percentile: 2, of: 'v' } } }, /percentile/],
    [{ name: 'w', type: 'tumbling', size: 10, aggregate: { x: { reduce: {} } } }, /reduce/],
    [{ name: 'w', type: 'tumbling', size: 10, lateness: -1, aggregate: { n: 'count' } }, /lateness/],
    [{ name: 'w', type: 'tumbling', size: 10, emit: 'always', aggregate: { n: 'count' } }, /emit/],
  ]
  const out: Emitter<WindowResult> = { emit: () => {}, late: () => {} }
  for (const [spec, message] of bad) {
    const err = t.throws(() => windowOperator(spec as WindowSpec, out))
    t.is((err as { code?: string }).code, 'INVALID_ARGUMENT')
    t.regex(err!.message, message)
  }
})
