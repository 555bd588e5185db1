// The rules of human gates, as pure functions over one gate's record. Every backplane stores records
// and applies these functions atomically (memory: in one tick; Redis: compare-and-set), so one set of
// rules holds on one process and on N instances:
//   - a decision is only taken for a gate that is open (human_gate_waiting seen, not yet resolved,
//     run not finished);
//   - the first decision wins: while it is being applied, and after it was accepted, another decision
//     for the same gate is refused;
//   - the same decision key again gets the same answer, and the engine is not asked twice;
//   - if the engine refuses the decision, or never got it, the gate stays open and the key is
//     forgotten, so the same decision may be sent again;
//   - a claim is a lease: if the instance applying it dies, the claim lapses after `leaseMs` and the
//     gate can be decided again. An accepted decision never lapses.
//   - a decision must be one the gate offers (`presentation.decisions`), and its `value` must match the
//     gate's `response_schema`: both are checked here, before any claim, so the engine never sees it;
//   - a stalled run (its engine is gone) answers engine_unavailable at once.
// A DAG keeps one record per gate id (the latest round), so the book is bounded by the gates a run opens.

import type { Decision, DAGEvent, GatePresentation } from '../../schemas/events.js'
import type { LogHead, GateTransition } from '../backplane/types.js'
import { gateIdOf, isFinished } from '../shared/reducer.js'
import { checkValue } from './values.js'

export type GateClaim =
  | { kind: 'claimed' }
  /** This key already took effect: answer with the same ack. */
  | { kind: 'duplicate' }
  /** This key is being applied right now (e.g. re-sent through another instance after a reconnect). */
  | { kind: 'in_flight' }
  | { kind: 'refused'; code: 'gate_not_waiting' | 'gate_already_decided' | 'engine_unavailable' }
  /** The decision itself is wrong for this gate: it was not offered, or its value does not match. */
  | { kind: 'invalid'; code: 'decision_not_offered' | 'invalid_value'; message: string; path?: string }

/** `waiting`: a human may decide. `decided`: the engine resolved the gate (by a decision or itself). */
export type GatePhase = 'waiting' | 'decided'

export interface ClaimRecord {
  key: string
  /** claimed: on its way to the engine; applying: the engine's handlers run; accepted: it took effect. */
  state: 'claimed' | 'applying' | 'accepted'
  /** When a claim that has not taken effect lapses (ms since the epoch). */
  expiresAt: number
}

/** What an open gate accepts, from its presentation; absent fields accept anything. */
export interface GateOffer {
  decisions?: Decision[]
  response_schema?: Record<string, unknown>
}

export interface GateRecord {
  phase?: GatePhase
  /** Only while the phase is `waiting`. */
  offer?: GateOffer
  claim?: ClaimRecord
}

/** What a decision asks of a gate. */
export interface DecisionAsked {
  decision: Decision
  value?: unknown
}

/**
 * What a DAG event does to the gate book. It never depends on the stored record, so a backplane can
 * write it together with the append, in the same atomic step.
 */
export interface GateWrite {
  gateId: string
  /** The new phase; undefined removes the gate (its node was removed, or the engine withdrew it). */
  phase: GatePhase | undefined
  offer?: GateOffer
  /** A new round (or a removed node) forgets the previous round's claim. */
  clearClaim: boolean
}

export function gateWriteFor (event: DAGEvent): GateWrite | undefined {
  switch (event.type) {
    case 'human_gate_waiting': {
      const offer = offerOf(event.presentation)
      return offer === undefined
        ? { gateId: gateIdOf(event), phase: 'waiting', clearClaim: true }
        : { gateId: gateIdOf(event), phase: 'waiting', offer, clearClaim: true }
    }
    case 'human_gate_resolved':
      return { gateId: gateIdOf(event), phase: 'decided', clearClaim: false }
    case 'human_gate_withdrawn':
      return { gateId: gateIdOf(event), phase: undefined, clearClaim: true }
    case 'dag_mutated':
      // The gate of a removed node's id (the one gate of an engine without gate ids); gates with ids
      // of their own go from the snapshot with the node, and their engine withdraws them.
      return event.mutation.op === 'remove_node' ? { gateId: event.mutation.node_id, phase: undefined, clearClaim: true } : undefined
    default:
      return undefined
  }
}

function offerOf ({ decisions, response_schema: schema }: GatePresentation): GateOffer | undefined {
  if (decisions === undefined && schema === undefined) return undefined
  const offer: GateOffer = {}
  if (decisions !== undefined) offer.decisions = decisions
  if (schema !== undefined) offer.response_schema = schema
  return offer
}

/** A record's phase and offer as one string (how Redis stores them): `waiting`, `decided`, or `waiting <offer JSON>`. */
export function encodePhase (record: Pick<GateRecord, 'phase' | 'offer'>): string {
  if (record.phase === undefined) return ''
  return record.offer === undefined ? record.phase : `${record.phase} ${JSON.stringify(record.offer)}`
}

/** The inverse of encodePhase, into `record`. */
export function decodePhase (encoded: string, record: GateRecord): void {
  if (encoded === '') return
  const space = encoded.indexOf(' ')
  if (space === -1) {
    record.phase = encoded as GatePhase
    return
  }
  record.phase = encoded.slice(0, space) as GatePhase
  record.offer = JSON.parse(encoded.slice(space + 1)) as GateOffer
}

