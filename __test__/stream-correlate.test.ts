import test from 'ava'
import fc from 'fast-check'
import { CorrelateSpec, CorrelationChange, checkCorrelate, correlationOperator } from '../ts/stream/correlate'
import type { StreamEvent } from '../ts/stream/operator'
import { codeOf, rng } from './helpers'

const EVERY = 1000

/** A correlation operator and everything it emitted. */
function harness(spec: Partial<CorrelateSpec>, inputs = 1) {
  const changes: CorrelationChange[] = []
  const late: [number, StreamEvent][] = []
  const op = correlationOperator({ name: 'c', fields: ['x', 'y'], every: EVERY, window: 3, threshold: 0.9, ...spec }, {
    emit: (change, final) => {
      if (final !== true) throw new Error('correlation changes are final results')
      changes.push(change)
    },
    late: (input, e) => late.push([input, e]),
  }, inputs)
  return {
    op,
    changes,
    late,
    event(key: string, ts: number, event: Record<string, unknown>, input = 0) {
      op.onEvent(input, { key, ts, event })
    },
    /** Every input's watermark (or one input's). */
    watermark(wm: number, input?: number) {
      for (let i = 0; i < inputs; i++) if (input === undefined || input === i) op.onWatermark(i, wm)
    },
  }
}

type Row = { x?: number; y?: number }

/** One event per bucket of key 'k' (fields left out where undefined), closing each bucket as it goes. */
function feed(h: ReturnType<typeof harness>, rows: Row[]): void {
  rows.forEach((row, t) => {
    const event: Record<string, number> = {}
    if (row.x !== undefined) event.x = row.x
    if (row.y !== undefined) event.y = row.y
    h.event('k', t * EVERY + 7, event)
    h.watermark((t + 1) * EVERY)
  })
}


/** Two-pass Pearson r, the textbook way; 0 when a side is flat (as the operator scores it). */
function pearson(xs: number[], ys: number[]): number {
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length
  const mx = mean(xs)
  const my = mean(ys)
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my)
    sxx += (xs[i] - mx) ** 2
    syy += (ys[i] - my) ** 2
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy)
}

/** The r of every scored bucket, by brute force: over the last `window` buckets where both sides have a value. */
function scored(rows: Row[], window: number): { t: number; r: number }[] {
  const joint: [number, number][] = []
  const out: { t: number; r: number }[] = []
  rows.forEach((row, t) => {
    if (row.x === undefined || row.y === undefined) return
    joint.push([row.x, row.y])
    if (joint.length < window) return
    const w = joint.slice(-window)
    out.push({ t, r: pearson(w.map((p) => p[0]), w.map((p) => p[1])) })
  })
  return out
}

/** The changes the spec's rules give for a run of brute-force scores. */
function expected(scores: { t: number; r: number }[], spec: { threshold: number; hysteresis: number; sustain: number }) {
  let linked = false
  let streak = 0
  const out: { ts: number; linked: boolean; r: number }[] = []
  for (const { t, r } of scores) {
    const toward = linked ? Math.abs(r) < spec.threshold - spec.hysteresis : Math.abs(r) >= spec.threshold
    streak = toward ? streak + 1 : 0
    if (streak < spec.sustain) continue
    linked = !linked
    streak = 0
    out.push({ ts: (t + 1) * EVERY, linked, r })
  }
  return out
}

/** Asserts the operator's changes are the brute-force ones (r within `tolerance`). */
function sameChanges(actual: CorrelationChange[], want: ReturnType<typeof expected>, tolerance: number): string | undefined {
  if (actual.length !== want.length) return `${actual.length} changes, expected ${want.length}`
  for (let i = 0; i < want.length; i++) {
    const [a, w] = [actual[i], want[i]]
    if (a.ts !== w.ts || a.linked !== w.linked) return `change ${i}: ${JSON.stringify(a)}, expected ${JSON.stringify(w)}`
    if (!(Math.abs(a.r - w.r) <= tolerance)) return `change ${i}: r ${a.r}, brute force ${w.r}`
  }
  return undefined
}

