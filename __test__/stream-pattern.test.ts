// Complex event processing (ts/stream/pattern.ts): each feature on small hand-written inputs,
// random patterns against a brute-force reference, snapshot/restore, and bounded state.
import test from 'ava'
import fc from 'fast-check'

import { WarpError } from '../ts/errors'
import type { Operator, StreamEvent } from '../ts/stream/operator'
import { checkPattern, patternOperator, type PatternMatch, type PatternSpec, type PatternStep } from '../ts/stream/pattern'

type Rec = Readonly<Record<string, unknown>>

interface Late {
  input: number
  event: StreamEvent
}

/** Collects what an operator emits and reports late (into `into`'s arrays if given). */
function harness(spec: PatternSpec, input = 0, into = { matches: [] as PatternMatch[], late: [] as Late[] }) {
  const { matches, late } = into
  const op = patternOperator(
    spec,
    {
      emit(m, final) {
        if (final !== true) throw new Error('pattern matches are final')
        matches.push(m)
      },
      late: (i, event) => late.push({ input: i, event }),
    },
    input,
  )
  return {
    op,
    matches,
    late,
    event: (key: string, ts: number, event: Rec) => op.onEvent(input, { key, ts, event }),
    wm: (w: number) => op.onWatermark(input, w),
  }
}

/** Peeks at an operator's state through its snapshot. */
function stateOf(op: Operator) {
  const s = op.snapshot() as { keys: [string, unknown[], unknown[]][]; pending: unknown[]; events: unknown[] }
  return { keys: s.keys.length, runs: s.keys.reduce((n, [, runs, held]) => n + runs.length + held.length, 0), pending: s.pending.length, events: s.events.length }
}

/** Feeds 'a1 c1 b2@7' to `key`: type = first letter, ts = position unless given after @. */
function feed(h: ReturnType<typeof harness>, input: string, key = 'k'): void {
  input
    .split(/\s+/)
    .filter(Boolean)
    .forEach((token, i) => {
      const [id, at] = token.split('@')
      h.event(key, at === undefined ? i : Number(at), { id, type: id[0] })
    })
}

/** A match as the ids of its events, in step order. */
const show = (m: PatternMatch): string =>
  Object.values(m.events)
    .flat()
    .map((e) => e.id)
    .join(' ')

/** The matches of `spec` over `input` once the watermark has passed everything. */
function matchesOf(spec: PatternSpec, input: string): string[] {
  const h = harness(spec)
  feed(h, input)
  h.wm(Infinity)
  return h.matches.map(show)
}

const is =
  (...types: string[]) =>
  (e: Rec): boolean =>
    types.includes(e.type as string)

const pattern = (steps: PatternStep[], rest: Partial<PatternSpec> = {}): PatternSpec => ({ name: 'p', steps, ...rest })

// ---------------------------------------------------------------------------------------------
// Features on small inputs

test('next, followedBy and followedByAny between steps', (t) => {
  const ab = (contiguity: PatternStep['contiguity']) => pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), contiguity }])
  t.deepEqual(matchesOf(ab('next'), 'a1 c1 b1 a2 b2'), ['a2 b2'])
  t.deepEqual(matchesOf(ab('followedBy'), 'a1 c1 b1 b2'), ['a1 b1'])
  t.deepEqual(matchesOf(ab(undefined), 'a1 a2 b1'), ['a1 b1', 'a2 b1'], 'every a starts a match; same end: by start')
  t.deepEqual(matchesOf(ab('followedByAny'), 'a1 c1 b1 b2'), ['a1 b1', 'a1 b2'])
})

test('repetition: relaxed among its own events unless consecutive (Flink docs example)', (t) => {
  // begin(c).followedBy(a).oneOrMore()[.consecutive()].followedBy(b) on C D A1 A2 A3 D A4 B.
  const spec = (consecutive: boolean) =>
    pattern([
      { name: 'C', where: is('c') },
      { name: 'A', where: is('a'), times: { min: 1 }, consecutive },
      { name: 'B', where: is('b') },
    ])
  const input = 'c1 d1 a1 a2 a3 d2 a4 b1'
  t.deepEqual(matchesOf(spec(true), input), ['c1 a1 a2 a3 b1', 'c1 a1 a2 b1', 'c1 a1 b1'])
  t.deepEqual(matchesOf(spec(false), input), ['c1 a1 a2 a3 a4 b1', 'c1 a1 a2 a3 b1', 'c1 a1 a2 b1', 'c1 a1 b1'])
})

