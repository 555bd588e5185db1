import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import { useEffect } from 'react'
import t from 'tap'
import { useDAGStream, type UseDAGStreamOptions } from '../../lib/react/index.js'
import { throttle } from '../../lib/react/throttle.js'
import { build } from '../support/helpers.js'
import { TRANSPORTS } from '../support/client-helpers.js'

const patience = { timeout: 20_000 }

/** Shows the seq, and notes when each render was committed. */
function Counted ({ dagId, options, commits }: { dagId: string, options: UseDAGStreamOptions, commits: number[] }) {
  const { state } = useDAGStream(dagId, options)
  useEffect(() => {
    commits.push(performance.now())
  })
  return <p data-testid={`${dagId}-seq`}>{state.seq}</p>
}

/** 40 events, each in its own turn of the event loop, as an engine under load sends them. */
async function burst (server: Awaited<ReturnType<typeof build>>, dagId: string): Promise<void> {
  for (let index = 0; index < 40; index += 1) {
    await server.app.dagStream.broadcast(dagId, { type: 'node_state', node_id: `n${index % 5}`, status: 'running', metrics: { tokens: index } })
    await new Promise((resolve) => setTimeout(resolve, 3))
  }
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: throttleMs: during a burst, renders at most once per interval, and the last state is shown`, async (t) => {
    const server = await build(t)
    await server.app.dagStream.broadcast('slow', { type: 'node_state', node_id: 'n0', status: 'pending' })
    await server.app.dagStream.broadcast('fast', { type: 'node_state', node_id: 'n0', status: 'pending' })
    const throttled: number[] = []
    const unthrottled: number[] = []
    const view = render(
      <>
        <Counted dagId='slow' options={hookOptions(server, { transport, throttleMs: 50 })} commits={throttled} />
        <Counted dagId='fast' options={hookOptions(server, { transport })} commits={unthrottled} />
      </>
    )
    t.teardown(() => view.unmount())
    await waitFor(() => screen.getByText('1', { selector: '[data-testid="slow-seq"]' }), patience)
    await waitFor(() => screen.getByText('1', { selector: '[data-testid="fast-seq"]' }), patience)
    const throttledBefore = throttled.length
    const unthrottledBefore = unthrottled.length
    await Promise.all([burst(server, 'slow'), burst(server, 'fast')])
    await waitFor(() => screen.getByText('41', { selector: '[data-testid="slow-seq"]' }), patience)
    await waitFor(() => screen.getByText('41', { selector: '[data-testid="fast-seq"]' }), patience)

    const during = throttled.slice(throttledBefore)
    const gaps = during.slice(1).map((at, index) => at - (during[index] as number))
    // Commits come a little after the throttled notification, later for some than for others (more so on
    // a loaded machine): slack on each gap, and one interval's worth on the whole. Without the throttle,
    // renders are about 3 ms apart.
    t.ok(gaps.every((gap) => gap >= 25), `renders about 50 ms apart: ${gaps.map(Math.round).join(', ')}`)
    t.ok((during.length - 1) * 50 <= (during.at(-1) as number) - (during[0] as number) + 50, 'at most one render per 50 ms over the burst')
    t.ok(unthrottled.length - unthrottledBefore > during.length, `${during.length} renders throttled, ${unthrottled.length - unthrottledBefore} without`)
  })
}

/** Keeps the thread busy, as a render of a big graph does. */
function busy (ms: number): void {
  for (const end = performance.now() + ms; performance.now() < end;);
}

t.test('a callback slower than the interval still coalesces: the interval counts from its end', async (t) => {
  const runs: Array<{ start: number, end: number }> = []
  const throttled = throttle(() => {
    const start = performance.now()
    busy(30)
    runs.push({ start, end: performance.now() })
  }, 20)
  for (const end = performance.now() + 400; performance.now() < end; await new Promise((resolve) => setTimeout(resolve, 2))) throttled.call()
  throttled.cancel()
  const idle = runs.slice(1).map((run, index) => run.start - (runs[index] as { end: number }).end)
  t.ok(runs.length >= 3, `${runs.length} runs`)
  // Counted from the start, a 30 ms callback leaves no wait: the next call runs at once (gaps of ~2 ms).
  t.ok(idle.every((gap) => gap >= 15), `about 20 ms idle between runs: ${idle.map(Math.round).join(', ')}`)
})

/** Takes 40 ms to render, and notes when each render started and committed. */
function Slow ({ dagId, options, renders }: { dagId: string, options: UseDAGStreamOptions, renders: Array<{ start: number, commit?: number }> }) {
  const { state } = useDAGStream(dagId, options)
  // eslint-disable-next-line react-hooks/purity -- the point: when this render started
  const render = { start: performance.now() }
  busy(40)
  useEffect(() => {
    renders.push({ ...render, commit: performance.now() })
  })
  return <p data-testid={`${dagId}-seq`}>{state.seq}</p>
}

t.test('throttleMs: a render slower than the interval still leaves the interval for changes to pile up', async (t) => {
  const server = await build(t)
  await server.app.dagStream.broadcast('heavy', { type: 'node_state', node_id: 'n0', status: 'pending' })
  const renders: Array<{ start: number, commit?: number }> = []
  const view = render(<Slow dagId='heavy' options={hookOptions(server, { throttleMs: 30 })} renders={renders} />)
  t.teardown(() => view.unmount())
  await waitFor(() => screen.getByText('1', { selector: '[data-testid="heavy-seq"]' }), patience)
  const before = renders.length
  await burst(server, 'heavy')
  await waitFor(() => screen.getByText('41', { selector: '[data-testid="heavy-seq"]' }), patience)
  const during = renders.slice(before)
  const idle = during.slice(1).map((next, index) => next.start - ((during[index] as { commit: number }).commit))
  t.ok(during.length >= 2, `${during.length} renders for 40 events`)
  // Counted from the notification, the interval is over before a 40 ms render ends: renders back to back.
  t.ok(idle.every((gap) => gap >= 20), `about 30 ms between a commit and the next render: ${idle.map(Math.round).join(', ')}`)
})

t.test('a bad throttleMs throws, naming the option', async (t) => {
  const server = await build(t)
  const errors: unknown[] = []
  const onError = (event: ErrorEvent) => {
    errors.push(event.error)
    event.preventDefault()
  }
  window.addEventListener('error', onError)
  t.teardown(() => window.removeEventListener('error', onError))
  t.throws(() => render(<Counted dagId='d' options={hookOptions(server, { throttleMs: -1 })} commits={[]} />), /"throttleMs" must be a number of milliseconds ≥ 0, got -1/)
})
