import type { NativeCondition, NativeEngine, NativeExplain, NativeQuery, NativeQueryResult, NativeTable } from './native'
import { Timestamp, describe, toBound } from './args'
import { guard, guardAsync } from './errors'
import { Selection, invalid, toSelector } from './select'

/**
 * An aggregate: its name, or its name and argument. NaN values are gaps every aggregate
 * leaves out. Counter functions (`rate`, `increase`, `delta`, `derivative`) are computed per
 * series and summed over a group; see the README for their exact definition (no
 * extrapolation: the previous sample before a bucket is its baseline).
 */
export type Aggregate =
  | 'count'
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'first'
  | 'last'
  | 'stddev'
  | 'variance'
  | 'spread'
  | 'median'
  | 'rate'
  | 'increase'
  | 'delta'
  | 'derivative'
  | `percentile(${number})`
  | `movingAverage(${number})`
  | `movingAverage(${number},${string})`
  | { percentile: number }
  | { movingAverage: number; of?: Aggregate }

/** A comparison of a column with a number. */
export type Comparison = { gt?: number; gte?: number; lt?: number; lte?: number; eq?: number; ne?: number }

/** An aggregation over time buckets. */
export interface AggregateQuery extends Selection {
  /** Inclusive. */
  from: Timestamp
  /** Exclusive. */
  to: Timestamp
  aggregate: Aggregate | Aggregate[]
  /** Bucket width: milliseconds, or `'10s'`, `'5m'`, `'1h'`, and the calendar units `'1d'`, `'1w'` (from Monday), `'1mo'`. Absent: one bucket. */
  every?: number | string
  /** Shifts the buckets (fixed duration). */
  offset?: number | string
  /** The time zone of calendar buckets (days, weeks, months follow its DST changes); UTC by default. */
  tz?: string
  /** Empty buckets: `'null'` (NaN, the default), `'none'` (left out), `'previous'`, `'linear'`, or a number. `count` is never filled: an empty bucket counts 0. */
  fill?: 'none' | 'null' | 'previous' | 'linear' | number
  /** Tags to group by, `'*'` for each series alone; absent, every selected series is merged per bucket. */
  groupBy?: string | string[]
  /** Orders groups by an aggregate over the whole range (`'-max'` or `{ column, desc }` for descending). */
  orderBy?: string | { column: string; desc?: boolean }
  /** At most this many groups (after ordering). */
  limit?: number
  /** Keeps the buckets where every comparison holds. */
  having?: Record<string, Comparison>
  /** Returns how the query ran beside the data. */
  explain?: boolean
  /** Whether a rollup that fits may answer (default true); `false` reads raw points only. */
  useRollups?: boolean
  /** Also answers, in `linked`, every series linked (`db.link`) to a selected one and not selected itself, each as its own group. */
  withLinked?: boolean
}

/** Several metrics of each tag set, side by side by timestamp. */
export interface TableQuery extends Selection {
  from: Timestamp
  to: Timestamp
  table: true
  /** Keeps the rows where every comparison holds (by metric). */
  filter?: Record<string, Comparison>
  /** At most this many rows per tag set. */
  limit?: number
  explain?: boolean
}

export type Query = AggregateQuery | TableQuery

export interface QueryGroup {
  tags: Record<string, string>
  /** The series' key, for `groupBy: '*'`. */
  key?: string
  /** How many series the group merges (columns, for tables). */
  series: number
  /** Bucket starts (row times, for tables). */
  timestamps: Float64Array
  /** One column per aggregate, named as it was asked (`'avg'`, `'percentile(0.99)'`); per metric, for tables. */
  columns: Record<string, Float64Array>
}

export type Explain = NativeExplain

export interface QueryResult {
  groups: QueryGroup[]
  /** With `withLinked`: the linked series' results, one group per series. */
  linked?: QueryGroup[]
  explain?: Explain
}

const AGGREGATE_FIELDS = ['metric', 'where', 'from', 'to', 'aggregate', 'every', 'offset', 'tz', 'fill', 'groupBy', 'orderBy', 'limit', 'having', 'explain', 'useRollups', 'withLinked']
const TABLE_FIELDS = ['metric', 'where', 'from', 'to', 'table', 'filter', 'limit', 'explain']

