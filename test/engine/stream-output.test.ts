// app.dagStream.streamOutput: a node's text, coalesced into node_output_delta events, on real sockets and
// with the real client, on the memory and the Redis backplane.

import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { InvalidDAGIdError, InvalidEventError, memoryBackplane, type BackplaneProvider } from '../../lib/index.js'
import { OutputStreams } from '../../lib/engine/output.js'
import type { SequencedEvent, ServerMessage } from '../../schemas/index.js'
import { logLines } from '../support/logger.js'
import { tick, until } from '../support/wait.js'
import { streamClient, type Server } from '../support/client-helpers.js'
import { build, TestClient } from '../support/helpers.js'
import { buildInstance, cleanupPrefix, uniquePrefix } from '../support/redis-helpers.js'

const deltasOf = (frames: ServerMessage[], nodeId = 'llm') =>
  frames.filter((frame): frame is Extract<SequencedEvent, { type: 'node_output_delta' }> => frame.type === 'node_output_delta' && frame.node_id === nodeId)

t.test('what is written within outputFlushMs goes as one event; end() sends it at once', async (t) => {
  const server = await build(t, { outputFlushMs: 60_000 })
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'llm', status: 'running' })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  t.teardown(() => client.socket.close())
  const output = server.app.dagStream.streamOutput('d', 'llm')
  for (const token of ['The', ' quick', ' brown', ' fox']) {
    output.write(token)
    output.write('')
    await tick() // a new macrotask: text written across turns of the event loop, as an engine's tokens arrive
  }
  // A later event about another node does not carry this node's text along.
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'other', status: 'running' })
  await output.end()
  const frames = await client.waitFor(3)
  t.same(frames.slice(1).map((frame) => frame.type), ['node_state', 'node_output_delta'], 'nothing sent before end()')
  t.same(deltasOf(frames).map((frame) => frame.delta), ['The quick brown fox'])
  t.equal((await server.app.dagStream.snapshot('d'))?.nodes.find((node) => node.id === 'llm')?.partial_output, 'The quick brown fox')
  t.throws(() => output.write('late'), /streamOutput\("d", "llm"\): write\(\) after end\(\)/)
  await output.end()
  t.equal((await server.app.dagStream.snapshot('d'))?.seq, 3, 'a second end() sends nothing')
})

t.test('without end(), the text goes after outputFlushMs, in fewer events than tokens', async (t) => {
  const server = await build(t, { outputFlushMs: 20 })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  t.teardown(() => client.socket.close())
  const output = server.app.dagStream.streamOutput('d', 'llm')
  output.write('first')
  await until(() => deltasOf(client.received).length === 1, 'the first delta, without end()')
  const tokens = Array.from({ length: 100 }, (_, index) => `t${index} `)
  // Five tokens per turn of the event loop: a flush timer cannot fire within a turn, so each event
  // carries at least five tokens, however slow the machine.
  for (const [index, token] of tokens.entries()) {
    output.write(token)
    if (index % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 1))
  }
  await until(() => deltasOf(client.received).map((frame) => frame.delta).join('') === 'first' + tokens.join(''), 'all the text')
  t.ok(deltasOf(client.received).length < tokens.length / 2, `${deltasOf(client.received).length} events for ${tokens.length} tokens`)
})

t.test('one timer for every node: the text of several nodes leaves in one turn, each node at most once an interval', async (t) => {
  const flushMs = 30
  const sent: Array<{ nodeId: string; at: number }> = []
  /** The node ids of each synchronous run of broadcasts: one turn of the event loop, one write per socket. */
  const batches: string[][] = []
  let batch: string[] | undefined
  const outputs = new OutputStreams({
    flushMs,
    broadcast: async (_dagId, event) => {
      const nodeId = (event as { node_id: string }).node_id
      sent.push({ nodeId, at: performance.now() })
      if (batch === undefined) {
        batch = []
        queueMicrotask(() => {
          batches.push(batch as string[])
          batch = undefined
        })
      }
      batch.push(nodeId)
      return undefined as never
    }
  })
  const writers = ['a', 'b', 'c'].map((nodeId) => outputs.open('d', nodeId))
  // Written in different turns, as three generating nodes would.
  for (const writer of writers) {
    writer.write('token ')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await until(() => sent.length === 3, 'the first deltas')
  t.same(batches, [['a', 'b', 'c']], 'the three deltas left in one turn')
  // Node a writes again at once: its next delta waits for the next interval.
  writers[0]!.write('more')
  await until(() => sent.length === 4, 'the second delta of a')
  const [first, second] = sent.filter((each) => each.nodeId === 'a')
  t.ok(second!.at - first!.at >= flushMs - 1, `a's deltas ${Math.round(second!.at - first!.at)} ms apart`)
  await outputs.close()
})

t.test('a broadcast about the node sends its waiting text first, so the final output replaces it', async (t) => {
  const server = await build(t, { outputFlushMs: 60_000 })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  t.teardown(() => client.socket.close())
  const output = server.app.dagStream.streamOutput('d', 'llm')
  output.write('draft')
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'llm', status: 'completed', output: 'final' })
  const frames = await client.waitFor(3)
  t.same(frames.slice(1).map((frame) => frame.type), ['node_output_delta', 'node_state'])
  const node = (await server.app.dagStream.snapshot('d'))?.nodes.find((candidate) => candidate.id === 'llm')
  t.same(node, { id: 'llm', status: 'completed', output: 'final' }, 'no partial output left behind')
})

