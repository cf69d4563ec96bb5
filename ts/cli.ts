#!/usr/bin/env node
/**
 * `warpengine`: a database directory from the shell. Inspect it, list and query its series,
 * export and import points (CSV or JSON lines, with progress on stderr), back it up, run the
 * lifecycle, and analyse a series. Exit codes: 0 done, 1 the database refused (its error code
 * is printed), 2 a usage error.
 */
import { createReadStream, createWriteStream, existsSync, readdirSync, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { once } from 'node:events'
import { parseArgs } from 'node:util'

import native = require('./native')
import { WarpEngine } from './engine'
import { WarpError } from './errors'
import { duration } from './args'
import type { Selection, TagMatch } from './select'
import type { Aggregate } from './query'

/** Where the command writes: results to `out`, progress and errors to `err`; bulk output
 * (an export) to `stream` when there is one, honouring its backpressure. */
export interface Io {
  out(text: string): void
  err(text: string): void
  stream?: NodeJS.WritableStream
}

const processIo: Io = {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
  stream: process.stdout,
}

const USAGE = `usage: warpengine <command> <dir> [options]

  info <dir>                          series, points, tiers, WAL and recovery figures
  series <dir> [select] [--limit n]   the series a selection matches: id, kind, points, key
  query <dir> [select] --from t --to t --aggregate avg[,max,...] [--every 1m] [--group-by tag]
                                      aggregates per bucket (--format table|csv|json)
  export <dir> [select] [--from t] [--to t] [--format csv|jsonl] [--out file]
                                      every point of the selected series (stdout by default)
  import <dir> <file|-> [--format csv|jsonl]
                                      points from rows series,ts,value (JSON: {series, ts, value});
                                      <dir> may be new or empty
  backup <dir> <target>               a consistent copy into a new or empty directory
  lifecycle <dir> [--now t]           one lifecycle pass: seal, move down the tiers, retention
  analyze <dir> trend|anomalies|forecast|motifs <series> [--from t] [--to t] [--every 1h]
          [--season 1d] [--horizon n] [--window n|1h] [--alpha a] [--count n] [--format json]

  select: --metric name --where tag=value --where tag=~regex --where tag!=value
  values: numbers, or JSON for events; NaN and ±Infinity as the text NaN, Infinity, -Infinity
          (JSON lines from export carry "kind": "numeric" or "event"); one row per line
  import: rows before a bad one are imported; fix the file and import it again (idempotent)
  times:  milliseconds (negative: before 1970), an ISO date, now, or now minus a duration:
          -15m, -2h, -7d
  where:  tag=~regex matches whole values; tag=a --where tag=b means either`

/** A usage error: exit code 2. */
class Usage extends Error {}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const [command, ...rest] = argv
    const handler = command === undefined ? undefined : COMMANDS[command]
    if (handler === undefined) {
      if (command === 'help' || command === '--help' || command === '-h') {
        io.out(USAGE)
        return 0
      }
      throw new Usage(command === undefined ? 'no command' : `unknown command '${command}'`)
    }
    await handler(joinNegativeTimes(rest), io)
    return 0
  } catch (e) {
    if (e instanceof Usage) {
      io.err(`warpengine: ${e.message}\n\n${USAGE}`)
      return 2
    }
    if (e instanceof WarpError) {
      io.err(`warpengine: ${e.code}: ${e.message}`)
      return 1
    }
    throw e
  }
}

type Handler = (args: string[], io: Io) => Promise<void>

const SELECT = { metric: { type: 'string' }, where: { type: 'string', multiple: true } } as const
const RANGE = { from: { type: 'string' }, to: { type: 'string' } } as const
const FORMAT = { format: { type: 'string' } } as const

