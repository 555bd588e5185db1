// The structured `value` of a human decision, checked against its gate's `response_schema` (a JSON
// Schema, as the engine gave it) before any engine sees it. Compiled validators are kept by the
// schema's text, so a gate decided many times, or many gates of one shape, compile once.

import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'

/** How many compiled schemas are kept; the least recently used goes first. */
const MAX_COMPILED = 256

// allErrors off: the first fault is the one reported. strict off: an engine's schema may carry
// keywords of its own (titles for its form builder, `x-` fields) that are no fault of the human's.
const ajv = new Ajv2020({ allErrors: false, strict: false })
const compiled = new Map<string, ValidateFunction>()

/** What is wrong with a value: the JSON Pointer of the part at fault ('' for the value itself) and why. */
export interface ValueFault {
  path: string
  message: string
}

/** Compiles `schema` (or finds it compiled); throws with Ajv's message when it is no valid schema. */
export function compileSchema (schema: Record<string, unknown>): ValidateFunction {
  const text = JSON.stringify(schema)
  let validate = compiled.get(text)
  if (validate !== undefined) {
    // Most recently used last: Map keeps insertion order.
    compiled.delete(text)
  } else {
    validate = ajv.compile(schema)
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value as string)
  }
  compiled.set(text, validate)
  return validate
}

/** The first fault of `value` against `schema`, or undefined when it matches. */
export function checkValue (schema: Record<string, unknown>, value: unknown): ValueFault | undefined {
  // A gate with a response_schema asks for a value: none at all is a fault of its own (JSON has no undefined).
  if (value === undefined) return { path: '', message: 'The gate asks for a value (response_schema), and the decision has none' }
  const validate = compileSchema(schema)
  if (validate(value)) return undefined
  // Ajv sets `errors` whenever a value fails, with at least one entry.
  const { instancePath: path, message } = (validate.errors as ErrorObject[])[0] as ErrorObject
  return { path, message: `value${path === '' ? '' : ` at ${path}`} ${message as string}` }
}
