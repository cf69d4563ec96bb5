// The cardinality benchmark: N series `m{host="hN",dc="dK"}` × 10 points written by name
// (`durability: 'none'`), then listed, selected by tag, closed, reopened and passed through
// the lifecycle, at 100k and 1M series. Each scale runs in a child process of its own, so its
// RSS figures are its own: RSS per series beyond the raw points (16 bytes each) after writing
// (active series, their points live) and after a reopen of the sealed database (idle series).

import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync, statSync } from 'node:fs'
import * as path from 'node:path'

import { WarpEngine } from '../ts'
import { fresh, median, report, root } from './common'

const POINTS = 10
/** Child processes per scale; each figure reported is the median over them. */
const RUNS = 3
const HOUR = 3_600_000
const BASE = Date.UTC(2026, 0, 1)

interface Figures {
  putsPerSecond: number
  activeBytes: number
  idleBytes: number
  openMs: number
  reopenIdleMs: number
  listMs: number
  findMs: number
  queryMs: number
  passMs: number
  partitionBytesPerSeries: number
  indexBytesPerSeries: number
}

function sizeUnder(dir: string, name: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) total += sizeUnder(p, name)
    else if (entry.name === name) total += statSync(p).size
  }
  return total
}

/** One scale, in this process (the child). */
async function measure(n: number): Promise<Figures> {
  const dir = fresh('cardinality')
  const names = Array.from({ length: n }, (_, i) => `m{host="h${i}",dc="d${i % 10}"}`)
  global.gc?.()
  const rss0 = process.memoryUsage().rss
  let db = await WarpEngine.open(dir, { durability: 'none' })
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  let t = performance.now()
  for (let r = 0; r < POINTS; r++) for (let i = 0; i < n; i++) db.put(names[i], r, BASE + r * 10_000)
  await db.flush()
  const putsPerSecond = (POINTS * n) / ((performance.now() - t) / 1000)
  global.gc?.()
  const activeBytes = (process.memoryUsage().rss - rss0) / n - 16 * POINTS
  t = performance.now()
  const listed = db.series().length
  const listMs = performance.now() - t
  if (listed !== n) throw new Error(`series() listed ${listed} of ${n}`)
  db.findSeries({ where: { dc: 'd3' }, limit: 1 }) // builds the tag index
  t = performance.now()
  const found = db.findSeries({ where: { host: `h${n >> 1}` } })
  const findMs = performance.now() - t
  if (found.length !== 1) throw new Error('findSeries missed')
  t = performance.now()
  await db.query({ metric: 'm', where: { dc: 'd3', host: /h1\d*/ }, from: BASE, to: BASE + HOUR, aggregate: 'avg', groupBy: 'dc' })
  const queryMs = performance.now() - t
  await db.close()
  t = performance.now()
  db = await WarpEngine.open(dir, { durability: 'none' })
  const openMs = performance.now() - t
  t = performance.now()
  await db.runLifecycle({ now: BASE + 3 * HOUR })
  const passMs = performance.now() - t
  const partitions = db.partitions()
  const bytes = partitions.reduce((s, p) => s + p.bytes, 0)
  const partitionBytesPerSeries = bytes / n / Math.max(1, partitions.length)
  const indexBytesPerSeries = sizeUnder(path.join(dir, 'temporal'), 'index') / n / Math.max(1, partitions.length)
  await db.close()
  // Idle series: a fresh open of the sealed database, in a process that holds nothing else.
  const idle = spawnSync(process.execPath, [...process.execArgv, __filename, 'idle', dir, String(n)], { encoding: 'utf8' })
  const [reopenIdleMs, idleBytes] = JSON.parse(idle.stdout.trim().split('\n').pop()!) as [number, number]
  return { putsPerSecond, activeBytes, idleBytes, openMs, reopenIdleMs, listMs, findMs, queryMs, passMs, partitionBytesPerSeries, indexBytesPerSeries }
}

async function idle(dir: string, n: number): Promise<void> {
  global.gc?.()
  const rss0 = process.memoryUsage().rss
  const t = performance.now()
  const db = await WarpEngine.open(dir, { durability: 'none' })
  const ms = performance.now() - t
  global.gc?.()
  console.log(JSON.stringify([ms, (process.memoryUsage().rss - rss0) / n]))
  await db.close()
}

/** Each figure's median over `runs`. */
function medians(runs: Figures[]): Figures {
  const keys = Object.keys(runs[0]) as (keyof Figures)[]
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))])) as unknown as Figures
}

/** Runs each scale in child processes (RUNS of them: the figures are medians) and reports it. */
export async function cardinalityBenchmarks(): Promise<void> {
  console.log(`\nCardinality — series m{host,dc} × ${POINTS} points written by name, durability 'none'; medians of ${RUNS} child processes per scale\n`)
  for (const n of [100_000, 1_000_000]) {
    const runs: Figures[] = []
    for (let run = 0; run < RUNS; run++) {
      const child = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, __filename, 'measure', String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 })
      if (child.status !== 0) throw new Error(`cardinality ${n}: ${child.stderr}`)
      runs.push(JSON.parse(child.stdout.trim().split('\n').pop()!) as Figures)
    }
    const f = medians(runs)
    const puts = runs.map((r) => r.putsPerSecond).sort((a, b) => a - b)
    console.log(`by-name puts at ${n} series, each run: ${puts.map((p) => `${(p / 1e6).toFixed(2)}M`).join(', ')} puts/s`)
    const at = `${n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`} series`
    report({ name: `by-name puts, ${at}`, unit: 'puts/s', better: 'higher', ours: f.putsPerSecond })
    report({ name: `RSS per active series beyond points, ${at}`, unit: 'bytes', better: 'lower', ours: f.activeBytes })
    report({ name: `RSS per idle series (reopened), ${at}`, unit: 'bytes', better: 'lower', ours: f.idleBytes })
    report({ name: `open with points live, ${at}`, unit: 'ms', better: 'lower', ours: f.openMs })
    report({ name: `open, idle, ${at}`, unit: 'ms', better: 'lower', ours: f.reopenIdleMs })
    report({ name: `series() listing, ${at}`, unit: 'ms', better: 'lower', ours: f.listMs })
    report({ name: `findSeries one host, ${at}`, unit: 'ms', better: 'lower', ours: f.findMs })
    report({ name: `query by tag (dc, host regex), ${at}`, unit: 'ms', better: 'lower', ours: f.queryMs })
    report({ name: `lifecycle pass sealing it all, ${at}`, unit: 'ms', better: 'lower', ours: f.passMs })
    report({ name: `partition bytes per series (10 pts), ${at}`, unit: 'bytes', better: 'lower', ours: f.partitionBytesPerSeries })
    report({ name: `index bytes per series, ${at}`, unit: 'bytes', better: 'lower', ours: f.indexBytesPerSeries })
  }
  console.log('\nTargets: by-name puts to 1M series ≥ 2M/s; RSS ≤ 400 B per idle series; ≤ 24 B per series per partition beyond its points;')
  console.log('open of a 1M-series database < 1 s; a lifecycle pass over 1M series × 10 points < 3 s.')
}

if (require.main === module) {
  const [mode, a, b] = process.argv.slice(2)
  if (mode === 'measure') {
    measure(Number(a))
      .then((f) => console.log(JSON.stringify(f)))
      .finally(() => rmSync(root, { recursive: true, force: true }))
  }
  else if (mode === 'idle') idle(a, Number(b))
}
