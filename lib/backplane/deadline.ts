// The bound on how long a client event may wait for the engine, shared by every backplane.

import type { CommandOutcome } from './types.js'

export function engineUnavailable (why: string): CommandOutcome {
  return { ok: false, code: 'engine_unavailable', message: `The engine driving this DAG is unavailable: ${why}` }
}

/** `outcome`, or `engine_unavailable` if it takes longer than `timeoutMs`. Leaves no timer behind. */
export function withDeadline (outcome: Promise<CommandOutcome>, timeoutMs: number): Promise<CommandOutcome> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<CommandOutcome>((resolve) => {
    timer = setTimeout(() => resolve(engineUnavailable(`no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  return Promise.race([outcome, late]).finally(() => clearTimeout(timer))
}
