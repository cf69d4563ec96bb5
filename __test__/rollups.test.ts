import test from 'ava'

import { Aggregate, WarpEngine } from '../ts'
import { codeOf, tempDir } from './helpers'

const MINUTE = 60_000

async function filled(): Promise<WarpEngine> {
  const db = await WarpEngine.open(tempDir('rollups'))
  for (let h = 0; h < 3; h++) {
    const s = db.series({ metric: 'cpu', tags: { host: `h${h}`, dc: h < 2 ? 'eu' : 'us' } })
    for (let i = 0; i < 600; i++) s.put(Math.sin(i / 10) * 50 + h, i * 10_000)
  }
  return db
}

test('a rollup is declared, listed, answers queries like raw points, and is dropped', async (t) => {
  const db = await filled()
  const r = await db.rollups.create({ name: 'cpu_eu', metric: 'cpu', where: { dc: 'eu' }, every: '1m', aggregates: ['avg', 'max'] })
  t.like(r, { name: 'cpu_eu', metric: 'cpu', every: MINUTE, ready: true, sources: 2, dirty: 0 })
  t.deepEqual(r.where, { dc: 'eu' })
  t.deepEqual(db.rollups.list().map((x) => x.name), ['cpu_eu'])

  const q = { metric: 'cpu', where: { dc: 'eu' }, from: 0, to: 100 * MINUTE, every: '10m', aggregate: ['avg', 'max', 'count'] as Aggregate[], groupBy: 'host', explain: true }
  const fromRollup = await db.query({ ...q, aggregate: [...q.aggregate] })
  const raw = db.querySync({ ...q, aggregate: [...q.aggregate], useRollups: false })
  t.is(fromRollup.explain?.rollup, 'cpu_eu')
  t.true((fromRollup.explain?.rollupCells ?? 0) > 0)
  t.is(raw.explain?.rollup ?? null, null)
  t.deepEqual(fromRollup.groups.map((g) => g.tags), raw.groups.map((g) => g.tags))
  fromRollup.groups.forEach((g, i) => {
    for (const name of ['avg', 'max', 'count']) {
      g.columns[name].forEach((v, b) => t.true(Math.abs(v - raw.groups[i].columns[name][b]) < 1e-9, `${name}[${b}]`))
    }
  })

  // New points are read raw until a refresh materializes them; the answer never changes.
  db.series({ metric: 'cpu', tags: { host: 'h0', dc: 'eu' } }).put(1000, 5 * MINUTE + 1)
  const before = db.querySync({ ...q, aggregate: ['max'] })
  t.true((before.explain?.rollupRawPoints ?? 0) > 0)
  t.is(db.rollups.list()[0].dirty, 1)
  t.true((await db.rollups.refresh()) > 0)
  t.is(db.rollups.list()[0].dirty, 0)
  const after = db.querySync({ ...q, aggregate: ['max'] })
  t.deepEqual(after.groups.map((g) => Array.from(g.columns.max)), before.groups.map((g) => Array.from(g.columns.max)))
  t.is(after.groups[0].columns.max[0], 1000)

  // Its cells are not series a user sees.
  t.false(db.series().some((s) => s.key.startsWith('__')))
  t.deepEqual(db.findSeries({ metric: /.*/ }).length, 3)
  t.true(db.stats().rollups.queries >= 3)

  t.true(db.rollups.drop('cpu_eu'))
  t.false(db.rollups.drop('cpu_eu'))
  t.deepEqual(db.rollups.list(), [])
  t.is(db.querySync(q).explain?.rollup ?? null, null)
  await db.close()
})

test('rollups persist across reopen', async (t) => {
  const dir = tempDir('rollups-reopen')
  let db = await WarpEngine.open(dir)
  db.series('m{a=b}').put(1, 1000)
  await db.rollups.create({ name: 'r', metric: 'm', every: 60_000, aggregates: ['sum'] })
  db.series('m{a=b}').put(2, 2000)
  await db.close()
  db = await WarpEngine.open(dir)
  t.like(db.rollups.list()[0], { name: 'r', ready: true, sources: 1 })
  const r = db.querySync({ metric: 'm', from: 0, to: 60_000, every: '1m', aggregate: 'sum', explain: true })
  t.is(r.explain?.rollup, 'r')
  t.is(r.groups[0].columns.sum[0], 3)
  await db.close()
})

