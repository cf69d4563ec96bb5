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

test('what a hostile try found: bad output paths, ambiguous JSON lines, partial imports, loose CSV, look-alike directories', async (t) => {
  const dir = await sample()
  // An export to a path that cannot be written is a clean error, not a crash.
  const badOut = await cli('export', dir, '--out', path.join(dir, 'no', 'such', 'dir', 'x.csv'))
  t.is(badOut.code, 1)
  t.regex(badOut.err.at(-1)!, /^warpengine: IO: /)
  // An event string "NaN" stays a string through JSON lines.
  const db = await WarpEngine.open(dir)
  db.put('words', 'NaN', T0)
  db.put('words', 'Infinity', T0 + 1)
  await db.close()
  const file = path.join(tempDir(), 'x.jsonl')
  t.is((await cli('export', dir, '--metric', 'words', '--format', 'jsonl', '--out', file)).code, 0)
  const copy = tempDir()
  t.is((await cli('import', copy, file)).code, 0)
  t.deepEqual(await everything(copy), { words: [{ ts: T0, value: 'NaN' }, { ts: T0 + 1, value: 'Infinity' }] })
  // Rows before a bad line are imported, in file order, and the error names its line.
  const rows = path.join(tempDir(), 'rows.csv')
  writeFileSync(rows, 'm,1000,1\nev,1000,"{""a"":1}"\nm,2000,2\nm,3000,oops\nm,4000,4\n')
  const partial = tempDir()
  const refused = await cli('import', partial, rows)
  t.is(refused.code, 1)
  t.regex(refused.err.at(-1)!, /INVALID_ARGUMENT: line 4: value "oops"/)
  t.deepEqual(await everything(partial), { m: { ts: [1000, 2000], values: ['1', '2'] }, ev: [{ ts: 1000, value: { a: 1 } }] })
  writeFileSync(rows, 'mix,1,5\nmix,2,"""text"""\n')
  const mixed = tempDir()
  const mismatch = await cli('import', mixed, rows)
  t.regex(mismatch.err.at(-1)!, /TYPE_MISMATCH: line 2: /)
  t.deepEqual(await everything(mixed), { mix: { ts: [1], values: ['5'] } })
  for (const [text, code] of [['q,,5\n', 'INVALID_TIMESTAMP'], ['q, 7 ,1\n', 'INVALID_TIMESTAMP'], ['q,7,0x10\n', 'INVALID_ARGUMENT'], ['q,253402300800000,1\n', 'INVALID_TIMESTAMP']]) {
    writeFileSync(rows, text)
    t.regex((await cli('import', tempDir(), rows)).err.at(-1)!, new RegExp(`${code}: line 1`), text)
  }
  // A missing file or a directory is a usage error.
  t.is((await cli('import', tempDir(), path.join(dir, 'nope.csv'))).code, 2)
  t.is((await cli('import', tempDir(), dir)).code, 2)
  // A directory that only looks like a database is refused and left alone.
  const lookalike = tempDir()
  mkdirSync(path.join(lookalike, 'wal'), { recursive: true })
  t.is((await cli('info', lookalike)).code, 2)
  t.deepEqual(readdirSync(lookalike), ['wal'])
  // Relative times as separate arguments; repeated values of one tag mean either; query errors carry their code.
  t.is((await cli('export', dir, '--metric', 'cpu', '--from', '-15m', '--to', 'now')).code, 0)
  const either = await cli('series', dir, '--metric', 'cpu', '--where', 'host=a', '--where', 'host=c,d')
  t.deepEqual(either.out.map((l) => l.split('\t')[3]), ['cpu{dc="eu",host="a"}', 'cpu{dc="eu",host="c,d"}'])
  t.is((await cli('series', dir, '--where', 'host=a', '--where', 'host=~b')).code, 2)
  const badQuery = await cli('query', dir, '--metric', 'cpu', '--from', '0', '--to', '10', '--aggregate', 'bogus')
  t.deepEqual([badQuery.code, badQuery.err[0]?.split(':').slice(0, 2).join(':')], [1, 'warpengine: INVALID_QUERY'])
  const empty = await cli('query', dir, '--metric', 'nothing', '--from', '0', '--to', '10', '--aggregate', 'avg,max', '--format', 'csv')
  t.deepEqual(empty.out, ['group,time,avg,max'])
})

test('an export into a reader that stops early ends quietly', async (t) => {
  const dir = await sample()
  // Megabytes of output: far more than a pipe holds, so the writer meets the closed pipe.
  const db = await WarpEngine.open(dir)
  db.putBatch('big', Float64Array.from({ length: 200_000 }, (_, i) => T0 + i), Float64Array.from({ length: 200_000 }, (_, i) => i / 7))
  await db.close()
  const cliPath = path.join(__dirname, '..', 'ts', 'cli.ts')
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, ['--import', 'tsx', cliPath, 'export', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
  child.stdout.destroy()
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  t.is(code, 0, stderr)
  t.notRegex(stderr, /EPIPE|Error/)
})