const ref = (key: string, field: string, input = 0) => ({ input, key, field })

// --- checkCorrelate

test('checkCorrelate fills in the defaults and gives every in milliseconds', (t) => {
  t.deepEqual(checkCorrelate({ name: 'c', fields: ['temp', 'power'], every: '1m', window: 10, threshold: 0.8 }), {
    name: 'c',
    fields: ['temp', 'power'],
    every: 60_000,
    window: 10,
    threshold: 0.8,
    sustain: 3,
    hysteresis: 0.1,
    pairs: 'fields',
    maxSeries: 1000,
  })
  const all = checkCorrelate({ name: 'c', fields: ['v'], every: 5, window: 3, threshold: 1, sustain: 1, hysteresis: 0, pairs: 'all', maxSeries: 2 })
  t.like(all, { fields: ['v'], every: 5, threshold: 1, sustain: 1, hysteresis: 0, pairs: 'all', maxSeries: 2 })
})

test('checkCorrelate reads own properties only, and copies', (t) => {
  const proto = { hysteresis: 0.5, pairs: 'all' }
  const spec = Object.assign(Object.create(proto) as object, { name: 'c', fields: ['a', 'b'], every: 10, window: 3, threshold: 0.9 })
  const checked = checkCorrelate(spec)
  t.like(checked, { hysteresis: 0.1, pairs: 'fields' })
  ;(spec as { fields: string[] }).fields.push('c')
  t.deepEqual(checked.fields, ['a', 'b'])
})

test('checkCorrelate refuses a bad spec with INVALID_ARGUMENT naming the field', async (t) => {
  const good = { name: 'c', fields: ['a', 'b'], every: 10, window: 3, threshold: 0.9 }
  const bad: [string, unknown][] = [
    ['spec', null],
    ['spec', [good]],
    ['name', { ...good, name: '' }],
    ['name', { ...good, name: 7 }],
    ['fields', { ...good, fields: 'a' }],
    ['fields', { ...good, fields: ['a'] }], // 'fields' pairs need two
    ['fields', { ...good, fields: [], pairs: 'all' }],
    ['fields', { ...good, fields: ['a', ''] }],
    ['fields', { ...good, fields: ['a', undefined] }],
    ['fields', { ...good, fields: ['a', 'a'] }],
    ['every', { ...good, every: 0 }],
    ['every', { ...good, every: '1 minute' }],
    ['window', { ...good, window: 2 }],
    ['window', { ...good, window: 3.5 }],
    ['threshold', { ...good, threshold: 0 }],
    ['threshold', { ...good, threshold: 1.01 }],
    ['threshold', { ...good, threshold: '0.9' }],
    ['hysteresis', { ...good, hysteresis: -0.1 }],
    ['hysteresis', { ...good, hysteresis: 0.9 }],
    ['hysteresis', { ...good, threshold: 0.1 }], // the default 0.1 would never unlink
    ['sustain', { ...good, sustain: 0 }],
    ['pairs', { ...good, pairs: 'keys' }],
    ['maxSeries', { ...good, maxSeries: 0 }],
    ['treshold', { ...good, treshold: 0.9 }],
  ]
  for (const [field, spec] of bad) {
    const err = t.throws(() => checkCorrelate(spec), undefined, field)
    t.is((err as { code?: string }).code, 'INVALID_ARGUMENT', field)
    t.true(err!.message.startsWith(`correlate ${field} `), err!.message)
  }
  t.is(await codeOf(() => correlationOperator(good, { emit() {}, late() {} }, 0)), 'INVALID_ARGUMENT')
})

// --- linking