test('bad rollup declarations are INVALID_QUERY naming the field', async (t) => {
  const db = await filled()
  const base = { name: 'x', metric: 'cpu', every: '1m', aggregates: ['avg'] }
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ ...base, name: 'a b' }, 'name'],
    [{ ...base, name: 7 }, 'name'],
    [{ ...base, metric: '__x' }, 'metric'],
    [{ ...base, every: '1d' }, 'every'],
    [{ ...base, every: 0 }, 'every'],
    [{ ...base, every: {} }, 'every'],
    [{ ...base, aggregates: ['movingAverage(3)'] }, 'aggregates'],
    [{ ...base, aggregates: ['rate'] }, 'aggregates'],
    [{ ...base, aggregates: [] }, 'aggregates'],
    [{ ...base, aggregates: 'avg' }, 'aggregates'],
    [{ ...base, where: { host: /(?=x)/ } }, 'where'],
    [{ ...base, extra: 1 }, 'extra'],
  ]
  for (const [def, field] of bad) {
    const e = await db.rollups.create(def as never).then(
      () => null,
      (e: Error & { code: string }) => e,
    )
    t.is(e?.code, 'INVALID_QUERY', JSON.stringify(def))
    t.true(e?.message.includes(field), `${e?.message} names ${field}`)
  }
  t.is(await codeOf(() => db.rollups.create(null as never)), 'INVALID_QUERY')
  await db.rollups.create(base as never)
  t.is(await codeOf(() => db.rollups.create(base as never)), 'INVALID_QUERY')
  t.is(await codeOf(() => db.series('__rollup:x:sum').put(1, 1)), 'INVALID_SERIES')
  await db.close()
  t.is(await codeOf(() => db.rollups.list()), 'CLOSED')
})

test.serial('rollups and links against a bad day: inherited fields, mutated arguments, close during work', async (t) => {
  const db = await filled()
  // Inherited properties are never read; a definition changed after the call changes nothing.
  const proto = Object.prototype as Record<string, unknown>
  proto.where = { host: 'nope' }
  proto.kind = 'polluted'
  try {
    const def = { name: 'p', metric: 'cpu', every: '1m', aggregates: ['max'] as ['max'] }
    const created = db.rollups.create(def)
    def.name = 'changed'
    def.aggregates.push('min' as never)
    const r = await created
    t.like(r, { name: 'p', sources: 3 })
    t.deepEqual(r.aggregates, ['max'])
    t.true(db.link('cpu{host=h0,dc=eu}', 'cpu{host=h1,dc=eu}'))
    t.is(db.links()[0].kind, 'related')
    t.is(db.findSeries({ metric: 'cpu' }).length, 3, 'an inherited where selects nothing')
    t.is(db.lastpoint({ metric: 'cpu' }).keys.length, 3)
  } finally {
    delete proto.where
    delete proto.kind
  }
  // Close while a refresh and a query run: each finishes or fails with a code, never hangs.
  db.series({ metric: 'cpu', tags: { host: 'h0', dc: 'eu' } }).put(1, 7_000_000)
  const refresh = db.rollups.refresh().then(() => 'done', (e: { code: string }) => e.code)
  const query = db.query({ metric: 'cpu', from: 0, to: 100 * 60_000, every: '10m', aggregate: 'max' }).then(() => 'done', (e: { code: string }) => e.code)
  await Promise.all([db.close(), db.close()])
  t.true(['done', 'CLOSED'].includes(await refresh))
  t.true(['done', 'CLOSED'].includes(await query))
  t.is(await codeOf(() => db.rollups.refresh()), 'CLOSED')
  t.is(await codeOf(() => db.link('a', 'b')), 'CLOSED')
})
