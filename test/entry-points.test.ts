// The package's entry points: what each gives, and that the browser-side ones stay free of the server.

import { readFileSync } from 'node:fs'
import t from 'tap'
import { DAGStreamError } from '../lib/react/index.js'
import { applyEvent, createState, fromSnapshot, toSnapshot } from '../lib/shared/reducer.js'

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { default: string }> }

t.test('fastify-dag-stream/reducer: the reducer, for a store of your own, with nothing of the server', async (t) => {
  t.equal(manifest.exports['./reducer']?.default, './dist/lib/shared/reducer.js')
  const state = applyEvent(createState(), { type: 'node_state', node_id: 'a', status: 'running' })
  t.same(toSnapshot('d', 'e', 1, fromSnapshot(toSnapshot('d', 'e', 1, state))), toSnapshot('d', 'e', 1, state))
  // A browser bundle of this entry must not reach fastify, ws or Node's built-ins: it imports types,
  // and values only from modules that import nothing themselves (the output cap's constants).
  const importsOf = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8').split('\n').filter((line) => /^(import|export) .* from /.test(line))
  const imports = importsOf('../lib/shared/reducer.ts')
  const values = imports.filter((line) => !line.startsWith('import type '))
  t.ok(imports.length > 0, imports.join('\n'))
  for (const line of values) {
    const from = /from '(\.\.\/\.\.\/schemas\/[\w-]+\.js)'/.exec(line)?.[1]
    t.ok(from !== undefined, `a value from the protocol's own modules: ${line}`)
    t.same(importsOf(`../lib/shared/${from?.replace('.js', '.ts')}`), [], `${from} imports nothing`)
  }
})

t.test('fastify-dag-stream/react: DAGStreamError is a value, so instanceof needs no second import', async (t) => {
  const error = new DAGStreamError('timeout', 'no answer')
  t.ok(error instanceof DAGStreamError)
  t.ok(error instanceof Error)
  t.equal(error.code, 'timeout')
})

t.test('fastify-dag-stream/langgraph is an entry of its own: the main entry never reaches @langchain/*', async (t) => {
  t.equal(manifest.exports['./langgraph']?.default, './dist/lib/langgraph/index.js')
  // Every module the main entry imports, transitively (relative imports, types included: a type import
  // of the adapter would still be a mistake).
  const seen = new Set<string>()
  const reached: string[] = []
  const walk = (url: URL): void => {
    if (seen.has(url.href)) return
    seen.add(url.href)
    for (const [, from] of readFileSync(url, 'utf8').matchAll(/^(?:import|export) [^;]*? from '([^']+)'/gm)) {
      if (from === undefined) continue
      if (from.startsWith('.')) walk(new URL(from.replace(/\.js$/, '.ts'), url))
      else reached.push(from)
    }
  }
  walk(new URL('../lib/index.ts', import.meta.url))
  t.ok(seen.size > 20, `${seen.size} modules`)
  t.same(reached.filter((name) => name.startsWith('@langchain/')), [], 'no @langchain package')
  t.notOk([...seen].some((href) => href.includes('/lib/langgraph/')), 'not the adapter either')
})
