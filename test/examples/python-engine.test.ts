// The Python engine of examples/python (standard library only), run with Debian's python3 against a real
// server: it drives a run end to end while a dashboard client on another instance decides its gate, and
// killed, it leaves the run stalled within the lease. On the memory backplane (one instance) and on Redis.

import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import t, { type Test } from 'tap'
import { createDAGStreamClient } from '../../lib/client/index.js'
import type { DAGStreamOptions } from '../../lib/index.js'
import { fastBackoff, until } from '../support/client-helpers.js'
import { engineApi, ENGINE_TOKEN } from '../support/engine-helpers.js'
import { build } from '../support/helpers.js'
import { buildInstance, cleanupPrefix, uniquePrefix } from '../support/redis-helpers.js'

const PYTHON = '/usr/bin/python3'
const ENGINE = fileURLToPath(new URL('../../examples/python/engine.py', import.meta.url))

async function deployment (t: Test, backplane: 'memory' | 'redis', options: DAGStreamOptions = {}) {
  const all = { engineApi, ...options }
  if (backplane === 'memory') {
    const one = await build(t, all)
    return { engine: one, dashboard: one }
  }
  const prefix = uniquePrefix('python-engine')
  cleanupPrefix(t, prefix)
  return { engine: await buildInstance(t, { ...all, prefix }), dashboard: await buildInstance(t, { ...all, prefix }) }
}

/** The Python engine, on `http`, for `dagId`; its output gathered, killed when the test ends. */
function runEngine (t: Test, http: string, dagId: string) {
  const child: ChildProcess = spawn(PYTHON, [ENGINE, '--url', `${http}/api/dags`, '--dag', dagId, '--token', ENGINE_TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output = { text: '', exit: undefined as number | null | undefined }
  child.stdout?.on('data', (chunk: Buffer) => { output.text += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output.text += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    output.exit = code
    resolve(code)
  }))
  t.teardown(() => { if (output.exit === undefined) child.kill('SIGKILL') })
  return { child, output, exited }
}

for (const backplane of ['memory', 'redis'] as const) {
  t.test(`${backplane}: the Python engine runs a DAG end to end; a dashboard on another instance decides its gate (a rejection, then an approval)`, async (t) => {
    const { engine, dashboard } = await deployment(t, backplane)
    const client = createDAGStreamClient({ baseUrl: dashboard.http, dagId: 'py-run', WebSocket, backoff: fastBackoff })
    t.teardown(() => client.close())
    const python = runEngine(t, engine.http, 'py-run')

    const gateOpen = (gateId: string) => until(() => client.store.getSnapshot().gates.has(gateId), `gate ${gateId}`, 20_000)
    await gateOpen('review-1')
    t.equal(client.store.getSnapshot().nodes.get('summarise')?.output, 'a summary of three articles, draft 1', 'its text streamed, then its output')
    await client.send({ type: 'human_decision', node_id: 'review', gate_id: 'review-1', decision: 'reject', feedback: 'shorter' })
    await gateOpen('review-2')
    t.equal(client.store.getSnapshot().nodes.get('summarise')?.attempt, 2, 'the node ran again, attempt 2')
    await client.send({ type: 'human_decision', node_id: 'review', gate_id: 'review-2', decision: 'approve' })

    t.equal(await python.exited, 0, python.output.text)
    t.match(python.output.text, /completed/)
    await until(() => client.store.getSnapshot().status === 'completed', 'the run completed in the dashboard')
    const snapshot = await engine.app.dagStream.snapshot('py-run')
    await until(() => client.position.seq === snapshot?.seq, 'the dashboard at the head')
    t.same(client.store.toSnapshot('py-run'), snapshot, 'the dashboard holds exactly what the server holds')
    t.same(snapshot?.nodes.map((node) => [node.id, node.status]), [['fetch', 'completed'], ['summarise', 'completed'], ['review', 'completed'], ['publish', 'completed']])
  })

  t.test(`${backplane}: the Python engine killed at its gate: the run is stalled within the lease, and decisions are refused`, async (t) => {
    const { engine, dashboard } = await deployment(t, backplane, { engineLeaseMs: 400 })
    const client = createDAGStreamClient({ baseUrl: dashboard.http, dagId: 'py-kill', WebSocket, backoff: fastBackoff })
    t.teardown(() => client.close())
    const python = runEngine(t, engine.http, 'py-kill')
    await until(() => client.store.getSnapshot().gates.has('review-1'), 'the gate', 20_000)
    const killedAt = Date.now()
    python.child.kill('SIGKILL')
    await python.exited
    await until(() => client.store.getSnapshot().status === 'stalled', 'stalled', 5000)
    t.ok(Date.now() - killedAt < 400 * 3, `stalled after ${Date.now() - killedAt} ms (lease 400 ms)`)
    await t.rejects(client.send({ type: 'human_decision', node_id: 'review', gate_id: 'review-1', decision: 'approve' }), { code: 'engine_unavailable' })
  })
}
