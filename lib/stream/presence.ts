// Presence: who watches each DAG, and who has which gate open in front of them.
//
// Each socket of this instance is one viewer. What changes here (a socket joins, leaves, opens or
// closes a gate) is gathered per DAG and written to the backplane's presence store at most once per
// `flushMs`, as the net change: a page that flips its focus 50 times a second costs one write and one
// frame per interval, not 50. Changes from every instance (this one included) come back through the
// store's watch and go to each local socket of the DAG as a `presence_delta` frame; a socket gets the
// picture (`presence`) right after its hello. None of it is in the log: no seq, no replay.
//
// A joining socket's picture is built from the viewers the store's watch of the DAG already holds, not
// from a read of its own: in a join storm of N sockets, a read per join would cost the store (on Redis,
// an HGETALL of N fields) and this process N reads of N viewers. The store reads once, when the DAG's
// first socket here starts the watch; sockets that join before that read is back wait for the same one.
// What the pictures share (who is listed after the socket itself, and the count) is ranked once per
// change and kept for the joins that follow: ranking reads every viewer, so once per join would still
// be N² work in a storm.
//
// A picture lists at most PICTURE_LIMIT viewers, with the exact count: in a reconnect storm of N
// sockets, each joining socket would otherwise get up to N viewers, N² bytes in all. The socket
// itself comes first (the client tells "me" by it), then those with a gate open (who reviews what is
// what the list is for), then the others. Every frame carries the exact count.
//
// A delta is bounded the same way. A change that names more than PICTURE_LIMIT viewers (the flush
// of a join storm, an instance whose viewers expire at once) is not forwarded: each local socket gets
// a fresh picture instead, which replaces what its client held. Listing the change would send N
// viewers to each of N sockets again; a picture names every gate still open and drops every viewer
// who left, so no client keeps a ghost. The picture is built from the viewers the store hands the
// listener with the change, in the same call: nothing can come between the change and its picture.

import type { FastifyBaseLogger } from 'fastify'
import type { PresenceDeltaFrame, PresenceFrame, PresenceViewer, ViewerIdentity } from '../../schemas/events.js'
import type { PresenceStore, PresenceWatch } from '../backplane/types.js'
import { isEmptyChange, type PresenceChange } from '../shared/presence-change.js'

/** A socket, as presence sees it (lib/stream/connection.ts). */
export interface PresenceMember {
  readonly id: string
  readonly dagId: string
  readonly log: FastifyBaseLogger
  /** Sends the serialized `presence` or `presence_delta` frame if the socket is live. */
  sendPresence(frame: Buffer): void
}

interface Watcher {
  member: PresenceMember
  viewer: PresenceViewer
  /**
   * Whether the socket got its picture (or will not get one). Frames of changes that come before are
   * not sent: the picture, built from the store's viewers after them, holds them already.
   */
  pictured: boolean
}

interface LocalDAG {
  watchers: Map<string, Watcher>
  /** This instance's changes not yet written: a viewer, or null for one that left. */
  pending: Map<string, PresenceViewer | null>
  timer: NodeJS.Timeout | undefined
  /**
   * Resolves once the store watches the DAG (its first read is back); shared by every socket that
   * joins. Undefined after it failed, until the next socket joins.
   */
  watching: Promise<PresenceWatch> | undefined
  /**
   * The DAG's viewers (the store's, with what is pending here on top) as pictures show them, kept for
   * the sockets that join until the next other change: building it reads every viewer, so a storm of
   * N joins builds it once per change rather than N times. Undefined until a socket needs it.
   */
  ranked: Ranked | undefined
}

/** What every picture of a DAG's viewers shares, whoever it is for. */
interface Ranked {
  /** Those listed after the socket itself, one more than fits (see rank). */
  listed: PresenceViewer[]
  count: number
}

/** How many viewers a `presence` frame lists at most (the schema's `maxItems`). */
export const PICTURE_LIMIT = 50

export interface PresenceOptions {
  store: PresenceStore
  flushMs: number
  log: FastifyBaseLogger
}

export class Presence {
  readonly #options: PresenceOptions
  readonly #dags = new Map<string, LocalDAG>()

  constructor (options: PresenceOptions) {
    this.#options = options
  }

