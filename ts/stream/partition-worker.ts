// A worker thread of a partitioned window (see partitioned.ts): it runs the window over the
// keys the stream's thread routes to it, and answers each message in the order it came.
import { workerData } from 'node:worker_threads'
import type { Emitter } from './operator'
import { BY_WATERMARK, Batch, FINAL, FromWorker, KINDS, LATE, OUTPUT_WIDTH, ToWorker, WorkerSetup, partitionOf } from './partitioned'
import { WindowResult, windowOperator } from './window'

const { port, signal, index, workers, spec, fields } = workerData as WorkerSetup
const waiting = new Int32Array(signal)
/** The keys of the events, by the numbers the stream's thread gave them. */
let names: string[] = []
let at = 0
let byWatermark = false
let outputs: number[] = []
let keys: string[] = []
const op = windowOperator(spec, {
  emit: (r, final = true) => {
    keys.push(r.key)
    outputs.push(at, (byWatermark ? BY_WATERMARK : 0) | (final ? FINAL : 0), r.start, r.end, r.count, r.revision, KINDS.indexOf(r.kind))
    for (const name of aggregates) {
      const v = r.values[name]
      outputs.push(typeof v === 'number' ? v : NaN)
    }
  },
  late: () => {
    keys.push('')
    outputs.push(at, LATE)
    for (let i = 2; i < width; i++) outputs.push(0)
  },
} satisfies Emitter<WindowResult>)
const aggregates = op.aggregates.names
const width = OUTPUT_WIDTH + aggregates.length
/** The event the window sees, refilled for each one (the window keeps none of them); without
 * a prototype, so a field named `__proto__` is a field, as in the event the stream parsed. */
const event: Record<string, unknown> = Object.create(null)

function run(m: Batch): FromWorker {
  if (m.renumber) names = []
  names.push(...m.added)
  outputs = []
  keys = []
  for (let i = 0; i < m.count; i++) {
    at = m.at[i]
    const key = m.keys[i]
    byWatermark = key < 0
    if (byWatermark) {
      op.onWatermark(0, m.ts[i])
      continue
    }
    for (let f = 0; f < fields.length; f++) {
      const v = m.values[i * fields.length + f]
      event[fields[f]] = v === v ? v : undefined
    }
    op.onEvent(0, { key: names[key], ts: m.ts[i], event })
  }
  return { type: 'done', id: m.id, outputs: Float64Array.from(outputs), keys }
}

function answer(m: ToWorker): FromWorker {
  switch (m.type) {
    case 'batch':
      return run(m)
    case 'snapshot':
      return { type: 'state', state: op.snapshot() }
    case 'restore': {
      op.restore(m.state)
      // Events of a key go to its worker: state of a key held by another would never see them.
      const keys = (m.state as { keys: [string][] }).keys
      const stray = keys.find(([key]) => partitionOf(key, workers) !== index)
      if (stray) throw new Error(`key ${JSON.stringify(stray[0])} is not one of worker ${index}'s`)
      return { type: 'restored' }
    }
  }
}

port.on('message', (m: ToWorker) => {
  let reply: FromWorker
  try {
    reply = answer(m)
  } catch (e) {
    reply = { type: 'error', message: (e as Error).message }
  }
  if (reply.type === 'done') port.postMessage(reply, [reply.outputs.buffer as ArrayBuffer])
  else port.postMessage(reply)
  Atomics.add(waiting, 0, 1)
  Atomics.notify(waiting, 0)
})

// The stream's thread may be blocked waiting for an answer: a worker that stops says so.
process.on('exit', () => {
  Atomics.store(waiting, 1 + index, 1)
  Atomics.add(waiting, 0, 1)
  Atomics.notify(waiting, 0)
})
