// Commands: ack and error answers, idempotency across a reconnect, deadlines.

import t, { type Test } from 'tap'
import type { ClientEvent, DAGEvent } from '../../schemas/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { cutStreams, gate, streamClient, streamOpens, TRANSPORTS } from '../support/client-helpers.js'

const waiting = { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Approve?' } } as const

for (const transport of TRANSPORTS) {
  t.test(`${transport}: a decision resolves on ack; a decision for a gate that is not waiting rejects with the server code`, async (t) => {
    const received: ClientEvent[] = []
    const server = await build(t, {}, (app) => {
      app.dagStream.onClientEvent((event) => {
        received.push(event)
      })
    })
    await server.app.dagStream.broadcast('d', waiting)
    const client = streamClient(t, server, 'd', { transport })
    await client.decide('review', 'modify', 'cheaper model')
    t.match(received, [{ type: 'human_decision', node_id: 'review', decision: 'modify', feedback: 'cheaper model', id: String }])
    await t.rejects(client.decide('other', 'approve'), { name: 'DAGStreamError', code: 'gate_not_waiting' })
    await until(() => client.store.getSnapshot().gates.size === 0, 'the gate to close')
  })
}

/**
 * A server whose engine takes every client event (in `received`) but answers only once `release()`
 * is called, so a test can act while commands are in flight. `answered` counts the answers.
 */
async function heldEngine (t: Test, first: DAGEvent) {
  const held = gate()
  const engine = { received: [] as ClientEvent[], answered: 0, release: held.open }
  const server = await build(t, {}, (app) => {
    app.dagStream.onClientEvent(async (event) => {
      engine.received.push(event)
      await held.opened
      engine.answered++
    })
  })
  await server.app.dagStream.broadcast('d', first)
  return { server, engine }
}

const running: DAGEvent = { type: 'execution_status', status: 'running' }

for (const transport of TRANSPORTS) {
  t.test(`${transport}: a decision re-sent after a reconnect reaches the engine once, with the same id`, async (t) => {
    const { server, engine } = await heldEngine(t, waiting)
    const upgrades = streamOpens(server)
    const client = streamClient(t, server, 'd', { transport })
    await until(() => client.position.seq === 1, 'the gate to be loaded')
    const decided = client.decide('review', 'approve')
    await until(() => engine.received.length === 1, 'the engine to get the decision')
    cutStreams(server)
    await until(() => upgrades.length === 2 && client.status === 'open', 'the client to be back')
    // The re-sent copy joins the first one, still with the engine: releasing it answers both.
    engine.release()
    await decided
    t.equal(engine.received.length, 1, 'the engine saw the decision once')
    t.match(upgrades[1], /since=1&epoch=/, 'the reconnect resumed after the gate event')
  })
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: a pause in flight when the socket drops rejects with connection_lost`, async (t) => {
    const { server, engine } = await heldEngine(t, running)
    const client = streamClient(t, server, 'd', { transport })
    const paused = client.pause()
    await until(() => engine.received.length === 1, 'the engine to get the pause')
    cutStreams(server)
    await t.rejects(paused, { code: 'connection_lost' })
    engine.release()
    await until(() => client.status === 'open', 'the client to be back')
    t.equal(engine.received.length, 1, 'not sent again')
  })
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: no answer within commandTimeoutMs rejects with timeout; a late answer is ignored`, async (t) => {
    const { server, engine } = await heldEngine(t, running)
    const client = streamClient(t, server, 'd', { transport, commandTimeoutMs: 200 })
    await t.rejects(client.resume(), { code: 'timeout' })
    engine.release()
    await until(() => engine.answered === 1, 'the engine to answer late')
    await client.cancel()
    t.pass('the late ack did not disturb the next command')
  })
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: the same id while the first is unanswered is the same command`, async (t) => {
    const { server, engine } = await heldEngine(t, running)
    const client = streamClient(t, server, 'd', { transport })
    const first = client.send({ type: 'pause_execution', id: 'pause-1' })
    const second = client.send({ type: 'pause_execution', id: 'pause-1' })
    t.equal(second, first)
    engine.release()
    await first
    t.equal(engine.received.length, 1)
  })
}
