import test from 'ava'
import { existsSync, readFileSync } from 'node:fs'
import * as path from 'node:path'

import { NumericRange, Point, WarpEngine } from '../ts'
import { tempDir } from './helpers'

test('open creates the plan layout with default rule files', async (t) => {
  const dir = tempDir()
  const db = await WarpEngine.open(dir)
  for (const sub of ['wal', 'temporal/live/streams', 'temporal/live/indices', 'temporal/live/checkpoints']) {
    t.true(existsSync(path.join(dir, sub)), sub)
  }
  for (const file of ['lifecycle_rules.json', 'compression_rules.json', 'retention_policies.json']) {
    const parsed = JSON.parse(readFileSync(path.join(dir, 'temporal/configuration', file), 'utf8'))
    t.is(parsed.version, 1, file)
  }
  await db.close()
})

test('numeric put, get (as-of), latest and range', async (t) => {
  const db = await WarpEngine.open(tempDir())
  db.put('cpu{host=a}', 1.5, 1000)
  db.put({ metric: 'cpu', tags: { host: 'a' } }, 2.5, 3000)
  db.put('cpu{host="a"}', 2.0, 2000) // out of order
  t.deepEqual(db.get('cpu{host=a}', 2500), { ts: 2000, value: 2.0 })
  t.deepEqual(db.get('cpu{host=a}', 3000), { ts: 3000, value: 2.5 })
  t.is(db.get('cpu{host=a}', 999), null)
  t.deepEqual(db.latest('cpu{host=a}'), { ts: 3000, value: 2.5 })
  const r = (await db.range('cpu{host=a}', 1000, 2999)) as NumericRange
  t.true(r.timestamps instanceof Float64Array && r.values instanceof Float64Array)
  t.deepEqual([...r.timestamps], [1000, 2000])
  t.deepEqual([...r.values], [1.5, 2.0])
  const desc = (await db.range('cpu{host=a}', 0, 5000, { order: 'desc', limit: 2 })) as NumericRange
  t.deepEqual([...desc.timestamps], [3000, 2000])
  const first = db.series('cpu{host=a}').rangeSync(0, 5000, { limit: 1 }) as NumericRange
  t.deepEqual([...first.values], [1.5])
  await db.close()
})

test('a later write to the same timestamp replaces the value', async (t) => {
  const db = await WarpEngine.open(tempDir())
  db.put('m', 1, 10)
  db.put('m', 2, 20)
  db.put('m', 3, 10)
  const r = (await db.range('m', 0, 100)) as NumericRange
  t.deepEqual([...r.timestamps], [10, 20])
  t.deepEqual([...r.values], [3, 2])
  await db.close()
})

test('events store any JSON value and come back in time order', async (t) => {
  const db = await WarpEngine.open(tempDir())
  db.put('deploys', { version: '1.2', ok: true }, 20)
  db.put('deploys', ['a', 1, null], 10)
  db.put('deploys', 'plain string', 30)
  db.put('deploys', null, 40)
  const r = (await db.range('deploys', 0, 100)) as Point[]
  t.deepEqual(r, [
    { ts: 10, value: ['a', 1, null] },
    { ts: 20, value: { version: '1.2', ok: true } },
    { ts: 30, value: 'plain string' },
    { ts: 40, value: null },
  ])
  t.deepEqual(db.latest('deploys'), { ts: 40, value: null })
  t.deepEqual(db.get('deploys', 25), { ts: 20, value: { version: '1.2', ok: true } })
  await db.close()
})

test('put defaults the timestamp to now', async (t) => {
  const db = await WarpEngine.open(tempDir())
  const before = Date.now()
  db.put('now', 1)
  const p = db.latest('now')!
  t.true(p.ts >= before && p.ts <= Date.now())
  db.put('dated', 2, new Date(12345))
  t.deepEqual(db.latest('dated'), { ts: 12345, value: 2 })
  await db.close()
})

test('putBatch takes Float64Array or BigInt64Array timestamps', async (t) => {
  const db = await WarpEngine.open(tempDir())
  const n = 10_000
  const ts = Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 10_000)
  const vs = Float64Array.from({ length: n }, (_, i) => Math.sin(i))
  db.putBatch('wave', ts, vs)
  db.putBatch('wave_big', BigInt64Array.from(ts, (x) => BigInt(x)), vs)
  for (const name of ['wave', 'wave_big']) {
    const r = (await db.range(name, 0, 2e12)) as NumericRange
    t.deepEqual(r.timestamps, ts, name)
    t.deepEqual(r.values, vs, name)
  }
  await db.close()
})

test('series() lists what exists; handles are cached per canonical key', async (t) => {
  const db = await WarpEngine.open(tempDir())
  db.put('b{z=1,a=2}', 1, 1)
  db.put('a', { e: 1 }, 1)
  t.is(db.series('b{a="2",z="1"}'), db.series('b{z=1,a=2}'))
  t.is(db.series('b{a=2,z=1}').key, 'b{a="2",z="1"}')
  t.deepEqual(
    db.series().sort((x, y) => x.key.localeCompare(y.key)),
    [
      { id: 1, key: 'a', kind: 'event', points: 1 },
      { id: 0, key: 'b{a="2",z="1"}', kind: 'numeric', points: 1 },
    ],
  )
  t.is(db.latest('never-written'), null)
  t.deepEqual(await db.range('never-written', 0, 1), { timestamps: new Float64Array(0), values: new Float64Array(0) })
  await db.close()
})

test('data survives close and reopen, and checkpoint plus more writes', async (t) => {
  const dir = tempDir()
  let db = await WarpEngine.open(dir)
  db.putBatch('x', Float64Array.from([1, 2, 3]), Float64Array.from([10, 20, 30]))
  const { bytes } = await db.checkpoint()
  t.true(bytes > 0)
  db.put('x', 40, 4)
  db.put('y', { late: true }, 1)
  await db.flush()
  t.true(db.stats().walBytes > 0)
  await db.close()
  db = await WarpEngine.open(dir)
  const r = (await db.range('x', 0, 10)) as NumericRange
  t.deepEqual([...r.values], [10, 20, 30, 40])
  t.deepEqual(db.latest('y'), { ts: 1, value: { late: true } })
  const s = db.stats()
  t.is(s.points, 5)
  t.is(s.series, 2)
  t.true(s.recovery.checkpointLoaded)
  await db.close()
})

test('sync durability: put returns a promise; concurrent writers share fsyncs', async (t) => {
  const dir = tempDir()
  const db = await WarpEngine.open(dir, { durability: 'sync' })
  const s = db.series('sync')
  const pending = []
  for (let i = 0; i < 500; i++) pending.push(s.put(i, i))
  t.true(pending[0] instanceof Promise)
  await Promise.all(pending)
  t.is(db.stats().points, 500)
  t.true(db.stats().walSyncs < 100, `${db.stats().walSyncs} fsyncs for 500 writes`)
  await db.close()
  const again = await WarpEngine.open(dir)
  t.is(again.stats().points, 500)
  await again.close()
})

test('none durability still keeps data across a clean close', async (t) => {
  const dir = tempDir()
  const db = await WarpEngine.open(dir, { durability: 'none', flushIntervalMs: 5 })
  t.is(db.put('n', 1, 1), undefined)
  await db.close()
  const again = await WarpEngine.open(dir, { durability: 'none' })
  t.deepEqual(again.latest('n'), { ts: 1, value: 1 })
  await again.close()
})

test('close is idempotent', async (t) => {
  const db = await WarpEngine.open(tempDir())
  await db.close()
  await t.notThrowsAsync(() => db.close())
})
