// The query benchmark: TSBS-style cpu data (100 hosts tagged `hostname`, 10 fields
// usage_user … usage_guest_nice, one point per 10 s for a day, clamped random walks in
// [0, 100] rounded to 2 decimals) and one 1M-point series, loaded into WarpEngine (the last
// hour live, the rest sealed into hourly partitions, as a lifecycle pass leaves a day of data),
// DuckDB and SQLite (a wide table, as TSBS loads them; SQLite with an index on
// (hostname, ts)). Every query's result is checked equal across the three engines before it is
// timed; figures are medians of many runs after warm-up.

import Database from 'better-sqlite3'
import { DuckDBInstance, DuckDBConnection } from '@duckdb/node-api'

import { QueryResult, WarpEngine } from '../ts'
import { fresh, median, report } from './common'

const HOSTS = 100
const FIELDS = ['usage_user', 'usage_system', 'usage_idle', 'usage_nice', 'usage_iowait', 'usage_irq', 'usage_softirq', 'usage_steal', 'usage_guest', 'usage_guest_nice']
const STEP = 10_000
const DAY = 86_400_000
const HOUR = 3_600_000
const START = Date.UTC(2026, 0, 1)
const ROWS = DAY / STEP
const BIG = 1_000_000
const REPEAT = Number(process.env.BENCH_QUERY_REPEAT ?? 30)

/** One value per (host, field, row): clamped random walks rounded to 2 decimals. */
function tsbs(): Float64Array[][] {
  return Array.from({ length: HOSTS }, () =>
    FIELDS.map(() => {
      const vs = new Float64Array(ROWS)
      let v = Math.random() * 100
      for (let i = 0; i < ROWS; i++) {
        v = Math.min(100, Math.max(0, v + (Math.random() - 0.5) * 4))
        vs[i] = Math.round(v * 100) / 100
      }
      return vs
    }),
  )
}

/** A query on each engine (timed), and how its raw result reads as numbers (untimed: the
 * three must give the same numbers, in the same order). */
interface Case {
  name: string
  ours: () => unknown
  oursNumbers: (r: never) => number[]
  sqlite: () => unknown[][]
  duckdb: () => Promise<unknown[][]>
  /** Leaves out key columns the other engines do not return. */
  peerNumbers?: (row: unknown[]) => unknown[]
}

async function duckRows(conn: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await conn.runAndReadAll(sql)).getRows()
}

function sqliteRows(stmt: Database.Statement, ...args: unknown[]): unknown[][] {
  return stmt.raw(true).all(...args) as unknown[][]
}

function numbers(rows: unknown[][], keep: (row: unknown[]) => unknown[] = (r) => r): number[] {
  return rows.flatMap((row) => keep(row).map((v) => Number(v)))
}

function same(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= 1e-9 * Math.max(1, Math.abs(x)))
}

async function time(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 3; i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < REPEAT; i++) {
    const t = performance.now()
    await fn()
    samples.push(performance.now() - t)
  }
  return median(samples)
}

/**
 * An aggregate over the live window while ingest runs: every millisecond, 1,000 new points
 * (100 series × 10) go in, then a per-series avg and max over the last minute is asked; the
 * loop is paced to 1M points/s. Reports the query's median and p99.
 */
async function liveAggregation(): Promise<void> {
  const db = await WarpEngine.open(fresh('live-agg'), { durability: 'none' })
  const SERIES = 100
  const PER_TICK = 10
  const series = Array.from({ length: SERIES }, (_, h) => db.series({ metric: 'live', tags: { host: `h${h}` } }))
  const ts = new Float64Array(PER_TICK)
  const vs = new Float64Array(PER_TICK)
  let now = START
  const tick = () => {
    for (const s of series) {
      for (let i = 0; i < PER_TICK; i++) {
        ts[i] = now + i * 100
        vs[i] = Math.random() * 100
      }
      s.putBatch(ts, vs)
    }
    now += PER_TICK * 100
  }
  for (let i = 0; i < 600; i++) tick() // a minute of data first
  const samples: number[] = []
  const started = performance.now()
  let points = 0
  for (let i = 0; i < 3000; i++) {
    const due = started + i // one tick per millisecond: 1M points/s
    while (performance.now() < due) {
      /* pace */
    }
    tick()
    points += SERIES * PER_TICK
    const t = performance.now()
    db.querySync({ metric: 'live', from: now - 60_000, to: now, aggregate: ['avg', 'max'], groupBy: 'host' })
    samples.push(performance.now() - t)
  }
  const rate = points / ((performance.now() - started) / 1000)
  samples.sort((a, b) => a - b)
  const p99 = samples[Math.floor(samples.length * 0.99)]
  report({ name: `live-window avg+max of ${SERIES} series, median (ingest ${(rate / 1e6).toFixed(2)}M pts/s)`, unit: 'ms', better: 'lower', ours: median(samples) })
  report({ name: 'the same, p99', unit: 'ms', better: 'lower', ours: p99 })
  await db.close()
}

