// Human decisions as this tab saw them. When two people decide the same gate, the second is refused
// (`gate_already_decided`) while the gate's panel disappears with the winner's `human_gate_resolved`:
// without a record that outlives the panel, the loser would never learn that the run took another path.
// Kept per gate (`gate_id`): one node may have several open at once.
import { useCallback, useEffect, useMemo, useState } from 'react'
import type { DecideOptions, Decision } from '../../../lib/client/index.js'
import { DAGStreamError, type DAGStreamHookResult } from '../../../lib/react/index.js'

/** The decision that closed a gate, from its `human_gate_resolved` event. */
export interface Resolution {
  decision: Decision
  feedback?: string
}

/** Something this tab should be told about a gate that closed. */
export interface DecisionNotice {
  /** The gate's id: what `dismiss` takes. */
  gateId: string
  nodeId: string
  /** This tab's decision, when the server refused it because another decision had won. */
  refused?: Decision
  /** The decision that won; undefined until its event arrives (the refusal can come first). */
  winner?: Resolution
}

interface GateRecord {
  nodeId?: string
  mine?: { decision: Decision; refused: boolean }
  winner?: Resolution
  dismissed?: boolean
}

type Records = ReadonlyMap<string, GateRecord>

function update (records: Records, gateId: string, change: (record: GateRecord) => GateRecord | undefined): Records {
  const next = new Map(records)
  const record = change(records.get(gateId) ?? {})
  if (record === undefined) next.delete(gateId)
  else next.set(gateId, record)
  return next
}

export function useDecisionNotices ({ on, decide }: Pick<DAGStreamHookResult, 'on' | 'decide'>) {
  const [records, setRecords] = useState<Records>(() => new Map())

  useEffect(() => on('event', (event) => {
    // A gate that opens again is a new round: what happened in the last one no longer applies.
    if (event.type === 'human_gate_waiting') setRecords((records) => update(records, event.gate_id ?? event.node_id, () => undefined))
    if (event.type === 'human_gate_resolved') {
      const winner: Resolution = { decision: event.decision }
      if (event.feedback !== undefined) winner.feedback = event.feedback
      setRecords((records) => update(records, event.gate_id ?? event.node_id, (record) => ({ ...record, nodeId: event.node_id, winner })))
    }
  }), [on])

  /**
   * `decide`, remembering what this tab chose; a decision that lost the race becomes a notice.
   * Resolves with whether the server took this decision (false: another one had won).
   */
  const decideAndRecord = useCallback(async (nodeId: string, decision: Decision, feedback?: string, options: DecideOptions = {}): Promise<boolean> => {
    const gateId = options.gateId ?? nodeId
    setRecords((records) => update(records, gateId, (record) => ({ ...record, nodeId, mine: { decision, refused: false } })))
    try {
      await decide(nodeId, decision, feedback, options)
      return true
    } catch (error) {
      if (!(error instanceof DAGStreamError && error.code === 'gate_already_decided')) throw error
      setRecords((records) => update(records, gateId, (record) => ({ ...record, mine: { decision, refused: true } })))
      return false
    }
  }, [decide])

  const dismiss = useCallback((gateId: string) => {
    setRecords((records) => update(records, gateId, (record) => ({ ...record, dismissed: true })))
  }, [])

  const notices = useMemo(() => {
    const shown: DecisionNotice[] = []
    for (const [gateId, { nodeId = gateId, mine, winner, dismissed }] of records) {
      if (dismissed === true) continue
      // Refused: tell what won. Not decided here at all: tell that someone else decided.
      if (mine?.refused === true) shown.push(winner === undefined ? { gateId, nodeId, refused: mine.decision } : { gateId, nodeId, refused: mine.decision, winner })
      else if (mine === undefined && winner !== undefined) shown.push({ gateId, nodeId, winner })
    }
    return shown
  }, [records])

  return { decide: decideAndRecord, notices, dismiss }
}
