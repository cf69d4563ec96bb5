// Queries against an independent brute-force reference (query-reference.ts) on random data
// spread over the live tier, hourly and daily partitions, overlays and overwrites; plus the
// query API's edges: errors that name their field, calendar buckets across DST, tables,
// lastpoint and explain.
import test from 'ava'
import { availableParallelism } from 'node:os'

import { AggregateQuery, QueryResult, WarpEngine } from '../ts'
import { RefQuery, RefSeries, reference } from './query-reference'
import { rng, tempDir } from './helpers'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const BASE = Date.UTC(2026, 0, 1)


const HOSTS = ['a', 'b', 'c', 'd']
const METRICS = ['cpu', 'mem', 'req']
const AGGREGATES = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'stddev', 'variance', 'spread', 'median', 'percentile(0.9)', 'percentile(0.25)', 'rate', 'increase', 'delta', 'derivative', 'movingAverage(3)', 'movingAverage(2,max)']

interface Fixture {
  db: WarpEngine
  series: RefSeries[]
}

/** Writes random points in phases, with lifecycle passes between, so a series' points end up
 * in daily and hourly partitions, overlays, the live tier, and overwrites across them. */
async function fixture(seed: number, parallelQueryPoints?: number): Promise<Fixture> {
  const random = rng(seed)
  const db = await WarpEngine.open(tempDir('query'), { parallelQueryPoints })
  await db.lifecycle.setRules({
    lifecycle: { intervalSeconds: 0, tiers: { live: { maxAgeHours: 1 }, recent: { maxAgeHours: 2 }, historical: { maxAgeDays: 1 }, monthly: { maxAgeDays: 400 } } },
  })
  const series: RefSeries[] = []
  const byKey = new Map<string, RefSeries>()
  const counters = new Map<string, number>()
  const write = (metric: string, host: string, t: number) => {
    const tags: Record<string, string> = { host }
    if (host !== 'd') tags.dc = host < 'c' ? 'x' : 'y'
    const spec = { metric, tags }
    let value: number
    if (metric === 'req') {
      const previous = counters.get(host) ?? 0
      value = random() < 0.03 ? Math.round(random() * 10) : previous + Math.round(random() * 50)
      counters.set(host, value)
    } else {
      value = random() < 0.02 && metric !== 'steady' ? NaN : Math.round(random() * 10_000) / 100
    }
    db.put(spec, value, t)
    const key = `${metric}{${Object.keys(tags).sort().map((k) => `${k}="${tags[k]}"`).join(',')}}`
    let s = byKey.get(key)
    if (!s) {
      s = { key, metric, tags, points: new Map() }
      byKey.set(key, s)
      series.push(s)
    }
    s.points.set(t, value)
  }
  const phase = (from: number, to: number, perSeries: number) => {
    for (const metric of METRICS) {
      for (const host of HOSTS) {
        // One dense series makes blocks large enough to carry summaries.
        const n = metric === 'cpu' && host === 'a' ? Math.floor((to - from) / 10_000) : perSeries
        for (let i = 0; i < n; i++) {
          const t = metric === 'cpu' && host === 'a' ? from + i * 10_000 : from + Math.floor(random() * (to - from))
          write(metric, host, t)
        }
      }
    }
  }
  phase(BASE, BASE + 2 * DAY, 300)
  // A steady series written once: its sealed blocks overlap nothing, so whole blocks inside a
  // bucket are answered from their summaries.
  for (let t = BASE; t < BASE + 2 * DAY; t += 10_000) write('steady', 'z', t)
  await db.runLifecycle({ now: BASE + 2 * DAY + 3 * HOUR })
  phase(BASE, BASE + 3 * DAY, 60) // late points, overwrites of sealed ones, and new ones
  // Retention for one metric only: its points before the horizon are gone (mid-partition,
  // mid-block), the other metrics' stay.
  await db.lifecycle.setRules({ retention: { version: 1, maxAgeDays: null, metrics: [{ metric: 'me*', maxAgeDays: 1.37 }] } })
  await db.runLifecycle({ now: BASE + 3 * DAY })
  const horizon = Math.floor(BASE + 3 * DAY - 1.37 * DAY)
  phase(BASE + DAY, BASE + 3 * DAY + 12 * HOUR, 40) // live points over sealed ones
  // Writes older than the horizon are accepted and vanish.
  for (const s of series) if (s.metric === 'mem') for (const t of [...s.points.keys()]) if (t < horizon) s.points.delete(t)
  return { db, series }
}