const COMMANDS: Record<string, Handler> = {
  async info(args, io) {
    const { dir } = parse(args, {}, ['dir'])
    await withDb(dir, async (db) => {
      const s = db.stats()
      const kinds = db.series().reduce((k, x) => ((k[x.kind] += 1), k), { numeric: 0, event: 0 })
      io.out(`series      ${s.series} (${kinds.numeric} numeric, ${kinds.event} event)`)
      io.out(`points      ${s.points} (${s.livePoints} live)`)
      for (const t of s.tiers) if (t.partitions > 0) io.out(`${t.tier.padEnd(11)} ${t.partitions} partitions, ${t.points} points, ${bytes(t.bytes)}`)
      io.out(`wal         ${s.walSegments} segments, ${bytes(s.walBytes)}`)
      const r = s.recovery
      io.out(`recovery    ${r.checkpointLoaded ? 'checkpoint loaded' : 'no checkpoint'}, ${r.replayedPoints} points replayed, ${r.tornBytesTruncated} torn bytes truncated`)
      if (s.retentionHorizon !== undefined) io.out(`retention   points before ${new Date(s.retentionHorizon).toISOString()} are gone`)
    })
  },

  async series(args, io) {
    const { dir, values } = parse(args, { ...SELECT, limit: { type: 'string' } }, ['dir'])
    await withDb(dir, async (db) => {
      const limit = values.limit === undefined ? undefined : count(values.limit, '--limit')
      for (const s of db.findSeries({ ...selection(values), limit })) io.out(`${s.id}\t${s.kind}\t${s.points}\t${s.key}`)
    })
  },

  async query(args, io) {
    const { dir, values } = parse(args, { ...SELECT, ...RANGE, ...FORMAT, aggregate: { type: 'string' }, every: { type: 'string' }, 'group-by': { type: 'string' } }, ['dir'])
    if (values.from === undefined || values.to === undefined || values.aggregate === undefined) throw new Usage('query needs --from, --to and --aggregate')
    const aggregate = values.aggregate.split(',').map(aggregateOf)
    const [from, to] = [time(values.from, '--from'), time(values.to, '--to')]
    await withDb(dir, async (db) => {
      const result = await db.query({
        ...selection(values),
        from,
        to,
        aggregate,
        every: values.every,
        groupBy: values['group-by'],
      })
      const format = formatOf(values.format, ['table', 'csv', 'json'], 'table')
      if (format === 'json') {
        io.out(JSON.stringify(result.groups.map((g) => ({ tags: g.tags, timestamps: [...g.timestamps], columns: Object.fromEntries(Object.entries(g.columns).map(([k, v]) => [k, [...v]])) }))))
        return
      }
      const names = result.groups.length > 0 ? Object.keys(result.groups[0].columns) : values.aggregate!.split(',')
      const sep = format === 'csv' ? ',' : '\t'
      io.out(['group', 'time', ...names].map((c) => (format === 'csv' ? csvField(c) : c)).join(sep))
      for (const g of result.groups) {
        const label = Object.entries(g.tags).map(([k, v]) => `${k}=${v}`).join(' ')
        g.timestamps.forEach((t, i) => {
          const row = [label, new Date(t).toISOString(), ...names.map((n) => String(g.columns[n][i]))]
          io.out(row.map((c) => (format === 'csv' ? csvField(c) : c)).join(sep))
        })
      }
    })
  },

  async export(args, io) {
    const { dir, values } = parse(args, { ...SELECT, ...RANGE, ...FORMAT, out: { type: 'string' } }, ['dir'])
    const format = formatOf(values.format, ['csv', 'jsonl'], 'csv')
    const from = values.from === undefined ? MIN : time(values.from, '--from')
    const to = values.to === undefined ? MAX : time(values.to, '--to')
    if (from > to) throw new Usage(`--from is after --to`)
    await withDb(dir, async (db) => {
      const chosen = db.findSeries(selection(values))
      const sink = await sinkFor(values.out, io)
      try {
        if (format === 'csv') await sink.write('series,ts,value\n')
        const progress = new Progress(io, 'export', chosen.length, 'series')
        let points = 0
        for (const s of chosen) {
          const r = await db.range(s.key, from, to)
          const key = format === 'csv' ? csvField(s.key) : JSON.stringify(s.key)
          // A number is written as a number (non-finite ones as text), an event as JSON; JSON
          // lines say which, so an event string "NaN" stays a string.
          const line = (ts: number, value: string, kind: 'numeric' | 'event') =>
            format === 'csv' ? `${key},${ts},${csvField(value)}\n` : `{"series":${key},"ts":${ts},"value":${value},"kind":"${kind}"}\n`
          const n = Array.isArray(r) ? r.length : r.timestamps.length
          // Written in chunks: a series of millions of points is never one string.
          for (let start = 0; start < n; start += 65_536) {
            let text = ''
            for (let i = start; i < Math.min(n, start + 65_536); i++) {
              text += Array.isArray(r) ? line(r[i].ts, JSON.stringify(r[i].value), 'event') : line(r.timestamps[i], numberText(r.values[i], format), 'numeric')
            }
            await sink.write(text)
          }
          points += n
          progress.step(1, `${points} points`)
        }
        progress.done(`${chosen.length} series, ${points} points`)
      } finally {
        await sink.end()
      }
    })
  },

  async import(args, io) {
    const { dir, rest, values } = parse(args, { ...FORMAT }, ['dir', 'file'])
    const file = rest[0]
    const format = formatOf(values.format, ['csv', 'jsonl'], file.endsWith('.jsonl') || file.endsWith('.ndjson') ? 'jsonl' : 'csv')
    let size = 0
    if (file !== '-') {
      let st
      try {
        st = statSync(file)
      } catch {
        throw new Usage(`${file}: no such file`)
      }
      if (!st.isFile()) throw new Usage(`${file} is not a file`)
      size = st.size
    }
    await withDb(
      dir,
      async (db) => {
        const input = file === '-' ? process.stdin : createReadStream(file)
        const progress = new Progress(io, 'import', size, 'bytes')
        // Numbers are gathered per series into batches; anything else about a series first
        // writes what is gathered for it, so rows take effect in file order.
        const pending = new Map<string, { ts: number[]; values: number[]; from: number }>()
        let points = 0
        let lineNo = 0
        const flush = async (key: string) => {
          const p = pending.get(key)
          if (p === undefined) return
          pending.delete(key)
          try {
            await db.putBatch(key, Float64Array.from(p.ts), Float64Array.from(p.values))
          } catch (e) {
            throw new WarpError(e instanceof WarpError ? e.code : 'INVALID_ARGUMENT', `lines ${p.from}–${lineNo} (${JSON.stringify(key)}): ${(e as Error).message}`)
          }
        }
        try {
          for await (const line of createInterface({ input, crlfDelay: Infinity })) {
            lineNo++
            progress.step(Buffer.byteLength(line) + 1, `${points} points`)
            const text = lineNo === 1 ? line.replace(/^\uFEFF/, '') : line
            if (text.trim() === '' || (lineNo === 1 && format === 'csv' && /^series,ts,value$/i.test(text.trim()))) continue
            const row = format === 'csv' ? csvRow(text, lineNo) : jsonRow(text, lineNo)
            if (typeof row.value === 'number') {
              let p = pending.get(row.series)
              if (p === undefined) pending.set(row.series, (p = { ts: [], values: [], from: lineNo }))
              p.ts.push(row.ts)
              p.values.push(row.value)
              if (p.ts.length >= 10_000) await flush(row.series)
            } else {
              await flush(row.series)
              try {
                await db.put(row.series, row.value, row.ts)
              } catch (e) {
                throw e instanceof WarpError ? new WarpError(e.code, `line ${lineNo}: ${e.message}`) : e
              }
            }
            points++
          }
        } finally {
          // Every row before a bad one is imported (importing again is idempotent: a point
          // overwrites itself), so a fixed file can simply be imported again.
          for (const key of [...pending.keys()]) await flush(key)
          await db.flush()
        }
        progress.done(`${points} points`)
      },
      { create: true },
    )
  },

  async backup(args, io) {
    const { dir, rest } = parse(args, {}, ['dir', 'target'])
    await withDb(dir, async (db) => {
      const t = performance.now()
      io.err(`backup: copying ${dir} into ${rest[0]}`)
      await db.backup(rest[0])
      io.err(`backup: done in ${Math.round(performance.now() - t)} ms`)
    })
  },

  async lifecycle(args, io) {
    const { dir, values } = parse(args, { now: { type: 'string' } }, ['dir'])
    await withDb(dir, async (db) => {
      const r = await db.runLifecycle(values.now === undefined ? {} : { now: time(values.now, '--now') })
      io.out(`sealed ${r.sealedPoints} points, ${r.moves.length} moves, ${r.partitionsDropped} partitions dropped, ${Math.round(r.durationMs)} ms`)
      for (const m of r.moves) {
        const from = Object.entries(m.from.reduce<Record<string, number>>((n, t) => ((n[t] = (n[t] ?? 0) + 1), n), {})).map(([t, k]) => `${k} ${t}`)
        io.out(`  ${m.window}: ${from.join(' + ')} → ${m.to}, ${bytes(m.bytesBefore)} → ${bytes(m.bytesAfter)}`)
      }
    })
  },

  async analyze(args, io) {
    const opts = {
      ...RANGE,
      ...FORMAT,
      every: { type: 'string' },
      season: { type: 'string' },
      horizon: { type: 'string' },
      window: { type: 'string' },
      alpha: { type: 'string' },
      count: { type: 'string' },
    } as const
    const { dir, rest, values } = parse(args, opts, ['dir', 'analysis', 'series'])
    const [analysis, series] = rest
    const range = {
      from: values.from === undefined ? undefined : time(values.from, '--from'),
      to: values.to === undefined ? undefined : time(values.to, '--to'),
      every: values.every,
    }
    const lengthOf = (v: string | undefined, what: string) => (v === undefined ? undefined : /^\d+$/.test(v) ? count(v, what) : v)
    const alpha = values.alpha === undefined ? undefined : Number(values.alpha)
    const json = formatOf(values.format, ['text', 'json'], 'text') === 'json'
    await withDb(dir, async (db) => {
      let result: unknown
      const lines: string[] = []
      if (analysis === 'trend') {
        const t = await db.analyze.trend(series, { ...range, alpha })
        result = t
        lines.push(`${t.direction} (p = ${t.pValue.toPrecision(3)}, tau = ${t.tau.toFixed(3)}) over ${t.points} points`)
        lines.push(`slope ${(t.slope * 3_600_000).toPrecision(4)} per hour; change ${t.change.toPrecision(4)} from ${iso(t.first)} to ${iso(t.last)}`)
      } else if (analysis === 'anomalies') {
        const a = await db.analyze.anomalies(series, { ...range, alpha, season: lengthOf(values.season, '--season') })
        result = a
        lines.push(`${a.anomalies.length} anomalies in ${a.points} points`)
        for (const x of a.anomalies) lines.push(`${iso(x.ts)}  ${x.value}  expected ${x.expected.toPrecision(6)}  score ${x.score.toFixed(2)}  p = ${x.pValue.toPrecision(3)}`)
      } else if (analysis === 'forecast') {
        if (values.horizon === undefined) throw new Usage('forecast needs --horizon')
        const f = await db.analyze.forecast(series, { ...range, season: lengthOf(values.season, '--season'), horizon: count(values.horizon, '--horizon') })
        result = { ...f, timestamps: [...f.timestamps], values: [...f.values], lower: [...f.lower], upper: [...f.upper] }
        f.timestamps.forEach((t, i) => lines.push(`${iso(t)}  ${f.values[i].toPrecision(6)}  [${f.lower[i].toPrecision(6)}, ${f.upper[i].toPrecision(6)}]`))
      } else if (analysis === 'motifs') {
        if (values.window === undefined) throw new Usage('motifs needs --window')
        const m = await db.analyze.motifs(series, { ...range, window: lengthOf(values.window, '--window')!, count: values.count === undefined ? undefined : count(values.count, '--count') })
        result = { points: m.points, every: m.every, window: m.window, motifs: m.motifs, discords: m.discords }
        for (const p of m.motifs) lines.push(`motif    ${iso(p.a)} ~ ${iso(p.b)}  distance ${p.distance.toFixed(3)}`)
        for (const d of m.discords) lines.push(`discord  ${iso(d.at)}  nearest ${iso(d.nearest)}  distance ${d.distance.toFixed(3)}`)
      } else {
        throw new Usage(`unknown analysis '${analysis}' (trend, anomalies, forecast, motifs)`)
      }
      if (json) io.out(JSON.stringify(result))
      else lines.forEach((l) => io.out(l))
    })
  },
}

