// GET {prefix}/:id serializes a snapshot once per (DAG, epoch, seq) and shares the bytes: concurrent
// requests, later ones at the same seq, and each compression. A request never gets a snapshot older
// than the log was when it arrived.

import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { request } from 'node:http'
import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import { memoryBackplane, type Backplane, type BackplaneProvider } from '../../lib/index.js'
import { acceptedEncodings, COMPRESS_MIN_BYTES, SnapshotCache } from '../../lib/http/snapshots.js'
import { DAGSnapshot, type DAGEvent } from '../../schemas/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'

/**
 * The memory backplane, counting the snapshots it builds. `hold.status` / `hold.snapshot`, while set,
 * delay those answers (computed at call time, as the real ones are) until the promise resolves.
 */
function countingMemory () {
  const built: string[] = []
  const hold: { status?: Promise<void>; snapshot?: Promise<void> } = {}
  const provider: BackplaneProvider = {
    kind: 'counting-memory',
    create (settings) {
      const inner = memoryBackplane.create(settings)
      return new Proxy(inner, {
        get (target, property) {
          const value = Reflect.get(target, property) as unknown
          if (typeof value !== 'function') return value
          if (property !== 'snapshot' && property !== 'status') return value.bind(target)
          return async (dagId: string) => {
            if (property === 'snapshot') built.push(dagId)
            const answer = await value.call(target, dagId)
            await hold[property]
            return answer
          }
        }
      })
    }
  }
  return { built, hold, provider }
}

/** A raw GET (fetch would decompress): status, headers and the bytes as sent. */
function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }))
    }).on('error', reject).end()
  })
}

function nodes (count: number, from = 0): DAGEvent[] {
  return Array.from({ length: count }, (_, index) => ({ type: 'node_state', node_id: `node-${from + index}`, status: 'running', metrics: { tokens: index } }))
}

t.test('concurrent and later requests at one seq share one build; a new event makes the next request build again', async (t) => {
  const { built, provider } = countingMemory()
  const { app, http } = await build(t, { backplane: provider })
  for (const event of nodes(200)) await app.dagStream.broadcast('d', event)
  const first = await Promise.all(Array.from({ length: 50 }, () => get(`${http}/api/dags/d`)))
  const later = await get(`${http}/api/dags/d`)
  t.equal(built.length, 1, 'fifty concurrent requests and a later one: one build')
  t.ok([...first, later].every((response) => response.body.equals(later.body)), 'the same bytes for all')
  t.match(later.headers, { 'content-type': 'application/json; charset=utf-8', vary: 'accept-encoding' })
  t.equal(later.headers['content-encoding'], undefined, 'nothing compressed unless asked')
  const snapshot = JSON.parse(later.body.toString())
  t.ok(Value.Check(DAGSnapshot, snapshot), 'the bytes hold what the schema documents')
  t.match(snapshot, { dag_id: 'd', seq: 200 })

  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  const moved = JSON.parse((await get(`${http}/api/dags/d`)).body.toString())
  t.match(moved, { seq: 201, status: 'paused' }, 'never older than the log was when the request came')
  t.equal(built.length, 2)
})

t.test('gzip and br, each compressed once per seq; small snapshots and refused encodings go as they are', async (t) => {
  const { app, http } = await build(t)
  for (const event of nodes(300)) await app.dagStream.broadcast('big', event)
  await app.dagStream.broadcast('small', { type: 'execution_status', status: 'running' })
  const plain = (await get(`${http}/api/dags/big`)).body

  const gzipped = await get(`${http}/api/dags/big`, { 'accept-encoding': 'gzip' })
  t.equal(gzipped.headers['content-encoding'], 'gzip')
  t.ok(gunzipSync(gzipped.body).equals(plain), 'gzip holds the same JSON')
  t.ok(gzipped.body.length < plain.length / 4, `compressed: ${plain.length} → ${gzipped.body.length} bytes`)
  t.ok((await get(`${http}/api/dags/big`, { 'accept-encoding': 'gzip' })).body.equals(gzipped.body), 'the same compressed bytes again')

  const brotli = await get(`${http}/api/dags/big`, { 'accept-encoding': 'gzip, deflate, br' })
  t.equal(brotli.headers['content-encoding'], 'br', 'br first when both are accepted')
  t.ok(brotliDecompressSync(brotli.body).equals(plain))

  const refused = await get(`${http}/api/dags/big`, { 'accept-encoding': 'br;q=0, gzip;q=0' })
  t.equal(refused.headers['content-encoding'], undefined)
  t.ok(refused.body.equals(plain))

  const small = await get(`${http}/api/dags/small`, { 'accept-encoding': 'gzip' })
  t.ok(small.body.length < COMPRESS_MIN_BYTES)
  t.equal(small.headers['content-encoding'], undefined, `under ${COMPRESS_MIN_BYTES} bytes: not worth it`)
  t.match(JSON.parse(small.body.toString()), { dag_id: 'small', seq: 1 })

  const viaFetch = await (await fetch(`${http}/api/dags/big`)).json()
  t.same(viaFetch, JSON.parse(plain.toString()), 'fetch (which asks for gzip and br) reads it back')
})

