// The stream layer's decoders fed what they did not write: the stream log's batches
// (`decodeBatch`, read back from the WAL: CORRUPT_WAL), and the percentile sketches and window
// accumulators of operator snapshots (`Sketch.from`, `Aggregates.fromJSON`: CORRUPT_CHECKPOINT).
// Arbitrary input, single changes of good input and crafted inconsistencies each give the typed
// error, never a TypeError, RangeError or SyntaxError, a hang or an allocation the input's size
// does not justify; what they wrote decodes to what it was.
import test from 'ava'
import fc from 'fast-check'
import assert from 'node:assert/strict'

import { WarpError } from '../ts'
import { Aggregates, Reducer } from '../ts/stream/aggregates'
import { LogBatch, LogRecord, LogSchema, decodeBatch } from '../ts/stream/log'
import { Sketch, SketchState } from '../ts/stream/sketch'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

/** 'ok', the WarpError's code, or a description of anything else thrown. */
function outcome(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (e) {
    return e instanceof WarpError ? e.code : `not a WarpError: ${(e as Error)?.name}: ${(e as Error)?.message}`
  }
}

// ---------------------------------------------------------------------------------------------
// decodeBatch

const MAGIC = 0x314c5357
const pad = (n: number) => (8 - (n % 8)) % 8

/** A batch laid out by hand (docs/format.md, "Stream log"), so any part can be made wrong. */
interface Parts {
  header: unknown
  /** The raw header text, when not JSON.stringify(header). */
  headerText?: string
  stream: number[]
  key: number[]
  ts: number[]
  values: number[]
  attributes: number[]
  events: number[]
  /** The record count written (default: stream.length). */
  count?: number
}

function assemble(p: Parts): Buffer {
  const header = Buffer.from(p.headerText ?? JSON.stringify(p.header))
  const cols: Uint8Array[] = [Int32Array.from(p.stream), Int32Array.from(p.key), Float64Array.from(p.ts), Float64Array.from(p.values), Int32Array.from(p.attributes), Int32Array.from(p.events)].map(
    (c) => new Uint8Array(c.buffer),
  )
  const head = 8 + header.length + pad(header.length)
  const out = Buffer.alloc(head + 8 + cols.reduce((n, c) => n + c.length + pad(c.length), 0))
  out.writeUInt32LE(MAGIC, 0)
  out.writeUInt32LE(header.length, 4)
  header.copy(out, 8)
  out.writeUInt32LE(p.count ?? p.stream.length, head)
  let at = head + 8
  for (const c of cols) {
    out.set(c, at)
    at += c.length + pad(c.length)
  }
  return out
}

const SCHEMA: LogSchema = { name: 's', fields: ['a', 'b'], attributes: ['z'], keep: true }

/** Two events and a watermark of SCHEMA: each part can be replaced. */
function parts(over: Partial<Parts> = {}): Parts {
  return {
    header: { streams: [SCHEMA], strings: ['k0', 'zone', '{"i":0}', 'k1', '{"i":1}'] },
    stream: [0, 0, -1],
    key: [0, 3, -1],
    ts: [1000, 1001, 990],
    values: [1, NaN, 2, 3],
    attributes: [1, -1],
    events: [2, 4],
    ...over,
  }
}

const decodeOutcome = (bytes: Uint8Array) => outcome(() => decodeBatch(bytes))

test('decodeBatch: the hand-made layout is the encoder\'s, and decodes', (t) => {
  const b = new LogBatch()
  const s = b.schema(SCHEMA)
  b.event(s, b.string('k0'), 1000)
  b.value(1)
  b.value(NaN)
  b.attribute(b.string('zone'))
  b.whole('{"i":0}')
  b.event(s, b.string('k1'), 1001)
  b.value(2)
  b.value(3)
  b.attribute(-1)
  b.whole('{"i":1}')
  b.watermark(s, 990)
  t.deepEqual(b.encode(), assemble(parts()))
  const records = decodeBatch(assemble(parts()))
  t.deepEqual(records, [
    { stream: 's', fields: ['a', 'b'], attributeNames: ['z'], key: 'k0', ts: 1000, values: Float64Array.from([1, NaN]), attributes: ['zone'], event: '{"i":0}' },
    { stream: 's', fields: ['a', 'b'], attributeNames: ['z'], key: 'k1', ts: 1001, values: Float64Array.from([2, 3]), attributes: [undefined], event: '{"i":1}' },
    { stream: 's', watermark: 990 },
  ])
})

