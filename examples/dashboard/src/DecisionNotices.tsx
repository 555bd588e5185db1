// Tells this tab about gates decided by someone else, above all when its own decision lost the race.
import type { NodeView } from '../../../lib/index.js'
import type { DecisionNotice, Resolution } from './decisions.js'
import { DECISION_LABELS } from './status.js'

interface DecisionNoticesProps {
  notices: readonly DecisionNotice[]
  nodes: ReadonlyMap<string, NodeView>
  onDismiss: (nodeId: string) => void
}

export function DecisionNotices ({ notices, nodes, onDismiss }: DecisionNoticesProps) {
  if (notices.length === 0) return null
  return (
    <div className="notices">
      {notices.map((notice) => {
        const step = nodes.get(notice.nodeId)?.label ?? notice.nodeId
        return (
          <section
            key={notice.nodeId}
            className={`notice${notice.refused === undefined ? '' : ' notice--warn'}`}
            role={notice.refused === undefined ? 'status' : 'alert'}
            data-testid="decision-notice"
            data-node-id={notice.nodeId}
            data-refused={notice.refused}
          >
            <p className="notice__text">
              {notice.refused === undefined
                ? <><strong>“{step}” was decided elsewhere</strong>: <Outcome winner={notice.winner} />.</>
                : <><strong>Your decision was not applied.</strong> You chose “{DECISION_LABELS[notice.refused]}”, but “{step}” had
                  already been decided{notice.winner === undefined ? ' by someone else' : <>: <Outcome winner={notice.winner} /></>}.
                  The run follows that decision.</>}
            </p>
            <button className="button button--small" onClick={() => onDismiss(notice.nodeId)}>Dismiss</button>
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
      <strong data-testid="winning-decision">{DECISION_LABELS[winner.decision]}</strong>
      {winner.feedback !== undefined && <>, with the feedback “<span data-testid="winning-feedback">{winner.feedback}</span>”</>}
    </>
  )
}
