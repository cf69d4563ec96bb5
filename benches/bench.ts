// `npm run bench`: WarpEngine against DuckDB (@duckdb/node-api, Appender) and SQLite
// (better-sqlite3, prepared insert, one transaction per batch) on the same data in the same
// run. Every figure is the median of several runs; ratios compare the medians.
//
// BENCH_RUNS (default 5) sets the runs per figure; BENCH_POINTS (default 1,000,000) the points
// per single-put run and per range read. The tier figures load two data sets into every engine:
// a regular 10 s gauge (100 series × 3 days, random walk with 2 decimals) and TSBS-style cpu
// data (50 hosts × 10 fields × 12 h, full-precision random walks in [0, 100]).

import Database from 'better-sqlite3'
import { DuckDBInstance } from '@duckdb/node-api'
import { rmSync } from 'node:fs'
import * as path from 'node:path'

import { NumericRange, WarpEngine } from '../ts'
import { BATCH, BATCH_POINTS, POINTS, RUNS, T0, fresh, gauge, median, report, root, sizeOf, timed } from './common'
import { queryBenchmarks } from './queries'
import { cardinalityBenchmarks } from './cardinality'
import { analyticsBenchmarks } from './analytics'
import { streamBenchmarks } from './streams'

// ---------- the three engines, behind the same small interface ----------

interface Store {
  putOne(ts: Float64Array, vs: Float64Array): Promise<void> | void
  putBatches(ts: Float64Array, vs: Float64Array): Promise<void> | void
  rangeAll(from: number, to: number): Promise<number> | number
  close(): Promise<void> | void
  files: string
}

async function warp(): Promise<Store> {
  const dir = fresh('warp')
  const db = await WarpEngine.open(dir, { durability: 'interval' })
  const s = db.series('gauge{host="bench"}')
  return {
    files: dir,
    putOne(ts, vs) {
      for (let i = 0; i < ts.length; i++) s.put(vs[i], ts[i])
    },
    putBatches(ts, vs) {
      for (let i = 0; i < ts.length; i += BATCH) s.putBatch(ts.subarray(i, i + BATCH), vs.subarray(i, i + BATCH))
    },
    async rangeAll(from, to) {
      const r = (await s.range(from, to)) as NumericRange
      return r.values.length
    },
    close: () => db.close(),
  }
}

function sqlite(): Store {
  const file = fresh('sqlite') + '.db'
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE gauge (ts INTEGER NOT NULL, v REAL NOT NULL)')
  const insert = db.prepare('INSERT INTO gauge (ts, v) VALUES (?, ?)')
  const select = db.prepare('SELECT ts, v FROM gauge WHERE ts >= ? AND ts < ?').raw(true)
  const load = db.transaction((ts: Float64Array, vs: Float64Array, from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(ts[i], vs[i])
  })
  return {
    files: file,
    putOne(ts, vs) {
      for (let i = 0; i < ts.length; i += BATCH) load(ts, vs, i, Math.min(i + BATCH, ts.length))
    },
    putBatches(ts, vs) {
      for (let i = 0; i < ts.length; i += BATCH) load(ts, vs, i, Math.min(i + BATCH, ts.length))
    },
    rangeAll(from, to) {
      return select.all(from, to).length
    },
    close() {
      db.pragma('wal_checkpoint(TRUNCATE)')
      db.close()
    },
  }
}

async function duckdb(): Promise<Store> {
  const file = fresh('duckdb') + '.duckdb'
  const instance = await DuckDBInstance.create(file)
  const conn = await instance.connect()
  await conn.run('CREATE TABLE gauge (ts BIGINT NOT NULL, v DOUBLE NOT NULL)')
  const append = async (ts: Float64Array, vs: Float64Array) => {
    for (let i = 0; i < ts.length; i += BATCH) {
      const appender = await conn.createAppender('gauge')
      const end = Math.min(i + BATCH, ts.length)
      for (let j = i; j < end; j++) {
        appender.appendBigInt(BigInt(ts[j]))
        appender.appendDouble(vs[j])
        appender.endRow()
      }
      appender.flushSync()
      appender.closeSync()
    }
  }
  return {
    files: file,
    putOne: append,
    putBatches: append,
    async rangeAll(from, to) {
      const reader = await conn.runAndReadAll(`SELECT ts, v FROM gauge WHERE ts >= ${from} AND ts < ${to}`)
      const [tsCol] = reader.getColumns()
      return tsCol.length
    },
    async close() {
      await conn.run('CHECKPOINT')
      conn.closeSync()
      instance.closeSync()
    },
  }
}

