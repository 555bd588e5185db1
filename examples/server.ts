// The example: one Fastify process that serves the dashboard, the REST API, the WebSocket stream and
// the OpenAPI documentation, with a simulated engine producing runs. `npm start` runs this file;
// `npm start -- --help` lists its flags. With `--redis URL`, several of these processes share their
// runs: each dashboard shows every run, and a click on any instance reaches the engine running it.
//
// `createExampleServer` is exported so tests can start the same thing on a free port.

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import fastifyStatic from '@fastify/static'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import dagStream, { type BackplaneProvider } from '../lib/index.js'
import { distDir, ensureDashboardBuilt } from './dashboard/build.js'
import { createEngine, type Engine, type EngineOptions } from './engine/index.js'
import { createLangGraphEngine } from './engine/langgraph.js'

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
   * Adds `POST /api/debug/drop-connections`, which cuts every WebSocket of this process without a
   * close frame, to demonstrate (and test) that dashboards recover. Never enable it in a real
   * deployment. @default false
   */
  chaos?: boolean
  /**
   * A Redis URL, e.g. `redis://127.0.0.1:6379`: DAG logs, snapshots and commands go through Redis, so
   * every process started with the same URL lists and streams the same runs. Each process still runs
   * its own engine and drives the runs it started. @default undefined (one process, in memory)
   */
  redis?: string
  /** Keys of this demo in Redis start with this, so two demos (or another app) can share one Redis. @default 'dag-stream-example' */
  redisKeyPrefix?: string
  /** Called before a build of the dashboard starts (it takes a while on a first start). */
  onBuild?: () => void
  /** @default 'warn': the URL line is what a first-time user needs to see */
  logLevel?: 'silent' | 'warn' | 'info'
  /** `langgraph`: the runs are a real LangGraph.js graph (examples/engine/langgraph.ts). @default 'simulated' */
  engine?: 'simulated' | 'langgraph'
}

export interface ExampleServer {
  app: FastifyInstance
  engine: Engine
  /** Where the dashboard is, e.g. http://localhost:3000/ */
  url: string
  close(): Promise<void>
}

const DEFAULT_PORT = 3000
/** Keys of the example in Redis start with this, so they never mix with another app's. */
const REDIS_KEY_PREFIX = 'dag-stream-example'
/** The version of the demo's API, from package.json, so the OpenAPI and AsyncAPI documents agree with it. */
const { version: PACKAGE_VERSION } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