  /**
   * Counts `member` among the DAG's viewers and sends it everyone (itself included) in one
   * `presence` frame, then every change after it. Call it once the socket is live.
   */
  async join (member: PresenceMember, identity: ViewerIdentity | undefined): Promise<void> {
    const dag = this.#dag(member.dagId)
    const viewer: PresenceViewer = identity === undefined ? { id: member.id, gate: null } : { id: member.id, identity, gate: null }
    const watcher: Watcher = { member, viewer, pictured: false }
    dag.watchers.set(member.id, watcher)
    this.#changed(member.dagId, dag, viewer.id, viewer)
    if (dag.ranked !== undefined) addJoined(dag.ranked, viewer)
    // Started by the DAG's first socket here; the sockets that join meanwhile wait for the same read.
    const watching = (dag.watching ??= this.#watch(member.dagId, dag))
    let watch: PresenceWatch
    try {
      watch = await watching
    } catch (error) {
      // The stream goes on without the picture.
      watcher.pictured = true
      member.log.warn({ err: error }, 'fastify-dag-stream: could not read who watches the DAG')
      return
    }
    // In the same turn as the frame is sent: no change can come between the viewers and the picture.
    dag.ranked ??= rank(withPending(watch.viewers(), dag.pending))
    watcher.pictured = true
    member.sendPresence(serialize(pictureFor(watcher.viewer, dag.ranked)))
  }

  /** The member opened the gate of `nodeId` (null: closed it). */
  viewGate (member: PresenceMember, nodeId: string | null): void {
    const dag = this.#dags.get(member.dagId)
    const watcher = dag?.watchers.get(member.id)
    if (dag === undefined || watcher === undefined || watcher.viewer.gate === nodeId) return
    watcher.viewer = { ...watcher.viewer, gate: nodeId }
    dag.ranked = undefined
    this.#changed(member.dagId, dag, member.id, watcher.viewer)
  }

  /** The member's socket ended: it leaves the others' view with the next flush. */
  leave (member: PresenceMember): void {
    const dag = this.#dags.get(member.dagId)
    if (dag === undefined || !dag.watchers.delete(member.id)) return
    dag.ranked = undefined
    this.#changed(member.dagId, dag, member.id, null)
  }

  /** Writes what is pending (the sockets closed at shutdown leave at once) and stops watching. */
  async close (): Promise<void> {
    const dags = [...this.#dags]
    this.#dags.clear()
    await Promise.all(dags.map(([dagId, dag]) => {
      stopWatching(dag)
      return this.#flush(dagId, dag)
    }))
  }

  #dag (dagId: string): LocalDAG {
    let dag = this.#dags.get(dagId)
    if (dag === undefined) {
      dag = { watchers: new Map(), pending: new Map(), timer: undefined, watching: undefined, ranked: undefined }
      this.#dags.set(dagId, dag)
    }
    return dag
  }

  #watch (dagId: string, dag: LocalDAG): Promise<PresenceWatch> {
    const watching = this.#options.store.watch(dagId, (_dagId, change, count, known) => {
      if (change.upserted.length + change.removed.length > PICTURE_LIMIT) {
        dag.ranked = rank(withPending(known, dag.pending))
        sendPictures(dag.watchers, dag.ranked)
      } else {
        dag.ranked = undefined
        sendDelta(dag.watchers, change, count)
      }
    })
    // Forgotten once it fails, so that the next socket to join tries again rather than every later
    // socket of the DAG going without a picture for as long as one of them stays.
    watching.catch(() => {
      if (dag.watching === watching) dag.watching = undefined
    })
    return watching
  }

  #changed (dagId: string, dag: LocalDAG, id: string, viewer: PresenceViewer | null): void {
    dag.pending.set(id, viewer)
    dag.timer ??= setTimeout(() => {
      void this.#flush(dagId, dag)
    }, this.#options.flushMs)
  }

  async #flush (dagId: string, dag: LocalDAG): Promise<void> {
    clearTimeout(dag.timer)
    dag.timer = undefined
    const change: PresenceChange = { upserted: [], removed: [] }
    for (const [id, viewer] of dag.pending) {
      if (viewer === null) change.removed.push(id)
      else change.upserted.push(viewer)
    }
    dag.pending.clear()
    // Nobody left here: stop watching (a socket that joins later starts again).
    if (dag.watchers.size === 0 && this.#dags.get(dagId) === dag) {
      this.#dags.delete(dagId)
      stopWatching(dag)
    }
    if (isEmptyChange(change)) return
    try {
      await this.#options.store.update(dagId, change)
    } catch (error) {
      // Presence is best effort: the store's own expiry and the next change repair what was lost.
      this.#options.log.warn({ err: error, dagId }, 'fastify-dag-stream: could not write presence')
    }
  }
}

