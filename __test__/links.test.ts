import test from 'ava'

import { WarpEngine } from '../ts'
import { codeOf, tempDir } from './helpers'

test('links are declared, listed, followed by queries, and kept across reopen and backup', async (t) => {
  const dir = tempDir('links')
  let db = await WarpEngine.open(dir)
  db.series('temp{room=a}').put(20, 1000)
  db.series({ metric: 'power', tags: { room: 'a' } }).put(300, 1000)
  db.series('temp{room=b}').put(18, 1000)
  t.true(db.link('power{room=a}', { metric: 'temp', tags: { room: 'a' } }, { kind: 'heats' }))
  t.false(db.link('temp{room=a}', 'power{room=a}', { kind: 'heats' }))
  t.true(db.link('temp{room=a}', 'temp{room=b}'))
  t.like(db.links('power{room=a}'), [{ a: 'power{room="a"}', b: 'temp{room="a"}', kind: 'heats', origin: 'declared' }])
  t.is(db.links().length, 2)

  const r = db.querySync({ metric: 'power', from: 0, to: 2000, aggregate: 'sum', withLinked: true })
  t.is(r.groups.length, 1)
  t.is(r.groups[0].columns.sum[0], 300)
  t.deepEqual(r.linked?.map((g) => [g.key, g.columns.sum[0]]), [['temp{room="a"}', 20]])
  t.is(db.querySync({ metric: 'power', from: 0, to: 2000, aggregate: 'sum' }).linked, undefined)
  const both = await db.query({ metric: 'temp', where: { room: 'a' }, from: 0, to: 2000, aggregate: 'sum', withLinked: true })
  t.deepEqual(both.linked?.map((g) => g.key).sort(), ['power{room="a"}', 'temp{room="b"}'])

  t.is(await codeOf(() => db.link('temp{room=a}', 'temp{room=a}')), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.link('temp{room=a}', 'missing')), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.link('temp{room=a}', 'power{room=a}', { kind: '' })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.link('temp{room=a}', 'power{room=a}', { kind: 7 as never })), 'INVALID_ARGUMENT')
  t.is(await codeOf(() => db.link('temp{', 'power{room=a}')), 'INVALID_SERIES')
  t.is(await codeOf(() => db.querySync({ metric: 'power', from: 0, to: 2000, aggregate: 'sum', withLinked: 'yes' as never })), 'INVALID_QUERY')

  const copy = tempDir('links-backup')
  await db.backup(copy)
  await db.close()
  db = await WarpEngine.open(dir)
  t.is(db.links().length, 2)
  t.is(db.unlink('temp{room=b}', 'temp{room=a}'), 1)
  t.is(db.links().length, 1)
  await db.close()
  const restored = await WarpEngine.open(copy)
  t.is(restored.links().length, 2)
  await restored.close()
})
