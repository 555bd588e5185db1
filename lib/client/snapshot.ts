// The REST snapshot a client loads when it missed events: `GET {prefix}/:id`, stamped with the seq it
// includes.

import type { DAGSnapshot } from '../../schemas/snapshot.js'
import { DAGStreamError } from './errors.js'
import type { FetchLike } from './transport.js'

/** The snapshot at `url`, or undefined when the server has no such DAG (any more); throws `snapshot_failed`. */
export async function fetchSnapshot (fetch: FetchLike, url: string): Promise<DAGSnapshot | undefined> {
  try {
    const response = await fetch(url, { headers: { accept: 'application/json' } })
    if (response.status === 404) return undefined
    if (!response.ok) {
      throw new DAGStreamError('snapshot_failed', `GET ${url} answered ${response.status}`, { status: response.status })
    }
    return (await response.json()) as DAGSnapshot
  } catch (cause) {
    throw cause instanceof DAGStreamError ? cause : new DAGStreamError('snapshot_failed', `GET ${url} failed`, { cause })
  }
}
