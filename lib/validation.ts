// Compiled validators for the two event unions. Events are checked against the member their `type`
// names rather than against the whole union, so an error says which field of which event is wrong
// instead of TypeBox's generic "expected union value".

import type { Static, TObject, TSchema, TUnion } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Value, type ValueError } from '@sinclair/typebox/value'
import { ClientEvent, DAGEvent } from '../schemas/events.js'

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
    return { ok: false, code: 'invalid_message', message: `${type}: ${describe(check.Errors(value).First())}` }
  }
}

/** Turns TypeBox's first error into a sentence that names the field and what it should be. */
function describe (error: ValueError | undefined): string {
  /* c8 ignore next -- Check() failed, so there is at least one error */
  if (error === undefined) return 'invalid'
  const field = error.path === '' ? 'the event' : `"${error.path.slice(1).replaceAll('/', '.')}"`
  const members = (error.schema as { anyOf?: TSchema[] }).anyOf
  if (members === undefined) {
    const message = error.message === 'Expected required property' ? 'is required' : error.message
    return `${field} ${message.charAt(0).toLowerCase()}${message.slice(1)}`
  }
  // A union of literals: list what is allowed.
  if (members.every((member) => member.const !== undefined)) {
    return `${field} must be one of: ${members.map((member) => member.const).join(', ')}`
  }
  // A union of objects told apart by a literal field (DAGMutation's `op`): explain against the member
  // the value claims to be, so the message reaches the real culprit.
  const value = error.value as Record<string, unknown> | undefined
  const member = members.find((candidate) =>
    Object.entries(candidate.properties ?? {}).some(
      ([key, property]) => (property as TSchema).const !== undefined && value?.[key] === (property as TSchema).const
    )
  )
  if (member === undefined) return `${field} does not match any allowed shape`
  const inner = Value.Errors(member, value).First()
  /* c8 ignore next -- the member check failed, so it reports an error */
  return inner === undefined ? `${field} is invalid` : describe({ ...inner, path: error.path + inner.path })
}

export const validateDagEvent: Validator<DAGEvent> = createValidator(DAGEvent)
export const validateClientEvent: Validator<ClientEvent> = createValidator(ClientEvent)
