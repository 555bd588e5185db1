// Which gate a client has open in front of its user, told to the server as `gate_viewing`: kept across
// reconnects (each new socket is told again), and sent at most once per interval, the last word
// winning, so that a page that flips its focus quickly neither floods the server nor reaches its
// per-socket rate limit.

/** At most one `gate_viewing` per this interval. */
const GATE_VIEWING_INTERVAL_MS = 100

export class GateViewing {
  /** The gate this client says it has open, and what the current socket was last told. */
  #gate: string | null = null
  #sent: string | null = null
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Sends to the current socket once it has carried its hello; undefined without one. */
  #send: ((message: string) => void) | undefined

  /** The user opened `nodeId` (null: none). */
  view (nodeId: string | null): void {
    if (nodeId !== null && (typeof nodeId !== 'string' || nodeId === '')) {
      throw new TypeError(`fastify-dag-stream/client: viewGate takes a node id or null, got ${JSON.stringify(nodeId)}`)
    }
    this.#gate = nodeId
    if (this.#timer === undefined) this.#announce()
  }

  /** A socket carried its hello: the server forgot the gate with the last socket, so this one is told. */
  online (send: (message: string) => void): void {
    this.#send = send
    this.#sent = null
    this.#announce()
  }

  /** The socket went: nothing is sent until the next one is online. */
  offline (): void {
    this.#send = undefined
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Sends the gate this client has open if the socket does not know it, then waits an interval. */
  #announce (): void {
    if (this.#send === undefined || this.#gate === this.#sent) return
    this.#sent = this.#gate
    this.#send(JSON.stringify({ type: 'gate_viewing', node_id: this.#gate }))
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#announce()
    }, GATE_VIEWING_INTERVAL_MS)
  }
}
