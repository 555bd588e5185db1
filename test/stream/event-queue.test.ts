// A socket's client events run one after the other; how many may wait is bounded (`maxQueuedEvents`):
// one more is answered `rate_limited` and not run, and the socket stays open. What a closed socket left
// waiting never runs. (The attack: a view-only socket sending decisions, each refused, behind an
// `authorize` that takes 30 ms, grew the heap by ~1 MB/s, and the queue ran on after the close.)

import t from 'tap'
import type { Action } from '../../lib/index.js'
import { build, TestClient } from '../support/helpers.js'
import { until } from '../support/client-helpers.js'

/** A gate that holds every caller until it is opened. */
function gate () {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

const decision = (index: number) => ({ type: 'human_decision', id: `d${index}`, node_id: 'n', decision: 'approve', feedback: 'x'.repeat(16_384) })

t.test('past maxQueuedEvents waiting, a client event is answered rate_limited and not run; the socket stays open', async (t) => {
  const slow = gate()
  const asked: Action[] = []
  const { app, url } = await build(t, {
    maxQueuedEvents: 4,
    // A view-only token behind a slow lookup.
    authorize: async (_request, _dagId, action) => {
      if (action !== 'view') {
        asked.push(action)
        await slow.opened
      }
      return action === 'view'
    }
  })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()

  for (let index = 0; index < 12; index++) client.send(decision(index))
  // d0 runs (waiting for authorize), d1 … d4 wait, d5 … d11 are refused at once.
  for (let index = 5; index < 12; index++) {
    t.match(await client.next(), { type: 'error', code: 'rate_limited', id: `d${index}`, message: /More than 4 client events wait on this socket/ })
  }
  t.same(asked, ['decide'], 'only the first is with authorize')
  slow.open()
  for (let index = 0; index < 5; index++) t.match(await client.next(), { type: 'error', code: 'forbidden', id: `d${index}` }, `d${index} ran`)
  t.equal(asked.length, 5, 'the refused ones never reached authorize')

  // The socket serves on, and the queue takes events again.
  client.send({ type: 'pause_execution', id: 'p' })
  t.match(await client.next(), { type: 'error', code: 'forbidden', id: 'p' })
  client.close()
})

t.test('what a closed socket left waiting is never run', async (t) => {
  const engine = gate()
  let handled = 0
  const { app, url } = await build(t, {}, (app) => {
    app.dagStream.onClientEvent(async () => {
      handled++
      await engine.opened
    })
  })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  for (let index = 0; index < 10; index++) client.send({ type: index % 2 === 0 ? 'pause_execution' : 'resume_execution', id: `c${index}` })
  await until(() => handled === 1, 'the first command to reach the engine')
  client.close()
  await client.closed
  await until(() => app.dagStream.connections('d') === 0, 'the server to see the close')
  engine.open()
  // Time for anything still queued to reach the engine (it would, one at a time, at once).
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(handled, 1, 'only the command running at the close reached the engine')
})