/** A random batch of up to three streams, and what it should decode to. */
const batches = fc
  .tuple(
    fc.uniqueArray(
      fc.record({
        name: fc.string({ maxLength: 6 }),
        fields: fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
        attributes: fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
        keep: fc.boolean(),
      }),
      { minLength: 1, maxLength: 3, selector: (s) => s.name },
    ),
    fc.array(
      fc.record({
        s: fc.nat(),
        watermark: fc.boolean(),
        key: fc.string({ maxLength: 5 }),
        ts: fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }),
        values: fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(NaN)), { minLength: 3, maxLength: 3 }),
        attributes: fc.array(fc.option(fc.string({ maxLength: 4 }), { nil: undefined }), { minLength: 2, maxLength: 2 }),
      }),
      { maxLength: 20 },
    ),
  )
  .map(([schemas, recs]) => {
    const b = new LogBatch()
    const expected: LogRecord[] = []
    for (const r of recs) {
      const schema = schemas[r.s % schemas.length]
      const s = b.schema(schema)
      if (r.watermark) {
        b.watermark(s, r.ts)
        expected.push({ stream: schema.name, watermark: r.ts })
        continue
      }
      b.event(s, b.string(r.key), r.ts)
      const values = r.values.slice(0, schema.fields.length)
      for (const v of values) b.value(v)
      const attributes = r.attributes.slice(0, schema.attributes.length)
      for (const a of attributes) b.attribute(a === undefined ? -1 : b.string(a))
      const rec: LogRecord = { stream: schema.name, fields: schema.fields, attributeNames: schema.attributes, key: r.key, ts: r.ts, values: Float64Array.from(values), attributes }
      if (schema.keep) {
        rec.event = JSON.stringify({ key: r.key })
        b.whole(rec.event)
      }
      expected.push(rec)
    }
    return { bytes: b.encode(), expected }
  })

test('decodeBatch: any batch the encoder makes decodes to its records, each with its logged schema\'s names', (t) => {
  fc.assert(
    fc.property(batches, ({ bytes, expected }) => {
      assert.deepEqual(decodeBatch(bytes), expected)
      // At an offset inside a larger buffer too (the engine hands out views).
      const inside = new Uint8Array(bytes.length + 16)
      inside.set(bytes, 8)
      assert.deepEqual(decodeBatch(inside.subarray(8, 8 + bytes.length)), expected)
    }),
    { numRuns: 300 },
  )
  t.pass()
})

test('decodeBatch: arbitrary bytes only ever decode or fail with CORRUPT_WAL', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.nat(), (bytes, magic, len) => {
      const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      if (magic && b.length >= 8) {
        b.writeUInt32LE(MAGIC, 0)
        // A plausible header length, so the rest is read too.
        b.writeUInt32LE(len % (b.length - 7), 4)
      }
      const o = decodeOutcome(b)
      assert.ok(o === 'ok' || o === 'CORRUPT_WAL', o)
    }),
    { numRuns: 3000 },
  )
  // JSON headers of every shape, before sensible columns.
  fc.assert(
    fc.property(fc.jsonValue(), (header) => {
      const o = decodeOutcome(assemble(parts({ header })))
      assert.ok(o === 'ok' || o === 'CORRUPT_WAL', o)
    }),
    { numRuns: 1000 },
  )
  t.pass()
})

