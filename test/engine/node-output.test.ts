// What node_output_delta does to a DAG's state, in both reducer modes: the text grows, is bounded with a
// marker, and gives way to the node's final output.

import t from 'tap'
import { applyEvent, createState, fromSnapshot, MAX_PARTIAL_OUTPUT_LENGTH, PARTIAL_OUTPUT_CUT_MARKER, toSnapshot } from '../../lib/shared/reducer.js'
import { DAGSnapshot } from '../../schemas/index.js'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { DAGEvent } from '../../schemas/index.js'

/** No lone surrogate (String.prototype.isWellFormed is not in this project's TypeScript lib). */
function wellFormed (text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)
}

const isSnapshot = TypeCompiler.Compile(DAGSnapshot)
const delta = (text: string): DAGEvent => ({ type: 'node_output_delta', node_id: 'llm', delta: text })

for (const inPlace of [false, true]) {
  t.test(`${inPlace ? 'in place' : 'replacing'}: deltas append, in order, to partial_output`, async (t) => {
    const state = createState({ inPlace })
    applyEvent(state, { type: 'node_state', node_id: 'llm', status: 'running' })
    for (const text of ['Once', ' upon', ' a time']) applyEvent(state, delta(text))
    t.equal(state.nodes.get('llm')?.partial_output, 'Once upon a time')
    t.equal(state.nodes.get('llm')?.status, 'running', 'a delta leaves the status as it was')
    const snapshot = toSnapshot('d', 'e', 4, state)
    t.ok(isSnapshot.Check(snapshot), 'the snapshot schema allows partial_output')
    t.equal(fromSnapshot(JSON.parse(JSON.stringify(snapshot))).nodes.get('llm')?.partial_output, 'Once upon a time', 'it survives the snapshot')
  })

  t.test(`${inPlace ? 'in place' : 'replacing'}: a node_state with output replaces the partial output; one without keeps it`, async (t) => {
    const state = createState({ inPlace })
    applyEvent(state, delta('draft'))
    applyEvent(state, { type: 'node_state', node_id: 'llm', status: 'running', metrics: { tokens: 1 } })
    t.equal(state.nodes.get('llm')?.partial_output, 'draft')
    applyEvent(state, { type: 'node_state', node_id: 'llm', status: 'completed', output: { text: 'final' } })
    t.notOk('partial_output' in (state.nodes.get('llm') ?? {}), 'no partial output once the final one is there')
    t.same(state.nodes.get('llm')?.output, { text: 'final' })
  })

  t.test(`${inPlace ? 'in place' : 'replacing'}: past the cap the oldest text goes, behind the marker`, async (t) => {
    const state = createState({ inPlace })
    const chunk = 'x'.repeat(1000)
    for (let index = 0; index < 40; index += 1) applyEvent(state, delta(chunk))
    applyEvent(state, delta('THE END'))
    const text = state.nodes.get('llm')?.partial_output as string
    t.equal(text.length, MAX_PARTIAL_OUTPUT_LENGTH, 'exactly at the cap')
    t.ok(text.startsWith(PARTIAL_OUTPUT_CUT_MARKER), 'the marker says the start was cut')
    t.ok(text.endsWith('xTHE END'), 'the newest text is kept')
    t.equal(text.indexOf(PARTIAL_OUTPUT_CUT_MARKER, 1), -1, 'one marker, however many cuts')
    t.ok(isSnapshot.Check(toSnapshot('d', 'e', 41, state)), 'the snapshot schema accepts a capped output')
  })
}

t.test('replacing: a delta gives the node a new record, other nodes keep theirs', async (t) => {
  const state = createState()
  applyEvent(state, delta('a'))
  applyEvent(state, { type: 'node_state', node_id: 'other', status: 'running' })
  const before = state.nodes.get('llm')
  const other = state.nodes.get('other')
  applyEvent(state, delta('b'))
  t.not(state.nodes.get('llm'), before)
  t.equal(before?.partial_output, 'a', 'the old record is untouched')
  t.equal(state.nodes.get('other'), other)
})

t.test('a cut never splits a surrogate pair', async (t) => {
  const state = createState()
  // One emoji is two code units; an odd-length prefix makes the cut land between the two halves.
  const emoji = '😀'.repeat(MAX_PARTIAL_OUTPUT_LENGTH)
  applyEvent(state, delta('y' + emoji))
  const text = state.nodes.get('llm')?.partial_output as string
  const body = text.slice(PARTIAL_OUTPUT_CUT_MARKER.length)
  t.equal(body.codePointAt(0), 0x1F600, 'the kept text starts with a whole emoji, not its second half')
  t.ok(wellFormed(text))
  t.ok(text.length <= MAX_PARTIAL_OUTPUT_LENGTH)
  applyEvent(state, delta('z'.repeat(MAX_PARTIAL_OUTPUT_LENGTH - PARTIAL_OUTPUT_CUT_MARKER.length - 1)))
  const again = state.nodes.get('llm')?.partial_output as string
  t.ok(wellFormed(again), 'nor when the cut lands at the end of an emoji')
  t.ok(again.endsWith('z'), 'and the newest text is kept')
})
