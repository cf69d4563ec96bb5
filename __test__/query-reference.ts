// An independent, brute-force model of the query engine's documented semantics: every query is
// answered from the raw points (later writes winning) by plain loops. The differential test
// compares it with the engine on random data spread over the live tier, partitions of several
// tiers and overlays.

export type Points = Map<number, number> // ts → value

export interface RefSeries {
  key: string
  metric: string
  tags: Record<string, string>
  points: Points
}

export interface RefQuery {
  metrics: string[]
  where: Record<string, string | string[]>
  from: number
  to: number
  aggregates: string[]
  every?: number
  offset?: number
  fill: 'none' | 'null' | 'previous' | 'linear' | number
  groupBy?: string[] | '*'
  orderBy?: { column: string; desc: boolean }
  limit?: number
  having: { column: string; op: 'gt' | 'lt'; value: number }[]
}

export interface RefGroup {
  tags: Record<string, string>
  key?: string
  series: number
  timestamps: number[]
  columns: Record<string, number[]>
}

interface Cell {
  values: number[]
  first?: [number, number]
  last?: [number, number]
  increase: number[]
  delta: number[]
  derivative: number[]
}

const emptyCell = (): Cell => ({ values: [], increase: [], delta: [], derivative: [] })

function bucketOf(q: RefQuery, t: number): number {
  if (q.every === undefined) return q.from
  const off = q.offset ?? 0
  return Math.floor((t - off) / q.every) * q.every + off
}

function bucketStarts(q: RefQuery): number[] {
  if (q.every === undefined) return [q.from]
  const out: number[] = []
  for (let b = bucketOf(q, q.from); b < q.to; b += q.every) out.push(b)
  return out
}

function spanSeconds(q: RefQuery, start: number): number {
  const end = q.every === undefined ? q.to : start + q.every
  return (Math.min(end, q.to) - Math.max(start, q.from)) / 1000
}

function sum(xs: number[]): number {
  let s = 0
  for (const x of xs) s += x
  return s
}

function quantile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const v = [...values].sort((a, b) => a - b)
  const rank = p * (v.length - 1)
  const lo = Math.floor(rank)
  const frac = rank - lo
  return frac === 0 || lo + 1 >= v.length ? v[lo] : v[lo] + (v[lo + 1] - v[lo]) * frac
}

function baseOf(agg: string): string {
  const m = /^movingAverage\((\d+)(?:,(.+))?\)$/.exec(agg)
  return m ? (m[2] ?? 'avg') : agg
}

function value(agg: string, c: Cell, seconds: number): number {
  const v = c.values
  const n = v.length
  const some = (x: number) => (n > 0 ? x : NaN)
  const counted = (xs: number[]) => (xs.length > 0 ? sum(xs) : NaN)
  const p = /^percentile\((.+)\)$/.exec(agg)
  if (p) return quantile(v, Number(p[1]))
  switch (agg) {
    case 'count':
      return n
    case 'sum':
      return some(sum(v))
    case 'avg':
      return some(sum(v) / n)
    case 'min':
      return some(Math.min(...v))
    case 'max':
      return some(Math.max(...v))
    case 'first':
      return c.first ? c.first[1] : NaN
    case 'last':
      return c.last ? c.last[1] : NaN
    case 'spread':
      return some(Math.max(...v) - Math.min(...v))
    case 'variance':
    case 'stddev': {
      const mean = sum(v) / n
      const variance = sum(v.map((x) => (x - mean) * (x - mean))) / n
      return some(agg === 'variance' ? variance : Math.sqrt(variance))
    }
    case 'median':
      return quantile(v, 0.5)
    case 'increase':
      return counted(c.increase)
    case 'rate':
      return counted(c.increase) / seconds
    case 'delta':
      return counted(c.delta)
    case 'derivative':
      return counted(c.derivative)
  }
  throw new Error(`reference: unknown aggregate ${agg}`)
}

function matches(s: RefSeries, q: RefQuery): boolean {
  if (!q.metrics.includes(s.metric)) return false
  return Object.entries(q.where).every(([k, want]) => (Array.isArray(want) ? want.includes(s.tags[k]) : s.tags[k] === want))
}

