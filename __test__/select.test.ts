// Selecting series by metric and tags (the tag index), listing tag values, and series that
// leave the catalog when retention passes them by.
import test from 'ava'

import { WarpEngine } from '../ts'
import { codeOf, tempDir } from './helpers'

const DAY = 86_400_000

async function fleet(): Promise<WarpEngine> {
  const db = await WarpEngine.open(tempDir())
  for (let h = 0; h < 20; h++) {
    for (const metric of ['cpu', 'mem']) db.put({ metric, tags: { host: `web-${h}`, dc: h % 2 ? 'eu' : 'us' } }, h, 1)
  }
  db.put('cpu{host=db-1}', 1, 1)
  db.put('disk', 1, 1)
  return db
}

const keysOf = (db: WarpEngine, q: Parameters<WarpEngine['findSeries']>[0]): string[] => db.findSeries(q).map((s) => s.key)

test('selections match like Prometheus matchers', async (t) => {
  const db = await fleet()
  t.is(db.findSeries({ metric: 'cpu' }).length, 21)
  t.is(db.findSeries({ metric: ['cpu', 'disk'] }).length, 22)
  t.is(db.findSeries({ metric: /c.u|di.k/ }).length, 22)
  t.deepEqual(keysOf(db, { metric: 'cpu', where: { host: 'web-3' } }), ['cpu{dc="eu",host="web-3"}'])
  t.is(db.findSeries({ where: { host: ['web-1', 'web-2', 'nope'] } }).length, 4)
  t.is(db.findSeries({ metric: 'cpu', where: { host: /web-1\d/ } }).length, 10, 'anchored: web-1 alone does not match')
  t.is(db.findSeries({ metric: 'cpu', where: { host: /WEB-1\d/i } }).length, 10)
  // `not` keeps the series without the tag, as Prometheus' != does.
  t.deepEqual(keysOf(db, { metric: 'cpu', where: { dc: { not: ['eu', 'us'] } } }), ['cpu{host="db-1"}'])
  t.is(db.findSeries({ metric: 'cpu', where: { dc: { not: /e./ } } }).length, 11)
  t.deepEqual(keysOf(db, { where: { host: { present: false } } }), ['disk'])
  t.is(db.findSeries({ where: { dc: { present: true }, host: /web-(1|2)/ } }).length, 4)
  t.deepEqual(db.findSeries({ metric: 'nope' }), [])
  t.is(db.findSeries().length, 42)
  await db.close()
})

test('pages of a selection walk every series once, in id order', async (t) => {
  const db = await fleet()
  const all = db.findSeries({ where: { dc: 'eu' } })
  const paged = []
  for (let page = db.findSeries({ where: { dc: 'eu' }, limit: 3 }); page.length > 0; ) {
    paged.push(...page)
    page = db.findSeries({ where: { dc: 'eu' }, limit: 3, after: page.at(-1)!.id })
  }
  t.deepEqual(paged, all)
  t.deepEqual(all.map((s) => s.id), [...all.map((s) => s.id)].sort((a, b) => a - b))
  t.true(all.every((s) => s.points === 1 && s.kind === 'numeric'))
  t.deepEqual(db.findSeries({ where: { dc: 'eu' }, limit: 0 }), [])
  await db.close()
})

test('tag values list what the live series hold', async (t) => {
  const db = await fleet()
  t.deepEqual(db.tagValues('dc'), [
    { value: 'eu', series: 20 },
    { value: 'us', series: 20 },
  ])
  t.deepEqual(db.tagValues(), [
    { value: 'cpu', series: 21 },
    { value: 'disk', series: 1 },
    { value: 'mem', series: 20 },
  ])
  t.deepEqual(db.tagValues('zone'), [])
  await db.close()
})

