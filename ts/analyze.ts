import native = require('./native')
import { WarpError, guardAsync } from './errors'
import { Timestamp, describe, duration, ownFields, toBound } from './args'
import type { RangeResult, SeriesSpec } from './series'

/**
 * Which points an analysis reads: `[from, to)` of one numeric series (all of it by default),
 * averaged into buckets of `every` if given, or into as few equal buckets as leave at most
 * `maxPoints` if there are more.
 */
export interface AnalysisRange {
  from?: Timestamp
  to?: Timestamp
  /** Bucket width: milliseconds or text such as `'5m'`, `'1h'`, `'1d'`. */
  every?: number | string
  /** The most points (or buckets) the analysis runs on; past it, points are averaged into buckets. */
  maxPoints?: number
}

export interface TrendOptions extends AnalysisRange {
  /** Significance level of the Mann–Kendall test (default 0.05). */
  alpha?: number
}

export interface TrendResult {
  /** Points (or buckets) analysed, the bucket width (0: raw points), the first and last time. */
  points: number
  every: number
  first: number
  last: number
  /** Theil–Sen slope (median of the pairwise slopes), in value units per millisecond. */
  slope: number
  /** The Theil–Sen line's value at `first`. */
  intercept: number
  /** What the slope amounts to from `first` to `last`. */
  change: number
  /** `'increasing'` or `'decreasing'` when the Mann–Kendall test rejects "no trend" at `alpha`. */
  direction: 'increasing' | 'decreasing' | 'none'
  /** Two-sided p-value of "no monotonic trend", its z-score, Mann–Kendall S and Kendall's tau-b. */
  pValue: number
  z: number
  s: number
  tau: number
  /** The ordinary least-squares line, for comparison (outliers pull it, unlike Theil–Sen). */
  leastSquares: { slope: number; intercept: number; rSquared: number }
}

export interface AnomalyOptions extends AnalysisRange {
  /** Significance level of the generalized ESD test (default 0.05). */
  alpha?: number
  /** The most anomalies to look for (default: a tenth of the points read, at most 1,000). */
  maxAnomalies?: number
  /** A seasonal baseline: the season's length in points, or a duration (a whole number of `every`, which it then needs). */
  season?: number | string
  /**
   * Median and MAD instead of mean and standard deviation (default false): robust to the
   * anomalies themselves, but the critical values are those of the classic test, so on few
   * points (under a few hundred) it flags noise more often than `alpha` says.
   */
  robust?: boolean
}

export interface Anomaly {
  ts: number
  value: number
  /** What the baseline expected there. */
  expected: number
  /** Deviation in (robust) standard deviations: the test statistic R. */
  score: number
  /** The critical value R had to exceed at `alpha`. */
  critical: number
  /**
   * How likely a deviation this large is among the points left at its step, were none
   * anomalous. The anomalies are the candidates up to the last step that passes (Rosner's
   * test): one masked by a more extreme neighbour may have a p-value above `alpha` itself.
   */
  pValue: number
}

export interface AnomalyResult {
  points: number
  every: number
  /** Most extreme first. */
  anomalies: Anomaly[]
  /** Every candidate the test examined, anomalies first: the ones after them did not pass. */
  tested: Anomaly[]
}

export interface ForecastOptions extends AnalysisRange {
  /** Steps of the grid to forecast (required). */
  horizon: number
  /** A seasonal model: the season's length in points, or a duration (a whole number of `every`, which it then needs). */
  season?: number | string
  /** Coverage of the prediction intervals (default 0.95). */
  level?: number
}

export interface ForecastResult {
  points: number
  every: number
  timestamps: Float64Array
  values: Float64Array
  lower: Float64Array
  upper: Float64Array
  /** The Holt–Winters weights fitted (γ is 0 without a season) and the one-step error. */
  model: { alpha: number; beta: number; gamma: number; rmse: number }
}

export interface MotifOptions extends AnalysisRange {
  /** Subsequence length: points, or a duration (a whole number of `every`, which it then needs). */
  window: number | string
  /** Motifs and discords to report (default 3). */
  count?: number
}

export interface MotifResult {
  points: number
  every: number
  /** Points per subsequence. */
  window: number
  /** Closest pairs of subsequences first (by start time), no two overlapping. */
  motifs: { a: number; b: number; distance: number }[]
  /** Subsequences farthest from any other first, with their nearest match. */
  discords: { at: number; nearest: number; distance: number }[]
  /** The matrix profile: each subsequence's start, the z-normalised distance to its nearest match, and that match's start. */
  profile: { starts: Float64Array; distances: Float64Array; nearest: Float64Array }
}

