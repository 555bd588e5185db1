// Credentials over a long-lived stream: fresh stream parameters on every connection, and a fetch
// called the way browsers require.

import t from 'tap'
import { CloseCode, UnauthorizedError } from '../lib/index.js'
import { build } from './helpers.js'
import { streamClient, until } from './client-helpers.js'

t.test('after 4401 (credentials expired) the client reconnects with the parameters of the moment', async (t) => {
  let validToken = 'token-1'
  const seenTokens: string[] = []
  const server = await build(t, {
    heartbeatMs: 100,
    authorize: (request) => {
      const token = (request.query as { token?: string }).token ?? ''
      if (request.url.includes('/stream')) seenTokens.push(token)
      if (token !== validToken) throw new UnauthorizedError()
      return true
    }
  })
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  let currentToken = 'token-1'
  const closes: number[] = []
  const client = streamClient(t, server, 'd', {
    streamParams: () => ({ token: currentToken, since: 'ignored' }),
    fetch: (url, init) => fetch(`${url}?token=${currentToken}`, init)
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

t.test('the snapshot fetch is called as a plain function, as browsers require', async (t) => {
  const server = await build(t)
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  let calls = 0
  // What a browser's fetch does when called as a method of another object.
  const browserLikeFetch = function (this: unknown, url: string, init: { headers: Record<string, string> }) {
    if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation')
    calls++
    return fetch(url, init)
  }
  const client = streamClient(t, server, 'd', { fetch: browserLikeFetch })
  await until(() => client.position.seq === 1, 'the snapshot loaded')
  t.equal(calls, 1)
  t.equal(client.error, undefined)
})
