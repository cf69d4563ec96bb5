import test from 'ava'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'

import { WarpEngine } from '../ts'
import { codeOf, tempDir } from './helpers'

// Deliberately wrong calls, as untyped JavaScript would make them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

test('bad input gets a WarpError with a stable code and stored data survives', async (t) => {
  const dir = tempDir()
  const db: Loose = await WarpEngine.open(dir)
  db.put('ok', 1, 1)
  db.put('ev', { a: 1 }, 1)
  const cases: Array<[string, () => unknown, string]> = [
    ['missing value', () => db.put('ok', undefined, 2), 'INVALID_VALUE'],
    ['function value', () => db.put('ev', () => 1, 2), 'INVALID_VALUE'],
    ['symbol value', () => db.put('ev', Symbol('s'), 2), 'INVALID_VALUE'],
    ['bigint value', () => db.put('ev', 10n, 2), 'INVALID_VALUE'],
    ['circular value', () => { const o: Loose = {}; o.o = o; return db.put('ev', o, 2) }, 'INVALID_VALUE'],
    ['NaN timestamp', () => db.put('ok', 1, NaN), 'INVALID_TIMESTAMP'],
    ['infinite timestamp', () => db.put('ok', 1, Infinity), 'INVALID_TIMESTAMP'],
    ['fractional timestamp', () => db.put('ok', 1, 1.5), 'INVALID_TIMESTAMP'],
    ['huge timestamp', () => db.put('ok', 1, 2 ** 60), 'INVALID_TIMESTAMP'],
    ['string timestamp', () => db.put('ok', 1, '5'), 'INVALID_TIMESTAMP'],
    ['bad get timestamp', () => db.get('ok', NaN), 'INVALID_TIMESTAMP'],
    ['range from after to', () => db.range('ok', 10, 5), 'INVALID_RANGE'],
    ['range NaN bound', () => db.range('ok', NaN, 5), 'INVALID_TIMESTAMP'],
    ['range bad limit', () => db.range('ok', 0, 5, { limit: -1 }), 'INVALID_ARGUMENT'],
    ['range bad order', () => db.range('ok', 0, 5, { order: 'up' }), 'INVALID_ARGUMENT'],
    ['empty series name', () => db.put('', 1, 1), 'INVALID_SERIES'],
    ['oversized metric', () => db.put('m'.repeat(300), 1, 1), 'INVALID_SERIES'],
    ['oversized tag value', () => db.put({ metric: 'm', tags: { k: 'v'.repeat(2000) } }, 1, 1), 'INVALID_SERIES'],
    ['too many tags', () => db.put({ metric: 'm', tags: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, 1, 1), 'INVALID_SERIES'],
    ['bad tag key', () => db.put({ metric: 'm', tags: { '1bad': 'v' } }, 1, 1), 'INVALID_SERIES'],
    ['non-string tag', () => db.put({ metric: 'm', tags: { k: 5 } }, 1, 1), 'INVALID_SERIES'],
    ['unbalanced braces', () => db.put('cpu{host=a', 1, 1), 'INVALID_SERIES'],
    ['series of wrong type', () => db.put(42, 1, 1), 'INVALID_SERIES'],
    ['null series', () => db.put(null, 1, 1), 'INVALID_SERIES'],
    ['number into event series', () => db.put('ev', 5, 3), 'TYPE_MISMATCH'],
    ['event into numeric series', () => db.put('ok', 'text', 3), 'TYPE_MISMATCH'],
    ['mismatched batch lengths', () => db.putBatch('ok', new Float64Array(3), new Float64Array(2)), 'INVALID_ARGUMENT'],
    ['plain array batch', () => db.putBatch('ok', [1, 2], [1, 2]), 'INVALID_ARGUMENT'],
    ['wrong typed array', () => db.putBatch('ok', new Int32Array(2), new Float64Array(2)), 'INVALID_ARGUMENT'],
    ['bad batch timestamp', () => db.putBatch('ok', Float64Array.from([1, NaN]), new Float64Array(2)), 'INVALID_TIMESTAMP'],
    ['batch into event series', () => db.putBatch('ev', new Float64Array(1), new Float64Array(1)), 'TYPE_MISMATCH'],
  ]
  for (const [name, fn, code] of cases) {
    t.is(await codeOf(fn), code, name)
  }
  t.deepEqual(db.series().map((s: Loose) => [s.key, s.points]).sort(), [['ev', 1], ['ok', 1]])
  await db.close()
  const again = await WarpEngine.open(dir)
  t.is(again.stats().points, 2)
  await again.close()
})

test('use after close is CLOSED', async (t) => {
  const db = await WarpEngine.open(tempDir())
  const handle = db.series('h')
  await db.close()
  t.is(await codeOf(() => db.put('x', 1, 1)), 'CLOSED')
  t.is(await codeOf(() => handle.put(1, 1)), 'CLOSED')
  t.is(await codeOf(() => db.latest('x')), 'CLOSED')
  t.is(await codeOf(() => db.range('x', 0, 1)), 'CLOSED')
  t.is(await codeOf(() => db.flush()), 'CLOSED')
  t.is(await codeOf(() => db.checkpoint()), 'CLOSED')
  t.is(await codeOf(() => db.stats()), 'CLOSED')
  t.is(await codeOf(() => db.series()), 'CLOSED')
})

test('open rejects a file path, a bad directory argument and bad options', async (t) => {
  const dir = tempDir()
  const file = path.join(dir, 'plain-file')
  writeFileSync(file, 'x')
  t.is(await codeOf(() => WarpEngine.open(file)), 'NOT_A_DIRECTORY')
  t.is(await codeOf(() => WarpEngine.open(42 as Loose)), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => WarpEngine.open('')), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => WarpEngine.open(tempDir(), { durability: 'always' as Loose })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => WarpEngine.open(tempDir(), { flushIntervalMs: -5 })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => WarpEngine.open(tempDir(), { segmentBytes: 10 })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => WarpEngine.open(tempDir(), null as Loose)), 'INVALID_ARGUMENT')
})

test('a second open of a directory in use is LOCKED', async (t) => {
  const dir = tempDir()
  const db = await WarpEngine.open(dir)
  t.is(await codeOf(() => WarpEngine.open(dir)), 'LOCKED')
  await db.close()
  const again = await WarpEngine.open(dir)
  await again.close()
  t.pass()
})
