// `npm run bench`: WarpEngine against DuckDB (@duckdb/node-api, Appender) and SQLite
// (better-sqlite3, prepared insert, one transaction per batch) on the same data in the same
// run. Every figure is the median of several runs; ratios compare the medians.
//
// BENCH_RUNS (default 5) sets the runs per figure; BENCH_POINTS (default 1,000,000) the points
// per single-put run and per range read.

import Database from 'better-sqlite3'
import { DuckDBInstance } from '@duckdb/node-api'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

import { NumericRange, WarpEngine } from '../ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const POINTS = Number(process.env.BENCH_POINTS ?? 1_000_000)
const BATCH = 100_000
const BATCH_POINTS = 2 * POINTS
const T0 = 1_700_000_000_000
const root = mkdtempSync(path.join(tmpdir(), 'warp-bench-'))
let dirs = 0
const fresh = (name: string) => path.join(root, `${name}-${dirs++}`)

/** A regular 10 s gauge: a random walk rounded to 2 decimals (the common metrics shape). */
function gauge(n: number): { ts: Float64Array; vs: Float64Array } {
  const ts = new Float64Array(n)
  const vs = new Float64Array(n)
  let v = 50
  for (let i = 0; i < n; i++) {
    ts[i] = T0 + i * 10_000
    v += Math.random() - 0.5
    vs[i] = Math.round(v * 100) / 100
  }
  return { ts, vs }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function timed(fn: () => unknown): Promise<number> {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

function sizeOf(p: string): number {
  const st = statSync(p)
  if (!st.isDirectory()) return st.size
  return readdirSync(p).reduce((sum, name) => sum + sizeOf(path.join(p, name)), 0)
}

interface Figure {
  name: string
  unit: string
  better: 'higher' | 'lower'
  ours: number
  sqlite?: number
  duckdb?: number
}
const figures: Figure[] = []

function report(f: Figure): void {
  figures.push(f)
  const fmt = (x?: number) => (x === undefined ? '—' : x >= 1e5 ? `${(x / 1e6).toFixed(2)}M` : x.toFixed(x < 10 ? 2 : 0))
  const ratio = (peer?: number) => {
    if (peer === undefined) return '—'
    const r = f.better === 'higher' ? f.ours / peer : peer / f.ours
    return `${r.toFixed(r < 10 ? 2 : 0)}× ${r >= 1 ? 'better' : 'worse'}`
  }
  console.log(
    `${f.name.padEnd(34)} ${f.unit.padEnd(9)} ours ${fmt(f.ours).padStart(8)} | SQLite ${fmt(f.sqlite).padStart(8)} (${ratio(f.sqlite)}) | DuckDB ${fmt(f.duckdb).padStart(8)} (${ratio(f.duckdb)})`,
  )
}

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
  const select = db.prepare('SELECT ts, v FROM gauge WHERE ts BETWEEN ? AND ?').raw(true)
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
      const reader = await conn.runAndReadAll(`SELECT ts, v FROM gauge WHERE ts BETWEEN ${from} AND ${to}`)
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
    const to = many.ts[POINTS - 1]
    const samples: number[] = []
    for (let r = 0; r < Math.max(RUNS, 9); r++) {
      let n = 0
      samples.push(await timed(async () => (n = await store.rangeAll(from, to))))
      if (n !== POINTS) throw new Error(`${name} range returned ${n} points, expected ${POINTS}`)
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

  console.log('\nTargets: put ≥ 1M/s and ≥ 2× SQLite; putBatch ≥ 10M/s and ≥ 5× DuckDB; range < 10 ms and ≤ 0.1× DuckDB; replay ≥ 5M/s.')
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
