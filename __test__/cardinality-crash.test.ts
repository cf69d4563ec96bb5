import test from 'ava'
import * as path from 'node:path'

import { WarpEngine } from '../ts'
import { runAndKill } from './fixtures/child'
import { tempDir } from './helpers'

const ROUNDS = Number(process.env.WARP_CARDINALITY_CRASH_ROUNDS ?? 3)
const WRITER = path.join(__dirname, 'fixtures', 'cardinality-writer.ts')

test(`over 100,000 series survive ${ROUNDS} SIGKILLs: every acknowledged series and point is back`, async (t) => {
  t.timeout(10 * 60_000)
  const dir = tempDir('cardinality-crash')
  let expected = 0
  for (let round = 0; round < ROUNDS; round++) {
    const base = Date.UTC(2025, 0, 1) + round * 86_400_000
    const acked = await runAndKill(WRITER, dir, base, Math.floor(Math.random() * 1500))
    const db = await WarpEngine.open(dir)
    const stored = new Map<string, number>()
    const last = db.lastpoint({ metric: 'card', where: { round: String(base) } })
    last.keys.forEach((k, i) => stored.set(k, last.values[i]))
    let missing = 0
    for (const [first, n] of acked.batches) {
      for (let i = first; i < first + n; i++) if (stored.get(`card{i="${i}",round="${base}"}`) !== i) missing++
    }
    const series = acked.batches.reduce((s, [, n]) => s + n, 0)
    t.true(series >= 100_000, `round ${round}: ${series} series acknowledged`)
    t.is(missing, 0, `round ${round}: ${missing} of ${series} acknowledged series lost or wrong`)
    for (const [key, v] of stored) if (!key.startsWith(`card{i="${v}",`)) t.fail(`round ${round}: ${key} holds ${v}`)
    expected += series
    t.true(db.stats().series >= expected, `round ${round}: the catalog lost series of earlier rounds`)
    t.log(`round ${round}: ${series} series acknowledged, ${stored.size} stored, catalog ${db.stats().series}`)
    await db.close()
  }
})
