// `npm run demo`: a tour of WarpEngine on a fresh database in a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

import { NumericRange, Point, WarpEngine } from '../ts'

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'warp-demo-'))
  console.log(`Opening a database in ${dir}`)
  const db = await WarpEngine.open(dir) // durability 'interval': fsync every 100 ms

  // One day of 10-second CPU samples for three hosts, written as typed-array batches.
  const start = Date.UTC(2026, 0, 1)
  const n = 8640
  for (const host of ['a', 'b', 'c']) {
    const ts = Float64Array.from({ length: n }, (_, i) => start + i * 10_000)
    const vs = Float64Array.from({ length: n }, (_, i) => Math.round((50 + 30 * Math.sin(i / 500) + Math.random() * 5) * 100) / 100)
    db.putBatch({ metric: 'cpu.usage_user', tags: { host } }, ts, vs)
  }

  // Single points through a series handle: one native call each, no name lookup.
  const mem = db.series('mem.used{host="a"}')
  const t0 = performance.now()
  for (let i = 0; i < 200_000; i++) mem.put(1000 + (i % 100), start + i * 1000)
  console.log(`200,000 single puts in ${(performance.now() - t0).toFixed(0)} ms`)

  // Events: any JSON value.
  db.put('deploys{service="api"}', { version: '2.4.1', by: 'ci' }, start + 3_600_000)
  db.put('deploys{service="api"}', { version: '2.4.2', by: 'ci', hotfix: true }, start + 7_200_000)

  // Queries.
  const q0 = performance.now()
  const day = (await db.range('cpu.usage_user{host="a"}', start, start + 86_400_000)) as NumericRange
  const q = performance.now() - q0
  const mean = day.values.reduce((s, v) => s + v, 0) / day.values.length
  console.log(`range: ${day.values.length} points of cpu on host a in ${q.toFixed(2)} ms, mean ${mean.toFixed(2)}`)
  console.log('as-of 01:30:05 →', db.get('cpu.usage_user{host="a"}', start + 5_405_000))
  console.log('latest deploy  →', db.latest('deploys{service="api"}'))
  const deploys = (await db.range('deploys{service="api"}', start, start + 86_400_000)) as Point[]
  console.log('all deploys    →', deploys.map((d) => `${new Date(d.ts).toISOString()} ${JSON.stringify(d.value)}`))
  console.log('series         →', db.series())

  // Aggregation in Rust: hourly average and p95 per host, over the tag index.
  const hourly = await db.query({ metric: 'cpu.usage_user', from: start, to: start + 6 * 3_600_000, every: '1h', aggregate: ['avg', 'percentile(0.95)'], groupBy: 'host', explain: true })
  for (const g of hourly.groups) console.log(`hourly avg, host ${g.tags.host}:`, Array.from(g.columns.avg, (v) => v.toFixed(1)).join(' '))
  console.log(`  answered in ${hourly.explain!.totalMs.toFixed(2)} ms over ${hourly.explain!.series} series`)
  console.log('latest of each →', db.lastpoint({ metric: 'cpu.usage_user' }).values)

  // A rollup (continuous aggregate): later queries that fit read it instead of raw points.
  await db.rollups.create({ name: 'cpu_1m', metric: 'cpu.usage_user', every: '1m', aggregates: ['avg', 'max'] })
  const viaRollup = await db.query({ metric: 'cpu.usage_user', from: start, to: start + 86_400_000, every: '6h', aggregate: 'max', explain: true })
  console.log(`6-hourly max from rollup ${viaRollup.explain!.rollup}:`, Array.from(viaRollup.groups[0].columns.max))

  // Related series, followed by queries that ask for them.
  db.link('cpu.usage_user{host="a"}', 'mem.used{host="a"}', { kind: 'same-host' })
  const linked = db.querySync({ metric: 'cpu.usage_user', where: { host: 'a' }, from: start, to: start + 3_600_000, aggregate: 'max', withLinked: true })
  console.log('linked to cpu of host a →', linked.linked!.map((g) => `${g.key}: max ${g.columns.max[0]}`))

  // A stream: events in, fields stored as series, windows and alerts out (exactly once).
  const sensors = db.stream('sensor', { key: 'room', timestamp: 'ts', fields: ['temp'], outOfOrder: '5s' })
  const perMinute = sensors.window({ name: 'room_1m', type: 'tumbling', size: '1m', aggregate: { avg: { avg: 'temp' }, max: { max: 'temp' }, n: 'count' } })
  const hot = sensors.alert({ name: 'hot', field: 'temp', above: 30, clear: 27, for: '30s' })
  const closed: string[] = []
  perMinute.on((r) => closed.push(`${r.key} ${new Date(r.start).toISOString().slice(11, 16)} avg ${(r.values.avg as number).toFixed(1)} max ${(r.values.max as number).toFixed(1)} (${r.values.n} events)`))
  hot.on((a) => closed.push(`alert ${a.rule} ${a.state} in ${a.key} at ${new Date(a.ts).toISOString().slice(11, 19)}`))
  for (let i = 0; i < 240; i++) {
    const ts = start + i * 1000 + (i % 3) * 700 // a little out of order
    sensors.write({ room: i % 2 ? 'kitchen' : 'lab', ts, temp: 20 + (i % 2 ? i / 20 : 0) + (i % 5) * 0.1 })
  }
  sensors.write({ room: 'lab', ts: start + 600_000, temp: 20 }) // moves the watermark past every window
  sensors.write({ room: 'lab', ts: 'yesterday' })               // refused: goes to dead letters
  await db.flush()
  await new Promise((r) => setTimeout(r, 150)) // final results are delivered once durable
  console.log('stream results →', closed)
  console.log('stream stats   →', db.stats().streams.sensor)

  // Analyses of one series, off the JS thread: is host a's CPU rising, which 5-minute
  // stretches stand out (each with its p-value), where it goes next, and its recurring shapes.
  const cpuA = 'cpu.usage_user{host="a"}'
  const trend = await db.analyze.trend(cpuA, { every: '5m' })
  console.log(`trend: ${trend.direction} (Mann–Kendall p = ${trend.pValue.toPrecision(2)}), ${trend.change.toFixed(1)} over the day`)
  const { anomalies } = await db.analyze.anomalies(cpuA, { every: '5m', maxAnomalies: 5 })
  console.log(`anomalies: ${anomalies.length}`, anomalies.map((a) => `${new Date(a.ts).toISOString().slice(11, 16)} ${a.value.toFixed(1)} (p = ${a.pValue.toPrecision(2)})`))
  const next = await db.analyze.forecast(cpuA, { every: '5m', horizon: 3 })
  console.log('forecast:', Array.from(next.values, (v, i) => `${v.toFixed(1)} [${next.lower[i].toFixed(1)}, ${next.upper[i].toFixed(1)}]`))
  const shapes = await db.analyze.motifs(cpuA, { every: '5m', window: '2h', count: 1 })
  console.log(`motif: ${new Date(shapes.motifs[0].a).toISOString().slice(11, 16)} ≈ ${new Date(shapes.motifs[0].b).toISOString().slice(11, 16)} (distance ${shapes.motifs[0].distance.toFixed(2)}), stats`, db.stats().analytics)

  // Let the day age: one lifecycle pass, as if run two days later, seals the live points into
  // hourly partitions and folds the ended day into a compressed daily partition.
  await db.lifecycle.setRules({ lifecycle: { intervalSeconds: 0 } })
  const pass = await db.runLifecycle({ now: start + 4 * 86_400_000 })
  console.log(`lifecycle: sealed ${pass.sealedPoints.toLocaleString()} points, moves:`)
  for (const m of pass.moves) console.log(`  ${m.from.length} ${m.from[0]} → ${m.to} ${m.window}: ${m.bytesBefore} → ${m.bytesAfter} bytes`)
  const tiers = db.stats().tiers.filter((t) => t.partitions > 0)
  for (const t of tiers) console.log(`  ${t.tier}: ${t.partitions} partitions, ${(t.bytes / t.points).toFixed(2)} bytes/point`)
  const again0 = performance.now()
  const stored = (await db.range('cpu.usage_user{host="a"}', start, start + 86_400_000)) as NumericRange
  console.log(`range from the daily tier: ${stored.values.length} points in ${(performance.now() - again0).toFixed(2)} ms, same data: ${stored.values.every((v, i) => v === day.values[i])}`)

  await db.close()

  // Reopen: everything comes back (from the checkpoint written by close).
  const again = await WarpEngine.open(dir, { durability: 'sync' })
  await again.put('mem.used{host="a"}', 999, start + 200_000_000) // resolves once fsynced
  const s = again.stats()
  console.log(`reopened: ${s.series} series, ${s.points.toLocaleString()} points, recovery ${s.recovery.durationMs.toFixed(1)} ms`)
  await again.close()
  rmSync(dir, { recursive: true, force: true })
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
