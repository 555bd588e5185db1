// The client's presence, with the real client on real sockets: who watches, who has which gate open,
// viewGate sent at most every 100 ms, and said again after a reconnect; over both transports.

import t from 'tap'
import WebSocket from 'ws'
import type { FastifyRequest } from 'fastify'
import type { DAGStreamClientOptions, FetchLike, PresenceView } from '../../lib/client/index.js'
import { PresenceTracker } from '../../lib/client/presence.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { cutStreams, streamClient, TRANSPORTS } from '../support/client-helpers.js'

const identify = (request: FastifyRequest) => {
  const { user } = request.query as { user?: string }
  return user === undefined ? undefined : { id: user, name: user }
}

const reviewers = (presence: PresenceView, nodeId: string) => (presence.gates.get(nodeId) ?? []).map((viewer) => viewer.identity?.name)

const isGateViewing = (data: string | undefined) => (JSON.parse(data ?? '{}') as { type?: string }).type === 'gate_viewing'

/** Client options for `transport` that count the gate_viewing messages sent: on the socket, or POSTed. */
function countingGateViewing (transport: typeof TRANSPORTS[number]) {
  const counted = { gateViewing: 0, options: {} as Partial<DAGStreamClientOptions> }
  if (transport === 'websocket') {
    counted.options = { transport }
    counted.options.WebSocket = class extends WebSocket {
      override send (data: string): void {
        if (isGateViewing(data)) counted.gateViewing++
        super.send(data)
      }
    }
  } else {
    const countingFetch: FetchLike = (url, init) => {
      if (isGateViewing(init.body)) counted.gateViewing++
      return fetch(url, init as RequestInit) as ReturnType<FetchLike>
    }
    counted.options = { transport, fetch: countingFetch }
  }
  return counted
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: clients see each other, and who reviews which gate`, async (t) => {
    // A rate limit that 50 gate_viewing messages would break: the client must coalesce.
    const server = await build(t, { presence: true, identify, presenceFlushMs: 10, rateLimit: { max: 10, timeWindow: 60_000 } })
    const tracked = countingGateViewing(transport)
    const ada = streamClient(t, server, 'd', { streamParams: () => ({ user: 'ada' }), ...tracked.options })
    const bob = streamClient(t, server, 'd', { streamParams: () => ({ user: 'bob' }), transport })
    const changes: PresenceView[] = []
    bob.on('presence', (view) => changes.push(view))
    await until(() => bob.presence.count === 2 && ada.presence.count === 2, 'both see two viewers')
    t.equal(bob.presence.viewers.find((viewer) => viewer.id === bob.presence.self)?.identity?.name, 'bob', 'self is this client')
    t.ok(changes.length > 0 && changes.at(-1) === bob.presence, 'each change is a new view, announced')

    ada.viewGate('review')
    await until(() => reviewers(bob.presence, 'review').includes('ada'), 'bob sees ada reviewing')
    t.same(reviewers(ada.presence, 'review'), ['ada'], 'ada sees herself too')

    for (let flip = 0; flip < 50; flip++) ada.viewGate(`g${flip}`)
    await until(() => reviewers(bob.presence, 'g49').includes('ada'), 'the last flip wins')
    t.ok(tracked.gateViewing <= 3, `${tracked.gateViewing} gate_viewing messages for 51 calls`)
    t.equal(ada.status, 'open', 'not rate limited')

    ada.viewGate('review')
    await until(() => reviewers(bob.presence, 'review').includes('ada'), 'ada back on review')
    // The links drop: the server forgets ada's stream; her new one says again what she has open.
    const before = ada.presence.self
    cutStreams(server)
    await until(() => ada.presence.self !== undefined && ada.presence.self !== before, 'ada is back with a new socket')
    await until(() => bob.presence.count === 2 && reviewers(bob.presence, 'review').includes('ada'), 'bob sees her review again')
    t.notOk(bob.presence.viewers.some((viewer) => viewer.id === before), 'her old socket left')

    ada.viewGate(null)
    await until(() => bob.presence.gates.size === 0, 'nobody reviews')
    ada.close()
    t.equal(ada.presence.count, 0, 'a closed client shows nobody')
    await until(() => bob.presence.count === 1, 'bob alone')
  })
}

t.test('viewGate takes a node id or null', async (t) => {
  const server = await build(t)
  const client = streamClient(t, server, 'd')
  t.throws(() => client.viewGate('' as string), { message: /viewGate takes a node id or null, got ""/ })
  t.throws(() => client.viewGate(42 as unknown as string), { message: /got 42/ })
})

t.test('a count larger than the viewers listed: the view shows the count, and learns viewers from deltas', async (t) => {
  const tracker = new PresenceTracker()
  const listed = tracker.receive({ type: 'presence', self: 'me', viewers: [{ id: 'me', gate: null }, { id: 'ada', gate: 'review' }], count: 70 })
  t.equal(listed.count, 70)
  t.same(listed.viewers.map((viewer) => viewer.id), ['me', 'ada'])
  t.same(listed.gates.get('review')?.map((viewer) => viewer.id), ['ada'])
  // An unlisted viewer opens a gate: now listed; one leaves: only the count says so.
  const opened = tracker.receive({ type: 'presence_delta', upserted: [{ id: 'bob', gate: 'review' }], removed: ['unlisted'], count: 69 })
  t.equal(opened.count, 69)
  t.same(opened.gates.get('review')?.map((viewer) => viewer.id), ['ada', 'bob'])
  // A count below what is listed (an instance not yet told of a viewer it lists) is not believed.
  t.equal(tracker.receive({ type: 'presence_delta', upserted: [], removed: [], count: 1 }).count, 3)
})
