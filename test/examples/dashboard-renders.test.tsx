// The demo's graph under a live stream draws again only the cards whose nodes changed, React Flow gets
// new node objects only for a change of selection (never for a status: each card follows its own node),
// and measures each card once. The graph is the demo's own (Graph, StepNode, useLayout), fed as RunView
// feeds it, by useDAGStream from a real server, its cards by useDAGNode on the same client.
//
// What is counted, through the React Flow module the demo's files get: the node objects the graph hands
// React Flow in each render (React Flow redoes a node whose object is new), and the renders of each card,
// through the Handle it draws (a plain component in the test, so it renders exactly when its card does).
// The card, its memo and the graph are the demo's code, untouched.
//
// happy-dom lays nothing out, so two stand-ins play the browser's part: every element has a card's size,
// and a ResizeObserver reports an element as soon as it is observed (a browser does so at the next frame).
// (React Flow's animated fit still passes through NaN here, and React says so: harmless, and not so in a browser.)
//
// The demo's code runs here but is not held to the library's 100% coverage (package.json: coverage-exclude).

import { hookOptions } from '../support/react-environment.js'
import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import * as xyflow from '@xyflow/react'
import * as React from 'react'
import { useLayoutEffect, useMemo, useState } from 'react'
import * as jsxRuntime from 'react/jsx-runtime'
import t from 'tap'
import { NODE_HEIGHT, NODE_WIDTH, useLayout } from '../../examples/dashboard/src/layout.js'
import { RunStreamContext } from '../../examples/dashboard/src/run-stream.js'
import type { StepNodeType } from '../../examples/dashboard/src/StepNode.js'
import * as reactHooks from '../../lib/react/index.js'
import { useDAGStream, type UseDAGStreamOptions } from '../../lib/react/index.js'
import { build } from '../support/helpers.js'

const patience = { timeout: 20_000 }
/** The demo's interval (RunView's STREAM_OPTIONS). */
const THROTTLE_MS = 100
const NODE_COUNT = 24

type Counts = Map<string, number>

function countOne (counts: Counts, nodeId: string): void {
  counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1)
}

/** Renders of each card, by node id. */
const cardRenders: Counts = new Map()
/** When each card rendered, by node id. */
const cardRenderTimes = new Map<string, number[]>()
/** How often React Flow started measuring each card, by node id. */
const measures: Counts = new Map()
/** The node and edge objects the graph handed React Flow, render by render (as each was committed). */
const flowRenders: Array<{ at: number; nodes: readonly StepNodeType[]; edges: readonly xyflow.Edge[] }> = []

function CountingHandle (props: xyflow.HandleProps) {
  const nodeId = xyflow.useNodeId()
  // Each card has two handles: count one of them.
  if (props.type === 'target' && nodeId !== null) countOne(cardRenders, nodeId)
  useLayoutEffect(() => {
    if (props.type === 'target' && nodeId !== null) cardRenderTimes.set(nodeId, [...cardRenderTimes.get(nodeId) ?? [], performance.now()])
  })
  return <xyflow.Handle {...props} />
}

function RecordingReactFlow (props: xyflow.ReactFlowProps<StepNodeType>) {
  useLayoutEffect(() => {
    flowRenders.push({ at: performance.now(), nodes: props.nodes ?? [], edges: props.edges ?? [] })
  })
  return <xyflow.ReactFlow {...props} />
}

// The test's React, React Flow, hooks and context for the demo's modules: a second copy would have its
// own hooks, contexts and shared clients. The card's module is mocked on its own: its import is written
// `./StepNode.js` for a .tsx file, which the mocks of Graph.tsx would not follow.
const shared = {
  react: React,
  'react/jsx-runtime': jsxRuntime,
  '@xyflow/react': { ...xyflow, Handle: CountingHandle, ReactFlow: RecordingReactFlow },
  '../../lib/react/index.js': reactHooks,
  '../../examples/dashboard/src/run-stream.js': { RunStreamContext, useRunStream: () => React.useContext(RunStreamContext) }
}
const { Graph } = await t.mockImport<typeof import('../../examples/dashboard/src/Graph.js')>('../../examples/dashboard/src/Graph.js', {
  ...shared,
  '../../examples/dashboard/src/StepNode.js': await t.mockImport('../../examples/dashboard/src/StepNode.js', shared),
  // The stylesheet is the bundler's business.
  '@xyflow/react/dist/style.css': {}
})

