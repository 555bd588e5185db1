import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import { Annotation, MemorySaver, START, StateGraph } from '@langchain/langgraph'
import dagStream, { type DAGStreamOptions } from '../../lib/index.js'
import { runGraph, type InterruptAnswer, type LangGraphRunOptions } from '../../lib/langgraph/index.js'
import type { EngineCommand, EngineEventsBody, NumberedEvent } from '../../schemas/index.js'

const app = Fastify()

test('engineApi: the engine\'s own authorize, and limits', () => {
  expect(app.register(dagStream, { engineApi: { authorize: (request, dagId) => request.headers.authorization === `Bearer ${dagId}` } })).type.not.toRaiseError()
  expect(app.register(dagStream, { engineApi: { authorize: async () => ({ allowed: true, expiresAt: Date.now() + 1000 }), rateLimit: { max: 10, timeWindow: 1000 }, bodyLimit: 1024 } })).type.not.toRaiseError()
  expect(app.register(dagStream, { engineApi: { rateLimit: { max: 10, timeWindow: 1000 } } })).type.toRaiseError()
  expect<DAGStreamOptions['engineApi']>().type.toBeAssignableFrom(false)
})

test('the engine API\'s messages are typed from their schemas', () => {
  expect<EngineEventsBody>().type.toBeAssignableFrom({ producer: 'py', events: [{ n: 1, type: 'node_state', node_id: 'a', status: 'running' }] as NumberedEvent[] })
  expect<NumberedEvent>().type.toBeAssignableFrom({ n: 1, type: 'execution_status', status: 'paused' } as const)
  expect<EngineCommand['id']>().type.toBe<string>()
})

test('runGraph takes a compiled LangGraph graph and app.dagStream', () => {
  const State = Annotation.Root({ topic: Annotation<string>() })
  const graph = new StateGraph(State).addNode('a', () => ({})).addEdge(START, 'a').compile({ checkpointer: new MemorySaver() })
  expect(runGraph(app.dagStream, graph, { topic: 'x' }, { dagId: 'run' })).type.toBe<Promise<unknown>>()
  expect(runGraph(app.dagStream, graph, undefined, { dagId: 'run', threadId: 't', presentation: (value, nodeId) => ({ title: `${nodeId}: ${String(value)}` }) })).type.not.toRaiseError()
  expect<LangGraphRunOptions>().type.not.toBeAssignableFrom({ threadId: 't' })
  expect<InterruptAnswer['decision']>().type.toBe<'approve' | 'reject' | 'modify'>()
})
