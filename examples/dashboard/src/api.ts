// The example server's REST call that is not part of the streams: starting a run. (The list of runs
// is live: see RunList.tsx and useDAGList.)

export async function startRun (): Promise<string> {
  const response = await fetch('api/runs', { method: 'POST' })
  if (!response.ok) throw new Error(`Could not start a run: HTTP ${response.status}`)
  const { dag_id: dagId } = (await response.json()) as { dag_id: string }
  return dagId
}
