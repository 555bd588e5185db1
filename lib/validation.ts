// Compiled validators for the two event unions. Events are checked against the member their `type`
// names rather than against the whole union, so an error says which field of which event is wrong
// instead of TypeBox's generic "expected union value".

import type { Static, TObject, TSchema, TUnion } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Value, type ValueError } from '@sinclair/typebox/value'
import { ClientMessage, DAGEvent, PostedMessage } from '../schemas/events.js'

export type Validation<T> =
  | { ok: true; value: T }
  | { ok: false; code: 'unknown_type' | 'invalid_message'; message: string }

export type Validator<T> = (value: unknown) => Validation<T>

function createValidator<U extends TUnion<TObject[]>> (union: U): Validator<Static<U>> {
  const checks = new Map<string, TypeCheck<TObject>>()
  for (const member of union.anyOf) checks.set(member.properties.type?.const, TypeCompiler.Compile(member))
  const known = [...checks.keys()].join(', ')

  return (value) => {
    const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined
    const check = typeof type === 'string' ? checks.get(type) : undefined
    if (check === undefined) {
      return { ok: false, code: 'unknown_type', message: `"type" must be one of: ${known}` }
    }
    if (check.Check(value)) return { ok: true, value: value as Static<U> }
    // Check() failed, so there is at least one error.
    return { ok: false, code: 'invalid_message', message: `${type}: ${describe(check.Errors(value).First() as ValueError)}` }
  }
}

/** Turns TypeBox's first error into a sentence that names the field and what it should be. */
export function describe (error: ValueError): string {
  // Every error has a path: events are objects (checked before), so errors point inside them.
  const field = `"${error.path.slice(1).replaceAll('/', '.')}"`
  if (error.message === 'Expected required property') return `${field} is required`
  const members = (error.schema as { anyOf?: TSchema[] }).anyOf
  if (members === undefined) return `${field} ${error.message.charAt(0).toLowerCase()}${error.message.slice(1)}`
  // A union of literals: list what is allowed.
  if (members.every((member) => member.const !== undefined)) {
    return `${field} must be one of: ${members.map((member) => member.const).join(', ')}`
  }
  // A union of plain values (an id or null): name each.
  if (members.some((member) => member.properties === undefined)) {
    return `${field} must be ${members.map(describeValue).join(' or ')}`
  }
  // A union of objects told apart by a literal field (DAGMutation's `op`): explain against the member
  // the value claims to be, so the message reaches the real culprit.
  const value = error.value as Record<string, unknown> | null
  const member = members.find((candidate) =>
    Object.entries<TSchema>(candidate.properties).some(
      ([key, property]) => property.const !== undefined && value?.[key] === property.const
    )
  )
  if (member === undefined) return `${field} does not match any allowed shape`
  // The member's check failed on this value, so it reports at least one error.
  const inner = Value.Errors(member, value).First() as ValueError
  return describe({ ...inner, path: error.path + inner.path })
}

function describeValue (schema: TSchema): string {
  if (schema.type === 'null') return 'null'
  return [`a ${schema.type}`, schema.pattern !== undefined && `matching ${schema.pattern}`].filter(Boolean).join(' ')
}

export const validateDAGEvent: Validator<DAGEvent> = createValidator(DAGEvent)
/** What a socket accepts: a client event, or its presence (`gate_viewing`). */
export const validateClientMessage: Validator<ClientMessage> = createValidator(ClientMessage)
/** What `POST {prefix}/:id/commands` accepts: a client event, or an event stream's `gate_viewing`. */
export const validatePostedMessage: Validator<PostedMessage> = createValidator(PostedMessage)
