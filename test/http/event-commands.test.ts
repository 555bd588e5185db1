// POST {prefix}/:id/commands: client events over HTTP, answered with the frame a WebSocket would get
// and a status that says the same.

import t, { type Test } from 'tap'
import type { ClientEvent } from '../../schemas/index.js'
import type { DAGStreamOptions } from '../../lib/index.js'
import { build } from '../support/helpers.js'

const waiting = { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Approve?' } } as const

async function serverWith (t: Test, options: DAGStreamOptions = {}) {
  const received: ClientEvent[] = []
  const server = await build(t, options, (app) => {
    app.dagStream.onClientEvent((event) => {
      received.push(event)
    })
  })
  await server.app.dagStream.broadcast('d', waiting)
  const post = async (body: unknown, { dagId = 'd', headers = {} as Record<string, string>, raw = false } = {}) => {
    const response = await fetch(`${server.http}/api/dags/${dagId}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: raw ? String(body) : JSON.stringify(body)
    })
    return { status: response.status, body: await response.json() }
  }
  return { ...server, received, post }
}

t.test('accepted: 200 and the ack, with the id sent or one made up', async (t) => {
  const { post, received } = await serverWith(t)
  t.same(await post({ type: 'human_decision', node_id: 'review', decision: 'approve', id: 'd-1' }), { status: 200, body: { type: 'ack', id: 'd-1' } })
  const paused = await post({ type: 'pause_execution' })
  t.equal(paused.status, 200)
  t.match(paused.body, { type: 'ack', id: /^[0-9a-f-]{36}$/ })
  t.match(received, [{ type: 'human_decision', id: 'd-1' }, { type: 'pause_execution', id: paused.body.id }])
})

t.test('refused: the error frame of the WebSocket, with the status of its code', async (t) => {
  const { post } = await serverWith(t, { authorize: (_request, _dagId, action) => action !== 'control' })
  t.match(await post({ type: 'human_decision', node_id: 'other', decision: 'approve', id: 'x' }), {
    status: 409, body: { type: 'error', code: 'gate_not_waiting', id: 'x' }
  })
  t.match(await post({ type: 'pause_execution', id: 'p' }), { status: 403, body: { type: 'error', code: 'forbidden', id: 'p' } })
  t.match(await post({ type: 'human_decision', node_id: 'review', decision: 'maybe', id: 'm' }), {
    status: 400, body: { type: 'error', code: 'invalid_message', id: 'm' }
  })
  t.match(await post({ type: 'launch', id: 'l' }), { status: 400, body: { type: 'error', code: 'unknown_type', id: 'l' } })
  t.match(await post(null), { status: 400, body: { type: 'error', code: 'unknown_type' } })
  t.match(await post('{"type":', { raw: true }), { status: 400, body: { type: 'error', code: 'invalid_json' } })
  t.match(await post({ type: 'human_decision', node_id: 'review', decision: 'approve' }, { dagId: 'nope' }), {
    status: 404, body: { type: 'error', code: 'dag_not_found' }
  })
  t.match(await post({ type: 'human_decision', node_id: 'review', decision: 'approve' }, { dagId: 'bad%20id' }), {
    status: 400, body: { type: 'error', code: 'invalid_message', message: /params/ }
  })
  t.match(await post({ type: 'human_decision', node_id: 'review', decision: 'approve' }, { headers: { origin: 'https://evil.example' } }), {
    status: 403, body: { type: 'error', code: 'forbidden', message: /evil\.example/ }
  })
})

t.test('an empty JSON body is invalid JSON; a body of another media type is left to Fastify', async (t) => {
  const { http, post } = await serverWith(t)
  t.match(await post('', { raw: true }), { status: 400, body: { type: 'error', code: 'invalid_json' } })
  const response = await fetch(`${http}/api/dags/d/commands`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' })
  t.equal(response.status, 415)
})

t.test('a foreign Origin is refused before the body is read; a body larger than maxPayload is refused unread', async (t) => {
  let asked = 0
  const { post } = await serverWith(t, {
    maxPayload: 4096,
    authorize: () => {
      asked++
      return true
    }
  })
  // 1 MiB of nested arrays, not even valid JSON: never parsed, so the Origin is what answers.
  const nested = '['.repeat(1024 * 1024)
  t.match(await post(nested, { raw: true, headers: { origin: 'https://evil.example' } }), {
    status: 403, body: { type: 'error', code: 'forbidden', message: /evil\.example/ }
  })
  const large = { type: 'human_decision', node_id: 'review', decision: 'approve', feedback: 'x'.repeat(5000) }
  t.match(await post(large), { status: 413, body: { code: 'FST_ERR_CTP_BODY_TOO_LARGE' } })
  t.equal(asked, 0, 'authorize was never asked')
  t.match(await post({ ...large, feedback: 'x'.repeat(3000) }), { status: 200, body: { type: 'ack' } }, 'a body within maxPayload is taken')
})
