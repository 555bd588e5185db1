// The demo dashboard under load, in a real browser: Debian's Chromium driven by playwright-core
// (nothing downloads a browser). The demo's server runs in this process with a generated DAG of N
// nodes; the engine's part is played here, sending `node_state` events at a steady rate. For each
// size and rate it reports what a user would feel:
//
//   first render   navigation → every node of the DAG counted and every card on screen measured
//   fps            requestAnimationFrame callbacks per second in the measured window
//   long tasks     main-thread tasks over 50 ms (PerformanceObserver 'longtask'): count, longest
//   busy           main-thread task time / wall time (CDP Performance.getMetrics TaskDuration), with the
//                  shares of script, style and layout; CPU: the main thread's CPU time / wall time
//                  (ThreadTime), lower than busy when the machine's other work takes the core away
//   latency        broadcast → DOM: the event carries Date.now() (metrics.sent_at); the page notes it as
//                  the frame arrives and reads the clock when the card's data-status shows the new status
//   heap           JS heap used (CDP), the largest sample in the window
//
//   npm run bench:dashboard                       200, 1,000 and 5,000 nodes at 0, 200, 1,000 ev/s
//   npm run bench:dashboard -- --quick            200 and 1,000 nodes at 0 and 1,000 ev/s, 3 s each
//   npm run bench:dashboard -- --profile 1000:1000   also a CPU profile of that size:rate (bench/profiles/)
//
// Not a timed test: the figures go to bench/README.md, with the machine they ran on.

import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core'
import type { NodeStatus } from '../schemas/index.js'
import { distDir } from '../examples/dashboard/build.js'
import { createExampleServer, type ExampleServer } from '../examples/server.js'
import { DASH, fixed, int, percentile, printTable } from './stats.js'
import { generateDag, mulberry32, type GeneratedDag } from './dashboard-dag.js'
import { symbolize } from './dashboard-profile.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const VIEWPORT = { width: 1440, height: 900 }
const PROFILES = fileURLToPath(new URL('profiles/dashboard/', import.meta.url))
const SCREENSHOTS = fileURLToPath(new URL('../artifacts/screenshots/', import.meta.url))
/** Each node's status goes round this cycle: three, so that two events coalesced into one render still change the card. */
const CYCLE: NodeStatus[] = ['running', 'completed', 'queued']
/** Events are sent in small batches on this tick, as an engine with many workers would. */
const TICK_MS = 10

const USAGE = `Usage: npm run bench:dashboard -- [options]

  --quick              200 and 1,000 nodes at 0 and 1,000 ev/s, 3 s windows (about a minute)
  --sizes 200,1000     node counts                      (default: 200,1000,5000)
  --rates 0,200,1000   node_state events per second     (default: 0,200,1000)
  --seconds N          measured window per rate          (default: 5)
  --load-timeout N     seconds to wait for the first render before giving up on a size (default: 60)
  --screenshots        also save the page at 1440, 1024 and 390 px wide, and fitted whole, for each
                       size (artifacts/screenshots/dashboard-SIZE-WIDTH.png)
  --profile SIZE:RATE  also record a Chromium CPU profile of that window under bench/profiles/dashboard/
                       (SIZE:load: from navigation to the first render)
  -h, --help`

interface Window {
  size: number
  rate: number
  fps: number
  longTasks: number
  longestTask: number
  busy: number
  /** Of the wall time: script, style recalculation and layout (the rest of `busy` is paint, GC, parsing…) */
  script: number
  style: number
  layout: number
  /** Main-thread CPU time / wall time: on a machine others share, `busy` also counts time the thread waited for a core */
  cpu: number
  p50: number
  p95: number
  /** The part of it in the page: frame received → card shows it (the rest is the server, the network and the machine's other work) */
  pagep95: number
  measured: number
  sent: number
  heapMb: number
}

