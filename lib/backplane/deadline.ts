// The bound on how long a client event may wait for the engine, and the outcomes of messages that find
// no one, shared by every backplane.

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

/** A stream message whose instance did not answer: nothing changed, and the message may be sent again. */
export function streamHolderUnavailable (why: string): CommandOutcome {
  return { ok: false, code: 'engine_unavailable', message: `The server holding the event stream is unavailable: ${why}` }
}

/** A stream message for an instance that is not (or no longer) there: its streams went with it. */
export function instanceGone (instanceId: string): CommandOutcome {
  return { ok: false, code: 'stream_not_found', message: `No open event stream has this key: its server (${instanceId}) is gone` }
}
