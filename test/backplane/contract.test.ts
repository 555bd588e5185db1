// One contract, two backplanes: the same suite runs against the in-memory backplane and the Redis one
// (real Redis at 127.0.0.1:6379, a key prefix of its own), through the Backplane interface alone.

import t, { type Test } from 'tap'
import { beginGate, claimGate, settleGate } from '../../lib/commands/gates.js'
import {
  applyEvent,
  createState,
  fromSnapshot,
  toSnapshot,
  type Backplane,
  type BackplaneSettings,
  type CommandOutcome,
  type DAGListPageQuery,
  type ListGap,
  type LogEntry,
  type StreamMessage
} from '../../lib/index.js'
import type { DAGEvent, DAGListChangeFrame, SequencedEvent } from '../../schemas/index.js'
import { events } from '../support/events.js'
import { nextMillisecond, until } from '../support/wait.js'
import { BACKPLANE_KINDS, openBackplane } from '../support/backplanes.js'

function page (limit: number, offset: number, order: 'newest' | 'oldest' = 'newest'): DAGListPageQuery {
  return { limit, offset, order }
}

/** Event n of the numbered run of node events. */
const nodeState = (n: number) => events(1, n)[0] as DAGEvent

for (const { name, store } of BACKPLANE_KINDS) {
  t.test(`${name} backplane`, async (t) => {
    /** A ready backplane of a store of its own, closed when the test ends. */
    function open (t: Test, settings: Partial<BackplaneSettings> = {}, probeMs?: number): Promise<Backplane> {
      return openBackplane(t, store(t, probeMs), settings)
    }

    t.test('one gapless order, in call order, even unawaited; each frame is the event with its position', async (t) => {
      const backplane = await open(t)
      const delivered: LogEntry[] = []
      await backplane.subscribe('d', (entry) => delivered.push(entry))
      const run = events(60)
      const appended = await Promise.all(run.map((event) => backplane.append('d', event)))
      t.same(appended.map((event) => event.seq), run.map((_, n) => n + 1))
      t.same(appended.map(({ seq, epoch, ...event }) => event), run, 'call order kept')
      await until(() => delivered.length === 60, 'all 60 events', 5000)
      t.same(delivered.map((entry) => entry.seq), appended.map((event) => event.seq))
      t.same(delivered.map((entry) => JSON.parse(entry.frame.toString()) as SequencedEvent), appended)
      t.ok(delivered.every((entry) => entry.epoch === appended[0]?.epoch))
    })

    t.test('a subscriber hears only its DAG, and nothing after unsubscribing', async (t) => {
      const backplane = await open(t)
      const heard: string[] = []
      const unsubscribe = await backplane.subscribe('a', (entry) => heard.push(`a${entry.seq}`))
      await backplane.subscribe('b', (entry) => heard.push(`b${entry.seq}`))
      await backplane.append('a', nodeState(1))
      await backplane.append('b', nodeState(1))
      await until(() => heard.length === 2, 'the second event', 5000)
      unsubscribe()
      await backplane.append('a', nodeState(2))
      await backplane.append('b', nodeState(2))
      await until(() => heard.length === 3, 'the third event', 5000)
      t.same(heard.sort(), ['a1', 'b1', 'b2'])
    })

    t.test('the list hears creations and status changes, in order, and no node event', async (t) => {
      const backplane = await open(t)
      const heard: Array<DAGListChangeFrame | ListGap> = []
      const unwatch = await backplane.watchList((change) => heard.push(change))
      const first = await backplane.append('a', nodeState(1))
      for (let n = 0; n < 200; n++) void backplane.append('a', nodeState(n))
      await backplane.append('a', { type: 'execution_status', status: 'paused' })
      await backplane.append('a', { type: 'execution_status', status: 'paused' }) // no change: nothing
      await backplane.append('a', { type: 'execution_status', status: 'running' })
      const done = await backplane.append('a', { type: 'execution_complete', results: null })
      await backplane.append('b', { type: 'execution_status', status: 'paused' })
      await until(() => heard.length >= 5, 'five list changes')
      const summary = (seq: number, status: string) => ({ dag_id: 'a', epoch: first.epoch, seq, status })
      t.same(heard.map((change) => change.type === 'dag_changed' ? [change.change, change.previous_status, change.dag.status] : change), [
        ['created', undefined, 'running'],
        ['status_changed', 'running', 'paused'],
        ['status_changed', 'paused', 'running'],
        ['finished', 'running', 'completed'],
        ['created', undefined, 'paused']
      ])
      t.match(heard[0], { dag: summary(1, 'running') })
      t.match(heard[3], { dag: summary(done.seq, 'completed') })
      t.ok(heard.every((change) => change.type === 'dag_changed' && !Number.isNaN(Date.parse(change.dag.updated_at))))
      unwatch()
      unwatch() // twice is harmless
      await backplane.append('c', nodeState(1))
      const watched: Array<DAGListChangeFrame | ListGap> = []
      await backplane.watchList((change) => watched.push(change))
      await backplane.append('d', nodeState(1))
      await until(() => watched.length === 1, 'the change after watching again')
      t.equal(heard.length, 5, 'nothing after unwatching')
    })

    t.test('the list hears an eviction: a finished run after retainFinishedMs', async (t) => {
      const backplane = await open(t, { retainFinishedMs: 200 }, 50)
      const heard: Array<DAGListChangeFrame | ListGap> = []
      await backplane.watchList((change) => heard.push(change))
      await backplane.append('gone', { type: 'execution_complete', results: null })
      await until(() => heard.some((change) => change.type === 'dag_evicted'), 'the eviction')
      t.same(heard.at(-1), { type: 'dag_evicted', dag_id: 'gone' })
      t.equal(heard.filter((change) => change.type === 'dag_evicted').length, 1, 'once')
      t.same((await backplane.list(page(10, 0))).dags, [])
    })

    t.test('two listeners of one DAG: each unsubscribes on its own, twice is harmless, and after close too', async (t) => {
      const backplane = await open(t)
      const heard: string[] = []
      const first = await backplane.subscribe('d', (entry) => heard.push(`first ${entry.seq}`))
      const second = await backplane.subscribe('d', (entry) => heard.push(`second ${entry.seq}`))
      await backplane.append('d', nodeState(1))
      await until(() => heard.length === 2, 'the second event', 5000)
      first()
      first()
      await backplane.append('d', nodeState(2))
      await until(() => heard.length === 3, 'the third event', 5000)
      t.same(heard.sort(), ['first 1', 'second 1', 'second 2'])
      await backplane.close()
      second()
      second()
    })

    t.test('replay: exactly the events after `since`, or a refusal that says why', async (t) => {
      const backplane = await open(t, { historySize: 5 })
      t.same(await backplane.replay('d'), { recovered: false, epoch: '', seq: 0 }, 'unknown DAG, no position')
      t.same(await backplane.replay('d', { epoch: '', seq: 0 }), { recovered: true, epoch: '', seq: 0, entries: [] }, 'nothing seen, nothing missed')
      t.match(await backplane.replay('d', { epoch: 'gone', seq: 3 }), { recovered: false, reason: 'epoch_changed' })
      const appended: SequencedEvent[] = []
      for (let n = 0; n < 12; n++) appended.push(await backplane.append('d', nodeState(n)))
      const epoch = appended[0]?.epoch as string
      const replay = await backplane.replay('d', { epoch, seq: 7 })
      t.match(replay, { recovered: true, epoch, seq: 12 })
      t.same(replay.recovered && replay.entries.map((entry) => JSON.parse(entry.frame.toString())), appended.slice(7))
      t.match(await backplane.replay('d', { epoch, seq: 12 }), { recovered: true, seq: 12, entries: [] }, 'up to date')
      t.same(await backplane.replay('d', { epoch, seq: 6 }), { recovered: false, epoch, seq: 12, reason: 'history_exceeded' }, 'one past the window')
      t.same(await backplane.replay('d', { epoch, seq: 13 }), { recovered: false, epoch, seq: 12, reason: 'ahead_of_log' })
      t.same(await backplane.replay('d', { epoch: 'other', seq: 12 }), { recovered: false, epoch, seq: 12, reason: 'epoch_changed' })
      t.same(await backplane.replay('d', { epoch: 'other', seq: 0 }), { recovered: false, epoch, seq: 12, reason: 'epoch_changed' }, 'a log exists: seq 0 of another epoch is not its start')
      t.same(await backplane.replay('d'), { recovered: false, epoch, seq: 12 })
    })

    t.test('the snapshot is the reducer over every event, stamped with its seq, past many checkpoints', async (t) => {
      const backplane = await open(t, { historySize: 6 })
      const run = events(200, 0, 'mixed')
      const expected = createState()
      let last: SequencedEvent | undefined
      for (const event of run) {
        last = await backplane.append('d', event)
        applyEvent(expected, event)
      }
      const epoch = last?.epoch as string
      t.same(await backplane.snapshot('d'), toSnapshot('d', epoch, 200, expected))
      t.same(await backplane.status('d'), { epoch, seq: 200, status: expected.status })
      t.equal(await backplane.snapshot('unknown'), undefined)
      t.equal(await backplane.status('unknown'), undefined)
    })

    t.test('snapshot + the entries after its seq = the truth, while appends go on', async (t) => {
      const backplane = await open(t, { historySize: 10 })
      const delivered: LogEntry[] = []
      await backplane.subscribe('d', (entry) => delivered.push(entry))
      const run = events(150, 0, 'mixed')
      const appending = Promise.all(run.map((event) => backplane.append('d', event)))
      const snapshots = await Promise.all([5, 40, 90].map(async (wait) => {
        await until(() => delivered.length >= wait, `${wait} events`, 5000)
        return (await backplane.snapshot('d'))!
      }))
      await appending
      await until(() => delivered.length === 150, 'all 150 events', 5000)
      const truth = await backplane.snapshot('d')
      for (const snapshot of snapshots) {
        const state = fromSnapshot(snapshot)
        for (const entry of delivered.filter((each) => each.seq > snapshot.seq)) applyEvent(state, JSON.parse(entry.frame.toString()) as DAGEvent)
        t.same(toSnapshot('d', snapshot.epoch, 150, state), truth, `from the snapshot at seq ${snapshot.seq}`)
      }
    })

    t.test('gates: one record per node, changed atomically by the rules, with the events of the log', async (t) => {
      const backplane = await open(t)
      t.equal(await backplane.updateGate('d', 'g', claimGate('k', Date.now(), 1000)), undefined, 'unknown DAG')
      await backplane.append('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Ship?' } })
      const now = Date.now()
      const claims = await Promise.all(['k1', 'k2', 'k3'].map((key) => backplane.updateGate('d', 'g', claimGate(key, now, 10_000))))
      t.same(claims.filter((claim) => claim?.kind === 'claimed').length, 1, 'the first decision wins')
      t.same(claims.filter((claim) => claim?.kind === 'refused').length, 2)
      const winner = ['k1', 'k2', 'k3'][claims.findIndex((claim) => claim?.kind === 'claimed')] as string
      t.equal(await backplane.updateGate('d', 'g', beginGate(winner, now, 10_000)), true)
      await backplane.updateGate('d', 'g', settleGate(winner, true))
      await backplane.append('d', { type: 'human_gate_resolved', node_id: 'g', decision: 'approve' })
      t.same(await backplane.updateGate('d', 'g', claimGate(winner, Date.now(), 1000)), { kind: 'duplicate' }, 'the resolved event keeps the winning key')
      t.same(await backplane.updateGate('d', 'g', claimGate('late', Date.now(), 1000)), { kind: 'refused', code: 'gate_already_decided' })
      await backplane.append('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Again?' } })
      t.same(await backplane.updateGate('d', 'g', claimGate('late', Date.now(), 1000)), { kind: 'claimed' }, 'a new round forgets the old claim')
      await backplane.append('d', { type: 'dag_mutated', mutation: { op: 'remove_node', node_id: 'g' } })
      t.same(await backplane.updateGate('d', 'g', claimGate('x', Date.now(), 1000)), { kind: 'refused', code: 'gate_not_waiting' }, 'a removed node has no gate')
      await backplane.append('d', { type: 'human_gate_waiting', node_id: 'h', presentation: { title: 'Last?' } })
      await backplane.append('d', { type: 'execution_status', status: 'cancelled' })
      t.same(await backplane.updateGate('d', 'h', claimGate('x', Date.now(), 1000)), { kind: 'refused', code: 'gate_not_waiting' }, 'a finished run waits for nobody')
    })

    t.test('open_gates: the gates waiting for a decision, in the list, and every change of it told to the list', async (t) => {
      const backplane = await open(t)
      const heard: Array<DAGListChangeFrame | ListGap> = []
      await backplane.watchList((change) => heard.push(change))
      /** What the list says of 'd'. */
      const listed = async () => (await backplane.list(page(100, 0))).dags.find((dag) => dag.dag_id === 'd')?.open_gates
      const seen: Array<[number | undefined, number | undefined]> = []
      /** Appends, then notes what the list says and what its watchers were told last. */
      const step = async (event: DAGEvent) => {
        const before = heard.length
        const { seq } = await backplane.append('d', event)
        // A change is told by the time a later one is: the marker DAG's creation is the last word.
        await backplane.append(`marker-${seq}`, nodeState(1))
        await until(() => heard.some((change) => change.type === 'dag_changed' && change.dag.dag_id === `marker-${seq}`), 'the marker')
        const told = heard.slice(before).filter((change) => change.type === 'dag_changed' && change.dag.dag_id === 'd')
        t.ok(told.length <= 1, 'one frame per append at most')
        const frame = told[0]
        seen.push([await listed(), frame?.type === 'dag_changed' ? frame.dag.open_gates : undefined])
        return frame
      }
      const waiting = (node: string, gate?: string): DAGEvent => gate === undefined
        ? { type: 'human_gate_waiting', node_id: node, presentation: { title: `${node}?` } }
        : { type: 'human_gate_waiting', node_id: node, gate_id: gate, presentation: { title: `${gate}?`, decisions: ['approve', 'reject'] } }
      t.match(await step(nodeState(1)), { change: 'created', dag: { open_gates: 0 } })
      t.match(await step(waiting('a')), { change: 'open_gates_changed', previous_status: 'running', dag: { dag_id: 'd', status: 'running', open_gates: 1 } })
      t.match(await step(waiting('b', 'b-budget')), { change: 'open_gates_changed', dag: { open_gates: 2 } }, 'a gate with an id of its own, and an offer')
      t.equal(await step(waiting('a')), undefined, 'the same gate again: still two')
      t.same(await backplane.updateGate('d', 'a', claimGate('k', Date.now(), 10_000)), { kind: 'claimed' })
      t.equal(await listed(), 2, 'a claim changes no count')
      t.match(await step({ type: 'human_gate_resolved', node_id: 'a', decision: 'approve' }), { change: 'open_gates_changed', dag: { open_gates: 1 } }, 'decided')
      t.equal(await step({ type: 'human_gate_resolved', node_id: 'a', decision: 'approve' }), undefined, 'decided twice: the same')
      t.match(await step(waiting('a')), { dag: { open_gates: 2 } }, 'a new round of a decided gate')
      t.match(await step({ type: 'human_gate_withdrawn', node_id: 'b', gate_id: 'b-budget' }), { dag: { open_gates: 1 } }, 'withdrawn')
      t.equal(await step({ type: 'human_gate_withdrawn', node_id: 'b', gate_id: 'b-budget' }), undefined, 'withdrawn again: nothing')
      t.match(await step({ type: 'dag_mutated', mutation: { op: 'remove_node', node_id: 'a' } }), { dag: { open_gates: 0 } }, 'its node removed')
      t.match(await step(waiting('c')), { dag: { open_gates: 1 } })
      t.match(await step({ type: 'execution_status', status: 'paused' }), { change: 'status_changed', previous_status: 'running', dag: { status: 'paused', open_gates: 1 } })
      t.match(await step({ type: 'execution_status', status: 'cancelled' }), { change: 'finished', dag: { status: 'cancelled', open_gates: 0 } }, 'a finished run waits for nobody')
      t.equal(await step({ type: 'human_gate_resolved', node_id: 'c', decision: 'approve' }), undefined, 'nor is its list told of its gates')
      t.same(seen.map(([list]) => list), [0, 1, 2, 2, 1, 1, 2, 1, 1, 0, 1, 1, 0, 0], 'what the list said after each step')
      t.same(seen.map(([, told]) => told), [0, 1, 2, undefined, 1, undefined, 2, 1, undefined, 0, 1, 1, 0, undefined], 'what its watchers were told')
    })

    t.test('open_gates: a new log starts with none, whatever the old one had open', async (t) => {
      const backplane = await open(t, { maxIdleMs: 300 })
      const first = await backplane.append('d', { type: 'human_gate_waiting', node_id: 'a', presentation: { title: 'a?' } })
      t.same((await backplane.list(page(10, 0))).dags.map((dag) => dag.open_gates), [1])
      await until(async () => (await backplane.status('d')) === undefined, 'the idle DAG to be evicted', 5000)
      const heard: Array<DAGListChangeFrame | ListGap> = []
      await backplane.watchList((change) => heard.push(change))
      const again = await backplane.append('d', nodeState(1))
      t.not(again.epoch, first.epoch, 'a new log')
      await until(() => heard.length === 1, 'the creation')
      t.match(heard[0], { change: 'created', dag: { epoch: again.epoch, open_gates: 0 } })
      t.same((await backplane.list(page(10, 0))).dags.map((dag) => dag.open_gates), [0])
      await backplane.append('d', { type: 'human_gate_resolved', node_id: 'a', decision: 'approve' })
      t.same((await backplane.list(page(10, 0))).dags.map((dag) => dag.open_gates), [0], 'the old gate is not in the new log: deciding it takes nothing off')
      await backplane.append('d', { type: 'human_gate_waiting', node_id: 'a', presentation: { title: 'a?' } })
      t.same((await backplane.list(page(10, 0))).dags.map((dag) => dag.open_gates), [1])
    })

    t.test('dispatch reaches the executor of the instance that appended, within the bound', async (t) => {
      const seen: unknown[] = []
      let answer: Promise<CommandOutcome> = Promise.resolve({ ok: true })
      const backplane = await open(t, {
        commandTimeoutMs: 300,
        execute: async (dagId, event, sender) => {
          seen.push([dagId, event.type, sender.info])
          return answer
        }
      })
      await backplane.append('d', nodeState(1))
      t.same(await backplane.dispatch('d', { type: 'pause_execution', id: 'p' }, { info: { user: 'ada' } }), { ok: true })
      t.same(seen, [['d', 'pause_execution', { user: 'ada' }]])
      t.same(await backplane.dispatch('unknown', { type: 'pause_execution' }, { info: null }), { ok: false, code: 'dag_not_found', message: 'DAG "unknown" has no execution' })
      t.equal(seen.length, 1, 'the executor is not asked about a DAG that does not exist')
      answer = new Promise(() => {}) // an engine that never answers
      t.match(await backplane.dispatch('d', { type: 'cancel_execution' }, { info: null }), { ok: false, code: 'engine_unavailable', message: /no answer within 300 ms/ })
    })

    t.test('sendToInstance reaches the receiver of the instance it names (itself too); an instance not there: stream_not_found', async (t) => {
      const received: StreamMessage[] = []
      const backplane = await open(t, {
        receiveStreamMessage: (message) => {
          received.push(message)
          return { ok: false, code: 'rate_limited', message: 'the receiver\'s answer' }
        }
      })
      t.match(backplane.instanceId, /^[\w-]+$/, 'an address that fits in a stream key')
      const message: StreamMessage = { dagId: 'd', streamKey: `${backplane.instanceId}.secret`, message: { type: 'gate_viewing', node_id: 'n' } }
      t.same(await backplane.sendToInstance(backplane.instanceId, message), { ok: false, code: 'rate_limited', message: 'the receiver\'s answer' })
      t.same(received, [message])
      t.same(await backplane.sendToInstance('nowhere', message), { ok: false, code: 'stream_not_found', message: 'No open event stream has this key: its server (nowhere) is gone' })
      t.equal(received.length, 1)
    })

    t.test('retention: finished runs after retainFinishedMs, silent ones after maxIdleMs; then a new epoch', async (t) => {
      const backplane = await open(t, { retainFinishedMs: 300, maxIdleMs: 1500 })
      const first = await backplane.append('done', { type: 'execution_complete', results: { ok: true } })
      await backplane.append('silent', nodeState(1))
      t.match(await backplane.status('done'), { status: 'completed' }, 'readable for a while')
      await until(async () => (await backplane.status('done')) === undefined, '"done" to be evicted', 5000)
      t.ok(await backplane.status('silent'), 'a running DAG outlives a finished one')
      t.same((await backplane.list(page(10, 0))).dags.map((dag) => dag.dag_id), ['silent'])
      await until(async () => (await backplane.status('silent')) === undefined, '"silent" to be evicted', 8000)
      t.same(await backplane.list(page(10, 0)), { dags: [], total: 0 })
      const again = await backplane.append('done', nodeState(2))
      t.equal(again.seq, 1)
      t.not(again.epoch, first.epoch, 'a DAG that comes back starts a new log, which clients can tell')
    })

    t.test('an event on a finished run keeps it for retainFinishedMs from then; resuming keeps it for maxIdleMs', async (t) => {
      const backplane = await open(t, { retainFinishedMs: 400, maxIdleMs: 60_000 })
      await backplane.append('d', { type: 'execution_status', status: 'cancelled' })
      await backplane.append('d', { type: 'execution_status', status: 'running' })
      // "control" finishes after d did and hears nothing more: once it is gone, so would d be if
      // it were still on the finished clock.
      await nextMillisecond()
      await backplane.append('control', { type: 'execution_status', status: 'cancelled' })
      await until(async () => (await backplane.status('control')) === undefined, '"control" to be evicted', 5000)
      t.ok(await backplane.status('d'), 'running again: no longer on the finished clock')
    })

    t.test('list: every DAG, most recently updated first, paged', async (t) => {
      const backplane = await open(t)
      for (const dagId of ['a', 'b', 'c', 'd']) {
        await backplane.append(dagId, nodeState(1))
        await nextMillisecond() // so that "most recently updated" has one answer
      }
      await backplane.append('b', nodeState(2))
      const first = await backplane.list(page(2, 0))
      t.same(first.dags.map((dag) => [dag.dag_id, dag.seq, dag.status]), [['b', 2, 'running'], ['d', 1, 'running']])
      t.equal(first.total, 4)
      t.same((await backplane.list(page(2, 2))).dags.map((dag) => dag.dag_id), ['c', 'a'])
      t.ok(first.dags.every((dag) => !Number.isNaN(Date.parse(dag.updated_at))))
      t.same((await backplane.list(page(5, 4))).dags, [])
      t.same((await backplane.list(page(3, 0, 'oldest'))).dags.map((dag) => dag.dag_id), ['a', 'c', 'd'], 'oldest first when asked')
    })

    t.test('list: filtered by status, total counts the matches, paged within them', async (t) => {
      const backplane = await open(t)
      const statuses = { r1: 'running', p1: 'paused', r2: 'running', c1: 'completed', r3: 'running', f1: 'failed' } as const
      for (const [dagId, status] of Object.entries(statuses)) {
        await backplane.append(dagId, { type: 'execution_status', status })
        await nextMillisecond()
      }
      const running = await backplane.list({ ...page(2, 0), status: ['running'] })
      t.same(running, { dags: running.dags, total: 3 })
      t.same(running.dags.map((dag) => dag.dag_id), ['r3', 'r2'])
      t.same((await backplane.list({ ...page(2, 2), status: ['running'] })).dags.map((dag) => dag.dag_id), ['r1'])
      const finished = await backplane.list({ ...page(10, 0, 'oldest'), status: ['completed', 'failed', 'cancelled'] })
      t.same(finished.dags.map((dag) => [dag.dag_id, dag.status]), [['c1', 'completed'], ['f1', 'failed']])
      t.equal(finished.total, 2)
      t.same(await backplane.list({ ...page(10, 0), status: ['cancelled'] }), { dags: [], total: 0 })
    })

    t.test('closed: appends and subscriptions are refused', async (t) => {
      const backplane = await open(t)
      t.ok(backplane.isAvailable())
      await backplane.close()
      t.notOk(backplane.isAvailable())
      await t.rejects(backplane.append('d', nodeState(1)), { code: 'FST_DAG_STREAM_CLOSED' })
      await t.rejects(backplane.subscribe('d', () => {}), { code: 'FST_DAG_STREAM_CLOSED' })
      await t.rejects(backplane.watchList(() => {}), { code: 'FST_DAG_STREAM_CLOSED' })
      await backplane.close() // twice is fine
    })
  })
}
