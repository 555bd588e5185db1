// The story a simulated run tells: a research-and-writing agent. A planner fans out to four retrieval
// steps, their findings fan back in, a draft is written and fact-checked, a human reviews it, and the
// approved text is polished and published. The planner adds one more retrieval step while the run is
// in flight, fact-checking hits a rate limit once and is retried, and the reviewer's decision changes
// what runs next (approve: publish; modify: an extra revision step; reject: publishing is skipped).

import type { GatePresentation } from '../../lib/index.js'
import type { Random } from './random.js'

/** Price per 1,000 tokens, in dollars; roughly what hosted models cost. */
export const MODELS = {
  'gpt-4o': 0.01,
  'gpt-4o-mini': 0.0006,
  'claude-sonnet': 0.009,
  'text-embedding-3': 0.00002
} as const
export type Model = keyof typeof MODELS

export interface StepSpec {
  id: string
  label: string
  kind: 'tool' | 'llm' | 'human'
  /** Steps that must finish first. */
  after: string[]
  /** Simulated duration range in milliseconds, before the speed factor. */
  durationMs: [number, number]
  model?: Model
  tokens?: [number, number]
  /** How many first attempts fail (a flaky dependency); each failure is reported and retried. */
  failures?: number
  /** Runs even when a step before it was skipped: the run's final report. */
  always?: boolean
  /** The group the step belongs to (the planner's fan-out of retrieval steps): dashboards draw it as one. */
  parent?: string
  /** What the step produced, shown when a user clicks the node. */
  output: (random: Random, context: StepContext) => unknown
}

/** What the run knows that a step's output may mention. */
export interface StepContext {
  topic: string
  feedback?: string
}

const SOURCES = ['nature.com', 'arxiv.org', 'reuters.com', 'acm.org', 'wikipedia.org', 'github.com', 'ieee.org']
const TOPICS = [
  'Grid-scale battery storage in 2025',
  'Small language models on edge devices',
  'Carbon capture: what actually works',
  'The economics of open-source AI',
  'Heat pumps in cold climates'
]

export function pickTopic (random: Random): string {
  return random.pick(TOPICS)
}

function findings (random: Random, what: string) {
  const count = random.int(4, 12)
  return { [what]: count, top: Array.from({ length: 3 }, () => random.pick(SOURCES)) }
}