test('perfectly correlated fields link once, after exactly `sustain` scored buckets', (t) => {
  const h = harness({ sustain: 3 })
  const rows = [3, 1, 4, 1, 5, 9, 2, 6].map((v) => ({ x: v, y: 2 * v + 1 }))
  // Scored from bucket 2 (the first full window): buckets 2, 3 and 4 link, at the end of 4.
  feed(h, rows.slice(0, 4))
  h.event('k', 4 * EVERY, rows[4])
  h.watermark(5 * EVERY - 1)
  t.deepEqual(h.changes, [])
  h.watermark(5 * EVERY)
  t.deepEqual(h.changes, [{ a: ref('k', 'x'), b: ref('k', 'y'), r: 1, linked: true, ts: 5 * EVERY }])
  feed(h, rows) // the same buckets again: late, and nothing more
  t.is(h.changes.length, 1)
})

test('anti-correlated fields link with r = −1', (t) => {
  const h = harness({ sustain: 2 })
  feed(h, [5, 3, 8, 1, 9].map((v) => ({ x: v, y: 100 - 3 * v })))
  t.is(h.changes.length, 1)
  t.like(h.changes[0], { linked: true, ts: 4 * EVERY })
  t.true(Math.abs(h.changes[0].r + 1) < 1e-12)
})

test('independent series (seeded noise) never link', (t) => {
  const next = rng(42)
  const h = harness({ fields: ['a', 'b', 'c'], window: 20, threshold: 0.8 })
  for (let b = 0; b < 400; b++) {
    for (const key of ['k1', 'k2', 'k3', 'k4']) h.event(key, b * EVERY, { a: next(), b: next() * 1e6, c: next() - 0.5 })
    h.watermark((b + 1) * EVERY)
  }
  t.deepEqual(h.changes, [])
})

test('links are undone once the correlation falls, and changes come in (a, b) order', (t) => {
  const next = rng(7)
  const fields = ['p', 't', 'h']
  const spec = { fields, window: 10, threshold: 0.9, hysteresis: 0.1, sustain: 2 }
  const rows = new Map<string, Record<string, number>[]>([['room-b', []], ['room-a', []]])
  const h = harness(spec)
  for (let b = 0; b < 60; b++) {
    const signal = next()
    for (const [key, kept] of rows) {
      const event = { t: signal, p: b < 30 ? 3 * signal : next(), h: next() }
      kept.push(event)
      h.event(key, b * EVERY, event)
    }
    h.watermark((b + 1) * EVERY)
  }
  // Per pair by brute force, then in the operator's order: by bucket, then a, then b (keys
  // and fields by code unit: room-a before room-b, h before p before t).
  const want = [...rows].flatMap(([key, kept]) =>
    [['h', 'p'], ['h', 't'], ['p', 't']].flatMap(([a, b]) =>
      expected(scored(kept.map((e) => ({ x: e[a], y: e[b] })), spec.window), spec).map((c) => ({ ...c, pair: `${key}.${a}~${b}` })),
    ),
  )
  want.sort((p, q) => p.ts - q.ts || (p.pair < q.pair ? -1 : 1))
  t.deepEqual(
    want.map((c) => [c.pair, c.linked]),
    [
      ['room-a.p~t', true],
      ['room-b.p~t', true],
      ['room-a.p~t', false],
      ['room-b.p~t', false],
    ],
  )
  t.deepEqual(
    h.changes.map((c) => [`${c.a.key}.${c.a.field}~${c.b.field}`, c.linked, c.ts]),
    want.map((c) => [c.pair, c.linked, c.ts]),
  )
  t.true(h.changes.every((c, i) => Math.abs(c.r - want[i].r) < 1e-12))
})

