import type { ErrorCode } from './native'

/**
 * Every failure WarpEngine reports is a `WarpError` with a stable `code`: one the engine gives
 * (the native `ErrorCode`, declared once in Rust), or `INVALID_CONFIG` for a rule file the
 * lifecycle policy refuses, or `INVALID_EVENT` for an event a stream refuses (with
 * `onInvalid: 'throw'`).
 */
export type WarpErrorCode = ErrorCode | 'INVALID_CONFIG' | 'INVALID_EVENT'

export class WarpError extends Error {
  readonly code: WarpErrorCode

  constructor(code: WarpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'WarpError'
    this.code = code
  }
}

/** Napi's own argument-conversion failures (a string where a number belongs, …). */
const NAPI_ARGUMENT_CODES = new Set(['InvalidArg', 'NumberExpected', 'StringExpected', 'ObjectExpected', 'BooleanExpected', 'BigintExpected'])

/** The engine's codes are UPPER_SNAKE (napi's own, above, are PascalCase). */
const ENGINE_CODE = /^[A-Z][A-Z_]*$/

/** Turns anything the native layer threw into a `WarpError`. */
export function toWarpError(err: unknown): WarpError {
  if (err instanceof WarpError) return err
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && ENGINE_CODE.test(code)) return new WarpError(code as ErrorCode, err.message, { cause: err })
    if (typeof code === 'string' && NAPI_ARGUMENT_CODES.has(code)) {
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
