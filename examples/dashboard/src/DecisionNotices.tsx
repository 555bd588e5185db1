// Tells this tab about gates decided by someone else, above all when its own decision lost the race.
import type { Decision, NodeView } from '../../../lib/index.js'
import type { DecisionNotice, Resolution } from './decisions.js'
import { DECISION_LABELS } from './status.js'

interface DecisionNoticesProps {
  notices: readonly DecisionNotice[]
  nodes: ReadonlyMap<string, NodeView>
  onDismiss: (gateId: string) => void
}

export function DecisionNotices ({ notices, nodes, onDismiss }: DecisionNoticesProps) {
  if (notices.length === 0) return null
  return (
    <div className='notices'>
      {notices.map((notice) => {
        const step = nodes.get(notice.nodeId)?.label ?? notice.nodeId
        return (
          <section
            key={notice.gateId}
            className={`notice${notice.refused === undefined ? '' : ' notice--warn'}`}
            role={notice.refused === undefined ? 'status' : 'alert'}
            data-testid='decision-notice'
            data-node-id={notice.nodeId}
            data-refused={notice.refused}
          >
            <p className='notice__text'>
              {notice.refused === undefined ? <DecidedElsewhere step={step} winner={notice.winner} /> : <Refused step={step} chose={notice.refused} winner={notice.winner} />}
            </p>
            <button className='button button--small' onClick={() => onDismiss(notice.gateId)}>Dismiss</button>
          </section>
        )
      })}
    </div>
  )
}

function Outcome ({ winner }: { winner: Resolution | undefined }) {
  if (winner === undefined) return null
  return (
    <>
      <strong data-testid='winning-decision'>{DECISION_LABELS[winner.decision]}</strong>
      {winner.feedback !== undefined && <>, with the feedback “<span data-testid='winning-feedback'>{winner.feedback}</span>”</>}
    </>
  )
}

function DecidedElsewhere ({ step, winner }: { step: string; winner: Resolution | undefined }) {
  return <><strong>“{step}” was decided elsewhere</strong>: <Outcome winner={winner} />.</>
}

function Refused ({ step, chose, winner }: { step: string; chose: Decision; winner: Resolution | undefined }) {
  const decidedBy = winner === undefined ? ' by someone else' : <>: <Outcome winner={winner} /></>
  return (
    <>
      <strong>Your decision was not applied.</strong> You chose “{DECISION_LABELS[chose]}”, but “{step}” had already
      been decided{decidedBy}. The run follows that decision.
    </>
  )
}
