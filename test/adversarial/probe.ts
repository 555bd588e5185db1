// The check after every adversarial input: the server still serves a well-behaved client.

import type { Test } from 'tap'
import { TestClient } from '../helpers.js'

/**
 * Opens a fresh stream at `url` and sends a valid command with an id: the server must greet it and ack
 * the command (the app must have an onClientEvent handler and the DAG an execution).
 */
export async function stillServes (t: Test, url: string, id = 'probe'): Promise<void> {
  const client = await TestClient.open(url)
  t.match(await client.next(), { type: 'hello' })
  client.send({ type: 'pause_execution', id })
  t.same(await client.next(), { type: 'ack', id }, 'a fresh socket is served')
  client.close()
}
