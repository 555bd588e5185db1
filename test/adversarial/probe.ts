// The check after every adversarial input: the server still serves a well-behaved client.

import type { Test } from 'tap'
import type { ServerMessage } from '../../schemas/index.js'
import { TestClient } from '../support/helpers.js'

/**
 * Opens a fresh stream at `url`, sends a valid command with an id, and resolves with the first two
 * frames: `hello`, then the answer (an `ack`, when the app has an onClientEvent handler and the DAG an
 * execution).
 */
export async function probe (url: string, id = 'probe'): Promise<ServerMessage[]> {
  const client = await TestClient.open(url)
  await client.next()
  client.send({ type: 'pause_execution', id })
  await client.next()
  client.close()
  return client.received.slice(0, 2)
}

export async function stillServes (t: Test, url: string): Promise<void> {
  const [hello, answer] = await probe(url)
  t.match(hello, { type: 'hello' })
  t.same(answer, { type: 'ack', id: 'probe' }, 'a fresh socket is served')
}
