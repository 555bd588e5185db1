// Target (a): this plugin with its defaults, as a user registers it, except the per-address limit: every
// benchmark client comes from 127.0.0.1. The engine's call is the one the README shows,
// `app.dagStream.broadcast`, whose promise an engine may ignore.

import Fastify from 'fastify'
import dagStream from '../../lib/index.js'
import type { Target, TargetOptions } from './index.js'

export async function createTarget (options: TargetOptions): Promise<Target> {
  const app = Fastify()
  await app.register(dagStream, { maxConnectionsPerIp: Number.POSITIVE_INFINITY })
  const { onStreamRequest } = options
  if (onStreamRequest !== undefined) {
    app.addHook('onRequest', async (request) => {
      if (request.url.includes('/stream')) onStreamRequest()
    })
  }
  // Ready before listen: a restarted server (the reconnect storm) binds its port only when told,
  // and should not spend its first milliseconds there loading routes.
  await app.ready()
  return {
    async listen (port) {
      await app.listen({ port, host: '127.0.0.1' })
      return (app.server.address() as { port: number }).port
    },
    broadcast (dagId, event) {
      void app.dagStream.broadcast(dagId, event)
    },
    connections: () => app.dagStream.connections(),
    close: () => app.close()
  }
}
