// The little the client needs from a WebSocket and from fetch, so that the browser's globals and
// Node's `ws` both fit without an adapter, and the URLs it builds from the options.

// Declared as a method so that implementations whose handlers take a richer event type (the DOM's
// CloseEvent, ws's WebSocket.CloseEvent) still fit: method parameters are compared bivariantly.
type Handler<Event> = { bivarianceHack (event: Event): void }['bivarianceHack']

/** The part of the WebSocket API the client uses; the browser's WebSocket and `ws` both have it. */
export interface WebSocketLike {
  send (data: string): void
  close (code?: number, reason?: string): void
  onmessage: Handler<{ data: unknown }> | null
  onclose: Handler<{ code: number; reason: string }> | null
  onerror: Handler<unknown> | null
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

/**
 * The part of fetch the client uses: to GET the snapshot and, over the event-stream transport, to read
 * the stream (`body`) and POST commands.
 */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; method?: string; body?: string; signal?: AbortSignal }
) => Promise<{ ok: boolean; status: number; json (): Promise<unknown>; body?: ReadableStream<Uint8Array> | null }>

/** `GET {baseUrl}{prefix}/:id`: the snapshot. */
export function snapshotUrl (baseUrl: string, prefix: string, dagId: string): string {
  return `${baseUrl}${prefix}/${encodeURIComponent(dagId)}`
}

/**
 * The WebSocket stream URL, resuming after `since` (the last event the client holds; none before it
 * knows anything, which asks for the snapshot), with the app's own parameters.
 */
export function streamUrl (
  baseUrl: string,
  prefix: string,
  dagId: string,
  since: { epoch: string; seq: number } | undefined,
  params: Record<string, string> = {}
): string {
  const url = dagUrl(baseUrl, prefix, dagId, 'stream', params, since)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  return url.href
}

/** The Server-Sent Events stream URL: the same resume position and parameters as `streamUrl`. */
export function eventStreamUrl (
  baseUrl: string,
  prefix: string,
  dagId: string,
  since: { epoch: string; seq: number } | undefined,
  params: Record<string, string> = {}
): string {
  return dagUrl(baseUrl, prefix, dagId, 'events', params, since).href
}

/** Where an event-stream client POSTs its client events, with the app's own parameters (a token, say). */
export function commandsUrl (baseUrl: string, prefix: string, dagId: string, params: Record<string, string> = {}): string {
  return dagUrl(baseUrl, prefix, dagId, 'commands', params).href
}

function dagUrl (
  baseUrl: string,
  prefix: string,
  dagId: string,
  path: string,
  params: Record<string, string>,
  since?: { epoch: string; seq: number }
): URL {
  const url = new URL(`${snapshotUrl(baseUrl, prefix, dagId)}/${path}`)
  // The position is the client's own: an app's parameter of the same name never reaches the server,
  // also when the client has no position to give (it then asks for the snapshot's state).
  const resume = since === undefined ? {} : { since: String(since.seq), epoch: since.epoch }
  for (const [name, value] of Object.entries(params)) {
    if (name !== 'since' && name !== 'epoch') url.searchParams.set(name, value)
  }
  for (const [name, value] of Object.entries(resume)) url.searchParams.set(name, value)
  return url
}
