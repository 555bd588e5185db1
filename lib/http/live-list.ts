// The live run list: WebSockets on `GET {prefix}` (the list route, upgraded), each sent the page its
// query asks for and then one small frame per change a run list shows (see schemas/list.ts).
//
// One backplane subscription serves every list socket of this instance, whatever their queries; each
// socket filters what it is sent: by its status filter, and by `authorize(request, dagId, 'view')`
// asked for every DAG as its frame is about to be sent (a DAG this client may not view never shows,
// not even its id). An eviction goes only to the sockets that were told about the DAG.

import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { DAGListChangeFrame, ListServerFrame } from '../../schemas/list.js'
import type { DAGSummary } from '../../schemas/snapshot.js'
import type { Backplane, DAGListPageQuery } from '../backplane/types.js'
import { CloseCode } from '../shared/close-codes.js'
import { assertNever } from '../shared/reducer.js'
import type { Metrics } from '../metrics/metrics.js'
import { askAuthorize, expiryTimer, type CheckAccess } from '../access/authorize.js'

export interface ListConnectionOptions {
  /** When the credentials that may list expire, as `authorize(…, 'list')` said at the upgrade. */
  expiresAt: number | undefined
  maxBufferedBytes: number
  /** Reads the page of this socket's query (from the backplane). */
  readPage: () => Promise<{ dags: DAGSummary[]; total: number }>
  authorize: CheckAccess
  metrics: Pick<Metrics, 'listClosed'>
  /** Called once when the connection ends, whoever ended it. */
  onClose: (connection: ListConnection) => void
}

// `joining` from the upgrade until the page is sent, and again while a page is read after a gap:
// changes that arrive meanwhile wait, so that none is lost between reading the page and going live.
type Phase = 'joining' | 'live' | 'closed'

export class ListConnection {
  readonly socket: WebSocket
  readonly request: FastifyRequest
  readonly query: DAGListPageQuery
  /** Short and random: it tells this socket's log lines apart. */
  readonly id = randomBytes(6).toString('base64url')
  readonly log: FastifyBaseLogger
  readonly #options: ListConnectionOptions
  #phase: Phase = 'joining'
  #pending: DAGListChangeFrame[] = []
  /** The DAGs this client was told about: only their evictions concern it. */
  readonly #known = new Set<string>()
  /** Frames go out in the order of the changes, though each waits for its `authorize`. */
  #sending: Promise<void> = Promise.resolve()
  #alive = true
  #expiry: ReturnType<typeof setTimeout> | undefined

