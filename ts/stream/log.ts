import native = require('../native')
import { WarpError } from '../errors'
import { storable } from '../series'

/** What the log needs to know of a stream to encode and decode its records. */
export interface LogSchema {
  name: string
  fields: readonly string[]
  attributes: readonly string[]
  /** Whether whole events are kept (as JSON). */
  keep: boolean
}

/**
 * One decoded record: an event of a stream, or a watermark the stream reached without one (idle).
 * An event record's `values` follow `fields` and its `attributes` (values) follow
 * `attributeNames`: the names of the schema it was logged with, which need not be the stream's
 * current ones (its fields may have been reordered, added or removed since).
 */
export type LogRecord =
  | {
      stream: string
      key: string
      ts: number
      /** The logged schema's field names, in the order of `values`. */
      fields: readonly string[]
      /** The logged schema's attribute names, in the order of `attributes`. */
      attributeNames: readonly string[]
      /** One per field, NaN when absent. */
      values: Float64Array
      /** One per attribute name, undefined when absent. */
      attributes: (string | undefined)[]
      event?: string
    }
  | { stream: string; watermark: number }

const MAGIC = 0x314c5357 // "WSL1"

/** A growable typed array. */
class Column<A extends Float64Array | Int32Array> {
  length = 0
  constructor(public data: A) {}
  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new (this.data.constructor as new (n: number) => A)(this.data.length * 2)
      grown.set(this.data)
      this.data = grown
    }
    this.data[this.length++] = v
  }
  view(): A {
    return this.data.subarray(0, this.length) as A
  }
  clear(): void {
    this.length = 0
  }
}

/**
 * A batch of the stream log being built: every accepted event of every stream that has
 * stateful operators, and every idle watermark, in arrival order. Columns of numbers plus one
 * string table, so logging costs a few array stores per event rather than a JSON encoding.
 * Layout (little-endian): magic, header length, header JSON ({ streams, strings }), record
 * count, then the columns stream, key, ts, values, attributes, events (see docs/streams.md).
 */
/** A log batch is one event in the WAL, so it holds at most what an event may. */
export const LOG_BATCH_BYTES = native.MAX_EVENT_BYTES

/** An empty batch's bytes: magic, lengths, the header's braces and the columns' padding. */
export const EMPTY_BYTES = 128

/** At most the bytes of `s` in the header's JSON: a UTF-16 unit takes at most 6 (a `\u` escape). */
export const stringBytes = (s: string): number => 6 * s.length + 3

export class LogBatch {
  private readonly schemas: LogSchema[] = []
  private readonly schemaIndex = new Map<string, number>()
  private readonly strings: string[] = []
  private readonly stringIndex = new Map<string, number>()
  private readonly stream = new Column(new Int32Array(1024))
  private readonly key = new Column(new Int32Array(1024))
  private readonly ts = new Column(new Float64Array(1024))
  private readonly values = new Column(new Float64Array(4096))
  private readonly attributes = new Column(new Int32Array(1024))
  private readonly events = new Column(new Int32Array(256))
  /** Bumped at every `clear`, so callers can cache string indices per batch. */
  generation = 0
  /** At least the encoded size (see `stringBytes`): what keeps a batch within one event. */
  bytes = EMPTY_BYTES

  get size(): number {
    return this.stream.length
  }

  /** The index of `s` in this batch's string table. */
  string(s: string): number {
    let i = this.stringIndex.get(s)
    if (i === undefined) {
      i = this.strings.push(s) - 1
      this.stringIndex.set(s, i)
      this.bytes += stringBytes(s)
    }
    return i
  }

  schema(schema: LogSchema): number {
    let i = this.schemaIndex.get(schema.name)
    if (i === undefined) {
      i = this.schemas.push(schema) - 1
      this.schemaIndex.set(schema.name, i)
      this.bytes += 3 * JSON.stringify(schema).length + 1
    }
    return i
  }

