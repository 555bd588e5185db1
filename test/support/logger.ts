// Loggers for tests: for the parts of the plugin built without Fastify (stores, hubs, caches), silent or
// keeping what they were told; for an app, a stream that keeps what Fastify's logger writes.

import { Writable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'

/** One line a logger was told: its level and message (the details object is not kept). */
export interface LoggedLine {
  level: string
  message: string
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

/** A logger that keeps each line it is told in `lines`, its children too. */
export function recordingLogger (): { lines: LoggedLine[]; log: FastifyBaseLogger } {
  const lines: LoggedLine[] = []
  return { lines, log: logger((level, message) => lines.push({ level, message })) }
}

/** A logger that writes nothing, its children neither. */
export const silentLogger: FastifyBaseLogger = logger(() => {})

function logger (write: (level: string, message: string) => void): FastifyBaseLogger {
  // pino's two call shapes: (details, message) and (message).
  const level = (name: string) => (details: unknown, message?: string) => {
    write(name, typeof details === 'string' ? details : message ?? '')
  }
  const log = {
    level: 'trace',
    silent () {},
    child: () => log,
    ...Object.fromEntries(LEVELS.map((name) => [name, level(name)]))
  }
  return log as unknown as FastifyBaseLogger
}

/** A line Fastify's logger (pino) wrote, parsed: its level (30 info, 40 warn, 50 error), message and fields. */
export interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

/**
 * A stream for Fastify's `logger: { stream }` that keeps every line written to it: as written in
 * `raw`, and parsed in `lines`.
 */
export function logLines (): { stream: Writable; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = []
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter((line) => line !== '')) {
        raw.push(line)
        lines.push(JSON.parse(line) as LogLine)
      }
      done()
    }
  })
  return { stream, lines, raw }
}
