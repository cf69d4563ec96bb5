import test from 'ava'

import { WarpEngine } from '../ts'
import { codeOf, tempDir } from './helpers'

const HOUR = 3_600_000
const DAY = 24 * HOUR

test('retention per metric and per rollup: raw points go, their rollup stays', async (t) => {
  const db = await WarpEngine.open(tempDir('retention'))
  const start = Date.UTC(2025, 0, 1)
  const ts = Float64Array.from({ length: 30 * 24 }, (_, i) => start + i * HOUR)
  const vs = Float64Array.from(ts, (_, i) => i % 50)
  db.putBatch('cpu{h=1}', ts, vs)
  db.putBatch('mem{h=1}', ts, vs)
  await db.rollups.create({ name: 'cpu_1d', metric: 'cpu', every: '24h', aggregates: ['avg'] })
  const q = { metric: 'cpu', from: start, to: start + 30 * DAY, every: '24h', aggregate: 'avg' as const }
  const before = db.querySync(q).groups[0].columns.avg
  await db.lifecycle.setRules({ retention: { version: 1, maxAgeDays: 20, metrics: [{ metric: 'cpu*', maxAgeDays: 2 }], rollups: { cpu_1d: 365 } } })
  await db.runLifecycle({ now: start + 30 * DAY })
  const oldest = async (s: string) => ((await db.range(s, 0, Number.MAX_SAFE_INTEGER)) as { timestamps: Float64Array }).timestamps[0]
  t.is(await oldest('cpu{h=1}'), start + 28 * DAY)
  t.is(await oldest('mem{h=1}'), start + 10 * DAY)
  t.deepEqual(db.querySync(q).groups[0].columns.avg, before, 'the daily rollup keeps every day')
  t.is(db.querySync({ ...q, useRollups: false }).groups[0].columns.avg.filter((v) => !Number.isNaN(v)).length, 2)
  await db.close()
})

test('bad retention rules are INVALID_CONFIG', async (t) => {
  const db = await WarpEngine.open(tempDir('retention-bad'))
  for (const retention of [
    { version: 1, maxAgeDays: null, metrics: [{ metric: '', maxAgeDays: 1 }] },
    { version: 1, maxAgeDays: null, metrics: [{ metric: 'a', maxAgeDays: -1 }] },
    { version: 1, maxAgeDays: null, metrics: [{ metric: 'a', maxAgeDays: 1, extra: 1 }] },
    { version: 1, maxAgeDays: null, metrics: 'a' },
    { version: 1, maxAgeDays: null, rollups: { 'a b': 1 } },
    { version: 1, maxAgeDays: null, rollups: { a: 'x' } },
  ]) {
    t.is(await codeOf(() => db.lifecycle.setRules({ retention } as never)), 'INVALID_CONFIG', JSON.stringify(retention))
  }
  await db.close()
})
