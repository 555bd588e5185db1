import Fastify, { type FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { redisBackplane, type RedisBackplaneOptions } from '../../lib/backplane/redis/index.js'
import { expect, test } from 'tstyche'
import dagStream, {
  fromIdentifier,
  isIdentifier,
  toIdentifier,
  type Action,
  type DAGAction,
  type AuthorizeGrant,
  type AuthorizeResult,
  type ClientEventHandler,
  type DagStream,
  type DagStreamOptions,
  type DAGState,
  type GateDecision,
  type OutputWriter,
  type RunHandle
} from '../../lib/index.js'
import type { ClientEvent, DAGEvent, DAGSnapshot, SequencedEvent, ServerMessage } from '../../schemas/index.js'

const app = Fastify()

test('registering the plugin type-checks its options', () => {
  expect(app.register(dagStream, { prefix: '/runs', heartbeatMs: 10_000, rateLimit: false })).type.not.toRaiseError()
  expect(app.register(dagStream, { authorize: async (_request, dagId, action) => dagId === 'a' && action === 'view' })).type.not.toRaiseError()
  expect(app.register(dagStream, { heartbeatMs: '10s' })).type.toRaiseError()
  expect(app.register(dagStream, { authorize: (_r, _d, action: 'delete') => true })).type.toRaiseError()
  expect<DagStreamOptions['rateLimit']>().type.toBe<{ max: number; timeWindow: number; maxInvalid?: number } | false | undefined>()
})

test('authorize is asked about the list with no DAG id; a function written before \'list\' still fits', () => {
  expect<Action>().type.toBe<'view' | 'decide' | 'control' | 'list'>()
  expect<DAGAction>().type.toBe<'view' | 'decide' | 'control'>()
  expect(app.register(dagStream, { authorize: (_request, dagId) => dagId === undefined || dagId.startsWith('public') })).type.not.toRaiseError()
  // An inline function is told the truth: dagId may be undefined (for 'list').
  expect(app.register(dagStream, { authorize: (_request, dagId) => dagId.startsWith('public') })).type.toRaiseError()
  // One declared for the three DAG actions, as before 'list' existed, is accepted as it is.
  const written = async (_request: FastifyRequest, dagId: string, action: 'view' | 'decide' | 'control') => dagId === 'a' && action === 'view'
  expect(app.register(dagStream, { authorize: written })).type.not.toRaiseError()
})

test('ids: toIdentifier maps a name, fromIdentifier gives it back, isIdentifier narrows', () => {
  expect(toIdentifier('Draft writer')).type.toBe<string>()
  expect(fromIdentifier('Draft~20writer')).type.toBe<string>()
  const value: unknown = 'a'
  if (isIdentifier(value)) expect(value).type.toBe<string>()
})

test('metrics take a prom-client Registry, though the plugin\'s types do not depend on prom-client', () => {
  expect(app.register(dagStream, { metrics: { registry: new Registry(), route: '/metrics', prefix: 'runs_' } })).type.not.toRaiseError()
  expect(app.register(dagStream, { metrics: { route: false } })).type.not.toRaiseError()
  expect(app.register(dagStream, { metrics: false })).type.not.toRaiseError()
  expect(app.register(dagStream, { metrics: { registry: {} } })).type.toRaiseError()
  expect(app.register(dagStream, { metrics: { route: true } })).type.toRaiseError()
})

test('app.dagStream is declared on every Fastify instance', () => {
  expect(app.dagStream).type.toBe<DagStream>()
  expect(app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })).type.toBe<Promise<SequencedEvent>>()
  expect(app.dagStream.snapshot('d')).type.toBe<Promise<DAGSnapshot | undefined>>()
  expect(app.dagStream.onClientEvent(() => {})).type.toBe<() => void>()
})

test('streamOutput returns a writer, or a promise when given the text to stream', () => {
  expect(app.dagStream.streamOutput('d', 'llm')).type.toBe<OutputWriter>()
  expect(app.dagStream.streamOutput('d', 'llm').end()).type.toBe<Promise<void>>()
  expect(app.dagStream.streamOutput('d', 'llm').write(42)).type.toRaiseError()
  expect(app.dagStream.streamOutput('d', 'llm', ['a', 'b'])).type.toBe<Promise<void>>()
  expect(app.dagStream.streamOutput('d', 'llm', (async function * () { yield 'token' })())).type.toBe<Promise<void>>()
  expect(app.dagStream.streamOutput('d', 'llm', [1, 2])).type.toRaiseError()
  expect(app.register(dagStream, { outputFlushMs: 100 })).type.not.toRaiseError()
  expect(app.dagStream.broadcast('d', { type: 'node_output_delta', node_id: 'llm', delta: 'x' })).type.not.toRaiseError()
  expect<DAGSnapshot['nodes'][number]['partial_output']>().type.toBe<string | undefined>()
})

test('broadcast accepts only protocol events', () => {
  expect(app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'finished' })).type.toRaiseError()
  expect(app.dagStream.broadcast('d', { type: 'cost_update', spent: 1, budget: 2 })).type.toRaiseError()
  expect(app.dagStream.broadcast('d', { type: 'dag_mutated', mutation: { op: 'add_edge', from: 'a', to: 'b' } })).type.not.toRaiseError()
})