interface SizeResult {
  size: number
  edges: number
  /** ms, or undefined when it did not finish within the load timeout */
  firstRender: number | undefined
  /** The longest task up to the first render, ms */
  loadLongest: number
  windows: Window[]
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      sizes: { type: 'string' },
      rates: { type: 'string' },
      seconds: { type: 'string' },
      'load-timeout': { type: 'string' },
      profile: { type: 'string' },
      screenshots: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    console.log(USAGE)
    return
  }
  const quick = values.quick === true
  const sizes = list(values.sizes) ?? (quick ? [200, 1000] : [200, 1000, 5000])
  const rates = list(values.rates) ?? (quick ? [0, 1000] : [0, 200, 1000])
  const seconds = Number(values.seconds ?? (quick ? 3 : 5))
  const loadTimeoutMs = Number(values['load-timeout'] ?? 60) * 1000
  const profile = values.profile
  const screenshots = values.screenshots === true

  console.log(`Chromium ${CHROMIUM}; ${cpus().length} × ${cpus()[0]?.model ?? '?'}; ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}`)
  const server = await createExampleServer({ port: 0, host: '127.0.0.1', initialRuns: 0, logLevel: 'silent' })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  console.log(`Chromium ${browser.version()}, server at ${server.url}`)
  const results: SizeResult[] = []
  try {
    for (const size of sizes) {
      results.push(await benchSize(server, browser, size, rates, seconds, loadTimeoutMs, profile, screenshots))
    }
  } finally {
    await browser.close()
    await server.close()
  }
  report(results)
}

async function benchSize (
  server: ExampleServer, browser: Browser, size: number, rates: number[], seconds: number, loadTimeoutMs: number, profile: string | undefined, screenshots: boolean
): Promise<SizeResult> {
  const dag = generateDag(size)
  const dagId = `bench-${size}-${Date.now().toString(36)}`
  await publish(server, dagId, dag)
  const context = await browser.newContext({ viewport: VIEWPORT })
  const page = await context.newPage()
  page.on('pageerror', (error) => console.log(`  page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`  console error: ${message.text()}`)
  })
  // As source text: tsx compiles this file with esbuild's keepNames, whose __name() helper the page lacks.
  await page.addInitScript({ content: `var __name = (target) => target;\n(${instrument.toString()})(${JSON.stringify({ total: size })})` })
  const cdp = await context.newCDPSession(page)
  await cdp.send('Performance.enable')
  const result: SizeResult = { size, edges: dag.edges.length, firstRender: undefined, loadLongest: 0, windows: [] }
  const profilingLoad = profile === `${size}:load`
  if (profilingLoad) await startProfiler(cdp)
  try {
    await page.goto(`${server.url}#${encodeURIComponent(dagId)}`)
    try {
      await page.waitForFunction(() => (window as unknown as BenchWindow).bench.firstRender !== undefined, undefined, { timeout: loadTimeoutMs, polling: 250 })
    } catch {
      // The page may be stuck in one long task: nothing more is asked of it.
      console.log(`${size} nodes: no first render within ${loadTimeoutMs / 1000} s; skipping its rates`)
      return result
    }
    const load = await page.evaluate(() => ({ at: (window as unknown as BenchWindow).bench.firstRender as number, longest: (window as unknown as BenchWindow).bench.longest }))
    if (profilingLoad) await stopProfiler(cdp, `${size}-load`)
    result.firstRender = load.at
    result.loadLongest = load.longest
    console.log(`${size} nodes, ${dag.edges.length} edges: first render ${(load.at / 1000).toFixed(2)} s (longest task ${Math.round(load.longest)} ms)`)
    // Each node's next status in the cycle, from the state publish() left it in, kept across the windows:
    // started again at every window, a node's first event there could repeat the status it shows, change
    // nothing on screen, and be counted only at its next matching change (seconds later).
    const next = dag.initial.map((status) => Math.max(0, CYCLE.indexOf(status) + 1) % CYCLE.length)
    for (const rate of rates) {
      // The page settles (fitView's animation, a late layout) before the window starts.
      await page.waitForTimeout(1000)
      const profiling = profile === `${size}:${rate}`
      const window = await measure(page, cdp, server, dagId, dag, next, size, rate, seconds, profiling)
      result.windows.push(window)
      console.log(`  ${rate} ev/s: ${fixed(window.fps, 1)} fps, ${window.longTasks} long tasks (longest ${Math.round(window.longestTask)} ms), busy ${percent(window)}, ` +
        `latency p50 ${int(window.p50)} / p95 ${int(window.p95)} ms (in the page p95 ${int(window.pagep95)} ms; ${window.measured} of ${window.sent} events seen), heap ${Math.round(window.heapMb)} MB`)
    }
    if (screenshots) await shootWidths(browser, page, `${server.url}#${encodeURIComponent(dagId)}`, size)
  } finally {
    // A renderer stuck in a long task may not close in time: the browser's close at the end takes it.
    await Promise.race([context.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 5000))])
  }
  return result
}

