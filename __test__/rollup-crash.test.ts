import test from 'ava'
import * as path from 'node:path'

import { Aggregate, WarpEngine } from '../ts'
import { runAndKill } from './fixtures/child'
import { tempDir } from './helpers'

const ROUNDS = Number(process.env.WARP_CRASH_ROUNDS ?? 10)
const WRITER = path.join(__dirname, 'fixtures', 'rollup-writer.ts')

function same(a: Float64Array, b: Float64Array): boolean {
  return a.length === b.length && a.every((x, i) => (Number.isNaN(x) && Number.isNaN(b[i])) || Math.abs(x - b[i]) <= 1e-9 * Math.max(1, Math.abs(x)))
}

test(`a rollup equals its raw points after ${ROUNDS} SIGKILLs while points stream in and cells update`, async (t) => {
  t.timeout(10 * 60_000)
  const dir = tempDir('rollup-crash')
  const base = Date.UTC(2024, 0, 1)
  let answered = 0
  for (let round = 0; round < ROUNDS; round++) {
    await runAndKill(WRITER, dir, base, 200 + Math.floor(Math.random() * 800))
    const db = await WarpEngine.open(dir)
    t.deepEqual(db.rollups.list().map((r) => r.name), ['roll_1m'])
    const to = base + 24 * 3_600_000
    for (const every of ['1m', '5m', '1h']) {
      for (const groupBy of [undefined, '*']) {
        const q = { metric: 'roll', from: base, to, every, groupBy, aggregate: ['avg', 'min', 'max', 'first', 'last', 'stddev', 'count'] as Aggregate[], explain: true }
        const fromRollup = await db.query({ ...q, aggregate: [...q.aggregate] })
        const raw = await db.query({ ...q, aggregate: [...q.aggregate], useRollups: false })
        if (fromRollup.explain?.rollup === 'roll_1m') answered++
        t.is(fromRollup.groups.length, raw.groups.length, `round ${round}, ${every}`)
        fromRollup.groups.forEach((g, i) => {
          t.deepEqual(g.timestamps, raw.groups[i].timestamps, `round ${round}, ${every}`)
          for (const [name, column] of Object.entries(g.columns)) {
            t.true(same(column, raw.groups[i].columns[name]), `round ${round}: ${name} per ${every} differs from the raw points`)
          }
        })
      }
    }
    await db.close()
  }
  t.true(answered > 0, 'the rollup answered')
})
