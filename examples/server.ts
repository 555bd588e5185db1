// The example: one Fastify process that serves the dashboard, the REST API, the WebSocket stream and
// the OpenAPI documentation, with a simulated engine producing runs. `npm start` runs this file.
//
//   npm start -- --port 8080 --speed 2 --seed 42 [--runs 1] [--host 0.0.0.0] [--chaos] [--quiet | --verbose]
//
// `createExampleServer` is exported so tests can start the same thing on a free port.

import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import fastifyStatic from '@fastify/static'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import dagStream from '../lib/index.js'
import { distDir, ensureDashboardBuilt } from './dashboard/build.js'
import { createEngine, type Engine, type EngineOptions } from './engine/index.js'

export interface ExampleServerOptions extends EngineOptions {
  /** @default Number(process.env.PORT) || 3000; 0 picks a free port */
  port?: number
  /** @default 'localhost' */
  host?: string
  /** Runs started right away, so the first page load has something to show. @default 1 */
  initialRuns?: number
  /** Build the dashboard if its bundle is missing or stale. @default true */
  build?: boolean
  /**
   * Adds `POST /api/debug/drop-connections`, which cuts every WebSocket without a close frame, to
   * demonstrate (and test) that dashboards recover. Never enable it in a real deployment. @default false
   */
  chaos?: boolean
  /** @default 'warn': the URL line is what a first-time user needs to see */
  logLevel?: 'silent' | 'warn' | 'info'
}

export interface ExampleServer {
  app: FastifyInstance
  engine: Engine
  /** Where the dashboard is, e.g. http://localhost:3000/ */
  url: string
  close(): Promise<void>
}

const DEFAULT_PORT = 3000

export async function createExampleServer (options: ExampleServerOptions = {}): Promise<ExampleServer> {
  const { port = Number(process.env.PORT) || DEFAULT_PORT, host = 'localhost', initialRuns = 1, build = true, chaos = false } = options
  if (build) await ensureDashboardBuilt()

  const app = Fastify({ logger: { level: options.logLevel ?? 'warn' } }).withTypeProvider<TypeBoxTypeProvider>()
  // Registered before the plugin so it sees the plugin's routes and their TypeBox schemas.
  await app.register(swagger, {
    openapi: {
      info: { title: 'fastify-dag-stream example', version: '0.1.0', description: 'REST side of the DAG stream; the WebSocket protocol is described by the AsyncAPI document.' },
      tags: [{ name: 'dags', description: 'DAG snapshots and the list of DAGs' }, { name: 'runs', description: 'The simulated engine of this example' }]
    }
  })
  await app.register(swaggerUi, { routePrefix: '/documentation' })
  await app.register(dagStream, {
    // Finished runs stay listed for half an hour, so a demo can go back to them.
    retainFinishedMs: 30 * 60_000,
    asyncapi: { path: '/asyncapi.json', title: 'fastify-dag-stream example' }
  })
  const engine = createEngine(app, options)

  app.post(
    '/api/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'Start a new simulated run',
        response: { 201: Type.Object({ dag_id: Type.String(), stream: Type.String({ description: 'The WebSocket path of its stream' }) }) }
      }
    },
    async (_request, reply) => {
      const dagId = engine.startRun()
      return reply.code(201).send({ dag_id: dagId, stream: `/api/dags/${dagId}/stream` })
    }
  )

  if (chaos) {
    app.post('/api/debug/drop-connections', { schema: { hide: true } }, async () => {
      // terminate(), not close(): the browser sees what a network cut looks like (1006, no close frame).
      const sockets = [...app.websocketServer.clients]
      for (const socket of sockets) socket.terminate()
      return { dropped: sockets.length }
    })
  }

  await app.register(fastifyStatic, { root: distDir, index: 'index.html' })

  await app.listen({ port, host })
  for (let i = 0; i < initialRuns; i++) engine.startRun()

  const address = app.server.address()
  const boundPort = typeof address === 'object' && address !== null ? address.port : port
  return { app, engine, url: `http://${host}:${boundPort}/`, close: () => app.close() }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      speed: { type: 'string' },
      seed: { type: 'string' },
      runs: { type: 'string' },
      chaos: { type: 'boolean' },
      quiet: { type: 'boolean' },
      verbose: { type: 'boolean' }
    }
  })
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value))
  const server = await createExampleServer({
    port: number(values.port),
    host: values.host,
    speed: number(values.speed),
    seed: number(values.seed),
    initialRuns: number(values.runs),
    chaos: values.chaos,
    logLevel: values.quiet === true ? 'silent' : values.verbose === true ? 'info' : undefined
  })
  // Tests read this line to find the port; keep its shape.
  console.log(`fastify-dag-stream example listening on ${server.url} (OpenAPI: ${server.url}documentation, AsyncAPI: ${server.url}asyncapi.json)`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // app.close() tells every dashboard 1001 (going away), so they reconnect to the next server.
      void server.close().then(() => process.exit(0))
    })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
