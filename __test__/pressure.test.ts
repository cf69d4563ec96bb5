import test from 'ava'

import { NumericRange, WarpEngine, WarpError } from '../ts'
import { codeOf, tempDir } from './helpers'

// Deliberately wrong options, as untyped JavaScript would pass them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

const MiB = 1 << 20
/** What one write may add beyond its own points: a column of under 524,288 points grows 65,536 at a time. */
const GROWTH_STEP = 65_536 * 16

test('the memory bound and the policy are validated', async (t) => {
  for (const maxLiveBytes of [-1, 1.5, 0, 1000, 64 * 1024 - 1, 2 ** 51, NaN, '8MiB']) {
    t.is(await codeOf(() => WarpEngine.open(tempDir(), { maxLiveBytes: maxLiveBytes as Loose })), 'INVALID_ARGUMENT', String(maxLiveBytes))
  }
  t.is(await codeOf(() => WarpEngine.open(tempDir(), { onPressure: 'drop' as Loose })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => WarpEngine.open(tempDir(), { onPressure: 1 as Loose })), 'INVALID_ARGUMENT')
  const db = await WarpEngine.open(tempDir(), { maxLiveBytes: 64 * 1024, onPressure: 'fail' })
  t.is(db.pressure().liveBound, 64 * 1024)
  await db.close()
  const defaults = await WarpEngine.open(tempDir())
  t.is(defaults.pressure().liveBound, 512 * MiB)
  await defaults.close()
})

test('pressure() and stats().pressure show fill, bounds and what the bound did', async (t) => {
  const db = await WarpEngine.open(tempDir(), { maxLiveBytes: 8 * MiB })
  const empty = db.pressure()
  t.deepEqual(Object.keys(empty).sort(), ['liveBound', 'liveBytes', 'sealing', 'walBound', 'walBufferedBytes'])
  t.is(empty.sealing, false)
  t.is(empty.walBound, 4 * MiB)
  db.putBatch('m', Float64Array.from({ length: 100_000 }, (_, i) => i), new Float64Array(100_000))
  const filled = db.pressure()
  t.true(filled.liveBytes >= 100_000 * 16 && filled.liveBytes < 2 * 100_000 * 16, String(filled.liveBytes))
  const { pressure } = db.stats()
  t.deepEqual(Object.keys(pressure).sort(), ['earlySeals', 'engaged', 'engagedMs', 'liveBound', 'liveBytes', 'rejected', 'walBound', 'walBufferedBytes'])
  t.like(pressure, { liveBound: 8 * MiB, walBound: 4 * MiB, engaged: 0, engagedMs: 0, earlySeals: 0, rejected: 0 })
  t.is(await db.relieve(), 100_000)
  t.like(db.stats().pressure, { earlySeals: 1 })
  t.true(db.pressure().liveBytes < 4096)
  t.is(db.stats().livePoints, 0)
  t.is(((await db.range('m', 0, 100_000)) as NumericRange).timestamps.length, 100_000)
  await db.close()
})

test('50M points through putBatch stay within the bound of an 8 MiB live tier and all read back', async (t) => {
  const dir = tempDir()
  const bound = 8 * MiB
  const db = await WarpEngine.open(dir, { maxLiveBytes: bound })
  const SERIES = 10
  const PER_SERIES = 5_000_000
  const BATCH = 100_000
  const T0 = Date.UTC(2024, 0, 1)
  const value = (k: number): number => (k % 1000) * 0.5
  const ts = new Float64Array(BATCH)
  const vs = new Float64Array(BATCH)
  // One write adds its points and at most one growth step of its column.
  const limit = 2 * bound + BATCH * 16 + GROWTH_STEP
  let peak = 0
  for (let b = 0; b < PER_SERIES / BATCH; b++) {
    for (let s = 0; s < SERIES; s++) {
      for (let i = 0; i < BATCH; i++) {
        const k = b * BATCH + i
        ts[i] = T0 + k * 10
        vs[i] = value(k) + s
      }
      db.putBatch(`m{s=${s}}`, ts, vs)
      const { liveBytes } = db.pressure()
      peak = Math.max(peak, liveBytes)
      if (liveBytes > limit) t.fail(`${liveBytes} bytes live after batch ${b} of series ${s} (limit ${limit})`)
    }
    if (b % 10 === 9) {
      const { liveBytes: after } = db.stats().pressure
      t.true(after <= limit, `${after} bytes live after batch ${b} (limit ${limit})`)
    }
  }
  const { pressure } = db.stats()
  t.log(`peak ${(peak / MiB).toFixed(1)} MiB under a bound of 8 MiB:`, pressure)
  t.true(peak > bound)
  // Each early seal takes at most what the hard limit lets in.
  t.true(pressure.earlySeals >= Math.floor((SERIES * PER_SERIES * 16) / limit), String(pressure.earlySeals))
  t.true(pressure.liveBytes <= limit)

  const check = async (engine: WarpEngine, when: string): Promise<void> => {
    const sum = Array.from({ length: PER_SERIES }, (_, k) => value(k)).reduce((a, v) => a + v, 0)
    const { groups } = await engine.query({ metric: 'm', from: T0, to: T0 + PER_SERIES * 10, aggregate: ['count', 'sum'], groupBy: 's' })
    t.is(groups.length, SERIES, when)
    for (const g of groups) {
      const s = Number(g.tags.s)
      t.is(g.columns.count[0], PER_SERIES, `${when}: count of s=${s}`)
      t.is(g.columns.sum[0], sum + s * PER_SERIES, `${when}: sum of s=${s}`)
    }
    const range = (await engine.range('m{s=3}', T0, T0 + PER_SERIES * 10)) as NumericRange
    t.is(range.timestamps.length, PER_SERIES, when)
    let bad = 0
    for (let k = 0; k < PER_SERIES; k++) {
      if (range.timestamps[k] !== T0 + k * 10 || range.values[k] !== value(k) + 3) bad++
    }
    t.is(bad, 0, when)
  }
  await check(db, 'while open')
  await db.close()
  const again = await WarpEngine.open(dir, { maxLiveBytes: bound })
  await check(again, 'after reopening')
  await again.close()
})

test("'fail' refuses a write past the hard limit with BACKPRESSURE and keeps every write it took", async (t) => {
  const db = await WarpEngine.open(tempDir(), { maxLiveBytes: 64 * 1024, onPressure: 'fail' })
  const BATCH = 50_000
  let taken = 0
  let refused: unknown = null
  for (let b = 0; b < 200 && refused === null; b++) {
    const ts = Float64Array.from({ length: BATCH }, (_, i) => (b * BATCH + i) * 1000)
    try {
      db.putBatch('m', ts, new Float64Array(BATCH).fill(b))
      taken++
    } catch (e) {
      refused = e
    }
  }
  t.true(refused instanceof WarpError, String(refused))
  t.is((refused as WarpError).code, 'BACKPRESSURE')
  t.regex((refused as WarpError).message, /hard limit.*maxLiveBytes/)
  t.like(db.stats().pressure, { rejected: 1, engaged: 1 })
  await db.relieve()
  const { timestamps, values } = (await db.range('m', 0, 200 * BATCH * 1000)) as NumericRange
  t.is(timestamps.length, taken * BATCH)
  t.is(values[values.length - 1], taken - 1)
  await db.close()
})
