// The public API as a hostile user and a bad day use it: reused and mutated argument
// objects, Object.prototype tricks, rules at and past their limits, calls after and during
// close, writes that are refused, timestamps at the ends of the range.
import test from 'ava'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

import { NumericRange, WarpEngine } from '../ts'
import native = require('../ts/native')
import { codeOf, tempDir } from './helpers'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

const keys = (db: WarpEngine): string[] => db.series().map((s) => s.key).sort()

test('a reused series object that is changed between puts writes where it points now', async (t) => {
  const db = await WarpEngine.open(tempDir())
  const spec = { metric: 'cpu', tags: { host: 'a' } }
  for (const host of ['a', 'b', 'c']) {
    spec.tags.host = host
    db.put(spec, host.charCodeAt(0), 1)
  }
  t.deepEqual(keys(db), ['cpu{host="a"}', 'cpu{host="b"}', 'cpu{host="c"}'])
  t.deepEqual(db.latest('cpu{host=b}'), { ts: 1, value: 98 })
  // The same content through a new object, and through text, is the same series.
  t.is(db.series({ metric: 'cpu', tags: { host: 'c' } }), db.series('cpu{host="c"}'))
  await db.close()
})

test('inherited properties never become tags, options or rules', async (t) => {
  const proto = Object.prototype as Loose
  proto.polluted = 'yes'
  proto.metric = 'evil'
  proto.repair = true
  proto.durability = 'none'
  try {
    const dir = tempDir()
    const db = await WarpEngine.open(dir)
    t.is(db.durability, 'interval')
    db.put({ metric: 'mem', tags: { host: 'a' } }, 1, 1)
    t.deepEqual(keys(db), ['mem{host="a"}'])
    t.is(await codeOf(() => db.put({ tags: { host: 'a' } } as Loose, 1, 1)), 'INVALID_SERIES')
    // Tags without a prototype are plain data; a class instance or a Map is not.
    const bare = Object.create(null)
    bare.host = 'b'
    db.put({ metric: 'mem', tags: bare }, 1, 1)
    class Tags {
      host = 'c'
    }
    t.is(await codeOf(() => db.put({ metric: 'mem', tags: new Tags() as Loose }, 1, 1)), 'INVALID_SERIES')
    t.is(await codeOf(() => db.put({ metric: 'mem', tags: new Map([['host', 'd']]) as Loose }, 1, 1)), 'INVALID_SERIES')
    t.deepEqual(keys(db), ['mem{host="a"}', 'mem{host="b"}'])
    // Rule changes read own fields only: names like `constructor` are unknown fields.
    t.is(await codeOf(() => db.lifecycle.setRules({ lifecycle: { constructor: 1 } as Loose })), 'INVALID_CONFIG')
    t.is(await codeOf(() => db.lifecycle.setRules({ retention: { toString: 1 } as Loose })), 'INVALID_CONFIG')
    await db.close()
  } finally {
    for (const k of ['polluted', 'metric', 'repair', 'durability']) delete proto[k]
  }
})

test('rule values are bounded to what the lifecycle can act on, at the limit and one past', async (t) => {
  const db = await WarpEngine.open(tempDir())
  const accepted = [
    { lifecycle: { intervalSeconds: 2_147_483 } },
    { lifecycle: { intervalSeconds: 0 } },
    { retention: { maxAgeDays: 3_660_000 } },
    { lifecycle: { tiers: { live: { maxAgeHours: 3_660_000 * 24 }, recent: { maxAgeHours: 48 }, historical: { maxAgeDays: 30 }, monthly: { maxAgeDays: 365 } } } },
  ]
  for (const change of accepted) await t.notThrowsAsync(() => db.lifecycle.setRules(change as Loose), JSON.stringify(change))
  const refused = [
    { lifecycle: { intervalSeconds: 2_147_484 } },
    { lifecycle: { intervalSeconds: Infinity } },
    { retention: { maxAgeDays: 3_660_001 } },
    { retention: { maxAgeDays: 1e9 } },
    { lifecycle: { tiers: { live: { maxAgeHours: 1e13 }, recent: { maxAgeHours: 48 }, historical: { maxAgeDays: 30 }, monthly: { maxAgeDays: 365 } } } },
    { lifecycle: { entropy: { accessHalfLifeHours: 24, dilationPerAccess: 1e7, threshold: 1 } } },
    { nonsense: {} },
    null,
  ]
  for (const change of refused) t.is(await codeOf(() => db.lifecycle.setRules(change as Loose)), 'INVALID_CONFIG', JSON.stringify(change))
  // The limits keep every pass working.
  await db.lifecycle.setRules({ retention: { maxAgeDays: 3_660_000 }, lifecycle: { intervalSeconds: 0 } })
  db.put('m', 1, Date.UTC(2020, 0, 1))
  await t.notThrowsAsync(() => db.runLifecycle())
  await db.close()
})