test('decodeBatch: single-byte changes, truncations and extensions of a batch only ever decode or fail with CORRUPT_WAL', (t) => {
  fc.assert(
    fc.property(batches, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 24 }), ({ bytes }, at, v, extra) => {
      const m = Buffer.from(bytes)
      m[at % m.length] = v
      const o = decodeOutcome(m)
      assert.ok(o === 'ok' || o === 'CORRUPT_WAL', o)
      // The layout fixes the length: a byte less or more is damage.
      assert.equal(decodeOutcome(bytes.subarray(0, Math.max(0, bytes.length - extra))), 'CORRUPT_WAL')
      assert.equal(decodeOutcome(Buffer.concat([bytes, Buffer.alloc(extra)])), 'CORRUPT_WAL')
    }),
    { numRuns: 500 },
  )
  const good = assemble(parts())
  for (let i = 0; i < good.length; i++) {
    for (const v of [0, 0xff, good[i] ^ 1, good[i] ^ 0x80]) {
      const m = Buffer.from(good)
      m[i] = v
      const o = decodeOutcome(m)
      if (o !== 'ok' && o !== 'CORRUPT_WAL') t.fail(`byte ${i} = ${v}: ${o}`)
    }
  }
  t.pass()
})

test('decodeBatch: a header schema must have a string name, arrays of strings for fields and attributes, and a boolean keep', (t) => {
  const refused: [unknown, RegExp][] = [
    [null, /not an object/],
    [[], /not an object/],
    [42, /not an object/],
    [{ strings: [] }, /lacks streams or strings/],
    [{ streams: [SCHEMA], strings: 'abc' }, /lacks streams or strings/],
    [{ streams: [SCHEMA], strings: ['k0', 7] }, /string 1 of the header is not a string/],
    [{ streams: [null], strings: [] }, /stream 0 of the header is not an object/],
    [{ streams: [[1]], strings: [] }, /stream 0 of the header is not an object/],
    [{ streams: [{ ...SCHEMA, name: undefined }], strings: [] }, /no string name/],
    [{ streams: [{ ...SCHEMA, name: 5 }], strings: [] }, /no string name/],
    [{ streams: [{ ...SCHEMA, fields: 'a' }], strings: [] }, /fields that are not an array of strings/],
    [{ streams: [{ ...SCHEMA, fields: ['a', 1] }], strings: [] }, /fields that are not an array of strings/],
    [{ streams: [{ ...SCHEMA, attributes: undefined }], strings: [] }, /attributes that are not an array of strings/],
    [{ streams: [{ ...SCHEMA, attributes: [null] }], strings: [] }, /attributes that are not an array of strings/],
    [{ streams: [{ ...SCHEMA, keep: 'yes' }], strings: [] }, /keep that is not true or false/],
    [{ streams: [{ ...SCHEMA, keep: undefined }], strings: [] }, /keep that is not true or false/],
    [{ streams: [SCHEMA, { ...SCHEMA, fields: [] }], strings: [] }, /names stream 's' twice/],
  ]
  for (const [header, message] of refused) {
    // Even with no record naming the stream: the header itself is damaged.
    const empty = assemble({ header, stream: [], key: [], ts: [], values: [], attributes: [], events: [] })
    t.throws(() => decodeBatch(empty), { instanceOf: WarpError, code: 'CORRUPT_WAL', message }, JSON.stringify(header))
  }
  t.throws(() => decodeBatch(assemble(parts({ headerText: '{"streams": [' }))), { code: 'CORRUPT_WAL', message: /not JSON/ })
  // The hostile review's case: the name's key damaged in place.
  const good = assemble(parts())
  const nameless = Buffer.from(good.toString('latin1').replace('"name":"s"', '"nbme":"s"'), 'latin1')
  t.is(nameless.length, good.length)
  t.throws(() => decodeBatch(nameless), { code: 'CORRUPT_WAL', message: /no string name/ })
  // Other keys are the encoder's business: unknown ones are ignored, the empty name is a name.
  t.is(decodeBatch(assemble(parts({ header: { streams: [{ ...SCHEMA, more: 1 }], strings: ['k0', 'zone', '{"i":0}', 'k1', '{"i":1}'], more: true } }))).length, 3)
  t.is((decodeBatch(assemble(parts({ header: { streams: [{ ...SCHEMA, name: '' }], strings: ['k0', 'zone', '{"i":0}', 'k1', '{"i":1}'] } })))[2] as Loose).stream, '')
})

