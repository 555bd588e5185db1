// Helpers for the tests of the Redis backplane: key prefixes of their own, app instances and engines
// on one Redis, a redis-server of the test's own (to stop, restart or flush), and an instance in a
// child process (to SIGKILL).

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { redisBackplane } from '../../lib/backplane/redis/index.js'
import dagStream, { type DAGStreamOptions } from '../../lib/index.js'
import { deleteKeysUnder } from '../../bench/redis-keys.js'
import type { ClientEvent, DAGEvent, SequencedEvent } from '../../schemas/index.js'
import type { InstanceConfig, InstanceRequest } from './redis-instance.js'
import { build } from './helpers.js'
import { until, within } from './wait.js'

// Kept here for the tests that import it from this module (wait.ts owns it).
export { frameWhere } from './wait.js'

/** The Redis every test shares (each under its own key prefix); CI starts it. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
let prefixes = 0

/** A key prefix no other test (in this process or another) uses. */
export function uniquePrefix (name: string): string {
  return `test-${name}-${process.pid}-${++prefixes}`
}

/** Deletes every key under `prefix` when the test ends (after the apps registered later have closed). */
export function cleanupPrefix (t: Test, prefix: string, url = REDIS_URL): void {
  t.teardown(() => deleteKeysUnder(url, prefix))
}

export interface RedisInstanceOptions extends Omit<DAGStreamOptions, 'backplane'> {
  prefix: string
  url?: string
  probeMs?: number
  presenceTtlMs?: number
}

function pluginOptions ({ prefix, url = REDIS_URL, probeMs, presenceTtlMs, ...options }: RedisInstanceOptions): DAGStreamOptions {
  return { ...options, backplane: redisBackplane({ url, keyPrefix: prefix, probeMs, presenceTtlMs }) }
}

/** An app with the plugin on the Redis backplane, listening on a free port, closed when the test ends. */
export function buildInstance (t: Test, options: RedisInstanceOptions, setup?: (app: FastifyInstance) => void | Promise<void>) {
  return build(t, pluginOptions(options), setup)
}

export type Instance = Awaited<ReturnType<typeof buildInstance>>

/** An engine: an app with the plugin that broadcasts and handles client events, with no listening socket. */
export async function buildEngine (t: Test, options: RedisInstanceOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(dagStream, pluginOptions(options))
  await app.ready()
  t.teardown(() => app.close())
  return app
}

/** GET `url` as JSON. */
export async function getJson<Body = unknown> (url: string): Promise<{ status: number; body: Body }> {
  const response = await fetch(url)
  return { status: response.status, body: (await response.json()) as Body }
}

/** A command Redis ran, as MONITOR reports it: its arguments and the address of the client that sent it. */
export interface MonitoredCommand {
  args: string[]
  source: string
}

/**
 * `commands`: every command sent to Redis from now until the test ends that names `key` (commands run
 * inside a script are not listed; the script call itself is), in the order Redis ran them. MONITOR is
 * how a test sees what an instance does in Redis when nothing else shows it. Its reports trail the
 * commands: `caughtUp()` resolves once every command Redis ran before the call is in the list.
 */
export async function commandsNaming (t: Test, key: string) {
  const redis = new Redis(REDIS_URL)
  const commands: MonitoredCommand[] = []
  const monitor = await monitorRedis((command) => {
    if (command.source !== 'lua' && command.args.includes(key)) commands.push(command)
  })
  t.teardown(() => {
    monitor.destroy()
    redis.disconnect()
  })
  async function caughtUp (): Promise<void> {
    const seen = commands.length
    await redis.exists(key)
    const reported = () => commands.slice(seen).some(({ args }) => args[0]?.toLowerCase() === 'exists')
    await until(reported, `MONITOR to report our EXISTS ${key}`, 5000)
  }
  return { commands, caughtUp }
}

/**
 * MONITOR on a plain socket, each report passed to `onCommand`; resolves once Redis has said OK.
 * Not ioredis's monitor(): it enters monitoring mode a microtask after the OK, so a report that
 * arrives in the same chunk as the OK is taken for the reply to no command and thrown
 * ("Command queue state error"), which a busy Redis does now and then.
 */