test('hysteresis: no unlink above threshold − hysteresis, none after sustain − 1 lows, no flapping near the threshold', (t) => {
  // Every bucket t has x = t mod 3 and y = x, except y = 1 + d at phase 1. Any 3 consecutive
  // buckets hold one phase-1 point, so each window's r is 1/√(1 + d²/3) of its d alone.
  const H = 0 // r = 1
  const M = 1.0734 // r ≈ 0.85: below the threshold 0.9, above 0.9 − 0.1
  const L = 3 // r = 0.5
  const ds = [H, H, M, M, L, M, L, L, M, H, M, H, M, H, H]
  const rows = ds.flatMap((d) => [0, 1, 2].map((x) => ({ x, y: x === 1 ? 1 + d : x })))
  const bands = scored(rows, 3)
    .map(({ r }) => (r >= 0.9 ? 'H' : r >= 0.8 ? 'M' : 'L'))
    .join('')
  t.is(bands, 'HH' + 'HHH MMM MMM LLL MMM LLL LLL MMM HHH MMM HHH MMM HHH HH'.replaceAll(' ', ''))
  const h = harness({ threshold: 0.9, hysteresis: 0.1, sustain: 4 })
  feed(h, rows)
  // Linked at the 4th H (bucket 5); M keeps it; 3 L then M do not unlink; the 4th L in a row
  // (bucket 22) does; alternating runs of 3 H do not relink; 4 H in a row (bucket 43) do.
  t.deepEqual(
    h.changes.map((c) => [c.linked, c.ts / EVERY]),
    [
      [true, 6],
      [false, 23],
      [true, 44],
    ],
  )
})

test('missing buckets are skipped: the window is the last `window` buckets with both sides', (t) => {
  const next = rng(3)
  const rows: Row[] = []
  for (let b = 0; b < 60; b++) {
    const x = next() * 10
    rows.push({ x, y: b % 4 === 3 ? undefined : b < 30 ? x * 2 + next() : next() })
  }
  rows[1] = { y: 5 } // x missing too
  const spec = { window: 4, threshold: 0.8, hysteresis: 0.2, sustain: 1 }
  const h = harness(spec)
  feed(h, rows)
  // Joint buckets 0, 2, 4, 5: the first full window closes with bucket 5.
  t.is(h.changes[0].ts, 6 * EVERY)
  t.is(sameChanges(h.changes, expected(scored(rows, 4), spec), 1e-12), undefined)
})

test("'fields' pairs the fields of one key; 'all' pairs every tracked series", (t) => {
  const run = (pairs: 'fields' | 'all') => {
    const h = harness({ fields: ['a', 'b'], pairs, sustain: 1 })
    for (let b = 0; b < 3; b++) {
      for (const key of ['k2', 'k1']) h.event(key, b * EVERY, { a: b * b, b: b * b * 2 })
      h.watermark((b + 1) * EVERY)
    }
    return h.changes.map((c) => `${c.a.key}.${c.a.field}~${c.b.key}.${c.b.field}`)
  }
  t.deepEqual(run('fields'), ['k1.a~k1.b', 'k2.a~k2.b'])
  t.deepEqual(run('all'), ['k1.a~k1.b', 'k1.a~k2.a', 'k1.a~k2.b', 'k1.b~k2.a', 'k1.b~k2.b', 'k2.a~k2.b'])
})

test('a flat side scores r = 0 and never links, even after a dominant value leaves the window', (t) => {
  const next = rng(11)
  const rows: Row[] = []
  for (let b = 0; b < 200; b++) {
    // x is flat at 0.1 but for a spike every 50 buckets; y is noise of any scale.
    rows.push({ x: b % 50 === 0 ? 1e12 : 0.1, y: next() * 1e-3 })
  }
  const h = harness({ window: 5, threshold: 0.5, hysteresis: 0.4, sustain: 1 })
  feed(h, rows)
  t.is(sameChanges(h.changes, expected(scored(rows, 5), { threshold: 0.5, hysteresis: 0.4, sustain: 1 }), 1e-9), undefined)
  t.false(h.changes.some((c) => c.linked && c.ts % (50 * EVERY) > 5 * EVERY), 'no link once the spike has left')
})

// --- numerics

