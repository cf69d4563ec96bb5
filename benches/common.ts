// Helpers shared by the benchmark sections: data, timing, medians and the report lines.

import { mkdtempSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

export const RUNS = Number(process.env.BENCH_RUNS ?? 5)
export const POINTS = Number(process.env.BENCH_POINTS ?? 1_000_000)
export const BATCH = 100_000
export const BATCH_POINTS = 2 * POINTS
export const T0 = 1_700_000_000_000
export const root = mkdtempSync(path.join(tmpdir(), 'warp-bench-'))
let dirs = 0
export const fresh = (name: string) => path.join(root, `${name}-${dirs++}`)

/** A regular 10 s gauge: a random walk rounded to 2 decimals (the common metrics shape). */
export function gauge(n: number): { ts: Float64Array; vs: Float64Array } {
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

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export async function timed(fn: () => unknown): Promise<number> {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

export function sizeOf(p: string): number {
  const st = statSync(p)
  if (!st.isDirectory()) return st.size
  return readdirSync(p).reduce((sum, name) => sum + sizeOf(path.join(p, name)), 0)
}

export interface Figure {
  name: string
  unit: string
  better: 'higher' | 'lower'
  ours: number
  sqlite?: number
  duckdb?: number
}
const figures: Figure[] = []

export function report(f: Figure): void {
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

