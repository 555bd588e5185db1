// Close codes: "do not reconnect" ends the client for good; "reconnect" codes come back.

import t, { type Test } from 'tap'
import { UnauthorizedError } from '../../lib/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { streamClient, TRANSPORTS } from '../support/client-helpers.js'

/** Whether `url` opens a stream of any DAG: a WebSocket upgrade or an event stream. */
function isStream (url: string): boolean {
  return /\/api\/dags\/[^/]+\/(stream|events)/.test(url)
}

/**
 * A server that counts stream upgrades and asks `allowed` at each periodic check. The check comes
 * with the heartbeat, which also ends a peer that misses a pong: 150 ms leaves a busy machine room.
 */
async function watchedServer (t: Test, allowed: () => boolean, options = {}) {
  const counts = { upgrades: 0 }
  const server = await build(t, { heartbeatMs: 150, authorize: (request) => !isStream(request.url) || allowed(), ...options }, (app) => {
    app.addHook('onRequest', async (request) => {
      if (isStream(request.url)) counts.upgrades++
    })
  })
  return { server, counts }
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: 4503 (no longer allowed): closed for good, with the code, and no reconnect`, async (t) => {
    let allowed = true
    const { server, counts } = await watchedServer(t, () => allowed)
    // Every retry of either client waits exactly 10 ms.
    const backoff = { minDelayMs: 20, maxDelayMs: 20, random: () => 0 }
    const client = streamClient(t, server, 'd', { backoff, transport })
    await until(() => client.status === 'open', 'open')
    allowed = false
    await until(() => client.status === 'closed', 'closed')
    t.match(client.error, { name: 'DAGStreamError', code: 'closed_by_server', closeCode: 4503 })
    const upgrades = counts.upgrades
    allowed = true
    // A marker: a client opened after the first was closed, then cut, comes back after the same
    // delay. By then a retry of the first, due 10 ms after its close, would have reached the server.
    const marker = streamClient(t, server, 'marker', { backoff })
    await until(() => marker.status === 'open', 'the marker to open')
    for (const socket of server.app.websocketServer.clients) socket.terminate()
    await until(() => counts.upgrades >= upgrades + 2 && marker.status === 'open', 'the marker to come back')
    t.equal(counts.upgrades, upgrades + 2, 'the marker\'s two upgrades, none from the closed client')
    t.equal(client.status, 'closed')
  })
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: 4401 (credentials expired): reconnects`, async (t) => {
    let expired = false
    const { server, counts } = await watchedServer(t, () => {
      if (expired) {
        expired = false
        throw new UnauthorizedError()
      }
      return true
    })
    const client = streamClient(t, server, 'd', { transport })
    await until(() => client.status === 'open', 'open')
    const statuses: string[] = []
    client.on('status', (status) => statuses.push(status))
    const upgrades = counts.upgrades
    expired = true
    await until(() => counts.upgrades > upgrades && client.status === 'open', 'the reconnect')
    t.same(statuses.slice(0, 2), ['reconnecting', 'open'])
  })
}

t.test('1008 (rate limited): the error is reported, waiting commands rejected, no reconnect', async (t) => {
  const { server, counts } = await watchedServer(t, () => true, {
    rateLimit: { max: 2, timeWindow: 60_000 },
    heartbeatMs: 60_000
  })
  const client = streamClient(t, server, 'd')
  const errors: string[] = []
  client.on('error', (error) => errors.push(error.code))
  const answers = [client.pause(), client.pause(), client.pause()].map((answer) => answer.catch((error) => error.code))
  const [first, second, third] = await Promise.all(answers)
  // The first two may be answered before the close or be cut off by it; the third never is.
  t.ok(['not_handled', 'connection_lost'].includes(first) && ['not_handled', 'connection_lost'].includes(second))
  t.equal(third, 'connection_lost', 'the refused command was in flight when the socket closed')
  await until(() => client.status === 'closed', 'closed')
  t.same(errors, ['rate_limited', 'closed_by_server'])
  t.equal(client.error?.closeCode, 1008)
  t.equal(counts.upgrades, 1)
})