function randomQuery(random: () => number): RefQuery {
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]
  const metrics = random() < 0.6 ? [pick([...METRICS, 'steady'])] : [...METRICS, 'steady'].filter(() => random() < 0.6)
  const where: Record<string, string | string[]> = {}
  if (random() < 0.3) where.dc = pick(['x', 'y'])
  if (random() < 0.2) where.host = HOSTS.filter(() => random() < 0.5)
  const from = BASE - HOUR + Math.floor(random() * 3 * DAY)
  const to = from + 1 + Math.floor(random() * (random() < 0.3 ? 6 * HOUR : 2 * DAY))
  const every = random() < 0.15 ? undefined : pick([60_000, 10 * 60_000, HOUR, 3 * HOUR, DAY, 7 * 60_000 + 13])
  const aggregates = AGGREGATES.filter(() => random() < 0.25)
  if (aggregates.length === 0) aggregates.push(pick(AGGREGATES))
  const q: RefQuery = {
    metrics,
    where,
    from,
    to,
    aggregates,
    every,
    offset: every !== undefined && random() < 0.2 ? Math.floor(random() * every) : undefined,
    fill: pick(['none', 'null', 'previous', 'linear', -1] as const),
    groupBy: pick([undefined, ['host'], ['dc', 'host'], ['dc'], '*'] as const) as RefQuery['groupBy'],
    having: [],
  }
  if (random() < 0.2) {
    const column = pick(aggregates)
    q.having.push({ column, op: pick(['gt', 'lt'] as const), value: random() * 60 })
  }
  const orderable = aggregates.filter((a) => a !== 'derivative' && !a.startsWith('movingAverage'))
  if (random() < 0.3 && orderable.length > 0) {
    q.orderBy = { column: pick(orderable), desc: random() < 0.5 }
    q.limit = 1 + Math.floor(random() * 3)
  }
  return q
}

function toQuery(q: RefQuery): AggregateQuery {
  const query: AggregateQuery = { metric: q.metrics, where: q.where, from: q.from, to: q.to, aggregate: q.aggregates as AggregateQuery['aggregate'], fill: q.fill }
  if (q.every !== undefined) query.every = q.every
  if (q.offset !== undefined) query.offset = q.offset
  if (q.groupBy !== undefined) query.groupBy = q.groupBy === '*' ? '*' : [...q.groupBy]
  if (q.orderBy) query.orderBy = { column: q.orderBy.column, desc: q.orderBy.desc }
  if (q.limit !== undefined) query.limit = q.limit
  if (q.having.length > 0) query.having = Object.fromEntries(q.having.map((h) => [h.column, { [h.op]: h.value }]))
  return query
}

function close(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b)
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))
}

function differences(got: QueryResult, want: ReturnType<typeof reference>): string | null {
  if (got.groups.length !== want.length) return `${got.groups.length} groups, want ${want.length}: ${JSON.stringify(want.map((g) => g.tags))} got ${JSON.stringify(got.groups.map((g) => g.tags))}`
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got.groups[i], want[i]]
    const sorted = (tags: Record<string, string>) => JSON.stringify(Object.entries(tags).sort())
    if (sorted(g.tags) !== sorted(w.tags) || g.key !== w.key || g.series !== w.series) {
      return `group ${i}: ${JSON.stringify([g.tags, g.key, g.series])} want ${JSON.stringify([w.tags, w.key, w.series])}`
    }
    if (JSON.stringify([...g.timestamps]) !== JSON.stringify(w.timestamps)) return `group ${i} timestamps ${[...g.timestamps].slice(0, 8)} want ${w.timestamps.slice(0, 8)}`
    for (const [name, column] of Object.entries(w.columns)) {
      const have = g.columns[name]
      if (!have) return `group ${i}: no column ${name}`
      const bad = column.findIndex((v, k) => !close(have[k], v))
      if (bad >= 0) return `group ${i} ${name}[${bad}] at ${w.timestamps[bad]}: ${have[bad]} want ${column[bad]}`
    }
  }
  return null
}