test('A{3,} and A{2}', (t) => {
  const atLeast3 = (consecutive: boolean) => pattern([{ name: 'A', where: is('a'), times: { min: 3 }, consecutive }])
  t.deepEqual(matchesOf(atLeast3(false), 'a1 c1 a2 a3 a4'), ['a1 a2 a3', 'a1 a2 a3 a4', 'a2 a3 a4'])
  t.deepEqual(matchesOf(atLeast3(true), 'a1 c1 a2 a3 a4'), ['a2 a3 a4'])
  const two = pattern([{ name: 'A', where: is('a'), times: 2 }, { name: 'B', where: is('b'), contiguity: 'next' }])
  t.deepEqual(matchesOf(two, 'a1 a2 a3 b1'), ['a2 a3 b1'])
  const upTo = pattern([{ name: 'A', where: is('a'), times: { min: 1, max: 2 } }, { name: 'B', where: is('b') }])
  t.deepEqual(matchesOf(upTo, 'a1 a2 a3 b1'), ['a1 a2 b1', 'a1 b1', 'a2 a3 b1', 'a2 b1', 'a3 b1'])
})

test('optional steps: skipped or taken, first, middle and last', (t) => {
  const middle = pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), optional: true }, { name: 'C', where: is('c') }])
  t.deepEqual(matchesOf(middle, 'a1 b1 c1'), ['a1 b1 c1', 'a1 c1'])
  // Skipping B, C's contiguity counts from A: strict C must come right after a1.
  const strictC = pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), optional: true }, { name: 'C', where: is('c'), contiguity: 'next' }])
  t.deepEqual(matchesOf(strictC, 'a1 x1 c1'), [])
  t.deepEqual(matchesOf(strictC, 'a1 c1 b1 c2'), ['a1 c1', 'a1 b1 c2'])
  const first = pattern([{ name: 'A', where: is('a'), optional: true }, { name: 'B', where: is('b') }])
  t.deepEqual(matchesOf(first, 'a1 b1'), ['a1 b1', 'b1'])
  const last = pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), optional: true, times: 2 }])
  t.deepEqual(matchesOf(last, 'a1 b1 b2'), ['a1', 'a1 b1 b2'])
  const h = harness(last)
  feed(h, 'a1')
  h.wm(1)
  t.deepEqual(h.matches, [{ key: 'k', start: 0, end: 0, events: { A: [{ id: 'a1', type: 'a' }], B: [] } }])
})

test('absence at the end fires when the watermark passes first + within', (t) => {
  const notB = (contiguity: PatternStep['contiguity']) => pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), absent: true, contiguity }], { within: 10 })
  const h = harness(notB('followedBy'))
  feed(h, 'a1@0 c1@3')
  h.wm(9)
  t.deepEqual(h.matches, [], 'a B could still come before the deadline')
  h.wm(10)
  t.deepEqual(h.matches, [{ key: 'k', start: 0, end: 10, events: { A: [{ id: 'a1', type: 'a' }] } }])

  t.deepEqual(matchesOf(notB('followedBy'), 'a1@0 b1@5'), [])
  t.deepEqual(matchesOf(notB('followedBy'), 'a1@0 b1@10'), ['a1'], 'the deadline is outside the window')
  t.deepEqual(matchesOf(notB('followedBy'), 'a1@0 a2@4 b1@12'), ['a1'], 'b1 is within a2 + 10')
  // notNext at the end: only the event right after A (within the window) is judged.
  t.deepEqual(matchesOf(notB('next'), 'a1@0 c1@1 b1@2'), ['a1'])
  t.deepEqual(matchesOf(notB('next'), 'a1@0 b1@1'), [])
})

test('absence in the middle: notFollowedBy and notNext', (t) => {
  const mid = (contiguity: PatternStep['contiguity']) =>
    pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), absent: true, contiguity }, { name: 'C', where: is('c') }])
  t.deepEqual(matchesOf(mid('followedBy'), 'a1 c1'), ['a1 c1'])
  t.deepEqual(matchesOf(mid('followedBy'), 'a1 b1 c1'), [])
  t.deepEqual(matchesOf(mid('followedBy'), 'a1 b1 a2 c1'), ['a2 c1'])
  t.deepEqual(matchesOf(mid('next'), 'a1 b1 c1'), [])
  t.deepEqual(matchesOf(mid('next'), 'a1 x1 b1 c1'), ['a1 c1'], 'notNext judges only the event right after A')
  // An event that is both B and C ends the match (as in Flink): the gap includes C's event.
  const overlap = pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('x'), absent: true }, { name: 'C', where: is('c', 'x') }])
  t.deepEqual(matchesOf(overlap, 'a1 x1 c1'), [])
})

