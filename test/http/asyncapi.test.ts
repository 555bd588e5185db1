import { Parser, DiagnosticSeverity } from '@asyncapi/parser'
import t from 'tap'
import { buildAsyncApiDocument, serversOf } from '../../lib/http/asyncapi.js'
import { CloseCode, closeCodeDescriptions } from '../../lib/shared/close-codes.js'
import { ClientMessage, ControlFrame, PROTOCOL_VERSION, SequencedEvent } from '../../schemas/events.js'
import { build } from '../support/helpers.js'
import { ListServerFrame } from '../../schemas/list.js'

const namesOf = (union: { anyOf: Array<{ $id?: string }> }) => union.anyOf.map((member) => member.$id as string)
const serverMessages = [...namesOf(SequencedEvent), ...namesOf(ControlFrame)]
const clientMessages = namesOf(ClientMessage)
const listMessages = namesOf(ListServerFrame)

t.test('the generated document is valid AsyncAPI 3.0.0', async (t) => {
  const { document, diagnostics } = await new Parser().parse(buildAsyncApiDocument())
  const errors = diagnostics.filter((diagnostic) => diagnostic.severity === DiagnosticSeverity.Error)
  t.same(errors.map((error) => `${error.path.join('.')}: ${error.message}`), [], 'no validation errors')
  t.ok(document, 'the parser produced a document')
  t.equal(document?.version(), '3.0.0')

  const channel = document?.channels().get('dagStream')
  t.equal(channel?.address(), '/api/dags/{id}/stream', 'the default prefix')
  t.ok(channel?.parameters().get('id'), 'the id parameter is documented')

  // Every message of every union is reachable through the operation of its direction.
  const operationNames = (id: string) => document?.operations().get(id)?.messages().all().map((message) => message.name())
  t.same(operationNames('sendDagEvents'), serverMessages, 'server → client: each sequenced event and control frame')
  t.same(operationNames('receiveClientEvents'), clientMessages, 'client → server: each client event')
  t.equal(document?.operations().get('sendDagEvents')?.action(), 'send')
  t.equal(document?.operations().get('receiveClientEvents')?.action(), 'receive')

  t.equal(document?.channels().get('dagList')?.address(), '/api/dags', 'the live list is the list route, upgraded')
  t.same(operationNames('sendDagListChanges'), ['DagListFrame', 'DagChangedFrame', 'DagEvictedFrame'])
})

t.test('the live list: its query, its frames and its close codes', async (t) => {
  const doc = buildAsyncApiDocument({ prefix: '/runs' }) as any
  const channel = doc.channels.dagList
  t.equal(channel.address, '/runs')
  t.same(Object.keys(channel.bindings.ws.query.properties), ['limit', 'offset', 'order', 'status'])
  t.same(channel['x-close-codes'], doc.channels.dagStream['x-close-codes'], 'the same close codes as a stream')
  t.match(channel.description, /`GET \/runs` upgraded/)
  t.equal(doc.components.messages.DagChangedFrame.title, 'dag_changed')
  t.same(doc.components.schemas.DagChangedFrame.properties.dag, { $ref: '#/components/schemas/DAGSummary' })
})

t.test('messages carry the protocol schemas', async (t) => {
  const doc = buildAsyncApiDocument() as any
  const { schemas, messages } = doc.components
  t.same(Object.keys(messages).sort(), [...serverMessages, ...clientMessages, ...listMessages].sort())
  t.same(messages.SequencedNodeStateEvent.payload, { $ref: '#/components/schemas/SequencedNodeStateEvent' })
  t.equal(messages.SequencedNodeStateEvent.title, 'node_state')
  t.equal(messages.SequencedNodeStateEvent.summary, 'A node changed state.', 'a sequenced event is described by the event it wraps')
  t.equal(messages.HelloFrame.summary, 'First frame on every connection.')
  t.equal(messages.SequencedNodeOutputDeltaEvent.title, 'node_output_delta', 'live node output is a sequenced event')
  t.same(schemas.SequencedNodeOutputDeltaEvent.required, ['type', 'node_id', 'delta', 'seq', 'epoch'])
  for (const [name, message] of Object.entries<{ summary?: string }>(messages)) t.ok(message.summary, `${name} has a summary`)

  const nodeState = schemas.SequencedNodeStateEvent
  t.same(nodeState.required, ['type', 'node_id', 'status', 'seq', 'epoch'], 'seq and epoch are required on DAG events')
  t.same(nodeState.properties.status, { $ref: '#/components/schemas/NodeStatus' }, 'shared schemas are referenced, not repeated')
  t.ok(schemas.NodeStatus.anyOf.some((literal: { const: string }) => literal.const === 'waiting_human'))
  t.notOk(JSON.stringify(doc).includes('"$id"'), 'no TypeBox $id is left in the document')
})