/** Analyses run through this database handle, and the anomalies their tests found significant. */
export interface AnalyticsStats {
  runs: { trend: number; anomalies: number; forecast: number; motifs: number }
  anomaliesFound: number
}

/** What the analyses need of the database. */
export interface AnalyzeOwner {
  range(series: SeriesSpec, from: Timestamp, to: Timestamp): Promise<RangeResult>
  /** Whether the series exists (to tell a typo from an empty range). */
  exists(series: SeriesSpec): boolean
}

const RANGE_FIELDS = ['from', 'to', 'every', 'maxPoints'] as const

const invalid = (field: string, message: string) => new WarpError('INVALID_ARGUMENT', `${field} ${message}`)

/**
 * Analyses of one numeric series, computed off the JS thread: `db.analyze.trend(series, opts)`
 * and likewise `anomalies`, `forecast` and `motifs`.
 *
 * ```ts
 * const t = await db.analyze.trend('disk.used{host="a"}', { from: Date.now() - 30 * 86_400_000, every: '1h' })
 * if (t.direction === 'increasing') console.log(`+${t.change} over the month (p = ${t.pValue})`)
 * const { anomalies } = await db.analyze.anomalies('requests', { every: '5m', season: '1d' })
 * ```
 */
export class Analyze {
  private readonly counts: AnalyticsStats = { runs: { trend: 0, anomalies: 0, forecast: 0, motifs: 0 }, anomaliesFound: 0 }

  constructor(private readonly owner: AnalyzeOwner) {}

  /** What `db.stats().analytics` shows. */
  stats(): AnalyticsStats {
    return { runs: { ...this.counts.runs }, anomaliesFound: this.counts.anomaliesFound }
  }

  /** Theil–Sen slope and the Mann–Kendall test (at most 4,096 points; 2,000 by default). */
  async trend(series: SeriesSpec, options: TrendOptions = {}): Promise<TrendResult> {
    const o = optionsOf(options, 'trend options', ['alpha'])
    const { from, to, grid } = rangeOf(o, 2000)
    const alpha = level(o.alpha, 'alpha', 0.05)
    const { ts, values } = await this.points(series, from, to)
    const t = await guardAsync(() => native.analyzeTrend(ts, values, grid, alpha))
    this.counts.runs.trend++
    return {
      points: t.points,
      every: t.every,
      first: t.first,
      last: t.last,
      slope: t.slope,
      intercept: t.intercept,
      change: t.slope * (t.last - t.first),
      direction: t.direction as TrendResult['direction'],
      pValue: t.pValue,
      z: t.z,
      s: t.s,
      tau: t.tau,
      leastSquares: { slope: t.olsSlope, intercept: t.olsIntercept, rSquared: t.rSquared },
    }
  }

  /** Anomalies by the generalized ESD test, each with its p-value; seasonal and robust as asked. */
  async anomalies(series: SeriesSpec, options: AnomalyOptions = {}): Promise<AnomalyResult> {
    const o = optionsOf(options, 'anomaly options', ['alpha', 'maxAnomalies', 'season', 'robust'])
    const { from, to, grid } = rangeOf(o, 100_000)
    if (o.robust !== undefined && typeof o.robust !== 'boolean') throw invalid('robust', `must be a boolean, not ${describe(o.robust)}`)
    const alpha = level(o.alpha, 'alpha', 0.05)
    const period = steps(o.season, 'season', grid.every)
    const asked = o.maxAnomalies === undefined ? undefined : count(o.maxAnomalies, 'maxAnomalies')
    const { ts, values } = await this.points(series, from, to)
    const maxAnomalies = asked ?? Math.min(1000, Math.max(1, Math.floor(ts.length / 10)))
    const found = await guardAsync(() => native.analyzeAnomalies(ts, values, grid, { alpha, maxAnomalies, period, robust: o.robust === true }))
    this.counts.runs.anomalies++
    this.counts.anomaliesFound += found.anomalies.length
    return found
  }

  /** A Holt–Winters forecast with prediction intervals, on the points' grid. */
  async forecast(series: SeriesSpec, options: ForecastOptions): Promise<ForecastResult> {
    const o = optionsOf(options, 'forecast options', ['horizon', 'season', 'level'])
    const { from, to, grid } = rangeOf(o, 10_000)
    const opts = { horizon: count(o.horizon, 'horizon'), period: steps(o.season, 'season', grid.every), level: level(o.level, 'level', 0.95) }
    const { ts, values } = await this.points(series, from, to)
    const f = await guardAsync(() => native.analyzeForecast(ts, values, grid, opts))
    this.counts.runs.forecast++
    return { points: f.points, every: f.every, timestamps: f.timestamps, values: f.values, lower: f.lower, upper: f.upper, model: { alpha: f.alpha, beta: f.beta, gamma: f.gamma, rmse: f.rmse } }
  }

