import test from 'ava'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

import { NumericRange, WarpEngine } from '../ts'
import { codeOf, tempDir } from './helpers'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const T0 = Date.UTC(2025, 0, 20)

/** `hours` of a 10-second gauge with 2-decimal values, starting at T0. */
function gauge(hours: number): { ts: Float64Array; vs: Float64Array } {
  const n = hours * 360
  const ts = Float64Array.from({ length: n }, (_, i) => T0 + i * 10_000)
  const vs = Float64Array.from({ length: n }, (_, i) => Math.round(5000 + 3000 * Math.sin(i / 100)) / 100)
  return { ts, vs }
}

async function openQuiet(dir: string): Promise<WarpEngine> {
  const db = await WarpEngine.open(dir)
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  return db
}

async function all(db: WarpEngine, series: string): Promise<NumericRange> {
  return (await db.range(series, 0, Number.MAX_SAFE_INTEGER)) as NumericRange
}

test('a lifecycle pass seals, moves data down the tiers, and reads stay the same', async (t) => {
  const dir = tempDir('life')
  const db = await openQuiet(dir)
  const { ts, vs } = gauge(72)
  db.putBatch('cpu{host=a}', ts, vs)
  const before = await all(db, 'cpu{host=a}')

  const report = await db.runLifecycle({ now: T0 + 5 * DAY })
  t.is(report.sealedPoints, 72 * 360)
  t.true(report.moves.length >= 3, JSON.stringify(report.moves))
  const stats = db.stats()
  const tier = (name: string) => stats.tiers.find((x) => x.tier === name)!
  t.is(tier('hourly').partitions, 0)
  t.is(tier('daily').partitions, 3)
  t.true(stats.lifecycle.moves >= 3)
  t.true(stats.lifecycle.bytesAfter < stats.lifecycle.bytesBefore, 'LZ4 daily partitions are smaller')
  // Every tier's partitions hold the same files; the summary says how the blocks are stored.
  for (const file of ['blocks', 'index', 'summary.json']) t.true(existsSync(path.join(dir, 'temporal/historical/daily/2025-01-21', file)), file)
  const summary = JSON.parse(readFileSync(path.join(dir, 'temporal/historical/daily/2025-01-21/summary.json'), 'utf8'))
  t.is(summary.compression, 'lz4')
  t.deepEqual(await all(db, 'cpu{host=a}'), before)
  t.deepEqual(db.latest('cpu{host=a}'), { ts: ts[ts.length - 1], value: vs[vs.length - 1] })
  t.deepEqual(db.get('cpu{host=a}', T0 + DAY + 5_000), { ts: T0 + DAY, value: vs[8640] })

  // Later still, days fold into their month and the month into its year.
  const later = await db.runLifecycle({ now: T0 + 400 * DAY })
  t.deepEqual(later.moves.map((m) => m.to), ['monthly', 'yearly'])
  t.deepEqual(await all(db, 'cpu{host=a}'), before)
  await db.close()

  const again = await WarpEngine.open(dir)
  t.deepEqual(await all(again, 'cpu{host=a}'), before)
  t.is(again.stats().tiers.find((x) => x.tier === 'yearly')!.partitions, 1)
  await again.close()
})

test('time dilation: partitions read often age more slowly', async (t) => {
  const db = await openQuiet(tempDir('dilation'))
  await db.lifecycle.setRules({ lifecycle: { entropy: { accessHalfLifeHours: 24, dilationPerAccess: 1, threshold: 1 } } })
  const { ts, vs } = gauge(48)
  db.putBatch('cpu', ts, vs)
  await db.runLifecycle({ now: T0 + 2 * DAY + 2 * HOUR }) // seal only: nothing is 48 h old yet
  t.is(db.stats().tiers.find((x) => x.tier === 'hourly')!.partitions, 48)
  for (let i = 0; i < 10; i++) await db.range('cpu', T0 + DAY, T0 + 2 * DAY - 1) // day 2 is hot
  const report = await db.runLifecycle({ now: T0 + 4 * DAY })
  t.deepEqual(report.moves.map((m) => m.window), ['historical/daily/2025-01-20'])
  const scores = db.partitions({ now: T0 + 4 * DAY })
  const hot = scores.filter((p) => p.tier === 'hourly')
  t.is(hot.length, 24)
  t.true(hot.every((p) => p.dilation > 5 && p.entropy < 1), JSON.stringify(hot[0]))
  t.true(db.stats().cache.hitRate > 0.8)
  await db.close()
})

