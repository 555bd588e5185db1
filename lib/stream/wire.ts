// Writing WebSocket text frames to many sockets at the cost of one.
//
// `ws` frames every send() on its own: a header allocated per call and one write (one syscall) per
// message per socket. A DAG event goes unchanged to every dashboard of its DAG, and a server's frames
// are not masked, so the bytes on the wire are the same for every socket: the frame is built once
// per event (a header, then the payload the backplane serialized once) and written straight to each
// socket's TCP stream. Writes are also coalesced: a socket written to is corked until `process.nextTick`,
// so a burst of N events (a fan-out that starts 100 nodes in one tick) costs one write per socket, not
// N. A tick runs once the code that wrote is done; when that code is a promise continuation (an
// engine's async function), after the continuations queued with it too, so an engine that awaits
// between broadcasts still gets one write. (From a plain callback, the tick comes before the
// callback's continuations: their broadcasts make a second write.) Not until the check phase
// (`setImmediate`): the I/O callbacks polled before it would delay every frame, and at a low rate that
// put the p99 latency half a millisecond above a plain `send`'s.
//
// This is the one module that reaches into `ws` internals (`_socket`, `_sender`); test/wire.test.ts
// fails loudly if they change. A socket whose frames `ws` must transform (permessage-deflate) or
// queue takes the public `send` instead.

import { Socket } from 'node:net'
import type { WebSocket } from 'ws'

const FIN_TEXT = 0x81

/** The header of an unmasked, final text frame carrying `length` bytes (RFC 6455, section 5.2). */
export function textFrameHeader (length: number): Buffer {
  if (length < 126) return Buffer.from([FIN_TEXT, length])
  if (length < 65_536) {
    const header = Buffer.allocUnsafe(4)
    header[0] = FIN_TEXT
    header[1] = 126
    header.writeUInt16BE(length, 2)
    return header
  }
  const header = Buffer.allocUnsafe(10)
  header[0] = FIN_TEXT
  header[1] = 127
  header.writeBigUInt64BE(BigInt(length), 2)
  return header
}

// The fan-out hands one payload to every socket of a room in a row: the frame (header and payload in
// one buffer) is built for the first and reused for the others, so they allocate nothing, and each
// socket's write is one chunk, not two.
let lastPayload: Buffer | undefined
let lastFrame: Buffer = Buffer.alloc(0)

function frameFor (payload: Buffer): Buffer {
  if (payload !== lastPayload) {
    lastFrame = Buffer.concat([textFrameHeader(payload.length), payload])
    lastPayload = payload
  }
  return lastFrame
}

interface WsInternals {
  _socket?: unknown
  /** `_state` is 0 (DEFAULT) unless the sender is compressing a frame or reading a Blob. */
  _sender?: { _state?: unknown }
}

const SENDER_IDLE = 0

/**
 * The TCP socket under `socket` when pre-built frames may be written to it, or undefined when they
 * must go through `ws` (a compression extension was negotiated, or `ws` no longer looks as expected).
 */
export function rawSocketOf (socket: Pick<WebSocket, 'extensions'>): Socket | undefined {
  if (socket.extensions !== '') return undefined
  const internals = socket as unknown as WsInternals
  const raw = internals._socket
  return raw instanceof Socket && internals._sender?._state === SENDER_IDLE ? raw : undefined
}

const corked: Socket[] = []

function uncorkAll (): void {
  for (const socket of corked) socket.uncork()
  corked.length = 0
}

/** Corks `socket` until the work of this turn of the event loop is done, unless it already is. */
function corkForThisTurn (socket: Socket): void {
  if (socket.writableCorked > 0) return
  socket.cork()
  if (corked.push(socket) === 1) process.nextTick(uncorkAll)
}

const TEXT = { binary: false }

/** Sends one text frame whose payload is UTF-8 JSON; `raw` is what `rawSocketOf` returned for `socket`. */
export function sendText (socket: Pick<WebSocket, 'send'>, raw: Socket | undefined, payload: Buffer): void {
  // ws holds frames back while it compresses or reads a Blob; a frame written past them would
  // overtake them. The plugin sends neither, but an application holding the socket might.
  if (raw === undefined || (socket as unknown as Required<WsInternals>)._sender._state !== SENDER_IDLE) {
    socket.send(payload, TEXT)
    return
  }
  corkForThisTurn(raw)
  raw.write(frameFor(payload))
}
