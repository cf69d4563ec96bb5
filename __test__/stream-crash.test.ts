import test, { ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import * as path from 'node:path'
import * as readline from 'node:readline'

import { NumericRange, WarpEngine, WindowResult } from '../ts'
import { PartitionedWindows } from '../ts/stream/partitioned'
import { checkWindow, windowOperator } from '../ts/stream/window'
import { EVENTS, STREAM, closer, event, windowOn } from './fixtures/stream-events'
import { tempDir } from './helpers'

const ROUNDS = Number(process.env.WARP_CRASH_ROUNDS ?? 10)
const WRITER = path.join(__dirname, 'fixtures', 'stream-writer.ts')

interface Run {
  results: WindowResult[]
  acked: number
  done: boolean
}

/** Runs the writer; kills it `killAfterMs` after it is ready (never, if undefined). */
function runWriter(dir: string, seen: number, workers: number, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(seen), String(workers)], { stdio: ['ignore', 'pipe', 'pipe'] })
    const run: Run = { results: [], acked: 0, done: false }
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const space = line.indexOf(' ')
      const kind = space < 0 ? line : line.slice(0, space)
      if (kind === 'ready' && killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      else if (kind === 'res') run.results.push(JSON.parse(line.slice(space + 1)))
      else if (kind === 'ack') run.acked = Number(line.slice(space + 1))
      else if (kind === 'done') run.done = true
    })
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0) resolve(run)
      else reject(new Error(`writer exited with ${code}: ${stderr}`))
    })
  })
}

/** The window's final results over the whole sequence, from the operator alone, in one run. */
function reference(workers: number): WindowResult[] {
  const out: WindowResult[] = []
  const emitter = { emit: (r: WindowResult, final?: boolean) => void (final !== false && out.push({ ...r })), late: () => {} }
  const op = workers === 0 ? windowOperator(windowOn(0), emitter) : new PartitionedWindows(checkWindow(windowOn(workers)), emitter)
  try {
    let wm = -Infinity
    for (const e of [...Array.from({ length: EVENTS }, (_, i) => event(i + 1)), closer()]) {
      op.onEvent(0, { key: e.k, ts: e.ts, event: e })
      const next = Math.max(wm, e.ts - STREAM.outOfOrder)
      if (next > wm) op.onWatermark(0, (wm = next))
    }
    op.drain?.()
  } finally {
    op.stop?.()
  }
  return out.map((r, i) => ({ ...r, seq: i + 1 }))
}

async function crashRounds(t: ExecutionContext, workers: number): Promise<void> {
  t.timeout(10 * 60_000)
  const dir = tempDir('stream-crash')
  const delivered: WindowResult[] = []
  let acked = 0
  const seen = () => delivered.length
  for (let round = 0; round < ROUNDS; round++) {
    const run = await runWriter(dir, seen(), workers, 100 + Math.floor(Math.random() * 600))
    delivered.push(...run.results)
    acked = Math.max(acked, run.acked)
    t.log(`round ${round}: acked ${run.acked}, results ${run.results.length}, done ${run.done}`)
    // Nothing acknowledged is lost: every event up to the last acknowledged one is stored.
    const db = await WarpEngine.open(dir)
    const stored = new Set<number>()
    for (let k = 0; k < 5; k++) {
      const r = (await db.range(`ev.seq{k="k${k}"}`, 0, Number.MAX_SAFE_INTEGER)) as NumericRange
      r.values.forEach((v) => stored.add(v))
    }
    for (let seq = 1; seq <= acked; seq++) if (!stored.has(seq)) t.fail(`round ${round}: acknowledged event ${seq} is lost`)
    await db.close()
    t.deepEqual(delivered.map((r) => r.seq), Array.from({ length: delivered.length }, (_, i) => i + 1), `round ${round}: results skipped or repeated`)
  }
  const last = await runWriter(dir, seen(), workers)
  t.true(last.done)
  delivered.push(...last.results)
  const want = reference(workers)
  t.is(delivered.length, want.length)
  t.deepEqual(delivered, want)
}

test(`every acknowledged event is stored and every final window result is delivered exactly once across ${ROUNDS} SIGKILLs`, (t) => crashRounds(t, 0))

test(`the same with the window's keys split over 2 worker threads, across ${ROUNDS} SIGKILLs`, (t) => crashRounds(t, 2))