export const STEPS: StepSpec[] = [
  { id: 'intake', label: 'Parse request', kind: 'tool', after: [], durationMs: [400, 900], output: (_r, c) => ({ topic: c.topic, audience: 'general', length: 1200 }) },
  {
    id: 'plan',
    label: 'Plan research',
    kind: 'llm',
    model: 'gpt-4o',
    tokens: [1500, 3500],
    after: ['intake'],
    durationMs: [1500, 2500],
    output: (_r, c) => ({ questions: [`What is the state of ${c.topic}?`, 'Who are the main actors?', 'What are the open problems?'] })
  },
  { id: 'search_web', parent: 'plan', label: 'Web search', kind: 'tool', after: ['plan'], durationMs: [800, 2000], output: (r) => findings(r, 'pages') },
  { id: 'search_papers', parent: 'plan', label: 'Paper search', kind: 'tool', after: ['plan'], durationMs: [1200, 2600], output: (r) => findings(r, 'papers') },
  { id: 'search_news', parent: 'plan', label: 'News search', kind: 'tool', after: ['plan'], durationMs: [600, 1500], output: (r) => findings(r, 'articles') },
  {
    id: 'query_kb',
    parent: 'plan',
    label: 'Knowledge base',
    kind: 'llm',
    model: 'text-embedding-3',
    tokens: [8000, 20000],
    after: ['plan'],
    durationMs: [500, 1200],
    output: (r) => ({ chunks: r.int(10, 40), collection: 'research-notes' })
  },
  {
    id: 'read_web',
    label: 'Summarise pages',
    kind: 'llm',
    model: 'gpt-4o-mini',
    tokens: [12000, 30000],
    after: ['search_web'],
    durationMs: [1500, 3000],
    output: (r) => ({ summaries: r.int(4, 9), key_points: r.int(8, 20) })
  },
  {
    id: 'read_papers',
    label: 'Summarise papers',
    kind: 'llm',
    model: 'claude-sonnet',
    tokens: [8000, 18000],
    after: ['search_papers'],
    durationMs: [2000, 3500],
    output: (r) => ({ summaries: r.int(3, 7), citations: r.int(5, 15) })
  },
  {
    id: 'dedupe',
    label: 'Merge findings',
    kind: 'tool',
    after: ['read_web', 'read_papers', 'search_news', 'query_kb'],
    durationMs: [500, 1000],
    output: (r) => ({ facts: r.int(20, 45), duplicates_removed: r.int(3, 12) })
  },
  {
    id: 'fact_check',
    label: 'Fact-check',
    kind: 'llm',
    model: 'gpt-4o',
    tokens: [3000, 7000],
    after: ['dedupe'],
    durationMs: [1500, 2500],
    failures: 1,
    output: (r) => ({ checked: r.int(20, 40), flagged: r.int(0, 3) })
  },
  {
    id: 'outline',
    label: 'Outline',
    kind: 'llm',
    model: 'gpt-4o-mini',
    tokens: [2000, 4000],
    after: ['dedupe'],
    durationMs: [1000, 2000],
    output: () => ({ sections: ['Context', 'What changed', 'Who wins', 'Open questions'] })
  },
  {
    id: 'draft',
    label: 'Write draft',
    kind: 'llm',
    model: 'claude-sonnet',
    tokens: [6000, 12000],
    after: ['outline', 'fact_check'],
    durationMs: [2500, 4000],
    output: (r, c) => ({ words: r.int(1100, 1400), excerpt: `${c.topic}: after a decade of promises, the numbers have started to move…` })
  },
  { id: 'review', label: 'Editor review', kind: 'human', after: ['draft'], durationMs: [0, 0], output: () => ({}) },
  {
    id: 'polish',
    label: 'Polish',
    kind: 'llm',
    model: 'gpt-4o',
    tokens: [4000, 8000],
    after: ['review'],
    durationMs: [1500, 2500],
    output: (r) => ({ edits: r.int(15, 60), reading_level: 'grade 10' })
  },
  {
    id: 'seo_meta',
    label: 'SEO metadata',
    kind: 'llm',
    model: 'gpt-4o-mini',
    tokens: [800, 1500],
    after: ['polish'],
    durationMs: [600, 1200],
    output: (_r, c) => ({ title: c.topic, keywords: 5 })
  },
  { id: 'cover_image', label: 'Cover image', kind: 'tool', after: ['polish'], durationMs: [1500, 3000], output: () => ({ image: 'cover-1600x900.png' }) },
  { id: 'publish', label: 'Publish', kind: 'tool', after: ['seo_meta', 'cover_image'], durationMs: [500, 1000], output: (r) => ({ url: `https://blog.example.com/p/${r.int(1000, 9999)}` }) },
  { id: 'report', label: 'Run report', kind: 'tool', after: ['publish'], always: true, durationMs: [300, 600], output: () => ({ archived: true }) }
]

/** The retrieval step the planner decides to add once it has seen the question. */
export const PLANNED_STEP: StepSpec & { before: string[] } = {
  id: 'search_code',
  parent: 'plan',
  label: 'Code search',
  kind: 'tool',
  after: ['plan'],
  before: ['dedupe'],
  durationMs: [900, 1800],
  output: (r) => findings(r, 'repositories')
}

/** The step a "modify" decision adds between the review and polishing. */
export const REVISION_STEP: StepSpec & { before: string[] } = {
  id: 'revise',
  label: 'Revise draft',
  kind: 'llm',
  model: 'claude-sonnet',
  tokens: [5000, 9000],
  after: ['review'],
  before: ['polish'],
  durationMs: [2000, 3000],
  output: (r, c) => ({ words: r.int(1100, 1400), applied_feedback: c.feedback })
}

/**
 * The text an LLM step writes while it works, streamed to dashboards word by word (streamOutput). An
 * embedding model writes no text.
 */
export function generatedText (spec: StepSpec, context: StepContext): string | undefined {
  if (spec.kind !== 'llm' || spec.model === 'text-embedding-3') return undefined
  const { topic } = context
  return [
    `${spec.label}: working on "${topic}".`,
    `Reading what the earlier steps found, the picture is clearer than the headlines suggest: ${topic.toLowerCase()} has moved from pilot projects to real deployments,`,
    'with costs falling faster than most forecasts expected, while the hard questions are now about supply chains, regulation and who pays for the first wave.',
    context.feedback === undefined ? 'Next, the key claims get a source each.' : `Applying the editor's feedback: "${context.feedback}".`
  ].join(' ')
}

/** What the human reviewing the draft (the `human` step) is shown. */
export function gatePresentation (context: StepContext, draft: unknown): GatePresentation {
  return {
    title: 'Review the draft before publishing',
    description: `The agent wrote a draft on "${context.topic}". Approve it, ask for changes, or reject it.`,
    payload: draft,
    options: ['approve', 'modify', 'reject'],
    // Enforced by the server: a decision not offered never reaches the engine.
    decisions: ['approve', 'modify', 'reject']
  }
}
