// The one rule for ids (DAG ids, node ids): 1 to 100 characters of A-Z a-z 0-9 . _ : ~ -.
//
// Why these characters: an id travels as a URL path segment (`{prefix}/:id/stream`) and in every
// frame, and these need no percent-encoding in a path (RFC 3986 unreserved, plus ':'), never look like
// markup or a path separator, and compare byte for byte. Why 100: it is Fastify's default
// `maxParamLength`; a longer path segment gets 414 from Fastify's router before any route runs, so a
// longer id could be broadcast but never opened by a dashboard.
//
// The names engines give ("Draft writer", "agent/tools", "résumé", "step#2") are mapped onto the rule
// by `toIdentifier`, reversibly: every character outside A-Z a-z 0-9 . _ : - becomes `~` and two hex
// digits per UTF-8 byte (`~` itself is `~7E`), so `fromIdentifier` gives the name back. An id that
// already follows the rule and has no `~` (a UUID, `fetch-2`) is its own id.
//
// Browser-safe (no Node built-ins): dashboards map names the same way.

import { IDENTIFIER_PATTERN, MAX_IDENTIFIER_LENGTH } from '../../schemas/events.js'

export { IDENTIFIER_PATTERN, MAX_IDENTIFIER_LENGTH }

const identifierRule = new RegExp(IDENTIFIER_PATTERN)

/** Whether `id` is a valid DAG or node id: 1-100 characters of A-Z a-z 0-9 . _ : ~ -. */
export function isIdentifier (id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_IDENTIFIER_LENGTH && identifierRule.test(id)
}

/**
 * The id for an engine's name (any non-empty string of whole characters), reversibly: `fromIdentifier`
 * gives the name back. Throws a RangeError when the name is empty, holds a lone surrogate, or its id
 * would pass 100 characters (each byte of UTF-8 outside the rule costs 3).
 * @example toIdentifier('Draft writer') // 'Draft~20writer'
 * @example toIdentifier('résumé') // 'r~C3~A9sum~C3~A9'
 * @example toIdentifier('3f0c2b9e-8c1d-4f7a-9a51-2d6c7e1f4b10') // unchanged
 */
export function toIdentifier (name: string): string {
  if (typeof name !== 'string' || name === '') throw new RangeError(`toIdentifier expects a non-empty string, got ${JSON.stringify(name)}`)
  let encoded: string
  try {
    encoded = encodeURIComponent(name)
  } catch {
    throw new RangeError(`toIdentifier: ${JSON.stringify(name)} holds a lone surrogate, which has no UTF-8 form`)
  }
  const id = encoded
    // encodeURIComponent leaves these as they are; of them the rule only allows - _ . (and ~ is the escape).
    .replace(/[!~*'()]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll('%3A', ':')
    .replaceAll('%', '~')
  if (id.length > MAX_IDENTIFIER_LENGTH) {
    throw new RangeError(`toIdentifier: the id of ${JSON.stringify(name)} would be ${id.length} characters, more than ${MAX_IDENTIFIER_LENGTH}`)
  }
  return id
}

/**
 * The name an id made by `toIdentifier` stands for. An id without `~` is its own name. Throws a
 * RangeError for an id that `toIdentifier` cannot have made (a `~` not followed by the hex of UTF-8).
 * @example fromIdentifier('Draft~20writer') // 'Draft writer'
 */
export function fromIdentifier (id: string): string {
  if (!isIdentifier(id)) throw new RangeError(`fromIdentifier expects an id (1-${MAX_IDENTIFIER_LENGTH} characters of A-Z a-z 0-9 . _ : ~ -), got ${JSON.stringify(id)}`)
  try {
    return decodeURIComponent(id.replaceAll('~', '%'))
  } catch {
    throw new RangeError(`fromIdentifier: ${JSON.stringify(id)} was not made by toIdentifier (each ~ starts the hex of a UTF-8 byte)`)
  }
}
