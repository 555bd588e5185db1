import { expect, test } from 'tstyche'
import WebSocket from 'ws'
import {
  createDAGListClient,
  createDAGStreamClient,
  DAGStreamError,
  type ConnectionStatus,
  type DAGExistence,
  type DAGStore,
  type DAGStreamClient,
  type DAGStreamErrorCode,
  type DAGView,
  type DefaultDAGStore,
  type ReconnectInfo,
  type StreamPosition
} from '../../lib/client/index.js'
import type { DAGChange, DAGSnapshot, DAGSummary, ErrorCode, SequencedEvent } from '../../schemas/index.js'

const client = createDAGStreamClient({ baseUrl: 'http://localhost:3000', dagId: 'run-42', WebSocket })

test('the default store is the reducer-backed one, with the UI and DAGStore surfaces', () => {
  expect(client).type.toBe<DAGStreamClient<DefaultDAGStore>>()
  expect(client.store.getSnapshot()).type.toBe<DAGView>()
  expect(client.store.subscribe(() => {})).type.toBe<() => void>()
  expect(client.store.updateNodeData('a', { model: 'small' })).type.toBe<void>()
  expect(client.store.setCostState({ spent: 1, budget: 2 })).type.toRaiseError()
  expect(client.store.applyMutation({ op: 'add_node', node: { id: 'a' } })).type.not.toRaiseError()
  expect(client.store.applyMutation({ op: 'rename_node', node_id: 'a' })).type.toRaiseError()
})

test('a store of your own keeps its type on the client', () => {
  interface FlowStore extends DAGStore {
    flowNodes: string[]
  }
  const flow: FlowStore = { flowNodes: [], reset: (_snapshot: DAGSnapshot) => {}, apply: (_event: SequencedEvent) => {} }
  expect(createDAGStreamClient({ dagId: 'd', store: flow }).store).type.toBe<FlowStore>()
  expect(createDAGStreamClient({ dagId: 'd', store: { reset: () => {} } })).type.toRaiseError()
})

test('browser and ws WebSocket implementations both fit; a wrong one does not', () => {
  expect(createDAGStreamClient({ dagId: 'd', WebSocket: globalThis.WebSocket })).type.not.toRaiseError()
  expect(createDAGStreamClient({ dagId: 'd', WebSocket: Map })).type.toRaiseError()
  expect(createDAGStreamClient({ dagId: 'd', fetch: globalThis.fetch })).type.not.toRaiseError()
  expect(createDAGStreamClient({ dagId: 'd', backoff: { minDelayMs: '1s' } })).type.toRaiseError()
})

test('state, position and the reconnect countdown', () => {
  expect(client.status).type.toBe<ConnectionStatus>()
  expect<ConnectionStatus>().type.toBe<'connecting' | 'open' | 'reconnecting' | 'resyncing' | 'closed'>()
  expect(client.existence).type.toBe<DAGExistence>()
  expect(client.position).type.toBe<StreamPosition>()
  expect(client.reconnect).type.toBe<ReconnectInfo | undefined>()
  expect(client.error).type.toBe<DAGStreamError | undefined>()
})

test('the typed event map', () => {
  expect(client.on('status', (status) => expect(status).type.toBe<ConnectionStatus>())).type.toBe<() => void>()
  client.on('existence', (existence) => expect(existence).type.toBe<DAGExistence>())
  client.on('event', (event) => expect(event).type.toBe<SequencedEvent>())
  client.on('snapshot', (snapshot) => expect(snapshot).type.toBe<DAGSnapshot>())
  client.on('reconnecting', (info) => expect(info).type.toBe<ReconnectInfo>())
  client.on('error', (error) => expect(error.code).type.toBe<DAGStreamErrorCode>())
  expect(client.on('stauts', () => {})).type.toRaiseError()
})

test('commands take protocol events and answer with a promise', () => {
  expect(client.send({ type: 'pause_execution' })).type.toBe<Promise<void>>()
  expect(client.send({ type: 'human_decision', node_id: 'a', decision: 'approve', id: 'k1' })).type.not.toRaiseError()
  expect(client.send({ type: 'delete_dag' })).type.toRaiseError()
  expect(client.decide('a', 'approve')).type.toBe<Promise<void>>()
  expect(client.decide('a', 'maybe')).type.toRaiseError()
  expect(client.decide('a', 'modify', 'cheaper')).type.not.toRaiseError()
})

test('error codes include every server code', () => {
  expect<ErrorCode>().type.toBeAssignableTo<DAGStreamErrorCode>()
  expect<'timeout' | 'connection_lost' | 'client_closed'>().type.toBeAssignableTo<DAGStreamErrorCode>()
  expect(new DAGStreamError('gate_not_waiting', 'no')).type.toBeAssignableTo<Error>()
  expect(new DAGStreamError('nope', 'no')).type.toRaiseError()
})

test('the list client: each summary carries the run\'s open gates, and a change may be only theirs', () => {
  const runs = createDAGListClient({ baseUrl: 'http://localhost:3000', WebSocket, connect: false })
  expect(runs.view.dags[0]?.open_gates).type.toBe<number | undefined>()
  runs.on('list', ({ dags }) => {
    expect(dags.filter((dag) => dag.open_gates > 0)).type.toBe<DAGSummary[]>()
  })
  expect<DAGChange>().type.toBe<'created' | 'status_changed' | 'finished' | 'open_gates_changed'>()
})
