// Property-based fuzzing of client frames (fast-check, on a real socket). Whatever a client sends, it
// gets exactly the answer the protocol defines: an error frame with a specific code (echoing its id), the
// command's own answer when the frame is a valid command, or a documented close (1007, 1009). After each
// frame no prototype is polluted, a fresh socket is served, and a bystander misses nothing.
//
// The oracle reads the frame with JSON.parse and the protocol's schemas, never with the plugin's code.
// A failure prints the seed and the shrunk frame; rerun it with `fc.assert(…, { seed, path })`.

import { strict as assert } from 'node:assert'
import { isUtf8 } from 'node:buffer'
import { Value } from '@sinclair/typebox/value'
import fc from 'fast-check'
import t from 'tap'
import { CloseCode, DEFAULT_MAX_PAYLOAD } from '../../lib/index.js'
import { ClientEvent, ErrorCode, type SequencedEvent, type ServerMessage } from '../../schemas/index.js'
import { build, TestClient } from '../support/helpers.js'
import { probe } from './probe.js'

const RUNS = 120
const fuzzed = '/api/dags/f/stream'
const watched = '/api/dags/d/stream'
const errorCodes = new Set<string>(ErrorCode.anyOf.map((literal) => literal.const))
const clientTypes = ClientEvent.anyOf.map((member) => member.properties.type.const)

// ---------------------------------------------------------------------------------------------------
// The oracle: what the protocol says a frame must get
// ---------------------------------------------------------------------------------------------------

type Expected =
  | { close: number }
  | { error: string; id: string | undefined; messageStartsWith?: string }
  | { ack: string }
  | { nothing: true }

function expectedFor (frame: Buffer, binary: boolean): Expected {
  if (frame.length > DEFAULT_MAX_PAYLOAD) return { close: CloseCode.MESSAGE_TOO_BIG }
  if (binary) return { error: 'unsupported_binary', id: undefined }
  if (!isUtf8(frame)) return { close: CloseCode.INVALID_PAYLOAD }
  let parsed: unknown
  try {
    parsed = JSON.parse(frame.toString('utf8'))
  } catch {
    return { error: 'invalid_json', id: undefined }
  }
  const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>
  const id = typeof fields.id === 'string' ? fields.id : undefined
  const type = fields.type
  if (typeof type !== 'string' || !clientTypes.includes(type as never)) return { error: 'unknown_type', id }
  if (!Value.Check(ClientEvent, parsed)) return { error: 'invalid_message', id, messageStartsWith: `${type}: "` }
  // A valid command: the engine of this test accepts every command, and no gate is waiting.
  if (type === 'human_decision') return { error: 'gate_not_waiting', id }
  return id === undefined ? { nothing: true } : { ack: id }
}

function assertAnswered (frame: Buffer, binary: boolean, outcome: Outcome): void {
  const expected = expectedFor(frame, binary)
  if ('close' in expected) {
    assert.equal(outcome.close, expected.close, 'the documented close code')
    return
  }
  assert.equal(outcome.close, undefined, 'the socket stays open')
  if ('nothing' in expected) assert.deepEqual(outcome.replies, [])
  else if ('ack' in expected) assert.deepEqual(outcome.replies, [{ type: 'ack', id: expected.ack }])
  else {
    assert.equal(outcome.replies.length, 1, 'exactly one answer')
    const reply = outcome.replies[0] as Record<string, unknown>
    assert.equal(reply.type, 'error')
    assert.equal(reply.code, expected.error)
    assert.ok(errorCodes.has(reply.code as string), 'a documented code')
    assert.equal(reply.id, expected.id, 'the id of the frame, echoed exactly, or none')
    assert.ok(typeof reply.message === 'string' && reply.message.length > 0, 'a message')
    if (expected.messageStartsWith !== undefined) {
      assert.ok((reply.message as string).startsWith(expected.messageStartsWith), `names the field: ${String(reply.message)}`)
    }
  }
}

const prototypeKeys = Reflect.ownKeys(Object.prototype)

function assertNothingPolluted (): void {
  assert.deepEqual(Reflect.ownKeys(Object.prototype), prototypeKeys, 'Object.prototype is unchanged')
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
}

// ---------------------------------------------------------------------------------------------------
// One socket reused for every frame; a new one only after a close
// ---------------------------------------------------------------------------------------------------

