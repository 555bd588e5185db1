// gate_viewing over the event-stream fallback: POSTed with the key its stream gave, it speaks for that
// stream only, whatever instance takes the POST; a viewer id, a wrong secret or a key of another DAG
// change nothing and get `stream_not_found`; a stream that is gone (or whose server is) too.

import type { FastifyRequest } from 'fastify'
import t from 'tap'
import type { FetchLike, PresenceView } from '../../lib/client/index.js'
import type { DAGStreamOptions } from '../../lib/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { streamClient, type Server } from '../support/client-helpers.js'
import { frames, openEvents, streamKeyOf } from '../support/event-stream-helpers.js'
import { buildInstance, cleanupPrefix, uniquePrefix } from '../support/redis-helpers.js'

const identify = (request: FastifyRequest) => {
  const { user } = request.query as { user?: string }
  return user === undefined ? undefined : { id: user, name: user }
}

/** Everyone may watch, except mallory. */
const authorize = (request: FastifyRequest) => (request.query as { user?: string }).user !== 'mallory'

const options: DAGStreamOptions = { presence: true, identify, authorize, presenceFlushMs: 10 }

const reviewers = (presence: PresenceView, nodeId: string) => (presence.gates.get(nodeId) ?? []).map((viewer) => viewer.identity?.name)