test('skip strategies (Flink docs examples)', (t) => {
  // b+ c with b1 b2 b3 c: C strictly after the last b.
  const bc = (skip: PatternSpec['skip']) =>
    pattern([{ name: 'B', where: is('b'), times: { min: 1 } }, { name: 'C', where: is('c'), contiguity: 'next' }], { skip })
  const input = 'b1 b2 b3 c1'
  t.deepEqual(matchesOf(bc('noSkip'), input), ['b1 b2 b3 c1', 'b2 b3 c1', 'b3 c1'])
  t.deepEqual(matchesOf(bc('skipToNext'), input), ['b1 b2 b3 c1', 'b2 b3 c1', 'b3 c1'])
  t.deepEqual(matchesOf(bc('skipPastLastEvent'), input), ['b1 b2 b3 c1'])
  t.deepEqual(matchesOf(bc({ skipToFirst: 'B' }), input), ['b1 b2 b3 c1', 'b2 b3 c1', 'b3 c1'])
  t.deepEqual(matchesOf(bc({ skipToLast: 'B' }), input), ['b1 b2 b3 c1', 'b3 c1'])
  // a b+ with a b1 b2 b3.
  const ab = (skip: PatternSpec['skip']) => pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), times: { min: 1 } }], { skip })
  t.deepEqual(matchesOf(ab('noSkip'), 'a1 b1 b2 b3'), ['a1 b1', 'a1 b1 b2', 'a1 b1 b2 b3'])
  t.deepEqual(matchesOf(ab('skipToNext'), 'a1 b1 b2 b3'), ['a1 b1'])
  // skipToFirst[D] resumes at the match's first d: what starts before it goes.
  const cd = (skip: PatternSpec['skip']) => pattern([{ name: 'C', where: is('c', 'd') }, { name: 'D', where: is('d'), times: { min: 1 } }], { skip })
  t.deepEqual(matchesOf(cd('noSkip'), 'c1 c2 d1 d2'), ['c1 d1', 'c2 d1', 'c1 d1 d2', 'c2 d1 d2', 'd1 d2'])
  t.deepEqual(matchesOf(cd({ skipToFirst: 'D' }), 'c1 c2 d1 d2'), ['c1 d1', 'd1 d2'])
})

test('with a skip strategy a match waits for earlier-starting partial matches', (t) => {
  // B must carry A's v: a2's match completes first but a1's, started earlier, prunes it.
  const spec = (skip: PatternSpec['skip']) =>
    pattern([{ name: 'A', where: is('a') }, { name: 'B', where: (e, m) => e.type === 'b' && e.v === m.A[0].v }], { skip })
  const run = (skip: PatternSpec['skip']) => {
    const h = harness(spec(skip))
    h.event('k', 1, { id: 'a1', type: 'a', v: 1 })
    h.event('k', 2, { id: 'a2', type: 'a', v: 2 })
    h.event('k', 3, { id: 'b1', type: 'b', v: 2 })
    h.wm(4)
    const early = h.matches.map(show)
    h.event('k', 5, { id: 'b2', type: 'b', v: 1 })
    h.wm(6)
    return [early, h.matches.map(show)]
  }
  t.deepEqual(run('noSkip'), [['a2 b1'], ['a2 b1', 'a1 b2']])
  t.deepEqual(run('skipPastLastEvent'), [[], ['a1 b2']])
  t.deepEqual(run('skipToNext'), [[], ['a1 b2', 'a2 b1']])
  // A partial match that started with the same event does not hold a match back.
  const h = harness(pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), times: { min: 1 } }], { skip: { skipToFirst: 'A' } }))
  feed(h, 'a1 b1 b2')
  h.wm(2)
  t.deepEqual(h.matches.map(show), ['a1 b1'])
})

test('within: matches must span less than it; timed-out partial matches leave', (t) => {
  const spec = pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b') }], { within: '5ms' })
  t.deepEqual(matchesOf(spec, 'a1@0 b1@4'), ['a1 b1'])
  t.deepEqual(matchesOf(spec, 'a1@0 b1@5'), [])
  t.deepEqual(matchesOf(spec, 'a1@0 a2@3 b1@6'), ['a2 b1'])
  const h = harness(spec)
  feed(h, 'a1@0 a2@1', 'k1')
  feed(h, 'a3@2', 'k2')
  h.wm(3)
  t.deepEqual(stateOf(h.op), { keys: 2, runs: 3, pending: 0, events: 3 })
  h.wm(6)
  t.deepEqual(stateOf(h.op), { keys: 1, runs: 1, pending: 0, events: 1 }, "k1's partial matches timed out")
  h.wm(7)
  t.deepEqual(stateOf(h.op), { keys: 0, runs: 0, pending: 0, events: 0 }, 'no key state is left')
})

test('keys are matched independently', (t) => {
  const h = harness(pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), contiguity: 'next' }]))
  h.event('k1', 0, { id: 'a1', type: 'a' })
  h.event('k2', 1, { id: 'b1', type: 'b' })
  h.event('k2', 2, { id: 'a2', type: 'a' })
  h.event('k1', 3, { id: 'b2', type: 'b' })
  h.wm(10)
  t.deepEqual(
    h.matches.map((m) => [m.key, show(m)]),
    [['k1', 'a1 b2']],
    "k2's events do not break k1's strict contiguity",
  )
})

