import test from 'ava'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

import { DeadLetter, NumericRange, Point, WarpEngine, WindowResult } from '../ts'
import { codeOf, tempDir, until } from './helpers'

const STREAM = { key: 'host', timestamp: 'ts', fields: ['cpu', 'mem'], outOfOrder: 0 }
const WINDOW = { name: 'w', type: 'tumbling' as const, size: 10, aggregate: { n: 'count' as const, avg: { avg: 'cpu' }, max: { max: 'mem' } } }

test('events land as series, queryable at once, and windows deliver through iterators and callbacks', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'))
  const s = db.stream('node', STREAM)
  const w = s.window(WINDOW)
  const seen: WindowResult[] = []
  w.on((r) => seen.push(r))
  // An iterator gets what is delivered once it exists: it starts before anything is written.
  const iterated: WindowResult[] = []
  const reading = (async () => {
    for await (const x of w) {
      iterated.push(x)
      if (iterated.length === 4) break
    }
  })()
  for (let i = 0; i < 30; i++) t.true(s.write({ host: i % 2 ? 'a' : 'b', ts: 100 + i, cpu: i, mem: 2 * i }))
  const r = (await db.range('node.cpu{host="a"}', 0, 1000)) as NumericRange
  t.deepEqual(Array.from(r.values), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29])
  const q = await db.query({ metric: 'node.mem', from: 0, to: 1000, aggregate: ['max'], groupBy: 'host' })
  t.deepEqual(q.groups.map((g) => [g.tags.host, g.columns.max[0]]), [['a', 58], ['b', 56]])
  await until(() => seen.length === 4)
  await reading
  t.deepEqual(iterated, seen)
  const a100 = seen.find((x) => x.key === 'a' && x.start === 100)!
  t.deepEqual(a100.values, { n: 5, avg: 5, max: 18 })
  t.is(a100.kind, 'close')
  t.deepEqual(seen.map((x) => x.seq), [1, 2, 3, 4])
  t.like(db.stats().streams.node, { accepted: 30, deadLetters: 0, watermark: 129, keys: 2 })
  await db.close()
})

test('bad events go to dead letters with a reason, are stored, and change nothing; onInvalid throw gives INVALID_EVENT', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'))
  const s = db.stream('node', { ...STREAM, attributes: ['zone'] })
  const dead: DeadLetter[] = []
  s.deadLetters().on((d) => dead.push(d))
  const cyclic: Record<string, unknown> = { host: 'a', ts: 1 }
  cyclic.self = cyclic
  const bad: [unknown, string][] = [
    [null, 'NOT_AN_OBJECT'],
    [[1, 2], 'NOT_AN_OBJECT'],
    ['text', 'NOT_AN_OBJECT'],
    [{ ts: 1, cpu: 1 }, 'MISSING_KEY'],
    [{ host: { a: 1 }, ts: 1 }, 'MISSING_KEY'],
    [{ host: 'a', cpu: 1 }, 'INVALID_TIMESTAMP'],
    [{ host: 'a', ts: 1.5 }, 'INVALID_TIMESTAMP'],
    [{ host: 'a', ts: 1e20 }, 'INVALID_TIMESTAMP'],
    [{ host: 'a', ts: 1, cpu: '3' }, 'INVALID_FIELD'],
    [{ host: 'a', ts: 1, cpu: NaN }, 'NON_FINITE'],
    [{ host: 'a', ts: 1, mem: Infinity }, 'NON_FINITE'],
    [{ host: 'a', ts: 1, zone: 7 }, 'INVALID_ATTRIBUTE'],
    [{ host: '\ud800', ts: 1, cpu: 1 }, 'INVALID_KEY'],
  ]
  for (const [e] of bad) s.write(e)
  t.deepEqual(dead.map((d) => d.code), bad.map(([, c]) => c))
  t.true(dead.every((d) => d.stream === 'node' && d.reason.length > 10))
  t.true(s.write({ host: 'a', ts: 5, cpu: 1 }), 'the stream keeps going')
  t.is(db.series().filter((x) => x.key.startsWith('node.cpu')).length, 1)
  const stored = (await db.range('node.dead_letters', 0, Date.now() + 1000)) as Point[]
  t.deepEqual(stored.map((p) => (p.value as { code: string }).code), bad.map(([, c]) => c))
  t.is(db.stats().streams.node.deadLetters, bad.length)
  const strict = db.stream('strict', { ...STREAM, onInvalid: 'throw' })
  t.is(await codeOf(() => strict.write({ host: 'a', ts: 'yesterday' })), 'INVALID_EVENT')
  t.is(db.stats().streams.strict.accepted, 0)
  await db.close()
})

