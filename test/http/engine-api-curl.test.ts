// The curl session of docs/any-engine.md, run with curl itself: batches (one sent twice), the command feed
// (`curl -sN`), a dashboard client on another instance deciding the gate, the answer, the end. On the
// memory backplane and on Redis.

import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import WebSocket from 'ws'
import t, { type Test } from 'tap'
import { createDAGStreamClient } from '../../lib/client/index.js'
import { fastBackoff, until } from '../support/client-helpers.js'
import { engineApi, ENGINE_TOKEN } from '../support/engine-helpers.js'
import { build } from '../support/helpers.js'
import { buildInstance, cleanupPrefix, uniquePrefix } from '../support/redis-helpers.js'

const run = promisify(execFile)
const AUTH = `authorization: Bearer ${ENGINE_TOKEN}`
const JSON_TYPE = 'content-type: application/json'

/** `curl -s` with the engine's headers; the body as curl printed it. */
async function curl (url: string, body?: string): Promise<string> {
  const args = ['-s', '-H', AUTH, ...(body === undefined ? [] : ['-H', JSON_TYPE, '-d', body]), url]
  return (await run('curl', args)).stdout
}

async function deployment (t: Test, backplane: 'memory' | 'redis') {
  if (backplane === 'memory') {
    const one = await build(t, { engineApi })
    return { engine: one, dashboard: one }
  }
  const prefix = uniquePrefix('engine-curl')
  cleanupPrefix(t, prefix)
  return { engine: await buildInstance(t, { engineApi, prefix }), dashboard: await buildInstance(t, { engineApi, prefix }) }
}

for (const backplane of ['memory', 'redis'] as const) {
  t.test(`${backplane}: a run driven end to end by curl, its gate decided on another instance`, async (t) => {
    const { engine, dashboard } = await deployment(t, backplane)
    const url = `${engine.http}/api/dags`
    const client = createDAGStreamClient({ baseUrl: dashboard.http, dagId: 'curl-run', WebSocket, backoff: fastBackoff })
    t.teardown(() => client.close())

    const feed = spawn('curl', ['-sN', '-H', AUTH, `${url}/curl-run/engine`])
    t.teardown(() => feed.kill())
    let feedText = ''
    feed.stdout.on('data', (chunk: Buffer) => { feedText += chunk.toString() })
    await until(() => feedText.includes('event: feed'), 'the feed opened')
    const key = (JSON.parse(/data: (.*)/.exec(feedText)?.[1] as string) as { feed: string }).feed

    const first = '{"producer":"py-1","events":[{"n":1,"type":"execution_status","status":"running"},' +
      '{"n":2,"type":"dag_mutated","mutation":{"op":"set_graph","nodes":[{"id":"fetch"},{"id":"review"}],"edges":[{"from":"fetch","to":"review"}]}},' +
      '{"n":3,"type":"node_state","node_id":"fetch","status":"completed","output":"three articles"}]}'
    t.match(JSON.parse(await curl(`${url}/curl-run/events`, first)), { results: [{ n: 1, seq: 1 }, { n: 2, seq: 2 }, { n: 3, seq: 3 }] })
    t.same(JSON.parse(await curl(`${url}/curl-run/events`, first)).results, [{ n: 1, duplicate: true }, { n: 2, duplicate: true }, { n: 3, duplicate: true }], 'the retry is applied once')
    await curl(`${url}/curl-run/events`, '{"producer":"py-1","events":[{"n":4,"type":"node_state","node_id":"review","status":"waiting_human"},' +
      '{"n":5,"type":"human_gate_waiting","node_id":"review","gate_id":"review-1","presentation":{"title":"Publish?","decisions":["approve","reject"]}}]}')

    await until(() => client.store.getSnapshot().gates.has('review-1'), 'the gate in the dashboard')
    const decided = client.send({ type: 'human_decision', id: 'd-1', node_id: 'review', gate_id: 'review-1', decision: 'approve' })
    await until(() => feedText.includes('event: command'), 'the decision on the feed')
    t.match(feedText, /"type":"human_decision","id":"d-1"/)
    t.equal(await curl(`${url}/curl-run/engine`, JSON.stringify({ feed: key, id: 'd-1', ok: true })), '', '204')
    await decided
    await curl(`${url}/curl-run/events`, '{"producer":"py-1","events":[{"n":6,"type":"node_state","node_id":"review","status":"completed","output":"approve"},' +
      '{"n":7,"type":"execution_complete","results":{"published":true}}]}')
    await until(() => client.store.getSnapshot().status === 'completed', 'completed')
    const snapshot = await dashboard.app.dagStream.snapshot('curl-run')
    await until(() => client.position.seq === snapshot?.seq, 'the dashboard at the head')
    t.same(client.store.toSnapshot('curl-run'), snapshot, 'the dashboard holds what the server holds')
  })
}
