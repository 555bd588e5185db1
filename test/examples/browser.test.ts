// The example in a real browser: Debian's chromium driven by playwright-core (nothing downloads a
// browser). The example server runs in a child process, started exactly as `npm start` would, so
// example code stays out of this process (and out of the library's coverage).
//
// Every state a user meets is saved under artifacts/screenshots/ (ignored by git), and the main ones
// are checked with axe-core: no serious or critical accessibility violation.

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import axe from 'axe-core'
import { chromium, type Browser, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import type { DAGSnapshot } from '../../schemas/index.js'
import { until } from '../support/wait.js'
import { CHROMIUM, CHROMIUM_ARGS, ROOT, startExampleServer, withChromium } from '../support/browser-helpers.js'

const SCREENSHOTS = join(ROOT, 'artifacts', 'screenshots')
/** Fast enough to finish a run in seconds, slow enough to see every state. */
const SPEED = 2
const DESKTOP = { width: 1440, height: 900 }
const LAPTOP = { width: 1024, height: 768 }
const PHONE = { width: 390, height: 844 }

await withChromium(t, 420_000, run)

async function run (): Promise<void> {
  const server = await startExampleServer(['--speed', String(SPEED), '--seed', '7', '--runs', '0', '--chaos'])
  t.teardown(() => {
    server.process.kill('SIGTERM')
  })
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS
  })
  t.teardown(() => browser.close())
  const pageErrors: string[] = []
  const openPage = async (viewport: { width: number; height: number }) => {
    const opened = await browser.newPage({ viewport })
    opened.on('pageerror', (error) => pageErrors.push(error.message))
    return opened
  }
  const page = await openPage(DESKTOP)
  mkdirSync(SCREENSHOTS, { recursive: true })
  const shoot = (name: string, on: Page = page, fullPage = false) => on.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage })
  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(new URL(path, server.url), init)
    return (await response.json()) as T
  }

  await page.goto(server.url)
  let dagId = ''
  let costAtStart: string | null = null

  await t.test('a new run starts and its nodes progress to completed', async (t) => {
    await page.getByTestId('new-run').click()
    await page.waitForFunction(() => window.location.hash.length > 1)
    dagId = decodeURIComponent(await page.evaluate(() => window.location.hash.slice(1)))
    await page.getByTestId('run-id').filter({ hasText: dagId }).waitFor()
    await page.locator(`[data-testid="run-item"][data-dag-id="${dagId}"]`).waitFor()
    await page.getByTestId('connection').and(page.locator('[data-state="open"]')).waitFor()
    await watchGraphChurn(page)
    await page.waitForFunction(() => document.querySelectorAll('[data-status="completed"]').length >= 3)
    t.ok((await doneCount(page)) >= 3, 'three steps are done')
    const churn = await graphChurn(page)
    t.ok(churn.statusChanges > 0, `${churn.statusChanges} status changes on the cards`)
    t.same({ hidden: churn.hidden, edgesRemoved: churn.edgesRemoved }, { hidden: 0, edgesRemoved: 0 }, 'no card was hidden to be measured again, no edge taken away meanwhile')
    t.ok((await page.getByTestId('progress').getAttribute('data-total')) !== '0', 'the graph has nodes')
    costAtStart = await page.getByTestId('cost-spent').textContent()
    await shoot('01-running')
  })

  await t.test('the details of a step that is generating show its text growing', async (t) => {
    // Steps generate for a second or two at this speed: open the details of the one that started
    // last, and try another if it finishes before its text was seen growing.
    const details = (id: string) => page.locator(`[data-testid="node-details"][data-node-id="${id}"]`)
    let watched: { nodeId: string, first: string, later: string } | undefined
    for (const deadline = Date.now() + 60_000; watched === undefined; await new Promise((resolve) => setTimeout(resolve, 50))) {
      if (Date.now() > deadline) throw new Error('timed out waiting for a step generating text')
      const snapshot = await api<DAGSnapshot>(`/api/dags/${encodeURIComponent(dagId)}`)
      const generating = snapshot.nodes.filter((node) => node.status === 'running' && (node.partial_output?.length ?? 0) > 0)
      const nodeId = generating.sort((a, b) => (a.partial_output?.length ?? 0) - (b.partial_output?.length ?? 0))[0]?.id
      if (nodeId === undefined) continue
      await page.locator(`.react-flow__node[data-id="${nodeId}"]`).click()
      const live = details(nodeId).getByTestId('node-partial-output')
      await live.or(details(nodeId).getByTestId('node-output')).waitFor()
      const first = await live.count() === 1 ? await live.textContent() ?? '' : undefined
      if (first === undefined) continue
      await shoot('01b-live-output')
      const grown = await page.waitForFunction(({ id, length }) => {
        const text = document.querySelector(`[data-testid="node-details"][data-node-id="${id}"] [data-testid="node-partial-output"]`)?.textContent
        // The step may finish first: its final output then stands there instead.
        if (text === undefined || text === null) return { finished: true, text: '' }
        return text.length > length + 20 ? { finished: false, text } : false
      }, { id: nodeId, length: first.length })
      const result = await grown.jsonValue() as { finished: boolean, text: string }
      if (!result.finished) watched = { nodeId, first, later: result.text }
    }
    const { nodeId, first, later } = watched
    t.ok(later.startsWith(first), `the text grew from ${first.length} to ${later.length} characters, by appending`)
    await shoot('01c-live-output-grown')
    // Once the step completes, its final output replaces the text it streamed.
    await details(nodeId).getByTestId('node-output').waitFor({ timeout: 20_000 })
    t.equal(await details(nodeId).getByTestId('node-partial-output').count(), 0, 'the streamed text gave way to the final output')
    await page.getByRole('button', { name: /^Close the details of / }).click()
  })

  await t.test('after every socket is cut, the page reconnects and matches the snapshot', async (t) => {
    // The first frame of the countdown, caught as React commits it: what it says, and when.
    await page.evaluate(() => {
      const badge = document.querySelector('[data-testid="connection"]') as HTMLElement
      const observer = new MutationObserver(() => {
        if (badge.dataset.state !== 'reconnecting') return
        observer.disconnect()
        const frame = { text: badge.textContent, now: Date.now(), retryAt: Number(badge.dataset.retryAt) }
        ;(window as unknown as { firstCountdownFrame: typeof frame }).firstCountdownFrame = frame
      })
      observer.observe(badge, { attributes: true, childList: true, subtree: true, characterData: true })
    })
    const { dropped } = await api<{ dropped: number }>('api/debug/drop-connections', { method: 'POST' })
    t.ok(dropped >= 1, `the server dropped ${dropped} socket(s)`)
    const atCut = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(dagId)}`)
    await page.locator('[data-testid="connection"][data-state="reconnecting"]').waitFor()
    t.match(await page.getByTestId('connection').textContent(), /Reconnecting/)
    await shoot('02-reconnecting')
    const first = await page.evaluate(() => (window as unknown as { firstCountdownFrame: { text: string; now: number; retryAt: number } }).firstCountdownFrame)
    const shown = Number(/in (\d+\.\d) s/.exec(first.text)?.[1] ?? '0')
    const actual = Math.max(0, first.retryAt - first.now) / 1000
    t.ok(Math.abs(shown - actual) <= 0.15, `the first frame says "${first.text}" for a retry ${actual.toFixed(2)} s away`)

    // Events keep coming while the page is away; it must get exactly those on resume.
    await page.locator('[data-testid="connection"][data-state="open"]').waitFor({ timeout: 20_000 })
    // Pause so the comparison below looks at a state that holds still.
    await pauseWhileAStepRuns(page)
    const snapshot = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(dagId)}`)
    t.ok(snapshot.seq > atCut.seq, `events ${atCut.seq + 1}–${snapshot.seq} were sent after the cut`)
    await page.waitForFunction((count) => document.querySelectorAll('[data-testid^="node-"][data-status]').length === count, snapshot.nodes.length)
    t.same(await nodeStatuses(page), Object.fromEntries(snapshot.nodes.map((node) => [node.id, node.status])), 'every node as the server has it')
    t.equal(await page.getByTestId('cost-spent').textContent(), `$${snapshot.cost?.spent.toFixed(4)}`, 'the same cost')
    t.equal(await page.getByTestId('execution-status').getAttribute('data-status'), snapshot.status)
  })

  await t.test('pause stops progress, says what the steps in flight do, and resume continues', async (t) => {
    const paused = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(dagId)}`)
    const done = await doneCount(page)
    const inFlight = page.locator('[data-testid^="node-"][data-status="running"]')
    const held = await inFlight.count()
    t.ok(held > 0, 'steps were in flight when paused')
    for (const step of await inFlight.all()) {
      t.equal(await step.getAttribute('data-held'), 'true')
      t.match(await step.textContent(), /On hold/, 'a step in flight says it is on hold, not running')
      t.match(await step.getAttribute('title'), /continues when the run resumes/, 'and its tooltip says what that means')
    }
    t.equal(await page.getByTestId('progress-hint').textContent(), `${held} on hold until resumed`)
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

  await t.test('the cost ticker moves while the run goes on', async (t) => {
    const before = costAtStart
    await page.waitForFunction((text) => document.querySelector('[data-testid="cost-spent"]')?.textContent !== text, before, { timeout: 20_000 })
    const after = await page.getByTestId('cost-spent').textContent()
    t.not(after, before, `spent went from ${before} to ${after}`)
    t.match(await page.getByTestId('cost-budget').textContent(), /^\$\d/)
    await checkAccessibility(t, page, 'a running run')
  })

  await t.test('a human gate can be approved and the run continues', async (t) => {
    const gate = page.getByTestId('gate-panel')
    await gate.waitFor({ timeout: 30_000 })
    t.equal(await page.getByTestId('node-review').getAttribute('data-status'), 'waiting_human')
    await shoot('04-gate-waiting')
    await checkAccessibility(t, page, 'a gate waiting')
    await page.getByTestId('gate-approve').click()
    await gate.waitFor({ state: 'detached' })
    await page.locator('[data-testid="node-review"][data-status="completed"]').waitFor()
    // What follows the gate only runs because it was approved.
    await page.locator('[data-testid="node-polish"][data-status="completed"]').waitFor({ timeout: 20_000 })
    t.pass('polish ran after the approval')
    await page.locator('[data-testid="execution-status"][data-status="completed"]').waitFor({ timeout: 30_000 })
    t.same(new Set(Object.values(await nodeStatuses(page))), new Set(['completed']), 'every step completed')
    await page.getByTestId('run-results').waitFor()
    t.equal(await page.getByTestId('decision-notice').count(), 0, 'no notice for a decision this tab took')

    // Fact-checking failed once and was retried: a run that then completed has nothing left to fix.
    const errors = page.getByTestId('run-error')
    t.ok(await errors.count() > 0, 'the engine reported the failed attempt')
    for (const error of await errors.all()) t.equal(await error.getAttribute('data-outcome'), 'resolved', await error.textContent() ?? '')
    t.match(await page.getByTestId('run-errors').textContent(), /Errors the run recovered from.*resolved: retried, then succeeded/)
    await shoot('05-completed')
    await checkAccessibility(t, page, 'a finished run')

    // Labels cut short to fit a card carry their whole text in the tooltip.
    const labels = await page.evaluate(() => Array.from(document.querySelectorAll('.step__label'), (label) => ({
      text: label.textContent as string,
      title: label.closest('[title]')?.getAttribute('title') ?? ''
    })))
    t.ok(labels.length > 10)
    t.same(labels.filter(({ text, title }) => !title.startsWith(text)), [], 'every step label is whole in its tooltip')

    // A step is selected with the keyboard as with the mouse.
    await page.locator('.react-flow__node[data-id="draft"]').focus()
    await page.keyboard.press('Enter')
    await page.locator('[data-testid="node-details"][data-node-id="draft"]').waitFor()
    await page.getByTestId('node-output').waitFor()
    const facts = await page.evaluate(() => Array.from(document.querySelectorAll('[data-testid="fact-name"]'), (name) => [name.textContent, name.nextElementSibling?.textContent]))
    const latency = facts.find(([name]) => name === 'Latency')
    t.match(latency?.[1], /^\d+\.\d\d s$/, `the latency is in seconds, and its label says no other unit (${JSON.stringify(facts)})`)
    t.notOk(facts.some(([name]) => /ms$/i.test(name ?? '')), 'no label names milliseconds')
    await shoot('05b-step-details')
  })

  let secondId = ''

  await t.test('the keyboard decides a gate; the tab that loses the race is told which decision won', async (t) => {
    await page.getByTestId('new-run').click()
    await page.waitForFunction((previous) => decodeURIComponent(window.location.hash.slice(1)) !== previous, dagId)
    secondId = decodeURIComponent(await page.evaluate(() => window.location.hash.slice(1)))

    // A second tab, whose incoming frames the test can hold back: it still shows the gate when the
    // first tab's decision has already closed it, as a slower link would.
    const other = await openPage(DESKTOP)
    let holding = false
    const held: Array<() => void> = []
    let refusals = 0
    await other.routeWebSocket(/\/stream/, (socket) => {
      const upstream = socket.connectToServer()
      upstream.onMessage((message) => {
        if (!holding) return socket.send(message)
        held.push(() => socket.send(message))
        if (String(message).includes('gate_already_decided')) refusals++
      })
    })
    await other.goto(`${server.url}#${encodeURIComponent(secondId)}`)

    await page.getByTestId('gate-panel').waitFor({ timeout: 30_000 })
    await other.getByTestId('gate-panel').waitFor({ timeout: 30_000 })
    t.ok(await page.getByTestId('gate-modify').isDisabled(), 'modify needs feedback first')
    t.equal(await page.getByTestId('node-revise').count(), 0, 'no revision step before the decision')
    holding = true

    // From the top of the page, Tab alone reaches the gate's form.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur())
    const presses = await tabTo(page, 'gate-feedback')
    t.ok(presses > 0, `Tab reached the feedback field in ${presses} presses`)
    await page.keyboard.type('Lead with the cost numbers')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Tab')
    t.equal(await focusedTestId(page), 'gate-modify', 'Tab moves on to the decisions, modify enabled by the feedback')
    await page.keyboard.press('Enter')
    await page.getByTestId('gate-panel').waitFor({ state: 'detached' })

    // The other tab has not heard yet: it decides too, and the server refuses.
    await other.getByTestId('gate-feedback').fill('Cut the intro')
    await other.getByTestId('gate-reject').click()
    await until(() => refusals === 1, 'the refusal of the second decision')
    holding = false
    for (const deliver of held.splice(0)) deliver()
    const notice = other.getByTestId('decision-notice')
    await notice.waitFor()
    t.equal(await other.getByTestId('gate-panel').count(), 0, 'the gate panel is gone with the winning decision')
    t.equal(await notice.getAttribute('data-refused'), 'reject')
    t.equal(await notice.getByTestId('winning-decision').textContent(), 'Modify', 'the notice names the decision that won')
    t.equal(await notice.getByTestId('winning-feedback').textContent(), 'Lead with the cost numbers', 'and its feedback')
    t.match(await notice.textContent(), /Your decision was not applied/)
    await other.getByTestId('node-revise').waitFor()
    await graphFitted(other)
    await shoot('08-race-lost', other)
    t.equal(await page.getByTestId('decision-notice').count(), 0, 'the winner gets no notice')
    await notice.getByRole('button', { name: 'Dismiss' }).click()
    await notice.waitFor({ state: 'detached' })
    await other.close()

    // The winning decision took effect.
    await page.getByTestId('node-revise').waitFor()
    await page.getByTestId('node-revise').click()
    await page.locator('[data-testid="node-details"][data-node-id="revise"]').waitFor()
    await page.locator('[data-testid="node-revise"][data-status="completed"]').waitFor({ timeout: 20_000 })
    t.match(await page.getByTestId('node-output').textContent(), /Lead with the cost numbers/, 'the revision applied the feedback')
    await shoot('06-modified')
  })

  await t.test('cancel ends a run', async (t) => {
    // Paused, the run holds its step in flight where it is (the engine's clock stands still), so the
    // step is still in flight when the cancel arrives, however slow the machine.
    const inFlight = page.locator('[data-testid^="node-"][data-status="running"]').first()
    await inFlight.waitFor({ timeout: 20_000 })
    await page.getByTestId('control-pause').click()
    await page.locator('[data-testid="execution-status"][data-status="paused"]').waitFor()
    const held = (await page.locator('[data-testid^="node-"][data-status="running"]').first().getAttribute('data-testid') as string).slice('node-'.length)
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByTestId('control-cancel').click()
    await page.locator('[data-testid="execution-status"][data-status="cancelled"]').waitFor()
    const statuses = await nodeStatuses(page)
    t.notOk(Object.values(statuses).includes('running') || Object.values(statuses).includes('queued'), 'nothing is left running')
    t.equal(statuses[held], 'cancelled', `the step in flight (${held}) was cancelled`)
    t.ok(await page.getByTestId('control-cancel').isDisabled(), 'a finished run cannot be cancelled again')
    const snapshot = await api<DAGSnapshot>(`api/dags/${encodeURIComponent(secondId)}`)
    t.equal(snapshot.status, 'cancelled')
    await page.waitForTimeout(500)
    t.equal((await api<DAGSnapshot>(`api/dags/${encodeURIComponent(secondId)}`)).seq, snapshot.seq, 'the engine stopped')
    await shoot('07-cancelled')
  })

  await t.test('a run the server does not have says so, with its controls off and a way back', async (t) => {
    await page.goto(`${server.url}#run-that-never-was`)
    await page.getByTestId('run-not-found').waitFor()
    t.match(await page.getByTestId('run-not-found').textContent(), /This run does not exist \(any more\)/)
    t.equal(await page.getByTestId('execution-status').textContent(), 'Not found', 'not "Running"')
    t.equal(await page.getByTestId('progress').count(), 0, 'no "0 / 0 steps"')
    t.ok(await page.getByTestId('control-pause').isDisabled(), 'pause is off')
    t.ok(await page.getByTestId('control-cancel').isDisabled(), 'cancel is off')
    t.notMatch(await page.getByTestId('connection').textContent(), /Live/, 'the badge does not call it live')
    await shoot('09-not-found')
    await checkAccessibility(t, page, 'a run that does not exist')
    await page.getByTestId('back-to-runs').click()
    await page.getByTestId('no-run').waitFor()
    t.ok(await page.locator(`[data-testid="run-item"][data-dag-id="${dagId}"]`).isVisible(), 'the list of runs is in sight')
    t.equal(await page.evaluate(() => window.location.hash.slice(1)), '', 'no run selected')
  })

  await t.test('live: the run list updates itself, viewers see each other at a gate, and SSE carries a run', async (t) => {
    await page.goto(server.url)
    await page.locator('[data-testid="runs-nav"][data-list-status="open"]').waitFor()
    const listRequests: string[] = []
    page.on('request', (request) => {
      if (/\/api\/dags\?/.test(request.url())) listRequests.push(request.url())
    })
    // A run started by someone else appears in the list without a reload, and its status follows.
    const { dag_id: liveId } = await api<{ dag_id: string }>('api/runs', { method: 'POST' })
    const item = page.locator(`[data-testid="run-item"][data-dag-id="${liveId}"]`)
    await item.waitFor({ timeout: 20_000 })
    await shoot('16-live-run-list')
    t.same(listRequests, [], 'the list was not polled')

    // Two tabs on the run see each other, and each sees the other reviewing the gate.
    await page.goto(`${server.url}#${encodeURIComponent(liveId)}`)
    const other = await openPage(DESKTOP)
    await other.goto(`${server.url}#${encodeURIComponent(liveId)}`)
    for (const each of [page, other]) await each.getByTestId('viewer-count').filter({ hasText: '2 watching' }).waitFor({ timeout: 20_000 })
    t.pass('both tabs count 2 viewers')
    await page.getByTestId('gate-panel').waitFor({ timeout: 60_000 })
    for (const each of [page, other]) await each.getByTestId('gate-reviewers').filter({ hasText: 'Also reviewing:' }).waitFor({ timeout: 20_000 })
    t.pass('each tab shows the other reviewing the gate')
    await item.and(page.locator('[data-status="running"]')).waitFor()
    await shoot('17-presence-at-the-gate')
    await other.close()
    await page.getByTestId('viewer-count').filter({ hasText: '1 watching' }).waitFor({ timeout: 20_000 })
    await page.getByTestId('gate-reviewers').waitFor({ state: 'detached' })
    t.pass('the closed tab left: one viewer, nobody else reviewing')

    // Over Server-Sent Events (a proxy that breaks WebSockets): the run streams, and a decision goes
    // through POST /commands.
    const sse = await openPage(DESKTOP)
    const streamSockets: string[] = []
    sse.on('websocket', (socket) => {
      if (socket.url().includes('/stream')) streamSockets.push(socket.url())
    })
    const eventStreams: string[] = []
    sse.on('request', (request) => {
      if (request.url().includes(`/${encodeURIComponent(liveId)}/events`)) eventStreams.push(request.url())
    })
    await sse.goto(`${server.url}?transport=sse#${encodeURIComponent(liveId)}`)
    await sse.locator('[data-testid="connection"][data-state="open"]').waitFor()
    await sse.getByTestId('gate-panel').waitFor()
    // Its gate_viewing goes by POST with the stream's key: the WebSocket tab sees it, and it sees that tab.
    for (const each of [page, sse]) await each.getByTestId('gate-reviewers').filter({ hasText: 'Also reviewing:' }).waitFor({ timeout: 20_000 })
    t.pass('over SSE too, each tab sees the other reviewing the gate')
    await shoot('18-sse-gate', sse)
    await sse.getByTestId('gate-approve').click()
    await sse.getByTestId('gate-panel').waitFor({ state: 'detached' })
    await sse.locator('[data-testid="execution-status"][data-status="completed"]').waitFor({ timeout: 60_000 })
    await item.and(page.locator('[data-status="completed"]')).waitFor({ timeout: 20_000 })
    t.ok(eventStreams.length >= 1, 'the run came over /events')
    t.same(streamSockets, [], 'and over no WebSocket')
    await shoot('19-live-list-completed')
    await sse.close()
  })

  await t.test('any screen size: desktop, a 1024 px laptop and a 390 px phone', async (t) => {
    const { dag_id: thirdId } = await api<{ dag_id: string }>('api/runs', { method: 'POST' })
    const sized = await openPage(DESKTOP)
    await sized.goto(`${server.url}#${encodeURIComponent(thirdId)}`)
    await sized.locator('[data-testid="connection"][data-state="open"]').waitFor()
    await sized.locator('[data-testid="node-search_code"]').waitFor({ timeout: 20_000 })

    await graphFitted(sized)
    await checkLayout(t, sized, 'desktop')
    await shoot('10-desktop-1440', sized)

    // Shrinking the window refits the graph: every node is inside its box again.
    await sized.setViewportSize(LAPTOP)
    await graphFitted(sized)
    await checkLayout(t, sized, 'laptop')
    const size = await labelPixels(sized)
    t.ok(size >= 10, `labels are drawn at ${size.toFixed(1)} px on a 1024 px screen`)
    await shoot('11-laptop-1024', sized)
    const before = (await sized.getByTestId('graph').boundingBox())?.width ?? 0
    await sized.getByTestId('panel-hide').click()
    await sized.waitForFunction((width) => (document.querySelector('[data-testid="graph"]')?.getBoundingClientRect().width ?? 0) > width + 200, before)
    await graphFitted(sized)
    await checkLayout(t, sized, 'laptop, side panel folded')
    t.ok(await labelPixels(sized) >= size, 'the graph is at least as large without the panel')
    await shoot('11b-laptop-1024-panel-folded', sized)
    await sized.getByTestId('panel-show').click()
    await sized.getByTestId('side-panel').waitFor()

    await sized.setViewportSize(PHONE)
    await graphFitted(sized)
    await checkLayout(t, sized, 'phone')
    await shoot('12-phone-390', sized)
    await shoot('12b-phone-390-whole-page', sized, true)
    await checkAccessibility(t, sized, 'a phone')

    // The list of runs is a drawer; the keyboard opens and closes it.
    await sized.getByTestId('runs-toggle').focus()
    await sized.keyboard.press('Enter')
    const item = sized.locator(`[data-testid="run-item"][data-dag-id="${thirdId}"]`)
    await item.waitFor()
    // The drawer slides in.
    await sized.waitForFunction(() => document.querySelector('[data-testid="runs-drawer"]')?.getBoundingClientRect().left === 0)
    t.ok(await insideViewport(sized, item), 'the drawer shows the runs')
    await shoot('13-phone-runs-drawer', sized)
    await sized.keyboard.press('Escape')
    await sized.waitForFunction(() => getComputedStyle(document.querySelector('[data-testid="runs-drawer"]') as Element).visibility === 'hidden')
    t.equal(await focusedTestId(sized), 'runs-toggle', 'Escape closes it and gives the focus back')

    // The phone's step list opens a step's details, which scroll into sight.
    await sized.locator('[data-testid="step-list-item"][data-node-id="plan"]').click()
    await sized.locator('[data-testid="node-details"][data-node-id="plan"]').waitFor()
    await sized.waitForFunction(() => {
      const box = document.querySelector('[data-testid="node-details"]')?.getBoundingClientRect()
      return box !== undefined && box.top >= 0 && box.top < window.innerHeight
    })
    await shoot('14-phone-step-details', sized)
    await sized.getByRole('button', { name: /Close the details/ }).click()

    // A gate below the graph is one tap away.
    await sized.getByTestId('jump-to-gate').waitFor({ timeout: 40_000 })
    await sized.evaluate(() => window.scrollTo(0, 0))
    await sized.getByTestId('jump-to-gate').click()
    await sized.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'gate-feedback')
    const field = sized.getByTestId('gate-feedback')
    await sized.waitForFunction(() => {
      const box = document.querySelector('[data-testid="gate-feedback"]')?.getBoundingClientRect()
      return box !== undefined && box.top >= 0 && box.bottom <= window.innerHeight
    })
    t.ok(await insideViewport(sized, field), 'the feedback field is in sight and focused')
    await shoot('15-phone-gate', sized)
    await checkAccessibility(t, sized, 'a phone with a gate waiting')
    sized.once('dialog', (dialog) => void dialog.accept())
    await sized.getByTestId('control-cancel').click()
    await sized.locator('[data-testid="execution-status"][data-status="cancelled"]').waitFor()
    t.equal(await sized.getByTestId('gate-panel').count(), 0, 'a cancelled run waits for no decision')
    await sized.close()
  })

  t.same(pageErrors, [], 'no uncaught errors in the page')
}