test('property: the incremental r is brute-force Pearson over the same aligned window', (t) => {
  const rowArb = fc.record({
    x: fc.option(fc.integer({ min: -20, max: 20 }), { freq: 6, nil: undefined }),
    y: fc.option(fc.integer({ min: -20, max: 20 }), { freq: 6, nil: undefined }),
    follow: fc.boolean(),
  })
  fc.assert(
    fc.property(
      fc.array(rowArb, { maxLength: 120 }),
      fc.constantFrom(0, 1e9, -3e7, 1e-6),
      fc.integer({ min: 3, max: 12 }),
      fc.double({ min: 0.3, max: 0.99, noNaN: true }),
      fc.double({ min: 0, max: 0.25, noNaN: true }),
      fc.integer({ min: 1, max: 3 }),
      (raw, offset, window, threshold, hysteresis, sustain) => {
        // y follows x (plus noise) in some buckets, so windows range from unrelated to tight.
        const rows = raw.map((r) => ({
          x: r.x === undefined ? undefined : offset + r.x,
          y: r.y === undefined ? undefined : offset + (r.follow && r.x !== undefined ? 3 * r.x + r.y / 10 : r.y),
        }))
        const scores = scored(rows, window)
        const spec = { window, threshold, hysteresis: Math.min(hysteresis, threshold / 2), sustain }
        const near = (v: number) => scores.some(({ r }) => Math.abs(Math.abs(r) - v) < 1e-9)
        fc.pre(!near(spec.threshold) && !near(spec.threshold - spec.hysteresis))
        const h = harness(spec)
        feed(h, rows)
        const problem = sameChanges(h.changes, expected(scores, spec), 1e-9)
        if (problem) throw new Error(problem)
      },
    ),
    { numRuns: 300 },
  )
  t.pass()
})

test('stable for 1e9 + small noise, where sums of x² and xy lose every digit', (t) => {
  const next = rng(2024)
  const rows: Row[] = []
  for (let b = 0; b < 3000; b++) {
    const noise = next()
    const coupled = Math.floor(b / 100) % 2 === 0
    rows.push({ x: 1e9 + noise, y: 1e9 + (coupled ? noise * 0.5 + next() * 0.3 : next()) })
  }
  const spec = { window: 30, threshold: 0.6, hysteresis: 0.05, sustain: 1 }
  const scores = scored(rows, spec.window)
  // The textbook one-pass formula on the same windows is far off: the data is hard.
  const naive = scores.map(({ t: b }) => {
    const w = rows.slice(b - 29, b + 1) as { x: number; y: number }[]
    let [sx, sy, sxx, syy, sxy] = [0, 0, 0, 0, 0]
    for (const { x, y } of w) [sx, sy, sxx, syy, sxy] = [sx + x, sy + y, sxx + x * x, syy + y * y, sxy + x * y]
    return (30 * sxy - sx * sy) / Math.sqrt((30 * sxx - sx * sx) * (30 * syy - sy * sy))
  })
  t.true(scores.some(({ r }, i) => !(Math.abs(naive[i] - r) < 0.1)))
  const h = harness(spec)
  feed(h, rows)
  const want = expected(scores, spec)
  t.true(want.length >= 20, `${want.length} changes`)
  t.is(sameChanges(h.changes, want, 1e-9), undefined)
})

test('the shift follows a drifting level: no digits lost to a mean far from it', (t) => {
  const next = rng(99)
  const rows: Row[] = []
  for (let b = 0; b < 50_000; b++) rows.push({ x: b + next() * 2, y: b + next() * 2 })
  const spec = { window: 3, threshold: 0.9, hysteresis: 0, sustain: 1 }
  const want = expected(scored(rows, spec.window), spec)
  t.true(want.length >= 1000, `${want.length} changes`)
  const h = harness(spec)
  feed(h, rows)
  t.is(sameChanges(h.changes, want, 1e-9), undefined)
})

