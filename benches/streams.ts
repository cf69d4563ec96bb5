// The stream benchmark: events/s from `write()` through a keyed window (1,000 keys) to
// delivered final results, with `interval` durability (every event's fields stored as series
// and logged for recovery), for a tumbling window and a sliding one with size/slide = 60; and
// the time from an event's arrival to its updated window result. Beside each, the same
// pipeline written naively in plain JS with no storage at all: what a user would otherwise write.

import * as os from 'node:os'

import { WarpEngine, WindowResult, WindowSpec } from '../ts'
import { RUNS, fresh, median, report } from './common'

const KEYS = 1000
const EVENTS = Number(process.env.BENCH_EVENTS ?? 2_000_000)
const T0 = 1_700_000_000_000

interface Ev {
  host: string
  ts: number
  cpu: number
  mem: number
}

/** 10 events per millisecond of event time over 1,000 keys, up to 50 ms out of order. */
function events(n: number): Ev[] {
  const hosts = Array.from({ length: KEYS }, (_, k) => `h${k}`)
  return Array.from({ length: n }, (_, i) => ({ host: hosts[(i * 7919) % KEYS], ts: T0 + Math.floor(i / 10) - ((i * 31) % 50), cpu: (i % 1000) / 10, mem: i % 4096 }))
}

const AGGREGATE: WindowSpec['aggregate'] = { n: 'count', avg: { avg: 'cpu' }, max: { max: 'mem' } }

/** Events per second through WarpEngine, measured until the last final result is delivered. */
async function throughput(evs: Ev[], window: Omit<WindowSpec, 'name' | 'aggregate'>, aggregate = AGGREGATE): Promise<{ rate: number; results: number }> {
  const db = await WarpEngine.open(fresh('stream'), { durability: 'interval' })
  const s = db.stream('cpu', { key: 'host', timestamp: 'ts', fields: ['cpu', 'mem'], outOfOrder: 100 })
  let results = 0
  let last = 0
  s.window({ name: 'w', aggregate, ...window }).on(() => {
    results++
    last = performance.now()
  })
  const start = performance.now()
  for (let i = 0; i < evs.length; i++) {
    if (!s.write(evs[i])) await s.drained()
    if ((i & 8191) === 8191) await new Promise(setImmediate)
  }
  // A far event closes every window; then wait for the commit cycle to deliver the last ones.
  s.write({ host: 'h0', ts: T0 + 1e9, cpu: 0, mem: 0 })
  await db.flush()
  // Final results are delivered once durable, with the next periodic flush (100 ms).
  for (let seen = -1; seen !== results; ) {
    seen = results
    await new Promise((r) => setTimeout(r, 250))
  }
  await db.close()
  return { rate: evs.length / ((last - start) / 1000), results }
}

/** The naive plain-JS pipeline: a Map of windows per key, every event copied into every window it falls in. */
function naive(evs: Ev[], size: number, slide: number): { rate: number; results: number } {
  const open = new Map<string, Map<number, { n: number; sum: number; max: number }>>()
  let wm = -Infinity
  let results = 0
  const start = performance.now()
  for (const e of evs) {
    let windows = open.get(e.host)
    if (!windows) open.set(e.host, (windows = new Map()))
    for (let s = Math.floor(e.ts / slide) * slide; s + size > e.ts; s -= slide) {
      if (s + size <= wm) continue
      let w = windows.get(s)
      if (!w) windows.set(s, (w = { n: 0, sum: 0, max: -Infinity }))
      w.n++
      w.sum += e.cpu
      w.max = Math.max(w.max, e.mem)
    }
    const next = e.ts - 100
    // Windows can only close when the watermark crosses a slide boundary.
    const crossed = Math.floor(next / slide) > Math.floor(wm / slide)
    if (next > wm) wm = next
    if (crossed) {
      for (const ws of open.values()) {
        for (const [s, w] of ws) {
          if (s + size <= wm) {
            results += w.n > 0 ? 1 : 0
            ws.delete(s)
          }
        }
      }
    }
  }
  return { rate: evs.length / ((performance.now() - start) / 1000), results }
}

