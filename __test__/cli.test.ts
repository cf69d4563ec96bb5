// The `warpengine` command: each subcommand on a real directory, an export → import round trip
// that keeps every point (events, NaN, keys with quotes and commas), usage errors (exit 2) and
// database errors (exit 1, with the code), and the installed entry point run as a process.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

import { WarpEngine } from '../ts'
import { run } from '../ts/cli'
import { tempDir } from './helpers'

const H = 3_600_000
const T0 = Date.UTC(2026, 0, 1)

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) })
  return { code, out, err }
}

async function sample(): Promise<string> {
  const dir = tempDir()
  const db = await WarpEngine.open(dir)
  for (const host of ['a', 'b"q', 'c,d']) {
    const ts = Float64Array.from({ length: 200 }, (_, i) => T0 + i * H)
    db.putBatch({ metric: 'cpu', tags: { host, dc: 'eu' } }, ts, Float64Array.from(ts, (_, i) => (i % 9 === 4 ? NaN : 40 + (i % 24) + i / 100)))
  }
  db.put('log', { msg: 'hello, "world"', n: [1, 2] }, T0)
  db.put('log', 'plain text', T0 + 1)
  await db.close()
  return dir
}

async function everything(dir: string): Promise<Record<string, unknown>> {
  const db = await WarpEngine.open(dir)
  const all: Record<string, unknown> = {}
  for (const s of db.series()) {
    const r = await db.range(s.key, -62_167_219_200_000, 253_402_300_800_000)
    all[s.key] = Array.isArray(r) ? r : { ts: [...r.timestamps], values: [...r.values].map(String) }
  }
  await db.close()
  return all
}

test('export then import, as CSV and as JSON lines, keeps every point, event and NaN', async (t) => {
  const dir = await sample()
  for (const format of ['csv', 'jsonl']) {
    const file = path.join(tempDir(), `points.${format}`)
    const exported = await cli('export', dir, '--format', format, '--out', file)
    t.is(exported.code, 0, exported.err.join('\n'))
    t.regex(exported.err.at(-1)!, /export: done, 4 series, 602 points/)
    const target = tempDir()
    mkdirSync(target, { recursive: true })
    const imported = await cli('import', target, file)
    t.is(imported.code, 0, imported.err.join('\n'))
    t.regex(imported.err.at(-1)!, /import: done, 602 points/)
    t.deepEqual(await everything(target), await everything(dir), format)
  }
})

test('info, series, query and lifecycle print what the database holds', async (t) => {
  const dir = await sample()
  const info = await cli('info', dir)
  t.is(info.code, 0)
  t.is(info.out[0], 'series      4 (3 numeric, 1 event)')
  const series = await cli('series', dir, '--metric', 'cpu', '--where', 'host=~a|b.*')
  t.deepEqual(series.out.map((l) => l.split('\t')[3]), ['cpu{dc="eu",host="a"}', 'cpu{dc="eu",host="b\\"q"}'])
  const not = await cli('series', dir, '--metric', 'cpu', '--where', 'host!=a', '--limit', '1')
  t.deepEqual(not.out.map((l) => l.split('\t')[3]), ['cpu{dc="eu",host="b\\"q"}'])
  const query = await cli('query', dir, '--metric', 'cpu', '--where', 'host=a', '--from', String(T0), '--to', String(T0 + 2 * H), '--aggregate', 'avg,max', '--every', '1h', '--format', 'csv')
  t.deepEqual(query.out, ['group,time,avg,max', ',2026-01-01T00:00:00.000Z,40,40', ',2026-01-01T01:00:00.000Z,41.01,41.01'], 'one group: no tags')
  const grouped = await cli('query', dir, '--metric', 'cpu', '--from', String(T0), '--to', String(T0 + H), '--aggregate', 'p50', '--group-by', 'host')
  t.deepEqual(grouped.out, ['group\ttime\tpercentile(0.5)', 'host=a\t2026-01-01T00:00:00.000Z\t40', 'host=b"q\t2026-01-01T00:00:00.000Z\t40', 'host=c,d\t2026-01-01T00:00:00.000Z\t40'])
  const json = await cli('query', dir, '--metric', 'cpu', '--from', '2026-01-01', '--to', '2026-01-02', '--aggregate', 'count', '--format', 'json')
  t.is(JSON.parse(json.out[0])[0].columns.count[0], 3 * 24 - 3 * 3)
  const pass = await cli('lifecycle', dir, '--now', '2027-01-01')
  t.is(pass.code, 0)
  t.regex(pass.out[0], /^sealed 602 points, \d+ moves/)
  const after = await cli('info', dir)
  t.true(after.out.some((l) => /^(daily|monthly|yearly)\s+\d+ partitions/.test(l)), after.out.join('\n'))
})

