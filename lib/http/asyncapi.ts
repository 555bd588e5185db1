// The AsyncAPI 3 document of the WebSocket protocol, generated from the TypeBox schemas in schemas/,
// so it cannot drift from what the plugin validates and sends. The document is written from the
// server's point of view: it *sends* DAG events and control frames, and *receives* client events.

import type { AddressInfo } from 'node:net'
import type { TSchema } from '@sinclair/typebox'
import { ClientMessage, ControlFrame, EventStreamOpened, Identifier, PostedGateViewingEvent, PROTOCOL_VERSION, SequencedEvent } from '../../schemas/events.js'
import { ListServerFrame } from '../../schemas/list.js'
import { ListQuery, StreamQuery, StreamRoute } from '../../schemas/routes.js'
import { DAGSnapshot } from '../../schemas/snapshot.js'
import { CloseCode, closeCodeDescriptions, shouldReconnect } from '../shared/close-codes.js'
import { DEFAULT_PREFIX } from '../options.js'

export interface AsyncApiOptions {
  /** The plugin's `prefix`; the channel is `${prefix}/{id}/stream`. @default '/api/dags' */
  prefix?: string
  /** @default 'fastify-dag-stream' */
  title?: string
  /** The version of *your* API, not of this library. @default '1.0.0' */
  version?: string
  /**
   * Where the channels are served, by name (AsyncAPI `servers`), so that a generated client knows the
   * host. The plugin's route fills it from the addresses the app listens on unless its option says.
   * @default {} (no servers section)
   * @example servers: { production: { host: 'runs.example.com', protocol: 'wss' } }
   */
  servers?: Record<string, AsyncApiServer>
}

/** One entry of the AsyncAPI `servers` section. */
export interface AsyncApiServer {
  /** `host[:port]`. */
  host: string
  protocol: 'ws' | 'wss'
  description?: string
}

type JsonObject = Record<string, unknown>

/** A plain JSON object, ready for `JSON.stringify` or an AsyncAPI tool. */
export interface AsyncApiDocument extends JsonObject {
  asyncapi: '3.0.0'
}

const CHANNEL = 'dagStream'
const LIST_CHANNEL = 'dagList'

/**
 * Builds the AsyncAPI 3.0.0 document for the stream: every message in both directions, the `id`
 * parameter, the `since`/`epoch` query (WebSocket binding) and the close codes (`x-close-codes`).
 * @example app.get('/asyncapi.json', async () => buildAsyncApiDocument({ prefix: '/api/dags' }))
 */
