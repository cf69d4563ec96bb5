/** Every failure WarpEngine reports is a `WarpError` with a stable `code`. */
export type WarpErrorCode =
  | 'INVALID_SERIES'
  | 'INVALID_TIMESTAMP'
  | 'INVALID_VALUE'
  | 'INVALID_RANGE'
  | 'INVALID_ARGUMENT'
  | 'TYPE_MISMATCH'
  | 'CLOSED'
  | 'LOCKED'
  | 'NOT_A_DIRECTORY'
  | 'CORRUPT_WAL'
  | 'CORRUPT_CHECKPOINT'
  | 'CORRUPT_PARTITION'
  | 'CORRUPT_MANIFEST'
  | 'INVALID_CONFIG'
  | 'STORAGE_FAILED'
  | 'IO'
  | 'INTERNAL'

export class WarpError extends Error {
  readonly code: WarpErrorCode

  constructor(code: WarpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'WarpError'
    this.code = code
  }
}

const CODED = /^([A-Z_]+): ([\s\S]*)$/

/** Napi's own argument-conversion failures (a string where a number belongs, …). */
const NAPI_ARGUMENT_CODES = new Set(['InvalidArg', 'NumberExpected', 'StringExpected', 'ObjectExpected', 'BooleanExpected', 'BigintExpected'])

/** Turns anything the native layer threw into a `WarpError`. */
export function toWarpError(err: unknown): WarpError {
  if (err instanceof WarpError) return err
  if (err instanceof Error) {
    const m = CODED.exec(err.message)
    if (m) return new WarpError(m[1] as WarpErrorCode, m[2], { cause: err })
    const napiCode = (err as { code?: unknown }).code
    if (typeof napiCode === 'string' && NAPI_ARGUMENT_CODES.has(napiCode)) {
      return new WarpError('INVALID_ARGUMENT', err.message, { cause: err })
    }
    return new WarpError('INTERNAL', err.message, { cause: err })
  }
  return new WarpError('INTERNAL', String(err))
}

/** Runs `fn`, rethrowing any failure as a `WarpError`. */
export function guard<T>(fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    throw toWarpError(e)
  }
}

/** Awaits `p`, rethrowing any rejection as a `WarpError`. */
export async function guardAsync<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p()
  } catch (e) {
    throw toWarpError(e)
  }
}