function sendDelta (watchers: Map<string, Watcher>, change: PresenceChange, count: number): void {
  // Serialized once for every socket of the DAG.
  const frame = serialize({ type: 'presence_delta', upserted: change.upserted, removed: change.removed, count })
  for (const watcher of watchers.values()) deliver(watcher, frame)
}

/**
 * In place of a change too large to forward: each socket its own picture, as `self` differs. After
 * the socket itself, every picture lists the same viewers, except for the few sockets among them: that
 * part is serialized once and each frame spliced around it (5,000 sockets with identities, on the
 * 2-core development machine: 65–110 ms per change with a JSON.stringify per socket, 11–17 ms spliced).
 */
function sendPictures (watchers: Map<string, Watcher>, ranked: Ranked): void {
  const shared = ranked.listed.slice(0, PICTURE_LIMIT - 1)
  const sharedIds = new Set(shared.map((viewer) => viewer.id))
  const sharedJson = shared.map((viewer) => `,${JSON.stringify(viewer)}`).join('')
  for (const watcher of watchers.values()) {
    const own = watcher.viewer
    const frame = sharedIds.has(own.id)
      ? serialize(pictureFor(own, ranked))
      // What JSON.stringify writes for pictureFor(own, ranked) when `own` is not among `shared`.
      : Buffer.from(`{"type":"presence","self":${JSON.stringify(own.id)},"viewers":[${JSON.stringify(own)}${sharedJson}],"count":${ranked.count}}`)
    deliver(watcher, frame)
  }
}

function deliver (watcher: Watcher, frame: Buffer): void {
  if (watcher.pictured) watcher.member.sendPresence(frame)
}

function serialize (frame: PresenceFrame | PresenceDeltaFrame): Buffer {
  return Buffer.from(JSON.stringify(frame))
}

/**
 * The viewers as the store knows them, with this instance's changes not yet written on top: they
 * are part of the picture already (a joining socket counts itself at once).
 */
function withPending (listed: Iterable<PresenceViewer>, pending: Map<string, PresenceViewer | null>): Map<string, PresenceViewer> {
  const viewers = new Map<string, PresenceViewer>()
  for (const viewer of listed) viewers.set(viewer.id, viewer)
  for (const [id, viewer] of pending) {
    if (viewer === null) viewers.delete(id)
    else viewers.set(id, viewer)
  }
  return viewers
}

/**
 * Whom pictures list after the socket itself, for every socket alike: those with a gate open, then
 * the others; one more than fits, in case the socket is among them. One pass, however many viewers.
 */
function rank (viewers: Map<string, PresenceViewer>): Ranked {
  const atGate: PresenceViewer[] = []
  const others: PresenceViewer[] = []
  for (const viewer of viewers.values()) {
    const group = viewer.gate === null ? others : atGate
    if (group.length <= PICTURE_LIMIT) group.push(viewer)
  }
  return { listed: [...atGate, ...others].slice(0, PICTURE_LIMIT + 1), count: viewers.size }
}

/**
 * A socket that joined: a new id (counted once more) with no gate open, so it ranks after everyone
 * listed, as `rank` would place it.
 */
function addJoined (ranked: Ranked, viewer: PresenceViewer): void {
  ranked.count++
  if (ranked.listed.length <= PICTURE_LIMIT) ranked.listed.push(viewer)
}

/**
 * The picture for one socket: itself first, as this instance knows it (its own change may still be on
 * its way through the store), then the others ranked, at most PICTURE_LIMIT in all.
 */
function pictureFor (own: PresenceViewer, ranked: Ranked): PresenceFrame {
  const others = ranked.listed.filter((viewer) => viewer.id !== own.id).slice(0, PICTURE_LIMIT - 1)
  return { type: 'presence', self: own.id, viewers: [own, ...others], count: ranked.count }
}

function stopWatching (dag: LocalDAG): void {
  dag.watching?.then((watch) => watch.stop(), () => {})
}
