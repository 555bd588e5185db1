// The close-code table: what each code tells a client to do, checked against the code, the client's
// actual behaviour, the AsyncAPI document and the README, each on its own against the table below.

import { readFile } from 'node:fs/promises'
import { once } from 'node:events'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { buildAsyncApiDocument } from '../../lib/http/asyncapi.js'
import { createDAGStreamClient } from '../../lib/client/index.js'
import { CloseCode, closeCodeDescriptions, shouldReconnect } from '../../lib/index.js'
import { until } from '../support/wait.js'
import { fastBackoff } from '../support/client-helpers.js'

// The table as the README states it, written out by hand: the sources below are compared with it,
// not with one another, so a change in one of them cannot carry the others along.
const table = [
  { code: 1000, name: 'NORMAL', reconnect: false },
  { code: 1001, name: 'GOING_AWAY', reconnect: true },
  { code: 1006, name: 'ABNORMAL', reconnect: true },
  { code: 1007, name: 'INVALID_PAYLOAD', reconnect: false },
  { code: 1008, name: 'POLICY_VIOLATION', reconnect: false },
  { code: 1009, name: 'MESSAGE_TOO_BIG', reconnect: false },
  { code: 1011, name: 'INTERNAL_ERROR', reconnect: true },
  { code: 4000, name: 'SLOW_CONSUMER', reconnect: true },
  { code: 4401, name: 'UNAUTHORIZED', reconnect: true },
  { code: 4503, name: 'FORBIDDEN', reconnect: false }
] as const

const expectedDecisions = Object.fromEntries(table.map(({ code, reconnect }) => [code, reconnect]))

t.test('CloseCode and shouldReconnect hold the table, and each description gives the same advice', async (t) => {
  t.same(CloseCode, Object.fromEntries(table.map(({ name, code }) => [name, code])), 'every code, by name, and no other')
  t.same(Object.fromEntries(table.map(({ code }) => [code, shouldReconnect(code)])), expectedDecisions, 'shouldReconnect')
  const advisesNotTo = Object.fromEntries(table.map(({ code }) => [code, !/Do not reconnect/.test(closeCodeDescriptions[code])]))
  t.same(advisesNotTo, expectedDecisions, 'a description says "Do not reconnect" exactly for the codes that do not')
})

t.test('the client does what the table says for each code a server closes its stream with', async (t) => {
  // A bare server that greets each stream and closes it at once with the code in its DAG id
  // (1006 cannot be sent: it is what a client sees when the connection drops without a close frame).
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  await once(server, 'listening')
  server.on('connection', (socket, request) => {
    const dagId = /\/api\/dags\/([^/]+)\/stream/.exec(request.url ?? '')?.[1] as string
    const code = Number(dagId.slice('closed-with-'.length))
    socket.send(JSON.stringify({ type: 'hello', dag_id: dagId, epoch: 'e', seq: 0, recovered: true }))
    if (code === CloseCode.ABNORMAL) socket.terminate()
    else socket.close(code, 'test')
  })
  const { port } = server.address() as { port: number }

  const decisions: Record<number, boolean> = {}
  for (const { code } of table) {
    const client = createDAGStreamClient({ baseUrl: `http://127.0.0.1:${port}`, dagId: `closed-with-${code}`, WebSocket, backoff: fastBackoff })
    const seen: string[] = []
    client.on('status', (status) => seen.push(status))
    await until(() => seen.includes('open') && (client.status === 'reconnecting' || client.status === 'closed'), `the client to react to ${code}`)
    if (client.status === 'reconnecting') {
      t.equal(client.reconnect?.closeCode, code, `${code}: the retry says why`)
    } else {
      t.match(client.error, { code: 'closed_by_server', closeCode: code }, `${code}: the final error says why`)
    }
    decisions[code] = client.status === 'reconnecting'
    client.close()
  }
  t.same(decisions, expectedDecisions, 'reconnects exactly after the codes the table says')
})

t.test('the AsyncAPI document publishes the same table', async (t) => {
  const document = buildAsyncApiDocument() as unknown as { channels: { dagStream: { description: string; 'x-close-codes': unknown } } }
  const channel = document.channels.dagStream
  const described = Object.fromEntries(table.map(({ code, name, reconnect }) => [code, { name, description: closeCodeDescriptions[code], reconnect }]))
  t.same(channel['x-close-codes'], described, 'x-close-codes: every code, its name and whether to reconnect')
  for (const { code, name, reconnect } of table) {
    t.ok(channel.description.includes(`| ${code} | ${name} | ${reconnect ? 'yes' : 'no'} |`), `${code} in the description's table`)
  }
})

t.test('the README publishes the same table', async (t) => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.slice(readme.indexOf('## Close codes'), readme.indexOf('The rule for codes to come'))
  // Rows read "| code | meaning | client should |"; the last column starts with "not reconnect" or not.
  const rows = [...section.matchAll(/^\| (\d{4}) \|[^|]*\| ([^|]*) \|$/gm)]
  const decisions = Object.fromEntries(rows.map(([, code, advice]) => [Number(code), !(advice as string).startsWith('not reconnect')]))
  t.same(decisions, expectedDecisions, 'every code in the README, with the same advice')
})

t.test('codes this server never sends follow the ranges', async (t) => {
  t.ok(shouldReconnect(1012), 'service restart (from a proxy)')
  t.ok(shouldReconnect(4499))
  t.notOk(shouldReconnect(4500))
  t.notOk(shouldReconnect(4999))
})
