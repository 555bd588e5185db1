// Starting the processes of a bench run and making sure none outlives it: the server under test
// (bench/server.ts) and the client process (bench/client.ts), each driven over IPC.

import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ClientCommands } from './client.js'
import { Child, killChildren, now, sleep, type Commands } from './redis-ipc.js'
import type { Mark, ServerCommands } from './server.js'

const SERVER_FILE = new URL('./server.ts', import.meta.url)
const CLIENT_FILE = new URL('./client.ts', import.meta.url)
/** Where `--cpu-prof` puts the servers' profiles (ignored by git). */
export const PROFILE_DIR = fileURLToPath(new URL('./profiles/', import.meta.url))

export type Server = Child<ServerCommands>
export type Clients = Child<ClientCommands>

/**
 * Starts a server process. `--expose-gc` lets it measure memory after a GC; with `profileDir`, V8
 * writes a .cpuprofile there when the process exits (one directory per process: tsx's loader thread
 * writes a profile of its own beside the main thread's).
 */
export function startServer (name: string, profileDir?: string): Promise<Server> {
  const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir]
  return Child.start<ServerCommands>(name, SERVER_FILE, ['--expose-gc', ...profile])
}

/** Beside a profile: the measured window, so that bench/profile-summary.ts can leave out the rest (startup, connecting). */
export const PROFILE_WINDOW_FILE = 'window.json'

export function saveProfileWindow (profileDir: string, from: Mark, to: Mark): void {
  writeFileSync(join(profileDir, PROFILE_WINDOW_FILE), JSON.stringify({ fromUs: from.monotonicUs, toUs: to.monotonicUs }))
}

export function startClients (name: string): Promise<Clients> {
  return Child.start<ClientCommands>(name, CLIENT_FILE)
}

/**
 * The CPUs a server and its clients are pinned to, when this machine can keep them apart: two CPUs
 * this process may run on, and `taskset` (util-linux) to pin them. Left to the scheduler, the two
 * processes move from core to core and share them by turns, and what the server measures moves with
 * that: a server sharing a core with its clients waits for them, and their work lands in its latency.
 */
export function separateCpus (): { server: number; clients: number } | undefined {
  let allowed: number[]
  try {
    // "pid 123's current affinity list: 0-3,8"
    const answer = execFileSync('taskset', ['--cpu-list', '--pid', String(process.pid)], { encoding: 'utf8' })
    allowed = parseCpuList(answer.slice(answer.lastIndexOf(':') + 1))
  } catch {
    return undefined // no taskset
  }
  const [server, clients] = allowed
  return server === undefined || clients === undefined ? undefined : { server, clients }
}

/** The CPUs of a list such as "0-3,8". */
function parseCpuList (list: string): number[] {
  return list.trim().split(',').flatMap((range) => {
    const [first, last = first] = range.split('-').map(Number) as [number, number?]
    return Array.from({ length: last - first + 1 }, (_, i) => first + i)
  })
}

/** Pins every thread of `child` to `cpu`; the threads it starts later inherit it. */
export function pin (child: Child<Commands>, cpu: number): void {
  execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', String(cpu), String(child.process.pid)], { stdio: 'ignore' })
}

/**
 * Makes the script stop by itself: every child is killed however this process ends, and the whole
 * run is abandoned (exit code 1) past `deadlineS`.
 */
export function guard (deadlineS: number): void {
  process.on('exit', killChildren)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killChildren()
      process.exit(130)
    })
  }
  process.on('uncaughtException', (error) => {
    console.error(error)
    killChildren()
    process.exit(1)
  })
  setTimeout(() => {
    console.error(`gave up: the run took longer than its deadline of ${deadlineS} s`)
    killChildren()
    process.exit(1)
  }, deadlineS * 1000).unref()
}

/**
 * Each socket is a file descriptor in the server and one in the client process, and `ulimit -n` is
 * per process and inherited: check it here, where the message can say what to do, rather than let
 * the server fail with EMFILE halfway.
 */
export function checkOpenFiles (sockets: number): void {
  const limit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()
  if (limit === 'unlimited') return
  const needed = sockets + 200
  if (Number(limit) < needed) {
    throw new Error(`${sockets.toLocaleString('en')} sockets need an open-file limit of at least ${needed} per process, and this shell allows ${limit}: run \`ulimit -n ${Math.max(needed, 65535)}\` (at most \`ulimit -Hn\`) in this shell first`)
  }
}

/**
 * The engine's flow control: every `periodMs` the client process's count of arrived events goes to
 * the server, which keeps at most its window of deliveries in flight. Without it, a target that
 * cannot keep up would pile events into socket buffers until the machine swapped, and latency would
 * measure the pile.
 */
export function relayProgress (server: Server, clients: Clients, periodMs = 10): { stop (): Promise<void> } {
  let running = true
  const loop = (async () => {
    while (running) {
      const delivered = await clients.call('delivered', undefined)
      await server.call('progress', { delivered })
      await sleep(periodMs)
    }
  })()
  return {
    async stop () {
      running = false
      await loop
    }
  }
}

/** Polls `check` every `periodMs` until it returns true; throws with `what` past `timeoutMs`. */
export async function waitUntil (check: () => Promise<boolean>, timeoutMs: number, what: string, periodMs = 100): Promise<void> {
  const deadline = now() + timeoutMs
  while (!(await check())) {
    if (now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`)
    await sleep(periodMs)
  }
}