for (const [title, parallel] of [
  ['random queries over every tier equal a brute-force reference', undefined],
  ['the same on every core (each way of splitting a scan)', 0],
] as const) {
test(title, async (t) => {
  const runs = Number(process.env.WARP_QUERY_RUNS ?? 150)
  const seed = Number(process.env.WARP_QUERY_SEED ?? 7) + (parallel ?? 0)
  const { db, series } = await fixture(seed, parallel)
  const stats = db.stats()
  t.true(stats.tiers.filter((tier) => tier.partitions > 0).length >= 2, 'data in several tiers')
  t.true(stats.livePoints > 0)
  const random = rng(seed + 1)
  let fromSummaries = 0
  let threads = 1
  for (let i = 0; i < runs; i++) {
    const q = randomQuery(random)
    const want = reference(series, q)
    const got = await db.query({ ...toQuery(q), explain: true })
    fromSummaries += got.explain!.blocksFromSummaries
    threads = Math.max(threads, got.explain!.threads)
    const diff = differences(got, want)
    if (diff !== null) {
      t.fail(`query ${i} (seed ${seed}): ${JSON.stringify(q)}\n${diff}`)
      break
    }
    const sync = db.querySync(toQuery(q))
    t.is(differences(sync, want), null, `querySync ${i}`)
  }
  const steady = await db.query({ metric: 'steady', from: BASE, to: BASE + 2 * DAY, aggregate: ['count', 'avg', 'max', 'first', 'last'], every: '1d', explain: true })
  const want = reference(series, { metrics: ['steady'], where: {}, from: BASE, to: BASE + 2 * DAY, aggregates: ['count', 'avg', 'max', 'first', 'last'], every: DAY, fill: 'null', having: [] })
  t.is(differences(steady, want), null)
  fromSummaries += steady.explain!.blocksFromSummaries
  t.true(fromSummaries > 0, 'some blocks were answered from their summaries')
  if (parallel === 0) t.true(threads > 1 || availableParallelism() === 1, 'scans ran on several threads')
  await db.close()
})
}

test('a query that cannot run is INVALID_QUERY naming its field', async (t) => {
  const db = await WarpEngine.open(tempDir())
  db.put('m', 1, 1)
  db.put('ev', { a: 1 }, 1)
  const cases: [unknown, RegExp][] = [
    [{ metric: 'm', from: 0, to: 10, aggregate: 'nope' }, /aggregate: unknown aggregate 'nope'/],
    [{ metric: 'm', from: 10, to: 10, aggregate: 'avg' }, /from: from \(10\) must be before to/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', every: 0 }, /every/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', every: -5 }, /every/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', every: '5x' }, /every.*unit/],
    [{ metric: 'm', from: 0, to: 1e12, aggregate: 'avg', every: 1 }, /every: more than 1000000 buckets/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'percentile(1.5)' }, /aggregate.*\[0, 1\]/],
    [{ metric: 'm', from: 0, to: 10, aggregate: { percentile: -1 } }, /aggregate/],
    [{ metric: /(a)\1/, from: 0, to: 10, aggregate: 'avg' }, /metric.*regex/],
    [{ metric: 'ev', from: 0, to: 10, aggregate: 'avg' }, /aggregate: 'avg' needs numbers, and ev holds events/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', tz: 'Mars/Olympus' }, /tz/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', every: '1m', tz: 'Europe/Paris' }, /tz/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', fill: 'sometimes' }, /fill/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', orderBy: 'max' }, /orderBy: 'max' is not one of the aggregates/],
    [{ metric: 'm', from: 0, to: 10, aggregate: 'avg', having: { avg: { around: 1 } } }, /having\.avg\.around/],
    [{ metric: 'm', from: 0, to: 10, aggregates: ['avg'] }, /aggregates: is not a query field/],
    [{ metric: 'm', from: 0, to: 10 }, /aggregate: is required/],
    [{ metric: 'm', to: 10, aggregate: 'avg' }, /from: is required/],
    [{ metric: 'm', from: 'yesterday', to: 10, aggregate: 'avg' }, /from/],
    [{ metric: 'm', from: 0, to: 10, table: true, filter: { x: { gt: 1 } } }, /filter: 'x' is not a selected metric/],
    [null, /query: must be an object/],
  ]
  for (const [q, message] of cases) {
    const err = await db.query(q as never).catch((e) => e)
    t.is(err?.code, 'INVALID_QUERY', JSON.stringify(q))
    t.regex(String(err?.message), message, JSON.stringify(q))
  }
  const groups = await (async () => {
    const many = await WarpEngine.open(tempDir())
    for (let i = 0; i < 10; i++) many.put({ metric: 'g', tags: { i: String(i) } }, 1, 1)
    const r = await many.query({ metric: 'g', from: 0, to: 10, aggregate: 'count', groupBy: 'i' })
    await many.close()
    return r.groups.length
  })()
  t.is(groups, 10)
  await db.close()
})

