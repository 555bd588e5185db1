// The demo's LangGraph engine (`npm start -- --engine langgraph`): a run of the research graph starts,
// reaches its two reviewers' gates, loops back once when one rejects, and completes when both approve.

import t from 'tap'
import WebSocket from 'ws'
import { createDAGStreamClient } from '../../lib/client/index.js'
import { createLangGraphEngine } from '../../examples/engine/langgraph.js'
import { fastBackoff, until } from '../support/client-helpers.js'
import { build } from '../support/helpers.js'

t.test('the demo engine runs the research graph to its end through two rounds of review', async (t) => {
  const server = await build(t)
  const engine = createLangGraphEngine(server.app)
  t.teardown(() => engine.close())
  const dagId = engine.startRun()
  t.same(engine.activeRuns(), [dagId])
  const client = createDAGStreamClient({ baseUrl: server.http, dagId, WebSocket, backoff: fastBackoff })
  t.teardown(() => client.close())
  const gates = () => [...client.store.getSnapshot().gates.values()] as Array<{ node_id: string; gate_id: string }>
  const decideAll = async (decision: (nodeId: string) => 'approve' | 'reject') => {
    await until(() => gates().length === 2, 'both reviewers waiting', 20_000)
    for (const gate of gates()) await client.send({ type: 'human_decision', node_id: gate.node_id, gate_id: gate.gate_id, decision: decision(gate.node_id) })
  }
  await decideAll((nodeId) => (nodeId === 'review:legal' ? 'reject' : 'approve'))
  await until(() => client.store.getSnapshot().nodes.get('planner')?.attempt === 2, 'the planner again', 20_000)
  await decideAll(() => 'approve')
  await until(() => client.store.getSnapshot().status === 'completed', 'completed', 20_000)
  await until(() => engine.activeRuns().length === 0, 'no run left')
})
