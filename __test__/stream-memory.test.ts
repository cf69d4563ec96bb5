import test from 'ava'

import { WarpEngine } from '../ts'
import { tempDir } from './helpers'

const BOUND = 16 << 20
const EVENTS = 6_000_000
const KEYS = 100

/** Events as fast as a generator makes them: 3 fields each, 18M points in all (about 290 MB of
 * raw points, were they all held in memory). */
function* events(from: number, to: number): Generator<{ k: string; ts: number; a: number; b: number; c: number }> {
  for (let i = from; i < to; i++) yield { k: `k${i % KEYS}`, ts: 1_700_000_000_000 + i, a: i, b: i % 7, c: (i % 1000) / 10 }
}

test('a producer faster than the engine persists stays under the memory bound, held back by backpressure, and loses nothing', async (t) => {
  t.timeout(5 * 60_000)
  const db = await WarpEngine.open(tempDir('stream-memory'), { durability: 'none', maxLiveBytes: BOUND })
  const s = db.stream('m', { key: 'k', timestamp: 'ts', fields: ['a', 'b', 'c'], outOfOrder: 0 })
  let results = 0
  s.window({ name: 'm_1s', type: 'tumbling', size: 1000, aggregate: { n: 'count', sum: { sum: 'a' } } }).on(() => results++)
  await s.consume(events(0, 200_000))
  global.gc?.()
  const baseline = process.memoryUsage().rss
  let peakRss = 0
  let peakLive = 0
  const sample = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
    peakLive = Math.max(peakLive, db.pressure().liveBytes)
  }, 20)
  await s.consume(events(200_000, EVENTS))
  clearInterval(sample)
  const grown = (peakRss - baseline) / 2 ** 20
  t.log(`RSS grew at most ${grown.toFixed(0)} MiB; live tier peaked at ${(peakLive / 2 ** 20).toFixed(1)} MiB under a ${BOUND / 2 ** 20} MiB bound`)
  const stats = db.stats()
  t.log(`early seals ${stats.pressure.earlySeals}, engine waits ${stats.pressure.engaged}, stream held back ${stats.streams.m.backpressure.engaged} times for ${stats.streams.m.backpressure.engagedMs} ms`)
  t.true(peakLive <= 2 * BOUND + (4 << 20), 'the live tier stays within its hard limit')
  t.true(grown < 150, `RSS grew ${grown.toFixed(0)} MiB`)
  t.true(stats.pressure.earlySeals > 0, 'the live tier was sealed early')
  t.true(stats.streams.m.backpressure.engaged > 0, 'writers were held back')
  const counted = await db.query({ metric: 'm.c', from: 0, to: 2_000_000_000_000, aggregate: 'count' })
  t.is(counted.groups.reduce((n, g) => n + g.columns.count.reduce((a, b) => a + b, 0), 0), EVENTS, 'every event is stored')
  await db.close()
  t.true(results > 0)
})