test('events are matched in event-time order, ties in arrival order, once the watermark passes', (t) => {
  const h = harness(pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), contiguity: 'next' }]))
  feed(h, 'b1@2 a1@1 a2@2 b2@2')
  t.deepEqual(h.matches, [], 'nothing is matched before the watermark passes')
  h.wm(2)
  t.deepEqual(h.matches, [], 'events at the watermark itself may still have company')
  h.wm(3)
  t.deepEqual(h.matches.map(show), ['a1 b1', 'a2 b2'], 'order a1@1 b1@2 a2@2 b2@2 (b1 arrived before a2)')
})

test('late events go to late and match nothing', (t) => {
  const h = harness(pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b') }]))
  feed(h, 'a1@10')
  h.wm(10)
  feed(h, 'b1@9 b2@10')
  h.wm(20)
  t.deepEqual(h.late, [{ input: 0, event: { key: 'k', ts: 9, event: { id: 'b1', type: 'b' } } }])
  t.deepEqual(h.matches.map(show), ['a1 b2'])
})

test('an operator reads only its own input', (t) => {
  const h = harness(pattern([{ name: 'A', where: is('a') }]), 1)
  h.op.onEvent(0, { key: 'k', ts: 0, event: { id: 'a0', type: 'a' } })
  h.op.onWatermark(0, 50)
  feed(h, 'a1@1')
  h.wm(5)
  feed(h, 'a2@4')
  t.deepEqual(h.matches.map(show), ['a1'])
  t.deepEqual(h.late, [{ input: 1, event: { key: 'k', ts: 4, event: { id: 'a2', type: 'a' } } }])
})

test('a where that throws counts as no match, and is counted', (t) => {
  const spec = pattern([
    { name: 'A', where: is('a') },
    {
      name: 'B',
      where: (e) => {
        if (e.bad) throw new Error('boom')
        return e.type === 'b'
      },
    },
  ])
  const h = harness(spec)
  h.event('k', 0, { id: 'a1', type: 'a' })
  h.event('k', 1, { id: 'b1', type: 'b', bad: true })
  h.event('k', 2, { id: 'b2', type: 'b' })
  h.wm(2)
  const state = JSON.parse(JSON.stringify(h.op.snapshot()))
  h.wm(3)
  t.deepEqual(h.matches.map(show), ['a1 b2'], 'followedBy skipped the event whose condition threw')
  t.is(h.op.errors, 1)
  const again = harness(spec)
  again.op.restore(state)
  t.is(again.op.errors, 1, 'the count is part of the state')
  again.wm(3)
  t.deepEqual(again.matches.map(show), ['a1 b2'])
})

test('bad specs are INVALID_ARGUMENT naming the field', (t) => {
  const A = { name: 'A' }
  const C = { name: 'C' }
  const cases: [unknown, RegExp][] = [
    [null, /^pattern must be an object/],
    [{ name: '', steps: [A] }, /^pattern\.name/],
    [{ name: 'p', steps: [] }, /^pattern\.steps/],
    [{ name: 'p', steps: [A, 'B'] }, /^pattern\.steps\[1\] must be an object/],
    [{ name: 'p', steps: [A, { name: 'A' }] }, /^pattern\.steps\[1\]\.name 'A'/],
    [{ name: 'p', steps: [{ name: 'A', where: 'type == a' }] }, /^pattern\.steps\[0\]\.where/],
    [{ name: 'p', steps: [{ name: 'A', contiguity: 'strict' }] }, /^pattern\.steps\[0\]\.contiguity/],
    [{ name: 'p', steps: [{ name: 'A', contiguty: 'next' }] }, /^pattern\.steps\[0\]\.contiguty is not a field/],
    [{ name: 'p', steps: [{ name: 'A', times: 0 }] }, /^pattern\.steps\[0\]\.times must be a positive integer/],
    [{ name: 'p', steps: [{ name: 'A', times: { min: 1.5 } }] }, /^pattern\.steps\[0\]\.times\.min/],
    [{ name: 'p', steps: [{ name: 'A', times: { min: 3, max: 2 } }] }, /^pattern\.steps\[0\]\.times\.max/],
    [{ name: 'p', steps: [{ name: 'A', consecutive: true }] }, /^pattern\.steps\[0\]\.consecutive/],
    [{ name: 'p', steps: [{ name: 'A', optional: 'yes' }] }, /^pattern\.steps\[0\]\.optional must be a boolean/],
    [{ name: 'p', steps: [{ name: 'A', optional: true }] }, /^pattern\.steps must have a step that is neither/],
    [{ name: 'p', steps: [{ name: 'A', absent: true }, C] }, /^pattern\.steps\[0\]\.absent: a pattern cannot start/],
    [{ name: 'p', steps: [A, { name: 'B', absent: true }] }, /^pattern\.within is required/],
    [{ name: 'p', steps: [A, { name: 'B', absent: true, times: 2 }, C] }, /^pattern\.steps\[1\]\.absent: an absent step takes no times/],
    [{ name: 'p', steps: [A, { name: 'B', absent: true, contiguity: 'followedByAny' }, C] }, /^pattern\.steps\[1\]\.contiguity/],
    [{ name: 'p', steps: [A, { name: 'O', optional: true }, { name: 'B', absent: true }, C] }, /^pattern\.steps\[2\]\.absent: the step before/],
    [{ name: 'p', steps: [A, { name: 'B', absent: true }, { name: 'O', optional: true }, C] }, /^pattern\.steps\[1\]\.absent: the step after/],
    [{ name: 'p', steps: [A], within: '5 parsecs' }, /^pattern\.within/],
    [{ name: 'p', steps: [A], within: 0 }, /^pattern\.within/],
    [{ name: 'p', steps: [A], skip: 'skipAll' }, /^pattern\.skip must be one of/],
    [{ name: 'p', steps: [A], skip: 3 }, /^pattern\.skip must be/],
    [{ name: 'p', steps: [A], skip: { skipToFirst: 'Z' } }, /^pattern\.skip\.skipToFirst must name a step/],
    [{ name: 'p', steps: [A, { name: 'B', absent: true }], within: 5, skip: { skipToLast: 'B' } }, /^pattern\.skip\.skipToLast/],
    [{ name: 'p', steps: [A], skip: { skipToFirst: 'A', skipToLast: 'A' } }, /^pattern\.skip must be/],
  ]
  for (const [spec, message] of cases) {
    const err = t.throws(() => checkPattern(spec), { instanceOf: WarpError })
    t.is(err?.code, 'INVALID_ARGUMENT')
    t.regex(err?.message ?? '', message)
  }
  const out = { emit() {}, late() {} }
  t.throws(() => patternOperator({ name: 'p', steps: [] }, out), { instanceOf: WarpError }, 'the operator checks its spec')
  t.throws(() => patternOperator({ name: 'p', steps: [A] }, out, -1), { instanceOf: WarpError })
})

test('checkPattern reads own properties only and copies', (t) => {
  t.throws(() => checkPattern(Object.create({ name: 'p', steps: [{ name: 'A' }] })), { message: /^pattern\.name/ })
  const proto = Object.prototype as Record<string, unknown>
  proto.within = 'nonsense'
  proto.optional = true
  try {
    t.deepEqual(checkPattern({ name: 'p', steps: [{ name: 'A' }] }), { name: 'p', steps: [{ name: 'A' }] })
  } finally {
    delete proto.within
    delete proto.optional
  }
  const spec = { name: 'p', steps: [{ name: 'A', times: { min: 2 } }], skip: { skipToLast: 'A' } } as PatternSpec
  const copy = checkPattern(spec)
  t.deepEqual(copy, spec)
  spec.steps[0].name = 'Z'
  ;(spec.steps[0].times as { min: number }).min = 9
  ;(spec.skip as { skipToLast: string }).skipToLast = 'Z'
  t.deepEqual(copy, { name: 'p', steps: [{ name: 'A', times: { min: 2 } }], skip: { skipToLast: 'A' } })
})

test('a step may be called __proto__', (t) => {
  const spec = pattern([{ name: '__proto__', where: is('a') }, { name: 'B', where: (e, m) => e.type === 'b' && m['__proto__'].length === 1 }])
  const h = harness(spec)
  feed(h, 'a1 b1')
  h.wm(5)
  t.deepEqual(h.matches.map((m) => Object.keys(m.events)), [['__proto__', 'B']])
  t.deepEqual(h.matches.map(show), ['a1 b1'])
})

// ---------------------------------------------------------------------------------------------
// Random patterns against a brute-force reference

interface InputEvent {
  key: string
  ts: number
  n: number
  event: Rec
}

/**
 * Every match of `spec` over one key's events, straight from the definitions: try every way of
 * binding a subsequence of the time-ordered events to the steps, keep those meeting every rule,
 * then order them and apply the skip strategy.
 */
function reference(spec: PatternSpec, key: string, input: InputEvent[]): PatternMatch[] {
  const events = [...input].sort((a, b) => a.ts - b.ts || a.n - b.n)
  const found: Candidate[] = []
  const steps = spec.steps
  const assign = events.map(() => -1)
  const visit = (i: number, from: number): void => {
    if (i === events.length) {
      const m = judge(spec, key, events, assign)
      if (m) found.push(m)
      return
    }
    assign[i] = -1
    visit(i + 1, from)
    for (let s = from; s < steps.length; s++) {
      if (steps[s].absent) continue
      assign[i] = s
      visit(i + 1, s)
    }
    assign[i] = -1
  }
  visit(0, 0)
  return applySkip(spec, found).map((c) => c.match)
}

interface Candidate {
  match: PatternMatch
  /** (ts, arrival) of the first event, of when the match became certain, and of all its events with their steps */
  start: [number, number]
  at: [number, number]
  all: [number, number, number][]
}

/** The match `assign` (event index → step, −1: none) describes, if it is one. */
function judge(spec: PatternSpec, key: string, events: InputEvent[], assign: number[]): Candidate | null {
  const steps = spec.steps
  const within = spec.within === undefined ? Infinity : (spec.within as number)
  const bound = assign.flatMap((s, i) => (s >= 0 ? [i] : []))
  if (bound.length === 0) return null
  for (let s = 0; s < steps.length; s++) {
    const n = bound.filter((i) => assign[i] === s).length
    const t = steps[s].times ?? 1
    const [min, max] = typeof t === 'number' ? [t, t] : [t.min, t.max ?? Infinity]
    if (steps[s].absent) continue
    if (n === 0 ? !steps[s].optional : n < min || n > max) return null
  }
  // What a condition sees before event `j` is bound: the events bound earlier, by step name.
  const matchedBefore = (j: number) =>
    Object.fromEntries(steps.filter((s) => !s.absent).map((s) => [s.name, bound.filter((i) => i < j && steps[assign[i]] === s).map((i) => events[i].event)]))
  const holds = (step: PatternStep, i: number, j: number): boolean => !step.where || step.where(events[i].event, matchedBefore(j))
  if (!bound.every((j) => holds(steps[assign[j]], j, j))) return null
  const first = events[bound[0]]
  const lastIndex = bound[bound.length - 1]
  if (!(events[lastIndex].ts - first.ts < within)) return null
  const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k)
  for (let k = 1; k < bound.length; k++) {
    const [p, j] = [bound[k - 1], bound[k]]
    const [s, t] = [assign[p], assign[j]]
    const between = range(p + 1, j)
    if (s === t) {
      if (steps[t].consecutive ? j !== p + 1 : between.some((i) => holds(steps[t], i, j))) return null
      continue
    }
    const contiguity = steps[t].contiguity ?? 'followedBy'
    if (contiguity === 'next' && j !== p + 1) return null
    if (contiguity === 'followedBy' && between.some((i) => holds(steps[t], i, j))) return null
    for (let a = s + 1; a < t; a++) {
      if (!steps[a].absent) continue
      const judged = steps[a].contiguity === 'next' ? [p + 1] : [...between, j]
      if (judged.some((i) => holds(steps[a], i, j))) return null
    }
  }
  const lastStep = steps[steps.length - 1]
  let end = events[lastIndex].ts
  let at: [number, number] = [end, events[lastIndex].n]
  if (lastStep.absent) {
    const deadline = first.ts + within
    const after = range(lastIndex + 1, events.length).filter((i) => events[i].ts < deadline)
    const judged = lastStep.contiguity === 'next' ? after.filter((i) => i === lastIndex + 1) : after
    if (judged.some((i) => holds(lastStep, i, events.length))) return null
    end = deadline
    at = [deadline, -1]
  }
  const byName = matchedBefore(events.length)
  return {
    match: { key, start: first.ts, end, events: byName },
    start: [first.ts, first.n],
    at,
    all: bound.map((i) => [events[i].ts, events[i].n, assign[i]]),
  }
}