test('stream options are checked; a stream reopened with other options is refused', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'))
  const cases: unknown[][] = [
    ['bad name', STREAM],
    ['s', null],
    ['s', { timestamp: 'ts' }],
    ['s', { key: 'h' }],
    ['s', { key: 'h', timestamp: 'ts', time: 'wall' }],
    ['s', { key: 'h', timestamp: 'ts', fields: 'cpu' }],
    ['s', { key: 'h', timestamp: 'ts', fields: ['a', 'a'] }],
    ['s', { key: 'h', timestamp: 'ts', fields: ['bad field'] }],
    ['s', { key: 'h', timestamp: 'ts', outOfOrder: -5 }],
    ['s', { key: 'h', timestamp: 'ts', highWaterMark: 0 }],
    ['s', { key: 'h', timestamp: 'ts', onInvalid: 'ignore' }],
  ]
  for (const [name, options] of cases) {
    const code = await codeOf(() => db.stream(name as string, options as never))
    t.true(code === 'INVALID_ARGUMENT' || code === 'INVALID_SERIES', `${JSON.stringify(options)}: ${code}`)
  }
  const s = db.stream('s', STREAM)
  t.is(db.stream('s', { ...STREAM }), s)
  t.is(await codeOf(() => db.stream('s', { ...STREAM, fields: ['cpu'] })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => s.window({ ...WINDOW, name: 'bad name' })), 'INVALID_ARGUMENT')
  s.window(WINDOW)
  t.is(await codeOf(() => s.window(WINDOW)), 'INVALID_ARGUMENT', 'operator names are unique')
  await db.close()
})

test('a polluted Object.prototype supplies no key, time or field', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'))
  const s = db.stream('node', STREAM)
  const dead: DeadLetter[] = []
  s.deadLetters().on((d) => dead.push(d))
  const proto = Object.prototype as Record<string, unknown>
  proto.host = 'evil'
  proto.ts = 5
  proto.cpu = 99
  try {
    s.write({})
    s.write({ host: 'a' })
    s.write({ host: 'a', ts: 7 })
  } finally {
    delete proto.host
    delete proto.ts
    delete proto.cpu
  }
  t.deepEqual(dead.map((d) => d.code), ['MISSING_KEY', 'INVALID_TIMESTAMP'])
  t.deepEqual(db.series().map((x) => x.key).filter((k) => k.startsWith('node.')).sort(), ['node.cpu{host="a"}', 'node.dead_letters', 'node.mem{host="a"}'])
  t.is(((await db.range('node.cpu{host="a"}', 0, 100)) as NumericRange).values.length, 0, 'no inherited cpu')
  await db.close()
})

test('late events within the lateness revise a window; later ones go to late()', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'), { durability: 'none' })
  const s = db.stream('node', STREAM)
  const w = s.window({ ...WINDOW, lateness: 5 })
  const seen: WindowResult[] = []
  w.on((r) => seen.push(r))
  const late: unknown[] = []
  s.late().on((e) => late.push(e))
  s.write({ host: 'a', ts: 100, cpu: 1 })
  s.write({ host: 'a', ts: 112, cpu: 2 }) // closes [100, 110)
  s.write({ host: 'a', ts: 105, cpu: 3 }) // late, within 5: revision 1
  s.write({ host: 'a', ts: 120, cpu: 4 }) // closes [110, 120); [100, 110) is past its lateness
  s.write({ host: 'a', ts: 101, cpu: 5 }) // too late
  await until(() => seen.length === 3)
  t.deepEqual(seen.map((r) => [r.start, r.kind, r.revision, r.values.n]), [[100, 'close', 0, 1], [100, 'late', 1, 2], [110, 'close', 0, 1]])
  t.deepEqual(late, [{ operator: 'w', key: 'a', ts: 101, event: { host: 'a', ts: 101, cpu: 5, mem: undefined } }])
  t.is(db.stats().streams.node.late, 1)
  await db.close()
})

