import type { NativeEngine, NativePartition } from './native'
import { DEFAULT_RULES, Rules, TierName, storeRules, validateRules } from './config'
import { guardAsync } from './errors'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const NEXT_TIER: Record<TierName, TierName | null> = { hourly: 'daily', daily: 'monthly', monthly: 'yearly', yearly: null }

/** A partition as the policy scores it. */
export interface PartitionScore {
  id: number
  tier: TierName
  dir: string
  start: number
  end: number
  points: number
  bytes: number
  lz4: boolean
  /** Hours since the partition's window ended. */
  ageHours: number
  /** Reads, decayed with the configured half-life. */
  accessFrequency: number
  /** Time dilation: how much slower than wall-clock time this partition ages (≥ 1). */
  dilation: number
  /** Dilated age over the tier's maximum age: at the threshold (1 by default) it moves down. */
  entropy: number
}

export interface LifecycleMove {
  from: TierName[]
  to: TierName
  window: string
  bytesBefore: number
  bytesAfter: number
  recompression: boolean
}

export interface LifecycleReport {
  sealedPoints: number
  moves: LifecycleMove[]
  partitionsDropped: number
  durationMs: number
}

/**
 * The lifecycle policy: decides, from the rule files, when data moves down the tiers; the
 * native engine does the moving (each move one atomic manifest commit).
 *
 * Temporal entropy of a partition = (age since its window ended ÷ dilation) ÷ its tier's
 * maximum age, where dilation = 1 + dilationPerAccess × (reads decayed with the configured
 * half-life). Partitions read often age more slowly (time dilation), so hot old data stays in
 * the uncompressed hourly tier, and in the block cache, for longer. A window of the next tier
 * is compacted once it has ended and every partition in it has reached the threshold.
 */
export class Lifecycle {
  private rulesNow: Rules = structuredClone(DEFAULT_RULES)
  private readonly frequency = new Map<number, { value: number; reads: number; at: number }>()
  private timer: NodeJS.Timeout | null = null
  private running: Promise<LifecycleReport> | null = null
  private lastReport: LifecycleReport | null = null
  private lastError: string | null = null

  constructor(
    private readonly engine: () => NativeEngine,
    private readonly dir: string,
  ) {}

  get rules(): Rules {
    return structuredClone(this.rulesNow)
  }

  /** Applies validated rules and (re)starts the background timer. */
  use(rules: Rules): void {
    validateRules(rules)
    this.rulesNow = structuredClone(rules)
    this.stop()
    const seconds = rules.lifecycle.intervalSeconds
    if (seconds > 0) {
      this.timer = setInterval(() => {
        if (this.running) return
        this.run().catch((e) => (this.lastError = String((e as Error).message ?? e)))
      }, seconds * 1000)
      this.timer.unref()
    }
  }

  /** Changes the rules at runtime: validated, written to the rule files, then applied. */
  async setRules(change: { [K in keyof Rules]?: Partial<Rules[K]> }): Promise<Rules> {
    const next = structuredClone(this.rulesNow) as unknown as Record<string, Record<string, unknown>>
    for (const [key, value] of Object.entries(change)) next[key] = { ...next[key], ...(value as object) }
    const rules = next as unknown as Rules
    validateRules(rules)
    await storeRules(this.dir, rules)
    this.use(rules)
    return this.rules
  }

  /** Every partition with its entropy as of `now` (ages are measured against `now`). */
  scores(now = Date.now()): PartitionScore[] {
    const partitions = this.engine().partitions()
    this.observe(partitions)
    return partitions.map((p) => this.score(p, now))
  }