test('close twice at once, then everything after close, is CLOSED or a no-op', async (t) => {
  const dir = tempDir()
  const db = await WarpEngine.open(dir)
  db.put('m', 1, 1)
  const ruleFile = path.join(dir, 'temporal/configuration/lifecycle_rules.json')
  const before = readFileSync(ruleFile, 'utf8')
  await t.notThrowsAsync(() => Promise.all([db.close(), db.close()]))
  await t.notThrowsAsync(() => db.close())
  t.is(await codeOf(() => db.lifecycle.setRules({ lifecycle: { intervalSeconds: 5 } })), 'CLOSED')
  t.is(readFileSync(ruleFile, 'utf8'), before, 'no rule file written after close')
  t.is(await codeOf(() => db.runLifecycle()), 'CLOSED')
  t.is(await codeOf(() => db.backup(tempDir())), 'CLOSED')
})

test('a close while a rule change is in flight waits for it', async (t) => {
  const db = await WarpEngine.open(tempDir())
  let settled = false
  const change = db.lifecycle.setRules({ lifecycle: { intervalSeconds: 7 } }).finally(() => (settled = true))
  await db.close()
  t.true(settled, 'close returned before the rule change settled')
  await t.notThrowsAsync(() => change)
})

test('null and other non-objects where options go are INVALID_ARGUMENT, not a TypeError', async (t) => {
  const db: Loose = await WarpEngine.open(tempDir())
  db.put('m', 1, 1)
  t.is(await codeOf(() => db.range('m', 0, 5, null)), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.series('m').rangeSync(0, 5, null)), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.runLifecycle(null)), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.runLifecycle(5)), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.partitions(null)), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.runLifecycle({ now: 1.5 })), 'INVALID_TIMESTAMP')
  t.is(await codeOf(() => db.runLifecycle({ now: 2 ** 60 })), 'INVALID_TIMESTAMP')
  await db.close()
})

test('a refused write creates no series and fixes no kind', async (t) => {
  for (const durability of ['sync', 'interval'] as const) {
    const dir = tempDir()
    const db: Loose = await WarpEngine.open(dir, { durability })
    t.is(await codeOf(() => db.putBatch('c', Float64Array.from([1.5]), Float64Array.from([1]))), 'INVALID_TIMESTAMP')
    t.is(await codeOf(() => db.put('d', 1, NaN)), 'INVALID_TIMESTAMP')
    t.is(await codeOf(() => db.put('e', { big: 'x'.repeat(5 << 20) }, 1)), 'INVALID_VALUE')
    t.deepEqual(db.series(), [], durability)
    await db.put('c', { first: 'an event' }, 1)
    await db.close()
    const again = await WarpEngine.open(dir)
    t.deepEqual(again.series(), [{ id: 0, key: 'c', kind: 'event', points: 1 }], durability)
    await again.close()
  }
})