export function buildAsyncApiDocument (options: AsyncApiOptions = {}): AsyncApiDocument {
  const { prefix = DEFAULT_PREFIX, title = 'fastify-dag-stream', version = '1.0.0', servers = {} } = options
  const schemas: Record<string, JsonObject> = {}
  const messages: Record<string, JsonObject> = {}

  // Each union member becomes one named message whose payload refers to the shared schemas.
  function addMessages (union: { anyOf: TSchema[] }): string[] {
    return union.anyOf.map((member) => {
      const name = member.$id as string
      messages[name] = { name, title: member.properties.type.const, summary: member.description, payload: hoist(member, schemas, true) }
      return name
    })
  }
  const sent = [...addMessages(SequencedEvent), ...addMessages(ControlFrame)]
  const received = addMessages(ClientMessage)
  const listed = addMessages(ListServerFrame)
  // The event stream's own shapes: no message of the WebSocket channel, but named in its note below.
  for (const schema of [EventStreamOpened, PostedGateViewingEvent]) hoist(schema, schemas, true)
  // What `GET {prefix}/{id}` answers: the state a client loads when told to resync, named in the note below.
  hoist(DAGSnapshot, schemas, true)

  const channelMessages = (names: string[]) => Object.fromEntries(names.map((name) => [name, { $ref: `#/components/messages/${name}` }]))
  const operationMessages = (names: string[], channel = CHANNEL) => names.map((name) => ({ $ref: `#/channels/${channel}/messages/${name}` }))
  const serverRefs = Object.keys(servers).length > 0 ? { servers: Object.keys(servers).map((name) => ({ $ref: `#/servers/${name}` })) } : {}
  const closeCodes = Object.fromEntries(
    Object.entries(CloseCode).map(([name, code]) => [code, { name, description: closeCodeDescriptions[code], reconnect: shouldReconnect(code) }])
  )

  return {
    asyncapi: '3.0.0',
    info: {
      title,
      version,
      'x-protocol-version': PROTOCOL_VERSION,
      description:
        `Live DAG execution over WebSocket, protocol ${PROTOCOL_VERSION} (also in \`hello.protocol\`; a new minor only adds ` +
        'message types and optional fields). The first frame is always `hello`. Dispatch on `type`: DAG events carry `seq` ' +
        '(1, 2, 3 … gapless per epoch) and `epoch`; of the control frames, `hello` and `resync_required` carry them too ' +
        '(the log\'s head), the others neither. Reconnect with `?since=<last seq>&epoch=<epoch>` ' +
        'to receive exactly the missed events, or `resync_required` / `hello.recovered=false` to load the REST snapshot ' +
        `(\`GET ${prefix}/{id}\`, schema \`DAGSnapshot\`: apply only the events after its \`seq\`). A DAG with no events ` +
        'has an empty epoch and seq 0; its first event (seq 1, a new epoch) continues it: no resync, no snapshot.\n\n' +
        eventStreamNote(prefix)
    },
    ...(Object.keys(servers).length > 0 && { servers: Object.fromEntries(Object.entries(servers).map(([name, server]) => [name, { ...server }])) }),
    defaultContentType: 'application/json',
    channels: {
      [CHANNEL]: {
        address: `${prefix}/{id}/stream`,
        title: 'The stream of one DAG',
        ...serverRefs,
        description: `Events of one DAG, and the commands its dashboards send.\n\n${upgradeRefusals()}\n\n${closeCodeTable()}`,
        parameters: { id: { description: `The DAG id (${Identifier.pattern as string}, at most ${Identifier.maxLength as number} characters).` } },
        messages: channelMessages([...sent, ...received]),
        bindings: { ws: { method: 'GET', query: hoist(StreamQuery, schemas, false), bindingVersion: '0.1.0' } },
        'x-close-codes': closeCodes
      },
      [LIST_CHANNEL]: {
        address: prefix,
        title: 'The live run list',
        ...serverRefs,
        description:
          `\`GET ${prefix}\` upgraded: the page its query asks for (\`dag_list\`, as the REST answer), then one frame per ` +
          'change a run list shows: a DAG created, its status changed or finished (`dag_changed`), or evicted ' +
          '(`dag_evicted`, only for DAGs this socket was told about). Node events never reach it. Every DAG is ' +
          'checked with `authorize(request, dagId, \'view\')` as its frame is sent. The socket takes no messages ' +
          '(one closes it with 1008). Heartbeat, connection limits and Origin check as for a stream. The upgrade may be ' +
          'refused before the 101, with the same JSON body as a stream\'s: 400 a bad query; 403 a foreign Origin; 429 too ' +
          'many open sockets (see Retry-After); 503 the backplane is unavailable. `authorize` is asked after the 101, ' +
          `for each DAG: credentials it refuses close the socket with 4401.\n\n${closeCodeTable()}`,
        messages: channelMessages(listed),
        bindings: { ws: { method: 'GET', query: hoist(ListQuery, schemas, false), bindingVersion: '0.1.0' } },
        'x-close-codes': closeCodes
      }
    },
    operations: {
      sendDagEvents: {
        action: 'send',
        channel: { $ref: `#/channels/${CHANNEL}` },
        summary: 'DAG events (with seq and epoch) and control frames, from the server to a dashboard.',
        messages: operationMessages(sent)
      },
      receiveClientEvents: {
        action: 'receive',
        channel: { $ref: `#/channels/${CHANNEL}` },
        summary: 'Human decisions and pause / resume / cancel. Each is answered with `ack` or an `error` frame echoing its `id`.',
        messages: operationMessages(received)
      },
      sendDagListChanges: {
        action: 'send',
        channel: { $ref: `#/channels/${LIST_CHANNEL}` },
        summary: 'The page of DAG summaries, then the changes to it, from the server to a run list.',
        messages: operationMessages(listed, LIST_CHANNEL)
      }
    },
    components: { schemas, messages }
  }
}

