// Differential test of the public API: random sequences of puts (single, batch, events,
// overwrites, late and extreme timestamps), lifecycle passes with a moving clock, rule changes
// (tier ages, compression, retention), backups and reopens, against a plain model; every
// answer compared after every step. fast-check shrinks a failure to a short sequence.
// CI runs a fixed seed; a longer run: WARP_MODEL_RUNS=500 WARP_MODEL_SEED=$RANDOM npx ava __test__/model.test.ts
import test from 'ava'
import fc from 'fast-check'
import * as path from 'node:path'

import { NumericRange, Point, WarpEngine } from '../ts'
import { tempDir } from './helpers'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const BASE = Date.UTC(2025, 0, 1)
const FIRST = new Date(0).setUTCFullYear(0, 0, 1)
const LAST = new Date(0).setUTCFullYear(9999, 11, 31) + DAY - 1
const SERIES = ['a', 'b{x="1"}']

type Op =
  | { kind: 'put'; series: number; ts: number; value: number }
  | { kind: 'batch'; series: number; start: number; values: number[] }
  | { kind: 'event'; ts: number; value: number }
  | { kind: 'pass'; hours: number }
  | { kind: 'rules'; live: number; recent: number; lz4: boolean; keepDays: number | null }
  | { kind: 'reopen' }
  | { kind: 'backup' }

const ts = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 2000 }).map((k) => BASE + k * 3 * HOUR) },
  { weight: 1, arbitrary: fc.constantFrom(FIRST, LAST) },
)
const value = fc.oneof(fc.integer({ min: -1000, max: 1000 }).map((v) => v / 4), fc.double({ noNaN: false }))

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('put' as const), series: fc.integer({ min: 0, max: 1 }), ts, value }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      series: fc.integer({ min: 0, max: 1 }),
      start: fc.integer({ min: 0, max: 2000 }),
      values: fc.array(fc.integer({ min: -100, max: 100 }), { maxLength: 30 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('event' as const), ts, value: fc.integer() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('pass' as const), hours: fc.integer({ min: 0, max: 60 * 24 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('rules' as const),
      live: fc.integer({ min: 1, max: 48 }),
      recent: fc.integer({ min: 1, max: 96 }),
      lz4: fc.boolean(),
      keepDays: fc.option(fc.integer({ min: 30, max: 400 }), { freq: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'backup' as const }) },
)

/** The reference: what each series holds, and the retention horizon. */
class Model {
  numeric: Array<Map<number, number>> = SERIES.map(() => new Map())
  events = new Map<number, number>()
  horizon = -Infinity
  clock = BASE
  keepDays: number | null = null

  put(series: number, t: number, v: number): void {
    if (t >= this.horizon) this.numeric[series].set(t, v)
  }

  expire(horizon: number): void {
    this.horizon = Math.max(this.horizon, horizon)
    for (const m of [...this.numeric, this.events]) for (const t of [...m.keys()]) if (t < this.horizon) m.delete(t)
  }
}

const sameNumber = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))

async function check(db: WarpEngine, model: Model): Promise<void> {
  for (const [i, name] of SERIES.entries()) {
    const want = [...model.numeric[i].entries()].sort((x, y) => x[0] - y[0])
    const got = (await db.range(name, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) as NumericRange
    if (got.timestamps.length !== want.length) throw new Error(`${name}: ${got.timestamps.length} points, want ${want.length}`)
    want.forEach(([t, v], k) => {
      if (got.timestamps[k] !== t || !sameNumber(got.values[k], v)) throw new Error(`${name}[${k}]: (${got.timestamps[k]}, ${got.values[k]}), want (${t}, ${v})`)
    })
    const latest = db.latest(name)
    const last = want[want.length - 1]
    if ((latest?.ts ?? null) !== (last?.[0] ?? null)) throw new Error(`${name}: latest ${latest?.ts}, want ${last?.[0]}`)
  }
  const events = (await db.range('log', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) as Point[] | NumericRange
  const wantEvents = [...model.events.entries()].sort((x, y) => x[0] - y[0])
  const gotEvents = Array.isArray(events) ? events.map((p) => [p.ts, (p.value as { v: number }).v]) : []
  if (JSON.stringify(gotEvents) !== JSON.stringify(wantEvents)) throw new Error(`events ${JSON.stringify(gotEvents)}, want ${JSON.stringify(wantEvents)}`)
  const counts = new Map(db.series().map((s) => [s.key, s.points]))
  SERIES.forEach((name, i) => {
    // The names above are already in canonical form.
    if ((counts.get(name) ?? 0) !== model.numeric[i].size) throw new Error(`${name}: series() counts ${counts.get(name)}, want ${model.numeric[i].size}`)
  })
}

async function run(ops: Op[]): Promise<void> {
  let dir = tempDir('model')
  const open = async (): Promise<WarpEngine> => {
    const db = await WarpEngine.open(dir)
    await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
    return db
  }
  let db = await open()
  const model = new Model()
  try {
    for (const o of ops) {
      switch (o.kind) {
        case 'put':
          db.put(SERIES[o.series], o.value, o.ts)
          model.put(o.series, o.ts, o.value)
          break
        case 'batch': {
          const times = Float64Array.from(o.values, (_, k) => BASE + (o.start + k) * HOUR)
          db.putBatch(SERIES[o.series], times, Float64Array.from(o.values))
          times.forEach((t, k) => model.put(o.series, t, o.values[k]))
          break
        }
        case 'event':
          db.put('log', { v: o.value }, o.ts)
          if (o.ts >= model.horizon) model.events.set(o.ts, o.value)
          break
        case 'pass':
          model.clock += o.hours * HOUR
          await db.runLifecycle({ now: model.clock })
          if (model.keepDays !== null) model.expire(model.clock - model.keepDays * DAY)
          break
        case 'rules':
          await db.lifecycle.setRules({
            lifecycle: { tiers: { live: { maxAgeHours: o.live }, recent: { maxAgeHours: o.recent }, historical: { maxAgeDays: 2 }, monthly: { maxAgeDays: 20 } } },
            compression: { lz4: { hourly: o.lz4, daily: !o.lz4, monthly: true, yearly: o.lz4 } },
            retention: { maxAgeDays: o.keepDays },
          })
          model.keepDays = o.keepDays
          break
        case 'reopen':
          await db.close()
          db = await open()
          break
        case 'backup': {
          const copy = path.join(tempDir('model-backup'), 'copy')
          await db.backup(copy)
          await db.close()
          dir = copy
          db = await open()
          break
        }
      }
      await check(db, model)
    }
  } finally {
    await db.close()
  }
}

test('the public API matches a model over random operation sequences', async (t) => {
  t.timeout(10 * 60_000)
  const runs = Number(process.env.WARP_MODEL_RUNS ?? 40)
  const seed = Number(process.env.WARP_MODEL_SEED ?? 20261128)
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => run(ops)),
    { numRuns: runs, seed, verbose: true },
  )
  t.pass()
})
