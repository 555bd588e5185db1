// Frames no client library sends, written byte by byte: invalid UTF-8, and messages cut into floods of
// fragments. Each gets a documented close code, the log is not flooded at error level, the heap stays
// bounded, and the server goes on serving everyone else.
// (A client that never reads is closed at maxBufferedBytes with 4000: test/backpressure.test.ts.)

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t, { type Test } from 'tap'
import { CloseCode } from '../../lib/index.js'
import { MAX_FRAGMENTS } from '../../lib/options.js'
import { logLines } from '../support/logger.js'
import { build, TestClient } from '../support/helpers.js'
import { stillServes } from './probe.js'
import { clientFrame, Opcode, RawConnection } from './raw-socket.js'
import { tick } from '../support/wait.js'

const stream = '/api/dags/d/stream'

/** A server whose log lines are kept, for their levels. */
async function serverWithLog (t: Test, options = {}) {
  const { lines, stream } = logLines()
  const server = await build(t, options, (app) => { app.dagStream.onClientEvent(() => {}) }, { logger: { level: 'info', stream } })
  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  return { ...server, lines }
}

t.test('a text frame that is not valid UTF-8 is closed with 1007, logged at info, and harms no one else', async (t) => {
  const { app, url, lines, port } = await serverWithLog(t)
  const bystander = await TestClient.open(url(stream))
  await bystander.next()
  const invalid: Array<[string, Buffer]> = [
    ['a lone surrogate, encoded as if it were a character (CESU-8)', Buffer.from([0xed, 0xa0, 0x80])],
    ['an overlong encoding of "/"', Buffer.from([0xc0, 0xaf])],
    ['a sequence cut short', Buffer.from([0xe2, 0x82])],
    ['a byte that never occurs in UTF-8', Buffer.from([0xff])],
    ['a code point past U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
    ['an invalid byte inside a JSON command', Buffer.concat([Buffer.from('{"type":"pause_execution","id":"'), Buffer.from([0xfe]), Buffer.from('"}')])]
  ]
  for (const [what, bytes] of invalid) {
    const raw = await RawConnection.upgrade(port, stream)
    raw.socket.write(clientFrame(Opcode.TEXT, bytes))
    t.equal(await raw.outcome(), CloseCode.INVALID_PAYLOAD, what)
  }
  await stillServes(t, url(stream))
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await bystander.next(), { type: 'execution_status', seq: 2 }, 'the bystander got every event')
  const protocolErrors = lines.filter((line) => line.msg === 'fastify-dag-stream: closed a socket after a protocol error')
  t.equal(protocolErrors.length, invalid.length, 'each is logged once')
  t.ok(protocolErrors.every((line) => line.level === 30), 'at info: a client cannot flood the error log')
  t.same(lines.filter((line) => line.level >= 50), [], 'nothing at error level')
  bystander.close()
})

t.test('valid UTF-8 split across fragments is one valid message', async (t) => {
  const { port } = await serverWithLog(t)
  const raw = await RawConnection.upgrade(port, stream)
  const message = Buffer.from('{"type":"pause_execution","id":"€"}')
  const cut = message.indexOf(0xe2) + 1 // inside the three bytes of "€"
  raw.socket.write(Buffer.concat([clientFrame(Opcode.TEXT, message.subarray(0, cut), false), clientFrame(Opcode.CONTINUATION, message.subarray(cut))]))
  await raw.waitFor(Buffer.from('{"type":"ack","id":"€"}').toString('latin1'))
  t.pass('acked')
  raw.socket.destroy()
})

