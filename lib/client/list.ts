// The live run list client: one socket on `GET {prefix}` (upgraded), the page it sends first, and the
// changes after it applied to that page. It reconnects like the stream client (same backoff, same
// close codes), and every new socket starts with a fresh page, so nothing needs resuming.
//
// Keeping the page: a changed DAG takes its new place by `updated_at` (the time of its last change of
// status or of `open_gates`), a DAG that leaves the status filter or is evicted goes, and the page is cut
// to `limit`.
// `total` is the server's count in the page frame, then moved by each change the client can account
// for; a reconnect makes both exact again.

import type { ExecutionStatus } from '../../schemas/events.js'
import type { DAGChangedFrame, ListServerFrame } from '../../schemas/list.js'
import type { ListOrder } from '../../schemas/routes.js'
import type { DAGSummary } from '../../schemas/snapshot.js'
import { shouldReconnect } from '../shared/close-codes.js'
import { assertNever } from '../shared/reducer.js'
import type { BackoffOptions, ReconnectInfo } from './backoff.js'
import type { ConnectionStatus } from './client.js'
import { Emitter, type Listener } from './emitter.js'
import { DAGStreamError } from './errors.js'
import { Lifecycle } from './lifecycle.js'
import { DEFAULT_PREFIX, resolveBaseUrl, resolveImplementation } from './options.js'
import type { WebSocketConstructor, WebSocketLike } from './transport.js'

/** Which DAGs to list: the query of `GET {prefix}`. */
export interface DAGListQuery {
  /** @default 100 */
  limit?: number
  /** @default 0 */
  offset?: number
  /** By the time of the last status change. @default 'newest' */
  order?: ListOrder
  /** Only DAGs in one of these statuses. @default every status */
  status?: readonly ExecutionStatus[]
}

/** A list has no snapshot to load: it is never `resyncing`. */
export type DAGListStatus = Exclude<ConnectionStatus, 'resyncing'>

/** What the list shows: a new object whenever it changed. */
export interface DAGListView {
  /** Each with its status and `open_gates` (the gates waiting for a decision), kept live. */
  readonly dags: readonly DAGSummary[]
  readonly total: number
}

export interface DAGListClientEvents {
  /** The connection's state changed. */
  connection: DAGListStatus
  /** @deprecated listen to `connection` (the same value) */
  status: DAGListStatus
  /** The list changed (see `view`). */
  list: DAGListView
  reconnecting: ReconnectInfo
  /** A final close, or a frame that is not JSON. */
  error: DAGStreamError
}

export interface DAGListClientOptions {
  /** @default location.origin in a browser; required elsewhere */
  baseUrl?: string
  /** The plugin's `prefix` option. @default '/api/dags' */
  prefix?: string
  query?: DAGListQuery
  /** The WebSocket implementation. Node 20 has none built in: pass `WebSocket` from `ws`. @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor
  /**
   * Extra query parameters (an access token, say), read again before every connection attempt; the
   * query's own parameters win.
   */
  streamParams?: () => Record<string, string>
  /** The reconnect schedule, as for the stream client. */
  backoff?: BackoffOptions
  /** Connect at once. With false, nothing happens until `connect()`. @default true */
  connect?: boolean
}

const EMPTY: DAGListView = Object.freeze({ dags: Object.freeze([]), total: 0 })

/**
 * A self-updating list of DAG summaries. Create it with `createDAGListClient`.
 * @example
 * const runs = createDAGListClient({ baseUrl: 'https://api.example.com', query: { limit: 50, status: ['running'] } })
 * runs.on('list', ({ dags }) => render(dags))
 */
export class DAGListClient {
  readonly query: Readonly<Required<Omit<DAGListQuery, 'status'>>> & Pick<DAGListQuery, 'status'>
  readonly #url: string
  readonly #WebSocket: WebSocketConstructor
  readonly #streamParams: (() => Record<string, string>) | undefined
  readonly #emitter = new Emitter<DAGListClientEvents>()
  /** Status, last error and retries (lib/client/lifecycle.ts). */
  readonly #life: Lifecycle
  #view: DAGListView = EMPTY
  /** The last known status of every DAG this socket was told about, in the page or cut from it. */
  #statuses = new Map<string, ExecutionStatus>()
  #socket: WebSocketLike | undefined
  /** Bumped whenever a socket is given up, so that its late frames are ignored. */
  #generation = 0

