// Reading presence frames from a TestClient.

import t from 'tap'
import type { PresenceDeltaFrame, PresenceFrame, ServerMessage } from '../schemas/index.js'
import type { TestClient } from './helpers.js'

/** The presence frame a client got after its hello. */
export async function picture (client: TestClient): Promise<PresenceFrame> {
  t.match(await client.next(), { type: 'hello' })
  const frame = await client.next()
  t.equal(frame.type, 'presence')
  return frame as PresenceFrame
}

/** The next presence_delta `client` reads that `match` accepts (earlier frames are skipped). */
export async function deltaWhere (client: TestClient, match: (delta: PresenceDeltaFrame) => boolean): Promise<PresenceDeltaFrame> {
  for (;;) {
    const frame: ServerMessage = await client.next()
    if (frame.type === 'presence_delta' && match(frame)) return frame
  }
}

/** Matches a delta that upserts viewer `id` (with that gate, when given). */
export const upserts = (id: string, gate?: string | null) => (delta: PresenceDeltaFrame) =>
  delta.upserted.some((viewer) => viewer.id === id && (gate === undefined || viewer.gate === gate))

/** Matches a delta that removes viewer `id`. */
export const removes = (id: string) => (delta: PresenceDeltaFrame) => delta.removed.includes(id)
