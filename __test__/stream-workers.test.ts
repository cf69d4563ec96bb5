// Windows whose keys are split over worker threads: the same results per key as on the
// stream's own thread, in an order fixed by the input alone (not by how it was batched, nor
// by a snapshot and restore in between), through a database and across a reopen.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { WarpEngine, WindowResult, WindowSpec } from '../ts'
import { Emitter, StreamEvent } from '../ts/stream/operator'
import { PartitionedWindows, partitionOf } from '../ts/stream/partitioned'
import { checkWindow, windowOperator } from '../ts/stream/window'
import { codeOf, rng, tempDir } from './helpers'

interface In {
  key: string
  ts: number
  v: number
}

/** Everything an operator put out, in order: results (with whether final) and late events. */
type Output = [kind: 'result', final: boolean, result: WindowResult] | [kind: 'late', key: string, ts: number]

function recorder(): { out: Emitter<WindowResult>; outputs: Output[] } {
  const outputs: Output[] = []
  const out: Emitter<WindowResult> = {
    emit: (r, final = true) => void outputs.push(['result', final, { ...r }]),
    late: (_i, e: StreamEvent) => void outputs.push(['late', e.key, e.ts]),
  }
  return { out, outputs }
}

/** Random events over `keys` keys, times rising with up to `disorder` ms out of order. */
function events(seed: number, n: number, keys: number, disorder: number): In[] {
  const r = rng(seed)
  let t = 1_000_000
  return Array.from({ length: n }, () => {
    t += Math.floor(r() * 20)
    return { key: `k${Math.floor(r() * keys)}`, ts: t - Math.floor(r() * disorder), v: Math.floor(r() * 100) - 50 }
  })
}

/** Feeds events as a stream does (each event, then the watermark it raises); `cut(i)` runs before event i. */
function feed(op: { onEvent(i: number, e: StreamEvent): void; onWatermark(i: number, wm: number): void }, evs: In[], outOfOrder: number, cut?: (i: number) => void): void {
  let wm = -Infinity
  evs.forEach((e, i) => {
    cut?.(i)
    op.onEvent(0, { key: e.key, ts: e.ts, event: { v: e.v } })
    const next = Math.max(wm, e.ts - outOfOrder)
    if (next > wm) op.onWatermark(0, (wm = next))
  })
  op.onWatermark(0, Number.MAX_SAFE_INTEGER)
}

const byKey = (outputs: Output[]): Map<string, Output[]> => {
  const m = new Map<string, Output[]>()
  for (const o of outputs) {
    const key = o[0] === 'result' ? o[2].key : o[1]
    if (!m.has(key)) m.set(key, [])
    m.get(key)!.push(o)
  }
  return m
}

/** The window's outputs on the stream's thread, and split over `workers` (numbering at most `keyTable` keys). */
function onOneAndSplit(spec: WindowSpec, evs: In[], workers: number, keyTable?: number): { one: Output[]; many: Output[] } {
  const one = recorder()
  feed(windowOperator(spec, one.out), evs, 50)
  const many = recorder()
  const op = new PartitionedWindows(checkWindow({ ...spec, workers }), many.out, keyTable)
  try {
    feed(op, evs, 50)
    op.drain()
  } finally {
    op.stop()
  }
  return { one: one.outputs, many: many.outputs }
}

const AGGREGATE: WindowSpec['aggregate'] = { n: 'count', sum: { sum: 'v' }, min: { min: 'v' }, max: { max: 'v' }, last: { last: 'v' }, p90: { percentile: 0.9, of: 'v' } }

const SPECS: WindowSpec[] = [
  { name: 'tumbling', type: 'tumbling', size: 100, aggregate: AGGREGATE },
  { name: 'sliding', type: 'sliding', size: 300, slide: 50, lateness: 40, aggregate: AGGREGATE },
  { name: 'updates', type: 'sliding', size: 200, slide: 100, emit: 'update', lateness: 20, aggregate: AGGREGATE },
  { name: 'session', type: 'session', gap: 60, lateness: 30, aggregate: AGGREGATE },
]

