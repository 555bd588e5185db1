import t from 'tap'
import { build, TestClient, upgradeStatus } from '../support/helpers.js'

t.test('Cross-Site WebSocket Hijacking: foreign origins are refused with 403 before the upgrade', async (t) => {
  const { url, port } = await build(t, { allowedOrigins: ['https://dashboard.example.com'] })
  const stream = url('/api/dags/d/stream')
  t.equal(await upgradeStatus(stream, { origin: 'https://evil.example.net' }), 403, 'a foreign origin')
  t.equal(await upgradeStatus(stream, { origin: `http://127.0.0.1:${port + 1}` }), 403, 'same host, another port is another origin')
  t.equal(await upgradeStatus(stream, { origin: 'not a url' }), 403, 'a malformed origin')

  for (const [why, options] of [
    ['no Origin header (a server-side client)', {}],
    ['the same origin', { origin: `http://127.0.0.1:${port}` }],
    ['a listed origin', { origin: 'https://dashboard.example.com' }]
  ] as const) {
    const client = await TestClient.open(stream, options)
    t.match(await client.next(), { type: 'hello' }, why)
    client.close()
  }
})

t.test('the refusal is a typed JSON error', async (t) => {
  const { http } = await build(t)
  // The origin guard runs for a plain GET too, so its body can be read.
  const response = await fetch(`${http}/api/dags/d/stream`, { headers: { origin: 'https://evil.example.net' } })
  t.equal(response.status, 403)
  t.match(await response.json(), { code: 'FST_DAG_STREAM_ORIGIN_NOT_ALLOWED', message: 'Origin https://evil.example.net is not allowed to open a DAG stream' })
})
