import test from 'ava'
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

import { NumericRange, WarpEngine } from '../ts'
import { codeOf, tempDir } from './helpers'

/** A database whose only WAL segment holds one record per point (100 points). */
async function build(): Promise<{ dir: string; segment: string }> {
  const dir = tempDir('corrupt')
  const db = await WarpEngine.open(dir, { durability: 'sync', checkpointOnClose: false })
  for (let i = 0; i < 100; i++) await db.put('m', i, i)
  await db.close()
  const wal = path.join(dir, 'wal')
  const segments = readdirSync(wal).filter((n) => n.endsWith('.wal')).sort()
  const segment = segments.map((n) => path.join(wal, n)).find((p) => readFileSync(p).length > 24)!
  return { dir, segment }
}

async function timestamps(dir: string, repair = false): Promise<number[]> {
  const db = await WarpEngine.open(dir, { repair })
  const r = (await db.range('m', 0, 1000)) as NumericRange
  await db.close()
  return [...r.timestamps]
}

test('a torn tail is cut off and reported; everything before it survives', async (t) => {
  const { dir, segment } = await build()
  truncateSync(segment, readFileSync(segment).length - 7)
  const db = await WarpEngine.open(dir)
  t.true(db.stats().recovery.tornBytesTruncated > 0)
  await db.close()
  t.deepEqual(await timestamps(dir), Array.from({ length: 99 }, (_, i) => i))
})

test('a flipped bit mid-log is CORRUPT_WAL, and repair keeps every valid record', async (t) => {
  const { dir, segment } = await build()
  const bytes = readFileSync(segment)
  bytes[Math.floor(bytes.length / 2)] ^= 0x10
  writeFileSync(segment, bytes)
  t.is(await codeOf(() => WarpEngine.open(dir)), 'CORRUPT_WAL')
  const db = await WarpEngine.open(dir, { repair: true })
  const { droppedBytes, droppedRecords } = db.stats().recovery
  t.true(droppedBytes > 0 || droppedRecords > 0)
  await db.close()
  const survivors = await timestamps(dir)
  t.is(survivors.length, 99)
})

test('a damaged checkpoint is CORRUPT_CHECKPOINT', async (t) => {
  const dir = tempDir('ckpt')
  const db = await WarpEngine.open(dir)
  db.put('m', 1, 1)
  await db.close()
  const ckptDir = path.join(dir, 'temporal/live/checkpoints')
  const file = path.join(ckptDir, readdirSync(ckptDir)[0])
  const bytes = readFileSync(file)
  bytes[bytes.length - 10] ^= 0xff
  writeFileSync(file, bytes)
  t.is(await codeOf(() => WarpEngine.open(dir)), 'CORRUPT_CHECKPOINT')
})
