import { WarpError } from '../errors'
import { describe } from '../args'
import { firstAtLeast } from './search'

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

/**
 * One sign's buckets: indices ascending, with their counts. Sorted arrays rather than a map:
 * merging two is one linear pass and a quantile one scan, where windows merge sketches of
 * whole panes and read one quantile per window. Added indices wait unsorted until the buckets
 * are read, so an add costs the same however many buckets there are.
 */
class Buckets {
  private index: number[] = []
  private count: number[] = []
  private added: number[] = []

  add(i: number): void {
    this.added.push(i)
  }

  /** The buckets, sorted, with every add counted. */
  sorted(): { index: number[]; count: number[] } {
    if (this.added.length > 0) {
      const added = this.added.sort((a, b) => a - b)
      this.added = []
      const index: number[] = []
      const count: number[] = []
      for (let k = 0; k < added.length; k++) {
        if (k > 0 && added[k] === added[k - 1]) count[count.length - 1]++
        else {
          index.push(added[k])
          count.push(1)
        }
      }
      this.fold(index, count)
    }
    return { index: this.index, count: this.count }
  }

  merge(other: Buckets): void {
    const { index, count } = other.sorted()
    this.sorted()
    this.fold(index, count)
  }

  /** Adds sorted buckets `b` (counts `bc`) to these (sorted): a few into many in place, by
   * binary searches; otherwise in one linear pass into new arrays. */
  private fold(b: number[], bc: number[]): void {
    if (b.length === 0) return
    if (this.index.length === 0) {
      this.index = b.slice()
      this.count = bc.slice()
    } else if (b.length * 4 < this.index.length) this.insert(b, bc)
    else this.rebuild(b, bc)
  }

  private rebuild(b: number[], bc: number[]): void {
    const [a, ac] = [this.index, this.count]
    const index: number[] = []
    const count: number[] = []
    let i = 0
    let j = 0
    while (i < a.length || j < b.length) {
      if (j === b.length || (i < a.length && a[i] < b[j])) {
        index.push(a[i])
        count.push(ac[i++])
      } else if (i === a.length || b[j] < a[i]) {
        index.push(b[j])
        count.push(bc[j++])
      } else {
        index.push(a[i])
        count.push(ac[i++] + bc[j++])
      }
    }
    this.index = index
    this.count = count
  }

  /** Counts of buckets both have are added where they are; new ones are merged in from the back. */
  private insert(b: number[], bc: number[]): void {
    const { index, count } = this
    const fresh: number[] = []
    for (let j = 0; j < b.length; j++) {
      const at = firstAtLeast(index, b[j])
      if (index[at] === b[j]) count[at] += bc[j]
      else fresh.push(j)
    }
    if (fresh.length === 0) return
    let i = index.length - 1
    let k = index.length + fresh.length - 1
    index.length = count.length = k + 1
    for (let f = fresh.length - 1; f >= 0; f--) {
      const j = fresh[f]
      while (i >= 0 && index[i] > b[j]) {
        index[k] = index[i]
        count[k--] = count[i--]
      }
      index[k] = b[j]
      count[k--] = bc[j]
    }
  }

  pairs(): [number, number][] {
    const { index, count } = this.sorted()
    return index.map((i, k) => [i, count[k]])
  }

  /** Buckets `from` checked and in index order (see `Sketch.from`). */
  static of(pairs: [number, number][]): Buckets {
    const b = new Buckets()
    for (const [i, c] of pairs) {
      b.index.push(i)
      b.count.push(c)
    }
    return b
  }
}

export class Sketch {
  private zeros = 0
  private positive = new Buckets()
  private negative = new Buckets()
  count = 0

  add(v: number): void {
    this.count++
    const a = Math.abs(v)
    if (a < MIN_MAGNITUDE) this.zeros++
    else (v > 0 ? this.positive : this.negative).add(Math.ceil(Math.log(a) / LN_GAMMA))
  }

  merge(other: Sketch): void {
    this.count += other.count
    this.zeros += other.zeros
    this.positive.merge(other.positive)
    this.negative.merge(other.negative)
  }

  /** The q-quantile (0 ≤ q ≤ 1, else `INVALID_ARGUMENT`) by the nearest-rank rule, or NaN when empty. */
  quantile(q: number): number {
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw new WarpError('INVALID_ARGUMENT', `a quantile must be a number from 0 to 1, not ${describe(q)}`)
    if (this.count === 0) return NaN
    const rank = Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))
    let seen = 0
    // From the most negative value up: negative buckets by falling index, then zeros, then positive ones.
    const neg = this.negative.sorted()
    for (let k = neg.index.length - 1; k >= 0; k--) if ((seen += neg.count[k]) > rank) return -value(neg.index[k])
    if ((seen += this.zeros) > rank) return 0
    const pos = this.positive.sorted()
    for (let k = 0; k < pos.index.length; k++) if ((seen += pos.count[k]) > rank) return value(pos.index[k])
    return NaN
  }

  toJSON(): SketchState {
    return { z: this.zeros, p: this.positive.pairs(), n: this.negative.pairs() }
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
    const load = (pairs: unknown, which: string): Buckets => {
      if (!Array.isArray(pairs)) return fail(`its ${which} buckets are ${describe(pairs)}, not an array`)
      const checked: [number, number][] = []
      for (const pair of pairs) {
        if (!Array.isArray(pair) || pair.length !== 2) return fail(`a ${which} bucket is ${describe(pair)}, not an [index, count] pair`)
        const [i, c] = pair as unknown[]
        if (!Number.isInteger(i) || Math.abs(i as number) > MAX_INDEX) return fail(`a ${which} bucket index is ${describe(i)}, not a whole number within ±${MAX_INDEX}`)
        if (!Number.isSafeInteger(c) || (c as number) <= 0) return fail(`${which} bucket ${i} has a count of ${describe(c)}, not a positive whole number`)
        checked.push([i as number, c as number])
        count += c as number
      }
      // Saved in index order since sketches keep buckets sorted; in any order before that.
      checked.sort((x, y) => x[0] - y[0])
      checked.forEach(([i], k) => k > 0 && checked[k - 1][0] === i && fail(`${which} bucket ${i} appears twice`))
      return Buckets.of(checked)
    }
    s.positive = load(p, 'positive')
    s.negative = load(n, 'negative')
    if (!Number.isSafeInteger(count)) fail(`its counts add up to ${count}, past the largest safe integer`)
    s.count = count
    return s
  }
}

/** The representative of bucket i: the point of (γ^(i−1), γ^i] within α of both ends. */
function value(i: number): number {
  return (2 * Math.pow(GAMMA, i)) / (GAMMA + 1)
}