test('daily buckets in a time zone follow its DST changes', async (t) => {
  const db = await WarpEngine.open(tempDir())
  // Europe/Paris springs forward on 2026-03-29: that local day lasts 23 hours.
  const from = Date.UTC(2026, 2, 27, 23) // 2026-03-28T00:00+01:00
  for (let t = from; t < from + 3 * DAY; t += HOUR) db.put('power', 1, t)
  const r = await db.query({ metric: 'power', from, to: from + 3 * DAY, aggregate: 'count', every: '1d', tz: 'Europe/Paris' })
  const [g] = r.groups
  t.deepEqual([...g.timestamps], [from, from + DAY, from + 2 * DAY - HOUR, from + 3 * DAY - HOUR])
  t.deepEqual([...g.columns.count], [24, 23, 24, 1])
  const weeks = await db.query({ metric: 'power', from, to: from + 3 * DAY, aggregate: 'count', every: '1w', tz: 'Europe/Paris' })
  t.deepEqual([...weeks.groups[0].timestamps], [Date.UTC(2026, 2, 22, 23), Date.UTC(2026, 2, 29, 22)])
  await db.close()
})

test('tables put metrics side by side and filter rows by value', async (t) => {
  const db = await WarpEngine.open(tempDir())
  for (let i = 0; i < 10; i++) {
    for (const field of ['user', 'system']) db.put({ metric: `cpu.${field}`, tags: { host: 'h5' } }, field === 'user' ? i * 10 : i, i * 1000)
    db.put({ metric: 'cpu.user', tags: { host: 'h6' } }, 99, i * 1000)
  }
  db.put({ metric: 'cpu.system', tags: { host: 'h5' } }, 7.5, 10_500) // a row only one metric has
  const r = await db.query({ metric: ['cpu.user', 'cpu.system'], where: { host: 'h5' }, from: 0, to: 20_000, table: true, filter: { 'cpu.user': { gt: 60 } } })
  t.is(r.groups.length, 1)
  t.deepEqual(r.groups[0].tags, { host: 'h5' })
  t.deepEqual([...r.groups[0].timestamps], [7000, 8000, 9000])
  t.deepEqual([...r.groups[0].columns['cpu.user']], [70, 80, 90])
  t.deepEqual([...r.groups[0].columns['cpu.system']], [7, 8, 9])
  const all = db.querySync({ metric: ['cpu.user', 'cpu.system'], from: 0, to: 20_000, table: true, limit: 11 })
  t.deepEqual(all.groups.map((g) => g.tags.host), ['h5', 'h6'])
  t.is(all.groups[0].timestamps.length, 11)
  t.true(Number.isNaN(all.groups[0].columns['cpu.user'][10]))
  await db.close()
})

test('lastpoint answers every series from its newest-point pointer, sealed or not', async (t) => {
  const db = await WarpEngine.open(tempDir())
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  for (let h = 0; h < 50; h++) db.put({ metric: 'temp', tags: { host: `h${h}` } }, h, BASE + h * 1000)
  db.put({ metric: 'temp', tags: { host: 'h0' } }, NaN, BASE + 60_000)
  await db.runLifecycle({ now: BASE + 400 * DAY })
  db.put({ metric: 'temp', tags: { host: 'h1' } }, 42, BASE + 500 * DAY)
  const before = db.stats().wormholeHits
  const last = db.lastpoint({ metric: 'temp', where: { host: ['h0', 'h1', 'h2'] } })
  t.deepEqual(last.keys, ['temp{host="h0"}', 'temp{host="h1"}', 'temp{host="h2"}'])
  t.deepEqual([...last.timestamps], [BASE + 60_000, BASE + 500 * DAY, BASE + 2000])
  t.true(Number.isNaN(last.values[0]))
  t.deepEqual([...last.values.slice(1)], [42, 2])
  t.is(db.stats().wormholeHits - before, 3)
  t.is(db.lastpoint({ metric: 'temp' }).keys.length, 50)
  await db.close()
})

test('range is half-open: consecutive reads tile', async (t) => {
  const db = await WarpEngine.open(tempDir())
  for (let i = 0; i < 10; i++) db.put('m', i, i * 10)
  const a = (await db.range('m', 0, 50)) as { timestamps: Float64Array }
  const b = (await db.range('m', 50, 100)) as { timestamps: Float64Array }
  t.deepEqual([...a.timestamps, ...b.timestamps], [0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
  t.is(((await db.range('m', 40, 40)) as { timestamps: Float64Array }).timestamps.length, 0)
  await db.close()
})
