// The default store: the core reducer underneath, one notification per batch, a stable snapshot
// reference between changes, and the seed's DAGStore surface for local edits.

import t from 'tap'
import { createDAGStore } from '../lib/client/index.js'
import { applyEvent, createState, toSnapshot } from '../lib/reducer.js'
import type { SequencedEvent } from '../schemas/index.js'
import { events } from './client-helpers.js'

const sequenced = (count: number): SequencedEvent[] => events(count).map((event, index) => ({ ...event, seq: index + 1, epoch: 'e' }))

t.test('5,000 events applied in one go cost one notification', async (t) => {
  const store = createDAGStore()
  let notified = 0
  store.subscribe(() => notified++)
  const burst = sequenced(5000)
  for (const event of burst) store.apply(event)
  await Promise.resolve()
  t.equal(notified, 1)
  const expected = createState()
  for (const event of burst) applyEvent(expected, event)
  t.same(store.toSnapshot('d'), toSnapshot('d', 'e', 5000, expected), 'the same state as the core reducer')
})

t.test('getSnapshot: the same reference until something changes, then a new one', async (t) => {
  const store = createDAGStore()
  const empty = store.getSnapshot()
  t.equal(store.getSnapshot(), empty)
  t.match(empty, { epoch: '', seq: 0, status: 'running', cost: null, version: 0 })
  store.apply({ type: 'error', message: 'boom', seq: 1, epoch: 'e' })
  const next = store.getSnapshot()
  t.not(next, empty)
  t.equal(store.getSnapshot(), next)
  t.same(next.errors, [{ message: 'boom' }])
  t.not(next.errors, empty.errors, 'errors is a new array, so a memo on it sees the change')
})

t.test('reset replaces everything with a snapshot', async (t) => {
  const store = createDAGStore()
  for (const event of sequenced(10)) store.apply(event)
  store.reset({ dag_id: 'd', epoch: 'f', seq: 3, status: 'paused', nodes: [], edges: [], cost: null, gates: [], errors: [] })
  t.match(store.getSnapshot(), { epoch: 'f', seq: 3, status: 'paused' })
  t.equal(store.getSnapshot().nodes.size, 0)
})

t.test('the DAGStore surface: local edits through the reducer, which keep the log position', async (t) => {
  const store = createDAGStore()
  let notified = 0
  const unsubscribe = store.subscribe(() => notified++)
  store.applyMutation({ op: 'add_node', node: { id: 'a', label: 'A' } })
  store.updateNodeData('a', { model: 'small' })
  store.setCostState({ spent: 1, budget: 10, remaining: 9 })
  store.setExecutionComplete({ answer: 42 })
  await Promise.resolve()
  t.equal(notified, 1)
  t.match(store.getSnapshot(), {
    seq: 0,
    status: 'completed',
    cost: { spent: 1, budget: 10, remaining: 9 },
    results: { answer: 42 }
  })
  t.same(store.getSnapshot().nodes.get('a'), { id: 'a', label: 'A', status: 'pending', data: { model: 'small' } })
  unsubscribe()
  store.setCostState({ spent: 2, budget: 10, remaining: 8 })
  await Promise.resolve()
  t.equal(notified, 1, 'no notification after unsubscribe')
})