/** `--from -15m` as `--from=-15m`: the option parser would take the value for an option. */
function joinNegativeTimes(args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (/^--(from|to|now)$/.test(args[i]) && /^-\d/.test(args[i + 1] ?? '')) out.push(`${args[i]}=${args[++i]}`)
    else out.push(args[i])
  }
  return out
}

/** Where an export goes: a file (`--out`), or standard output; writes wait for room. */
async function sinkFor(out: string | undefined, io: Io): Promise<{ write(text: string): Promise<void>; end(): Promise<void> }> {
  const stream: NodeJS.WritableStream | undefined = out === undefined ? io.stream : createWriteStream(out)
  if (stream === undefined) {
    return { write: async (text) => io.out(text.replace(/\n$/, '')), end: async () => {} }
  }
  let failed: Error | null = null
  stream.on('error', (e: Error) => (failed = e))
  if (out !== undefined) {
    // The file must open before anything is read: a bad path is a clean error.
    await new Promise<void>((resolve) => {
      stream.once('open', () => resolve())
      stream.once('error', () => resolve())
    })
  }
  const check = () => {
    if (failed !== null) throw new WarpError('IO', `${out ?? 'standard output'}: ${failed.message}`)
  }
  check()
  return {
    async write(text) {
      check()
      if (!stream.write(text)) await Promise.race([once(stream, 'drain'), once(stream, 'error')]).catch(() => {})
      check()
    },
    async end() {
      if (out === undefined || failed !== null) return
      stream.end()
      await once(stream, 'finish').catch(() => {})
      check()
    },
  }
}