for (const spec of SPECS) {
  test(`${spec.name}: split over workers, each key gets what the stream's own thread gives it, in the same order`, (t) => {
    for (const [seed, workers] of [
      [1, 2],
      [2, 3],
      [3, 1],
    ]) {
      const { one, many } = onOneAndSplit(spec, events(seed, 3000, 17, 120), workers)
      t.true(one.length > 100)
      t.is(many.length, one.length, `seed ${seed}, ${workers} workers`)
      const a = byKey(one)
      const b = byKey(many)
      t.deepEqual([...b.keys()].sort(), [...a.keys()].sort())
      for (const [key, outputs] of a) t.deepEqual(b.get(key), outputs, `key ${key}, seed ${seed}, ${workers} workers`)
    }
  })

  test(`${spec.name}: the merged order depends on the input alone, not on batching or a restore`, (t) => {
    const evs = events(7, 4000, 23, 120)
    const make = (out: Emitter<WindowResult>) => new PartitionedWindows(checkWindow({ ...spec, workers: 3 }), out)
    const whole = recorder()
    const a = make(whole.out)
    feed(a, evs, 50)
    a.drain()
    a.stop()
    // Batches cut at random places (each drain ends one), and a snapshot restored into new workers mid-way.
    const cut = recorder()
    let b = make(cut.out)
    const r = rng(9)
    const current = { onEvent: (i: number, e: StreamEvent) => b.onEvent(i, e), onWatermark: (i: number, wm: number) => b.onWatermark(i, wm) }
    feed(current, evs, 50, (i) => {
      if (r() < 0.01) b.drain()
      if (i === 2500) {
        const state = JSON.parse(JSON.stringify(b.snapshot()))
        b.stop()
        b = make(cut.out)
        b.restore(state)
      }
    })
    b.drain()
    b.stop()
    t.deepEqual(cut.outputs, whole.outputs)
  })
}

test('churning keys: the key numbering starts again when full, and every key still gets its results', (t) => {
  const spec: WindowSpec = { name: 'churn', type: 'sliding', size: 200, slide: 100, lateness: 30, aggregate: AGGREGATE }
  // 400 keys over time, at most a few dozen at once: a table of 25 keys is renumbered often.
  const evs = events(5, 4000, 1, 60).map((e, i) => ({ ...e, key: `k${Math.floor(i / 10) + (i % 3)}` }))
  const { one, many } = onOneAndSplit(spec, evs, 2, 25)
  t.true(one.length > 500)
  const a = byKey(one)
  const b = byKey(many)
  t.is(b.size, a.size)
  for (const [key, outputs] of a) t.deepEqual(b.get(key), outputs, `key ${key}`)
})

test('keys are split evenly, the same way in every process', (t) => {
  const counts = [0, 0, 0, 0]
  for (let i = 0; i < 40_000; i++) counts[partitionOf(`host-${i}`, 4)]++
  for (const c of counts) t.true(c > 9000 && c < 11000, `${counts}`)
  t.is(partitionOf('host-1', 4), partitionOf(String(['host', 1].join('-')), 4))
  t.is(partitionOf('', 3), partitionOf('', 3))
})

test('through a database: the same results as on one thread, recorded, and resumed after a reopen', async (t) => {
  const dir = tempDir('stream-workers')
  const opts = { key: 'host', timestamp: 'ts', fields: ['v'], outOfOrder: 50 }
  const spec = (workers: number): WindowSpec => ({ name: `w${workers}`, type: 'sliding', size: 300, slide: 100, workers, aggregate: { n: 'count', sum: { sum: 'v' } } })
  const evs = events(11, 6000, 50, 40)
  const got = new Map<number, WindowResult[]>([
    [0, []],
    [2, []],
  ])
  let db = await WarpEngine.open(dir)
  let s = db.stream('cpu', opts)
  for (const w of [0, 2]) s.window(spec(w)).on((r) => got.get(w)!.push(r))
  await s.writeBatch(evs.slice(0, 3000).map((e) => ({ host: e.key, ts: e.ts, v: e.v })))
  await db.close()
  db = await WarpEngine.open(dir)
  s = db.stream('cpu', opts)
  for (const w of [0, 2]) s.window(spec(w)).on((r) => got.get(w)!.push(r))
  await s.writeBatch(evs.slice(3000).map((e) => ({ host: e.key, ts: e.ts, v: e.v })))
  await s.writeBatch([{ host: 'k0', ts: 1e12, v: 0 }])
  await db.flush()
  await db.close()
  const [one, two] = [got.get(0)!, got.get(2)!]
  t.true(one.length > 1000)
  t.deepEqual(two.map((r) => r.seq), Array.from({ length: two.length }, (_, i) => i + 1), 'numbered once each, across the reopen')
  const strip = (rs: WindowResult[]) => rs.map(({ key, start, end, count, values, kind, revision }) => ({ key, start, end, count, values, kind, revision })).sort((a, b) => a.key.localeCompare(b.key) || a.start - b.start || a.revision - b.revision)
  t.deepEqual(strip(two), strip(one))
  // Recorded in the result log like any window's.
  db = await WarpEngine.open(dir)
  s = db.stream('cpu', opts)
  t.deepEqual((await s.window(spec(2)).recorded(0)).length, two.length)
  await db.close()
})

