/**
 * One event as operators see it: the stream's key, its event time, and the event projected
 * onto what the stream keeps (its key and timestamp properties, declared numeric `fields` and
 * string `attributes`; every property with `keepEvents`). Recovery rebuilds exactly this object
 * from the stream log, so an operator sees the same input before and after a crash.
 */
export interface StreamEvent {
  readonly key: string
  readonly ts: number
  readonly event: Readonly<Record<string, unknown>>
}

/** A result as delivered: final results carry their number in the operator's sequence (1, 2, …), the same across a crash. */
export type Numbered<T> = T & { seq?: number }

/** Where an operator's results go: numbered, and (for final results) delivered exactly once. */
export interface Emitter<T> {
  /** A result. `final: false` marks an intermediate update (emit mode `update`), which is
   * delivered at once and may be delivered again after a crash; final results are delivered
   * once their record is durable and never twice (see docs/streams.md). */
  emit(result: T, final?: boolean): void
  /** An event the operator dropped as too late (past its allowed lateness): to `s.late()`. */
  late(input: number, event: StreamEvent): void
  /** Results were emitted outside a call of the operator (it works on other threads): have them recorded soon. */
  wake?(): void
}

/**
 * A stateful stage fed by one or more streams (`input` numbers them, 0 first), in arrival
 * order. Everything an operator does must follow from its inputs alone, never from the wall
 * clock or randomness: recovery replays the logged inputs into a restored snapshot and must
 * reach the state (and results) the crashed process had.
 */
export interface Operator {
  /** Unique among the operators of its streams; names its state and results on disk. */
  readonly name: string
  /** An event of input `input`. */
  onEvent(input: number, e: StreamEvent): void
  /** Input `input`'s watermark rose to `wm`: no more on-time events with `ts < wm` will come. */
  onWatermark(input: number, wm: number): void
  /** The whole state as a JSON-able value (taken between events). */
  snapshot(): unknown
  /** Replaces the state with one `snapshot` returned (from a process of the same code). */
  restore(state: unknown): void
  /** How its results are recorded (default `JSON_RESULTS`). */
  readonly codec?: ResultCodec
  /** An operator that works on other threads: returns once every result of its calls so far is emitted. */
  drain?(): void
  /** Releases what it holds outside the JS heap (its threads); called once, when its database closes. */
  stop?(): void
}

/** How an operator's final results are written to its result log: numbered from `first`. */
export interface ResultCodec<T = unknown> {
  encode(first: number, results: T[]): Buffer
  decode(payload: Buffer): { first: number; results: T[] }
}

/** Results as JSON: for operators whose results have no compact form. */
export const JSON_RESULTS: ResultCodec = {
  encode: (first, results) => Buffer.from(JSON.stringify({ first, results })),
  decode: (payload) => JSON.parse(payload.toString()),
}

/** A watermark in a JSON snapshot: ±Infinity as text (JSON would make it null); `Number` reads it back. */
export const encodeTime = (t: number): number | string => (Number.isFinite(t) ? t : String(t))

/** A time `encodeTime` wrote, back; anything else is an Error (a restore turns it into CORRUPT_CHECKPOINT). */
export function decodeTime(v: unknown): number {
  const t = Number(v)
  if ((typeof v !== 'number' && typeof v !== 'string') || Number.isNaN(t)) throw new Error(`${JSON.stringify(v)} is not a time`)
  return t
}

/**
 * Results as an async iterator and as callbacks. The queue between the operator and a slow
 * `for await` consumer is counted (`pending`), and the stream holds writers back
 * (backpressure) while it is long, so it cannot grow without bound.
 */
export class Output<T> implements AsyncIterable<T> {
  /** `recorded` reads final results back from the operator's result log. */
  constructor(private readonly recorder?: (after: number) => Promise<T[]>) {}

  /**
   * The final results recorded with a number (`seq`) above `after`, in order, up to the newest
   * one already delivered live (or recorded before this process started, which are not
   * delivered live again): how a consumer that crashed resumes from the last result it
   * processed. Live delivery waits while this reads and until the next turn of the event loop,
   * so listening right after `await recorded(last)` continues with the next result, once.
   */
  async recorded(after = 0): Promise<T[]> {
    if (!this.recorder) return []
    return this.recorder(after)
  }

  private readonly readers = new Set<Reader<T>>()
  private readonly listeners: ((value: T) => void)[] = []
  private ended = false

  /** Results waiting for the slowest `for await` consumer. */
  get pending(): number {
    let most = 0
    for (const r of this.readers) most = Math.max(most, r.queue.length - r.head)
    return most
  }

  /** Calls `fn` with every result from now on (beside any iterator). A listener that throws is
   * reported as a process warning and does not stop the others or the stream. */
  on(fn: (value: T) => void): this {
    this.listeners.push(fn)
    return this
  }

  push(value: T): void {
    if (this.ended) return
    for (const fn of this.listeners) {
      try {
        fn(value)
      } catch (e) {
        process.emitWarning(`a stream result listener threw: ${(e as Error)?.stack ?? e}`, 'WarpEngineWarning')
      }
    }
    for (const r of this.readers) r.push(value)
  }

  /** No more results: each iterator finishes once it has read what is queued. */
  end(): void {
    this.ended = true
    for (const r of this.readers) r.finish()
  }

  /** Each iterator reads every result from when it starts, at its own pace. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const reader = new Reader<T>()
    if (this.ended) reader.finish()
    else this.readers.add(reader)
    return {
      next: () => reader.next(),
      return: () => {
        // Only this iterator leaves: its unread results no longer hold writers back.
        this.readers.delete(reader)
        reader.queue.length = 0
        reader.head = 0
        reader.finish()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }
}

/** One iterator's queue. */
class Reader<T> {
  queue: T[] = []
  head = 0
  private waiting: ((r: IteratorResult<T>) => void) | null = null
  private done = false

  push(value: T): void {
    if (this.waiting) {
      const resolve = this.waiting
      this.waiting = null
      resolve({ value, done: false })
    } else this.queue.push(value)
  }

  finish(): void {
    this.done = true
    if (this.waiting) {
      const resolve = this.waiting
      this.waiting = null
      resolve({ value: undefined, done: true })
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++]
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head)
        this.head = 0
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => (this.waiting = resolve))
  }
}