test('emit update delivers every change at once; store writes closed windows as series', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'))
  const s = db.stream('node', STREAM)
  const updates: WindowResult[] = []
  s.window({ ...WINDOW, name: 'live', emit: 'update' }).on((r) => updates.push(r))
  s.window({ ...WINDOW, name: 'kept', store: true })
  s.write({ host: 'a', ts: 100, cpu: 1, mem: 1 })
  t.deepEqual(updates.map((r) => [r.kind, r.values.n]), [['update', 1]], 'delivered inside write()')
  s.write({ host: 'a', ts: 101, cpu: 3, mem: 4 })
  s.write({ host: 'a', ts: 111, cpu: 0, mem: 0 })
  await db.flush()
  const avg = (await db.range('node.kept.avg{host="a"}', 0, 1000)) as NumericRange
  t.deepEqual([Array.from(avg.timestamps), Array.from(avg.values)], [[100], [2]])
  const max = (await db.range('node.kept.max{host="a"}', 0, 1000)) as NumericRange
  t.deepEqual(Array.from(max.values), [4])
  await db.close()
})

test('Writable with pipeline, consume and writeBatch all deliver every event', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'), { durability: 'sync' })
  const s = db.stream('node', STREAM)
  const events = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ host: 'a', ts: from + i, cpu: i }))
  await pipeline(Readable.from(events(0, 500)), s.writable())
  t.is(await s.consume((async function* () { yield* events(500, 500) })()), 500)
  await s.writeBatch(events(1000, 500))
  const r = (await db.range('node.cpu{host="a"}', 0, 10_000)) as NumericRange
  t.is(r.values.length, 1500)
  t.is(db.stats().streams.node.accepted, 1500)
  await db.close()
})

test('processing time stamps events on arrival; idle streams move their watermark with the clock', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'), { durability: 'none' })
  const s = db.stream('proc', { key: 'host', time: 'processing', fields: ['cpu'], outOfOrder: 0, idle: 20 })
  const seen: WindowResult[] = []
  s.window({ ...WINDOW, size: 50 }).on((r) => seen.push(r))
  const before = Date.now()
  s.write({ host: 'a', cpu: 1 })
  await until(() => seen.length === 1, 2000)
  t.true(seen[0].start <= before + 50 && seen[0].end > before - 50)
  t.is(seen[0].values.n, 1)
  await db.close()
})

test('keepEvents stores whole events and hands them to operators', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'))
  const s = db.stream('log', { key: 'host', timestamp: 'ts', keepEvents: true, fields: ['ms'] })
  const seen: WindowResult[] = []
  const kinds = { init: () => [] as string[], add: (acc: string[], _v: number | undefined, e: Readonly<Record<string, unknown>>) => [...acc, String(e.kind)], merge: (a: string[], b: string[]) => [...a, ...b], result: (acc: string[]) => acc.join(',') }
  s.window({ name: 'kinds', type: 'tumbling', size: 10, aggregate: { kinds: { reduce: kinds } } }).on((r) => seen.push(r))
  s.write({ host: 'a', ts: 1, ms: 5, kind: 'get', nested: { path: '/x' } })
  s.write({ host: 'a', ts: 2, kind: 'put' })
  s.write({ host: 'a', ts: 5000, kind: 'x' })
  const stored = (await db.range('log{host="a"}', 0, 100)) as Point[]
  t.deepEqual(stored[0].value, { host: 'a', ts: 1, ms: 5, kind: 'get', nested: { path: '/x' } })
  await until(() => seen.length === 1)
  t.is(seen[0].values.kinds, 'get,put')
  await db.close()
})