/** The storable range as a half-open query range. */
const MIN = native.MIN_TIMESTAMP
const MAX = native.MAX_TIMESTAMP + 1

/**
 * Opens the database in `dir`, runs `work`, closes. Only a directory that holds a database
 * (its `wal` and `temporal` folders) is opened: a typo must not create one, and a command must
 * never write a database's files into an unrelated directory. `import` may also create one
 * in a new or empty directory.
 */
async function withDb(dir: string, work: (db: WarpEngine) => Promise<void>, { create = false } = {}): Promise<void> {
  let entries: string[] | null = null
  try {
    entries = statSync(dir).isDirectory() ? readdirSync(dir) : null
  } catch {
    // Does not exist: only `import` may create it.
  }
  const database = entries !== null && entries.includes('wal') && entries.includes('temporal')
  const fresh = entries === null ? create && !existsSync(dir) : entries.length === 0 && create
  if (!database && !fresh) {
    throw new Usage(entries === null ? `${dir} is not a database directory` : `${dir} holds no WarpEngine database${create ? ' and is not empty' : ''}`)
  }
  const db = await WarpEngine.open(dir)
  try {
    await work(db)
  } finally {
    await db.close()
  }
}

type Spec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>

/** The options in `spec` and the positional arguments `names` (all required). */
function parse<S extends Spec>(args: string[], spec: S, names: string[]): { dir: string; rest: string[]; values: ReturnType<typeof parseArgs<{ options: S; allowPositionals: true }>>['values'] } {
  let parsed
  try {
    parsed = parseArgs({ args, options: spec, allowPositionals: true, strict: true })
  } catch (e) {
    throw new Usage((e as Error).message)
  }
  const { positionals, values } = parsed
  if (positionals.length !== names.length) throw new Usage(`expected ${names.map((n) => `<${n}>`).join(' ')}, got ${positionals.length} arguments`)
  return { dir: positionals[0], rest: positionals.slice(1), values }
}

