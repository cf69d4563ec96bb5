import { WarpError } from './errors'

/** A timestamp: integer milliseconds since the Unix epoch, or a `Date`. */
export type Timestamp = number | Date

/** Accepts a number or a Date; the native layer checks it is a finite integer in range. */
export function toMillis(ts: Timestamp, what = 'timestamp'): number {
  if (typeof ts === 'number') return ts
  if (ts instanceof Date) return ts.getTime()
  throw new WarpError('INVALID_TIMESTAMP', `${what} must be a number of milliseconds or a Date, not ${describe(ts)}`)
}

/** A query bound: any safe integer (bounds past the storable range are fine), or a `Date`. */
export function toBound(ts: Timestamp, what = 'timestamp'): number {
  const ms = toMillis(ts, what)
  if (!Number.isSafeInteger(ms)) {
    throw new WarpError('INVALID_TIMESTAMP', `${what} must be an integer number of milliseconds within ±(2^53 − 1), not ${ms}`)
  }
  return ms
}

/**
 * An options argument: absent, or an object (anything else is `INVALID_ARGUMENT`). Returns a
 * copy of its own properties without a prototype, so nothing inherited (a property someone
 * added to `Object.prototype`) is ever read as an option, here or by the native layer.
 */
export function optionsOf<T extends object>(value: T | undefined, what: string): Partial<T> {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new WarpError('INVALID_ARGUMENT', `${what} must be an object, not ${describe(value)}`)
  }
  return Object.assign(Object.create(null) as Partial<T>, value)
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`
}