t.test('the query, the prefix and the close codes are documented', async (t) => {
  const doc = buildAsyncApiDocument({ prefix: '/runs', title: 'My engine', version: '2.3.0' }) as any
  t.equal(doc.info.title, 'My engine')
  t.equal(doc.info.version, '2.3.0')
  const channel = doc.channels.dagStream
  t.equal(channel.address, '/runs/{id}/stream')
  t.same(Object.keys(channel.bindings.ws.query.properties), ['since', 'epoch'])
  t.equal(channel.bindings.ws.query.type, 'object')

  const codes = channel['x-close-codes']
  t.same(Object.keys(codes).map(Number).sort(), Object.values(CloseCode).sort())
  t.same(codes[CloseCode.SLOW_CONSUMER], { name: 'SLOW_CONSUMER', description: closeCodeDescriptions[CloseCode.SLOW_CONSUMER], reconnect: true })
  t.equal(codes[CloseCode.FORBIDDEN].reconnect, false)
  t.match(channel.description, /\| 4503 \| FORBIDDEN \| no \|/, 'the close codes are in the human-readable description too')
  t.match(doc.info.description, /Server-Sent Events at `GET \/runs\/\{id\}\/events`.*`POST \/runs\/\{id\}\/commands`/, 'the event-stream fallback is noted')
  t.match(channel.description, /refused before the 101.*401 credentials missing or expired; 403 .*; 429 too many open streams \(see Retry-After\); 503 /, 'and the refusals of the upgrade')
  t.same(codes[CloseCode.INVALID_PAYLOAD], { name: 'INVALID_PAYLOAD', description: 'A text frame that is not valid UTF-8. Do not reconnect.', reconnect: false })

  const { diagnostics } = await new Parser().parse(doc)
  t.equal(diagnostics.filter((diagnostic) => diagnostic.severity === DiagnosticSeverity.Error).length, 0, 'a custom prefix is valid too')
})

t.test('presence is in the document: gate_viewing from the client, presence frames to it', async (t) => {
  const doc = buildAsyncApiDocument({ prefix: '/api/dags' }) as unknown as { components: { messages: Record<string, { title: string }> } }
  t.equal(doc.components.messages.GateViewingEvent?.title, 'gate_viewing')
  t.equal(doc.components.messages.PresenceFrame?.title, 'presence')
  t.equal(doc.components.messages.PresenceDeltaFrame?.title, 'presence_delta')
})

t.test('the event stream\'s key is in the document: its first message, and what a POSTed gate_viewing carries', async (t) => {
  const doc = buildAsyncApiDocument({ prefix: '/api/dags' }) as unknown as {
    info: { description: string }
    components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> }
  }
  t.same(doc.components.schemas.EventStreamOpened?.required, ['key'])
  t.same(doc.components.schemas.PostedGateViewingEvent?.required, ['type', 'node_id', 'stream_key'])
  t.match(doc.info.description, /`event: stream` with `data: <EventStreamOpened>`/)
  t.match(doc.info.description, /`stream_not_found` \(404\)/)
})

t.test('for consumers in other languages: the protocol version, the snapshot schema and the servers', async (t) => {
  const servers = { production: { host: 'runs.example.com', protocol: 'wss' as const } }
  const built = buildAsyncApiDocument({ servers })
  const { document, diagnostics } = await new Parser().parse(built)
  t.same(diagnostics.filter((diagnostic) => diagnostic.severity === DiagnosticSeverity.Error).map((error) => error.message), [])
  t.equal(document?.servers().get('production')?.host(), 'runs.example.com')
  t.same(document?.channels().get('dagStream')?.servers().all().map((server) => server.id()), ['production'])
  const doc = built as any
  t.equal(doc.info['x-protocol-version'], PROTOCOL_VERSION)
  t.match(doc.info.description, /Dispatch on `type`/)
  t.match(doc.info.description, /its first event \(seq 1, a new epoch\) continues it: no resync, no snapshot/)
  t.same(doc.components.schemas.HelloFrame.required.includes('protocol'), true, 'hello says the version')
  t.same(doc.components.schemas.DAGSnapshot.properties.nodes.items, { $ref: '#/components/schemas/NodeView' }, 'the snapshot schema, by name')
  t.notOk('servers' in (buildAsyncApiDocument() as any), 'no servers unless asked')
})

t.test('the servers of an app are where it listens', async (t) => {
  t.same(serversOf([{ address: '0.0.0.0', family: 'IPv4', port: 80 }, { address: '::1', family: 'IPv6', port: 80 }, '/tmp/app.sock'], true), {
    default: { host: 'localhost:80', protocol: 'wss' },
    default1: { host: '[::1]:80', protocol: 'wss' }
  }, 'a wildcard is localhost; IPv6 in brackets; a Unix socket is no server')
  const { http } = await build(t, { asyncapi: { path: '/asyncapi.json' } })
  const served = await (await fetch(`${http}/asyncapi.json`)).json()
  t.same(served.servers, { default: { host: new URL(http).host, protocol: 'ws' } })
  const named = await build(t, { asyncapi: { path: '/asyncapi.json', servers: { edge: { host: 'edge.example.com', protocol: 'wss' } } } })
  t.same((await (await fetch(`${named.http}/asyncapi.json`)).json()).servers, { edge: { host: 'edge.example.com', protocol: 'wss' } }, 'the option wins')
})
