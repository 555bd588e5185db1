// What the Redis backplane writes and reads, as bytes and strings: pub/sub messages of a DAG's log and
// of the run list, stream entry ids, and gate records in their hash.

import type { ExecutionStatus } from '../../../schemas/events.js'
import type { DAGListChangeFrame } from '../../../schemas/list.js'
import type { DAGSummary } from '../../../schemas/snapshot.js'
import { decodePhase, encodePhase, type ClaimRecord, type GateRecord } from '../../commands/gates.js'
import { listChange, openGatesOf } from '../list-changes.js'
import type { LogEntry } from '../types.js'

/** A pub/sub message: `<seq> <epoch> <frame>`; the frame stays a view of the message's bytes. */
export function parseEntry (message: Buffer): LogEntry {
  const afterSeq = message.indexOf(0x20)
  const afterEpoch = message.indexOf(0x20, afterSeq + 1)
  return {
    seq: Number(message.toString('latin1', 0, afterSeq)),
    epoch: message.toString('latin1', afterSeq + 1, afterEpoch),
    frame: message.subarray(afterEpoch + 1)
  }
}

/** A stream entry id `<seq>-0`. */
export function seqOf (id: Buffer): number {
  return Number.parseInt(id.toString('latin1'), 10)
}

/** A gate's record from its two hash fields (empty: unset). */
export function decodeGate (phase: string, claim: string): GateRecord {
  const record: GateRecord = {}
  decodePhase(phase, record)
  if (claim !== '') record.claim = JSON.parse(claim) as ClaimRecord
  return record
}

/** A gate's record as its two hash fields. */
export function encodeGate (record: GateRecord): [string, string] {
  return [encodePhase(record), record.claim === undefined ? '' : JSON.stringify(record.claim)]
}

/**
 * A list channel message: `changed <seq> <epoch> <status> <now> <dagId> <previous> <waiting> <previous
 * waiting>` (see the append script) or `evicted <dagId>`. Undefined when nothing a list shows changed:
 * the count of waiting gates moved in a finished run, whose `open_gates` stays 0.
 */
export function parseListMessage (message: string): DAGListChangeFrame | undefined {
  const [kind, ...fields] = message.split(' ')
  if (kind === 'evicted') return { type: 'dag_evicted', dag_id: fields[0] as string }
  const [seq, epoch, status, now, dagId, previous, waiting, waitingBefore] = fields as [string, string, ExecutionStatus, string, string, string, string, string]
  const dag: DAGSummary = { dag_id: dagId, epoch, seq: Number(seq), status, updated_at: new Date(Number(now)).toISOString(), open_gates: openGatesOf(status, Number(waiting)) }
  if (previous === '') return listChange(dag, undefined)
  const before = previous as ExecutionStatus
  return listChange(dag, { status: before, open_gates: openGatesOf(before, Number(waitingBefore)) })
}
