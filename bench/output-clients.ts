// The dashboards of bench/output.ts, in their own process: plain `ws` sockets on one DAG's stream, which
// count what reaches them (frames, bytes) and put each node's text back together.

import WebSocket from 'ws'
import type { ServerMessage } from '../schemas/index.js'
import { runLimited } from './limit.js'
import { serve, withTimeout } from './redis-ipc.js'

interface Dashboard {
  socket: WebSocket
  frames: number
  bytes: number
  /** The characters of node_output_delta received: every dashboard must end with every character. */
  characters: number
}

const dashboards: Dashboard[] = []

function open (url: string): Promise<void> {
  const dashboard: Dashboard = { socket: new WebSocket(url), frames: 0, bytes: 0, characters: 0 }
  dashboards.push(dashboard)
  dashboard.socket.on('message', (data: Buffer) => {
    dashboard.frames += 1
    dashboard.bytes += data.length
    const message = JSON.parse(data.toString()) as ServerMessage
    if (message.type === 'node_output_delta') dashboard.characters += message.delta.length
  })
  return new Promise((resolve, reject) => {
    dashboard.socket.once('open', resolve)
    dashboard.socket.once('error', reject)
  })
}

async function connect ({ port, dagId, clients }: { port: number; dagId: string; clients: number }): Promise<void> {
  const url = `ws://127.0.0.1:${port}/api/dags/${dagId}/stream`
  const { failed } = await runLimited(clients, 50, () => withTimeout(open(url), 10_000, 'a dashboard did not open'))
  if (failed > 0) throw new Error(`${failed} of ${clients} dashboards did not connect`)
}

/** Totals over all dashboards, and the fewest characters any one of them has. */
function stats () {
  let frames = 0
  let bytes = 0
  let fewestCharacters = Number.POSITIVE_INFINITY
  for (const dashboard of dashboards) {
    frames += dashboard.frames
    bytes += dashboard.bytes
    fewestCharacters = Math.min(fewestCharacters, dashboard.characters)
  }
  return { dashboards: dashboards.length, frames, bytes, fewestCharacters }
}

async function close (): Promise<void> {
  for (const { socket } of dashboards.splice(0)) socket.close()
}

const commands = { connect, stats, close }
export type OutputClientCommands = typeof commands

serve(commands, close)
