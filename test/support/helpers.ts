// Shared test helpers: a server with the plugin on a real port, and a ws client that reads frames in order.

import type { IncomingHttpHeaders, Server } from 'node:http'
import websocket, { type WebsocketPluginOptions } from '@fastify/websocket'
import Fastify, { type FastifyHttpOptions, type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import WebSocket from 'ws'
import dagStream, { type DAGStreamOptions } from '../../lib/index.js'
import type { ServerMessage } from '../../schemas/index.js'

// Kept for the tests written before wait.ts took it over.
export { within } from './wait.js'

/** A Fastify app with the plugin, listening on a free port, closed when the test ends. */
export async function build (
  t: Test,
  options: DAGStreamOptions = {},
  setup?: (app: FastifyInstance) => void | Promise<void>,
  serverOptions: FastifyHttpOptions<Server> = {}
) {
  const app = Fastify({ logger: false, ...serverOptions })
  await app.register(dagStream, options)
  await setup?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { app, port, url: (path: string) => `ws://127.0.0.1:${port}${path}`, http: `http://127.0.0.1:${port}` }
}

/**
 * An app that registered @fastify/websocket itself, with `websocketOptions`, before the plugin (which then
 * leaves it as it is); listening on a free port, closed when the test ends.
 */
export async function buildWithOwnWebsocket (t: Test, websocketOptions: WebsocketPluginOptions) {
  const app = Fastify({ logger: false })
  await app.register(websocket, websocketOptions)
  await app.register(dagStream)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  return { app, url: (path: string) => `ws://127.0.0.1:${port}${path}` }
}

/** A client socket whose frames can be awaited one by one, in order. */
export class TestClient {
  readonly socket: WebSocket
  readonly received: ServerMessage[] = []
  readonly #waiters: Array<() => void> = []
  readonly closed: Promise<{ code: number; reason: string }>

  constructor (url: string, options?: WebSocket.ClientOptions) {
    this.socket = new WebSocket(url, options)
    this.socket.on('message', (data) => {
      this.received.push(JSON.parse(data.toString()))
      for (const wake of this.#waiters.splice(0)) wake()
    })
    this.closed = new Promise((resolve) => {
      this.socket.on('close', (code, reason) => {
        for (const wake of this.#waiters.splice(0)) wake()
        resolve({ code, reason: reason.toString() })
      })
    })
    this.socket.on('error', () => {})
  }

  static async open (url: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
    const client = new TestClient(url, options)
    await new Promise<void>((resolve, reject) => {
      client.socket.once('open', resolve)
      client.socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      client.socket.once('error', reject)
    })
    return client
  }

  /** Resolves when at least `count` frames have arrived in total, with all frames so far. */
  async waitFor (count: number, timeoutMs = 10_000): Promise<ServerMessage[]> {
    const deadline = Date.now() + timeoutMs
    while (this.received.length < count) {
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error(`socket closed after ${this.received.length} of ${count} frames`)
      if (Date.now() > deadline) throw new Error(`timed out after ${this.received.length} of ${count} frames`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50)
        this.#waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return this.received
  }

  /** The next frame after the ones already read with `next`. */
  #cursor = 0
  async next (): Promise<ServerMessage> {
    await this.waitFor(this.#cursor + 1)
    return this.received[this.#cursor++] as ServerMessage
  }

  /**
   * The next frame after the ones already read with `next` that `match` accepts (the frames before it
   * are read and skipped); rejects after `timeoutMs` saying what was awaited.
   */
  async nextWhere<Frame extends ServerMessage = ServerMessage> (
    match: ((frame: ServerMessage) => frame is Frame) | ((frame: ServerMessage) => boolean),
    what: string,
    timeoutMs = 10_000
  ): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (let skipped = 0; ; skipped++) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${skipped} frames skipped)`)
      await this.waitFor(this.#cursor + 1, Math.max(1, deadline - Date.now())).catch((error: Error) => {
        throw new Error(`waiting for ${what}: ${error.message}`)
      })
      const frame = this.received[this.#cursor++] as ServerMessage
      if (match(frame)) return frame as Frame
    }
  }

  send (message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  close (): void {
    this.socket.close()
  }
}

/** What a refused upgrade got instead of the 101. */
export interface UpgradeRefusal {
  status: number
  headers: IncomingHttpHeaders
  body: unknown
}

/** Resolves with the status, headers and JSON body of a refused upgrade (the server answered without a 101). */
export function upgradeRefusal (url: string, headers: Record<string, string> = {}): Promise<UpgradeRefusal> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.on('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) })
        socket.terminate()
      })
    })
    socket.on('open', () => {
      socket.close()
      reject(new Error('the upgrade was accepted'))
    })
    socket.on('error', reject)
  })
}

/** Resolves with the HTTP status of a refused upgrade. */
export async function upgradeStatus (url: string, headers: Record<string, string> = {}): Promise<number> {
  return (await upgradeRefusal(url, headers)).status
}
