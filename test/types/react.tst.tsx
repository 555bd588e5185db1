import { expect, test } from 'tstyche'
import type { DAGSummary, NodeView } from '../../schemas/index.js'
import {
  useDAGList,
  useDAGNode,
  useDAGSelector,
  useDAGStream,
  type DAGListHookResult,
  type DAGListStatus,
  type UseDAGListOptions,
  type ConnectionStatus,
  type DAGExistence,
  type DAGStreamError,
  type DAGStreamHookResult,
  type DAGView,
  type PresenceView,
  type ReconnectInfo,
  type StreamTransport,
  type UseDAGStreamOptions
} from '../../lib/react/index.js'

test('useDAGStream returns state, status, error, the countdown and the commands', () => {
  const stream = useDAGStream('run-42')
  expect(stream).type.toBe<DAGStreamHookResult>()
  expect(stream.state).type.toBe<DAGView>()
  expect(stream.status).type.toBe<ConnectionStatus>()
  expect(stream.existence).type.toBe<DAGExistence>()
  expect<DAGExistence>().type.toBe<'unknown' | 'found' | 'not_found'>()
  expect(stream.error).type.toBe<DAGStreamError | undefined>()
  expect(stream.reconnect).type.toBe<ReconnectInfo | undefined>()
  expect(stream.decide('review', 'approve', 'looks good')).type.toBe<Promise<void>>()
  expect(stream.pause()).type.toBe<Promise<void>>()
  expect(stream.resume()).type.toBe<Promise<void>>()
  expect(stream.cancel()).type.toBe<Promise<void>>()
  expect(stream.send({ type: 'cancel_execution' })).type.toBe<Promise<void>>()
  expect(stream.decide('review', 'later')).type.toRaiseError()
  expect(stream.presence).type.toBe<PresenceView>()
  expect(stream.presence.gates.get('review')?.[0]?.identity?.name).type.toBe<string | undefined>()
  expect(stream.viewGate('review')).type.toBe<void>()
  expect(stream.viewGate(null)).type.toBe<void>()
  expect(stream.viewGate(42)).type.toRaiseError()
  expect(stream.transport).type.toBe<StreamTransport>()
  expect<StreamTransport>().type.toBe<'websocket' | 'sse'>()
})

test('the hook takes the client options, except those it owns', () => {
  expect(useDAGStream('d', { baseUrl: 'https://api.example.com', commandTimeoutMs: 5000 })).type.not.toRaiseError()
  expect<UseDAGStreamOptions>().type.not.toHaveProperty('store')
  expect<UseDAGStreamOptions>().type.not.toHaveProperty('dagId')
  expect<UseDAGStreamOptions>().type.not.toHaveProperty('connect')
  expect(useDAGStream('d', { connect: false })).type.toRaiseError()
  expect(useDAGStream('d', { throttleMs: 100 })).type.not.toRaiseError()
  expect(useDAGStream('d', { throttleMs: 'frame' })).type.toRaiseError()
})

test('the DAG view is read-only', () => {
  const { state } = useDAGStream('d')
  expect(state.nodes.set).type.toRaiseError()
  expect(state.nodes.get('a')?.status).type.toBe<
    'pending' | 'queued' | 'running' | 'waiting_human' | 'completed' | 'failed' | 'skipped' | 'cancelled' | undefined
  >()
})

test('`on` is the client\'s typed event map', () => {
  const { on } = useDAGStream('d')
  expect(on('event', (event) => expect(event.seq).type.toBe<number>())).type.toBe<() => void>()
  on('existence', (existence) => expect(existence).type.toBe<DAGExistence>())
  expect(on('stauts', () => {})).type.toRaiseError()
})

test('useDAGList takes the list query and returns the page, its status and its countdown', () => {
  const list = useDAGList({ limit: 50, order: 'oldest', status: ['running', 'paused'] })
  expect(list).type.toBe<DAGListHookResult>()
  expect(list.dags).type.toBe<readonly DAGSummary[]>()
  expect(list.total).type.toBe<number>()
  expect(list.dags[0]?.open_gates).type.toBe<number | undefined>()
  expect<DAGSummary['open_gates']>().type.toBe<number>()
  expect(list.status).type.toBe<DAGListStatus>()
  expect<DAGListStatus>().type.toBe<'connecting' | 'open' | 'reconnecting' | 'closed'>()
  expect(list.reconnect).type.toBe<ReconnectInfo | undefined>()
  expect(useDAGList()).type.not.toRaiseError()
  expect(useDAGList({ status: ['done'] })).type.toRaiseError()
  expect(useDAGList({ order: 'random' })).type.toRaiseError()
  expect(list.dags.push).type.toRaiseError()
  expect<UseDAGListOptions>().type.not.toHaveProperty('query')
  expect(useDAGList({}, { baseUrl: 'https://api.example.com', backoff: { minDelayMs: 500 } })).type.not.toRaiseError()
})

test('useDAGNode returns one node or undefined; useDAGSelector what its selector returns', () => {
  expect(useDAGNode('run-42', 'draft')).type.toBe<NodeView | undefined>()
  expect(useDAGNode('run-42', 'draft', { throttleMs: 50 })).type.toBe<NodeView | undefined>()
  expect(useDAGSelector('run-42', (state) => state.status === 'paused')).type.toBe<boolean>()
  expect(useDAGSelector('run-42', (state) => state.gates.size, { throttleMs: 50 })).type.toBe<number>()
  expect(useDAGSelector).type.not.toBeCallableWith('run-42', (state: DAGView) => state, { throttleMs: 'fast' })
})
