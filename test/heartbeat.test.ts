import t from 'tap'
import { until } from './client-helpers.js'
import { build, TestClient } from './helpers.js'

t.test('a peer that stops answering pings is terminated and leaves its room', async (t) => {
  const { app, url } = await build(t, { heartbeatMs: 200 })
  // autoPong: false makes this client behave like a vanished laptop: the TCP connection stays, nobody answers.
  const dead = await TestClient.open(url('/api/dags/d/stream'), { autoPong: false })
  const alive = await TestClient.open(url('/api/dags/d/stream'))
  await dead.next()
  await alive.next()
  t.equal(app.dagStream.connections('d'), 2)
  const { code } = await dead.closed
  t.equal(code, 1006, 'terminated without a close frame')
  t.equal(app.dagStream.connections('d'), 1, 'it left the room')
  // Each heartbeat pings; the dead peer went after at most two, the live one answers them all.
  let pings = 0
  alive.socket.on('ping', () => pings++)
  await until(() => pings >= 5 || alive.socket.readyState !== alive.socket.OPEN, 'five more heartbeats')
  t.equal(alive.socket.readyState, alive.socket.OPEN, `a peer that answers stays through many heartbeats (${pings} pings)`)
  t.equal(app.dagStream.connections('d'), 1)
  alive.close()
})