test('windows resume after close and reopen: open windows finish, nothing is emitted twice, consumers can read what they missed', async (t) => {
  const dir = tempDir('stream')
  const all: WindowResult[] = []
  for (let round = 0; round < 3; round++) {
    const db = await WarpEngine.open(dir)
    const s = db.stream('node', STREAM)
    const w = s.window({ ...WINDOW, type: 'sliding', slide: 5 })
    w.on((r) => all.push(r))
    for (let i = 0; i < 40; i++) s.write({ host: 'a', ts: round * 40 + i, cpu: i })
    await db.close()
  }
  t.deepEqual(all.map((r) => r.seq), Array.from({ length: all.length }, (_, i) => i + 1))
  t.deepEqual(all.map((r) => r.start), Array.from({ length: all.length }, (_, i) => 5 * i - 5))
  const db = await WarpEngine.open(dir)
  const w = db.stream('node', STREAM).window({ ...WINDOW, type: 'sliding', slide: 5 })
  t.deepEqual(await w.recorded(all.length - 3), all.slice(-3))
  await db.close()
})

test('a slow for-await consumer holds writers back instead of queueing without bound', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'), { durability: 'none' })
  const s = db.stream('node', { ...STREAM, highWaterMark: 50 })
  const w = s.window({ ...WINDOW, size: 1 })
  const it = w[Symbol.asyncIterator]()
  let refused = 0
  for (let i = 0; i < 5000 && refused === 0; i++) if (!s.write({ host: 'a', ts: i, cpu: i })) refused = i
  t.true(refused > 0 && refused < 5000, 'write() returned false')
  let read = 0
  const drained = s.drained().then(() => read)
  while ((await Promise.race([drained.then(() => 'drained'), it.next().then(() => 'read')])) === 'read') read++
  t.true((await drained) > 0, 'the consumer had to read before writers could go on')
  t.is(db.stats().streams.node.backpressure.engaged, 1)
  t.false(db.stats().streams.node.backpressure.active)
  await db.close()
})

test('closing the database ends every stream output and refuses writes', async (t) => {
  const db = await WarpEngine.open(tempDir('stream'))
  const s = db.stream('node', STREAM)
  const w = s.window(WINDOW)
  const done = (async () => {
    let n = 0
    for await (const _ of w) n++
    return n
  })()
  s.write({ host: 'a', ts: 1, cpu: 1 })
  await Promise.all([db.close(), db.close()])
  t.is(await done, 0)
  t.is(await codeOf(() => s.write({ host: 'a', ts: 2, cpu: 1 })), 'CLOSED')
})

test('a consumer that resumes with recorded() and then listens sees each result once, however the delivery interleaves', async (t) => {
  // Results recorded but not yet durable (interval mode, a long flush interval) are not read
  // back by `recorded`: they come live. Once read back, results are not delivered live again.
  const dir = tempDir('stream-resume')
  const db = await WarpEngine.open(dir, { durability: 'interval', flushIntervalMs: 300 })
  const s = db.stream('node', STREAM)
  const w = s.window(WINDOW)
  for (let i = 0; i < 40; i++) s.write({ host: 'a', ts: 100 + i, cpu: i, mem: i })
  await new Promise(setImmediate) // the results are in the result log, not yet durable
  const got: WindowResult[] = [...(await w.recorded(0))]
  w.on((r) => got.push(r))
  await until(() => got.length >= 3)
  await new Promise((r) => setTimeout(r, 400))
  t.deepEqual(got.map((r) => r.seq), [1, 2, 3])
  // And the other way round: delivered live, then read back from 0 by a late consumer.
  t.deepEqual((await w.recorded(0)).map((r) => r.seq), [1, 2, 3])
  t.deepEqual((await w.recorded(2)).map((r) => r.seq), [3])
  await db.close()
})