export async function queryBenchmarks(): Promise<void> {
  console.log(`\nQueries — TSBS cpu, ${HOSTS} hosts × ${FIELDS.length} fields × 1 day at 10 s (${(HOSTS * FIELDS.length * ROWS).toLocaleString()} points), and a ${BIG.toLocaleString()}-point series; medians of ${REPEAT} runs\n`)
  const data = tsbs()
  const big = Float64Array.from({ length: BIG }, (_, i) => Math.round((50 + 20 * Math.sin(i / 1000)) * 100) / 100)

  // WarpEngine: a day of data, the last hour live and the rest sealed, as a lifecycle pass leaves it.
  const db = await WarpEngine.open(fresh('queries'), { durability: 'none' })
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  const ts = Float64Array.from({ length: ROWS }, (_, i) => START + i * STEP)
  for (let h = 0; h < HOSTS; h++) {
    FIELDS.forEach((f, k) => db.putBatch({ metric: `cpu.${f}`, tags: { hostname: `host_${h}` } }, ts, data[h][k]))
  }
  // The 1M-point series: one point a second over the 11.6 days before the day of cpu data.
  const bigTs = Float64Array.from({ length: BIG }, (_, i) => START + DAY - (BIG - i) * 1000)
  db.putBatch('big', bigTs, big)
  await db.runLifecycle({ now: START + DAY + 2 * HOUR })

  // SQLite and DuckDB: one wide row per host and time.
  const sqlite = new Database(fresh('sqlite-q') + '.db')
  sqlite.pragma('journal_mode = WAL')
  sqlite.exec(`CREATE TABLE cpu (ts INTEGER NOT NULL, hostname TEXT NOT NULL, ${FIELDS.map((f) => `${f} REAL`).join(', ')})`)
  sqlite.exec('CREATE TABLE big (ts INTEGER PRIMARY KEY, v REAL NOT NULL)')
  const insert = sqlite.prepare(`INSERT INTO cpu VALUES (?, ?, ${FIELDS.map(() => '?').join(', ')})`)
  const insertBig = sqlite.prepare('INSERT INTO big VALUES (?, ?)')
  sqlite.transaction(() => {
    for (let h = 0; h < HOSTS; h++) for (let i = 0; i < ROWS; i++) insert.run(ts[i], `host_${h}`, ...FIELDS.map((_, k) => data[h][k][i]))
    for (let i = 0; i < BIG; i++) insertBig.run(bigTs[i], big[i])
  })()
  sqlite.exec('CREATE INDEX cpu_host_ts ON cpu (hostname, ts)')
  sqlite.exec('ANALYZE')
  const duck = await DuckDBInstance.create(fresh('duckdb-q') + '.duckdb')
  const conn = await duck.connect()
  await conn.run(`CREATE TABLE cpu (ts BIGINT NOT NULL, hostname VARCHAR NOT NULL, ${FIELDS.map((f) => `${f} DOUBLE`).join(', ')})`)
  await conn.run('CREATE TABLE big (ts BIGINT NOT NULL, v DOUBLE NOT NULL)')
  const cpuAppender = await conn.createAppender('cpu')
  for (let h = 0; h < HOSTS; h++) {
    for (let i = 0; i < ROWS; i++) {
      cpuAppender.appendBigInt(BigInt(ts[i]))
      cpuAppender.appendVarchar(`host_${h}`)
      for (let k = 0; k < FIELDS.length; k++) cpuAppender.appendDouble(data[h][k][i])
      cpuAppender.endRow()
    }
  }
  cpuAppender.closeSync()
  const bigAppender = await conn.createAppender('big')
  for (let i = 0; i < BIG; i++) {
    bigAppender.appendBigInt(BigInt(bigTs[i]))
    bigAppender.appendDouble(big[i])
    bigAppender.endRow()
  }
  bigAppender.closeSync()
  await conn.run('CHECKPOINT')

  const from1h = START + 12 * HOUR
  const to1h = from1h + HOUR
  const from12h = START + 6 * HOUR
  const to12h = from12h + 12 * HOUR
  const eightHosts = Array.from({ length: 8 }, (_, i) => `host_${i * 11}`)
  const fiveFields = FIELDS.slice(0, 5)
  const sqlIn = (xs: string[]) => xs.map((x) => `'${x}'`).join(', ')
  const columns = (g: { columns: Record<string, Float64Array> }, names: string[]) => names.map((n) => g.columns[n])

  const q1 = sqlite.prepare(`SELECT (ts / 60000) * 60000 AS m, max(usage_user) FROM cpu WHERE hostname = 'host_7' AND ts >= ? AND ts < ? GROUP BY m ORDER BY m`)
  const q2 = sqlite.prepare(`SELECT (ts / 60000) * 60000 AS m, ${fiveFields.map((f) => `max(${f})`).join(', ')} FROM cpu WHERE hostname IN (${sqlIn(eightHosts)}) AND ts >= ? AND ts < ? GROUP BY m ORDER BY m`)
  const q3 = sqlite.prepare(`SELECT hostname, (ts / 3600000) * 3600000 AS h, avg(usage_user) FROM cpu WHERE ts >= ? AND ts < ? GROUP BY hostname, h ORDER BY hostname, h`)
  const q4 = sqlite.prepare(`SELECT ts, ${FIELDS.join(', ')} FROM cpu WHERE hostname = 'host_7' AND ts >= ? AND ts < ? AND usage_user > 90 ORDER BY ts`)
  const q5 = sqlite.prepare(`SELECT c.hostname, ${FIELDS.map((f) => `c.${f}`).join(', ')} FROM cpu c JOIN (SELECT hostname, max(ts) AS ts FROM cpu GROUP BY hostname) m ON c.hostname = m.hostname AND c.ts = m.ts ORDER BY c.hostname`)
  const q6 = sqlite.prepare(`SELECT avg(usage_user) FROM cpu WHERE hostname = 'host_7'`)
  const q7 = sqlite.prepare('SELECT avg(v) FROM big')
  const hostOrder = Array.from({ length: HOSTS }, (_, h) => `host_${h}`).sort()

  const cases: Case[] = [
    {
      name: 'max per minute, 1 host, 1 h',
      ours: () => db.querySync({ metric: 'cpu.usage_user', where: { hostname: 'host_7' }, from: from1h, to: to1h, aggregate: 'max', every: '1m' }),
      oursNumbers: (r: QueryResult) => [...r.groups[0].timestamps].flatMap((t, i) => [t, r.groups[0].columns.max[i]]),
      sqlite: () => sqliteRows(q1, from1h, to1h),
      duckdb: () => duckRows(conn, `SELECT (ts // 60000) * 60000 AS m, max(usage_user) FROM cpu WHERE hostname = 'host_7' AND ts >= ${from1h} AND ts < ${to1h} GROUP BY m ORDER BY m`),
    },
    {
      name: 'max of 5 fields, 8 hosts, per min, 1 h',
      ours: () => db.querySync({ metric: fiveFields.map((f) => `cpu.${f}`), where: { hostname: eightHosts }, from: from1h, to: to1h, aggregate: 'max', every: '1m', groupBy: '__name__' }),
      oursNumbers: (r: QueryResult) => {
        const byField = fiveFields.map((f) => r.groups.find((g) => g.tags.__name__ === `cpu.${f}`)!)
        return [...byField[0].timestamps].flatMap((t, i) => [t, ...byField.map((g) => g.columns.max[i])])
      },
      sqlite: () => sqliteRows(q2, from1h, to1h),
      duckdb: () => duckRows(conn, `SELECT (ts // 60000) * 60000 AS m, ${fiveFields.map((f) => `max(${f})`).join(', ')} FROM cpu WHERE hostname IN (${sqlIn(eightHosts)}) AND ts >= ${from1h} AND ts < ${to1h} GROUP BY m ORDER BY m`),
    },
    {
      name: 'avg per host per hour, all, 12 h',
      ours: () => db.querySync({ metric: 'cpu.usage_user', from: from12h, to: to12h, aggregate: 'avg', every: '1h', groupBy: 'hostname' }),
      oursNumbers: (r: QueryResult) => {
        const byHost = new Map(r.groups.map((g) => [g.tags.hostname, g]))
        return hostOrder.flatMap((h) => {
          const g = byHost.get(h)!
          return [...g.timestamps].flatMap((t, i) => [t, g.columns.avg[i]])
        })
      },
      sqlite: () => sqliteRows(q3, from12h, to12h),
      duckdb: () => duckRows(conn, `SELECT hostname, (ts // 3600000) * 3600000 AS h, avg(usage_user) FROM cpu WHERE ts >= ${from12h} AND ts < ${to12h} GROUP BY hostname, h ORDER BY hostname, h`),
      peerNumbers: (row) => row.slice(1),
    },
    {
      name: '10 fields of 1 host, 12 h, user > 90',
      ours: () => db.querySync({ metric: FIELDS.map((f) => `cpu.${f}`), where: { hostname: 'host_7' }, from: from12h, to: to12h, table: true, filter: { 'cpu.usage_user': { gt: 90 } } }),
      oursNumbers: (r: QueryResult) => {
        const g = r.groups[0]
        if (!g) return []
        const cols = columns(g, FIELDS.map((f) => `cpu.${f}`))
        return [...g.timestamps].flatMap((t, i) => [t, ...cols.map((c) => c[i])])
      },
      sqlite: () => sqliteRows(q4, from12h, to12h),
      duckdb: () => duckRows(conn, `SELECT ts, ${FIELDS.join(', ')} FROM cpu WHERE hostname = 'host_7' AND ts >= ${from12h} AND ts < ${to12h} AND usage_user > 90 ORDER BY ts`),
    },
    {
      name: 'latest of every field of every host',
      ours: () => db.lastpoint({ metric: /cpu\..*/ }),
      oursNumbers: (last: ReturnType<WarpEngine['lastpoint']>) => {
        const at = new Map(last.keys.map((k, i) => [k, last.values[i]]))
        return hostOrder.flatMap((h) => FIELDS.map((f) => at.get(`cpu.${f}{hostname="${h}"}`)!))
      },
      sqlite: () => sqliteRows(q5),
      duckdb: () => duckRows(conn, `SELECT hostname, ${FIELDS.join(', ')} FROM cpu WHERE (hostname, ts) IN (SELECT hostname, max(ts) FROM cpu GROUP BY hostname) ORDER BY hostname`),
      peerNumbers: (row) => row.slice(1),
    },
    {
      name: 'avg of one series, all points',
      ours: () => db.querySync({ metric: 'cpu.usage_user', where: { hostname: 'host_7' }, from: START, to: START + DAY, aggregate: 'avg' }),
      oursNumbers: (r: QueryResult) => [...r.groups[0].columns.avg],
      sqlite: () => sqliteRows(q6),
      duckdb: () => duckRows(conn, `SELECT avg(usage_user) FROM cpu WHERE hostname = 'host_7'`),
    },
    {
      name: `avg of the ${(BIG / 1e6).toFixed(0)}M-point series`,
      ours: () => db.querySync({ metric: 'big', from: bigTs[0], to: bigTs[BIG - 1] + 1, aggregate: 'avg' }),
      oursNumbers: (r: QueryResult) => [...r.groups[0].columns.avg],
      sqlite: () => sqliteRows(q7),
      duckdb: () => duckRows(conn, 'SELECT avg(v) FROM big'),
    },
  ]
  for (const c of cases) {
    const ours = c.oursNumbers((await c.ours()) as never)
    const [lite, dk] = [numbers(c.sqlite(), c.peerNumbers), numbers(await c.duckdb(), c.peerNumbers)]
    if (!same(ours, lite) || !same(ours, dk)) {
      throw new Error(`${c.name}: results differ (ours ${ours.length} numbers ${ours.slice(0, 6)}, SQLite ${lite.length} ${lite.slice(0, 6)}, DuckDB ${dk.length} ${dk.slice(0, 6)})`)
    }
    report({ name: c.name, unit: 'ms', better: 'lower', ours: await time(c.ours), sqlite: await time(c.sqlite), duckdb: await time(c.duckdb) })
  }
  const asyncMs = await time(() => db.query({ metric: 'cpu.usage_user', from: from12h, to: to12h, aggregate: 'avg', every: '1h', groupBy: 'hostname' }))
  report({ name: 'the same per-host avg, async query()', unit: 'ms', better: 'lower', ours: asyncMs })

  // The per-host hourly average again, answered from a 1-minute rollup of usage_user.
  await db.rollups.create({ name: 'user_1m', metric: 'cpu.usage_user', every: '1m', aggregates: ['avg'] })
  const fromRollup = () => db.querySync({ metric: 'cpu.usage_user', from: from12h, to: to12h, aggregate: 'avg', every: '1h', groupBy: 'hostname', explain: true })
  const answered = fromRollup()
  if (answered.explain?.rollup !== 'user_1m') throw new Error('the rollup did not answer')
  const rollupCase = cases[2]
  if (!same(rollupCase.oursNumbers(answered as never), numbers(rollupCase.sqlite(), rollupCase.peerNumbers))) throw new Error('the rollup answer differs from SQLite')
  report({ name: 'avg per host per hour, from a 1-min rollup', unit: 'ms', better: 'lower', ours: await time(fromRollup), sqlite: await time(rollupCase.sqlite), duckdb: await time(rollupCase.duckdb) })
  await liveAggregation()
  console.log('\nTargets: every query faster than DuckDB and SQLite; max per minute of 1 host < 0.1 ms; latest of 1,000 series < 0.1 ms;')
  console.log('per-host hourly avg over 100 hosts × 12 h < 3 ms; avg over 1M points < 0.5 ms; live-window aggregate p99 < 1 ms at 1M points/s.')
  console.log('Ours are querySync calls (query() adds the thread-pool hop, shown above).')
  await db.close()
  sqlite.close()
  conn.closeSync()
  duck.closeSync()
}