test('a shared spike leaving the window leaves no rounding residue behind', (t) => {
  const next = rng(5)
  const rows: Row[] = []
  for (let b = 0; b < 2000; b++) {
    const spike = b % 97 === 0 ? 1e12 : 0
    rows.push({ x: spike + next() * 1e-3, y: spike + next() * 1e-3 })
  }
  const spec = { window: 20, threshold: 0.8, hysteresis: 0.1, sustain: 1 }
  const want = expected(scored(rows, spec.window), spec)
  const h = harness(spec)
  feed(h, rows)
  t.is(sameChanges(h.changes, want, 1e-9), undefined)
  // Linked while a spike is in the window (20 buckets), unlinked as it leaves.
  t.deepEqual(
    h.changes.slice(0, 4).map((c) => [c.linked, c.ts / EVERY]),
    [
      [true, 20],
      [false, 21],
      [true, 98],
      [false, 118],
    ],
  )
})

// --- order, lateness, inputs

/** Events of 2 inputs × 3 keys (field v, several per bucket): keys of a group move together in some stretches. */
function multiEvents(seed: number, buckets: number) {
  const next = rng(seed)
  const events: { input: number; key: string; ts: number; v: number }[] = []
  for (let b = 0; b < buckets; b++) {
    const signal = next() * 100
    for (const input of [0, 1]) {
      for (const key of ['k0', 'k1', 'k2']) {
        const coupled = (Math.floor(b / 15) + input + key.charCodeAt(1)) % 3 === 0
        for (let i = 0; i < 3; i++) {
          events.push({ input, key, ts: b * EVERY + Math.floor(next() * EVERY), v: (coupled ? signal : next() * 100) + next() * 10 })
        }
      }
    }
  }
  return events
}

const multiSpec = { fields: ['v'], pairs: 'all' as const, window: 8, threshold: 0.8, sustain: 2 }

test('out-of-order arrival gives the same changes, to the last bit', (t) => {
  const events = multiEvents(5, 120)
  const inOrder = harness(multiSpec, 2)
  for (const e of [...events].sort((a, b) => a.ts - b.ts)) {
    inOrder.event(e.key, e.ts, { v: e.v }, e.input)
    inOrder.watermark(e.ts, e.input)
  }
  inOrder.watermark(Infinity)
  t.true(inOrder.changes.length >= 10, `${inOrder.changes.length} changes`)
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 5 }), (seed, lagBuckets) => {
      // Each event arrives up to `lag` after its time; each input's watermark trails its arrivals by `lag`.
      const next = rng(seed)
      const lag = lagBuckets * EVERY
      const arrivals = events.map((e) => ({ e, at: e.ts + Math.floor(next() * lag) })).sort((a, b) => a.at - b.at)
      const h = harness(multiSpec, 2)
      for (const { e, at } of arrivals) {
        h.event(e.key, e.ts, { v: e.v }, e.input)
        h.watermark(at - lag, e.input)
      }
      h.watermark(Infinity)
      return h.late.length === 0 && JSON.stringify(h.changes) === JSON.stringify(inOrder.changes)
    }),
    { numRuns: 20 },
  )
  t.pass()
})

test("a bucket's mean is exact, so it is the same whatever order its values came in", (t) => {
  // 1e16 + b − 1e16 summed left to right loses b's low bit; exactly, the mean is b/3.
  const h = harness({ threshold: 0.999, sustain: 1 })
  for (let b = 1; b <= 6; b++) {
    for (const x of [1e16, b, -1e16]) h.event('k', b * EVERY, { x })
    h.event('k', b * EVERY, { y: b })
    h.watermark((b + 1) * EVERY)
  }
  t.is(h.changes.length, 1)
  t.true(h.changes[0].r > 1 - 1e-12)
})