/** `--metric` and `--where` as a selection: `tag=value`, `tag=~regex`, `tag!=value`. */
function selection(values: { metric?: string; where?: string[] }): Selection {
  const where: Record<string, TagMatch> = Object.create(null)
  for (const w of values.where ?? []) {
    const m = /^([^=!~]+)(=~|!=|=)(.*)$/.exec(w)
    if (m === null) throw new Usage(`--where ${w}: expected tag=value, tag=~regex or tag!=value`)
    const [, tag, op, value] = m
    const match: TagMatch = op === '=' ? value : op === '!=' ? { not: value } : regex(value)
    const before = where[tag]
    if (before === undefined) where[tag] = match
    // The same tag again: any of the values (only plain values combine).
    else if (typeof match === 'string' && (typeof before === 'string' || Array.isArray(before))) where[tag] = [...[before].flat(), match]
    else throw new Usage(`--where ${tag}: give several values of one tag as tag=a --where tag=b; other conditions on it only once`)
  }
  return { ...(values.metric === undefined ? {} : { metric: values.metric }), where }
}

function regex(source: string): RegExp {
  try {
    return new RegExp(source)
  } catch (e) {
    throw new Usage(`--where: ${(e as Error).message}`)
  }
}

/** `avg`, `max`, `p99` (a percentile) or `count`. */
function aggregateOf(name: string): Aggregate {
  const p = /^p(\d+(?:\.\d+)?)$/.exec(name)
  return p ? { percentile: Number(p[1]) / 100 } : (name as Aggregate)
}

