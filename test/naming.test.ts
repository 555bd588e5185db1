// One casing per idea: identifiers in lib/ and schemas/ say `DAG`, never `Dag`, except the old public
// names kept for one release as deprecated aliases, and the AsyncAPI operation ids. Those and the
// schemas' `$id`s (strings, not identifiers) keep their names, so the generated documents do not change.

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import ts from 'typescript'

const root = new URL('..', import.meta.url).pathname

/** Where each allowed `Dag` name may be declared, and why. */
const ALLOWED = new Map<string, string>([
  ['lib/index.ts DagStream', 'deprecated alias of DAGStream'],
  ['lib/index.ts DagStreamOptions', 'deprecated alias of DAGStreamOptions'],
  ['lib/index.ts DagListQuery', 'deprecated alias of DAGListPageQuery'],
  ['lib/index.ts DagStatus', 'deprecated alias of LogHead'],
  ['lib/errors.ts InvalidDagIdError', 'deprecated alias of InvalidDAGIdError'],
  ['lib/errors.ts DagNotFoundError', 'deprecated alias of DAGNotFoundError'],
  ['schemas/list.ts DagListFrame', 'deprecated alias of DAGListFrame'],
  ['schemas/list.ts DagChange', 'deprecated alias of DAGChange'],
  ['schemas/list.ts DagChangedFrame', 'deprecated alias of DAGChangedFrame'],
  ['schemas/list.ts DagEvictedFrame', 'deprecated alias of DAGEvictedFrame'],
  ['schemas/list.ts DagListChangeFrame', 'deprecated alias of DAGListChangeFrame'],
  ['lib/http/asyncapi.ts sendDagEvents', 'an operation id of the generated AsyncAPI document'],
  ['lib/http/asyncapi.ts sendDagListChanges', 'an operation id of the generated AsyncAPI document']
])

/** `Dag` as a word of an identifier: followed by a capital, a digit, `_` or the end (not `Dagre`). */
const MIXED = /Dag(?![a-z])/

function sources (dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length))
}

/** The identifiers of a source file (not its comments or strings), from its syntax tree. */
function identifiers (path: string): string[] {
  const kind = path.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS
  const file = ts.createSourceFile(path, readFileSync(join(root, path), 'utf8'), ts.ScriptTarget.Latest, false, kind)
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) found.push(node.text)
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

t.test('the detector tells the two casings apart', async (t) => {
  for (const name of ['DagStream', 'validateDagEvent', 'LocalDag', 'Dag']) t.match(name, MIXED, name)
  for (const name of ['DAGStream', 'dagStream', 'dagId', 'Dagre', 'DAG']) t.notMatch(name, MIXED, name)
})

t.test('lib/ and schemas/ say DAG, not Dag, beside the listed aliases', async (t) => {
  const files = [...sources('lib'), ...sources('schemas')]
  t.ok(files.length > 50, `${files.length} files scanned`)
  const offenders = new Set<string>()
  const seen = new Set<string>()
  for (const path of files) {
    for (const name of identifiers(path)) {
      if (!MIXED.test(name)) continue
      const key = `${path} ${name}`
      if (ALLOWED.has(key)) seen.add(key)
      else offenders.add(key)
    }
  }
  t.same([...offenders], [], 'identifiers in the other casing')
  t.same([...ALLOWED.keys()].filter((key) => !seen.has(key)), [], 'every allowed name still exists (drop it from the list when it goes)')
})
