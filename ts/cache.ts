/**
 * A string-keyed map that holds a bounded number of entries whatever the churn: two
 * generations of at most `capacity` each. New entries go to the young one; a hit in the old
 * one moves the entry to the young one; when the young one fills, the old one is dropped and
 * the young one becomes old. Entries in steady use stay (any working set up to `capacity`
 * keeps hitting); entries no longer used are gone after two generations.
 *
 * Each generation is a prototype-less object in dictionary mode: for a million string keys
 * its lookups are about three times faster than a `Map`'s, which matters on the put path.
 */
export class BoundedMap<V> {
  private young: Record<string, V> = Object.create(null)
  private old: Record<string, V> = Object.create(null)
  private youngSize = 0
  private oldSize = 0

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    const value = this.young[key]
    if (value !== undefined || this.oldSize === 0) return value
    const aged = this.old[key]
    if (aged !== undefined) {
      delete this.old[key]
      this.oldSize--
      this.set(key, aged)
    }
    return aged
  }

  set(key: string, value: V): void {
    if (this.young[key] === undefined) this.add(key, value)
    else this.young[key] = value
  }

  /** Enters a key that `get` has just missed (a miss costs as much as the store itself, so
   * the by-name put path does not pay for a second one). */
  add(key: string, value: V): void {
    this.young[key] = value
    this.youngSize++
    if (this.youngSize >= this.capacity) {
      this.old = this.young
      this.oldSize = this.youngSize
      this.young = Object.create(null)
      this.youngSize = 0
    }
  }

  /** Entries held (at most twice the capacity). */
  get size(): number {
    return this.youngSize + this.oldSize
  }
}
