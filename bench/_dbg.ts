import { chromium } from 'playwright-core'
import { createExampleServer } from '../examples/server.js'
import { generateDag } from './dashboard-dag.js'
const size = Number(process.argv[2] ?? 200)
const server = await createExampleServer({ port: 0, host: '127.0.0.1', initialRuns: 0, logLevel: 'silent' })
const dag = generateDag(size)
const b = server.app.dagStream.broadcast
for (const node of dag.nodes) await b('d', { type: 'dag_mutated', mutation: { op: 'add_node', node } })
for (const [from, to] of dag.edges) await b('d', { type: 'dag_mutated', mutation: { op: 'add_edge', from, to } })
for (const [i, node] of dag.nodes.entries()) if (dag.initial[i] !== 'pending') await b('d', { type: 'node_state', node_id: node.id, status: dag.initial[i]! })
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] })
const page = await browser.newPage({ viewport: { width: Number(process.argv[3] ?? 1440), height: Number(process.argv[4] ?? 900) } })
page.on('console', (m) => console.log('console', m.type(), m.text()))
await page.goto(`${server.url}#d`)
await page.waitForTimeout(4000)
console.log(await page.evaluate(() => ({ vp: document.querySelector('.react-flow__viewport')?.getAttribute('style'), cards: document.querySelectorAll('.react-flow__node').length, layout: document.querySelector('[data-testid=graph]')?.getAttribute('data-layout') })))
await page.screenshot({ path: `/tmp/dbg-${size}.png` })
await browser.close(); await server.close()
