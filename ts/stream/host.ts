import native = require('../native')
import type { NativeEngine } from '../native'
import { WarpError, guard, guardAsync } from '../errors'
import { describe } from '../args'
import { Emitter, JSON_RESULTS, Operator, Output, ResultCodec, StreamEvent } from './operator'
import type { Stream } from './stream'

const { MIN_TIMESTAMP, MAX_TIMESTAMP, MAX_EVENT_BYTES } = native
/** Results per result-log record, fewer if they do not fit in an event. */
const RECORD_RESULTS = 8192

/** What a host needs from the database. */
export interface HostOwner {
  engine(): NativeEngine
  /** Records results emitted between the operator's calls (see `Emitter.wake`) soon. */
  wake(): void
}

/**
 * An operator at work: fed by its input streams, its final results numbered in the order the
 * operator makes them. Because an operator is a deterministic function of its logged inputs,
 * result n is the same result before and after a crash; the host records final results in the
 * operator's result log (a stream series in the WAL, after the log batch that caused them) and
 * delivers them only once that record is durable. After a crash the restored operator replays
 * the log and the host skips the results the result log already holds: each final result is
 * recorded once and delivered once (see docs/streams.md for a consumer that itself crashed).
 */
export class Host<T = unknown> implements Emitter<T> {
  readonly output = new Output<T>((after) => this.recordedAfter(after))
  /** Final results made so far (the last one's number). */
  emitted = 0
  /** Results up to this number are in the result log from an earlier run: replay skips them. */
  private recorded = 0
  /** Final results not yet recorded, numbered from `pendingFirst`. */
  private pending: T[] = []
  private pendingFirst = 0
  /** Recorded results waiting for their WAL write to be durable, with that write's number and the last result's. */
  private awaiting: { wal: number; results: T[]; last: number }[] = []
  /** The newest result delivered live, or recorded by an earlier run (which `recorded` reads back). */
  private delivered = 0
  /** Holds on live delivery by `recorded` calls (see `recordedAfter`). */
  private holds = 0
  /** The database is closing: the output ends once no `recorded` call holds delivery. */
  private ending = false
  /** The newest durable WAL write delivery was told of. */
  private durable = 0
  /** Each input's watermark, as this operator last saw it (watermarks only rise). */
  readonly watermarks: number[]
  private resultLog = -1
  /** The time of the newest result batch recorded. */
  private recordedAt = 0
  /** Whether results are being replayed from the log (none of them is new to a consumer). */
  replaying = false

  /** Set right after construction: the operator needs its host as its emitter. */
  op!: Operator

  constructor(
    readonly inputs: Stream[],
    private readonly owner: HostOwner,
    /** Writes a final result where the user asked (derived series), if anywhere. */
    private readonly store: ((result: T) => void) | undefined,
    /** The operator's kind and options: its snapshot restores only into the same. */
    readonly definition: string,
  ) {
    this.watermarks = inputs.map(() => -Infinity)
  }

  get name(): string {
    return this.op.name
  }

  emit(result: T, final = true): void {
    if (!final) {
      if (!this.replaying) this.output.push(result)
      return
    }
    const seq = ++this.emitted
    if (seq <= this.recorded) return
    // Numbered for consumers that resume (`Output.recorded`).
    if (result !== null && typeof result === 'object') (result as { seq?: number }).seq = seq
    this.store?.(result)
    if (this.pending.length === 0) this.pendingFirst = seq
    this.pending.push(result)
  }

  wake(): void {
    this.owner.wake()
  }

  late(input: number, event: StreamEvent): void {
    if (!this.replaying) this.inputs[input].lateOutput.push({ operator: this.name, key: event.key, ts: event.ts, event: event.event })
  }

  event(input: number, e: StreamEvent): void {
    this.op.onEvent(input, e)
  }

  watermark(input: number, wm: number): void {
    if (wm <= this.watermarks[input]) return
    this.watermarks[input] = wm
    this.op.onWatermark(input, wm)
  }

  /**
   * Recovery: where the result log ends (the last result an earlier run recorded). With a
   * snapshot, numbering goes on from the snapshot's count (replay makes the results between it
   * and the log's end again, and they are not delivered twice); without one (a new operator, or
   * one whose snapshot was removed), after the result log's last number.
   */
  resume(emitted: number | undefined): void {
    const last = guard(() => this.owner.engine().latest(this.resultLogId()))
    if (last?.payload) {
      const { first, results } = this.decode(last.payload)
      this.recorded = first + results.length - 1
      this.recordedAt = last.ts
    }
    this.delivered = this.recorded
    this.emitted = emitted ?? this.recorded
  }