test('results too many or too large for one event are recorded in several records, in order', async (t) => {
  const db = await WarpEngine.open(tempDir('stream-big'), { durability: 'none' })
  const s = db.stream('node', STREAM)
  const pad = 'x'.repeat(3000)
  const tag = { reduce: { init: () => 0, add: (a: number) => a + 1, merge: (a: number, b: number) => a + b, result: (a: number) => pad + a } }
  // 3,000 results of 3 KB close at once: 9 MB, over twice what one event holds.
  const w = s.window({ ...WINDOW, aggregate: { tag } })
  const got: WindowResult[] = []
  w.on((r) => got.push(r))
  await s.writeBatch(Array.from({ length: 3000 }, (_, i) => ({ host: `h${i}`, ts: 100, cpu: 1, mem: 1 })))
  await s.writeBatch([{ host: 'h0', ts: 1000, cpu: 1, mem: 1 }])
  await until(() => got.length >= 3000)
  const seqs = Array.from({ length: 3000 }, (_, i) => i + 1)
  t.deepEqual(got.map((r) => r.seq), seqs)
  const back = await w.recorded(0)
  t.deepEqual(back.map((r) => r.seq), seqs)
  t.is(back[2999].values.tag, `${pad}1`)
  await db.close()
})

test('a consumer calling recorded() again and again never holds live delivery back for long; one calling it during close loses nothing', async (t) => {
  const db = await WarpEngine.open(tempDir('stream-poll'), { durability: 'none' })
  const s = db.stream('node', STREAM)
  const w = s.window(WINDOW)
  let live = 0
  w.on(() => live++)
  let polled = 0
  let last = 0
  let polling = true
  const poller = (async () => {
    while (polling) {
      const r = await w.recorded(last)
      if (r.length > 0) [last, polled] = [r[r.length - 1].seq!, polled + r.length]
    }
  })()
  for (let i = 0; i < 1000; i++) {
    s.write({ host: `h${i % 7}`, ts: i, cpu: 1, mem: 1 })
    if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5))
  }
  await until(() => live === 693 && polled === 693)
  polling = false
  await poller
  // recorded() calls on every turn while the database closes: every result still comes live.
  for (let i = 1000; i < 2000; i++) s.write({ host: `h${i % 7}`, ts: i, cpu: 1, mem: 1 })
  let closed = false
  const closing = db.close().then(() => (closed = true))
  while (!closed) {
    w.recorded(0).catch(() => {})
    await new Promise(setImmediate)
  }
  await closing
  t.is(live, 1393)
})

test('kept events too large for one log batch between them are logged in several; one too large for any is a dead letter', async (t) => {
  const dir = tempDir('stream-big-log')
  let db = await WarpEngine.open(dir, { durability: 'none' })
  const opts = { key: 'k', timestamp: 't', fields: ['v'], keepEvents: true, outOfOrder: 0 }
  let s = db.stream('s', opts)
  s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count' } })
  const dead: DeadLetter[] = []
  s.deadLetters().on((d) => dead.push(d))
  // 10,000 events of 600 bytes in one turn: 6 MB, past what one log batch (one event) holds.
  for (let i = 0; i < 10_000; i++) s.write({ k: 'a', t: i, v: 1, note: 'x'.repeat(600) })
  // An event whose log record cannot fit in any batch ('"' doubles in the log's JSON).
  s.write({ k: 'a', t: 10_000, v: 1, note: '"'.repeat(2_200_000) })
  t.deepEqual(dead.map((d) => d.code), ['INVALID_EVENT'])
  t.regex(dead[0].reason, /bytes in the stream log/)
  await db.close()
  // Every logged event is replayed: a window attached fresh reads them all from the log.
  db = await WarpEngine.open(dir)
  s = db.stream('s', opts)
  const w = s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count' } })
  await s.writeBatch([{ k: 'a', t: 20_000, v: 1, note: '' }])
  await db.close()
  const results = await (async () => {
    db = await WarpEngine.open(dir)
    const r = await db.stream('s', opts).window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count' } }).recorded(0)
    await db.close()
    return r
  })()
  t.is(results.length, 1000)
  t.true(results.every((r) => r.values.n === 10))
  t.truthy(w)
})
