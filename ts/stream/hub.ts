import * as fs from 'node:fs'
import * as path from 'node:path'
import native = require('../native')
import type { Durability, NativeEngine } from '../native'
import { WarpError, guard, guardAsync, toWarpError } from '../errors'
import { LOG_BATCH_BYTES, LogBatch, LogRecord, decodeBatch } from './log'
import { Host } from './host'
import type { Stream } from './stream'

/** What the hub needs from its database. */
export interface HubOwner {
  readonly dir: string
  readonly durability: Durability
  readonly flushIntervalMs: number
  /** The native engine with buffered puts applied (reads, ordered writes), or `CLOSED`. */
  live(): NativeEngine
  engine(): NativeEngine
  buffer(id: number, ts: number, value: number): void
}

/** An operator's checkpoint: its state after the log record at `position`. */
interface Snapshot {
  version: 1
  operator: string
  /** The operator's kind and options as written (functions by their source): a snapshot restores only into the same definition. */
  definition: string
  inputs: string[]
  /** The log position (the log point's timestamp) the state includes everything up to. */
  position: number
  emitted: number
  watermarks: (number | null)[]
  state: unknown
}

/** Records per log batch: a batch is one event point in the WAL, so also at most what an event holds. */
const BATCH_RECORDS = 8192
/** Snapshots are taken at least this often, so a recovery replays at most this much log. */
const SNAPSHOT_EVERY_MS = 60_000

/**
 * The streams of one database and their operators: the shared arrival log (one log for all
 * streams, so replay sees events of different streams in the order they came), the commit
 * cycle that records and delivers final results, snapshots and recovery.
 */
export class StreamHub {
  readonly streams = new Map<string, Stream>()
  readonly hosts = new Map<string, Host>()
  readonly batch = new LogBatch()
  private logId = -1
  /** The newest log position written (log points are at strictly rising timestamps). */
  private position = 0
  private scheduled = false
  private commitTimer: NodeJS.Timeout | null = null
  private snapshotTimer: NodeJS.Timeout | null = null
  private committing: Promise<void> | null = null
  /** The newest WAL write holding recorded results. */
  private recordedUpto = 0
  private failure: WarpError | null = null
  private readonly folder: string

  constructor(private readonly owner: HubOwner) {
    this.folder = path.join(owner.dir, 'temporal', 'live', 'streams')
  }

  /** The log is written only for streams whose events an operator (now or in a snapshot) needs. */
  hasSnapshots(stream: string): boolean {
    return this.snapshotFiles().some((s) => s.inputs.includes(stream))
  }

  /** Before a record of at most `bytes` is added: a batch it would take past what an event holds is written first. */
  fit(bytes: number): void {
    if (this.batch.bytes + bytes > LOG_BATCH_BYTES && this.batch.size > 0) this.flushLog()
  }

  /** A record was added to the batch: write it out when full, or on the next turn of the event loop. */
  logged(): void {
    if (this.failure) throw this.failure
    if (this.batch.bytes >= LOG_BATCH_BYTES || this.batch.size >= BATCH_RECORDS) this.flushLog()
    else this.wake()
  }

