import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import t from 'tap'
import type { DAGStreamHookResult } from '../../lib/react/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { cutStreams, TRANSPORTS } from '../support/client-helpers.js'
import { RunView } from '../support/react-run-view.js'

// Long timers pending right now, by delay: the client's are the only ones of a minute or so, so this
// sees exactly them (the real timers run; they are only counted).
const pending = new Map<ReturnType<typeof setTimeout>, number>()
const { setTimeout: realSetTimeout, clearTimeout: realClearTimeout } = globalThis
globalThis.setTimeout = ((callback: () => void, delay?: number) => {
  const timer = realSetTimeout(() => {
    pending.delete(timer)
    callback()
  }, delay)
  if ((delay ?? 0) >= 50_000) pending.set(timer, delay as number)
  return timer
}) as typeof setTimeout
globalThis.clearTimeout = ((timer: ReturnType<typeof setTimeout> | undefined) => {
  if (timer !== undefined) pending.delete(timer)
  realClearTimeout(timer)
}) as typeof clearTimeout
t.teardown(() => {
  globalThis.setTimeout = realSetTimeout
  globalThis.clearTimeout = realClearTimeout
})

for (const transport of TRANSPORTS) {
  t.test(`${transport}: unmounting while reconnecting closes everything: retry timer, command deadlines, stream`, async (t) => {
    const server = await build(t)
    let stream: DAGStreamHookResult | undefined
    const view = render(
      <RunView
        dagId='d'
        // A retry a minute away, so that its timer is surely pending when the component unmounts.
        options={hookOptions(server, { transport, backoff: { minDelayMs: 60_000, random: () => 0.999 }, commandTimeoutMs: 55_000 })}
        expose={(result) => {
          stream = result
        }}
      />
    )
    await waitFor(() => screen.getByText('open'), { timeout: 20_000 })
    cutStreams(server)
    await waitFor(() => screen.getByText('reconnecting'), { timeout: 20_000 })
    t.equal(stream?.reconnect?.delayMs, 59_970, 'the retry delay is exposed, for a countdown: 30 s + 0.999 × (60 s − 30 s)')
    const queued = stream?.pause() as Promise<void>
    t.same([...pending.values()].sort(), [55_000, 59_970], 'a command deadline and the retry timer are pending')
    view.unmount()
    await t.rejects(queued, { code: 'client_closed' }, 'the queued command is given up')
    t.same([...pending.values()], [], 'no timer left')
    await until(() => server.app.dagStream.connections('d') === 0, 'no stream left')
  })
}
