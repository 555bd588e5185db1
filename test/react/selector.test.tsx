// useDAGSelector and useDAGNode: a component that reads a part of the DAG renders when that part
// changed and only then, on the DAG's shared client, at most once per interval.

import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import { useLayoutEffect } from 'react'
import t from 'tap'
import { useDAGNode, useDAGSelector, useDAGStream, type UseDAGStreamOptions } from '../../lib/react/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'

const patience = { timeout: 20_000 }

/** Renders of each component, by name. */
const renders = new Map<string, number>()
function counted (name: string): void {
  renders.set(name, (renders.get(name) ?? 0) + 1)
}

function Card ({ dagId, nodeId, options }: { dagId: string; nodeId: string; options: UseDAGStreamOptions }) {
  const node = useDAGNode(dagId, nodeId, options)
  counted(nodeId)
  return <p data-testid={`card-${nodeId}`}>{node === undefined ? 'none' : node.status}</p>
}

function PausedFlag ({ dagId, options }: { dagId: string; options: UseDAGStreamOptions }) {
  const paused = useDAGSelector(dagId, (state) => state.status === 'paused', options)
  counted('paused')
  return <p data-testid='paused'>{String(paused)}</p>
}

function shows (testId: string, text: string): void {
  const shown = screen.getByTestId(testId).textContent
  if (shown !== text) throw new Error(`${testId} shows ${shown}, not ${text}`)
}

t.beforeEach(() => renders.clear())

t.test('a card renders when its node changes, not when another does; a selector when its value changes', async (t) => {
  const server = await build(t)
  const options = hookOptions(server)
  const view = render(
    <>
      <Card dagId='d' nodeId='a' options={options} />
      <Card dagId='d' nodeId='b' options={options} />
      <PausedFlag dagId='d' options={options} />
    </>
  )
  t.teardown(() => view.unmount())
  await until(() => server.app.dagStream.connections('d') === 1, 'the hooks to connect')
  t.equal(screen.getByTestId('card-a').textContent, 'none', 'a node the DAG does not have: undefined')

  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  await waitFor(() => shows('card-a', 'running'), patience)
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'b', status: 'queued' })
  await waitFor(() => shows('card-b', 'queued'), patience)
  renders.clear()

  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'completed' })
  await waitFor(() => shows('card-a', 'completed'), patience)
  // b's change comes after a's: once it shows, a's render (if any were due) has happened too.
  await server.app.dagStream.broadcast('d', { type: 'node_output_delta', node_id: 'b', delta: 'text' })
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'b', status: 'running' })
  await waitFor(() => shows('card-b', 'running'), patience)
  t.equal(renders.get('a'), 1, "a's change rendered a's card once")
  t.ok((renders.get('b') ?? 0) >= 1, "b's changes rendered b's card")
  t.equal(renders.get('paused'), undefined, 'the selector whose value stayed the same did not render')

  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  await waitFor(() => shows('paused', 'true'), patience)
  t.equal(renders.get('paused'), 1, 'and renders once when its value changes')
  t.equal(server.app.dagStream.connections('d'), 1, 'one stream for the three hooks')
})

t.test('selector hooks share the client of useDAGStream, and the last to unmount closes it', async (t) => {
  const server = await build(t)
  const options = hookOptions(server)
  function Run () {
    const { connection } = useDAGStream('d', options)
    return <p data-testid='connection'>{connection}</p>
  }
  const run = render(<Run />)
  const card = render(<Card dagId='d' nodeId='a' options={options} />)
  await waitFor(() => shows('connection', 'open'), patience)
  t.equal(server.app.dagStream.connections('d'), 1, 'one stream for the page')
  run.unmount()
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  await waitFor(() => shows('card-a', 'running'), patience)
  t.equal(server.app.dagStream.connections('d'), 1, 'the card alone keeps the stream it had')
  card.unmount()
  await until(() => server.app.dagStream.connections('d') === 0, 'the socket to close with the last hook')
})

t.test('throttled: a burst renders a card at most once per interval, and the last change is shown', async (t) => {
  const server = await build(t)
  const throttleMs = 100
  const options = hookOptions(server, { throttleMs })
  const renderTimes: number[] = []
  function TimedCard () {
    const node = useDAGNode('d', 'a', options)
    // A second card on the same interval: both are told by one timer.
    useDAGNode('d', 'b', options)
    useLayoutEffect(() => {
      renderTimes.push(performance.now())
    })
    return <p data-testid='timed'>{node?.partial_output ?? ''}</p>
  }
  const view = render(<TimedCard />)
  t.teardown(() => view.unmount())
  await until(() => server.app.dagStream.connections('d') === 1, 'the hook to connect')
  renderTimes.length = 0
  for (let index = 0; index < 40; index += 1) {
    await server.app.dagStream.broadcast('d', { type: 'node_output_delta', node_id: 'a', delta: String(index % 10) })
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const text = '0123456789'.repeat(4)
  await waitFor(() => shows('timed', text), patience)
  const span = (renderTimes.at(-1) ?? 0) - (renderTimes[0] ?? 0)
  t.ok(renderTimes.length < 40, `${renderTimes.length} renders for 40 changes`)
  t.ok((renderTimes.length - 1) * throttleMs <= span + throttleMs, `${renderTimes.length} renders over ${Math.round(span)} ms`)
})

t.test('a throttleMs that is not a number of milliseconds is refused', async (t) => {
  function Bad () {
    useDAGNode('d', 'a', { throttleMs: -1 })
    return null
  }
  // React reports the error it rethrows: keep the test's output clean.
  const consoleError = console.error
  console.error = () => {}
  t.teardown(() => {
    console.error = consoleError
  })
  t.throws(() => render(<Bad />), /throttleMs/)
})