test('decodeBatch: event times must be whole milliseconds within the storable range, watermarks whole numbers', (t) => {
  for (const ts of [NaN, Infinity, -Infinity, 1000.5, 253_402_300_800_000, -62_167_219_200_001, 2 ** 60]) {
    t.throws(() => decodeBatch(assemble(parts({ ts: [1000, ts, 990] }))), { code: 'CORRUPT_WAL', message: /event record 1 is at/ }, String(ts))
  }
  for (const ts of [-62_167_219_200_000, 253_402_300_799_999, 0]) t.is(decodeBatch(assemble(parts({ ts: [ts, 1001, 990] }))).length, 3)
  for (const w of [NaN, Infinity, -Infinity, 0.25]) {
    t.throws(() => decodeBatch(assemble(parts({ ts: [1000, 1001, w] }))), { code: 'CORRUPT_WAL', message: /watermark record 2/ }, String(w))
  }
  // A watermark is the stream's latest time less its allowed lateness: it may lie before year 0.
  t.deepEqual(decodeBatch(assemble(parts({ ts: [1000, 1001, -1e17] })))[2], { stream: 's', watermark: -1e17 })
})

test('decodeBatch: every index must be inside its table', (t) => {
  const cases: [Partial<Parts>, RegExp][] = [
    [{ stream: [0, 1, -1] }, /names stream 1/],
    [{ stream: [0, 0, -2] }, /names stream -2/],
    [{ stream: [0, 0x7fffffff, -1] }, /names stream 2147483647/],
    [{ stream: [0, 0, -0x80000000] }, /names stream -2147483648/],
    [{ key: [0, 5, -1] }, /key of record 1 is string 5/],
    [{ key: [0, -1, -1] }, /key of record 1 is string -1/],
    [{ key: [0, 3, 0] }, /watermark record 2 has key 0/],
    [{ attributes: [1, -2] }, /attribute is string -2/],
    [{ attributes: [1, 5] }, /attribute is string 5/],
    [{ events: [2, 5] }, /event of record 1 is string 5/],
    [{ events: [-1, 4] }, /event of record 0 is string -1/],
  ]
  for (const [over, message] of cases) t.throws(() => decodeBatch(assemble(parts(over))), { code: 'CORRUPT_WAL', message }, JSON.stringify(over))
})

test('decodeBatch: bytes after the last column, and padding or the reserved word not zero, are damage', (t) => {
  const good = assemble(parts())
  t.is(decodeBatch(good).length, 3)
  for (const extra of [1, 7, 8, 64]) {
    t.throws(() => decodeBatch(Buffer.concat([good, Buffer.alloc(extra)])), { code: 'CORRUPT_WAL', message: new RegExp(`${extra} bytes after the last column`) })
  }
  // A batch of no records is 16 bytes of header and 8 of count: nothing more.
  const none = assemble({ header: { streams: [], strings: [] }, stream: [], key: [], ts: [], values: [], attributes: [], events: [] })
  t.deepEqual(decodeBatch(none), [])
  t.throws(() => decodeBatch(Buffer.concat([none, Buffer.alloc(8)])), { code: 'CORRUPT_WAL', message: /after the last column/ })
  // Padding: of the header (its length is not a multiple of 8 here), after the count, after an odd i32 column.
  const headerLength = good.readUInt32LE(4)
  t.not(headerLength % 8, 0)
  const head = 8 + headerLength + pad(headerLength)
  for (const [at, message] of [
    [8 + headerLength, /header padding/],
    [head + 4, /word after the record count/],
    [head + 8 + 12, /column padding/],
  ] as const) {
    const m = Buffer.from(good)
    m[at] = 1
    t.throws(() => decodeBatch(m), { code: 'CORRUPT_WAL', message }, String(at))
  }
})