test('the event unions are discriminated by type', () => {
  expect<Extract<DAGEvent, { type: 'cost_update' }>>().type.toBe<{ type: 'cost_update'; spent: number; budget: number; remaining: number }>()
  expect<ClientEvent['type']>().type.toBe<'human_decision' | 'pause_execution' | 'resume_execution' | 'cancel_execution'>()
  expect<Extract<SequencedEvent, { type: 'edge_active' }>>().type.toHaveProperty('seq')
  expect<Extract<ServerMessage, { type: 'hello' }>>().type.toHaveProperty('recovered')
})

test('client event handlers receive the event union and a context', () => {
  const handler: ClientEventHandler = async (event, { dagId, request, sender }) => {
    expect(event).type.toBe<ClientEvent>()
    expect(dagId).type.toBe<string>()
    // Undefined when another instance forwarded the event: the request does not travel.
    expect(request).type.toBe<FastifyRequest | undefined>()
    expect(sender).type.toBe<unknown>()
  }
  expect(app.dagStream.onClientEvent(handler)).type.not.toRaiseError()
  expect(app.dagStream.onClientEvent((_event: DAGEvent) => {})).type.toRaiseError()
  expect<DAGState['nodes']>().type.toBe<Map<string, DAGSnapshot['nodes'][number]>>()
})

test('the backplane option takes \'memory\' or a provider such as redisBackplane(...)', () => {
  expect(app.register(dagStream, { backplane: 'memory' })).type.not.toRaiseError()
  expect(app.register(dagStream, { backplane: redisBackplane({ url: 'redis://127.0.0.1:6379' }), maxIdleMs: 60_000 })).type.not.toRaiseError()
  expect(app.register(dagStream, { backplane: redisBackplane({ client: new Redis({ lazyConnect: true }), keyPrefix: 'app' }) })).type.not.toRaiseError()
  expect(app.register(dagStream, { backplane: 'redis' })).type.toRaiseError()
  expect<RedisBackplaneOptions['keyPrefix']>().type.toBe<string | undefined>()
  expect(app.register(dagStream, { describeSender: (request) => ({ ip: request.ip }), commandTimeoutMs: 5000 })).type.not.toRaiseError()
})

test('authorize may answer with a grant that expires', () => {
  expect(app.register(dagStream, { authorize: () => ({ allowed: true, expiresAt: new Date() }) })).type.not.toRaiseError()
  expect(app.register(dagStream, { authorize: async () => ({ allowed: false }) })).type.not.toRaiseError()
  expect(app.register(dagStream, { authorize: (request) => ({ allowed: true, expiresAt: Number(request.headers['x-exp']) * 1000 }) })).type.not.toRaiseError()
  expect(app.register(dagStream, { authorize: () => ({ allowed: true, expiresAt: '2030-01-01' }) })).type.toRaiseError()
  expect(app.register(dagStream, { authorize: () => ({ expiresAt: Date.now() }) })).type.toRaiseError()
  expect(app.register(dagStream, { authorize: () => 'yes' })).type.toRaiseError()
  expect<AuthorizeResult>().type.toBe<boolean | AuthorizeGrant>()
  expect<AuthorizeGrant>().type.toBe<{ allowed: boolean; expiresAt?: Date | number }>()
})

test('connection limits take numbers and a key function', () => {
  expect(app.register(dagStream, { maxConnections: 10_000, maxConnectionsPerIp: 50 })).type.not.toRaiseError()
  expect(app.register(dagStream, { maxConnections: Number.POSITIVE_INFINITY })).type.not.toRaiseError()
  expect(app.register(dagStream, { connectionKey: (request) => request.headers['x-tenant'] as string })).type.not.toRaiseError()
  expect(app.register(dagStream, { maxConnectionsPerIp: '50' })).type.toRaiseError()
  expect(app.register(dagStream, { connectionKey: (request) => request.headers['x-tenant'] })).type.toRaiseError()
  expect<DagStreamOptions['connectionKey']>().type.toBe<((request: FastifyRequest) => string) | undefined>()
})

test('the run handle: send returns nothing, gate resolves with the decision, the protocol\'s new fields type-check', () => {
  const run = app.dagStream.run('d')
  expect(run).type.toBe<RunHandle>()
  expect(run.send({ type: 'node_state', node_id: 'a', status: 'running', attempt: 2 })).type.toBe<void>()
  expect(run.send({ type: 'node_state', node_id: 'a', status: 'running', attempt: '2' })).type.toRaiseError()
  expect(run.setGraph({ nodes: [{ id: 'a', parent: 'g' }], edges: [{ from: 'a', to: 'b' }] })).type.toBe<void>()
  expect(run.gate('a', { title: 'Ok?', decisions: ['approve'], response_schema: { type: 'object' } }, { signal: run.signal })).type.toBe<Promise<GateDecision>>()
  expect(run.gate('a', { title: 'Ok?', decisions: ['maybe'] })).type.toRaiseError()
  expect(run.onControl((event) => { expect(event.type).type.toBe<'pause_execution' | 'resume_execution' | 'cancel_execution'>() })).type.toBe<() => void>()
  expect(run.flushed()).type.toBe<Promise<void>>()
  expect(run.signal).type.toBe<AbortSignal>()
  expect(app.register(dagStream, { engineLeaseMs: 5000, engineOutboxSize: 100 })).type.not.toRaiseError()
})
