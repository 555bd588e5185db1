// The command bus on its own: what a sender is answered when the other instance is gone, slow, broken
// or answers garbage, and that nothing is left waiting when the instance closes.

import t from 'tap'
import { CommandBus, type BusOptions } from '../../../lib/backplane/redis/bus.js'
import type { CommandOutcome } from '../../../lib/index.js'
import { until } from '../../support/wait.js'

const pause = { type: 'pause_execution', id: 'p' } as const

/** Two buses wired to each other through `publish`, as Redis pub/sub would. */
function pair (overrides: Partial<BusOptions> = {}) {
  const errors: string[] = []
  /** `${to} ${kind}` of each message a bus has received, once it has. */
  const delivered: string[] = []
  const buses = new Map<string, CommandBus>()
  const options = (self: string): BusOptions => ({
    self,
    timeoutMs: 200,
    publish: async (to, message) => {
      const bus = buses.get(to)
      if (bus === undefined) return 0
      setImmediate(() => {
        bus.receive(message)
        delivered.push(`${to} ${(JSON.parse(message) as { kind: string }).kind}`)
      })
      return 1
    },
    execute: async () => ({ ok: true }),
    receiveStreamMessage: () => ({ ok: true }),
    onError: (_error, what, dagId) => errors.push(dagId === undefined ? what : `${what} (DAG ${dagId})`),
    ...overrides
  })
  buses.set('a', new CommandBus(options('a')))
  buses.set('b', new CommandBus(options('b')))
  return { a: buses.get('a') as CommandBus, b: buses.get('b') as CommandBus, errors, delivered, buses }
}

t.test('a command reaches the other instance and its outcome comes back', async (t) => {
  const seen: unknown[] = []
  const { a } = pair({ execute: async (dagId, event, sender) => { seen.push([dagId, event.type, sender]); return { ok: true } } })
  t.same(await a.send('b', 'd', pause, { info: { user: 'ada' }, request: undefined }), { ok: true })
  t.same(await a.send('b', 'd', pause, { info: null, connectionId: 'c0nnId' }), { ok: true })
  t.same(seen, [
    ['d', 'pause_execution', { info: { user: 'ada' } }],
    ['d', 'pause_execution', { info: null, connectionId: 'c0nnId' }]
  ], 'only the description travels, and the id of the sender\'s connection for the logs')
})

t.test('an instance nobody listens for: engine_unavailable at once', async (t) => {
  const { a } = pair()
  t.match(await a.send('gone', 'd', pause, { info: null }), { ok: false, code: 'engine_unavailable', message: /its instance is gone/ })
})

t.test('publish failing (Redis down): engine_unavailable, and the failure is reported', async (t) => {
  const { a, errors } = pair({ publish: async () => { throw new Error('Connection is closed.') } })
  t.match(await a.send('b', 'd', pause, { info: null }), { code: 'engine_unavailable', message: /backplane is unavailable/ })
  t.same(errors, ['could not forward a client event (DAG d)'])
})

t.test('a silent instance: engine_unavailable after the bound; a late answer changes nothing', async (t) => {
  let answer!: (outcome: CommandOutcome) => void
  const { a, errors, delivered } = pair({ execute: () => new Promise((resolve) => { answer = resolve }) })
  t.match(await a.send('b', 'd', pause, { info: null }), { code: 'engine_unavailable', message: /no answer within 200 ms/ })
  answer({ ok: true })
  await until(() => delivered.includes('a reply'), 'the late reply to reach a')
  t.same(errors, [], 'a reply nobody waits for is dropped quietly')
})

