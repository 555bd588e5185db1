// Helpers shared by the client and React tests: a client on the real plugin, a network that fails
// under it, and snapshot loads to count or hold.

import type { Test } from 'tap'
import WebSocket from 'ws'
import {
  createDAGStreamClient,
  type DAGStore,
  type DefaultDAGStore,
  type DAGStreamClientOptions,
  type FetchLike,
  type WebSocketConstructor,
  type WebSocketLike
} from '../../lib/client/index.js'
import { events } from './events.js'
import { build } from './helpers.js'
import { until } from './wait.js'

// Kept here for the tests that import them from this module (wait.ts and events.ts own them).
export { nextMillisecond, tick, until } from './wait.js'
export { events } from './events.js'

export type Server = Awaited<ReturnType<typeof build>>

/** Retries fast, so that tests do not wait out the 1 s … 30 s production schedule. */
export const fastBackoff = { minDelayMs: 20, maxDelayMs: 100 }

/** The transports the client tests run over: what the client does must not depend on which one carries it. */
export const TRANSPORTS = ['websocket', 'sse'] as const

/** Cuts every stream of `server` as a network failure would, WebSocket and event stream alike. */
export function cutStreams (server: Pick<Server, 'app'>): void {
  for (const socket of server.app.websocketServer.clients) socket.terminate()
  server.app.server.closeAllConnections()
}

/** The URLs of the streams opened on `server` from now on, WebSocket upgrades and event streams alike. */
export function streamOpens (server: Server): string[] {
  const opened: string[] = []
  server.app.websocketServer.on('connection', (_socket, request) => opened.push(request.url ?? ''))
  server.app.server.on('request', (request) => {
    if (request.method === 'GET' && request.url !== undefined && /\/events(\?|$)/.test(request.url)) opened.push(request.url)
  })
  return opened
}

/** A client on `server`, closed when the test ends. */
export function streamClient<Store extends DAGStore = DefaultDAGStore> (
  t: Test,
  server: Server,
  dagId: string,
  options: Partial<DAGStreamClientOptions<Store>> = {}
) {
  const client = createDAGStreamClient<Store>({ baseUrl: server.http, dagId, WebSocket, backoff: fastBackoff, ...options })
  t.teardown(() => client.close())
  return client
}

/**
 * A faulty link in front of the real `ws` client: `rewrite` sees every frame from the server and
 * returns it (maybe changed) or undefined to lose it. `frames` counts the frames that came in.
 */
export function faultyLink (rewrite: (frame: string) => string | undefined) {
  const link = { frames: 0, WebSocket: undefined as unknown as WebSocketConstructor }
  link.WebSocket = class FaultySocket implements WebSocketLike {
    readonly #socket: WebSocket
    onmessage: WebSocketLike['onmessage'] = null
    onclose: WebSocketLike['onclose'] = null
    onerror: WebSocketLike['onerror'] = null

    constructor (url: string) {
      this.#socket = new WebSocket(url)
      this.#socket.onmessage = (event) => {
        link.frames++
        const frame = rewrite(String(event.data))
        if (frame !== undefined) this.onmessage?.({ data: frame })
      }
      this.#socket.onclose = (event) => this.onclose?.(event)
      this.#socket.onerror = (event) => this.onerror?.(event)
    }

    send (data: string): void {
      this.#socket.send(data)
    }

    close (code?: number, reason?: string): void {
      this.#socket.close(code, reason)
    }
  }
  return link
}

/** The seq of a frame, if it is a DAG event. */
export function seqOf (frame: string): number | undefined {
  const message = JSON.parse(frame) as { type: string; seq?: number }
  return message.type === 'hello' || message.type === 'resync_required' ? undefined : message.seq
}

/** A gate that holds promises until `open()`. */
export function gate () {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

/** Whether a request the client makes through `fetch` loads the snapshot (over SSE, the stream and commands go there too). */
export function isSnapshotRequest (url: string): boolean {
  const { pathname } = new URL(url)
  return !pathname.endsWith('/events') && !pathname.endsWith('/commands')
}

/** Node's fetch, with the snapshot loads counted and a hook to delay their request or response; other requests pass. */
export function slowFetch (delay: { request?: Promise<void>; response?: Promise<void> } = {}) {
  const counted = { calls: 0, answered: 0, fetch: undefined as unknown as FetchLike }
  counted.fetch = async (url, init) => {
    if (!isSnapshotRequest(url)) return fetch(url, init as RequestInit) as ReturnType<FetchLike>
    counted.calls++
    await delay.request
    const response = await fetch(url, init)
    counted.answered++
    await delay.response
    return response
  }
  return counted
}

/**
 * A finished DAG evicted while a client's snapshot of it is loading: the client opens on a server that no
 * longer has the DAG it was loading. Resolves once the client is open again.
 */
export async function evictedWhileSnapshotLoads (t: Test, transport: typeof TRANSPORTS[number]) {
  const server = await build(t, { retainFinishedMs: 20 })
  for (const event of events(5)) await server.app.dagStream.broadcast('d', event)
  const held = gate()
  const snapshots = slowFetch({ request: held.opened })
  const client = streamClient(t, server, 'd', { fetch: snapshots.fetch, transport })
  await until(() => snapshots.calls === 1, 'the load to start')
  // The run finishes while the load waits (its last event waits in the buffer), and is evicted.
  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'completed' })
  await until(async () => (await server.app.dagStream.snapshot('d')) === undefined, 'the DAG to be evicted')
  held.open()
  await until(() => client.status === 'open', 'open')
  return { server, client, snapshots }
}