test('a selection that cannot work is INVALID_QUERY naming its field', async (t) => {
  const db = await fleet()
  const bad: [unknown, RegExp][] = [
    [{ where: { host: /(a)\1/ } }, /where\.host.*regex/],
    [{ where: { host: /a/g } }, /where\.host.*flag 'g'/],
    [{ where: { host: /(?=a)b/ } }, /where\.host.*regex/],
    [{ where: { host: ['a', 1] } }, /where\.host.*number 1/],
    [{ where: { host: 5 } }, /where\.host/],
    [{ where: { host: { present: 'yes' } } }, /where\.host\.present/],
    [{ where: 'host=a' }, /where/],
    [{ metric: 7 }, /metric/],
    [{ limit: -1 }, /limit/],
    [{ after: 1.5 }, /after/],
  ]
  for (const [query, message] of bad) {
    const err = await (async () => db.findSeries(query as never))().catch((e) => e)
    t.is(err.code, 'INVALID_QUERY', JSON.stringify(query))
    t.regex(err.message, message)
  }
  t.is(await codeOf(() => db.tagValues(3 as never)), 'INVALID_ARGUMENT')
  await db.close()
})

test('series past retention leave the catalog, and a handle held across that writes on', async (t) => {
  const dir = tempDir()
  const db = await WarpEngine.open(dir)
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 }, retention: { maxAgeDays: 5 } })
  const now = Date.UTC(2026, 0, 20)
  const stale = db.series({ metric: 'pod', tags: { name: 'a' } })
  stale.put(1, now - 30 * DAY)
  db.put({ metric: 'pod', tags: { name: 'b' } }, 2, now - DAY)
  await db.runLifecycle({ now })
  t.deepEqual(db.series().map((s) => s.key), ['pod{name="b"}'])
  t.deepEqual(db.tagValues('name'), [{ value: 'b', series: 1 }])
  t.is(db.stats().lifecycle.seriesDropped, 1)
  t.is(stale.latest(), null)
  stale.put(3, now)
  t.deepEqual(db.latest({ metric: 'pod', tags: { name: 'a' } }), { ts: now, value: 3 })
  await db.close()
  const again = await WarpEngine.open(dir)
  t.deepEqual(again.findSeries({ metric: 'pod' }).map((s) => s.key), ['pod{name="a"}', 'pod{name="b"}'])
  await again.close()
})

test('by-name puts equal handle puts, keep write order, and their caches stay bounded', async (t) => {
  const db = await WarpEngine.open(tempDir(), { seriesCacheSize: 1000 })
  // Several spellings of one series, by name and through a handle, in one event-loop turn:
  // the later write wins at equal times whichever path each took.
  db.put('m{b=2,a=1}', 1, 10)
  db.series('m{a="1",b="2"}').put(2, 10)
  db.put('m{a="1",b="2"}', 3, 10)
  db.put({ metric: 'm', tags: { a: '1', b: '2' } }, 4, 11)
  db.put('m{ a = 1 , b = 2 }', 5, 11)
  t.deepEqual(db.get('m{a=1,b=2}', 20), { ts: 11, value: 5 })
  t.deepEqual([...((await db.range('m{a=1,b=2}', 0, 20)) as { values: Float64Array }).values], [3, 5])
  // Errors are synchronous, as through a handle.
  db.put('ev', { a: 1 }, 1)
  t.is(await codeOf(() => db.put('ev', 5, 2)), 'TYPE_MISMATCH')
  t.is(await codeOf(() => db.put('bad name', 5, 2)), 'INVALID_SERIES')
  t.is(await codeOf(() => db.put('s\ud800', 5, 2)), 'INVALID_SERIES')
  t.is(await codeOf(() => db.put('ok', 5, 2.5)), 'INVALID_TIMESTAMP')
  // The engine's own series are found by exact name only on reads: a write to one is refused.
  db.stream('s', { key: 'k', timestamp: 'ts', fields: ['v'] }).window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count' } })
  t.is(await codeOf(() => db.put('__stream:out:w', 5, 2)), 'INVALID_SERIES')
  t.is(await codeOf(() => db.put('__stream:log', 5, 2)), 'INVALID_SERIES')
  // Churn: 20,000 distinct names through caches of 1,000 hold at most twice that.
  for (let i = 0; i < 20_000; i++) db.put(`pod{name="p${i}"}`, i, 100)
  for (let i = 0; i < 5_000; i++) db.series(`job{name="j${i}"}`).put(i, 1)
  const { caches } = db.stats()
  t.true(caches.names <= 2000, `${caches.names} names`)
  t.true(caches.handles <= 3 * 2000, `${caches.handles} handles`)
  t.is(db.findSeries({ metric: 'pod' }).length, 20_000)
  await db.close()
})
