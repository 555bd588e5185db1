import { get as httpGet } from 'node:http'
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

/** The status of a plain GET of the stream route: its Origin guard runs, then 404 (not an upgrade). */
function statusOf (port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpGet({ host: '127.0.0.1', port, path: '/api/dags/d/stream', headers }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    request.on('error', reject)
  })
}

t.test('an Origin is the server\'s own only if scheme, host and port all match', async (t) => {
  const { port, url } = await build(t)
  t.equal(await upgradeStatus(url('/api/dags/d/stream'), { origin: `https://127.0.0.1:${port}` }), 403, 'https to a plain http server')
  t.equal(await statusOf(port, { origin: `http://127.0.0.1:${port}` }), 404, 'the same scheme, host and port pass the guard')
  t.equal(await statusOf(port, { origin: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port + 1}` }), 403, 'another port')
  t.equal(await statusOf(port, { origin: 'http://a', host: 'a b' }), 403, 'a Host that makes no origin')
})

t.test('behind a TLS proxy (trustProxy), the scheme is the one the client used', async (t) => {
  const { port } = await build(t, {}, undefined, { trustProxy: true })
  const proxied = { host: 'app.example.com', 'x-forwarded-proto': 'https' }
  t.equal(await statusOf(port, { ...proxied, origin: 'http://app.example.com' }), 403, 'an http page is another origin')
  t.equal(await statusOf(port, { ...proxied, origin: 'https://app.example.com' }), 404, 'the https page is the server\'s own')
  t.equal(await statusOf(port, { host: 'app.example.com:443', 'x-forwarded-proto': 'https', origin: 'https://app.example.com' }), 404, 'the default port written out')
  t.equal(await statusOf(port, { ...proxied, origin: 'https://app.example.com:8443' }), 403, 'another port')
})
