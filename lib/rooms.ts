// The sockets of this instance, grouped by DAG. A room subscribes to its DAG's log while it has
// members, and hands every new entry (serialized once, by the backplane) to each of them.

import type { Backplane, LogEntry } from './backplane/types.js'

export interface RoomMember {
  deliver(entry: LogEntry): void
}

interface Room<Member extends RoomMember> {
  members: Set<Member>
  unsubscribe: () => void
}

export class Rooms<Member extends RoomMember> {
  readonly #rooms = new Map<string, Room<Member>>()
  readonly #backplane: Backplane

  constructor (backplane: Backplane) {
    this.#backplane = backplane
  }

  /** Adds a member; from now on it receives every entry appended to the DAG. */
  join (dagId: string, member: Member): void {
    let room = this.#rooms.get(dagId)
    if (room === undefined) {
      const members = new Set<Member>()
      const unsubscribe = this.#backplane.subscribe(dagId, (entry) => {
        for (const each of members) each.deliver(entry)
      })
      this.#rooms.set(dagId, (room = { members, unsubscribe }))
    }
    room.members.add(member)
  }

  /** Removes a member; an empty room unsubscribes and is dropped, so rooms never outlive their sockets. */
  leave (dagId: string, member: Member): void {
    const room = this.#rooms.get(dagId)
    if (room === undefined || !room.members.delete(member) || room.members.size > 0) return
    room.unsubscribe()
    this.#rooms.delete(dagId)
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