  constructor (socket: WebSocket, request: FastifyRequest, query: DAGListPageQuery, options: ListConnectionOptions) {
    this.socket = socket
    this.request = request
    this.query = query
    this.log = request.log.child({ list: true, connectionId: this.id })
    this.#options = options
    // The list is read-only: a client that writes to it is not one of ours.
    socket.on('message', () => this.close(CloseCode.POLICY_VIOLATION, 'the list socket takes no messages'))
    socket.on('pong', () => {
      this.#alive = true
    })
    socket.on('close', () => this.#ended())
    this.#expireAt(options.expiresAt)
  }

  /**
   * Reads and sends the page (the DAGs this client may view), then the changes that arrived meanwhile,
   * and goes live. Call it once joined to the changes.
   */
  async start (): Promise<void> {
    let page: { dags: DAGSummary[]; total: number }
    let allowed: boolean[]
    try {
      page = await this.#options.readPage()
      allowed = await Promise.all(page.dags.map((dag) => this.#mayView(dag.dag_id)))
    } catch (error) {
      this.log.error({ err: error }, 'fastify-dag-stream: could not read the DAG list')
      this.close(CloseCode.INTERNAL_ERROR, 'could not read the DAG list')
      return
    }
    if (this.#phase !== 'joining') return
    const dags = page.dags.filter((_, index) => allowed[index])
    this.#known.clear()
    for (const dag of dags) this.#known.add(dag.dag_id)
    const { limit, offset, order } = this.query
    this.#send({ type: 'dag_list', dags, total: page.total, limit, offset, order })
    const pending = this.#pending
    this.#pending = []
    this.#phase = 'live'
    for (const change of pending) this.deliver(change)
  }

  /** Changes may have been missed: a new page replaces what the client holds (a socket joining reads one anyway). */
  refresh (): void {
    // Joining: its page is being read already. (A gap in the milliseconds of that read: no test can
    // time it; that page may miss a change lost in the gap, until the DAG changes again.)
    /* c8 ignore next */
    if (this.#phase !== 'live') return
    this.#phase = 'joining'
    void this.start()
  }

  /** Called for every change of the list, on every instance. */
  deliver (change: DAGListChangeFrame): void {
    // (Never `closed`: a closed connection has left LiveLists, which is what calls this.)
    if (this.#phase === 'joining') {
      this.#pending.push(change)
      return
    }
    this.#sending = this.#sending.then(() => this.#forward(change))
  }

  async #forward (change: DAGListChangeFrame): Promise<void> {
    if (change.type === 'dag_evicted') {
      if (this.#known.delete(change.dag_id)) this.#send(change)
      return
    }
    const { status } = this.query
    const matches = (value: string | undefined) => status === undefined || status.some((wanted) => wanted === value)
    // A DAG that leaves the filter is sent too: the client drops it.
    if (!matches(change.dag.status) && !matches(change.previous_status)) return
    if (!(await this.#mayView(change.dag.dag_id)) || this.#phase === 'closed') return
    this.#known.add(change.dag.dag_id)
    this.#send(change)
  }

  /** Asks `authorize` whether this client may view one DAG. */
  #mayView (dagId: string): Promise<boolean> {
    return this.#mayStill(dagId, 'view')
  }

  /**
   * Asks `authorize` about one DAG (`view`) or the list itself (`list`). Credentials that expired, or an
   * `authorize` that fails, end the socket as they end a DAG stream (4401, 4503); an `expiresAt` closes
   * it at that moment.
   */
  async #mayStill (dagId: string | undefined, action: 'view' | 'list'): Promise<boolean> {
    const outcome = await askAuthorize(this.#options.authorize, this.request, dagId, action, this.log)
    switch (outcome.kind) {
      case 'allowed':
        this.#expireAt(outcome.expiresAt)
        return true
      case 'forbidden':
        return false
      case 'unauthenticated':
        this.close(CloseCode.UNAUTHORIZED, 'credentials expired')
        return false
      case 'failed':
        this.close(CloseCode.FORBIDDEN, 'authorization failed')
        return false
      /* c8 ignore next 2 -- unreachable by type: the compiler proves every outcome is handled */
      default:
        return assertNever(outcome)
    }
  }

  /** The latest answer of `authorize` says when the credentials end; each answer moves the moment. */
  #expireAt (expiresAt: number | undefined): void {
    clearTimeout(this.#expiry)
    this.#expiry = undefined
    // An answer that comes after the socket went would set a timer that nothing clears.
    if (expiresAt === undefined || this.#phase === 'closed') return
    this.#expiry = expiryTimer(expiresAt, () => this.close(CloseCode.UNAUTHORIZED, 'credentials expired'))
  }

  /**
   * One heartbeat tick, as for a DAG stream: a peer that did not answer the last ping is terminated,
   * and `authorize(…, 'list')` is asked again, so that a revoked right to list ends the socket (4503)
   * even while no DAG changes (each frame's `view` is asked as it is sent).
   */
  heartbeat (): void {
    if (!this.#alive) {
      this.socket.terminate()
      this.#options.metrics.listClosed(CloseCode.ABNORMAL) // metrics
      this.#ended()
      return
    }
    this.#alive = false
    this.socket.ping()
    void this.#mayStill(undefined, 'list').then((allowed) => {
      if (!allowed) this.close(CloseCode.FORBIDDEN, 'no longer allowed to list DAGs')
    })
  }

  close (code: CloseCode, reason: string): void {
    if (this.#phase === 'closed') return
    this.socket.close(code, reason)
    this.#options.metrics.listClosed(code) // metrics
    this.#ended()
  }

  #ended (): void {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    this.#pending = []
    clearTimeout(this.#expiry)
    this.#options.onClose(this)
  }

  #send (frame: ListServerFrame): void {
    /* c8 ignore next -- the peer's close frame arrived and ws has not emitted 'close' yet: no test can time it */
    if (this.socket.readyState !== this.socket.OPEN) return
    const data = JSON.stringify(frame)
    // A reader that cannot keep up is told to reconnect, which gives it the current page.
    if (this.socket.bufferedAmount + data.length > this.#options.maxBufferedBytes) {
      this.close(CloseCode.SLOW_CONSUMER, 'slow consumer: reconnect for the current page')
      return
    }
    this.socket.send(data)
  }
}

/** The list sockets of this instance, and the one backplane subscription they share while there are any. */
export class LiveLists {
  readonly #members = new Set<ListConnection>()
  readonly #backplane: Backplane
  /** Resolves with the unwatch function once the backplane delivers changes; undefined without members. */
  #watching: Promise<() => void> | undefined

  constructor (backplane: Backplane) {
    this.#backplane = backplane
  }

  /** Adds a member; once the promise resolves it receives every change, so read the page only then. */
  async join (member: ListConnection): Promise<void> {
    this.#members.add(member)
    if (this.#watching === undefined) {
      const watching = this.#backplane.watchList((change) => {
        for (const each of this.#members) {
          if (change.type === 'list_gap') each.refresh()
          else each.deliver(change)
        }
      })
      this.#watching = watching
      // A failed subscription must not stay behind for the next socket to wait on.
      watching.catch(() => {
        if (this.#watching === watching) this.#watching = undefined
      })
    }
    await this.#watching
  }

  leave (member: ListConnection): void {
    if (!this.#members.delete(member) || this.#members.size > 0 || this.#watching === undefined) return
    this.#watching.then((unwatch) => unwatch(), () => {})
    this.#watching = undefined
  }

  get size (): number {
    return this.#members.size
  }

  members (): IterableIterator<ListConnection> {
    return this.#members.values()
  }
}