/**
 * Returns a JSON copy of `schema` in which every sub-schema with an `$id` (and the schema itself when
 * `hoistRoot`) is moved to `components.schemas` and replaced by a `$ref`. TypeBox repeats shared
 * schemas (NodeStatus, NodeMetrics …) inline; in the document they appear once, by name.
 */
function hoist (schema: unknown, schemas: Record<string, JsonObject>, hoistRoot: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((item) => hoist(item, schemas, true))
  if (typeof schema !== 'object' || schema === null) return schema
  const { $id, ...rest } = schema as JsonObject
  const copy = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, hoist(value, schemas, true)]))
  if (typeof $id !== 'string' || !hoistRoot) return copy
  schemas[$id] ??= copy
  return { $ref: `#/components/schemas/${$id}` }
}

/** What each refusal of the upgrade means; typed by the route's schema, so a new status must be described here. */
const upgradeRefusalMeanings: Record<keyof typeof StreamRoute.response, string> = {
  401: 'credentials missing or expired',
  403: 'not allowed, or a foreign Origin',
  429: 'too many open streams (see Retry-After)',
  503: 'the backplane is unavailable'
}

function upgradeRefusals (): string {
  const rows = Object.entries(upgradeRefusalMeanings).map(([status, meaning]) => `${status} ${meaning}`)
  return `The upgrade may be refused before the 101, with a JSON body \`{ statusCode, code, error, message }\`: ${rows.join('; ')}.`
}

/** Where proxies break WebSockets: the same frames as Server-Sent Events (both routes are in the OpenAPI document). */
function eventStreamNote (prefix: string): string {
  return (
    `The same stream is served as Server-Sent Events at \`GET ${prefix}/{id}/events\`: each frame is one message ` +
    '(`data: <frame JSON>`), DAG events with `id: <epoch>:<seq>`; resume with `Last-Event-ID` or `?since=&epoch=`; ' +
    'heartbeats are `: heartbeat` comments; the last message is `event: close` with `{code, reason}` from the close ' +
    `codes below. Its client events go by \`POST ${prefix}/{id}/commands\`, answered with the \`ack\` or \`error\` frame. ` +
    'The first message, before hello, is `event: stream` with `data: <EventStreamOpened>`: the stream\'s key. A ' +
    '`gate_viewing` POSTed for the stream carries it (`PostedGateViewingEvent`), on any instance, and is answered 204 with ' +
    'no body (a socket gets no ack), or with an `error` frame: `stream_not_found` (404) when no open stream of the DAG ' +
    'has the key (it ended, its server is gone, or the key is wrong: a viewer id is none), `rate_limited` (429) when ' +
    'it breaks the stream\'s rate limit, which also closes the stream with 1008 as on a socket.'
  )
}

function closeCodeTable (): string {
  const rows = Object.entries(CloseCode).map(
    ([name, code]) => `| ${code} | ${name} | ${shouldReconnect(code) ? 'yes' : 'no'} | ${closeCodeDescriptions[code]} |`
  )
  return ['Close codes (4000–4499: reconnect, 4500–4999: do not reconnect):', '', '| code | name | reconnect | meaning |', '|---|---|---|---|', ...rows].join('\n')
}

/**
 * The `servers` of an app that serves the document itself: where it listens, as WebSocket URLs. A
 * wildcard address (0.0.0.0, ::) is the machine's every address: it is shown as `localhost`.
 */
export function serversOf (addresses: Array<string | AddressInfo>, secure: boolean): Record<string, AsyncApiServer> {
  // A string is a Unix socket or a Windows pipe: no host to name.
  const inet = addresses.filter((address): address is AddressInfo => typeof address !== 'string')
  const hosts = new Set(inet.map(({ address, family, port }) => {
    const host = address === '0.0.0.0' || address === '::' ? 'localhost' : family === 'IPv6' ? `[${address}]` : address
    return `${host}:${port}`
  }))
  return Object.fromEntries([...hosts].map((host, index) => [index === 0 ? 'default' : `default${index}`, { host, protocol: secure ? 'wss' : 'ws' }]))
}
