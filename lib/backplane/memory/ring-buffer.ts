/**
 * A fixed-capacity FIFO (capacity >= 1): pushing past capacity drops the oldest item.
 * O(1) push and no reallocation, where Array#shift would move every item on each event.
 */
export class RingBuffer<T> {
  readonly #items: Array<T | undefined>
  #start = 0
  #length = 0

  constructor (readonly capacity: number) {
    this.#items = new Array<T | undefined>(capacity)
  }

  get length (): number {
    return this.#length
  }

  push (item: T): void {
    const end = (this.#start + this.#length) % this.capacity
    this.#items[end] = item
    if (this.#length < this.capacity) this.#length++
    else this.#start = (this.#start + 1) % this.capacity
  }

  /** The items from position `from` (0 = oldest) to the newest, in order. */
  slice (from: number): T[] {
    const result: T[] = []
    for (let i = Math.max(0, from); i < this.#length; i++) {
      result.push(this.#items[(this.#start + i) % this.capacity] as T)
    }
    return result
  }
}
