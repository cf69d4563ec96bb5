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

/** A small deterministic PRNG (mulberry32): numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Waits until `fn` holds (stream results are delivered after the commit cycle). */
export async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}