test('decodeBatch: huge declared lengths are refused before anything that size is allocated', (t) => {
  const good = assemble(parts())
  const headerLength = good.readUInt32LE(4)
  const head = 8 + headerLength + pad(headerLength)
  for (const [at, v] of [
    [4, 0xffffffff],
    [head, 0xffffffff],
    [head, 0x7fffffff],
  ]) {
    const m = Buffer.from(good)
    m.writeUInt32LE(v, at)
    const start = process.hrtime.bigint()
    t.is(decodeOutcome(m), 'CORRUPT_WAL')
    t.true(process.hrtime.bigint() - start < 50_000_000n, 'at once')
  }
  // Many fields per record, each claimed by a record that is not there.
  const wide = { streams: [{ ...SCHEMA, fields: Array.from({ length: 10_000 }, (_, i) => `f${i}`) }], strings: ['k0', 'zone', '{"i":0}', 'k1', '{"i":1}'] }
  t.throws(() => decodeBatch(assemble(parts({ header: wide }))), { code: 'CORRUPT_WAL', message: /past the end/ })
  t.throws(() => decodeBatch(Buffer.alloc(8)), { code: 'CORRUPT_WAL', message: /bad magic/ })
})

// ---------------------------------------------------------------------------------------------
// Sketch.from and quantile

const sketchOf = (xs: number[]): Sketch => {
  const s = new Sketch()
  for (const x of xs) s.add(x)
  return s
}

test('Sketch: merged in any grouping and order, it is the sketch of every value', (t) => {
  // Small into large, large into small, into itself and empty: every path of the bucket merge.
  const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -300, max: 300 }), fc.constant(0))
  fc.assert(
    fc.property(fc.array(fc.array(value, { maxLength: 200 }), { maxLength: 12 }), fc.nat(), (groups, seed) => {
      const whole = sketchOf(groups.flat()).toJSON()
      // Into one accumulator, in a shuffled order.
      const order = groups.map((_, i) => i).sort((a, b) => ((a * 7919 + seed) % 13) - ((b * 7919 + seed) % 13))
      const acc = new Sketch()
      for (const i of order) acc.merge(sketchOf(groups[i]))
      assert.deepEqual(acc.toJSON(), whole)
      // Pairwise, each into its neighbour, with adds after merges.
      const parts = groups.map(sketchOf)
      for (let step = 1; step < parts.length; step *= 2) for (let i = 0; i + step < parts.length; i += 2 * step) parts[i].merge(parts[i + step])
      if (parts.length > 0) assert.deepEqual(parts[0].toJSON(), whole)
      // Into itself: every count doubles, every quantile stays.
      const twice = sketchOf(groups.flat())
      twice.merge(twice)
      const once = sketchOf(groups.flat())
      assert.equal(twice.count, 2 * once.count)
      for (const q of [0, 0.25, 0.5, 0.9, 1]) assert.ok(Object.is(twice.quantile(q), once.quantile(q)))
    }),
    { numRuns: 300 },
  )
  t.pass()
})

test('Sketch.from: what toJSON saved, through JSON, is the same sketch', (t) => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -1000, max: 1000 }), fc.constant(0))), (xs) => {
      const s = sketchOf(xs)
      const back = Sketch.from(JSON.parse(JSON.stringify(s.toJSON())))
      assert.equal(back.count, xs.length)
      for (const q of [0, 0.1, 0.5, 0.99, 1]) assert.ok(Object.is(back.quantile(q), s.quantile(q)))
      assert.deepEqual(back.toJSON(), s.toJSON())
    }),
    { numRuns: 300 },
  )
  // The extreme buckets `add` makes are within the bound.
  const extreme = sketchOf([Number.MAX_VALUE, -Number.MAX_VALUE, 1e-300, -1e-300, Number.MIN_VALUE])
  const back = Sketch.from(JSON.parse(JSON.stringify(extreme.toJSON())))
  t.is(back.count, 5)
  t.is(back.quantile(1), extreme.quantile(1))
  t.is(back.quantile(0), extreme.quantile(0))
  // One past the top bucket, on either side, is not a bucket `add` makes.
  const top = Math.max(...extreme.toJSON().p.map(([i]) => i))
  t.is(top, Math.max(...extreme.toJSON().n.map(([i]) => i)))
  t.is(Sketch.from({ z: 0, p: [[-top, 1]], n: [[top, 1]] }).count, 2)
  for (const i of [top + 1, -top - 1]) {
    t.throws(() => Sketch.from({ z: 0, p: [[i, 1]], n: [] }), { code: 'CORRUPT_CHECKPOINT', message: /bucket index/ })
    t.throws(() => Sketch.from({ z: 0, p: [], n: [[i, 1]] }), { code: 'CORRUPT_CHECKPOINT', message: /bucket index/ })
  }
})