/** A frame to send: text (a string, sent as UTF-8) or any bytes, as a text or a binary frame. */
interface Input {
  frame: string | Uint8Array
  binary: boolean
}

interface Outcome {
  /** The control frames that answered the frame (events of the DAG excluded). */
  replies: ServerMessage[]
  close?: number
}

class Fuzzer {
  readonly #url: string
  #client: TestClient | undefined
  #read = 0
  #sentinels = 0

  constructor (url: string) {
    this.#url = url
  }

  /**
   * Sends `frame`, then a valid command: its `ack` marks the end of the frame's answers, since one
   * socket's messages are answered in the order they were sent.
   */
  async send (frame: Buffer, binary: boolean): Promise<Outcome> {
    const client = await this.#socket()
    const sentinel = `sentinel-${++this.#sentinels}`
    client.socket.send(frame, { binary })
    client.send({ type: 'pause_execution', id: sentinel })
    const deadline = Date.now() + 10_000
    for (;;) {
      if (Date.now() > deadline) throw new Error(`timed out after 10000 ms waiting for the ack of ${sentinel}`)
      const end = client.received.findIndex((message, index) => index >= this.#read && message.type === 'ack' && message.id === sentinel)
      if (end !== -1) {
        const replies = client.received.slice(this.#read, end)
        this.#read = end + 1
        return { replies }
      }
      if (client.socket.readyState === client.socket.CLOSED) {
        this.#client = undefined
        return { replies: client.received.slice(this.#read), close: (await client.closed).code }
      }
      // Woken by the next frame or the close, or after the deadline to throw above.
      await client.waitFor(client.received.length + 1, Math.max(1, deadline - Date.now())).catch(() => {})
    }
  }

  close (): void {
    this.#client?.close()
  }

  async #socket (): Promise<TestClient> {
    if (this.#client === undefined) {
      this.#client = await TestClient.open(this.#url)
      await this.#client.next() // hello
      this.#read = 1
    }
    return this.#client
  }
}

// ---------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------

/** A text frame, kept as a string so that a counterexample reads as what was sent. */
const text = (frame: string): Input => ({ frame, binary: false })
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit))
const awkward = fc.constantFrom('\u0000', '\uFEFF', '\u202E', '\uFFFE', '\uFFFF', '\u2028', '\u2029', '\u{10FFFF}', 'e\u0301', '"', '\\', '\u{1F600}')
/** Any UTF-16 string: lone surrogates, NUL, BOM, bidi overrides, noncharacters, astral planes. */
const unicode = fc.string({ unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), loneSurrogate, awkward), maxLength: 40 })
const fieldName = fc.oneof(
  fc.constantFrom('id', 'type', 'node_id', 'decision', 'feedback', '__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty'),
  unicode
)
const clientType = fc.oneof(fc.constantFrom(...clientTypes), fc.constantFrom('toString', '__proto__', 'p\u0430use_execution', 'PAUSE_EXECUTION', ''), unicode)
/** Event-shaped objects: a client event's type, often an id, then fields that may or may not belong. */
const eventLike = fc
  .tuple(
    clientType,
    fc.option(fc.oneof(unicode, fc.jsonValue({ maxDepth: 1 })), { nil: undefined }),
    fc.array(fc.tuple(fieldName, fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' })), { maxLength: 6 })
  )
  .map(([type, id, fields]) => JSON.stringify(Object.fromEntries([['type', type], ...(id === undefined ? [] : [['id', id]]), ...fields])))
/** A field value as JSON text, in a position of a client event. */
function inEvent (value: string, position: 'id' | 'node_id' | 'feedback' | 'type' | 'extra' | 'alone'): string {
  switch (position) {
    case 'alone':
      return value
    case 'type':
      return `{"type":${value},"id":"x"}`
    case 'extra':
      return `{"type":"pause_execution","id":"x","extra":${value}}`
    case 'feedback':
      return `{"type":"human_decision","id":"x","node_id":"n","decision":"modify","feedback":${value}}`
    case 'node_id':
      return `{"type":"human_decision","id":"x","decision":"approve","node_id":${value}}`
    case 'id':
      return `{"type":"human_decision","node_id":"n","decision":"approve","id":${value}}`
  }
}
const position = fc.constantFrom('id', 'node_id', 'feedback', 'type', 'extra', 'alone' as const)

// ---------------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------------

t.test('every frame a client can send gets its specific answer, and the server keeps serving everyone', async (t) => {
  const { app, url } = await build(t, {
    // The per-socket limits would close the fuzzing socket after ten invalid frames: test/input.test.ts covers them.
    rateLimit: { max: 1_000_000, timeWindow: 1000, maxInvalid: 1_000_000 }
  })
  app.dagStream.onClientEvent(() => {})
  await app.dagStream.broadcast('f', { type: 'execution_status', status: 'running' })
  const bystander = await TestClient.open(url(watched))
  await bystander.next()
  const fuzzer = new Fuzzer(url(fuzzed))
  let broadcasts = 0
  let probes = 0

  async function check (input: Input): Promise<void> {
    const frame = Buffer.from(input.frame)
    assertAnswered(frame, input.binary, await fuzzer.send(frame, input.binary))
    assertNothingPolluted()
    const id = `probe-${++probes}`
    assert.deepEqual((await probe(url(fuzzed), id))[1], { type: 'ack', id }, 'a fresh socket is served')
    await app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${++broadcasts % 10}`, status: 'running' })
  }

  const properties: Array<[string, fc.Arbitrary<Input>]> = [
    ['random JSON documents', fc.jsonValue({ stringUnit: 'binary' }).map((value) => text(JSON.stringify(value)))],
    ['event-shaped objects with fields that may not belong', eventLike.map(text)],
    ['random bytes, as text or binary frames', fc.record({ frame: fc.uint8Array({ maxLength: 300 }), binary: fc.boolean() })],
    [
      'deeply nested arrays and objects',
      fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.boolean(), position).map(([depth, arrays, where]) =>
        text(inEvent(arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth), where))
      )
    ],
    [
      '__proto__, constructor and prototype keys, at any depth',
      fc
        .tuple(fc.array(fc.constantFrom('__proto__', 'constructor', 'prototype'), { minLength: 1, maxLength: 4 }), position)
        .map(([path, where]) => text(inEvent(path.reduceRight((inner, key) => `{"${key}":${inner}}`, '{"polluted":"yes","toString":1}'), where)))
    ],
    [
      'huge, tiny and unrepresentable numbers',
      fc
        .tuple(
          fc.oneof(
            fc.constantFrom('1e400', '-1e400', '1e-400', '-0', '9007199254740993', '123456789012345678901234567890', '1.7976931348623157e308'),
            fc.integer({ min: 1, max: 5000 }).map((digits) => '9'.repeat(digits)),
            fc.integer({ min: 1, max: 5000 }).map((digits) => `0.${'0'.repeat(digits)}1`),
            fc.double().map((number) => JSON.stringify(number))
          ),
          position
        )
        .map(([number, where]) => text(inEvent(number, where)))
    ],
    [
      'very long strings, around the size limits',
      fc
        .tuple(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 16_000, max: 17_000 }), fc.integer({ min: 60_000, max: 70_000 })), fc.constantFrom('a', 'é', '€', '\u{1D11E}', '"', '\\'), position)
        .map(([length, unit, where]) => text(inEvent(JSON.stringify(unit.repeat(length)), where)))
    ],
    [
      'unicode edge cases: lone surrogates, NUL, BOM, bidi, noncharacters',
      fc.tuple(unicode, position).map(([value, where]) => text(inEvent(JSON.stringify(value), where)))
    ]
  ]

  for (const [name, arbitrary] of properties) {
    // Throws, with the seed and the shrunk counterexample, on the first frame that breaks a rule.
    await fc.assert(fc.asyncProperty(arbitrary, check), { numRuns: RUNS })
    t.pass(`${name}: ${RUNS} frames, each answered as specified`)
  }

  await bystander.waitFor(broadcasts + 1)
  const seqs = bystander.received.slice(1).map((message) => (message as SequencedEvent).seq)
  t.same(seqs, Array.from({ length: broadcasts }, (_, index) => index + 1), `the bystander got all ${broadcasts} events, in order`)
  t.equal(bystander.socket.readyState, bystander.socket.OPEN)
  fuzzer.close()
  bystander.close()
})