test('timestamps at the ends of the storable range, and one past, on write and on reopen', async (t) => {
  const dir = tempDir()
  // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z (Date.UTC maps years 0-99 to 1900+).
  const first = new Date(0).setUTCFullYear(0, 0, 1)
  const last = new Date(0).setUTCFullYear(9999, 11, 31) + 86_400_000 - 1
  const db = await WarpEngine.open(dir)
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  db.put('m', 1, first)
  db.put('m', 2, last)
  t.is(await codeOf(() => db.put('m', 3, first - 1)), 'INVALID_TIMESTAMP')
  t.is(await codeOf(() => db.put('m', 3, last + 1)), 'INVALID_TIMESTAMP')
  t.is(await codeOf(() => db.putBatch('m', Float64Array.from([last + 1]), Float64Array.from([1]))), 'INVALID_TIMESTAMP')
  // Every later pass keeps working, and reads with the widest bounds see both ends.
  for (const now of [Date.now(), last]) await db.runLifecycle({ now })
  db.put('m', 5, Date.UTC(2026, 0, 1))
  await db.runLifecycle({ now: Date.UTC(2026, 5, 1) })
  await db.close()
  const again = await WarpEngine.open(dir)
  const r = (await again.range('m', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) as NumericRange
  t.deepEqual([...r.timestamps], [first, Date.UTC(2026, 0, 1), last])
  t.deepEqual(again.latest('m'), { ts: last, value: 2 })
  // Bounds past either end exclude every point beyond them (both ends of a range included).
  t.is(again.get('m', first - 1), null)
  t.is(again.get('m', -Number.MAX_SAFE_INTEGER), null)
  t.is(((await again.range('m', -Number.MAX_SAFE_INTEGER, first - 1)) as NumericRange).timestamps.length, 0)
  t.is(((await again.range('m', last + 1, Number.MAX_SAFE_INTEGER)) as NumericRange).timestamps.length, 0)
  t.deepEqual(again.get('m', first), { ts: first, value: 1 })
  await again.close()
})

test('a fractional retention age still lets every pass run', async (t) => {
  const db = await WarpEngine.open(tempDir())
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 }, retention: { maxAgeDays: 2.123456 } })
  const now = Date.UTC(2026, 0, 10)
  db.put('m', 1, now - 10 * 86_400_000)
  db.put('m', 2, now - 3_600_000)
  await db.runLifecycle({ now })
  await db.runLifecycle({ now: now + 1 })
  t.is(db.lifecycle.status().lastError, null)
  t.deepEqual(((await db.range('m', 0, now)) as NumericRange).values, Float64Array.from([2]))
  t.is(db.stats().retentionHorizon, Math.floor(now + 1 - 2.123456 * 86_400_000))
  await db.close()
})

test('passes asked for at once each run, in order, with their own clock', async (t) => {
  const db = await WarpEngine.open(tempDir())
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  const base = Date.UTC(2026, 0, 1)
  for (let h = 0; h < 48; h++) db.put('m', h, base + h * 3_600_000)
  const [early, late] = await Promise.all([
    db.runLifecycle({ now: base + 2 * 3_600_000 }),
    db.runLifecycle({ now: base + 400 * 86_400_000 }),
  ])
  t.not(early, late)
  t.is(early.sealedPoints + late.sealedPoints, 48)
  t.is(db.stats().livePoints, 0)
  await db.close()
})

test('bad arguments on reads and batches are typed errors, whether or not the series exists', async (t) => {
  const db = await WarpEngine.open(tempDir())
  db.put('m', 1, 1)
  for (const name of ['m', 'never-written']) {
    t.is(await codeOf(() => db.get(name, NaN)), 'INVALID_TIMESTAMP', name)
    t.is(await codeOf(() => db.get(name, 1.5)), 'INVALID_TIMESTAMP', name)
  }
  t.is(await codeOf(() => db.partitions({ now: 'x' as Loose })), 'INVALID_TIMESTAMP')
  t.is(await codeOf(() => db.runLifecycle({ now: 'x' as Loose })), 'INVALID_TIMESTAMP')
  const err = await (async () => db.putBatch('m', Float64Array.from([2]), Float32Array.from([7]) as Loose))().catch((e) => e)
  t.is(err.code, 'INVALID_ARGUMENT')
  t.regex(err.message, /Float64Array.*Float32Array/)
  t.is(await codeOf(() => db.putBatch('m', [2] as Loose, Float64Array.from([7]))), 'INVALID_ARGUMENT')
  await db.close()
})

test('series names are well-formed Unicode, and spaces around tag values are layout', async (t) => {
  const db = await WarpEngine.open(tempDir())
  for (const bad of ['s\ud800', 's\udfff', { metric: 'st', tags: { a: '\ud800' } }, { metric: '\udbffx' }]) {
    t.is(await codeOf(() => db.put(bad, 1, 1)), 'INVALID_SERIES', JSON.stringify(bad))
  }
  db.put('s\ud83d\ude00', 1, 1) // a surrogate pair is one well-formed character
  db.put('q{ b = "c" }', 1, 1)
  db.put('q{b="c"}', 2, 2)
  t.deepEqual(keys(db), ['q{b="c"}', 's\u{1F600}'])
  await db.close()
})