test('Sketch.from: states it did not write are CORRUPT_CHECKPOINT', (t) => {
  const bad: [unknown, RegExp][] = [
    [null, /not an object/],
    [undefined, /not an object/],
    [[], /not an object/],
    ['z', /not an object/],
    [{}, /zero count/],
    [{ z: 'a', p: [[1, 2]], n: [] }, /zero count/],
    [{ z: -5, p: [], n: [] }, /zero count/],
    [{ z: 1.5, p: [], n: [] }, /zero count/],
    [{ z: 2 ** 53, p: [], n: [] }, /zero count/],
    [{ z: 0, n: [] }, /positive buckets/],
    [{ z: 0, p: {}, n: [] }, /positive buckets/],
    [{ z: 0, p: [], n: 'abc' }, /negative buckets/],
    [{ z: 0, p: [1, 2], n: [] }, /not an \[index, count\] pair/],
    [{ z: 0, p: [[1]], n: [] }, /not an \[index, count\] pair/],
    [{ z: 0, p: [[1, 2, 3]], n: [] }, /not an \[index, count\] pair/],
    [{ z: 0, p: [['x', 1]], n: [] }, /bucket index/],
    [{ z: 0, p: [[null, 1]], n: [] }, /bucket index/],
    [{ z: 0, p: [[1.5, 1]], n: [] }, /bucket index/],
    [{ z: -5, p: [[1e300, 2]], n: [] }, /zero count/],
    [{ z: 0, p: [[1e300, 2]], n: [] }, /bucket index/],
    [{ z: 0, p: [], n: [[-40_000, 2]] }, /bucket index/],
    [{ z: 0, p: [[1, -3]], n: [] }, /count of/],
    [{ z: 0, p: [[1, 0]], n: [] }, /count of/],
    [{ z: 0, p: [[1, 0.5]], n: [] }, /count of/],
    [{ z: 0, p: [[1, '2']], n: [] }, /count of/],
    [{ z: 0, p: [[1, 2 ** 53]], n: [] }, /count of/],
    [{ z: 0, p: [[1, 1], [1, 1]], n: [] }, /appears twice/],
    [{ z: 0, p: [], n: [[-3, 1], [-3, 2]] }, /appears twice/],
    [{ z: 2 ** 52, p: [[1, 2 ** 52]], n: [] }, /past the largest safe integer/],
  ]
  for (const [state, message] of bad) t.throws(() => Sketch.from(state as SketchState), { instanceOf: WarpError, code: 'CORRUPT_CHECKPOINT', message }, JSON.stringify(state))
  // The same index in p and n is two buckets, not one twice.
  t.is(Sketch.from({ z: 1, p: [[3, 2]], n: [[3, 4]] }).count, 7)
})

const sane = (s: Sketch): void => {
  assert.ok(Number.isSafeInteger(s.count) && s.count >= 0)
  for (const q of [0, 0.5, 1]) {
    const v = s.quantile(q)
    // (The top bucket's representative, ≈ γ · Number.MAX_VALUE, is Infinity: as for `add(Number.MAX_VALUE)`.)
    assert.ok(s.count === 0 ? Number.isNaN(v) : !Number.isNaN(v), `quantile ${q} of a sketch of ${s.count}: ${v}`)
  }
}

test('Sketch.from: arbitrary values and changed states give a sane sketch or CORRUPT_CHECKPOINT', (t) => {
  const attempt = (state: unknown): void => {
    let s: Sketch
    try {
      s = Sketch.from(state as SketchState)
    } catch (e) {
      assert.ok(e instanceof WarpError && e.code === 'CORRUPT_CHECKPOINT', String(e))
      return
    }
    sane(s)
  }
  fc.assert(fc.property(fc.anything(), attempt), { numRuns: 1000 })
  const pairs = fc.array(fc.tuple(fc.oneof(fc.integer({ min: -40_000, max: 40_000 }), fc.jsonValue()), fc.oneof(fc.integer({ min: -3, max: 1e6 }), fc.jsonValue())), { maxLength: 6 })
  fc.assert(fc.property(fc.record({ z: fc.oneof(fc.nat(), fc.jsonValue()), p: pairs, n: pairs }), attempt), { numRuns: 2000 })
  t.pass()
})

