// What happens when a dashboard sends a client event. Two halves, which may run on two instances:
//   - receiving (lib/commands/receive.ts), where the event arrived: authorization for its action, the
//     checks that need no engine, the gate claim for human decisions, then `dispatch` through the
//     backplane, and one answer (ack or error) for the sender;
//   - executing (lib/commands/execute.ts), on the instance that drives the DAG: the engine's
//     `onClientEvent` handlers, and for a decision the rest of the gate's life.
// The gate rules both halves apply are pure transitions in lib/commands/gates.ts.

import type { ClientEvent, PostedGateViewingEvent } from '../../schemas/events.js'
import type { CommandOutcome, CommandSender } from '../backplane/types.js'
import { executeCommand, type ExecutingDeps } from './execute.js'
import { receiveCommand, type CommandSource, type ReceivingDeps, type Reply } from './receive.js'

export type { ClientEventContext, ClientEventHandler, EngineRuns } from './execute.js'
export { resolvedEvent } from './execute.js'
export type { CommandSource } from './receive.js'

export type CommandDeps = Omit<ReceivingDeps, 'inFlight'> & ExecutingDeps

/** The two halves over one set of dependencies: `run` for the routes and sockets, `execute` for the backplane. */
export interface Commands {
  run(event: ClientEvent | PostedGateViewingEvent, from: CommandSource): Promise<Reply>
  execute(dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome>
}

export function createCommands (deps: CommandDeps): Commands {
  const receiving: ReceivingDeps = { ...deps, inFlight: new Map() }
  return {
    run: (event, from) => receiveCommand(receiving, event, from),
    execute: (dagId, event, sender) => executeCommand(deps, dagId, event, sender)
  }
}
