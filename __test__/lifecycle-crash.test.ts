import test from 'ava'
import { readFileSync, readdirSync } from 'node:fs'
import * as path from 'node:path'

import { NumericRange, WarpEngine } from '../ts'
import { readAll, runAndKill } from './fixtures/child'
import { valueAt } from './fixtures/crash-values'
import { tempDir } from './helpers'

const ROUNDS = Number(process.env.WARP_CRASH_ROUNDS ?? 20)
const WRITER = path.join(__dirname, 'fixtures', 'lifecycle-writer.ts')
const TIERS = ['recent/hourly', 'historical/daily', 'historical/monthly', 'historical/yearly']

/** Partition directories on disk, relative to temporal/. */
function partitionDirs(dir: string): string[] {
  return TIERS.flatMap((tier) =>
    readdirSync(path.join(dir, 'temporal', tier), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `${tier}/${e.name}`),
  ).sort()
}

test(`lifecycle moves survive ${ROUNDS} SIGKILLs: nothing acknowledged lost or duplicated, no orphans`, async (t) => {
  t.timeout(10 * 60_000)
  const dir = tempDir('life-crash')
  let moved = 0
  for (let round = 0; round < ROUNDS; round++) {
    const base = Date.UTC(2024, 0, 1) + round * 10 * 24 * 3_600_000
    const acked = await runAndKill(WRITER, dir, base, 150 + Math.floor(Math.random() * 600))
    const db = await WarpEngine.open(dir)
    const points = await readAll(db, 'life{kind="point"}')
    for (const ts of acked.points) t.is(points.get(ts), valueAt(ts), `round ${round}: point ${ts}`)
    for (const [ts, v] of points) if (v !== valueAt(ts)) t.fail(`round ${round}: ${ts} holds ${v}, never written`)
    const { timestamps } = (await db.range('life{kind="point"}', 0, Number.MAX_SAFE_INTEGER)) as NumericRange
    t.is(timestamps.length, points.size, `round ${round}: a timestamp came back twice`)
    t.true(timestamps.every((ts, i) => i === 0 || ts > timestamps[i - 1]), `round ${round}: out of order`)
    const manifest = JSON.parse(readFileSync(path.join(dir, 'temporal/manifest.json'), 'utf8')).manifest
    t.deepEqual(partitionDirs(dir), manifest.partitions.map((p: { dir: string }) => p.dir).sort(), `round ${round}: orphans`)
    moved = db.stats().tiers.filter((x) => x.tier !== 'hourly').reduce((n, x) => n + x.partitions, 0)
    t.log(`round ${round}: ${acked.points.length} acknowledged, ${points.size} stored, ${manifest.partitions.length} partitions`)
    await db.close()
  }
  t.true(moved > 0, 'some data reached the historical tiers')
})
