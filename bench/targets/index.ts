// The servers the harness compares, as the client process and the orchestrator know them: a name and
// where a client of a DAG connects. The server side of each lives in its own module (loaded only by
// the server process, so a client process never loads Fastify or socket.io's server).

import type { DAGEvent } from '../../schemas/index.js'

export const TARGETS = ['plugin', 'raw', 'socketio'] as const
export type TargetName = (typeof TARGETS)[number]

/** How each target is named in the tables. */
export const TARGET_LABELS: Record<TargetName, string> = {
  plugin: 'fastify-dag-stream',
  raw: 'raw `ws` loop',
  socketio: 'socket.io 4 rooms'
}

/** The plugin's snapshot and stream routes, under its default prefix. */
export const snapshotUrl = (port: number, dagId: string) => `http://127.0.0.1:${port}/api/dags/${encodeURIComponent(dagId)}`

/**
 * Where a client of `dagId` connects. socket.io has one endpoint for every room (the DAG goes in the
 * handshake's query), so its URL is the server's origin.
 */
export function streamUrl (target: TargetName, port: number, dagId: string): string {
  switch (target) {
    case 'plugin':
      return `${snapshotUrl(port, dagId).replace(/^http/, 'ws')}/stream`
    case 'raw':
      return `ws://127.0.0.1:${port}/${encodeURIComponent(dagId)}`
    case 'socketio':
      return `http://127.0.0.1:${port}`
  }
}

/**
 * The epoch the raw loop and socket.io stamp on their events: they have no log that could start over.
 * A UUID like the plugin's, so every target's frames are the same size and the one client process
 * parses the same bytes for each (a shorter epoch made the baselines' frames 31 bytes lighter).
 */
export const FIXED_EPOCH = '00000000-0000-4000-8000-000000000000'

/**
 * One server under test, inside the server process. Every target gets the same event objects from the
 * same load generator (bench/server.ts), and frames carry `seq` and `epoch` on each, so the one client
 * can check order and measure latency alike.
 */
export interface Target {
  /** Accepts clients on 127.0.0.1:`port` (0: any free port); resolves with the port. */
  listen (port: number): Promise<number>
  /** Sends `event` to every client of `dagId`, as that server's users would. */
  broadcast (dagId: string, event: DAGEvent): void
  /** Open client connections. */
  connections (): number
  close (): Promise<void>
}

export interface TargetOptions {
  /** Called with `now()` when a stream connection request arrives (the reconnect storm counts them). */
  onStreamRequest?: () => void
}
