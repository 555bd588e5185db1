// Target (b): the least a WebSocket server can do for rooms. One `ws` server, a Set of sockets per
// DAG, and per event one JSON.stringify and one `send(string)` per socket of the room: no validation,
// no history, no backpressure policy. It is the floor the other two are measured against.

import { WebSocketServer, type WebSocket } from 'ws'
import { FIXED_EPOCH, type Target, type TargetOptions } from './index.js'

export async function createTarget (options: TargetOptions): Promise<Target> {
  const rooms = new Map<string, Set<WebSocket>>()
  const seqs = new Map<string, number>()
  let wss: WebSocketServer | undefined

  function join (socket: WebSocket, dagId: string): void {
    let room = rooms.get(dagId)
    if (room === undefined) rooms.set(dagId, (room = new Set()))
    room.add(socket)
    socket.on('close', () => {
      room.delete(socket)
      if (room.size === 0 && rooms.get(dagId) === room) rooms.delete(dagId)
    })
    // The client counts a socket as connected once this first frame arrives, as with the plugin.
    socket.send(JSON.stringify({ type: 'hello', dag_id: dagId, epoch: FIXED_EPOCH, seq: seqs.get(dagId) ?? 0 }))
  }

  return {
    async listen (port) {
      const server = new WebSocketServer({ host: '127.0.0.1', port })
      wss = server
      server.on('connection', (socket, request) => {
        // An error listener, as every ws server needs one: a reset peer must not crash the process.
        socket.on('error', () => {})
        join(socket, decodeURIComponent((request.url ?? '/').slice(1)))
      })
      server.on('headers', () => options.onStreamRequest?.())
      await new Promise((resolve, reject) => {
        server.once('listening', resolve)
        server.once('error', reject)
      })
      return (server.address() as { port: number }).port
    },
    broadcast (dagId, event) {
      const seq = (seqs.get(dagId) ?? 0) + 1
      seqs.set(dagId, seq)
      const room = rooms.get(dagId)
      if (room === undefined) return
      const frame = JSON.stringify({ ...event, seq, epoch: FIXED_EPOCH })
      for (const socket of room) socket.send(frame)
    },
    connections: () => wss?.clients.size ?? 0,
    close: () => new Promise((resolve) => {
      if (wss === undefined) return resolve()
      for (const socket of wss.clients) socket.terminate()
      wss.close(() => resolve())
    })
  }
}
