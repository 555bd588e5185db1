// fastify-dag-stream/langgraph on a real LangGraph graph (examples/engine/langgraph.ts): a planner whose
// tokens stream, workers in parallel (Send), a review subgraph with two interrupts at once, a loop back
// after a rejection; cancel, pause, and a run picked up from the checkpointer after a restart. The chat
// model is @langchain/core's FakeListChatModel: no network.

import WebSocket from 'ws'
import t, { type Test } from 'tap'
import { Annotation, END, interrupt, MemorySaver, START, StateGraph } from '@langchain/langgraph'
import { FakeListChatModel } from '@langchain/core/utils/testing'
import { createDAGStreamClient } from '../../lib/client/index.js'
import { runGraph, type InterruptAnswer } from '../../lib/langgraph/index.js'
import type { DAGEvent, SequencedEvent } from '../../schemas/index.js'
import { createResearchGraph } from '../../examples/engine/langgraph.js'
import { fastBackoff, until } from '../support/client-helpers.js'
import { build } from '../support/helpers.js'

type Server = Awaited<ReturnType<typeof build>>

/** A dashboard of `dagId` on `server`, and every event it was sent. */
function dashboard (t: Test, server: Server, dagId: string) {
  const client = createDAGStreamClient({ baseUrl: server.http, dagId, WebSocket, backoff: fastBackoff })
  t.teardown(() => client.close())
  const events: SequencedEvent[] = []
  client.on('event', (event) => events.push(event))
  const gates = () => [...client.store.getSnapshot().gates.keys()]
  const ready = () => until(() => client.existence !== 'unknown', 'the dashboard connected')
  const decide = (gateId: string, decision: 'approve' | 'reject', feedback?: string) => {
    const gate = client.store.getSnapshot().gates.get(gateId) as { node_id: string }
    return client.send({ type: 'human_decision', node_id: gate.node_id, gate_id: gateId, decision, ...(feedback !== undefined && { feedback }) })
  }
  return { client, events, gates, decide, ready }
}

const model = () => new FakeListChatModel({ responses: ['Plan: tides, moons', 'Tides rise.', 'Moons pull.'], sleep: 1 })
const of = <Type extends DAGEvent['type']> (events: SequencedEvent[], type: Type) => events.filter((event) => event.type === type) as Array<Extract<SequencedEvent, { type: Type }>>

t.test('a graph end to end: structure, tokens, parallel workers, two interrupts at once, a loop back after a rejection', async (t) => {
  const server = await build(t)
  const view = dashboard(t, server, 'lg')
  await view.ready()
  const graph = createResearchGraph({ model: model() })
  const finished = runGraph(server.app.dagStream, graph, { topic: 'the sea' }, { dagId: 'lg' })

  await until(() => view.gates().length === 2, 'two gates at once', 20_000)
  const snapshot = view.client.store.toSnapshot('lg')
  const parents = Object.fromEntries(snapshot.nodes.map((node) => [node.id, node.parent ?? null]))
  t.match(parents, { planner: null, worker: null, review: null, 'review:legal': 'review', 'review:style': 'review', 'worker.1': 'worker', 'worker.2': 'worker' }, 'the subgraph is a group; each Send a node of its own')
  t.same(snapshot.edges.map(({ from, to }) => `${from}>${to}`).sort(), ['planner>worker', 'review>planner', 'worker>review'], 'the drawn graph\'s edges; a subgraph\'s start and end are the subgraph')
  t.ok(of(view.events, 'node_output_delta').some((event) => event.node_id === 'planner'), 'the planner\'s tokens streamed')
  t.equal(snapshot.nodes.find((node) => node.id === 'worker.2')?.status, 'completed')
  t.equal(snapshot.nodes.find((node) => node.id === 'worker')?.status, 'completed', 'the group of the Send tasks ran while they did')
  const [first, second] = view.gates().sort()
  const waiting = of(view.events, 'human_gate_waiting')
  t.same(waiting.map((event) => event.node_id).sort(), ['review:legal', 'review:style'], 'each interrupt on the node that raised it')
  t.match(waiting.find((event) => event.gate_id === first)?.presentation, { title: /review$/, payload: { drafts: ['Tides rise.', 'Moons pull.'] } }, 'the interrupt\'s value is the payload')
  t.match(first, /^[0-9a-f]{32}$/, 'the gate id is the interrupt id')

  await view.decide(first as string, 'reject', 'cite sources')
  await until(() => of(view.events, 'human_gate_resolved').length === 1, 'the first resolved')
  t.same(view.gates(), [second], 'the other interrupt is still the same gate')
  await view.decide(second as string, 'approve')

  // One reviewer rejected: back to the planner, whose second run is attempt 2.
  await until(() => view.gates().length === 2 && !view.gates().includes(second as string), 'the next round\'s gates', 20_000)
  const planner = of(view.events, 'node_state').filter((event) => event.node_id === 'planner' && event.status === 'running')
  t.same(planner.map((event) => event.attempt), [1, 2], 'the loop back is the planner\'s second attempt')
  for (const gateId of view.gates()) await view.decide(gateId, 'approve')

  const values = await finished as { verdicts: string[]; round: number }
  t.equal(values.round, 2)
  t.same(values.verdicts.sort(), ['Legal:approve', 'Style:approve'])
  await until(() => view.client.store.getSnapshot().status === 'completed', 'completed in the dashboard')
  t.same(view.client.store.toSnapshot('lg'), await server.app.dagStream.snapshot('lg'), 'the dashboard holds what the server holds')
  const legal = of(view.events, 'human_gate_resolved')[0]
  t.match(legal, { decision: 'reject', feedback: 'cite sources' })
})

