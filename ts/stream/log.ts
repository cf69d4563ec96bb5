import { WarpError } from '../errors'

/** What the log needs to know of a stream to encode and decode its records. */
export interface LogSchema {
  name: string
  fields: readonly string[]
  attributes: readonly string[]
  /** Whether whole events are kept (as JSON). */
  keep: boolean
}

/** One decoded record: an event of a stream, or a watermark the stream reached without one (idle). */
export type LogRecord =
  | { stream: string; key: string; ts: number; values: Float64Array; attributes: (string | undefined)[]; event?: string }
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

  get size(): number {
    return this.stream.length
  }

  /** The index of `s` in this batch's string table. */
  string(s: string): number {
    let i = this.stringIndex.get(s)
    if (i === undefined) {
      i = this.strings.push(s) - 1
      this.stringIndex.set(s, i)
    }
    return i
  }

  schema(schema: LogSchema): number {
    let i = this.schemaIndex.get(schema.name)
    if (i === undefined) {
      i = this.schemas.push(schema) - 1
      this.schemaIndex.set(schema.name, i)
    }
    return i
  }

  /** Starts an event record; its values (one per field, NaN when absent) and attributes
   * (string indices, −1 when absent) follow through `value` and `attribute`. */
  event(schema: number, key: number, ts: number): void {
    this.stream.push(schema)
    this.key.push(key)
    this.ts.push(ts)
  }

  value(v: number): void {
    this.values.push(v)
  }

  attribute(i: number): void {
    this.attributes.push(i)
  }

  whole(json: string): void {
    this.events.push(this.string(json))
  }

  watermark(schema: number, wm: number): void {
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
  }
}

/** The records of an encoded batch, in order. Any inconsistency is `CORRUPT_WAL`: the log rides in the WAL. */
export function decodeBatch(buf: Uint8Array): LogRecord[] {
  const fail = (why: string): never => {
    throw new WarpError('CORRUPT_WAL', `a stream log batch is damaged: ${why}`)
  }
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (bytes.length < 16 || bytes.readUInt32LE(0) !== MAGIC) fail('bad magic')
  const pad = (n: number) => (8 - (n % 8)) % 8
  const headerLength = bytes.readUInt32LE(4)
  const head = 8 + headerLength + pad(headerLength)
  if (head + 8 > bytes.length) fail('header past the end')
  let header: { streams: LogSchema[]; strings: string[] }
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString())
  } catch {
    return fail('header is not JSON')
  }
  const { streams, strings } = header
  if (!Array.isArray(streams) || !Array.isArray(strings)) fail('header lacks streams or strings')
  const n = bytes.readUInt32LE(head)
  let at = head + 8
  const take = <A>(Kind: { new (b: ArrayBuffer): A; BYTES_PER_ELEMENT: number }, count: number): A => {
    const length = count * Kind.BYTES_PER_ELEMENT
    if (!Number.isSafeInteger(length) || at + length > bytes.length) fail('a column runs past the end')
    const copy = new Uint8Array(length)
    copy.set(bytes.subarray(at, at + length))
    at += length + pad(length)
    return new Kind(copy.buffer)
  }
  const stream = take(Int32Array, n)
  const key = take(Int32Array, n)
  const ts = take(Float64Array, n)
  const schemaOf = (i: number): LogSchema => {
    const s = streams[i < 0 ? -1 - i : i]
    if (!s || !Array.isArray(s.fields) || !Array.isArray(s.attributes)) fail(`record names stream ${i}, which the header lacks`)
    return s
  }
  let valueCount = 0
  let attributeCount = 0
  let eventCount = 0
  for (let r = 0; r < n; r++) {
    if (stream[r] < 0) continue
    const s = schemaOf(stream[r])
    valueCount += s.fields.length
    attributeCount += s.attributes.length
    if (s.keep) eventCount++
  }
  const values = take(Float64Array, valueCount)
  const attributes = take(Int32Array, attributeCount)
  const events = take(Int32Array, eventCount)
  const text = (i: number): string => (typeof strings[i] === 'string' ? strings[i] : fail(`string ${i} is missing`))
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
      key: text(key[r]),
      ts: ts[r],
      values: values.subarray(v, (v += s.fields.length)),
      attributes: Array.from(attributes.subarray(a, (a += s.attributes.length)), (i) => (i < 0 ? undefined : text(i))),
    }
    if (s.keep) record.event = text(events[e++])
    out.push(record)
  }
  return out
}
