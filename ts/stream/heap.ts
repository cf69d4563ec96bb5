/** A binary min-heap ordered by `before`: the operators' timers and event buffers. */
export class Heap<T> {
  private readonly heap: T[] = []

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  /** Everything in it, in no particular order. */
  items(): readonly T[] {
    return this.heap
  }

  peek(): T | undefined {
    return this.heap[0]
  }

  push(item: T): void {
    const h = this.heap
    let i = h.push(item) - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  pop(): T | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length === 0 || last === undefined) return top
    h[0] = last
    for (let i = 0; ; ) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < h.length && this.before(h[l], h[min])) min = l
      if (r < h.length && this.before(h[r], h[min])) min = r
      if (min === i) return top
      ;[h[i], h[min]] = [h[min], h[i]]
      i = min
    }
  }
}
