// One client per DAG per page, shared by every hook that shows it, and closed when the last one goes.
//
// Reference counting happens in useSyncExternalStore's subscribe/unsubscribe, which React calls in
// commit, never in a render it might throw away. The client itself is created during render (the
// hook needs its store at once) but with `connect: false`, so a render that is never committed
// costs an object, not a socket. The last release closes the client one microtask later: StrictMode
// unsubscribes and subscribes again in the same commit, and that must not cost a reconnect.

import {
  createDAGStreamClient,
  DEFAULT_PREFIX,
  type ConnectionStatus,
  type DAGExistence,
  type DAGStreamClient,
  type DAGStreamClientOptions,
  type DAGStreamError,
  type DAGView,
  type DefaultDAGStore,
  type PresenceView,
  type ReconnectInfo,
  type StreamTransport
} from '../client/index.js'
import { resolveBaseUrl } from '../client/options.js'
import { throttle } from './throttle.js'

/** The hook's options: the client's, but the hook owns the store and the connection. */
export type UseDAGStreamOptions = Omit<DAGStreamClientOptions, 'dagId' | 'store' | 'connect'> & {
  /**
   * Render at most once per this many ms while changes keep coming (a burst of events, tokens streaming
   * into several nodes); the first change after a quiet spell renders at once, the last one is never
   * lost. 0: render after every change (batched per microtask). @default 0
   */
  throttleMs?: number
}

/** What `useDAGStream` returns: a new object when something in it changed, the same one otherwise. */
export interface DAGStreamHookResult {
  /** The DAG: the run (`state.status`), its nodes, edges and gates, as the server keeps it. */
  state: DAGView
  /** The connection's state: `open` when live (see `ConnectionStatus`). Not the run's: that is `state.status`. */
  connection: ConnectionStatus
  /** @deprecated use `connection` (the same value): `status` is the run's, in `state.status` */
  status: ConnectionStatus
  /** Whether the server has the DAG: `not_found` while it has no such run (the hook keeps following it). */
  existence: DAGExistence
  /** The last problem, until the next successful connection. */
  error: DAGStreamError | undefined
  /** While `reconnecting`: when the next attempt starts ("reconnecting in N s"). */
  reconnect: ReconnectInfo | undefined
  /** Who watches the DAG, and who has which gate open (`presence.gates`). */
  presence: PresenceView
  /** What carries the stream: `websocket`, or `sse` (the option `transport: 'sse'`, or `auto` once it fell back). */
  transport: StreamTransport
  /** Says which gate this page has open (null: none): call it when a gate panel shows and hides. */
  viewGate: DAGStreamClient['viewGate']
  send: DAGStreamClient['send']
  decide: DAGStreamClient['decide']
  pause: DAGStreamClient['pause']
  resume: DAGStreamClient['resume']
  cancel: DAGStreamClient['cancel']
  /**
   * Listens to the client's events, e.g. to tell the user which decision closed a gate. Returns the
   * function that removes the listener: return it from an effect.
   * @example useEffect(() => on('event', (event) => { if (event.type === 'human_gate_resolved') notify(event) }), [on])
   */
  on: DAGStreamClient['on']
}

export interface SharedClient {
  readonly client: DAGStreamClient<DefaultDAGStore>
  /** For useSyncExternalStore: counts the subscriber and connects on the first. */
  subscribe (onChange: () => void): () => void
  /** For useSyncExternalStore. */
  getResult (): DAGStreamHookResult
  /**
   * For hooks that read a part of the state (useDAGSelector): counts the subscriber, connects on the
   * first, and calls `onChange` after the DAG changed, at most once per `throttleMs`.
   */
  subscribeState (onChange: () => void, throttleMs: number): () => void
}

const shared = new Map<string, SharedClient>()

/** The client of `dagId` at this API, created (not connected) on first use. */
export function sharedClient (dagId: string, options: UseDAGStreamOptions): SharedClient {
  // The key names the stream, not the options: the first hook's options create the client.
  const key = [resolveBaseUrl(options.baseUrl), options.prefix ?? DEFAULT_PREFIX, dagId].join('\u0000')
  // A client the server closed for good stays shared while it is shown, with its error: creating a
  // new one here would reconnect behind the "do not reconnect" close code at every render.
  let entry = shared.get(key)
  if (entry === undefined) {
    entry = createShared(key, createDAGStreamClient({ ...options, dagId, connect: false }))
    shared.set(key, entry)
  }
  return entry
}

/** The selector hooks of one DAG that share an interval, told together. */
interface StateFanOut {
  listeners: Set<() => void>
  stop (): void
}

function createShared (key: string, client: DAGStreamClient<DefaultDAGStore>): SharedClient {
  let subscribers = 0
  let result: DAGStreamHookResult | undefined
  // A graph of thousands of cards has thousands of selector hooks: one store listener and one timer per
  // interval serve them all, and tell them in the same task, so React draws the cards that changed in
  // one render.
  const fanOuts = new Map<number, StateFanOut>()
  // Bound once, so that they are stable across renders (safe in effect dependencies).
  const methods = {
    send: client.send.bind(client),
    decide: client.decide.bind(client),
    pause: client.pause.bind(client),
    resume: client.resume.bind(client),
    cancel: client.cancel.bind(client),
    on: client.on.bind(client),
    viewGate: client.viewGate.bind(client)
  }

  function release (): void {
    subscribers -= 1
    queueMicrotask(() => {
      if (subscribers > 0) return
      client.close()
      // Unless a newer client already took the key (two releases queue two checks).
      if (shared.get(key) === entry) shared.delete(key)
    })
  }

  const entry: SharedClient = {
    client,
    subscribe (onChange) {
      subscribers += 1
      const unsubscribe = [
        client.store.subscribe(onChange),
        client.on('connection', onChange),
        client.on('existence', onChange),
        client.on('error', onChange),
        client.on('reconnecting', onChange),
        client.on('presence', onChange),
        client.on('transport', onChange)
      ]
      client.connect()
      return () => {
        for (const off of unsubscribe) off()
        release()
      }
    },
    subscribeState (onChange, throttleMs) {
      subscribers += 1
      let fanOut = fanOuts.get(throttleMs)
      if (fanOut === undefined) {
        const listeners = new Set<() => void>()
        const notify = () => {
          for (const listener of [...listeners]) listener()
        }
        // Stamped when the hooks are told, not when they have rendered: each renders a small part (a
        // card), so the render does not eat the interval as a whole graph's does (see throttle.ts).
        const throttled = throttleMs === 0 ? undefined : throttle(notify, throttleMs)
        const unsubscribe = client.store.subscribe(throttled?.call ?? notify)
        fanOut = {
          listeners,
          stop () {
            unsubscribe()
            throttled?.cancel()
          }
        }
        fanOuts.set(throttleMs, fanOut)
      }
      const joined = fanOut
      joined.listeners.add(onChange)
      client.connect()
      return () => {
        joined.listeners.delete(onChange)
        if (joined.listeners.size === 0) {
          joined.stop()
          fanOuts.delete(throttleMs)
        }
        release()
      }
    },
    getResult () {
      const state = client.store.getSnapshot()
      const { connection, existence, error, reconnect, presence, transport } = client
      if (
        result?.state !== state ||
        result.connection !== connection ||
        result.existence !== existence ||
        result.error !== error ||
        result.reconnect !== reconnect ||
        result.presence !== presence ||
        result.transport !== transport
      ) {
        result = { state, connection, status: connection, existence, error, reconnect, presence, transport, ...methods }
      }
      return result
    }
  }
  return entry
}