const sizes = { offsetWidth: NODE_WIDTH, offsetHeight: NODE_HEIGHT, clientWidth: NODE_WIDTH, clientHeight: NODE_HEIGHT }
for (const [name, size] of Object.entries(sizes)) {
  const before = Object.getOwnPropertyDescriptor(HTMLElement.prototype, name) as PropertyDescriptor
  Object.defineProperty(HTMLElement.prototype, name, { configurable: true, get: () => size })
  t.teardown(() => Object.defineProperty(HTMLElement.prototype, name, before))
}

class ReportingResizeObserver implements ResizeObserver {
  readonly #callback: ResizeObserverCallback
  readonly #observed = new Set<Element>()

  constructor (callback: ResizeObserverCallback) {
    this.#callback = callback
  }

  observe (target: Element): void {
    this.#observed.add(target)
    // React Flow's nodes carry their id; the other boxes it and the demo watch do not.
    const nodeId = target.getAttribute('data-id')
    if (nodeId !== null) countOne(measures, nodeId)
    queueMicrotask(() => {
      if (this.#observed.has(target)) this.#callback([{ target, contentRect: { width: NODE_WIDTH, height: NODE_HEIGHT } } as ResizeObserverEntry], this)
    })
  }

  unobserve (target: Element): void {
    this.#observed.delete(target)
  }

  disconnect (): void {
    this.#observed.clear()
  }
}
const happyDomResizeObserver = globalThis.ResizeObserver
globalThis.ResizeObserver = ReportingResizeObserver
t.teardown(() => {
  globalThis.ResizeObserver = happyDomResizeObserver
})

/** The graph as RunView builds it. */
function LiveGraph ({ dagId, options }: { dagId: string; options: UseDAGStreamOptions }) {
  const { state } = useDAGStream(dagId, options)
  const nodes = useMemo(() => [...state.nodes.values()], [state])
  const edges = useMemo(() => [...state.edges.values()], [state])
  const positions = useLayout(nodes, edges)
  const [selected, setSelected] = useState<string | undefined>()
  const runStream = useMemo(() => ({ dagId, options }), [dagId, options])
  return (
    <RunStreamContext.Provider value={runStream}>
      <Graph nodes={nodes} edges={edges} positions={positions} selected={selected} onSelect={setSelected} runPaused={state.status === 'paused'} />
    </RunStreamContext.Provider>
  )
}

/** n0 … n23 as a binary tree (n0 feeds n1 and n2, …), all pending. */
async function startRun (server: Awaited<ReturnType<typeof build>>, dagId: string): Promise<void> {
  for (let index = 0; index < NODE_COUNT; index += 1) {
    await server.app.dagStream.broadcast(dagId, { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: `n${index}`, label: `Step ${index}` } } })
    if (index > 0) await server.app.dagStream.broadcast(dagId, { type: 'dag_mutated', mutation: { op: 'add_edge', from: `n${Math.floor((index - 1) / 2)}`, to: `n${index}` } })
  }
}

/** Waits until every card is drawn and measured, then counts afresh from the graph's last render. */
async function settled (): Promise<void> {
  await waitFor(() => {
    for (let index = 0; index < NODE_COUNT; index += 1) {
      const node = screen.getByTestId(`rf__node-n${index}`)
      if (node.style.visibility !== 'visible') throw new Error(`n${index} is not measured yet`)
    }
  }, patience)
  cardRenders.clear()
  cardRenderTimes.clear()
  measures.clear()
  flowRenders.splice(0, flowRenders.length - 1)
}

/** Per node id, from one render of the graph to the next: how often React Flow got a new object. */
function replacements (): Record<string, number> {
  const objects: Counts = new Map()
  flowRenders.forEach(({ nodes }, index) => {
    const previous = new Map((flowRenders[index - 1]?.nodes ?? nodes).map((node) => [node.id, node]))
    for (const node of nodes) {
      if (previous.get(node.id) !== node) countOne(objects, node.id)
    }
  })
  return counted(objects)
}

function counted (counts: Counts): Record<string, number> {
  return Object.fromEntries([...counts].sort())
}

function card (nodeId: string): HTMLElement {
  return screen.getByTestId(`node-${nodeId}`)
}

/** Throws (so that waitFor retries) until the card's attribute has the value. */
function cardShows (nodeId: string, attribute: string, value: string): void {
  const shown = card(nodeId).getAttribute(attribute)
  if (shown !== value) throw new Error(`${nodeId}: ${attribute} is ${shown}, not ${value}`)
}