async function monitorRedis (onCommand: (command: MonitoredCommand) => void): Promise<Socket> {
  const { hostname, port } = new URL(REDIS_URL)
  const socket = connect(Number(port || 6379), hostname)
  socket.write('MONITOR\r\n')
  const lines = createInterface({ input: socket, crlfDelay: Infinity })
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    lines.on('line', (line) => {
      if (line === '+OK') resolve(socket)
      else if (line.startsWith('-')) reject(new Error(`MONITOR: ${line.slice(1)}`))
      else onCommand(parseMonitorReport(line.slice(1)))
    })
  })
}

/** `1795729704.209073 [0 127.0.0.1:58070] "xadd" "k\"ey"` → { args: ['xadd', 'k"ey'], source: '127.0.0.1:58070' }. */
function parseMonitorReport (report: string): MonitoredCommand {
  const source = /^\S+ \[\d+ ([^\]]+)\]/.exec(report)?.[1] ?? ''
  const args = [...report.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, quoted]) => unquote(quoted as string))
  return { args, source }
}

/** Undoes the quoting Redis gives MONITOR's arguments (sdscatrepr: \\, \", \n, \r, \t, \a, \b, \xHH). */
function unquote (quoted: string): string {
  const named: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }
  return quoted.replace(/\\(x[0-9a-f]{2}|.)/g, (_, escaped: string) =>
    escaped.length === 3 ? String.fromCharCode(parseInt(escaped.slice(1), 16)) : named[escaped] ?? escaped)
}

/** The seqs of the DAG events among `frames`, in the order they came. */
export function seqs (frames: ReadonlyArray<{ type: string; seq?: number }>): number[] {
  return frames.filter((frame) => frame.type !== 'hello' && frame.type !== 'resync_required' && typeof frame.seq === 'number').map((frame) => frame.seq as number)
}

/** 1 … `to` (or `from` … `to`). */
export function range (from: number, to?: number): number[] {
  const [first, last] = to === undefined ? [1, from] : [from, to]
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, index) => first + index)
}

// ---------------------------------------------------------------------------------------------
// A redis-server of the test's own
// ---------------------------------------------------------------------------------------------

export interface OwnRedis {
  url: string
  port: number
  /** An admin connection (CLIENT LIST / KILL …); it reconnects by itself after a restart. */
  admin: Redis
  /** Stops the server (SIGTERM: with `persist`, the data is written to disk first). */
  stop(): Promise<void>
  /** Starts it again on the same port: empty, unless it was started with `persist`. */
  start(): Promise<void>
  flushall(): Promise<void>
}

/** A free TCP port of 127.0.0.1, as the kernel hands them out. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * A redis-server on a free port, stopped when the test ends. With `persist`, an append-only file in a
 * directory of its own keeps the data over a stop and start.
 */
