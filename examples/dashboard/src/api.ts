// The example server's REST calls that are not part of the stream: the list of runs, and starting one.
import type { DAGList, DAGSummary } from '../../../lib/index.js'

export async function listRuns (): Promise<DAGSummary[]> {
  const response = await fetch('api/dags?limit=50')
  if (!response.ok) throw new Error(`Could not list runs: HTTP ${response.status}`)
  // Runs of every instance, most recently updated first: the server's order, not restated here.
  return ((await response.json()) as DAGList).dags
}

export async function startRun (): Promise<string> {
  const response = await fetch('api/runs', { method: 'POST' })
  if (!response.ok) throw new Error(`Could not start a run: HTTP ${response.status}`)
  const { dag_id: dagId } = (await response.json()) as { dag_id: string }
  return dagId
}
