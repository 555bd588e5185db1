import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import { StrictMode } from 'react'
import t from 'tap'
import { useDAGList, type DAGListQuery } from '../../lib/react/index.js'
import { build } from '../support/helpers.js'
import type { Server } from '../support/client-helpers.js'

const patience = { timeout: 20_000 }

function Runs ({ server, query, name }: { server: Server; query: DAGListQuery; name: string }) {
  const { dags, total, status } = useDAGList(query, hookOptions(server))
  return (
    <section>
      <p data-testid={`${name}-status`}>{status}</p>
      <p data-testid={`${name}-runs`}>{dags.map((dag) => `${dag.dag_id}:${dag.status}`).join(' ')} ({total})</p>
    </section>
  )
}

function shows (testId: string, text: string): void {
  const shown = screen.getByTestId(testId).textContent
  if (shown !== text) throw new Error(`${testId} shows "${shown}", not "${text}"`)
}

t.test('useDAGList renders the page and its changes; hooks with one query share one socket, closed with the last', async (t) => {
  const server = await build(t)
  await server.app.dagStream.broadcast('a', { type: 'node_state', node_id: 'step', status: 'running' })
  const view = render(
    <StrictMode>
      {/* A query written inline: a new object at every render, the same list. */}
      <Runs server={server} query={{ limit: 10 }} name='first' />
      <Runs server={server} query={{ limit: 10 }} name='second' />
      <Runs server={server} query={{ limit: 10, status: ['paused'] }} name='paused' />
    </StrictMode>
  )
  await waitFor(() => shows('first-runs', 'a:running (1)'), patience)
  await waitFor(() => shows('paused-runs', ' (0)'), patience)
  t.equal(screen.getByTestId('second-status').textContent, 'open')
  t.equal(server.app.websocketServer.clients.size, 2, 'one socket per distinct list')

  await server.app.dagStream.broadcast('a', { type: 'execution_status', status: 'paused' })
  await waitFor(() => shows('paused-runs', 'a:paused (1)'), patience)
  await waitFor(() => shows('second-runs', 'a:paused (1)'), patience)

  view.unmount()
  await waitFor(() => {
    if (server.app.websocketServer.clients.size > 0) throw new Error('a list socket is still open')
  }, patience)
})