interface GraphChurn {
  /** Cards whose status attribute changed. */
  statusChanges: number
  /** Times React Flow hid a card (it does so to measure a node it has no size for). */
  hidden: number
  /** Edges taken off the graph (React Flow draws none to or from a node it has not measured). */
  edgesRemoved: number
}

/** Once every card is measured, starts counting what the graph does as the run goes on (graphChurn reads it). */
async function watchGraphChurn (page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const nodes = Array.from(document.querySelectorAll<HTMLElement>('.react-flow__node'))
    return nodes.length > 0 && nodes.every((node) => node.style.visibility === 'visible')
  })
  await page.evaluate(() => {
    const churn: GraphChurn = { statusChanges: 0, hidden: 0, edgesRemoved: 0 }
    Object.assign(window, { graphChurn: churn })
    new MutationObserver((records) => {
      for (const record of records) {
        const target = record.target as HTMLElement
        if (record.attributeName === 'data-status') churn.statusChanges++
        if (record.attributeName === 'style' && target.classList.contains('react-flow__node') && target.style.visibility === 'hidden') churn.hidden++
        for (const removed of Array.from(record.removedNodes)) {
          // Each edge is an <svg> of its own around its <g class="react-flow__edge">.
          if (removed instanceof Element && removed.querySelector('.react-flow__edge') !== null) churn.edgesRemoved++
        }
      }
    }).observe(document.querySelector('.react-flow') as Element, { subtree: true, childList: true, attributes: true, attributeFilter: ['style', 'data-status'] })
  })
}

