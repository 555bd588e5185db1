// Every id the protocol accepts can be opened on every route: the rule's 100 characters are Fastify's
// default maxParamLength (a longer path segment got 414 from the router, so a run of 101-128 characters
// could be broadcast but opened by no dashboard). A name mapped by toIdentifier is reachable too.

import t from 'tap'
import { InvalidDAGIdError, toIdentifier } from '../../lib/index.js'
import { build, TestClient } from '../support/helpers.js'

t.test('the longest id, and a mapped name, open on every route; one character more is refused by broadcast', async (t) => {
  const { app, url, http } = await build(t, {}, (app) => {
    app.dagStream.onClientEvent(() => {})
  })
  const longest = `run:${'a'.repeat(90)}.~_-42`
  t.equal(longest.length, 100)
  for (const dagId of [longest, toIdentifier('Thread 3f0c/2b9e — résumé #2')]) {
    await app.dagStream.broadcast(dagId, { type: 'execution_status', status: 'running' })
    const path = `/api/dags/${dagId}`
    t.equal((await fetch(`${http}${path}`)).status, 200, `${dagId}: the snapshot`)
    const stream = await TestClient.open(url(`${path}/stream`))
    t.match(await stream.next(), { type: 'hello', dag_id: dagId }, 'the stream')
    stream.close()
    const events = await fetch(`${http}${path}/events`)
    t.equal(events.status, 200, 'the event stream')
    await events.body?.cancel()
    const posted = await fetch(`${http}${path}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"pause_execution","id":"p"}' })
    t.same(await posted.json(), { type: 'ack', id: 'p' }, 'the commands')
  }
  const list = await (await fetch(`${http}/api/dags`)).json() as { dags: Array<{ dag_id: string }> }
  t.ok(list.dags.some((dag) => dag.dag_id === longest), 'the list')

  t.throws(() => app.dagStream.broadcast(`${longest}x`, { type: 'execution_status', status: 'running' }), InvalidDAGIdError)
  t.throws(() => app.dagStream.broadcast('a'.repeat(128), { type: 'execution_status', status: 'running' }), { message: /use 1-100 characters .*\(toIdentifier\(name\) maps any name onto them\)/ })
})
