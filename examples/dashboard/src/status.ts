// How each status looks, in one place, so the graph, the legend and the panels agree.
import type { Decision, ExecutionStatus, NodeStatus } from '../../../lib/index.js'

export const NODE_STATUS_COLORS: Record<NodeStatus, string> = {
  pending: '#94a3b8',
  queued: '#a78bfa',
  running: '#3b82f6',
  waiting_human: '#f59e0b',
  completed: '#10b981',
  failed: '#ef4444',
  skipped: '#cbd5e1',
  cancelled: '#64748b'
}

/** The same hues, dark enough to read as text (4.5:1 or more on white and on the nodes' tints). */
export const NODE_STATUS_TEXT_COLORS: Record<NodeStatus, string> = {
  pending: '#475569',
  queued: '#6d28d9',
  running: '#1d4ed8',
  waiting_human: '#92400e',
  completed: '#047857',
  failed: '#b91c1c',
  skipped: '#475569',
  cancelled: '#475569'
}

export const NODE_STATUS_LABELS: Record<NodeStatus, string> = {
  pending: 'Pending',
  queued: 'Queued',
  running: 'Running',
  waiting_human: 'Needs review',
  completed: 'Done',
  failed: 'Failed',
  skipped: 'Skipped',
  cancelled: 'Cancelled'
}

export const EXECUTION_STATUS_LABELS: Record<ExecutionStatus, string> = {
  running: 'Running',
  paused: 'Paused',
  cancelled: 'Cancelled',
  completed: 'Completed',
  failed: 'Failed',
  stalled: 'Stalled: engine lost'
}

/**
 * What a step shows. A step in flight when the run is paused keeps its `running` status on the server,
 * but it does no work: the engine stops its time and the step continues where it stopped on resume.
 */
export function nodeStatusLabel (status: NodeStatus, runPaused: boolean): string {
  return isHeld(status, runPaused) ? HELD_LABEL : NODE_STATUS_LABELS[status]
}

export function isHeld (status: NodeStatus, runPaused: boolean): boolean {
  return runPaused && status === 'running'
}

export const HELD_LABEL = 'On hold'
export const HELD_HINT = 'The run is paused: this step stopped where it was and continues when the run resumes.'

/** Statuses after which a node will not change again (unless the engine retries it). */
export function isSettled (status: NodeStatus): boolean {
  return status === 'completed' || status === 'skipped'
}

export function formatDollars (value: number): string {
  return `$${value.toFixed(value < 10 ? 4 : 2)}`
}

export const DECISION_LABELS: Record<Decision, string> = {
  approve: 'Approve',
  modify: 'Modify',
  reject: 'Reject'
}
