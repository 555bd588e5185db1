// Credentials over a long-lived stream: fresh stream parameters on every connection, and a fetch
// called the way browsers require.

import t from 'tap'
import { CloseCode, UnauthorizedError } from '../../lib/index.js'
import type { FetchLike } from '../../lib/client/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { isSnapshotRequest, slowFetch, streamClient, TRANSPORTS } from '../support/client-helpers.js'

/** Whether the server request opens a stream, a WebSocket or an event stream (not a snapshot load or a command). */
function opensStream (url: string): boolean {
  return /\/(stream|events)\?/.test(url)
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: after 4401 (credentials expired) the client reconnects with the parameters of the moment`, async (t) => {
    let validToken = 'token-1'
    const seenTokens: string[] = []
    const server = await build(t, {
      heartbeatMs: 100,
      authorize: (request) => {
        const token = (request.query as { token?: string }).token ?? ''
        if (opensStream(request.url)) seenTokens.push(token)
        if (token !== validToken) throw new UnauthorizedError()
        return true
      }
    })
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
    let currentToken = 'token-1'
    const closes: number[] = []
    const client = streamClient(t, server, 'd', {
      streamParams: () => ({ token: currentToken, since: 'ignored' }),
      transport,
      // The snapshot carries the token in its URL; the stream and commands (over SSE) get it from streamParams.
      fetch: (url, init) => fetch(isSnapshotRequest(url) ? `${url}?token=${currentToken}` : url, init as RequestInit) as ReturnType<FetchLike>
    })
    client.on('reconnecting', ({ closeCode }) => { if (closeCode !== undefined) closes.push(closeCode) })
    await until(() => client.status === 'open' && client.position.seq === 1, 'open with the first token')

    // The token expires; the application has already obtained the next one.
    validToken = 'token-2'
    currentToken = 'token-2'
    await until(() => closes.includes(CloseCode.UNAUTHORIZED), 'closed with 4401')
    await until(() => client.status === 'open', 'open again')
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'completed' })
    await until(() => client.position.seq === 2, 'live again')
    t.equal(seenTokens[0], 'token-1')
    t.equal(seenTokens.at(-1), 'token-2', 'the reconnect carried the fresh token')
  })

  t.test(`${transport}: credentials that expire at a known moment: the client reconnects with the next token and resumes without a gap`, async (t) => {
    const expiresAt = new Map<string, number>()
    const seenTokens: string[] = []
    const server = await build(t, {
      heartbeatMs: 60 * 60_000, // the stream must end at expiresAt, not at a heartbeat
      authorize: (request) => {
        const token = (request.query as { token?: string }).token ?? ''
        if (opensStream(request.url)) seenTokens.push(token)
        // The first token lives 600 ms from its first use; the next one an hour.
        if (!expiresAt.has(token)) expiresAt.set(token, Date.now() + (token === 'token-1' ? 600 : 60 * 60_000))
        return { allowed: true, expiresAt: expiresAt.get(token) as number }
      }
    })
    const broadcast = (status: 'running' | 'completed') => server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status })
    let token = 'token-1'
    const snapshots = slowFetch()
    const client = streamClient(t, server, 'd', { streamParams: () => ({ token }), fetch: snapshots.fetch, transport })
    const applied: number[] = []
    const closes: Array<number | undefined> = []
    const whileAway: Array<Promise<unknown>> = []
    client.on('event', (event) => applied.push(event.seq))
    client.on('reconnecting', ({ closeCode }) => {
      closes.push(closeCode)
      // Events the client misses while it is away: the resume must bring them.
      if (closes.length === 1) whileAway.push(broadcast('completed'), broadcast('running'))
    })
    await until(() => client.status === 'open', 'open with the first token')
    for (let i = 0; i < 3; i++) await broadcast('running')
    await until(() => client.position.seq === 3, 'live with the first token')
    token = 'token-2' // the application has refreshed its token, as it would before the old one expires

    await until(() => closes.length > 0, 'the stream closed when token-1 expired')
    t.equal(closes[0], CloseCode.UNAUTHORIZED)
    await Promise.all(whileAway)
    await until(() => client.status === 'open' && client.position.seq === 5, 'resumed with the second token')
    await broadcast('completed')
    await until(() => client.position.seq === 6, 'live again')
    t.same(applied, [1, 2, 3, 4, 5, 6], 'every event once, in order: no gap across the expiry')
    t.equal(snapshots.calls, 0, 'resumed from its position, without reloading the snapshot')
    t.equal(seenTokens[0], 'token-1')
    t.equal(seenTokens.at(-1), 'token-2', 'the server saw the fresh token')
  })

  t.test(`${transport}: fetch is called as a plain function, as browsers require`, async (t) => {
    const server = await build(t)
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
    let calls = 0
    // What a browser's fetch does when called as a method of another object.
    const browserLikeFetch = function (this: unknown, url: string, init: { headers: Record<string, string> }) {
      if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation')
      // Over SSE the stream goes through this fetch too, and must be called the same way; only loads are counted.
      if (isSnapshotRequest(url)) calls++
      return fetch(url, init)
    }
    const client = streamClient(t, server, 'd', { fetch: browserLikeFetch, transport })
    await until(() => client.position.seq === 1, 'the snapshot loaded')
    t.equal(calls, 1)
    t.equal(client.error, undefined)
  })
}
