// Serving `GET {prefix}/:id`: one serialization per (DAG, epoch, seq), shared.
//
// After a deploy every dashboard reconnects and many must resync: thousands of requests for the same
// snapshot at the same seq. Building the snapshot, serializing it (Fastify's schema serializer takes
// ~90 ms for a 10,000-node DAG, JSON.stringify ~16 ms) and compressing it are therefore done once per
// seq and shared by concurrent and later requests, until the DAG moves on. The bytes are sent as they
// are, so the route's response schema documents them without serializing them again.

import { brotliCompress, constants, gzip } from 'node:zlib'
import { promisify } from 'node:util'
import type { Backplane } from '../backplane/types.js'

/** Smaller bodies are not worth compressing: the headers cost more than the bytes saved. */
export const COMPRESS_MIN_BYTES = 1024

export type ContentEncoding = 'br' | 'gzip'

const compressors: Record<ContentEncoding, (body: Buffer) => Promise<Buffer>> = {
  // Quality 4: within a few percent of the default (11) for JSON, at a small fraction of its time.
  br: (body) => promisify(brotliCompress)(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_SIZE_HINT]: body.length }
  }),
  gzip: (body) => promisify(gzip)(body)
}

/** One DAG's snapshot at one seq, serialized, with the encodings asked for so far. */
interface Serialized {
  epoch: string
  seq: number
  json: Buffer
  encoded: Map<ContentEncoding, Promise<Buffer>>
  bytes: number
}

export interface SnapshotBody {
  body: Buffer
  encoding: ContentEncoding | undefined
}

export class SnapshotCache {
  readonly #backplane: Backplane
  readonly #maxBytes: number
  /** The latest serialized snapshot per DAG, least recently used first. */
  readonly #entries = new Map<string, Serialized>()
  /** Builds in progress, per DAG: concurrent requests wait for the same one. */
  readonly #building = new Map<string, Promise<Serialized | undefined>>()
  #bytes = 0

  constructor (backplane: Backplane, maxBytes: number) {
    this.#backplane = backplane
    this.#maxBytes = maxBytes
  }

  /**
   * The DAG's snapshot, at least as recent as its log was when called, as JSON or in one of
   * `accepted` encodings; undefined for an unknown DAG.
   */
  async read (dagId: string, accepted: readonly ContentEncoding[]): Promise<SnapshotBody | undefined> {
    const head = await this.#backplane.status(dagId)
    if (head === undefined) {
      this.#forget(dagId)
      return undefined
    }
    let entry = this.#entries.get(dagId)
    if (entry === undefined || entry.epoch !== head.epoch || entry.seq < head.seq) entry = await this.#build(dagId, head.seq)
    if (entry === undefined) return undefined
    // Refreshes its place in the LRU order.
    this.#entries.delete(dagId)
    this.#entries.set(dagId, entry)
    const encoding = entry.json.length >= COMPRESS_MIN_BYTES ? accepted[0] : undefined
    if (encoding === undefined) return { body: entry.json, encoding }
    return { body: await this.#encode(dagId, entry, encoding), encoding }
  }

  /** One build per DAG at a time; a request that needs a later seq than the running build starts another. */
  #build (dagId: string, atLeastSeq: number): Promise<Serialized | undefined> {
    const running = this.#building.get(dagId)
    if (running !== undefined) {
      return running.then((entry) => (entry === undefined || entry.seq >= atLeastSeq ? entry : this.#build(dagId, atLeastSeq)))
    }
    const built = this.#backplane.snapshot(dagId).then((snapshot) => {
      if (snapshot === undefined) return undefined
      const json = Buffer.from(JSON.stringify(snapshot))
      const entry: Serialized = { epoch: snapshot.epoch, seq: snapshot.seq, json, encoded: new Map(), bytes: json.length }
      this.#store(dagId, entry)
      return entry
    }).finally(() => this.#building.delete(dagId))
    this.#building.set(dagId, built)
    return built
  }

  #encode (dagId: string, entry: Serialized, encoding: ContentEncoding): Promise<Buffer> {
    let encoded = entry.encoded.get(encoding)
    if (encoded === undefined) {
      // (zlib does not fail on a whole Buffer, short of memory: a failure is not retried.)
      encoded = compressors[encoding](entry.json).then((body) => {
        entry.bytes += body.length
        if (this.#entries.get(dagId) === entry) {
          this.#bytes += body.length
          this.#evict()
        }
        return body
      })
      entry.encoded.set(encoding, encoded)
    }
    return encoded
  }

  // Builds of one DAG never overlap, so the entry stored last is the newest.
  #store (dagId: string, entry: Serialized): void {
    this.#forget(dagId)
    this.#entries.set(dagId, entry)
    this.#bytes += entry.bytes
    this.#evict()
  }

  #forget (dagId: string): void {
    const entry = this.#entries.get(dagId)
    if (entry === undefined) return
    this.#entries.delete(dagId)
    this.#bytes -= entry.bytes
  }

  /** Drops the least recently used snapshots past `maxBytes` (the newest one always stays). */
  #evict (): void {
    while (this.#bytes > this.#maxBytes && this.#entries.size > 1) {
      this.#forget(this.#entries.keys().next().value as string)
    }
  }
}

/**
 * The encodings an `Accept-Encoding` header allows, best first (br, then gzip). q=0 refuses one;
 * other weights are not ranked: every client that sends both prefers neither in practice.
 */
export function acceptedEncodings (header: string | undefined): ContentEncoding[] {
  if (header === undefined) return []
  const weights = new Map<string, boolean>()
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.toLowerCase().split(';').map((each) => each.trim())
    weights.set(name, !params.some((param) => /^q\s*=\s*0(\.0*)?$/.test(param)))
  }
  return (['br', 'gzip'] as const).filter((encoding) => weights.get(encoding) ?? weights.get('*') ?? false)
}