  /** Starts an event record; its values (one per field, NaN when absent) and attributes
   * (string indices, −1 when absent) follow through `value` and `attribute`. */
  event(schema: number, key: number, ts: number): void {
    this.bytes += 16
    this.stream.push(schema)
    this.key.push(key)
    this.ts.push(ts)
  }

  value(v: number): void {
    this.bytes += 8
    this.values.push(v)
  }

  attribute(i: number): void {
    this.bytes += 4
    this.attributes.push(i)
  }

  whole(json: string): void {
    this.bytes += 4
    this.events.push(this.string(json))
  }

  watermark(schema: number, wm: number): void {
    this.bytes += 16
    this.stream.push(-1 - schema)
    this.key.push(-1)
    this.ts.push(wm)
  }

  encode(): Buffer {
    const header = Buffer.from(JSON.stringify({ streams: this.schemas, strings: this.strings }))
    const pad = (n: number) => (8 - (n % 8)) % 8
    const head = 8 + header.length + pad(header.length)
    const cols = [this.stream.view(), this.key.view(), this.ts.view(), this.values.view(), this.attributes.view(), this.events.view()]
    let size = head + 8
    for (const c of cols) size += c.byteLength + pad(c.byteLength)
    const out = Buffer.alloc(size)
    out.writeUInt32LE(MAGIC, 0)
    out.writeUInt32LE(header.length, 4)
    header.copy(out, 8)
    out.writeUInt32LE(this.stream.length, head)
    let at = head + 8
    for (const c of cols) {
      out.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at)
      at += c.byteLength + pad(c.byteLength)
    }
    return out
  }

  clear(): void {
    this.schemas.length = 0
    this.schemaIndex.clear()
    this.strings.length = 0
    this.stringIndex.clear()
    for (const c of [this.stream, this.key, this.ts, this.values, this.attributes, this.events]) c.clear()
    this.generation++
    this.bytes = EMPTY_BYTES
  }
}

/**
 * The records of an encoded batch, in order. Any inconsistency is `CORRUPT_WAL` (the log rides
 * in the WAL): a bad magic, a header that is not `{ streams, strings }` with well-formed
 * schemas (a string `name`, `fields` and `attributes` arrays of strings, a boolean `keep`, no
 * name twice) and a table of strings, a column past the end, bytes after the last column or
 * padding that is not zero, an index outside the tables, an event time that is not whole
 * milliseconds within the storable range or a watermark that is not a whole number. Each event
 * record carries the field and attribute names of the schema it was logged with (shared by the
 * batch's records of that stream), so a replay can map its values by name.
 */