test('worker counts and aggregates a worker cannot run are refused, and a refused window stops its threads', async (t) => {
  const db = await WarpEngine.open(tempDir('stream-workers-bad'))
  const s = db.stream('cpu', { key: 'host', timestamp: 'ts', fields: ['v'] })
  const base = { name: 'w', type: 'tumbling', size: 100, aggregate: { n: 'count' } } as const
  for (const workers of [-1, 1.5, 65, '2', NaN, null]) t.is(await codeOf(() => s.window({ ...base, workers: workers as number })), 'INVALID_ARGUMENT', String(workers))
  const reduce = { init: () => 0, add: (a: number) => a + 1, merge: (a: number, b: number) => a + b, result: (a: number) => a }
  const err = t.throws(() => s.window({ ...base, workers: 2, aggregate: { c: { reduce } } }))
  t.regex(err!.message, /custom reducer/)
  // A name refused after the workers started stops them (the test process would not end otherwise).
  t.is(await codeOf(() => s.window({ ...base, name: 'bad name', workers: 2 })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => s.window({ ...base, name: 'w', workers: 2 }).recorded(0)), 'NO_ERROR')
  t.is(await codeOf(() => s.window({ ...base, name: 'w', workers: 2 })), 'INVALID_ARGUMENT', 'a second operator of the same name')
  await db.close()
})

test('a crafted or damaged worker snapshot is CORRUPT_CHECKPOINT, and the refused window stops its threads', async (t) => {
  const dir = tempDir('stream-workers-snapshot')
  const opts = { key: 'host', timestamp: 'ts', fields: ['v'] }
  const spec: WindowSpec = { name: 'w', type: 'tumbling', size: 100, workers: 2, aggregate: { n: 'count', sum: { sum: 'v' } } }
  let db = await WarpEngine.open(dir)
  const s = db.stream('cpu', opts)
  s.window(spec)
  await s.writeBatch(events(3, 500, 9, 20).map((e) => ({ host: e.key, ts: e.ts, v: e.v })))
  await db.close()
  const file = path.join(dir, 'temporal', 'live', 'streams', 'w.json')
  const saved = JSON.parse(readFileSync(file, 'utf8'))
  t.is(saved.state.workers.length, 2)
  const crafted = [
    { ...saved, state: { workers: [saved.state.workers[0]] } },
    { ...saved, state: { workers: [saved.state.workers[0], { wm: 'soon', keys: 7 }] } },
    { ...saved, state: { workers: [saved.state.workers[0], { ...saved.state.workers[1], keys: [['k', [[0, { n: -1, s: [], k: [], c: [] }]], []]] }] } },
    { ...saved, state: null },
    { ...saved, state: { workers: [saved.state.workers[1], saved.state.workers[0]] } },
    { ...saved, state: { workers: [saved.state.workers[0], { ...saved.state.workers[1], keys: [['k', [['abc', saved.state.workers[1].keys[0][1][0][1]]], []]] }] } },
    { ...saved, state: { workers: [saved.state.workers[0], { ...saved.state.workers[1], keys: [['k', [[null, saved.state.workers[1].keys[0][1][0][1]]], []]] }] } },
    { ...saved, state: { workers: [saved.state.workers[0], { ...saved.state.workers[1], keys: [['k', [], [[0, -1]]]] }] } },
  ]
  for (const c of crafted) {
    writeFileSync(file, JSON.stringify(c))
    db = await WarpEngine.open(dir)
    t.is(await codeOf(() => db.stream('cpu', opts).window(spec)), 'CORRUPT_CHECKPOINT', JSON.stringify(c.state).slice(0, 80))
    await db.close()
  }
  writeFileSync(file, JSON.stringify(saved))
  db = await WarpEngine.open(dir)
  const w = db.stream('cpu', opts).window(spec)
  t.true((await w.recorded(0)).length > 0)
  await db.close()
})

test('a process that never closes its database still gets the results its workers owe it', (t) => {
  // Idle workers do not hold the process open; a worker with a batch to answer does.
  for (const workers of [0, 2]) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'workers-no-close.ts'), String(workers)], { encoding: 'utf8', timeout: 60_000 })
    t.is(child.status, 0, child.stderr)
    t.is(child.stdout.trim(), '693', `${workers} workers`)
  }
})

test('a field named __proto__ (kept whole events) is aggregated by workers as on one thread', async (t) => {
  const db = await WarpEngine.open(tempDir('stream-workers-proto'))
  const s = db.stream('s', { key: 'k', timestamp: 't', keepEvents: true, outOfOrder: 0 })
  const aggregate = { n: 'count', s: { sum: '__proto__' }, c: { count: '__proto__' } } as WindowSpec['aggregate']
  const got: WindowResult[][] = [[], []]
  for (const workers of [0, 2]) s.window({ name: `w${workers}`, type: 'tumbling', size: 10, workers, aggregate }).on((r) => got[workers / 2].push(r))
  for (let i = 0; i < 30; i++) s.write(JSON.parse(`{"k":"a","t":${i},"__proto__":${i}}`))
  await db.close()
  t.deepEqual(got[0].map((r) => r.values), [{ n: 10, s: 45, c: 10 }, { n: 10, s: 145, c: 10 }])
  t.deepEqual(got[1].map((r) => r.values), got[0].map((r) => r.values))
})