  /** Motifs and discords from the matrix profile, on the points' grid (at most 50,000 points; 10,000 by default). */
  async motifs(series: SeriesSpec, options: MotifOptions): Promise<MotifResult> {
    const o = optionsOf(options, 'motif options', ['window', 'count'])
    const { from, to, grid } = rangeOf(o, 10_000)
    const window = steps(o.window, 'window', grid.every) ?? count(o.window, 'window')
    const opts = { window, count: o.count === undefined ? 3 : count(o.count, 'count') }
    const { ts, values } = await this.points(series, from, to)
    const m = await guardAsync(() => native.analyzeMotifs(ts, values, grid, opts))
    this.counts.runs.motifs++
    return {
      points: m.points,
      every: m.every,
      window,
      motifs: m.motifs,
      discords: m.discords.map((d) => ({ at: d.a, nearest: d.b, distance: d.distance })),
      profile: { starts: m.starts, distances: m.profile, nearest: m.nearest },
    }
  }

  /** The series' points in `[from, to)`: a numeric series' typed arrays. */
  private async points(series: SeriesSpec, from: number, to: number): Promise<{ ts: Float64Array; values: Float64Array }> {
    let points: RangeResult
    try {
      points = await this.owner.range(series, from, to)
    } catch (e) {
      // A series object whose getter throws is a bad argument like any other.
      throw e instanceof WarpError ? e : invalid('series', `could not be read: ${(e as Error)?.message ?? describe(e)}`)
    }
    if (Array.isArray(points)) throw new WarpError('TYPE_MISMATCH', 'analyses need a numeric series; this one holds events')
    if (points.timestamps.length === 0 && !this.owner.exists(series)) throw invalid('series', `${typeof series === 'string' ? JSON.stringify(series) : describe(series)} does not exist`)
    return { ts: points.timestamps, values: points.values }
  }
}

/** An analysis' options: a plain object's own fields, read once (a getter that throws is INVALID_ARGUMENT). */
function optionsOf(options: unknown, what: string, fields: readonly string[]): Record<string, unknown> {
  if (options !== undefined) {
    const proto = typeof options === 'object' && options !== null ? Object.getPrototypeOf(options) : undefined
    if (proto !== Object.prototype && proto !== null) throw invalid(what, `must be a plain object, not ${describe(options)}`)
  }
  try {
    return ownFields(options, what, [...RANGE_FIELDS, ...fields], invalid)
  } catch (e) {
    throw e instanceof WarpError ? e : invalid(what, `could not be read: ${(e as Error)?.message ?? describe(e)}`)
  }
}

/** The range and grid options, checked before anything is read. */
function rangeOf(o: Record<string, unknown>, defaultMax: number): { from: number; to: number; grid: native.NativeGrid } {
  const from = o.from === undefined ? native.MIN_TIMESTAMP : toBound(o.from as Timestamp, 'from')
  const to = o.to === undefined ? native.MAX_TIMESTAMP + 1 : toBound(o.to as Timestamp, 'to')
  const every = o.every === undefined ? undefined : duration(o.every, 'every')
  const maxPoints = o.maxPoints === undefined ? defaultMax : count(o.maxPoints, 'maxPoints')
  return { from, to, grid: { every, maxPoints } }
}

function count(v: unknown, what: string): number {
  if (!(typeof v === 'number' && Number.isSafeInteger(v) && v > 0)) throw invalid(what, `must be a positive whole number, not ${describe(v)}`)
  return v
}

function level(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback
  if (!(typeof v === 'number' && v > 0 && v < 1)) throw invalid(what, `must be a number between 0 and 1, not ${describe(v)}`)
  return v
}

/** A length in grid steps: a number of points, or a duration that is a whole number of `every`. */
function steps(v: unknown, what: string, every: number | undefined): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string') return count(v, what)
  if (every === undefined) throw invalid(what, `as a duration needs \`every\` (it is counted in buckets); or give it in points`)
  const ms = duration(v, what)
  if (ms % every !== 0) throw invalid(what, `must be a whole number of \`every\` (${every} ms), not ${ms} ms`)
  return ms / every
}