export function decodeBatch(buf: Uint8Array): LogRecord[] {
  const fail = (why: string): never => {
    throw new WarpError('CORRUPT_WAL', `a stream log batch is damaged: ${why}`)
  }
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (bytes.length < 16 || bytes.readUInt32LE(0) !== MAGIC) fail('bad magic')
  const pad = (n: number) => (8 - (n % 8)) % 8
  /** Padding the encoder wrote as zeros: anything else is damage. */
  const zeros = (from: number, to: number, what: string): void => {
    for (let i = from; i < to; i++) if (bytes[i] !== 0) fail(`${what} is not zero`)
  }
  const headerLength = bytes.readUInt32LE(4)
  const head = 8 + headerLength + pad(headerLength)
  if (head + 8 > bytes.length) fail('header past the end')
  zeros(8 + headerLength, head, 'the header padding')
  let header: unknown
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString())
  } catch {
    return fail('header is not JSON')
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return fail('header is not an object')
  const { streams, strings } = header as { streams: unknown; strings: unknown[] }
  if (!Array.isArray(streams) || !Array.isArray(strings)) return fail('header lacks streams or strings')
  for (let i = 0; i < strings.length; i++) if (typeof strings[i] !== 'string') fail(`string ${i} of the header is not a string`)
  const schemas = streams.map(checkSchema(fail))
  const names = new Set<string>()
  for (const s of schemas) {
    if (names.has(s.name)) fail(`the header names stream '${s.name}' twice`)
    names.add(s.name)
  }
  const n = bytes.readUInt32LE(head)
  zeros(head + 4, head + 8, 'the word after the record count')
  let at = head + 8
  const take = <A>(Kind: { new (b: ArrayBuffer): A; BYTES_PER_ELEMENT: number }, count: number): A => {
    const length = count * Kind.BYTES_PER_ELEMENT
    if (!Number.isSafeInteger(length) || at + length + pad(length) > bytes.length) fail('a column runs past the end')
    const copy = new Uint8Array(length)
    copy.set(bytes.subarray(at, at + length))
    zeros(at + length, at + length + pad(length), 'a column padding')
    at += length + pad(length)
    return new Kind(copy.buffer)
  }
  const stream = take(Int32Array, n)
  const key = take(Int32Array, n)
  const ts = take(Float64Array, n)
  const schemaOf = (i: number): LogSchema => schemas[i < 0 ? -1 - i : i] ?? fail(`record names stream ${i}, which the header lacks`)
  let valueCount = 0
  let attributeCount = 0
  let eventCount = 0
  for (let r = 0; r < n; r++) {
    const s = schemaOf(stream[r])
    if (stream[r] < 0) {
      if (key[r] !== -1) fail(`watermark record ${r} has key ${key[r]}, not −1`)
      if (!Number.isInteger(ts[r])) fail(`watermark record ${r} is at ${ts[r]}, not a whole number`)
      continue
    }
    if (!storable(ts[r])) fail(`event record ${r} is at ${ts[r]}, not whole milliseconds from year 0 to 9999`)
    valueCount += s.fields.length
    attributeCount += s.attributes.length
    if (s.keep) eventCount++
  }
  const values = take(Float64Array, valueCount)
  const attributes = take(Int32Array, attributeCount)
  const events = take(Int32Array, eventCount)
  if (at !== bytes.length) fail(`${bytes.length - at} bytes after the last column`)
  const text = (i: number, what: string): string => (typeof strings[i] === 'string' ? (strings[i] as string) : fail(`${what} is string ${i}, which the header lacks`))
  const attribute = (i: number): string | undefined => (i === -1 ? undefined : text(i, 'an attribute'))
  const out: LogRecord[] = []
  let v = 0
  let a = 0
  let e = 0
  for (let r = 0; r < n; r++) {
    const s = schemaOf(stream[r])
    if (stream[r] < 0) {
      out.push({ stream: s.name, watermark: ts[r] })
      continue
    }
    const record: LogRecord = {
      stream: s.name,
      fields: s.fields,
      attributeNames: s.attributes,
      key: text(key[r], `the key of record ${r}`),
      ts: ts[r],
      values: values.subarray(v, (v += s.fields.length)),
      attributes: Array.from(attributes.subarray(a, (a += s.attributes.length)), attribute),
    }
    if (s.keep) record.event = text(events[e++], `the event of record ${r}`)
    out.push(record)
  }
  return out
}

/** A header schema, checked: what the encoder writes (`LogSchema`), frozen as records share it. */
const checkSchema =
  (fail: (why: string) => never) =>
  (s: unknown, i: number): LogSchema => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) return fail(`stream ${i} of the header is not an object`)
    const { name, fields, attributes, keep } = s as Record<string, unknown>
    if (typeof name !== 'string') return fail(`stream ${i} of the header has no string name`)
    const names = (v: unknown, what: string): readonly string[] =>
      Array.isArray(v) && v.every((x) => typeof x === 'string') ? Object.freeze([...(v as string[])]) : fail(`stream '${name}' has ${what} that are not an array of strings`)
    if (typeof keep !== 'boolean') return fail(`stream '${name}' has a keep that is not true or false`)
    return { name, fields: names(fields, 'fields'), attributes: names(attributes, 'attributes'), keep }
  }