/** The answer to `q` over `series` (in creation order, which is id order). */
export function reference(series: RefSeries[], q: RefQuery): RefGroup[] {
  const starts = bucketStarts(q)
  const index = new Map(starts.map((b, i) => [b, i]))
  const selected = series.filter((s) => matches(s, q))
  const groups = new Map<string, { key?: string; tags: Record<string, string>; series: RefSeries[] }>()
  for (const s of selected) {
    let tags: Record<string, string> = {}
    let id = ''
    if (q.groupBy === '*') {
      tags = { ...s.tags }
      id = s.key
    } else if (q.groupBy) {
      for (const t of q.groupBy) if (t in s.tags) tags[t] = s.tags[t]
      id = JSON.stringify(q.groupBy.map((t) => s.tags[t] ?? null))
    }
    if (!groups.has(id)) groups.set(id, { key: q.groupBy === '*' ? s.key : undefined, tags, series: [] })
    groups.get(id)!.series.push(s)
  }
  const out: { group: RefGroup; order: number }[] = []
  for (const g of groups.values()) {
    const cells = starts.map(emptyCell)
    const whole = emptyCell()
    for (const s of g.series) {
      const all = [...s.points.entries()].sort((a, b) => a[0] - b[0])
      const inside = all.filter(([t]) => t >= q.from && t < q.to)
      for (const [t, v] of inside) {
        if (Number.isNaN(v)) continue
        for (const c of [cells[index.get(bucketOf(q, t))!], whole]) {
          c.values.push(v)
          if (!c.first || t < c.first[0]) c.first = [t, v]
          if (!c.last || t >= c.last[0]) c.last = [t, v]
        }
      }
      // Counters: the last sample before the range (if NaN, no baseline), then each bucket.
      const before = all.filter(([t]) => t < q.from).pop()
      let reference: [number, number] | undefined = before && !Number.isNaN(before[1]) ? before : undefined
      let prev = reference?.[1]
      const perBucket = new Map<number, [number, number][]>()
      for (const [t, v] of inside) {
        if (Number.isNaN(v)) continue
        const b = index.get(bucketOf(q, t))!
        if (!perBucket.has(b)) perBucket.set(b, [])
        perBucket.get(b)!.push([t, v])
      }
      const wholeIncrease: number[] = []
      for (const b of [...perBucket.keys()].sort((x, y) => x - y)) {
        const samples = perBucket.get(b)!
        let increase = 0
        for (const [, v] of samples) {
          if (prev !== undefined) increase += v >= prev ? v - prev : v
          prev = v
        }
        const last = samples[samples.length - 1]
        const base = reference ?? samples[0]
        cells[b].increase.push(increase)
        cells[b].delta.push(last[1] - base[1])
        if (base[0] < last[0]) cells[b].derivative.push((last[1] - base[1]) / ((last[0] - base[0]) / 1000))
        wholeIncrease.push(increase)
        whole.delta.push(last[1] - base[1])
        reference = last
      }
      if (wholeIncrease.length > 0) whole.increase.push(sum(wholeIncrease))
    }
    const empty = cells.map((c) => c.values.length === 0 && c.increase.length === 0)
    if (empty.every((e) => e)) continue
    const columns: Record<string, number[]> = {}
    for (const agg of q.aggregates) {
      const base = baseOf(agg)
      let column = cells.map((c, i) => value(base, c, spanSeconds(q, starts[i])))
      if (base !== 'count') column = fill(column, empty, starts, q.fill)
      const ma = /^movingAverage\((\d+)/.exec(agg)
      if (ma) column = movingAverage(column, Number(ma[1]))
      columns[agg] = column
    }
    const keep = starts
      .map((_, i) => i)
      .filter((i) => q.fill !== 'none' || !empty[i])
      .filter((i) => q.having.every((h) => (h.op === 'gt' ? columns[h.column][i] > h.value : columns[h.column][i] < h.value)))
    if (keep.length === 0) continue
    const order = q.orderBy ? value(baseOf(q.orderBy.column), whole, (q.to - q.from) / 1000) : 0
    out.push({
      group: {
        tags: g.tags,
        key: g.key,
        series: g.series.length,
        timestamps: keep.map((i) => starts[i]),
        columns: Object.fromEntries(Object.entries(columns).map(([k, c]) => [k, keep.map((i) => c[i])])),
      },
      order,
    })
  }
  const tagKey = (g: RefGroup) => Object.entries(g.tags)
  out.sort((a, b) => compareKeys(a.group.key, b.group.key) || compareTags(tagKey(a.group), tagKey(b.group)))
  if (q.orderBy) {
    const desc = q.orderBy.desc
    out.sort((a, b) => {
      const [x, y] = [a.order, b.order]
      if (Number.isNaN(x) || Number.isNaN(y)) return Number(Number.isNaN(x)) - Number(Number.isNaN(y))
      return desc ? y - x : x - y
    })
  }
  return out.slice(0, q.limit ?? out.length).map((o) => o.group)
}

function compareKeys(a?: string, b?: string): number {
  if (a === b) return 0
  if (a === undefined) return -1
  if (b === undefined) return 1
  return a < b ? -1 : 1
}

function compareTags(a: [string, string][], b: [string, string][]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    for (const j of [0, 1] as const) {
      if (a[i][j] !== b[i][j]) return a[i][j] < b[i][j] ? -1 : 1
    }
  }
  return a.length - b.length
}

function fill(column: number[], empty: boolean[], starts: number[], how: RefQuery['fill']): number[] {
  const out = [...column]
  if (typeof how === 'number') return out.map((v, i) => (empty[i] ? how : v))
  if (how === 'previous') {
    let previous = NaN
    return out.map((v, i) => (empty[i] ? previous : (previous = v)))
  }
  if (how === 'linear') {
    const known = out.map((_, i) => i).filter((i) => !empty[i] && !Number.isNaN(out[i]))
    for (let k = 0; k + 1 < known.length; k++) {
      const [j, l] = [known[k], known[k + 1]]
      for (let i = j + 1; i < l; i++) {
        if (empty[i]) out[i] = out[j] + (out[l] - out[j]) * ((starts[i] - starts[j]) / (starts[l] - starts[j]))
      }
    }
  }
  return out
}

function movingAverage(column: number[], n: number): number[] {
  return column.map((_, i) => {
    const window = column.slice(Math.max(0, i - n + 1), i + 1).filter((v) => !Number.isNaN(v))
    return window.length > 0 ? sum(window) / window.length : NaN
  })
}