/** Orders matches as they are emitted and drops those the skip strategy discards. */
function applySkip(spec: PatternSpec, found: Candidate[]): Candidate[] {
  const byAll = (a: Candidate, b: Candidate) => lex(a.all.flat(), b.all.flat())
  const skip = spec.skip ?? 'noSkip'
  if (skip === 'noSkip') return found.sort((a, b) => lex(a.at, b.at) || lex(a.start, b.start) || byAll(a, b))
  let rest = found.sort((a, b) => lex(a.start, b.start) || lex(a.at, b.at) || byAll(a, b))
  const emitted: Candidate[] = []
  while (rest.length > 0) {
    const [m, ...others] = rest
    emitted.push(m)
    const discards = discardsOf(spec, skip, m)
    rest = others.filter((c) => !discards(c.start))
  }
  return emitted
}

/** Numbers in lexicographic order, a prefix first. */
function lex(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

/** Flink's rules: which starts emitting `m` discards. */
function discardsOf(spec: PatternSpec, skip: NonNullable<PatternSpec['skip']>, m: Candidate): (start: number[]) => boolean {
  const last = m.all[m.all.length - 1].slice(0, 2)
  if (skip === 'skipToNext') return (start) => lex(start, m.start) <= 0
  if (skip === 'skipPastLastEvent') return (start) => lex(start, last) <= 0
  if (typeof skip === 'string') return () => false
  const name = 'skipToFirst' in skip ? skip.skipToFirst : skip.skipToLast
  const own = m.all.filter(([, , s]) => spec.steps[s].name === name)
  const target = 'skipToFirst' in skip ? own[0] : own[own.length - 1]
  return (start) => target !== undefined && lex(start, target.slice(0, 2)) < 0
}

type Op = { event: InputEvent } | { watermark: number }

/** Runs `ops` then a watermark of +Infinity; with `cut`, snapshots there and goes on in a restored copy. */
function drive(spec: PatternSpec, ops: Op[], cut = -1) {
  let h = harness(spec)
  const into = { matches: h.matches, late: h.late }
  ops.forEach((op, i) => {
    if (i === cut) {
      const state = JSON.parse(JSON.stringify(h.op.snapshot()))
      h = harness(spec, 0, into)
      h.op.restore(state)
    }
    if ('event' in op) h.event(op.event.key, op.event.ts, op.event.event)
    else h.wm(op.watermark)
  })
  h.wm(Infinity)
  return { ...into, errors: h.op.errors }
}

/** A step as plain data (so fast-check can print it), turned into a spec below. */
interface StepShape {
  types: string[] | null
  rising: boolean
  contiguity: PatternStep['contiguity']
  times: PatternStep['times']
  consecutive: boolean
  kind: 'required' | 'optional' | 'absent'
}

interface Shape {
  steps: StepShape[]
  within: number | null
  skip: 'noSkip' | 'skipToNext' | 'skipPastLastEvent' | 'skipToFirst' | 'skipToLast'
  skipStep: number
}

const TYPES = ['a', 'b', 'c']

const stepShape: fc.Arbitrary<StepShape> = fc.record({
  types: fc.option(fc.subarray(TYPES, { minLength: 1, maxLength: 2 }), { freq: 5 }),
  rising: fc.constantFrom(false, false, false, true),
  contiguity: fc.constantFrom(undefined, 'next', 'followedBy', 'followedByAny'),
  times: fc.constantFrom(undefined, undefined, 2, { min: 1 }, { min: 2 }, { min: 1, max: 2 }, { min: 2, max: 3 }),
  consecutive: fc.boolean(),
  kind: fc.constantFrom('required', 'required', 'optional', 'absent'),
})

/** Random patterns, repaired to the rules: absent steps between required ones, one required at least. */
const shapes: fc.Arbitrary<Shape> = fc
  .record({
    steps: fc.oneof(
      { weight: 3, arbitrary: fc.array(stepShape, { minLength: 1, maxLength: 2 }) },
      { weight: 2, arbitrary: fc.array(stepShape, { minLength: 3, maxLength: 4 }) },
    ),
    within: fc.option(fc.integer({ min: 1, max: 6 })),
    skip: fc.constantFrom('noSkip', 'skipToNext', 'skipPastLastEvent', 'skipToFirst', 'skipToLast'),
    skipStep: fc.nat(),
  })
  .map((shape) => {
    const steps = shape.steps.map((s) => ({ ...s }))
    steps.forEach((s, i) => {
      const before = steps[i - 1]?.kind
      if (s.kind === 'absent' && before !== 'required') s.kind = 'required'
      if (before === 'absent') s.kind = 'required'
      if (s.kind === 'absent') {
        s.times = undefined
        if (s.contiguity === 'followedByAny') s.contiguity = 'followedBy'
      }
      if (s.times === undefined) s.consecutive = false
    })
    if (!steps.some((s) => s.kind === 'required')) steps[0].kind = 'required'
    const lastAbsent = steps[steps.length - 1].kind === 'absent'
    return { ...shape, steps, within: shape.within ?? (lastAbsent ? 4 : null) }
  })

function specOf(shape: Shape): PatternSpec {
  const steps = shape.steps.map((s, i): PatternStep => {
    const { types, rising } = s
    const where = (e: Rec, m: Readonly<Record<string, readonly Rec[]>>): boolean =>
      (!types || types.includes(e.type as string)) && (!rising || Object.values(m).every((list) => list.every((x) => (x.v as number) <= (e.v as number))))
    return {
      name: `S${i}`,
      ...(types || rising ? { where } : {}),
      ...(s.contiguity ? { contiguity: s.contiguity } : {}),
      ...(s.times !== undefined ? { times: s.times } : {}),
      ...(s.consecutive ? { consecutive: true } : {}),
      ...(s.kind === 'optional' ? { optional: true } : {}),
      ...(s.kind === 'absent' ? { absent: true } : {}),
    }
  })
  const present = steps.filter((s) => !s.absent)
  const target = present[shape.skipStep % present.length].name
  const skip = shape.skip === 'skipToFirst' ? { skipToFirst: target } : shape.skip === 'skipToLast' ? { skipToLast: target } : shape.skip
  return { name: 'random', steps, skip, ...(shape.within !== null ? { within: shape.within } : {}) }
}

/**
 * 3–8 events of 1–2 keys and 2–3 types, out of order; now and then the watermark rises to the
 * latest time seen less a random lag (a short one makes events still on their way late).
 */
const inputs: fc.Arbitrary<Op[]> = fc.integer({ min: 2, max: 3 }).chain((types) =>
  fc
    .array(
      fc.record({
        key: fc.constantFrom('k1', 'k1', 'k1', 'k2'),
        type: fc.constantFrom(...TYPES.slice(0, types)),
        v: fc.integer({ min: 0, max: 2 }),
        early: fc.integer({ min: -1, max: 3 }),
        lag: fc.option(fc.integer({ min: 0, max: 4 }), { freq: 2 }),
      }),
      { minLength: 3, maxLength: 8, size: 'max' },
    )
    .map((events) => {
      let latest = -Infinity
      return events.flatMap(({ key, type, v, early, lag }, n): Op[] => {
        const ts = Math.max(0, n - early) // ties, and arrivals up to 3 ms out of order
        latest = Math.max(latest, ts)
        const event: Op = { event: { key, ts, n, event: { id: `${type}${n}`, type, v } } }
        return lag === null ? [event] : [event, { watermark: latest - lag }]
      })
    }),
)

/** What the operator should do with `ops`: the events late on arrival, and each key's matches. */
function expected(spec: PatternSpec, ops: Op[]) {
  let wm = -Infinity
  const late: Late[] = []
  const onTime = new Map<string, InputEvent[]>()
  for (const op of ops) {
    if ('watermark' in op) wm = Math.max(wm, op.watermark)
    else if (op.event.ts < wm) late.push({ input: 0, event: { key: op.event.key, ts: op.event.ts, event: op.event.event } })
    else onTime.set(op.event.key, [...(onTime.get(op.event.key) ?? []), op.event])
  }
  const matches = new Map([...onTime].map(([key, events]) => [key, reference(spec, key, events)]))
  return { late, matches }
}

const byKey = (matches: PatternMatch[], key: string) => matches.filter((m) => m.key === key)

test('random patterns match as the brute-force reference says', (t) => {
  fc.assert(
    fc.property(shapes, inputs, (shape, ops) => {
      const spec = specOf(shape)
      const want = expected(spec, ops)
      const got = drive(spec, ops)
      t.deepEqual(got.late, want.late)
      for (const key of ['k1', 'k2']) t.deepEqual(byKey(got.matches, key), want.matches.get(key) ?? [], key)
      t.is(got.errors, 0)
    }),
    { numRuns: 2000 },
  )
})

test('a snapshot restored mid-stream (JSON round trip) goes on as if uninterrupted', (t) => {
  fc.assert(
    fc.property(shapes, inputs, (shape, ops) => {
      const spec = specOf(shape)
      const whole = drive(spec, ops)
      for (let cut = 0; cut <= ops.length; cut++) t.deepEqual(drive(spec, ops, cut), whole, `cut before op ${cut}`)
    }),
    { numRuns: 1000 },
  )
})

test('a snapshot keeps what a notNext step has already judged', (t) => {
  const spec = pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), absent: true, contiguity: 'next' }, { name: 'C', where: is('c') }])
  const ops: Op[] = ['a1', 'x1', 'b1', 'c1'].flatMap((id, n): Op[] => [{ event: { key: 'k', ts: n, n, event: { id, type: id[0] } } }, { watermark: n + 1 }])
  t.deepEqual(drive(spec, ops).matches.map(show), ['a1 c1'])
  t.deepEqual(drive(spec, ops, 4).matches.map(show), ['a1 c1'], 'restored after x1: b1 is not right after a1')
})

