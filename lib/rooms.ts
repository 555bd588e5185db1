// The sockets of this instance, grouped by DAG. A room subscribes to its DAG's log while it has
// members, and hands every new entry (serialized once, by the backplane) to each of them.

import type { Backplane, LogEntry } from './backplane/types.js'
import type { Metrics } from './metrics/metrics.js'

export interface RoomMember {
  deliver(entry: LogEntry): void
}

interface Room<Member extends RoomMember> {
  members: Set<Member>
  /** Resolves with the unsubscribe function once the backplane delivers live entries. */
  subscribed: Promise<() => void>
}

export class Rooms<Member extends RoomMember> {
  readonly #rooms = new Map<string, Room<Member>>()
  readonly #backplane: Backplane
  readonly #metrics: Pick<Metrics, 'delivered' | 'roomClosed'>

  constructor (backplane: Backplane, metrics: Pick<Metrics, 'delivered' | 'roomClosed'>) {
    this.#backplane = backplane
    this.#metrics = metrics
  }

  /**
   * Adds a member. Once the promise resolves, it receives every entry appended to the DAG; read the
   * log only then, so that nothing appended in between is missed. Rejects if the backplane cannot
   * subscribe (the caller closes the member, which then leaves).
   */
  async join (dagId: string, member: Member): Promise<void> {
    let room = this.#rooms.get(dagId)
    if (room === undefined) {
      const members = new Set<Member>()
      const subscribed = this.#backplane.subscribe(dagId, (entry) => {
        for (const each of members) each.deliver(entry)
        this.#metrics.delivered(dagId, entry)
      })
      const created: Room<Member> = (room = { members, subscribed })
      this.#rooms.set(dagId, created)
      // A failed subscription must not stay behind for the next socket of this DAG to wait on.
      subscribed.catch(() => {
        if (this.#rooms.get(dagId) === created) this.#rooms.delete(dagId)
      })
    }
    room.members.add(member)
    await room.subscribed
  }

  /** Removes a member; an empty room unsubscribes and is dropped, so rooms never outlive their sockets. */
  leave (dagId: string, member: Member): void {
    const room = this.#rooms.get(dagId)
    if (room === undefined || !room.members.delete(member) || room.members.size > 0) return
    this.#rooms.delete(dagId)
    this.#metrics.roomClosed(dagId)
    room.subscribed.then((unsubscribe) => unsubscribe(), () => {})
  }

  /** How many DAGs have a room (at least one member) here. */
  get size (): number {
    return this.#rooms.size
  }

  /** How many members watch `dagId`, or all DAGs when omitted. */
  count (dagId?: string): number {
    if (dagId !== undefined) return this.#rooms.get(dagId)?.members.size ?? 0
    let total = 0
    for (const room of this.#rooms.values()) total += room.members.size
    return total
  }

  * members (): Generator<Member> {
    for (const room of this.#rooms.values()) yield * room.members
  }
}