const engines = { ours: warp, sqlite, duckdb } as const
type Name = keyof typeof engines

async function measure(fn: (store: Store) => Promise<number>, names: Name[] = ['ours', 'sqlite', 'duckdb']): Promise<Record<Name, number>> {
  const out = {} as Record<Name, number>
  for (const name of names) {
    const samples: number[] = []
    for (let r = 0; r < RUNS; r++) {
      const store = await engines[name]()
      samples.push(await fn(store))
      await store.close()
    }
    out[name] = median(samples)
  }
  return out
}

async function main(): Promise<void> {
  // BENCH_ONLY=queries (or cardinality, streams, analytics) runs only that section.
  if (process.env.BENCH_ONLY === 'queries') return queryBenchmarks()
  if (process.env.BENCH_ONLY === 'cardinality') return cardinalityBenchmarks()
  if (process.env.BENCH_ONLY === 'streams') return streamBenchmarks()
  if (process.env.BENCH_ONLY === 'analytics') return analyticsBenchmarks()
  console.log(`WarpEngine benchmark — medians of ${RUNS} runs, ${POINTS.toLocaleString()} points per single-put run\n`)

  const single = gauge(POINTS)
  const putOne = await measure(async (s) => POINTS / ((await timed(() => s.putOne(single.ts, single.vs))) / 1000))
  report({ name: 'put, one call per point', unit: 'points/s', better: 'higher', ...renamed(putOne) })

  const many = gauge(BATCH_POINTS)
  const sizes: Record<Name, number[]> = { ours: [], sqlite: [], duckdb: [] }
  const putBatch = await measure(async (s) => {
    const ms = await timed(() => s.putBatches(many.ts, many.vs))
    return BATCH_POINTS / (ms / 1000)
  })
  report({ name: `putBatch, ${BATCH.toLocaleString()}-point batches`, unit: 'points/s', better: 'higher', ...renamed(putBatch) })

  // Range reads and file sizes on one loaded store per engine.
  const rangeMs: Record<Name, number> = {} as Record<Name, number>
  for (const name of Object.keys(engines) as Name[]) {
    const store = await engines[name]()
    await store.putBatches(many.ts, many.vs)
    const from = many.ts[0]
    const to = many.ts[POINTS - 1] + 1
    const samples: number[] = []
    // Three untimed reads first, for every engine: steady state, not allocator warm-up.
    for (let r = 0; r < Math.max(RUNS, 9) + 3; r++) {
      let n = 0
      const ms = await timed(async () => (n = await store.rangeAll(from, to)))
      if (n !== POINTS) throw new Error(`${name} range returned ${n} points, expected ${POINTS}`)
      if (r >= 3) samples.push(ms)
    }
    rangeMs[name] = median(samples)
    await store.close()
    sizes[name].push(sizeOf(store.files) / BATCH_POINTS)
  }
  report({ name: `range of ${POINTS.toLocaleString()} points into JS`, unit: 'ms', better: 'lower', ...renamed(rangeMs) })
  report({
    name: 'on-disk bytes per point after close',
    unit: 'bytes',
    better: 'lower',
    ours: sizes.ours[0],
    sqlite: sizes.sqlite[0],
    duckdb: sizes.duckdb[0],
  })

  // Historical reads: the same 1M points after they moved down to the yearly tier.
  const historical = await historicalRange(single.ts, single.vs)
  report({ name: `range of ${POINTS.toLocaleString()} historical points`, unit: 'ms', better: 'lower', ours: historical, duckdb: rangeMs.duckdb, sqlite: rangeMs.sqlite })

  for (const [label, data] of [
    ['10 s gauge, 2 decimals', gaugeSeries(100, 3 * 8640, 2)],
    ['TSBS cpu, full precision', gaugeSeries(500, 4320, null)],
  ] as const) {
    const tiers = await tierSizes(data)
    const peers = await peerSizes(data)
    for (const [tier, bytes] of Object.entries(tiers)) {
      report({ name: `bytes/point ${tier}: ${label}`, unit: 'bytes', better: 'lower', ours: bytes, ...peers })
    }
  }

  // Recovery: reopen a database whose points are all in the WAL (no checkpoint on close).
  const replay: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const dir = fresh('replay')
    const db = await WarpEngine.open(dir, { checkpointOnClose: false })
    const s = db.series('gauge')
    for (let i = 0; i < BATCH_POINTS; i += 10_000) s.putBatch(many.ts.subarray(i, i + 10_000), many.vs.subarray(i, i + 10_000))
    for (let i = 0; i < 200_000; i++) db.series('single').put(i, i)
    await db.close()
    const again = await WarpEngine.open(dir)
    const { replayedPoints, durationMs } = again.stats().recovery
    replay.push(replayedPoints / (durationMs / 1000))
    await again.close()
  }
  report({ name: 'recovery replay from the WAL', unit: 'points/s', better: 'higher', ours: median(replay) })

  console.log('\nTargets: put ≥ 1M/s and ≥ 2× SQLite; putBatch ≥ 10M/s and ≥ 5× DuckDB; range < 10 ms and ≤ 0.1× DuckDB;')
  console.log('replay ≥ 5M/s; historical range < 20 ms; ≤ 1.5 bytes/point on the 2-decimal gauge and fewer than DuckDB.')

  await queryBenchmarks()
  await cardinalityBenchmarks()
  await streamBenchmarks()
  await analyticsBenchmarks()
}

