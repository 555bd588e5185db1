// Reading the Server-Sent Events route as a test does: the raw text and the parsed messages.

import type { Test } from 'tap'
import { EventStreamParser } from '../../lib/client/event-stream.js'
import type { EventStreamOpened } from '../../schemas/index.js'
import { until } from './wait.js'

/** An event stream read with fetch: its raw text so far and its messages, parsed; `abort()` ends it as its reader. */
export async function openEvents (t: Test, url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController()
  t.teardown(() => abort.abort())
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal })
  const stream = { response, text: '', messages: [] as Array<{ event: string; data: string }>, ended: false, abort: () => abort.abort() }
  if (response.body === null) return stream
  const reader = response.body.getReader()
  const parser = new EventStreamParser()
  const decoder = new TextDecoder()
  const read = async (): Promise<void> => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const text = decoder.decode(value, { stream: true })
      stream.text += text
      stream.messages.push(...parser.push(text))
    }
    stream.ended = true
  }
  read().catch(() => {
    stream.ended = true
  })
  return stream
}

export function frames (stream: { messages: Array<{ event: string; data: string }> }) {
  return stream.messages.filter((message) => message.event === 'message').map((message) => JSON.parse(message.data))
}

/** The key of an event stream, from its first message (`event: stream`). */
export async function streamKeyOf (stream: { messages: Array<{ event: string; data: string }> }): Promise<string> {
  await until(() => stream.messages.length > 0, 'the stream\'s first message')
  const opened = stream.messages[0] as { event: string; data: string }
  if (opened.event !== 'stream') throw new Error(`the first message is "${opened.event}", not "stream"`)
  return (JSON.parse(opened.data) as EventStreamOpened).key
}
