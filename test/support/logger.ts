// A logger for the parts of the plugin that tests build without Fastify (stores, hubs, caches): silent,
// or keeping what it was told for the test to read.

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