/** Event-to-updated-result latency (emit mode `update`), sampled every 97th event, at full speed. */
async function latency(evs: Ev[]): Promise<{ median: number; p99: number }> {
  const db = await WarpEngine.open(fresh('stream-latency'), { durability: 'interval' })
  const s = db.stream('cpu', { key: 'host', timestamp: 'ts', fields: ['cpu', 'mem'], outOfOrder: 100 })
  let sentAt = 0
  const samples: number[] = []
  let sampling = false
  s.window({ name: 'w', type: 'tumbling', size: '1s', emit: 'update', aggregate: AGGREGATE }).on((r: WindowResult) => {
    if (sampling && r.kind === 'update') {
      samples.push(performance.now() - sentAt)
      sampling = false
    }
  })
  for (let i = 0; i < evs.length; i++) {
    sampling = i % 97 === 0
    sentAt = performance.now()
    if (!s.write(evs[i])) await s.drained()
    if ((i & 8191) === 8191) await new Promise(setImmediate)
  }
  await db.close()
  samples.sort((a, b) => a - b)
  return { median: median(samples), p99: samples[Math.floor(samples.length * 0.99)] }
}

export async function streamBenchmarks(): Promise<void> {
  console.log(`\nStreams — ${EVENTS.toLocaleString()} events over ${KEYS} keys, interval durability, one core (the JS thread), medians of ${RUNS} runs`)
  const evs = events(EVENTS)
  const cases: [string, Omit<WindowSpec, 'name' | 'aggregate'>, number, number][] = [
    ['tumbling 1 s', { type: 'tumbling', size: 1000 }, 1000, 1000],
    ['sliding 60 s by 1 s', { type: 'sliding', size: 60_000, slide: 1000 }, 60_000, 1000],
  ]
  const rates: number[] = []
  for (const [name, window, size, slide] of cases) {
    const ours: number[] = []
    const plain: number[] = []
    for (let r = 0; r < RUNS; r++) {
      const a = await throughput(evs, window)
      const b = naive(evs, size, slide)
      if (a.results !== b.results + 1000 && a.results < b.results) throw new Error(`${name}: ${a.results} results, the naive pipeline ${b.results}`)
      ours.push(a.rate)
      plain.push(b.rate)
    }
    rates.push(median(ours))
    console.log(`${`stream → ${name} window → results`.padEnd(44)} events/s ours ${(median(ours) / 1e6).toFixed(2)}M | naive JS, no storage ${(median(plain) / 1e6).toFixed(2)}M (${(median(ours) / median(plain)).toFixed(2)}×)`)
    report({ name: `stream ${name} window`, unit: 'events/s', better: 'higher', ours: median(ours) })
  }
  console.log(`sliding (size/slide = 60) costs ${(rates[0] / rates[1]).toFixed(2)}× the tumbling window per event`)
  // Windows with their keys split over worker threads: the JS thread validates, stores, logs
  // and routes each event; the workers aggregate. It pays where aggregation is the work (here,
  // percentile sketches merged over 60 panes per window), not where ingestion is.
  const cores = os.availableParallelism()
  console.log(`\nThe same with the window's keys split over worker threads (threads: the JS thread and the workers, on ${cores} cores)`)
  const heavy: WindowSpec['aggregate'] = { n: 'count', median: { median: 'cpu' }, p99: { percentile: 0.99, of: 'mem' }, sd: { stddev: 'cpu' } }
  const parallel: [string, Omit<WindowSpec, 'name' | 'aggregate'>, WindowSpec['aggregate'], Ev[]][] = [
    ['tumbling 1 s', cases[0][1], AGGREGATE, evs],
    ['sliding 60 s by 1 s', cases[1][1], AGGREGATE, evs],
    ['sliding 60 s by 1 s, median, p99, stddev', cases[1][1], heavy, evs.slice(0, EVENTS / 4)],
  ]
  for (const [name, window, aggregate, input] of parallel) {
    const byWorkers: number[] = []
    for (const workers of [0, 1, 2]) {
      const ours: number[] = []
      for (let r = 0; r < RUNS; r++) ours.push((await throughput(input, { ...window, workers }, aggregate)).rate)
      byWorkers.push(median(ours))
      const threads = workers === 0 ? 'the JS thread alone' : `${workers} worker${workers > 1 ? 's' : ''}, ${1 + workers} threads (${(median(ours) / byWorkers[0]).toFixed(2)}×)`
      console.log(`${`${name}: ${threads}`.padEnd(64)} events/s ${(median(ours) / 1e6).toFixed(2)}M`)
      report({ name: `stream ${name}, ${workers} workers`, unit: 'events/s', better: 'higher', ours: median(ours) })
    }
  }
  const lat = await latency(evs.slice(0, Math.min(evs.length, 1_000_000)))
  report({ name: 'event → updated window result, median', unit: 'µs', better: 'lower', ours: lat.median * 1000 })
  report({ name: 'the same, p99', unit: 'µs', better: 'lower', ours: lat.p99 * 1000 })
  console.log('Targets: ≥ 1,000,000 events/s end to end on one core; sliding within 2× of tumbling; p99 < 1 ms from event to window update.')
}