  /** One full pass now: seal, move ripe windows down, recompress, apply retention. */
  run(options: { now?: number } = {}): Promise<LifecycleReport> {
    if (!this.running) {
      this.running = this.pass(options.now ?? Date.now()).finally(() => (this.running = null))
    }
    return this.running
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Waits for a pass in progress (used by close). */
  async settle(): Promise<void> {
    this.stop()
    await this.running?.catch(() => undefined)
  }

  status(): { lastReport: LifecycleReport | null; lastError: string | null; partitions: PartitionScore[] } {
    return { lastReport: this.lastReport, lastError: this.lastError, partitions: this.scores() }
  }

  private async pass(now: number): Promise<LifecycleReport> {
    const started = performance.now()
    const { lifecycle, compression, retention } = this.rulesNow
    const engine = this.engine()
    const report: LifecycleReport = { sealedPoints: 0, moves: [], partitionsDropped: 0, durationMs: 0 }

    const cutoff = Math.floor((now - lifecycle.tiers.live.maxAgeHours * HOUR) / HOUR) * HOUR
    report.sealedPoints = await guardAsync(() => engine.seal(cutoff, compression.lz4.hourly) as Promise<number>)

    // Move ripe windows down, coarsest last so a partition can cascade in one pass.
    for (const tier of ['hourly', 'daily', 'monthly'] as TierName[]) {
      const target = NEXT_TIER[tier]!
      const scored = this.scores(now)
      const windows = new Map<number, PartitionScore[]>()
      for (const p of scored.filter((s) => s.tier === tier)) {
        const start = windowStart(target, p.start)
        windows.set(start, [...(windows.get(start) ?? []), p])
      }
      for (const [start, members] of windows) {
        const inWindow = scored.filter((s) => s.start >= start && s.end <= windowEnd(target, start))
        const ripe = windowEnd(target, start) <= now && inWindow.every((s) => s.entropy >= lifecycle.entropy.threshold)
        if (!ripe) continue
        const moved = await guardAsync(() => engine.compact(target, start, compression.lz4[target]) as Promise<NativePartition | null>)
        if (moved) report.moves.push(move(inWindow, moved, false))
        for (const m of members) this.frequency.delete(m.id)
      }
    }

    // Recompress partitions written under another compression rule.
    for (const p of this.scores(now)) {
      if (p.lz4 === compression.lz4[p.tier]) continue
      const redone = await guardAsync(() => engine.compact(p.tier, p.start, compression.lz4[p.tier]) as Promise<NativePartition | null>)
      if (redone) report.moves.push(move([p], redone, true))
    }

    if (retention.maxAgeDays !== null) {
      const horizon = now - retention.maxAgeDays * DAY
      report.partitionsDropped = await guardAsync(() => engine.dropBefore(horizon) as Promise<number>)
    }
    report.durationMs = performance.now() - started
    this.lastReport = report
    this.lastError = null
    return report
  }

  /** Folds new reads into each partition's decayed access frequency. Reads happen in real
   * time, so the decay runs on the wall clock even when a pass is given another `now`. */
  private observe(partitions: NativePartition[]): void {
    const now = Date.now()
    const halfLife = this.rulesNow.lifecycle.entropy.accessHalfLifeHours * HOUR
    const alive = new Set<number>()
    for (const p of partitions) {
      alive.add(p.id)
      const f = this.frequency.get(p.id) ?? { value: 0, reads: 0, at: now }
      const decay = Math.pow(2, -Math.max(0, now - f.at) / halfLife)
      this.frequency.set(p.id, { value: f.value * decay + Math.max(0, p.reads - f.reads), reads: p.reads, at: now })
    }
    for (const id of this.frequency.keys()) if (!alive.has(id)) this.frequency.delete(id)
  }

  private score(p: NativePartition, now: number): PartitionScore {
    const { tiers, entropy } = this.rulesNow.lifecycle
    const tier = p.tier as TierName
    const maxAge: Record<TierName, number> = {
      hourly: tiers.recent.maxAgeHours * HOUR,
      daily: tiers.historical.maxAgeDays * DAY,
      monthly: tiers.monthly.maxAgeDays * DAY,
      yearly: Infinity,
    }
    const accessFrequency = this.frequency.get(p.id)?.value ?? 0
    const dilation = 1 + entropy.dilationPerAccess * accessFrequency
    const age = Math.max(0, now - p.end)
    return {
      id: p.id,
      tier,
      dir: p.dir,
      start: p.start,
      end: p.end,
      points: p.points,
      bytes: p.bytes,
      lz4: p.lz4,
      ageHours: age / HOUR,
      accessFrequency,
      dilation,
      entropy: age / dilation / maxAge[tier],
    }
  }
}

function move(inputs: PartitionScore[], out: NativePartition, recompression: boolean): LifecycleMove {
  return {
    from: inputs.map((p) => p.tier),
    to: out.tier as TierName,
    window: out.dir,
    bytesBefore: inputs.reduce((s, p) => s + p.bytes, 0),
    bytesAfter: out.bytes,
    recompression,
  }
}

/** Start of the UTC window of `tier` holding `ts`. */
export function windowStart(tier: TierName, ts: number): number {
  const d = new Date(ts)
  switch (tier) {
    case 'hourly':
      return Math.floor(ts / HOUR) * HOUR
    case 'daily':
      return Math.floor(ts / DAY) * DAY
    case 'monthly':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
    case 'yearly':
      return Date.UTC(d.getUTCFullYear(), 0, 1)
  }
}

function windowEnd(tier: TierName, start: number): number {
  const d = new Date(start)
  switch (tier) {
    case 'hourly':
      return start + HOUR
    case 'daily':
      return start + DAY
    case 'monthly':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
    case 'yearly':
      return Date.UTC(d.getUTCFullYear() + 1, 0, 1)
  }
}