/** The run's structure, as an engine would send it, then a realistic mix: a third done, a tenth running. */
async function publish (server: ExampleServer, dagId: string, dag: GeneratedDag): Promise<void> {
  const { broadcast } = server.app.dagStream
  await broadcast(dagId, { type: 'execution_status', status: 'running' })
  for (const node of dag.nodes) await broadcast(dagId, { type: 'dag_mutated', mutation: { op: 'add_node', node } })
  for (const [from, to] of dag.edges) await broadcast(dagId, { type: 'dag_mutated', mutation: { op: 'add_edge', from, to } })
  for (const [index, node] of dag.nodes.entries()) {
    const status = dag.initial[index] as NodeStatus
    if (status !== 'pending') await broadcast(dagId, { type: 'node_state', node_id: node.id, status })
  }
}

async function measure (
  page: Page, cdp: CDPSession, server: ExampleServer, dagId: string, dag: GeneratedDag, next: number[], size: number, rate: number, seconds: number, profiling: boolean
): Promise<Window> {
  await page.evaluate(() => (window as unknown as BenchWindow).bench.reset())
  if (profiling) await startProfiler(cdp)
  const before = await metrics(cdp)
  const startedAt = Date.now()
  let heap = before.JSHeapUsedSize ?? 0
  let sent = 0
  const random = mulberry32(size * 7919 + rate)
  const ticker = setInterval(() => {
    const due = Math.floor(((Date.now() - startedAt) * rate) / 1000)
    for (; sent < due; sent += 1) {
      const index = Math.floor(random() * size)
      const status = CYCLE[next[index] as number] as NodeStatus
      next[index] = ((next[index] as number) + 1) % CYCLE.length
      // Engines may report any number in metrics: this one is the clock the page compares with.
      const metrics: Record<string, number> = { sent_at: Date.now() }
      void server.app.dagStream.broadcast(dagId, { type: 'node_state', node_id: (dag.nodes[index] as { id: string }).id, status, metrics })
    }
  }, TICK_MS)
  const sampler = setInterval(() => {
    void metrics(cdp).then((sample) => { heap = Math.max(heap, sample.JSHeapUsedSize ?? 0) }, () => {})
  }, 1000)
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  clearInterval(ticker)
  clearInterval(sampler)
  const after = await metrics(cdp)
  const wall = (Date.now() - startedAt) / 1000
  heap = Math.max(heap, after.JSHeapUsedSize ?? 0)
  // Events still in flight get a moment to land, so their latency counts.
  await page.waitForTimeout(rate === 0 ? 0 : 1000)
  const seen = await page.evaluate(() => (window as unknown as BenchWindow).bench.read())
  if (profiling) await stopProfiler(cdp, `${size}-${rate}`)
  const latencies = seen.latencies
  return {
    size,
    rate,
    fps: seen.frames / seen.elapsed * 1000,
    longTasks: seen.longTasks,
    longestTask: seen.longestInWindow,
    busy: ((after.TaskDuration ?? 0) - (before.TaskDuration ?? 0)) / wall,
    script: ((after.ScriptDuration ?? 0) - (before.ScriptDuration ?? 0)) / wall,
    style: ((after.RecalcStyleDuration ?? 0) - (before.RecalcStyleDuration ?? 0)) / wall,
    layout: ((after.LayoutDuration ?? 0) - (before.LayoutDuration ?? 0)) / wall,
    cpu: ((after.ThreadTime ?? 0) - (before.ThreadTime ?? 0)) / wall,
    p50: latencies.length === 0 ? Number.NaN : percentile(latencies, 0.5),
    p95: latencies.length === 0 ? Number.NaN : percentile(latencies, 0.95),
    pagep95: seen.inPage.length === 0 ? Number.NaN : percentile(seen.inPage, 0.95),
    measured: latencies.length,
    sent,
    heapMb: heap / 2 ** 20
  }
}