export async function startRedis (t: Test, { persist = false } = {}): Promise<OwnRedis> {
  let port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'dag-stream-redis-'))
  let server: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  // Should the test process die without its teardown, the server must not outlive it.
  const killOnExit = () => server?.kill('SIGKILL')
  process.once('exit', killOnExit)

  async function start (): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', persist ? 'yes' : 'no',
      '--dir', dir, '--logfile', ''
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    server = child
    exited = new Promise((resolve) => child.once('exit', () => resolve()))
    let output = ''
    await within(new Promise<void>((resolve, reject) => {
      const read = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) resolve()
      }
      child.stdout.on('data', read)
      child.stderr.on('data', read)
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${output}`)))
    }), 10_000, `redis-server on port ${port}`)
  }

  async function stop (): Promise<void> {
    const child = server
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await within(exited, 10_000, 'redis-server to stop')
    server = undefined
  }

  // Another process may take the free port before redis-server binds it: then try another one.
  for (let attempt = 1; ; attempt++) {
    try {
      await start()
      break
    } catch (error) {
      if (attempt === 3) throw error
      port = await freePort()
    }
  }
  const admin = new Redis(port, '127.0.0.1', { lazyConnect: true })
  admin.on('error', () => {}) // while the server is down on purpose
  await admin.connect()
  t.teardown(async () => {
    admin.disconnect()
    await stop()
    process.off('exit', killOnExit)
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    admin,
    stop,
    start,
    flushall: async () => {
      await admin.flushall()
    }
  }
}

/** The ids of the clients connected to `redis` now (CLIENT LIST). */
export async function clientIds (redis: Redis, type?: 'normal' | 'pubsub'): Promise<string[]> {
  const list = (await (type === undefined ? redis.call('CLIENT', 'LIST') : redis.call('CLIENT', 'LIST', 'TYPE', type))) as string
  return list.split('\n').filter((line) => line !== '').map((line) => /(?:^| )id=(\d+)/.exec(line)?.[1] as string)
}

// ---------------------------------------------------------------------------------------------
// An instance in a child process
// ---------------------------------------------------------------------------------------------

export interface HandlerCall {
  event: ClientEvent
  context: { dagId: string; sender: unknown }
}

export interface ChildInstance {
  /** The port it listens on (0 for an engine). */
  port: number
  http: string
  url(path: string): string
  /** Every call of its onClientEvent handler, as it reported them. */
  handlerCalls: HandlerCall[]
  broadcast(dagId: string, event: DAGEvent): Promise<SequencedEvent>
  /** Sends through the child's run handle of `dagId`; resolves once it is stored. */
  run(dagId: string, event: DAGEvent): Promise<void>
  /** Asks for `app.close()` and resolves once the process has exited by itself (rejects after 10 s). */
  close(): Promise<void>
  /** SIGKILL, and resolves once it is gone. */
  kill(): Promise<void>
}

/**
 * Starts test/support/redis-instance.ts in a child process and resolves once it is ready. It runs
 * through tsx, outside coverage: tap re-injects its process tracking into every child, and the
 * child's modules (compiled by tsx, not tap's loader) would be merged by URL with the tests' coverage
 * of lib/ at other offsets, corrupting the report (see test/browser.test.ts).
 */
export async function spawnInstance (t: Test, config: InstanceConfig): Promise<ChildInstance> {
  const env: NodeJS.ProcessEnv = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  delete env.NODE_V8_COVERAGE
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/redis-instance.ts', JSON.stringify(config)], {
    cwd: ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    process.off('exit', killOnExit)
  })

  // A write to a child that is gone must fail its command, not the test process.
  child.stdin.on('error', () => {})
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const handlerCalls: HandlerCall[] = []
  const replies = new Map<number, (reply: { event?: SequencedEvent; error?: { code?: string; message: string } }) => void>()
  let commands = 0
  const ready = new Promise<number>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`the instance exited (${code ?? signal}) before it was ready:\n${stderr}`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { type: string; port?: number; id?: number }
      if (message.type === 'listening') resolve(message.port as number)
      else if (message.type === 'handler') handlerCalls.push(message as unknown as HandlerCall)
      else if (message.type === 'reply') replies.get(message.id as number)?.(message as never)
    })
  })
  const port = await within(ready, 20_000, 'the child instance to start')

  function send<Reply> (command: InstanceRequest): Promise<Reply> {
    const id = ++commands
    const reply = new Promise<Reply>((resolve) => replies.set(id, resolve as (reply: unknown) => void))
    child.stdin.write(`${JSON.stringify({ ...command, id })}\n`)
    return reply
  }

  return {
    port,
    http: `http://127.0.0.1:${port}`,
    url: (path) => `ws://127.0.0.1:${port}${path}`,
    handlerCalls,
    async broadcast (dagId, event) {
      const reply = await within(send<{ event?: SequencedEvent; error?: { message: string } }>({ op: 'broadcast', dagId, event }), 10_000, 'a broadcast in the child')
      if (reply.error !== undefined) throw new Error(reply.error.message)
      return reply.event as SequencedEvent
    },
    async run (dagId, event) {
      await within(send({ op: 'run', dagId, event }), 10_000, 'a run handle\'s send in the child')
    },
    async close () {
      await within(send({ op: 'close' }), 10_000, 'app.close() in the child')
      await within(exited, 10_000, 'the child to exit by itself after app.close(): something is still running')
    },
    async kill () {
      child.kill('SIGKILL')
      await within(exited, 10_000, 'the child to die')
    }
  }
}
