// lib/stream/wire.ts writes pre-built frames under `ws`. These tests pin the `ws` internals it relies on (so
// an upgrade of `ws` that changes them fails here, loudly, rather than corrupting streams), check
// every header length against a real `ws` client, and check the public fallback.

import { Socket } from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { rawSocketOf, sendText, textFrameHeader } from '../../lib/stream/wire.js'
import { tick, until } from '../support/wait.js'

/** A ws server and one client connected to it; resolves with the server's side of the socket. */
async function pair (t: Test, serverOptions: WebSocket.ServerOptions = {}, clientOptions: WebSocket.ClientOptions = {}) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...serverOptions })
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const accepted = once(server, 'connection')
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`, clientOptions)
  t.teardown(() => client.terminate())
  const [socket] = (await accepted) as [WebSocket]
  await once(client, 'open')
  const received: string[] = []
  client.on('message', (data, isBinary) => received.push(isBinary ? '<binary>' : data.toString()))
  return { socket, client, received }
}

function receivedCount (received: string[], count: number): Promise<void> {
  return until(() => received.length >= count, `${count} frames`)
}

t.test('the ws internals wire.ts relies on are still there', async (t) => {
  const { socket } = await pair(t)
  const internals = socket as unknown as { _socket: unknown; _sender: { _state: unknown } }
  t.ok(internals._socket instanceof Socket, 'ws keeps its TCP socket in _socket')
  t.equal(internals._sender._state, 0, 'an idle ws sender has _state 0 (DEFAULT)')
  t.equal(socket.extensions, '', 'no extension unless negotiated')
  t.equal(rawSocketOf(socket), internals._socket)
})

t.test('headers of every length class, read back by a real ws client', async (t) => {
  t.same([...textFrameHeader(0)], [0x81, 0])
  t.same([...textFrameHeader(125)], [0x81, 125])
  t.same([...textFrameHeader(126)], [0x81, 126, 0, 126])
  t.same([...textFrameHeader(65_535)], [0x81, 126, 255, 255])
  t.same([...textFrameHeader(65_536)], [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])

  const { socket, received } = await pair(t)
  const raw = rawSocketOf(socket)
  // JSON strings of exactly these byte lengths, on both sides of each length class's bounds.
  const payloads = [2, 125, 126, 127, 65_535, 65_536, 300_000].map((length) => JSON.stringify('x'.repeat(length - 2)))
  for (const payload of payloads) sendText(socket, raw, Buffer.from(payload))
  await receivedCount(received, payloads.length)
  t.same(received, payloads, 'every frame intact, in order')
})

t.test('writes from promise continuations are coalesced until those queued with them are done, counted by bufferedAmount, and keep their order with ws\'s own frames', async (t) => {
  const { socket, client, received } = await pair(t)
  const raw = rawSocketOf(socket) as Socket
  const pings = once(client, 'ping')
  sendText(socket, raw, Buffer.from('"one"'))
  t.equal(raw.writableCorked, 1, 'corked after the first write of this turn')
  t.ok(socket.bufferedAmount >= 7, 'bufferedAmount counts what waits in the corked socket')
  socket.send('"through ws"')
  socket.ping()
  // A broadcast reaches the sockets in promise continuations: those of this turn join the same write.
  await Promise.resolve()
  sendText(socket, raw, Buffer.from('"two"'))
  t.equal(raw.writableCorked, 1, 'ws corking and uncorking in between leaves ours in place')
  await tick()
  t.equal(raw.writableCorked, 0, 'uncorked once the turn\'s work was done')
  await pings
  await receivedCount(received, 3)
  t.same(received, ['"one"', '"through ws"', '"two"'])
})

t.test('permessage-deflate negotiated: no raw socket, frames go through ws', async (t) => {
  const { socket, received } = await pair(t, { perMessageDeflate: true }, { perMessageDeflate: true })
  t.match(socket.extensions, /permessage-deflate/)
  t.equal(rawSocketOf(socket), undefined)
  sendText(socket, undefined, Buffer.from('"compressed by ws"'))
  await receivedCount(received, 1)
  t.same(received, ['"compressed by ws"'])
})

t.test('a sender busy with a frame of its own (here: reading a Blob) is not overtaken', async (t) => {
  const { socket, received } = await pair(t)
  const raw = rawSocketOf(socket)
  socket.send(new Blob(['"blob first"']))
  t.not((socket as unknown as { _sender: { _state: number } })._sender._state, 0, 'ws is reading the Blob')
  sendText(socket, raw, Buffer.from('"then this"'))
  await receivedCount(received, 2)
  t.same(received, ['<binary>', '"then this"'])
})

t.test('not a ws socket as expected: no raw socket', async (t) => {
  t.equal(rawSocketOf({ extensions: '', _socket: {}, _sender: { _state: 0 } } as unknown as WebSocket), undefined)
  t.equal(rawSocketOf({ extensions: '', _socket: new Socket(), _sender: {} } as unknown as WebSocket), undefined)
})
