import { WarpError } from './errors'

/** A timestamp: integer milliseconds since the Unix epoch, or a `Date`. */
export type Timestamp = number | Date

/** Accepts a number or a Date; the native layer checks it is a finite, safe integer. */
export function toMillis(ts: Timestamp, what = 'timestamp'): number {
  if (typeof ts === 'number') return ts
  if (ts instanceof Date) return ts.getTime()
  throw new WarpError('INVALID_TIMESTAMP', `${what} must be a number of milliseconds or a Date, not ${describe(ts)}`)
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`
}
