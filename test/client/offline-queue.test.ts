// The policy for commands issued without an open stream: they wait, in order, and go out when it is
// back; past their deadline they are dropped, never sent late; close() gives them all up.

import Fastify from 'fastify'
import t from 'tap'
import dagStream from '../../lib/index.js'
import type { ClientEvent } from '../../schemas/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { cutStreams, streamClient, streamOpens, TRANSPORTS } from '../support/client-helpers.js'

for (const transport of TRANSPORTS) {
  t.test(`${transport}: commands issued while reconnecting wait and are sent, in order, once the stream is back`, async (t) => {
    const received: string[] = []
    const server = await build(t, {}, (app) => {
      app.dagStream.onClientEvent((event) => {
        received.push(event.type)
      })
    })
    await server.app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'ok?' } })
    // A fixed 300 ms retry: long enough to issue commands while disconnected.
    const client = streamClient(t, server, 'd', { transport, backoff: { minDelayMs: 300, random: () => 0.999 } })
    await until(() => client.status === 'open', 'open')
    cutStreams(server)
    await until(() => client.status === 'reconnecting', 'reconnecting')
    const answers = Promise.all([client.pause(), client.decide('g', 'approve'), client.resume()])
    t.same(received, [], 'nothing sent while disconnected')
    await answers
    t.same(received, ['pause_execution', 'human_decision', 'resume_execution'])
  })

  t.test(`${transport}: commands issued before connect() wait for the first connection`, async (t) => {
    const received: ClientEvent[] = []
    const server = await build(t, {}, (app) => {
      app.dagStream.onClientEvent((event) => {
        received.push(event)
      })
    })
    await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
    const opened = streamOpens(server)
    const client = streamClient(t, server, 'd', { transport, connect: false })
    const paused = client.pause()
    t.same(opened, [], 'connect: false opens nothing, and a command does not open it either')
    client.connect()
    client.connect()
    await paused
    t.equal(received.length, 1)
    t.equal(opened.length, 1, 'connect() opens one stream, however often it is called')
  })

  t.test(`${transport}: a command still queued at its deadline rejects with timeout and is never sent`, async (t) => {
  // Find a free port, then leave it empty: the client can only retry until the server appears.
    const probe = await build(t)
    await probe.app.close()
    const client = streamClient(t, probe, 'd', { transport, commandTimeoutMs: 100 })
    await t.rejects(client.pause(), { code: 'timeout' })
    t.equal(client.status, 'reconnecting')
    t.ok(client.reconnect !== undefined && client.reconnect.retryAt >= Date.now() - 100, 'the next attempt is announced')

    let received = 0
    const app = Fastify({ logger: false })
    await app.register(dagStream)
    app.dagStream.onClientEvent(() => {
      received++
    })
    await app.listen({ port: probe.port, host: '127.0.0.1' })
    t.teardown(() => app.close())
    await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
    await until(() => client.status === 'open', 'the server to appear')
    await client.resume()
    t.equal(received, 1, 'only the command issued after the server appeared reached it')
  })

  t.test(`${transport}: close() rejects queued commands with client_closed, and send after close rejects at once`, async (t) => {
    const probe = await build(t)
    await probe.app.close()
    const client = streamClient(t, probe, 'd', { transport })
    const queued = client.cancel()
    client.close()
    await t.rejects(queued, { code: 'client_closed' })
    await t.rejects(client.pause(), { code: 'client_closed' })
    t.equal(client.status, 'closed')
    client.close()
    client.connect()
    t.equal(client.status, 'closed', 'closing again or connecting after close does nothing')
  })
}
