// Reading presence frames from a TestClient, and judging what its client would show.

import { isDeepStrictEqual } from 'node:util'
import t, { type Test } from 'tap'
import { Value } from '@sinclair/typebox/value'
import { PresenceDeltaFrame, PresenceFrame, type PresenceViewer } from '../../schemas/index.js'
import { PresenceTracker, type PresenceView } from '../../lib/client/presence.js'
import { PICTURE_LIMIT } from '../../lib/stream/presence.js'
import { MemoryBackplane } from '../../lib/index.js'
import { MemoryPresence } from '../../lib/backplane/memory/presence.js'
import type { PresenceListener, PresenceWatch } from '../../lib/backplane/types.js'
import { gate } from './client-helpers.js'
import type { TestClient } from './helpers.js'

/**
 * The memory store, counting the watches it starts and holding each back until the test opens
 * `started`: as on Redis, where a watch starts with a read, changes reach its listener meanwhile.
 */
export class HeldPresence extends MemoryPresence {
  watches = 0
  readonly started = gate()

  override async watch (dagId: string, listener: PresenceListener): Promise<PresenceWatch> {
    this.watches++
    const watch = await super.watch(dagId, listener)
    await this.started.opened
    return watch
  }
}

/** The memory backplane with a HeldPresence for its presence store. */
export class HeldPresenceBackplane extends MemoryBackplane {
  override readonly presence = new HeldPresence()
}

/** The presence frame a client got after its hello. */
export async function picture (client: TestClient): Promise<PresenceFrame> {
  t.match(await client.next(), { type: 'hello' })
  const frame = await client.next()
  t.equal(frame.type, 'presence')
  return frame as PresenceFrame
}

/** The next presence_delta `client` reads that `match` accepts (earlier frames are skipped), within `timeoutMs`. */
export function deltaWhere (
  client: TestClient,
  match: (delta: PresenceDeltaFrame) => boolean,
  what = 'a presence delta',
  timeoutMs?: number
): Promise<PresenceDeltaFrame> {
  return client.nextWhere((frame): frame is PresenceDeltaFrame => frame.type === 'presence_delta' && match(frame), what, timeoutMs)
}

/** Matches a delta that upserts viewer `id` (with that gate, when given). */
export const upserts = (id: string, gate?: string | null) => (delta: PresenceDeltaFrame) =>
  delta.upserted.some((viewer) => viewer.id === id && (gate === undefined || viewer.gate === gate))

/** Matches a delta that removes viewer `id`. */
export const removes = (id: string) => (delta: PresenceDeltaFrame) => delta.removed.includes(id)

/** What the real client would show after the presence frames `client` has received so far. */
export function shownBy (client: TestClient): PresenceView {
  const tracker = new PresenceTracker()
  for (const frame of client.received) if (frame.type === 'presence' || frame.type === 'presence_delta') tracker.receive(frame)
  return tracker.view
}

/** The presence frames `client` has received so far. */
export function presenceFrames (client: TestClient): Array<PresenceFrame | PresenceDeltaFrame> {
  return client.received.filter((frame) => frame.type === 'presence' || frame.type === 'presence_delta')
}

/**
 * Whether `view` is right for the socket `self` when `truth` watches the DAG: the exact count, itself
 * first, nobody listed who is gone or with a gate they no longer have open, and everyone with a gate
 * open listed (they rank before the others, and these tests keep them under the cap).
 */
export function isRight (view: PresenceView, self: string, truth: ReadonlyMap<string, PresenceViewer>): boolean {
  const atGate = [...truth.values()].filter((viewer) => viewer.gate !== null)
  return view.count === truth.size &&
    view.self === self &&
    view.viewers[0]?.id === self &&
    view.viewers.every((viewer) => isDeepStrictEqual(truth.get(viewer.id), viewer)) &&
    atGate.every((viewer) => view.viewers.some((listed) => listed.id === viewer.id))
}

/** `{"type":"presence_delta","upserted":[],"removed":[],"count":…}` and the like, with room to spare. */
const FRAME_ENVELOPE_BYTES = 100

/**
 * Asserts that no presence frame the `clients` received names more than PICTURE_LIMIT viewers, nor
 * takes more bytes than PICTURE_LIMIT of the longest viewer in `everyone` and the frame around them.
 */
export function assertBounded (t: Test, clients: TestClient[], everyone: Iterable<PresenceViewer>): void {
  const longest = Math.max(...[...everyone].map((viewer) => JSON.stringify(viewer).length))
  const byteBound = PICTURE_LIMIT * (longest + 1) + FRAME_ENVELOPE_BYTES
  const named = (frame: PresenceFrame | PresenceDeltaFrame) => (frame.type === 'presence' ? frame.viewers.length : frame.upserted.length + frame.removed.length)
  const over = clients.flatMap(presenceFrames).filter((frame) => named(frame) > PICTURE_LIMIT || JSON.stringify(frame).length > byteBound)
  t.same(over.map((frame) => `${frame.type} naming ${named(frame)} viewers in ${JSON.stringify(frame).length} bytes`), [], `every presence frame of ${clients.length} sockets bounded`)
}

/** Asserts that every presence frame the `clients` received holds what the schema documents. */
export function assertValid (t: Test, clients: TestClient[]): void {
  const invalid = clients.flatMap(presenceFrames).filter((frame) => !Value.Check(frame.type === 'presence' ? PresenceFrame : PresenceDeltaFrame, frame))
  t.same(invalid, [], `every presence frame of ${clients.length} sockets valid`)
}
