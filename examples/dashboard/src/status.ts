// How each status looks, in one place, so the graph, the legend and the panels agree.
import type { ExecutionStatus, NodeStatus } from '../../../lib/index.js'

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
  failed: 'Failed'
}

/** Statuses after which a node will not change again (unless the engine retries it). */
export function isSettled (status: NodeStatus): boolean {
  return status === 'completed' || status === 'skipped'
}

export function formatDollars (value: number): string {
  return `$${value.toFixed(value < 10 ? 4 : 2)}`
}