/** Runs `query` on `engine`, off the JS thread or on it. */
export async function runQuery(engine: NativeEngine, query: Query): Promise<QueryResult> {
  const q = own(query)
  const native = q.table === true ? tableOf(q) : aggregationOf(q)
  const result = await guardAsync(() => (q.table === true ? engine.table(native as NativeTable) : engine.query(native as NativeQuery)))
  return shape(result, q.withLinked === true)
}

export function runQuerySync(engine: NativeEngine, query: Query): QueryResult {
  const q = own(query)
  const native = q.table === true ? tableOf(q) : aggregationOf(q)
  const result = guard(() => (q.table === true ? engine.tableSync(native as NativeTable) : engine.querySync(native as NativeQuery)))
  return shape(result, q.withLinked === true)
}

/** A query's own properties (nothing inherited is ever read). */
function own(query: unknown): Record<string, unknown> {
  if (query === null || typeof query !== 'object' || Array.isArray(query)) {
    throw invalid('query', `must be an object, not ${describe(query)}`)
  }
  return Object.assign(Object.create(null) as Record<string, unknown>, query)
}

function checkFields(q: Record<string, unknown>, known: string[]): void {
  const unknown = Object.keys(q).find((k) => !known.includes(k))
  if (unknown !== undefined) throw invalid(unknown, `is not a query field (${known.join(', ')})`)
}

function bounds(q: Record<string, unknown>): { from: number; to: number } {
  for (const f of ['from', 'to']) if (q[f] === undefined) throw invalid(f, 'is required')
  const bound = (f: string) => {
    try {
      return toBound(q[f] as Timestamp, f)
    } catch (e) {
      throw invalid(f, (e as Error).message)
    }
  }
  return { from: bound('from'), to: bound('to') }
}

function aggregationOf(q: Record<string, unknown>): NativeQuery {
  checkFields(q, AGGREGATE_FIELDS)
  if (q.aggregate === undefined) throw invalid('aggregate', 'is required (for raw points, use range or table: true)')
  const aggregates = (Array.isArray(q.aggregate) ? q.aggregate : [q.aggregate]).map((a, i) => aggregateText(a, `aggregate[${i}]`))
  const native: NativeQuery = {
    selector: toSelector({ metric: q.metric as Selection['metric'], where: q.where as Selection['where'] }),
    ...bounds(q),
    aggregates,
    explain: optionalBoolean(q.explain, 'explain'),
    useRollups: optionalBoolean(q.useRollups, 'useRollups'),
    withLinked: optionalBoolean(q.withLinked, 'withLinked'),
  }
  for (const f of ['every', 'offset'] as const) {
    const v = q[f]
    if (v === undefined) continue
    if (typeof v !== 'number' && typeof v !== 'string') throw invalid(f, `must be milliseconds or text such as '1m', not ${describe(v)}`)
    native[f] = v
  }
  if (q.tz !== undefined) {
    if (typeof q.tz !== 'string') throw invalid('tz', `must be a time zone name, not ${describe(q.tz)}`)
    native.tz = q.tz
  }
  if (q.fill !== undefined) {
    if (typeof q.fill !== 'number' && typeof q.fill !== 'string') throw invalid('fill', `must be none, null, previous, linear or a number, not ${describe(q.fill)}`)
    native.fill = q.fill
  }
  if (q.groupBy !== undefined) {
    const by = q.groupBy
    if (by === '*') native.groupBySeries = true
    else if (typeof by === 'string') native.groupBy = [by]
    else if (Array.isArray(by) && by.every((t) => typeof t === 'string')) native.groupBy = [...by]
    else throw invalid('groupBy', `must be a tag, a list of tags or '*', not ${describe(by)}`)
  }
  if (q.orderBy !== undefined) {
    const o = q.orderBy
    if (typeof o === 'string') {
      native.orderBy = o.startsWith('-') ? o.slice(1) : o
      native.descending = o.startsWith('-')
    } else if (o !== null && typeof o === 'object' && typeof (o as { column?: unknown }).column === 'string') {
      const { column, desc } = o as { column: string; desc?: unknown }
      native.orderBy = column
      native.descending = optionalBoolean(desc, 'orderBy.desc') ?? false
    } else {
      throw invalid('orderBy', `must be a column name or { column, desc }, not ${describe(o)}`)
    }
  }
  native.limit = optionalCount(q.limit, 'limit')
  if (q.having !== undefined) native.having = comparisons(q.having, 'having')
  return native
}

