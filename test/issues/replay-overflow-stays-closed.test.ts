// Regression (issue 9, defect 1): a replay that alone passes maxBufferedBytes closes the socket as a
// slow consumer, and the connection must stay closed: start() used to set it live again, after which
// it would close (and leave its room) a second time.

import t from 'tap'
import type { FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { Connection } from '../../lib/stream/connection.js'
import { CloseCode } from '../../lib/index.js'
import { noMetrics } from '../../lib/metrics/metrics.js'
import { silentLogger } from '../support/logger.js'

/** The parts of a ws socket a Connection uses, recording what it is asked to do. */
function fakeSocket () {
  const socket = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    sent: [] as Buffer[],
    closes: [] as number[],
    on () { return socket },
    send (frame: Buffer) {
      socket.sent.push(frame)
      socket.bufferedAmount += frame.length
    },
    close (code: number) {
      socket.closes.push(code)
    },
    ping () {},
    terminate () {}
  }
  return socket
}

t.test('a replay past maxBufferedBytes closes the socket once, and it stays closed', async (t) => {
  const socket = fakeSocket()
  let ended = 0
  const request = { log: silentLogger } as unknown as FastifyRequest
  const connection = new Connection(socket as unknown as WebSocket, request, 'd', {
    maxPayload: 1024,
    maxBufferedBytes: 100,
    rateLimit: false,
    maxQueuedEvents: 16,
    metrics: noMetrics,
    onClose: () => { ended++ },
    runCommand: async () => undefined
  })
  const entry = (seq: number) => ({
    epoch: 'e',
    seq,
    frame: Buffer.from(JSON.stringify({ type: 'node_state', node_id: 'n', status: 'running', seq, epoch: 'e', pad: 'x'.repeat(40) }))
  })
  connection.start({ recovered: true, epoch: 'e', seq: 3, entries: [1, 2, 3].map(entry) })
  t.same(socket.closes, [CloseCode.SLOW_CONSUMER])
  t.equal(ended, 1)
  connection.deliver(entry(4))
  connection.close(CloseCode.GOING_AWAY, 'server shutting down')
  t.same(socket.closes, [CloseCode.SLOW_CONSUMER], 'not closed again')
  t.equal(ended, 1, 'left its room once')
  t.notOk(socket.sent.some((frame) => frame.includes('"seq":4')), 'nothing live after the close')
})
