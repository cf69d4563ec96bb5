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

/** Milliseconds from a number or text such as `'500ms'`, `'5s'`, `'1m'`, `'2h'`, `'1d'`. */
export function duration(value: unknown, what: string, { allowZero = false } = {}): number {
  let ms: number | undefined
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim())
    if (m) ms = Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]
  }
  if (ms === undefined || !Number.isSafeInteger(ms) || ms < 0 || (ms === 0 && !allowZero)) {
    throw new WarpError('INVALID_ARGUMENT', `${what} must be a ${allowZero ? 'non-negative' : 'positive'} whole number of milliseconds or text such as '5s' or '1m', not ${describe(value)}`)
  }
  return ms
}

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** A spec's own properties (never inherited ones), refusing any but `known`: a misspelt option would be silently ignored. */
export function ownFields(spec: unknown, what: string, known: readonly string[], invalid: (field: string, message: string) => Error, prefix = ''): Record<string, unknown> {
  if (spec !== undefined && (spec === null || typeof spec !== 'object' || Array.isArray(spec))) throw invalid(prefix.replace(/\.$/, '') || 'spec', `must be an object, not ${describe(spec)}`)
  const s = Object.assign(Object.create(null), spec) as Record<string, unknown>
  const unknown = Object.keys(s).find((k) => !known.includes(k))
  if (unknown !== undefined) throw invalid(prefix + unknown, `is not a field of ${what} (${known.join(', ')})`)
  return s
}
