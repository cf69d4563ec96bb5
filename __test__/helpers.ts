import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

const made: string[] = []

/** A fresh directory under the OS temp dir, removed when the process exits. */
export function tempDir(label = 'db'): string {
  const dir = mkdtempSync(path.join(tmpdir(), `warp-${label}-`))
  made.push(dir)
  return dir
}

process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true })
})

/** Asserts `fn` throws (or rejects with) a WarpError with `code`. */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn()
  } catch (e) {
    if ((e as Error).name !== 'WarpError') throw new Error(`expected a WarpError, got ${String(e)}`)
    return (e as { code: string }).code
  }
  return 'NO_ERROR'
}