export async function createExampleServer (options: ExampleServerOptions = {}): Promise<ExampleServer> {
  const { port = Number(process.env.PORT) || DEFAULT_PORT, host = 'localhost', initialRuns = 1, build = true, chaos = false } = options
  if (build) await ensureDashboardBuilt({ onBuild: options.onBuild })

  const app = Fastify({ logger: { level: options.logLevel ?? 'warn' } }).withTypeProvider<TypeBoxTypeProvider>()
  // Which instance a command was clicked on; known once it listens. The engine shows it in the
  // review step's output, which makes a decision taken on another instance visible.
  let instance = `${host}:${port}`
  let engine: Engine
  try {
    // Registered before the plugin so it sees the plugin's routes and their TypeBox schemas.
    await app.register(swagger, {
      openapi: {
        info: { title: 'fastify-dag-stream example', version: PACKAGE_VERSION, description: 'REST side of the DAG stream; the WebSocket protocol is described by the AsyncAPI document.' },
        tags: [{ name: 'dags', description: 'DAG snapshots and the list of DAGs' }, { name: 'runs', description: 'The simulated engine of this example' }]
      }
    })
    await app.register(swaggerUi, { routePrefix: '/documentation' })
    await app.register(dagStream, {
      // Finished runs stay listed for half an hour, so a demo can go back to them.
      retainFinishedMs: 30 * 60_000,
      asyncapi: { path: '/asyncapi.json', title: 'fastify-dag-stream example', version: PACKAGE_VERSION },
      // JSON, because it travels with the command to the instance that drives the run.
      describeSender: () => ({ instance }),
      // Who else watches a run, and who has its gate open: the dashboard names each tab (viewer.ts).
      presence: true,
      identify: (request) => {
        const { viewer } = request.query as { viewer?: unknown }
        return typeof viewer === 'string' && viewer !== '' ? { id: viewer.slice(0, 64), name: viewer.slice(0, 64) } : undefined
      },
      backplane: options.redis === undefined ? 'memory' : await redis(options.redis, options.redisKeyPrefix ?? REDIS_KEY_PREFIX)
    })
    engine = options.engine === 'langgraph' ? createLangGraphEngine(app) : createEngine(app, options)

    app.post(
      '/api/runs',
      {
        schema: {
          tags: ['runs'],
          summary: 'Start a new simulated run (this instance drives it)',
          response: { 201: Type.Object({ dag_id: Type.String(), stream: Type.String({ description: 'The WebSocket path of its stream' }) }) }
        }
      },
      async (_request, reply) => {
        const dagId = engine.startRun()
        return reply.code(201).send({ dag_id: dagId, stream: `/api/dags/${dagId}/stream` })
      }
    )

    // The AsyncAPI document, readable: /asyncapi.json is the machine's copy, minified.
    app.get('/asyncapi', { schema: { hide: true } }, async (_request, reply) => {
      const response = await app.inject({ method: 'GET', url: '/asyncapi.json' })
      const pretty = JSON.stringify(JSON.parse(response.body), null, 2).replaceAll('&', '&amp;').replaceAll('<', '&lt;')
      return reply.type('text/html; charset=utf-8').send(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stream protocol (AsyncAPI ${PACKAGE_VERSION})</title>` +
        '<style>body{font:14px/1.5 system-ui,sans-serif;margin:24px;color:#0f172a}pre{font:13px/1.45 ui-monospace,monospace;background:#f8fafc;padding:16px;border-radius:8px;overflow:auto}</style></head>' +
        `<body><h1>Stream protocol (AsyncAPI)</h1><p>The WebSocket protocol of this demo, version ${PACKAGE_VERSION}. ` +
        'Load <a href="asyncapi.json">asyncapi.json</a> into <a href="https://studio.asyncapi.com/">AsyncAPI Studio</a> for a rendered view.</p>' +
        `<pre>${pretty}</pre></body></html>`
      )
    })

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
  } catch (error) {
    // A half-registered app may hold Redis connections that retry forever: release them, or the
    // process never exits (Redis down at boot, port taken).
    await app.close().catch(() => {})
    throw error
  }
  for (let i = 0; i < initialRuns; i++) engine.startRun()

  const address = app.server.address()
  const boundPort = typeof address === 'object' && address !== null ? address.port : port
  instance = `${host}:${boundPort}`
  return { app, engine, url: `http://${host}:${boundPort}/`, close: () => app.close() }
}

/** Loaded only with --redis: the in-memory example does not need ioredis (an optional peer dependency). */
async function redis (url: string, keyPrefix: string): Promise<BackplaneProvider> {
  const { redisBackplane } = await import('../lib/backplane/redis/index.js')
  return redisBackplane({ url, keyPrefix })
}

// -------------------------------------------------------------------------------------------------
// The command line
// -------------------------------------------------------------------------------------------------

const USAGE = `Usage: npm start -- [options]

Serves the fastify-dag-stream demo: a dashboard, the REST API and the WebSocket stream, with
simulated runs.

Options:
  --port N       port to listen on; 0 picks a free one        (default: $PORT or ${DEFAULT_PORT})
  --host HOST    interface to listen on, e.g. 0.0.0.0          (default: localhost)
  --speed X      how many times faster than real time runs go  (default: 1)
  --seed N       the same seed tells the same story            (default: random)
  --runs N       runs started at boot                          (default: 1)
  --redis URL    share runs with every instance started with the same URL,
                 e.g. redis://127.0.0.1:6379                   (default: one process, in memory)
  --redis-prefix P  start this demo's Redis keys with P, so two demos can share
                 one Redis without seeing each other's runs    (default: ${REDIS_KEY_PREFIX})
  --engine NAME  simulated, or langgraph: a LangGraph.js graph with a fake
                 streaming chat model (no network)             (default: simulated)
  --chaos        add POST /api/debug/drop-connections, which cuts this process's sockets
  --quiet        print nothing but the URL line
  --verbose      log requests and the plugin's messages
  -h, --help     print this help

Two instances sharing their runs (open either URL, click anywhere):
  npm start -- --port 3000 --redis redis://127.0.0.1:6379
  npm start -- --port 3001 --redis redis://127.0.0.1:6379`

/** A command line this program cannot run: reported in one line, followed by the usage, exit code 2. */
class UsageError extends Error {}

type CommandLine = { help: true } | { help: false; options: ExampleServerOptions }

function parseCommandLine (args: string[]): CommandLine {
  const values = readFlags(args)
  if (values.help === true) return { help: true }
  if (values.quiet === true && values.verbose === true) throw new UsageError('--quiet and --verbose cannot be used together')

  const number = (flag: string, value: string | undefined, valid: (n: number) => boolean, expected: string) => {
    if (value === undefined) return undefined
    const n = Number(value)
    if (value.trim() === '' || !valid(n)) throw new UsageError(`--${flag} must be ${expected}, got '${value}'`)
    return n
  }
  return {
    help: false,
    options: {
      port: number('port', values.port, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a port number from 0 to 65535'),
      host: values.host,
      speed: number('speed', values.speed, (n) => Number.isFinite(n) && n > 0, 'a positive number'),
      seed: number('seed', values.seed, Number.isSafeInteger, 'an integer'),
      initialRuns: number('runs', values.runs, (n) => Number.isInteger(n) && n >= 0, 'a whole number'),
      redis: redisUrl(values.redis),
      redisKeyPrefix: redisPrefix(values['redis-prefix']),
      chaos: values.chaos,
      engine: engineName(values.engine),
      logLevel: values.quiet === true ? 'silent' : values.verbose === true ? 'info' : undefined
    }
  }
}

function readFlags (args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        speed: { type: 'string' },
        seed: { type: 'string' },
        runs: { type: 'string' },
        redis: { type: 'string' },
        'redis-prefix': { type: 'string' },
        chaos: { type: 'boolean' },
        engine: { type: 'string' },
        quiet: { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (error) {
    // Node's own messages ("Unknown option '--prot'") are clear up to their first full stop.
    if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_')) {
      throw new UsageError((error as Error).message.split('. ')[0])
    }
    throw error
  }
}

function redisPrefix (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(value)) throw new UsageError(`--redis-prefix must be 1 to 64 letters, digits or . _ : -, got '${value}'`)
  return value
}

function engineName (value: string | undefined): ExampleServerOptions['engine'] {
  if (value === undefined || value === 'simulated' || value === 'langgraph') return value
  throw new UsageError(`--engine must be simulated or langgraph, got '${value}'`)
}

function redisUrl (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (url?.protocol !== 'redis:' && url?.protocol !== 'rediss:') {
    throw new UsageError(`--redis must be a redis:// or rediss:// URL, got '${value}'`)
  }
  return value
}

async function main (): Promise<void> {
  let commandLine: CommandLine
  try {
    commandLine = parseCommandLine(process.argv.slice(2))
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    console.error(`error: ${error.message}\n\n${USAGE}`)
    process.exitCode = 2
    return
  }
  if (commandLine.help) {
    console.log(USAGE)
    return
  }

  const { options } = commandLine
  let server: ExampleServer
  try {
    // A first start builds the dashboard, which takes a while: say so rather than sit silent.
    const onBuild = options.logLevel === 'silent' ? undefined : () => console.log('Building the dashboard (first start or changed sources; about 20 s)…')
    server = await createExampleServer({ ...options, onBuild })
  } catch (error) {
    // The two likely first-time failures get one line each, without a stack.
    const code = (error as { code?: unknown }).code
    if (code === 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE') {
      console.error(`error: cannot reach Redis at ${options.redis}; is it running? (${(error as Error).message})`)
    } else if (code === 'EADDRINUSE') {
      console.error(`error: port ${options.port ?? (Number(process.env.PORT) || DEFAULT_PORT)} is in use; pick another with --port`)
    } else {
      throw error
    }
    process.exitCode = 1
    return
  }
  // Tests read this line to find the port; keep its shape.
  console.log(`fastify-dag-stream example listening on ${server.url} (OpenAPI: ${server.url}documentation, AsyncAPI: ${server.url}asyncapi.json)`)
  if (options.redis !== undefined) console.log(`Sharing runs through Redis at ${options.redis}: start another instance with the same --redis on another --port.`)
  let closing = false
  const stop = () => {
    if (closing) return
    closing = true
    // app.close() tells every dashboard 1001 (going away), so they reconnect to the next server.
    void server.close().then(() => process.exit(0))
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stop)
  // `npm start` runs this under `sh -c`: `kill <pid of npm>` reaches npm and the shell, not this
  // process, which would keep the port. Orphaned (another process adopted it), it stops too.
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) stop()
  }, 500).unref()
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
