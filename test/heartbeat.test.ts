import t from 'tap'
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
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.equal(alive.socket.readyState, alive.socket.OPEN, 'a peer that answers stays through many heartbeats')
  alive.close()
})