t.test('cancel aborts the graph and settles its nodes; pause stops it at the end of the step, resume goes on', async (t) => {
  const server = await build(t)
  const slow = new FakeListChatModel({ responses: ['Plan: tides, moons, and a great many more words to stream'], sleep: 20 })
  const view = dashboard(t, server, 'paused')
  const finished = runGraph(server.app.dagStream, createResearchGraph({ model: slow }), { topic: 'x' }, { dagId: 'paused' })
  await until(() => of(view.events, 'node_output_delta').length > 0, 'the planner streaming')
  await view.client.pause()
  await until(() => view.client.store.getSnapshot().status === 'paused', 'paused')
  await until(() => view.client.store.getSnapshot().nodes.get('planner')?.status === 'completed', 'the step ran to its end')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.notOk(view.client.store.getSnapshot().nodes.get('worker.1')?.status === 'completed', 'no later step ran while paused')
  await view.client.resume()
  await until(() => view.gates().length === 2, 'the gates, after the resume', 20_000)

  await view.client.cancel()
  t.equal(await finished, undefined, 'a cancelled run resolves with nothing')
  await until(() => view.client.store.getSnapshot().status === 'cancelled', 'cancelled')
  t.same(view.gates(), [], 'its gates withdrawn')
  const statuses = new Set([...view.client.store.getSnapshot().nodes.values()].map((node) => node.status))
  t.notOk(statuses.has('running') || statuses.has('waiting_human'), `nothing left running: ${[...statuses].join(', ')}`)
})

t.test('a run waiting at its interrupts is picked up from the checkpointer after a restart', async (t) => {
  const checkpointer = new MemorySaver()
  const before = await build(t)
  const running = runGraph(before.app.dagStream, createResearchGraph({ model: model(), checkpointer }), { topic: 'x' }, { dagId: 'kept' })
  running.catch(() => {})
  const early = dashboard(t, before, 'kept')
  await until(() => early.gates().length === 2, 'the gates before the restart', 20_000)
  const gateIds = early.gates().sort()
  early.client.close()
  await before.app.close()
  await t.rejects(running, { code: 'FST_DAG_STREAM_CLOSED' }, 'the run ends with its server')

  const after = await build(t)
  const view = dashboard(t, after, 'kept')
  const resumed = runGraph(after.app.dagStream, createResearchGraph({ model: model(), checkpointer }), undefined, { dagId: 'kept' })
  await until(() => view.gates().length === 2, 'the same gates again', 20_000)
  t.same(view.gates().sort(), gateIds, 'by the interrupts\' ids')
  t.ok(view.client.store.getSnapshot().nodes.has('review:legal'), 'the structure sent again')
  for (const gateId of gateIds) await view.decide(gateId as string, 'approve')
  t.match(await resumed, { verdicts: ['Legal:approve', 'Style:approve'] })
})