/** The page as it looks at each width, and fitted whole (the zoomed-out look) at the widest. */
async function shootWidths (browser: Browser, page: Page, url: string, size: number): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const path = (name: string) => join(SCREENSHOTS, `dashboard-${size}-${name}.png`)
  await page.screenshot({ path: path(String(VIEWPORT.width)) })
  await page.locator('.react-flow__controls-fitview').click()
  await page.waitForTimeout(2000)
  await page.screenshot({ path: path(`${VIEWPORT.width}-fit`) })
  for (const viewport of [{ width: 1024, height: 768 }, { width: 390, height: 844 }]) {
    const context = await browser.newContext({ viewport })
    const narrow = await context.newPage()
    try {
      await narrow.goto(url)
      await narrow.locator('[data-testid="graph"][data-layout="done"]').waitFor({ timeout: 30_000 })
      await narrow.waitForTimeout(1500)
      await narrow.screenshot({ path: path(String(viewport.width)) })
    } catch (error) {
      console.log(`  no screenshot at ${viewport.width} px: ${(error as Error).message.split('\n')[0]}`)
    } finally {
      await context.close()
    }
  }
}

async function startProfiler (cdp: CDPSession): Promise<void> {
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
  await cdp.send('Profiler.start')
}

async function stopProfiler (cdp: CDPSession, name: string): Promise<void> {
  const { profile } = await cdp.send('Profiler.stop')
  symbolize(profile, distDir)
  mkdirSync(PROFILES, { recursive: true })
  const file = join(PROFILES, `${name}.cpuprofile`)
  writeFileSync(file, JSON.stringify(profile))
  console.log(`  CPU profile: ${file} (node --import tsx bench/profile-summary.ts ${file})`)
}

async function metrics (cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics: list } = await cdp.send('Performance.getMetrics')
  return Object.fromEntries(list.map(({ name, value }) => [name, value]))
}

// -------------------------------------------------------------------------------------------------
// In the page, before any of its scripts: counters the bench reads
// -------------------------------------------------------------------------------------------------

interface BenchWindow {
  bench: {
    firstRender: number | undefined
    longest: number
    reset (): void
    read (): { frames: number; elapsed: number; longTasks: number; longestInWindow: number; latencies: number[]; inPage: number[] }
  }
}