test('an event for a closed bucket is late and changes nothing; one behind the watermark in an open bucket counts', (t) => {
  const h = harness({ sustain: 1 })
  feed(h, [{ x: 1, y: 1 }, { x: 2, y: 2 }])
  h.watermark(2 * EVERY + 500)
  h.event('k', 2 * EVERY + 100, { x: 3, y: 3 }) // behind the watermark, bucket 2 still open
  h.event('k', 1 * EVERY + 999, { x: 100, y: -100 }) // bucket 1 closed
  t.deepEqual(h.late, [[0, { key: 'k', ts: 1 * EVERY + 999, event: { x: 100, y: -100 } }]])
  h.watermark(3 * EVERY)
  t.is(h.changes.length, 1)
  t.like(h.changes[0], { a: ref('k', 'x'), b: ref('k', 'y'), linked: true, ts: 3 * EVERY })
  t.true(h.changes[0].r > 1 - 1e-12)
})

test('buckets close at the lowest watermark of the inputs, and pairs span inputs', (t) => {
  const h = harness({ fields: ['v'], pairs: 'all', sustain: 1 }, 2)
  for (let b = 0; b < 3; b++) {
    h.event('a', b * EVERY, { v: b }, 0)
    h.event('a', b * EVERY, { v: b * 7 }, 1)
  }
  h.watermark(10 * EVERY, 0)
  t.deepEqual(h.changes, [])
  h.watermark(3 * EVERY, 1)
  t.is(h.changes.length, 1)
  t.like(h.changes[0], { a: ref('a', 'v', 0), b: ref('a', 'v', 1), linked: true, ts: 3 * EVERY })
  t.throws(() => h.op.onWatermark(2, 0), { message: /inputs 0 to 1/ })
})

// --- state

test('property: restoring a JSON round trip of the snapshot continues identically', (t) => {
  const events = multiEvents(9, 80).sort((a, b) => a.ts - b.ts)
  const spec = { ...multiSpec, maxSeries: 5 }
  const replay = (h: ReturnType<typeof harness>, from: number, to: number) => {
    for (const e of events.slice(from, to)) {
      h.event(e.key, e.ts, { v: e.v }, e.input)
      h.watermark(e.ts - 2 * EVERY, e.input)
    }
  }
  const whole = harness(spec, 2)
  replay(whole, 0, events.length)
  whole.watermark(Infinity)
  t.true(whole.changes.length >= 5)
  fc.assert(
    fc.property(fc.integer({ min: 0, max: events.length }), (cut) => {
      const before = harness(spec, 2)
      replay(before, 0, cut)
      const after = harness(spec, 2)
      after.op.restore(JSON.parse(JSON.stringify(before.op.snapshot())))
      t.deepEqual(after.op.snapshot(), JSON.parse(JSON.stringify(before.op.snapshot())))
      replay(after, cut, events.length)
      after.watermark(Infinity)
      return JSON.stringify([...before.changes, ...after.changes]) === JSON.stringify(whole.changes) && after.op.ignored === whole.op.ignored
    }),
    { numRuns: 40 },
  )
})

test('a snapshot keeps infinite watermarks: events after the end stay late', (t) => {
  const h = harness({})
  h.watermark(Infinity)
  const restored = harness({})
  restored.op.restore(JSON.parse(JSON.stringify(h.op.snapshot())))
  restored.event('k', 5, { x: 1, y: 1 })
  t.is(restored.late.length, 1)
})

test('maxSeries bounds the tracked series, first come first tracked, and counts the values it drops', (t) => {
  const h = harness({ fields: ['v'], pairs: 'all', sustain: 1, maxSeries: 3 })
  for (let b = 0; b < 4; b++) {
    for (const key of ['k3', 'k1', 'k4', 'k0', 'k2']) h.event(key, b * EVERY, { v: b * b })
    h.watermark((b + 1) * EVERY)
  }
  t.deepEqual(
    h.changes.map((c) => `${c.a.key}~${c.b.key}`),
    ['k1~k3', 'k1~k4', 'k3~k4'],
  )
  t.is(h.op.ignored, 8)
  const state = h.op.snapshot() as { series: unknown[]; pairs: unknown[] }
  t.is(state.series.length, 3)
  t.is(state.pairs.length, 3)
})