/** A graph of two nodes: `ask` interrupts with a plain string, `check` fails when the answer is a rejection. */
function shipGraph () {
  const State = Annotation.Root({ answer: Annotation<InterruptAnswer | undefined>() })
  return new StateGraph(State)
    .addNode('ask', () => ({ answer: interrupt('Ship it?') as InterruptAnswer }))
    .addNode('check', (state: typeof State.State) => {
      if (state.answer?.decision === 'reject') throw new Error(`rejected: ${JSON.stringify(state.answer.value)}`)
      return {}
    })
    .addEdge(START, 'ask')
    .addEdge('ask', 'check')
    .addEdge('check', END)
    .compile({ checkpointer: new MemorySaver() })
}

t.test('a failing node fails the run; presentation and config are the caller\'s; pause and resume said twice are said once', async (t) => {
  const server = await build(t)
  const view = dashboard(t, server, 'ship')
  await view.ready()
  const finished = runGraph(server.app.dagStream, shipGraph(), {}, {
    dagId: 'ship',
    config: { configurable: { user: 'ada' }, recursionLimit: 10 },
    presentation: (value, nodeId) => ({ title: `${nodeId}: ${String(value)}`, decisions: ['approve', 'reject'], response_schema: { type: 'object', properties: { reason: { type: 'string' } } } })
  })
  finished.catch(() => {})
  await until(() => view.gates().length === 1, 'the gate')
  t.match(of(view.events, 'human_gate_waiting')[0]?.presentation, { title: 'ask: Ship it?' })
  await view.client.pause()
  await view.client.pause()
  await view.client.resume()
  await view.client.resume()
  t.same(of(view.events, 'execution_status').map((event) => event.status), ['running', 'paused', 'running'], 'each said once')
  const gateId = view.gates()[0] as string
  await view.client.pause()
  await view.client.send({ type: 'human_decision', node_id: 'ask', gate_id: gateId, decision: 'reject', value: { reason: 'not yet' } })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.notOk(view.client.store.getSnapshot().nodes.has('check') && view.client.store.getSnapshot().nodes.get('check')?.status !== 'pending', 'a decision taken while paused waits for the resume')
  await view.client.resume()
  await t.rejects(finished, /rejected: \{"reason":"not yet"\}/)
  await until(() => view.client.store.getSnapshot().status === 'failed', 'failed')
  t.equal(view.client.store.getSnapshot().nodes.get('check')?.status, 'failed')
  t.match(of(view.events, 'error')[0], { message: /rejected/ })
})

t.test('the default presentation of a plain interrupt; cancel while paused, and while a step runs', async (t) => {
  const server = await build(t)
  const view = dashboard(t, server, 'plain')
  await view.ready()
  const plain = runGraph(server.app.dagStream, shipGraph(), {}, { dagId: 'plain' })
  await until(() => view.gates().length === 1, 'the gate')
  t.same(of(view.events, 'human_gate_waiting')[0]?.presentation, { title: 'ask waits for a decision', payload: 'Ship it?' })
  await view.client.pause()
  await view.client.cancel()
  t.equal(await plain, undefined)

  const slow = new FakeListChatModel({ responses: ['Plan: tides, moons, and a great many more words to stream'], sleep: 20 })
  const streaming = dashboard(t, server, 'streaming')
  await streaming.ready()
  const running = runGraph(server.app.dagStream, createResearchGraph({ model: slow }), { topic: 'x' }, { dagId: 'streaming' })
  await until(() => of(streaming.events, 'node_output_delta').length > 0, 'the planner streaming')
  await streaming.client.cancel()
  t.equal(await running, undefined, 'the step was aborted')
  await until(() => streaming.client.store.getSnapshot().status === 'cancelled', 'cancelled')
  t.not(streaming.client.store.getSnapshot().nodes.get('planner')?.status, 'running', 'the planner settled')

  const waiting = dashboard(t, server, 'waiting')
  await waiting.ready()
  const held = runGraph(server.app.dagStream, createResearchGraph({ model: new FakeListChatModel({ responses: ['Plan: a few words to stream'], sleep: 20 }) }), { topic: 'x' }, { dagId: 'waiting' })
  await until(() => of(waiting.events, 'node_output_delta').length > 0, 'the planner streaming')
  await waiting.client.pause()
  await until(() => waiting.client.store.getSnapshot().nodes.get('planner')?.status === 'completed', 'stopped at the step\'s end')
  await waiting.client.cancel()
  t.equal(await held, undefined, 'a cancel ends the wait for a resume')
})
