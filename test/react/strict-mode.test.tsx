import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import { StrictMode } from 'react'
import t from 'tap'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { streamOpens, TRANSPORTS } from '../support/client-helpers.js'
import { RunView } from '../support/react-run-view.js'

for (const transport of TRANSPORTS) {
  t.test(`${transport}: StrictMode double mounting opens one stream, and unmounting closes it`, async (t) => {
    const server = await build(t)
    const streamsOpened = streamOpens(server)
    const view = render(
      <StrictMode>
        <RunView dagId='d' options={hookOptions(server, { transport })} />
      </StrictMode>
    )
    await waitFor(() => screen.getByText('open'), { timeout: 20_000 })
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'queued' })
    await waitFor(() => screen.getByText('a: queued'), { timeout: 20_000 })
    t.equal(streamsOpened.length, 1, 'one stream request despite the double mount')
    t.equal(server.app.dagStream.connections('d'), 1)
    view.unmount()
    await until(() => server.app.dagStream.connections('d') === 0, 'the stream to close')
  })
}