  /** Writes the log and records results on the next turn of the event loop (results that came between events wake it too). */
  wake(): void {
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => {
        this.scheduled = false
        try {
          this.flushLog()
        } catch (e) {
          this.failure = toWarpError(e)
        }
      })
    }
  }

  /** Writes the log batch, then the results it caused, to the WAL; schedules their delivery. */
  flushLog(): void {
    const engine = this.owner.engine()
    if (this.batch.size > 0) {
      const payload = this.batch.encode()
      this.batch.clear()
      const log = this.logSeries()
      this.position = Math.max(this.position + 1, Date.now())
      guard(() => engine.putEvent(log, this.position, payload))
    }
    let last: number | undefined
    for (const h of this.hosts.values()) last = h.record() ?? last
    if (last !== undefined) this.commitLater(last)
  }

  /** Delivers recorded results once durable: at once in `sync` mode (one fsync shared by all),
   * with the next periodic flush in `interval` mode, at once in `none` mode (which never fsyncs). */
  private commitLater(wal: number): void {
    this.recordedUpto = Math.max(this.recordedUpto, wal)
    if (this.owner.durability === 'none') return this.deliver(wal)
    const delay = this.owner.durability === 'sync' ? 0 : this.owner.flushIntervalMs
    if (this.commitTimer) return
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null
      this.committing = this.commit().finally(() => (this.committing = null))
    }, delay)
  }

  private async commit(): Promise<void> {
    try {
      const engine = this.owner.engine()
      const upto = this.recordedUpto
      await guardAsync(() => engine.waitDurable(upto))
      this.deliver(upto)
    } catch (e) {
      this.failure ??= toWarpError(e)
    }
  }

  private deliver(durable: number): void {
    for (const h of this.hosts.values()) h.deliver(durable)
  }

  /**
   * Attaches an operator: restores its snapshot if it has one and replays the log since it,
   * or starts it fresh at the log's end (and snapshots it, so a crash before the first
   * periodic snapshot still knows where it began).
   */
  attach(host: Host): void {
    const { op, inputs } = host
    if (this.hosts.has(op.name)) throw new WarpError('INVALID_ARGUMENT', `a stream operator named '${op.name}' is already attached`)
    this.flushLog()
    // The log's position, read now: a new operator starts there, not at 0.
    this.logSeries()
    const snapshot = this.readSnapshot(op.name)
    if (snapshot) {
      const names = inputs.map((s) => s.name)
      if (snapshot.inputs.join('\n') !== names.join('\n') || snapshot.definition !== host.definition) {
        throw new WarpError('INVALID_ARGUMENT', `operator '${op.name}' was checkpointed with another definition (reading ${snapshot.inputs.join(', ')}); give the changed operator another name, or remove ${this.snapshotFile(op.name)} to start it afresh`)
      }
      try {
        op.restore(snapshot.state)
      } catch (e) {
        throw new WarpError('CORRUPT_CHECKPOINT', `the checkpoint of stream operator '${op.name}' does not restore (${(e as Error).message}); remove ${this.snapshotFile(op.name)} to start it afresh`, { cause: e })
      }
      snapshot.watermarks.forEach((w, i) => (host.watermarks[i] = w ?? -Infinity))
      host.resume(snapshot.emitted)
      this.replay(host, inputs, snapshot.position)
      inputs.forEach((s, i) => s.adopt(host.watermarks[i]))
    } else {
      host.resume(undefined)
      // It starts where its inputs are: events already behind their watermarks are late to it too.
      inputs.forEach((s, i) => s.watermark > -Infinity && host.watermark(i, s.watermark))
    }
    this.hosts.set(op.name, host)
    for (const s of inputs) s.hosts.push({ host: host, input: inputs.indexOf(s) })
    this.startSnapshots()
    if (!snapshot) this.writeSnapshots([this.capture(host)])
  }

  /** Feeds `host` every logged record of its inputs after `position`, as they came. */
  private replay(host: Host, inputs: Stream[], position: number): void {
    const engine = this.owner.engine()
    const r = guard(() => engine.rangeSync(this.logSeries(), position + 1, Number.MAX_SAFE_INTEGER, undefined, undefined))
    const index = new Map(inputs.map((s, i) => [s.name, i]))
    host.replaying = true
    try {
      for (const payload of r.payloads ?? []) {
        for (const rec of decodeBatch(payload)) {
          const input = index.get(rec.stream)
          if (input === undefined) continue
          const stream = inputs[input]
          if ('watermark' in rec) host.watermark(input, rec.watermark)
          else {
            host.event(input, stream.fromLog(rec as Extract<LogRecord, { key: string }>))
            host.watermark(input, stream.watermarkAfter(rec.ts, host.watermarks[input]))
          }
        }
      }
      host.op.drain?.()
    } finally {
      host.replaying = false
    }
    this.position = Math.max(this.position, r.timestamps.length ? r.timestamps[r.timestamps.length - 1] : 0)
  }

  /**
   * Snapshots every operator: their states are taken at one log position, then written once
   * the log up to it is durable (a crash in between keeps the previous snapshots, which the
   * longer log still covers).
   */
  async snapshot(): Promise<void> {
    if (this.hosts.size === 0) return
    // Results still being made elsewhere are recorded with the log before the states are taken.
    for (const h of this.hosts.values()) h.op.drain?.()
    this.flushLog()
    const taken = [...this.hosts.values()].map((h) => this.capture(h))
    await guardAsync(() => this.owner.engine().flush())
    this.writeSnapshots(taken)
  }

  /** An operator's snapshot, serialised now (its state goes on changing while the log is flushed). */
  private capture(h: Host): { operator: string; text: string } {
    const finite = (w: number) => (Number.isFinite(w) ? w : null)
    // The state first: an operator working elsewhere emits what it still owed on the way.
    const state = h.op.snapshot()
    const snapshot: Snapshot = {
      version: 1,
      operator: h.name,
      definition: h.definition,
      inputs: h.inputs.map((s) => s.name),
      position: this.position,
      emitted: h.emitted,
      watermarks: h.watermarks.map(finite),
      state,
    }
    return { operator: h.name, text: JSON.stringify(snapshot) }
  }

  private writeSnapshots(snapshots: { operator: string; text: string }[]): void {
    fs.mkdirSync(this.folder, { recursive: true })
    for (const s of snapshots) {
      const file = this.snapshotFile(s.operator)
      const tmp = `${file}.tmp`
      const fd = fs.openSync(tmp, 'w')
      try {
        fs.writeSync(fd, s.text)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
      fs.renameSync(tmp, file)
    }
    const dir = fs.openSync(this.folder, 'r')
    try {
      fs.fsyncSync(dir)
    } finally {
      fs.closeSync(dir)
    }
  }

  private snapshotFile(name: string): string {
    return path.join(this.folder, `${name}.json`)
  }

  private readSnapshot(name: string): Snapshot | undefined {
    const file = this.snapshotFile(name)
    let text: string
    try {
      text = fs.readFileSync(file, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new WarpError('IO', `cannot read the checkpoint of stream operator '${name}': ${(e as Error).message}`, { cause: e })
    }
    try {
      const s = JSON.parse(text) as Snapshot
      const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0
      const valid =
        s.version === 1 &&
        s.operator === name &&
        typeof s.definition === 'string' &&
        Array.isArray(s.inputs) &&
        s.inputs.every((i) => typeof i === 'string') &&
        count(s.position) &&
        count(s.emitted) &&
        Array.isArray(s.watermarks) &&
        s.watermarks.length === s.inputs.length &&
        s.watermarks.every((w) => w === null || Number.isFinite(w))
      if (!valid) throw new Error('fields are missing or of the wrong type')
      return s
    } catch (e) {
      throw new WarpError('CORRUPT_CHECKPOINT', `the checkpoint of stream operator '${name}' (${file}) is damaged: ${(e as Error).message}; remove the file to start the operator afresh`, { cause: e })
    }
  }

  private snapshotFiles(): Snapshot[] {
    let names: string[]
    try {
      names = fs.readdirSync(this.folder).filter((n) => n.endsWith('.json'))
    } catch {
      return []
    }
    return names.flatMap((n) => {
      try {
        return [this.readSnapshot(n.slice(0, -'.json'.length))!]
      } catch {
        return []
      }
    })
  }

  private startSnapshots(): void {
    if (this.snapshotTimer) return
    this.snapshotTimer = setInterval(() => {
      this.snapshot().catch((e) => (this.failure ??= toWarpError(e)))
    }, SNAPSHOT_EVERY_MS)
    this.snapshotTimer.unref()
  }

  private logSeries(): number {
    if (this.logId < 0) {
      const engine = this.owner.engine()
      this.logId = guard(() => engine.streamSeries('log', native.SeriesKind.Event))
      // Positions must rise across restarts even if the clock went back.
      this.position = Math.max(this.position, guard(() => engine.latest(this.logId))?.ts ?? 0)
    }
    return this.logId
  }

  /**
   * How much of the stream log can go: everything up to the oldest position an operator's
   * snapshot still needs replayed from (all of it when no operator has a snapshot). A snapshot
   * of an operator no longer used holds the log back until its file is removed.
   */
  logRetention(): { metric: string; before: number }[] {
    const positions = this.snapshotFiles().map((s) => s.position)
    const floor = positions.length > 0 ? Math.min(...positions) : this.position
    return floor > 0 ? [{ metric: '__stream:log', before: floor + 1 }] : []
  }

  /** Resolves once everything written so far is acknowledged: in the engine, and fsynced in `sync` mode. */
  async acknowledge(): Promise<void> {
    this.flushLog()
    const engine = this.owner.live()
    if (this.owner.durability === 'sync') await guardAsync(() => engine.flush())
  }

  /** Before the database closes: refuse more events, record, snapshot (which makes everything durable) and deliver what is left. */
  async close(): Promise<void> {
    for (const s of this.streams.values()) s.end()
    if (this.snapshotTimer) clearInterval(this.snapshotTimer)
    if (this.commitTimer) clearTimeout(this.commitTimer)
    this.commitTimer = null
    try {
      await this.committing
      if (this.hosts.size > 0) {
        await this.snapshot()
        this.deliver(Number.MAX_SAFE_INTEGER)
      }
    } finally {
      for (const h of this.hosts.values()) {
        h.op.stop?.()
        h.end()
      }
    }
  }

  /** A failure of background work, reported by the next write. */
  check(): void {
    if (this.failure) throw this.failure
  }
}