/** A time: milliseconds, an ISO date, `now`, or `-15m` (now minus a duration). */
function time(text: string, what: string): number {
  if (/^-?\d+$/.test(text)) return Number(text)
  if (text === 'now') return Date.now()
  if (/^-\d+(\.\d+)?(ms|s|m|h|d)$/.test(text)) {
    try {
      return Date.now() - duration(text.slice(1), what)
    } catch (e) {
      throw new Usage((e as Error).message)
    }
  }
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new Usage(`${what} ${text}: expected milliseconds, an ISO date, now or -15m`)
  return ms
}

function count(text: string, what: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) throw new Usage(`${what} ${text}: expected a positive whole number`)
  return n
}

function formatOf<F extends string>(given: string | undefined, allowed: F[], fallback: F): F {
  if (given === undefined) return fallback
  if (!(allowed as string[]).includes(given)) throw new Usage(`--format ${given}: expected ${allowed.join(', ')}`)
  return given as F
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** One CSV line (RFC 4180 quoting) as a point: series, ts, value (a number, or JSON). */
function csvRow(line: string, lineNo: number): { series: string; ts: number; value: unknown } {
  const fields: string[] = []
  let i = 0
  while (i <= line.length) {
    if (line[i] === '"') {
      let field = ''
      i++
      for (;;) {
        const q = line.indexOf('"', i)
        if (q < 0) throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: unterminated quoted field`)
        field += line.slice(i, q)
        if (line[q + 1] === '"') {
          field += '"'
          i = q + 2
        } else {
          i = q + 1
          break
        }
      }
      fields.push(field)
      if (i < line.length && line[i] !== ',') throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: expected ',' after a quoted field`)
      i++
    } else {
      const c = line.indexOf(',', i)
      const end = c < 0 ? line.length : c
      fields.push(line.slice(i, end))
      i = end + 1
    }
  }
  if (fields.length !== 3) throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: expected 3 fields (series,ts,value), got ${fields.length}`)
  if (!/^-?\d+$/.test(fields[1])) throw new WarpError('INVALID_TIMESTAMP', `line ${lineNo}: ts ${clip(fields[1])} is not whole milliseconds`)
  return point(fields[0], Number(fields[1]), valueOf(fields[2], lineNo), lineNo)
}

/** Non-finite numbers travel as text (JSON has no NaN): the export writes them so, the import reads them back. */
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity }

function numberText(v: number, format: 'csv' | 'jsonl'): string {
  return Number.isFinite(v) || format === 'csv' ? String(v) : `"${v}"`
}

/** A CSV value: a number (JSON's syntax, or NaN and ±Infinity), else JSON (an event). */
function valueOf(text: string, lineNo: number): unknown {
  if (Object.hasOwn(NON_FINITE, text)) return NON_FINITE[text]
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return Number(text)
  try {
    return JSON.parse(text)
  } catch {
    throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: value ${clip(text)} is neither a number nor JSON`)
  }
}