test('a backup into the database itself is refused and writes nothing there', async (t) => {
  const dir = tempDir()
  const db = await WarpEngine.open(dir)
  db.put('m', 1, 1)
  const count = (): number => {
    let n = 0
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        n++
        if (e.isDirectory()) walk(path.join(d, e.name))
      }
    }
    walk(dir)
    return n
  }
  const before = count()
  t.is(await codeOf(() => db.backup(path.join(dir, 'temporal', 'copy'))), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.backup(dir)), 'INVALID_ARGUMENT')
  const outside = tempDir()
  symlinkSync(dir, path.join(outside, 'link'))
  t.is(await codeOf(() => db.backup(path.join(outside, 'link', 'copy'))), 'INVALID_ARGUMENT')
  t.is(count(), before)
  // A backup next to it is fine, and a half-made one (no manifest yet) will not open.
  const copy = path.join(outside, 'copy')
  await db.backup(copy)
  t.true(statSync(path.join(copy, 'temporal', 'manifest.json')).isFile())
  await db.close()
  const partial = path.join(outside, 'partial')
  mkdirSync(path.join(partial, 'temporal', 'live', 'checkpoints'), { recursive: true })
  for (const name of readdirSync(path.join(copy, 'temporal', 'live', 'checkpoints'))) {
    const bytes = readFileSync(path.join(copy, 'temporal', 'live', 'checkpoints', name))
    writeFileSync(path.join(partial, 'temporal', 'live', 'checkpoints', name), bytes)
  }
  t.is(await codeOf(() => WarpEngine.open(partial)), 'CORRUPT_MANIFEST')
  t.true(existsSync(path.join(partial, 'temporal', 'live', 'checkpoints')), 'nothing deleted')
})

test('point counts are what reads return, after overwrites of sealed points', async (t) => {
  const T0 = Date.UTC(2025, 0, 20)
  const db = await WarpEngine.open(tempDir())
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  db.putBatch('m', Float64Array.from({ length: 60 }, (_, i) => T0 + i * 60_000), new Float64Array(60).fill(1))
  await db.runLifecycle({ now: T0 + 3 * 3_600_000 })
  db.putBatch('m', Float64Array.from({ length: 10 }, (_, i) => T0 + i * 60_000), new Float64Array(10).fill(2))
  t.is(db.series()[0].points, 60)
  t.is(db.stats().points, 60)
  await db.runLifecycle({ now: T0 + 4 * 3_600_000 })
  t.is(db.series()[0].points, 60)
  t.is(((await db.range('m', 0, T0 + 3_600_000)) as NumericRange).values[0], 2)
  await db.close()
})

test('the binding call that finds a series by name refuses a foreign handle, an unknown kind and a closed engine', async (t) => {
  // The binding's own errors carry the code the TypeScript layer turns into a WarpError.
  const nativeCode = (fn: () => unknown): unknown => {
    try {
      fn()
    } catch (e) {
      return (e as { code?: unknown }).code
    }
    return 'NO_ERROR'
  }
  const engine = await native.open(tempDir())
  const handle = engine.handle
  const id = native.ensureSeries(handle, 'm{b="2",a="1"}', native.SeriesKind.Numeric)
  t.is(native.ensureSeries(handle, 'm{a="1", b=2}', native.SeriesKind.Numeric), id, 'any text form finds the same series')
  t.is(nativeCode(() => native.ensureSeries(handle, 'm{a="1",b="2"}', native.SeriesKind.Event)), 'TYPE_MISMATCH')
  t.is(nativeCode(() => native.ensureSeries(handle, '__stream:log', native.SeriesKind.Event)), 'INVALID_SERIES')
  for (const foreign of [{}, null, 1, 'm', engine]) t.throws(() => native.ensureSeries(foreign as Loose, 'm', native.SeriesKind.Numeric))
  t.throws(() => native.ensureSeries(handle, 'm', 3 as Loose))
  await engine.close()
  t.is(nativeCode(() => native.ensureSeries(handle, 'n', native.SeriesKind.Numeric)), 'CLOSED')
})

test('errors the native query engine raises reach callers as WarpErrors with their code', async (t) => {
  const db: Loose = await WarpEngine.open(tempDir())
  db.put('m', 1, 1)
  t.is(await codeOf(() => db.query({ metric: 'm', from: 0, to: 10, aggregate: 'bogus' })), 'INVALID_QUERY')
  t.is(await codeOf(() => db.querySync({ metric: 'm', from: 0, to: 10, every: '0s', aggregate: 'avg' })), 'INVALID_QUERY')
  t.is(await codeOf(() => db.query({ metric: 'm', from: 0, to: 10, table: true, filter: { m: { gt: 'x' } } })), 'INVALID_QUERY')
  await db.close()
})
