import type { NativeEngine, NativeMatcher, NativeRollup } from './native'
import { describe } from './args'
import { guard, guardAsync } from './errors'
import { TagMatch, invalid, toSelector } from './select'

/** What a rollup can keep per bucket: everything a whole bucket's answer is derived from. `median` or any `percentile(p)` keeps a quantile sketch per bucket, which answers every percentile within 1% relative error. */
export type RollupAggregate = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'first' | 'last' | 'spread' | 'stddev' | 'variance' | 'median' | `percentile(${number})`

/** A rollup as declared. */
export interface RollupDefinition {
  /** 1–64 of `A-Z a-z 0-9 _ - .`, unique in the database. */
  name: string
  /** The one metric whose series it keeps. */
  metric: string
  /** Only the series these tag matchers select (as a query's `where`). */
  where?: Record<string, TagMatch>
  /** Bucket width: milliseconds or a fixed duration such as `'1m'`, `'1h'` (no calendar units). */
  every: number | string
  aggregates: RollupAggregate[]
}

/** A rollup as `list()` shows it. */
export interface Rollup {
  name: string
  metric: string
  where: Record<string, TagMatch>
  /** Bucket width in ms. */
  every: number
  aggregates: string[]
  /** Whether its cells cover the data there was when it was declared. */
  ready: boolean
  /** Series feeding it, and those of them with points not materialized yet. */
  sources: number
  dirty: number
}

const FIELDS = ['name', 'metric', 'where', 'every', 'aggregates']

/**
 * Rollups (continuous aggregates): per series and fixed bucket, the partial aggregates a
 * query's whole buckets are derived from. A query whose buckets are unions of a rollup's, on
 * its metric, with its `where` among the query's, asking only what it keeps, reads the rollup
 * instead of raw points (`explain.rollup` names it) and gets the raw answer.
 */
export class Rollups {
  readonly #live: () => NativeEngine

  /** @internal */
  constructor(live: () => NativeEngine) {
    this.#live = live
  }

  /**
   * Declares a rollup and computes its cells over the data already stored.
   *
   * ```ts
   * await db.rollups.create({ name: 'cpu_1m', metric: 'cpu.usage_user', every: '1m', aggregates: ['avg', 'max'] })
   * ```
   */
  async create(definition: RollupDefinition): Promise<Rollup> {
    const engine = this.#live()
    if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
      throw invalid('rollup', `must be an object, not ${describe(definition)}`)
    }
    const d = Object.assign(Object.create(null) as Record<string, unknown>, definition)
    const unknown = Object.keys(d).find((k) => !FIELDS.includes(k))
    if (unknown !== undefined) throw invalid(unknown, `is not a rollup field (${FIELDS.join(', ')})`)
    for (const f of ['name', 'metric'] as const) {
      if (typeof d[f] !== 'string') throw invalid(f, `must be a string, not ${describe(d[f])}`)
    }
    if (typeof d.every !== 'number' && typeof d.every !== 'string') {
      throw invalid('every', `must be milliseconds or text such as '1m', not ${describe(d.every)}`)
    }
    if (!Array.isArray(d.aggregates) || !d.aggregates.every((a) => typeof a === 'string')) {
      throw invalid('aggregates', `must be a list of aggregate names, not ${describe(d.aggregates)}`)
    }
    const selector = toSelector({ where: d.where as Record<string, TagMatch> | undefined })
    const spec = { name: d.name as string, metric: d.metric as string, tags: selector.tags, every: d.every, aggregates: [...(d.aggregates as string[])] }
    return shape(await guardAsync(() => engine.createRollup(spec)))
  }

  /** Every rollup. */
  list(): Rollup[] {
    const engine = this.#live()
    return guard(() => engine.rollups()).map(shape)
  }

  /** Drops a rollup and its cells; whether it existed. */
  drop(name: string): boolean {
    if (typeof name !== 'string') throw invalid('name', `must be a string, not ${describe(name)}`)
    const engine = this.#live()
    return guard(() => engine.dropRollup(name))
  }

  /** Computes every cell not materialized yet (each lifecycle pass does before it seals); resolves to how many. */
  async refresh(): Promise<number> {
    const engine = this.#live()
    return guardAsync(() => engine.refreshRollups())
  }
}

function shape(r: NativeRollup): Rollup {
  const where: Record<string, TagMatch> = {}
  for (const m of r.tags) where[m.name] = tagMatch(m)
  return { name: r.name, metric: r.metric, where, every: r.every, aggregates: r.aggregates, ready: r.ready, sources: r.sources, dirty: r.dirty }
}

function tagMatch(m: NativeMatcher): TagMatch {
  if (m.op === 'present') return { present: !m.negated }
  let plain: string | string[] | RegExp
  if (m.op === 'oneOf') plain = m.values
  else if (m.op === 'regex') {
    try {
      plain = new RegExp(`^(?:${m.values[0]})$`)
    } catch {
      plain = m.values[0]
    }
  } else plain = m.values[0]
  return m.negated ? { not: plain } : plain
}
