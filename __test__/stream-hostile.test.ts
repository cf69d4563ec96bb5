// The stream layer under hostile inputs and crash/recovery edge cases: crashes right after an
// operator starts, files damaged or left behind, operators changed under the same name, consumers
// that throw, leave or come twice, events with getters, proxies and toJSON, polluted prototypes,
// retention rules, and decoders fed garbage. Each test's comment states the guarantee it checks.
//
// Crashes are simulated in process where a SIGKILL is not needed: `rewind` puts back the
// snapshot an operator had at some point, after a clean close. The log and the result logs
// then hold everything written since, which is exactly what a SIGKILL right after that snapshot
// leaves behind (the close only adds a newer snapshot, which `rewind` undoes). One test does use
// a real SIGKILL, of a child process (`freshThenKilled`).
import test, { ExecutionContext } from 'ava'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

import { NumericRange, Output, Point, WarpEngine, WarpError, WindowResult, WindowSpec } from '../ts'
import { Aggregates } from '../ts/stream/aggregates'
import { alertOperator } from '../ts/stream/alerts'
import { intervalJoin, windowJoin } from '../ts/stream/join'
import { LogBatch, decodeBatch } from '../ts/stream/log'
import { Emitter } from '../ts/stream/operator'
import { patternOperator } from '../ts/stream/pattern'
import { Sketch, SketchState } from '../ts/stream/sketch'
import { windowOperator } from '../ts/stream/window'
import { codeOf, tempDir, until } from './helpers'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

const ST = { key: 'k', timestamp: 'ts', fields: ['v'], outOfOrder: 0 }
/** A count and a custom reducer whose result is an object (never stored as a series). */
const STORED: WindowSpec['aggregate'] = {
  n: 'count',
  tag: { reduce: { init: () => [], add: (a: number[], v: number | undefined) => [...a, v ?? 0], merge: (a: number[], b: number[]) => [...a, ...b], result: (a: number[]) => ({ seen: a }) }, of: 'v' },
}
const COUNT = (name: string): WindowSpec => ({ name, type: 'tumbling', size: 10, aggregate: { n: 'count' } })