function tableOf(q: Record<string, unknown>): NativeTable {
  checkFields(q, TABLE_FIELDS)
  return {
    selector: toSelector({ metric: q.metric as Selection['metric'], where: q.where as Selection['where'] }),
    ...bounds(q),
    filter: q.filter === undefined ? undefined : comparisons(q.filter, 'filter'),
    limit: optionalCount(q.limit, 'limit'),
    explain: optionalBoolean(q.explain, 'explain'),
  }
}

function aggregateText(a: unknown, field: string): string {
  if (typeof a === 'string') return a
  if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
    const o = a as Record<string, unknown>
    if (Object.hasOwn(o, 'percentile')) return `percentile(${number(o.percentile, `${field}.percentile`)})`
    if (Object.hasOwn(o, 'movingAverage')) {
      const n = number(o.movingAverage, `${field}.movingAverage`)
      return o.of === undefined ? `movingAverage(${n})` : `movingAverage(${n},${aggregateText(o.of, `${field}.of`)})`
    }
  }
  throw invalid(field, `must be an aggregate name or { percentile } / { movingAverage, of }, not ${describe(a)}`)
}

function number(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(field, `must be a finite number, not ${describe(v)}`)
  return v
}

function optionalBoolean(v: unknown, field: string): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v
  throw invalid(field, `must be a boolean, not ${describe(v)}`)
}

function optionalCount(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(field, `must be a whole number, not ${describe(v)}`)
  return v
}

const OPS = ['gt', 'gte', 'lt', 'lte', 'eq', 'ne']

function comparisons(v: unknown, field: string): NativeCondition[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(field, `must be an object of column comparisons, not ${describe(v)}`)
  const out: NativeCondition[] = []
  for (const column of Object.keys(v)) {
    const c = (v as Record<string, unknown>)[column]
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw invalid(`${field}.${column}`, `must be a comparison such as { gt: 90 }, not ${describe(c)}`)
    for (const op of Object.keys(c)) {
      if (!OPS.includes(op)) throw invalid(`${field}.${column}.${op}`, `is not ${OPS.join(', ')}`)
      out.push({ column, op, value: number((c as Record<string, unknown>)[op], `${field}.${column}.${op}`) })
    }
  }
  return out
}

/** Per-group objects over the columnar native result: views into its arrays, not copies. */
function shape(r: NativeQueryResult, withLinked: boolean): QueryResult {
  const n = r.offsets.length - 1
  const lines = n > 0 ? r.tags.split('\n') : []
  const keys = r.keys?.split('\n')
  const absent = new Set(r.absent)
  const width = r.names.length
  const groups: QueryGroup[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const tags: Record<string, string> = {}
    if (lines[i] !== '') {
      for (const pair of lines[i].split('\x1e')) {
        const cut = pair.indexOf('\x1f')
        tags[pair.slice(0, cut)] = pair.slice(cut + 1)
      }
    }
    const [start, end] = [r.offsets[i], r.offsets[i + 1]]
    const columns: Record<string, Float64Array> = {}
    for (let c = 0; c < width; c++) {
      if (!absent.has(i * width + c)) columns[r.names[c]] = r.columns[c].subarray(start, end)
    }
    const group: QueryGroup = { tags, series: r.series[i], timestamps: r.timestamps.subarray(start, end), columns }
    if (keys !== undefined && keys[i] !== '') group.key = keys[i]
    groups[i] = group
  }
  const result: QueryResult = { groups: groups.slice(0, r.primary) }
  if (withLinked) result.linked = groups.slice(r.primary)
  if (r.explain != null) result.explain = r.explain
  return result
}