test('Sketch.quantile refuses q outside [0, 1] with INVALID_ARGUMENT', (t) => {
  const s = sketchOf([1, 2, 3])
  for (const q of [-0.01, 1.01, NaN, Infinity, -Infinity, '0.5' as unknown as number, undefined as unknown as number]) {
    t.throws(() => s.quantile(q), { instanceOf: WarpError, code: 'INVALID_ARGUMENT', message: /quantile must be a number from 0 to 1/ }, String(q))
    t.throws(() => new Sketch().quantile(q), { code: 'INVALID_ARGUMENT' }, `${q} of an empty sketch`)
  }
  t.is(s.quantile(0), sketchOf([1]).quantile(0.5))
  t.is(s.quantile(1), sketchOf([3]).quantile(0.5))
  t.true(Number.isNaN(new Sketch().quantile(0.5)))
})

// ---------------------------------------------------------------------------------------------
// Aggregates.fromJSON

const LIST: Reducer<number[], number[]> = { init: () => [], add: (a, v) => [...a, v ?? 0], merge: (a, b) => [...a, ...b], result: (a) => a }
const SPEC = {
  n: 'count',
  sum: { sum: 'v' },
  avg: { avg: 'v' },
  lo: { min: 'v' },
  hi: { max: 'v' },
  first: { first: 'v' },
  sd: { stddev: 'v' },
  med: { median: 'v' },
  p9: { percentile: 0.9, of: 'v' },
  list: { reduce: LIST, of: 'v' },
}

test('Aggregates.fromJSON: what toJSON saved, through JSON, has the same results, non-finite slots included', (t) => {
  const aggs = new Aggregates(SPEC)
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1e6 }), fc.option(fc.integer({ min: -1e6, max: 1e6 }), { nil: undefined })), { maxLength: 30 }), (events) => {
      const acc = aggs.empty()
      for (const [ts, v] of events) aggs.add(acc, ts, v === undefined ? {} : { v })
      const back = aggs.fromJSON(JSON.parse(JSON.stringify(aggs.toJSON(acc))))
      assert.deepEqual(aggs.result(back), aggs.result(acc))
      assert.deepEqual(Array.from(back.s), Array.from(acc.s))
      assert.equal(back.n, acc.n)
    }),
    { numRuns: 300 },
  )
  // An empty accumulator holds Infinity, -Infinity and NaN slots (min, max, first).
  const empty = aggs.toJSON(aggs.empty()) as { s: unknown[] }
  t.true(['Infinity', '-Infinity', 'NaN'].every((x) => empty.s.includes(x)))
  t.deepEqual(Array.from(aggs.fromJSON(JSON.parse(JSON.stringify(empty))).s), Array.from(aggs.empty().s))
  // Aggregates without sketches or custom states.
  const plain = new Aggregates({ n: 'count' })
  t.deepEqual(plain.fromJSON({ n: 3, s: [3], k: [], c: [] }), { n: 3, s: Float64Array.from([3]), k: [], c: [] })
})