test('analyze prints each analysis, or JSON', async (t) => {
  const dir = await sample()
  const key = 'cpu{dc="eu",host="a"}'
  const trend = await cli('analyze', dir, 'trend', key)
  t.is(trend.code, 0, trend.err.join('\n'))
  t.regex(trend.out[0], /^increasing \(p = /)
  const anomalies = await cli('analyze', dir, 'anomalies', key, '--every', '1h', '--season', '1d', '--format', 'json')
  t.deepEqual(JSON.parse(anomalies.out[0]).anomalies, [], 'a series that repeats its day has no anomaly')
  const forecast = await cli('analyze', dir, 'forecast', key, '--every', '1h', '--season', '24', '--horizon', '3')
  t.is(forecast.out.length, 3)
  t.regex(forecast.out[0], /^2026-01-09T08:00:00.000Z {2}\d/)
  const motifs = await cli('analyze', dir, 'motifs', key, '--every', '1h', '--window', '1d', '--count', '1')
  t.regex(motifs.out[0], /^motif {4}2026-/)
  t.regex(motifs.out[1], /^discord {2}2026-/)
})

test('usage errors exit 2 and say what was wrong; database errors exit 1 with their code', async (t) => {
  const dir = await sample()
  for (const argv of [
    [],
    ['nope'],
    ['info'],
    ['info', dir, 'extra'],
    ['info', path.join(dir, 'missing')],
    ['series', dir, '--limit', '0'],
    ['series', dir, '--where', 'novalue'],
    ['series', dir, '--where', 'host=~('],
    ['series', dir, '--bogus'],
    ['query', dir, '--metric', 'cpu'],
    ['query', dir, '--from', 'yesterday-ish', '--to', 'now', '--aggregate', 'avg'],
    ['export', dir, '--format', 'xml'],
    ['analyze', dir, 'guess', 'log'],
    ['analyze', dir, 'forecast', 'log'],
  ]) {
    const r = await cli(...argv)
    t.is(r.code, 2, argv.join(' '))
    t.regex(r.err.join('\n') || r.out.join('\n'), /usage: warpengine/, argv.join(' '))
  }
  t.is((await cli('help')).code, 0)
  // A directory that holds no database is never written to; import may create one in a new or empty one.
  const unrelated = tempDir()
  mkdirSync(unrelated, { recursive: true })
  writeFileSync(path.join(unrelated, 'notes.txt'), 'mine')
  for (const argv of [['info', unrelated], ['import', unrelated, path.join(unrelated, 'notes.txt')]]) {
    t.is((await cli(...argv)).code, 2, argv[0])
    t.deepEqual(readdirSync(unrelated), ['notes.txt'], argv[0])
  }
  const fresh = path.join(tempDir(), 'new-db')
  const points = path.join(tempDir(), 'p.csv')
  mkdirSync(path.dirname(points), { recursive: true })
  writeFileSync(points, 'm,1,2\n')
  t.is((await cli('import', fresh, points)).code, 0)
  t.is((await cli('info', fresh)).code, 0)
  const events = await cli('analyze', dir, 'trend', 'log')
  t.deepEqual([events.code, events.err[0]], [1, 'warpengine: TYPE_MISMATCH: analyses need a numeric series; this one holds events'])
  const bad = path.join(tempDir(), 'bad.csv')
  writeFileSync(bad, 'series,ts,value\nm,1,2\nm,"2,3\n')
  const target = tempDir()
  mkdirSync(target, { recursive: true })
  const refused = await cli('import', target, bad)
  t.is(refused.code, 1)
  t.regex(refused.err.at(-1)!, /INVALID_ARGUMENT: line 3: unterminated quoted field/)
  writeFileSync(bad, 'm,1.5,2\n')
  t.regex((await cli('import', target, bad)).err.at(-1)!, /INVALID_TIMESTAMP: line 1/)
  writeFileSync(bad, '{"series":"m","ts":1}\n')
  t.regex((await cli('import', target, bad, '--format', 'jsonl')).err.at(-1)!, /INVALID_ARGUMENT: line 1: expected/)
})

test('the entry point runs as a process: exit codes and output', async (t) => {
  const dir = await sample()
  const cliPath = path.join(__dirname, '..', 'ts', 'cli.ts')
  const ok = spawnSync(process.execPath, ['--import', 'tsx', cliPath, 'info', dir], { encoding: 'utf8' })
  t.is(ok.status, 0, ok.stderr)
  t.regex(ok.stdout, /^series {6}4 /)
  const usage = spawnSync(process.execPath, ['--import', 'tsx', cliPath, 'nope'], { encoding: 'utf8' })
  t.is(usage.status, 2)
  t.regex(usage.stderr, /unknown command 'nope'/)
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'))
  t.is(pkg.bin.warpengine, 'dist/cli.js')
})
