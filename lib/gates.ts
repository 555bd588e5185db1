// The rules of human gates, for one DAG:
//   - a decision is only taken for a gate that is open (human_gate_waiting seen, not yet resolved);
//   - the first decision wins: while it is being applied, and after it was accepted, another decision
//     for the same gate is refused;
//   - the same decision key again gets the same answer, and the engine is not asked twice;
//   - if the engine refuses the decision, the gate stays open and the key is forgotten, so the same
//     decision may be sent again.
// The book only holds the latest round per node, so it is bounded by the number of nodes.

export type GateClaim =
  | { kind: 'claimed' }
  /** This key already took effect: answer with the same ack. */
  | { kind: 'duplicate' }
  /** This key is being applied right now (e.g. re-sent after a reconnect). */
  | { kind: 'in_flight' }
  | { kind: 'refused'; code: 'gate_not_waiting' | 'gate_already_decided' }

interface Claim {
  key: string
  accepted: boolean
}

export class GateBook {
  readonly #claims = new Map<string, Claim>()

  /** Asks to decide the gate of `nodeId` under `key`. `gateOpen` comes from the DAG's state. */
  claim (nodeId: string, key: string, gateOpen: boolean): GateClaim {
    const existing = this.#claims.get(nodeId)
    if (existing !== undefined) {
      if (existing.key !== key) return { kind: 'refused', code: 'gate_already_decided' }
      return existing.accepted ? { kind: 'duplicate' } : { kind: 'in_flight' }
    }
    if (!gateOpen) return { kind: 'refused', code: 'gate_not_waiting' }
    this.#claims.set(nodeId, { key, accepted: false })
    return { kind: 'claimed' }
  }

  /** Records what the engine did with a claimed decision. */
  settle (nodeId: string, key: string, accepted: boolean): void {
    const claim = this.#claims.get(nodeId)
    if (claim?.key !== key) return
    if (accepted) claim.accepted = true
    else this.#claims.delete(nodeId)
  }

  /** A new `human_gate_waiting` for this node starts a new round. */
  reopen (nodeId: string): void {
    this.#claims.delete(nodeId)
  }

  /** The engine resolved the gate itself (e.g. a timeout): later decisions are "already decided". */
  resolvedByEngine (nodeId: string): void {
    if (!this.#claims.get(nodeId)?.accepted) this.#claims.set(nodeId, { key: '', accepted: true })
  }
}
