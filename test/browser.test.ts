// The example in a real browser: Debian's chromium driven by playwright-core (nothing downloads a
// browser). The example server runs in a child process, started exactly as `npm start` would, so
// example code stays out of this process (and out of the library's coverage).

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import type { DAGSnapshot } from '../schemas/index.js'

const CHROMIUM = '/usr/bin/chromium'
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SCREENSHOTS = join(ROOT, 'artifacts', 'screenshots')
/** Fast enough to finish a run in seconds, slow enough to see every state. */
const SPEED = 2

if (!existsSync(CHROMIUM)) {
  // Locally a missing browser is an environment gap; in CI it is a broken pipeline.
  if (process.env.CI) t.fail(`${CHROMIUM} is missing: .ci/run must install Debian's chromium package`)
  else t.plan(0, `browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`)
} else {
  t.setTimeout(180_000)
  await run()
}

async function run (): Promise<void> {
  const server = await startExampleServer()
  t.teardown(() => {
    server.process.kill('SIGTERM')
  })
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  const pageErrors: string[] = []
  page.on('pageerror', (error) => pageErrors.push(error.message))
  mkdirSync(SCREENSHOTS, { recursive: true })
  const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) })
  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(new URL(path, server.url), init)
    return (await response.json()) as T
  }

  await page.goto(server.url)
  let dagId = ''

  await t.test('a new run starts and its nodes progress to completed', async (t) => {
    await page.getByTestId('new-run').click()
    await page.waitForFunction(() => window.location.hash.length > 1)
    dagId = decodeURIComponent(await page.evaluate(() => window.location.hash.slice(1)))
    await page.getByTestId('run-id').filter({ hasText: dagId }).waitFor()
    await page.locator(`[data-testid="run-item"][data-dag-id="${dagId}"]`).waitFor()
    await page.getByTestId('connection').and(page.locator('[data-state="open"]')).waitFor()
    await page.waitForFunction(() => document.querySelectorAll('[data-status="completed"]').length >= 3)
    t.ok((await doneCount(page)) >= 3, 'three steps are done')
    t.ok((await page.getByTestId('progress').getAttribute('data-total')) !== '0', 'the graph has nodes')
    await shoot('01-running')
  })

  await t.test('the cost ticker moves', async (t) => {
    const before = await page.getByTestId('cost-spent').textContent()
    await page.waitForFunction((text) => document.querySelector('[data-testid="cost-spent"]')?.textContent !== text, before, { timeout: 20_000 })
    const after = await page.getByTestId('cost-spent').textContent()
    t.not(after, before, `spent went from ${before} to ${after}`)
    t.match(await page.getByTestId('cost-budget').textContent(), /^\$\d/)
  })

  await t.test('after every socket is cut, the page reconnects and matches the snapshot', async (t) => {
    const { dropped } = await api<{ dropped: number }>('api/debug/drop-connections', { method: 'POST' })
    t.ok(dropped >= 1, `the server dropped ${dropped} socket(s)`)
    const atCut = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(dagId)}`)
    await page.locator('[data-testid="connection"][data-state="reconnecting"]').waitFor()
    t.match(await page.getByTestId('connection').textContent(), /Reconnecting/)
    await shoot('02-reconnecting')
    // Events keep coming while the page is away; it must get exactly those on resume.
    await page.locator('[data-testid="connection"][data-state="open"]').waitFor({ timeout: 20_000 })
    // Pause so the comparison below looks at a state that holds still.
    await page.getByTestId('control-pause').click()
    await page.locator('[data-testid="execution-status"][data-status="paused"]').waitFor()
    const snapshot = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(dagId)}`)
    t.ok(snapshot.seq > atCut.seq, `events ${atCut.seq + 1}–${snapshot.seq} were sent after the cut`)
    await page.waitForFunction((count) => document.querySelectorAll('[data-testid^="node-"][data-status]').length === count, snapshot.nodes.length)
    t.same(await nodeStatuses(page), Object.fromEntries(snapshot.nodes.map((node) => [node.id, node.status])), 'every node as the server has it')
    t.equal(await page.getByTestId('cost-spent').textContent(), `$${snapshot.cost?.spent.toFixed(4)}`, 'the same cost')
    t.equal(await page.getByTestId('execution-status').getAttribute('data-status'), snapshot.status)
  })

  await t.test('pause stops progress and resume continues it', async (t) => {
    const paused = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(dagId)}`)
    const done = await doneCount(page)
    t.ok(await page.locator('[data-testid^="node-"][data-status="running"]').count() > 0, 'steps were in flight when paused')
    await shoot('03-paused')
    // At SPEED 2 this is longer than most steps take.
    await page.waitForTimeout(1500)
    t.equal(await doneCount(page), done, 'nothing finished while paused')
    t.equal((await api<DAGSnapshot>(`api/dags/${encodeURIComponent(dagId)}`)).seq, paused.seq, 'the engine sent nothing while paused')
    await page.getByTestId('control-resume').click()
    await page.locator('[data-testid="execution-status"][data-status="running"]').waitFor()
    await page.waitForFunction((count) => Number(document.querySelector('[data-testid="progress"]')?.getAttribute('data-done')) > count, done)
    t.pass('steps finish again after resume')
  })

  await t.test('a human gate can be approved and the run continues', async (t) => {
    const gate = page.getByTestId('gate-panel')
    await gate.waitFor({ timeout: 30_000 })
    t.equal(await page.getByTestId('node-review').getAttribute('data-status'), 'waiting_human')
    await shoot('04-gate-waiting')
    await page.getByTestId('gate-approve').click()
    await gate.waitFor({ state: 'detached' })
    await page.locator('[data-testid="node-review"][data-status="completed"]').waitFor()
    // What follows the gate only runs because it was approved.
    await page.locator('[data-testid="node-polish"][data-status="completed"]').waitFor({ timeout: 20_000 })
    t.pass('polish ran after the approval')
    await page.locator('[data-testid="execution-status"][data-status="completed"]').waitFor({ timeout: 30_000 })
    t.same(new Set(Object.values(await nodeStatuses(page))), new Set(['completed']), 'every step completed')
    await page.getByTestId('run-results').waitFor()
    await page.getByTestId('node-draft').click()
    await page.getByTestId('node-output').waitFor()
    await shoot('05-completed')
  })

  let secondId = ''

  await t.test('"modify" with feedback adds a revision step while the run is in flight', async (t) => {
    await page.getByTestId('new-run').click()
    await page.waitForFunction((previous) => decodeURIComponent(window.location.hash.slice(1)) !== previous, dagId)
    secondId = decodeURIComponent(await page.evaluate(() => window.location.hash.slice(1)))
    await page.getByTestId('gate-panel').waitFor({ timeout: 30_000 })
    t.ok(await page.getByTestId('gate-modify').isDisabled(), 'modify needs feedback first')
    t.equal(await page.getByTestId('node-revise').count(), 0, 'no revision step before the decision')
    await page.getByTestId('gate-feedback').fill('Lead with the cost numbers')
    await page.getByTestId('gate-modify').click()
    await page.getByTestId('gate-panel').waitFor({ state: 'detached' })
    await page.getByTestId('node-revise').waitFor()
    await page.getByTestId('node-revise').click()
    await page.locator('[data-testid="node-details"][data-node-id="revise"]').waitFor()
    await page.locator('[data-testid="node-revise"][data-status="completed"]').waitFor({ timeout: 20_000 })
    t.match(await page.getByTestId('node-output').textContent(), /Lead with the cost numbers/, 'the revision applied the feedback')
    await shoot('06-modified')
  })

  await t.test('cancel ends a run', async (t) => {
    await page.locator('[data-testid="node-polish"][data-status="running"]').waitFor({ timeout: 20_000 })
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByTestId('control-cancel').click()
    await page.locator('[data-testid="execution-status"][data-status="cancelled"]').waitFor()
    const statuses = await nodeStatuses(page)
    t.notOk(Object.values(statuses).includes('running') || Object.values(statuses).includes('queued'), 'nothing is left running')
    t.equal(statuses.polish, 'cancelled', 'the step in flight was cancelled')
    t.ok(await page.getByTestId('control-cancel').isDisabled(), 'a finished run cannot be cancelled again')
    const snapshot = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(secondId)}`)
    t.equal(snapshot.status, 'cancelled')
    await page.waitForTimeout(500)
    t.equal((await api<DAGSnapshot>(`api/dags/${encodeURIComponent(secondId)}`)).seq, snapshot.seq, 'the engine stopped')
    await shoot('07-cancelled')
  })

  t.same(pageErrors, [], 'no uncaught errors in the page')
}

