import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { CloseCode } from '../../lib/index.js'
import { within } from '../support/wait.js'
import { build, TestClient, upgradeStatus } from '../support/helpers.js'

function timers (): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length
}

t.test('app.close() says 1001 to every socket, refuses new streams and leaves no timer behind', async (t) => {
  const before = timers()
  const { app, url } = await build(t, { heartbeatMs: 1000, retainFinishedMs: 60_000 })
  await app.dagStream.broadcast('finished', { type: 'execution_complete', results: null }) // arms an eviction timer
  const clients = await Promise.all(['a', 'a', 'b'].map((dag) => TestClient.open(url(`/api/dags/${dag}/stream`))))
  await Promise.all(clients.map((client) => client.next()))
  t.ok(timers() > before, 'the heartbeat and the retention timer run')

  const closing = app.close()
  const closes = await Promise.all(clients.map((client) => client.closed))
  t.same(closes, clients.map(() => ({ code: CloseCode.GOING_AWAY, reason: 'server shutting down' })))
  await closing
  t.equal(app.dagStream.connections(), 0)
  // ws's own close-handshake timers end with the last TCP sockets, a moment after close() resolves.
  for (let wait = 0; wait < 50 && timers() > before; wait++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(timers(), before, 'no timer left')
})

t.test('new connections are refused once closing starts, even one already past its hooks', async (t) => {
  let releaseAuthorize!: () => void
  const authorizing = new Promise<void>((resolve) => { releaseAuthorize = resolve })
  let enteredAuthorize!: () => void
  const entered = new Promise<void>((resolve) => { enteredAuthorize = resolve })
  let slow = false
  const { app, url } = await build(t, {
    authorize: async () => {
      if (slow) {
        enteredAuthorize()
        await authorizing
      }
      return true
    }
  })
  slow = true
  // This upgrade is inside authorize when the server starts closing.
  const inFlight = TestClient.open(url('/api/dags/a/stream'))
  await entered
  const closing = app.close()
  await t.rejects(upgradeStatus(url('/api/dags/a/stream')), { code: /^ECONN(REFUSED|RESET)$/ }, 'the listener no longer accepts')
  releaseAuthorize()
  await t.rejects(inFlight, { message: 'HTTP 503' }, 'the upgrade in flight is answered 503, not upgraded')
  t.equal(app.dagStream.connections(), 0)
  await closing
})

// Node waits in server.close() for a connection that has sent nothing, and the peer may keep one for a minute or more:
// Node 20's fetch opens one whenever an event stream it reads is aborted (lib/http/unused-connections.ts).
t.test('app.close() ends a connection that never sent a byte', async (t) => {
  const { app, port } = await build(t)
  const accepted = once(app.server, 'connection')
  const silent = connect(port, '127.0.0.1')
  await accepted
  const silentClosed = once(silent, 'close')
  await within(app.close(), 10_000, 'app.close() with a connection that sent nothing open')
  await silentClosed
  t.pass('closed, and so was the connection')
})