test('Aggregates.fromJSON: states of another shape are CORRUPT_CHECKPOINT', (t) => {
  const aggs = new Aggregates({ n: 'count', p: { median: 'v' }, lo: { min: 'v' }, list: { reduce: LIST } })
  const good = JSON.parse(JSON.stringify(aggs.toJSON(aggs.empty())))
  t.deepEqual(good, { n: 0, s: [0, 'Infinity'], k: [{ z: 0, p: [], n: [] }], c: [[]] })
  t.is(aggs.fromJSON(good).n, 0)
  const bad: [unknown, RegExp][] = [
    [null, /not an object/],
    [undefined, /not an object/],
    [[], /not an object/],
    [7, /not an object/],
    [{}, /event count/],
    [{ ...good, n: -1 }, /event count/],
    [{ ...good, n: 1.5 }, /event count/],
    [{ ...good, n: 'x' }, /event count/],
    [{ ...good, n: 2 ** 53 }, /event count/],
    [{ ...good, s: 'abc' }, /number slots are string abc, not an array of 2/],
    [{ ...good, s: [0] }, /number slots are an array of 1, not an array of 2/],
    [{ ...good, s: [0, 'Infinity', 0] }, /number slots/],
    [{ ...good, s: [0, 'inf'] }, /number slot 1 is string inf/],
    [{ ...good, s: [null, 1] }, /number slot 0 is null/],
    [{ ...good, s: [0, {}] }, /number slot 1 is an object/],
    [{ ...good, s: ['1', 0] }, /number slot 0 is string 1/],
    [{ ...good, k: [] }, /sketches are an array of 0, not an array of 1/],
    [{ ...good, k: null }, /sketches/],
    [{ ...good, k: [{ z: 0, p: [[1, -3]], n: [] }] }, /percentile sketch/],
    [{ ...good, k: ['x'] }, /percentile sketch/],
    [{ ...good, c: [] }, /custom states are an array of 0, not an array of 1/],
    [{ ...good, c: {} }, /custom states/],
  ]
  for (const [state, message] of bad) t.throws(() => aggs.fromJSON(state), { instanceOf: WarpError, code: 'CORRUPT_CHECKPOINT', message }, JSON.stringify(state))
  // The hostile review's cases, against its aggregates.
  const review = new Aggregates({ n: 'count', p: { median: 'v' } })
  for (const state of [null, {}, { n: 1, s: [1], k: [], c: [] }, { n: 'x', s: 'abc', k: [{ z: 0, p: [], n: [] }], c: [] }]) {
    t.throws(() => review.fromJSON(state), { code: 'CORRUPT_CHECKPOINT' }, JSON.stringify(state))
  }
})

/** `value` with the thing at a random path of it replaced by `by`. */
function replaceAt(value: unknown, path: number, by: unknown): unknown {
  const slots: [Loose, string | number][] = []
  const walk = (v: unknown) => {
    if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        slots.push([v, Array.isArray(v) ? Number(k) : k])
        walk((v as Loose)[k])
      }
    }
  }
  const copy = structuredClone(value)
  walk(copy)
  if (slots.length === 0) return by
  const [parent, key] = slots[path % slots.length]
  parent[key] = by
  return copy
}

test('Aggregates.fromJSON: arbitrary values and changed states give usable accumulators or CORRUPT_CHECKPOINT', (t) => {
  // No custom reducer: its state is whatever JSON the reducer wrote, which only it can check.
  const aggs = new Aggregates({ n: 'count', avg: { avg: 'v' }, lo: { min: 'v' }, last: { last: 'v' }, p: { percentile: 0.5, of: 'v' }, q: { median: 'w' } })
  const acc = aggs.empty()
  for (let i = 0; i < 20; i++) aggs.add(acc, i, { v: i * 3 - 20, w: i })
  const good = JSON.parse(JSON.stringify(aggs.toJSON(acc)))
  const attempt = (state: unknown): void => {
    let back
    try {
      back = aggs.fromJSON(state)
    } catch (e) {
      assert.ok(e instanceof WarpError && e.code === 'CORRUPT_CHECKPOINT', String(e))
      return
    }
    // Usable: results, merges and another round trip work.
    aggs.result(back)
    const merged = aggs.copy(back)
    aggs.merge(merged, acc)
    aggs.add(merged, 100, { v: 1, w: 1 })
    aggs.result(merged)
    for (const k of back.k) sane(k)
    aggs.fromJSON(JSON.parse(JSON.stringify(aggs.toJSON(back))))
  }
  fc.assert(fc.property(fc.anything(), attempt), { numRuns: 1000 })
  fc.assert(
    fc.property(fc.nat(), fc.oneof(fc.jsonValue(), fc.integer(), fc.constantFrom('Infinity', '-Infinity', 'NaN', 'inf', -1, 0.5, 2 ** 53)), (path, by) => attempt(replaceAt(good, path, by))),
    { numRuns: 3000 },
  )
  t.pass()
})
