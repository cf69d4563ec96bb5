import native = require('./native')
import type { NativeEngine, NativePartition } from './native'
import { DEFAULT_RULES, Rules, TierName, storeRules, validateRules } from './config'
import { WarpError, guardAsync } from './errors'
import { describe } from './args'

const HOUR = 3_600_000
const DAY = 24 * HOUR

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
 * is compacted once it has ended and every finer partition in it has reached the threshold.
 * Each pass is one native call, committed at once: this class decides which partitions are
 * ripe, the engine does the rest (windows, cascades down the tiers, overlays).
 */
export class Lifecycle {
  private rulesNow: Rules = structuredClone(DEFAULT_RULES)
  private readonly frequency = new Map<number, { value: number; reads: number; at: number }>()
  private timer: NodeJS.Timeout | null = null
  private running: Promise<LifecycleReport> | null = null
  /** Rule changes, one at a time; `settle` waits for them. */
  private changing: Promise<unknown> = Promise.resolve()
  private lastReport: LifecycleReport | null = null
  private lastError: string | null = null

  constructor(
    private readonly engine: () => NativeEngine,
    /** Horizons of the engine's own series that the rules do not cover (the stream log's). */
    private readonly ownRules: () => { metric: string; before: number }[] = () => [],
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
    this.engine()
    const next = this.changing.then(() => this.change(change))
    this.changing = next.catch(() => undefined)
    return next
  }

  private async change(change: { [K in keyof Rules]?: Partial<Rules[K]> }): Promise<Rules> {
    this.engine()
    if (change === null || typeof change !== 'object') {
      throw new WarpError('INVALID_CONFIG', `a rule change must be an object, not ${describe(change)}`)
    }
    const next = structuredClone(this.rulesNow) as unknown as Record<string, Record<string, unknown>>
    for (const key of Object.keys(change)) {
      const value = (change as Record<string, unknown>)[key]
      if (!Object.hasOwn(next, key)) throw new WarpError('INVALID_CONFIG', `unknown rule file '${key}'`)
      if (value === null || typeof value !== 'object') {
        throw new WarpError('INVALID_CONFIG', `rules.${key} must be an object, not ${describe(value)}`)
      }
      next[key] = { ...next[key], ...value }
    }
    const rules = next as unknown as Rules
    validateRules(rules)
    await storeRules(this.engine(), rules)
    this.engine() // closed meanwhile: the files are written, but nothing restarts
    this.use(rules)
    return this.rules
  }

  /** Every partition with its entropy as of `now` (ages are measured against `now`). */
  scores(now = Date.now()): PartitionScore[] {
    checkNow(now)
    const partitions = this.engine().partitions()
    this.observe(partitions)
    return partitions.map((p) => this.score(p, now))
  }

  /** One full pass as of `now`: seal, move ripe windows down, recompress, apply retention.
   * Passes run one after another: a pass asked for while another runs starts when it ends. */
  run(now: number = Date.now()): Promise<LifecycleReport> {
    try {
      checkNow(now)
    } catch (e) {
      return Promise.reject(e)
    }
    const next = (this.running ?? Promise.resolve()).catch(() => undefined).then(() => this.pass(now))
    this.running = next
    const clear = (): void => {
      if (this.running === next) this.running = null
    }
    next.then(clear, clear)
    return next
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Waits for a pass or rule change in progress (used by close). */
  async settle(): Promise<void> {
    this.stop()
    await this.running?.catch(() => undefined)
    await this.changing
  }

  status(): { lastReport: LifecycleReport | null; lastError: string | null; partitions: PartitionScore[] } {
    return { lastReport: this.lastReport, lastError: this.lastError, partitions: this.scores() }
  }

  private async pass(now: number): Promise<LifecycleReport> {
    const started = performance.now()
    const { lifecycle, compression, retention } = this.rulesNow
    const { tiers, entropy } = lifecycle
    const engine = this.engine()
    // Windows start on whole hours: seal whole hours older than the live tier's age.
    const sealBefore = Math.floor((now - tiers.live.maxAgeHours * HOUR) / HOUR) * HOUR
    const scores = this.scores(now)
    // A partition written by this pass has no reads yet (dilation 1): it is ripe once its
    // age reaches the threshold times its tier's maximum age.
    const ripeAfter = (maxAge: number): number => Math.ceil(maxAge * entropy.threshold)
    const outcome = await guardAsync(() =>
      engine.runPass({
        now,
        sealBefore,
        // Rules allow fractional days; the engine takes whole milliseconds.
        expireBefore: retention.maxAgeDays === null ? undefined : Math.floor(now - retention.maxAgeDays * DAY),
        // Rollups first: their cells' metrics would match a broad metric pattern too.
        expireRules: [
          ...this.ownRules(),
          ...Object.entries(retention.rollups ?? {}).map(([name, days]) => ({ metric: `__rollup:${name}@*`, before: horizonOf(now, days) })),
          ...(retention.metrics ?? []).map((r) => ({ metric: r.metric, before: horizonOf(now, r.maxAgeDays) })),
        ],
        ripe: scores.filter((s) => s.entropy >= entropy.threshold).map((s) => s.id),
        ripeAfterMs: {
          hourly: ripeAfter(tiers.recent.maxAgeHours * HOUR),
          daily: ripeAfter(tiers.historical.maxAgeDays * DAY),
          monthly: ripeAfter(tiers.monthly.maxAgeDays * DAY),
          yearly: undefined,
        },
        lz4: { ...compression.lz4 },
        recompress: true,
      }),
    )
    for (const m of outcome.moves) for (const p of m.inputs) this.frequency.delete(p.id)
    const report: LifecycleReport = {
      sealedPoints: outcome.sealedPoints,
      moves: outcome.moves.map((m) => move(m.inputs, m.output, m.recompression)),
      partitionsDropped: outcome.dropped.length,
      durationMs: performance.now() - started,
    }
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
    const tier = p.tier
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

function checkNow(now: unknown): asserts now is number {
  if (typeof now !== 'number' || !Number.isInteger(now) || now < native.MIN_TIMESTAMP || now > native.MAX_TIMESTAMP) {
    throw new WarpError('INVALID_TIMESTAMP', `now must be an integer timestamp in years 0 to 9999, not ${describe(now)}`)
  }
}

function move(inputs: NativePartition[], out: NativePartition, recompression: boolean): LifecycleMove {
  return {
    from: inputs.map((p) => p.tier),
    to: out.tier,
    window: out.dir,
    bytesBefore: inputs.reduce((s, p) => s + p.bytes, 0),
    bytesAfter: out.bytes,
    recompression,
  }
}

/** The horizon of an age in days as of `now` (null: nothing expires). */
function horizonOf(now: number, days: number | null): number {
  return days === null ? native.MIN_TIMESTAMP : Math.floor(now - days * DAY)
}
