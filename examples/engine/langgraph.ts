// The demo on a real LangGraph.js graph (`npm start -- --engine langgraph`): a planner, workers in
// parallel (Send), a review subgraph whose two reviewers each call interrupt() at once, and a loop
// back to the planner when a reviewer rejects. The chat model is @langchain/core's fake streaming
// one: no network, no key, tokens all the same. The adapter (fastify-dag-stream/langgraph) does the rest.

import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Annotation, END, interrupt, MemorySaver, Send, START, StateGraph, type BaseCheckpointSaver } from '@langchain/langgraph'
import { FakeListChatModel } from '@langchain/core/utils/testing'
import { runGraph, type InterruptAnswer } from '../../lib/langgraph/index.js'
import type { Engine } from './index.js'

/** Keeps each value once, in order; `null` empties it (a new round). */
const distinct = (current: string[], update: string[] | null): string[] => (update === null ? [] : [...new Set([...current, ...update])])

export const ResearchState = Annotation.Root({
  topic: Annotation<string>(),
  plan: Annotation<string[]>({ reducer: (_current, update) => update, default: () => [] }),
  drafts: Annotation<string[], string[] | null>({ reducer: distinct, default: () => [] }),
  verdicts: Annotation<string[], string[] | null>({ reducer: distinct, default: () => [] }),
  round: Annotation<number>({ reducer: (_current, update) => update, default: () => 0 })
})
type State = typeof ResearchState.State

export interface ResearchGraphOptions {
  /** @default a FakeListChatModel that streams a plan and drafts */
  model?: FakeListChatModel
  /** @default a MemorySaver */
  checkpointer?: BaseCheckpointSaver
  /** Rounds of planning at most, rejections or not. @default 3 */
  maxRounds?: number
}

/** A reviewer of the subgraph: interrupt() shows the drafts; the answer is its verdict. */
function reviewer (name: string) {
  return (state: State) => {
    const answer = interrupt({ title: `${name} review`, question: `Do the drafts pass ${name.toLowerCase()} review?`, decisions: ['approve', 'reject'], drafts: state.drafts }) as InterruptAnswer
    return { verdicts: [`${name}:${answer.decision}${answer.feedback === undefined ? '' : ` (${answer.feedback})`}`] }
  }
}

/** The graph of the demo and the adapter's tests. */
export function createResearchGraph ({ model, checkpointer = new MemorySaver(), maxRounds = 3 }: ResearchGraphOptions = {}) {
  const llm = model ?? new FakeListChatModel({ responses: ['Plan: tides, moons', 'Tides rise twice a day.', 'Moons pull the sea.'], sleep: 5 })
  const review = new StateGraph(ResearchState)
    .addNode('legal', reviewer('Legal'))
    .addNode('style', reviewer('Style'))
    .addEdge(START, 'legal')
    .addEdge(START, 'style')
    .addEdge('legal', END)
    .addEdge('style', END)
    .compile()
  return new StateGraph(ResearchState)
    .addNode('planner', async (state: State) => {
      // Its tokens stream to the dashboard as the node's output.
      await llm.invoke(`Plan research on ${state.topic}, round ${state.round + 1}`)
      return { plan: state.round === 0 ? ['tides', 'moons'] : ['tides'], round: state.round + 1, drafts: null, verdicts: null }
    })
    .addNode('worker', async (state: State & { item?: string }) => {
      const reply = await llm.invoke(`Write about ${state.item ?? ''}`)
      return { drafts: [String(reply.content)] }
    })
    .addNode('review', review)
    .addEdge(START, 'planner')
    .addConditionalEdges('planner', (state: State) => state.plan.map((item) => new Send('worker', { ...state, item })), ['worker'])
    .addEdge('worker', 'review')
    .addConditionalEdges('review', (state: State) => (state.verdicts.some((verdict) => verdict.includes(':reject')) && state.round < maxRounds ? 'planner' : END), ['planner', END])
    .compile({ checkpointer })
}

/** The demo's engine: each run is the research graph on a thread of its own. */
export function createLangGraphEngine (app: FastifyInstance): Engine {
  const graph = createResearchGraph()
  const active = new Set<string>()
  return {
    startRun () {
      const dagId = `langgraph-${randomUUID().slice(0, 8)}`
      active.add(dagId)
      runGraph(app.dagStream, graph, { topic: 'the sea' }, { dagId })
        .catch((error: unknown) => app.log.warn({ err: error, dagId }, 'a LangGraph run ended with an error'))
        .finally(() => active.delete(dagId))
      return dagId
    },
    activeRuns: () => [...active],
    async close () {}
  }
}