/** Starts `examples/server.ts` in a child process on a free port and resolves with its URL. */
function startExampleServer (): Promise<{ url: string; process: ChildProcess }> {
  // tap re-injects its process tracking into every child; this tells it to record no coverage there.
  // The example is not library code, and its modules (compiled by tsx, not tap's loader) would be
  // merged by URL with the tests' coverage of lib/ at other offsets, corrupting the report.
  const env: NodeJS.ProcessEnv = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  delete env.NODE_V8_COVERAGE
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/server.ts', '--port', '0', '--host', '127.0.0.1', '--speed', String(SPEED), '--seed', '7', '--runs', '0', '--chaos', '--quiet'],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }
  )
  return new Promise((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (http:\/\/\S+\/)/.exec(output)
      if (match !== null) resolve({ url: match[1] as string, process: child })
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`the example server exited with ${code} before listening:\n${output}`)))
  })
}

async function doneCount (page: Page): Promise<number> {
  return Number(await page.getByTestId('progress').getAttribute('data-done'))
}

/** Node id → status, as the page shows it. */
function nodeStatuses (page: Page): Promise<Record<string, string>> {
  return page.evaluate(() =>
    Object.fromEntries(
      Array.from(document.querySelectorAll('[data-testid^="node-"][data-status]')).map((element) => [
        (element.getAttribute('data-testid') as string).slice('node-'.length),
        element.getAttribute('data-status') as string
      ])
    )
  )
}