/** POSTs `body` to the commands route of `dagId` on `server`: the status, and the answer if there is one. */
async function post (server: Pick<Server, 'http'>, dagId: string, body: unknown, query = '') {
  const response = await fetch(`${server.http}/api/dags/${dagId}/commands${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
  return { status: response.status, answer: response.status === 204 ? undefined : await response.json() }
}

const viewing = (nodeId: string | null, streamKey: string) => ({ type: 'gate_viewing', node_id: nodeId, stream_key: streamKey })

const notFound = { status: 404, answer: { type: 'error', code: 'stream_not_found', message: /No open event stream/ } }

t.test('a POSTed gate_viewing speaks only for the stream whose key it carries', async (t) => {
  const server = await build(t, options)
  const bob = streamClient(t, server, 'd', { streamParams: () => ({ user: 'bob' }) })
  const seenGates = new Set<string>()
  bob.on('presence', (view) => {
    for (const nodeId of view.gates.keys()) seenGates.add(nodeId)
  })
  const ada = await openEvents(t, `${server.http}/api/dags/d/events?user=ada`)
  const eve = await openEvents(t, `${server.http}/api/dags/d/events?user=eve`)
  const elsewhere = await openEvents(t, `${server.http}/api/dags/e/events?user=eve`)
  await until(() => bob.presence.count === 3, 'bob sees ada and eve')
  const adaKey = await streamKeyOf(ada)
  const instance = adaKey.slice(0, adaKey.lastIndexOf('.'))
  const adaViewerId = bob.presence.viewers.find((viewer) => viewer.identity?.name === 'ada')?.id as string

  // Everyone sees ada's viewer id: it is no key.
  t.match(await post(server, 'd', viewing('review', `${instance}.${adaViewerId}`)), notFound, 'her viewer id')
  t.match(await post(server, 'd', viewing('review', `${instance}.${'A'.repeat(24)}`)), notFound, 'a wrong secret')
  t.match(await post(server, 'd', viewing('review', `elsewhere.${adaKey.slice(instance.length + 1)}`)), notFound, 'another instance')
  t.match(await post(server, 'e', viewing('review', adaKey)), notFound, 'her key on the route of another DAG')
  t.match(await post(server, 'd', viewing('review', await streamKeyOf(elsewhere))), notFound, 'the key of a stream of another DAG')
  t.match(await post(server, 'd', viewing('review', adaKey), '?user=mallory'), { status: 403, answer: { code: 'forbidden' } }, 'her key, sent by one who may not watch')
  t.match(await post(server, 'd', { type: 'gate_viewing', node_id: 'review' }), { status: 400, answer: { code: 'invalid_message', message: /"stream_key" is required/ } })
  t.match(await post(server, 'd', viewing('review', 'no-dot')), { status: 400, answer: { code: 'invalid_message', message: /"stream_key"/ } })

  // Eve's own key works: 204, as a socket sends no ack. Presence flushes every change of the DAG
  // together, so a change to ada's gate made before would show by now.
  t.same(await post(server, 'd', viewing('other', await streamKeyOf(eve))), { status: 204, answer: undefined })
  await until(() => reviewers(bob.presence, 'other').includes('eve'), 'bob sees eve on the other gate')
  t.same([...seenGates], ['other'], 'nobody was ever shown on "review"')

  // Ada's own key, then her stream ends: the key dies with it.
  t.same(await post(server, 'd', viewing('review', adaKey)), { status: 204, answer: undefined })
  await until(() => reviewers(bob.presence, 'review').includes('ada'), 'bob sees ada reviewing')
  ada.abort()
  await until(() => bob.presence.count === 2, 'ada left')
  t.match(await post(server, 'd', viewing('again', adaKey)), notFound, 'a stream that is gone')
  t.same(frames(eve).filter((frame) => frame.type === 'error'), [], 'eve\'s stream was told nothing')
})

t.test('a POSTed gate_viewing counts against its stream\'s rate limit, as on a socket', async (t) => {
  const server = await build(t, { ...options, rateLimit: { max: 2, timeWindow: 60_000 } })
  const stream = await openEvents(t, `${server.http}/api/dags/d/events?user=ada`)
  const key = await streamKeyOf(stream)
  t.equal((await post(server, 'd', viewing('a', key))).status, 204)
  t.equal((await post(server, 'd', viewing('b', key))).status, 204)
  t.match(await post(server, 'd', viewing('c', key)), { status: 429, answer: { type: 'error', code: 'rate_limited' } })
  await until(() => stream.ended, 'the stream to end')
  t.match(frames(stream).at(-1), { type: 'error', code: 'rate_limited' }, 'the stream says why')
  t.match(stream.text, /event: close\ndata: \{"code":1008,"reason":"rate limited"\}\n\n$/, 'then closes: do not reconnect')
  t.match(await post(server, 'd', viewing('d', key)), notFound, 'and is gone')
})

t.test('client: a gate_viewing answered stream_not_found means the stream is lost: it reconnects and says its gate again', async (t) => {
  const server = await build(t, options)
  const bob = streamClient(t, server, 'd', { streamParams: () => ({ user: 'bob' }) })
  // The first gate_viewing is refused (sent by mallory), the second goes with a key the server does not know.
  let posted = 0
  const tampering: FetchLike = (url, init) => {
    const isGateViewing = init.body?.includes('"gate_viewing"') === true
    if (isGateViewing && ++posted === 1) url = url.replace('user=ada', 'user=mallory')
    if (isGateViewing && posted === 2) init = { ...init, body: JSON.stringify(viewing('second', 'unknown.key')) }
    return fetch(url, init as RequestInit) as ReturnType<FetchLike>
  }
  const ada = streamClient(t, server, 'd', { transport: 'sse', fetch: tampering, streamParams: () => ({ user: 'ada' }) })
  const reported: string[] = []
  ada.on('error', (error) => reported.push(error.code))
  await until(() => ada.presence.count === 2, 'ada is in')
  const firstStream = ada.presence.self

  ada.viewGate('first')
  await until(() => posted === 1, 'the first gate_viewing to be sent')
  ada.viewGate('second')
  await until(() => ada.presence.self !== undefined && ada.presence.self !== firstStream, 'ada on a new stream')
  await until(() => reviewers(bob.presence, 'second').includes('ada'), 'bob sees her gate, said again on the new stream')
  t.equal(posted, 3)
  t.same(reported, [], 'neither answer is reported: a socket gets none')
  t.notOk(reviewers(bob.presence, 'first').includes('ada'), 'the refused gate never showed')
})

t.test('Redis: the POST lands on the instance without the stream and reaches the one that holds it', async (t) => {
  const prefix = uniquePrefix('sse-gate')
  cleanupPrefix(t, prefix)
  const holding = await buildInstance(t, { prefix, ...options })
  const other = await buildInstance(t, { prefix, ...options })
  // A balancer that sends ada's stream to one instance and her POSTs to the other.
  const postedTo: string[] = []
  let adaKey: string | undefined
  const crossing: FetchLike = (url, init) => {
    if (init.method === 'POST') {
      url = url.replace(`:${holding.port}/`, `:${other.port}/`)
      postedTo.push(new URL(url).port)
      adaKey = (JSON.parse(init.body as string) as { stream_key: string }).stream_key
    }
    return fetch(url, init as RequestInit) as ReturnType<FetchLike>
  }
  const ada = streamClient(t, holding, 'd', { transport: 'sse', fetch: crossing, streamParams: () => ({ user: 'ada' }) })
  const bob = streamClient(t, other, 'd', { streamParams: () => ({ user: 'bob' }) })
  await until(() => bob.presence.count === 2 && ada.presence.count === 2, 'both see two viewers')

  ada.viewGate('review')
  await until(() => reviewers(bob.presence, 'review').includes('ada'), 'bob, on the other instance, sees ada reviewing')
  t.same(new Set(postedTo), new Set([String(other.port)]), 'every POST went to the instance without her stream')

  ada.close()
  await until(() => bob.presence.count === 1, 'ada left')
  t.match(await post(other, 'd', viewing('again', adaKey as string)), notFound, 'her stream is gone: refused across instances')
  t.notOk(reviewers(bob.presence, 'again').includes('ada'))

  const eve = await openEvents(t, `${holding.http}/api/dags/d/events?user=eve`)
  const eveKey = await streamKeyOf(eve)
  await holding.app.close()
  t.match(await post(other, 'd', viewing('review', eveKey)), { status: 404, answer: { code: 'stream_not_found', message: /is gone/ } }, 'the instance holding it is gone')
})
