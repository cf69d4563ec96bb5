// Binary searches of ascending number arrays, shared by the windows, their sketches and the
// merge of partitioned windows' answers.

/** The index of the first element of ascending `a` at or above `x` (`a.length` if none). */
export function firstAtLeast(a: ArrayLike<number>, x: number): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid] < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The index of the first element of ascending `a` above `x` (`a.length` if none). */
export function firstAbove(a: ArrayLike<number>, x: number): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid] <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}