  /** Writes the results made since the last call to the result log, in records that fit in an
   * event each; the last WAL write's number, if any. */
  record(): number | undefined {
    const results = this.pending
    const first = this.pendingFirst
    this.pending = []
    let wal: number | undefined
    for (let at = 0; at < results.length; ) {
      let chunk = results.slice(at, at + RECORD_RESULTS)
      let payload = this.codec().encode(first + at, chunk)
      while (payload.length > MAX_EVENT_BYTES && chunk.length > 1) {
        chunk = chunk.slice(0, Math.ceil(chunk.length / 2))
        payload = this.codec().encode(first + at, chunk)
      }
      if (payload.length > MAX_EVENT_BYTES) {
        // Kept, not dropped: the stream fails with this error, and nothing after it is recorded out of turn.
        this.pending = results.slice(at)
        this.pendingFirst = first + at
        throw new WarpError('INVALID_VALUE', `result ${first + at} of stream operator '${this.name}' takes ${payload.length} bytes recorded, over the ${MAX_EVENT_BYTES} an event may hold`)
      }
      const engine = this.owner.engine()
      // At the time they were recorded (so retention treats them as the data they are), never two at one millisecond.
      this.recordedAt = Math.max(this.recordedAt + 1, Date.now())
      wal = guard(() => engine.putEvent(this.resultLogId(), this.recordedAt, payload))
      this.awaiting.push({ wal, results: chunk, last: first + at + chunk.length - 1 })
      at += chunk.length
    }
    return wal
  }

  /** Delivers every recorded result whose WAL write is at or before `durable`. */
  deliver(durable: number): void {
    this.durable = Math.max(this.durable, durable)
    if (this.holds > 0) return
    let i = 0
    while (i < this.awaiting.length && this.awaiting[i].wal <= durable) {
      for (const r of this.awaiting[i].results) this.output.push(r)
      this.delivered = this.awaiting[i].last
      i++
    }
    if (i > 0) this.awaiting.splice(0, i)
  }

  /** The database is closing: ends the output, after what a `recorded` call in progress holds back. */
  end(): void {
    this.ending = true
    if (this.holds === 0) this.output.end()
  }

  /** Holds live delivery until the returned function is called (once); then delivers what waited. */
  private hold(): () => void {
    this.holds++
    let released = false
    return () => {
      if (released) return
      released = true
      if (--this.holds > 0) return
      this.deliver(this.durable)
      if (this.ending) this.output.end()
    }
  }

  /** Results made but not yet recorded (those recorded wait at most one flush interval for durability). */
  get unrecorded(): number {
    return this.pending.length
  }

  /**
   * Recorded results numbered above `after`, from the result log (newest batches first, as far
   * back as needed), up to the newest delivered live: those after it come live. If live
   * delivery moved while the log was read (a result recorded after the read began would be
   * missing), it is read again with delivery held. Delivery then waits until the next turn of
   * the event loop, so a consumer that resumes with `await recorded(last)` and then listens
   * sees each result once; a consumer that only calls `recorded` again and again never holds
   * delivery back for more than a turn.
   */
  private async recordedAfter(after: number): Promise<T[]> {
    if (!Number.isSafeInteger(after) || after < 0) throw new WarpError('INVALID_ARGUMENT', `after must be a result number (a whole number ≥ 0), not ${describe(after)}`)
    let upto = this.delivered
    let out = await this.readRecorded(after, upto)
    let release: (() => void) | undefined
    if (this.delivered !== upto) {
      release = this.hold()
      try {
        upto = this.delivered
        out = await this.readRecorded(after, upto)
      } catch (e) {
        release()
        throw e
      }
    }
    setImmediate(release ?? this.hold())
    return out
  }

  private async readRecorded(after: number, upto: number): Promise<T[]> {
    const engine = this.owner.engine()
    const batches: { first: number; results: T[] }[] = []
    for (let limit = 16; ; limit *= 4) {
      const r = await guardAsync(() => engine.range(this.resultLogId(), MIN_TIMESTAMP, MAX_TIMESTAMP + 1, limit, 'desc'))
      const payloads = r.payloads ?? []
      batches.length = 0
      for (const p of payloads) batches.push(this.decode(p))
      if (payloads.length < limit || batches[batches.length - 1].first <= after + 1) break
    }
    const out: T[] = []
    for (const { first, results } of batches.reverse()) results.forEach((x, i) => first + i > after && first + i <= upto && out.push(x))
    return out
  }

  private codec(): ResultCodec<T> {
    return (this.op.codec ?? JSON_RESULTS) as ResultCodec<T>
  }

  /** A result-log record read back; damage is `CORRUPT_WAL` naming the operator. */
  private decode(payload: Buffer): { first: number; results: T[] } {
    try {
      return this.codec().decode(payload)
    } catch (e) {
      throw new WarpError('CORRUPT_WAL', `a record of the result log of stream operator '${this.name}' is damaged: ${(e as Error).message}`, { cause: e })
    }
  }

  private resultLogId(): number {
    if (this.resultLog < 0) this.resultLog = guard(() => this.owner.engine().streamSeries(`out:${this.name}`, native.SeriesKind.Event))
    return this.resultLog
  }
}
