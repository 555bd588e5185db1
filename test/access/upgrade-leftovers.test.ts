// An open stream keeps its request (authorize is asked again on every heartbeat) and nothing else of
// the upgrade: not the ServerResponse @fastify/websocket made for it, not the `head` buffer it kept on
// the request (lib/access/upgrade.ts). These pin the @fastify/websocket internals that module relies on.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import type WebSocket from 'ws'
import { headKeyOf } from '../../lib/access/upgrade.js'
import { build, buildWithOwnWebsocket, TestClient } from '../support/helpers.js'
import { tick } from '../support/wait.js'

interface Upgrade {
  raw: IncomingMessage
  /** Weak: the test must not be what keeps it. */
  response: WeakRef<ServerResponse>
  /** Whether @fastify/websocket had put the head on the request when the request was routed. */
  hadHead: boolean
}

/** Records every upgrade the app routes (an app-level hook runs before the plugin's route hooks). */
function recordUpgrades (app: { addHook: Function }): Upgrade[] {
  const upgrades: Upgrade[] = []
  app.addHook('onRequest', async (request: { ws: boolean; raw: IncomingMessage }, reply: { raw: ServerResponse }) => {
    if (request.ws) upgrades.push({ raw: request.raw, response: new WeakRef(reply.raw), hadHead: headKeyOf(request.raw) !== undefined })
  })
  return upgrades
}

/** A full garbage collection, without starting the process with --expose-gc. */
async function collectGarbage (): Promise<void> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  // Several rounds with turns in between: a WeakRef is cleared only after the turn that read it.
  for (let round = 0; round < 3; round++) {
    gc()
    await tick()
  }
}

for (const [route, path] of [['a DAG stream', '/api/dags/d/stream'], ['the live run list', '/api/dags']] as const) {
  t.test(`${route}: the upgrade's response and head are let go once the socket is open`, async (t) => {
    let upgrades: Upgrade[] = []
    const { app, url } = await build(t, {}, (app) => {
      upgrades = recordUpgrades(app)
    })
    await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
    const client = await TestClient.open(url(path))
    await client.next()
    const [upgrade] = upgrades
    t.ok(upgrade?.hadHead, '@fastify/websocket still keeps the head under a "ws-head" symbol (if not, lib/access/upgrade.ts must follow)')
    t.equal(headKeyOf(upgrade!.raw), undefined, 'the head is no longer on the request')
    t.equal(upgrade!.response.deref()?.socket, null, 'the response is detached from the TCP socket')
    const [socket] = app.websocketServer.clients as Set<WebSocket>
    t.equal(socket!.listenerCount('error'), 1, 'one error listener: the plugin\'s, not the one closing over the reply')
    await collectGarbage()
    t.equal(upgrade!.response.deref(), undefined, 'the response is garbage while the stream stays open')
    t.equal(socket!.readyState, socket!.OPEN)
    client.close()
  })
}

t.test('an application that registered @fastify/websocket itself keeps its own errorHandler', async (t) => {
  const handled: Error[] = []
  const { app, url } = await buildWithOwnWebsocket(t, {
    errorHandler: (error) => {
      handled.push(error)
    }
  })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  const [socket] = app.websocketServer.clients as Set<WebSocket>
  const error = new Error('from the peer')
  socket!.emit('error', error)
  t.same(handled, [error], 'the application\'s errorHandler got it')
  client.close()
})