t.test('Accept-Encoding: q=0 refuses, * allows the rest, unknown codings are ignored', async (t) => {
  t.same(acceptedEncodings(undefined), [])
  t.same(acceptedEncodings(''), [])
  t.same(acceptedEncodings('gzip'), ['gzip'])
  t.same(acceptedEncodings('GZIP;q=0.5, BR;q=1'), ['br', 'gzip'])
  t.same(acceptedEncodings('br;q=0, *'), ['gzip'])
  t.same(acceptedEncodings('*;q=0, gzip'), ['gzip'])
  t.same(acceptedEncodings('gzip; q=0.0'), [])
  t.same(acceptedEncodings('identity, deflate, zstd'), [])
})

t.test('snapshotCacheBytes bounds the cache: the least recently read DAG is rebuilt, unknown and evicted DAGs are 404', async (t) => {
  const { built, provider } = countingMemory()
  const { app, http } = await build(t, { backplane: provider, snapshotCacheBytes: 8_000, retainFinishedMs: 50 })
  for (const event of nodes(100)) await app.dagStream.broadcast('a', event)
  for (const event of nodes(100)) await app.dagStream.broadcast('b', event)
  const size = (await get(`${http}/api/dags/a`)).body.length
  t.ok(size > 4_000 && size < 8_000, `one fits in 8,000 bytes, two do not (${size} each)`)
  await get(`${http}/api/dags/b`)
  await get(`${http}/api/dags/b`)
  t.same(built, ['a', 'b'], 'b is served from the cache')
  await get(`${http}/api/dags/a`)
  t.same(built, ['a', 'b', 'a'], 'a was dropped to make room, and built again')
  await get(`${http}/api/dags/a`, { 'accept-encoding': 'gzip' })
  await get(`${http}/api/dags/b`, { 'accept-encoding': 'br' })

  t.equal((await get(`${http}/api/dags/nope`)).status, 404)
  await app.dagStream.broadcast('a', { type: 'execution_status', status: 'completed' })
  await get(`${http}/api/dags/a`)
  await new Promise((resolve) => setTimeout(resolve, 200)) // retainFinishedMs is the point: the run is evicted
  t.equal((await get(`${http}/api/dags/a`)).status, 404, 'an evicted DAG is not served from the cache')
})

/** A backplane of one DAG at seq `head.seq`, whose snapshots resolve when `release` is called. */
function heldBackplane () {
  const head = { seq: 10, builds: 0 }
  let release = () => {}
  const backplane = {
    status: async () => ({ epoch: 'e', seq: head.seq, status: 'running' as const }),
    snapshot: async () => {
      const snapshot = { dag_id: 'd', epoch: 'e', seq: head.seq, status: 'running', nodes: [], edges: [], cost: null, gates: [], errors: [] }
      head.builds++
      await new Promise<void>((resolve) => { release = resolve })
      return snapshot
    }
  } as unknown as Backplane
  return { head, backplane, release: () => release() }
}

const seqOf = async (read: Promise<{ body: Buffer } | undefined>) => JSON.parse(((await read) as { body: Buffer }).body.toString()).seq

t.test('a request that arrives during a build waits for it, or for the next one if the DAG moved on meanwhile', async (t) => {
  const { head, backplane, release } = heldBackplane()
  const cache = new SnapshotCache(backplane, 1_000_000)
  const early = cache.read('d', [])
  await until(() => head.builds > 0, 'the first build to start')
  const same = cache.read('d', []) // the log is at seq 10, like the build under way
  head.seq = 11
  const after = cache.read('d', []) // at seq 11: the build under way is too old for it
  release()
  await until(() => head.builds > 1, 'the second build to start')
  release()
  t.same([await seqOf(early), await seqOf(same), await seqOf(after)], [10, 10, 11])
  t.equal(head.builds, 2, 'the second request joined the first build; the third needed another')
})

t.test('a snapshot larger than the whole cache still serves the requests for its seq', async (t) => {
  const { head, backplane, release } = heldBackplane()
  const cache = new SnapshotCache(backplane, 1)
  const first = cache.read('d', [])
  await until(() => head.builds > 0, 'the build to start')
  release()
  t.equal(await seqOf(first), 10)
  t.equal(await seqOf(cache.read('d', [])), 10)
  t.equal(head.builds, 1, 'the latest one always stays')
})

t.test('a DAG evicted between reading its head and building its snapshot: 404', async (t) => {
  const { hold, provider } = countingMemory()
  const { app, http } = await build(t, { backplane: provider, retainFinishedMs: 20 })
  await app.dagStream.broadcast('d', { type: 'execution_complete', results: {} })
  let release = () => {}
  hold.status = new Promise((resolve) => { release = resolve })
  const response = get(`${http}/api/dags/d`)
  await until(async () => (await app.dagStream.snapshot('d')) === undefined, 'the DAG to be evicted')
  release()
  t.equal((await response).status, 404)
})