t.test('a message in more fragments than 1,024 is closed with 1008; up to 1,024 it is served', async (t) => {
  const { port, url } = await serverWithLog(t)
  // A command padded with spaces (valid JSON) to one byte per fragment.
  const message = Buffer.from('{"type":"pause_execution","id":"split"}'.padEnd(MAX_FRAGMENTS, ' '))
  const fragments = (bytes: Buffer) =>
    Buffer.concat([...bytes].map((byte, index) => clientFrame(index === 0 ? Opcode.TEXT : Opcode.CONTINUATION, Buffer.from([byte]), index === bytes.length - 1)))

  const allowed = await RawConnection.upgrade(port, stream)
  allowed.socket.write(fragments(message))
  await allowed.waitFor('{"type":"ack","id":"split"}')
  t.pass('1,024 one-byte fragments make one message, acked')
  allowed.socket.destroy()

  const flooded = await RawConnection.upgrade(port, stream)
  flooded.socket.write(fragments(Buffer.concat([message, Buffer.from(' ')])))
  t.equal(await flooded.outcome(), CloseCode.POLICY_VIOLATION, 'the 1,025th fragment closes the socket')

  // Empty fragments carry no payload, so maxPayload alone would never stop them.
  const empty = await RawConnection.upgrade(port, stream)
  empty.socket.write(clientFrame(Opcode.TEXT, Buffer.alloc(0), false))
  const nothing = clientFrame(Opcode.CONTINUATION, Buffer.alloc(0), false)
  for (let i = 0; i < 10 && !empty.socket.destroyed; i++) empty.socket.write(Buffer.concat(Array.from({ length: 1000 }, () => nothing)))
  t.equal(await empty.outcome(), CloseCode.POLICY_VIOLATION, 'a flood of empty fragments is closed too')
  await stillServes(t, url(stream))
})

t.test('fragments that add up past maxPayload are closed with 1009 at the first byte too many', async (t) => {
  const { port, url } = await serverWithLog(t, { maxPayload: 1000 })
  const raw = await RawConnection.upgrade(port, stream)
  const chunk = Buffer.alloc(100, 0x20)
  raw.socket.write(clientFrame(Opcode.TEXT, chunk, false))
  // 10 fragments of 100 bytes are exactly maxPayload; the 11th passes it.
  for (let i = 1; i <= 10; i++) raw.socket.write(clientFrame(Opcode.CONTINUATION, chunk, false))
  t.equal(await raw.outcome(), CloseCode.MESSAGE_TOO_BIG)
  await stillServes(t, url(stream))
})

t.test('tiny fragments cannot grow the heap: at most 1,024 per socket, then closed', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const heap = async () => {
    for (let i = 0; i < 3; i++) {
      gc()
      await tick()
    }
    return process.memoryUsage().heapUsed
  }
  const { port, url } = await serverWithLog(t)
  const sockets = 20
  const oneByteFragments = (count: number) =>
    Buffer.concat(Array.from({ length: count }, (_, index) => clientFrame(index === 0 ? Opcode.TEXT : Opcode.CONTINUATION, Buffer.from(' '), false)))

  // The most a socket may hold: an unfinished message of 1,023 one-byte fragments.
  let before = await heap()
  const held: RawConnection[] = []
  const unfinished = oneByteFragments(MAX_FRAGMENTS - 1)
  for (let i = 0; i < sockets; i++) {
    const raw = await RawConnection.upgrade(port, stream)
    raw.socket.write(unfinished)
    await raw.drained()
    held.push(raw)
  }
  const perHeldSocket = ((await heap()) - before) / sockets
  t.ok(perHeldSocket < 400_000, `an unfinished message at the cap costs about ${Math.round(perHeldSocket / 1024)} KiB of heap per socket`)
  t.ok(held.every((raw) => !raw.socket.destroyed), 'and is no fault by itself: the sockets stay open')
  for (const raw of held) raw.socket.destroy()

  // What ws's own default (16,384) would accept: about 1.8 MB of heap per socket for a 16 KB message.
  before = await heap()
  const flood = oneByteFragments(16_000)
  const outcomes = Promise.all(
    Array.from({ length: sockets }, async () => {
      const raw = await RawConnection.upgrade(port, stream)
      raw.socket.write(flood)
      return raw
    })
  )
  const flooded = await outcomes
  // Measured while the sockets the server kept (if any) still hold their fragments.
  await Promise.all(flooded.map((raw) => raw.drained().catch(() => {})))
  const perFloodedSocket = ((await heap()) - before) / sockets
  t.ok(perFloodedSocket < 400_000, `the floods left about ${Math.round(perFloodedSocket / 1024)} KiB of heap per socket`)
  t.same(await Promise.all(flooded.map((raw) => raw.outcome())), Array.from({ length: sockets }, () => CloseCode.POLICY_VIOLATION), 'every flood is closed with 1008')
  await stillServes(t, url(stream))
})
