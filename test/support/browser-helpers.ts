// What the browser tests share: Debian's chromium (nothing downloads a browser), and the example
// server in a child process, started exactly as `npm start` would, so example code stays out of the
// test's process (and out of the library's coverage).

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const CHROMIUM = '/usr/bin/chromium'
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `body` with a time limit when Debian's chromium is installed; without it, skips the file (fails in CI). */
export async function withChromium (t: Test, timeoutMs: number, body: () => Promise<void>): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    // Locally a missing browser is an environment gap; in CI it is a broken pipeline.
    if (process.env.CI) t.fail(`${CHROMIUM} is missing: .ci/run must install Debian's chromium package`)
    else t.plan(0, `browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`)
    return
  }
  t.setTimeout(timeoutMs)
  await body()
}

/**
 * The environment for a child process of the example: tap re-injects its process tracking into every
 * child; this tells it to record no coverage there. The example is not library code, and its modules
 * (compiled by tsx, not tap's loader) would be merged by URL with the tests' coverage of lib/ at other
 * offsets, corrupting the report.
 */
export function exampleEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  delete env.NODE_V8_COVERAGE
  return env
}

/** Starts `examples/server.ts` with `args` in a child process on a free port, and resolves with its URL. */
export function startExampleServer (args: string[]): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/server.ts', '--port', '0', '--host', '127.0.0.1', '--quiet', ...args],
    { cwd: ROOT, env: exampleEnv(), stdio: ['ignore', 'pipe', 'pipe'] }
  )
  return listening(child).then((url) => ({ url, process: child }))
}

/** The URL the example prints when it listens (its first line that says so). */
export function listening (child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (http:\/\/\S+\/)/.exec(output)
      if (match !== null) resolve(match[1] as string)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`the example server exited with ${code} before listening:\n${output}`)))
  })
}
