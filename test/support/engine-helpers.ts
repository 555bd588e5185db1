// Helpers for the HTTP engine API: an engine as a test drives it (POSTs and the command feed).

import type { Test } from 'tap'
import type { EngineCommand, EngineEventsReply, EngineFeedOpened, NumberedEvent } from '../../schemas/index.js'
import { until } from './client-helpers.js'
import { openEvents } from './event-stream-helpers.js'

export const ENGINE_TOKEN = 'engine-secret'
export const engineHeaders = { authorization: `Bearer ${ENGINE_TOKEN}` }

/** The engine API's option as the tests set it: the engine's bearer token, nothing else. */
export const engineApi = {
  authorize: (request: { headers: Record<string, unknown> }) => request.headers.authorization === `Bearer ${ENGINE_TOKEN}`
}

/** POSTs `body` as JSON with the engine's credential; resolves with the status and the parsed body (if any). */
export async function postJson<Body = any> (url: string, body: unknown, headers: Record<string, string> = engineHeaders): Promise<{ status: number; body: Body }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
  const text = await response.text()
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as Body }
}

/** A batch of `producer` numbered from `from`. */
export function batch (producer: string, from: number, events: object[]): { producer: string; events: NumberedEvent[] } {
  return { producer, events: events.map((event, index) => ({ ...event, n: from + index }) as NumberedEvent) }
}

/** POSTs a batch to `{http}/api/dags/{dagId}/events`. */
export function postBatch (http: string, dagId: string, body: unknown, headers?: Record<string, string>) {
  return postJson<EngineEventsReply & { code?: string; expected?: number; message?: string }>(`${http}/api/dags/${dagId}/events`, body, headers)
}

/** An engine's command feed, opened on `http`: its key, and the commands it carried so far. */
export async function openFeed (t: Test, http: string, dagId: string) {
  const stream = await openEvents(t, `${http}/api/dags/${dagId}/engine`, engineHeaders)
  await until(() => stream.messages.length > 0 || stream.ended, 'the feed\'s first message')
  const opened = JSON.parse((stream.messages[0] as { data: string }).data) as EngineFeedOpened
  const commands = () => stream.messages.filter((message) => message.event === 'command').map((message) => JSON.parse(message.data) as EngineCommand)
  return {
    stream,
    key: opened.feed,
    leaseMs: opened.lease_ms,
    commands,
    /** The command number `index` (0: the first), once it came. */
    async command (index: number): Promise<EngineCommand> {
      await until(() => commands().length > index, `command ${index}`)
      return commands()[index] as EngineCommand
    },
    /** POSTs the answer to command `id` on `to` (any instance). */
    answer (to: string, id: string, ok: boolean, message?: string) {
      return postJson(`${to}/api/dags/${dagId}/engine`, { feed: opened.feed, id, ok, ...(message !== undefined && { message }) })
    }
  }
}
