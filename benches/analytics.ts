// The analytics benchmark: each analysis on a series read from the database, as users run them
// (medians of RUNS). No peer computes these (DuckDB and SQLite have least squares, not
// Theil–Sen, ESD tests, Holt–Winters or matrix profiles), so the figures stand alone.

import { WarpEngine } from '../ts'
import { RUNS, fresh, median, report, timed } from './common'

const MINUTE = 60_000
const T0 = Date.UTC(2026, 0, 1)

/** A minute gauge with a daily cycle, a slow rise and noise: `n` points. */
function daily(n: number): { ts: Float64Array; vs: Float64Array } {
  const ts = new Float64Array(n)
  const vs = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    ts[i] = T0 + i * MINUTE
    vs[i] = 100 + 30 * Math.sin(((i % 1440) / 1440) * 2 * Math.PI) + i * 1e-4 + (Math.random() - 0.5) * 4
  }
  return { ts, vs }
}

export async function analyticsBenchmarks(): Promise<void> {
  console.log(`\nAnalytics — one series read from the database and analysed off the JS thread; medians of ${RUNS} runs\n`)
  const db = await WarpEngine.open(fresh('analytics'))
  const { ts, vs } = daily(1_000_000)
  db.putBatch('g', ts, vs)
  const cases: [string, () => Promise<unknown>][] = [
    ['trend of 1M points (averaged into 2,000 buckets)', () => db.analyze.trend('g')],
    ['anomalies in 100k points (generalized ESD, daily season)', () => db.analyze.anomalies('g', { to: T0 + 100_000 * MINUTE, season: 1440, maxAnomalies: 100 })],
    ['anomalies in 100k points (robust ESD, daily season, up to 10,000)', () => db.analyze.anomalies('g', { to: T0 + 100_000 * MINUTE, season: 1440, maxAnomalies: 10_000, robust: true })],
    ['forecast 1 day from 10k points (Holt–Winters, daily season of 5 min buckets)', () => db.analyze.forecast('g', { to: T0 + 50_000 * MINUTE, every: '5m', season: '1d', horizon: 288 })],
    ['motifs in 10k points (matrix profile, window 120)', () => db.analyze.motifs('g', { to: T0 + 10_000 * MINUTE, window: 120 })],
  ]
  for (const [name, run] of cases) {
    await run()
    const samples: number[] = []
    for (let r = 0; r < RUNS; r++) samples.push(await timed(run))
    report({ name, unit: 'ms', better: 'lower', ours: median(samples) })
  }
  await db.close()
}
