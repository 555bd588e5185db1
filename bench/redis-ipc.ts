// What the processes of bench/redis.ts share: a clock that agrees across processes, and typed
// request / reply over the `fork` IPC channel (the parent drives, each child answers).

import { fork, type ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'

/**
 * Milliseconds since the Unix epoch, with sub-millisecond resolution. `timeOrigin` is the wall clock
 * when this process started, so two processes on one machine agree to within a few microseconds:
 * a timestamp taken in the engine process can be subtracted from one taken in a client process.
 */
export function now (): number {
  return performance.timeOrigin + performance.now()
}

/** Client latencies are kept as counts per 10 µs bucket, so several processes' figures merge exactly. */
export const BUCKETS_PER_MS = 100

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** CPU time this process has used, in ms (user + system). */
export function cpuMs (): number {
  return cpuTimes().cpuMs
}

/**
 * `cpuMs` and its user-space part, from one sample. The rest is the kernel's: over loopback, a write
 * to a socket also runs the TCP path of the peer that receives it, the same for every server, so the
 * user-space part is where servers differ.
 */
export function cpuTimes (): { cpuMs: number; userCpuMs: number } {
  const { user, system } = process.cpuUsage()
  return { cpuMs: (user + system) / 1000, userCpuMs: user / 1000 }
}

/** A child's commands: each takes one structured-cloneable argument and resolves with one. */
export type Commands = Record<string, (args: never) => unknown>

interface Request { id: number; command: string; args: unknown }
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string }

/**
 * The child side: answers the parent's requests with `handlers`, and exits when the parent goes away
 * (its IPC channel closes), so a crashed benchmark never leaves servers or clients behind. `close`
 * releases what the child opened before it exits at the parent's request (so --cpu-prof is written).
 */
export function serve (handlers: Commands, close: () => Promise<void>): void {
  process.on('message', (message: Request) => {
    if (message.command === '$exit') {
      close().finally(() => process.exit(0))
      return
    }
    const handler = handlers[message.command] as ((args: unknown) => unknown) | undefined
    Promise.resolve()
      .then(() => {
        if (handler === undefined) throw new Error(`unknown command ${message.command}`)
        return handler(message.args)
      })
      .then(
        (result) => process.send?.({ id: message.id, ok: true, result } satisfies Reply),
        (error: unknown) => process.send?.({ id: message.id, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) } satisfies Reply)
      )
  })
  process.on('disconnect', () => process.exit(0))
  process.send?.({ ready: true })
}

const children = new Set<ChildProcess>()

/** Has killChildren kill `child` too: a process the bench spawned itself (a redis-server). */
export function killWithBench (child: ChildProcess): void {
  children.add(child)
  child.once('exit', () => children.delete(child))
}

/** Kills every child still running: called on exit, on a signal and on any failure. */
export function killChildren (): void {
  for (const child of children) child.kill('SIGKILL')
  children.clear()
}

/** A child process running one of the bench entry files, driven by typed commands. */
export class Child<C extends Commands> {
  readonly name: string
  readonly process: ChildProcess
  readonly exited: Promise<number | null>
  #next = 0
  #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()

  private constructor (name: string, file: URL, execArgv: string[]) {
    this.name = name
    this.process = fork(file, [], {
      execArgv: ['--import', 'tsx', ...execArgv],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    children.add(this.process)
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code) => {
        children.delete(this.process)
        for (const { reject } of this.#pending.values()) reject(new Error(`${name} exited (code ${code}) with a command in flight`))
        this.#pending.clear()
        resolve(code)
      })
    })
    this.process.on('message', (message: Reply | { ready: true }) => {
      if ('ready' in message) return
      const pending = this.#pending.get(message.id)
      if (pending === undefined) return
      this.#pending.delete(message.id)
      if (message.ok) pending.resolve(message.result)
      else pending.reject(new Error(`${name}: ${message.error}`))
    })
  }

  /** Forks `file` and resolves once the child listens for commands. */
  static async start<C extends Commands> (name: string, file: URL, execArgv: string[] = [], timeoutMs = 30_000): Promise<Child<C>> {
    const child = new Child<C>(name, file, execArgv)
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        child.process.on('message', (message: { ready?: true }) => { if (message.ready === true) resolve() })
        child.exited.then((code) => reject(new Error(`${name} exited (code ${code}) before it was ready`)), reject)
      }),
      timeoutMs,
      `${name} did not start`
    )
    return child
  }

  call<K extends keyof C & string> (command: K, args: Parameters<C[K]>[0], timeoutMs = 60_000): Promise<Awaited<ReturnType<C[K]>>> {
    const id = ++this.#next
    const reply = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.process.send({ id, command, args } satisfies Request)
    })
    return withTimeout(reply, timeoutMs, `${this.name}: ${command} took more than ${timeoutMs} ms`).finally(() => this.#pending.delete(id)) as Promise<Awaited<ReturnType<C[K]>>>
  }

  /** Asks the child to close what it opened and exit; kills it if it has not within `timeoutMs`. */
  async stop (timeoutMs = 10_000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    this.process.send({ id: 0, command: '$exit', args: undefined } satisfies Request)
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs)
    await this.exited
    clearTimeout(timer)
  }
}

export function withTimeout<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