t.test('an async iterable of strings: written, then ended; ended too when it throws', async (t) => {
  const server = await build(t)
  async function * tokens () {
    yield 'Hello'
    await tick()
    yield ', world'
  }
  await server.app.dagStream.streamOutput('d', 'llm', tokens())
  t.equal((await server.app.dagStream.snapshot('d'))?.nodes[0]?.partial_output, 'Hello, world')
  async function * failing () {
    yield ' and more'
    throw new Error('model went away')
  }
  await t.rejects(server.app.dagStream.streamOutput('d', 'llm', failing()), /model went away/)
  t.equal((await server.app.dagStream.snapshot('d'))?.nodes[0]?.partial_output, 'Hello, world and more', 'what came before the failure was sent')
  await server.app.dagStream.streamOutput('d', 'other', ['from', ' an array'])
  t.equal((await server.app.dagStream.snapshot('d'))?.nodes[1]?.partial_output, 'from an array')
})

t.test('bad arguments fail at once, naming what is wrong', async (t) => {
  const server = await build(t)
  t.throws(() => server.app.dagStream.streamOutput('bad id', 'llm'), InvalidDAGIdError)
  t.throws(() => server.app.dagStream.streamOutput('d', 'bad node'), InvalidEventError)
  t.throws(() => server.app.dagStream.streamOutput('d', 'bad node'), /node_output_delta: "node_id"/)
  const output = server.app.dagStream.streamOutput('d', 'llm')
  t.throws(() => output.write(42 as unknown as string), /streamOutput\("d", "llm"\): write\(\) expects a string, got number/)
})

t.test('text waiting at close reaches the log; writing after close throws', async (t) => {
  const server = await build(t, { outputFlushMs: 60_000 })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  const output = server.app.dagStream.streamOutput('d', 'llm')
  output.write('last words')
  const closing = server.app.close()
  await client.closed
  await closing
  t.same(deltasOf(client.received).map((frame) => frame.delta), ['last words'], 'flushed before the sockets closed')
  t.throws(() => output.write('too late'), { code: 'FST_DAG_STREAM_CLOSED' })
})

t.test('a delta the backplane refuses is logged, never an unhandled rejection, and later events still go', async (t) => {
  const { lines, stream } = logLines()
  // The memory backplane, failing to store any delta that says so, as Redis would during an outage.
  const refusing: BackplaneProvider = {
    kind: 'refusing',
    create (settings) {
      const backplane = memoryBackplane.create(settings)
      const append = backplane.append.bind(backplane)
      backplane.append = async (dagId, event) => {
        if (event.type === 'node_output_delta' && event.delta.startsWith('refuse')) throw new Error('store refused')
        return append(dagId, event)
      }
      return backplane
    }
  }
  const server = await build(t, { outputFlushMs: 5, backplane: refusing }, undefined, { logger: { stream } })
  const failures = () => lines.filter((line) => line.msg === 'fastify-dag-stream: broadcast failed').length
  const byTimer = server.app.dagStream.streamOutput('d', 'timed')
  byTimer.write('refuse me')
  await until(() => failures() === 1, 'the timer\'s failure logged')
  const beforeState = server.app.dagStream.streamOutput('d', 'llm')
  beforeState.write('refuse this too')
  const state = await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'llm', status: 'completed' })
  t.equal(state.seq, 1, 'the node_state went; the delta before it did not')
  await until(() => failures() === 2, 'the flush before the broadcast logged its failure')
})

/** A node generating `tokens`, a few per flush, while a client joins and another loses its socket. */
async function joinAndResumeMidGeneration (t: Test, engine: Server, viewer: Server): Promise<void> {
  const tokens = Array.from({ length: 60 }, (_, index) => `w${index} `)
  const text = tokens.join('')
  await engine.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'llm', status: 'running' })
  const output = engine.app.dagStream.streamOutput('d', 'llm')
  const early = streamClient(t, viewer, 'd')
  let written = 0
  const writeSome = async (count: number) => {
    for (const token of tokens.slice(written, written + count)) {
      output.write(token)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    written += count
  }
  const partial = (client: typeof early) => client.store.getSnapshot().nodes.get('llm')?.partial_output ?? ''
  await writeSome(20)
  await until(() => partial(early).length > 0, 'the first client sees text')
  // Mid-generation: the second client's snapshot holds the text so far.
  const late = streamClient(t, viewer, 'd')
  await until(() => late.status === 'open', 'the late client open')
  t.ok(partial(late).length > 0 && text.startsWith(partial(late)), 'the late client starts from the text so far')
  // The first client loses its socket and resumes from its seq.
  for (const socket of viewer.app.websocketServer.clients) if (socket.readyState === WebSocket.OPEN) socket.terminate()
  await writeSome(20)
  await until(() => early.status === 'open' && late.status === 'open', 'both clients back')
  await writeSome(20)
  await output.end()
  await engine.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'llm', status: 'running', metrics: { tokens: 60 } })
  await until(() => early.store.getSnapshot().nodes.get('llm')?.metrics?.tokens === 60 && late.store.getSnapshot().nodes.get('llm')?.metrics?.tokens === 60, 'the last event')
  t.equal(partial(early), text, 'the resumed client has the text exactly once, in order')
  t.equal(partial(late), text, 'the late client too')
  t.same(early.store.toSnapshot('d'), await viewer.app.dagStream.snapshot('d'), 'and agrees with the server')
}

t.test('memory: clients joining and resuming mid-generation see all the text exactly once', async (t) => {
  const server = await build(t, { outputFlushMs: 5 })
  await joinAndResumeMidGeneration(t, server, server)
})

t.test('redis: the engine on one instance, clients on another, joining and resuming mid-generation', async (t) => {
  const prefix = uniquePrefix('stream-output')
  cleanupPrefix(t, prefix)
  const engine = await buildInstance(t, { prefix, outputFlushMs: 5 })
  const viewer = await buildInstance(t, { prefix, outputFlushMs: 5 })
  await joinAndResumeMidGeneration(t, engine, viewer)
})