/** A value for a message: never the whole of a 10 MB field. */
function clip(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
}

function jsonRow(line: string, lineNo: number): { series: string; ts: number; value: unknown } {
  let row: unknown
  try {
    row = JSON.parse(line)
  } catch (e) {
    throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: ${(e as Error).message}`)
  }
  const r = (row ?? {}) as Record<string, unknown>
  if (typeof row !== 'object' || row === null || !Object.hasOwn(r, 'series') || !Object.hasOwn(r, 'ts') || !Object.hasOwn(r, 'value')) {
    throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: expected {"series", "ts", "value"}`)
  }
  // Our exports say which kind each row is; a numeric row's non-finite numbers are text.
  let value = r.value
  if (r.kind === 'numeric') {
    if (typeof value === 'string' && Object.hasOwn(NON_FINITE, value)) value = NON_FINITE[value]
    if (typeof value !== 'number') throw new WarpError('INVALID_VALUE', `line ${lineNo}: a numeric row's value must be a number`)
  } else if (r.kind !== undefined && r.kind !== 'event') {
    throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: kind must be "numeric" or "event"`)
  } else if (r.kind === 'event' && typeof value === 'number') {
    throw new WarpError('INVALID_VALUE', `line ${lineNo}: an event row's value is JSON other than a number (numbers are numeric rows)`)
  }
  return point(r.series, r.ts, value, lineNo)
}

function point(series: unknown, ts: unknown, value: unknown, lineNo: number): { series: string; ts: number; value: unknown } {
  if (typeof series !== 'string' || series === '') throw new WarpError('INVALID_ARGUMENT', `line ${lineNo}: series must be a name`)
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < MIN || ts >= MAX) {
    throw new WarpError('INVALID_TIMESTAMP', `line ${lineNo}: ts must be whole milliseconds from year 0 to 9999`)
  }
  return { series, ts, value }
}

const iso = (t: number) => new Date(t).toISOString()

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

/** Progress on stderr: at most one line a second, and one at the end. */
class Progress {
  private done_ = 0
  private last = performance.now()

  constructor(
    private readonly io: Io,
    private readonly what: string,
    private readonly total: number,
    private readonly unit: string,
  ) {}

  step(n: number, detail: string): void {
    this.done_ += n
    const now = performance.now()
    if (now - this.last < 1000) return
    this.last = now
    const share = this.total > 0 ? ` (${Math.min(100, (100 * this.done_) / this.total).toFixed(0)}%)` : ''
    this.io.err(`${this.what}: ${this.done_} ${this.unit}${share}, ${detail}`)
  }

  done(summary: string): void {
    this.io.err(`${this.what}: done, ${summary}`)
  }
}

if (require.main === module) {
  // A reader that stops early (`| head`) ends the output; that is not a failure.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0)
    throw e
  })
  run(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`warpengine: ${(e as Error).stack ?? String(e)}\n`)
      process.exitCode = 1
    },
  )
}
