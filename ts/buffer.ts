import type { NativeEngine } from './native'
import { WarpError, toWarpError } from './errors'

const CAPACITY = 8192

/**
 * Single numeric puts in `interval` and `none` durability are gathered here and handed to the
 * native engine in one call per 8192 points, or on the next turn of the event loop, whichever
 * comes first. A point is therefore in the engine (and in its WAL buffer) before any other
 * I/O callback runs, and every read, batch write, flush or close drains the buffer first, so
 * callers always read their own writes. The durability promise is unchanged: the WAL is
 * written and fsynced every `flushIntervalMs` as before.
 */
export class PutBuffer {
  private readonly ids = new Uint32Array(CAPACITY)
  private readonly ts = new Float64Array(CAPACITY)
  private readonly values = new Float64Array(CAPACITY)
  private count = 0
  private scheduled = false
  /** A failure of a drain that ran on its own, reported by the next put. */
  private failure: WarpError | null = null

  constructor(private readonly engine: () => NativeEngine) {}

  push(id: number, ts: number, value: number): void {
    if (this.failure) throw this.failure
    const i = this.count
    this.ids[i] = id
    this.ts[i] = ts
    this.values[i] = value
    this.count = i + 1
    if (this.count === CAPACITY) {
      this.drain()
    } else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.drainLater)
    }
  }

  /** Hands every buffered point to the native engine. */
  drain(): void {
    const n = this.count
    if (n === 0) return
    this.count = 0
    try {
      this.engine().putPoints(this.ids.subarray(0, n), this.ts.subarray(0, n), this.values.subarray(0, n))
    } catch (e) {
      throw toWarpError(e)
    }
  }

  private readonly drainLater = (): void => {
    this.scheduled = false
    try {
      this.drain()
    } catch (e) {
      this.failure = toWarpError(e)
    }
  }
}
