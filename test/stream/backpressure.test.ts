import t from 'tap'
import type { WebSocket } from 'ws'
import { CloseCode } from '../../lib/index.js'
import type { SequencedEvent } from '../../schemas/index.js'
import { build, TestClient } from '../support/helpers.js'
import { tick } from '../support/wait.js'

t.test('a stalled reader is cut off at maxBufferedBytes and told to resume; nothing is lost silently', async (t) => {
  const maxBufferedBytes = 256 * 1024
  const { app, url } = await build(t, { maxBufferedBytes })
  // The server's end of each stream, by the name its viewer put in the query.
  const serverEnds = new Map<string, WebSocket>()
  app.websocketServer.on('connection', (socket: WebSocket, request: { url?: string }) => {
    serverEnds.set(new URL(request.url ?? '', 'http://localhost').searchParams.get('viewer') ?? '', socket)
  })
  const stalled = await TestClient.open(url('/api/dags/d/stream?viewer=stalled'))
  const healthy = await TestClient.open(url('/api/dags/d/stream?viewer=healthy'))
  await stalled.next()
  await healthy.next()
  // The dashboard's tab is frozen: it reads nothing more from its TCP socket (ws's public pause()).
  stalled.socket.pause()
  const toStalled = serverEnds.get('stalled') as WebSocket

  const output = 'x'.repeat(1024)
  const total = 20_000 // ~20 MiB: far more than the kernel's socket buffers can hide
  // What the server held unsent for the stalled reader, sampled while it still sent to it.
  let peakQueued = 0
  for (let i = 0; i < total; i++) {
    void app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i % 100}`, status: 'running', output })
    // Yield often enough (20 KiB at a time) for a healthy reader in this process to keep up.
    if (i % 20 === 0) {
      await tick()
      if (toStalled.readyState === toStalled.OPEN) peakQueued = Math.max(peakQueued, toStalled.bufferedAmount)
    }
  }
  t.equal(app.dagStream.connections('d'), 1, 'the stalled socket left its room')
  t.equal(toStalled.readyState, toStalled.CLOSING, 'the server started closing it, and waits for the reader to take the close frame')
  // Between two samples at most 21 frames (about 23 KiB) were queued.
  t.ok(peakQueued <= maxBufferedBytes, `never more than maxBufferedBytes queued (at most ${peakQueued} bytes)`)
  t.ok(peakQueued > maxBufferedBytes - 32 * 1024, `cut off when the queue reached maxBufferedBytes, not before (${peakQueued} bytes)`)
  t.ok(toStalled.bufferedAmount <= maxBufferedBytes + 128, 'nothing was queued for it after the cut but the close frame')

  await healthy.waitFor(total + 1, 60_000)
  t.same((healthy.received.slice(1) as SequencedEvent[]).map((e) => e.seq), Array.from({ length: total }, (_, i) => i + 1), 'other viewers are not held back')

  stalled.socket.resume()
  const { code } = await stalled.closed
  t.equal(code, CloseCode.SLOW_CONSUMER, 'the frozen client learns it must reconnect and resume')
  const got = stalled.received.slice(1) as SequencedEvent[]
  t.same(got.map((e) => e.seq), Array.from({ length: got.length }, (_, i) => i + 1), 'what it did get is a gapless prefix')
  t.ok(got.length < total / 2, `the server stopped sending after ${got.length} of ${total} events`)
  healthy.close()
})