t.test('a change, a selection, a pause: only the cards they concern are drawn again, and none is measured again', async (t) => {
  const server = await build(t)
  await startRun(server, 'run')
  const view = render(<LiveGraph dagId='run' options={hookOptions(server)} />)
  t.teardown(() => view.unmount())
  await settled()
  t.equal(screen.getAllByTestId(/^node-n/).length, NODE_COUNT, 'every step has its card')

  await server.app.dagStream.broadcast('run', { type: 'node_state', node_id: 'n7', status: 'running' })
  await waitFor(() => cardShows('n7', 'data-status', 'running'), patience)
  // A second change, seen on screen, comes after whatever the first one set off.
  await server.app.dagStream.broadcast('run', { type: 'node_state', node_id: 'n8', status: 'running' })
  await waitFor(() => cardShows('n8', 'data-status', 'running'), patience)
  t.same(counted(cardRenders), { n7: 1, n8: 1 }, 'a node_state redraws its own card, once')
  t.same(replacements(), {}, 'React Flow gets no new object: the card followed its node itself')
  t.same(counted(measures), {}, 'and keeps the size it measured')

  await settled()
  fireEvent.click(screen.getByTestId('rf__node-n3'))
  await waitFor(() => cardShows('n3', 'class', 'step step--pending step--selected'), patience)
  fireEvent.click(screen.getByTestId('rf__node-n5'))
  await waitFor(() => cardShows('n5', 'class', 'step step--pending step--selected'), patience)
  t.equal(card('n3').className, 'step step--pending')
  t.same(counted(cardRenders), { n3: 2, n5: 1 }, 'a selection redraws the card it takes and the card it leaves')
  t.same(replacements(), { n3: 2, n5: 1 }, 'a selection gives React Flow new objects for the two cards')

  await settled()
  await server.app.dagStream.broadcast('run', { type: 'execution_status', status: 'paused' })
  await waitFor(() => cardShows('n7', 'data-held', 'true'), patience)
  t.equal(card('n8').getAttribute('data-held'), 'true')
  t.same(counted(cardRenders), { n7: 1, n8: 1 }, 'a pause redraws the steps in flight, not the others')
  t.same(replacements(), {}, 'and React Flow no new object')
  t.same(counted(measures), {})
})

t.test(`throttled at ${THROTTLE_MS} ms as in the demo: a burst redraws only the cards it touched, once per render that changed them`, async (t) => {
  const server = await build(t)
  await startRun(server, 'burst')
  const view = render(<LiveGraph dagId='burst' options={hookOptions(server, { throttleMs: THROTTLE_MS })} />)
  t.teardown(() => view.unmount())
  await settled()

  // 120 events to 12 of the 24 steps, each in its own turn of the event loop, as an engine under load
  // sends them: text streams into a step, then it completes.
  const touched = Array.from({ length: 12 }, (_, index) => `n${index * 2}`)
  for (let round = 0; round < 10; round += 1) {
    for (const nodeId of touched) {
      await server.app.dagStream.broadcast('burst', round < 9
        ? { type: 'node_output_delta', node_id: nodeId, delta: `chunk ${round} ` }
        : { type: 'node_state', node_id: nodeId, status: 'completed' })
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
  }
  await waitFor(() => touched.forEach((nodeId) => cardShows(nodeId, 'data-status', 'completed')), patience)

  const drawn = counted(cardRenders)
  t.same(Object.keys(drawn), [...touched].sort(), 'the burst redrew the cards of the steps it touched, no other')
  t.ok(Object.values(drawn).every((count) => count <= 10), 'each at most once per event it got')
  t.same(replacements(), {}, 'React Flow got no new node object throughout')
  t.same(counted(measures), {}, 'no card was measured again')
  const edgeObjects = new Set(flowRenders.flatMap(({ edges }) => edges))
  t.equal(edgeObjects.size, NODE_COUNT - 1, 'and the edges, which did not change, are the same objects throughout')
  // At most one render per interval, for the graph and for each card: the hooks' promise
  // (test/react/throttle.test.tsx), with an interval's slack.
  const atMostOnePerInterval = (times: readonly number[]) => (times.length - 1) * THROTTLE_MS <= (times.at(-1) ?? 0) - (times[0] ?? 0) + THROTTLE_MS
  t.ok(atMostOnePerInterval(flowRenders.slice(1).map(({ at }) => at)), `${flowRenders.length - 1} renders of the graph, for ${touched.length * 10} events`)
  t.ok([...cardRenderTimes.values()].every(atMostOnePerInterval), 'no card was drawn more often than once per interval')
})