interface SeriesData {
  key: string
  ts: Float64Array
  vs: Float64Array
}

/** `count` series of `n` 10-second points each: random walks rounded to `decimals`, or kept at
 * full precision and clamped to [0, 100] like TSBS's cpu fields. */
function gaugeSeries(count: number, n: number, decimals: number | null): SeriesData[] {
  return Array.from({ length: count }, (_, s) => {
    const ts = new Float64Array(n)
    const vs = new Float64Array(n)
    let v = 20 + Math.random() * 60
    for (let i = 0; i < n; i++) {
      ts[i] = T0 + i * 10_000
      v = Math.min(100, Math.max(0, v + Math.random() - 0.5))
      vs[i] = decimals === null ? v : Math.round(v * 10 ** decimals) / 10 ** decimals
    }
    return { key: `metric{series="${s}"}`, ts, vs }
  })
}

const HOUR = 3_600_000
const FAR = 1e6 // hours or days: a tier age no data reaches

/** Loads `data`, then moves it down one tier per lifecycle pass, measuring each tier's files. */
async function tierSizes(data: SeriesData[]): Promise<Record<string, number>> {
  const dir = fresh('tiers')
  const db = await WarpEngine.open(dir, { durability: 'none' })
  const tiers = { live: { maxAgeHours: 1 }, recent: { maxAgeHours: FAR }, historical: { maxAgeDays: FAR }, monthly: { maxAgeDays: FAR } }
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0, tiers } })
  let points = 0
  for (const s of data) {
    db.putBatch(s.key, s.ts, s.vs)
    points += s.ts.length
  }
  const now = Math.max(...data.map((s) => s.ts[s.ts.length - 1])) + 800 * 24 * HOUR
  const out: Record<string, number> = {}
  const stages = [
    ['hourly', 'recent/hourly', {}],
    ['daily', 'historical/daily', { recent: { maxAgeHours: 1 } }],
    ['monthly', 'historical/monthly', { historical: { maxAgeDays: 1 } }],
    ['yearly', 'historical/yearly', { monthly: { maxAgeDays: 1 } }],
  ] as const
  for (const [tier, sub, change] of stages) {
    Object.assign(tiers, change)
    await db.lifecycle.setRules({ lifecycle: { tiers } })
    await db.runLifecycle({ now })
    out[tier] = sizeOf(path.join(dir, 'temporal', sub)) / points
  }
  await db.close()
  return out
}

