import t, { type Test } from 'tap'
import { CloseCode } from '../../lib/index.js'
import { build, buildWithOwnWebsocket, TestClient } from '../support/helpers.js'

async function connected (t: Test, options = {}) {
  const server = await build(t, options)
  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  await client.next()
  return { ...server, client }
}

t.test('each kind of bad input gets its own error code, and the socket stays open and useful', async (t) => {
  const { app, client } = await connected(t)
  const cases: Array<[string, unknown, object]> = [
    ['not JSON', '{"type": "pause_', { code: 'invalid_json', message: 'The message is not valid JSON' }],
    ['not an object', '42', { code: 'unknown_type' }],
    ['no type', { id: 'a' }, { code: 'unknown_type', id: 'a', message: /"type" must be one of: human_decision, pause_execution/ }],
    ['an unknown type', { type: 'drop_tables', id: 'b' }, { code: 'unknown_type', id: 'b' }],
    ['a missing field', { type: 'human_decision', id: 'c', decision: 'approve' }, { code: 'invalid_message', id: 'c', message: 'human_decision: "node_id" is required' }],
    ['a wrong value', { type: 'human_decision', id: 'd', node_id: 'n', decision: 'maybe' }, { code: 'invalid_message', message: 'human_decision: "decision" must be one of: approve, reject, modify' }],
    ['a wrong type', { type: 'pause_execution', id: 5 }, { code: 'invalid_message', message: 'pause_execution: "id" expected string' }],
    ['an unexpected field', { type: 'cancel_execution', force: true }, { code: 'invalid_message', message: 'cancel_execution: "force" unexpected property' }]
  ]
  for (const [why, message, expected] of cases) {
    client.send(message)
    t.match(await client.next(), { type: 'error', ...expected }, why)
  }
  client.socket.send(Buffer.from([1, 2, 3]), { binary: true })
  t.match(await client.next(), { type: 'error', code: 'unsupported_binary' }, 'a binary frame')
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await client.next(), { type: 'execution_status', seq: 2 }, 'the stream goes on')
  client.close()
})

t.test('more messages than the rate limit: rate_limited, then close 1008', async (t) => {
  const { client } = await connected(t, { rateLimit: { max: 5, timeWindow: 60_000 } })
  for (let i = 0; i < 20; i++) client.send({ type: 'pause_execution', id: `p${i}` })
  const { code, reason } = await client.closed
  t.match(client.received.at(-1), { type: 'error', code: 'rate_limited', message: 'Rate limited: more than 5 messages in 60000 ms' })
  t.equal(client.received.filter((frame) => (frame as { code?: string }).code === 'rate_limited').length, 1, 'nothing is read after the limit')
  t.same({ code, reason }, { code: CloseCode.POLICY_VIOLATION, reason: 'rate limited' })
})

t.test('a client that keeps sending garbage is closed with 1008', async (t) => {
  const { client } = await connected(t, { rateLimit: { max: 100, timeWindow: 60_000, maxInvalid: 3 } })
  for (let i = 0; i < 4; i++) client.send('garbage')
  t.equal((await client.closed).code, CloseCode.POLICY_VIOLATION)
  t.same(client.received.slice(1).map((frame) => (frame as { code?: string }).code), ['invalid_json', 'invalid_json', 'invalid_json', 'invalid_json', 'rate_limited'])
})

t.test('the rate limit window slides on, and can be turned off', async (t) => {
  const limited = await connected(t, { rateLimit: { max: 2, timeWindow: 100 } })
  limited.client.send('x')
  limited.client.send('x')
  await limited.client.waitFor(3)
  // The limit counts messages per 100 ms of wall-clock time: letting the window pass is the point.
  await new Promise((resolve) => setTimeout(resolve, 400))
  limited.client.send('x')
  limited.client.send('x')
  await limited.client.waitFor(5)
  t.equal(limited.client.socket.readyState, limited.client.socket.OPEN, 'two per window, over two windows, is fine')
  limited.client.close()

  const unlimited = await connected(t, { rateLimit: false })
  for (let i = 0; i < 300; i++) unlimited.client.send({ type: 'pause_execution', id: `p${i}` })
  await unlimited.client.waitFor(301)
  t.equal(unlimited.client.socket.readyState, unlimited.client.socket.OPEN)
  unlimited.client.close()
})

t.test('a frame larger than maxPayload closes the socket with 1009', async (t) => {
  const { client } = await connected(t, { maxPayload: 1024 })
  client.send({ type: 'human_decision', node_id: 'n', decision: 'modify', feedback: 'x'.repeat(2000) })
  t.equal((await client.closed).code, CloseCode.MESSAGE_TOO_BIG)
})

t.test('the 64 KiB default, also when the application registered @fastify/websocket itself', async (t) => {
  const { url } = await buildWithOwnWebsocket(t, { options: { maxPayload: 10 * 1024 * 1024 } })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'human_decision', node_id: 'n', decision: 'modify', feedback: 'x'.repeat(65 * 1024) })
  t.equal((await client.closed).code, CloseCode.MESSAGE_TOO_BIG)
})