export function applyGateWrite (record: GateRecord, write: GateWrite): GateRecord {
  const next: GateRecord = {}
  if (write.phase !== undefined) next.phase = write.phase
  if (write.offer !== undefined) next.offer = write.offer
  if (!write.clearClaim && record.claim !== undefined) next.claim = record.claim
  return next
}

/** The claim that still counts: accepted, or not yet lapsed. */
function liveClaim (record: GateRecord, now: number): ClaimRecord | undefined {
  const claim = record.claim
  return claim !== undefined && (claim.state === 'accepted' || claim.expiresAt > now) ? claim : undefined
}

function withClaim (record: GateRecord, claim: ClaimRecord | undefined): GateRecord {
  const next: GateRecord = {}
  if (record.phase !== undefined) next.phase = record.phase
  if (record.offer !== undefined) next.offer = record.offer
  if (claim !== undefined) next.claim = claim
  return next
}

/** A dashboard asks to decide the gate with `asked` (checked against the gate's offer), under `key`. */
export function claimGate (key: string, now: number, leaseMs: number, asked?: DecisionAsked): GateTransition<GateClaim> {
  return (record: GateRecord, dag: LogHead) => {
    const existing = liveClaim(record, now)
    if (existing !== undefined) {
      if (existing.key !== key) return { result: { kind: 'refused', code: 'gate_already_decided' }, next: record }
      return { result: { kind: existing.state === 'accepted' ? 'duplicate' : 'in_flight' }, next: record }
    }
    if (record.phase === 'decided') return { result: { kind: 'refused', code: 'gate_already_decided' }, next: record }
    if (record.phase !== 'waiting' || isFinished(dag.status)) {
      return { result: { kind: 'refused', code: 'gate_not_waiting' }, next: record }
    }
    const invalid = asked === undefined ? undefined : invalidity(record.offer, asked)
    if (invalid !== undefined) return { result: invalid, next: record }
    if (dag.status === 'stalled') return { result: { kind: 'refused', code: 'engine_unavailable' }, next: record }
    return { result: { kind: 'claimed' }, next: withClaim(record, { key, state: 'claimed', expiresAt: now + leaseMs }) }
  }
}

/** Why `asked` does not fit the gate's offer, or undefined when it does. */
function invalidity (offer: GateOffer | undefined, asked: DecisionAsked): GateClaim | undefined {
  if (offer?.decisions !== undefined && !offer.decisions.includes(asked.decision)) {
    return { kind: 'invalid', code: 'decision_not_offered', message: `"${asked.decision}" is not offered: ${offer.decisions.join(', ')}` }
  }
  if (offer?.response_schema === undefined) return undefined
  const fault = checkValue(offer.response_schema, asked.value)
  return fault === undefined ? undefined : { kind: 'invalid', code: 'invalid_value', message: fault.message, path: fault.path }
}

/**
 * The engine's instance is about to run its handlers for the claim `key`: true if the claim still
 * holds (it renews the lease for the handlers), false if it lapsed or was replaced meanwhile.
 */
export function beginGate (key: string, now: number, leaseMs: number): GateTransition<boolean> {
  return (record: GateRecord) => {
    const claim = liveClaim(record, now)
    if (claim?.key !== key || claim.state !== 'claimed') return { result: false, next: record }
    return { result: true, next: withClaim(record, { key, state: 'applying', expiresAt: now + leaseMs }) }
  }
}

/**
 * The engine's instance is still running its handlers for the claim `key`: it keeps the claim alive,
 * so a slow handler is not mistaken for a dead instance. Only an instance that stops renewing (it
 * died, or its event loop is stuck) lets the claim lapse.
 */
export function renewGate (key: string, now: number, leaseMs: number): GateTransition<void> {
  return (record: GateRecord) => {
    const claim = liveClaim(record, now)
    if (claim?.key !== key || claim.state !== 'applying') return { result: undefined, next: record }
    return { result: undefined, next: withClaim(record, { ...claim, expiresAt: now + leaseMs }) }
  }
}

/** Where the claim `key` stands: taken effect, still on its way or being applied, or gone (lapsed or refused). */
export type ClaimProgress = 'accepted' | 'pending' | 'gone'

/** Reads the progress of the claim `key` without changing anything. */
export function claimProgress (key: string, now: number): GateTransition<ClaimProgress> {
  return (record: GateRecord) => {
    const claim = liveClaim(record, now)
    const progress: ClaimProgress = claim?.key !== key ? 'gone' : claim.state === 'accepted' ? 'accepted' : 'pending'
    return { result: progress, next: record }
  }
}

/**
 * Records what the engine did with the claim `key`. Refused: the claim goes and the gate stays open.
 * Accepted: the engine's word is final, so the claim becomes `key`'s even if it lapsed meanwhile (the
 * backplane was unreachable) and another decision claimed the gate: that one then finds its claim gone.
 */
export function settleGate (key: string, accepted: boolean): GateTransition<void> {
  return (record: GateRecord) => {
    if (accepted && record.phase !== undefined) {
      // (An accepted claim never lapses: its expiresAt is never read.)
      return { result: undefined, next: withClaim(record, { key, state: 'accepted', expiresAt: 0 }) }
    }
    if (record.claim?.key !== key) return { result: undefined, next: record }
    return { result: undefined, next: withClaim(record, undefined) }
  }
}

/** The claim `key` never reached the engine (its instance is gone): forget it, unless it already began. */
export function releaseGate (key: string): GateTransition<void> {
  return (record: GateRecord) => {
    if (record.claim?.key !== key || record.claim.state !== 'claimed') return { result: undefined, next: record }
    return { result: undefined, next: withClaim(record, undefined) }
  }
}