  constructor (options: DAGListClientOptions = {}) {
    const { limit = 100, offset = 0, order = 'newest', status } = options.query ?? {}
    this.query = status === undefined ? { limit, offset, order } : { limit, offset, order, status }
    this.#url = `${resolveBaseUrl(options.baseUrl)}${options.prefix ?? DEFAULT_PREFIX}`
    this.#WebSocket = resolveImplementation<WebSocketConstructor>(
      'WebSocket',
      options.WebSocket,
      globalThis.WebSocket,
      'pass `WebSocket` (in Node 20, the default export of the "ws" package)'
    )
    this.#streamParams = options.streamParams
    this.#life = new Lifecycle(this.#emitter, options.backoff, () => this.#open())
    if (options.connect !== false) this.connect()
  }

  /** The connection's state; `on('connection')` tells each change. */
  get connection (): DAGListStatus {
    return this.#life.status
  }

  /** @deprecated use `connection` (the same value) */
  get status (): DAGListStatus {
    return this.#life.status
  }

  /** The DAGs and the total, as last received: empty until the first page. */
  get view (): DAGListView {
    return this.#view
  }

  /** The last problem reported, until the next page. */
  get error (): DAGStreamError | undefined {
    return this.#life.error
  }

  /** While `reconnecting`: when the next attempt starts. */
  get reconnect (): ReconnectInfo | undefined {
    return this.#life.reconnect
  }

  /** Opens the list; only needed after `connect: false`. Does nothing once started or closed. */
  connect (): void {
    if (this.#life.start()) this.#open()
  }

  /** Closes the list for good: no reconnect, every timer cleared. */
  close (): void {
    if (this.#life.status !== 'closed') this.#finish(undefined)
  }

  /** @returns the function that removes the listener */
  on<Type extends keyof DAGListClientEvents> (type: Type, listener: Listener<DAGListClientEvents[Type]>): () => void {
    return this.#emitter.on(type, listener)
  }

  off<Type extends keyof DAGListClientEvents> (type: Type, listener: Listener<DAGListClientEvents[Type]>): void {
    this.#emitter.off(type, listener)
  }

  #open (): void {
    const generation = ++this.#generation
    const socket = new this.#WebSocket(this.#socketUrl())
    this.#socket = socket
    socket.onmessage = (message) => {
      if (generation === this.#generation) this.#onFrame(message.data)
    }
    socket.onclose = (event) => {
      if (generation === this.#generation) this.#onClose(event.code, event.reason)
    }
    socket.onerror = () => {} // always followed by close, which has the code
  }

  #socketUrl (): string {
    const url = new URL(this.#url)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    for (const [name, value] of Object.entries(this.#streamParams?.() ?? {})) url.searchParams.set(name, value)
    const { limit, offset, order, status } = this.query
    url.searchParams.set('limit', String(limit))
    url.searchParams.set('offset', String(offset))
    url.searchParams.set('order', order)
    url.searchParams.delete('status')
    for (const wanted of status ?? []) url.searchParams.append('status', wanted)
    return url.href
  }

  #onFrame (data: unknown): void {
    let frame: ListServerFrame
    try {
      frame = JSON.parse(String(data)) as ListServerFrame
    } catch (cause) {
      // A lost change: the next page (at the next connection) corrects it.
      this.#life.report(new DAGStreamError('invalid_frame', 'The server sent a frame that is not JSON', { cause }))
      return
    }
    switch (frame.type) {
      case 'dag_list':
        this.#life.connected()
        this.#statuses = new Map(frame.dags.map((dag) => [dag.dag_id, dag.status]))
        this.#show(frame.dags, frame.total)
        this.#life.setStatus('open')
        break
      case 'dag_changed':
        this.#onChanged(frame)
        break
      case 'dag_evicted': {
        // The server tells a socket of the evictions of the DAGs it showed it: their status is known.
        const status = this.#statuses.get(frame.dag_id) as ExecutionStatus
        this.#statuses.delete(frame.dag_id)
        const total = this.#view.total - Number(this.#matches(status))
        this.#show(this.#view.dags.filter((dag) => dag.dag_id !== frame.dag_id), total)
        break
      }
      /* c8 ignore next 2 -- unreachable by type: the compiler proves every frame is handled */
      default:
        assertNever(frame)
    }
  }

  #onChanged ({ dag, previous_status: previous }: DAGChangedFrame): void {
    // What this client knew wins over `previous_status`: a creation it already has in its page
    // (created while the page was read) is not counted twice.
    const before = this.#statuses.get(dag.dag_id) ?? previous
    this.#statuses.set(dag.dag_id, dag.status)
    const matchedBefore = before !== undefined && this.#matches(before)
    const matches = this.#matches(dag.status)
    const others = this.#view.dags.filter((shown) => shown.dag_id !== dag.dag_id)
    this.#show(matches ? [...others, dag] : others, this.#view.total + Number(matches) - Number(matchedBefore))
  }

  #matches (status: ExecutionStatus): boolean {
    return this.query.status === undefined || this.query.status.includes(status)
  }

  /** Sorts as the server does, cuts to `limit`, and tells the listeners. */
  #show (dags: readonly DAGSummary[], total: number): void {
    const direction = this.query.order === 'newest' ? -1 : 1
    // A stable sort: DAGs of the same millisecond keep the server's order.
    const sorted = [...dags].sort((a, b) => direction * (Date.parse(a.updated_at) - Date.parse(b.updated_at)))
    this.#view = { dags: sorted.slice(0, this.query.limit), total: Math.max(0, total) }
    this.#emitter.emit('list', this.#view)
  }

  #onClose (code: number, reason: string): void {
    this.#detach()
    if (shouldReconnect(code)) this.#life.scheduleReconnect(code)
    else this.#finish(new DAGStreamError('closed_by_server', `The server closed the list for good: ${code} ${reason}`, { closeCode: code }))
  }

  #detach (): void {
    this.#generation += 1
    this.#socket = undefined
    this.#life.disconnected()
  }

  #finish (error: DAGStreamError | undefined): void {
    const socket = this.#socket
    this.#detach()
    socket?.close(1000, 'client closed')
    this.#life.finish(error)
  }
}

/**
 * Creates a list client and (unless `connect: false`) connects it.
 * @example
 * import WebSocket from 'ws' // Node 20 only; browsers have one
 * const runs = createDAGListClient({ baseUrl: 'http://localhost:3000', query: { limit: 20 }, WebSocket })
 */
export function createDAGListClient (options: DAGListClientOptions = {}): DAGListClient {
  return new DAGListClient(options)
}
