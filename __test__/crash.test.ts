import test from 'ava'
import * as path from 'node:path'

import { WarpEngine } from '../ts'
import { readAll, runAndKill } from './fixtures/child'
import { valueAt } from './fixtures/crash-values'
import { tempDir } from './helpers'

const ROUNDS = Number(process.env.WARP_CRASH_ROUNDS ?? 20)
const WRITER = path.join(__dirname, 'fixtures', 'crash-writer.ts')

test(`no acknowledged point is lost across ${ROUNDS} SIGKILLs`, async (t) => {
  t.timeout(10 * 60_000)
  const dir = tempDir('crash')
  let total = 0
  for (let round = 0; round < ROUNDS; round++) {
    const base = (round + 1) * 10_000_000
    const acked = await runAndKill(WRITER, dir, base, 50 + Math.floor(Math.random() * 400))
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
