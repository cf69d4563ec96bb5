import { WarpError } from '../errors'
import { describe } from '../args'

/**
 * A DDSketch (Masson, Rim, Lee, VLDB 2019) with 1% relative accuracy: a value v > 0 is counted
 * in bucket ⌈log_γ v⌉, γ = (1 + α) / (1 − α), so any quantile it returns is within α of the
 * true one's value. Two sketches merge exactly by adding counts, which is what lets windows
 * keep one per pane and combine them. The same accuracy as the engine's rollup sketches.
 */
const ALPHA = 0.01
const GAMMA = (1 + ALPHA) / (1 - ALPHA)
const LN_GAMMA = Math.log(GAMMA)
/** Values closer to zero than this are counted as zero (below any metric's resolution). */
const MIN_MAGNITUDE = 1e-300
/**
 * The largest bucket index in magnitude a sketch can hold: the one `add` gives the largest
 * double (≈ 35,500; the smallest magnitude counted, MIN_MAGNITUDE, gives ≈ −34,500). A saved
 * index past it is not one `add` made.
 */
const MAX_INDEX = Math.ceil(Math.log(Number.MAX_VALUE) / LN_GAMMA)

export type SketchState = { z: number; p: [number, number][]; n: [number, number][] }

export class Sketch {
  private zeros = 0
  private readonly positive = new Map<number, number>()
  private readonly negative = new Map<number, number>()
  count = 0

  add(v: number): void {
    this.count++
    const a = Math.abs(v)
    if (a < MIN_MAGNITUDE) this.zeros++
    else {
      const store = v > 0 ? this.positive : this.negative
      const i = Math.ceil(Math.log(a) / LN_GAMMA)
      store.set(i, (store.get(i) ?? 0) + 1)
    }
  }

  merge(other: Sketch): void {
    this.count += other.count
    this.zeros += other.zeros
    for (const [i, c] of other.positive) this.positive.set(i, (this.positive.get(i) ?? 0) + c)
    for (const [i, c] of other.negative) this.negative.set(i, (this.negative.get(i) ?? 0) + c)
  }

  /** The q-quantile (0 ≤ q ≤ 1, else `INVALID_ARGUMENT`) by the nearest-rank rule, or NaN when empty. */
  quantile(q: number): number {
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw new WarpError('INVALID_ARGUMENT', `a quantile must be a number from 0 to 1, not ${describe(q)}`)
    if (this.count === 0) return NaN
    const rank = Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))
    const neg = [...this.negative].sort((a, b) => b[0] - a[0])
    const pos = [...this.positive].sort((a, b) => a[0] - b[0])
    let seen = 0
    for (const [i, c] of neg) if ((seen += c) > rank) return -value(i)
    if ((seen += this.zeros) > rank) return 0
    for (const [i, c] of pos) if ((seen += c) > rank) return value(i)
    return NaN
  }

  toJSON(): SketchState {
    return { z: this.zeros, p: [...this.positive], n: [...this.negative] }
  }

  /**
   * The sketch `toJSON` saved. Anything else (it comes from a snapshot file) is
   * `CORRUPT_CHECKPOINT`: `z` must be a non-negative safe integer, `p` and `n` arrays of
   * [bucket index, count] pairs with whole indices within the range `add` makes, positive safe
   * integer counts and no index twice, and the total count a safe integer.
   */
  static from(state: SketchState): Sketch {
    const fail = (why: string): never => {
      throw new WarpError('CORRUPT_CHECKPOINT', `a percentile sketch in the snapshot is damaged: ${why}`)
    }
    if (state === null || typeof state !== 'object' || Array.isArray(state)) return fail(`it is ${describe(state)}, not an object`)
    const { z, p, n } = state as { z: unknown; p: unknown; n: unknown }
    if (!Number.isSafeInteger(z) || (z as number) < 0) return fail(`its zero count is ${describe(z)}, not a non-negative whole number`)
    const s = new Sketch()
    s.zeros = z as number
    let count = s.zeros
    const load = (pairs: unknown, into: Map<number, number>, which: string): void => {
      if (!Array.isArray(pairs)) return fail(`its ${which} buckets are ${describe(pairs)}, not an array`)
      for (const pair of pairs) {
        if (!Array.isArray(pair) || pair.length !== 2) return fail(`a ${which} bucket is ${describe(pair)}, not an [index, count] pair`)
        const [i, c] = pair as unknown[]
        if (!Number.isInteger(i) || Math.abs(i as number) > MAX_INDEX) return fail(`a ${which} bucket index is ${describe(i)}, not a whole number within ±${MAX_INDEX}`)
        if (!Number.isSafeInteger(c) || (c as number) <= 0) return fail(`${which} bucket ${i} has a count of ${describe(c)}, not a positive whole number`)
        if (into.has(i as number)) return fail(`${which} bucket ${i} appears twice`)
        into.set(i as number, c as number)
        count += c as number
      }
    }
    load(p, s.positive, 'positive')
    load(n, s.negative, 'negative')
    if (!Number.isSafeInteger(count)) fail(`its counts add up to ${count}, past the largest safe integer`)
    s.count = count
    return s
  }
}

/** The representative of bucket i: the point of (γ^(i−1), γ^i] within α of both ends. */
function value(i: number): number {
  return (2 * Math.pow(GAMMA, i)) / (GAMMA + 1)
}
