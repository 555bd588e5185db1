// Regression (issue 9, defect 3): human_gate_waiting put the node in `waiting_human` and
// human_gate_resolved left it there, so a decided gate's node looked as if it still waited for a person.
// After a decision the node is `running` (the engine acts on the decision) until the engine reports
// what it became; the reducer, the server's snapshot and a client that resumes agree.

import t from 'tap'
import { applyEvent, createState, fromSnapshot, toSnapshot } from '../../lib/shared/reducer.js'
import type { DAGEvent } from '../../schemas/index.js'
import { build, TestClient } from '../support/helpers.js'

const waiting: DAGEvent[] = [
  { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'review' } } },
  { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Approve?' } }
]
const resolved: DAGEvent = { type: 'human_gate_resolved', node_id: 'review', decision: 'approve' }

function statusOf (events: DAGEvent[]): string | undefined {
  const state = createState()
  for (const event of events) applyEvent(state, event)
  return state.nodes.get('review')?.status
}

t.test('the reducer: waiting_human while the gate is open, running once decided, then what the engine says', async (t) => {
  t.equal(statusOf(waiting), 'waiting_human')
  t.equal(statusOf([...waiting, resolved]), 'running')
  t.equal(statusOf([...waiting, resolved, { type: 'node_state', node_id: 'review', status: 'completed' }]), 'completed')
  t.equal(
    statusOf([...waiting, { type: 'node_state', node_id: 'review', status: 'completed' }, resolved]),
    'completed',
    'a status the engine sent before the decision was announced is kept'
  )
  t.equal(statusOf([resolved]), undefined, 'a decision for a node the DAG never had creates none')
})

t.test('the snapshot and a client rebuilt from it agree with a client that watched live', async (t) => {
  const { app, http, url } = await build(t)
  const live = new TestClient(url('/api/dags/d/stream'))
  await live.next() // hello
  for (const event of [...waiting, resolved]) await app.dagStream.broadcast('d', event)
  const watched = createState()
  for (let received = 0; received < 3; received++) applyEvent(watched, (await live.next()) as DAGEvent)
  const snapshot = await (await fetch(`${http}/api/dags/d`)).json()
  t.match(snapshot, { nodes: [{ id: 'review', status: 'running' }], gates: [] })
  t.same(toSnapshot('d', snapshot.epoch, snapshot.seq, watched), snapshot)
  t.same(toSnapshot('d', snapshot.epoch, snapshot.seq, fromSnapshot(snapshot)), snapshot)
  live.socket.close()
})
