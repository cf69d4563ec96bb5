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

  /** The q-quantile (0 ≤ q ≤ 1) by the nearest-rank rule, or NaN when empty. */
  quantile(q: number): number {
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

  static from(state: SketchState): Sketch {
    const s = new Sketch()
    s.zeros = state.z
    for (const [i, c] of state.p) s.positive.set(i, c)
    for (const [i, c] of state.n) s.negative.set(i, c)
    s.count = state.z + [...s.positive.values(), ...s.negative.values()].reduce((a, b) => a + b, 0)
    return s
  }
}

/** The representative of bucket i: the point of (γ^(i−1), γ^i] within α of both ends. */
function value(i: number): number {
  return (2 * Math.pow(GAMMA, i)) / (GAMMA + 1)
}