t.test('a command that arrives after its deadline is not run: its sender has answered already', async (t) => {
  const runs: string[] = []
  const { b } = pair({ execute: async (dagId) => { runs.push(dagId); return { ok: true } } })
  b.receive(JSON.stringify({ kind: 'command', id: 'x', from: 'a', dagId: 'late', event: pause, sender: null, deadline: Date.now() - 1 }))
  // A command in time, received after it: once it has run, the late one would have too.
  b.receive(JSON.stringify({ kind: 'command', id: 'y', from: 'a', dagId: 'in-time', event: pause, sender: null, deadline: Date.now() + 1000 }))
  await until(() => runs.length > 0, 'the command in time to run')
  t.same(runs, ['in-time'])
})

t.test('an executor that throws: the sender gets engine_unavailable and the error is reported', async (t) => {
  const { a, errors } = pair({ execute: async () => { throw new Error('boom') } })
  t.match(await a.send('b', 'd', pause, { info: null }), { code: 'engine_unavailable', message: /failed while handling the event/ })
  t.same(errors, ['a forwarded client event failed (DAG d)'])
})

t.test('a reply that cannot be published is reported; the sender times out', async (t) => {
  const errors: string[] = []
  let calls = 0
  const b = new CommandBus({
    self: 'b',
    timeoutMs: 100,
    publish: async () => { calls++; throw new Error('down') },
    execute: async () => ({ ok: true }),
    receiveStreamMessage: () => ({ ok: true }),
    onError: (_error, what, dagId) => errors.push(`${what} (DAG ${dagId})`)
  })
  b.receive(JSON.stringify({ kind: 'command', id: 'x', from: 'a', dagId: 'd', event: pause, sender: null, deadline: Date.now() + 1000 }))
  await until(() => errors.length > 0, 'the failure to be reported')
  t.equal(calls, 1)
  t.same(errors, ['could not answer a forwarded client event (DAG d)'])
})

t.test('garbage on the channel is reported and ignored; a reply for nobody is ignored', async (t) => {
  const { a, errors } = pair()
  a.receive('not json')
  a.receive(JSON.stringify({ kind: 'reply', id: 'unknown', outcome: { ok: true } }))
  t.same(errors, ['unreadable message on the instance channel'])
})

t.test('closing answers every waiting sender at once', async (t) => {
  let executing = false
  const { a } = pair({ execute: () => { executing = true; return new Promise(() => {}) } })
  const waiting = a.send('b', 'd', pause, { info: null })
  await until(() => executing, 'the command to be with the other instance')
  a.close()
  t.match(await waiting, { code: 'engine_unavailable', message: /shutting down/ })
})

t.test('a stream message reaches the receiver of the instance named; the answers say it is about the stream\'s server', async (t) => {
  const received: unknown[] = []
  const message = { dagId: 'd', streamKey: 'b.secret', message: { type: 'gate_viewing', node_id: 'n' } } as const
  const { a } = pair({ receiveStreamMessage: (each) => { received.push(each); return { ok: true } } })
  t.same(await a.sendToStream('b', message), { ok: true })
  t.same(received, [message])
  t.same(await a.sendToStream('gone', message), { ok: false, code: 'stream_not_found', message: 'No open event stream has this key: its server (gone) is gone' })

  const broken = pair({ receiveStreamMessage: () => { throw new Error('boom') } })
  t.match(await broken.a.sendToStream('b', message), { code: 'engine_unavailable', message: /server holding the event stream is unavailable: it failed/ })
  t.same(broken.errors, ['a forwarded client event failed (DAG d)'])

  const down = pair({ publish: async () => { throw new Error('Connection is closed.') } })
  t.match(await down.a.sendToStream('b', message), { code: 'engine_unavailable', message: /server holding the event stream is unavailable: the backplane/ })

  // Published, and never delivered: the other instance never answers.
  const silent = pair({ publish: async () => 1 })
  t.match(await silent.a.sendToStream('b', message), { code: 'engine_unavailable', message: /server holding the event stream is unavailable: no answer within 200 ms/ })
  const waiting = silent.a.sendToStream('b', message)
  silent.a.close()
  t.match(await waiting, { code: 'engine_unavailable', message: /server holding the event stream is unavailable: this server is shutting down/ })
})