/** Runs in the page (serialised by playwright: self-contained). */
function instrument ({ total }: { total: number }): void {
  const state = { frames: 0, since: performance.now(), longTasks: 0, longestInWindow: 0, latencies: [] as number[], inPage: [] as number[] }
  // Per node, the events received and not yet shown: [status, sent_at, received at].
  const pending = new Map<string, Array<[string, number, number]>>()
  const bench: BenchWindow['bench'] = {
    firstRender: undefined,
    longest: 0,
    reset () {
      Object.assign(state, { frames: 0, since: performance.now(), longTasks: 0, longestInWindow: 0, latencies: [], inPage: [] })
      pending.clear()
    },
    read () {
      return { ...state, elapsed: performance.now() - state.since }
    }
  }
  ;(window as unknown as BenchWindow).bench = bench

  const frame = () => {
    state.frames += 1
    requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      bench.longest = Math.max(bench.longest, entry.duration)
      state.longTasks += 1
      state.longestInWindow = Math.max(state.longestInWindow, entry.duration)
    }
  }).observe({ type: 'longtask', buffered: true })

  // The first complete render: every node counted, and every card in the DOM measured (React Flow
  // hides a card until it knows its size) and not waiting for its position.
  const poll = () => {
    const progress = document.querySelector<HTMLElement>('[data-testid="progress"]')
    const cards = document.querySelectorAll<HTMLElement>('.react-flow__node')
    const graph = document.querySelector<HTMLElement>('[data-testid="graph"]')
    if (progress?.dataset.total === String(total) && cards.length > 0 && graph?.dataset.layout !== 'pending' &&
      Array.prototype.every.call(cards, (card: HTMLElement) => card.style.visibility !== 'hidden')) {
      bench.firstRender = performance.now()
      return
    }
    requestAnimationFrame(poll)
  }
  requestAnimationFrame(poll)

  // Frames are noted as they arrive (this listener comes before the client's), cards as they change.
  const NativeWebSocket = window.WebSocket
  window.WebSocket = class extends NativeWebSocket {
    constructor (...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      this.addEventListener('message', (event: MessageEvent) => {
        if (typeof event.data !== 'string' || !event.data.includes('sent_at')) return
        const note = (value: unknown): void => {
          if (Array.isArray(value)) {
            for (const item of value) note(item)
            return
          }
          const frame = value as { type?: string; node_id?: string; status?: string; metrics?: { sent_at?: number } } | null
          if (frame?.type !== 'node_state' || frame.node_id === undefined || typeof frame.metrics?.sent_at !== 'number') return
          let list = pending.get(frame.node_id)
          if (list === undefined) pending.set(frame.node_id, (list = []))
          list.push([frame.status as string, frame.metrics.sent_at, Date.now()])
        }
        note(JSON.parse(event.data))
      })
    }
  }
  new MutationObserver((records) => {
    const now = Date.now()
    for (const record of records) {
      const card = record.target as HTMLElement
      const id = card.dataset.testid?.startsWith('node-') === true ? card.dataset.testid.slice(5) : undefined
      const list = id === undefined ? undefined : pending.get(id)
      if (list === undefined) continue
      // The card shows the newest event with this status: it and every event before it are on screen.
      let last = -1
      for (let index = 0; index < list.length; index += 1) if (list[index]?.[0] === card.dataset.status) last = index
      for (const [, sentAt, receivedAt] of list.splice(0, last + 1)) {
        state.latencies.push(now - sentAt)
        state.inPage.push(now - receivedAt)
      }
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-status'] })
}

// -------------------------------------------------------------------------------------------------
// The report
// -------------------------------------------------------------------------------------------------

function report (results: SizeResult[]): void {
  console.log()
  const rows: string[][] = []
  for (const result of results) {
    const load = result.firstRender === undefined ? 'not within the timeout' : `${(result.firstRender / 1000).toFixed(2)} s (longest task ${int(result.loadLongest)} ms)`
    if (result.windows.length === 0) rows.push([int(result.size), int(result.edges), load, DASH, DASH, DASH, DASH, DASH, DASH, DASH])
    for (const [index, window] of result.windows.entries()) {
      rows.push([
        index === 0 ? int(result.size) : '',
        index === 0 ? int(result.edges) : '',
        index === 0 ? load : '',
        int(window.rate),
        fixed(window.fps, 1),
        `${window.longTasks} / ${int(window.longestTask)} ms`,
        percent(window),
        window.rate === 0 ? DASH : `${int(window.p50)} / ${int(window.p95)} ms (${int(window.pagep95)})`,
        window.rate === 0 ? DASH : `${int(window.measured)} / ${int(window.sent)}`,
        `${Math.round(window.heapMb)} MB`
      ])
    }
  }
  printTable(['>nodes', '>edges', 'first render', '>ev/s', '>fps', '>long tasks (n / longest)', '>busy (script / style / layout), CPU', '>broadcast → DOM p50 / p95 (p95 in the page)', '>events seen / sent', '>JS heap'], rows)
}

function percent ({ busy, script, style, layout, cpu }: Window): string {
  const of = (share: number) => Math.round(share * 100)
  return `${of(busy)} % (${of(script)} / ${of(style)} / ${of(layout)}), CPU ${of(cpu)} %`
}

function list (value: string | undefined): number[] | undefined {
  return value === undefined ? undefined : value.split(',').map(Number)
}

await main()
