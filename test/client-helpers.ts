// Helpers shared by the client and React tests: a client on the real plugin, and waits on what it shows.

import type { Test } from 'tap'
import WebSocket from 'ws'
import { createDAGStreamClient, type DAGStore, type DAGStreamClientOptions } from '../lib/client/index.js'
import type { DAGEvent } from '../schemas/index.js'
import type { build } from './helpers.js'

export type Server = Awaited<ReturnType<typeof build>>

/** Retries fast, so that tests do not wait out the 1 s … 30 s production schedule. */
export const fastBackoff = { minDelayMs: 20, maxDelayMs: 100 }

/** A client on `server`, closed when the test ends. */
export function streamClient<Store extends DAGStore> (
  t: Test,
  server: Server,
  dagId: string,
  options: Partial<DAGStreamClientOptions<Store>> = {}
) {
  const client = createDAGStreamClient<Store>({ baseUrl: server.http, dagId, WebSocket, backoff: fastBackoff, ...options })
  t.teardown(() => client.close())
  return client
}

/** Resolves once `condition()` holds; polls, so it also sees state changed in place. */
export async function until (condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** `count` node_state events, with an engine `error` event now and then (it shares its type with a control frame). */
export function events (count: number, from = 0): DAGEvent[] {
  return Array.from({ length: count }, (_, index): DAGEvent => {
    const n = from + index
    return n % 97 === 0
      ? { type: 'error', node_id: `n${n % 50}`, message: `failure ${n}` }
      : { type: 'node_state', node_id: `n${n % 50}`, status: n % 2 === 0 ? 'running' : 'completed', metrics: { tokens: n } }
  })
}

/** Resolves after pending I/O callbacks ran, so that frames already written can reach the client. */
export function tick (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
