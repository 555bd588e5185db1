// Waiting in tests, in one place: every wait has a deadline, and when it runs out the error says what
// was awaited, so that a test fails with a reason instead of hanging until tap's timeout.

import type { Test } from 'tap'
import type { ServerMessage } from '../../schemas/index.js'
import type { TestClient } from './helpers.js'

/** How long a wait lasts when the caller does not say: far beyond what a passing test needs. */
export const WAIT_MS = 30_000

/** Resolves once `condition()` holds; polls every `intervalMs`, so it also sees state changed in place. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = WAIT_MS, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Resolves within `ms`, or rejects saying what did not happen. */
export function within<Value> (promise: Promise<Value>, ms: number, what: string): Promise<Value> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** Resolves after pending I/O callbacks ran, so that frames already written can reach the client. */
export function tick (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Resolves once Date.now() has moved past its value at the call: timestamps taken after differ. */
export function nextMillisecond (): Promise<void> {
  const now = Date.now()
  return until(() => Date.now() > now, 'the clock to move on')
}

/**
 * The first frame `client` received (so far or within `timeoutMs`) that `match` accepts, from frame
 * `from` on; it does not move the cursor of `client.next()` (see `client.nextWhere` for that).
 */
export async function frameWhere (
  client: TestClient,
  match: (frame: ServerMessage) => boolean,
  what: string,
  { timeoutMs = 10_000, from = 0 } = {}
): Promise<ServerMessage> {
  const deadline = Date.now() + timeoutMs
  for (let index = from; ; index++) {
    if (Date.now() > deadline) throw new Error(`${what}: timed out after ${timeoutMs} ms, ${index - from} frames read`)
    const frames = await client.waitFor(index + 1, Math.max(1, deadline - Date.now())).catch((error: Error) => {
      throw new Error(`${what}: ${error.message}`)
    })
    const frame = frames[index] as ServerMessage
    if (match(frame)) return frame
  }
}

/**
 * Runs `step` over and over in the background (an engine that keeps broadcasting) until `stop()`,
 * which resolves once the step under way has ended. The loop stops by itself at `timeoutMs` (and
 * `stop()` then rejects saying so), and when the test ends: a test that fails half-way leaves
 * nothing running.
 */
export function repeat (t: Test, step: () => Promise<void>, what: string, timeoutMs = WAIT_MS) {
  let running = true
  const deadline = Date.now() + timeoutMs
  const loop = (async () => {
    while (running) {
      if (Date.now() > deadline) throw new Error(`${what} still running after ${timeoutMs} ms`)
      await step()
    }
  })()
  // Seen by stop() or by the teardown: never an unhandled rejection meanwhile.
  loop.catch(() => {})
  const stop = async (): Promise<void> => {
    running = false
    await loop
  }
  t.teardown(() => stop().catch(() => {}))
  return { stop }
}