/** File bytes per point of the same data in SQLite and DuckDB, with a series column. */
async function peerSizes(data: SeriesData[]): Promise<{ sqlite: number; duckdb: number }> {
  const points = data.reduce((n, s) => n + s.ts.length, 0)
  const sqliteFile = fresh('sqlite-size') + '.db'
  const sdb = new Database(sqliteFile)
  sdb.pragma('journal_mode = WAL')
  sdb.exec('CREATE TABLE m (series INTEGER NOT NULL, ts INTEGER NOT NULL, v REAL NOT NULL)')
  const insert = sdb.prepare('INSERT INTO m VALUES (?, ?, ?)')
  sdb.transaction(() => data.forEach((s, id) => s.ts.forEach((t, i) => insert.run(id, t, s.vs[i]))))()
  sdb.pragma('wal_checkpoint(TRUNCATE)')
  sdb.close()
  const duckFile = fresh('duckdb-size') + '.duckdb'
  const instance = await DuckDBInstance.create(duckFile)
  const conn = await instance.connect()
  await conn.run('CREATE TABLE m (series INTEGER NOT NULL, ts BIGINT NOT NULL, v DOUBLE NOT NULL)')
  const appender = await conn.createAppender('m')
  data.forEach((s, id) =>
    s.ts.forEach((t, i) => {
      appender.appendInteger(id)
      appender.appendBigInt(BigInt(t))
      appender.appendDouble(s.vs[i])
      appender.endRow()
    }),
  )
  appender.flushSync()
  appender.closeSync()
  await conn.run('CHECKPOINT')
  conn.closeSync()
  instance.closeSync()
  return { sqlite: sizeOf(sqliteFile) / points, duckdb: sizeOf(duckFile) / points }
}

/** Median time to read `ts.length` points back after they moved to the yearly tier. */
async function historicalRange(ts: Float64Array, vs: Float64Array): Promise<number> {
  const db = await WarpEngine.open(fresh('historical'), { durability: 'none' })
  await db.lifecycle.setRules({
    lifecycle: { intervalSeconds: 0, tiers: { live: { maxAgeHours: 1 }, recent: { maxAgeHours: 1 }, historical: { maxAgeDays: 1 }, monthly: { maxAgeDays: 1 } } },
  })
  const s = db.series('historical')
  for (let i = 0; i < ts.length; i += BATCH) s.putBatch(ts.subarray(i, i + BATCH), vs.subarray(i, i + BATCH))
  await db.runLifecycle({ now: ts[ts.length - 1] + 800 * 24 * HOUR })
  const stats = db.stats()
  if (stats.livePoints !== 0 || stats.tiers.find((t) => t.tier === 'yearly')!.points !== ts.length) {
    throw new Error('the historical data did not reach the yearly tier')
  }
  const samples: number[] = []
  for (let r = 0; r < Math.max(RUNS, 9) + 3; r++) {
    let n = 0
    const ms = await timed(async () => (n = ((await s.range(ts[0], ts[ts.length - 1] + 1)) as NumericRange).values.length))
    if (n !== ts.length) throw new Error(`historical range returned ${n} points`)
    if (r >= 3) samples.push(ms)
  }
  await db.close()
  return median(samples)
}

function renamed(r: Record<Name, number>): { ours: number; sqlite: number; duckdb: number } {
  return { ours: r.ours, sqlite: r.sqlite, duckdb: r.duckdb }
}

main()
  .catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
  .finally(() => rmSync(root, { recursive: true, force: true }))