const open = (dir: string) => WarpEngine.open(dir, { durability: 'none' })
/** Opens `dir` and closes it when the test ends, even if an assertion stopped the test early. */
async function openFor(t: ExecutionContext, dir: string): Promise<WarpEngine<'none'>> {
  const db = await open(dir)
  t.teardown(() => db.close().catch(() => undefined))
  return db
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** In `none` mode results are delivered when the log batch is written, on the next turn of the event loop: wait two. */
const delivered = async () => {
  await new Promise(setImmediate)
  await new Promise(setImmediate)
}
const snapshotPath = (dir: string, op: string) => path.join(dir, 'temporal', 'live', 'streams', `${op}.json`)
const readSnapshot = (dir: string, op: string): Buffer => readFileSync(snapshotPath(dir, op))
/** Puts back a snapshot taken earlier: the state a crash right after it would have left (see the top). */
const rewind = (dir: string, op: string, bytes: Buffer) => writeFileSync(snapshotPath(dir, op), bytes)

function collect<T>(out: Output<T>): T[] {
  const xs: T[] = []
  out.on((x) => xs.push(x))
  return xs
}

const brief = (r: WindowResult) => [r.key, r.start, r.count, r.seq]
const NOWHERE: Emitter<unknown> = { emit() {}, late() {} }

/** Whether `fn` throws a WarpError (true), nothing (false), or something else (rethrown). */
function warpOrNothing(fn: () => unknown): boolean {
  try {
    fn()
    return false
  } catch (e) {
    if (e instanceof WarpError) return true
    throw e
  }
}

// ---------------------------------------------------------------------------------------------
// Recovery and exactly-once

/** Runs the child that attaches a fresh window, writes, and dies by SIGKILL; its delivered results. */
function freshThenKilled(dir: string, events: unknown[]): Promise<WindowResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'stream-hostile-fresh.ts'), dir, JSON.stringify(events)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child exited with ${code}: ${err}`))
      resolve(out.split('\n').filter((l) => l.startsWith('res ')).map((l) => JSON.parse(l.slice(4))))
    })
  })
}

// A fresh operator starts at the log's end, even when attached first in a new process: after a
// crash right after it started it replays only what came later and delivers the same results,
// with the same numbers.
test('a fresh operator that crashes right after it started resumes where it started, not at the log\'s beginning', async (t) => {
  t.timeout(60_000)
  const dir = tempDir('hostile-fresh')
  const db = await openFor(t, dir)
  const s = db.stream('s', ST)
  s.window(COUNT('older'))
  await s.writeBatch([1, 11, 21].map((ts) => ({ k: 'old', ts, v: 1 })))
  await db.close()

  const live = await freshThenKilled(dir, [100, 110].map((ts) => ({ k: 'new', ts, v: 1 })))
  t.deepEqual(live.map(brief), [['new', 100, 1, 1]])

  const again = await openFor(t, dir)
  const s2 = again.stream('s', ST)
  const w = s2.window(COUNT('fresh'))
  const delivered = collect(w)
  await s2.writeBatch([{ k: 'new', ts: 120, v: 1 }])
  await until(() => delivered.length > 0, 2000).catch(() => undefined)
  // The fresh window never saw key 'old' while it ran: it must not see it after the crash.
  t.deepEqual(delivered.map(brief), [['new', 110, 1, 2]])
  t.deepEqual((await w.recorded(0)).map(brief), [['new', 100, 1, 1], ['new', 110, 1, 2]])
  await again.close()
})

/** One run of "w1 runs, w2 attaches after the stream's watermark rose, events, restart"; w2's recorded results. */
async function lateAttach(crash: boolean): Promise<unknown[]> {
  const dir = tempDir('hostile-late-attach')
  let db = await open(dir)
  let s = db.stream('s', ST)
  s.window(COUNT('w1'))
  await s.writeBatch([{ k: 'a', ts: 100, v: 1 }])
  s.window(COUNT('w2'))
  const initial = readSnapshot(dir, 'w2')
  await s.writeBatch([60, 50, 200].map((ts) => ({ k: 'a', ts, v: 1 })))
  await delivered()
  await db.close()
  if (crash) rewind(dir, 'w2', initial)
  db = await open(dir)
  s = db.stream('s', ST)
  s.window(COUNT('w1'))
  const w2 = s.window(COUNT('w2'))
  await s.writeBatch([{ k: 'a', ts: 300, v: 1 }])
  await delivered()
  const recorded = (await w2.recorded(0)).map(brief)
  await db.close()
  return recorded
}

// An operator attached after the stream's watermark rose gives the same results whether or not a
// crash makes it replay from its first snapshot.
test('an operator attached after the stream\'s watermark rose gives the same results with and without a crash', async (t) => {
  const clean = await lateAttach(false)
  const crashed = await lateAttach(true)
  t.deepEqual(crashed, clean)
})

// Recorded results (`__stream:out:*`) are kept at the time they were recorded, so a retention
// rule (`maxAgeDays`) keeps them as long as other recent data: `recorded()` answers them, and
// later results are still recorded.
test('a retention rule does not delete the results recorded for exactly-once delivery', async (t) => {
  const db = await openFor(t, tempDir('hostile-retention'))
  await db.lifecycle.setRules({ retention: { maxAgeDays: 30 } })
  const s = db.stream('s', ST)
  const w = s.window(COUNT('w'))
  const now = Date.now()
  await s.writeBatch([0, 10, 20].map((d) => ({ k: 'a', ts: now + d, v: 1 })))
  await delivered()
  t.is((await w.recorded(0)).length, 2)
  await db.runLifecycle()
  t.is((await w.recorded(0)).length, 2, 'the lifecycle deleted recorded results')
  await s.writeBatch([30, 40].map((d) => ({ k: 'a', ts: now + d, v: 1 })))
  await delivered()
  t.deepEqual((await w.recorded(0)).map((r) => r.seq), [1, 2, 3, 4])
  await db.close()
})

// An operator started afresh after its snapshot file was removed (as CORRUPT_CHECKPOINT advises)
// delivers every result it makes afterwards: none is mistaken for one already recorded.
test('an operator whose snapshot was removed delivers every result it makes afterwards', async (t) => {
  const dir = tempDir('hostile-removed')
  let db = await openFor(t, dir)
  let s = db.stream('s', ST)
  s.window(COUNT('w'))
  await s.writeBatch([1, 11, 21, 31].map((ts) => ({ k: 'a', ts, v: 1 })))
  await db.close()
  rmSync(snapshotPath(dir, 'w'))
  db = await openFor(t, dir)
  s = db.stream('s', ST)
  const got = collect(s.window(COUNT('w')))
  await s.writeBatch([100, 110, 120, 130, 140].map((ts) => ({ k: 'b', ts, v: 1 })))
  await delivered()
  t.deepEqual(got.map((r) => r.start), [100, 110, 120, 130])
  await db.close()
})

// Replay reads a logged event by the field names its log batch recorded: after the stream's fields
// are reordered, replayed events keep their own values (or the changed stream is a WarpError).
test('events logged under one field order are replayed with their own values after the fields are reordered', async (t) => {
  const dir = tempDir('hostile-schema')
  const spec: WindowSpec = { name: 'w', type: 'tumbling', size: 10, aggregate: { cpu: { avg: 'cpu' }, mem: { avg: 'mem' } } }
  let db = await openFor(t, dir)
  db.stream('s', { ...ST, fields: ['cpu', 'mem'] }).window(spec)
  await db.close()
  // The operator is not attached in this run: its stream is still logged (it has a snapshot).
  db = await openFor(t, dir)
  await db.stream('s', { ...ST, fields: ['cpu', 'mem'] }).writeBatch([{ k: 'a', ts: 1, cpu: 1, mem: 1000 }])
  await db.close()
  db = await openFor(t, dir)
  const s = db.stream('s', { ...ST, fields: ['mem', 'cpu'] })
  let w: Output<WindowResult>
  try {
    w = s.window(spec)
  } catch (e) {
    t.true(e instanceof WarpError, 'refusing the changed stream is fine, with a WarpError')
    return db.close()
  }
  const got = collect(w)
  await s.writeBatch([{ k: 'a', ts: 20, cpu: 2, mem: 2000 }])
  await delivered()
  t.deepEqual(got.map((r) => r.values), [{ cpu: 1, mem: 1000 }])
  await db.close()
})

// With `idle`, a quiet stream's watermark follows the clock after a restart too, from the restored
// watermark: its open windows close without a new event, as they do without a restart.
test('an idle stream\'s windows close after a restart as they do without one', async (t) => {
  const spec = { ...ST, idle: 50 }
  const dir = tempDir('hostile-idle')
  let db = await openFor(t, dir)
  let s = db.stream('s', spec)
  const before = collect(s.window(COUNT('w')))
  await s.writeBatch([{ k: 'a', ts: 1000, v: 1 }])
  await db.close()
  t.deepEqual(before, [], 'closed before the restart (no idle time passed)')
  db = await openFor(t, dir)
  s = db.stream('s', spec)
  const after = collect(s.window(COUNT('w')))
  await sleep(400)
  t.deepEqual(after.map((r) => r.start), [1000])
  await db.close()
})

test('baseline: without a restart the idle stream\'s window closes on the clock', async (t) => {
  const db = await openFor(t, tempDir('hostile-idle-base'))
  const s = db.stream('s', { ...ST, idle: 50 })
  const got = collect(s.window(COUNT('w')))
  await s.writeBatch([{ k: 'a', ts: 1000, v: 1 }])
  await until(() => got.length === 1)
  t.is(got[0].start, 1000)
  t.true(db.stats().streams.s.watermark! >= 1010)
  await db.close()
})

// ---------------------------------------------------------------------------------------------
// Events and callbacks that could poison the log or the stream

// With `keepEvents`, an event whose `toJSON` returns undefined leaves the stream log consistent:
// after a crash the operator replays it and attaches again.
test('an event whose toJSON returns undefined does not corrupt the stream log', async (t) => {
  const dir = tempDir('hostile-tojson')
  const spec = { ...ST, keepEvents: true }
  let db = await openFor(t, dir)
  let s = db.stream('s', spec)
  s.window(COUNT('w'))
  const initial = readSnapshot(dir, 'w')
  s.write({ k: 'a', ts: 1, v: 1, toJSON: () => undefined })
  await s.writeBatch([{ k: 'a', ts: 5, v: 1 }, { k: 'a', ts: 6, v: 1 }])
  await db.close()
  rewind(dir, 'w', initial)
  db = await openFor(t, dir)
  s = db.stream('s', spec)
  t.notThrows(() => s.window(COUNT('w')))
  await db.close()
})

// With `keepEvents`, operators see the event that was stored, whatever its `toJSON` (or a getter
// read again) says; an event refused as a dead letter is not stored either.
test('with keepEvents, operators see the event that was stored, whatever its toJSON says', async (t) => {
  const db = await openFor(t, tempDir('hostile-tojson-view'))
  const s = db.stream('s', { ...ST, keepEvents: true })
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { sum: { sum: 'v' } } }))
  const dead = collect(s.deadLetters())
  s.write({ k: 'a', ts: 1, v: 1, toJSON: () => ({ k: 'a', ts: 1, v: 1000 }) })
  s.write({ k: 'b', ts: 50, v: 0 })
  await delivered()
  const stored = ((await db.range('s.v{k="a"}', 0, 100)) as NumericRange).values
  await db.close()
  if (dead.length === 1) t.is(stored.length, 0, 'refused: then not stored either')
  else t.deepEqual(got.filter((r) => r.key === 'a').map((r) => r.values.sum), Array.from(stored))
})

// A listener that throws is reported as a warning; the stream, the other consumers and close go on.
test('a listener that throws does not stop the stream, the other consumers, or close', async (t) => {
  const dir = tempDir('hostile-listener')
  const db = await openFor(t, dir)
  const s = db.stream('s', ST)
  const w = s.window(COUNT('w'))
  w.on(() => {
    throw new Error('a consumer bug')
  })
  const other = collect(w)
  t.notThrows(() => s.write({ k: 'a', ts: 1, v: 1 }))
  t.notThrows(() => s.write({ k: 'a', ts: 15, v: 1 }))
  await until(() => other.length >= 1)
  t.notThrows(() => s.write({ k: 'a', ts: 25, v: 1 }))
  await until(() => other.length >= 2)
  t.deepEqual(other.map((r) => r.seq), [1, 2])
  await t.notThrowsAsync(db.close())
})

// A close that fails (here a custom reducer state, a BigInt, that the snapshot cannot write) still
// releases the database: it opens again in the same process.
test('a close that fails still releases the database', async (t) => {
  const dir = tempDir('hostile-close')
  const db = await openFor(t, dir)
  const s = db.stream('s', ST)
  s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { big: { reduce: { init: () => 0n, add: (a: bigint) => a + 1n, merge: (a: bigint, b: bigint) => a + b, result: (a: bigint) => Number(a) } } } })
  try {
    s.write({ k: 'a', ts: 1, v: 1 })
  } catch {
    // refusing the event (or the reducer) at once is fine too
  }
  await db.close().catch(() => undefined)
  const again = await openFor(t, dir)
  t.pass()
  await again.close()
})

// An event `write()` accepts while `close()` runs reaches the operators (seen after a reopen); one
// it refuses (CLOSED) is not stored.
test('an event write() accepts while close() runs reaches the operators', async (t) => {
  const dir = tempDir('hostile-close-race')
  let db = await openFor(t, dir)
  let s = db.stream('s', ST)
  s.window({ name: 'w', type: 'tumbling', size: 1_000_000, aggregate: { n: 'count' } })
  let closed = false
  const closing = db.close().then(() => (closed = true))
  for (let ts = 0; !closed; ts++) {
    try {
      s.write({ k: 'a', ts, v: 1 })
    } catch {
      // CLOSED: refused, nothing stored
    }
    await new Promise((r) => setImmediate(r))
  }
  await closing
  db = await openFor(t, dir)
  s = db.stream('s', ST)
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 1_000_000, aggregate: { n: 'count' } }))
  const stored = ((await db.range('s.v{k="a"}', 0, 1_000_000)) as NumericRange).values.length
  await s.writeBatch([{ k: 'b', ts: 5_000_000, v: 1 }])
  await delivered()
  t.true(stored > 0)
  t.deepEqual(got.filter((r) => r.key === 'a').map((r) => r.count), [stored])
  await db.close()
})

// A custom reducer's `add` that throws is contained (or its event refused before it is stored):
// the other operators count exactly the stored events, and the operator attaches after a crash.
test('a custom reducer that throws neither breaks the other operators nor blocks recovery', async (t) => {
  const dir = tempDir('hostile-reducer')
  const picky: WindowSpec = {
    name: 'picky',
    type: 'tumbling',
    size: 10,
    aggregate: { r: { reduce: { init: () => 0, add: (a: number, v: number | undefined) => (v === 13 ? (() => { throw new Error('unlucky') })() : a + (v ?? 0)), merge: (a: number, b: number) => a + b, result: (a: number) => a }, of: 'v' } },
  }
  let db = await openFor(t, dir)
  let s = db.stream('s', ST)
  s.window(picky)
  const counted = collect(s.window(COUNT('counted')))
  const initial = { picky: readSnapshot(dir, 'picky'), counted: readSnapshot(dir, 'counted') }
  for (const [i, v] of [1, 13, 2].entries()) {
    try {
      s.write({ k: 'a', ts: i + 1, v })
    } catch {
      // the write may refuse the event, as long as it is then not stored
    }
  }
  s.write({ k: 'b', ts: 100, v: 0 })
  await delivered()
  const stored = ((await db.range('s.v{k="a"}', 0, 100)) as NumericRange).values.length
  t.deepEqual(counted.map((r) => r.count), [stored])
  await db.close()
  rewind(dir, 'picky', initial.picky)
  rewind(dir, 'counted', initial.counted)
  db = await openFor(t, dir)
  s = db.stream('s', ST)
  t.notThrows(() => s.window(picky))
  await db.close()
})

// A custom reducer result that JSON cannot hold does not stop the stream: later writes go on.
test('a custom reducer result that JSON cannot hold does not stop the stream', async (t) => {
  const db = await openFor(t, tempDir('hostile-reducer-result'))
  const s = db.stream('s', ST)
  s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { r: { reduce: { init: () => 0, add: (a: number) => a + 1, merge: (a: number, b: number) => a + b, result: (a: number) => BigInt(a) } } } })
  s.write({ k: 'a', ts: 1, v: 1 })
  s.write({ k: 'a', ts: 20, v: 1 })
  await delivered()
  t.notThrows(() => s.write({ k: 'a', ts: 30, v: 1 }))
  await db.close()
})

// An event whose getters or proxy traps throw is a dead letter, as documented: `write` does not
// throw the user's raw error.
test('events whose getters or proxy traps throw are dead letters, not raw exceptions', async (t) => {
  const db = await openFor(t, tempDir('hostile-getters'))
  const s = db.stream('s', ST)
  const dead = collect(s.deadLetters())
  const events = [
    {
      get k(): string {
        throw new Error('key getter')
      },
      ts: 1,
    },
    {
      k: 'a',
      get ts(): number {
        throw new Error('time getter')
      },
    },
    new Proxy({ k: 'a', ts: 1, v: 1 }, { getOwnPropertyDescriptor: () => { throw new Error('proxy trap') } }),
  ]
  for (const e of events) t.notThrows(() => s.write(e))
  t.is(dead.length, events.length)
  await db.close()
})

// Aggregates read only an event's own properties: a field inherited from a polluted
// Object.prototype counts as missing.
test('a polluted Object.prototype does not reach aggregates', async (t) => {
  const db = await openFor(t, tempDir('hostile-proto'))
  const s = db.stream('s', { ...ST, fields: ['v', 'u'] })
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: { count: 'u' }, avg: { avg: 'u' } } }))
  ;(Object.prototype as Loose).u = 99
  try {
    s.write({ k: 'a', ts: 1, v: 1 })
    s.write({ k: 'a', ts: 20, v: 1 })
  } finally {
    delete (Object.prototype as Loose).u
  }
  await delivered()
  t.deepEqual(got.map((r) => r.values), [{ n: 0, avg: null }])
  await db.close()
})

// A key too long for a series tag is a dead letter (INVALID_KEY) even on a stream without fields;
// later writes and the stream's operators go on.
test('a key too long for a tag is a dead letter even on a stream without fields', async (t) => {
  const db = await openFor(t, tempDir('hostile-long-key'))
  const s = db.stream('s', { key: 'k', timestamp: 'ts', outOfOrder: 0 })
  const dead = collect(s.deadLetters())
  s.alert({ name: 'quiet', field: 'v', absent: 10 })
  s.write({ k: 'x'.repeat(1 << 20), ts: 1 })
  t.deepEqual(dead.map((d) => d.code), ['INVALID_KEY'])
  t.notThrows(() => s.write({ k: 'b', ts: 100 }))
  await delivered()
  await db.close()
})

// ---------------------------------------------------------------------------------------------
// Consumers

// Two `for await` consumers of one output each get every result.
test('two for-await consumers of one output both get the results', async (t) => {
  const db = await openFor(t, tempDir('hostile-two-iterators'))
  const s = db.stream('s', ST)
  const w = s.window(COUNT('w'))
  const one: number[] = []
  const two: number[] = []
  const read = async (into: number[]) => {
    for await (const r of w) {
      into.push(r.seq!)
      if (into.length === 3) break
    }
  }
  const reading = Promise.all([read(one), read(two)])
  for (let i = 0; i <= 3; i++) s.write({ k: 'a', ts: i * 10, v: 1 })
  await Promise.race([reading, sleep(300)])
  t.deepEqual(one, [1, 2, 3])
  t.deepEqual(two, [1, 2, 3])
  await db.close()
})

// Leaving a `for await` loop ends only that iterator: the output's `on()` listeners keep hearing
// every result.
test('breaking out of a for-await loop does not silence the on() listeners', async (t) => {
  const db = await openFor(t, tempDir('hostile-break'))
  const s = db.stream('s', ST)
  const w = s.window(COUNT('w'))
  const heard = collect(w)
  const reading = (async () => {
    for await (const r of w) if (r) break
  })()
  for (let i = 0; i <= 5; i++) s.write({ k: 'a', ts: i * 10, v: 1 })
  await reading
  for (let i = 6; i <= 8; i++) s.write({ k: 'a', ts: i * 10, v: 1 })
  await until(() => heard.length >= 8)
  t.deepEqual(heard.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8])
  await db.close()
})

// A `for await` consumer that leaves with results unread no longer counts towards backpressure:
// writers are not held back for ever.
test('a consumer that leaves with a full queue does not block writers for ever', async (t) => {
  const db = await openFor(t, tempDir('hostile-left'))
  const s = db.stream('s', { ...ST, highWaterMark: 10 })
  const w = s.window(COUNT('w'))
  const it = w[Symbol.asyncIterator]()
  const first = it.next()
  await s.writeBatch(Array.from({ length: 25 }, (_, i) => ({ k: 'a', ts: i * 10, v: 1 })))
  await first
  await it.return!()
  const more = Array.from({ length: 2000 }, (_, i) => ({ k: 'b', ts: 1000 + i, v: 1 }))
  const outcome = await Promise.race([s.writeBatch(more).then(() => 'written'), sleep(1000).then(() => 'held back for ever')])
  t.is(outcome, 'written')
  await db.close()
})

// ---------------------------------------------------------------------------------------------
// Operators changed under the same name, and crafted snapshots

/** Runs `first` (an operator named `w`) over an event, closes, puts `state` in its snapshot if given, reopens and runs `next` over two events: whether it refused with a WarpError (anything else is rethrown). */
async function reattach(first: (s: ReturnType<WarpEngine['stream']>) => unknown, next: (s: ReturnType<WarpEngine['stream']>) => unknown, state?: unknown): Promise<boolean> {
  const dir = tempDir('hostile-reattach')
  let db = await open(dir)
  first(db.stream('s', ST))
  await db.stream('s', ST).writeBatch([{ k: 'a', ts: 1, v: 1 }])
  await db.close()
  if (state !== undefined) {
    const snap = JSON.parse(readSnapshot(dir, 'w').toString())
    snap.state = state
    writeFileSync(snapshotPath(dir, 'w'), JSON.stringify(snap))
  }
  db = await open(dir)
  const s = db.stream('s', ST)
  try {
    // Refusing with a WarpError is fine; if attached, the operator must then work.
    return warpOrNothing(() => {
      next(s)
      s.write({ k: 'a', ts: 2, v: 1 })
      s.write({ k: 'a', ts: 30, v: 1 })
    })
  } finally {
    await db.close().catch(() => undefined)
  }
}

// A snapshot restored into another kind of operator, or a window with other aggregates, is refused
// with a WarpError or gives a working operator; never a TypeError, at attach or at a later write.
test('a snapshot of another kind of operator, or of other aggregates, is refused with a WarpError', async (t) => {
  const median: WindowSpec = { name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count', p: { median: 'v' } } }
  await t.notThrowsAsync(reattach((s) => s.window(COUNT('w')), (s) => s.window(median)))
  await t.notThrowsAsync(reattach((s) => s.alert({ name: 'w', field: 'v', above: 5 }), (s) => s.window(COUNT('w'))))
  await t.notThrowsAsync(reattach((s) => s.window(COUNT('w')), (s) => s.alert({ name: 'w', field: 'v', above: 5 })))
})

// A snapshot whose state has the wrong shape is refused with a WarpError (CORRUPT_CHECKPOINT) or
// gives a working operator; never a TypeError, at attach or at a later write.
test('a snapshot whose state is garbage is CORRUPT_CHECKPOINT, not a TypeError', async (t) => {
  for (const state of [null, 5, [], { wm: 0, keys: 5 }, { wm: 0, keys: [['a', [[0, { n: 1, s: [1], k: 5, c: [] }]], []]] }]) {
    await t.notThrowsAsync(
      reattach(
        (s) => s.window(COUNT('w')),
        (s) => s.window(COUNT('w')),
        state,
      ),
      JSON.stringify(state),
    )
  }
})

// Results recorded before a window's aggregates changed read back from `recorded()` as they were
// (or the changed window, or the read, is refused with a WarpError).
test('results recorded before the aggregates changed read back as they were', async (t) => {
  const dir = tempDir('hostile-codec-layout')
  let db = await openFor(t, dir)
  let s = db.stream('s', ST)
  s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count', avg: { avg: 'v' } } })
  await s.writeBatch([1, 11, 21, 31].map((ts) => ({ k: 'a', ts, v: 5 })))
  await db.close()
  db = await openFor(t, dir)
  s = db.stream('s', ST)
  let w: Output<WindowResult>
  try {
    w = s.window(COUNT('w'))
  } catch (e) {
    t.true(e instanceof WarpError, 'refusing the changed window is fine, with a WarpError')
    return db.close()
  }
  let recorded: WindowResult[]
  try {
    recorded = await w.recorded(0)
  } catch (e) {
    t.true(e instanceof WarpError, 'refusing to decode is fine, with a WarpError')
    return db.close()
  }
  t.deepEqual(recorded.map((r) => [r.start, r.end, r.count]), [[0, 10, 1], [10, 20, 1], [20, 30, 1]])
  await db.close()
})

test('crafted snapshot files: empty, truncated, another operator\'s, a directory are refused with a WarpError; a left-over temporary file is ignored', async (t) => {
  const crafts: [string, (file: string, text: string) => void, string | null][] = [
    ['empty', (f) => writeFileSync(f, ''), 'CORRUPT_CHECKPOINT'],
    ['truncated', (f, text) => writeFileSync(f, text.slice(0, text.length >> 1)), 'CORRUPT_CHECKPOINT'],
    ['another operator\'s', (f, text) => writeFileSync(f, text.replace('"operator":"w"', '"operator":"x"')), 'CORRUPT_CHECKPOINT'],
    ['a directory', (f) => (rmSync(f), mkdirSync(f)), 'IO'],
    ['a snapshot killed before its rename', (f) => writeFileSync(`${f}.tmp`, '{"version":1,"trunc'), null],
  ]
  for (const [what, craft, code] of crafts) {
    const dir = tempDir('hostile-craft')
    let db = await openFor(t, dir)
    const first = db.stream('s', ST)
    first.window(COUNT('w'))
    await first.writeBatch([{ k: 'a', ts: 1, v: 1 }])
    await db.close()
    const file = snapshotPath(dir, 'w')
    craft(file, readFileSync(file, 'utf8'))
    db = await openFor(t, dir)
    const s = db.stream('s', ST)
    if (code === null) {
      const got = collect(s.window(COUNT('w')))
      await s.writeBatch([{ k: 'a', ts: 20, v: 1 }])
      await until(() => got.length === 1)
      t.deepEqual(got.map((r) => [r.start, r.count]), [[0, 1]], what)
    } else t.is(await codeOf(() => s.window(COUNT('w'))), code, what)
    await db.close()
  }
})

// ---------------------------------------------------------------------------------------------
// Alerts, costs, recorded results and options

// Alert transitions of one key at the same event time (firing, then resolved) are all kept in the
// alert's series, in order.
test('alert transitions at the same time are all kept in the alert\'s series', async (t) => {
  const db = await openFor(t, tempDir('hostile-alert-ts'))
  const s = db.stream('s', ST)
  const got = collect(s.alert({ name: 'hot', field: 'v', above: 90 }))
  await s.writeBatch([{ k: 'a', ts: 10, v: 95 }, { k: 'a', ts: 10, v: 50 }, { k: 'a', ts: 20, v: 1 }])
  await delivered()
  t.deepEqual(got.map((a) => a.state), ['firing', 'resolved'])
  const stored = (await db.range('s.alert.hot{k="a"}', 0, 1000)) as Point[]
  t.deepEqual(stored.map((p) => (p.value as { state: string }).state), ['firing', 'resolved'])
  await db.close()
})

// Closing the sliding windows of one event costs about size/slide map lookups, not its square.
test('closing the sliding windows of one event costs about size/slide, not its square', (t) => {
  const n = 2000
  const op = windowOperator({ name: 'w', type: 'sliding', size: n, slide: 1, aggregate: { n: 'count' } }, NOWHERE as Emitter<WindowResult>)
  op.onEvent(0, { key: 'a', ts: 2 * n, event: { v: 1 } })
  const has = Map.prototype.has
  let lookups = 0
  Map.prototype.has = function (this: Map<unknown, unknown>, k: unknown) {
    lookups++
    return has.call(this, k)
  }
  try {
    op.onWatermark(0, 4 * n)
  } finally {
    Map.prototype.has = has
  }
  t.true(lookups < 50 * n, `${lookups} map lookups to close ${n} windows`)
})

// `recorded()` gives back exactly the results delivered live, non-numeric and non-finite values
// (an overflowing sum) included.
test('recorded() gives back exactly the results delivered, non-finite values included', async (t) => {
  const db = await openFor(t, tempDir('hostile-nonfinite'))
  const s = db.stream('s', ST)
  const w = s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { label: { reduce: { init: () => 0, add: (a: number) => a + 1, merge: (a: number, b: number) => a + b, result: (a: number) => `n=${a}` } }, sum: { sum: 'v' } } })
  const live = collect(w)
  await s.writeBatch([{ k: 'a', ts: 1, v: 1e308 }, { k: 'a', ts: 2, v: 1e308 }, { k: 'a', ts: 20, v: 1 }])
  await delivered()
  t.is(live.length, 1)
  t.deepEqual((await w.recorded(0)).map((r) => r.values), live.map((r) => r.values))
  await db.close()
})

// `recorded(after)` beyond every result, up to Number.MAX_SAFE_INTEGER, is empty, not an error.
test('recorded(after) beyond every result is empty, not an error', async (t) => {
  const db = await openFor(t, tempDir('hostile-recorded'))
  const s = db.stream('s', ST)
  const w = s.window(COUNT('w'))
  await s.writeBatch([{ k: 'a', ts: 1, v: 1 }, { k: 'a', ts: 20, v: 1 }])
  await delivered()
  t.deepEqual((await w.recorded(1000)).length, 0)
  t.deepEqual(await w.recorded(Number.MAX_SAFE_INTEGER), [])
  await db.close()
})

// `db.stream` compares options by value: the same options with their keys in another order open
// the same stream.
test('the same stream options in another order open the same stream', async (t) => {
  const db = await openFor(t, tempDir('hostile-options-order'))
  const s = db.stream('s', { key: 'k', timestamp: 'ts' })
  t.is(db.stream('s', { timestamp: 'ts', key: 'k' }), s)
  await db.close()
})

// Options that name one property twice, across the key, the time, fields and attributes, are
// refused with INVALID_ARGUMENT.
test('options naming one property twice (key and field, field and attribute) are refused', async (t) => {
  const db = await openFor(t, tempDir('hostile-options-twice'))
  t.is(await codeOf(() => db.stream('a', { key: 'k', timestamp: 'ts', fields: ['k'] })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.stream('b', { key: 'k', timestamp: 'ts', fields: ['x'], attributes: ['x'] })), 'INVALID_ARGUMENT')
  await db.close()
})

// A rate alert forgets inactive keys: churning keys do not grow its state or its snapshots.
// (The other operators are checked at the end of the file.)
test('a rate alert\'s state stays bounded when keys churn', (t) => {
  const op = alertOperator({ name: 'a', field: 'v', rate: { above: 1000 } }, NOWHERE as Emitter<never>)
  for (let i = 0; i < 1000; i++) {
    op.onEvent(0, { key: `k${i}`, ts: i * 10, event: { v: 1 } })
    op.onEvent(0, { key: `k${i}`, ts: i * 10 + 1, event: { v: 1 } })
    op.onWatermark(0, i * 10)
  }
  op.onWatermark(0, 1e9)
  t.true(JSON.stringify(op.snapshot()).length < 10_000)
})

// ---------------------------------------------------------------------------------------------
// Decoders fed garbage

function sampleBatch(): Buffer {
  const b = new LogBatch()
  const s = b.schema({ name: 's', fields: ['a', 'b'], attributes: ['z'], keep: true })
  for (let i = 0; i < 5; i++) {
    b.event(s, b.string(`k${i}`), 1000 + i)
    b.value(i)
    b.value(NaN)
    b.attribute(i % 2 ? -1 : b.string('zone'))
    b.whole(JSON.stringify({ i }))
  }
  b.watermark(s, 990)
  return b.encode()
}

test('decodeBatch: arbitrary bytes and single-byte changes of a batch only ever fail with CORRUPT_WAL', (t) => {
  const good = sampleBatch()
  t.is(decodeBatch(good).length, 6)
  const outcome = (bytes: Uint8Array): string => {
    try {
      decodeBatch(bytes)
      return 'decoded'
    } catch (e) {
      return e instanceof WarpError ? e.code : `not a WarpError: ${e}`
    }
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, magic) => {
      if (magic && bytes.length >= 4) Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).writeUInt32LE(0x314c5357, 0)
      return ['decoded', 'CORRUPT_WAL'].includes(outcome(bytes))
    }),
    { numRuns: 2000 },
  )
  for (let i = 0; i < good.length; i++) {
    for (const v of [0, 0xff, good[i] ^ 1, good[i] ^ 0x80]) {
      const m = Buffer.from(good)
      m[i] = v
      const o = outcome(m)
      if (o !== 'decoded' && o !== 'CORRUPT_WAL') t.fail(`byte ${i} = ${v}: ${o}`)
    }
  }
  // A huge declared count or header length is refused before anything that size is allocated.
  const huge = Buffer.from(good)
  huge.writeUInt32LE(0xffffffff, 4)
  t.is(outcome(huge), 'CORRUPT_WAL')
})

// decodeBatch refuses a header without its stream name, or a time that is not whole milliseconds,
// with a WarpError like any other inconsistency.
test('decodeBatch refuses records without a stream name or with a time that is not whole milliseconds', (t) => {
  const good = sampleBatch()
  const nameless = Buffer.from(good.toString('latin1').replace('"name":"s"', '"nbme":"s"'), 'latin1')
  t.is(nameless.length, good.length)
  t.throws(() => decodeBatch(nameless), { instanceOf: WarpError })
  const records = decodeBatch(good)
  const header = good.readUInt32LE(4)
  const head = 8 + header + ((8 - (header % 8)) % 8)
  const tsColumn = head + 8 + 2 * records.length * 4 + ((8 - ((records.length * 4) % 8)) % 8) * 2
  const nan = Buffer.from(good)
  nan.writeDoubleLE(NaN, tsColumn)
  t.throws(() => decodeBatch(nan), { instanceOf: WarpError })
})

// The window result codec (read back by `recorded()`) refuses garbage and damaged records with a
// WarpError, or decodes them to sane results; never a raw SyntaxError, RangeError or TypeError.
test('the window result codec refuses garbage and damaged records with a WarpError', (t) => {
  const op = windowOperator({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count', a: { avg: 'v' } } }, NOWHERE as Emitter<WindowResult>)
  const codec = op.codec!
  const results = [0, 1, 2].map((i) => ({ window: 'w', key: `k${i}`, start: i * 10, end: i * 10 + 10, count: 3, values: { n: 3, a: i }, kind: 'close', revision: 0 }))
  const good = codec.encode(1, results)
  t.is((codec.decode(good).results as WindowResult[]).length, 3)
  const sane = (payload: Buffer): boolean => {
    try {
      const { results } = codec.decode(payload) as { results: WindowResult[] }
      return Array.isArray(results) && results.every((r) => ['update', 'close', 'late'].includes(r.kind) && Number.isFinite(r.start))
    } catch (e) {
      return e instanceof WarpError
    }
  }
  for (const payload of [Buffer.alloc(0), Buffer.from([1]), Buffer.from([1, 2, 0, 0, 0, 0x7b, 0x7d]), Buffer.from('{}'), Buffer.from('null')]) {
    t.true(sane(payload), `payload ${payload.toString('hex')}`)
  }
  for (let i = 0; i < good.length; i++) {
    const m = Buffer.from(good)
    m[i] ^= 0xff
    if (!sane(m)) t.fail(`byte ${i} flipped: neither a WarpError nor sane results`)
  }
})

// `Sketch.from` and `Aggregates.fromJSON` (fed from snapshot files) refuse states they did not
// write with a WarpError.
test('Sketch.from and Aggregates.fromJSON refuse states they did not write', (t) => {
  const bad: unknown[] = [null, {}, { z: 'a', p: [[1, 2]], n: [] }, { z: -5, p: [[1e300, 2]], n: [] }, { z: 0, p: [[1, -3]], n: [] }, { z: 0, p: [['x', 1]], n: [] }]
  for (const state of bad) t.throws(() => Sketch.from(state as SketchState), { instanceOf: WarpError }, JSON.stringify(state))
  const aggs = new Aggregates({ n: 'count', p: { median: 'v' } })
  for (const state of [null, {}, { n: 1, s: [1], k: [], c: [] }, { n: 'x', s: 'abc', k: [{ z: 0, p: [], n: [] }], c: [] }]) {
    t.throws(() => aggs.fromJSON(state), { instanceOf: WarpError }, JSON.stringify(state))
  }
})

// ---------------------------------------------------------------------------------------------
// Names, close, backpressure, result numbers, inputs, storage and bounded state

test('one operator name per database: on another stream, or twice after a reopen, it is refused and the first keeps working', async (t) => {
  const dir = tempDir('hostile-names')
  let db = await openFor(t, dir)
  const a = db.stream('a', ST)
  const b = db.stream('b', ST)
  a.window(COUNT('w'))
  t.is(await codeOf(() => b.window(COUNT('w'))), 'INVALID_ARGUMENT')
  await db.close()
  db = await openFor(t, dir)
  t.is(await codeOf(() => db.stream('b', ST).window(COUNT('w'))), 'INVALID_ARGUMENT', 'checkpointed reading another stream')
  const s = db.stream('a', ST)
  const got = collect(s.window(COUNT('w')))
  t.is(await codeOf(() => s.window(COUNT('w'))), 'INVALID_ARGUMENT')
  await s.writeBatch([{ k: 'x', ts: 1, v: 1 }, { k: 'x', ts: 20, v: 1 }])
  await until(() => got.length === 1)
  t.deepEqual(got.map(brief), [['x', 0, 1, 1]])
  await db.close()
})

test('close: twice at once is one close; a for-await consumer mid-iteration gets every result, then ends; writes after it are CLOSED', async (t) => {
  const db = await WarpEngine.open(tempDir('hostile-close-ok'))
  const s = db.stream('s', ST)
  const w = s.window(COUNT('w'))
  const read: number[] = []
  const reading = (async () => {
    for await (const r of w) {
      read.push(r.seq!)
      await sleep(1)
    }
  })()
  for (let i = 0; i <= 20; i++) s.write({ k: 'a', ts: i * 10, v: 1 })
  const [one, two] = [db.close(), db.close()]
  t.is(one, two)
  await Promise.all([one, two])
  await reading
  t.deepEqual(read, Array.from({ length: 20 }, (_, i) => i + 1))
  t.is(await codeOf(() => s.write({ k: 'a', ts: 1000, v: 1 })), 'CLOSED')
  t.is(await codeOf(() => s.writeBatch([{ k: 'a', ts: 1000, v: 1 }])), 'CLOSED')
  t.is(await codeOf(() => s.window(COUNT('later'))), 'CLOSED')
  t.is(await codeOf(() => db.stream('t', ST)), 'CLOSED')
})

test('a writeBatch held back by a slow consumer when close() comes ends (CLOSED or done), never hangs', async (t) => {
  const db = await openFor(t, tempDir('hostile-batch-close'))
  const s = db.stream('s', { ...ST, highWaterMark: 5 })
  const w = s.window(COUNT('w'))
  const it = w[Symbol.asyncIterator]()
  void it.next()
  const batch = s.writeBatch(Array.from({ length: 3000 }, (_, i) => ({ k: 'a', ts: i * 10, v: 1 })))
  await sleep(50)
  t.true(s.stats().backpressure.active)
  await db.close()
  const outcome = await Promise.race([batch.then(() => 'done', (e) => (e as WarpError).code), sleep(2000).then(() => 'hung')])
  t.true(outcome === 'done' || outcome === 'CLOSED', outcome)
})

test('a slow for-await consumer of many keys gets every result once, in order, while writers are held back', async (t) => {
  const db = await openFor(t, tempDir('hostile-slow'))
  const s = db.stream('s', { ...ST, highWaterMark: 100 })
  const w = s.window(COUNT('w'))
  const seen: number[] = []
  const reading = (async () => {
    for await (const r of w) {
      seen.push(r.seq!)
      await new Promise((r) => setImmediate(r))
    }
  })()
  const events = []
  for (let round = 0; round <= 4; round++) for (let k = 0; k < 500; k++) events.push({ k: `k${k}`, ts: round * 10, v: 1 })
  await s.writeBatch(events)
  await db.close()
  await reading
  t.deepEqual(seen, Array.from({ length: 2000 }, (_, i) => i + 1))
  t.true(s.stats().backpressure.engaged > 0)
})

test('a checkpoint taken while writes race it is a consistent place to recover from', async (t) => {
  const dir = tempDir('hostile-checkpoint-race')
  let db = await openFor(t, dir)
  let s = db.stream('s', ST)
  s.window({ name: 'w', type: 'tumbling', size: 1_000_000, aggregate: { n: 'count' } })
  let ts = 0
  let writing = true
  const writer = (async () => {
    while (writing) {
      s.write({ k: 'a', ts: ts++, v: 1 })
      await new Promise((r) => setImmediate(r))
    }
  })()
  await sleep(10)
  await db.checkpoint()
  const taken = readSnapshot(dir, 'w')
  await sleep(10)
  writing = false
  await writer
  await s.writeBatch([])
  await db.close()
  rewind(dir, 'w', taken)
  db = await openFor(t, dir)
  s = db.stream('s', ST)
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 1_000_000, aggregate: { n: 'count' } }))
  await s.writeBatch([{ k: 'b', ts: 5_000_000, v: 1 }])
  await until(() => got.length === 1)
  t.deepEqual(got.filter((r) => r.key === 'a').map((r) => r.count), [ts])
  await db.close()
})

test('result numbers stay 1, 2, … per operator across reopens, with several operators on two streams', async (t) => {
  const dir = tempDir('hostile-seq')
  const seqs = { w: [] as number[], p: [] as number[], j: [] as number[] }
  for (let round = 0; round < 3; round++) {
    const db = await openFor(t, dir)
    const a = db.stream('a', ST)
    const b = db.stream('b', ST)
    a.window(COUNT('w')).on((r) => seqs.w.push(r.seq!))
    a.pattern({ name: 'p', steps: [{ name: 'one' }, { name: 'two' }], skip: 'skipPastLastEvent' }).on((r) => seqs.p.push(r.seq!))
    a.join(b, { name: 'j', between: [0, 0] }).on((r) => seqs.j.push(r.seq!))
    const base = round * 100
    for (let i = 0; i < 10; i++) {
      a.write({ k: 'x', ts: base + i * 10, v: i })
      b.write({ k: 'x', ts: base + i * 10, v: i })
    }
    await a.writeBatch([])
    await db.close()
  }
  for (const [name, got] of Object.entries(seqs)) t.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1), name)
  t.true(seqs.w.length >= 27 && seqs.j.length === 30 && seqs.p.length >= 14)
})

test('inputs: \'1\' and 1 are one key; __proto__ and constructor work as keys and field names; odd times and objects are judged as documented', async (t) => {
  const db = await openFor(t, tempDir('hostile-inputs'))
  const s = db.stream('s', { key: 'k', timestamp: 'ts', fields: ['constructor', 'v'], outOfOrder: 0 })
  const other = db.stream('o', { key: 'k', timestamp: 'ts', fields: ['v'], outOfOrder: 0 })
  const dead = collect(s.deadLetters())
  const windows = collect(s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count', c: { sum: 'constructor' } } }))
  const alerts = collect(s.alert({ name: 'a', field: 'constructor', above: 5 }))
  const pairs = collect(s.join(other, { name: 'j', between: [0, 0] }))
  class Reading {
    constructor(
      readonly k: string,
      readonly ts: number,
      readonly v: number,
    ) {}
  }
  const nullProto = Object.assign(Object.create(null), { k: 'constructor', ts: 3, v: 1 })
  // In time order: an event behind its input's watermark would be late for the join and the alert.
  const events: unknown[] = [
    { k: '__proto__', ts: 1, constructor: 7 },
    { k: '1', ts: 1, v: 1 },
    { k: 1, ts: 2, v: 1, constructor: 9 },
    nullProto,
    new Reading('r', 4, 1),
    { k: 'z', ts: -0, v: 1 },
    { k: 'bad', ts: NaN },
    { k: 'bad', ts: new Date('not a date') },
    { k: 'bad', ts: 1.5 },
    { k: NaN, ts: 1 },
  ]
  for (const e of events) s.write(e)
  for (const [k, ts] of [['__proto__', 1], ['1', 2], ['constructor', 3]] as const) other.write({ k, ts, v: 0 })
  s.write({ k: 'end', ts: 100, v: 0 })
  other.write({ k: 'end', ts: 100, v: 0 })
  await until(() => windows.length >= 5)
  await delivered()
  t.deepEqual(dead.map((d) => d.code), ['INVALID_TIMESTAMP', 'INVALID_TIMESTAMP', 'INVALID_TIMESTAMP', 'MISSING_KEY'])
  const byKey = Object.fromEntries(windows.map((r) => [r.key, r.values]))
  t.deepEqual(byKey['1'], { n: 2, c: 9 })
  t.deepEqual(byKey.__proto__, { n: 1, c: 7 })
  t.deepEqual(Object.keys(byKey).sort(), ['1', '__proto__', 'constructor', 'r', 'z'])
  t.deepEqual(alerts.map((a) => [a.key, a.state, a.value]), [['__proto__', 'firing', 7], ['1', 'firing', 9]])
  t.deepEqual(pairs.map((p) => p.key).sort(), ['1', '__proto__', 'constructor', 'end'])
  t.deepEqual(((await db.range('s.v{k="1"}', 0, 10)) as NumericRange).values, new Float64Array([1, 1]))
  await db.close()
})

test('10,000 fields, and an aggregate over a field no event has (percentile, median: null)', async (t) => {
  const db = await openFor(t, tempDir('hostile-wide'))
  const fields = Array.from({ length: 10_000 }, (_, i) => `f${i}`)
  const s = db.stream('s', { key: 'k', timestamp: 'ts', fields, outOfOrder: 0 })
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count', last: { sum: 'f9999' }, p99: { percentile: 0.99, of: 'f7000' }, med: { median: 'f8000' } } }))
  const wide: Record<string, unknown> = { k: 'a', ts: 1 }
  fields.forEach((f, i) => i < 5000 && (wide[f] = i))
  s.write(wide)
  s.write({ k: 'a', ts: 2, f9999: 2 })
  s.write({ k: 'a', ts: 20 })
  await until(() => got.length === 1)
  t.deepEqual(got[0].values, { n: 2, last: 2, p99: null, med: null })
  await db.close()
})

test('idle and late writes: the watermark never goes back, a late event goes to late() and changes no closed window', async (t) => {
  const db = await openFor(t, tempDir('hostile-idle-late'))
  const s = db.stream('s', { ...ST, idle: 30 })
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count' } }))
  const late = collect(s.late())
  const marks: number[] = []
  s.write({ k: 'a', ts: 1000, v: 1 })
  for (let i = 0; i < 10; i++) {
    await sleep(15)
    marks.push(db.stats().streams.s.watermark ?? -Infinity)
  }
  s.write({ k: 'a', ts: 1001, v: 1 })
  s.write({ k: 'a', ts: 999, v: 1 })
  marks.push(db.stats().streams.s.watermark!)
  await delivered()
  t.deepEqual(marks, [...marks].sort((x, y) => x - y))
  t.deepEqual(got.map((r) => [r.start, r.count, r.kind]), [[1000, 1, 'close']])
  t.deepEqual(late.map((l) => [l.operator, l.ts]), [['w', 1001], ['w', 999]])
  await db.close()
})

test('a processing-time stream stamps events on arrival and closes its windows', async (t) => {
  const db = await openFor(t, tempDir('hostile-processing'))
  const s = db.stream('s', { key: 'k', time: 'processing', fields: ['v'], outOfOrder: 0 })
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 20, aggregate: { n: 'count' } }))
  const before = Date.now()
  s.write({ k: 'a', v: 1, ts: 5 })
  await sleep(50)
  s.write({ k: 'a', v: 1 })
  await until(() => got.length >= 1)
  t.true(got[0].start >= before - 20 && got[0].start <= Date.now())
  await db.close()
})

test('store: true keeps numeric aggregates as series and stores nothing of a custom result that is not a number', async (t) => {
  const db = await openFor(t, tempDir('hostile-store'))
  const s = db.stream('s', ST)
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 10, store: true, aggregate: STORED }))
  await s.writeBatch([{ k: 'a', ts: 1, v: 3 }, { k: 'a', ts: 2, v: 4 }, { k: 'a', ts: 20, v: 0 }])
  await until(() => got.length === 1)
  t.deepEqual(got[0].values, { n: 2, tag: { seen: [3, 4] } })
  t.deepEqual(((await db.range('s.w.n{k="a"}', 0, 100)) as NumericRange).values, new Float64Array([2]))
  t.deepEqual(((await db.range('s.w.tag{k="a"}', 0, 100)) as NumericRange).values, new Float64Array([]))
  await db.close()
})

// With `store: true`, a custom aggregate whose result is never a number gets no series: only the
// numeric aggregates' series appear in listings.
test('store: true makes no series for an aggregate that never stores a number', async (t) => {
  const db = await openFor(t, tempDir('hostile-store-empty'))
  const s = db.stream('s', ST)
  const got = collect(s.window({ name: 'w', type: 'tumbling', size: 10, store: true, aggregate: STORED }))
  await s.writeBatch([{ k: 'a', ts: 1, v: 3 }, { k: 'a', ts: 20, v: 0 }])
  await until(() => got.length === 1)
  t.deepEqual(db.series().map((x) => x.key).filter((k) => k.startsWith('s.w.')), ['s.w.n{k="a"}'])
  await db.close()
})

test('state stays bounded when keys churn: windows of every type, joins, threshold alerts, patterns with within', (t) => {
  const ops: [string, { onEvent: Loose; onWatermark: Loose; snapshot(): unknown }, number][] = [
    ['tumbling', windowOperator({ name: 'w', type: 'tumbling', size: 10, aggregate: { n: 'count' } }, NOWHERE as Emitter<WindowResult>), 1],
    ['sliding', windowOperator({ name: 'w', type: 'sliding', size: 30, slide: 20, lateness: 5, aggregate: { n: 'count', p: { median: 'v' } } }, NOWHERE as Emitter<WindowResult>), 1],
    ['session', windowOperator({ name: 'w', type: 'session', gap: 10, lateness: 5, aggregate: { n: 'count' } }, NOWHERE as Emitter<WindowResult>), 1],
    ['threshold alert', alertOperator({ name: 'a', field: 'v', above: 5, for: 10 }, NOWHERE as Emitter<never>), 1],
    ['interval join', intervalJoin({ name: 'j', between: [-5, 5] }, NOWHERE as Emitter<never>), 2],
    ['window join', windowJoin({ name: 'j', window: { type: 'tumbling', size: 10 } }, NOWHERE as Emitter<never>), 2],
    ['pattern', patternOperator({ name: 'p', steps: [{ name: 'a', where: (e) => (e.v as number) > 5 }, { name: 'b' }], within: 20 }, NOWHERE as Emitter<never>), 1],
  ]
  for (const [name, op, inputs] of ops) {
    for (let i = 0; i < 1000; i++) {
      for (let input = 0; input < inputs; input++) {
        // Each key sends twice (once above the alert's threshold, once below), then never again.
        op.onEvent(input, { key: `k${i}`, ts: i * 10, event: { v: 9 } })
        op.onEvent(input, { key: `k${i}`, ts: i * 10 + 1, event: { v: 1 } })
        op.onWatermark(input, i * 10)
      }
    }
    for (let input = 0; input < inputs; input++) op.onWatermark(input, 1e6)
    t.true(JSON.stringify(op.snapshot()).length < 500, name)
  }
})
