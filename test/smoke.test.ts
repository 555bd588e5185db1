import t from 'tap'
import { build, TestClient } from './helpers.js'

t.test('smoke', async (t) => {
  const { app, url } = await build(t)
  const client = await TestClient.open(url('/api/dags/a/stream'))
  t.match(await client.next(), { type: 'hello', seq: 0, recovered: false })
  await app.dagStream.broadcast('a', { type: 'node_state', node_id: 'n1', status: 'running' })
  t.match(await client.next(), { type: 'node_state', seq: 1 })
  client.close()
})