function graphChurn (page: Page): Promise<GraphChurn> {
  return page.evaluate(() => (window as unknown as { graphChurn: GraphChurn }).graphChurn)
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

/**
 * Pauses the run at a moment when a step is in flight (between steps, or at the gate, none is): if
 * none was running when the pause took effect, resumes and tries again.
 */
async function pauseWhileAStepRuns (page: Page): Promise<void> {
  const running = page.locator('[data-testid^="node-"][data-status="running"]')
  for (let attempt = 1; ; attempt++) {
    await running.first().waitFor({ timeout: 20_000 })
    await page.getByTestId('control-pause').click()
    await page.locator('[data-testid="execution-status"][data-status="paused"]').waitFor()
    if (await running.count() > 0 || attempt === 5) return
    await page.getByTestId('control-resume').click()
    await page.locator('[data-testid="execution-status"][data-status="running"]').waitFor()
  }
}

/** axe-core on the page as it is: no serious or critical violation. */
async function checkAccessibility (t: Test, page: Page, state: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axe.source })
  const violations = await page.evaluate(async () => {
    const { violations } = await (window as unknown as { axe: typeof axe }).axe.run(document, { resultTypes: ['violations'] })
    return violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`)
  })
  t.same(violations, [], `axe finds no serious or critical violation: ${state}`)
}

function focusedTestId (page: Page): Promise<string | null | undefined> {
  return page.evaluate(() => document.activeElement?.getAttribute('data-testid'))
}

/** Presses Tab until the element with `testId` has the focus; returns how many presses it took. */
async function tabTo (page: Page, testId: string, limit = 120): Promise<number> {
  for (let presses = 1; presses <= limit; presses++) {
    await page.keyboard.press('Tab')
    if ((await focusedTestId(page)) === testId) return presses
  }
  throw new Error(`${testId} is not reachable with Tab (${limit} presses)`)
}

/** Waits until every node of the graph lies inside the graph's box: the view was fitted to it. */
async function graphFitted (page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const graph = document.querySelector('[data-testid="graph"]')?.getBoundingClientRect()
    const nodes = Array.from(document.querySelectorAll('.react-flow__node'), (node) => node.getBoundingClientRect())
    const slack = 1
    return graph !== undefined && nodes.length > 0 && nodes.every((node) =>
      node.left >= graph.left - slack && node.right <= graph.right + slack && node.top >= graph.top - slack && node.bottom <= graph.bottom + slack)
  }, undefined, { timeout: 10_000 })
}

/** The height a step's label is drawn at, in CSS pixels of the screen (its font size times the zoom). */
function labelPixels (page: Page): Promise<number> {
  return page.evaluate(() => {
    const viewport = document.querySelector('.react-flow__viewport') as HTMLElement
    const zoom = new DOMMatrixReadOnly(getComputedStyle(viewport).transform).a
    return parseFloat(getComputedStyle(document.querySelector('.step__label') as Element).fontSize) * zoom
  })
}

async function insideViewport (page: Page, locator: ReturnType<Page['locator']>): Promise<boolean> {
  const box = await locator.boundingBox()
  const viewport = page.viewportSize()
  return box !== null && viewport !== null && box.x >= 0 && box.y >= 0 && box.x + box.width <= viewport.width && box.y + box.height <= viewport.height
}

/**
 * What a screen must give a user: the graph in sight with a usable size, nothing that can be clicked
 * or typed into sticking out at the sides, and the run's controls in sight without scrolling.
 */
async function checkLayout (t: Test, page: Page, screen: string): Promise<void> {
  const viewport = page.viewportSize() as { width: number; height: number }
  // Below 1280 px the list of runs is a drawer: wait until it has slid out of the way.
  if (viewport.width < 1280) {
    await page.waitForFunction(() => getComputedStyle(document.querySelector('[data-testid="runs-drawer"]') as Element).visibility === 'hidden')
  }
  const graph = await page.getByTestId('graph').boundingBox()
  t.ok(
    graph !== null && graph.x >= 0 && graph.x + graph.width <= viewport.width + 0.5 && graph.y < viewport.height &&
      graph.width >= Math.min(600, viewport.width - 2) && graph.height >= 280,
    `${screen}: the graph is in sight, ${Math.round(graph?.width ?? 0)}×${Math.round(graph?.height ?? 0)} px`
  )
  const sticking = await page.evaluate(() => {
    const controls = document.querySelectorAll<HTMLElement>('button, a[href], textarea, input, select, [tabindex="0"]')
    return Array.from(controls)
      .filter((control) => control.getClientRects().length > 0 && getComputedStyle(control).visibility !== 'hidden')
      .filter((control) => {
        const box = control.getBoundingClientRect()
        return box.left < -0.5 || box.right > window.innerWidth + 0.5
      })
      .map((control) => control.getAttribute('data-testid') ?? control.getAttribute('aria-label') ?? control.textContent)
  })
  t.same(sticking, [], `${screen}: every control is within the width of the screen`)
  const runControls = ['control-pause', 'control-cancel', viewport.width >= 1280 ? 'new-run' : 'runs-toggle']
  for (const testId of runControls) t.ok(await insideViewport(page, page.getByTestId(testId)), `${screen}: ${testId} is in sight`)
}
