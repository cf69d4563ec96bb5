import test from 'ava'

import { AlertEvent, CorrelationChange, JoinResult, Numbered, PatternMatch, Point, WarpEngine } from '../ts'
import { codeOf, tempDir, until } from './helpers'

test('an interval join pairs two streams on the key within the bound, and resumes after reopen', async (t) => {
  const dir = tempDir('ops')
  const open = async () => {
    const db = await WarpEngine.open(dir)
    const orders = db.stream('orders', { key: 'user', timestamp: 'ts', fields: ['amount'], outOfOrder: 0 })
    const clicks = db.stream('clicks', { key: 'user', timestamp: 'ts', attributes: ['page'], outOfOrder: 0 })
    const pairs: Numbered<JoinResult>[] = []
    orders.join(clicks, { name: 'order_clicks', between: [-5, 5] }).on((p) => pairs.push(p))
    return { db, orders, clicks, pairs }
  }
  const a = await open()
  a.orders.write({ user: 'u1', ts: 100, amount: 10 })
  a.clicks.write({ user: 'u1', ts: 103, page: '/cart' })
  a.clicks.write({ user: 'u2', ts: 103, page: '/x' })
  a.orders.write({ user: 'u1', ts: 200, amount: 5 }) // its click comes after the reopen
  await until(() => a.pairs.length === 1)
  t.deepEqual(a.pairs.map((p) => [p.key, p.leftTs, p.rightTs, p.left.amount, p.right.page]), [['u1', 100, 103, 10, '/cart']])
  await a.db.close()
  const b = await open()
  b.clicks.write({ user: 'u1', ts: 198, page: '/pay' })
  b.clicks.write({ user: 'u1', ts: 300, page: '/late' })
  await until(() => b.pairs.length === 1)
  t.deepEqual(b.pairs.map((p) => [p.key, p.leftTs, p.rightTs, p.seq]), [['u1', 200, 198, 2]])
  t.is(await codeOf(() => b.orders.join(b.orders, { name: 'bad', window: { type: 'hopping', size: 1 } } as never)), 'INVALID_ARGUMENT')
  await b.db.close()
})

test('a pattern finds "three failures then a success within 1 minute" per key', async (t) => {
  const db = await WarpEngine.open(tempDir('ops'))
  const s = db.stream('logins', { key: 'user', timestamp: 'ts', attributes: ['result'], outOfOrder: 0 })
  const matches: PatternMatch[] = []
  s.pattern({
    name: 'brute_force',
    steps: [
      { name: 'fail', where: (e) => e.result === 'fail', times: { min: 3 }, consecutive: true },
      { name: 'ok', where: (e) => e.result === 'ok', contiguity: 'next' },
    ],
    within: '1m',
    skip: 'skipPastLastEvent',
  }).on((m) => matches.push(m))
  const at = (sec: number) => 1_000_000 + sec * 1000
  for (const [user, sec, result] of [['a', 1, 'fail'], ['b', 1, 'fail'], ['a', 2, 'fail'], ['a', 3, 'fail'], ['b', 2, 'ok'], ['a', 4, 'ok'], ['a', 100, 'ok']] as const) {
    s.write({ user, ts: at(sec), result })
  }
  await until(() => matches.length === 1)
  t.is(matches[0].key, 'a')
  t.deepEqual(matches[0].events.fail.map((e) => e.ts), [at(1), at(2), at(3)])
  t.deepEqual(matches[0].events.ok.map((e) => e.ts), [at(4)])
  await db.close()
})

test('alerts go pending, firing and resolved, and their history is an event series', async (t) => {
  const db = await WarpEngine.open(tempDir('ops'))
  const s = db.stream('temp', { key: 'room', timestamp: 'ts', fields: ['c'], outOfOrder: 0 })
  const alerts: AlertEvent[] = []
  s.alert({ name: 'hot', field: 'c', above: 30, clear: 25, for: 10 }).on((a) => alerts.push(a))
  for (const [ts, c] of [[0, 20], [10, 31], [15, 33], [20, 32], [30, 27], [40, 24], [50, 20]]) s.write({ room: 'r1', ts: 1000 + ts, c })
  await until(() => alerts.length === 3)
  t.deepEqual(alerts.map((a) => [a.state, a.ts - 1000]), [['pending', 10], ['firing', 20], ['resolved', 40]])
  const history = (await db.range('temp.alert.hot{room="r1"}', 0, 10_000)) as Point[]
  t.deepEqual(history.map((p) => (p.value as AlertEvent).state), ['pending', 'firing', 'resolved'])
  await db.close()
})

test('correlated fields are linked (discovered, with their score) and unlinked when they part', async (t) => {
  const db = await WarpEngine.open(tempDir('ops'))
  const s = db.stream('room', { key: 'room', timestamp: 'ts', fields: ['temp', 'power', 'noise'], outOfOrder: 0 })
  const changes: CorrelationChange[] = []
  s.correlate({ name: 'entangled', fields: ['temp', 'power'], every: 10, window: 5, threshold: 0.9, sustain: 2 }).on((c) => changes.push(c))
  let x = 1
  for (let i = 0; i < 40; i++) {
    x = (x * 7919 + 13) % 101
    s.write({ room: 'a', ts: i * 10, temp: x, power: 2 * x + 1 })
  }
  await until(() => changes.length === 1)
  const link = db.links('room.temp{room="a"}')
  t.is(link.length, 1)
  t.like(link[0], { a: 'room.power{room="a"}', b: 'room.temp{room="a"}', kind: 'correlated', origin: 'discovered' })
  t.true(link[0].score! > 0.99)
  for (let i = 40; i < 80; i++) {
    x = (x * 7919 + 13) % 101
    s.write({ room: 'a', ts: i * 10, temp: x, power: (i * 37) % 11 })
  }
  await until(() => changes.length === 2)
  t.false(changes[1].linked)
  t.deepEqual(db.links('room.temp{room="a"}'), [])
  await db.close()
})
