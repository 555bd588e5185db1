// What a new user of the demo runs into, in a real browser (Debian's chromium through playwright-core):
// a run that waits for a human says so in the list (live, from the list's `open_gates`: the gate opens
// after the list was loaded, and a decision takes the mark away) and in its pill; the keyboard reaches a decision in
// a few presses and focus lands on a confirmation after it; a graph that is not live looks it (while
// reconnecting, and while the page is too busy to draw); and `kill <pid of npm start>` stops the server. Screenshots go to artifacts/screenshots/ux-*.png.

import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import t, { type Test } from 'tap'
import type { ListServerFrame } from '../../schemas/index.js'
import { CHROMIUM, CHROMIUM_ARGS, exampleEnv, listening, ROOT, startExampleServer, withChromium } from '../support/browser-helpers.js'

const SCREENSHOTS = join(ROOT, 'artifacts', 'screenshots')

await withChromium(t, 300_000, async () => {
  await run()
  await t.test('kill <pid of npm start> stops the server and frees its port', npmKill)
})

async function run (): Promise<void> {
  const server = await startExampleServer(['--speed', '2', '--seed', '7', '--runs', '0', '--chaos'])
  t.teardown(() => {
    server.process.kill('SIGTERM')
  })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const pageErrors: string[] = []
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (error) => pageErrors.push(error.message))
  mkdirSync(SCREENSHOTS, { recursive: true })
  const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `ux-${name}.png`) })
  // What the run list's socket (`GET /api/dags`, upgraded) receives, to tell a page from a change.
  const listFrames: ListServerFrame[] = []
  page.on('websocket', (socket) => {
    if (new URL(socket.url()).pathname !== '/api/dags') return
    socket.on('framereceived', ({ payload }) => listFrames.push(JSON.parse(String(payload)) as ListServerFrame))
  })
  /** The open gates of `dagId` in each list frame that names it: `page 0` for a page, `change 1` for a change. */
  const listed = (dagId: string) => listFrames.flatMap((frame) => {
    if (frame.type === 'dag_list') return frame.dags.filter((dag) => dag.dag_id === dagId).map((dag) => `page ${dag.open_gates}`)
    return frame.type === 'dag_changed' && frame.dag.dag_id === dagId ? [`${frame.change} ${frame.dag.open_gates}`] : []
  })

  await page.goto(server.url)
  await page.getByTestId('new-run').click()
  await page.waitForFunction(() => window.location.hash.length > 1)
  const dagId = decodeURIComponent(await page.evaluate(() => window.location.hash.slice(1)))
  await page.locator('[data-testid="connection"][data-state="open"]').waitFor()

  await t.test('while reconnecting, the graph is greyed and says it is not live; live again, it is not', async (t) => {
    await page.locator('.react-flow__node').first().waitFor()
    t.equal(await page.getByTestId('graph').getAttribute('data-stale'), 'false', 'live: not greyed')
    const response = await fetch(new URL('api/debug/drop-connections', server.url), { method: 'POST' })
    t.ok(response.ok)
    await page.locator('[data-testid="connection"][data-state="reconnecting"]').waitFor()
    t.equal(await page.getByTestId('graph').getAttribute('data-stale'), 'true', 'reconnecting: the graph is marked not live')
    const opacity = await page.evaluate(() => getComputedStyle(document.querySelector('.react-flow__viewport') as Element).opacity)
    t.ok(Number(opacity) < 1, `and drawn greyed (opacity ${opacity})`)
    t.equal(await page.locator('.react-flow__edge.animated').count(), 0, 'no edge is animated as if data flowed')
    await shoot('reconnecting')
    await page.locator('[data-testid="connection"][data-state="open"]').waitFor({ timeout: 20_000 })
    await page.locator('[data-testid="graph"][data-stale="false"]').waitFor()
    t.pass('live again: not greyed')
  })

  await t.test('a page too busy to draw says it is behind, not "Live"; once it keeps up, it is live again', async (t) => {
    await page.locator('[data-testid="connection"][data-state="open"][data-behind="false"]').waitFor()
    // The page's thread busy for 1.5 s at a time, 0.1 s free between: what a render of seconds does
    // on a slow machine. Nothing is drawn while it spins, whatever the stream sends.
    await page.evaluate(() => {
      const page = window as unknown as { busy: boolean }
      page.busy = true
      const spin = () => {
        if (!page.busy) return
        const end = Date.now() + 1500
        while (Date.now() < end) { /* the thread is taken */ }
        setTimeout(spin, 100)
      }
      setTimeout(spin, 0)
    })
    const badge = page.getByTestId('connection')
    await page.locator('[data-testid="connection"][data-behind="true"]').waitFor({ timeout: 20_000 })
    t.match(await badge.textContent(), /^Behind by \d+ s$/, 'the badge says how far behind')
    t.equal(await page.getByTestId('graph').getAttribute('data-stale'), 'true', 'and the graph is drawn as not live')
    await shoot('behind')
    await page.evaluate(() => {
      (window as unknown as { busy: boolean }).busy = false
    })
    await page.locator('[data-testid="connection"][data-state="open"][data-behind="false"]').waitFor({ timeout: 20_000 })
    t.equal(await badge.textContent(), 'Live', 'live again once the thread is free')
  })

  await t.test('a run waiting for a human is marked in the list and in its pill, by a change the list is sent', async (t) => {
    await page.getByTestId('gate-panel').waitFor({ timeout: 60_000 })
    t.equal(await page.getByTestId('execution-status').textContent(), 'Needs decision', 'the pill')
    const item = page.locator(`[data-testid="run-item"][data-dag-id="${dagId}"]`)
    await item.getByTestId('run-waiting').waitFor({ timeout: 10_000 })
    t.equal(await item.getByTestId('run-waiting').textContent(), 'Needs decision', 'the list')
    t.equal(await item.getAttribute('data-open-gates'), '1')
    const told = listed(dagId)
    t.equal(told.at(-1), 'open_gates_changed 1', `the gate opened after the list was loaded: the mark came live (${told.join(', ')})`)
    t.notOk(told.slice(0, -1).some((each) => each.endsWith(' 1')), 'no page or change before it had the gate')
    t.ok(await page.getByTestId('jump-to-gate').isVisible(), '"Decision needed" shows with the panel open')
    await shoot('waiting')
  })

  await t.test('the keyboard reaches Approve in a few presses, and focus lands on a confirmation after the decision', async (t) => {
    // From the top of the page, as a keyboard user arrives (the link in the hash keeps the run).
    await page.reload()
    await page.getByTestId('gate-panel').waitFor()
    let presses = 0
    const press = async (key: string) => {
      presses += 1
      await page.keyboard.press(key)
    }
    await press('Tab')
    t.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'skip-to-panel', 'the first Tab reaches the skip link')
    await press('Enter')
    await page.waitForFunction(() => document.activeElement?.id === 'run-side-panel')
    for (let tries = 0; tries < 10; tries += 1) {
      if (await page.evaluate(() => document.activeElement?.getAttribute('data-testid')) === 'gate-approve') break
      await press('Tab')
    }
    t.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'gate-approve', `Approve has focus after ${presses} key presses`)
    t.ok(presses <= 6, `${presses} presses (it took 31)`)
    await press('Enter')
    await page.getByTestId('decision-confirmation').waitFor({ timeout: 20_000 })
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'decision-confirmation')
    t.match(await page.getByTestId('decision-confirmation').textContent(), /^You approved “.+”/, 'this tab is told its decision was taken')
    t.not(await page.evaluate(() => document.activeElement?.tagName), 'BODY', 'focus is not lost to the page')
    await shoot('decided')
    // The page was reloaded before the decision: its list page had the gate, and the decision takes the mark away.
    const item = page.locator(`[data-testid="run-item"][data-dag-id="${dagId}"]`)
    await item.getByTestId('run-waiting').waitFor({ state: 'detached', timeout: 10_000 })
    t.equal(await item.getAttribute('data-open-gates'), '0', 'the list no longer marks the run')
    const told = listed(dagId)
    const lastPage = told.findLastIndex((each) => each.startsWith('page'))
    t.same(told.slice(lastPage, lastPage + 2), ['page 1', 'open_gates_changed 0'], `the page after the reload had the gate; a change took it away (${told.join(', ')})`)
  })

  t.same(pageErrors, [], 'no uncaught errors in the page')
}

async function npmKill (t: Test): Promise<void> {
  // npm runs the script under `sh -c`: the signal reaches npm and the shell, not the server.
  const npm = spawn('npm', ['start', '--', '--port', '0', '--host', '127.0.0.1', '--runs', '0', '--quiet'], { cwd: ROOT, env: exampleEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const url = await listening(npm)
  t.ok((await fetch(url)).ok, 'it serves the dashboard')
  npm.kill('SIGTERM')
  const deadline = Date.now() + 10_000
  let stopped = false
  while (!stopped && Date.now() < deadline) {
    stopped = await fetch(url).then(() => false, () => true)
    if (!stopped) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.ok(stopped, 'the port no longer answers within 10 s')
}
