// An upgrade request that Fastify's router refuses before any hook runs (a bad percent-encoding: 400;
// a path part longer than `maxParamLength`: 414) gets its answer, and then its socket is closed: none
// stays open for good, none holds up app.close().

import type { Server } from 'node:http'
import t from 'tap'
import { build, within } from '../support/helpers.js'
import { RawConnection, upgradeRequest } from '../adversarial/raw-socket.js'

function openSockets (server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))))
}

async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

for (const [why, path, status] of [
  ['a bad percent-encoding', '/api/dags/%zz/stream', 400],
  ['a path part past maxParamLength', `/api/dags/${'a'.repeat(150)}/stream`, 414],
  ['a bad percent-encoding on the live list\'s prefix', '/api/%zz', 400]
] as const) {
  t.test(`an upgrade refused by the router (${why}) is answered ${status}, then its socket is closed`, async (t) => {
    const connections: RawConnection[] = []
    // Before build's own teardown, so that app.close() there is not held up by them when this fails.
    t.teardown(() => {
      for (const connection of connections) connection.socket.destroy()
    })
    const { app, port } = await build(t)
    for (let index = 0; index < 40; index++) connections.push(new RawConnection(port))
    for (const connection of connections) connection.socket.write(upgradeRequest(path))
    await within(Promise.all(connections.map((connection) => connection.closed)), 5000, 'the server to close every refused socket')
    for (const connection of connections) t.match(connection.text, new RegExp(`^HTTP/1\\.1 ${status} `), 'each was answered first')
    await until('no open socket on the server', async () => (await openSockets(app.server)) === 0)
    t.equal(await openSockets(app.server), 0, 'no socket left open')
    await within(app.close(), 3000, 'app.close()')
  })
}
