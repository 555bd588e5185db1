// Target (c): socket.io 4 as its documentation shows rooms: each socket joins the room named in its
// handshake, and the engine calls `io.to(room).emit`. WebSocket transport only (no long-polling
// upgrade dance), without compression, like the other two.

import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { FIXED_EPOCH, type Target, type TargetOptions } from './index.js'

export async function createTarget (options: TargetOptions): Promise<Target> {
  const http = createServer()
  const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false })
  const seqs = new Map<string, number>()
  const { onStreamRequest } = options
  if (onStreamRequest !== undefined) io.engine.on('initial_headers', () => onStreamRequest())
  io.on('connection', (socket) => {
    const dagId = String(socket.handshake.query.dag)
    void socket.join(dagId)
    socket.emit('hello', { type: 'hello', dag_id: dagId, epoch: FIXED_EPOCH, seq: seqs.get(dagId) ?? 0 })
  })

  return {
    async listen (port) {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject)
        http.listen(port, '127.0.0.1', () => resolve())
      })
      return (http.address() as { port: number }).port
    },
    broadcast (dagId, event) {
      const seq = (seqs.get(dagId) ?? 0) + 1
      seqs.set(dagId, seq)
      io.to(dagId).emit('dag', { ...event, seq, epoch: FIXED_EPOCH })
    },
    connections: () => io.engine.clientsCount,
    close: () => new Promise((resolve) => {
      io.disconnectSockets(true)
      void io.close(() => resolve())
    })
  }
}
