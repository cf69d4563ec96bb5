import test from 'ava'
import { spawn } from 'node:child_process'
import * as path from 'node:path'
import * as readline from 'node:readline'

import { NumericRange, WarpEngine } from '../ts'
import { valueAt } from './fixtures/crash-values'
import { tempDir } from './helpers'

const ROUNDS = Number(process.env.WARP_CRASH_ROUNDS ?? 20)
const WRITER = path.join(__dirname, 'fixtures', 'crash-writer.ts')

interface Acked {
  points: number[]
  batches: Array<[number, number]>
}

/** Runs the writer until a random moment after it is ready, then SIGKILLs it. */
function runAndKill(dir: string, base: number, killAfterMs: number): Promise<Acked> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(base)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const acked: Acked = { points: [], batches: [] }
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const [kind, a, b] = line.split(' ')
      if (kind === 'ready') setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      else if (kind === 'p') acked.points.push(Number(a))
      else if (kind === 'b') acked.batches.push([Number(a), Number(b)])
    })
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked)
      else reject(new Error(`writer exited with ${code}: ${stderr}`))
    })
  })
}

async function readAll(db: WarpEngine, series: string): Promise<Map<number, number>> {
  const r = (await db.range(series, 0, Number.MAX_SAFE_INTEGER)) as NumericRange
  return new Map(Array.from(r.timestamps, (ts, i) => [ts, r.values[i]]))
}

test(`no acknowledged point is lost across ${ROUNDS} SIGKILLs`, async (t) => {
  t.timeout(10 * 60_000)
  const dir = tempDir('crash')
  let total = 0
  for (let round = 0; round < ROUNDS; round++) {
    const base = (round + 1) * 10_000_000
    const acked = await runAndKill(dir, base, 50 + Math.floor(Math.random() * 400))
    const db = await WarpEngine.open(dir)
    const points = await readAll(db, 'crash{kind="point"}')
    const batches = await readAll(db, 'crash{kind="batch"}')
    for (const ts of acked.points) t.is(points.get(ts), valueAt(ts), `round ${round}: point ${ts}`)
    for (const [first, n] of acked.batches) {
      for (let j = 0; j < n; j++) t.is(batches.get(first + j), valueAt(first + j), `round ${round}: batch point ${first + j}`)
    }
    for (const stored of [points, batches]) {
      for (const [ts, v] of stored) {
        if (v !== valueAt(ts)) t.fail(`round ${round}: ${ts} holds ${v}, which was never written`)
      }
    }
    total += acked.points.length
    t.log(`round ${round}: ${acked.points.length} acknowledged points, ${points.size} stored, torn bytes ${db.stats().recovery.tornBytesTruncated}`)
    await db.close()
  }
  t.true(total > ROUNDS, 'the writer acknowledged points before being killed')
})