test('retention drops expired partitions; compression rules recompress', async (t) => {
  const db = await openQuiet(tempDir('retain'))
  const { ts, vs } = gauge(6)
  db.putBatch('m', ts, vs)
  await db.runLifecycle({ now: T0 + 7 * HOUR })
  const hourly = db.partitions()
  t.is(hourly.length, 6)
  t.true(hourly.every((p) => !p.lz4))

  await db.lifecycle.setRules({ compression: { lz4: { hourly: true, daily: true, monthly: true, yearly: true } } })
  const redo = await db.runLifecycle({ now: T0 + 7 * HOUR })
  t.is(redo.moves.filter((m) => m.recompression).length, 6)
  t.true(db.partitions().every((p) => p.lz4))

  // Retention is per point: everything older than the horizon is gone at once, and the
  // partitions whose window ended before it are deleted.
  await db.lifecycle.setRules({ retention: { maxAgeDays: 1 } })
  const dropped = await db.runLifecycle({ now: T0 + DAY + 3 * HOUR + 1 })
  t.is(dropped.partitionsDropped, 3)
  t.is((await all(db, 'm')).timestamps[0], T0 + 3 * HOUR + 10_000)
  t.is(db.stats().retentionHorizon, T0 + 3 * HOUR + 1)
  await db.close()
})

test('rule files are validated at open and at runtime, naming the field', async (t) => {
  const dir = tempDir('rules')
  const db = await WarpEngine.open(dir)
  t.is(await codeOf(() => db.lifecycle.setRules({ lifecycle: { intervalSeconds: -1 } })), 'INVALID_CONFIG')
  const err = await db.lifecycle.setRules({ retention: { maxAgeDays: 'soon' as never } }).catch((e) => e)
  t.regex(err.message, /retention_policies\.json: maxAgeDays must be a number > 0/)
  t.is(db.lifecycle.rules.retention.maxAgeDays, null, 'a rejected change is not applied')
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  await db.close()
  const file = path.join(dir, 'temporal/configuration/lifecycle_rules.json')
  t.is(JSON.parse(readFileSync(file, 'utf8')).intervalSeconds, 0, 'runtime changes are persisted')

  const rules = JSON.parse(readFileSync(file, 'utf8'))
  rules.tiers.recent.maxAgeHours = 0
  writeFileSync(file, JSON.stringify(rules))
  const bad = await WarpEngine.open(dir).catch((e) => e)
  t.is(bad.code, 'INVALID_CONFIG')
  t.regex(bad.message, /lifecycle_rules\.json: tiers\.recent\.maxAgeHours/)
  writeFileSync(file, '{ not json')
  t.is(await codeOf(() => WarpEngine.open(dir)), 'INVALID_CONFIG')
  rules.tiers.recent.maxAgeHours = 1
  rules.surprise = true
  writeFileSync(file, JSON.stringify(rules))
  t.regex((await WarpEngine.open(dir).catch((e) => e)).message, /surprise/)
})

test('backup produces a consistent copy that opens as a database', async (t) => {
  const dir = tempDir('src')
  const db = await openQuiet(dir)
  const { ts, vs } = gauge(30)
  db.putBatch('cpu', ts, vs)
  db.put('deploys', { v: 1 }, T0 + 5)
  await db.runLifecycle({ now: T0 + 3 * DAY })
  db.put('cpu', 1.25, T0 + 40 * HOUR) // only in the live tier
  const target = path.join(tempDir('backup'), 'copy')
  await db.backup(target)
  t.is(await codeOf(() => db.backup(target)), 'INVALID_ARGUMENT')
  const copy = await WarpEngine.open(target)
  t.deepEqual(await all(copy, 'cpu'), await all(db, 'cpu'))
  t.deepEqual(copy.latest('deploys'), { ts: T0 + 5, value: { v: 1 } })
  await copy.close()
  await db.close()
})