// ---------------------------------------------------------------------------------------------
// State stays bounded

test('100k events over 1,000 keys: within bounds the state, which empties once the watermark moves on', (t) => {
  const specs = [
    pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), contiguity: 'followedByAny' }], { within: 2000 }),
    pattern([{ name: 'A', where: is('a') }, { name: 'B', where: is('b'), absent: true }], { within: 2000, skip: 'skipPastLastEvent' }),
  ]
  for (const spec of specs) {
    const h = harness(spec)
    const runs: number[] = []
    for (let i = 0; i < 100_000; i++) {
      // Keys take turns (one event per key per second); a b now and then; up to 50 ms out of order.
      const ts = i + ((i * 7919) % 50)
      h.event(`k${i % 1000}`, ts, { type: i % 97 === 0 ? 'b' : 'a' })
      if (i % 500 === 499) h.wm(i - 100)
      if (i % 20_000 === 19_999) runs.push(stateOf(h.op).runs)
    }
    t.true(h.matches.length > 1000)
    // Each key holds the partial matches of its last 2 s (2–3), not of all its events so far.
    t.true(Math.max(...runs) <= 3 * 1000, `partial matches at 20k, 40k, …: ${runs.join(', ')}`)
    h.wm(100_000 + 50 + 2000)
    t.deepEqual(stateOf(h.op), { keys: 0, runs: 0, pending: 0, events: 0 })
  }
})

