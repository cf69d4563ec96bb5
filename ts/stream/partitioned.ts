import * as path from 'node:path'
import { MessageChannel, MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads'
import { WarpError } from '../errors'
import { Aggregates } from './aggregates'
import type { Emitter, Operator, ResultCodec, StreamEvent } from './operator'
import { firstAtLeast } from './search'
import { CheckedWindow, MAX_WORKERS, WindowResult, windowCodec } from './window'

/** Calls (events and watermarks) per batch handed to the workers. */
const BATCH = 4096
/** Batches handed out and not yet answered by every worker before the stream's thread waits. */
const IN_FLIGHT = 4
/** How long the stream's thread waits for its workers before that is an error. */
const WAIT_MS = 60_000
/** Keys numbered before the numbering starts again (so churning keys do not grow it for ever). */
const KEY_TABLE = 1 << 18

/**
 * A batch for one worker: its events and every watermark, each with its call's number in the
 * batch (`at`). `keys[i]` numbers the event's key (−1: a watermark `ts[i]`); the keys numbered
 * in this batch are `added`, after those of earlier batches (all of them forgotten first when
 * `renumber`). `values` holds the aggregated fields of each event (NaN: not a number).
 */
export interface Batch {
  type: 'batch'
  id: number
  count: number
  at: Int32Array
  keys: Int32Array
  ts: Float64Array
  values: Float64Array
  added: string[]
  renumber: boolean
}

export type ToWorker = Batch | { type: 'snapshot' } | { type: 'restore'; state: unknown }

/**
 * A worker's outputs for a batch, `OUTPUT_WIDTH + aggregates` numbers each: the call that made
 * it, flags (`BY_WATERMARK`: a watermark made it, closing its window; `FINAL`; `LATE`: an event
 * dropped as too late, nothing else set), then the result: start, end, count, revision, kind
 * (index in `KINDS`), and each aggregate (NaN: null); `keys` has each output's key ('' if late).
 */
export type FromWorker =
  | { type: 'done'; id: number; outputs: Float64Array; keys: string[] }
  | { type: 'state'; state: unknown }
  | { type: 'restored' }
  | { type: 'error'; message: string }

export const OUTPUT_WIDTH = 7
export const BY_WATERMARK = 1
export const FINAL = 2
export const LATE = 4
export const KINDS: WindowResult['kind'][] = ['update', 'close', 'late']

/** What a worker is started with. */
export interface WorkerSetup {
  port: MessagePort
  /** [0]: answers posted (waited on); [1 + i]: worker i has stopped. */
  signal: SharedArrayBuffer
  /** This worker's number, of `workers`. */
  index: number
  workers: number
  spec: CheckedWindow
  fields: string[]
}

/** The worker of a key: FNV-1a of its UTF-16 code units, so every process splits keys alike. */
export function partitionOf(key: string, workers: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % workers
}

/** One worker, the keys it was sent (by number), and the part of the current batch that goes to it. */
class Part {
  count = 0
  at = new Int32Array(BATCH)
  keys = new Int32Array(BATCH)
  ts = new Float64Array(BATCH)
  values: Float64Array
  /** Keys numbered for this worker (it learns them from `added`). */
  names = 0
  added: string[] = []
  renumber = false
  /** The answer to a snapshot or restore, when one came. */
  control: FromWorker | null = null

  constructor(
    readonly worker: Worker,
    readonly port: MessagePort,
    private readonly width: number,
  ) {
    this.values = new Float64Array(BATCH * width)
  }

  /** Hands its part of batch `id` over (its arrays move to the worker) and starts the next. */
  send(id: number): void {
    const { at, keys, ts, values } = this
    const batch: Batch = { type: 'batch', id, count: this.count, at, keys, ts, values, added: this.added, renumber: this.renumber }
    this.port.postMessage(batch, [at.buffer as ArrayBuffer, keys.buffer as ArrayBuffer, ts.buffer as ArrayBuffer, values.buffer as ArrayBuffer])
    this.count = 0
    this.at = new Int32Array(BATCH)
    this.keys = new Int32Array(BATCH)
    this.ts = new Float64Array(BATCH)
    this.values = new Float64Array(BATCH * this.width)
    this.added = []
    this.renumber = false
  }
}

/** A batch handed out: the events it held (late ones go out as they came), its watermark calls, and the answers in so far. */
interface Sent {
  id: number
  events: (StreamEvent | undefined)[]
  /** The batch's watermark calls, in order (watermarks only rise), and their numbers. */
  wms: number[]
  wmAt: number[]
  outputs: (Float64Array | undefined)[]
  keys: string[][]
  missing: number
}

/**
 * A tumbling, sliding or session window whose keys are split over worker threads: each key
 * always goes to the same worker, in arrival order, so per-key order holds and each worker
 * runs the window of its keys as the stream's own thread would. The stream's thread routes
 * events in batches (with every watermark, to every worker) and merges the answers in an
 * order that depends only on the input: by the call that caused each result (for a window
 * a watermark closed, the first watermark past its end), then, among windows one watermark
 * closed, by end and key. A worker's own order among its keys is never used, so neither the
 * batching nor the number of workers changes it: result n is the same result after a crash.
 *
 * Only declarative aggregates run in workers (a custom reducer's functions cannot be sent),
 * so every result is numbers, and it comes back as numbers.
 */
export class PartitionedWindows implements Operator {
  readonly name: string
  readonly aggregates: Aggregates
  readonly codec: ResultCodec
  private readonly parts: Part[]
  private readonly fields: string[]
  private readonly signal: Int32Array
  /** Each key's worker and number there: `number · MAX_WORKERS + worker`. */
  private route = new Map<string, number>()
  private calls = 0
  private events: (StreamEvent | undefined)[] = []
  private wms: number[] = []
  private wmAt: number[] = []
  /** Per worker: whether its last entry in the current batch is a watermark (a newer one replaces it). */
  private readonly lastWasWatermark: boolean[]
  private nextId = 0
  private readonly sent: Sent[] = []
  private scheduled = false
  private failure: WarpError | null = null

  constructor(
    readonly spec: CheckedWindow,
    private readonly out: Emitter<WindowResult>,
    /** Keys numbered before the numbering starts again (smaller in tests, to exercise it). */
    private readonly keyTable = KEY_TABLE,
  ) {
    this.name = spec.name
    this.aggregates = new Aggregates(spec.aggregate)
    if (this.aggregates.custom !== undefined) {
      throw new WarpError('INVALID_ARGUMENT', `window workers need declarative aggregates: '${this.aggregates.custom}' is a custom reducer, whose functions cannot be sent to a worker thread`)
    }
    this.codec = windowCodec(spec.name, this.aggregates.names) as ResultCodec
    this.fields = this.aggregates.fields
    const n = spec.workers
    this.signal = new Int32Array(new SharedArrayBuffer(4 * (1 + n)))
    this.lastWasWatermark = new Array<boolean>(n).fill(false)
    this.parts = Array.from({ length: n }, (_, index) => {
      const { port1, port2 } = new MessageChannel()
      const setup: WorkerSetup = { port: port2, signal: this.signal.buffer as SharedArrayBuffer, index, workers: n, spec: { ...spec, workers: 0 }, fields: this.fields }
      const worker = startWorker(setup, [port2])
      worker.unref()
      worker.on('error', (e) => (this.failure ??= new WarpError('INTERNAL', `worker ${index} of window '${this.name}' failed: ${e.message}`, { cause: e })))
      port1.on('message', (m: FromWorker) => this.receive(index, m))
      // Idle workers do not keep the process alive; a worker with a batch to answer does (see `send`).
      port1.unref()
      return new Part(worker, port1, this.fields.length)
    })
  }

  onEvent(_input: number, e: StreamEvent): void {
    if (this.failure) throw this.failure
    let route = this.route.get(e.key)
    if (route === undefined) route = this.number(e.key)
    const w = route % MAX_WORKERS
    const p = this.parts[w]
    const i = p.count++
    p.at[i] = this.calls
    p.keys[i] = (route - w) / MAX_WORKERS
    p.ts[i] = e.ts
    const width = this.fields.length
    for (let f = 0; f < width; f++) {
      const v = e.event[this.fields[f]]
      p.values[i * width + f] = typeof v === 'number' ? v : NaN
    }
    this.lastWasWatermark[w] = false
    this.events.push(e)
    this.called()
  }

  /** Gives a new key its worker and its number there. */
  private number(key: string): number {
    if (this.route.size >= this.keyTable) {
      // Numbers in flight are read with the table they were given under: let them come back first.
      this.drain()
      this.route = new Map()
      for (const p of this.parts) {
        p.names = 0
        p.renumber = true
      }
    }
    const w = partitionOf(key, this.parts.length)
    const p = this.parts[w]
    const route = p.names++ * MAX_WORKERS + w
    p.added.push(key)
    this.route.set(key, route)
    return route
  }

  onWatermark(_input: number, wm: number): void {
    if (this.failure) throw this.failure
    for (let w = 0; w < this.parts.length; w++) {
      const p = this.parts[w]
      // A worker sees a watermark before each of its events and at the end of a batch; one
      // that no event of its keys follows is replaced by the next (the merge re-times what
      // it closes by `wms`, so what a worker is not shown changes nothing).
      const i = this.lastWasWatermark[w] ? p.count - 1 : p.count++
      p.at[i] = this.calls
      p.keys[i] = -1
      p.ts[i] = wm
      this.lastWasWatermark[w] = true
    }
    this.wms.push(wm)
    this.wmAt.push(this.calls)
    this.events.push(undefined)
    this.called()
  }

  private called(): void {
    if (++this.calls === BATCH) this.send()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => {
        this.scheduled = false
        try {
          this.send()
        } catch (e) {
          this.failure ??= e instanceof WarpError ? e : new WarpError('INTERNAL', (e as Error).message, { cause: e })
        }
      })
    }
  }

  /** Hands the current batch to the workers; waits while too many are unanswered. */
  private send(): void {
    if (this.calls === 0) return
    const id = this.nextId++
    const sent: Sent = { id, events: this.events, wms: this.wms, wmAt: this.wmAt, outputs: new Array(this.parts.length), keys: new Array(this.parts.length), missing: 0 }
    this.parts.forEach((p, w) => {
      if (p.count === 0 && !p.renumber) {
        sent.outputs[w] = new Float64Array(0)
        sent.keys[w] = []
      } else {
        sent.missing++
        p.send(id)
      }
    })
    this.calls = 0
    this.events = []
    this.wms = []
    this.wmAt = []
    this.lastWasWatermark.fill(false)
    if (this.sent.length === 0) for (const p of this.parts) p.port.ref()
    this.sent.push(sent)
    this.emitAnswered()
    if (this.sent.length > IN_FLIGHT) this.waitFor(() => this.sent.length <= IN_FLIGHT)
  }

  private receive(w: number, m: FromWorker): void {
    if (m.type === 'done') {
      const sent = this.sent.find((s) => s.id === m.id)
      if (!sent || sent.outputs[w]) return
      sent.outputs[w] = m.outputs
      sent.keys[w] = m.keys
      sent.missing--
      if (this.emitAnswered()) this.out.wake?.()
    } else if (m.type === 'error') {
      this.failure ??= new WarpError('INTERNAL', `worker ${w} of window '${this.name}' failed: ${m.message}`)
    } else this.parts[w].control = m
  }

  /** Emits the results of every answered batch, oldest first; whether there were any. */
  private emitAnswered(): boolean {
    let any = false
    while (this.sent.length > 0 && this.sent[0].missing === 0) {
      const sent = this.sent.shift()!
      any = this.emitBatch(sent) || any
      if (this.sent.length === 0) for (const p of this.parts) p.port.unref()
    }
    return any
  }

  private emitBatch(sent: Sent): boolean {
    const width = OUTPUT_WIDTH + this.aggregates.names.length
    // [call, window end and key (results a watermark made: one per window and key), worker, output number]
    const merged: [number, number, string, number, number][] = []
    sent.outputs.forEach((outputs, w) => {
      const keys = sent.keys[w]
      for (let i = 0; i < keys.length; i++) {
        const o = i * width
        if (outputs![o + 1] & BY_WATERMARK) merged.push([this.closedAt(sent, outputs![o + 3]), outputs![o + 3], keys[i], w, i])
        else merged.push([outputs![o], 0, '', w, i])
      }
    })
    merged.sort((a, b) => a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0) || a[3] - b[3] || a[4] - b[4])
    for (const [, , , w, i] of merged) {
      const outputs = sent.outputs[w]!
      const o = i * width
      const flags = outputs[o + 1]
      if (flags & LATE) this.out.late(0, sent.events[outputs[o]]!)
      else this.out.emit(this.result(sent.keys[w][i], outputs, o), (flags & FINAL) !== 0)
    }
    return merged.length > 0
  }

  /** The result of `key` at offset `o` of a worker's outputs. */
  private result(key: string, outputs: Float64Array, o: number): WindowResult {
    const values: Record<string, unknown> = {}
    const aggregates = this.aggregates.names
    for (let j = 0; j < aggregates.length; j++) {
      const v = outputs[o + OUTPUT_WIDTH + j]
      values[aggregates[j]] = v === v ? v : null
    }
    return { window: this.name, key, start: outputs[o + 2], end: outputs[o + 3], count: outputs[o + 4], values, kind: KINDS[outputs[o + 6]], revision: outputs[o + 5] }
  }

  /** The call that closed windows ending at `end`: the batch's first watermark at or past it. */
  private closedAt(sent: Sent, end: number): number {
    return sent.wmAt[Math.min(firstAtLeast(sent.wms, end), sent.wms.length - 1)] ?? 0
  }

  /** Blocks until `done()`, taking the workers' answers as they come. */
  private waitFor(done: () => boolean): void {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const seen = Atomics.load(this.signal, 0)
      this.parts.forEach((p, w) => {
        for (let m = receiveMessageOnPort(p.port); m; m = receiveMessageOnPort(p.port)) this.receive(w, m.message as FromWorker)
      })
      if (done()) return
      if (this.failure) throw this.failure
      const stopped = this.parts.findIndex((_, w) => Atomics.load(this.signal, 1 + w) !== 0)
      if (stopped >= 0) throw (this.failure = new WarpError('INTERNAL', `worker ${stopped} of window '${this.name}' stopped`))
      if (Date.now() > deadline) throw (this.failure = new WarpError('INTERNAL', `the workers of window '${this.name}' did not answer in ${WAIT_MS / 1000} s`))
      Atomics.wait(this.signal, 0, seen, 100)
    }
  }

  /** Every result of the calls so far is emitted when this returns. */
  drain(): void {
    if (this.failure) throw this.failure
    this.send()
    this.waitFor(() => this.sent.length === 0)
  }

  /** Asks every worker the same thing and returns their answers, in worker order. */
  private ask(message: (w: number) => ToWorker): FromWorker[] {
    this.parts.forEach((p, w) => {
      p.control = null
      p.port.postMessage(message(w))
    })
    this.waitFor(() => this.parts.every((p) => p.control !== null))
    const answers = this.parts.map((p) => p.control!)
    const failed = answers.find((a) => a.type === 'error')
    if (failed) throw new Error((failed as { message: string }).message)
    return answers
  }

  snapshot(): unknown {
    this.drain()
    return { workers: this.ask(() => ({ type: 'snapshot' })).map((a) => (a as { state: unknown }).state) }
  }

  restore(state: unknown): void {
    const workers = (state as { workers?: unknown } | null)?.workers
    if (!Array.isArray(workers) || workers.length !== this.parts.length) throw new Error(`the state is not that of ${this.parts.length} workers`)
    this.ask((w) => ({ type: 'restore', state: workers[w] }))
  }

  stop(): void {
    for (const p of this.parts) {
      p.port.close()
      void p.worker.terminate()
    }
  }
}

/** Starts a worker: the compiled script, or (running from source) the TypeScript one through tsx. */
function startWorker(setup: WorkerSetup, transfer: MessagePort[]): Worker {
  const file = path.join(__dirname, `partition-worker${path.extname(__filename)}`)
  if (file.endsWith('.ts')) {
    const code = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(file)})`
    return new Worker(code, { eval: true, workerData: setup, transferList: transfer })
  }
  return new Worker(file, { workerData: setup, transferList: transfer })
}
