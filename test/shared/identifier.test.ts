// The id rule and the reversible mapping of engines' names onto it (lib/shared/identifier.ts).

import fc from 'fast-check'
import t from 'tap'
import { fromIdentifier, isIdentifier, MAX_IDENTIFIER_LENGTH, toIdentifier } from '../../lib/index.js'

t.test('the names engines use map onto the rule and back', async (t) => {
  const names: Array<[string, string]> = [
    ['Draft writer', 'Draft~20writer'],
    ['agent/tools', 'agent~2Ftools'],
    ['résumé', 'r~C3~A9sum~C3~A9'],
    ['step#2', 'step~232'],
    ['3f0c2b9e-8c1d-4f7a-9a51-2d6c7e1f4b10', '3f0c2b9e-8c1d-4f7a-9a51-2d6c7e1f4b10'],
    ['ns:node.v2_x', 'ns:node.v2_x'],
    ['a~b', 'a~7Eb'],
    ["it's (a) *star*!", 'it~27s~20~28a~29~20~2Astar~2A~21'],
    ['🙂', '~F0~9F~99~82']
  ]
  for (const [name, id] of names) {
    t.equal(toIdentifier(name), id, name)
    t.ok(isIdentifier(id), `${id} follows the rule`)
    t.equal(fromIdentifier(id), name, `${id} gives the name back`)
  }
})

t.test('every name whose id fits round-trips; every id made follows the rule', async (t) => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (name) => {
    let id: string
    try {
      id = toIdentifier(name)
    } catch (error) {
      // Only a name whose id passes the length may be refused.
      return error instanceof RangeError && /more than 100/.test(error.message)
    }
    return isIdentifier(id) && fromIdentifier(id) === name
  }), { numRuns: 500 })
})

t.test('what cannot be mapped, and what is no id, throw a RangeError that says why', async (t) => {
  t.throws(() => toIdentifier(''), { name: 'RangeError', message: /non-empty string/ })
  t.throws(() => toIdentifier(42 as unknown as string), { name: 'RangeError' })
  t.throws(() => toIdentifier('\uD800'), { name: 'RangeError', message: /lone surrogate/ })
  t.equal(toIdentifier('a'.repeat(MAX_IDENTIFIER_LENGTH)).length, 100)
  t.throws(() => toIdentifier('é'.repeat(17)), { name: 'RangeError', message: /would be 102 characters, more than 100/ })
  t.throws(() => fromIdentifier('a b'), { name: 'RangeError', message: /expects an id/ })
  t.throws(() => fromIdentifier('a~ZZ'), { name: 'RangeError', message: /not made by toIdentifier/ })
  t.notOk(isIdentifier('a'.repeat(101)), '101 characters')
  t.notOk(isIdentifier(''))
  t.notOk(isIdentifier(7))
  t.notOk(isIdentifier('a/b'))
})
